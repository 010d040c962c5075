"""Figures of the monitoring report (notebook 07). Each takes a tidy table, returns a Figure."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["deployment_lines", "drift_panels"]

_STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 9,
}


def drift_panels(
    scores: pd.DataFrame, statistic: str = "psi", marker_day: int | None = None, title: str = ""
) -> plt.Figure:
    """One panel per monitored feature: the daily statistic, its alarm threshold, alarms in red.

    Parameters
    ----------
    scores : pandas.DataFrame
        :func:`recnb.monitoring.drift.drift_scores` output.
    statistic : {"psi", "js"}
    marker_day : int, optional
        A day to mark with a dashed line (the planted change).
    """
    s = scores[scores["statistic"] == statistic]
    features = list(dict.fromkeys(s["feature"]))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(
            len(features), 1, figsize=(8, 1.9 * len(features) + 0.4), sharex=True, squeeze=False
        )
        for ax, feat in zip(axes[:, 0], features, strict=True):
            f = s[s["feature"] == feat]
            ax.plot(f["day"], f["value"], color="#4c72b0", lw=1.2, label=statistic.upper())
            ax.plot(
                f["day"], f["threshold"], color="#888888", lw=1, ls=":", label="alarm threshold"
            )
            al = f[f["alarm"]]
            ax.scatter(al["day"], al["value"], color="#c44e52", s=18, zorder=3, label="alarm")
            if marker_day is not None:
                ax.axvline(marker_day, color="#c44e52", ls="--", lw=0.8)
            ax.set_yscale("log")
            ax.set_ylabel(feat.replace("_", " "))
        axes[0, 0].legend(loc="upper left", fontsize=8, ncol=3)
        axes[-1, 0].set_xlabel("day")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
    return fig


def deployment_lines(
    periods: pd.DataFrame,
    metrics: Sequence[str] = ("recall", "coverage", "group_gap", "churn"),
    marker_day: int | None = None,
) -> plt.Figure:
    """Per-period metrics of each retraining strategy, one panel per metric."""
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.0 * len(metrics), 2.8), squeeze=False)
        for ax, metric in zip(axes[0], metrics, strict=True):
            for strategy, g in periods.groupby("strategy", sort=False):
                ax.plot(g["start_day"], g[metric], marker="o", ms=3, label=strategy)
                if metric == "group_gap" and "gap_ci_low" in g:
                    ax.fill_between(g["start_day"], g["gap_ci_low"], g["gap_ci_high"], alpha=0.15)
            if marker_day is not None:
                ax.axvline(marker_day, color="#c44e52", ls="--", lw=0.8)
            ax.set_title(metric.replace("_", " "))
            ax.set_xlabel("period start (day)")
        axes[0, 0].legend(fontsize=8)
        fig.tight_layout()
    return fig
