"""A simulated deployment: a model serves the log's customers week after week, retrained on a
schedule, and every period is scored as a monitoring dashboard would score it.

The log is replayed in periods of ``period_days`` after a warm-up of ``warmup_days``. At the start of
each period the deployed model serves a top-``k`` list to every customer active in that period
(customers unknown to the model get its popularity fallback); the period's own events are the
outcome. Strategies:

- ``scheduled``: refit on every event before the period's start, every ``retrain_every`` periods;
- ``frozen``: fitted once at the end of the warm-up and never again (what happens without
  retraining).

Per period and strategy: precision, recall and NDCG at ``k`` (relevant: the period's events of the
``relevant_events`` types on products the model knows, products already in the customer's training
history excluded, as in the lists), catalogue coverage, ARP (mean training popularity of the
listed products), Gini of exposure, the recall gap between customer groups (with a bootstrap
interval), and list churn (share of a returning customer's list that changed since the previous
period). The exposure of the lists per day and category feeds output-drift monitoring
(:func:`recnb.monitoring.drift.drift_scores`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from recnb.data.interactions import Interactions
from recnb.metrics.beyond import arp, catalog_coverage, gini_exposure
from recnb.metrics.ranking import ranking_metric_arrays
from recnb.models.base import Recommender
from recnb.monitoring.signals import event_days, exposure_counts, top_category
from recnb.prep.weighting import DEFAULT_EVENT_WEIGHTS, aggregate, event_weights

__all__ = [
    "RELEVANT_EVENTS",
    "STRATEGIES",
    "Deployment",
    "build_interactions",
    "fairness_alerts",
    "group_gap",
    "list_churn",
    "simulate_deployment",
]

RELEVANT_EVENTS: tuple[str, ...] = ("click", "add_to_cart", "wishlist", "purchase")
"""Event types that count as a hit in a served period (a view alone does not)."""

STRATEGIES: tuple[str, ...] = ("scheduled", "frozen")
"""Retraining strategies of :func:`simulate_deployment`."""


def build_interactions(
    events: pd.DataFrame,
    weights: dict[str, float] | None = None,
    customer_ids: np.ndarray | None = None,
    product_ids: np.ndarray | None = None,
) -> Interactions:
    """Customer x product confidence matrix of an events table (log-scaled summed event weights).

    The returned part's ``meta`` records the signal (event weights, scaling) in the keys of the
    split's parts, so that a model fitted on it can be exported for serving.

    Parameters
    ----------
    events : pandas.DataFrame
        ``customer_id``, ``product_id``, ``event``.
    weights : dict, optional
        Event type -> weight (default :data:`recnb.prep.weighting.DEFAULT_EVENT_WEIGHTS`).
    customer_ids, product_ids : numpy.ndarray, optional
        Vocabularies (default: the sorted ids present); events outside them are dropped.
    """
    cid = events["customer_id"].astype(str).to_numpy()
    pid = events["product_id"].astype(str).to_numpy()
    cust = np.unique(cid) if customer_ids is None else np.asarray(customer_ids, dtype=object)
    prod = np.unique(pid) if product_ids is None else np.asarray(product_ids, dtype=object)
    r = pd.Index(cust).get_indexer(cid)
    c = pd.Index(prod).get_indexer(pid)
    used = dict(DEFAULT_EVENT_WEIGHTS if weights is None else weights)
    w = event_weights(events, used)
    keep = (r >= 0) & (c >= 0)
    m, _ = aggregate(r[keep], c[keep], w[keep], (len(cust), len(prod)))
    # the signal, in the split's meta keys: an export of a model fitted on this matrix tells the
    # service how to turn a new event into the same confidence (recnb.serving.spec.SignalSpec)
    meta = {
        "signal": "implicit",
        "event_weights": {str(k): float(v) for k, v in used.items()},
        "scaling": "log",
        "alpha": 1.0,
        "dwell_factor": 0.0,
        "recency_half_life_days": 0.0,
    }
    return Interactions(m, cust.astype(object), prod.astype(object), meta=meta)


def group_gap(
    values: np.ndarray,
    groups: np.ndarray,
    min_group_size: int = 30,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, object]:
    """Largest difference of the per-group mean of ``values``, with a percentile bootstrap interval.

    Groups with fewer than ``min_group_size`` members are left out (too noisy to show). The
    bootstrap resamples customers; each resample's gap is the max minus the min of its group means.

    Returns
    -------
    dict
        ``gap``, ``ci_low``, ``ci_high``, ``se`` (bootstrap standard deviation), ``best_group``,
        ``worst_group``, ``n_groups`` and ``by_group`` (DataFrame: ``group``, ``n``, ``mean``).
    """
    v = np.asarray(values, dtype=np.float64)
    g = pd.Series(np.asarray(groups, dtype=object)).fillna("unknown").astype(str).to_numpy()
    labels, codes = np.unique(g, return_inverse=True)
    n = np.bincount(codes, minlength=len(labels))
    means = np.bincount(codes, weights=v, minlength=len(labels)) / np.maximum(n, 1)
    by_group = pd.DataFrame({"group": labels, "n": n, "mean": means})
    ok = n >= min_group_size
    empty = {
        "gap": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "se": np.nan,
        "best_group": None,
        "worst_group": None,
        "n_groups": int(ok.sum()),
        "by_group": by_group,
    }
    if ok.sum() < 2:
        return empty
    sel = np.flatnonzero(ok)
    gap = float(means[sel].max() - means[sel].min())
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, len(v), len(v))
        nb = np.bincount(codes[idx], minlength=len(labels))[sel]
        mb = np.bincount(codes[idx], weights=v[idx], minlength=len(labels))[sel]
        mb = mb / np.maximum(nb, 1)
        boots[b] = mb.max() - mb.min()
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return {
        "gap": gap,
        "ci_low": float(lo),
        "ci_high": float(hi),
        "se": float(boots.std(ddof=1)),
        "best_group": str(labels[sel][np.argmax(means[sel])]),
        "worst_group": str(labels[sel][np.argmin(means[sel])]),
        "n_groups": int(ok.sum()),
        "by_group": by_group,
    }


def list_churn(previous: dict[str, np.ndarray], current: dict[str, np.ndarray]) -> float:
    """Mean share of a list that changed for customers served in both periods (NaN if none).

    Parameters
    ----------
    previous, current : dict of customer id to array of product ids
        The lists of two consecutive periods (order ignored: a re-ordering is not churn).
    """
    both = sorted(previous.keys() & current.keys())  # sorted: the sum repeats bit for bit
    if not both:
        return np.nan
    out = []
    for c in both:
        a, b = set(previous[c].tolist()), set(current[c].tolist())
        k = max(len(a), len(b), 1)
        out.append(1.0 - len(a & b) / k)
    return float(np.mean(out))


@dataclass
class Deployment:
    """What :func:`simulate_deployment` returns.

    Attributes
    ----------
    periods : pandas.DataFrame
        One row per (strategy, period): ``strategy``, ``period``, ``start_day``, ``end_day``,
        ``retrained``, ``model_age_days`` (days since the deployed model's training cut),
        ``n_served``, ``n_scored``, ``precision``, ``recall``, ``ndcg``, ``coverage``, ``arp``,
        ``gini``, ``group_gap``, ``gap_ci_low``, ``gap_ci_high``, ``gap_se``, ``worst_group``,
        ``churn``, ``fit_seconds``.
    groups : pandas.DataFrame
        Per (strategy, period, group): ``n`` and ``recall``.
    exposure : pandas.DataFrame
        Day x category counts of the scheduled strategy's served slots.
    model : Recommender
        The scheduled strategy's last deployed model.
    train : Interactions
        Its training data.
    """

    periods: pd.DataFrame
    groups: pd.DataFrame
    exposure: pd.DataFrame
    model: Recommender
    train: Interactions
    plan: dict[str, object] = field(default_factory=dict)


def _period_truth(
    events: pd.DataFrame, model: Recommender, customers: np.ndarray, relevant: Sequence[str]
) -> sp.csr_matrix:
    rel = events[events["event"].astype(object).isin(list(relevant))]
    r = pd.Index(customers).get_indexer(rel["customer_id"].astype(str).to_numpy())
    c = model.product_indices(rel["product_id"].astype(str).to_numpy())
    keep = (r >= 0) & (c >= 0)
    m = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (r[keep], c[keep])),
        shape=(len(customers), model.n_products_),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    # products in the customer's training history are excluded from the lists: not a hit either
    cidx = model.customer_indices(customers)
    known = cidx >= 0
    seen = sp.csr_matrix(m.shape, dtype=np.float32)
    if known.any():
        rows = np.flatnonzero(known)
        sub = model.seen_[cidx[known]]
        seen = sp.csr_matrix(
            (np.ones(sub.nnz, np.float32), (np.repeat(rows, np.diff(sub.indptr)), sub.indices)),
            shape=m.shape,
        )
    m = m - m.multiply(seen)
    m.eliminate_zeros()
    return sp.csr_matrix(m)


def simulate_deployment(
    events: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame | None,
    model_factory: Callable[[], Recommender],
    *,
    start: pd.Timestamp | None = None,
    warmup_days: int = 28,
    period_days: int = 7,
    retrain_every: int = 1,
    max_periods: int | None = None,
    k: int = 10,
    group_column: str | None = "age_band",
    min_group_size: int = 30,
    relevant_events: Sequence[str] = RELEVANT_EVENTS,
    strategies: Sequence[str] = STRATEGIES,
    n_boot: int = 200,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> Deployment:
    """Replay the log period by period with a deployed model (see the module docstring).

    Parameters
    ----------
    events, products, customers : pandas.DataFrame
        The run's tables (``customers`` may be None: no group gap).
    model_factory : callable
        Returns a fresh, unfitted model (the same configuration every call).
    start : Timestamp, optional
        Day 0 (default: the first event's midnight).
    warmup_days : int
        Days of history before the first deployed period.
    period_days : int
        Length of a period (7: weekly monitoring).
    retrain_every : int
        Retrain the scheduled strategy every this many periods (>= 1).
    max_periods : int, optional
        Replay at most this many periods, the last ones of the log (the models still train on
        everything before each period); default: every full period after the warm-up.
    k : int
        List length.
    group_column : str, optional
        Customer attribute defining the groups of the recall gap (absent column: no gap).
    min_group_size : int
        Smallest group shown in the gap.
    relevant_events : sequence of str
        Event types that count as a hit.
    strategies : sequence of str
        Subset of :data:`STRATEGIES`.
    n_boot : int
        Bootstrap resamples of the group gap.
    seed : int
        Seeds the bootstrap.
    progress : callable, optional
        Called with a short message after each period.

    Returns
    -------
    Deployment
    """
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown or not strategies:
        raise ValueError(f"strategies: {unknown or '[]'} not allowed; choose from {STRATEGIES}")
    for name, value, low in (
        ("warmup_days", warmup_days, 1),
        ("period_days", period_days, 1),
        ("retrain_every", retrain_every, 1),
        ("k", k, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: expected an integer >= {low}, got {value!r}")
    day = event_days(events["timestamp"], start)
    last = int(day.max())
    first = warmup_days
    if max_periods is not None:
        first = max(first, last + 1 - max_periods * period_days)
    n_periods = (last + 1 - first) // period_days
    if n_periods < 2:
        raise ValueError(
            f"simulate_deployment: the log has {last + 1} days; warmup_days={warmup_days} and "
            f"period_days={period_days} leave {max(n_periods, 0)} full period(s), need >= 2"
        )
    cat_of = top_category(products)
    categories = sorted(cat_of.unique())
    groups_of = None
    if customers is not None and group_column and group_column in customers.columns:
        groups_of = pd.Series(
            customers[group_column].astype(object).to_numpy(),
            index=customers["customer_id"].astype(str).to_numpy(),
        )
    period_rows, group_rows = [], []
    exposure_parts = []
    deployed: dict[str, tuple[Recommender, Interactions, int]] = {}
    previous_lists: dict[str, dict[str, np.ndarray]] = {s: {} for s in strategies}
    for p in range(n_periods):
        lo = first + p * period_days
        hi = lo + period_days
        in_period = (day >= lo) & (day < hi)
        ev_p = events.loc[in_period]
        day_p = day[in_period]
        active = np.unique(ev_p["customer_id"].astype(str).to_numpy())
        for strategy in strategies:
            retrain = p == 0 or (strategy == "scheduled" and p % retrain_every == 0)
            fit_seconds = np.nan
            if retrain:
                if strategy == "frozen" and "scheduled" in deployed and p == 0:
                    deployed["frozen"] = deployed["scheduled"]
                else:
                    train = build_interactions(events.loc[day < lo])
                    t0 = time.perf_counter()
                    model = model_factory().fit(train)
                    fit_seconds = time.perf_counter() - t0
                    deployed[strategy] = (model, train, lo)
            model, train, cut = deployed[strategy]
            cidx = model.customer_indices(active)
            lists = np.empty((len(active), k), np.int64)
            for s in range(0, len(active), 2048):
                lists[s : s + 2048], _ = model.recommend_indices(cidx[s : s + 2048], k=k)
            truth = _period_truth(ev_p, model, active, relevant_events)
            scored = np.diff(truth.indptr) > 0
            met = ranking_metric_arrays(
                lists[scored], truth[scored], ks=k, metrics=["precision", "recall", "ndcg"]
            )
            recall = met[("recall", k)]
            ids = np.asarray(model.product_ids_, dtype=object)
            current = {c: ids[row[row >= 0]] for c, row in zip(active.tolist(), lists, strict=True)}
            churn = list_churn(previous_lists[strategy], current)
            previous_lists[strategy] = current
            gap = {"gap": np.nan, "ci_low": np.nan, "ci_high": np.nan, "se": np.nan}
            gap["worst_group"] = None
            if groups_of is not None:
                g = groups_of.reindex(active[scored]).to_numpy(dtype=object)
                gap = group_gap(recall, g, min_group_size, n_boot, seed + p)
                bg = gap["by_group"]
                for row in bg.itertuples(index=False):
                    group_rows.append(
                        {
                            "strategy": strategy,
                            "period": p,
                            "group": row.group,
                            "n": int(row.n),
                            "recall": float(row.mean),
                        }
                    )
            period_rows.append(
                {
                    "strategy": strategy,
                    "period": p,
                    "start_day": lo,
                    "end_day": hi - 1,
                    "retrained": bool(retrain),
                    "model_age_days": lo - cut,
                    "n_served": len(active),
                    "n_scored": int(scored.sum()),
                    "precision": float(met[("precision", k)].mean()),
                    "recall": float(recall.mean()),
                    "ndcg": float(met[("ndcg", k)].mean()),
                    "coverage": catalog_coverage(lists, model.n_products_, k),
                    "arp": float(np.nanmean(arp(lists, train.matrix, k))),
                    "gini": gini_exposure(lists, model.n_products_, k),
                    "group_gap": gap["gap"],
                    "gap_ci_low": gap["ci_low"],
                    "gap_ci_high": gap["ci_high"],
                    "gap_se": gap["se"],
                    "worst_group": gap["worst_group"],
                    "churn": churn,
                    "fit_seconds": fit_seconds,
                }
            )
            if strategy == strategies[0]:
                pairs = pd.DataFrame({"c": ev_p["customer_id"].astype(str).to_numpy(), "d": day_p})
                pairs = pairs.drop_duplicates()
                row_of = pd.Index(active).get_indexer(pairs["c"].to_numpy())
                prod_cat = cat_of.reindex(ids.astype(str)).fillna("unknown").to_numpy(dtype=object)
                exposure_parts.append(
                    exposure_counts(
                        pairs["d"].to_numpy(),
                        lists[row_of],
                        prod_cat,
                        categories + (["unknown"] if "unknown" not in categories else []),
                        range(lo, hi),
                    )
                )
        if progress is not None:
            progress(f"period {p + 1}/{n_periods} (days {lo}-{hi - 1})")
    model, train, _ = deployed[strategies[0]]
    exposure = pd.concat(exposure_parts)
    exposure = exposure.loc[:, exposure.sum(axis=0) > 0]
    return Deployment(
        periods=pd.DataFrame(period_rows),
        groups=pd.DataFrame(group_rows, columns=["strategy", "period", "group", "n", "recall"]),
        exposure=exposure,
        model=model,
        train=train,
        plan={
            "warmup_days": warmup_days,
            "period_days": period_days,
            "retrain_every": retrain_every,
            "n_periods": n_periods,
            "first_day": first,
            "k": k,
            "group_column": group_column if groups_of is not None else None,
        },
    )


def fairness_alerts(
    periods: pd.DataFrame, margin: float = 0.02, alpha: float = 0.05
) -> pd.DataFrame:
    """Alarm when a period's group gap grew past the first period's by more than ``margin``.

    The test is one-sided: the growth must exceed ``margin`` (a material change) *and* be
    significant, ``(gap - gap_0) / sqrt(se ** 2 + se_0 ** 2) > z_(1 - alpha)`` with the
    bootstrap standard errors of both periods.

    Parameters
    ----------
    periods : pandas.DataFrame
        :attr:`Deployment.periods`.
    margin : float
        Material growth of the gap (in recall points, e.g. 0.02).
    alpha : float
        One-sided level.

    Returns
    -------
    pandas.DataFrame
        ``strategy``, ``period``, ``group_gap``, ``reference_gap``, ``change``, ``z``, ``alarm``.
    """
    rows = []
    zcrit = stats.norm.ppf(1.0 - alpha)
    for strategy, g in periods.groupby("strategy", sort=False):
        g = g.sort_values("period")
        ref = g.iloc[0]
        for row in g.itertuples(index=False):
            change = row.group_gap - ref["group_gap"]
            se = np.sqrt(row.gap_se**2 + ref["gap_se"] ** 2)
            z = change / se if se > 0 else np.nan
            alarm = bool(row.period > ref["period"] and change > margin and z > zcrit)
            rows.append(
                {
                    "strategy": strategy,
                    "period": row.period,
                    "group_gap": row.group_gap,
                    "reference_gap": ref["group_gap"],
                    "change": change,
                    "z": z,
                    "alarm": alarm,
                }
            )
    return pd.DataFrame(rows)
