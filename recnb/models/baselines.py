"""Baselines: random, all-time popularity and recent ("trending") popularity.

They set the floor every real model must beat and, for popularity, the fallback the base class uses
for customers without history.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recnb.data.interactions import Interactions
from recnb.models._checks import check_nonnegative
from recnb.models.base import Recommender
from recnb.models.registry import register

__all__ = ["PopularityRecommender", "RandomRecommender", "TrendingRecommender"]

_DAY = 86_400.0
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fast, well-spread hash of uint64 values (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@register
class RandomRecommender(Recommender):
    """Uniformly random lists, reproducible per (seed, customer).

    The score of (customer, product) is a hash of the fitted seed, the customer index and the
    product index, so a customer's list does not depend on which other customers share the batch.

    Parameters
    ----------
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name = "random"
    explain_note = "scores are random draws, there is nothing to explain"

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        self.seed_ = int(rng.integers(0, 2**62))

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            c = _mix64(customer_idx.astype(np.uint64) * _GOLD + np.uint64(self.seed_))
            p = np.arange(self.n_products_, dtype=np.uint64)
            h = _mix64(c[:, None] ^ (p[None, :] * _M2))
        return ((h >> np.uint64(40)).astype(np.float32)) / np.float32(1 << 24)


@register
class PopularityRecommender(Recommender):
    """All-time popularity: the same ranking for every customer, minus what they already have.

    Parameters
    ----------
    by : {"customers", "confidence"}
        Rank by the number of distinct customers with a positive interaction, or by the summed
        confidence (e.g. purchase quantity).
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name = "popularity"
    can_explain = True

    def __init__(
        self,
        by: str = "customers",
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.by = by
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _check_params(self) -> None:
        if self.by not in ("customers", "confidence"):
            raise ValueError(f"popularity: by={self.by!r}; allowed: ['customers', 'confidence']")

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        if self.by == "customers":
            counts = self.popularity_
        else:
            m = train.matrix.multiply(train.matrix > 0)
            counts = np.asarray(m.sum(axis=0)).ravel()
        self.item_scores_ = np.asarray(counts, dtype=np.float32)

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(customer_idx), self.n_products_))

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "contributor": [f"popularity ({self.by})"],
                "kind": ["popularity"],
                "contribution": [float(self.item_scores_[product_idx])],
            }
        )


@register
class TrendingRecommender(Recommender):
    """Recent popularity: interactions inside a time window before the end of training.

    The reference time is the latest timestamp in ``train.timestamps``. An interaction at age
    ``a`` days counts ``exp(-ln 2 * a / half_life_days)`` (or 1 when ``half_life_days`` is None)
    if ``a <= window_days``, and 0 otherwise. Needs ``Interactions.timestamps``.

    Parameters
    ----------
    window_days : float
        Length of the window, in days (> 0).
    half_life_days : float or None
        Optional exponential decay inside the window.
    random_state, unknown, batch_size
        See :class:`~recnb.models.base.Recommender`.
    """

    name = "trending"
    can_explain = True

    def __init__(
        self,
        window_days: float = 14.0,
        half_life_days: float | None = None,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        self.window_days = window_days
        self.half_life_days = half_life_days
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _check_params(self) -> None:
        check_nonnegative("trending", "window_days", self.window_days, strict=True)
        if self.half_life_days is not None:
            check_nonnegative("trending", "half_life_days", self.half_life_days, strict=True)

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        ts = train.timestamps
        if ts is None:
            raise ValueError(
                "trending: train.timestamps is None; the trending model needs the last-event time "
                "per (customer, product) (build the Interactions with timestamps)"
            )
        if ts.shape != train.shape:
            raise ValueError(f"trending: timestamps shape {ts.shape} != matrix shape {train.shape}")
        ts = ts.tocoo()
        pos = train.matrix.tocoo()
        # align timestamps with the positive interactions (same sparsity by contract; be safe)
        t = pd.Series(ts.data, index=pd.MultiIndex.from_arrays([ts.row, ts.col]))
        keys = pd.MultiIndex.from_arrays([pos.row, pos.col])
        when = t.reindex(keys).to_numpy(dtype=np.float64)
        ok = (pos.data > 0) & np.isfinite(when)
        if not ok.any():
            raise ValueError("trending: no positive interaction has a timestamp")
        self.reference_time_ = float(when[ok].max())
        age = (self.reference_time_ - when[ok]) / _DAY
        w = (age <= self.window_days).astype(np.float64)
        if self.half_life_days is not None:
            w *= np.exp(-np.log(2.0) * age / self.half_life_days)
        self.item_scores_ = np.bincount(pos.col[ok], weights=w, minlength=train.n_products).astype(
            np.float32
        )

    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(customer_idx), self.n_products_))

    def _explain(self, customer_idx: int, product_idx: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "contributor": [f"recent interactions (last {self.window_days:g} days)"],
                "kind": ["popularity"],
                "contribution": [float(self.item_scores_[product_idx])],
            }
        )
