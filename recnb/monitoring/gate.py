"""The champion/challenger gate: when may a new model replace the one in production?

A challenger replaces the champion only if it passes three gates, in order (a later gate runs only
for challengers that passed the earlier ones, as an A/B test costs real traffic):

1. **accuracy non-inferiority** (offline, on the latest held-out period): the one-sided
   ``1 - alpha`` lower confidence bound of the mean paired per-customer difference in recall,
   challenger minus champion, lies above ``-margin * champion_recall`` (a relative margin);
2. **fairness guardrail** (offline): the recall gap between customer groups does not grow by more
   than ``fairness_margin``: the upper bound of the paired customer-bootstrap interval of
   ``gap(challenger) - gap(champion)`` is at most ``fairness_margin``;
3. **the simulated A/B test** (only where a ground truth exists: the synthetic shop): the shop's
   customers are split by a salted hash into two arms for ``days`` of traffic after the log; each
   arm sees its model's lists and the shop draws the responses. The challenger wins if its
   click-through rate per visit (visits with at least one click on the list) is higher at
   one-sided level ``alpha`` (two-proportion z-test, statsmodels) and the arms' sizes pass the
   sample-ratio check (chi-square, p >= 0.001).

Among challengers passing every gate the one with the largest A/B uplift is promoted; otherwise the
champion stays. Without an A/B test (real data) nobody is promoted: offline evidence alone is not
enough, and the report says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportions_ztest

from recnb.data.synthetic import SyntheticShop
from recnb.metrics.ranking import ranking_metric_arrays
from recnb.models.base import Recommender

__all__ = [
    "ab_test",
    "assign_arms",
    "decide",
    "fairness_guardrail",
    "noninferiority",
    "offline_recall",
]


def noninferiority(
    champion: np.ndarray, challenger: np.ndarray, margin: float = 0.05, alpha: float = 0.05
) -> dict[str, Any]:
    """Paired non-inferiority test of a per-customer metric with a relative margin.

    Parameters
    ----------
    champion, challenger : numpy.ndarray
        The metric per customer, same customers in the same order.
    margin : float
        Largest acceptable loss as a share of the champion's mean (0.05: 5 %).
    alpha : float
        One-sided level.

    Returns
    -------
    dict
        ``champion``, ``challenger`` (means), ``difference``, ``lower_bound`` (one-sided
        ``1 - alpha`` t bound of the mean difference), ``margin`` (absolute), ``passed``.
    """
    a = np.asarray(champion, dtype=np.float64)
    b = np.asarray(challenger, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(
            f"noninferiority: need two equal 1-d arrays of >= 2, got {a.shape} {b.shape}"
        )
    if not 0 <= margin < 1:
        raise ValueError(f"margin: must be in [0, 1), got {margin!r}")
    d = b - a
    se = d.std(ddof=1) / np.sqrt(len(d))
    lower = d.mean() - stats.t.ppf(1.0 - alpha, len(d) - 1) * se
    abs_margin = margin * a.mean()
    return {
        "champion": float(a.mean()),
        "challenger": float(b.mean()),
        "difference": float(d.mean()),
        "lower_bound": float(lower),
        "margin": float(abs_margin),
        "passed": bool(lower > -abs_margin),
    }


def _gaps(values: np.ndarray, codes: np.ndarray, sel: np.ndarray, idx: np.ndarray) -> float:
    n = np.bincount(codes[idx], minlength=codes.max() + 1)[sel]
    m = np.bincount(codes[idx], weights=values[idx], minlength=codes.max() + 1)[sel]
    m = m / np.maximum(n, 1)
    return float(m.max() - m.min())


def fairness_guardrail(
    champion: np.ndarray,
    challenger: np.ndarray,
    groups: np.ndarray,
    margin: float = 0.02,
    min_group_size: int = 30,
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, Any]:
    """Does the challenger widen the recall gap between groups by more than ``margin``?

    The gap is the largest minus the smallest group mean (groups of at least ``min_group_size``).
    A paired bootstrap over customers (the same resample for both models) gives the one-sided
    ``1 - alpha`` upper bound of ``gap(challenger) - gap(champion)``; the guardrail holds when it
    is at most ``margin``.

    Returns
    -------
    dict
        ``champion_gap``, ``challenger_gap``, ``change``, ``upper_bound``, ``margin``, ``passed``.
    """
    a = np.asarray(champion, dtype=np.float64)
    b = np.asarray(challenger, dtype=np.float64)
    g = pd.Series(np.asarray(groups, dtype=object)).fillna("unknown").astype(str).to_numpy()
    labels, codes = np.unique(g, return_inverse=True)
    sizes = np.bincount(codes, minlength=len(labels))
    sel = np.flatnonzero(sizes >= min_group_size)
    if len(sel) < 2:
        return {
            "champion_gap": np.nan,
            "challenger_gap": np.nan,
            "change": np.nan,
            "upper_bound": np.nan,
            "margin": margin,
            "passed": True,
            "note": f"fewer than two groups of >= {min_group_size} customers",
        }
    every = np.arange(len(a))
    ga, gb = _gaps(a, codes, sel, every), _gaps(b, codes, sel, every)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        idx = rng.integers(0, len(a), len(a))
        diffs[i] = _gaps(b, codes, sel, idx) - _gaps(a, codes, sel, idx)
    upper = float(np.quantile(diffs, 1.0 - alpha))
    return {
        "champion_gap": ga,
        "challenger_gap": gb,
        "change": gb - ga,
        "upper_bound": upper,
        "margin": margin,
        "passed": bool(upper <= margin),
    }


def offline_recall(
    models: Mapping[str, Recommender],
    customers: np.ndarray,
    truth_of: Callable[[Recommender], Any],
    k: int = 10,
) -> pd.DataFrame:
    """Per-customer recall at ``k`` of several models on the same customers.

    Parameters
    ----------
    models : mapping of name to fitted Recommender
    customers : numpy.ndarray
        External customer ids (the models' id space).
    truth_of : callable
        Model -> CSR of held-out relevant items, rows = ``customers``, columns = the model's
        product indices (models may have different vocabularies).
    k : int

    Returns
    -------
    pandas.DataFrame
        Index ``customers``, one column per model; only customers with a relevant item for every
        model are kept.
    """
    cols, mask = {}, np.ones(len(customers), dtype=bool)
    for name, model in models.items():
        truth = truth_of(model)
        cidx = model.customer_indices(customers)
        lists = np.empty((len(customers), k), np.int64)
        for s in range(0, len(customers), 2048):
            lists[s : s + 2048], _ = model.recommend_indices(cidx[s : s + 2048], k=k)
        has = np.diff(truth.indptr) > 0
        mask &= has
        rec = np.full(len(customers), np.nan)
        if has.any():
            rec[has] = ranking_metric_arrays(lists[has], truth[has], ks=k, metrics=["recall"])[
                ("recall", k)
            ]
        cols[name] = rec
    return pd.DataFrame(cols, index=pd.Index(customers, name="customer_id")).loc[mask]


def assign_arms(units: np.ndarray, salt: str, n_arms: int = 2) -> np.ndarray:
    """Arm of each randomisation unit: a salted SHA-256 hash, so a customer keeps their arm."""
    out = np.empty(len(units), dtype=np.int64)
    for i, u in enumerate(np.asarray(units, dtype=object)):
        h = hashlib.sha256(f"{salt}:{u}".encode()).digest()
        out[i] = int.from_bytes(h[:8], "big") % n_arms
    return out


def ab_test(
    shop: SyntheticShop,
    champion: Recommender,
    challenger: Recommender,
    days: range,
    unit_id: Callable[[np.ndarray], np.ndarray] | None = None,
    k: int = 10,
    alpha: float = 0.05,
    salt: str = "monitoring",
    seed: int = 0,
    history: Any = None,
) -> dict[str, Any]:
    """A simulated A/B test of two models on the shop's traffic of ``days``.

    Every visit's customer is assigned to an arm by :func:`assign_arms` (on the unit id, the id
    the models know); the arm's model serves a top-``k`` list (its popularity fallback for a
    customer it does not know) and :meth:`SyntheticShop.simulate_policy` draws the customer's
    response. The exact expected clicks per visit of both models on *all* visits
    (:meth:`SyntheticShop.policy_value`) are reported beside the test: the difference the test
    tries to detect.

    Returns
    -------
    dict
        ``visits_a``, ``visits_b``, ``ctr_a``, ``ctr_b`` (share of visits with a click),
        ``uplift`` (``ctr_b - ctr_a``), ``p_value`` (one-sided, B > A), ``srm_p``,
        ``purchases_a``, ``purchases_b`` (per visit), ``exact_clicks_a``, ``exact_clicks_b``
        (expected clicks per visit), ``won``.
    """
    visits = shop.visits(days)
    units = visits["customer_id"].to_numpy(dtype=object)
    if unit_id is not None:
        units = np.asarray(unit_id(units), dtype=object)
    arm = assign_arms(units, salt)
    lists = {}
    for name, model in (("a", champion), ("b", challenger)):
        uniq, inv = np.unique(units, return_inverse=True)
        idx, _ = model.recommend_indices(model.customer_indices(uniq), k=k)
        ids = np.asarray(model.product_ids_, dtype=object)
        cand = np.where(idx >= 0, ids[np.maximum(idx, 0)], None)[inv]
        lists[name] = cand
    out: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    for name, code in (("a", 0), ("b", 1)):
        sel = np.flatnonzero(arm == code)
        v = visits.iloc[sel].reset_index(drop=True)
        sim = shop.simulate_policy(
            v, lists[name][sel], k=k, history=history, rng=rng, item_propensities=False
        )
        per_visit = sim.groupby("visit_id").agg(
            clicked=("clicked", "any"), purchases=("purchased", "sum")
        )
        per_visit = per_visit.reindex(v["visit_id"], fill_value=0)
        out[f"visits_{name}"] = len(v)
        out[f"clicks_{name}"] = int(per_visit["clicked"].astype(bool).sum())
        out[f"ctr_{name}"] = float(per_visit["clicked"].astype(bool).mean())
        out[f"purchases_{name}"] = float(per_visit["purchases"].mean())
        exact = shop.policy_value(visits, lists[name], k=k, history=history)
        out[f"exact_clicks_{name}"] = float(exact["expected_clicks"].mean())
    n = np.array([out["visits_a"], out["visits_b"]])
    srm_p = float(stats.chisquare(n).pvalue)
    _, p = proportions_ztest(
        [out["clicks_b"], out["clicks_a"]], [out["visits_b"], out["visits_a"]], alternative="larger"
    )
    out["uplift"] = out["ctr_b"] - out["ctr_a"]
    out["p_value"] = float(p)
    out["srm_p"] = srm_p
    out["won"] = bool(p < alpha and srm_p >= 0.001)
    return out


def decide(rows: pd.DataFrame, ab_available: bool) -> tuple[str | None, pd.DataFrame]:
    """The gate's decision from one row per challenger.

    Parameters
    ----------
    rows : pandas.DataFrame
        ``challenger``, ``noninferior`` (bool), ``fair`` (bool), ``ab_won`` (bool or NaN),
        ``ab_uplift`` (float or NaN).
    ab_available : bool
        Whether an A/B test could run (False on real data).

    Returns
    -------
    (str or None, pandas.DataFrame)
        The promoted challenger (None: the champion stays) and ``rows`` with a ``decision`` and a
        ``reason`` column.
    """
    out = rows.copy()
    decisions, reasons = [], []
    for r in out.itertuples(index=False):
        if not r.noninferior:
            decisions.append("rejected")
            reasons.append("accuracy not non-inferior to the champion")
        elif not r.fair:
            decisions.append("rejected")
            reasons.append("widens the gap between customer groups beyond the guardrail")
        elif not ab_available:
            decisions.append("not promoted")
            reasons.append("passed offline; no A/B test possible on this data")
        elif not bool(r.ab_won):
            decisions.append("rejected")
            reasons.append("did not win the A/B test")
        else:
            decisions.append("eligible")
            reasons.append("passed every gate")
    out["decision"] = decisions
    out["reason"] = reasons
    eligible = out[out["decision"] == "eligible"]
    winner = None
    if len(eligible):
        winner = str(eligible.sort_values("ab_uplift", ascending=False)["challenger"].iloc[0])
        out.loc[out["challenger"] == winner, "decision"] = "promoted"
        out.loc[(out["decision"] == "eligible"), "reason"] = "passed every gate; smaller uplift"
        out.loc[(out["decision"] == "eligible"), "decision"] = "not promoted"
    return winner, out
