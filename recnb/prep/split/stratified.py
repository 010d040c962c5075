"""The stratified split of the released Microsoft Recommenders (1.2.x), re-implemented.

:func:`stratified_labels` is the vectorised rule (split index per row) and
:func:`python_stratified_split` the drop-in function with the release's signature and output;
both are checked row for row against that release by the golden fixtures in
``tests/fixtures/msr/`` (written by ``tools/make_msr_fixtures.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["process_split_ratio", "python_stratified_split", "stratified_labels"]


def process_split_ratio(ratio: float | list[float]) -> tuple[bool, list[float] | float]:
    """Validate a split ratio or normalise a ratio list, as Recommenders 1.2.1's ``process_split_ratio``.

    A float must lie in (0, 1) (single split); a list is a multi-split and is divided by its sum when
    it does not sum to exactly 1 (``math.fsum``).
    """
    if isinstance(ratio, float):
        if ratio <= 0 or ratio >= 1:
            raise ValueError(f"split ratio has to be between 0 and 1, got {ratio}")
        return False, ratio
    if isinstance(ratio, list):
        if any(x <= 0 for x in ratio):
            raise ValueError(f"all split ratios in the ratio list should be > 0, got {ratio}")
        if math.fsum(ratio) != 1.0:
            ratio = [x / math.fsum(ratio) for x in ratio]
        return True, ratio
    raise TypeError(f"split ratio should be a float or a list of floats, got {ratio!r}")


def stratified_labels(
    groups: Sequence[Any] | np.ndarray,
    ratio: float | list[float] = 0.75,
    seed: int = 42,
    min_rating: int = 1,
) -> np.ndarray:
    """Split index of each row under the stratified split of the released Microsoft Recommenders.

    recnb's vectorised re-implementation of ``_do_stratification`` in
    ``recommenders/datasets/python_splitters.py`` as released in 1.2.0 and 1.2.1 (what
    ``pip install recommenders`` gives), checked row for row against that release by the golden
    fixtures in ``tests/fixtures/msr/`` (written by ``tools/make_msr_fixtures.py``).

    The algorithm: rows of groups with fewer than ``min_rating`` rows are dropped (only when
    ``min_rating > 1``); ``np.random.seed(seed)`` then one ``np.random.rand`` number per remaining row,
    in row order; rows sorted by (group, number); within a group of ``count`` rows, a row at position
    ``rank`` (from 1) goes to split ``i`` when
    ``round(c[i-1] * count) < rank <= round(c[i] * count)``, where ``c = cumsum(ratios)`` (``c[-1]``
    taken as 0) and ratios are ``[ratio, 1 - ratio]`` for a float. ``round`` is pandas' (NumPy's)
    round half to even: at 0.75 a group of 1 keeps its row in train (``round(0.75) = 1``), a group
    of 2 keeps both (``round(1.5) = 2``) and a group of 10 keeps 8 (``round(7.5) = 8``); at 0.5 a
    group of 5 keeps 2 (``round(2.5) = 2``).

    Parameters
    ----------
    groups : array-like
        The group (user or item) of each row, in the data's row order.
    ratio : float or list of float
        See :func:`process_split_ratio`.
    seed : int
        Seed of the legacy global NumPy generator in the released code; here a private
        ``numpy.random.RandomState(seed)``, which draws the same numbers without touching global state.
    min_rating : int
        Minimum rows per group (>= 1).

    Returns
    -------
    numpy.ndarray of int64
        Split index per row (0 = train for a float ratio, 1 = test), -1 for rows dropped by
        ``min_rating``.

    Raises
    ------
    ValueError
        A row without a group (missing id): the released code silently drops such rows from every
        split; recnb refuses them.
    """
    if min_rating < 1:
        raise ValueError("min_rating should be integer and larger than or equal to 1.")
    multi, r = process_split_ratio(ratio)
    ratios = r if multi else [r, 1 - r]
    codes, _ = pd.factorize(pd.Series(groups), sort=False)
    codes = codes.astype(np.int64)
    if (codes < 0).any():
        raise ValueError(
            f"stratified split: {int((codes < 0).sum())} row(s) without a group (missing id)"
        )
    n = len(codes)
    keep = np.ones(n, dtype=bool)
    if min_rating > 1:
        size = np.bincount(codes, minlength=int(codes.max()) + 1 if n else 0)
        keep = size[codes] >= min_rating
    sub = codes[keep]
    rnd = np.random.RandomState(seed).rand(len(sub))
    order = np.lexsort((rnd, sub))  # stable: ties keep row order, as pandas' sort_values
    sorted_groups = sub[order]
    size = np.bincount(sub, minlength=int(sub.max()) + 1 if len(sub) else 0)
    start = np.zeros(len(size), dtype=np.int64)
    start[1:] = np.cumsum(size)[:-1]
    rank = np.arange(len(sub)) - start[sorted_groups] + 1
    count = size[sorted_groups].astype(np.float64)
    lab_sorted = np.full(len(sub), -1, dtype=np.int64)
    prev = None
    for i, thr in enumerate(np.cumsum(ratios)):
        # same float64 product and the same half-to-even rounding as pandas' round(Series)
        cond = rank <= np.round(thr * count)
        if prev is not None:
            cond &= rank > np.round(prev * count)
        lab_sorted[cond] = i
        prev = thr
    lab_sub = np.empty(len(sub), dtype=np.int64)
    lab_sub[order] = lab_sorted
    out = np.full(n, -1, dtype=np.int64)
    out[keep] = lab_sub
    return out


def python_stratified_split(
    data: pd.DataFrame,
    ratio: float | list[float] = 0.75,
    min_rating: int = 1,
    filter_by: str = "user",
    col_user: str = "userID",
    col_item: str = "itemID",
    seed: int = 42,
) -> list[pd.DataFrame]:
    """Stratified split with the signature and output of Recommenders 1.2.1's ``python_stratified_split``.

    recnb's re-implementation (see :func:`stratified_labels`): same arguments, same rows in each
    split, same row order within each returned frame (sorted by the filter column, then the random
    number) and the original index. Unlike the released function, ``data`` is not modified (the
    release adds a ``random`` column to the caller's frame when ``min_rating == 1``), and a missing
    group id is an error instead of a silently dropped row.

    Returns
    -------
    list of pandas.DataFrame
        ``[train, test]`` for a float ratio, one frame per ratio for a list.
    """
    if filter_by not in ("user", "item"):
        raise ValueError("filter_by should be either 'user' or 'item'.")
    for col, what in ((col_user, "User"), (col_item, "Item")):
        if col not in data.columns:
            raise ValueError(f"Schema of data not valid. Missing {what} Col ({col!r})")
    col = col_user if filter_by == "user" else col_item
    labels = stratified_labels(data[col].to_numpy(), ratio, seed, min_rating)
    multi, r = process_split_ratio(ratio)
    n_splits = len(r) if multi else 2
    # the released output order: rows (after the min_rating filter) sorted by (group, random)
    if min_rating > 1:
        size = data.groupby(col)[col].transform("size").to_numpy()
        kept = size >= min_rating
    else:
        kept = np.ones(len(data), dtype=bool)
    d = data[kept].copy()
    d["__random"] = np.random.RandomState(seed).rand(len(d))
    d["__label"] = labels[kept]
    d = d.sort_values([col, "__random"])
    return [
        d[d["__label"].to_numpy() == i].drop(columns=["__random", "__label"])
        for i in range(n_splits)
    ]
