"""Stage 06 in one call: what the data supports, then every study, as tidy result tables.

:func:`support` says which parts run on a given dataset and why a part is skipped;
:func:`run_studies` runs the parts that can run and returns :class:`ContextResults`, whose tables
the notebook writes to ``results/06_context/`` and shows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from recnb.context import compare
from recnb.context.coldstart import cold_customer_study, cold_product_study
from recnb.context.log import EventLog
from recnb.context.repeat import repeat_study
from recnb.context.rolling import rolling_origin
from recnb.context.study import context_study, planted_dimensions, recovery_table
from recnb.models.registry import make_model

__all__ = ["ContextResults", "run_studies", "support"]

PARTS: tuple[str, ...] = ("context", "planted effects", "cold customers", "cold products",
                          "repeat purchases", "dynamic updates")  # fmt: skip


def support(
    log: EventLog,
    dimensions: Sequence[str],
    synthetic: bool,
    test_days: float,
    repeat_aware: bool,
) -> pd.DataFrame:
    """Which parts of the stage run on this data, and why a part is skipped.

    Returns
    -------
    pandas.DataFrame
        ``part``, ``runs`` (bool) and ``note`` (the dimensions used, or the reason for skipping).
    """
    rows = []
    usable = [d for d in dimensions if d in log.request_features()]
    missing = [d for d in dimensions if d not in usable]
    note = f"dimensions: {', '.join(usable)}"
    if missing:
        note += f" (the events have no {', '.join(missing)} column)"
    rows.append(("context", bool(usable), note if usable else "no context column in the events"))
    rows.append(
        (
            "planted effects",
            synthetic and bool(usable),
            "the shop's planted context effects are the ground truth"
            if synthetic
            else "real data has no known context effect to recover",
        )
    )
    n_sessions_first = len(np.unique(log.customer[log.session_first]))
    rows.append(("cold customers", n_sessions_first > 1, "customers held out entirely"))
    has_cat = log.products is not None and "category" in log.products.columns
    rows.append(
        (
            "cold products",
            has_cat,
            "products first seen in the test period"
            if has_cat
            else "no product table with categories",
        )
    )
    n_purch = int(log.purchase.sum())
    if not repeat_aware:
        rows.append(("repeat purchases", False, "repeat_aware is false (stage 03's mode)"))
    elif n_purch == 0:
        rows.append(("repeat purchases", False, "the events have no purchase (ratings only)"))
    else:
        rows.append(("repeat purchases", True, f"{n_purch:,} purchases"))
    span = (log.end - log.start) / pd.Timedelta(days=1)
    rows.append(
        (
            "dynamic updates",
            span > test_days,
            f"rolling origins over the last {test_days:g} days"
            if span > test_days
            else f"the log spans {span:.1f} days, not more than test_days",
        )
    )
    return pd.DataFrame(rows, columns=["part", "runs", "note"])


@dataclass
class ContextResults:
    """Every table stage 06 writes (empty frames for parts that did not run).

    Measured times are kept apart from the results (``timing_rolling``: seconds per update per
    strategy and step; ``seconds``: seconds per part), so that the result tables repeat byte for
    byte between runs.
    """

    support: pd.DataFrame
    info: dict[str, Any]
    context_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    context_uplift: pd.DataFrame = field(default_factory=pd.DataFrame)
    by_context: pd.DataFrame = field(default_factory=pd.DataFrame)
    recovery: pd.DataFrame = field(default_factory=pd.DataFrame)
    post_filter_weights: pd.DataFrame = field(default_factory=pd.DataFrame)
    lifts: pd.DataFrame = field(default_factory=pd.DataFrame)
    cold_customers: pd.DataFrame = field(default_factory=pd.DataFrame)
    cold_products: pd.DataFrame = field(default_factory=pd.DataFrame)
    repeat: pd.DataFrame = field(default_factory=pd.DataFrame)
    rolling: pd.DataFrame = field(default_factory=pd.DataFrame)
    rolling_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    timing_rolling: pd.DataFrame = field(default_factory=pd.DataFrame)
    seconds: dict[str, float] = field(default_factory=dict)

    #: the result tables (every value repeats between two runs with the same params)
    TABLES: ClassVar[tuple[str, ...]] = (
        "support", "context_summary", "context_uplift", "by_context", "recovery",
        "post_filter_weights", "lifts", "cold_customers", "cold_products", "repeat", "rolling",
        "rolling_summary",
    )  # fmt: skip


def _summary(per: Mapping[str, pd.DataFrame], n_boot: int, alpha: float, seed: int,
             reference: str | None = None,
             versus: Mapping[str, str | None] | None = None) -> pd.DataFrame:  # fmt: skip
    """Mean ndcg and hit rate per ranker with CIs; paired uplift over ``reference`` (or over the
    ranker ``versus`` names for it; ``None`` there: no uplift)."""
    rows = []
    versus = dict(versus or {})
    for name, pr in per.items():
        ref = versus.get(name, reference) if name != reference else None
        row: dict[str, Any] = {"ranker": name, "versus": ref or "",
                               "n_requests": int(pr["ndcg"].notna().sum())}  # fmt: skip
        for m in ("ndcg", "hit_rate"):
            mean, lo, hi = compare.cluster_mean_ci(pr[m].to_numpy(), pr["customer"].to_numpy(),
                                                   n_boot, alpha, seed)  # fmt: skip
            row.update({m: mean, f"{m}_ci_low": lo, f"{m}_ci_high": hi})
        if ref is not None:
            diff = pr["ndcg"].to_numpy() - per[ref]["ndcg"].to_numpy()
            mean, lo, hi = compare.cluster_mean_ci(diff, pr["customer"].to_numpy(), n_boot, alpha,
                                                   seed)  # fmt: skip
            row.update({"uplift": mean, "uplift_ci_low": lo, "uplift_ci_high": hi})
        rows.append(row)
    return pd.DataFrame(rows)


def run_studies(
    log: EventLog,
    s: Any,
    seed: int,
    effects: pd.DataFrame | None = None,
    on_step: Callable[[str], None] | None = None,
) -> ContextResults:
    """Run every part :func:`support` allows.

    Parameters
    ----------
    log : EventLog
    s : ContextSettings
        The stage's settings (:class:`recnb.workflow.settings.ContextSettings`).
    seed : int
        The run's seed.
    effects : pandas.DataFrame, optional
        ``SyntheticShop.context_effects`` (synthetic data only): enables the recovery check.
    on_step : callable, optional
        Progress callback.
    """
    step = on_step or (lambda m: None)
    sup = support(log, s.dimensions, effects is not None, s.test_days, s.repeat_aware)
    runs = dict(zip(sup["part"], sup["runs"], strict=True))
    dims = [d for d in s.dimensions if d in log.request_features()]
    cutoff = log.end.normalize() - pd.Timedelta(days=s.test_days) + pd.Timedelta(days=1)
    info: dict[str, Any] = {"cutoff": str(cutoff), "dimensions": dims, "k": s.k,
                            "base_model": s.base_model, "repeat_aware": s.repeat_aware}  # fmt: skip
    out = ContextResults(sup, info)
    nb, a = s.n_bootstrap, s.alpha

    def factory():
        return make_model(s.base_model, **dict(s.base_params))

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t = time.perf_counter()
        res = fn()
        out.seconds[name] = time.perf_counter() - t
        return res

    if runs["context"]:
        placebo = [d for d in ("weekend",) if d not in dims]
        lightfm = None
        if s.lightfm:
            lightfm = {"epochs": s.lightfm_epochs, "no_components": s.lightfm_components,
                       "context_weight": s.lightfm_context_weight, "random_state": seed}  # fmt: skip
        st = timed("context", lambda: context_study(
            log, cutoff, s.valid_days, factory, dims, placebo, s.k, s.weight_grid,
            lightfm=lightfm, on_step=step))  # fmt: skip
        info["context_requests"] = len(st.requests)
        out.context_summary = _summary(
            st.per_request, nb, a, seed, "context-free",
            {"LightFM without context": None, "LightFM with context": "LightFM without context"},
        )  # fmt: skip
        req = st.requests.requests
        parts = []
        pairs = [(n, "context-free") for n in st.per_request if n.startswith(("post", "pre"))]
        if "LightFM with context" in st.per_request:
            pairs.append(("LightFM with context", "LightFM without context"))
        for treat, ctrl in pairs:
            up = compare.paired_uplift(st.per_request[treat], st.per_request[ctrl], req,
                                       [*dims, *placebo], "ndcg", nb, a, seed, s.min_requests)  # fmt: skip
            up.insert(0, "versus", ctrl)
            up.insert(0, "ranker", treat)
            parts.append(up)
        out.context_uplift = pd.concat(parts, ignore_index=True)
        out.by_context = compare.by_context(st.per_request, req, [*dims, *placebo], "ndcg", nb, a,
                                            seed, s.min_requests)  # fmt: skip
        out.post_filter_weights = st.weights
        out.lifts = st.lifts
        if runs["planted effects"] and effects is not None:
            planted = {d: v for d, v in planted_dimensions(effects).items()
                       if d in (*dims, *placebo)}  # fmt: skip
            out.recovery = recovery_table(st, planted, "ndcg", nb, a, seed)
    if runs["cold customers"]:
        step("cold start: new customers")
        try:
            cs = timed("cold customers", lambda: cold_customer_study(
                log, cutoff, s.cold_share, s.k, s.lightfm_components, s.lightfm_epochs,
                {"factors": s.als_factors, "regularization": s.als_regularization,
                 "iterations": s.als_iterations}, seed))  # fmt: skip
            out.cold_customers = _summary(cs.per_request, nb, a, seed, "popularity")
            info["cold_customers"] = cs.info
        except ValueError as e:
            info["cold_customers_skipped"] = str(e)
    if runs["cold products"]:
        step("cold start: new products")
        try:
            cp = timed("cold products", lambda: cold_product_study(
                log, cutoff, s.k, s.lightfm_components, s.lightfm_epochs, seed))  # fmt: skip
            out.cold_products = _summary(cp.per_request, nb, a, seed, "no information (random)")
            info["cold_products"] = cp.info
        except ValueError as e:
            info["cold_products_skipped"] = str(e)
    if runs["repeat purchases"]:
        step("repeat purchases")
        try:
            test, per, split, rinfo = timed("repeat", lambda: repeat_study(
                log, cutoff, s.valid_days, factory, True, s.k, s.repeat_half_life_days))  # fmt: skip
            summ = _summary(per, nb, a, seed, "base model")
            hits = pd.DataFrame(
                [{"ranker": n, **split[n][["repeat_hits", "new_hits"]].sum().to_dict(),
                  "repeat_answers": int(split[n]["repeat_relevant"].sum()),
                  "new_answers": int(split[n]["new_relevant"].sum())} for n in per]
            )  # fmt: skip
            out.repeat = summ.merge(hits, on="ranker")
            info["repeat"] = {"n_repeat": rinfo["n_repeat"], "requests": len(test)}
        except ValueError as e:
            info["repeat_skipped"] = str(e)
    if runs["dynamic updates"]:
        als = {"factors": s.als_factors, "regularization": s.als_regularization,
               "iterations": s.als_iterations, "random_state": seed}  # fmt: skip
        steps, per, _ = timed("rolling", lambda: rolling_origin(
            log, cutoff, s.rolling_steps, s.rolling_step_days, s.k, als, s.trend_days,
            on_step=step))  # fmt: skip
        out.timing_rolling = steps[["strategy", "step", "update_seconds"]].copy()
        out.rolling = steps.drop(columns=["update_seconds"])
        info.update(rolling_steps=s.rolling_steps, rolling_step_days=s.rolling_step_days)
        rows = []
        for name, g in steps.groupby("strategy", sort=False):
            frames = [per[(name, int(i))] for i in g["step"]]
            allr = pd.concat(frames, ignore_index=True)
            # the same customer in two steps is one cluster
            mean, lo, hi = compare.cluster_mean_ci(allr["ndcg"].to_numpy(),
                                                   allr["customer"].to_numpy(), nb, a, seed)  # fmt: skip
            rows.append({"strategy": name, "ndcg": mean, "ndcg_ci_low": lo, "ndcg_ci_high": hi,
                         "n_requests": int(allr["ndcg"].notna().sum())})  # fmt: skip
        out.rolling_summary = pd.DataFrame(rows)
    return out
