"""Neighbourhood models: item-kNN and user-kNN with shrunk cosine similarity.

Both keep a sparse matrix of the ``n_neighbors`` most similar items (or customers) per row, built in
row blocks so that no dense ``n x n`` matrix is ever held, and score by sparse products. Scores are
additive over consumed products (item-kNN) or neighbours (user-kNN), which is what ``explain``
returns.

Similarity: ``sim(a, b) = <x_a, x_b> / (|x_a| |x_b| + shrinkage)`` over the (optionally TF-IDF or
BM25 weighted) interaction vectors; only positive similarities are kept.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.models._checks import check_nonnegative, check_positive_int
from recnb.models.base import SCORE_BUDGET, Recommender
from recnb.models.registry import register
from recnb.models.topk import topk_dense

__all__ = ["ItemKNN", "UserKNN", "top_similar", "weight_rows"]

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

    Parameters
    ----------
    x : scipy.sparse.csr_matrix, shape (n, d)
        Row vectors to compare.
    n_neighbors : int
        Neighbours kept per row (self excluded; only positive similarities are kept).
    shrinkage : float
        Added to the norm product in the denominator (>= 0).
    budget : int
        Dense scores held at once (rows per block = budget // n).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n, n), float32
        Row ``a`` holds ``sim(a, b)`` for its neighbours ``b``; ties broken by the lower index.
    """
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
