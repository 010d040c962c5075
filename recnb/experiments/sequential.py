"""Always-valid sequential monitoring: the mixture sequential probability ratio test (mSPRT).

Looking at a fixed-horizon test every day and stopping at the first ``p < alpha`` inflates the
false-positive rate far above ``alpha`` (every look is another chance of a fluke). The mSPRT of
Johari, Koomen, Pekelis & Walsh ("Peeking at A/B tests", KDD 2017; "Always valid inference",
Operations Research 2022) gives p-values and intervals that stay valid however often one looks.

For a difference of means ``theta`` estimated by ``d`` with variance ``V`` (``V = s_t^2 / n_t +
s_c^2 / n_c``, the normal approximation of a two-sample test), the likelihood ratio of ``theta`` against
0 mixed over a normal prior ``theta ~ N(0, tau^2)`` is::

    Lambda = sqrt(V / (V + tau^2)) * exp(d^2 tau^2 / (2 V (V + tau^2)))

(the density of ``d`` under ``N(0, V + tau^2)`` over its density under ``N(0, V)``). Under the null
``Lambda`` is a non-negative martingale, so by Ville's inequality ``P(sup_n Lambda_n >= 1/alpha) <=
alpha``: rejecting the first time ``Lambda >= 1 / alpha`` keeps the false-positive rate at most
``alpha`` at any stopping time. The always-valid p-value is ``min(1, min_{m <= n} 1 / Lambda_m)``
and the always-valid interval at look ``n`` is the set of ``theta_0`` not rejected::

    d +- sqrt(2 V (V + tau^2) / tau^2 * log(sqrt((V + tau^2) / V) / alpha))

whose running intersection is also valid. ``tau`` sets where the test is most powerful: a common
choice, used here by default, is the minimum detectable effect of the design.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["always_valid_ci", "monitor", "msprt_lambda", "msprt_pvalues"]


def _arrays(diff: ArrayLike, var: ArrayLike, tau: float) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(diff, dtype=np.float64)
    v = np.asarray(var, dtype=np.float64)
    if not (np.isfinite(tau) and tau > 0):
        raise ValueError(f"tau must be a finite number > 0, got {tau!r}")
    if (v < 0).any():
        raise ValueError("var: variances must be >= 0")
    return d, v


def msprt_lambda(diff: ArrayLike, var: ArrayLike, tau: float) -> np.ndarray:
    """Mixture likelihood ratio ``Lambda`` of each look (see the module docstring).

    A look with no variance yet (``var == 0``, e.g. no customer in an arm) gets ``Lambda = 1``
    (no evidence).
    """
    d, v = _arrays(diff, var, tau)
    t2 = float(tau) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lam = 0.5 * np.log(v / (v + t2)) + d * d * t2 / (2.0 * v * (v + t2))
    return np.where((v > 0) & np.isfinite(log_lam), np.exp(np.minimum(log_lam, 700.0)), 1.0)


def msprt_pvalues(diff: ArrayLike, var: ArrayLike, tau: float) -> np.ndarray:
    """Always-valid p-values ``min(1, min_{m <= n} 1 / Lambda_m)`` along the last axis (the
    looks, in time order)."""
    lam = msprt_lambda(diff, var, tau)
    return np.minimum.accumulate(np.minimum(1.0, 1.0 / lam), axis=-1)


def always_valid_ci(
    diff: ArrayLike, var: ArrayLike, tau: float, alpha: float = 0.05, running: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Always-valid ``1 - alpha`` confidence intervals of each look.

    Parameters
    ----------
    diff, var : array-like
        Estimated difference and its variance per look (time order along the last axis).
    tau : float
        Standard deviation of the mixing prior.
    alpha : float
        1 - confidence level.
    running : bool
        Return the running intersection of the intervals (narrower, still valid).

    Returns
    -------
    (low, high) : numpy.ndarray
        Infinite where a look has no variance yet.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    d, v = _arrays(diff, var, tau)
    t2 = float(tau) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        half = np.sqrt(2.0 * v * (v + t2) / t2 * (0.5 * np.log((v + t2) / v) - np.log(alpha)))
    half = np.where(v > 0, half, np.inf)
    low, high = d - half, d + half
    if running:
        low = np.maximum.accumulate(low, axis=-1)
        high = np.minimum.accumulate(high, axis=-1)
    return low, high


def monitor(looks: pd.DataFrame, tau: float, alpha: float = 0.05) -> pd.DataFrame:
    """Daily monitoring table of a two-arm test: naive fixed-horizon statistics beside the mSPRT.

    Parameters
    ----------
    looks : pandas.DataFrame
        One row per look in time order with ``n_control``, ``n_treatment`` (customers so far),
        ``mean_control``, ``mean_treatment`` and ``var_control``, ``var_treatment`` (sample
        variances of the per-customer metric so far). Other columns (e.g. ``day``) are kept.
    tau : float
        Mixing standard deviation (e.g. the minimum detectable effect).
    alpha : float
        Level of both procedures.

    Returns
    -------
    pandas.DataFrame
        The input plus ``diff``, ``se``, ``naive_p`` (two-sided z-test as if this look were the
        only one), ``naive_low`` / ``naive_high``, ``msprt_lambda``, ``msprt_p`` (always valid),
        ``msprt_low`` / ``msprt_high`` (always-valid running interval), ``naive_reject`` (``p <
        alpha`` at this look or before: what a peeker would have done) and ``msprt_reject``.
    """
    need = ["n_control", "n_treatment", "mean_control", "mean_treatment"]
    need += ["var_control", "var_treatment"]
    missing = [c for c in need if c not in looks.columns]
    if missing:
        raise ValueError(f"monitor: the looks table lacks column(s) {missing}")
    out = looks.copy()
    nc = out["n_control"].to_numpy(dtype=np.float64)
    nt = out["n_treatment"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(
            (nc > 1) & (nt > 1),
            out["var_control"].to_numpy(dtype=np.float64) / nc
            + out["var_treatment"].to_numpy(dtype=np.float64) / nt,
            0.0,
        )
    diff = out["mean_treatment"].to_numpy(dtype=np.float64) - out["mean_control"].to_numpy(
        dtype=np.float64
    )
    se = np.sqrt(var)
    z = stats.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        naive_p = np.where(se > 0, 2 * stats.norm.sf(np.abs(diff) / se), 1.0)
    out["diff"] = diff
    out["se"] = se
    out["naive_p"] = naive_p
    out["naive_low"] = diff - z * se
    out["naive_high"] = diff + z * se
    out["msprt_lambda"] = msprt_lambda(diff, var, tau)
    out["msprt_p"] = msprt_pvalues(diff, var, tau)
    low, high = always_valid_ci(diff, var, tau, alpha)
    out["msprt_low"] = low
    out["msprt_high"] = high
    out["naive_reject"] = np.logical_or.accumulate(naive_p < alpha)
    out["msprt_reject"] = out["msprt_p"].to_numpy() <= alpha
    return out
