"""Drift alarms on the synthetic shop: false-alarm rate on stationary logs, detection delay of a
planted change, for the calibrated thresholds of recnb.monitoring.drift and two peers.

Peers, on the same daily PSI values:

- ``calibrated two_moment`` (the default) and ``calibrated dispersion``: the two null laws of
  :func:`recnb.monitoring.drift.drift_scores`;
- ``naive``: the chi-square threshold assuming independent events (dispersion 1), i.e. what a
  textbook test on the day's counts would use;
- ``psi>0.1`` and ``psi>0.25``: the folklore fixed PSI cut-offs ("moderate" and "major" shift).

For each seed, one shop without a planted change (every alarm is false) and the same shop with a
change of taste planted on ``--shift-day``. Prints one table: per method, the share of stationary
days with any alarm (95% Clopper-Pearson interval), the nominal budget, how many shifted shops
alarmed before the planted day, and the detection delay (first alarm on or after the day, minus the
day).

    python benchmarks/bench_monitoring.py --customers 5000 --seeds 4
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy import stats

from recnb.data.synthetic import make_shop
from recnb.monitoring.drift import NULL_MODELS, drift_scores
from recnb.monitoring.signals import input_counts


def _counts(n_customers: int, n_days: int, seed: int, shift_day: int | None):
    shop, ds = make_shop(
        n_customers=n_customers,
        n_products=max(50, n_customers * 45 // 170),
        n_days=n_days,
        seed=seed,
        shift_day=shift_day,
    )
    return input_counts(ds.events, ds.products, ds.customers, start=shop.config.start)


def _alarms(s: pd.DataFrame, method: str) -> pd.Series:
    if method.startswith("calibrated"):
        hit = s["alarm"]
    elif method == "naive":
        hit = s["value"] > s["threshold"] / s["dispersion"]
    elif method == "psi>0.1":
        hit = s["value"] > 0.1
    else:
        hit = s["value"] > 0.25
    return hit.groupby(s["day"]).any()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=5000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--shift-day", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--alert-rates", type=float, nargs="+", default=[0.01, 0.002])
    args = ap.parse_args()
    t0 = time.perf_counter()
    runs = {}
    for seed in range(args.seeds):
        for shift in (None, args.shift_day):
            counts = _counts(args.customers, args.days, seed, shift)
            for rate in args.alert_rates:
                for null in NULL_MODELS:
                    runs[(seed, shift, rate, null)] = drift_scores(
                        counts, reference_days=28, alert_rate=rate, statistics=("psi",), null=null
                    )
    rows = []
    first = args.alert_rates[0]
    methods = [(f"calibrated {n}", r, n) for r in args.alert_rates for n in NULL_MODELS] + [
        ("naive", first, "dispersion"),
        ("psi>0.1", first, "dispersion"),
        ("psi>0.25", first, "dispersion"),
    ]
    for method, rate, null in methods:
        stationary = pd.concat(
            [_alarms(runs[(s, None, rate, null)], method) for s in range(args.seeds)]
        )
        n, a = len(stationary), int(stationary.sum())
        ci = stats.binomtest(a, n).proportion_ci(method="exact")
        early, delays = 0, []
        for s in range(args.seeds):
            hit = _alarms(runs[(s, args.shift_day, rate, null)], method)
            early += int(hit[hit.index < args.shift_day].any())
            after = hit[(hit.index >= args.shift_day) & hit]
            delays.append(int(after.index.min()) - args.shift_day if len(after) else np.nan)
        rows.append(
            {
                "method": method,
                "budget/day": rate if not method.startswith("psi") else np.nan,
                "stationary days": n,
                "false-alarm rate": a / n,
                "95% CI": f"{ci.low:.4f}-{ci.high:.4f}",
                "shops alarming early": f"{early}/{args.seeds}",
                "detection delay (days)": ", ".join(
                    "missed" if np.isnan(d) else str(int(d)) for d in delays
                ),
            }
        )
    pd.set_option("display.width", 200)
    print(
        f"shop: {args.customers} customers, {args.days} days, change planted on day "
        f"{args.shift_day}; {args.seeds} seeds; 3 input features x PSI; reference 28 days"
    )
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
