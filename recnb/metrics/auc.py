"""Per-customer AUC over the whole catalogue, computed exactly from ranks, scored in batches.

For a customer, the *candidates* are all products not in ``exclude`` (normally the training
items). Positives are the customer's relevant held-out items among the candidates; every other
candidate is a negative. The AUC is the probability that a random positive is scored above a
random negative, ties counting one half (the Mann-Whitney statistic), computed exactly over all
candidates (no negative sampling) from each positive's average rank among the candidates::

    AUC = (sum of the positives' ranks among candidates - P (P + 1) / 2) / (P * N)

with average ranks for ties, ``P`` positives and ``N`` negatives. This is the per-customer
("group") AUC; the summary averages it over customers. Customers without a positive or without a
negative get NaN.

Scores come either as a dense array ``(n_customers, n_products)`` (small data) or as a callable
``score_batch(rows) -> (len(rows), n_products)`` array, called for batches of ``batch_size``
customers, so a model never has to materialize the customers x products score matrix.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy import sparse

from recnb.metrics._common import check_truth, row_ids

__all__ = ["auc_per_customer"]

ScoreSource = np.ndarray | Callable[[np.ndarray], ArrayLike]

_CHUNK_ELEMENTS = 4_000_000


def auc_per_customer(
    scores: ScoreSource,
    truth: sparse.spmatrix | sparse.sparray,
    exclude: sparse.spmatrix | sparse.sparray | None = None,
    customers: ArrayLike | None = None,
    batch_size: int = 512,
) -> np.ndarray:
    """Exact AUC for each customer over all products not in ``exclude``.

    Parameters
    ----------
    scores : numpy.ndarray of shape (n_customers, n_products), or callable
        Model scores, higher = better. A callable receives an int64 array of row indices (sorted,
        at most ``batch_size`` long) and returns their score rows as an array of shape
        ``(len(rows), n_products)``. Scores of candidate products must be finite; scores of
        excluded products are ignored.
    truth : scipy sparse matrix, shape (n_customers, n_products)
        Held-out items (grade > 0 = positive).
    exclude : scipy sparse matrix, optional
        Same shape; stored entries (any value) are removed from both positives and negatives,
        normally the training interactions.
    customers : array-like of int, optional
        Row indices to evaluate (default: every row with a held-out item).
    batch_size : int
        Customers scored at once; memory is about ``batch_size * n_products`` floats plus a
        fixed 4 million-element working buffer.

    Returns
    -------
    numpy.ndarray of float64, shape (n_customers,)
        AUC per row; NaN for rows not evaluated, without a positive or without a negative.

    Raises
    ------
    ValueError
        On shape mismatches or non-finite scores of candidate products.
    """
    truth = check_truth(truth)
    n, n_products = truth.shape
    excl = None
    if exclude is not None:
        if not sparse.issparse(exclude):
            raise TypeError(f"exclude must be a scipy sparse matrix, got {type(exclude).__name__}")
        excl = sparse.csr_matrix(exclude, copy=True)
        if excl.shape != truth.shape:
            raise ValueError(f"exclude has shape {excl.shape}, truth has {truth.shape}")
        excl.sum_duplicates()
        excl.data = np.ones_like(excl.data, dtype=np.int8)
        excl.sort_indices()
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if customers is None:
        rows = np.nonzero(np.diff(truth.indptr) > 0)[0]
    else:
        rows = np.unique(np.asarray(customers, dtype=np.int64))
        if rows.size and (rows[0] < 0 or rows[-1] >= n):
            raise ValueError(f"customers holds a row index outside 0..{n - 1}")
    if callable(scores):
        score_batch = scores
    else:
        dense = np.asarray(scores)
        if dense.shape != truth.shape:
            raise ValueError(f"scores has shape {dense.shape}, truth has {truth.shape}")

        def score_batch(batch: np.ndarray) -> np.ndarray:
            return dense[batch]

    result = np.full(n, np.nan)
    for start in range(0, rows.size, batch_size):
        batch = rows[start : start + batch_size]
        result[batch] = _auc_batch(score_batch, batch, truth, excl, n_products)
    return result


def _auc_batch(
    score_batch: Callable[[np.ndarray], ArrayLike],
    batch: np.ndarray,
    truth: sparse.csr_matrix,
    excl: sparse.csr_matrix | None,
    n_products: int,
) -> np.ndarray:
    b = batch.size
    block = np.array(score_batch(batch), dtype=np.float64, copy=True)
    if block.shape != (b, n_products):
        raise ValueError(
            f"score_batch returned shape {block.shape} for {b} customers; "
            f"expected ({b}, {n_products})"
        )
    pos = truth[batch]
    pos_rows, pos_cols = row_ids(pos), pos.indices.astype(np.int64)
    n_excl = np.zeros(b, dtype=np.int64)
    if excl is not None:
        ex = excl[batch]
        ex_rows, ex_cols = row_ids(ex), ex.indices.astype(np.int64)
        block[ex_rows, ex_cols] = -np.inf
        n_excl = np.diff(ex.indptr).astype(np.int64)
        keep = ~np.isneginf(block[pos_rows, pos_cols])
        pos_rows, pos_cols = pos_rows[keep], pos_cols[keep]
    finite = np.isfinite(block).sum(axis=1)
    bad = finite != n_products - n_excl
    if bad.any():
        raise ValueError(
            f"scores for customer row {int(batch[np.argmax(bad)])} contain NaN or infinite "
            "values on products that are not excluded"
        )
    # Average rank of each positive among all products of its row: (number of lower scores)
    # + (number of equal scores + 1) / 2. Counted by comparison against its row, in chunks of
    # positives, which is cheaper than ranking whole rows.
    pos_scores = block[pos_rows, pos_cols]
    ranks = np.empty(pos_scores.size)
    step = max(1, _CHUNK_ELEMENTS // max(n_products, 1))
    for start in range(0, pos_scores.size, step):
        rows = block[pos_rows[start : start + step]]
        s = pos_scores[start : start + step, None]
        lower = np.count_nonzero(rows < s, axis=1)
        equal = np.count_nonzero(rows == s, axis=1)
        ranks[start : start + step] = lower + (equal + 1) / 2.0
    n_pos = np.bincount(pos_rows, minlength=b).astype(np.float64)
    rank_sum = np.bincount(pos_rows, weights=ranks, minlength=b)
    n_neg = (n_products - n_excl) - n_pos
    # Excluded products hold -inf, so they sit below every candidate: shift ranks by n_excl.
    u = rank_sum - n_pos * n_excl - n_pos * (n_pos + 1.0) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = u / (n_pos * n_neg)
    auc[(n_pos == 0) | (n_neg == 0)] = np.nan
    return auc
