"""The A/B test on the synthetic shop: assign, simulate, analyse, decide.

:func:`run_ab_test` is the library entry point for comparing two recommenders online (the
monitoring stage's champion/challenger gate calls it too)::

    from recnb.experiments import Arm, Traffic, run_ab_test
    traffic = Traffic.from_shop(shop, range(90, 104), unit_id=pseudonyms)
    result = run_ab_test(shop, traffic, Arm("control", champion), Arm("treatment", challenger),
                         history=shop.log_history(), salt="exp-2026-04", mde=0.05)
    result.decision.verdict        # "ship", "do not ship" or "no decision" (sample ratio mismatch)
    result.metrics                 # one row per metric: estimate, CI, p-value (Holm-adjusted)

What it does, in order:

1. **Assignment.** Every customer (unit) of the traffic is assigned by
   :func:`recnb.experiments.assignment.assign` (salted sha256, configurable split).
2. **Exposure.** Each arm shows its slates to its own customers' visits; the shop samples the
   responses (:func:`recnb.experiments.simulation.simulate_arm`). The exact expectation of every
   visit under *both* arms is computed too, so the true effect on the population is known.
3. **Sample ratio mismatch gate** (:func:`recnb.experiments.stats.srm_test`): a failing gate
   voids the experiment (``"no decision"``).
4. **Metrics** per customer (the randomisation unit): conversion (two-proportion z-test, Newcombe
   and Wald intervals), revenue, clicks and purchases per visitor (Welch), click-through rate and
   average order value (delta method on per-customer sums), each with a percentile bootstrap
   interval and a relative lift; p-values adjusted across metrics (Holm or Benjamini-Hochberg);
   CUPED with a pre-period covariate for the primary metric when one is given; catalogue coverage
   (distinct products shown) with a bootstrap interval.
5. **Guardrails**: non-inferiority tests (average order value and conversion not worse than a
   margin, the online fairness gap across customer groups not wider than a margin).
6. **Decision**: ship only when the gate passes, the primary metric improves significantly after
   adjustment and every guardrail holds.
7. **Monitoring**: the primary metric looked at daily, naive p-values beside the always-valid
   mSPRT (:func:`recnb.experiments.sequential.monitor`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

from recnb.data.synthetic import PurchaseHistory, SyntheticShop
from recnb.experiments import stats as st
from recnb.experiments.arms import Arm, candidate_lists
from recnb.experiments.assignment import assign, check_split
from recnb.experiments.sequential import monitor
from recnb.experiments.simulation import (
    Traffic,
    cumulative_by_day,
    exact_values,
    per_customer,
    simulate_arm,
)
from recnb.metrics.stats import bootstrap_counts

__all__ = [
    "DEFAULT_GUARDRAILS",
    "DEFAULT_METRICS",
    "METRICS",
    "ABTestResult",
    "Decision",
    "Guardrail",
    "Metric",
    "analyse",
    "coverage_comparison",
    "decide",
    "evaluate_guardrails",
    "group_gap",
    "looks_table",
    "run_ab_test",
]


@dataclass(frozen=True)
class Metric:
    """A per-customer experiment metric.

    Attributes
    ----------
    name : str
        Key in tables.
    label : str
        Plain-language name.
    kind : {"proportion", "mean", "ratio"}
        Share of customers with ``column > 0`` (two-proportion test), mean of ``column`` per
        customer (Welch), or ``sum(column) / sum(denominator)`` (delta method).
    column : str
        Per-customer column (numerator of a ratio).
    denominator : str or None
        Per-customer denominator of a ratio.
    exact : str or None
        Per-customer column of the exact expectation of ``column`` (truth), if one exists.
    exact_denominator : str or None
        Exact expectation of the denominator (or the denominator itself when it is fixed).
    """

    name: str
    label: str
    kind: str
    column: str
    denominator: str | None = None
    exact: str | None = None
    exact_denominator: str | None = None


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("conversion", "conversion (share of visitors who buy)", "proportion", "converted"),
        Metric(
            "revenue_per_visitor", "revenue per visitor", "mean", "revenue", exact="exp_revenue"
        ),
        Metric("clicks_per_visitor", "clicks per visitor", "mean", "clicks", exact="exp_clicks"),
        Metric(
            "events_per_visitor", "events per visitor (logs without purchases)", "mean", "events"
        ),
        Metric(
            "purchases_per_visitor",
            "purchases per visitor",
            "mean",
            "purchases",
            exact="exp_purchases",
        ),
        Metric(
            "ctr",
            "click-through rate (clicks per impression)",
            "ratio",
            "clicks",
            "impressions",
            exact="exp_clicks",
            exact_denominator="impressions",
        ),
        Metric(
            "aov",
            "average order value (revenue per purchase)",
            "ratio",
            "revenue",
            "purchases",
            exact="exp_revenue",
            exact_denominator="exp_purchases",
        ),
    )
}
"""The metrics :func:`analyse` knows, by name."""

DEFAULT_METRICS: tuple[str, ...] = (
    "revenue_per_visitor",
    "conversion",
    "ctr",
    "clicks_per_visitor",
    "purchases_per_visitor",
    "aov",
)


@dataclass(frozen=True)
class Guardrail:
    """A metric the treatment must not make worse than a margin (a non-inferiority test).

    Attributes
    ----------
    metric : str
        A name of :data:`METRICS`, or ``"fairness_gap"`` (the largest difference of
        click-through rate between customer groups, see :func:`group_gap`; lower is better).
    margin : float
        Largest acceptable harm: a share of the control's value when ``relative`` (0.05: 5%
        worse), else in the metric's units.
    relative : bool
        Whether ``margin`` is relative to the control's value.
    """

    metric: str
    margin: float
    relative: bool = True

    def __post_init__(self) -> None:
        if self.metric != "fairness_gap" and self.metric not in METRICS:
            raise ValueError(
                f"Guardrail.metric: {self.metric!r} is not one of {[*METRICS, 'fairness_gap']}"
            )
        if not (np.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"Guardrail.margin: must be >= 0, got {self.margin!r}")


DEFAULT_GUARDRAILS: tuple[Guardrail, ...] = (
    Guardrail("aov", 0.05),
    Guardrail("conversion", 0.05),
    Guardrail("fairness_gap", 0.02, relative=False),
)


@dataclass(frozen=True)
class Decision:
    """Ship or not, and why.

    Attributes
    ----------
    verdict : {"ship", "do not ship", "no decision"}
    reasons : tuple of str
        Plain-language sentences, the deciding one first.
    """

    verdict: str
    reasons: tuple[str, ...]


@dataclass
class ABTestResult:
    """Everything one A/B test produced (see :func:`run_ab_test`).

    Attributes
    ----------
    control, treatment : str
        Arm labels.
    split : tuple of float
        Configured shares (control, treatment).
    salt : str
        Assignment salt.
    per_customer : pandas.DataFrame
        One row per customer: ``unit_id``, ``arm``, ``first_day``, ``visits``, the outcome sums,
        their exact expectations under the customer's own arm (``exp_*``) and under each arm
        (``truth_<column>_control`` / ``_treatment``), the covariate and group when given.
    visits : pandas.DataFrame
        Per-visit outcomes with ``arm``.
    metrics : pandas.DataFrame
        :func:`analyse`'s table.
    srm : recnb.experiments.stats.SRMResult
    guardrails : pandas.DataFrame
        :func:`evaluate_guardrails`'s table.
    decision : Decision
    looks : pandas.DataFrame
        Daily monitoring of the primary metric (:func:`recnb.experiments.sequential.monitor`).
    coverage : pandas.DataFrame
        :func:`coverage_comparison`'s table.
    truth : pandas.DataFrame
        Per metric with an exact expectation: each arm's exact value if every customer got it,
        the true difference, the estimate, its standard error and ``z`` (estimate minus truth
        over SE).
    latency : pandas.DataFrame
        Measured seconds to build each arm's candidate lists (a latency proxy; measured, so it
        differs between runs).
    logs : dict of str to pandas.DataFrame
        Slot-level logs per arm when ``keep_logs``.
    primary : str
        The primary metric.
    alpha : float
    """

    control: str
    treatment: str
    split: tuple[float, float]
    salt: str
    per_customer: pd.DataFrame
    visits: pd.DataFrame
    metrics: pd.DataFrame
    srm: st.SRMResult
    guardrails: pd.DataFrame
    decision: Decision
    looks: pd.DataFrame
    coverage: pd.DataFrame
    truth: pd.DataFrame
    latency: pd.DataFrame
    primary: str
    alpha: float
    logs: dict[str, pd.DataFrame] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# analysis of per-customer tables
# ----------------------------------------------------------------------------------------------


def _arm_tables(
    table: pd.DataFrame, control: str, treatment: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    if "arm" not in table.columns:
        raise ValueError("the per-customer table lacks the 'arm' column")
    c = table[table["arm"] == control]
    t = table[table["arm"] == treatment]
    for label, part in ((control, c), (treatment, t)):
        if len(part) < 2:
            raise ValueError(f"arm {label!r} has {len(part)} customer(s); need at least 2")
    return c, t


def compare(
    control: pd.DataFrame, treatment: pd.DataFrame, metric: Metric, alpha: float = 0.05
) -> st.Comparison:
    """Treatment minus control of one metric on two per-customer tables (see :class:`Metric`)."""
    if metric.kind == "proportion":
        xc = int((control[metric.column] > 0).sum())
        xt = int((treatment[metric.column] > 0).sum())
        return st.proportion_test(xt, len(treatment), xc, len(control), alpha)[0]
    if metric.kind == "mean":
        return st.welch_test(treatment[metric.column], control[metric.column], alpha)
    if metric.kind == "ratio":
        return st.ratio_test(
            treatment[metric.column],
            treatment[metric.denominator],
            control[metric.column],
            control[metric.denominator],
            alpha,
        )
    raise ValueError(f"metric {metric.name!r}: unknown kind {metric.kind!r}")


def analyse(
    table: pd.DataFrame,
    control: str,
    treatment: str,
    metrics: Sequence[str] = DEFAULT_METRICS,
    alpha: float = 0.05,
    correction: str = "holm",
    n_boot: int = 1000,
    seed: int | None = 0,
    covariate: str | None = None,
    cuped_metric: str | None = None,
) -> pd.DataFrame:
    """Compare two arms on several metrics, with intervals and adjusted p-values.

    Parameters
    ----------
    table : pandas.DataFrame
        Per-customer table with ``arm`` and the metrics' columns.
    control, treatment : str
        Arm labels.
    metrics : sequence of str
        Names from :data:`METRICS`; the first is the primary metric.
    alpha : float
        Level of every test and 1 - confidence of every interval.
    correction : {"holm", "bh"}
        Adjustment of the p-values across the metrics (the CUPED row, an estimate of the same
        effect as its metric, is not counted again).
    n_boot : int
        Bootstrap resamples (0: no bootstrap interval).
    seed : int or None
        Seed of the bootstrap.
    covariate : str, optional
        Column of a pre-period covariate: adds a CUPED row for ``cuped_metric``.
    cuped_metric : str, optional
        The (mean-kind) metric adjusted by CUPED; default the primary one.

    Returns
    -------
    pandas.DataFrame
        One row per metric (and a ``<metric>_cuped`` row): ``metric``, ``label``, ``kind``,
        ``method``, ``control``, ``treatment``, ``diff``, ``ci_low``, ``ci_high`` (Newcombe for
        proportions), ``wald_low``/``wald_high`` (proportions only), ``boot_low``,
        ``boot_high``, ``lift``, ``lift_low``, ``lift_high``, ``p_value``, ``p_adjusted``,
        ``significant``, ``se``, ``n_control``, ``n_treatment``, ``rho`` (CUPED: correlation
        with the covariate) and ``variance_ratio`` (CUPED variance over the plain one).
    """
    names = list(metrics)
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ValueError(f"analyse: unknown metric(s) {unknown}; known: {list(METRICS)}")
    c, t = _arm_tables(table, control, treatment)
    rows = []
    rng = np.random.default_rng(seed)
    for name in names:
        m = METRICS[name]
        comp = compare(c, t, m, alpha)
        row: dict[str, Any] = {"metric": name, "label": m.label, "kind": m.kind}
        row.update(comp.as_dict())
        if m.kind == "proportion":
            wald = st.proportion_test(
                int((t[m.column] > 0).sum()), len(t), int((c[m.column] > 0).sum()), len(c), alpha
            )[1]
            row["wald_low"], row["wald_high"] = wald.ci_low, wald.ci_high
        if n_boot > 0:
            col = m.column
            num_t = (t[col] > 0).astype(float) if m.kind == "proportion" else t[col]
            num_c = (c[col] > 0).astype(float) if m.kind == "proportion" else c[col]
            den_t = t[m.denominator] if m.kind == "ratio" else None
            den_c = c[m.denominator] if m.kind == "ratio" else None
            row["boot_low"], row["boot_high"] = st.bootstrap_diff(
                num_t, num_c, den_t, den_c, n_boot=n_boot, alpha=alpha,
                seed=int(rng.integers(2**31 - 1)),
            )  # fmt: skip
        row["lift"], row["lift_low"], row["lift_high"] = st.relative_lift(comp, alpha)
        rows.append(row)
    out = pd.DataFrame(rows)
    out["p_adjusted"] = st.adjust_pvalues(out["p_value"].to_numpy(), correction)
    if covariate is not None:
        target = cuped_metric or names[0]
        m = METRICS.get(target)
        if m is None or m.kind != "mean":
            raise ValueError(f"analyse: CUPED needs a mean metric, got {target!r}")
        if target not in names:
            raise ValueError(f"analyse: the CUPED metric {target!r} is not among {names}")
        both = pd.concat([c, t])
        adj, theta, rho = st.cuped(both[m.column], both[covariate])
        is_t = (both["arm"] == treatment).to_numpy()
        comp = st.welch_test(adj[is_t], adj[~is_t], alpha)
        plain = out.loc[out["metric"] == target].iloc[0]
        row = {"metric": f"{target}_cuped", "label": f"{m.label} (CUPED)", "kind": "mean"}
        row.update(comp.as_dict())
        row["method"] = f"Welch t-test on CUPED-adjusted values (theta {theta:.3g})"
        row["lift"], row["lift_low"], row["lift_high"] = st.relative_lift(comp, alpha)
        row["rho"] = rho
        row["variance_ratio"] = (comp.se / plain["se"]) ** 2 if plain["se"] > 0 else np.nan
        out = pd.concat([out, pd.DataFrame([row])], ignore_index=True)
        # the CUPED test is the pre-registered test of its metric: it takes the metric's place
        # in the family; the plain row keeps the adjustment of the family it would have been in
        plain_row = out.index[out["metric"] == target][0]
        family = np.ones(len(out), dtype=bool)
        family[plain_row] = False
        out.loc[family, "p_adjusted"] = st.adjust_pvalues(
            out.loc[family, "p_value"].to_numpy(), correction
        )
    out["significant"] = out["p_adjusted"] <= alpha
    front = ["metric", "label", "kind", "method", "control", "treatment", "diff", "ci_low"]
    front += ["ci_high", "lift", "lift_low", "lift_high", "p_value", "p_adjusted", "significant"]
    rest = [col for col in out.columns if col not in front]
    return out[front + rest]


def group_gap(
    table: pd.DataFrame,
    group: str,
    numerator: str = "clicks",
    denominator: str = "impressions",
    min_group_size: int = 30,
) -> tuple[float, pd.DataFrame]:
    """The largest difference of a ratio metric between customer groups (a fairness gap).

    Parameters
    ----------
    table : pandas.DataFrame
        Per-customer rows of one arm, with the ``group`` column (NaN: not in any group).
    group : str
        Group column (e.g. ``age_band``).
    numerator, denominator : str
        The ratio (default click-through rate).
    min_group_size : int
        Groups with fewer customers are left out (too noisy to judge).

    Returns
    -------
    (gap, by_group) : (float, pandas.DataFrame)
        ``max - min`` of the groups' ratios (NaN with fewer than 2 groups) and the per-group
        table ``group``, ``customers``, ``value``.
    """
    g = table[group]
    ok = g.notna().to_numpy()
    sub = table.loc[ok]
    agg = sub.groupby(sub[group].astype(str), observed=True).agg(
        customers=(numerator, "size"), num=(numerator, "sum"), den=(denominator, "sum")
    )
    agg = agg[(agg["customers"] >= min_group_size) & (agg["den"] > 0)]
    agg["value"] = agg["num"] / agg["den"]
    by = agg.reset_index().rename(columns={group: "group"})[["group", "customers", "value"]]
    gap = float(by["value"].max() - by["value"].min()) if len(by) >= 2 else float("nan")
    return gap, by


def _gap_comparison(
    c: pd.DataFrame,
    t: pd.DataFrame,
    group: str,
    min_group_size: int,
    n_boot: int,
    seed: int | None,
    alpha: float,
) -> st.Comparison:
    """Treatment minus control of the fairness gap, standard errors by bootstrap."""
    rng = np.random.default_rng(seed)

    def boot(part: pd.DataFrame) -> tuple[float, float]:
        gap, by = group_gap(part, group, min_group_size=min_group_size)
        if np.isnan(gap):
            return gap, float("nan")
        labels = part[group].astype(str).where(part[group].notna())
        sub = part.loc[labels.isin(by["group"]).to_numpy()]
        codes, uniq = pd.factorize(sub[group].astype(str))
        num = sub["clicks"].to_numpy(dtype=np.float64)
        den = sub["impressions"].to_numpy(dtype=np.float64)
        onehot = np.zeros((len(sub), len(uniq)))
        onehot[np.arange(len(sub)), codes] = 1.0
        cols = np.hstack([onehot * num[:, None], onehot * den[:, None]])
        gaps = []
        for counts in bootstrap_counts(len(sub), max(n_boot, 2), int(rng.integers(2**31 - 1))):
            s = counts @ cols
            with np.errstate(divide="ignore", invalid="ignore"):
                r = s[:, : len(uniq)] / s[:, len(uniq) :]
            gaps.append(np.nanmax(r, axis=1) - np.nanmin(r, axis=1))
        return gap, float(np.std(np.concatenate(gaps), ddof=1))

    gc, sc = boot(c)
    gt, s_t = boot(t)
    se = float(np.hypot(sc, s_t))
    diff = gt - gc
    z = sps.norm.ppf(1 - alpha / 2)
    p = float(2 * sps.norm.sf(abs(diff) / se)) if se > 0 else float("nan")
    return st.Comparison(
        f"bootstrap standard error of the gap across {group} groups",
        gc,
        gt,
        diff,
        diff - z * se,
        diff + z * se,
        p,
        se,
        len(c),
        len(t),
        sc,
        s_t,
    )


def evaluate_guardrails(
    table: pd.DataFrame,
    control: str,
    treatment: str,
    guardrails: Sequence[Guardrail] = DEFAULT_GUARDRAILS,
    alpha: float = 0.05,
    group: str | None = None,
    min_group_size: int = 30,
    n_boot: int = 500,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Non-inferiority test of every guardrail.

    Returns
    -------
    pandas.DataFrame
        One row per guardrail: ``guardrail``, ``control``, ``treatment``, ``diff``,
        ``margin`` (absolute), ``p_value`` (one-sided), ``holds`` (the harm is below the margin
        at level ``alpha``), ``available`` (False for the fairness gap without groups) and
        ``note``.
    """
    c, t = _arm_tables(table, control, treatment)
    rows = []
    for g in guardrails:
        if g.metric == "fairness_gap":
            if group is None or group not in table.columns:
                rows.append(
                    {
                        "guardrail": "fairness_gap",
                        "available": False,
                        "holds": True,
                        "note": "no customer groups given: the fairness guardrail was not checked",
                    }
                )
                continue
            comp = _gap_comparison(c, t, group, min_group_size, n_boot, seed, alpha)
            if not np.isfinite(comp.se):
                rows.append(
                    {
                        "guardrail": "fairness_gap",
                        "available": False,
                        "holds": True,
                        "note": (
                            f"fewer than 2 customer groups of {min_group_size}+ customers in "
                            "each arm: not checked"
                        ),
                    }
                )
                continue
            higher_is_better = False
            note = "largest gap of click-through rate between customer groups"
        else:
            comp = compare(c, t, METRICS[g.metric], alpha)
            higher_is_better = True
            note = METRICS[g.metric].label
        margin = g.margin * abs(comp.control) if g.relative else g.margin
        p, holds = st.noninferiority_test(comp, margin, alpha, higher_is_better)
        rows.append(
            {
                "guardrail": g.metric,
                "available": True,
                "control": comp.control,
                "treatment": comp.treatment,
                "diff": comp.diff,
                "se": comp.se,
                "margin": margin,
                "direction": "higher is better" if higher_is_better else "lower is better",
                "p_value": p,
                "holds": holds,
                "note": note,
            }
        )
    cols = ["guardrail", "available", "control", "treatment", "diff", "se", "margin"]
    cols += ["direction", "p_value", "holds", "note"]
    return pd.DataFrame(rows).reindex(columns=cols)


def decide(
    metrics: pd.DataFrame,
    guardrails: pd.DataFrame,
    srm: st.SRMResult,
    primary: str,
    alpha: float = 0.05,
) -> Decision:
    """Ship when the gate passes, the primary metric improves significantly (adjusted) and every
    available guardrail holds; otherwise say which condition failed."""
    if srm.mismatch:
        return Decision(
            "no decision",
            (
                f"Sample ratio mismatch: the arms hold {srm.observed[0]:,} and "
                f"{srm.observed[1]:,} customers where the split promised "
                f"{srm.expected[0]:,.0f} and {srm.expected[1]:,.0f} (chi-square p = "
                f"{srm.p_value:.2g}); the assignment or the logging is broken, so no result of "
                "this experiment can be trusted.",
            ),
        )
    row = metrics.loc[metrics["metric"] == primary]
    if row.empty:
        raise ValueError(f"decide: the primary metric {primary!r} is not in the metrics table")
    r = row.iloc[0]
    reasons = []
    improved = bool(r["significant"]) and r["diff"] > 0
    if improved:
        reasons.append(
            f"The primary metric, {r['label']}, improved significantly (adjusted p = "
            f"{r['p_adjusted']:.2g})."
        )
    elif bool(r["significant"]):
        reasons.append(
            f"The primary metric, {r['label']}, got significantly worse (adjusted p = "
            f"{r['p_adjusted']:.2g})."
        )
    else:
        reasons.append(
            f"The primary metric, {r['label']}, did not change significantly (adjusted p = "
            f"{r['p_adjusted']:.2g}): no evidence the treatment is better."
        )
    failed = guardrails[guardrails["available"].astype(bool) & ~guardrails["holds"].astype(bool)]
    for _, g in failed.iterrows():
        reasons.append(
            f"Guardrail {g['guardrail']} not shown to hold: the treatment may be worse by more "
            f"than the margin ({g['margin']:.3g}; one-sided p = {g['p_value']:.2g})."
        )
    verdict = "ship" if improved and failed.empty else "do not ship"
    if verdict == "ship":
        reasons.append("Every guardrail holds.")
    return Decision(verdict, tuple(reasons))


def coverage_comparison(
    visits_log: Mapping[str, pd.DataFrame],
    table: pd.DataFrame,
    control: str,
    treatment: str,
    catalogue_size: int,
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Catalogue coverage (distinct products shown / catalogue size) per arm and the difference,
    with a bootstrap interval (customers resampled within each arm).

    Parameters
    ----------
    visits_log : mapping of arm label to slot log
        Each with ``unit_id`` and ``product_id``.
    table : pandas.DataFrame
        Per-customer table with ``arm``.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    boots = {}
    for label in (control, treatment):
        log = visits_log[label]
        units = np.sort(table.loc[table["arm"] == label, "unit_id"].to_numpy(dtype=object))
        u = np.searchsorted(units, log["unit_id"].to_numpy(dtype=object))
        p_codes, _ = pd.factorize(log["product_id"].astype(object))
        inc = np.zeros((len(units), int(p_codes.max()) + 1 if len(p_codes) else 1), dtype=bool)
        inc[u, p_codes] = True
        out[label] = inc.any(axis=0).sum() / catalogue_size
        incf = inc.astype(np.float64)
        vals = [
            ((counts @ incf) > 0).sum(axis=1) / catalogue_size
            for counts in bootstrap_counts(len(units), n_boot, int(rng.integers(2**31 - 1)))
        ]
        boots[label] = np.concatenate(vals)
    diff = boots[treatment] - boots[control]
    lo, hi = np.quantile(diff, [alpha / 2, 1 - alpha / 2])
    return pd.DataFrame(
        [
            {
                "metric": "catalogue_coverage",
                "control": out[control],
                "treatment": out[treatment],
                "diff": out[treatment] - out[control],
                "boot_low": float(lo),
                "boot_high": float(hi),
                "catalogue_size": int(catalogue_size),
            }
        ]
    )


def looks_table(
    visits: pd.DataFrame,
    table: pd.DataFrame,
    control: str,
    treatment: str,
    metric: Metric,
) -> pd.DataFrame:
    """Per-day running statistics of a mean or proportion metric (input of
    :func:`recnb.experiments.sequential.monitor`): ``day``, ``n_control``, ``n_treatment``,
    ``mean_*`` and ``var_*`` over the customers who have visited so far."""
    if metric.kind not in ("mean", "proportion"):
        raise ValueError(f"looks_table: {metric.name!r} is a {metric.kind}; monitor a mean")
    col = "purchases" if metric.kind == "proportion" else metric.column
    days = np.unique(visits["day"].to_numpy(dtype=np.int64))
    units = table["unit_id"].to_numpy(dtype=object)
    order = np.argsort(units)
    units_sorted = units[order]
    cum = cumulative_by_day(visits, col, units_sorted, days)
    if metric.kind == "proportion":
        cum = (cum > 0).astype(np.float64)
    first = table["first_day"].to_numpy()[order]
    arm = table["arm"].to_numpy(dtype=object)[order]
    arrived = first[:, None] <= days[None, :]
    out: dict[str, Any] = {"day": days}
    for label, key in ((control, "control"), (treatment, "treatment")):
        sel = arm == label
        a = arrived[sel]
        y = cum[sel] * a
        n = a.sum(axis=0).astype(np.float64)
        s = y.sum(axis=0)
        ss = (y * y).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = np.where(n > 0, s / n, 0.0)
            var = np.where(n > 1, (ss - n * mean * mean) / (n - 1), 0.0)
        out[f"n_{key}"] = n.astype(np.int64)
        out[f"mean_{key}"] = mean
        out[f"var_{key}"] = np.maximum(var, 0.0)
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------------------------
# the runner
# ----------------------------------------------------------------------------------------------


def _truth_column(name: str, key: str) -> str:
    """Per-customer column of the exact sum of ``name`` (an ``exp_*`` column or
    ``impressions``) had every customer been in arm ``key``."""
    return f"truth_{name.removeprefix('exp_')}_{key}"


def _truth_table(
    table: pd.DataFrame, metrics_table: pd.DataFrame, names: Sequence[str]
) -> pd.DataFrame:
    rows = []
    for name in names:
        m = METRICS[name]
        if m.exact is None:
            continue
        vals = {}
        for key in ("control", "treatment"):
            num = table[_truth_column(m.exact, key)]
            if m.kind == "mean":
                vals[key] = num.mean()
            else:
                vals[key] = num.sum() / table[_truth_column(m.exact_denominator, key)].sum()
        r = metrics_table.loc[metrics_table["metric"] == name].iloc[0]
        true_diff = vals["treatment"] - vals["control"]
        rows.append(
            {
                "metric": name,
                "truth_control": vals["control"],
                "truth_treatment": vals["treatment"],
                "true_diff": true_diff,
                "estimate": r["diff"],
                "se": r["se"],
                "z": (r["diff"] - true_diff) / r["se"] if r["se"] > 0 else np.nan,
                "ci_covers_truth": bool(r["ci_low"] <= true_diff <= r["ci_high"]),
            }
        )
    return pd.DataFrame(rows)


def run_ab_test(
    shop: SyntheticShop,
    traffic: Traffic,
    control: Arm,
    treatment: Arm,
    *,
    k: int = 10,
    split: Sequence[float] = (0.5, 0.5),
    salt: str = "recnb-ab",
    history: PurchaseHistory | None = None,
    seed: int = 0,
    alpha: float = 0.05,
    metrics: Sequence[str] = DEFAULT_METRICS,
    correction: str = "holm",
    guardrails: Sequence[Guardrail] = DEFAULT_GUARDRAILS,
    covariate: pd.Series | None = None,
    groups: pd.Series | None = None,
    min_group_size: int = 30,
    n_boot: int = 1000,
    mde: float | None = None,
    srm_threshold: float = st.SRM_THRESHOLD,
    expected_split: Sequence[float] | None = None,
    keep_logs: bool = True,
    catalogue_size: int | None = None,
) -> ABTestResult:
    """Run a two-arm A/B test of recommenders on the shop's traffic and analyse it.

    Parameters
    ----------
    shop : SyntheticShop
        The ground truth.
    traffic : Traffic
        The experiment's visits (e.g. ``Traffic.from_shop(shop, range(n_days, n_days + 14),
        unit_id=pseudonyms)``).
    control, treatment : Arm
        The two arms (their labels must differ).
    k : int
        Slate length.
    split : sequence of float
        Share of customers in (control, treatment).
    salt : str
        Assignment salt (the experiment's name).
    history : PurchaseHistory, optional
        The shop's state (e.g. ``shop.log_history()``), held fixed.
    seed : int
        Seeds the responses and the bootstrap.
    alpha : float
        Level of every test, 1 - confidence of every interval.
    metrics : sequence of str
        Metrics of :data:`METRICS`; the first is the primary metric (a mean or a proportion).
    correction : {"holm", "bh"}
        Adjustment across metrics.
    guardrails : sequence of Guardrail
        Non-inferiority guardrails.
    covariate : pandas.Series, optional
        Pre-period value of the primary metric per unit id (index); missing units get 0. Adds a
        CUPED row.
    groups : pandas.Series, optional
        Customer group per unit id (e.g. age band) for the fairness guardrail.
    min_group_size : int
        Smallest group judged by the fairness guardrail.
    n_boot : int
        Bootstrap resamples.
    mde : float, optional
        Minimum detectable effect of the primary metric (absolute): the mixing standard deviation
        of the mSPRT. Default: 5% of the control's mean.
    srm_threshold : float
        p-value below which the SRM gate fails.
    expected_split : sequence of float, optional
        The split the SRM gate checks against (default ``split``; give another one to simulate a
        broken assignment).
    keep_logs : bool
        Keep the slot-level logs in the result.
    catalogue_size : int, optional
        Denominator of catalogue coverage (default: the control model's catalogue).

    Returns
    -------
    ABTestResult
    """
    if control.label == treatment.label:
        raise ValueError(f"run_ab_test: both arms are labelled {control.label!r}")
    names = list(metrics)
    if not names or METRICS.get(names[0]) is None:
        raise ValueError(f"run_ab_test: unknown primary metric {names[:1]}; known {list(METRICS)}")
    primary = METRICS[names[0]]
    shares = check_split(split)
    if len(shares) != 2:
        raise ValueError(f"run_ab_test: two arms need a split of two shares, got {list(split)}")
    labels = (control.label, treatment.label)
    units = traffic.units()
    arm_of_unit = assign(units, shares, salt)
    arm_of_visit = arm_of_unit[np.searchsorted(units, traffic.unit_id)]
    ss = np.random.SeedSequence(seed)
    sim_seed, boot_seed = ss.spawn(2)
    rngs = [np.random.default_rng(s) for s in sim_seed.spawn(2)]

    parts, logs, latency = [], {}, []
    truth = {}
    for i, arm in enumerate((control, treatment)):
        rows = np.flatnonzero(arm_of_visit == i)
        sub = traffic.take(rows)
        t0 = time.perf_counter()
        cand = candidate_lists(arm.model, sub.units(), arm.n_candidates, arm.reranker)
        latency.append(
            {
                "arm": arm.label,
                "customers": len(cand.scores),
                "seconds": time.perf_counter() - t0,
            }
        )
        outcome = simulate_arm(
            shop, sub, arm, k, history, rngs[i], exact=True, keep_log=True, candidates=cand
        )
        v = outcome.visits
        v.insert(1, "arm", arm.label)
        parts.append(v)
        logs[arm.label] = outcome.log
        # the counterfactual: every visit under this arm, exactly (the true effect)
        truth[arm.label] = exact_values(shop, traffic, arm, k, history)
    visits = pd.concat(parts, ignore_index=True)
    table = per_customer(visits)
    for key, label in (("control", control.label), ("treatment", treatment.label)):
        tv = truth[label]
        cols = ["impressions", *(c for c in tv.columns if c.startswith("exp_"))]
        pc = per_customer(tv, cols).set_index("unit_id").reindex(table["unit_id"])
        for c in cols:
            table[_truth_column(c, key)] = pc[c].to_numpy()
    if covariate is not None:
        table["covariate"] = (
            covariate.reindex(table["unit_id"]).fillna(0.0).to_numpy(dtype=np.float64)
        )
    group_col = None
    if groups is not None:
        group_col = "group"
        table[group_col] = groups.reindex(table["unit_id"]).to_numpy()
    observed = [int((table["arm"] == lab).sum()) for lab in labels]
    srm = st.srm_test(
        observed, expected_split if expected_split is not None else shares, srm_threshold
    )
    boot_int = int(boot_seed.generate_state(1)[0])
    use_cuped = covariate is not None and primary.kind == "mean"
    mt = analyse(
        table,
        control.label,
        treatment.label,
        names,
        alpha,
        correction,
        n_boot,
        boot_int,
        covariate="covariate" if use_cuped else None,
    )
    gr = evaluate_guardrails(
        table,
        control.label,
        treatment.label,
        guardrails,
        alpha,
        group_col,
        min_group_size,
        min(n_boot, 500),
        boot_int,
    )
    decision = decide(mt, gr, srm, f"{names[0]}_cuped" if use_cuped else names[0], alpha)
    looks = looks_table(visits, table, control.label, treatment.label, primary)
    ctrl_mean = float(mt.loc[mt["metric"] == names[0], "control"].iloc[0])
    tau = abs(mde) if mde else 0.05 * abs(ctrl_mean)
    looks = monitor(looks, tau=tau if tau > 0 else 1.0, alpha=alpha)
    if catalogue_size is None:
        catalogue_size = control.model.n_products_
    cov = coverage_comparison(
        logs, table, control.label, treatment.label, catalogue_size, min(n_boot, 500), alpha,
        boot_int,
    )  # fmt: skip
    return ABTestResult(
        control=control.label,
        treatment=treatment.label,
        split=(float(shares[0]), float(shares[1])),
        salt=salt,
        per_customer=table,
        visits=visits,
        metrics=mt,
        srm=srm,
        guardrails=gr,
        decision=decision,
        looks=looks,
        coverage=cov,
        truth=_truth_table(table, mt, names),
        latency=pd.DataFrame(latency),
        primary=names[0],
        alpha=alpha,
        logs=logs if keep_logs else {},
    )
