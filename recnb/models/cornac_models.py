"""Bayesian personalised ranking through ``cornac`` (Salah, Truong & Lauw 2020), CPU.

:class:`CornacBPR` (``cornac_bpr``) wraps ``cornac.models.BPR`` (Rendle et al. 2009), the
implementation Microsoft Recommenders' BPR notebook and benchmark table use. Compared with
``implicit``'s BPR (``bpr``), cornac keeps a separate item bias and regularises it, and its SGD
matches the paper's update; on ml-latest-small under Microsoft's protocol it reaches the figures
Microsoft publishes for its notebook settings, which ``implicit``'s BPR does not (see
benchmarks/bench_movielens.py).

Every positive entry of the training matrix is one "liked" pair (weights are ignored, as in the
paper); negatives are drawn uniformly from the catalogue. Scores are ``p_u . q_i + b_i``: the item
bias is kept as the last column of the item factors (and a column of ones in the customer factors),
so one dot product gives the score. With a ``random_state`` cornac trains on one thread, so a fit
repeats exactly.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from recnb.data.interactions import Interactions
from recnb.models._checks import check_nonnegative, check_positive_int
from recnb.models.base import Recommender
from recnb.models.registry import register

__all__ = ["CornacBPR"]


@register
class CornacBPR(Recommender):
    """BPR matrix factorisation with item biases (``cornac.models.BPR``).

    Parameters
    ----------
    factors : int
        Latent dimension (cornac's ``k``).
    learning_rate : float
        SGD step.
    regularization : float
        L2 penalty on factors and item biases (cornac's ``lambda_reg``).
    iterations : int
        Epochs; each draws as many (customer, liked, negative) triples as there are positives.
    random_state : int or None
        Seed of initialisation and sampling (cornac then trains on one thread).
    unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name: ClassVar[str] = "cornac_bpr"
    explain_note: ClassVar[str] = (
        "a BPR score is a dot product of learned factors with no decomposition over the "
        "customer's history"
    )

    def __init__(
        self,
        factors: int = 200,
        learning_rate: float = 0.05,
        regularization: float = 0.01,
        iterations: int = 300,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        super().__init__(random_state=random_state, unknown=unknown, batch_size=batch_size)
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations

    def _check_params(self) -> None:
        check_positive_int("cornac_bpr", "factors", self.factors)
        check_positive_int("cornac_bpr", "iterations", self.iterations)
        check_nonnegative("cornac_bpr", "learning_rate", self.learning_rate, strict=True)
        check_nonnegative("cornac_bpr", "regularization", self.regularization)

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        # imported here: cornac (and the matplotlib it pulls in) costs seconds at import, and
        # every stage's settings import the model catalogue
        from cornac.data import Dataset
        from cornac.models import BPR

        seen = self.seen_.tocoo()
        n_c, n_p = self.seen_.shape
        seed = int(rng.integers(2**31 - 1))
        data = Dataset(
            num_users=n_c,
            num_items=n_p,
            uid_map={i: i for i in range(n_c)},
            iid_map={j: j for j in range(n_p)},
            uir_tuple=(
                seen.row.astype(np.int64),
                seen.col.astype(np.int64),
                np.ones(seen.nnz, dtype=np.float32),
            ),
            seed=seed,
        )
        model = BPR(
            k=int(self.factors),
            max_iter=int(self.iterations),
            learning_rate=float(self.learning_rate),
            lambda_reg=float(self.regularization),
            use_bias=True,
            num_threads=1,
            verbose=False,
            seed=seed,
        )
        model.fit(data)
        u = np.asarray(model.u_factors, dtype=np.float32)
        v = np.asarray(model.i_factors, dtype=np.float32)
        b = np.asarray(model.i_biases, dtype=np.float32).reshape(-1, 1)
        self.user_factors_ = np.ascontiguousarray(np.hstack([u, np.ones((n_c, 1), np.float32)]))
        self.item_factors_ = np.ascontiguousarray(np.hstack([v, b]))

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return self.user_factors_[customer_idx] @ self.item_factors_.T

    def _score_pairs(self, cidx: np.ndarray, pidx: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self.user_factors_[cidx], self.item_factors_[pidx])
