"""Matrix factorisation: PureSVD for ranking and a biased MF for explicit ratings.

- :class:`PureSVD` (Cremonesi et al. 2010): truncated SVD ``X ~ U S V^T`` of the confidence
  matrix by randomised SVD (seeded), float32; ``score(u, .) = x_u V V^T``, i.e. the customer's row
  folded into the item space. The score is a sum over consumed products ``j`` of
  ``x_uj * <v_j, v_i>``, which ``explain`` returns.
- :class:`BiasedMF`: ``r(u, i) = mu + b_u + b_i + <p_u, q_i>`` fitted to the stored values as
  ratings by alternating least squares with the weighted-lambda regulariser (Zhou et al. 2008;
  every stored value is a rating, unobserved pairs are not zeros). Each half-sweep solves every
  row exactly, rows grouped by their number of ratings and solved together with batched numpy
  ``matmul``/``solve`` (the dual, ``n x n`` form for rows with fewer ratings than factors), on
  worker threads. :meth:`BiasedMF.predict` gives ratings for RMSE/MAE; ranking uses the same
  unclipped prediction. ``benchmarks/bench_biased_mf.py`` shows it beside Surprise's Funk-SVD
  and how its defaults were chosen.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from recnb.data.interactions import Interactions
from recnb.models._checks import check_nonnegative, check_positive_int
from recnb.models.base import Recommender
from recnb.models.registry import register
from recnb.models.topk import one_blas_thread, scoring_threads

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
    item_scaling : float
        Exponent ``d`` of EigenRec's scaling (Nikolakopoulos et al., "EigenRec", DMKD 2019): the
        SVD factorises ``X S`` with ``S = diagMat(||x_j||^d)`` (``x_j`` the product's column), and
        customers are scored by ``x_u V V^T`` with the right singular vectors ``V`` of ``X S``.
        0 is plain PureSVD; ``d < 0`` lowers the weight of popular products in the factors,
        ``d > 0`` raises it.
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name = "pure_svd"
    parallel_scoring = True
    can_explain = True

    def __init__(
        self,
        n_factors: int = 64,
        n_iter: int = 7,
        binarize: bool = False,
        item_scaling: float = 0.0,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.n_factors = n_factors
        self.n_iter = n_iter
        self.binarize = binarize
        self.item_scaling = item_scaling
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _check_params(self) -> None:
        check_positive_int("pure_svd", "n_factors", self.n_factors)
        check_positive_int("pure_svd", "n_iter", self.n_iter)
        d = self.item_scaling
        if isinstance(d, bool) or not isinstance(d, int | float) or not np.isfinite(d):
            raise ValueError(f"pure_svd: item_scaling must be a finite number, got {d!r}")

    def _check_state(self) -> None:
        super()._check_state()
        rank = self.item_factors_.shape[1] if self.item_factors_.ndim == 2 else -1
        if not 1 <= rank <= int(self.n_factors):
            raise ValueError(
                f"item_factors_ has shape {self.item_factors_.shape}, expected "
                f"({self.n_products_}, r) with 1 <= r <= n_factors={self.n_factors}"
            )
        _check_factor_shapes(
            self,
            {
                "item_factors_": (self.n_products_, rank),
                "customer_factors_": (self.n_customers_, rank),
                "interactions_": (self.n_customers_, self.n_products_),
            },
        )

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        x = self.seen_.copy() if self.binarize else train.matrix.multiply(train.matrix > 0)
        x = sp.csr_matrix(x, dtype=np.float32)
        rank = max(1, min(int(self.n_factors), min(x.shape) - 1))
        scaled = x
        if self.item_scaling != 0:
            norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel())
            scale = np.ones_like(norms)
            np.power(norms, float(self.item_scaling), out=scale, where=norms > 0)
            scaled = sp.csr_matrix(x @ sp.diags(scale.astype(np.float32)), dtype=np.float32)
        _, _, vt = randomized_svd(
            scaled, rank, n_iter=int(self.n_iter), random_state=int(rng.integers(2**31 - 1))
        )
        self.item_factors_ = np.ascontiguousarray(vt.T, dtype=np.float32)
        self.interactions_ = x
        self.customer_factors_ = np.asarray(x @ self.item_factors_, dtype=np.float32)

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return self.customer_factors_[customer_idx] @ self._transposed("item_factors_")

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


def _check_factor_shapes(model: Recommender, expected: dict[str, tuple[int, ...]]) -> None:
    """Raise ValueError naming the first fitted attribute whose shape is not the expected one."""
    for key, shape in expected.items():
        got = getattr(model, key).shape
        if tuple(got) != shape:
            raise ValueError(f"{key} has shape {tuple(got)}, expected {shape}")


#: float64 values held per block of the batched ALS solves (about 16 MB; blocks are the units of
#: work of the threads)
_ALS_BUDGET = 1 << 21


@dataclass
class _Bucket:
    """Rows of one side with similar numbers of ratings, padded to a common length.

    ``cols`` holds the other side's index of each rating, padded with ``n_other`` (which points at
    an all-zero row appended to the other side's factors); ``values`` the ratings, padded with 0.
    """

    rows: np.ndarray  # (B,) row indices
    cols: np.ndarray  # (B, L) other-side indices, padded with n_other
    values: np.ndarray  # (B, L) float64 ratings, padded with 0
    counts: np.ndarray  # (B,) float64 number of ratings per row


def _buckets(r: sp.csr_matrix, d: int) -> list[_Bucket]:
    """Group the non-empty rows of ``r`` by their number of ratings for the batched solves.

    Rows are sorted by count; a bucket's padded length is at most 25% above its shortest row's
    count (plus 4), so padding wastes little, and a bucket holds at most about ``_ALS_BUDGET``
    values of the largest temporary (``B x L x max(L, d)``).
    """
    counts = np.diff(r.indptr)
    order = np.argsort(counts, kind="stable")
    order = order[counts[order] > 0]
    out: list[_Bucket] = []
    i = 0
    while i < len(order):
        lo = int(counts[order[i]])
        cap = lo + lo // 4 + 4
        j = int(np.searchsorted(counts[order], cap, side="right"))
        length = int(counts[order[j - 1]])
        per_row = length * max(length, d) + d * d
        j = min(j, i + max(1, _ALS_BUDGET // per_row))
        rows = order[i:j]
        starts, n = r.indptr[rows], counts[rows]
        pos = np.arange(length)[None, :]
        valid = pos < n[:, None]
        flat = np.where(valid, starts[:, None] + pos, 0)
        cols = np.where(valid, r.indices[flat], r.shape[1])
        values = np.where(valid, r.data[flat].astype(np.float64), 0.0)
        out.append(_Bucket(rows, cols, values, n.astype(np.float64)))
        i = j
    return out


def _als_side(
    buckets: list[_Bucket],
    n_rows: int,
    other: np.ndarray,
    other_bias: np.ndarray,
    mu: float,
    reg: float,
    bias_reg: float,
    pool: ThreadPoolExecutor | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve every row's ``[p, b]`` given the other side's factors and biases, exactly.

    Row ``u`` minimises ``sum_i (r_ui - mu - b_i - b_u - <p_u, q_i>)^2 + n_u (reg |p_u|^2 +
    bias_reg b_u^2)`` over its ``n_u`` ratings: with ``Y`` the rows ``[q_i, 1]`` of its ratings,
    ``t`` the targets ``r_ui - mu - b_i`` and ``D = n_u diag(reg, ..., reg, bias_reg)``, the
    solution is ``(Y'Y + D)^-1 Y't`` (the primal form, a ``d x d`` system, ``d = factors + 1``)
    or, when ``n_u < d`` and ``D`` is invertible, the same vector as ``D^-1 Y' (Y D^-1 Y' + I)^-1
    t`` (the dual form, an ``n_u x n_u`` system). Rows of a bucket are solved together with
    batched ``matmul`` and ``solve``; padding rows of ``Y`` are zero and change neither form.
    Buckets run on ``pool``'s threads when given (numpy releases the GIL; the result does not
    depend on the number of threads). Rows without ratings get zeros.
    """
    f = other.shape[1]
    d = f + 1
    y = np.zeros((other.shape[0] + 1, d))
    y[:-1, :f] = other
    y[:-1, f] = 1.0
    bias = np.append(other_bias.astype(np.float64), 0.0)
    penalty = np.full(d, float(reg))
    penalty[f] = float(bias_reg)
    dual_ok = bool((penalty > 0).all())
    diag = np.arange(d)
    out = np.zeros((n_rows, d))

    def solve(b: _Bucket) -> None:
        yb = y[b.cols]  # (B, L, d)
        target = np.where(b.cols < other.shape[0], b.values - mu - bias[b.cols], 0.0)
        length = b.cols.shape[1]
        if dual_ok and length < d:
            scaled = yb / (b.counts[:, None, None] * penalty[None, None, :])  # Y D^-1
            k = np.matmul(scaled, yb.transpose(0, 2, 1))
            k[:, np.arange(length), np.arange(length)] += 1.0
            alpha = np.linalg.solve(k, target[:, :, None])
            out[b.rows] = np.matmul(scaled.transpose(0, 2, 1), alpha)[:, :, 0]
        else:
            yt = yb.transpose(0, 2, 1)
            gram = np.matmul(yt, yb)
            gram[:, diag, diag] += b.counts[:, None] * penalty[None, :]
            rhs = np.matmul(yt, target[:, :, None])
            out[b.rows] = np.linalg.solve(gram, rhs)[:, :, 0]

    if pool is None:
        for b in buckets:
            solve(b)
    else:
        for _ in pool.map(solve, buckets):  # rows are disjoint: any order gives the same result
            pass
    return out[:, :f], out[:, f]


@register
class BiasedMF(Recommender):
    """Biased matrix factorisation for explicit ratings, trained by ALS.

    ``r(u, i) = mu + b_u + b_i + <p_u, q_i>``; every stored value of the training matrix is a
    rating (e.g. 0.5-5 stars).

    The defaults were chosen on a validation split carved from the training part of
    ml-latest-small (``benchmarks/bench_biased_mf.py --tune``: the cheapest configuration within
    0.001 RMSE of the best of a 144-point grid).

    Parameters
    ----------
    n_factors : int
        Latent dimension.
    n_epochs : int
        ALS sweeps (customers then products).
    regularization : float
        Weighted-lambda L2 penalty on the factors (scaled by each row's number of ratings); must be
        positive (a row with fewer ratings than factors has no unique solution without it).
    bias_regularization : float
        Weighted-lambda L2 penalty on the biases (>= 0).
    init_std : float
        Standard deviation of the initial item factors.
    clip : bool
        Clip :meth:`predict` to the training rating range.
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name = "biased_mf"
    parallel_scoring = True
    can_explain = True

    def __init__(
        self,
        n_factors: int = 32,
        n_epochs: int = 10,
        regularization: float = 0.15,
        bias_regularization: float = 0.2,
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
        check_nonnegative("biased_mf", "regularization", self.regularization, strict=True)
        for key in ("bias_regularization", "init_std"):
            check_nonnegative("biased_mf", key, getattr(self, key))

    def _check_state(self) -> None:
        super()._check_state()
        _check_factor_shapes(
            self,
            {
                "customer_factors_": (self.n_customers_, int(self.n_factors)),
                "item_factors_": (self.n_products_, int(self.n_factors)),
                "customer_bias_": (self.n_customers_,),
                "item_bias_": (self.n_products_,),
            },
        )

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
        by_customer, by_product = _buckets(r, f + 1), _buckets(rt, f + 1)
        workers = scoring_threads()
        with contextlib.ExitStack() as stack:
            pool = None
            if workers > 1:
                stack.enter_context(one_blas_thread())
                pool = stack.enter_context(ThreadPoolExecutor(workers))
            for _ in range(int(self.n_epochs)):
                p, bu = _als_side(by_customer, r.shape[0], q, bi, mu, reg, breg, pool)
                q, bi = _als_side(by_product, r.shape[1], p, bu, mu, reg, breg, pool)
        self.global_mean_ = mu
        self.customer_factors_ = p.astype(np.float32)
        self.customer_bias_ = bu.astype(np.float32)
        self.item_factors_ = q.astype(np.float32)
        self.item_bias_ = bi.astype(np.float32)
        self.rating_min_ = float(r.data.min())
        self.rating_max_ = float(r.data.max())

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        s = self.customer_factors_[customer_idx] @ self._transposed("item_factors_")
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
