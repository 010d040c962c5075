"""Team-draft interleaving of two rankers on the shop's traffic, beside the A/B test.

Team-draft interleaving (Radlinski, Kurup & Joachims, "How does clickthrough data reflect retrieval
quality?", CIKM 2008) shows every visit *one* list merged from both rankers' lists, like two
captains picking teams: in each round the team with fewer picks so far (a coin flip on a tie) adds
its highest-ranked product not yet in the list. A click on a product credits the team that picked
it. Because both rankers are judged on the same visit, by the same customer, in the same context,
the between-customer noise that dominates an A/B test cancels out, which is why the literature
reports interleaving needing one to two orders of magnitude fewer users (Chapelle, Joachims,
Radlinski & Yue, "Large-scale validation and analysis of interleaved search evaluation", TOIS 2012).

Here every customer of the traffic sees interleaved lists; clicks come from the shop's response
model (:meth:`~recnb.data.synthetic.SyntheticShop.simulate_policy` on the interleaved list, shown in
its order). The unit of analysis is the customer, as in the A/B test: each customer's credit
difference ``d_i = clicks on the treatment team - clicks on the control team`` over their visits;
the test is a one-sample t-test of ``mean(d) = 0``. The preference is also reported the way
Chapelle et al. do, per impression with a click: ``(wins_T + ties / 2) / (wins + ties) - 1/2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from recnb.data.synthetic import PurchaseHistory, RankingPolicy, SyntheticShop
from recnb.experiments import power as pw
from recnb.experiments.arms import Arm
from recnb.experiments.simulation import Traffic

__all__ = [
    "InterleavingResult",
    "empirical_sample_size",
    "run_interleaving",
    "team_draft",
]

CONTROL, TREATMENT = 0, 1


def team_draft(
    a: np.ndarray,
    b: np.ndarray,
    k: int,
    rng: np.random.Generator | None = None,
    coins: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Team-draft interleave two ranked lists per row.

    Parameters
    ----------
    a, b : numpy.ndarray, shape (n, la) and (n, lb)
        Ranked item codes (integers >= 0), best first; -1 pads a short list. Codes must be
        comparable across ``a`` and ``b`` (the same item has the same code).
    k : int
        Length of the interleaved list.
    rng : numpy.random.Generator, optional
        The coin flips (one per row and round; used when ``coins`` is not given).
    coins : numpy.ndarray of bool, shape (n, k), optional
        The coin flips themselves: True gives ``a`` the pick when the teams are level.

    Returns
    -------
    items : numpy.ndarray of int64, shape (n, k)
        The interleaved list (-1 where both lists ran out).
    team : numpy.ndarray of int8, shape (n, k)
        0 where the item was picked for ``a``'s team, 1 for ``b``'s, -1 for an empty slot.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b):
        raise ValueError(
            f"team_draft: expected two 2-D arrays of equal rows, got {a.shape}, {b.shape}"
        )
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k: expected a positive integer, got {k!r}")
    n = len(a)
    if coins is None:
        if rng is None:
            raise ValueError("team_draft: give rng or coins")
        coins = rng.random((k, n)).T < 0.5
    coins = np.asarray(coins, dtype=bool)
    if coins.shape != (n, k):
        raise ValueError(f"coins: expected shape {(n, k)}, got {coins.shape}")
    rows = np.arange(n)
    used_a = a < 0  # padding counts as used
    used_b = b < 0
    items = np.full((n, k), -1, dtype=np.int64)
    team = np.full((n, k), -1, dtype=np.int8)
    n_a = np.zeros(n, dtype=np.int64)
    n_b = np.zeros(n, dtype=np.int64)
    for s in range(k):
        left_a = ~used_a.all(axis=1)
        left_b = ~used_b.all(axis=1)
        coin = coins[:, s]
        a_turn = (n_a < n_b) | ((n_a == n_b) & coin)
        a_turn = np.where(left_a & left_b, a_turn, left_a)
        pick_any = left_a | left_b
        ja = np.argmax(~used_a, axis=1)
        jb = np.argmax(~used_b, axis=1)
        item = np.where(a_turn, a[rows, ja], b[rows, jb])
        item = np.where(pick_any, item, -1)
        items[:, s] = item
        team[:, s] = np.where(pick_any, np.where(a_turn, CONTROL, TREATMENT), -1)
        n_a += pick_any & a_turn
        n_b += pick_any & ~a_turn
        hit = pick_any[:, None] & (item[:, None] >= 0)
        used_a |= hit & (a == item[:, None])
        used_b |= hit & (b == item[:, None])
    return items, team


@dataclass
class InterleavingResult:
    """Result of :func:`run_interleaving`.

    Attributes
    ----------
    control, treatment : str
        The rankers' labels.
    per_customer : pandas.DataFrame
        ``unit_id``, ``visits``, ``credit_control``, ``credit_treatment`` (clicks credited to
        each team), ``wins_control``, ``wins_treatment``, ``ties`` (visits with clicks and equal
        credit) and ``d`` (credit difference, treatment minus control).
    preference : float
        ``(wins_T + ties / 2) / (wins + ties) - 1/2`` over impressions with a click: > 0 means
        the treatment is preferred.
    mean_d, se_d : float
        Mean per-customer credit difference and its standard error.
    ci_low, ci_high : float
        ``1 - alpha`` interval of ``mean_d``.
    p_value : float
        Two-sided one-sample t-test of ``mean_d = 0``.
    winner : str
        The preferred ranker's label, or ``"tie"`` when not significant.
    customers_for_power : int
        Customers needed for the given power at this effect (normal approximation).
    alpha : float
    """

    control: str
    treatment: str
    per_customer: pd.DataFrame
    preference: float
    mean_d: float
    se_d: float
    ci_low: float
    ci_high: float
    p_value: float
    winner: str
    customers_for_power: int
    alpha: float


def run_interleaving(
    shop: SyntheticShop,
    traffic: Traffic,
    control: Arm,
    treatment: Arm,
    k: int = 10,
    history: PurchaseHistory | None = None,
    seed: int = 0,
    alpha: float = 0.05,
    power: float = 0.8,
) -> InterleavingResult:
    """Team-draft interleave two arms' deterministic top-``k`` lists on every visit.

    Parameters
    ----------
    shop, traffic
        As for :func:`recnb.experiments.run_ab_test`.
    control, treatment : Arm
        The two rankers (their candidates' best ``k``, after any re-ranker, are interleaved;
        their ranking policies are not used: interleaving needs each ranker's own order).
    k : int
        Length of each ranker's list and of the interleaved list.
    history : PurchaseHistory, optional
        The shop's state.
    seed : int
        Seeds the coin flips and the responses.
    alpha, power : float
        Level of the test; power for the sample-size figure.
    """
    if control.label == treatment.label:
        raise ValueError(f"run_interleaving: both arms are labelled {control.label!r}")
    rng_coin, rng_resp = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    units, inv = np.unique(traffic.unit_id, return_inverse=True)
    lists = []
    for arm in (control, treatment):
        cand = arm.candidates(units)
        order = np.argsort(-np.nan_to_num(cand.scores, nan=-np.inf), axis=1, kind="stable")[:, :k]
        ids = np.take_along_axis(cand.product_ids, order, axis=1)
        lists.append(ids[inv])
    codes, uniq = pd.factorize(
        pd.Series(np.concatenate([lst.ravel() for lst in lists]), dtype=object)
    )
    # pandas gives missing values (None) the code -1, which team_draft reads as padding
    n = len(traffic)
    a = codes[: n * k].reshape(n, k)
    b = codes[n * k :].reshape(n, k)
    items, team = team_draft(a, b, k, rng_coin)
    shown = np.where(items >= 0, uniq.to_numpy(dtype=object)[np.maximum(items, 0)], None)
    log = shop.simulate_policy(
        traffic.visits, shown, None, RankingPolicy("deterministic"), k=k, history=history,
        rng=rng_resp, item_propensities=False,
    )  # fmt: skip
    row = pd.Index(traffic.visits["visit_id"]).get_indexer(log["visit_id"])
    slot_team = team[row, log["candidate"].to_numpy()]
    clicked = log["clicked"].to_numpy(dtype=np.float64)
    credit_c = np.bincount(row, weights=clicked * (slot_team == CONTROL), minlength=n)
    credit_t = np.bincount(row, weights=clicked * (slot_team == TREATMENT), minlength=n)
    has_click = (credit_c + credit_t) > 0
    win_t = credit_t > credit_c
    win_c = credit_c > credit_t
    tie = has_click & ~win_t & ~win_c
    uv, uinv = np.unique(traffic.unit_id, return_inverse=True)
    per = pd.DataFrame(
        {
            "unit_id": uv,
            "visits": np.bincount(uinv, minlength=len(uv)),
            "credit_control": np.bincount(uinv, weights=credit_c, minlength=len(uv)),
            "credit_treatment": np.bincount(uinv, weights=credit_t, minlength=len(uv)),
            "wins_control": np.bincount(uinv, weights=win_c, minlength=len(uv)),
            "wins_treatment": np.bincount(uinv, weights=win_t, minlength=len(uv)),
            "ties": np.bincount(uinv, weights=tie, minlength=len(uv)),
        }
    )
    per["d"] = per["credit_treatment"] - per["credit_control"]
    clicked_impressions = has_click.sum()
    pref = (
        (win_t.sum() + 0.5 * tie.sum()) / clicked_impressions - 0.5
        if clicked_impressions
        else float("nan")
    )
    d = per["d"].to_numpy(dtype=np.float64)
    mean_d = float(d.mean())
    sd = float(d.std(ddof=1)) if len(d) > 1 else float("nan")
    se = sd / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    if se > 0:
        res = sps.ttest_1samp(d, 0.0)
        ci = res.confidence_interval(1 - alpha)
        p, lo, hi = float(res.pvalue), float(ci.low), float(ci.high)
    else:
        p, lo, hi = 1.0, mean_d, mean_d
    winner = "tie" if p > alpha else (treatment.label if mean_d > 0 else control.label)
    need = pw.sample_size_one_sample(sd, mean_d, alpha, power) if mean_d != 0 and sd > 0 else -1
    return InterleavingResult(
        control=control.label,
        treatment=treatment.label,
        per_customer=per,
        preference=float(pref),
        mean_d=mean_d,
        se_d=float(se),
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        winner=winner,
        customers_for_power=int(need),
        alpha=alpha,
    )


def _rejection_rate(sampler, n: int, n_sims: int, alpha: float, rng: np.random.Generator) -> float:
    """Share of ``n_sims`` experiments of ``n`` customers whose test rejects (see callers)."""
    rejected = 0
    done = 0
    block = max(1, 4_000_000 // max(n, 1))
    while done < n_sims:
        b = min(block, n_sims - done)
        rejected += int(sampler(b, n, rng).sum())
        done += b
    return rejected / n_sims


def empirical_sample_size(
    method: str,
    values: np.ndarray | tuple[np.ndarray, np.ndarray],
    grid: np.ndarray,
    n_sims: int = 1000,
    alpha: float = 0.05,
    power: float = 0.8,
    seed: int | None = 0,
) -> tuple[float, pd.DataFrame]:
    """Customers needed for ``power``, measured by simulating experiments at a grid of sizes.

    Customers are drawn with replacement from the simulated population; at each size the share
    of experiments that reject is the empirical power, and the size at ``power`` is interpolated
    (on a log scale of customers) between the grid points around it.

    Parameters
    ----------
    method : {"interleaving", "ab"}
        ``"interleaving"``: ``values`` are the per-customer credit differences ``d``; an
        experiment of ``n`` customers is a one-sample t-test. ``"ab"``: ``values`` are the pools
        ``(control, treatment)`` of per-customer outcomes; an experiment of ``n`` customers puts
        half in each arm (Welch test).
    values : array or (array, array)
    grid : array of int
        Total customers per experiment, ascending.
    n_sims, alpha, power, seed

    Returns
    -------
    (customers, curve) : (float, pandas.DataFrame)
        Interpolated customers at ``power`` (NaN when the grid never reaches it) and the curve
        (``customers``, ``power``).
    """
    from recnb.experiments.calibration import welch_pvalues

    rng = np.random.default_rng(seed)
    if method == "interleaving":
        d = np.asarray(values, dtype=np.float64)

        def sampler(b: int, n: int, r: np.random.Generator) -> np.ndarray:
            x = d[r.integers(0, len(d), size=(b, n))]
            m = x.mean(axis=1)
            s = x.std(axis=1, ddof=1)
            with np.errstate(divide="ignore", invalid="ignore"):
                t = m / (s / np.sqrt(n))
            p = 2 * sps.t.sf(np.abs(t), n - 1)
            return np.where(s > 0, p, 1.0) < alpha

    elif method == "ab":
        yc, yt = (np.asarray(v, dtype=np.float64) for v in values)

        def sampler(b: int, n: int, r: np.random.Generator) -> np.ndarray:
            m = max(n // 2, 2)
            c = yc[r.integers(0, len(yc), size=(b, m))]
            t = yt[r.integers(0, len(yt), size=(b, m))]
            mm = np.full(b, float(m))
            p, _, _ = welch_pvalues(mm, t.sum(1), (t * t).sum(1), mm, c.sum(1), (c * c).sum(1))
            return np.nan_to_num(p, nan=1.0) < alpha

    else:
        raise ValueError(f"method must be 'interleaving' or 'ab', got {method!r}")
    g = np.asarray(grid, dtype=np.int64)
    pw_ = np.array([_rejection_rate(sampler, int(n), n_sims, alpha, rng) for n in g])
    curve = pd.DataFrame({"customers": g, "power": pw_})
    above = np.flatnonzero(pw_ >= power)
    if len(above) == 0:
        return float("nan"), curve
    i = int(above[0])
    if i == 0:
        return float(g[0]), curve
    x0, x1 = np.log(g[i - 1]), np.log(g[i])
    y0, y1 = pw_[i - 1], pw_[i]
    x = x0 + (power - y0) * (x1 - x0) / (y1 - y0) if y1 > y0 else x1
    return float(np.exp(x)), curve
