"""Settings of the synthetic shop: sizes, mixes and the strength of each effect.

:class:`ShopConfig` is a frozen dataclass; every value is checked when it is built, and a bad value
raises a :class:`ValueError` naming the field and the value. The mixes (device, region, time of day,
gender) are shares of *sessions* (device, region, time of day) or of *customers* (gender); each must
sum to 1.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

DAYPARTS: tuple[str, ...] = ("night", "morning", "afternoon", "evening")
"""Parts of the day, in order; each covers six hours starting at midnight."""

DAYPART_HOURS: dict[str, tuple[int, int]] = {
    "night": (0, 6),
    "morning": (6, 12),
    "afternoon": (12, 18),
    "evening": (18, 24),
}
"""Hours ``[start, end)`` of each part of the day."""


def _default_devices() -> dict[str, float]:
    return {"mobile": 0.6, "desktop": 0.3, "tablet": 0.1}


def _default_regions() -> dict[str, float]:
    return {"north": 0.2, "south": 0.3, "east": 0.15, "west": 0.2, "central": 0.15}


def _default_dayparts() -> dict[str, float]:
    return {"night": 0.05, "morning": 0.2, "afternoon": 0.3, "evening": 0.45}


def _default_genders() -> dict[str, float]:
    return {"female": 0.5, "male": 0.47, "other": 0.03}


@dataclass(frozen=True)
class ShopConfig:
    """Sizes and knobs of the synthetic shop; the world is a pure function of these values.

    Parameters
    ----------
    n_customers, n_products : int
        Number of customers and products (all appear in the tables; some customers never shop).
    n_days : int
        Length of the simulated window in days.
    start_date : str
        First day of the window, ISO format (``"2026-01-01"``).
    seed : int
        Seeds everything: the same config gives identical tables.
    n_factors : int
        Dimension of the latent taste vectors of customers and products.
    n_brands : int
        Number of brands (sellers); their sizes follow a Zipf law.
    brand_zipf : float
        Zipf exponent of brand sizes: larger means a few brands hold more of the catalogue.
    device_mix, region_mix, daypart_mix : mapping of str to float
        Share of sessions per device, per region (the session's location) and per part of the day
        (keys from :data:`DAYPARTS`). Customers have a home device, region and part of the day drawn
        from the same mix, so these are also the customer shares.
    gender_mix : mapping of str to float
        Share of customers per gender.
    monthly_sessions : float
        Mean number of sessions per customer per 30 days (before the long-tailed spread).
    activity_sigma : float
        Log-scale spread of customer activity (lognormal): 0 makes every customer equally active.
    pages_per_session : float
        Mean number of list pages a session looks at (geometric).
    page_size : int
        Products shown per list page.
    position_bias : float
        Examination falls as ``position ** -position_bias`` (1-based positions).
    home_device_share, home_region_share, home_daypart_share : float
        Probability that a session uses the customer's home device, happens in the home region, or
        falls in the customer's preferred part of the day (otherwise drawn from the mix).
    new_customer_share : float
        Share of customers who sign up during the window (they only shop after signing up).
    new_product_share : float
        Share of products launched during the window (never shown before their launch day).
    rating_rate : float
        Probability that a purchase is rated later (ratings due after the window are not logged).
    context_strength : float
        Scale of the device, time-of-day and location effects on utility.
    trend_strength : float
        Scale of the category trends that drift over the simulated days.
    """

    n_customers: int = 20_000
    n_products: int = 5_000
    n_days: int = 90
    start_date: str = "2026-01-01"
    seed: int = 0
    n_factors: int = 16
    n_brands: int = 300
    brand_zipf: float = 1.1
    device_mix: Mapping[str, float] = field(default_factory=_default_devices)
    region_mix: Mapping[str, float] = field(default_factory=_default_regions)
    daypart_mix: Mapping[str, float] = field(default_factory=_default_dayparts)
    gender_mix: Mapping[str, float] = field(default_factory=_default_genders)
    monthly_sessions: float = 1.7
    activity_sigma: float = 1.0
    pages_per_session: float = 2.5
    page_size: int = 12
    position_bias: float = 0.8
    home_device_share: float = 0.75
    home_region_share: float = 0.9
    home_daypart_share: float = 0.7
    new_customer_share: float = 0.15
    new_product_share: float = 0.1
    rating_rate: float = 0.3
    context_strength: float = 0.4
    trend_strength: float = 0.5

    def __post_init__(self) -> None:
        _check_int(self, "n_customers", 1)
        _check_int(self, "n_products", 1)
        _check_int(self, "n_days", 1)
        _check_int(self, "seed", 0)
        _check_int(self, "n_factors", 1)
        _check_int(self, "n_brands", 1)
        _check_int(self, "page_size", 1)
        try:
            ts = pd.Timestamp(self.start_date)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"ShopConfig.start_date: {self.start_date!r} is not an ISO date such as "
                f"'2026-01-01' ({exc})"
            ) from None
        if not isinstance(self.start_date, str) or ts != ts.normalize():
            raise ValueError(
                f"ShopConfig.start_date: {self.start_date!r} must be a date string without a time, "
                f"such as '2026-01-01'"
            )
        _check_float(self, "brand_zipf", low=0.0, low_open=True)
        _check_float(self, "monthly_sessions", low=0.0, low_open=True)
        _check_float(self, "activity_sigma", low=0.0, high=3.0)
        _check_float(self, "pages_per_session", low=1.0)
        _check_float(self, "position_bias", low=0.0, high=5.0)
        for name in (
            "home_device_share",
            "home_region_share",
            "home_daypart_share",
            "new_customer_share",
            "rating_rate",
        ):
            _check_float(self, name, low=0.0, high=1.0)
        _check_float(self, "new_product_share", low=0.0, high=1.0, high_open=True)
        _check_float(self, "context_strength", low=0.0, high=5.0)
        _check_float(self, "trend_strength", low=0.0, high=5.0)
        for name in ("device_mix", "region_mix", "daypart_mix", "gender_mix"):
            _check_mix(self, name)
        unknown = sorted(set(self.daypart_mix) - set(DAYPARTS))
        if unknown:
            raise ValueError(
                f"ShopConfig.daypart_mix: unknown part(s) of the day {unknown}; allowed are "
                f"{list(DAYPARTS)}"
            )

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, _hashable(v)) for k, v in self.to_dict().items())))

    @property
    def start(self) -> pd.Timestamp:
        """First day of the window as a timestamp (midnight)."""
        return pd.Timestamp(self.start_date)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (mixes as dicts), e.g. for a run manifest."""
        out = dataclasses.asdict(self)
        for name in ("device_mix", "region_mix", "daypart_mix", "gender_mix"):
            out[name] = dict(out[name])
        return out

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of every setting, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))


def _hashable(value: Any) -> Any:
    return tuple(sorted(value.items())) if isinstance(value, dict) else value


def _check_int(cfg: ShopConfig, name: str, low: int) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(
            f"ShopConfig.{name}: expected an integer, got {value!r} ({type(value).__name__})"
        )
    if value < low:
        raise ValueError(f"ShopConfig.{name}: must be >= {low}, got {value!r}")


def _check_float(
    cfg: ShopConfig,
    name: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    value = getattr(cfg, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(
            f"ShopConfig.{name}: expected a number, got {value!r} ({type(value).__name__})"
        )
    if not math.isfinite(value):
        raise ValueError(f"ShopConfig.{name}: must be finite, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(
            f"ShopConfig.{name}: must be in {lo}{low if low is not None else '-inf'}, "
            f"{high if high is not None else 'inf'}{hi}, got {value!r}"
        )


def _check_mix(cfg: ShopConfig, name: str) -> None:
    mix = getattr(cfg, name)
    if not isinstance(mix, Mapping) or len(mix) == 0:
        raise ValueError(
            f"ShopConfig.{name}: expected a non-empty mapping of name to share, got {mix!r}"
        )
    for key, share in mix.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"ShopConfig.{name}: keys must be non-empty strings, got {key!r}")
        if (
            isinstance(share, bool)
            or not isinstance(share, int | float)
            or not math.isfinite(share)
        ):
            raise ValueError(f"ShopConfig.{name}[{key!r}]: share must be a number, got {share!r}")
        if share < 0:
            raise ValueError(f"ShopConfig.{name}[{key!r}]: share must be >= 0, got {share!r}")
    total = float(sum(mix.values()))
    if abs(total - 1.0) > 1e-3:
        raise ValueError(
            f"ShopConfig.{name}: shares must sum to 1, got {total:.4g} from {dict(mix)!r}"
        )
    # keep an independent copy so that a caller mutating its dict cannot change the config
    object.__setattr__(cfg, name, {str(k): float(v) for k, v in mix.items()})
