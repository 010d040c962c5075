"""Implicit-feedback matrix factorization through the ``implicit`` library (CPU only).

Two adapters: :class:`ImplicitALS` (``als``, weighted alternating least squares, Hu, Koren & Volinsky
2008) and :class:`ImplicitBPR` (``bpr``, Bayesian personalised ranking, Rendle et al. 2009). Both use
``implicit.cpu`` classes directly (never the GPU-if-present factories), fit on the customer x product
CSR of confidences (the orientation ``implicit`` 0.7 expects), run BLAS on one thread during fitting
(``implicit``'s own threads do the parallel work) and keep float32 factors. Scores are the dot
products of customer and product factors; BPR's product factors carry the item bias as their last
column (and customer factors a matching column of ones), so the same dot product holds.

Repeatability: ALS gives identical factors for a given ``random_state`` whatever ``num_threads``
(each customer's and product's solve is independent). BPR's SGD updates run lock-free across
threads, so only ``num_threads=1`` (the default) repeats exactly.

Explanations (ALS only): ``implicit``'s ``explain`` writes a score as a sum over the customer's
consumed products (Hu et al., section 5). That sum equals the model's score only when the customer
factors are the exact least-squares solution against the final product factors; with
``exact_user_factors=True`` (the default) the customer factors are re-solved by Cholesky after
the last iteration, so contributions sum to the score (for non-negative confidences: ``implicit``
leaves negative, "disliked" entries out of the explanation). With ``False`` (the raw ``implicit``
model, whose conjugate-gradient customer factors predate the last product update) the explanation
adds a ``residual`` row holding the difference.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from recnb.data.interactions import Interactions
from recnb.models._checks import check_bool, check_nonnegative, check_positive_int
from recnb.models.base import Recommender
from recnb.models.registry import register

__all__ = ["ImplicitALS", "ImplicitBPR"]


class _ImplicitFactorization(Recommender):
    """Shared fitting and scoring of the ``implicit`` factor models."""

    parallel_scoring: ClassVar[bool] = True  # _score is a read-only dot product
    passes_param: ClassVar[str | None] = "iterations"

    def _check_params(self) -> None:
        """Checks of the hyperparameters both adapters share (subclasses add their own)."""
        who = type(self).__name__
        check_positive_int(who, "factors", self.factors)
        check_positive_int(who, "iterations", self.iterations)
        check_positive_int(who, "num_threads", self.num_threads, minimum=0)
        check_nonnegative(who, "regularization", self.regularization)

    def _new_model(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        user_items = train.matrix  # already CSR float32 with sorted indices
        with threadpool_limits(1, "blas"):
            model = self._new_model(rng)
            callback = None
            if self._watched():

                def callback(iteration: int, *_: Any) -> None:  # after each pass (0-based)
                    # copies: implicit updates its factors in place in the next pass
                    self.user_factors_ = np.array(model.user_factors, dtype=np.float32)
                    self.item_factors_ = np.array(model.item_factors, dtype=np.float32)
                    self._pass_done(iteration + 1)

            model.fit(user_items, show_progress=False, callback=callback)
            self._after_fit(model, user_items)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _after_fit(self, model: Any, user_items: sp.csr_matrix) -> None:
        """Hook run on the fitted ``implicit`` model while BLAS is limited to one thread."""

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return self.user_factors_[customer_idx] @ self._transposed("item_factors_")

    def _score_pairs(self, cidx: np.ndarray, pidx: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self.user_factors_[cidx], self.item_factors_[pidx])


@register
class ImplicitALS(_ImplicitFactorization):
    """Weighted ALS for implicit feedback (``implicit.cpu.als.AlternatingLeastSquares``).

    Parameters
    ----------
    factors : int
        Latent dimension.
    regularization : float
        L2 penalty on the factors.
    alpha : float
        Confidence scaling: ``implicit`` uses ``alpha * value`` as the confidence of a pair.
    iterations : int
        ALS sweeps.
    use_cg : bool
        Conjugate-gradient solver (fast) instead of Cholesky in the sweeps.
    exact_user_factors : bool
        Re-solve customer factors exactly (Cholesky) against the final product factors after the
        last sweep, so that :meth:`explain`'s contributions sum to the score. Costs one Cholesky
        half-sweep: about 11% of a 15-iteration CG fit at 64 factors (benchmarks/bench_wrappers.py).
    num_threads : int
        Threads for ``implicit`` (0 = all cores). Results do not depend on it.
    random_state : int or None
        Seed of the factor initialisation.
    unknown : {"popularity", "error"}
        Policy for customers absent from training (see :class:`Recommender`).
    batch_size : int or None
        Customers scored per dense block.
    """

    name: ClassVar[str] = "als"
    can_explain: ClassVar[bool] = True

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        use_cg: bool = True,
        exact_user_factors: bool = True,
        num_threads: int = 0,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        super().__init__(random_state=random_state, unknown=unknown, batch_size=batch_size)
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.use_cg = use_cg
        self.exact_user_factors = exact_user_factors
        self.num_threads = num_threads

    def _check_params(self) -> None:
        super()._check_params()
        who = type(self).__name__
        check_nonnegative(who, "alpha", self.alpha, strict=True)
        check_bool(who, "use_cg", self.use_cg)
        check_bool(who, "exact_user_factors", self.exact_user_factors)

    def _new_model(self, rng: np.random.Generator | None = None) -> AlternatingLeastSquares:
        return AlternatingLeastSquares(
            factors=int(self.factors),
            regularization=float(self.regularization),
            alpha=float(self.alpha),
            dtype=np.float32,
            use_cg=self.use_cg,
            iterations=int(self.iterations),
            num_threads=int(self.num_threads),
            random_state=rng,
        )

    def _after_fit(self, model: AlternatingLeastSquares, user_items: sp.csr_matrix) -> None:
        if self.exact_user_factors:
            model.user_factors = model.recalculate_user(np.arange(user_items.shape[0]), user_items)

    def _implicit_model(self) -> AlternatingLeastSquares:
        """An ``implicit`` model holding the fitted factors (for explain and fold-in)."""
        model = getattr(self, "_implicit_cache", None)
        if model is None:
            with threadpool_limits(1, "blas"):
                model = self._new_model()
            model.user_factors = self.user_factors_
            model.item_factors = self.item_factors_
            self._implicit_cache = model
        return model

    def _set_state(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        super()._set_state(arrays, scalars)
        self._implicit_cache = None

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        self._implicit_cache = None
        super()._fit(train, rng)
        # explain and the fidelity checks need the customer's weighted history
        self.confidence_ = train.matrix

    def fold_in(self, history: sp.spmatrix) -> np.ndarray:
        """Exact customer factors for histories against the fitted product factors.

        Serves customers whose history the model did not train on (for example a new customer's
        first views) and answers "what if" questions about a history.

        Parameters
        ----------
        history : scipy.sparse matrix, shape (n, n_products)
            Confidences in the training product order (same scale as the training matrix).

        Returns
        -------
        numpy.ndarray of float32, shape (n, factors)
        """
        self._check_fitted()
        hist = sp.csr_matrix(history, dtype=np.float32)
        if hist.ndim != 2 or hist.shape[1] != self.n_products_:
            raise ValueError(
                f"{type(self).__name__}.fold_in: history has shape {hist.shape}, expected "
                f"(n, {self.n_products_}) in the training product order"
            )
        hist.sort_indices()
        with threadpool_limits(1, "blas"):
            out = self._implicit_model().recalculate_user(np.arange(hist.shape[0]), hist)
        return np.asarray(out, dtype=np.float32).reshape(hist.shape[0], -1)

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        model = self._implicit_model()
        row = self.confidence_[customer_idx]
        with threadpool_limits(1, "blas"):
            total, contributions, _ = model.explain(0, row, product_idx, N=max(1, row.nnz))
        pids = [self.product_ids_[j] for j, _ in contributions]
        values = [float(c) for _, c in contributions]
        kinds = ["consumed_product"] * len(values)
        if not self.exact_user_factors:
            score = float(self.user_factors_[customer_idx] @ self.item_factors_[product_idx])
            pids.append("residual")
            values.append(score - float(total))
            kinds.append("residual")
        return pd.DataFrame({"contributor": pids, "kind": kinds, "contribution": values})


@register
class ImplicitBPR(_ImplicitFactorization):
    """Bayesian personalised ranking (``implicit.cpu.bpr.BayesianPersonalizedRanking``).

    Treats every positive entry as a binary "liked" signal (weights are ignored by ``implicit``).

    Parameters
    ----------
    factors : int
        Latent dimension (``implicit`` adds one column for the item bias).
    learning_rate : float
        SGD step.
    regularization : float
        L2 penalty.
    iterations : int
        Epochs over the positive pairs.
    verify_negative_samples : bool
        Resample negatives the customer has in fact consumed (slower, usually better).
    num_threads : int
        Threads for ``implicit`` (0 = all cores); only 1 repeats exactly.
    random_state : int or None
        Seed of initialisation and sampling.
    unknown : {"popularity", "error"}
        Policy for customers absent from training.
    batch_size : int or None
        Customers scored per dense block.
    """

    name: ClassVar[str] = "bpr"
    explain_note: ClassVar[str] = (
        "a BPR score is a dot product of learned factors with no decomposition over the "
        "customer's history"
    )

    def __init__(
        self,
        factors: int = 64,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        verify_negative_samples: bool = True,
        num_threads: int = 1,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        super().__init__(random_state=random_state, unknown=unknown, batch_size=batch_size)
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.verify_negative_samples = verify_negative_samples
        self.num_threads = num_threads

    def _check_params(self) -> None:
        super()._check_params()
        who = type(self).__name__
        check_nonnegative(who, "learning_rate", self.learning_rate, strict=True)
        check_bool(who, "verify_negative_samples", self.verify_negative_samples)

    def _new_model(self, rng: np.random.Generator) -> BayesianPersonalizedRanking:
        return BayesianPersonalizedRanking(
            factors=int(self.factors),
            learning_rate=float(self.learning_rate),
            regularization=float(self.regularization),
            dtype=np.float32,
            iterations=int(self.iterations),
            verify_negative_samples=self.verify_negative_samples,
            num_threads=int(self.num_threads),
            random_state=rng,
        )
