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
   one-sided level ``alpha`` and the arms' sizes pass the sample-ratio check (chi-square,
   p >= 0.001). The test is clustered by customer, the unit of randomisation
   (:func:`clustered_ctr_test`: the delta method on per-customer sums): one customer's visits are
   correlated, and a test that counts visits as independent finds winners that are noise.

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

from recnb.data.synthetic import SyntheticShop
from recnb.metrics.ranking import ranking_metric_arrays
from recnb.models.base import Recommender

__all__ = [
    "ab_test",
    "assign_arms",
    "clustered_ctr_test",
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


def clustered_ctr_test(
    clicks_b: np.ndarray, visits_b: np.ndarray, clicks_a: np.ndarray, visits_a: np.ndarray
) -> dict[str, float]:
    """One-sided test that arm B's click-through per visit beats arm A's, clustered by customer.

    The rate of an arm is ``sum(clicks) / sum(visits)`` over its customers (the randomisation
    units); its variance is the delta method's on per-customer sums (Deng, Knoblich and Lu 2018),
    ``(var(y) - 2 R cov(x, y) + R^2 var(x)) / (n mean(x)^2)``, the same formula as
    :func:`recnb.experiments.stats.ratio_test`. The arms are independent; the statistic is
    ``(R_b - R_a) / se``.

    Parameters
    ----------
    clicks_b, visits_b, clicks_a, visits_a : numpy.ndarray
        Per customer: visits with a click, visits.

    Returns
    -------
    dict
        ``ctr_a``, ``ctr_b``, ``uplift`` (``ctr_b - ctr_a``), ``se``, ``p_value`` (one-sided,
        B > A).
    """

    def moments(y: np.ndarray, x: np.ndarray, arm: str) -> tuple[float, float]:
        y, x = np.asarray(y, np.float64), np.asarray(x, np.float64)
        if len(y) != len(x) or len(x) < 2 or x.sum() <= 0:
            raise ValueError(
                f"clustered_ctr_test: arm {arm} needs at least 2 customers with visits and equal "
                f"lengths, got {len(y)} clicks and {len(x)} visits"
            )
        r = y.mean() / x.mean()
        cov = np.cov(y, x, ddof=1)
        var = (cov[0, 0] - 2 * r * cov[0, 1] + r * r * cov[1, 1]) / (len(x) * x.mean() ** 2)
        return float(r), float(max(var, 0.0))

    ra, va = moments(clicks_a, visits_a, "A")
    rb, vb = moments(clicks_b, visits_b, "B")
    se = float(np.sqrt(va + vb))
    diff = rb - ra
    p = float(stats.norm.sf(diff / se)) if se > 0 else float(diff <= 0)
    return {"ctr_a": ra, "ctr_b": rb, "uplift": diff, "se": se, "p_value": p}


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
        ``uplift`` (``ctr_b - ctr_a``), ``uplift_se`` and ``p_value`` (one-sided, B > A; clustered
        by customer, :func:`clustered_ctr_test`), ``detectable`` (the uplift the test detects
        with 80% power), ``srm_p``,
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
        clicked = per_visit["clicked"].astype(bool).to_numpy()
        out[f"visits_{name}"] = len(v)
        out[f"clicks_{name}"] = int(clicked.sum())
        out[f"ctr_{name}"] = float(clicked.mean())
        out[f"purchases_{name}"] = float(per_visit["purchases"].mean())
        # per randomisation unit (customer): visits with a click, visits
        _, unit_code = np.unique(units[sel], return_inverse=True)
        out[f"_unit_clicks_{name}"] = np.bincount(unit_code, weights=clicked.astype(np.float64))
        out[f"_unit_visits_{name}"] = np.bincount(unit_code).astype(np.float64)
        exact = shop.policy_value(visits, lists[name], k=k, history=history)
        out[f"exact_clicks_{name}"] = float(exact["expected_clicks"].mean())
    n = np.array([out["visits_a"], out["visits_b"]])
    srm_p = float(stats.chisquare(n).pvalue)
    test = clustered_ctr_test(
        out.pop("_unit_clicks_b"),
        out.pop("_unit_visits_b"),
        out.pop("_unit_clicks_a"),
        out.pop("_unit_visits_a"),
    )
    out["uplift"] = out["ctr_b"] - out["ctr_a"]
    out["uplift_se"] = test["se"]
    # the gain this test detects with 80% power at one-sided level alpha
    out["detectable"] = float((stats.norm.ppf(1 - alpha) + stats.norm.ppf(0.8)) * test["se"])
    out["p_value"] = test["p_value"]
    out["srm_p"] = srm_p
    out["won"] = bool(test["p_value"] < alpha and srm_p >= 0.001)
    return out


def _num(r: Any, name: str) -> float:
    value = getattr(r, name, np.nan)
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _reasons(r: Any, ab_available: bool) -> tuple[str, list[str]]:
    """The decision on one challenger and every reason for it, with the figures behind it."""
    failed = []
    if not r.noninferior:
        champ, chal = _num(r, "recall_champion"), _num(r, "recall_challenger")
        lb, allowed = _num(r, "difference_lower_bound"), _num(r, "allowed_loss")
        if np.isfinite([champ, chal, lb, allowed]).all() and champ > 0:
            failed.append(
                f"accuracy not non-inferior: recall {chal:.4f} against the champion's {champ:.4f} "
                f"({(chal - champ) / champ:+.1%}), lower bound of the difference {lb:+.4f} below "
                f"the allowed loss of -{allowed:.4f}"
            )
        else:
            failed.append("accuracy not non-inferior to the champion")
    if not r.fair:
        g0, g1 = _num(r, "gap_champion"), _num(r, "gap_challenger")
        ub, allowed = _num(r, "gap_change_upper_bound"), _num(r, "allowed_gap_growth")
        if np.isfinite([g0, g1, ub, allowed]).all():
            failed.append(
                f"fairness guardrail not met: the recall gap between customer groups goes from "
                f"{g0:.3f} to {g1:.3f} and the upper 95% bound of its growth, {ub:+.3f}, exceeds "
                f"the guardrail of {allowed:.3f}"
            )
        else:
            failed.append("widens the gap between customer groups beyond the guardrail")
    if failed:
        return "rejected", failed
    if not ab_available:
        return "not promoted", ["passed offline; no A/B test possible on this data"]
    if not bool(r.ab_won):
        ctr_a, ctr_b = _num(r, "ctr_champion"), _num(r, "ctr_challenger")
        p, mde = _num(r, "p_ab"), _num(r, "ab_detectable")
        if np.isfinite([ctr_a, ctr_b, p]).all():
            text = (
                f"did not win the A/B test: click-through {ctr_b:.3f} against the champion's "
                f"{ctr_a:.3f} (one-sided p = {p:.2f})"
            )
            if np.isfinite(mde):
                text += f"; the test could detect a gain of about {mde:.3f} with 80% power"
            return "rejected", [text]
        return "rejected", ["did not win the A/B test"]
    return "eligible", ["passed every gate"]


def decide(rows: pd.DataFrame, ab_available: bool) -> tuple[str | None, pd.DataFrame]:
    """The gate's decision from one row per challenger.

    Parameters
    ----------
    rows : pandas.DataFrame
        ``challenger``, ``noninferior`` (bool), ``fair`` (bool), ``ab_won`` (bool or NaN),
        ``ab_uplift`` (float or NaN); where present, the figures behind each gate
        (``recall_champion``, ``recall_challenger``, ``difference_lower_bound``,
        ``allowed_loss``, ``gap_champion``, ``gap_challenger``, ``gap_change_upper_bound``,
        ``allowed_gap_growth``, ``ctr_champion``, ``ctr_challenger``, ``p_ab``,
        ``ab_detectable``) are quoted in the reason.
    ab_available : bool
        Whether an A/B test could run (False on real data).

    Returns
    -------
    (str or None, pandas.DataFrame)
        The promoted challenger (None: the champion stays) and ``rows`` with a ``decision`` and a
        ``reason`` column (every failed offline gate is named, with its figures).
    """
    out = rows.copy()
    decisions, reasons = [], []
    for r in out.itertuples(index=False):
        decision, why = _reasons(r, ab_available)
        decisions.append(decision)
        reasons.append("; ".join(why))
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
