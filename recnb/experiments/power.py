"""Experiment design: sample size and power for a minimum detectable effect, and duration.

Everything is the normal approximation of statsmodels (``NormalIndPower``: two independent samples,
or one sample with ``ratio=0``), two-sided:

- a difference of means (revenue per visitor, clicks per visitor): effect size ``mde / sd`` where
  ``sd`` combines the arms' standard deviations so that ``sd^2 (1 / n_c + 1 / n_t)`` is the
  variance of the difference (:func:`pooled_sd`);
- a difference of proportions (conversion): Cohen's ``h = 2 asin(sqrt(p_t)) - 2 asin(sqrt(p_c))``
  (statsmodels ``proportion_effectsize``), whose variance is ``1 / n`` per arm whatever ``p``;
- a one-sample mean (an interleaving preference per customer, tested against 0).

:func:`days_needed` turns a sample size into a duration from the expected number of distinct
customers who will have visited after each day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

__all__ = [
    "days_needed",
    "detectable_mean_effect",
    "detectable_proportion_effect",
    "pooled_sd",
    "power_mean",
    "power_one_sample",
    "power_proportion",
    "sample_size_mean",
    "sample_size_one_sample",
    "sample_size_proportion",
]


def _check(alpha: float, power: float | None = None) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if power is not None and not alpha < power < 1.0:
        raise ValueError(f"power must be in (alpha, 1), got {power!r}")


def pooled_sd(sd_control: float, sd_treatment: float | None = None, ratio: float = 1.0) -> float:
    """The one ``sd`` with ``sd^2 (1/n + 1/(ratio n)) = sd_c^2 / n + sd_t^2 / (ratio n)``."""
    if sd_treatment is None:
        sd_treatment = sd_control
    if not (sd_control > 0 and sd_treatment > 0 and ratio > 0):
        raise ValueError(
            f"standard deviations and ratio must be > 0, got {sd_control!r}, {sd_treatment!r}, "
            f"{ratio!r}"
        )
    return math.sqrt((sd_control**2 + sd_treatment**2 / ratio) / (1.0 + 1.0 / ratio))


def sample_size_mean(
    sd: float,
    mde: float,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    sd_treatment: float | None = None,
) -> int:
    """Customers in the control arm needed to detect a difference of means of ``mde``.

    Parameters
    ----------
    sd : float
        Standard deviation of the per-customer metric (control arm).
    mde : float
        Minimum detectable effect, absolute (in the metric's units), != 0.
    alpha, power : float
        Two-sided level and the power wanted.
    ratio : float
        Treatment customers per control customer (1 for a 50/50 split).
    sd_treatment : float, optional
        Standard deviation in the treatment arm, if it differs.

    Returns
    -------
    int
        Control customers (rounded up); the treatment arm needs ``ceil(ratio * n)``.
    """
    _check(alpha, power)
    if mde == 0 or not math.isfinite(mde):
        raise ValueError(f"mde must be a finite non-zero effect, got {mde!r}")
    es = abs(mde) / pooled_sd(sd, sd_treatment, ratio)
    n = NormalIndPower().solve_power(effect_size=es, alpha=alpha, power=power, ratio=ratio)
    return int(math.ceil(float(n)))


def power_mean(
    sd: float,
    effect: float,
    n_control: float,
    alpha: float = 0.05,
    ratio: float = 1.0,
    sd_treatment: float | None = None,
) -> float:
    """Power of the two-sided test of a difference of means ``effect`` with ``n_control``
    customers in control and ``ratio * n_control`` in treatment."""
    _check(alpha)
    es = abs(effect) / pooled_sd(sd, sd_treatment, ratio)
    return float(NormalIndPower().power(effect_size=es, nobs1=n_control, alpha=alpha, ratio=ratio))


def sample_size_proportion(
    p_control: float, mde: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> int:
    """Control customers needed to detect ``p_control + mde`` against ``p_control``.

    Parameters
    ----------
    p_control : float
        Baseline proportion (e.g. share of customers who buy), in (0, 1).
    mde : float
        Absolute difference to detect; ``p_control + mde`` must lie in (0, 1).
    """
    _check(alpha, power)
    p1 = p_control + mde
    if not (0 < p_control < 1 and 0 < p1 < 1 and mde != 0):
        raise ValueError(
            f"sample_size_proportion: need 0 < p_control, p_control + mde < 1 and mde != 0, got "
            f"{p_control!r} and {mde!r}"
        )
    es = abs(proportion_effectsize(p1, p_control))
    n = NormalIndPower().solve_power(effect_size=es, alpha=alpha, power=power, ratio=ratio)
    return int(math.ceil(float(n)))


def power_proportion(
    p_control: float, p_treatment: float, n_control: float, alpha: float = 0.05, ratio: float = 1.0
) -> float:
    """Power of the two-proportion test for the given proportions and sample size."""
    _check(alpha)
    es = abs(proportion_effectsize(p_treatment, p_control))
    return float(NormalIndPower().power(effect_size=es, nobs1=n_control, alpha=alpha, ratio=ratio))


def sample_size_one_sample(
    sd: float, effect: float, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Customers needed to detect a mean ``effect`` != 0 of a per-customer difference (one
    sample, e.g. an interleaving preference)."""
    _check(alpha, power)
    if effect == 0 or not sd > 0:
        raise ValueError(f"need effect != 0 and sd > 0, got {effect!r} and {sd!r}")
    n = NormalIndPower().solve_power(
        effect_size=abs(effect) / sd, alpha=alpha, power=power, ratio=0
    )
    return int(math.ceil(float(n)))


def power_one_sample(sd: float, effect: float, n: float, alpha: float = 0.05) -> float:
    """Power of the two-sided one-sample test of a mean ``effect`` with ``n`` customers."""
    _check(alpha)
    return float(
        NormalIndPower().power(effect_size=abs(effect) / sd, nobs1=n, alpha=alpha, ratio=0)
    )


def detectable_mean_effect(
    sd: float, n_control: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Smallest difference of means detectable with ``power`` by ``n_control`` customers in
    control and ``ratio * n_control`` in treatment (in the metric's units)."""
    _check(alpha, power)
    es = NormalIndPower().solve_power(nobs1=n_control, alpha=alpha, power=power, ratio=ratio)
    return float(es) * pooled_sd(sd, None, ratio)


def detectable_proportion_effect(
    p_control: float, n_control: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Smallest increase of a proportion detectable with ``power`` (inverts Cohen's h)."""
    _check(alpha, power)
    h = float(NormalIndPower().solve_power(nobs1=n_control, alpha=alpha, power=power, ratio=ratio))
    angle = np.arcsin(np.sqrt(p_control)) + h / 2
    return float(np.sin(min(angle, np.pi / 2)) ** 2 - p_control)


def days_needed(cumulative_customers: Sequence[float], required: float) -> int | None:
    """First day count at which the expected distinct customers reach ``required``.

    Parameters
    ----------
    cumulative_customers : sequence of float
        Expected distinct customers who have visited by the end of day 1, 2, ... of the experiment.
    required : float
        Customers the design needs (both arms together).

    Returns
    -------
    int or None
        Days (1-based), or None when even the last day falls short.
    """
    cum = np.asarray(cumulative_customers, dtype=np.float64)
    hit = np.flatnonzero(cum >= required)
    return int(hit[0]) + 1 if len(hit) else None
