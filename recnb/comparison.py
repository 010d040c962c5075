"""Read a model comparison for people: leaderboard, "winner vs rest" table, plain-language summary.

Every sentence here is computed from the result tables of :func:`recnb.evaluation.evaluate_models`
(never typed in a notebook), so it changes when the numbers change. Wording rules:

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

from recnb.metrics import compare_models
from recnb.models.base import Recommender
from recnb.reference import METRIC_COLUMNS, ReferenceTable

__all__ = [
    "beside_reference",
    "describe_reference",
    "describe_map_variants",
    "describe_significance",
    "describe_segment_sizes",
    "describe_tuning",
    "explainable_choice",
    "chosen_model",
    "product_labels",
    "recommendations_with_reasons",
    "sample_customers",
    "METRIC_NAMES",
    "METRIC_MEANINGS",
    "describe_segments",
    "describe_tradeoff",
    "format_leaderboard",
    "leaderboard",
    "metric_label",
    "stakeholder_summary",
    "winner_vs_rest",
]

#: short display names of metrics
METRIC_NAMES: dict[str, str] = {
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1",
    "hit_rate": "Hit rate",
    "mrr": "MRR",
    "ndcg": "NDCG",
    "map_rel": "MAP (÷|relevant|)",
    "map_min": "MAP (÷min(k,|relevant|))",
    "map_msr": "MAP (Microsoft Recommenders)",
    "novelty": "Novelty (bits)",
    "serendipity": "Serendipity",
    "arp": "Avg. rec. popularity",
    "aplt": "Long-tail share",
    "popularity_lift": "Popularity lift",
    "ild_category": "Category diversity",
    "ild_embedding": "Embedding diversity",
    "catalog_coverage": "Catalogue coverage",
    "gini_exposure": "Gini of exposure",
    "rmse": "RMSE",
    "mae": "MAE",
}

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


def metric_label(metric: str, k: int | None = None) -> str:
    """``"ndcg", 10`` -> ``"NDCG@10"``."""
    name = METRIC_NAMES.get(metric, metric)
    return f"{name}@{k}" if k else name


def _fmt(x: float, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%" if abs(x) >= 0.095 else f"{100 * x:.1f}%"


def _seconds(s: float) -> str:
    if s < 0.001:
        return "under 1 ms"
    if s < 1:
        return f"{1000 * s:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min"


def _rate(r: float) -> str:
    if not np.isfinite(r):
        return "too fast to time"
    return f"{r:,.0f}" if r >= 10 else f"{r:.1f}"


def leaderboard(
    summary: pd.DataFrame,
    timing: pd.DataFrame | None = None,
    metrics: Sequence[str] = ("ndcg", "precision", "recall", "map_min"),
    k: int = 10,
    beyond: Sequence[str] = ("catalog_coverage", "novelty", "gini_exposure", "aplt"),
    rating: pd.DataFrame | None = None,
    sort_by: str | None = None,
) -> pd.DataFrame:
    """One row per model: accuracy at ``k`` with intervals, beyond-accuracy, cost.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``model, metric, k, value, ci_low, ci_high`` (``Evaluation.summary``).
    timing : pandas.DataFrame, optional
        ``Evaluation.timing``.
    metrics : sequence of str
        Accuracy columns; the first sorts the table unless ``sort_by`` is given.
    k : int
        Cut-off of every metric column.
    beyond : sequence of str
        Beyond-accuracy columns (those present in ``summary``).
    rating : pandas.DataFrame, optional
        ``Evaluation.rating`` (RMSE/MAE columns for the models that predict ratings).
    sort_by : str, optional
        Metric to rank by (default ``metrics[0]``).

    Returns
    -------
    pandas.DataFrame
        ``rank, model``, then for each metric ``<metric>``, ``<metric>_low``, ``<metric>_high``;
        beyond-accuracy values; ``rmse``/``mae`` when given; ``fit_seconds``,
        ``customers_per_second``, ``fit_peak_mb``. Sorted best first.
    """
    sort_by = sort_by or metrics[0]
    at_k = summary[summary["k"] == k]
    missing = [m for m in metrics if m not in set(at_k["metric"])]
    if missing:
        raise ValueError(f"leaderboard: metric(s) {missing} at k={k} not in the summary table")
    models = list(dict.fromkeys(summary["model"]))
    out = pd.DataFrame({"model": models})
    for m in [*metrics, *[b for b in beyond if b in set(at_k["metric"])]]:
        sel = at_k[at_k["metric"] == m].set_index("model")
        out[m] = out["model"].map(sel["value"])
        if m in metrics:
            out[f"{m}_low"] = out["model"].map(sel["ci_low"])
            out[f"{m}_high"] = out["model"].map(sel["ci_high"])
    if rating is not None and not rating.empty:
        for m in ("rmse", "mae"):
            sel = rating[rating["metric"] == m].set_index("model")["value"]
            out[m] = out["model"].map(sel)
    out = add_cost(out, timing)
    if sort_by not in out.columns:
        raise ValueError(f"leaderboard: cannot sort by {sort_by!r}; columns are {list(out)}")
    out = out.sort_values(sort_by, ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


#: measured columns :func:`add_cost` joins to a leaderboard (they differ between two runs)
COST_COLUMNS = ("fit_seconds", "customers_per_second", "fit_peak_mb")


def add_cost(board: pd.DataFrame, timing: pd.DataFrame | None) -> pd.DataFrame:
    """The leaderboard with the measured cost columns of ``timing`` joined per model.

    The results file ``leaderboard`` is written without them, so that it repeats byte for byte
    between two runs of the same params; the measured times are in the ``timing`` table.
    """
    out = board.copy()
    if timing is not None and not timing.empty:
        t = timing.set_index("model")
        for c in COST_COLUMNS:
            if c in t.columns:
                out[c] = out["model"].map(t[c])
    return out


def format_leaderboard(lb: pd.DataFrame, metrics: Sequence[str], k: int) -> pd.DataFrame:
    """Display version of :func:`leaderboard`: "0.123 [0.110, 0.135]" cells, readable headers."""
    out = pd.DataFrame({"#": lb["rank"], "model": lb["model"]})
    for m in metrics:
        out[f"{metric_label(m, k)} [95% CI]"] = [
            f"{_fmt(v)} [{_fmt(lo)}, {_fmt(hi)}]"
            for v, lo, hi in zip(lb[m], lb[f"{m}_low"], lb[f"{m}_high"], strict=True)
        ]
    skip = {
        "rank",
        "model",
        *metrics,
        *[f"{m}_low" for m in metrics],
        *[f"{m}_high" for m in metrics],
    }
    for c in lb.columns:
        if c in skip:
            continue
        if c == "fit_seconds":
            out["training time"] = [_seconds(s) for s in lb[c]]
        elif c == "customers_per_second":
            out["customers / s"] = [_rate(r) for r in lb[c]]
        elif c == "fit_peak_mb":
            out["training memory (MB)"] = [f"{v:,.0f}" for v in lb[c]]
        elif c in ("catalog_coverage", "aplt"):
            out[metric_label(c, k)] = [_pct(v) if np.isfinite(v) else "n/a" for v in lb[c]]
        else:
            digits = 2 if c == "novelty" else 3
            out[metric_label(c, k) if c not in ("rmse", "mae") else METRIC_NAMES[c]] = [
                _fmt(v, digits) for v in lb[c]
            ]
    return out


def winner_vs_rest(
    per_customer: pd.DataFrame,
    metric: str = "ndcg",
    k: int = 10,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Paired comparison of the best model with every other (Holm-corrected).

    A thin wrapper around :func:`recnb.metrics.compare_models` that adds ``relative_diff``
    (``mean_diff / mean_model``, NaN when the other model scores 0).
    """
    table = compare_models(
        per_customer, metric, k, n_boot=n_bootstrap, alpha=alpha, seed=seed
    ).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = table["mean_diff"] / table["mean_model"]
    table.insert(
        table.columns.get_loc("mean_diff") + 1, "relative_diff", rel.where(table["mean_model"] > 0)
    )
    return table


def _value(summary: pd.DataFrame, model: str, metric: str, k: int, col: str = "value") -> float:
    sel = summary[(summary["model"] == model) & (summary["metric"] == metric) & (summary["k"] == k)]
    return float(sel[col].iloc[0]) if len(sel) else float("nan")


def _relative(a: float, b: float) -> str:
    """How a compares with b, to be followed by "b": "5.8% higher than", "2.5 times as high as"."""
    if b > 0:
        r = (a - b) / b
        if r >= 1.0:
            return f"{a / b:.1f} times as high as"
        return f"{_pct(r)} higher than"
    return f"{_fmt(a - b)} higher than (from zero)"


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
        :func:`winner_vs_rest` for the same ``metric`` and ``k``.
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
        f"{label} {_fmt(v)} (95% confidence interval {_fmt(lo)} to {_fmt(hi)}, "
        f"{n:,} test customers)" + (f"; {label} measures {meaning}." if meaning else ".")
    ]
    runner = significance.iloc[0]
    ru = str(runner["model"])
    p = float(runner["t_pvalue_holm"])
    if bool(runner["significant"]):
        parts.append(
            f"It scores {_relative(v, float(runner['mean_model']))} the runner-up, {ru} "
            f"({_fmt(float(runner['mean_model']))}), and the difference is statistically "
            f"significant (paired t-test, Holm-adjusted p = {p:.2g}), so it is unlikely to be "
            "chance."
        )
    else:
        parts.append(
            f"The runner-up, {ru} ({_fmt(float(runner['mean_model']))}), is statistically tied "
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
            f"baseline ({_fmt(float(b['mean_model']))}), {word}."
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
        sentence = f"Its lists use {_pct(cov)} of the catalogue"
        if baseline and baseline != winner:
            cb = _value(summary, baseline, "catalog_coverage", k)
            if np.isfinite(cb):
                sentence += f" ({baseline}: {_pct(cb)})"
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
        f"It trains in {_seconds(float(t.loc[winner, 'fit_seconds']))} and serves "
        f"{_rate(float(t.loc[winner, 'customers_per_second']))} customers per second on the "
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
            f"{_seconds(float(t.loc[m, 'fit_seconds']))}."
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
        f"{r.segment} {_fmt(r.value)} (n = {int(r.n):,})" for r in sel.itertuples(index=False)
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
        f"{_fmt(both.loc[best_acc, 'oth'], 2)}; the highest is {best_oth}'s "
        f"({_fmt(both.loc[best_oth, 'oth'], 2)})."
    )
    if best_acc == best_oth:
        text += " Here accuracy and this beyond-accuracy goal do not conflict."
    elif np.isfinite(rho):
        direction = (
            "rise together" if rho > 0.3 else ("pull apart" if rho < -0.3 else "are unrelated")
        )
        text += f" Across models the two {direction} (rank correlation {rho:+.2f})."
    return text


def chosen_model(significance: pd.DataFrame) -> str:
    """The winner of a :func:`winner_vs_rest` table."""
    if significance.empty:
        raise ValueError("chosen_model: the significance table is empty")
    return str(significance["reference"].iloc[0])


def sample_customers(customers: pd.DataFrame, n: int = 3, seed: int | None = 0) -> list[str]:
    """Pick ``n`` evaluation customers to show, one per activity segment in turn (seeded).

    Parameters
    ----------
    customers : pandas.DataFrame
        ``Evaluation.customers`` (``customer_id``, ``segment``).
    n : int
        How many.
    seed : int or None
        Seed of the draw.

    Returns
    -------
    list of str
        Customer ids, heavy first, then light, then cold, repeating.
    """
    rng = np.random.default_rng(seed)
    pools = {
        s: list(rng.permutation(customers.loc[customers["segment"] == s, "customer_id"].to_numpy()))
        for s in ("heavy", "light", "cold")
    }
    out: list[str] = []
    while len(out) < n and any(pools.values()):
        for s in ("heavy", "light", "cold"):
            if pools[s] and len(out) < n:
                out.append(str(pools[s].pop(0)))
    return out


def product_labels(products: pd.DataFrame | None, product_ids: Sequence[str]) -> pd.Series:
    """A short readable name per product id: title, else description, else category, else id."""
    ids = pd.Index(np.asarray(product_ids, dtype=object).astype(str))
    if products is None or products.empty:
        return pd.Series(ids, index=ids)
    p = (
        products.assign(product_id=products["product_id"].astype(str))
        .drop_duplicates("product_id")
        .set_index("product_id")
    )
    label = pd.Series(np.nan, index=p.index, dtype=object)
    for col in ("title", "description", "category"):
        if col in p.columns:
            text = p[col].astype("string").str.strip().str.slice(0, 48)
            label = label.fillna(text.where(text.str.len() > 0))
    label = label.fillna(pd.Series(p.index, index=p.index))
    return label.reindex(ids).fillna(pd.Series(ids, index=ids))


def recommendations_with_reasons(
    model: Recommender,
    customer_ids: Sequence[str],
    k: int = 5,
    products: pd.DataFrame | None = None,
    n_reasons: int = 3,
) -> pd.DataFrame:
    """The model's top-``k`` for a few customers, each with its strongest explanation terms.

    Parameters
    ----------
    model : Recommender
        A fitted model.
    customer_ids : sequence of str
        Customers to show.
    k : int
        List length.
    products : pandas.DataFrame, optional
        Products table, for readable names.
    n_reasons : int
        Contributions listed per recommendation (highest first).

    Returns
    -------
    pandas.DataFrame
        ``customer_id, rank, product_id, product, score, because``; ``because`` lists the top
        contributors with their contribution ("" when the model cannot explain). Contributions of
        other customers (user-kNN neighbours) are pooled into one reason, so no other customer is
        named.
    """
    recs = model.recommend(list(customer_ids), k=k)
    names = product_labels(products, model.product_ids_)
    recs["product"] = recs["product_id"].astype(str).map(names).to_numpy()
    reasons = []
    for c, p in zip(recs["customer_id"], recs["product_id"], strict=True):
        if not model.can_explain:
            reasons.append("")
            continue
        ex = model.explain(c, p)
        terms = []
        # other customers are never named in a report, not even by pseudonym: their
        # contributions are pooled into one reason
        peers = ex[ex["kind"] == "neighbour"]
        if len(peers):
            terms.append(
                f"{len(peers)} similar customer{'s' if len(peers) > 1 else ''} chose it "
                f"(neighbour, {peers['contribution'].sum():+.3g})"
            )
        for r in ex[ex["kind"] != "neighbour"].head(n_reasons).itertuples(index=False):
            who = names.get(str(r.contributor), str(r.contributor))
            terms.append(f"{who} ({r.kind}, {r.contribution:+.3g})")
        reasons.append("; ".join(terms))
    recs["because"] = reasons
    return recs[["customer_id", "rank", "product_id", "product", "score", "because"]]


def explainable_choice(significance: pd.DataFrame, runs: Mapping[str, Any]) -> str:
    """The winner if it can explain its scores, else the best-ranked model that can.

    Parameters
    ----------
    significance : pandas.DataFrame
        :func:`winner_vs_rest` table (winner in ``reference``, others best first).
    runs : mapping
        ``label -> ModelRun`` (``Evaluation.runs``).
    """
    order = [chosen_model(significance), *significance["model"].astype(str)]
    for label in order:
        if label in runs and runs[label].model.can_explain:
            return label
    raise ValueError(f"none of the models {order} can explain its scores")


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
            parts.append(f"{c:,} {seg} ({what}; {_pct(c / n) if n else 'n/a'})")
    return f"Of {n:,} test customers: " + ", ".join(parts) + "."


def describe_tuning(tuning_summary: pd.DataFrame, timing: pd.DataFrame | None = None) -> str:
    """Per tuned model: validation score of the configured and of the chosen values.

    ``timing`` (``Tuning.timing``: ``model, trial, seconds``) adds the seconds spent per model;
    a ``seconds`` column of ``tuning_summary`` is used when no timing table is given.
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
            change = f"{_fmt(r.configured_value)} -> {_fmt(r.best_value)}"
            if r.best_value <= r.configured_value:
                change += ", configured values kept"
            elif r.configured_value > 0:
                change += (
                    f" ({_pct((r.best_value - r.configured_value) / r.configured_value)} higher)"
                )
        else:
            change = f"best {_fmt(r.best_value)} (configured values outside the space)"
        took = f", {_seconds(float(spent[r.model]))}" if r.model in spent else ""
        items.append(f"{r.model}: {change} in {int(r.n_trials)} trials{took}")
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


def beside_reference(
    board: pd.DataFrame,
    reference: ReferenceTable,
    k: int,
    tuned: Sequence[str] = (),
    metric: str = "ndcg",
) -> pd.DataFrame:
    """This run's leaderboard rows above a published reference table's, in the same columns.

    Parameters
    ----------
    board : pandas.DataFrame
        :func:`leaderboard` (``model``, metric columns, ``<metric>_low/_high``).
    reference : ReferenceTable
        The published table (:func:`recnb.reference.reference_table`).
    k : int
        The run's list length; must equal the reference's (its figures are at a fixed k).
    tuned : sequence of str
        Models whose hyperparameters were tuned on validation (the others are "as configured").
    metric : str
        Metric whose 95% interval is shown (``<metric>_low``, ``<metric>_high``; this run only).

    Returns
    -------
    pandas.DataFrame
        ``source`` ("this run" or the reference's name), ``model``, ``settings`` (how the figures'
        hyperparameters were chosen), then ``ndcg, <metric>_low, <metric>_high, precision,
        recall, map_msr`` at ``k`` (NaN where not measured or not published).

    Raises
    ------
    ValueError
        When ``k`` differs from the reference's list length.
    """
    if int(k) != reference.k:
        raise ValueError(
            f"reference table {reference.name!r} holds figures at k={reference.k}; this run's "
            f"primary k is {k}: the two cannot be put side by side"
        )
    metrics = list(METRIC_COLUMNS.values())
    tuned = set(tuned)
    ours = pd.DataFrame(
        {
            "source": "this run",
            "model": board["model"].astype(str),
            "settings": [
                "tuned on validation" if m in tuned else "as configured" for m in board["model"]
            ],
        }
    )
    for m in metrics:
        ours[m] = board[m].to_numpy(float) if m in board.columns else np.nan
    for end in ("low", "high"):
        col = f"{metric}_{end}"
        ours[col] = board[col].to_numpy(float) if col in board.columns else np.nan
    ref = reference.rows()
    theirs = pd.DataFrame(
        {
            "source": reference.name,
            "model": ref["algo"].astype(str),
            "settings": _reference_settings(ref),
        }
    )
    for col, m in METRIC_COLUMNS.items():
        theirs[m] = ref[col].to_numpy(float) if col in ref.columns else np.nan
    for end in ("low", "high"):
        theirs[f"{metric}_{end}"] = np.nan
    cols = ["source", "model", "settings", metric, f"{metric}_low", f"{metric}_high"]
    cols += [m for m in metrics if m != metric]
    return pd.concat([ours, theirs], ignore_index=True)[cols]


def _reference_settings(ref: pd.DataFrame) -> list[str]:
    settings = (
        ref["settings"].fillna("") if "settings" in ref.columns else pd.Series([""] * len(ref))
    )
    kind = ref["kind"].fillna("") if "kind" in ref.columns else pd.Series([""] * len(ref))
    out = []
    for s, kd in zip(settings.astype(str), kind.astype(str), strict=True):
        if kd == "upper reference":
            out.append(f"{s} (upper reference, not a result)" if s else "upper reference")
        elif s:
            out.append(s)
        else:
            out.append("as published")
    return out


def describe_reference(
    reference: ReferenceTable,
    split: Mapping[str, Any],
    k: int,
    pairs: tuple[int, int] | None = None,
) -> str:
    """The protocols behind :func:`beside_reference`: theirs, with its source, and ours.

    Parameters
    ----------
    reference : ReferenceTable
    split : mapping
        The run's split settings (:func:`recnb.split.split_info`: ``kind``, ``stratify_by``,
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
