"""Report-ready views of the A/B simulation's result tables (notebook 05).

Each function takes a table of :mod:`recnb.experiments` (as written to
``results/05_ab_simulation/``) and returns the columns a reader needs, in a readable order; the
full tables stay in the results folder.
"""

from __future__ import annotations

import pandas as pd

from recnb.experiments.experiment import METRICS

__all__ = [
    "guardrails_view",
    "interleaving_view",
    "metrics_view",
    "ope_view",
]


def _label(name: str) -> str:
    base = name.removesuffix("_cuped")
    label = METRICS[base].label if base in METRICS else base
    return label + (" (CUPED)" if name.endswith("_cuped") else "")


def metrics_view(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per metric: its plain name, both arms, the lift with its interval, the p-values."""
    out = pd.DataFrame(
        {
            "metric": metrics["metric"].map(_label),
            "control": metrics["control"],
            "treatment": metrics["treatment"],
            "lift": metrics["lift"],
            "lift_low": metrics["lift_low"],
            "lift_high": metrics["lift_high"],
            "p_value": metrics["p_value"],
            "p_adjusted": metrics["p_adjusted"],
            "significant": metrics["significant"].map({True: "yes", False: "no"}),
            "test": metrics["method"],
        }
    )
    return out


def guardrails_view(guardrails: pd.DataFrame) -> pd.DataFrame:
    """Per guardrail: both arms, the harm allowed, the one-sided p-value, whether it holds."""
    g = guardrails
    holds = g["holds"].map({True: "yes", False: "no"})
    checked = g["available"].astype(bool) if "available" in g.columns else True
    out = pd.DataFrame(
        {
            "guardrail": g["guardrail"].map(
                lambda n: "fairness gap (CTR across groups)" if n == "fairness_gap" else _label(n)
            ),
            "control": g.get("control"),
            "treatment": g.get("treatment"),
            "margin": g.get("margin"),
            "p_value": g.get("p_value"),
            "holds": holds.where(checked, "not checked"),
            "note": g.get("note"),
        }
    )
    return out


def interleaving_view(table: pd.DataFrame) -> pd.DataFrame:
    """Per pair: the interleaving preference and test, the true winner, customers for power."""
    t = table
    agrees = t["agrees"].map(lambda a: "no preference" if pd.isna(a) else "yes" if a else "no")
    return pd.DataFrame(
        {
            "control": t["control"],
            "other": t["treatment"],
            "preference": t["preference"],
            "p_value": t["p_value"],
            "interleaving_winner": t["interleaving_winner"],
            "true_winner": t["true_winner"],
            "agrees": agrees,
            "customers_ab": t["customers_ab"],
            "customers_interleaving": t["customers_interleaving"],
            "ab_over_interleaving": t["ratio"],
        }
    )


def ope_view(summary: pd.DataFrame) -> pd.DataFrame:
    """Per estimator over the target policies: median and worst relative error (root mean
    square over the logged data sets), interval coverage, and the targets it could estimate."""
    s = summary.dropna(subset=["rmse_rel"])
    g = s.groupby("estimator", sort=False)
    out = pd.DataFrame(
        {
            "median_rel_error": g["rmse_rel"].median(),
            "worst_rel_error": g["rmse_rel"].max(),
            "coverage": g["coverage"].mean(),
            "targets": g["target"].nunique(),
        }
    )
    missing = summary.loc[summary["rmse_rel"].isna()].groupby("estimator", sort=False)["target"]
    out["targets_without_estimate"] = missing.nunique().reindex(out.index).fillna(0).astype(int)
    return out.reset_index()
