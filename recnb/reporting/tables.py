"""Report-ready views of result tables: formatted numbers, readable headers, no index column."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from recnb.reporting import formatting as fmt

__all__ = [
    "SIGNIFICANCE_COLUMNS",
    "format_leaderboard",
    "readable_values",
    "significance_view",
    "table",
]

#: the columns of a winner-vs-rest table a reader needs (the results file keeps them all)
SIGNIFICANCE_COLUMNS: tuple[str, ...] = (
    "model",
    "mean_reference",
    "mean_model",
    "mean_diff",
    "diff_ci_low",
    "diff_ci_high",
    "cohens_dz",
    "t_pvalue_holm",
    "significant",
)


def table(df: Any, precision: int = 2, percent: tuple[str, ...] = (), caption: str | None = None):
    """A report-ready view of a DataFrame: no index column, thousands separators, rounded floats.

    Parameters
    ----------
    df : pandas.DataFrame
    precision : int
        Decimals for float columns.
    percent : tuple of str
        Columns holding shares in [0, 1], shown as percentages.
    caption : str, optional
    """
    formats: dict[str, Any] = {}
    for c in df.columns:
        if c in percent:
            formats[c] = "{:.1%}"
        elif "pvalue" in str(c) or str(c).startswith("p_"):
            formats[c] = "{:.2g}"  # p-values span many orders of magnitude
        elif np.issubdtype(df[c].dtype, np.integer):
            formats[c] = "{:,}"
        elif np.issubdtype(df[c].dtype, np.floating):
            formats[c] = f"{{:,.{precision}f}}"
    st = df.style.format(formats, na_rep="–").hide(axis="index")
    text_cols = [c for c in df.columns if c not in formats]
    if text_cols:
        st = st.set_properties(subset=text_cols, **{"text-align": "left"})
    st = st.set_table_styles([{"selector": "th", "props": [("text-align", "left")]}])
    if caption:
        st = st.set_caption(caption)
    return st


def readable_values(df: pd.DataFrame, column: str = "value") -> pd.DataFrame:
    """A copy of ``df`` whose ``column`` of mixed numbers, dates and text is text for reading
    (:func:`recnb.reporting.formatting.fmt_value`: ``1,234``, ``0.0123``, dates as written)."""
    out = df.copy()
    out[column] = out[column].map(fmt.fmt_value)
    return out


def format_leaderboard(lb: pd.DataFrame, metrics: Sequence[str], k: int) -> pd.DataFrame:
    """Display version of :func:`recnb.evaluation.leaderboard.leaderboard`: "0.123 [0.110, 0.135]"
    cells, readable headers, the measured cost columns as durations and rates."""
    out = pd.DataFrame({"#": lb["rank"], "model": lb["model"]})
    for m in metrics:
        out[f"{fmt.metric_label(m, k)} [95% CI]"] = [
            f"{fmt.number(v)} [{fmt.number(lo)}, {fmt.number(hi)}]"
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
            out["training time"] = [fmt.seconds(s) for s in lb[c]]
        elif c == "customers_per_second":
            out["customers / s"] = [fmt.rate(r) for r in lb[c]]
        elif c == "fit_peak_mb":
            out["training memory (MB)"] = [f"{v:,.0f}" for v in lb[c]]
        elif c in ("catalog_coverage", "aplt"):
            out[fmt.metric_label(c, k)] = [
                fmt.percent(v) if np.isfinite(v) else "n/a" for v in lb[c]
            ]
        else:
            digits = 2 if c == "novelty" else 3
            out[fmt.metric_label(c, k) if c not in ("rmse", "mae") else fmt.METRIC_NAMES[c]] = [
                fmt.number(v, digits) for v in lb[c]
            ]
    return out


def significance_view(significance: pd.DataFrame) -> pd.DataFrame:
    """The :data:`SIGNIFICANCE_COLUMNS` of a
    :func:`recnb.evaluation.leaderboard.winner_vs_rest` table."""
    return significance[list(SIGNIFICANCE_COLUMNS)]
