"""Figures of stage 06: uplift per context value with intervals, quality per rolling origin."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["rolling_lines", "update_time_bars", "uplift_forest"]


def uplift_forest(uplift: pd.DataFrame, rankers: list[str], k: int = 10) -> plt.Figure:
    """Paired NDCG uplift per context value (points) with 95% intervals (bars), one panel per
    ranker; the dashed line is no change."""
    n = len(rankers)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 0.32 * 20 + 1), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], rankers, strict=True):
        sel = uplift[uplift["ranker"] == name].reset_index(drop=True)
        labels = [f"{d}: {v}" if d != "all" else "all visits" for d, v in
                  zip(sel["dimension"], sel["value"], strict=True)]  # fmt: skip
        y = np.arange(len(sel))[::-1]
        colors = np.where(sel["ci_low"] > 0, "tab:green", np.where(sel["ci_high"] < 0,
                          "tab:red", "tab:gray"))  # fmt: skip
        ax.errorbar(sel["uplift"], y, xerr=[sel["uplift"] - sel["ci_low"],
                    sel["ci_high"] - sel["uplift"]], fmt="none", ecolor=colors)  # fmt: skip
        ax.scatter(sel["uplift"], y, c=colors, zorder=3)
        ax.axvline(0, color="black", linestyle="--", linewidth=0.8)
        ax.set_yticks(y, labels)
        ax.set_title(f"{name}\nvs {sel['versus'].iloc[0]}" if len(sel) else name, fontsize=9)
        ax.set_xlabel(f"NDCG@{k} uplift")
    fig.tight_layout()
    return fig


def rolling_lines(steps: pd.DataFrame, k: int = 10) -> plt.Figure:
    """NDCG per rolling origin per strategy; dashed lines are the frozen models."""
    fig, a = plt.subplots(figsize=(9, 4.2))
    for name, g in steps.groupby("strategy", sort=False):
        style = "--" if "frozen" in name else "-"
        a.plot(g["cutoff"], g["ndcg"], style, marker="o", label=name)
    a.set_ylabel(f"NDCG@{k}")
    a.set_xlabel("training cut-off (origin)")
    a.tick_params(axis="x", rotation=30)
    a.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def update_time_bars(timing: pd.DataFrame) -> plt.Figure:
    """Mean seconds per model update after the first origin, per strategy (log scale)."""
    later = timing[timing["step"] > 0]
    use = later if len(later) else timing
    upd = use.groupby("strategy", sort=False)["update_seconds"].mean()
    fig, b = plt.subplots(figsize=(7, 3.2))
    b.barh(upd.index[::-1], np.maximum(upd.to_numpy()[::-1], 1e-4), color="tab:blue")
    b.set_xscale("log")
    b.set_xlabel("seconds per update (measured on this machine)")
    fig.tight_layout()
    return fig
