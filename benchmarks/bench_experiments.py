"""Benchmark: do the experiment statistics hold their error rates at full size, and how fast?

Builds the default synthetic shop (the ``params/default.yaml`` shop: 17,000 base customers, 4,500
products, 90 days, seed 42), scrubs it with the demo key, splits it in time (last 14 days held out),
fits popularity (control) and item-kNN (treatment) on ``train``, and simulates every customer's
outcome under both over ``--days`` days after the log (plus a pre-period pilot of the control for
CUPED). Then, each check with thousands of simulated experiments (customers re-randomised, or
resampled from the simulated population), it prints one table:

- A/A false-positive rate at alpha 5% (revenue, clicks: Welch; conversion: z-test), 10,000
  experiments each; must lie in [4%, 6%];
- daily peeking: the fixed-horizon test at the last look, a naive analyst stopping at the first
  daily p < 5%, and the mSPRT (must stay <= 5%);
- power: experiments of the size the design formula gives for 80% power at a planted effect
  (every control outcome multiplied by 1 + MDE) and at the real treatment's effect; empirical
  power must be within 3 points of the design power;
- CUPED with the pre-period covariate: variance ratio against ``1 - rho^2``, bias in Monte-Carlo
  standard errors;
- the SRM gate on a planted 51/49 split of 100,000 pseudonymous customers, and its false-alarm rate
  over 200 salts of a true 50/50 split;
- simulated against exact per-visit values (z-scores);
- interleaving against A/B: customers needed for 80% power, by formula and measured;
- off-policy estimators over ``--ope-seeds`` logged data sets: relative error and CI coverage.

Speed: the vectorised A/A is timed beside a peer, the same experiments run one by one with scipy's
``ttest_ind`` (``--peer-sims`` of them, extrapolated per 1,000). CPU and wall seconds and the load
average are printed.

Usage::

    python benchmarks/bench_experiments.py                 # full size (a few minutes)
    python benchmarks/bench_experiments.py --quick         # a 3,000-customer shop, fewer sims
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd


def _clock():
    return time.perf_counter(), time.process_time()


def _since(t):
    w, c = _clock()
    return w - t[0], c - t[1]


def _say(msg: str) -> None:
    """Progress on stderr, at once (the tables go to stdout)."""
    import sys

    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small shop, fewer experiments")
    ap.add_argument("--days", type=int, default=28, help="experiment days after the log")
    ap.add_argument("--sims", type=int, default=10_000, help="experiments per A/A check")
    ap.add_argument("--power-sims", type=int, default=4_000, help="experiments per power check")
    ap.add_argument("--ope-seeds", type=int, default=40, help="logged data sets for OPE coverage")
    ap.add_argument("--peer-sims", type=int, default=300, help="experiments run one by one (peer)")
    args = ap.parse_args()

    from scipy import stats as sps

    from recnb import privacy
    from recnb.data.schema import validate_dataset
    from recnb.data.synthetic import RankingPolicy, make_shop
    from recnb.experiments import Arm, Traffic, ope, per_customer, simulate_arm
    from recnb.experiments import calibration as cal
    from recnb.experiments import power as pw
    from recnb.experiments import stats as st
    from recnb.experiments.assignment import assign
    from recnb.experiments.offline_online import online_values
    from recnb.experiments.simulation import cumulative_by_day, history_before
    from recnb.experiments.study import interleaving_vs_ab
    from recnb.models import make_model
    from recnb.prep import cleaning
    from recnb.prep import split as sl
    from recnb.prep.settings import PrepSettings

    print(f"load average at start: {os.getloadavg()[0]:.1f} (1 min), {os.cpu_count()} CPUs")
    sims = 2_000 if args.quick else args.sims
    psims = 1_000 if args.quick else args.power_sims
    cfg = (
        dict(n_customers=3000, n_products=600, n_days=45, seed=42)
        if args.quick
        else dict(n_customers=17_000, n_products=4_500, n_days=90, seed=42)
    )
    _say("setup: shop, split, models, simulations")
    t = _clock()
    shop, raw = make_shop(**cfg)
    ds = cleaning.clean(validate_dataset(privacy.scrub(raw, privacy.DEMO_KEY)))[0]
    split = sl.build_split(
        ds, PrepSettings(test_days=14, valid_days=0, tfidf_max_features=0), run_seed=0
    )
    train = split.parts["train"]
    control = Arm("popularity", make_model("popularity").fit(train))
    treat = Arm("item_knn", make_model("item_knn", n_neighbors=100).fit(train))
    n_days = cfg["n_days"]
    unit_id = lambda ids: privacy.pseudonymize(ids, privacy.DEMO_KEY, 16)  # noqa: E731
    traffic = Traffic.from_shop(shop, range(n_days, n_days + args.days), unit_id=unit_id)
    hist = shop.log_history()
    online = online_values(shop, traffic, [control, treat], 10, hist, seed=1)
    pre = Traffic.from_shop(shop, range(n_days - 28, n_days), unit_id=unit_id)
    pilot = simulate_arm(shop, pre, control, 10, history_before(hist, n_days - 28), 5, False)
    w, c = _since(t)
    units = online.sampled["clicks"].index
    print(
        f"setup: {len(ds.customers):,} customers, {len(traffic):,} visits by {len(units):,} "
        f"customers over {args.days} days; {w:.0f} s wall, {c:.0f} s CPU"
    )
    rows: list[dict] = []

    def add(check, value, target, ok, note, seconds=np.nan):
        rows.append(
            {"check": check, "value": value, "target": target, "ok": ok, "note": note,
             "cpu_s": seconds}
        )  # fmt: skip

    _say("A/A")
    # ---- A/A --------------------------------------------------------------------------------
    for col, kind in (("revenue", "mean"), ("clicks", "mean"), ("converted", "proportion")):
        y = online.sampled[col]["popularity"].to_numpy(dtype=float)
        t = _clock()
        r = cal.aa_rejection_rate(y, sims, 0.05, kind, seed=11)
        _, cpu = _since(t)
        add(f"A/A false positives, {col}", r["rate"], "[0.04, 0.06]", 0.04 <= r["rate"] <= 0.06,
            f"{sims:,} experiments, {len(y):,} customers, MC SE {r['se']:.4f}", cpu)  # fmt: skip
    # peer: the same A/A experiments one at a time with scipy
    y = online.sampled["revenue"]["popularity"].to_numpy(dtype=float)
    rng = np.random.default_rng(0)
    t = _clock()
    rej = 0
    for _ in range(args.peer_sims):
        g = rng.random(len(y)) < 0.5
        rej += sps.ttest_ind(y[g], y[~g], equal_var=False).pvalue < 0.05
    _, cpu_peer = _since(t)
    t = _clock()
    cal.aa_rejection_rate(y, args.peer_sims, 0.05, "mean", seed=0)
    _, cpu_vec = _since(t)
    print(
        f"speed, A/A revenue: vectorised {1000 * cpu_vec / args.peer_sims:.3f} CPU s per 1,000 "
        f"experiments; one by one with scipy.ttest_ind {1000 * cpu_peer / args.peer_sims:.2f} "
        f"CPU s per 1,000 ({args.peer_sims} each)"
    )

    _say("peeking")
    # ---- peeking ----------------------------------------------------------------------------
    v = online.visits["popularity"]
    days = np.unique(v["day"])
    ids = units.to_numpy(dtype=object)
    first = np.searchsorted(days, v.groupby("unit_id")["day"].min().reindex(ids).to_numpy())
    mde_clicks = 0.05 * online.sampled["clicks"]["popularity"].mean()
    for col, tau in (("clicks", mde_clicks),):
        cum = cumulative_by_day(v, col, ids, days)
        t = _clock()
        pk = cal.peeking_rejection_rates(cum, first, tau, sims, 0.05, seed=12)
        _, cpu = _since(t)
        add(f"peeking: fixed horizon ({col})", pk["naive_final"], "0.05", 0.04 <= pk["naive_final"] <= 0.06,
            f"last of {pk['n_looks']} daily looks", cpu)  # fmt: skip
        add(f"peeking: naive, any day ({col})", pk["naive_any"], "> 0.05", pk["naive_any"] > 0.06,
            "stop at the first daily p < 0.05", np.nan)  # fmt: skip
        add(f"peeking: mSPRT, any day ({col})", pk["msprt_any"], "<= 0.05", pk["msprt_any"] <= 0.05,
            f"tau = 5% of the control mean ({tau:.3f})", np.nan)  # fmt: skip

    _say("power and CUPED")
    # ---- power and CUPED ----------------------------------------------------------------------
    cov_all = per_customer(pilot.visits).set_index("unit_id")
    for col, mde_rel in (("clicks", 0.05), ("revenue", 0.10)):
        yc = online.sampled[col]["popularity"].to_numpy(dtype=float)
        # the population in which the treatment multiplies every customer's outcome by 1 + mde
        # (arms draw their customers independently, so the control's draw can be reused)
        y2 = yc * (1 + mde_rel)
        n = pw.sample_size_mean(yc.std(), y2.mean() - yc.mean(), sd_treatment=y2.std())
        x = cov_all[col].reindex(ids).fillna(0.0).to_numpy()
        t = _clock()
        res = cal.power_check(yc, y2, n, x, psims, seed=13)
        _, cpu = _since(t)
        ok = abs(res.empirical_power - res.design_power) <= 0.03
        add(f"power, planted +{mde_rel:.0%} {col}", res.empirical_power, f"{res.design_power:.3f} +- 0.03",
            ok, f"{n:,} customers per arm, MC SE {res.empirical_power_se:.4f}", cpu)  # fmt: skip
        add(f"CUPED variance ratio, {col}", res.cuped_variance_ratio, f"1 - rho^2 = {1 - res.rho**2:.3f}",
            abs(res.cuped_variance_ratio - (1 - res.rho**2)) <= 0.03, f"rho {res.rho:.3f}")  # fmt: skip
        add(f"CUPED bias, {col}", res.cuped_bias_z, "|z| < 3", abs(res.cuped_bias_z) < 3,
            "mean estimate minus truth, in MC standard errors")  # fmt: skip
        yt = online.sampled[col]["item_knn"].to_numpy(dtype=float)
        n2 = pw.sample_size_mean(yc.std(), yt.mean() - yc.mean(), sd_treatment=yt.std())
        res2 = cal.power_check(yc, yt, n2, None, psims, seed=14)
        # informative: the real treatment's effect is large, so the design's sample size is small
        # and, for a skewed metric, the normal approximation behind it is only approximate
        add(f"power, item_knn vs popularity, {col}", res2.empirical_power,
            f"{res2.design_power:.3f} (informative)", None,
            f"{n2:,} customers per arm (true effect {res2.true_diff:+.3f})")  # fmt: skip

    _say("SRM")
    # ---- SRM -------------------------------------------------------------------------------
    pseud = privacy.pseudonymize([f"customer-{i}" for i in range(100_000)], privacy.DEMO_KEY, 16)
    t = _clock()
    arms = assign(pseud, (0.51, 0.49), "srm-bench")
    srm = st.srm_test(np.bincount(arms, minlength=2), (0.5, 0.5))
    _, cpu = _since(t)
    add("SRM gate, planted 51/49 of 100k", srm.p_value, "< 0.001 (flagged)", srm.mismatch,
        f"observed {srm.observed[0]:,} / {srm.observed[1]:,}, chi2 {srm.chi2:.1f}", cpu)  # fmt: skip
    alarms = 0
    n_salts = 50 if args.quick else 200
    t = _clock()
    for s in range(n_salts):
        a = assign(pseud, (0.5, 0.5), f"salt-{s}")
        alarms += st.srm_test(np.bincount(a, minlength=2), (0.5, 0.5)).mismatch
    _, cpu = _since(t)
    add("SRM gate, false alarms at a true 50/50", alarms / n_salts, "~0.001", alarms / n_salts <= 0.02,
        f"{n_salts} salts x 100k customers", cpu)  # fmt: skip

    _say("simulated vs exact")
    # ---- simulated vs exact ---------------------------------------------------------------
    for arm in ("popularity", "item_knn"):
        vv = online.visits[arm]
        for col in ("clicks", "revenue"):
            d = vv[col] - vv[f"exp_{col}"]
            z = d.mean() / (vv[col].std(ddof=1) / np.sqrt(len(vv)))
            add(f"simulated vs exact, {arm} {col}/visit", z, "|z| < 3", abs(z) < 3,
                f"{vv[col].mean():.4f} vs {vv[f'exp_{col}'].mean():.4f} over {len(vv):,} visits")  # fmt: skip

    _say("interleaving")
    # ---- interleaving against A/B -----------------------------------------------------------
    t = _clock()
    il = interleaving_vs_ab(
        shop, traffic, control, [treat], online, 10, hist, seed=3, measure=["item_knn"],
        n_sims=300 if args.quick else 800,
    )  # fmt: skip
    _, cpu = _since(t)
    r = il.iloc[0]
    add("interleaving: customers for 80% power", r["customers_interleaving_measured"],
        f"A/B {r['customers_ab_measured']:,.0f}", r["customers_interleaving_measured"] < r["customers_ab_measured"],
        f"formula: interleaving {r['customers_interleaving']:,}, A/B {r['customers_ab']:,}; agrees with the A/B winner: {r['agrees']}",
        cpu)  # fmt: skip

    _say("OPE")
    # ---- OPE -------------------------------------------------------------------------------
    logging = Arm("popularity+PL", control.model, RankingPolicy("plackett_luce", temperature=1.0))
    targets = [
        Arm("item_knn", treat.model),
        Arm("item_knn+PL", treat.model, RankingPolicy("plackett_luce", temperature=0.5)),
        Arm("popularity", control.model),
    ]
    n_seeds = 8 if args.quick else args.ope_seeds
    t = _clock()
    res = ope.evaluate_on_shop(shop, traffic, logging, targets, history=hist, seeds=range(n_seeds))
    _, cpu = _since(t)
    print(f"\nOPE: {n_seeds} logged data sets of {len(traffic):,} visits, {cpu:.0f} CPU s")
    summ = res.summary.merge(
        res.truth.rename(columns={"policy": "target", "value": "truth"})[["target", "truth"]]
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summ.round(4).to_string(index=False))

    table = pd.DataFrame(rows)
    print()
    with pd.option_context("display.width", 250, "display.max_colwidth", 90):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    judged = table["ok"].dropna().astype(bool)
    print(
        f"\nload average at end: {os.getloadavg()[0]:.1f}; checks ok: {int(judged.sum())} of "
        f"{len(judged)} (rows without a verdict are informative)"
    )


if __name__ == "__main__":
    main()
