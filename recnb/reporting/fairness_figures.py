"""Figures of the fairness report (notebook 04). Each takes a tidy table, returns a Figure.

Tables come from :mod:`recnb.fairness.stage`; whiskers are the bootstrap 95% intervals stored
with them. Suppressed groups never reach a figure (they have no value).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = [
    "exposure_bars",
    "fidelity_bars",
    "gap_forest",
    "group_bars",
    "lift_bars",
    "provider_bars",
    "tradeoff_curves",
]

_STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 9,
}
_LABELS = {
    "ndcg": "NDCG",
    "recall": "recall",
    "hit_rate": "hit rate",
    "mrr": "MRR",
    "arp": "average popularity",
    "aplt": "long-tail share",
    "popularity_lift": "popularity lift",
    "calibration_kl": "calibration KL",
    "expected_clicks": "true expected clicks",
    "long_tail_share": "long-tail share",
    "small_seller_exposure": "small sellers' exposure share",
    "protected_share": "protected share",
}


def _label(metric: str, k: int | None = None) -> str:
    name = _LABELS.get(metric, metric)
    return f"{name}@{k}" if k and metric in ("ndcg", "recall", "hit_rate", "mrr") else name


def _colors(models: Sequence[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    return {m: cmap(i % cmap.N) for i, m in enumerate(models)}


def _err(
    d: pd.DataFrame, value: str = "value", low: str = "ci_low", high: str = "ci_high"
) -> np.ndarray:
    lo = (d[value] - d[low]).clip(lower=0).to_numpy(dtype=float)
    hi = (d[high] - d[value]).clip(lower=0).to_numpy(dtype=float)
    return np.vstack([np.nan_to_num(lo), np.nan_to_num(hi)])


def group_bars(
    by_group: pd.DataFrame, metric: str, models: Sequence[str], k: int | None = None
) -> plt.Figure:
    """One panel per attribute: the metric per group (x) and model (colour), 95% intervals.

    Only compared groups are drawn; the dashed line is each model's mean over all customers.
    """
    sel = by_group[(by_group["metric"] == metric) & by_group["model"].isin(models)]
    attrs = list(dict.fromkeys(sel["attribute"]))
    if not attrs:
        raise ValueError(f"group_bars: no group values for {metric}")
    colors = _colors(list(models))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(len(attrs), 1, figsize=(8.0, 2.6 * len(attrs)), squeeze=False)
        for ax, a in zip(axes[:, 0], attrs, strict=True):
            d = sel[(sel["attribute"] == a) & sel["compared"]]
            groups = list(dict.fromkeys(d["group"]))
            width = 0.8 / len(models)
            x = np.arange(len(groups))
            for i, m in enumerate(models):
                dm = d[d["model"] == m].set_index("group").reindex(groups)
                ax.bar(x + i * width, dm["value"], width, color=colors[m], label=m, alpha=0.85)
                ax.errorbar(
                    x + i * width,
                    dm["value"],
                    yerr=_err(dm),
                    fmt="none",
                    ecolor="black",
                    lw=0.8,
                    capsize=1.5,
                )
                overall = sel[
                    (sel["attribute"] == a)
                    & (sel["group"] == "all customers")
                    & (sel["model"] == m)
                ]
                if len(overall):
                    ax.axhline(float(overall["value"].iloc[0]), color=colors[m], ls="--", lw=0.8)
            n = d.groupby("group", sort=False)["n"].max().reindex(groups)
            ax.set_xticks(
                x + width * (len(models) - 1) / 2,
                [f"{g}\n(n = {int(c):,})" for g, c in zip(groups, n, strict=True)],
                fontsize=7,
            )
            ax.set_ylabel(_label(metric, k))
            ax.set_title(f"by {a}", fontsize=9)
            ax.grid(axis="x", visible=False)
        axes[0, 0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        fig.suptitle(
            f"{_label(metric, k)} per customer group (whiskers: 95% CI; dashed: all customers)",
            fontsize=10,
        )
        fig.tight_layout()
    return fig


def gap_forest(
    gaps: pd.DataFrame, metric: str, alpha: float = 0.05, k: int | None = None
) -> plt.Figure:
    """The gap (largest minus smallest group mean) of every model and attribute with its 95% CI.

    Filled markers: the permutation test within activity levels rejects "no gap" at ``alpha``
    after Holm's correction; open markers: it does not.
    """
    sel = gaps[(gaps["metric"] == metric) & gaps["difference"].notna()]
    if sel.empty:
        raise ValueError(f"gap_forest: no gaps for {metric}")
    attrs = list(dict.fromkeys(sel["attribute"]))
    models = list(dict.fromkeys(sel["model"]))
    colors = _colors(attrs)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(8.0, 0.32 * len(models) * max(1, len(attrs)) / 1.5 + 1.5))
        y0 = np.arange(len(models))
        step = 0.8 / len(attrs)
        for j, a in enumerate(attrs):
            d = sel[sel["attribute"] == a].set_index("model").reindex(models)
            y = y0 + j * step
            sig = (d["p_holm"] <= alpha).to_numpy()
            ax.errorbar(
                d["difference"], y, xerr=_err(d, "difference", "difference_ci_low", "difference_ci_high"),
                fmt="none", ecolor=colors[a], lw=0.8, capsize=1.5,
            )  # fmt: skip
            ax.scatter(d["difference"][sig], y[sig], color=colors[a], s=22, label=f"{a}")
            ax.scatter(
                d["difference"][~sig], y[~sig], facecolors="white", edgecolors=colors[a], s=22
            )
        ax.set_yticks(y0 + step * (len(attrs) - 1) / 2, models)
        ax.invert_yaxis()
        ax.set_xlabel(f"gap in {_label(metric, k)} between the best and worst served group")
        ax.axvline(0, color="0.4", lw=0.8)
        ax.legend(
            fontsize=7,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            title="filled: significant",
        )
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
    return fig


def exposure_bars(catalogue: pd.DataFrame, order: Sequence[str] | None = None) -> plt.Figure:
    """Gini of exposure, catalogue coverage and long-tail share per model; the data's Gini dashed."""
    data = catalogue[catalogue["model"].str.startswith("data")]
    t = catalogue[~catalogue["model"].str.startswith("data")]
    if order is not None:
        t = t.set_index("model").reindex([m for m in order if m in set(t["model"])]).reset_index()
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(11, 0.3 * len(t) + 1.6), sharey=True)
        y = np.arange(len(t))
        for ax, col, title in zip(
            axes, ("gini", "coverage", "aplt"), ("Gini of exposure (0 = equal)", "catalogue coverage", "long-tail share of the lists"),
            strict=True,
        ):  # fmt: skip
            ax.barh(y, t[col], color="#4c72b0")
            ax.set_title(title, fontsize=9)
            ax.set_xlim(0, 1)
            ax.grid(axis="y", visible=False)
        if len(data) and np.isfinite(data["gini"].iloc[0]):
            axes[0].axvline(
                float(data["gini"].iloc[0]), color="#c44e52", ls="--", lw=1, label="training data"
            )
            axes[0].legend(fontsize=7, loc="lower left")
        axes[0].set_yticks(y, t["model"])
        axes[0].invert_yaxis()
        fig.tight_layout()
    return fig


def lift_bars(lift: pd.DataFrame, attribute: str, models: Sequence[str]) -> plt.Figure:
    """Popularity of what each group consumed (grey) and of what each model showed it (colours)."""
    d = lift[(lift["attribute"] == attribute) & lift["model"].isin(models)]
    if d.empty:
        raise ValueError(f"lift_bars: no popularity lift for {attribute}")
    groups = list(dict.fromkeys(d["group"].astype(str)))
    colors = _colors(list(models))
    width = 0.8 / (len(models) + 1)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(8.0, 3.2))
        x = np.arange(len(groups))
        prof = (
            d.drop_duplicates("group")
            .set_index(d.drop_duplicates("group")["group"].astype(str))["gap_profile"]
            .reindex(groups)
        )
        ax.bar(x, prof, width, color="0.6", label="consumed (training data)")
        for i, m in enumerate(models):
            dm = (
                d[d["model"] == m]
                .set_index(d[d["model"] == m]["group"].astype(str))
                .reindex(groups)
            )
            ax.bar(
                x + (i + 1) * width,
                dm["gap_recommended"],
                width,
                color=colors[m],
                label=f"shown by {m}",
            )
        ax.set_xticks(x + width * len(models) / 2, groups, fontsize=7)
        ax.set_ylabel("average popularity (share of customers)")
        ax.set_title(
            f"Popularity of what each {attribute} group consumed and was shown", fontsize=10
        )
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.grid(axis="x", visible=False)
        fig.tight_layout()
    return fig


def provider_bars(providers: pd.DataFrame) -> plt.Figure:
    """Small sellers' share of exposure per model (CI) against their share of relevant items and
    of the catalogue; and the disparate treatment ratio (1 = exposure in proportion to relevance)."""
    t = providers.reset_index(drop=True)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 0.3 * len(t) + 1.6), sharey=True)
        y = np.arange(len(t))
        axes[0].barh(
            y,
            t["exposure_share"],
            color="#4c72b0",
            xerr=_err(t, "exposure_share", "exposure_share_ci_low", "exposure_share_ci_high"),
        )
        axes[0].axvline(
            float(t["relevant_share"].iloc[0]),
            color="#c44e52",
            ls="--",
            lw=1,
            label="share of relevant items",
        )
        axes[0].axvline(
            float(t["catalogue_share"].iloc[0]),
            color="0.4",
            ls=":",
            lw=1,
            label="share of the catalogue",
        )
        axes[0].set_title("small sellers' share of expected examinations", fontsize=9)
        axes[0].legend(fontsize=7, loc="lower right")
        axes[1].barh(
            y,
            t["dt_ratio"],
            color="#55a868",
            xerr=_err(t, "dt_ratio", "dt_ratio_ci_low", "dt_ratio_ci_high"),
        )
        axes[1].axvline(1.0, color="0.3", lw=1)
        axes[1].set_title("disparate treatment ratio (1 = fair)", fontsize=9)
        axes[0].set_yticks(y, t["model"])
        axes[0].invert_yaxis()
        for ax in axes:
            ax.grid(axis="y", visible=False)
        fig.tight_layout()
    return fig


def tradeoff_curves(
    table: pd.DataFrame, model: str, recommended: pd.DataFrame | None = None
) -> plt.Figure:
    """One panel per method: NDCG change (%) against the change of the target, over strengths.

    Whiskers are 95% intervals (paired bootstrap on the report half); the ring marks the
    recommended setting.
    """
    d = table[table["model"] == model]
    methods = list(dict.fromkeys(d["method"]))
    if not methods:
        raise ValueError(f"tradeoff_curves: no curves for {model}")
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(methods), figsize=(3.3 * len(methods), 3.2), squeeze=False)
        for ax, method in zip(axes[0], methods, strict=True):
            m = d[d["method"] == method].sort_values("strength")
            x, yv = m["value_change"], 100 * m["ndcg_change"]
            ax.errorbar(
                x, yv,
                xerr=_err(m, "value_change", "value_change_ci_low", "value_change_ci_high"),
                yerr=100 * _err(m, "ndcg_change", "ndcg_change_ci_low", "ndcg_change_ci_high"),
                fmt="o-", ms=3, lw=1, capsize=1.5, color="#4c72b0",
            )  # fmt: skip
            for r in m.itertuples(index=False):
                ax.annotate(
                    f"{r.strength:g}",
                    (r.value_change, 100 * r.ndcg_change),
                    fontsize=6,
                    xytext=(3, 3),
                    textcoords="offset points",
                )
            if recommended is not None:
                rec = recommended[
                    (recommended["model"] == model) & (recommended["method"] == method)
                ]
                if len(rec) and bool(rec["mitigated"].iloc[0]):
                    ax.scatter(
                        rec["value_change"],
                        100 * rec["ndcg_change"],
                        s=120,
                        facecolors="none",
                        edgecolors="#c44e52",
                        lw=1.5,
                    )
            ax.axhline(0, color="0.5", lw=0.6)
            ax.axvline(0, color="0.5", lw=0.6)
            ax.set_title(method.replace("_", " "), fontsize=9)
            ax.set_xlabel(f"change of {_label(str(m['target'].iloc[0]))}")
            ax.set_ylabel("NDCG change, %")
        fig.suptitle(f"{model}: what each re-ranker buys and costs (labels: strength)", fontsize=10)
        fig.tight_layout()
    return fig


def fidelity_bars(summary: pd.DataFrame) -> plt.Figure:
    """Per explaining model: share of explanations whose top reason lowers the score when removed,
    coverage (share with a personal reason) and stability across seeds."""
    t = summary.reset_index(drop=True)
    cols = [
        ("lowered_share", "deleting the top reason lowers the score"),
        ("coverage", "has a personal reason"),
        ("stability", "top-3 reasons stable across seeds"),
    ]
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(11, 0.3 * len(t) + 1.6), sharey=True)
        y = np.arange(len(t))
        for ax, (col, title) in zip(axes, cols, strict=True):
            ax.barh(y, t[col].fillna(0), color="#4c72b0")
            det = t["deterministic"] if "deterministic" in t.columns else [False] * len(t)
            for yi, v, d in zip(y, t[col], det, strict=True):
                if not np.isfinite(v):
                    why = (
                        "deterministic: same reasons"
                        if col == "stability" and d
                        else "not measured"
                    )
                    ax.text(0.02, yi, why, va="center", fontsize=7, color="0.4")
            ax.set_xlim(0, 1)
            ax.set_title(title, fontsize=9)
            ax.grid(axis="y", visible=False)
        axes[0].axvline(0.95, color="#c44e52", ls="--", lw=1)
        axes[0].set_yticks(y, t["model"])
        axes[0].invert_yaxis()
        fig.tight_layout()
    return fig
