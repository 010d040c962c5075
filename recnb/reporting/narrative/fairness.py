"""Plain-language sentences of the fairness report (notebook 04), computed from its tables.

Every function takes the tables of :mod:`recnb.fairness.stage` and returns Markdown text; no
number is written by hand. Groups below the minimum size never appear (they have no value).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from recnb.fairness.audit import HIGHER_IS_BETTER

__all__ = [
    "describe_attributes",
    "describe_data_vs_model",
    "describe_exposure",
    "describe_gaps",
    "describe_mitigation",
    "describe_overall_lift",
    "describe_providers",
    "describe_simulation",
    "describe_transparency",
    "stakeholder_summary",
]

_NAMES = {
    "ndcg": "NDCG",
    "recall": "recall",
    "hit_rate": "hit rate",
    "mrr": "MRR",
    "calibration_kl": "calibration KL",
    "expected_clicks": "true expected clicks",
    "long_tail_share": "long-tail share",
    "small_seller_exposure": "small sellers' share of exposure",
    "protected_share": "share of protected products",
}
_METHODS = {
    "xquad_popularity": "xQuAD re-ranking towards each customer's own share of long-tail products",
    "xquad_sellers": "xQuAD re-ranking towards each customer's own mix of small and large sellers",
    "calibration": "calibrated re-ranking (Steck)",
    "fair_sellers": "FA*IR with a minimum share of small sellers",
    "fair_long_tail": "FA*IR with a minimum share of long-tail products",
}


def _metric(metric: str, k: int | None = None) -> str:
    name = _NAMES.get(metric, metric)
    return f"{name}@{k}" if k and metric in ("ndcg", "recall", "hit_rate", "mrr") else name


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def describe_attributes(
    attributes: Sequence[str], not_recorded: Mapping[str, int], n_customers: int, source: str
) -> str:
    """Which customer attributes define groups, and how many customers lack each."""
    real = [a for a in attributes if not a.startswith("planted")]
    if not real:
        return (
            f"This data ({source}) records no customer attribute (no gender, age, region, "
            "country, device or occupation), so customers cannot be compared by group here: "
            "the report shows what it can without them (popularity bias, exposure of products, "
            "mitigation and explanations)."
        )
    parts = []
    for a in real:
        m = int(not_recorded.get(a, 0))
        if m:
            parts.append(
                f"{a} ({m:,} of {n_customers:,} customers have none recorded; they are shown as "
                "'not recorded' and left out of the comparisons)"
            )
        else:
            parts.append(a)
    return "Customers are grouped by " + "; ".join(parts) + "."


def describe_gaps(
    gaps: pd.DataFrame,
    model: str,
    metric: str,
    k: int,
    alpha: float = 0.05,
    attributes: Sequence[str] | None = None,
) -> str:
    """For ``model``: per attribute, the worst served group, the gap and whether it is significant."""
    sel = gaps[(gaps["model"] == model) & (gaps["metric"] == metric)]
    if attributes is not None:
        sel = sel[sel["attribute"].isin(attributes)]
    sel = sel[sel["difference"].notna()]
    if sel.empty:
        return f"_No attribute has two groups large enough to compare for {model}._"
    higher = HIGHER_IS_BETTER.get(metric, True)
    out = []
    for r in sel.itertuples(index=False):
        worst = r.low_group if higher is not False else r.high_group
        best = r.high_group if higher is not False else r.low_group
        rel = f"{r.difference / r.overall:.0%} of" if r.overall else "against"
        sig = r.p_holm <= alpha
        test = (
            f"significant ({_p(r.p_holm)} after Holm's correction, comparing customers of the "
            "same activity level)"
            if sig
            else f"not significant ({_p(r.p_holm)}: a gap this size arises by chance)"
        )
        out.append(
            f"- **{r.attribute}**: {worst} is served worst and {best} best; the gap is "
            f"{r.difference:.4f} (95% CI {r.difference_ci_low:.4f} to {r.difference_ci_high:.4f}), "
            f"{rel} the overall {_metric(metric, k)} of {r.overall:.4f}: {test}."
        )
    return "\n".join(out)


def _significant(gaps: pd.DataFrame, model: str, metric: str, alpha: float) -> pd.DataFrame:
    sel = gaps[(gaps["model"] == model) & (gaps["metric"] == metric) & gaps["difference"].notna()]
    return sel[sel["p_holm"] <= alpha]


def describe_exposure(catalogue: pd.DataFrame, model: str, lift: pd.DataFrame | None = None) -> str:
    """How concentrated the model's exposure is, against the training data's own concentration."""
    t = catalogue.set_index("model")
    if model not in t.index:
        return ""
    r = t.loc[model]
    data = t[t.index.str.startswith("data")]
    gini_data = float(data["gini"].iloc[0]) if len(data) else np.nan
    text = (
        f"{model}'s lists cover {r['coverage']:.0%} of the catalogue ({r['long_tail_coverage']:.0%} "
        f"of the long tail); {r['aplt']:.0%} of a list is long-tail products on average, and the "
        f"Gini of exposure is {r['gini']:.2f}"
    )
    if np.isfinite(gini_data):
        more = "more" if r["gini"] > gini_data else "less"
        text += f" against {gini_data:.2f} for the training interactions ({more} concentrated than the data)"
    text += "."
    if lift is not None and len(lift):
        d = lift[lift["model"] == model]
        if len(d):
            mean_lift = float(np.average(d["popularity_lift"], weights=d["n"]))
            how = "more" if mean_lift >= 0 else "less"
            text += (
                f" Its lists are on average {abs(mean_lift):.0%} {how} popular than what the same "
                f"customers consumed (popularity lift {mean_lift:+.0%})."
            )
    return text


def describe_overall_lift(values: pd.DataFrame, model: str) -> str:
    """Without customer groups: the mean popularity lift of ``model``'s lists over all customers
    (``values``: the per-customer table, columns ``(model, metric)``)."""
    if (model, "popularity_lift") not in values.columns:
        return ""
    x = values[(model, "popularity_lift")].to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return ""
    m = float(x.mean())
    how = "more" if m >= 0 else "less"
    return (
        f"The data records no customer groups to compare. Over all {len(x):,} customers with a "
        f"training history, {model}'s lists are on average {abs(m):.0%} {how} popular than what "
        f"the same customers consumed (popularity lift {m:+.0%}); {np.mean(x > 0):.0%} of the "
        "customers are shown lists more popular than their own history."
    )


def describe_providers(providers: pd.DataFrame | None, model: str, has_brands: bool) -> str:
    """Small sellers' exposure against their share of relevant items, for ``model``."""
    if providers is None:
        if not has_brands:
            return (
                "_This data records no seller or brand per product, so exposure of small and "
                "large sellers cannot be measured._"
            )
        return (
            "_Every product belongs to one size class of seller here; there is nothing to compare._"
        )
    r = providers.set_index("model").loc[model]
    direction = "less" if r["dt_ratio"] < 1 else "more"
    return (
        f"Small sellers hold {r['catalogue_share']:.0%} of the catalogue and {r['relevant_share']:.0%} "
        f"of the items customers went on to choose; {model} gives them {r['exposure_share']:.0%} of "
        f"the expected examinations (95% CI {r['exposure_share_ci_low']:.0%} to "
        f"{r['exposure_share_ci_high']:.0%}). Per unit of relevance they get {direction} exposure "
        f"than large sellers: disparate treatment ratio {r['dt_ratio']:.2f} (95% CI "
        f"{r['dt_ratio_ci_low']:.2f} to {r['dt_ratio_ci_high']:.2f}; 1 is exposure in proportion "
        f"to relevance)."
    )


def describe_simulation(simulation: pd.DataFrame | None) -> str:
    """Whether the expected exposure agrees with the shop's simulated impressions."""
    if simulation is None or simulation.empty:
        return ""
    worst = float(simulation["z"].abs().max())
    ok = worst < 4
    return (
        f"Check: showing {int(simulation['n_lists'].iloc[0]):,} of these lists in the simulated "
        f"shop, the examinations counted per seller group agree with the expected exposure "
        f"{'within' if ok else 'NOT within'} Monte-Carlo error (largest |z| = {worst:.1f})."
    )


def describe_data_vs_model(dvm: pd.DataFrame, model: str, attribute: str | None = None) -> str:
    """What was in the data (the random model's gap, the data's concentration) vs what the model adds."""
    d = dvm[dvm["model"] == model]
    if attribute is not None:
        d = d[d["attribute"] == attribute]
    d = d[d["gap"].notna()]
    if d.empty:
        return ""
    parts = []
    for r in d.itertuples(index=False):
        if np.isfinite(r.gap_random_model):
            parts.append(
                f"by {r.attribute} the gap is {r.gap:.4f}, of which a random list already shows "
                f"{r.gap_random_model:.4f} (differences in what the groups went on to choose)"
            )
    text = ""
    if parts:
        text = f"For {model}, " + "; ".join(parts) + ". "
    r0 = d.iloc[0]
    if np.isfinite(r0.gini_model) and np.isfinite(r0.gini_data):
        text += (
            f"Exposure concentration: the data's Gini is {r0.gini_data:.2f}, the model's "
            f"{r0.gini_model:.2f} ({r0.gini_added_by_model:+.2f} added by the model)."
        )
    return text


def describe_mitigation(recommended: pd.DataFrame, model: str, max_ndcg_loss: float) -> str:
    """The recommended setting of each method for ``model`` and what it costs."""
    d = recommended[recommended["model"] == model]
    if d.empty:
        return ""
    out = []
    for r in d.itertuples(index=False):
        name = _METHODS.get(r.method, r.method)
        target = _metric(r.target)
        if not r.mitigated:
            out.append(
                f"- {name}: no strength improves the {target} within an NDCG loss of "
                f"{max_ndcg_loss:.0%} on the selection half; not recommended."
            )
            continue
        if r.confirmed:
            held = "the gain holds on the other half of the customers, within the NDCG budget"
        elif not r.gain_holds:
            held = (
                "**not confirmed**: on the other half of the customers the change is not "
                "clearly a gain, so this setting is not recommended"
            )
        else:
            held = (
                f"**not confirmed**: on the other half of the customers it costs more NDCG than "
                f"the {max_ndcg_loss:.0%} budget, so this setting is not recommended"
            )
        out.append(
            f"- {name} at strength {r.strength:g}: {target} {r.value_change:+.3f} (95% CI "
            f"{r.value_change_ci_low:+.3f} to {r.value_change_ci_high:+.3f}) for NDCG "
            f"{r.ndcg_change:+.1%} (95% CI {r.ndcg_change_ci_low:+.1%} to "
            f"{r.ndcg_change_ci_high:+.1%}); {held}."
        )
    return "\n".join(out)


def describe_transparency(summary: pd.DataFrame, skipped: Sequence[str]) -> str:
    """Which models' explanations are faithful (additive, deletion lowers the score >= 95%)."""
    if summary is None or summary.empty:
        return "_No compared model can explain its recommendations._"
    faithful = summary[(summary["additive_share"] == 1.0) & (summary["lowered_share"] >= 0.95)]
    weak = summary[~summary["model"].isin(faithful["model"])]
    text = (
        f"{len(faithful)} of {len(summary)} explaining models give faithful explanations: the "
        "reasons add up to the score, and removing the strongest reason lowers the score in at "
        "least 95% of the recommendations checked"
    )
    text += f" ({', '.join(faithful['model'])})." if len(faithful) else "."
    if len(weak):
        text += (
            " Less faithful: "
            + ", ".join(
                f"{r.model} ({r.lowered_share:.0%} lowered)" for r in weak.itertuples(index=False)
            )
            + "."
        )
    if skipped:
        text += f" Not explainable: {', '.join(skipped)}."
    return text


def stakeholder_summary(
    gaps: pd.DataFrame,
    model: str,
    metric: str,
    k: int,
    alpha: float,
    attributes: Sequence[str],
    catalogue: pd.DataFrame,
    providers: pd.DataFrame | None,
    recommended: pd.DataFrame,
    transparency: pd.DataFrame | None,
    planted: str | None = None,
    planted_metric: str | None = None,
) -> str:
    """The report's opening paragraph: who is served worse, popularity, sellers, mitigation cost."""
    parts = [f"Fairness audit of {model}, the model stage 03 chose."]
    real = [a for a in attributes if not a.startswith("planted")]
    sig = _significant(gaps, model, metric, alpha)
    sig_real = sig[sig["attribute"].isin(real)]
    higher = HIGHER_IS_BETTER.get(metric, True)
    if not real:
        parts.append("The data records no customer attribute, so no group comparison is possible.")
    elif sig_real.empty:
        parts.append(
            f"No customer group ({', '.join(real)}) is served significantly worse in "
            f"{_metric(metric, k)} once activity is accounted for."
        )
    else:
        bits = []
        for r in sig_real.itertuples(index=False):
            worst = r.low_group if higher is not False else r.high_group
            if higher is not False and np.isfinite(r.ratio):
                size = f"{1 - r.ratio:.0%} below the best served group"
            else:
                size = f"a gap of {r.difference:.4f}"
            bits.append(f"{worst} (by {r.attribute}: {size}, {_p(r.p_holm)})")
        parts.append(
            f"Served significantly worse in {_metric(metric, k)}: " + "; ".join(bits) + "."
        )
    if planted:
        row = gaps[
            (gaps["model"] == model) & (gaps["metric"] == metric) & (gaps["attribute"] == planted)
        ]
        if len(row) and np.isfinite(row["difference"].iloc[0]):
            r = row.iloc[0]
            found = r["p_holm"] <= alpha
            text = (
                f"The shop planted an under-served group ({planted.split('(', 1)[1].rstrip(')')}): "
                f"the audit {'finds' if found else 'does not find'} it for {model} "
                f"({_p(r['p_holm'])})"
            )
            # which other models turn the group's difference in the data into worse service
            worst = "low_group" if higher is not False else "high_group"
            others = gaps[
                (gaps["model"] != model)
                & (gaps["model"] != "random")
                & (gaps["metric"] == metric)
                & (gaps["attribute"] == planted)
                & (gaps["p_holm"] <= alpha)
                & (gaps[worst] == "in the group")
            ]
            if len(others):
                text += (
                    f"; the group is served significantly worse in {_metric(metric, k)} by "
                    + ", ".join(f"{o.model} ({_p(o.p_holm)})" for o in others.itertuples())
                )
            parts.append(text + ".")
    t = catalogue.set_index("model")
    if model in t.index:
        parts.append(
            f"Its lists put {t.loc[model, 'aplt']:.0%} long-tail products in front of customers "
            f"(Gini of exposure {t.loc[model, 'gini']:.2f})."
        )
    if providers is not None and model in set(providers["model"]):
        r = providers.set_index("model").loc[model]
        parts.append(
            f"Small sellers get {r['exposure_share']:.0%} of the attention for {r['relevant_share']:.0%} "
            f"of what customers chose (disparate treatment ratio {r['dt_ratio']:.2f})."
        )
    rec = recommended[(recommended["model"] == model) & recommended["mitigated"]]
    rec = rec[rec["confirmed"]]
    if len(rec):
        best = rec.sort_values("ndcg_change", ascending=False).iloc[0]
        parts.append(
            f"Cheapest mitigation: {_METHODS.get(best['method'], best['method'])} at strength "
            f"{best['strength']:g} changes the {_metric(best['target'])} by {best['value_change']:+.3f} "
            f"for an NDCG change of {best['ndcg_change']:+.1%} (95% CI {best['ndcg_change_ci_low']:+.1%} "
            f"to {best['ndcg_change_ci_high']:+.1%})."
        )
    else:
        parts.append(
            "No re-ranker improves fairness within the accuracy budget for this model (a gain "
            "found on one half of the customers must hold on the other)."
        )
    if transparency is not None and len(transparency):
        ok = transparency[
            (transparency["additive_share"] == 1.0) & (transparency["lowered_share"] >= 0.95)
        ]
        parts.append(
            f"{len(ok)} of {len(transparency)} explaining models give faithful explanations."
        )
    return " ".join(parts)
