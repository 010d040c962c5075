"""Experiment design from a pilot: baseline, minimum detectable effect, sample size, duration.

Before an A/B test one decides what difference is worth detecting (the minimum detectable effect,
MDE), how many customers that needs at the chosen level and power, and therefore how long the test
must run. The per-customer metric's spread grows with the window (customers come back), so the
sample size is computed for each candidate duration from a *pilot*: the control policy's own
outcomes over the same number of days before the test (in production these are its logs; on the
shop, the control simulated on the pre-period's visits). The test runs for the shortest whole
number of weeks whose expected customers reach the sample size (weeks, so every weekday counts
equally), or for the longest allowed duration with the power it then has.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recnb.experiments import power as pw
from recnb.experiments.experiment import METRICS
from recnb.experiments.simulation import per_customer

__all__ = ["Design", "design_from_pilot"]


@dataclass(frozen=True)
class Design:
    """The planned experiment.

    Attributes
    ----------
    metric : str
        The primary metric.
    baseline : float
        Its value under control over the planned duration (pilot).
    sd : float
        Standard deviation of the per-customer metric (pilot; for a proportion ``sqrt(p(1-p))``).
    mde_relative : float
        Minimum detectable effect relative to the baseline.
    mde : float
        The same in the metric's units.
    alpha, power : float
    treatment_share : float
        Share of customers in treatment.
    n_control, n_treatment : int
        Customers needed per arm.
    days : int
        Planned duration.
    expected_customers : int
        Customers expected in that duration (pilot).
    achieved_power : float
        Power for the MDE with the expected customers (>= ``power`` unless the duration was
        capped).
    capped : bool
        True when even the longest allowed duration falls short of the sample size.
    detectable_effect : float
        The smallest effect, relative to the baseline, that the planned duration's expected
        customers detect with the wanted power (equal to or below ``mde_relative`` unless
        capped).
    table : pandas.DataFrame
        Per candidate duration: ``days``, ``customers``, ``baseline``, ``sd``, ``mde``,
        ``n_control``, ``n_treatment``, ``n_needed`` (both arms), ``power``.
    """

    metric: str
    baseline: float
    sd: float
    mde_relative: float
    mde: float
    alpha: float
    power: float
    treatment_share: float
    n_control: int
    n_treatment: int
    days: int
    expected_customers: int
    achieved_power: float
    capped: bool
    detectable_effect: float
    table: pd.DataFrame


def design_from_pilot(
    pilot_visits: pd.DataFrame,
    metric: str = "revenue_per_visitor",
    mde_relative: float = 0.05,
    alpha: float = 0.05,
    power: float = 0.8,
    treatment_share: float = 0.5,
    min_days: int = 7,
    max_days: int = 56,
) -> Design:
    """Plan the sample size and duration of a test from the control's pilot.

    Parameters
    ----------
    pilot_visits : pandas.DataFrame
        Per-visit outcomes of the control over the pre-period (``unit_id``, ``day`` and the
        outcome columns, e.g. :attr:`recnb.experiments.ArmOutcome.visits`); durations longer
        than the pilot are not offered.
    metric : str
        A mean or proportion metric of :data:`recnb.experiments.METRICS`.
    mde_relative : float
        Minimum detectable effect relative to the baseline (> 0).
    alpha, power : float
        Two-sided level and power.
    treatment_share : float
        Share of customers in treatment (0 < share < 1).
    min_days, max_days : int
        Shortest and longest durations considered (whole weeks in between).
    """
    m = METRICS.get(metric)
    if m is None or m.kind not in ("mean", "proportion"):
        raise ValueError(
            f"design: the primary metric must be a mean or a proportion, got {metric!r}"
        )
    if not mde_relative > 0:
        raise ValueError(f"mde_relative must be > 0, got {mde_relative!r}")
    if not 0 < treatment_share < 1:
        raise ValueError(f"treatment_share must be in (0, 1), got {treatment_share!r}")
    if not 1 <= min_days <= max_days:
        raise ValueError(f"need 1 <= min_days <= max_days, got {min_days} and {max_days}")
    days = np.sort(np.unique(pilot_visits["day"].to_numpy(dtype=np.int64)))
    if len(days) == 0:
        raise ValueError("design: the pilot has no visits")
    span = int(days[-1] - days[0] + 1)
    candidates = sorted({min_days, *range(7, max_days + 1, 7)} & set(range(min_days, span + 1)))
    if not candidates:
        candidates = [span]
    ratio = treatment_share / (1 - treatment_share)
    rows = []
    for d in candidates:
        window = pilot_visits[pilot_visits["day"] < days[0] + d]
        pc = per_customer(window)
        if m.column not in pc.columns and m.column in window.columns:
            # a column outside the shop's outcomes (``events`` of a log pilot)
            pc[m.column] = per_customer(window, [m.column])[m.column].to_numpy()
        n = len(pc)
        if m.kind == "proportion":
            y = (pc[m.column] > 0).to_numpy(dtype=np.float64)
        else:
            y = pc[m.column].to_numpy(dtype=np.float64)
        base = float(y.mean())
        sd = float(y.std(ddof=1)) if n > 1 else float("nan")
        mde = mde_relative * base
        if m.kind == "proportion":
            ok = 0 < base < 1 and base + mde < 1
            need_c = pw.sample_size_proportion(base, mde, alpha, power, ratio) if ok else np.nan
            pow_d = (
                pw.power_proportion(base, base + mde, n * (1 - treatment_share), alpha, ratio)
                if ok
                else np.nan
            )
        else:
            ok = sd > 0 and mde > 0
            need_c = pw.sample_size_mean(sd, mde, alpha, power, ratio) if ok else np.nan
            pow_d = (
                pw.power_mean(sd, mde, n * (1 - treatment_share), alpha, ratio) if ok else np.nan
            )
        need_t = float(np.ceil(ratio * need_c)) if ok else np.nan
        rows.append(
            {
                "days": d,
                "customers": n,
                "baseline": base,
                "sd": sd,
                "mde": mde,
                "n_control": need_c,
                "n_treatment": need_t,
                "n_needed": need_c + need_t if ok else np.nan,
                "power": pow_d,
            }
        )
    table = pd.DataFrame(rows)
    enough = table[table["customers"] >= table["n_needed"]]
    capped = enough.empty
    pick = table.iloc[-1] if capped else enough.iloc[0]
    finite = bool(np.isfinite(pick["n_needed"]))
    n_c_avail = pick["customers"] * (1 - treatment_share)
    base = float(pick["baseline"])
    if base > 0 and n_c_avail > 1 and np.isfinite(pick["sd"]) and pick["sd"] > 0:
        if m.kind == "proportion":
            eff = pw.detectable_proportion_effect(base, n_c_avail, alpha, power, ratio) / base
        else:
            eff = (
                pw.detectable_mean_effect(float(pick["sd"]), n_c_avail, alpha, power, ratio) / base
            )
    else:
        eff = float("nan")
    return Design(
        metric=metric,
        baseline=float(pick["baseline"]),
        sd=float(pick["sd"]),
        mde_relative=float(mde_relative),
        mde=float(pick["mde"]),
        alpha=float(alpha),
        power=float(power),
        treatment_share=float(treatment_share),
        n_control=int(pick["n_control"]) if finite else -1,
        n_treatment=int(pick["n_treatment"]) if finite else -1,
        days=int(pick["days"]),
        expected_customers=int(pick["customers"]),
        achieved_power=float(pick["power"]),
        capped=bool(capped),
        detectable_effect=float(eff),
        table=table,
    )
