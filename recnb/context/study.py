"""The context comparison of stage 06 as one call: baseline, pre-, post-filtering, contextual LightFM.

:func:`context_study` fits every ranker on the events before the cut-off, tunes the post-filter
weights on the validation window just before it (models refitted on the events before the
validation window for that), and scores every ranker on the same test requests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from recnb.context import compare
from recnb.context.log import EventLog, RequestSet
from recnb.context.paradigms import (
    ContextFree,
    ContextLift,
    ContextualLightFM,
    PostFilter,
    PreFilter,
    fit_recnb_model,
    tune_weight,
)
from recnb.models.base import Recommender

__all__ = ["ContextStudy", "context_study", "planted_dimensions", "recovery_table"]


@dataclass
class ContextStudy:
    """Results of :func:`context_study`.

    Attributes
    ----------
    requests : RequestSet
        The test requests (new products only).
    per_request : dict of str to pandas.DataFrame
        Ranker name -> :func:`recnb.context.compare.request_metrics` frame.
    weights : pandas.DataFrame
        Validation score of every post-filter weight tried (``ranker``, ``weight``, ``score``,
        ``chosen``).
    lifts : pandas.DataFrame
        The learned context-category lifts of the all-dimension post-filter.
    seconds : dict of str to float
        Fit time of each ranker.
    cutoff : pandas.Timestamp
        Start of the test window.
    """

    requests: RequestSet
    per_request: dict[str, pd.DataFrame]
    weights: pd.DataFrame
    lifts: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)
    cutoff: pd.Timestamp | None = None


def _ndcg(k: int) -> Callable[[np.ndarray, RequestSet], np.ndarray]:
    def score(topk: np.ndarray, reqs: RequestSet) -> np.ndarray:
        return compare.request_metrics(topk, reqs, k, ("ndcg",))["ndcg"].to_numpy()

    return score


def context_study(
    log: EventLog,
    cutoff: pd.Timestamp,
    valid_days: float,
    factory: Callable[[], Recommender],
    dimensions: Sequence[str],
    placebo: Sequence[str] = ("weekend",),
    k: int = 10,
    weight_grid: Sequence[float] = (0.0, 0.5, 1.0, 2.0),
    n_candidates: int = 100,
    lightfm: Mapping[str, object] | None = None,
    prefilter: Sequence[str] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> ContextStudy:
    """Fit and score the context-free baseline and the three context paradigms.

    Parameters
    ----------
    log : EventLog
        The events.
    cutoff : pandas.Timestamp
        Training uses events before it; test requests are the visits from it on.
    valid_days : float
        Length of the validation window just before ``cutoff`` (post-filter weights).
    factory : callable
        A fresh recnb model for the baseline, the post-filter's candidates and the pre-filter.
    dimensions : sequence of str
        Context dimensions (request features) the paradigms use.
    placebo : sequence of str
        Dimensions with no planted effect, post-filtered one by one as a negative control.
    lightfm : mapping, optional
        Settings of :class:`ContextualLightFM` (``None``: contextual modelling is not run).
    prefilter : sequence of str, optional
        Dimensions to pre-filter on, one model per value (default: ``dimensions``).

    Returns
    -------
    ContextStudy
    """
    import time

    step = on_step or (lambda s: None)
    cutoff = pd.Timestamp(cutoff)
    vstart = cutoff - pd.Timedelta(days=valid_days)
    train_mask = log.mask(None, cutoff)
    inner_mask = log.mask(None, vstart)
    test = log.requests(cutoff).new_only()
    valid = log.requests(vstart, cutoff).new_only()
    if len(test) == 0:
        raise ValueError(f"context_study: no test request after the cut-off {cutoff}")
    if len(valid) == 0:
        raise ValueError(f"context_study: no validation request in [{vstart}, {cutoff})")
    seconds: dict[str, float] = {}
    step("context-free baseline")
    t = time.perf_counter()
    base = ContextFree(fit_recnb_model(factory, log.interactions(mask=train_mask)))
    seconds["context-free"] = time.perf_counter() - t
    inner = ContextFree(fit_recnb_model(factory, log.interactions(mask=inner_mask)))
    per: dict[str, pd.DataFrame] = {"context-free": compare.request_metrics(
        base.rank(test.requests, k), test, k)}  # fmt: skip
    n_cand = max(k, n_candidates)
    test_cand = base.candidates(test.requests, n_cand)
    valid_cand = inner.candidates(valid.requests, n_cand)
    weight_rows = []
    lifts = pd.DataFrame()
    variants = [(f"post-filter: {d}", [d]) for d in (*dimensions, *placebo)]
    if len(dimensions) > 1:
        variants.append(("post-filter: all", list(dimensions)))
    for name, dims in variants:
        step(name)
        t = time.perf_counter()
        lift_inner = ContextLift(dims).fit(log, inner_mask)

        w, table = tune_weight(
            lambda w, li=lift_inner: PostFilter(inner, li, w, n_cand).rank(
                valid.requests, k, valid_cand
            ),
            valid,
            _ndcg(k),
            weight_grid,
        )
        lift = ContextLift(dims).fit(log, train_mask)
        topk = PostFilter(base, lift, w, n_cand).rank(test.requests, k, test_cand)
        seconds[name] = time.perf_counter() - t
        per[name] = compare.request_metrics(topk, test, k)
        table.insert(0, "ranker", name)
        table["chosen"] = table["weight"] == w
        weight_rows.append(table)
        if dims == list(dimensions):
            lifts = lift.table()
    for dim in dimensions if prefilter is None else prefilter:
        name = f"pre-filter: {dim}"
        step(name)
        t = time.perf_counter()
        pre = PreFilter(factory, dim).fit(log, train_mask)
        per[name] = compare.request_metrics(pre.rank(test.requests, k), test, k)
        seconds[name] = time.perf_counter() - t
    if lightfm is not None:
        for name, dims in (("LightFM without context", ()), ("LightFM with context", dimensions)):
            step(name)
            t = time.perf_counter()
            lf = ContextualLightFM(tuple(dims), **dict(lightfm)).fit(log, train_mask)  # type: ignore[arg-type]
            per[name] = compare.request_metrics(lf.rank(test.requests, k), test, k)
            seconds[name] = time.perf_counter() - t
    weights = pd.concat(weight_rows, ignore_index=True)
    return ContextStudy(test, per, weights, lifts, seconds, cutoff)


def planted_dimensions(effects: pd.DataFrame) -> dict[str, bool]:
    """Which request features carry a planted effect, from ``SyntheticShop.context_effects``
    (``weekend`` never does)."""
    out = {str(dim): bool((g["effect"].abs() > 0).any()) for dim, g in effects.groupby("dimension")}
    out["weekend"] = False
    return out


def recovery_table(
    study: ContextStudy,
    planted: Mapping[str, bool],
    metric: str = "ndcg",
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Does post-filtering on one dimension recover exactly the planted effects?

    One row per single-dimension post-filter: its overall paired uplift over the context-free
    baseline with the CI, whether an effect was planted, and ``recovered``: the CI lies above 0
    where an effect was planted and contains 0 where none was.
    """
    rows = []
    base = study.per_request["context-free"]
    for dim, is_planted in planted.items():
        name = f"post-filter: {dim}"
        if name not in study.per_request:
            continue
        up = compare.paired_uplift(
            study.per_request[name], base, study.requests.requests, (), metric, n_boot, alpha, seed
        ).iloc[0]
        lo, hi = float(up["ci_low"]), float(up["ci_high"])
        recovered = lo > 0 if is_planted else lo <= 0 <= hi
        rows.append(
            {
                "dimension": dim,
                "planted": is_planted,
                "n_requests": int(up["n_requests"]),
                "uplift": float(up["uplift"]),
                "ci_low": lo,
                "ci_high": hi,
                "recovered": bool(recovered),
            }
        )
    return pd.DataFrame(rows)
