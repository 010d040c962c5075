"""Figures of the model-comparison report (notebook 03). Each takes a tidy table, returns a Figure.

Tables come from :mod:`recnb.evaluation` / :mod:`recnb.evaluation.tuning`; error bars are the bootstrap 95%
confidence intervals stored with them (``ci_low``, ``ci_high``).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from recnb.reporting.formatting import metric_label  # noqa: E402

__all__ = [
    "metric_bars",
    "precision_recall",
    "segment_bars",
    "timing_bars",
    "tradeoff",
    "tuning_history",
]

_STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 9,
}


def _colors(models: Sequence[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(models) <= 10 else "tab20")
    return {m: cmap(i % cmap.N) for i, m in enumerate(models)}


def _order(summary: pd.DataFrame, metric: str, k: int) -> list[str]:
    sel = summary[(summary["metric"] == metric) & (summary["k"] == k)]
    return sel.sort_values("value", ascending=False, kind="stable")["model"].tolist()


def _errors(sel: pd.DataFrame) -> np.ndarray:
    low = (sel["value"] - sel["ci_low"]).clip(lower=0).to_numpy(dtype=float)
    high = (sel["ci_high"] - sel["value"]).clip(lower=0).to_numpy(dtype=float)
    return np.vstack([np.nan_to_num(low), np.nan_to_num(high)])


def metric_bars(
    summary: pd.DataFrame, metrics: Sequence[str], k: int, order_by: str | None = None
) -> plt.Figure:
    """One panel per metric: horizontal bars per model with 95% interval whiskers."""
    order = _order(summary, order_by or metrics[0], k)
    colors = _colors(list(dict.fromkeys(summary["model"])))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(
            1,
            len(metrics),
            figsize=(3.2 * len(metrics) + 1.2, 0.32 * len(order) + 1.3),
            sharey=True,
            squeeze=False,
        )
        for ax, m in zip(axes[0], metrics, strict=True):
            sel = summary[(summary["metric"] == m) & (summary["k"] == k)].set_index("model")
            sel = sel.reindex([o for o in order if o in sel.index])
            y = np.arange(len(sel))
            ax.barh(y, sel["value"], color=[colors[o] for o in sel.index], alpha=0.85)
            ax.errorbar(
                sel["value"], y, xerr=_errors(sel), fmt="none", ecolor="black", lw=1, capsize=2
            )
            ax.set_yticks(y, sel.index)
            ax.invert_yaxis()
            ax.set_title(metric_label(m, k))
            ax.grid(axis="y", visible=False)
        fig.suptitle(
            "Accuracy per model (bars: mean over test customers; whiskers: 95% CI)", fontsize=10
        )
        fig.tight_layout()
    return fig


def precision_recall(summary: pd.DataFrame, models: Sequence[str] | None = None) -> plt.Figure:
    """Precision against recall as the list grows (one line per model, points at each k)."""
    p = summary[summary["metric"] == "precision"].set_index(["model", "k"])["value"]
    r = summary[summary["metric"] == "recall"].set_index(["model", "k"])["value"]
    both = pd.concat([p, r], axis=1, keys=["precision", "recall"]).dropna().reset_index()
    models = list(models) if models is not None else list(dict.fromkeys(summary["model"]))
    colors = _colors(list(dict.fromkeys(summary["model"])))
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for m in models:
            d = both[both["model"] == m].sort_values("k")
            if d.empty:
                continue
            ax.plot(d["recall"], d["precision"], "o-", color=colors[m], label=m, ms=4)
        for k, d in both.groupby("k"):
            top = d.loc[d["precision"].idxmax()]
            ax.annotate(
                f"k={k}",
                (top["recall"], top["precision"]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
                color="0.3",
            )
        ax.set_xlabel("recall@k")
        ax.set_ylabel("precision@k")
        ax.set_title("Precision and recall as the list grows (k = list length)")
        ax.legend(fontsize=7, loc="best", ncol=2 if len(models) > 6 else 1)
        fig.tight_layout()
    return fig


def tradeoff(
    summary: pd.DataFrame,
    k: int,
    accuracy: str = "ndcg",
    others: Sequence[str] = ("catalog_coverage", "novelty"),
) -> plt.Figure:
    """Accuracy (y) against beyond-accuracy goals (x), one point per model with CI whiskers."""
    present = [o for o in others if ((summary["metric"] == o) & (summary["k"] == k)).any()]
    if not present:
        raise ValueError(f"tradeoff: none of {list(others)} at k={k} in the summary")
    acc = summary[(summary["metric"] == accuracy) & (summary["k"] == k)].set_index("model")
    colors = _colors(list(dict.fromkeys(summary["model"])))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(present), figsize=(5.2 * len(present), 4.2), squeeze=False)
        for ax, o in zip(axes[0], present, strict=True):
            oth = summary[(summary["metric"] == o) & (summary["k"] == k)].set_index("model")
            common = [m for m in acc.index if m in oth.index]
            for m in common:
                ax.errorbar(
                    oth.loc[m, "value"],
                    acc.loc[m, "value"],
                    xerr=_errors(oth.loc[[m]]),
                    yerr=_errors(acc.loc[[m]]),
                    fmt="o",
                    color=colors[m],
                    ms=6,
                    capsize=2,
                    lw=1,
                )
                ax.annotate(
                    m,
                    (oth.loc[m, "value"], acc.loc[m, "value"]),
                    textcoords="offset points",
                    xytext=(5, 3),
                    fontsize=8,
                )
            xs = oth.loc[common, "value"].to_numpy(dtype=float)
            if len(xs) and xs.min() > 0 and xs.max() / xs.min() > 20:
                ax.set_xscale("log")  # e.g. coverage from 1% (popularity) to 100% (random)
            ax.set_xlabel(metric_label(o, k) + (" (log)" if ax.get_xscale() == "log" else ""))
            ax.set_ylabel(metric_label(accuracy, k))
            ax.set_title(f"{metric_label(accuracy, k)} vs {metric_label(o, k)}")
        fig.tight_layout()
    return fig


def segment_bars(
    segments: pd.DataFrame,
    metric: str,
    k: int,
    kind: str = "activity",
    models: Sequence[str] | None = None,
) -> plt.Figure:
    """Grouped bars: the metric per segment (x) and model (colour), with 95% intervals."""
    sel = segments[
        (segments["metric"] == metric) & (segments["k"] == k) & (segments["segment_kind"] == kind)
    ]
    if sel.empty:
        raise ValueError(f"segment_bars: no {kind} segments for {metric}@{k}")
    models = list(models) if models is not None else list(dict.fromkeys(sel["model"]))
    segs = list(dict.fromkeys(sel["segment"]))
    colors = _colors(models)
    width = 0.8 / len(models)
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(segs) * (1 + len(models) / 6)), 4.0))
        x = np.arange(len(segs))
        for i, m in enumerate(models):
            d = sel[sel["model"] == m].set_index("segment").reindex(segs)
            ax.bar(x + i * width, d["value"], width=width, color=colors[m], label=m, alpha=0.85)
            ax.errorbar(
                x + i * width,
                d["value"],
                yerr=_errors(d),
                fmt="none",
                ecolor="black",
                lw=0.8,
                capsize=1.5,
            )
        n = sel.groupby("segment", sort=False)["n"].max().reindex(segs)
        ax.set_xticks(
            x + width * (len(models) - 1) / 2,
            [f"{s}\n(n = {int(c):,})" for s, c in zip(segs, n, strict=True)],
        )
        ax.set_ylabel(metric_label(metric, k))
        ax.set_title(f"{metric_label(metric, k)} by {kind} segment (whiskers: 95% CI)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.grid(axis="x", visible=False)
        fig.tight_layout()
    return fig


def timing_bars(timing: pd.DataFrame) -> plt.Figure:
    """Training time and recommendation throughput per model (log scales)."""
    t = timing.sort_values("fit_seconds", kind="stable")
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 0.3 * len(t) + 1.4), sharey=True)
        y = np.arange(len(t))
        axes[0].barh(y, t["fit_seconds"].clip(lower=1e-4), color="#4c72b0")
        axes[0].set_xscale("log")
        axes[0].set_xlabel("training time, s (log)")
        axes[1].barh(y, t["customers_per_second"].replace(np.inf, np.nan), color="#55a868")
        axes[1].set_xscale("log")
        axes[1].set_xlabel("customers recommended per second (log)")
        axes[0].set_yticks(y, t["model"])
        for ax in axes:
            ax.grid(axis="y", visible=False)
        fig.suptitle("Cost on the machine that ran this report", fontsize=10)
        fig.tight_layout()
    return fig


def tuning_history(history: pd.DataFrame) -> plt.Figure:
    """Validation score per trial (dots) and best so far (line), one panel per tuned model."""
    models = list(dict.fromkeys(history["model"]))
    if not models:
        raise ValueError("tuning_history: the history is empty (nothing was tuned)")
    cols = min(3, len(models))
    rows = int(np.ceil(len(models) / cols))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
        for ax, m in zip(axes.ravel(), models, strict=False):
            d = history[history["model"] == m]
            ax.plot(d["trial"], d["value"], "o", ms=3, color="0.55", label="trial")
            ax.plot(d["trial"], d["best_so_far"], "-", color="#c44e52", label="best so far")
            if "configured" in d and d["configured"].any():
                c = d[d["configured"]]
                ax.plot(c["trial"], c["value"], "s", ms=5, color="#4c72b0", label="configured")
            ax.set_title(m, fontsize=9)
            ax.set_xlabel("trial")
            ax.set_ylabel(metric_label(str(d["metric"].iloc[0]), int(d["k"].iloc[0])))
        for ax in axes.ravel()[len(models) :]:
            ax.set_visible(False)
        axes.ravel()[0].legend(fontsize=7)
        fig.suptitle("Hyperparameter search on the validation split", fontsize=10)
        fig.tight_layout()
    return fig
