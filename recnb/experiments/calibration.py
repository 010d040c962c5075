"""Do the tests hold their error rates? Thousands of simulated experiments, vectorised.

Customers' outcomes are simulated once on the shop; each simulated experiment only re-draws who is
in which arm, so a thousand experiments cost a few matrix products, not a thousand simulations:

- :func:`aa_rejection_rate`: A/A tests (both arms the same policy) re-randomised by independent
  fair coins per customer, as a hash assignment does; the share of experiments with ``p < alpha``
  is the false-positive rate, which must be ``alpha``.
- :func:`peeking_rejection_rates`: the same A/A experiments looked at every day: a naive analyst
  who stops at the first daily ``p < alpha`` is wrong far more often than ``alpha``; the mSPRT
  (:mod:`recnb.experiments.sequential`) keeps it at most ``alpha`` however often it looks.
- :func:`power_check`: experiments of ``n`` customers per arm drawn with replacement from a pool of
  customers whose outcomes under *both* arms were simulated (the pool is the population), so the
  true effect and standard deviations are the pool's; the share of experiments that reject is the
  empirical power, to compare with the design power of :mod:`recnb.experiments.power`. With a
  pre-period covariate the same experiments are analysed with CUPED: the variance of the CUPED
  estimate over the experiments divided by that of the plain one should be ``1 - rho^2``, and its
  mean the true effect (unbiased).

Welch's test is used with its Satterthwaite degrees of freedom, the proportion test with the pooled
variance, exactly as :mod:`recnb.experiments.stats` does for one experiment (the tests check that
the vectorised statistics equal the single-experiment ones).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as sps

from recnb.experiments import power as pw
from recnb.experiments.sequential import msprt_lambda

__all__ = [
    "PowerCheck",
    "aa_rejection_rate",
    "peeking_rejection_rates",
    "power_check",
    "welch_pvalues",
    "proportion_pvalues",
]

#: customer-by-experiment entries per block (memory stays ~ 64 MB whatever the sizes)
_BLOCK = 8_000_000


def welch_pvalues(
    n1: np.ndarray, s1: np.ndarray, ss1: np.ndarray, n0: np.ndarray, s0: np.ndarray, ss0: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's two-sided p-values from counts, sums and sums of squares (arrays of experiments).

    Returns
    -------
    (p, diff, se) : numpy.ndarray
        NaN where an arm has fewer than 2 customers.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        m1, m0 = s1 / n1, s0 / n0
        v1 = np.maximum(ss1 - n1 * m1 * m1, 0.0) / (n1 - 1) / n1
        v0 = np.maximum(ss0 - n0 * m0 * m0, 0.0) / (n0 - 1) / n0
        se = np.sqrt(v1 + v0)
        t = (m1 - m0) / se
        df = (v1 + v0) ** 2 / (v1 * v1 / (n1 - 1) + v0 * v0 / (n0 - 1))
        p = 2 * sps.t.sf(np.abs(t), df)
    bad = (n1 < 2) | (n0 < 2)
    p = np.where(bad, np.nan, np.where(se > 0, p, 1.0))
    return p, m1 - m0, se


def proportion_pvalues(
    n1: np.ndarray, x1: np.ndarray, n0: np.ndarray, x0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided p-values of the pooled two-proportion z-test (arrays of experiments)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p0 = x1 / n1, x0 / n0
        pool = (x1 + x0) / (n1 + n0)
        se = np.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n0))
        z = (p1 - p0) / se
        p = 2 * sps.norm.sf(np.abs(z))
    return np.where(se > 0, p, 1.0), p1 - p0


def _blocks(n_sims: int, n: int) -> list[int]:
    per = max(1, _BLOCK // max(n, 1))
    return [min(per, n_sims - i) for i in range(0, n_sims, per)]


def _check(values: ArrayLike, name: str) -> np.ndarray:
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 1 or len(y) < 4 or not np.isfinite(y).all():
        raise ValueError(f"{name}: expected at least 4 finite values (one per customer)")
    return y


def aa_rejection_rate(
    values: ArrayLike,
    n_sims: int = 1000,
    alpha: float = 0.05,
    kind: str = "mean",
    share: float = 0.5,
    seed: int | None = 0,
) -> dict[str, float]:
    """False-positive rate of A/A tests re-randomised over the same customers.

    Parameters
    ----------
    values : array-like of float
        One outcome per customer (all under the same policy): a value (``kind="mean"``, Welch) or
        0/1 (``kind="proportion"``, the pooled z-test).
    n_sims : int
        Simulated experiments.
    alpha : float
        Level.
    kind : {"mean", "proportion"}
    share : float
        Probability that a customer is in the treatment arm.
    seed : int or None

    Returns
    -------
    dict
        ``rate`` (share of experiments with ``p < alpha``), ``se`` (its Monte-Carlo standard
        error), ``n_sims``, ``customers``.
    """
    y = _check(values, "values")
    if kind not in ("mean", "proportion"):
        raise ValueError(f"kind must be 'mean' or 'proportion', got {kind!r}")
    rng = np.random.default_rng(seed)
    n = len(y)
    tot, tot2 = y.sum(), (y * y).sum()
    rejected = []
    for b in _blocks(n_sims, n):
        g = (rng.random((b, n)) < share).astype(np.float64)
        n1 = g.sum(axis=1)
        s1 = g @ y
        if kind == "mean":
            ss1 = g @ (y * y)
            p, _, _ = welch_pvalues(n1, s1, ss1, n - n1, tot - s1, tot2 - ss1)
        else:
            p, _ = proportion_pvalues(n1, s1, n - n1, tot - s1)
        rejected.append(p < alpha)
    r = np.concatenate(rejected)
    rate = float(r.mean())
    return {
        "rate": rate,
        "se": float(np.sqrt(rate * (1 - rate) / len(r))),
        "n_sims": int(len(r)),
        "customers": int(n),
    }


def peeking_rejection_rates(
    cumulative: ArrayLike,
    first_look: ArrayLike,
    tau: float,
    n_sims: int = 1000,
    alpha: float = 0.05,
    share: float = 0.5,
    seed: int | None = 0,
) -> dict[str, float]:
    """A/A experiments analysed at every look: naive peeking against the mSPRT.

    Parameters
    ----------
    cumulative : array-like, shape (n_customers, n_looks)
        Each customer's running outcome at each look (0 before the customer's first visit).
    first_look : array-like of int, shape (n_customers,)
        Index of the first look at which the customer is in the experiment.
    tau : float
        Mixing standard deviation of the mSPRT.
    n_sims, alpha, share, seed
        As for :func:`aa_rejection_rate`.

    Returns
    -------
    dict
        ``naive_final`` (the fixed-horizon test at the last look only), ``naive_any`` (stop at the
        first look with ``p < alpha``), ``msprt_any`` (stop when the mSPRT rejects), each a
        rejection rate, with ``*_se`` Monte-Carlo standard errors, ``n_looks`` and ``n_sims``.
    """
    y = np.asarray(cumulative, dtype=np.float64)
    first = np.asarray(first_look, dtype=np.int64)
    if y.ndim != 2 or len(first) != len(y):
        raise ValueError("cumulative must be (customers, looks) with one first_look per customer")
    n, n_looks = y.shape
    arrived = (np.arange(n_looks)[None, :] >= first[:, None]).astype(np.float64)
    ya = y * arrived
    ya2 = ya * ya
    tot_n, tot_s, tot_ss = arrived.sum(axis=0), ya.sum(axis=0), ya2.sum(axis=0)
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {"naive_final": [], "naive_any": [], "msprt_any": []}
    for b in _blocks(n_sims, n * 3):
        g = (rng.random((b, n)) < share).astype(np.float64)
        n1, s1, ss1 = g @ arrived, g @ ya, g @ ya2
        p, diff, se = welch_pvalues(n1, s1, ss1, tot_n - n1, tot_s - s1, tot_ss - ss1)
        p = np.where(np.isnan(p), 1.0, p)
        out["naive_final"].append(p[:, -1] < alpha)
        out["naive_any"].append((p < alpha).any(axis=1))
        lam = msprt_lambda(np.nan_to_num(diff), np.nan_to_num(se * se), tau)
        out["msprt_any"].append((lam >= 1.0 / alpha).any(axis=1))
    res: dict[str, float] = {}
    for key, parts in out.items():
        r = np.concatenate(parts)
        res[key] = float(r.mean())
        res[f"{key}_se"] = float(np.sqrt(r.mean() * (1 - r.mean()) / len(r)))
    res["n_looks"] = int(n_looks)
    res["n_sims"] = int(n_sims)
    return res


@dataclass(frozen=True)
class PowerCheck:
    """Result of :func:`power_check`.

    Attributes
    ----------
    n_per_arm : int
        Customers per arm in every simulated experiment.
    true_diff : float
        The pool's difference of means (treatment - control): the effect the tests look for.
    design_power : float
        Power the design formula promises for ``true_diff`` at ``n_per_arm``.
    empirical_power : float
        Share of simulated experiments that rejected.
    empirical_power_se : float
        Its Monte-Carlo standard error.
    mean_estimate, sd_estimate : float
        Mean and standard deviation of the plain estimates over the experiments.
    rho : float
        Correlation of outcome and covariate in the pool, both arms' outcomes stacked (one
        ``theta`` serves both arms); NaN without a covariate.
    cuped_variance_ratio : float
        Variance of the CUPED estimates over that of the plain ones (NaN without a covariate);
        theory: ``1 - rho^2``.
    cuped_mean_estimate : float
        Mean CUPED estimate (unbiased: close to ``true_diff``).
    cuped_bias_z : float
        ``(cuped_mean_estimate - true_diff) / its Monte-Carlo standard error``.
    cuped_power : float
        Empirical power of the CUPED-adjusted test.
    n_sims : int
    """

    n_per_arm: int
    true_diff: float
    design_power: float
    empirical_power: float
    empirical_power_se: float
    mean_estimate: float
    sd_estimate: float
    rho: float
    cuped_variance_ratio: float
    cuped_mean_estimate: float
    cuped_bias_z: float
    cuped_power: float
    n_sims: int


def power_check(
    control: ArrayLike,
    treatment: ArrayLike,
    n_per_arm: int,
    covariate: ArrayLike | None = None,
    n_sims: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> PowerCheck:
    """Empirical against design power (and CUPED) over experiments drawn from a pool.

    Parameters
    ----------
    control, treatment : array-like of float
        Each pool customer's outcome under control and under treatment (simulated
        independently; the same customers in the same order).
    n_per_arm : int
        Customers per arm per experiment, drawn with replacement from the pool (control
        customers show their control outcome, treatment customers their treatment outcome).
    covariate : array-like of float, optional
        Each pool customer's pre-period covariate (CUPED).
    n_sims, alpha, seed
        Experiments, level, seed.
    """
    yc = _check(control, "control")
    yt = _check(treatment, "treatment")
    if len(yc) != len(yt):
        raise ValueError("control and treatment pools differ in length")
    x = None if covariate is None else _check(covariate, "covariate")
    if x is not None and len(x) != len(yc):
        raise ValueError("covariate: one value per pool customer")
    if n_per_arm < 2:
        raise ValueError(f"n_per_arm must be >= 2, got {n_per_arm}")
    rng = np.random.default_rng(seed)
    n = len(yc)
    true_diff = float(yt.mean() - yc.mean())
    design = pw.power_mean(
        float(yc.std()), true_diff, n_per_arm, alpha, sd_treatment=float(yt.std())
    ) if true_diff != 0 else alpha  # fmt: skip
    est, rej, est_c, rej_c = [], [], [], []
    m = int(n_per_arm)
    for b in _blocks(n_sims, 2 * m):
        ic = rng.integers(0, n, size=(b, m))
        it = rng.integers(0, n, size=(b, m))
        a, c = yt[it], yc[ic]
        p, d, _ = welch_pvalues(
            np.full(b, m), a.sum(1), (a * a).sum(1), np.full(b, m), c.sum(1), (c * c).sum(1)
        )
        est.append(d)
        rej.append(p < alpha)
        if x is not None:
            xa, xc = x[it], x[ic]
            # theta from each experiment's own pooled data, as an analyst would compute it
            xy = np.concatenate([xa, xc], axis=1)
            yy = np.concatenate([a, c], axis=1)
            xm = xy.mean(axis=1, keepdims=True)
            ym = yy.mean(axis=1, keepdims=True)
            theta = ((xy - xm) * (yy - ym)).sum(1) / np.maximum(((xy - xm) ** 2).sum(1), 1e-300)
            aa = a - theta[:, None] * (xa - xm)
            cc = c - theta[:, None] * (xc - xm)
            pc_, dc, _ = welch_pvalues(
                np.full(b, m),
                aa.sum(1),
                (aa * aa).sum(1),
                np.full(b, m),
                cc.sum(1),
                (cc * cc).sum(1),
            )
            est_c.append(dc)
            rej_c.append(pc_ < alpha)
    e = np.concatenate(est)
    r = np.concatenate(rej)
    emp = float(r.mean())
    if x is not None:
        ec = np.concatenate(est_c)
        # one theta for both arms: the relevant correlation is that of the stacked pool
        rho = float(np.corrcoef(np.concatenate([yc, yt]), np.concatenate([x, x]))[0, 1])
        vr = float(ec.var(ddof=1) / e.var(ddof=1))
        mc = float(ec.mean())
        bias_z = float((mc - true_diff) / (ec.std(ddof=1) / np.sqrt(len(ec))))
        cp = float(np.concatenate(rej_c).mean())
    else:
        rho = vr = mc = bias_z = cp = float("nan")
    return PowerCheck(
        n_per_arm=m,
        true_diff=true_diff,
        design_power=float(design),
        empirical_power=emp,
        empirical_power_se=float(np.sqrt(emp * (1 - emp) / len(r))),
        mean_estimate=float(e.mean()),
        sd_estimate=float(e.std(ddof=1)),
        rho=rho,
        cuped_variance_ratio=vr,
        cuped_mean_estimate=mc,
        cuped_bias_z=bias_z,
        cuped_power=cp,
        n_sims=int(len(r)),
    )
