"""Denoising linear autoencoders (Steck 2020): EDLAE and DLAE, closed form, float32.

Steck, "Autoencoders that don't overfit towards the identity", NeurIPS 2020. Training a full-rank
linear autoencoder ``B`` with dropout of probability ``p`` on the input is, in expectation, ridge
regression with an item-dependent penalty: ``Lambda = p / (1 - p) * diagMat(diag(G)) + l2 * I``,
``G = X^T X``. Popular items (large ``G_jj``) are penalised more, which keeps the model away from
the identity. With ``P = (G + Lambda)^-1``:

- **EDLAE** (emphasised denoising, ``zero_diagonal=True``, the paper's best variant): the diagonal
  of ``B`` is constrained to zero, ``B = I - P diagMat(1 / diag(P))``. With ``dropout=0`` this is
  exactly EASE (Steck 2019).
- **DLAE** (``zero_diagonal=False``): ``B = (G + Lambda)^-1 G = I - P Lambda``.

``score(u, .) = x_u B``: a sum over the consumed products ``j`` of ``x_uj * B[j, i]``, which
``explain`` returns. The inverse is computed like EASE's (LAPACK ``spotrf``/``spotri`` in float32,
in place), so memory grows with the square of the catalogue: past ``max_items`` the fit stops with
:class:`~recnb.models.ease.EaseMemoryError` naming the size, the limit and the memory needed.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.models._checks import check_bool, check_nonnegative, check_positive_int
from recnb.models.ease import ItemLinearRecommender, penalized_inverse
from recnb.models.registry import register

__all__ = ["EDLAE", "edlae_weights"]


def edlae_weights(
    x: sp.spmatrix, l2: float, dropout: float, zero_diagonal: bool = True
) -> np.ndarray:
    """The item x item weight matrix ``B`` of (E)DLAE, float32, C order.

    Parameters
    ----------
    x : scipy sparse matrix, shape (n_customers, n_products)
        Training matrix (1/0 or confidences).
    l2 : float
        Constant ridge penalty (> 0 keeps the system positive definite for unseen products).
    dropout : float
        Input dropout probability ``p`` in ``[0, 1)``; ``p / (1 - p) * G_jj`` is added to the
        penalty of product ``j``.
    zero_diagonal : bool
        EDLAE (constrain ``diag(B) = 0``) or DLAE.

    Returns
    -------
    numpy.ndarray of float32, shape (n_products, n_products)
    """
    x = sp.csr_matrix(x, dtype=np.float32)
    n = x.shape[1]
    gram = np.asarray((x.T @ x).toarray(), dtype=np.float32, order="F")
    g_diag = np.diag(gram).copy()
    penalty = np.float32(l2) + np.float32(dropout / (1.0 - dropout)) * g_diag
    gram[np.diag_indices(n)] += penalty
    inv = penalized_inverse(gram, "edlae")
    if zero_diagonal:
        inv /= -np.diag(inv).copy()[None, :]
        inv[np.diag_indices(n)] = 0.0
    else:
        # I - P Lambda: scale column j by -Lambda_j, then add the identity
        inv *= -penalty[None, :]
        inv[np.diag_indices(n)] += 1.0
    out = np.ascontiguousarray(inv, dtype=np.float32)
    del inv, gram
    return out


@register
class EDLAE(ItemLinearRecommender):
    """Emphasised denoising linear autoencoder (EDLAE), or DLAE without the zero diagonal.

    Parameters
    ----------
    l2 : float
        Constant ridge penalty added to every product (> 0).
    dropout : float
        Input dropout probability in ``[0, 1)``: adds ``dropout / (1 - dropout)`` times the
        product's own Gram entry (its number of customers, for 1/0 data) to its penalty. 0 with
        ``zero_diagonal=True`` gives EASE.
    zero_diagonal : bool
        EDLAE (True, the diagonal of ``B`` constrained to zero) or DLAE (False).
    binarize : bool
        Use 1/0 interactions (the paper's setting) instead of confidences.
    max_items : int
        Largest catalogue accepted; beyond it ``fit`` raises ``EaseMemoryError``.
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name: ClassVar[str] = "edlae"

    def __init__(
        self,
        l2: float = 500.0,
        dropout: float = 0.25,
        zero_diagonal: bool = True,
        binarize: bool = True,
        max_items: int = 20_000,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.l2 = l2
        self.dropout = dropout
        self.zero_diagonal = zero_diagonal
        self.binarize = binarize
        self.max_items = max_items
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _check_params(self) -> None:
        check_nonnegative("edlae", "l2", self.l2, strict=True)
        check_nonnegative("edlae", "dropout", self.dropout)
        if not self.dropout < 1.0:
            raise ValueError(f"edlae: dropout must be in [0, 1), got {self.dropout!r}")
        check_bool("edlae", "zero_diagonal", self.zero_diagonal)
        check_bool("edlae", "binarize", self.binarize)
        check_positive_int("edlae", "max_items", self.max_items)

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        self._check_catalogue(train.n_products)
        x = self._input(train)
        self.weights_ = edlae_weights(
            x, float(self.l2), float(self.dropout), bool(self.zero_diagonal)
        )
        self.interactions_ = x
