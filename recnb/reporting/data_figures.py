"""Matplotlib figures for the reports. Each function takes a tidy table and returns a Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

plt.rcParams.update(
    {
        "figure.dpi": 100,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "font.size": 10,
    }
)


def funnel(f: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.barh(f["event"][::-1], f["events"][::-1], color="#4c72b0")
    ax.set_xscale("log")
    ax.set_xlabel("events (log scale)")
    ax.set_title("Funnel: events per type")
    for y, v in enumerate(f["events"][::-1]):
        ax.text(v, y, f" {v:,}", va="center", fontsize=9)
    fig.tight_layout()
    return fig


def long_tails(product_tail: pd.DataFrame, customer_tail: pd.DataFrame) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, t, what in ((axes[0], product_tail, "products"), (axes[1], customer_tail, "customers")):
        ax.loglog(t["rank"], t["events"], ".", ms=2, color="#4c72b0")
        ax.set_xlabel(f"rank of {what[:-1]} by activity (log)")
        ax.set_ylabel("events (log)")
        ax.set_title(f"Long tail of {what}")
    fig.tight_layout()
    return fig


def bars(df: pd.DataFrame, x: str, ys: list[str], title: str, top: int = 20) -> plt.Figure:
    d = df.head(top)
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(d) + 1.2))
    h = 0.8 / len(ys)
    pos = np.arange(len(d))
    for i, y in enumerate(ys):
        share = d[y] / df[y].sum()
        ax.barh(pos + i * h, share, height=h, label=f"share of {y}")
    ax.set_yticks(pos + h * (len(ys) - 1) / 2, d[x].astype(str))
    ax.invert_yaxis()
    ax.set_xlabel("share")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def price_hist(prices: pd.Series) -> plt.Figure:
    p = prices.dropna()
    p = p[p > 0]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(p, bins=np.logspace(np.log10(p.min()), np.log10(p.max()), 40), color="#55a868")
    ax.set_xscale("log")
    ax.set_xlabel("price (log scale)")
    ax.set_ylabel("products")
    ax.set_title("Product prices")
    fig.tight_layout()
    return fig


def rating_bars(r: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.bar(r["rating"].astype(str), r["events"], color="#c44e52")
    ax.set_xlabel("rating")
    ax.set_ylabel("ratings")
    ax.set_title("Rating values")
    fig.tight_layout()
    return fig


def hour_device(t: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 3.2))
    share = t / t.to_numpy().sum()
    for col in share.columns:
        ax.plot(share.index, share[col], marker="o", ms=3, label=col)
    ax.set_xlabel("hour of day")
    ax.set_ylabel("share of all events")
    ax.set_xticks(range(0, 24, 2))
    ax.set_title("When customers shop, by device")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def hour_line(h: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(h["hour"], h["share"], color="#4c72b0")
    ax.set_xlabel("hour of day")
    ax.set_ylabel("share of events")
    ax.set_title("When customers shop")
    fig.tight_layout()
    return fig


def session_hist(s: pd.DataFrame) -> plt.Figure:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].hist(s["events"].clip(upper=s["events"].quantile(0.99)), bins=30, color="#8172b2")
    axes[0].set_xlabel("events per session (99th pct clipped)")
    axes[0].set_ylabel("sessions")
    axes[1].hist(s["minutes"].clip(upper=s["minutes"].quantile(0.99)), bins=30, color="#8172b2")
    axes[1].set_xlabel("session duration, minutes (99th pct clipped)")
    fig.suptitle("Sessions")
    fig.tight_layout()
    return fig


def timeline(daily: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for col in daily.columns:
        ax.plot(daily.index, daily[col], label=col, lw=1.2)
    ax.set_yscale("log")
    ax.set_ylabel("events per day (log)")
    ax.set_title("Activity over time")
    ax.legend(fontsize=8, ncol=3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def signal_hist(values: np.ndarray, explicit: bool = False) -> plt.Figure:
    """Histogram of the training matrix values (confidences, or ratings for explicit data)."""
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.hist(values, bins=60, log=True, color="#4c72b0")
    ax.set_xlabel("rating" if explicit else "confidence of a training pair")
    ax.set_ylabel("pairs (log scale)")
    ax.set_title("Training signal per customer-product pair")
    fig.tight_layout()
    return fig


def split_timeline(timeline: pd.DataFrame, cutoff: str | None = None) -> plt.Figure:
    """Events per day of each split part (``day, part, events``), with the cut-off if temporal."""
    wide = timeline.pivot(index="day", columns="part", values="events").fillna(0)
    wide = wide[[p for p in ("train_inner", "valid", "test") if p in wide.columns]]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    colors = ["#4c72b0", "#dd8452", "#55a868"][: wide.shape[1]]
    wide.plot.area(ax=ax, stacked=False, alpha=0.55, color=colors)
    if cutoff:
        ax.axvline(pd.Timestamp(cutoff), color="black", linestyle="--", linewidth=1)
    ax.set_ylabel("events per day")
    ax.set_title("Split timeline")
    fig.tight_layout()
    return fig
