"""Report-ready views of the fairness stage's tables (notebook 04): the columns a reader needs,
named in words, in reading order. The full tables are the stage's result files."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["decorrelation_view", "fidelity_view", "gaps_view", "recommended_view"]


def gaps_view(gaps: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per (model, attribute) gap of ``metric``, with interval and Holm-adjusted p-value.

    Rows without a compared pair of groups are left out; the order is the table's (models as
    stage 03 listed them).
    """
    d = gaps[(gaps["metric"] == metric) & gaps["difference"].notna()]
    return pd.DataFrame(
        {
            "model": d["model"],
            "attribute": d["attribute"],
            "groups": d["n_groups"].astype(int),
            "worst served": d["low_group"],
            "best served": d["high_group"],
            "overall": d["overall"],
            "gap": d["difference"],
            "gap 95% CI": [
                f"{lo:.4f} to {hi:.4f}"
                for lo, hi in zip(d["difference_ci_low"], d["difference_ci_high"], strict=True)
            ],
            "ratio": d["ratio"],
            "p_holm": d["p_holm"],
        }
    ).reset_index(drop=True)


_METHOD_NAMES = {
    "xquad_popularity": "xQuAD, long tail",
    "xquad_sellers": "xQuAD, seller mix",
    "calibration": "calibration (Steck)",
    "fair_sellers": "FA*IR, small sellers",
    "fair_long_tail": "FA*IR, long tail",
}


def recommended_view(recommended: pd.DataFrame) -> pd.DataFrame:
    """The recommended setting per (model, method): target change and NDCG change with intervals
    (measured on the report half of the customers)."""
    r = recommended
    return pd.DataFrame(
        {
            "model": r["model"],
            "method": r["method"].map(_METHOD_NAMES).fillna(r["method"]),
            "recommended strength": [
                f"{s:g}" if m else "none (no gain within budget)"
                for s, m in zip(r["strength"], r["mitigated"], strict=True)
            ],
            "target": r["target"].str.replace("_", " "),
            "target change": r["value_change"],
            "target change 95% CI": [
                f"{lo:+.3f} to {hi:+.3f}"
                for lo, hi in zip(r["value_change_ci_low"], r["value_change_ci_high"], strict=True)
            ],
            "holds on the other half": np.where(
                r["confirmed"], "yes", np.where(r["mitigated"], "no", "–")
            ),
            "NDCG change": [f"{x:+.1%}" for x in r["ndcg_change"]],
            "NDCG change 95% CI": [
                f"{lo:+.1%} to {hi:+.1%}"
                for lo, hi in zip(r["ndcg_change_ci_low"], r["ndcg_change_ci_high"], strict=True)
            ],
        }
    ).reset_index(drop=True)


def fidelity_view(summary: pd.DataFrame) -> pd.DataFrame:
    """Per explaining model: recommendations checked, additivity, deletion check, coverage,
    stability and where the model came from."""
    s = summary
    out = pd.DataFrame(
        {
            "model": s["model"],
            "recommendations checked": s["pairs"].astype(int),
            "reasons add up to the score": s["additive_share"],
            "largest sum error": s["max_sum_error"],
            "top reason removed: score falls": s["lowered_share"],
            "coverage": s["coverage"],
            "on the popularity fallback": s["fallback_share"],
            "stability across seeds": s["stability"],
        }
    )
    if "source" in s.columns:
        out["model from"] = s["source"]
    return out.reset_index(drop=True)


def decorrelation_view(table: pd.DataFrame) -> pd.DataFrame:
    """LightFM before and after CorrelationRemover: NDCG, the group gap with its interval and
    the permutation p-value."""
    t = table
    return pd.DataFrame(
        {
            "model": t["model"],
            "customer features": t["variant"],
            "attribute": t["attribute"],
            "NDCG": t["ndcg"],
            "gap": t["difference"],
            "gap 95% CI": [
                f"{lo:.4f} to {hi:.4f}"
                for lo, hi in zip(t["difference_ci_low"], t["difference_ci_high"], strict=True)
            ],
            "p_value": t["p_value"],
        }
    ).reset_index(drop=True)
