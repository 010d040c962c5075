"""Deterministic top-k selection on dense blocks of scores, and the pieces of the chunked scoring loop.

:func:`topk_dense` is used by every model's batched recommendation: it picks the ``k`` highest
scores per row, treats ``-inf`` as "not available", and breaks ties by the lower column index, so the
same scores always give the same list whatever the batch composition.

The scoring loop of :class:`~recnb.models.base.Recommender` cuts the customers into balanced chunks
of about ``CHUNK_BUDGET`` scores (:func:`chunk_bounds`); each chunk is scored by the model, its seen
items masked (:func:`mask_csr_rows`) and selected before the next one, so memory holds one chunk per
worker whatever the number of customers. Models with ``parallel_scoring`` run the chunks on
:func:`scoring_threads` worker threads (numpy and BLAS release the GIL) with BLAS at one thread each.

Wide rows are selected through group maxima: columns ``j, j + G, j + 2G, ...`` (``G`` groups of
``GROUP`` columns) form a group; one vectorised pass finds each group's maximum, the ``k`` best
groups hold every top-k score, and only their ``k * GROUP`` columns are ranked exactly.

Tie order (the contract every path keeps): higher score first; among equal scores the lower column
(product) index first; ``-inf`` never returned; rows with fewer than ``k`` finite scores padded with
index -1 and score ``nan``.
"""

from __future__ import annotations

import contextlib
import os
from functools import lru_cache

import numpy as np
from threadpoolctl import ThreadpoolController

__all__ = [
    "CHUNK_BUDGET",
    "GROUP",
    "SELECT_BUDGET",
    "THREADS_ENV",
    "chunk_bounds",
    "mask_csr_rows",
    "one_blas_thread",
    "scoring_threads",
    "topk_dense",
]

#: columns per group in the grouped pre-selection used for wide score blocks (16: fewer
#: candidates to re-rank than with larger groups, for a longer list of group maxima; the fastest
#: of 8 to 128 when selecting top-10 of 20,000 columns, bench_topk.py's size)
GROUP = 16
#: float32 scores per chunk of the scoring loop (16 MB): enough customers per score product that
#: BLAS packs the product factors once for many rows
CHUNK_BUDGET = 1 << 22
#: float32 scores selected at a time inside :func:`topk_dense` (16 MB, as a chunk of the scoring
#: loop): larger blocks, e.g. from models that score 32 MB at once, are selected in row chunks
SELECT_BUDGET = 1 << 22
#: environment variable that fixes the number of scoring threads (an int >= 1)
THREADS_ENV = "RECNB_SCORING_THREADS"


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

    if kk * GROUP * 4 > n_cols:
        return _topk_partition(scores, kk, k)
    # wide rows: the grouped pre-selection, a chunk of rows at a time
    step = max(1, SELECT_BUDGET // n_cols)
    if n_rows <= step:
        return _topk_grouped(scores, kk, k)
    idx = np.empty((n_rows, k), np.int64)
    val = np.empty((n_rows, k), np.float32)
    for start in range(0, n_rows, step):
        stop = min(n_rows, start + step)
        idx[start:stop], val[start:stop] = _topk_grouped(scores[start:stop], kk, k)
    return idx, val


def _nan_error() -> ValueError:
    return ValueError("topk_dense: scores contain NaN; a model must return finite scores or -inf")


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
        raise _nan_error()
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
        raise _nan_error()
    top_groups = np.argpartition(-gmax, kk - 1, axis=1)[:, :kk]
    row_start = np.arange(n_rows)[:, None]
    t = gmax.ravel()[top_groups + row_start * n_groups].min(axis=1)
    ambiguous = (np.count_nonzero(gmax >= t[:, None], axis=1) > kk) | np.isneginf(t)
    # with the groups in increasing order, columns g + n_groups * i listed by (i, g) increase:
    # the inner tie-break by position is then the tie-break by column index, with no sort
    top_groups.sort(axis=1)
    cols = (top_groups[:, None, :] + n_groups * np.arange(GROUP)[None, :, None]).reshape(n_rows, -1)
    tail = np.arange(n_groups * GROUP, n_cols)
    if len(tail):
        cols = np.hstack([cols, np.broadcast_to(tail, (n_rows, len(tail)))])
    vals = scores.ravel()[cols + row_start * n_cols]
    sub_idx, val = _topk_partition(vals, kk, k)  # raises on NaN in the tail
    idx = np.where(sub_idx >= 0, np.take_along_axis(cols, np.maximum(sub_idx, 0), axis=1), -1)
    redo = np.flatnonzero(ambiguous)
    if len(redo):
        idx[redo], val[redo] = _topk_partition(scores[redo], kk, k)
    return idx, val


def mask_csr_rows(
    scores: np.ndarray, indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray
) -> None:
    """Set ``scores[r, j] = -inf`` for every stored entry ``j`` of CSR row ``rows[r]``, in place.

    The same as ``scores[r, m[rows].indices] = -inf`` for a CSR matrix ``m`` with these
    ``indptr``/``indices``, without building the row slice (scipy's row indexing costs more than
    the scatter itself on a small chunk).
    """
    starts = indptr[rows]
    counts = indptr[rows + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return
    r = np.repeat(np.arange(len(rows)), counts)
    offsets = np.cumsum(counts) - counts
    pos = np.arange(total) - np.repeat(offsets - starts, counts)
    scores[r, indices[pos]] = -np.inf


def chunk_bounds(n: int, step: int) -> list[tuple[int, int]]:
    """``[start, stop)`` chunks of at most ``step`` rows covering ``range(n)``, balanced in size.

    ``ceil(n / step)`` chunks whose sizes differ by at most one, rather than full chunks and a
    small remainder: BLAS picks its kernel by the matrix sizes (matrix-vector for one row, a
    "small matrix" kernel for a few), and those round differently from the matrix-matrix kernel
    of the other chunks. Balanced chunks keep every chunk at least half a ``step``, so every
    customer's scores come from the same kind of product (a request for fewer than ``step``
    customers is one chunk). A step of 2 never leaves a lone row (3 rows make one chunk); a
    step of 1 is taken as asked.
    """
    step = max(1, int(step))
    if n <= 0:
        return []
    count = -(-n // step)
    while step > 1 and count > 1 and n // count < 2:
        count -= 1
    size, extra = divmod(n, count)
    edges = np.concatenate([[0], np.cumsum([size + 1] * extra + [size] * (count - extra))])
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def scoring_threads() -> int:
    """Worker threads for chunked scoring: ``RECNB_SCORING_THREADS``, else the usable CPUs.

    The lists do not depend on it. A process that runs beside others on the same cores (e.g. one
    of several parallel tuning workers) should set ``RECNB_SCORING_THREADS=1``.
    """
    raw = os.environ.get(THREADS_ENV)
    if raw is not None and raw.strip():
        try:
            n = int(raw)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"{THREADS_ENV}={raw!r}: expected an int >= 1")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def one_blas_thread() -> contextlib.AbstractContextManager:
    """A context in which BLAS runs on one thread (for work spread over worker threads).

    The same as ``threadpoolctl.threadpool_limits(1, "blas")``, through a controller built once
    per process (listing the loaded libraries costs milliseconds per call; numpy's BLAS is loaded
    before any scoring).
    """
    return _controller().limit(limits=1, user_api="blas")


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    return ThreadpoolController()
