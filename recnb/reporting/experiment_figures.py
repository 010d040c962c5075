"""Figures of the A/B simulation report (notebook 05). Each takes a tidy table, returns a Figure.

Tables come from :mod:`recnb.experiments`; intervals are the 95% intervals stored with them.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = [
    "calibration_bars",
    "design_curve",
    "interleaving_sample_sizes",
    "lift_forest",
    "monitoring",
    "offline_online_scatter",
    "ope_errors",
]

_STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 9,
}


def lift_forest(metrics: pd.DataFrame, alpha: float = 0.05) -> plt.Figure:
    """Relative lift of every metric (treatment over control) with its interval; significant
    ones (after adjustment) in colour."""
    m = metrics.dropna(subset=["lift"]).iloc[::-1]
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(m) + 1.2))
        y = np.arange(len(m))
        sig = m["significant"].astype(bool).to_numpy()
        color = np.where(sig, np.where(m["lift"] > 0, "#2a9d8f", "#e76f51"), "#8d99ae")
        err = np.vstack(
            [(m["lift"] - m["lift_low"]).clip(lower=0), (m["lift_high"] - m["lift"]).clip(lower=0)]
        )
        ax.errorbar(m["lift"], y, xerr=err, fmt="none", ecolor="black", lw=1, capsize=3)
        ax.scatter(m["lift"], y, c=color, s=40, zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(y, m["label"])
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel(
            f"treatment vs control ({1 - alpha:.0%} interval); colour: significant after adjustment"
        )
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
    return fig


def monitoring(looks: pd.DataFrame, label: str, alpha: float = 0.05) -> plt.Figure:
    """Daily looks: the estimate with the fixed-horizon and the always-valid intervals, and the
    naive against the always-valid p-value."""
    d = looks["day"].to_numpy()
    with plt.rc_context(_STYLE):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
        a1.fill_between(d, looks["msprt_low"].clip(lower=looks["naive_low"].min() * 3 - 1), looks["msprt_high"].clip(upper=looks["naive_high"].max() * 3 + 1),
                        color="#2a9d8f", alpha=0.2, label="always-valid interval (mSPRT)")  # fmt: skip
        a1.fill_between(d, looks["naive_low"], looks["naive_high"], color="#e76f51", alpha=0.3,
                        label="fixed-horizon interval")  # fmt: skip
        a1.plot(d, looks["diff"], color="black", lw=1.2, label="estimate")
        a1.axhline(0, color="black", lw=0.8)
        a1.set_xlabel("day")
        a1.set_ylabel(f"difference in {label}")
        a1.legend(fontsize=7, loc="upper left")
        a2.semilogy(
            d,
            looks["naive_p"].clip(lower=1e-12),
            color="#e76f51",
            label="naive p (as if this day were the end)",
        )
        a2.semilogy(
            d, looks["msprt_p"].clip(lower=1e-12), color="#2a9d8f", label="always-valid p (mSPRT)"
        )
        a2.axhline(alpha, color="black", ls="--", lw=0.8, label=f"alpha = {alpha:g}")
        a2.set_xlabel("day")
        a2.set_ylabel("p-value (log)")
        a2.legend(fontsize=7, loc="lower left")
        fig.tight_layout()
    return fig


def design_curve(table: pd.DataFrame, chosen_days: int) -> plt.Figure:
    """Customers needed against customers expected, per candidate duration."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7, 3.4))
        ax.plot(table["days"], table["n_needed"], "o-", color="#e76f51", label="customers needed")
        ax.plot(
            table["days"], table["customers"], "o-", color="#2a9d8f", label="customers expected"
        )
        ax.axvline(
            chosen_days, color="black", ls="--", lw=0.8, label=f"planned: {chosen_days} days"
        )
        ax.set_yscale("log")
        ax.set_xlabel("test duration (days)")
        ax.set_ylabel("customers (log)")
        ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def calibration_bars(checks: pd.DataFrame) -> plt.Figure:
    """Simulated error rates against what they should be."""
    rates = checks[checks["check"].str.contains("rate|peeking|power")].iloc[::-1]
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 0.42 * len(rates) + 1.2))
        y = np.arange(len(rates))
        ax.barh(y, rates["value"], xerr=1.96 * rates["mc_se"].fillna(0), color="#8d99ae", capsize=2)
        ax.scatter(
            rates["expected"], y, marker="|", s=300, color="black", zorder=3, label="should be"
        )
        ax.set_yticks(y, rates["check"].str.replace("_", " "))
        ax.set_xlabel("share of simulated experiments that reject")
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
    return fig


def interleaving_sample_sizes(table: pd.DataFrame) -> plt.Figure:
    """Customers needed for 80% power, A/B against interleaving, per pair (log scale)."""
    t = table[(table["customers_ab"] > 0) & (table["customers_interleaving"] > 0)]
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 0.4 * len(t) + 1.3))
        y = np.arange(len(t))
        ax.barh(y - 0.2, t["customers_ab"], height=0.38, color="#e76f51", label="A/B test")
        ax.barh(
            y + 0.2, t["customers_interleaving"], height=0.38, color="#2a9d8f", label="interleaving"
        )
        ax.set_xscale("log")
        ax.set_yticks(y, t["control"] + " vs " + t["treatment"])
        ax.invert_yaxis()
        ax.set_xlabel("customers needed for 80% power (log scale)")
        ax.legend(fontsize=8)
        ax.grid(axis="y", visible=False)
        fig.tight_layout()
    return fig


def ope_errors(estimates: pd.DataFrame) -> plt.Figure:
    """Relative error of each estimator over targets and seeds (points), truth at 0."""
    e = estimates.dropna(subset=["estimate"])
    names = list(dict.fromkeys(e["estimator"]))
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 3.6))
        rng = np.random.default_rng(0)
        for i, name in enumerate(names):
            r = e.loc[e["estimator"] == name, "rel_error"].clip(-1, 1)
            ax.scatter(i + rng.uniform(-0.18, 0.18, len(r)), r, s=10, alpha=0.6)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(names)), names)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_ylabel("estimate vs exact value (clipped at +-100%)")
        fig.tight_layout()
    return fig


def offline_online_scatter(
    table: pd.DataFrame, offline_label: str, online_label: str
) -> plt.Figure:
    """Offline metric against online lift, one labelled point per policy."""
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 4.2))
        ax.scatter(table["offline"], table["online_lift"], color="#264653", s=30)
        for _, r in table.iterrows():
            ax.annotate(r["policy"], (r["offline"], r["online_lift"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
        ax.axhline(0, color="black", lw=0.8)
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_xlabel(offline_label)
        ax.set_ylabel(online_label)
        fig.tight_layout()
    return fig
