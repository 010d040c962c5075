"""Numbers as a report writes them: shares, scores, durations, rates, dates and metric names.

One definition of each format, shared by the narrative (:mod:`recnb.reporting.narrative`) and the
tables (:mod:`recnb.reporting.tables`), so the same number reads the same everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "METRIC_NAMES",
    "day",
    "fmt_value",
    "metric_label",
    "number",
    "percent",
    "rate",
    "seconds",
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


def metric_label(metric: str, k: int | None = None) -> str:
    """``"ndcg", 10`` -> ``"NDCG@10"``."""
    name = METRIC_NAMES.get(metric, metric)
    return f"{name}@{k}" if k else name


def number(x: float | None, digits: int = 3) -> str:
    """A score with ``digits`` decimals; ``"n/a"`` for a missing or infinite value."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}"


def percent(x: float) -> str:
    """A share as a percentage: whole percents from 9.5% up (``"58%"``), one decimal below
    (``"6.1%"``, ``"0.0%"``); the sign is kept (``"-12%"``)."""
    return f"{100 * x:.0f}%" if abs(x) >= 0.095 else f"{100 * x:.1f}%"


def seconds(s: float) -> str:
    """A duration: ``"under 1 ms"``, ``"18 ms"``, ``"2.5 s"``, ``"3.2 min"``."""
    if s < 0.001:
        return "under 1 ms"
    if s < 1:
        return f"{1000 * s:.0f} ms"
    if s < 120:
        return f"{s:.1f} s"
    return f"{s / 60:.1f} min"


def rate(r: float) -> str:
    """Items per second: ``"68,978"``, ``"3.5"``; ``"too fast to time"`` when infinite."""
    if not np.isfinite(r):
        return "too fast to time"
    return f"{r:,.0f}" if r >= 10 else f"{r:.1f}"


def day(t: Any) -> str:
    """A date as ``YYYY-MM-DD``; ``"—"`` when missing."""
    return "—" if t is None or pd.isna(t) else pd.Timestamp(t).strftime("%Y-%m-%d")


def fmt_value(v: object) -> str:
    """Human-readable form of a mixed-type value for report tables (1,234 · 0.0123 · dates)."""
    if isinstance(v, bool | np.bool_):
        return str(v)
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        return f"{v:,.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)
