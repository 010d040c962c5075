"""Neighbourhood models: item-kNN and user-kNN with shrunk cosine similarity.

Both keep a sparse matrix of the ``n_neighbors`` most similar items (or customers) per row, built in
row blocks so that no dense ``n x n`` matrix is ever held, and score by sparse products. Scores are
additive over consumed products (item-kNN) or neighbours (user-kNN), which is what ``explain``
returns.

Similarity: ``sim(a, b) = <x_a, x_b> / (|x_a| |x_b| + shrinkage)`` over the (optionally TF-IDF or
BM25 weighted) interaction vectors; only positive similarities are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.models._checks import check_nonnegative, check_positive_int
from recnb.models.base import SCORE_BUDGET, Recommender
from recnb.models.registry import register
from recnb.models.topk import topk_dense

__all__ = ["ItemKNN", "UserKNN", "top_similar", "top_similar_blocks", "weight_rows"]

WEIGHTINGS = ("none", "tfidf", "bm25")


def weight_rows(
    x: sp.csr_matrix, kind: str = "none", k1: float = 1.2, b: float = 0.75
) -> sp.csr_matrix:
    """Weight a documents x terms matrix (rows are the entities being compared).

    Parameters
    ----------
    x : scipy.sparse.csr_matrix
        Non-negative confidences; rows are "documents" (the items or customers compared),
        columns are "terms".
    kind : {"none", "tfidf", "bm25"}
        ``tfidf``: ``sqrt(x) * idf``; ``bm25``: Okapi BM25 term saturation with row-length
        normalisation, times ``idf``. ``idf = log(1 + n_rows / df)`` (always positive).
    k1, b : float
        BM25 saturation and length-normalisation parameters.

    Returns
    -------
    scipy.sparse.csr_matrix
        float32, same sparsity.
    """
    if kind not in WEIGHTINGS:
        raise ValueError(f"weighting {kind!r}; allowed: {list(WEIGHTINGS)}")
    x = sp.csr_matrix(x, dtype=np.float32, copy=True)
    if kind == "none":
        return x
    n_rows = x.shape[0]
    df = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)
    idf = np.log1p(n_rows / np.maximum(df, 1.0))
    col_idf = idf[x.indices]
    if kind == "tfidf":
        x.data = (np.sqrt(np.maximum(x.data, 0.0)) * col_idf).astype(np.float32)
        return x
    lengths = np.asarray(x.sum(axis=1)).ravel()
    avg = lengths.mean() if lengths.mean() > 0 else 1.0
    norm = (1.0 - b) + b * lengths / avg
    row_norm = np.repeat(norm, np.diff(x.indptr))
    tf = np.maximum(x.data, 0.0)
    x.data = (tf * (k1 + 1.0) / (k1 * row_norm + tf) * col_idf).astype(np.float32)
    return x


def top_similar(
    x: sp.csr_matrix, n_neighbors: int, shrinkage: float, budget: int = SCORE_BUDGET
) -> sp.csr_matrix:
    """Sparse top-``n_neighbors`` shrunk-cosine similarity between the rows of ``x``.

    Each row's co-occurrence counts are accumulated over the rows sharing one of its columns
    (a sparse row-by-row product, compiled with numba), so the work is ``sum_c df_c^2`` over the
    columns ``c`` of ``x`` plus one pass over each row's touched neighbours, and memory holds one
    dense row of ``n`` floats, never an ``n x n`` block. The sums are taken in float32 in the
    order of scipy's sparse product and the shrunk cosine in float64, so the similarities (and
    the neighbours kept) are exactly those of the dense block computation it replaced
    (:func:`top_similar_blocks`, kept as the reference of the tests).

    Parameters
    ----------
    x : scipy.sparse.csr_matrix, shape (n, d)
        Row vectors to compare (non-negative weights).
    n_neighbors : int
        Neighbours kept per row (self excluded; only positive similarities are kept).
    shrinkage : float
        Added to the norm product in the denominator (>= 0).
    budget : int
        Unused (kept for callers of the block version); memory is one row of ``n`` floats.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n, n), float32
        Row ``a`` holds ``sim(a, b)`` for its neighbours ``b``; ties broken by the lower index.
    """
    x = sp.csr_matrix(x, dtype=np.float32)
    n = x.shape[0]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1), dtype=np.float64).ravel())
    xt = sp.csr_matrix(x.T)  # column c: the rows that have it, in row order (as scipy's product)
    kk = max(1, min(int(n_neighbors), n))
    cols = np.full((n, kk), -1, dtype=np.int64)
    vals = np.zeros((n, kk), dtype=np.float32)
    counts = np.zeros(n, dtype=np.int64)
    _similarity_kernel()(
        x.indptr.astype(np.int64),
        x.indices.astype(np.int64),
        x.data,
        xt.indptr.astype(np.int64),
        xt.indices.astype(np.int64),
        xt.data,
        norms,
        float(shrinkage),
        kk,
        cols,
        vals,
        counts,
    )
    keep = np.arange(kk)[None, :] < counts[:, None]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    m = sp.csr_matrix((vals[keep], cols[keep], indptr), shape=(n, n), dtype=np.float32)
    m.sort_indices()
    return m


def top_similar_blocks(
    x: sp.csr_matrix, n_neighbors: int, shrinkage: float, budget: int = SCORE_BUDGET
) -> sp.csr_matrix:
    """:func:`top_similar` computed on dense row blocks of the similarity (the former version,
    slower: a sparse product into a dense block of ``budget`` scores at a time); the reference
    the tests compare :func:`top_similar` with."""
    x = sp.csr_matrix(x, dtype=np.float32)
    n = x.shape[0]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1), dtype=np.float64).ravel())
    xt = x.T.tocsc()
    step = max(1, budget // max(1, n))
    kk = max(1, min(int(n_neighbors), n))
    rows, cols, vals = [], [], []
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = np.asarray((x[start:stop] @ xt).toarray(), dtype=np.float64)
        denom = norms[start:stop, None] * norms[None, :] + shrinkage
        np.divide(block, denom, out=block, where=denom > 0)
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        block[block <= 0] = -np.inf
        idx, val = topk_dense(block.astype(np.float32), kk)
        ok = idx >= 0
        rows.append(np.repeat(np.arange(start, stop), ok.sum(axis=1)))
        cols.append(idx[ok])
        vals.append(val[ok])
    m = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n),
        dtype=np.float32,
    )
    m.sort_indices()
    return m


_KERNEL: Any = None


def _similarity_kernel() -> Any:
    """The numba-compiled kernel of :func:`top_similar`, built on first use (cached on disk)."""
    global _KERNEL
    if _KERNEL is None:
        import numba

        _KERNEL = numba.njit(cache=True, nogil=True)(_top_similar_rows)
    return _KERNEL


def _top_similar_rows(
    indptr, indices, data, t_indptr, t_indices, t_data, norms, shrinkage, kk, cols, vals, counts
):  # pragma: no cover (compiled)
    n = len(indptr) - 1
    acc = np.zeros(n, dtype=np.float32)
    sim = np.zeros(n, dtype=np.float32)
    flag = np.zeros(n, dtype=np.bool_)
    touched = np.empty(n, dtype=np.int64)
    cand = np.empty(n, dtype=np.int64)
    cval = np.empty(n, dtype=np.float32)
    for i in range(n):
        nt = 0
        # float32 co-occurrence sums in the order of scipy's csr_matmat: row i's entries in
        # storage order, for each the rows that have that column, in row order
        for p in range(indptr[i], indptr[i + 1]):
            c = indices[p]
            v = data[p]
            for q in range(t_indptr[c], t_indptr[c + 1]):
                j = t_indices[q]
                if not flag[j]:
                    flag[j] = True
                    touched[nt] = j
                    nt += 1
                acc[j] += v * t_data[q]
        # shrunk cosine in float64, kept when positive, stored as float32
        nc = 0
        for t in range(nt):
            j = touched[t]
            s = np.float64(acc[j])
            acc[j] = 0.0
            flag[j] = False
            if j == i:
                continue
            denom = norms[i] * norms[j] + shrinkage
            if denom > 0:
                s = s / denom
            if s > 0:
                cand[nc] = j
                cval[nc] = np.float32(s)
                sim[j] = np.float32(s)
                nc += 1
        if nc <= kk:
            chosen = np.sort(cand[:nc])
        else:
            # the kk-th largest value: everything above it is kept, ties at it by lower index
            thr = -np.partition(-cval[:nc], kk - 1)[kk - 1]
            m = 0
            n_tied = 0
            for t in range(nc):
                if cval[t] > thr:
                    touched[m] = cand[t]
                    m += 1
            for t in range(nc):
                if cval[t] == thr:
                    cand[n_tied] = cand[t]
                    n_tied += 1
            tied = np.sort(cand[:n_tied])
            for t in range(kk - m):
                touched[m + t] = tied[t]
            chosen = np.sort(touched[:kk])
        counts[i] = len(chosen)
        for t in range(len(chosen)):
            cols[i, t] = chosen[t]
            vals[i, t] = sim[chosen[t]]


class _KNNBase(Recommender):
    can_explain = True

    def __init__(
        self,
        n_neighbors: int = 100,
        shrinkage: float = 10.0,
        weighting: str = "none",
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.shrinkage = shrinkage
        self.weighting = weighting
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _check_params(self) -> None:
        who = self.name
        check_positive_int(who, "n_neighbors", self.n_neighbors)
        check_nonnegative(who, "shrinkage", self.shrinkage)
        if self.weighting not in WEIGHTINGS:
            raise ValueError(f"{who}: weighting={self.weighting!r}; allowed: {list(WEIGHTINGS)}")
        if not self.bm25_k1 >= 0 or not 0 <= self.bm25_b <= 1:
            raise ValueError(
                f"{who}: need bm25_k1 >= 0 and 0 <= bm25_b <= 1, got {self.bm25_k1}, {self.bm25_b}"
            )

    def _positive(self, train: Interactions) -> sp.csr_matrix:
        x = train.matrix.copy()
        x.data = np.where(x.data > 0, x.data, 0).astype(np.float32)
        x.eliminate_zeros()
        return sp.csr_matrix(x)


@register
class ItemKNN(_KNNBase):
    """Item-based k-nearest neighbours.

    ``score(u, i) = sum_j r_uj * sim(j, i)`` over the products ``j`` the customer consumed, where
    ``sim(j, .)`` keeps the ``n_neighbors`` most similar products of ``j``.

    Parameters
    ----------
    n_neighbors : int
        Neighbours kept per product.
    shrinkage : float
        Cosine shrinkage (damps similarities supported by few customers).
    weighting : {"none", "tfidf", "bm25"}
        Weighting of the product x customer vectors before the similarity.
    bm25_k1, bm25_b : float
        BM25 parameters (used when ``weighting="bm25"``).
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name = "item_knn"

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        x = self._positive(train)
        w = weight_rows(x.T.tocsr(), self.weighting, self.bm25_k1, self.bm25_b)
        self.similarity_ = top_similar(w, self.n_neighbors, self.shrinkage)
        self.interactions_ = x

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return (self.interactions_[customer_idx] @ self.similarity_).toarray()

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        row = self.interactions_[customer_idx]
        sim = self.similarity_[:, product_idx].toarray().ravel()[row.indices]
        contrib = row.data.astype(np.float64) * sim
        keep = contrib != 0
        return pd.DataFrame(
            {
                "contributor": self.product_ids_[row.indices[keep]],
                "kind": "consumed_product",
                "contribution": contrib[keep],
            }
        )


@register
class UserKNN(_KNNBase):
    """User-based k-nearest neighbours.

    ``score(u, i) = sum_v sim(u, v) * r_vi`` over the ``n_neighbors`` customers most similar to
    ``u``.

    Parameters
    ----------
    n_neighbors : int
        Neighbours kept per customer.
    shrinkage : float
        Cosine shrinkage.
    weighting : {"none", "tfidf", "bm25"}
        Weighting of the customer x product vectors before the similarity.
    bm25_k1, bm25_b : float
        BM25 parameters (used when ``weighting="bm25"``).
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name = "user_knn"

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        x = self._positive(train)
        w = weight_rows(x, self.weighting, self.bm25_k1, self.bm25_b)
        self.neighbours_ = top_similar(w, self.n_neighbors, self.shrinkage)
        self.interactions_ = x

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return (self.neighbours_[customer_idx] @ self.interactions_).toarray()

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        row = self.neighbours_[customer_idx]
        r = self.interactions_[:, product_idx].toarray().ravel()[row.indices]
        contrib = row.data.astype(np.float64) * r
        keep = contrib != 0
        return pd.DataFrame(
            {
                "contributor": self.customer_ids_[row.indices[keep]],
                "kind": "neighbour",
                "contribution": contrib[keep],
            }
        )
