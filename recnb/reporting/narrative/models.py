"""The sentences of the model-comparison report (stage 03), computed from its result tables.

Every sentence here is computed from the result tables of
:func:`recnb.evaluation.evaluate.evaluate_models`, :func:`recnb.evaluation.leaderboard.winner_vs_rest`
and :func:`recnb.evaluation.tuning.tune_models` (never typed in a notebook), so it changes when the
numbers change. Wording rules:

- the winner is the model with the highest mean of the primary metric (default NDCG@10);
- "better than X" is said only when the paired t-test against X, Holm-adjusted over every
  comparison in the table, is significant at ``alpha``; otherwise the two are "statistically tied";
- relative differences are ``(winner - other) / other``; a zero denominator is reported in
  absolute terms;
- cost is wall-clock training time and recommendation throughput on the machine that ran the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from recnb.evaluation.leaderboard import chosen_model
from recnb.evaluation.reference import ReferenceTable
from recnb.reporting.formatting import metric_label, number, percent, rate, seconds

__all__ = [
    "METRIC_MEANINGS",
    "cost_summary",
    "describe_evaluation",
    "describe_map_variants",
    "describe_reference",
    "describe_segment_sizes",
    "describe_segments",
    "describe_significance",
    "describe_sources",
    "describe_tradeoff",
    "describe_tuning",
    "stakeholder_summary",
]

#: one plain-language line per metric, for stakeholders
METRIC_MEANINGS: dict[str, str] = {
    "ndcg": "how high the products customers went on to choose appear in their list (0 to 1)",
    "precision": "share of the list that customers went on to choose",
    "recall": "share of what customers went on to choose that the list contained",
    "hit_rate": "share of customers with at least one chosen product in their list",
    "mrr": "1 / position of the first chosen product in the list",
    "map_min": "precision averaged over the positions of the chosen products",
    "catalog_coverage": "share of the catalogue that appears in at least one list",
    "novelty": "how unfamiliar the recommended products are (higher = less mainstream)",
    "gini_exposure": "how unequally exposure is spread over products (0 = equal)",
    "aplt": "share of the list from the long tail of less popular products",
    "serendipity": "share of the list that was chosen and that popularity would not have shown",
}


def _value(summary: pd.DataFrame, model: str, metric: str, k: int, col: str = "value") -> float:
    sel = summary[(summary["model"] == model) & (summary["metric"] == metric) & (summary["k"] == k)]
    return float(sel[col].iloc[0]) if len(sel) else float("nan")


def _relative(a: float, b: float) -> str:
    """How a compares with b, to be followed by "b": "5.8% higher than", "2.5 times as high as"."""
    if b > 0:
        r = (a - b) / b
        if r >= 1.0:
            return f"{a / b:.1f} times as high as"
        return f"{percent(r)} higher than"
    return f"{number(a - b)} higher than (from zero)"


def stakeholder_summary(
    summary: pd.DataFrame,
    significance: pd.DataFrame,
    timing: pd.DataFrame | None = None,
    metric: str = "ndcg",
    k: int = 10,
    baseline: str | None = "popularity",
    alpha: float = 0.05,
    what: str = "products",
) -> str:
    """The paragraph at the top of the report: who wins, by how much, how sure, at what cost.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``Evaluation.summary``.
    significance : pandas.DataFrame
        :func:`recnb.evaluation.leaderboard.winner_vs_rest` for the same ``metric`` and ``k``.
    timing : pandas.DataFrame, optional
        ``Evaluation.timing``.
    metric, k : str, int
        Primary metric.
    baseline : str, optional
        Model label of the non-personalised baseline to compare with (skipped when absent).
    alpha : float
        Test level used in ``significance``.
    what : str
        What is recommended ("products", "movies").

    Returns
    -------
    str
        Markdown paragraph.
    """
    if significance.empty:
        raise ValueError("stakeholder_summary: the significance table is empty")
    winner = str(significance["reference"].iloc[0])
    label = metric_label(metric, k)
    v = _value(summary, winner, metric, k)
    lo, hi = (
        _value(summary, winner, metric, k, "ci_low"),
        _value(summary, winner, metric, k, "ci_high"),
    )
    n = int(significance["n"].max())
    meaning = METRIC_MEANINGS.get(metric)
    parts = [
        f"**{winner}** gives the best recommendations among {len(significance) + 1} models: "
        f"{label} {number(v)} (95% confidence interval {number(lo)} to {number(hi)}, "
        f"{n:,} test customers)" + (f"; {label} measures {meaning}." if meaning else ".")
    ]
    runner = significance.iloc[0]
    ru = str(runner["model"])
    p = float(runner["t_pvalue_holm"])
    if bool(runner["significant"]):
        parts.append(
            f"It scores {_relative(v, float(runner['mean_model']))} the runner-up, {ru} "
            f"({number(float(runner['mean_model']))}), and the difference is statistically "
            f"significant (paired t-test, Holm-adjusted p = {p:.2g}), so it is unlikely to be "
            "chance."
        )
    else:
        parts.append(
            f"The runner-up, {ru} ({number(float(runner['mean_model']))}), is statistically tied "
            f"with it (Holm-adjusted p = {p:.2g} > {alpha:g}): on these data the two cannot be "
            "told apart."
        )
    tied = significance[~significance["significant"].astype(bool)]["model"].astype(str).tolist()
    if len(tied) > 1:
        parts.append(f"Models statistically tied with {winner}: {', '.join(tied)}.")
    if baseline and baseline != winner and baseline in set(significance["model"]):
        b = significance[significance["model"] == baseline].iloc[0]
        word = (
            "a significant difference"
            if bool(b["significant"])
            else "but the difference is not significant"
        )
        parts.append(
            f"It scores {_relative(v, float(b['mean_model']))} the non-personalised {baseline} "
            f"baseline ({number(float(b['mean_model']))}), {word}."
        )
    elif baseline == winner:
        parts.append(
            f"No personalised model beats the {baseline} baseline on these data: showing everyone "
            f"the best-selling {what} is as good as any model here."
        )
    cost = cost_summary(significance, timing)
    if cost:
        parts.append(cost)
    cov = _value(summary, winner, "catalog_coverage", k)
    if np.isfinite(cov):
        sentence = f"Its lists use {percent(cov)} of the catalogue"
        if baseline and baseline != winner:
            cb = _value(summary, baseline, "catalog_coverage", k)
            if np.isfinite(cb):
                sentence += f" ({baseline}: {percent(cb)})"
        parts.append(sentence + ".")
    return " ".join(parts)


def cost_summary(significance: pd.DataFrame, timing: pd.DataFrame | None) -> str:
    """The measured part of the summary: what the winner costs, and a cheaper tied model.

    Kept apart from :func:`stakeholder_summary` (called with ``timing=None``) because measured
    times differ between two runs of the same params; the notebook shows both.

    Returns
    -------
    str
        Markdown sentences ("" without timing for the winner).
    """
    if significance.empty or timing is None or timing.empty:
        return ""
    winner = str(significance["reference"].iloc[0])
    if winner not in set(timing["model"]):
        return ""
    t = timing.set_index("model")
    parts = [
        f"It trains in {seconds(float(t.loc[winner, 'fit_seconds']))} and serves "
        f"{rate(float(t.loc[winner, 'customers_per_second']))} customers per second on the "
        "machine that ran this report."
    ]
    tied = significance[~significance["significant"].astype(bool)]["model"].astype(str).tolist()
    # a cheaper alternative is worth a sentence only when training takes real time
    faster = [
        m
        for m in tied
        if m in t.index
        and t.loc[winner, "fit_seconds"] >= 1.0
        and t.loc[m, "fit_seconds"] < 0.5 * t.loc[winner, "fit_seconds"]
    ]
    if faster:
        m = min(faster, key=lambda x: t.loc[x, "fit_seconds"])
        parts.append(
            f"If cost matters, {m} is statistically tied and trains in "
            f"{seconds(float(t.loc[m, 'fit_seconds']))}."
        )
    return " ".join(parts)


def describe_segments(
    segments: pd.DataFrame, model: str, metric: str = "ndcg", k: int = 10, kind: str = "activity"
) -> str:
    """One sentence per segment kind: where the chosen model does best and worst."""
    sel = segments[
        (segments["model"] == model)
        & (segments["metric"] == metric)
        & (segments["k"] == k)
        & (segments["segment_kind"] == kind)
    ]
    if sel.empty:
        return f"No {kind} segments to compare for {model}."
    label = metric_label(metric, k)
    cells = ", ".join(
        f"{r.segment} {number(r.value)} (n = {int(r.n):,})" for r in sel.itertuples(index=False)
    )
    best = sel.loc[sel["value"].idxmax()]
    worst = sel.loc[sel["value"].idxmin()]
    text = f"{model}'s {label} by {kind} segment: {cells}."
    if len(sel) > 1 and best["segment"] != worst["segment"]:
        overlap = best["ci_low"] <= worst["ci_high"]
        text += (
            f" It serves {best['segment']} customers best and {worst['segment']} customers worst"
            + (
                "; the intervals overlap, so the gap may be chance."
                if overlap
                else "; the intervals do not overlap."
            )
        )
    if kind == "activity" and "cold" in set(sel["segment"]):
        text += (
            " Cold customers (no history in training) get the popularity fallback unless the model "
            "scores them itself (see the capability table)."
        )
    return text


def describe_tradeoff(
    summary: pd.DataFrame, metric: str = "ndcg", k: int = 10, other: str = "catalog_coverage"
) -> str:
    """Whether the most accurate model is also the most diverse one on ``other``."""
    a = summary[(summary["metric"] == metric) & (summary["k"] == k)].set_index("model")["value"]
    b = summary[(summary["metric"] == other) & (summary["k"] == k)].set_index("model")["value"]
    both = pd.concat([a, b], axis=1, keys=["acc", "oth"]).dropna()
    if len(both) < 2:
        return f"Too few models with both {metric_label(metric, k)} and {metric_label(other, k)}."
    best_acc = both["acc"].idxmax()
    best_oth = both["oth"].idxmax()
    rho = both["acc"].rank().corr(both["oth"].rank())
    text = (
        f"The most accurate model ({best_acc}) has {metric_label(other, k)} "
        f"{number(both.loc[best_acc, 'oth'], 2)}; the highest is {best_oth}'s "
        f"({number(both.loc[best_oth, 'oth'], 2)})."
    )
    if best_acc == best_oth:
        text += " Here accuracy and this beyond-accuracy goal do not conflict."
    elif np.isfinite(rho):
        direction = (
            "rise together" if rho > 0.3 else ("pull apart" if rho < -0.3 else "are unrelated")
        )
        text += f" Across models the two {direction} (rank correlation {rho:+.2f})."
    return text


def describe_significance(significance: pd.DataFrame, alpha: float = 0.05) -> str:
    """How many models the winner beats significantly, which ones it ties with."""
    if significance.empty:
        raise ValueError("describe_significance: the table is empty")
    w = chosen_model(significance)
    label = metric_label(str(significance["metric"].iloc[0]), int(significance["k"].iloc[0]))
    sig = significance["significant"].astype(bool)
    beaten = significance.loc[sig, "model"].astype(str).tolist()
    tied = significance.loc[~sig, "model"].astype(str).tolist()
    text = (
        f"On {label}, {w} is significantly better than {len(beaten)} of the "
        f"{len(significance)} other models (Holm-adjusted paired t-test, level {alpha:g})."
    )
    if tied:
        text += (
            f" It is statistically tied with {', '.join(tied)}: these differences could be chance "
            "on this many customers."
        )
    wil = significance["wilcoxon_pvalue_holm"] <= alpha
    disagree = significance.loc[wil != sig, "model"].astype(str).tolist()
    if disagree:
        text += (
            f" The Wilcoxon signed-rank test disagrees with the t-test for {', '.join(disagree)} "
            "(it compares medians of the per-customer differences, which are often 0 when both "
            "models miss): read those comparisons with care."
        )
    return text


def describe_segment_sizes(customers: pd.DataFrame, light_max: int, min_group_size: int = 0) -> str:
    """How many evaluated customers fall in each activity segment, and the thresholds.

    A segment with fewer than ``min_group_size`` customers is reported as "fewer than N" (and is
    left out of the segment tables).
    """
    n = len(customers)
    counts = customers["segment"].astype(str).value_counts()
    parts = []
    for seg, what in (
        ("cold", "no training history"),
        ("light", f"1 to {light_max} products in training"),
        ("heavy", f"more than {light_max}"),
    ):
        c = int(counts.get(seg, 0))
        if 0 < c < min_group_size:
            parts.append(f"fewer than {min_group_size} {seg} ({what}; not shown below)")
        else:
            parts.append(f"{c:,} {seg} ({what}; {percent(c / n) if n else 'n/a'})")
    return f"Of {n:,} test customers: " + ", ".join(parts) + "."


def describe_tuning(tuning_summary: pd.DataFrame, timing: pd.DataFrame | None = None) -> str:
    """Per tuned model: validation score of the configured and of the chosen values.

    ``timing`` (``Tuning.timing``: ``model, trial, seconds``) adds the seconds spent per model;
    a ``seconds`` column of ``tuning_summary`` is used when no timing table is given. An
    ``n_pruned`` column (trials stopped early) is mentioned when non-zero, and a ``budget``
    column above ``n_trials`` (the search stopped when it no longer improved) as "of N".
    """
    if tuning_summary.empty:
        return "No model was tuned."
    spent: dict[str, float] = {}
    if timing is not None and not timing.empty:
        spent = timing.groupby("model")["seconds"].sum().to_dict()
    elif "seconds" in tuning_summary.columns:
        spent = dict(zip(tuning_summary["model"], tuning_summary["seconds"], strict=True))
    first = tuning_summary.iloc[0]
    label = metric_label(str(first["metric"]), int(first["k"]))
    items = []
    for r in tuning_summary.itertuples(index=False):
        if r.configured_value is not None and np.isfinite(r.configured_value):
            change = f"{number(r.configured_value)} -> {number(r.best_value)}"
            if r.best_value <= r.configured_value:
                change += ", configured values kept"
            elif r.configured_value > 0:
                change += (
                    f" ({percent((r.best_value - r.configured_value) / r.configured_value)} higher)"
                )
        else:
            change = f"best {number(r.best_value)} (configured values outside the space)"
        took = f", {seconds(float(spent[r.model]))}" if r.model in spent else ""
        pruned = int(getattr(r, "n_pruned", 0) or 0)
        stopped = f" ({pruned} stopped early by pruning)" if pruned else ""
        budget = getattr(r, "budget", None)
        cut = budget is not None and pd.notna(budget) and int(budget) > int(r.n_trials)
        of = f" of {int(budget)}" if cut else ""
        stopped += " (search stopped: no longer improving)" if cut else ""
        items.append(f"{r.model}: {change} in {int(r.n_trials)}{of} trials{stopped}{took}")
    return f"Validation {label}, configured -> chosen: " + "; ".join(items) + "."


_MAP_TEXT = {
    "map_min": "`map_min` divides average precision by `min(k, number of relevant items)`, so a "
    "perfect list scores 1 (Microsoft Recommenders' `map_at_k`, Spark's MAP@k)",
    "map_rel": "`map_rel` divides by the number of relevant items, so it can stay below 1 for a "
    "perfect list when a customer has more than k relevant items (TREC, ranx `map@k`)",
    "map_msr": '`map_msr` is the "MAP" column of Microsoft Recommenders\' benchmark table: per '
    "customer the same as `map_rel`, averaged over customers who got a list",
}


def describe_map_variants(metrics: Sequence[str]) -> str:
    """Which MAP definition(s) a table shows, in one sentence (MAP is defined two ways)."""
    shown = [m for m in metrics if m in _MAP_TEXT]
    if not shown:
        return "No MAP variant is shown; all metric definitions are in `recnb.metrics.ranking`."
    return (
        "MAP is defined in more than one way in the field: "
        + "; ".join(_MAP_TEXT[m] for m in shown)
        + "."
    )


def describe_reference(
    reference: ReferenceTable,
    split: Mapping[str, Any],
    k: int,
    pairs: tuple[int, int] | None = None,
) -> str:
    """The protocols behind :func:`recnb.evaluation.leaderboard.beside_reference`: theirs, with its
    source, and ours.

    Parameters
    ----------
    reference : ReferenceTable
    split : mapping
        The run's split settings (:func:`recnb.prep.split.split_info`: ``kind``, ``stratify_by``,
        ``test_fraction``, ``seed``, ...).
    k : int
        The run's list length.
    pairs : (int, int), optional
        Pairs in the run's train and test parts.

    Returns
    -------
    str
        Markdown paragraph.
    """
    kind = str(split.get("kind", "unknown"))
    ours = f"{kind} split"
    if kind == "stratified" and split.get("stratify_by"):
        ours += f" by {split['stratify_by']}"
    if split.get("test_fraction") is not None and kind in ("stratified", "random"):
        ours += f", test share {float(split['test_fraction']):g}"
    if split.get("seed") is not None and kind in ("stratified", "random"):
        ours += f", seed {int(split['seed'])}"
    if pairs is not None:
        ours += f" ({int(pairs[0]):,} training / {int(pairs[1]):,} test pairs)"
    return (
        f"**{reference.title}.** Their protocol: {reference.protocol}. Source: "
        f"{reference.source}. Ours: {ours}; top-{int(k)} lists; products seen in training "
        "removed; hyperparameters chosen on the validation split carved from training, never on "
        "the test part."
    )


def describe_sources(configuration: pd.DataFrame, params_file: str) -> str:
    """Which settings came from the params file, which are the notebook's defaults, which were
    edited in the notebook (from :meth:`recnb.workflow.stage.StageContext.parameter_sources`)."""
    by = configuration.groupby("source", sort=False)["parameter"].apply(list).to_dict()

    def keys(source: str) -> str:
        return ", ".join(f"`{p}`" for p in by.get(source, [])) or "none"

    text = f"Set by the params file ({params_file}): {keys('params file')}."
    kept = by.get("notebook default, kept for the listed models")
    if kept:
        text += (
            f" Notebook defaults kept only for the models the params file lists: "
            f"{keys('notebook default, kept for the listed models')}."
        )
    text += f" Notebook defaults: {keys('notebook default')}."
    if by.get("edited in the notebook"):
        text += (
            f" **Edited in the notebook** (these values ran, not the params file's): "
            f"{keys('edited in the notebook')}."
        )
    return text


def describe_evaluation(customers: pd.DataFrame, models: Sequence[str], ks: Sequence[int]) -> str:
    """How many models were scored on how many test customers, at which list lengths."""
    return (
        f"{len(models)} models were refitted on the training period and scored on "
        f"{len(customers):,} test customers (customers with a relevant held-out product) at "
        f"k = {', '.join(str(k) for k in ks)}."
    )
