"""Rolling-origin evaluation over simulated days: incremental updates vs full retrain vs frozen.

The log is cut at ``n_steps`` origins ``t_0 < t_1 < ...`` (``step_days`` apart). At step ``i`` every
strategy has seen exactly the events before ``t_i`` and is scored on the visits starting in
``[t_i, t_i + step_days)``; products seen by the customer before ``t_i`` are out of the lists and
out of the answers. :func:`periods` gives the windows and :func:`check_periods` asserts that no test
event lies at or before the training cut-off (reusable by any period-based evaluation, such as
monitoring).

Strategies (:data:`STRATEGIES`):

- ``ALS frozen``: fitted once on the events before ``t_0``;
- ``ALS full retrain``: fitted from scratch at every origin;
- ``ALS incremental``: the frozen model updated at every origin with ``implicit``'s
  ``partial_fit_items`` for the products with new events, then ``partial_fit_users`` for the
  customers with new events, each on their full history so far (an exact least-squares solve
  against the other side's current factors); nothing else moves;
- ``popularity frozen`` / ``trending window``: counts of the first window, or of the last
  ``trend_days`` before each origin, refreshed at every step;
- ``item-kNN frozen`` / ``item-kNN refit``: co-occurrences of the first window, or recomputed
  with the new co-occurrences at every origin.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from recnb.context import compare
from recnb.context.log import EventLog, RequestSet
from recnb.context.paradigms import drop_seen
from recnb.models.knn import ItemKNN
from recnb.models.topk import topk_dense

__all__ = [
    "STRATEGIES",
    "ALSUpdater",
    "Period",
    "check_periods",
    "periods",
    "rolling_origin",
]

STRATEGIES: tuple[str, ...] = (
    "ALS frozen",
    "ALS full retrain",
    "ALS incremental",
    "popularity frozen",
    "trending window",
    "item-kNN frozen",
    "item-kNN refit",
)


@dataclass(frozen=True)
class Period:
    """One rolling-origin step: train on events before ``cutoff``, test on ``[cutoff, end)``."""

    step: int
    cutoff: pd.Timestamp
    end: pd.Timestamp


def periods(first_cutoff: pd.Timestamp, n_steps: int, step_days: float) -> list[Period]:
    """The rolling origins ``first_cutoff + i * step_days`` and their test windows."""
    if n_steps < 1:
        raise ValueError(f"periods: n_steps must be >= 1, got {n_steps}")
    if step_days <= 0:
        raise ValueError(f"periods: step_days must be > 0, got {step_days}")
    step = pd.Timedelta(days=step_days)
    t0 = pd.Timestamp(first_cutoff)
    return [Period(i, t0 + i * step, t0 + (i + 1) * step) for i in range(n_steps)]


def check_periods(log: EventLog, train_masks: Sequence[np.ndarray], tests: Sequence[RequestSet],
                  cuts: Sequence[Period]) -> None:  # fmt: skip
    """Raise if a test visit starts at or before its training cut-off or its last training event.

    Every event of a test visit comes at or after the visit's first event, so checking the
    first events checks them all.
    """
    for mask, reqs, p in zip(train_masks, tests, cuts, strict=True):
        if not len(reqs):
            continue
        first = reqs.requests["timestamp"].min()
        last_train = pd.Timestamp(log.time[mask].max()) if mask.any() else None
        if first < p.cutoff or (last_train is not None and first <= last_train):
            raise AssertionError(
                f"step {p.step}: a test visit starts at {first}, not after the training data "
                f"(cut-off {p.cutoff}, last training event {last_train})"
            )
        if last_train is not None and last_train >= p.cutoff:
            raise AssertionError(
                f"step {p.step}: a training event at {last_train} is not before the cut-off "
                f"{p.cutoff}"
            )


class ALSUpdater:
    """implicit's ALS with a full fit and an incremental update (module docstring).

    After a full fit the customer factors are re-solved exactly against the final product
    factors, as :class:`recnb.models.implicit_models.ImplicitALS` does by default, so a full fit
    and an update leave customers in the same state: the exact solution for their history.
    """

    def __init__(self, factors: int = 64, regularization: float = 1.0, alpha: float = 1.0,
                 iterations: int = 15, random_state: int = 0) -> None:  # fmt: skip
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    def _model(self) -> AlternatingLeastSquares:
        return AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            dtype=np.float32,
            num_threads=1,
            random_state=self.random_state,
        )

    def fit(self, matrix: sp.csr_matrix) -> ALSUpdater:
        m = sp.csr_matrix(matrix, dtype=np.float32)
        with threadpool_limits(1, "blas"):
            model = self._model()
            model.fit(m, show_progress=False)
            model.user_factors = model.recalculate_user(np.arange(m.shape[0]), m)
        self.model_ = model
        return self

    def update(self, matrix: sp.csr_matrix, users: np.ndarray, items: np.ndarray) -> ALSUpdater:
        """Re-solve the given products, then the given customers, on their full histories."""
        m = sp.csr_matrix(matrix, dtype=np.float32)
        with threadpool_limits(1, "blas"):
            if len(items):
                self.model_.partial_fit_items(items, m.T.tocsr()[items])
            if len(users):
                self.model_.partial_fit_users(users, m[users])
        return self

    @property
    def user_factors(self) -> np.ndarray:
        return np.asarray(self.model_.user_factors)

    @property
    def item_factors(self) -> np.ndarray:
        return np.asarray(self.model_.item_factors)

    def scores(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T


def _rank(scores: np.ndarray, seen: sp.csr_matrix, k: int) -> np.ndarray:
    s = np.array(scores, dtype=np.float32, copy=True)
    e = seen.tocoo()
    s[e.row, e.col] = -np.inf
    return topk_dense(s, k)[0]


def rolling_origin(
    log: EventLog,
    first_cutoff: pd.Timestamp,
    n_steps: int,
    step_days: float = 1.0,
    k: int = 10,
    als: dict | None = None,
    trend_days: float = 7.0,
    strategies: Sequence[str] = STRATEGIES,
    on_step: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, dict[tuple[str, int], pd.DataFrame], list[RequestSet]]:
    """Run every strategy over the rolling origins.

    Returns
    -------
    (steps, per_request, tests)
        ``steps``: one row per (strategy, step) with ``strategy``, ``step``, ``cutoff``,
        ``n_requests``, ``ndcg``, ``hit_rate`` (means) and ``update_seconds`` (time to bring the
        model up to the origin: fit, update or nothing); ``per_request``: the
        :func:`~recnb.context.compare.request_metrics` frame per (strategy, step); ``tests``: the
        request sets of the steps.
    """
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        raise ValueError(f"rolling_origin: unknown strategies {unknown}; known: {list(STRATEGIES)}")
    step_msg = on_step or (lambda s: None)
    cuts = periods(first_cutoff, n_steps, step_days)
    masks = [log.mask(None, p.cutoff) for p in cuts]
    tests = [log.requests(p.cutoff, p.end).new_only() for p in cuts]
    check_periods(log, masks, tests, cuts)
    als_kw = dict(als or {})
    rows = []
    per: dict[tuple[str, int], pd.DataFrame] = {}
    state: dict[str, object] = {}
    prev = None
    for p, mask, reqs in zip(cuts, masks, tests, strict=True):
        step_msg(f"rolling origin: step {p.step + 1} of {len(cuts)}")
        inter = log.interactions(mask=mask)
        mat = inter.matrix
        seen = (mat > 0).astype(np.float32).tocsr()
        cust = reqs.requests["customer"].to_numpy()
        if prev is not None:
            new_ev = mask & ~prev
            changed_users = np.unique(log.customer[new_ev])
            changed_items = np.unique(log.product[new_ev])
        for name in strategies:
            t = time.perf_counter()
            if name == "ALS frozen":
                if p.step == 0:
                    state[name] = ALSUpdater(**als_kw).fit(mat)
                model = state[name]
            elif name == "ALS full retrain":
                model = ALSUpdater(**als_kw).fit(mat)
            elif name == "ALS incremental":
                if p.step == 0:
                    state[name] = ALSUpdater(**als_kw).fit(mat)
                else:
                    state[name].update(mat, changed_users, changed_items)  # type: ignore[union-attr]
                model = state[name]
            elif name in ("popularity frozen", "trending window"):
                if name == "trending window" or p.step == 0:
                    start = None
                    if name == "trending window":
                        start = p.cutoff - pd.Timedelta(days=trend_days)
                    w = log.mask(start, p.cutoff) & log.positive
                    state[name] = np.bincount(log.product[w], minlength=log.n_products).astype(
                        np.float32
                    )
                model = state[name]
            else:  # item-kNN
                if name == "item-kNN refit" or p.step == 0:
                    with threadpool_limits(1, "blas"):
                        state[name] = ItemKNN().fit(inter)
                model = state[name]
            seconds = time.perf_counter() - t
            if len(reqs) == 0:
                continue
            if isinstance(model, ALSUpdater):
                topk = _rank(model.scores(cust), seen[cust], k)
            elif isinstance(model, np.ndarray):
                topk = _rank(np.broadcast_to(model, (len(cust), log.n_products)), seen[cust], k)
            else:  # a recnb model: its list, then the products seen by now dropped
                extra = int(seen[cust].getnnz(axis=1).max(initial=0))
                cand, _ = model.recommend_indices(cust, k + extra, exclude_seen=False)
                topk = drop_seen(cand, seen, cust, k)
            pr = compare.request_metrics(topk, reqs, k)
            per[(name, p.step)] = pr
            rows.append(
                {
                    "strategy": name,
                    "step": p.step,
                    "cutoff": p.cutoff,
                    "n_requests": len(reqs),
                    "ndcg": float(np.nanmean(pr["ndcg"])),
                    "hit_rate": float(np.nanmean(pr["hit_rate"])),
                    "update_seconds": seconds,
                }
            )
        prev = mask
    return pd.DataFrame(rows), per, tests
