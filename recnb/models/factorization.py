"""Matrix factorisation: PureSVD for ranking and a biased MF for explicit ratings.

- :class:`PureSVD` (Cremonesi et al. 2010): truncated SVD ``X ~ U S V^T`` of the confidence
  matrix by randomised SVD (seeded), float32; ``score(u, .) = x_u V V^T``, i.e. the customer's row
  folded into the item space. The score is a sum over consumed products ``j`` of
  ``x_uj * <v_j, v_i>``, which ``explain`` returns.
- :class:`BiasedMF`: ``r(u, i) = mu + b_u + b_i + <p_u, q_i>`` fitted to the stored values as
  ratings by alternating least squares with the weighted-lambda regulariser (Zhou et al. 2008;
  every stored value is a rating, unobserved pairs are not zeros). :meth:`BiasedMF.predict` gives
  ratings for RMSE/MAE; ranking uses the same unclipped prediction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from recnb.interactions import Interactions
from recnb.models._checks import check_nonnegative, check_positive_int
from recnb.models.base import Recommender
from recnb.models.registry import register

__all__ = ["BiasedMF", "PureSVD"]


@register
class PureSVD(Recommender):
    """PureSVD: rank-``n_factors`` truncated SVD of the interaction matrix.

    Parameters
    ----------
    n_factors : int
        Rank (capped at ``min(n_customers, n_products) - 1``).
    n_iter : int
        Power iterations of the randomised SVD (more = closer to the exact SVD).
    binarize : bool
        Factorise 1/0 (interaction or not) instead of the confidences.
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name = "pure_svd"
    can_explain = True

    def __init__(
        self,
        n_factors: int = 64,
        n_iter: int = 7,
        binarize: bool = False,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.n_factors = n_factors
        self.n_iter = n_iter
        self.binarize = binarize
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _check_params(self) -> None:
        check_positive_int("pure_svd", "n_factors", self.n_factors)
        check_positive_int("pure_svd", "n_iter", self.n_iter)

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        x = self.seen_.copy() if self.binarize else train.matrix.multiply(train.matrix > 0)
        x = sp.csr_matrix(x, dtype=np.float32)
        rank = max(1, min(int(self.n_factors), min(x.shape) - 1))
        _, _, vt = randomized_svd(
            x, rank, n_iter=int(self.n_iter), random_state=int(rng.integers(2**31 - 1))
        )
        self.item_factors_ = np.ascontiguousarray(vt.T, dtype=np.float32)
        self.interactions_ = x
        self.customer_factors_ = np.asarray(x @ self.item_factors_, dtype=np.float32)

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return self.customer_factors_[customer_idx] @ self.item_factors_.T

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        row = self.interactions_[customer_idx]
        v = self.item_factors_.astype(np.float64)
        contrib = row.data * (v[row.indices] @ v[product_idx])
        return pd.DataFrame(
            {
                "contributor": self.product_ids_[row.indices],
                "kind": "consumed_product",
                "contribution": contrib,
            }
        )


def _als_side(
    r: sp.csr_matrix,
    other: np.ndarray,
    other_bias: np.ndarray,
    mu: float,
    reg: float,
    bias_reg: float,
    budget: int = 1 << 24,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve every row's ``[p, b]`` given the other side's factors and biases.

    Minimises ``sum_i (r_ui - mu - b_i - b_u - <p_u, q_i>)^2 + reg n_u |p_u|^2
    + bias_reg n_u b_u^2`` per row ``u`` in closed form. The per-row Gram matrices
    ``sum_i q_i q_i^T`` are one sparse x dense product with the row-wise outer products of the
    other side's ``[q, 1]``, computed in blocks of rows and of the other side so that at most about
    ``budget`` float64 values are held per block.
    """
    n, f = r.shape[0], other.shape[1]
    d = f + 1
    q = np.hstack([other, np.ones((other.shape[0], 1))]).astype(np.float64)
    counts = np.diff(r.indptr)
    pattern = sp.csr_matrix((np.ones(r.nnz), r.indices, r.indptr), shape=r.shape)
    target = sp.csr_matrix(
        (r.data.astype(np.float64) - mu - other_bias[r.indices], r.indices, r.indptr), shape=r.shape
    )
    rhs_all = target @ q
    penalty = np.full(d, reg)
    penalty[-1] = bias_reg
    diag = np.arange(d)
    out = np.zeros((n, d))
    step = max(1, budget // (d * d))
    blocks = [(lo, min(q.shape[0], lo + step)) for lo in range(0, q.shape[0], step)]
    outer = None
    if len(blocks) == 1:  # the usual case: compute the other side's outer products once
        outer = (q[:, :, None] * q[:, None, :]).reshape(q.shape[0], d * d)
    for start in range(0, n, step):
        stop = min(n, start + step)
        rows = pattern[start:stop]
        if outer is not None:
            gram = rows @ outer
        else:
            gram = np.zeros((stop - start, d * d))
            for lo, hi in blocks:
                qb = q[lo:hi]
                gram += rows[:, lo:hi] @ (qb[:, :, None] * qb[:, None, :]).reshape(hi - lo, d * d)
        gram = gram.reshape(-1, d, d)
        c = counts[start:stop]
        gram[:, diag, diag] += c[:, None] * penalty[None, :]
        nz = np.flatnonzero(c > 0)
        if len(nz):
            sol = np.linalg.solve(gram[nz], rhs_all[start:stop][nz][:, :, None])[:, :, 0]
            out[start + nz] = sol
    return out[:, :f], out[:, f]


@register
class BiasedMF(Recommender):
    """Biased matrix factorisation for explicit ratings, trained by ALS.

    ``r(u, i) = mu + b_u + b_i + <p_u, q_i>``; every stored value of the training matrix is a
    rating (e.g. 0.5-5 stars).

    Parameters
    ----------
    n_factors : int
        Latent dimension.
    n_epochs : int
        ALS sweeps (customers then products).
    regularization : float
        Weighted-lambda L2 penalty on the factors (scaled by each row's number of ratings).
    bias_regularization : float
        Weighted-lambda L2 penalty on the biases.
    init_std : float
        Standard deviation of the initial item factors.
    clip : bool
        Clip :meth:`predict` to the training rating range.
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name = "biased_mf"
    can_explain = True

    def __init__(
        self,
        n_factors: int = 32,
        n_epochs: int = 15,
        regularization: float = 0.1,
        bias_regularization: float = 0.1,
        init_std: float = 0.1,
        clip: bool = True,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.regularization = regularization
        self.bias_regularization = bias_regularization
        self.init_std = init_std
        self.clip = clip
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _check_params(self) -> None:
        check_positive_int("biased_mf", "n_factors", self.n_factors)
        check_positive_int("biased_mf", "n_epochs", self.n_epochs)
        for key in ("regularization", "bias_regularization", "init_std"):
            check_nonnegative("biased_mf", key, getattr(self, key))

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        r = sp.csr_matrix(train.matrix, dtype=np.float32)
        r.sort_indices()
        rt = r.T.tocsr()
        rt.sort_indices()
        mu = float(r.data.mean())
        f = int(self.n_factors)
        q = rng.normal(0.0, self.init_std, (r.shape[1], f))
        bi = np.zeros(r.shape[1])
        p = np.zeros((r.shape[0], f))
        bu = np.zeros(r.shape[0])
        reg, breg = float(self.regularization), float(self.bias_regularization)
        for _ in range(int(self.n_epochs)):
            p, bu = _als_side(r, q, bi, mu, reg, breg)
            q, bi = _als_side(rt, p, bu, mu, reg, breg)
        self.global_mean_ = mu
        self.customer_factors_ = p.astype(np.float32)
        self.customer_bias_ = bu.astype(np.float32)
        self.item_factors_ = q.astype(np.float32)
        self.item_bias_ = bi.astype(np.float32)
        self.rating_min_ = float(r.data.min())
        self.rating_max_ = float(r.data.max())

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        s = self.customer_factors_[customer_idx] @ self.item_factors_.T
        s += self.item_bias_[None, :]
        s += (self.customer_bias_[customer_idx] + np.float32(self.global_mean_))[:, None]
        return s

    def predict(self, customers: Any, products: Any) -> np.ndarray:
        """Predicted ratings for (customer id, product id) pairs.

        An unknown customer or product contributes no bias and no factors (``mu + b_i``,
        ``mu + b_u`` or ``mu``); with ``clip`` the result is clipped to the training range.

        Parameters
        ----------
        customers, products : array-like of ids
            Same length.

        Returns
        -------
        numpy.ndarray of float64
        """
        self._check_fitted()
        c = self.customer_indices(customers)
        p = self.product_indices(products)
        if len(c) != len(p):
            raise ValueError(f"predict: {len(c)} customers but {len(p)} products")
        kc, kp = c >= 0, p >= 0
        out = np.full(len(c), self.global_mean_, dtype=np.float64)
        out[kc] += self.customer_bias_[c[kc]]
        out[kp] += self.item_bias_[p[kp]]
        both = kc & kp
        out[both] += np.einsum(
            "ij,ij->i",
            self.customer_factors_[c[both]].astype(np.float64),
            self.item_factors_[p[both]].astype(np.float64),
        )
        if self.clip:
            np.clip(out, self.rating_min_, self.rating_max_, out=out)
        return out

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        pu = self.customer_factors_[customer_idx].astype(np.float64)
        qi = self.item_factors_[product_idx].astype(np.float64)
        f = len(pu)
        return pd.DataFrame(
            {
                "contributor": ["global mean", "customer bias", "product bias"]
                + [f"latent factor {j}" for j in range(f)],
                "kind": ["bias"] * 3 + ["latent_factor"] * f,
                "contribution": np.concatenate(
                    [
                        [
                            self.global_mean_,
                            float(self.customer_bias_[customer_idx]),
                            float(self.item_bias_[product_idx]),
                        ],
                        pu * qi,
                    ]
                ),
            }
        )
