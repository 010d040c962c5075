"""The comparison's verdict as tables: the leaderboard, the winner against every other model, and
this run's rows beside a published reference table.

The winner is the model with the highest mean of the primary metric (default NDCG@10);
:func:`winner_vs_rest` tests it against every other model on the same customers (paired tests,
Holm-adjusted over the table). The sentences a reader gets from these tables are in
:mod:`recnb.reporting.narrative.models`, their display form in :mod:`recnb.reporting.tables`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recnb.evaluation.reference import METRIC_COLUMNS, ReferenceTable
from recnb.metrics import compare_models

__all__ = [
    "COST_COLUMNS",
    "add_cost",
    "beside_reference",
    "chosen_model",
    "leaderboard",
    "winner_vs_rest",
]


def leaderboard(
    summary: pd.DataFrame,
    timing: pd.DataFrame | None = None,
    metrics: Sequence[str] = ("ndcg", "precision", "recall", "map_min"),
    k: int = 10,
    beyond: Sequence[str] = ("catalog_coverage", "novelty", "gini_exposure", "aplt"),
    rating: pd.DataFrame | None = None,
    sort_by: str | None = None,
) -> pd.DataFrame:
    """One row per model: accuracy at ``k`` with intervals, beyond-accuracy, cost.

    Parameters
    ----------
    summary : pandas.DataFrame
        ``model, metric, k, value, ci_low, ci_high`` (``Evaluation.summary``).
    timing : pandas.DataFrame, optional
        ``Evaluation.timing``.
    metrics : sequence of str
        Accuracy columns; the first sorts the table unless ``sort_by`` is given.
    k : int
        Cut-off of every metric column.
    beyond : sequence of str
        Beyond-accuracy columns (those present in ``summary``).
    rating : pandas.DataFrame, optional
        ``Evaluation.rating`` (RMSE/MAE columns for the models that predict ratings).
    sort_by : str, optional
        Metric to rank by (default ``metrics[0]``).

    Returns
    -------
    pandas.DataFrame
        ``rank, model``, then for each metric ``<metric>``, ``<metric>_low``, ``<metric>_high``;
        beyond-accuracy values; ``rmse``/``mae`` when given; ``fit_seconds``,
        ``customers_per_second``, ``fit_peak_mb``. Sorted best first.
    """
    sort_by = sort_by or metrics[0]
    at_k = summary[summary["k"] == k]
    missing = [m for m in metrics if m not in set(at_k["metric"])]
    if missing:
        raise ValueError(f"leaderboard: metric(s) {missing} at k={k} not in the summary table")
    models = list(dict.fromkeys(summary["model"]))
    out = pd.DataFrame({"model": models})
    for m in [*metrics, *[b for b in beyond if b in set(at_k["metric"])]]:
        sel = at_k[at_k["metric"] == m].set_index("model")
        out[m] = out["model"].map(sel["value"])
        if m in metrics:
            out[f"{m}_low"] = out["model"].map(sel["ci_low"])
            out[f"{m}_high"] = out["model"].map(sel["ci_high"])
    if rating is not None and not rating.empty:
        for m in ("rmse", "mae"):
            sel = rating[rating["metric"] == m].set_index("model")["value"]
            out[m] = out["model"].map(sel)
    out = add_cost(out, timing)
    if sort_by not in out.columns:
        raise ValueError(f"leaderboard: cannot sort by {sort_by!r}; columns are {list(out)}")
    out = out.sort_values(sort_by, ascending=False, kind="stable").reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


#: measured columns :func:`add_cost` joins to a leaderboard (they differ between two runs)
COST_COLUMNS = ("fit_seconds", "customers_per_second", "fit_peak_mb")


def add_cost(board: pd.DataFrame, timing: pd.DataFrame | None) -> pd.DataFrame:
    """The leaderboard with the measured cost columns of ``timing`` joined per model.

    The results file ``leaderboard`` is written without them, so that it repeats byte for byte
    between two runs of the same params; the measured times are in the ``timing`` table.
    """
    out = board.copy()
    if timing is not None and not timing.empty:
        t = timing.set_index("model")
        for c in COST_COLUMNS:
            if c in t.columns:
                out[c] = out["model"].map(t[c])
    return out


def winner_vs_rest(
    per_customer: pd.DataFrame,
    metric: str = "ndcg",
    k: int = 10,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Paired comparison of the best model with every other (Holm-corrected).

    A thin wrapper around :func:`recnb.metrics.compare_models` that adds ``relative_diff``
    (``mean_diff / mean_model``, NaN when the other model scores 0).
    """
    table = compare_models(
        per_customer, metric, k, n_boot=n_bootstrap, alpha=alpha, seed=seed
    ).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = table["mean_diff"] / table["mean_model"]
    table.insert(
        table.columns.get_loc("mean_diff") + 1, "relative_diff", rel.where(table["mean_model"] > 0)
    )
    return table


def chosen_model(significance: pd.DataFrame) -> str:
    """The winner of a :func:`winner_vs_rest` table."""
    if significance.empty:
        raise ValueError("chosen_model: the significance table is empty")
    return str(significance["reference"].iloc[0])


def beside_reference(
    board: pd.DataFrame,
    reference: ReferenceTable,
    k: int,
    tuned: Sequence[str] = (),
    metric: str = "ndcg",
) -> pd.DataFrame:
    """This run's leaderboard rows above a published reference table's, in the same columns.

    Parameters
    ----------
    board : pandas.DataFrame
        :func:`leaderboard` (``model``, metric columns, ``<metric>_low/_high``).
    reference : ReferenceTable
        The published table (:func:`recnb.evaluation.reference.reference_table`).
    k : int
        The run's list length; must equal the reference's (its figures are at a fixed k).
    tuned : sequence of str
        Models whose hyperparameters were tuned on validation (the others are "as configured").
    metric : str
        Metric whose 95% interval is shown (``<metric>_low``, ``<metric>_high``; this run only).

    Returns
    -------
    pandas.DataFrame
        ``source`` ("this run" or the reference's name), ``model``, ``settings`` (how the figures'
        hyperparameters were chosen), then ``ndcg, <metric>_low, <metric>_high, precision,
        recall, map_msr`` at ``k`` (NaN where not measured or not published).

    Raises
    ------
    ValueError
        When ``k`` differs from the reference's list length.
    """
    if int(k) != reference.k:
        raise ValueError(
            f"reference table {reference.name!r} holds figures at k={reference.k}; this run's "
            f"primary k is {k}: the two cannot be put side by side"
        )
    metrics = list(METRIC_COLUMNS.values())
    tuned = set(tuned)
    ours = pd.DataFrame(
        {
            "source": "this run",
            "model": board["model"].astype(str),
            "settings": [
                "tuned on validation" if m in tuned else "as configured" for m in board["model"]
            ],
        }
    )
    for m in metrics:
        ours[m] = board[m].to_numpy(float) if m in board.columns else np.nan
    for end in ("low", "high"):
        col = f"{metric}_{end}"
        ours[col] = board[col].to_numpy(float) if col in board.columns else np.nan
    ref = reference.rows()
    theirs = pd.DataFrame(
        {
            "source": reference.name,
            "model": ref["algo"].astype(str),
            "settings": _reference_settings(ref),
        }
    )
    for col, m in METRIC_COLUMNS.items():
        theirs[m] = ref[col].to_numpy(float) if col in ref.columns else np.nan
    for end in ("low", "high"):
        theirs[f"{metric}_{end}"] = np.nan
    cols = ["source", "model", "settings", metric, f"{metric}_low", f"{metric}_high"]
    cols += [m for m in metrics if m != metric]
    return pd.concat([ours, theirs], ignore_index=True)[cols]


def _reference_settings(ref: pd.DataFrame) -> list[str]:
    settings = (
        ref["settings"].fillna("") if "settings" in ref.columns else pd.Series([""] * len(ref))
    )
    kind = ref["kind"].fillna("") if "kind" in ref.columns else pd.Series([""] * len(ref))
    out = []
    for s, kd in zip(settings.astype(str), kind.astype(str), strict=True):
        if kd == "upper reference":
            out.append(f"{s} (upper reference, not a result)" if s else "upper reference")
        elif s:
            out.append(s)
        else:
            out.append("as published")
    return out
