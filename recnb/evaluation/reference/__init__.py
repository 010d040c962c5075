"""Published reference figures that recnb's reports and benchmarks print beside their own.

Each table is a CSV in this folder (its source in the header comments) with a :class:`ReferenceTable`
entry in :data:`REFERENCE_TABLES` saying what it is, under which protocol it was measured and where it
comes from. A params file names one with ``model_comparison.reference_table`` and stage 03's report
prints its rows beside the run's own (:func:`recnb.evaluation.leaderboard.beside_reference`).

- ``msr_movielens100k``: Microsoft Recommenders' README "Algorithm Comparison" table (MovieLens 100K).
- ``ml_latest_small_released_split``: ml-latest-small under the same protocol with the split of the
  released Recommenders 1.2.1 (recnb issue 8's measurements; one row is an upper reference).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = [
    "REFERENCE_TABLES",
    "ReferenceTable",
    "ml_latest_small_released_split",
    "msr_movielens100k",
    "reference_table",
]

_HERE = Path(__file__).resolve().parent

#: metric columns of a reference CSV -> recnb metric names (all at k = 10)
METRIC_COLUMNS: dict[str, str] = {
    "ndcg_at_10": "ndcg",
    "precision_at_10": "precision",
    "recall_at_10": "recall",
    "map": "map_msr",
}


@dataclass(frozen=True)
class ReferenceTable:
    """A published table of figures and what it was measured under.

    Attributes
    ----------
    name : str
        Key in :data:`REFERENCE_TABLES` (the value of ``reference_table`` in a params file).
    file : str
        CSV in this folder.
    title : str
        Who published it, about which data.
    protocol : str
        Split, list length, relevance and exclusion rules the figures were measured under.
    source : str
        Where the figures come from (a link or a document).
    k : int
        List length of the ``*_at_10`` columns.
    """

    name: str
    file: str
    title: str
    protocol: str
    source: str
    k: int = 10

    def rows(self) -> pd.DataFrame:
        """The table: ``algo`` and metric columns (NaN where not published), plus ``settings``
        and ``kind`` when the CSV has them."""
        return pd.read_csv(_HERE / self.file, comment="#")


REFERENCE_TABLES: dict[str, ReferenceTable] = {
    t.name: t
    for t in (
        ReferenceTable(
            name="msr_movielens100k",
            file="msr_movielens100k.csv",
            title="Microsoft Recommenders, README 'Algorithm Comparison' (MovieLens 100K)",
            protocol=(
                "python_stratified_split(ratio=0.75, filter_by='item', seed=42) of MovieLens 100K; "
                "top-10 lists; every held-out rating relevant; movies rated in train removed; "
                "MAP is their `map` (recnb's map_msr); their own hyperparameters"
            ),
            source=(
                "https://github.com/recommenders-team/recommenders/blob/"
                "005dcd06bd32ab996c7e4c9892ebbfcab80adb1a/README.md"
            ),
        ),
        ReferenceTable(
            name="ml_latest_small_released_split",
            file="ml_latest_small_released_split.csv",
            title="ml-latest-small, measured with the released Microsoft Recommenders split",
            protocol=(
                "python_stratified_split(ratio=0.75, filter_by='item', seed=42) of Recommenders "
                "1.2.1 on ml-latest-small (train 76,882 / test 23,954 ratings); top-10 lists; "
                "every held-out rating relevant; movies rated in train removed"
            ),
            source=(
                "recnb issue 8, 'Quality targets you can measure' (measured with the released "
                "split; only nDCG@10 published). The EASE row has l2 picked on the test part: "
                "an upper reference, not a legitimate result"
            ),
        ),
    )
}


def reference_table(name: str) -> ReferenceTable:
    """The reference table registered as ``name``.

    Raises
    ------
    KeyError
        Unknown name (the message lists the known ones).
    """
    try:
        return REFERENCE_TABLES[name]
    except KeyError:
        raise KeyError(
            f"unknown reference table {name!r}; known: {sorted(REFERENCE_TABLES)}"
        ) from None


def msr_movielens100k() -> pd.DataFrame:
    """Microsoft Recommenders' published MovieLens-100K figures.

    Returns
    -------
    pandas.DataFrame
        One row per algorithm: ``algo, map, ndcg_at_10, precision_at_10, recall_at_10, rmse, mae,
        r2, explained_variance`` (NaN where they publish N/A). ``map`` is their MAP column, which
        recnb computes as ``map_msr``.
    """
    return REFERENCE_TABLES["msr_movielens100k"].rows()


def ml_latest_small_released_split() -> pd.DataFrame:
    """ml-latest-small figures with the released split (recnb issue 8).

    Returns
    -------
    pandas.DataFrame
        ``algo, settings, kind, map, ndcg_at_10, precision_at_10, recall_at_10``; ``kind`` is
        ``"fixed"`` or ``"upper reference"`` (a hyperparameter picked on the test part).
    """
    return REFERENCE_TABLES["ml_latest_small_released_split"].rows()
