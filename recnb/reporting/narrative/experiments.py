"""What the A/B simulation report says, in plain language, computed from its tables.

Every function takes results of :mod:`recnb.experiments` and returns Markdown text. No measured
time enters these texts (they repeat byte for byte for the same params and seed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recnb.experiments.design import Design
from recnb.experiments.experiment import METRICS, ABTestResult
from recnb.experiments.stage import LogStudy
from recnb.experiments.stats import SRMResult

__all__ = [
    "NEEDS_THE_SHOP",
    "describe_log_study",
    "describe_agreement",
    "describe_calibration",
    "describe_coverage",
    "describe_latency",
    "describe_decision",
    "describe_design",
    "describe_interleaving",
    "describe_monitoring",
    "describe_novelty",
    "describe_ope",
    "describe_srm",
    "stakeholder_summary",
]


def _pct(x: float, digits: int = 1) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{100 * x:+.{digits}f}%"


def _num(x: float, digits: int = 3) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:,.{digits}g}" if abs(x) < 1000 else f"{x:,.0f}"


def _metric_label(name: str) -> str:
    base = name.removesuffix("_cuped")
    label = METRICS[base].label if base in METRICS else base
    return label + (" (CUPED)" if name.endswith("_cuped") else "")


def describe_design(design: Design, control: str, treatment: str) -> str:
    """The hypothesis, the minimum detectable effect, the sample size and the duration."""
    label = _metric_label(design.metric)
    head = (
        f"**Hypothesis.** Showing customers **{treatment}**'s recommendations instead of "
        f"**{control}**'s changes {label} (two-sided test at level {design.alpha:g}). "
        f"**Minimum detectable effect:** {design.mde_relative:.0%} of the control's "
        f"{_num(design.baseline)} ({_num(design.mde)}). "
    )
    if design.capped:
        body = (
            f"Detecting it with {design.power:.0%} power needs {design.n_control + design.n_treatment:,} "
            f"customers, but the shop is expected to bring only {design.expected_customers:,} in "
            f"the longest allowed duration ({design.days} days): the test runs {design.days} days "
            f"and has {design.achieved_power:.0%} power for that effect; the smallest effect it "
            f"can detect with {design.power:.0%} power is {design.detectable_effect:.0%}."
        )
    else:
        body = (
            f"With {design.power:.0%} power this needs {design.n_control:,} customers in control "
            f"and {design.n_treatment:,} in treatment; at the pilot's traffic that takes "
            f"**{design.days} days** ({design.expected_customers:,} customers expected, power "
            f"{design.achieved_power:.0%})."
        )
    return head + body


def describe_srm(srm: SRMResult) -> str:
    """The sample-ratio-mismatch gate in one sentence."""
    obs = " and ".join(f"{o:,}" for o in srm.observed)
    exp = " and ".join(f"{e:,.0f}" for e in srm.expected)
    if srm.mismatch:
        return (
            f"**Sample ratio mismatch: the gate FAILED.** The arms hold {obs} customers where the "
            f"split promised {exp} (chi-square p = {srm.p_value:.2g} < {srm.threshold:g}). "
            "Something in the assignment or the logging is broken; no result below can be trusted."
        )
    return (
        f"**Sample ratio check passed:** {obs} customers against {exp} expected (chi-square "
        f"p = {srm.p_value:.2g}; the gate fails below {srm.threshold:g})."
    )


def describe_decision(result: ABTestResult) -> str:
    """The ship / no-ship decision and its reasons."""
    d = result.decision
    verdict = {
        "ship": "**Ship**",
        "do not ship": "**Do not ship**",
        "no decision": "**No decision**",
    }
    return f"{verdict[d.verdict]} {result.treatment}. " + " ".join(d.reasons)


def describe_coverage(coverage: pd.DataFrame, control: str, treatment: str) -> str:
    """Catalogue coverage of both arms (share of products shown at least once)."""
    r = coverage.iloc[0]
    return (
        f"**Catalogue coverage:** {control}'s lists showed {r['control']:.1%} of the "
        f"{int(r['catalogue_size']):,} products at least once, {treatment}'s {r['treatment']:.1%} "
        f"(difference {100 * r['diff']:+.1f} points, 95% bootstrap interval "
        f"{100 * r['boot_low']:+.1f} to {100 * r['boot_high']:+.1f})."
    )


def describe_latency(latency: pd.DataFrame) -> str:
    """The latency proxy: measured seconds to build each arm's candidate lists (differs between
    runs; kept out of the summary)."""
    parts = [
        f"{r['arm']} {1000 * r['seconds'] / max(int(r['customers']), 1):.2f} ms per customer"
        for _, r in latency.iterrows()
    ]
    return (
        "**Latency proxy** (measured in this run, so it varies between runs): building the "
        "candidate lists took " + ", ".join(parts) + " (all of an arm's customers scored at once)."
    )


def describe_monitoring(result: ABTestResult) -> str:
    """Daily peeking against the always-valid mSPRT on this test."""
    lk = result.looks
    label = _metric_label(result.primary)
    first_naive = lk.loc[lk["naive_p"] < result.alpha, "day"]
    first_msprt = lk.loc[lk["msprt_reject"], "day"]
    day0 = int(lk["day"].iloc[0])
    parts = [f"The test was looked at every day for {len(lk)} days ({label})."]
    if len(first_naive):
        parts.append(
            f"A naive analyst would have declared a winner on day {int(first_naive.iloc[0]) - day0 + 1}"
            " (the first day with p < alpha), "
            + (
                "and the test ended significant."
                if lk["naive_p"].iloc[-1] < result.alpha
                else "although the test ended not significant: exactly the false alarm peeking produces."
            )
        )
    else:
        parts.append("No daily look reached p < alpha.")
    if len(first_msprt):
        parts.append(
            f"The always-valid mSPRT, which may be looked at every day, rejected on day "
            f"{int(first_msprt.iloc[0]) - day0 + 1}."
        )
    else:
        parts.append("The always-valid mSPRT never rejected.")
    return " ".join(parts)


def describe_calibration(checks: pd.DataFrame, alpha: float) -> str:
    """What the simulated error rates say."""
    c = checks.set_index("check")
    out = []
    if "aa_false_positive_rate" in c.index:
        r = c.loc["aa_false_positive_rate"]
        out.append(
            f"In {int(r['n_sims']):,} A/A tests on these customers (the same recommender in both "
            f"arms) the test was significant {r['value']:.1%} of the time, against the {alpha:.0%} "
            "it promises"
            + (
                " (below it: with this few customers who buy, the test can rarely reject at all)."
                if r["value"] < alpha / 2
                else "."
            )
        )
    if {"peeking_naive_any_look", "peeking_msprt_any_look"} <= set(c.index):
        out.append(
            f"Stopping at the first day with p < {alpha:g} raises that to "
            f"{c.loc['peeking_naive_any_look', 'value']:.1%}; the mSPRT keeps it at "
            f"{c.loc['peeking_msprt_any_look', 'value']:.1%}."
        )
    if "empirical_power" in c.index:
        r = c.loc["empirical_power"]
        out.append(
            f"At the sample size the formula gives for {r['expected']:.0%} power, simulated "
            f"experiments detected the treatment's true effect {r['value']:.1%} of the time "
            f"({r['note']})."
        )
    if "cuped_variance_ratio" in c.index:
        r = c.loc["cuped_variance_ratio"]
        out.append(
            f"CUPED with the pre-period covariate left {r['value']:.1%} of the variance "
            f"(theory: 1 - rho^2 = {r['expected']:.1%}, {r['note']}), without bias."
        )
    return " ".join(out)


def _interleaving_cost(ratio: float, how: str) -> str:
    """Interleaving's customers for 80% power against the A/B test's, in words."""
    if ratio >= 1.5:
        return (
            f"For the same true difference interleaving needs about **{ratio:.0f} times fewer "
            f"customers** than an A/B test for 80% power ({how})"
            if ratio >= 3
            else f"For the same true difference interleaving needs about **{ratio:.1f} times "
            f"fewer customers** than an A/B test for 80% power ({how})"
        )
    if ratio <= 1 / 1.5:
        return (
            f"Here interleaving needed about {1 / ratio:.1f} times **more** customers than an A/B "
            f"test for 80% power ({how}), unlike the large savings the literature reports"
        )
    return f"Here interleaving needed about as many customers as an A/B test for 80% power ({how})"


def describe_interleaving(table: pd.DataFrame) -> str:
    """Interleaving against the A/B test on the pairs compared."""
    t = table.dropna(subset=["agrees"])
    agree = int(t["agrees"].astype(bool).sum())
    ties = int(table["agrees"].isna().sum())
    valid = table[(table["customers_ab"] > 0) & (table["customers_interleaving"] > 0)]
    ratio = float(np.median(valid["ratio"])) if len(valid) else float("nan")
    if len(t):
        txt = (
            f"Interleaving named the same winner as the true A/B difference in {agree} of "
            f"{len(t)} pairs with a significant preference"
            + (f" ({ties} pair(s) had none)" if ties else "")
            + "."
        )
    else:
        txt = (
            f"Interleaving found no significant preference in any of the {len(table)} pairs on "
            "this traffic."
        )
    if np.isfinite(ratio):
        txt += " " + _interleaving_cost(ratio, "median over the pairs")
        if ratio >= 1.5:
            txt += (
                ": every customer compares both rankers on the same visit, so the differences "
                "between customers cancel out."
            )
        else:
            txt += "."
    measured = table.dropna(subset=["customers_ab_measured", "customers_interleaving_measured"])
    for _, r in measured.iterrows():
        txt += (
            f" Measured by simulating experiments for {r['treatment']}: "
            f"{r['customers_ab_measured']:,.0f} customers for the A/B test, "
            f"{r['customers_interleaving_measured']:,.0f} for interleaving."
        )
    return txt


def describe_ope(summary: pd.DataFrame, truth: pd.DataFrame) -> str:
    """Which off-policy estimators were close to the truth, and how often their intervals held."""
    g = summary.groupby("estimator", sort=False).agg(
        rmse=("rmse_rel", "median"), coverage=("coverage", "mean")
    )
    best = g["rmse"].idxmin()
    lines = [
        f"Over {summary['target'].nunique()} target policies, the most accurate estimator was "
        f"**{best}** (median relative RMSE {g.loc[best, 'rmse']:.1%}, intervals holding the exact "
        f"value in {g.loc[best, 'coverage']:.0%} of the logged data sets)."
    ]
    if "ips" in g.index:
        lines.append(
            f"List-level IPS needs the logged slate to equal the target's slate, which long lists "
            f"almost never do: median relative RMSE {g.loc['ips', 'rmse']:.0%}."
        )
    if "dm" in g.index:
        lines.append(
            f"The direct method has narrow intervals but is biased wherever its reward model is "
            f"wrong (coverage {g.loc['dm', 'coverage']:.0%}); doubly robust corrects it "
            f"(coverage {g.loc['dr', 'coverage']:.0%})."
            if "dr" in g.index
            else ""
        )
    return " ".join(x for x in lines if x)


def describe_agreement(stats: pd.DataFrame, table: pd.DataFrame, offline: str, online: str) -> str:
    """Offline against online rankings of the policies."""
    s = stats.set_index("statistic")
    off_win = table.sort_values("offline", ascending=False)["policy"].iloc[0]
    on_win = table.sort_values("online", ascending=False)["policy"].iloc[0]
    txt = (
        f"Across {len(table)} policies, {offline} and the simulated online lift in {online} agree "
        f"with Kendall's tau = {s.loc['kendall_tau', 'value']:.2f} (95% interval "
        f"{s.loc['kendall_tau', 'ci_low']:.2f} to {s.loc['kendall_tau', 'ci_high']:.2f}; against "
        f"the exact online values {s.loc['kendall_tau', 'value_exact']:.2f}) and Spearman's rho = "
        f"{s.loc['spearman', 'value']:.2f}. "
    )
    if off_win == on_win:
        txt += f"The offline winner, {off_win}, is also the online winner"
    else:
        txt += f"The offline winner, {off_win}, is not the online winner ({on_win})"
    txt += (
        f" (the same winner in {s.loc['winner_agreement', 'value']:.0%} of bootstrap replicates)."
    )
    return txt


def describe_novelty(table: pd.DataFrame, reproduced: bool) -> str:
    """The novelty-seeking case."""
    last = table["novelty_seeking"].max()
    t = table.set_index(["novelty_seeking", "model"])
    pop0 = t.loc[(table["novelty_seeking"].min(), "popularity")]
    pop1 = t.loc[(last, "popularity")]
    txt = (
        f"In a shop whose customers seek novelty (novelty_seeking = {last:g}), popularity ranks "
        f"{int(pop1['offline_rank'])} of {len(table[table['novelty_seeking'] == last])} offline "
        f"and {int(pop1['online_rank'])} online, reaching {pop1['online_share']:.0%} of the best "
        f"model's online clicks (without novelty-seeking: {pop0['online_share']:.0%}). "
    )
    txt += (
        "The known pattern **popularity wins offline, loses online** is reproduced: the log's "
        "pages pushed the crowd-pleasers, so the held-out period is full of them, while the same "
        "customers, shown them online, want them less than the log suggests."
        if reproduced
        else "The pattern 'popularity wins offline, loses online' is not reproduced at this size."
    )
    return txt


def stakeholder_summary(
    result: ABTestResult,
    design: Design,
    agreement: pd.DataFrame | None = None,
    interleaving: pd.DataFrame | None = None,
) -> str:
    """The one paragraph a stakeholder reads first."""
    m = result.metrics.set_index("metric")
    prim = result.primary
    key = f"{prim}_cuped" if f"{prim}_cuped" in m.index else prim
    r = m.loc[key]
    label = _metric_label(prim)
    n = int(r["n_control"] + r["n_treatment"])
    d = result.decision
    verdict = {"ship": "ship it", "do not ship": "do not ship it", "no decision": "no decision"}[
        d.verdict
    ]
    parts = [
        f"A simulated A/B test of **{result.treatment}** against the current **{result.control}** "
        f"on {n:,} customers over {design.days} days: {label} went from {_num(r['control'])} to "
        f"{_num(r['treatment'])} per customer ({_pct(r['lift'])}, 95% interval "
        f"{_pct(r['lift_low'])} to {_pct(r['lift_high'])}). Recommendation: **{verdict}**. "
        f"{d.reasons[0]}"
    ]
    truth = result.truth.set_index("metric") if not result.truth.empty else None
    if truth is not None and prim in truth.index:
        tr = truth.loc[prim]
        parts.append(
            f"The shop's ground truth puts the true difference at {_num(tr['true_diff'])} "
            f"(estimate {_num(tr['estimate'])})."
        )
    if agreement is not None:
        tau = float(agreement.set_index("statistic").loc["kendall_tau", "value"])
        how = (
            "much like"
            if tau >= 0.7
            else "partly like"
            if tau >= 0.3
            else "hardly like"
            if tau > -0.3
            else "in reverse of"
        )
        parts.append(
            f"Offline accuracy ranked the candidate recommenders {how} the online results "
            f"(Kendall's tau {tau:.2f}): offline scores alone would not have settled this."
            if tau < 0.7
            else f"Offline accuracy ranked the candidate recommenders {how} the online results "
            f"(Kendall's tau {tau:.2f})."
        )
    if interleaving is not None and len(interleaving):
        valid = interleaving[
            (interleaving["customers_interleaving"] > 0) & (interleaving["customers_ab"] > 0)
        ]
        judged = interleaving.dropna(subset=["agrees"])
        if len(valid):
            txt = _interleaving_cost(float(np.median(valid["ratio"])), "median over the pairs")
            if len(judged):
                txt += (
                    f"; it named the true winner in {int(judged['agrees'].astype(bool).sum())} "
                    f"of {len(judged)} pairs where it had a preference"
                )
            parts.append(txt + ".")
    return " ".join(parts)


#: what a section says when it needs the synthetic shop's ground truth and the run has real logs
NEEDS_THE_SHOP = (
    "*Not run on this data:* this part simulates customers' responses to recommendations shown "
    "to them, which needs the synthetic shop's response model (its ground truth). A real log "
    "records only what customers did with what they were actually shown."
)


def describe_log_study(log: LogStudy, run_source: str) -> str:
    """What the stage could do on a real log: power planning and the SRM gate."""
    d = log.design
    label = _metric_label(log.metric)
    parts = [
        f"This run's data ({run_source}) is a real log, not the synthetic shop: there is no "
        "response model to simulate an experiment with, so this report plans a test and checks "
        "the assignment, and skips everything that needs the ground truth (the simulated test, "
        "its decision, monitoring, calibration, interleaving, off-policy evaluation and "
        "offline-online agreement)."
    ]
    if d is not None:
        if d.capped:
            parts.append(
                f"Planned on {label} from the log's last {d.days} days: detecting a "
                f"{d.mde_relative:.0%} change with {d.power:.0%} power needs "
                f"{d.n_control + d.n_treatment:,} customers, more than the "
                f"{d.expected_customers:,} the log shows in the longest allowed duration; in "
                f"{d.days} days a test could detect {_pct(d.detectable_effect, 0).lstrip('+')} "
                "with that power."
            )
        else:
            parts.append(
                f"Planned on {label} from the log: detecting a {d.mde_relative:.0%} change with "
                f"{d.power:.0%} power needs {d.n_control + d.n_treatment:,} customers, which "
                f"the log's traffic brings in **{d.days} days**."
            )
    parts.append(
        f"The hash assignment of the log's {sum(log.srm.observed):,} customers passes the "
        f"sample-ratio gate (p = {log.srm.p_value:.2g}); at this size the gate flags a share "
        f"off by {log.srm_sensitivity:.1%} or more, and a planted 51/49 split "
        + ("is flagged." if log.planted.mismatch else "is **not** flagged (too few customers).")
        if not log.srm.mismatch
        else f"The hash assignment of the log's customers FAILS the sample-ratio gate "
        f"(p = {log.srm.p_value:.2g}): check the salt and the split."
    )
    parts.append(log.ope_note)
    return " ".join(parts)
