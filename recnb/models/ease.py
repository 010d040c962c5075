"""EASE (Steck 2019): a closed-form item-item linear model.

``B = I - P diagMat(1 / diag(P))`` with ``P = (X^T X + l2 I)^-1``, computed in float32 through a
Cholesky factorisation (LAPACK ``spotrf``/``spotri``, in place, so one dense ``n x n`` matrix is held
plus the Gram's build). ``score(u, .) = x_u B``: a sum over consumed products ``j`` of
``x_uj * B[j, i]``, which ``explain`` returns (weights may be negative).

The dense matrices make memory grow with the square of the catalogue: past ``max_items`` the fit
stops with :class:`EaseMemoryError` naming the catalogue size, the limit and the memory needed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.linalg import lapack

from recnb.data.interactions import Interactions
from recnb.models.base import Recommender
from recnb.models.registry import register

__all__ = [
    "EASE",
    "EaseMemoryError",
    "ItemLinearRecommender",
    "ease_memory_bytes",
    "penalized_inverse",
]


class EaseMemoryError(MemoryError):
    """The catalogue is too large for EASE's dense item x item matrices."""


def ease_memory_bytes(n_products: int) -> int:
    """Approximate peak memory of an EASE fit: about two dense float32 ``n x n`` matrices."""
    return 2 * 4 * int(n_products) ** 2


def _mirror_upper(a: np.ndarray, block: int = 1024) -> None:
    """Copy the upper triangle of square ``a`` onto its lower triangle, in place, by blocks."""
    n = a.shape[0]
    for i0 in range(0, n, block):
        i1 = min(n, i0 + block)
        a[i0:i1, :i0] = a[:i0, i0:i1].T
        d = a[i0:i1, i0:i1]
        a[i0:i1, i0:i1] = np.triu(d) + np.triu(d, 1).T


def penalized_inverse(gram: np.ndarray, who: str) -> np.ndarray:
    """``P = (G + penalty)^-1`` of a penalised Gram matrix, float32, in place.

    ``gram`` (float32, Fortran order, its diagonal already penalised) is overwritten by its
    Cholesky factor (LAPACK ``spotrf``) and then by the inverse (``spotri``); the returned array
    is that memory with the upper triangle mirrored onto the lower one.

    Raises
    ------
    numpy.linalg.LinAlgError
        The matrix is not positive definite (``who`` names the model; a larger ``l2`` helps).
    """
    chol, info = lapack.spotrf(gram, lower=0, overwrite_a=1, clean=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"{who}: Cholesky failed (info={info}); increase l2")
    inv, info = lapack.spotri(chol, lower=0, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"{who}: inverse failed (info={info}); increase l2")
    _mirror_upper(inv)
    return inv


class ItemLinearRecommender(Recommender):
    """A dense item x item linear model, ``score(u, .) = x_u B``: what EASE and EDLAE share.

    A subclass sets ``weights_`` (``B``, float32, C order) and ``interactions_`` (the training
    matrix ``X``, CSR) in ``_fit``, after :meth:`_check_catalogue` and :meth:`_input`, and has the
    hyperparameters ``binarize`` and ``max_items``. ``explain`` returns the terms
    ``x_uj * B[j, i]`` of the score, one per consumed product ``j`` (weights may be negative).
    """

    can_explain = True
    binarize: bool
    max_items: int

    def _check_catalogue(self, n: int) -> None:
        """Stop before the dense ``n x n`` matrices when ``n`` exceeds ``max_items``."""
        if n > self.max_items:
            need = ease_memory_bytes(n) / 2**30
            raise EaseMemoryError(
                f"{self.name}: the catalogue has {n} products, above max_items={self.max_items}; "
                f"{self.name.upper()} holds dense {n} x {n} float32 matrices (about {need:.1f} "
                "GiB). Raise max_items if the machine has that memory, or restrict the catalogue "
                "(e.g. k-core filtering)."
            )

    def _input(self, train: Interactions) -> sp.csr_matrix:
        """``X``: 1/0 interactions (``binarize``) or the positive confidences, float32 CSR."""
        x = self.seen_.copy() if self.binarize else train.matrix.multiply(train.matrix > 0)
        return sp.csr_matrix(x, dtype=np.float32)

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return np.asarray(self.interactions_[customer_idx] @ self.weights_)

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        row = self.interactions_[customer_idx]
        contrib = row.data.astype(np.float64) * self.weights_[row.indices, product_idx]
        return pd.DataFrame(
            {
                "contributor": self.product_ids_[row.indices],
                "kind": "consumed_product",
                "contribution": contrib,
            }
        )


@register
class EASE(ItemLinearRecommender):
    """Embarrassingly Shallow Autoencoder.

    Parameters
    ----------
    l2 : float
        Ridge penalty added to the Gram diagonal (> 0).
    binarize : bool
        Use 1/0 interactions (the paper's setting) instead of confidences.
    max_items : int
        Largest catalogue accepted; beyond it ``fit`` raises :class:`EaseMemoryError`.
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name = "ease"
    parallel_scoring = True  # _score reads the fitted weights only

    def __init__(
        self,
        l2: float = 500.0,
        binarize: bool = True,
        max_items: int = 20_000,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.l2 = l2
        self.binarize = binarize
        self.max_items = max_items
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _check_params(self) -> None:
        if not (isinstance(self.l2, int | float) and np.isfinite(self.l2) and self.l2 > 0):
            raise ValueError(f"ease: l2 must be a finite number > 0, got {self.l2!r}")
        if isinstance(self.max_items, bool) or not isinstance(self.max_items, int | np.integer):
            raise ValueError(f"ease: max_items must be an int, got {self.max_items!r}")

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        n = train.n_products
        self._check_catalogue(n)
        x = self._input(train)
        gram = np.asarray((x.T @ x).toarray(), dtype=np.float32, order="F")
        gram[np.diag_indices(n)] += np.float32(self.l2)
        inv = penalized_inverse(gram, "ease")
        diag = np.diag(inv).copy()
        inv /= -diag[None, :]
        inv[np.diag_indices(n)] = 0.0
        # C order: a sparse x dense product with a Fortran-ordered matrix copies it every batch
        self.weights_ = np.ascontiguousarray(inv, dtype=np.float32)
        del inv, gram
        self.interactions_ = x
