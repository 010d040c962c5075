"""Deterministic top-k selection on a dense block of scores.

One function, :func:`topk_dense`, used by every model's batched recommendation: it picks the ``k``
highest scores per row, treats ``-inf`` as "not available", and breaks ties by the lower column index,
so the same scores always give the same list whatever the batch composition.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GROUP", "topk_dense"]

#: columns per group in the grouped pre-selection used for wide score blocks
GROUP = 64


def topk_dense(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` columns per row of ``scores``, highest first, ties by lower column index.

    Parameters
    ----------
    scores : numpy.ndarray, shape (n_rows, n_columns), float
        Scores; ``-inf`` marks a column that must not be returned (seen item, not a candidate).
        ``nan`` is rejected.
    k : int
        List length, >= 1.

    Returns
    -------
    indices : numpy.ndarray of int64, shape (n_rows, k)
        Column indices, best first. Padded with -1 only where a row has fewer than ``k``
        finite scores.
    values : numpy.ndarray of float32, shape (n_rows, k)
        The matching scores, padded with ``nan`` where ``indices`` is -1.
    """
    if k < 1:
        raise ValueError(f"topk_dense: k must be >= 1, got {k}")
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise ValueError(f"topk_dense: scores must be 2-D, got shape {scores.shape}")
    n_rows, n_cols = scores.shape
    if n_rows == 0:
        return np.empty((0, k), np.int64), np.empty((0, k), np.float32)
    kk = min(k, n_cols)
    if n_cols == 0:
        return np.full((n_rows, k), -1, np.int64), np.full((n_rows, k), np.nan, np.float32)

    if kk * GROUP * 4 <= n_cols:
        return _topk_grouped(scores, kk, k)
    return _topk_partition(scores, kk, k)


def _topk_partition(scores: np.ndarray, kk: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by ``argpartition``, with the index tie-break fixed on ambiguous rows."""
    n_rows, n_cols = scores.shape
    if kk < n_cols:
        # partition the negated scores for the kk smallest: numpy's introselect is many times
        # slower selecting the largest values when most scores are tied (e.g. zeros)
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    if np.isnan(scores).any():
        raise ValueError(
            "topk_dense: scores contain NaN; a model must return finite scores or -inf"
        )
    # threshold = k-th largest value per row; the selection is ambiguous only where more than
    # kk columns reach it (a tie at the boundary) or where it is -inf (fewer than kk available)
    thr = vals.min(axis=1)
    if kk < n_cols:
        n_ge = np.count_nonzero(scores >= thr[:, None], axis=1)
        fix = np.flatnonzero((n_ge > kk) | np.isneginf(thr))
    else:
        fix = np.flatnonzero(np.isneginf(thr))
    if len(fix):
        part[fix], vals[fix] = _exact_rows(scores[fix], thr[fix], kk)
    order = np.lexsort((part, -vals), axis=1)
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64, copy=False)
    val = np.take_along_axis(vals, order, axis=1).astype(np.float32, copy=False)
    missing = np.isneginf(val)
    if missing.any():
        idx[missing] = -1
        val[missing] = np.nan
    if kk < k:
        idx = np.hstack([idx, np.full((n_rows, k - kk), -1, np.int64)])
        val = np.hstack([val, np.full((n_rows, k - kk), np.nan, np.float32)])
    return idx, val


def _exact_rows(sub: np.ndarray, thr: np.ndarray, kk: int) -> tuple[np.ndarray, np.ndarray]:
    """Selection for rows with a tie at the threshold or fewer than ``kk`` finite scores.

    Keeps every score above the threshold, then the tied columns in index order until ``kk`` are
    chosen; ``-inf`` is never chosen. Unfilled slots get index 0 and value ``-inf``.
    """
    m, n_cols = sub.shape
    greater = sub > thr[:, None]
    equal = (sub == thr[:, None]) & np.isfinite(thr)[:, None]
    need = kk - np.count_nonzero(greater, axis=1)
    keep = greater | (equal & (np.cumsum(equal, axis=1) <= need[:, None]))
    rows, cols = np.nonzero(keep)
    counts = np.bincount(rows, minlength=m)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(rows)) - starts[rows]
    part = np.zeros((m, kk), np.int64)
    vals = np.full((m, kk), -np.inf, dtype=sub.dtype)
    part[rows, slot] = cols
    vals[rows, slot] = sub[rows, cols]
    return part, vals


def _topk_grouped(scores: np.ndarray, kk: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k for wide rows via group maxima (one cheap pass instead of a partition).

    Columns ``j, j + n_groups, j + 2 n_groups, ...`` form group ``j``. The ``kk`` groups with the
    largest maxima hold at least ``kk`` scores >= ``t`` (the smallest of those maxima), so every
    top-``kk`` score is >= ``t`` and lies in a group whose maximum is >= ``t``. When exactly ``kk``
    groups reach ``t`` (no tie among maxima) and ``t`` is finite, the answer is the exact top-k of
    those groups' columns plus the few tail columns; other rows take the plain exact path.
    """
    n_rows, n_cols = scores.shape
    scores = np.ascontiguousarray(scores)
    n_groups = n_cols // GROUP
    body = np.lib.stride_tricks.as_strided(
        scores,
        shape=(n_rows, GROUP, n_groups),
        strides=(scores.strides[0], n_groups * scores.strides[1], scores.strides[1]),
        writeable=False,
    )
    gmax = body.max(axis=1)
    if np.isnan(gmax).any():
        raise ValueError(
            "topk_dense: scores contain NaN; a model must return finite scores or -inf"
        )
    top_groups = np.argpartition(-gmax, kk - 1, axis=1)[:, :kk]
    t = np.take_along_axis(gmax, top_groups, axis=1).min(axis=1)
    ambiguous = (np.count_nonzero(gmax >= t[:, None], axis=1) > kk) | np.isneginf(t)
    cols = (top_groups[:, :, None] + n_groups * np.arange(GROUP)[None, None, :]).reshape(n_rows, -1)
    tail = np.arange(n_groups * GROUP, n_cols)
    if len(tail):
        cols = np.hstack([cols, np.broadcast_to(tail, (n_rows, len(tail)))])
    cols.sort(axis=1)  # the inner tie-break by position must be the tie-break by column index
    vals = np.take_along_axis(scores, cols, axis=1)
    if np.isnan(vals).any():
        raise ValueError(
            "topk_dense: scores contain NaN; a model must return finite scores or -inf"
        )
    sub_idx, val = topk_dense(vals, k)
    idx = np.where(sub_idx >= 0, np.take_along_axis(cols, np.maximum(sub_idx, 0), axis=1), -1)
    redo = np.flatnonzero(ambiguous)
    if len(redo):
        idx[redo], val[redo] = _topk_partition(scores[redo], kk, k)
    return idx, val
