"""Repeat-purchase baseline: "buy again", the customer's own past products by frequency and recency.

Every other model is meant for lists without the products a customer already had
(``exclude_seen=True``, stage 03's mode). :class:`BuyAgain` is meant for the *repeat-aware* mode
(``exclude_seen=False``, stage 06's repeat study): in groceries, fashion basics and consumables most
purchases are repeats, and the customer's own history is the baseline any model mixing repeat and
new products must beat. With seen products excluded it can only offer what the customer never had,
so it reduces to the popularity order (its tie-break).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from recnb.data.interactions import Interactions
from recnb.models._checks import check_nonnegative
from recnb.models.base import Recommender
from recnb.models.registry import register

__all__ = ["BuyAgain"]

_DAY = 86_400.0


@register
class BuyAgain(Recommender):
    """Buy again: the customer's own past products by frequency and recency.

    Score of a product the customer interacted with in training: its confidence (frequency, on
    the training matrix's scale) times ``0.5 ** (age_days / half_life_days)``, the age measured
    from the customer's last interaction with it to the end of training; every other product
    scores its popularity scaled below any own product (a tie-break). Fitted on purchases only
    (stage 06's repeat study) it is "buy again"; fitted on a matrix of every event type (stage
    03's) it is "interact again".

    Use with ``exclude_seen=False`` (the repeat-aware mode); with seen products excluded it is the
    popularity ranking.

    Parameters
    ----------
    half_life_days : float or None
        Recency half-life in days (None: frequency only, no timestamps needed).
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name: ClassVar[str] = "buy_again"
    repeat_aware: ClassVar[bool] = True

    def __init__(
        self,
        half_life_days: float | None = 30.0,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        super().__init__(random_state=random_state, unknown=unknown, batch_size=batch_size)
        self.half_life_days = half_life_days

    def _check_params(self) -> None:
        if self.half_life_days is not None:
            check_nonnegative("buy_again", "half_life_days", self.half_life_days, strict=True)

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        m = train.matrix.tocsr(copy=True)
        m.sort_indices()
        m.data = np.where(m.data > 0, m.data, 0).astype(np.float32)
        if self.half_life_days is not None:
            if train.timestamps is None:
                raise ValueError(
                    "buy_again: train.timestamps is None; recency needs the last-event time per "
                    "pair (half_life_days=None uses frequency only)"
                )
            ts = train.timestamps.tocsr()
            ts.sort_indices()
            if not (np.array_equal(ts.indptr, m.indptr) and np.array_equal(ts.indices, m.indices)):
                raise ValueError("buy_again: timestamps and matrix have different sparsity")
            age = (ts.data.max() - ts.data) / _DAY if ts.nnz else ts.data
            m.data = (m.data * np.power(0.5, age / float(self.half_life_days))).astype(np.float32)
        m.eliminate_zeros()
        self.own_ = m
        pop = self.popularity_.astype(np.float64)
        top = float(pop.max()) if len(pop) and pop.max() > 0 else 1.0
        floor = float(m.data.min()) if m.nnz else 1.0
        # popularity only breaks ties among products the customer never had
        self.tiebreak_ = (0.5 * floor * pop / top).astype(np.float32)

    def _check_state(self) -> None:
        super()._check_state()
        n_c, n_p = len(self.customer_ids_), len(self.product_ids_)
        if self.own_.shape != (n_c, n_p):
            raise ValueError(f"own_ has shape {self.own_.shape}, expected ({n_c}, {n_p})")
        if self.tiebreak_.shape != (n_p,):
            raise ValueError(f"tiebreak_ has shape {self.tiebreak_.shape}, expected ({n_p},)")
        if not (np.isfinite(self.own_.data).all() and (self.own_.data >= 0).all()):
            raise ValueError("own_ holds negative or non-finite scores")

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        own = self.own_[customer_idx].toarray()
        return np.where(own > 0, own + self.tiebreak_.max() + 1e-6, self.tiebreak_[None, :]).astype(
            np.float32
        )
