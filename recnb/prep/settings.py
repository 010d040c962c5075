"""Every preprocessing setting in one typed object: names, defaults and allowed values.

:class:`PrepSettings` is what :func:`recnb.prep.cleaning.clean` and
:func:`recnb.prep.split.build_split` are configured by, and the single source of the names,
defaults and ranges of stage 02's params section: :class:`recnb.workflow.settings.PreprocessingSettings`
is this model registered as a stage, and the ``parameters`` cell of
``notebooks/02_preprocessing.ipynb`` declares the same names with the same defaults (checked by
``tests/test_settings.py``).

Numbers are kept as given: a whole number stays an ``int`` (``test_days: 7`` is recorded as 7 in the
split, not 7.0), a fraction a ``float``; both are checked against the same range.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WrapValidator, field_validator

from recnb.data.schema import EVENT_TYPES
from recnb.prep.cleaning import RETURN_MODES
from recnb.prep.weighting import DEFAULT_EVENT_WEIGHTS, NORMALIZATIONS, SCALINGS

__all__ = ["MAX_SEED", "SIGNALS", "SPLIT_KINDS", "STRATIFY_BY", "Number", "PrepSettings"]

#: largest seed: numpy, implicit and LightFM take unsigned 32-bit seeds
MAX_SEED = 2**32 - 1

SPLIT_KINDS: tuple[str, ...] = ("temporal", "leave_last", "random", "stratified")
"""Split kinds (see :mod:`recnb.prep.split`)."""

SIGNALS: tuple[str, ...] = ("implicit", "explicit")
"""What the matrix holds: weighted event confidences or the customers' ratings."""

STRATIFY_BY: tuple[str, ...] = ("user", "item")
"""What the stratified split keeps its ratio per (``filter_by`` in Microsoft Recommenders)."""


def _keep_int(value: Any, handler: Any) -> Any:
    out = handler(value)  # the float checks: a number (not a bool), finite, in range
    return value if type(value) is int else out


#: a real number; a whole number given as an int stays an int
Number = Annotated[float, WrapValidator(_keep_int)]


class PrepSettings(BaseModel):
    """Settings of cleaning, the training signal, the training filters, the split and the features.

    Attributes
    ----------
    dedup_window_seconds : number
        A repeated (customer, product, event) within this many seconds is a near duplicate (0: off;
        :func:`recnb.prep.cleaning.drop_near_duplicates`).
    returns : {"net", "drop"}
        Returns and cancellations (:func:`recnb.prep.cleaning.handle_returns`).
    bot_max_events_per_day : int
        Bot filter: customers with a day of more events are removed from training (0: off;
        :func:`recnb.prep.cleaning.bot_customers`). A training filter.
    signal : {"implicit", "explicit"}
        ``"implicit"``: event weights -> confidences; ``"explicit"``: rating events only, the latest
        rating per pair in the matrix.
    event_weights : dict
        Weight per event type (a type left out weighs 0; :mod:`recnb.prep.weighting`).
    dwell_factor : number
        Event weight x ``1 + dwell_factor * log1p(dwell minutes)`` (0: off).
    recency_half_life_days : number
        Training weight halves every this many days back from the part's end (0: off).
    scaling : {"log", "linear", "none"}
        Summed weights -> confidence (:func:`recnb.prep.weighting.scale_confidence`).
    alpha : number
        Confidence scale.
    normalization : {"center", "zscore"}
        Explicit signal: the saved :class:`~recnb.prep.weighting.RatingNormalizer`.
    min_customer_interactions, min_product_interactions : int
        k-core minimums (distinct pairs; :func:`recnb.prep.kcore.kcore`). A training filter.
    split_kind : {"temporal", "leave_last", "random", "stratified"}
        See :mod:`recnb.prep.split`.
    test_days, valid_days : number
        Temporal split: the last ``test_days`` of the log are test, the ``valid_days`` before the
        cut-off validation.
    cutoff : str or None
        Temporal split: a fixed test start (ISO date); None: the last ``test_days``.
    leave_last_n : int
        Leave-last: pairs per customer held out for test (and as many for validation).
    test_fraction, valid_fraction : number
        Random and stratified: share of pairs held out for test, then share of the remaining
        training pairs for validation (stratified: ratio ``1 - test_fraction``).
    stratify_by : {"user", "item"}
        Stratified split: what the ratio is kept per.
    min_rating : int
        Stratified split: minimum pairs per group (Microsoft Recommenders' ``min_rating``).
    seed : int or None
        Random and stratified splits; None: the run's seed.
    test_events : list of str
        Event types that make a held-out pair relevant (empty: every weighted type).
    drop_seen_in_test : bool
        Temporal split: remove from validation / test the pairs the customer already had in the
        matching training period.
    tfidf_max_features : int
        TF-IDF vocabulary size of the product text (0: off).
    min_group_size : int
        Demographic values held by fewer customers are pooled as ``other`` in the features.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    dedup_window_seconds: Number = Field(10.0, ge=0)
    returns: Literal[*RETURN_MODES] = "net"  # type: ignore[valid-type]
    bot_max_events_per_day: int = Field(1000, ge=0)
    signal: Literal[*SIGNALS] = "implicit"  # type: ignore[valid-type]
    event_weights: dict[str, Number] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    dwell_factor: Number = Field(0.0, ge=0)
    recency_half_life_days: Number = Field(0.0, ge=0)
    scaling: Literal[*SCALINGS] = "log"  # type: ignore[valid-type]
    alpha: Number = Field(1.0, gt=0)
    normalization: Literal[*NORMALIZATIONS] = "center"  # type: ignore[valid-type]
    min_customer_interactions: int = Field(2, ge=1)
    min_product_interactions: int = Field(2, ge=1)
    split_kind: Literal[*SPLIT_KINDS] = "temporal"  # type: ignore[valid-type]
    test_days: Number = Field(14.0, gt=0)
    valid_days: Number = Field(7.0, ge=0)
    cutoff: str | None = None
    leave_last_n: int = Field(1, ge=1)
    test_fraction: Number = Field(0.2, gt=0, lt=1)
    valid_fraction: Number = Field(0.1, ge=0, lt=1)
    stratify_by: Literal[*STRATIFY_BY] = "user"  # type: ignore[valid-type]
    min_rating: int = Field(1, ge=1)
    seed: int | None = None
    test_events: list[str] = Field(default_factory=list)
    drop_seen_in_test: bool = True
    tfidf_max_features: int = Field(1000, ge=0)
    min_group_size: int = Field(10, ge=1)

    @field_validator("event_weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [e for e in v if e not in EVENT_TYPES]
        if bad:
            raise ValueError(f"unknown event type(s) {bad}; event types are {list(EVENT_TYPES)}")
        neg = {e: w for e, w in v.items() if w < 0}
        if neg:
            raise ValueError(f"weights must be >= 0, got {neg}")
        if not any(w > 0 for w in v.values()):
            raise ValueError("at least one event type needs a weight > 0")
        return v

    @field_validator("test_events")
    @classmethod
    def _test_events(cls, v: list[str]) -> list[str]:
        bad = [e for e in v if e not in EVENT_TYPES]
        if bad:
            raise ValueError(f"unknown event type(s) {bad}; event types are {list(EVENT_TYPES)}")
        return v

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int | None) -> int | None:
        if v is not None and not 0 <= v <= MAX_SEED:
            raise ValueError(
                f"a seed must be in 0..2**32-1 ({MAX_SEED}), or null (None) for the run's seed"
            )
        return v

    @field_validator("cutoff")
    @classmethod
    def _cutoff(cls, v: str | None) -> str | None:
        if v is not None:
            import pandas as pd

            try:
                ok = not pd.isna(pd.Timestamp(v))  # "" parses as NaT
            except (ValueError, TypeError):
                ok = False
            if not ok:
                raise ValueError(
                    f"must be an ISO date such as 2011-10-01 (or null for the last test_days), "
                    f"got {v!r}"
                )
        return v

    def split_seed(self, run_seed: int) -> int:
        """The seed of the random and stratified splits: :attr:`seed`, else the run's."""
        return run_seed if self.seed is None else self.seed
