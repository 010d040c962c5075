"""RP3beta (Paudel et al. 2017): item-item transition probabilities of a three-step random walk,
re-weighted against popularity.

Paudel, Christoffel, Mendez & Bernstein, "Updatable, accurate, diverse, and scalable
recommendations for interactive applications", ACM TiiS 7(1), 2017; tuned as in Dacrema, Cremonesi
& Jannach, "Are we really making much progress?", RecSys 2019 (its ``RP3betaRecommender``):

- ``P_ui``: the 1/0 interaction matrix normalised per customer (rows sum to 1), ``P_iu`` the same
  for products (rows of ``X^T`` sum to 1); both raised element-wise to the power ``alpha``;
- ``W = P_iu P_ui``: the probability of walking product -> customer -> product, divided by the
  destination's popularity to the power ``beta`` (``beta = 0`` is the plain P3alpha walk), with the
  self-transition set to 0;
- only the ``n_neighbors`` largest entries of each row are kept (sparse), rows optionally
  re-normalised to sum to 1.

``score(u, i) = sum_j x_uj W[j, i]`` over the customer's consumed products ``j``: ``explain``
returns each term. ``W`` is built by blocks of rows, so memory stays at one dense block of
``block_rows x n_products`` plus the sparse result, whatever the catalogue size.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recnb.data.interactions import Interactions
from recnb.models._checks import check_bool, check_nonnegative, check_positive_int
from recnb.models.base import SCORE_BUDGET, Recommender
from recnb.models.registry import register

__all__ = ["RP3beta", "rp3beta_weights"]


def rp3beta_weights(
    x: sp.spmatrix,
    alpha: float = 1.0,
    beta: float = 0.5,
    n_neighbors: int = 100,
    normalize_rows: bool = True,
    block_rows: int | None = None,
) -> sp.csr_matrix:
    """The sparse item x item RP3beta matrix ``W`` (float32, at most ``n_neighbors`` per row).

    Parameters
    ----------
    x : scipy sparse matrix, shape (n_customers, n_products)
        Interactions; only whether an entry is positive matters.
    alpha : float
        Exponent of the transition probabilities (>= 0).
    beta : float
        Popularity penalty exponent (>= 0).
    n_neighbors : int
        Entries kept per row (the largest; ties by lower product index).
    normalize_rows : bool
        Divide each kept row by its sum.
    block_rows : int, optional
        Rows of ``W`` computed per dense block (default: about 8M floats per block).

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n_products, n_products)
    """
    xb = sp.csr_matrix(x > 0, dtype=np.float32)
    n = xb.shape[1]
    p_ui = normalize(xb, norm="l1", axis=1)
    p_iu = normalize(sp.csr_matrix(xb.T), norm="l1", axis=1)
    if alpha != 1.0:
        p_ui.data **= np.float32(alpha)
        p_iu.data **= np.float32(alpha)
    pop = np.asarray(xb.sum(axis=0), dtype=np.float64).ravel()
    degree = np.zeros(n, np.float32)
    degree[pop > 0] = (pop[pop > 0] ** -float(beta)).astype(np.float32)
    keep = min(int(n_neighbors), max(n - 1, 1))
    step = block_rows or max(1, SCORE_BUDGET // max(n, 1))
    rows, cols, vals = [], [], []
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = np.asarray((p_iu[start:stop] @ p_ui).toarray(), dtype=np.float32)
        block *= degree[None, :]
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        if keep < n:
            # the `keep` largest per row; a stable sort on (-value, index) breaks ties by index
            part = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
            val = np.take_along_axis(block, part, axis=1)
            thr = val.min(axis=1, keepdims=True)
            # entries equal to the threshold beyond the partition would make the choice depend
            # on argpartition's internals: take candidates >= threshold, then order exactly
            cand_r, cand_c = np.nonzero((block >= thr) & (block > 0))
            cand_v = block[cand_r, cand_c]
            order = np.lexsort((cand_c, -cand_v, cand_r))
            cand_r, cand_c, cand_v = cand_r[order], cand_c[order], cand_v[order]
            first = np.searchsorted(cand_r, np.arange(stop - start))
            rank = np.arange(len(cand_r)) - first[cand_r]
            sel = rank < keep
            r, c, v = cand_r[sel], cand_c[sel], cand_v[sel]
        else:
            r, c = np.nonzero(block)
            v = block[r, c]
        nz = v > 0
        rows.append(r[nz] + start)
        cols.append(c[nz])
        vals.append(v[nz])
    w = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, n),
        dtype=np.float32,
    )
    if normalize_rows:
        w = sp.csr_matrix(normalize(w, norm="l1", axis=1), dtype=np.float32)
    w.sort_indices()
    return w


@register
class RP3beta(Recommender):
    """Random walk product -> customer -> product with a popularity penalty (RP3beta).

    Parameters
    ----------
    alpha : float
        Exponent of the transition probabilities (>= 0; 1 is the plain walk).
    beta : float
        Popularity penalty: destination probabilities are divided by popularity ** beta (>= 0).
    n_neighbors : int
        Neighbours kept per product.
    normalize_rows : bool
        Re-normalise each product's kept neighbours to sum to 1.
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name: ClassVar[str] = "rp3beta"
    can_explain: ClassVar[bool] = True

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 0.5,
        n_neighbors: int = 100,
        normalize_rows: bool = True,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.n_neighbors = n_neighbors
        self.normalize_rows = normalize_rows
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _check_params(self) -> None:
        check_nonnegative("rp3beta", "alpha", self.alpha)
        check_nonnegative("rp3beta", "beta", self.beta)
        check_positive_int("rp3beta", "n_neighbors", self.n_neighbors)
        check_bool("rp3beta", "normalize_rows", self.normalize_rows)

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        self.weights_ = rp3beta_weights(
            self.seen_,
            float(self.alpha),
            float(self.beta),
            int(self.n_neighbors),
            bool(self.normalize_rows),
        )
        self.interactions_ = self.seen_

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return np.asarray((self.interactions_[customer_idx] @ self.weights_).toarray(), np.float32)

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        row = self.interactions_[customer_idx]
        col = self.weights_[row.indices, product_idx].toarray().ravel()
        contrib = row.data.astype(np.float64) * col
        return pd.DataFrame(
            {
                "contributor": self.product_ids_[row.indices],
                "kind": "consumed_product",
                "contribution": contrib,
            }
        )
