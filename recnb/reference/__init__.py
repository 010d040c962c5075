"""Published reference figures that recnb's benchmarks print beside their own.

- :func:`msr_movielens100k`: Microsoft Recommenders' README "Algorithm Comparison" table
  (MovieLens 100K), with its source in the CSV header.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["msr_movielens100k"]

_HERE = Path(__file__).resolve().parent


def msr_movielens100k() -> pd.DataFrame:
    """Microsoft Recommenders' published MovieLens-100K figures.

    Returns
    -------
    pandas.DataFrame
        One row per algorithm: ``algo, map, ndcg_at_10, precision_at_10, recall_at_10, rmse, mae,
        r2, explained_variance`` (NaN where they publish N/A). ``map`` is their MAP column, which
        recnb computes as ``map_msr``.
    """
    return pd.read_csv(_HERE / "msr_movielens100k.csv", comment="#")
