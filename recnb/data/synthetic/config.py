"""Settings of the synthetic shop: sizes, mixes and the strength of each effect.

:class:`ShopConfig` is a frozen dataclass; every value is checked when it is built, and a bad value
raises a :class:`ValueError` naming the field and the value. The mixes (device, region, time of day,
gender) are shares of *visits* (device, region, time of day) or of *customers* (gender); each must
sum to 1.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from recnb.data.synthetic.vocabulary import AGE_BANDS

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


PAGE_POLICIES: tuple[str, ...] = ("deterministic", "epsilon_greedy", "plackett_luce")
"""Ways the shop may order a page of the organic log (see :class:`recnb.data.synthetic.RankingPolicy`)."""

GROUP_ATTRIBUTES: tuple[str, ...] = ("age_band", "gender", "region", "device")
"""Customer attributes that may define the planted under-served group."""

UNDERSERVED_KINDS: tuple[str, ...] = ("niche", "appeal")
"""How the planted under-served group differs (see :attr:`ShopConfig.underserved_kind`)."""


@dataclass(frozen=True)
class ShopConfig:
    """Sizes and knobs of the synthetic shop; the world is a pure function of these values.

    Time runs in whole days from ``start_date`` (day 0). The world (who exists, what they like, the
    trends) is defined on days ``0 .. horizon - 1`` and a given day's world does not depend on
    ``n_days``: the log of a 30-day shop is the first 30 days of the log of a 90-day shop with the
    same other settings (apart from ratings that would fall after the shorter window).

    Parameters
    ----------
    n_customers, n_products : int
        Customers registered and products on sale before day 0 (the base). Sign-ups and launches
        add more during the window and after it (``monthly_signups``, ``monthly_launches``).
    n_days : int
        Length of the logged window in days (:meth:`SyntheticShop.generate`).
    horizon_days : int, optional
        Days on which the world is defined (sign-ups, launches, visits); ``None`` means
        ``n_days + 180``, room for an A/B test or a monitoring period after the log. Must be
        >= ``n_days``. Newcomers arrive in 30-day cohorts with their own random streams, so a
        longer horizon adds later cohorts and changes nothing before.
    start_date : str
        Calendar date of day 0, ISO format (``"2026-01-01"``).
    seed : int
        Seeds everything: the same config gives identical tables.
    n_factors : int
        Dimension of the latent taste vectors of customers and products.
    n_brands : int
        Number of brands (sellers); their sizes follow a Zipf law.
    brand_zipf : float
        Zipf exponent of brand sizes: larger means a few brands hold more of the catalogue.
    device_mix, region_mix, daypart_mix : mapping of str to float
        Share of visits per device, per region (the visit's location) and per part of the day
        (keys from :data:`DAYPARTS`). Customers have a home device, region and part of the day drawn
        from the same mix, so these are also the customer shares.
    gender_mix : mapping of str to float
        Share of customers per gender.
    monthly_sessions : float
        Mean number of visits (sessions) per customer per 30 days (before the long-tailed spread).
    activity_sigma : float
        Log-scale spread of customer activity (lognormal): 0 makes every customer equally active.
    pages_per_session : float
        Mean number of list pages a visit of the organic log looks at (geometric).
    page_size : int
        Products shown per list page of the organic log.
    position_bias : float
        Examination falls as ``position ** -position_bias`` (1-based positions).
    attention_budget : float
        Most examinations a customer spends on one page, in expectation: when the position-bias
        examination probabilities of a list sum to more, all of them are scaled down so that they
        sum to this budget. A longer list then spreads the same attention thinner, so list length
        has a cost. The default (5) leaves lists of up to 20 items (and the log's pages) untouched.
    page_policy : {"deterministic", "epsilon_greedy", "plackett_luce"}
        How the shop orders a page of the organic log by its score (product appeal, plus the
        popularity feedback): best first; best first except with probability ``page_epsilon`` a
        uniformly random order; or a Plackett-Luce draw with temperature ``page_temperature``.
        Every shown list's propensity is known (:meth:`SyntheticShop.impressions`).
    page_temperature : float
        Temperature of the Plackett-Luce page order (> 0; smaller is closer to best first).
    page_epsilon : float
        Exploration probability of the epsilon-greedy page order.
    home_device_share, home_region_share, home_daypart_share : float
        Probability that a visit uses the customer's home device, happens in the home region, or
        falls in the customer's preferred part of the day (otherwise drawn from the mix). These
        define each customer's own context mix.
    monthly_signups : float
        New customers per 30 days as a share of ``n_customers`` (they visit only from their
        sign-up day on).
    monthly_launches : float
        New products per 30 days as a share of ``n_products`` (never shown or bought before their
        launch day).
    rating_rate : float
        Probability that a purchase is rated later (ratings due after the window are not logged).
    device_strength, daypart_strength, location_strength : float
        Scale of the planted effects of the visit's device, part of the day and location on the
        utility of each top category (0 plants no effect of that kind).
    trend_strength : float
        Scale of the category trends that drift over the days, and of the novelty boost of new
        products. Trends are bounded: a leaf's trend never exceeds ``trend_strength * (|slope| +
        amplitude)`` however far the day.
    shift_day : int, optional
        Day on which a planted, permanent shift of category preferences starts (a step change for
        drift monitoring to find); ``None`` plants none.
    shift_strength : float
        Scale of that shift (standard deviation of the per-category utility change).
    repeat_satiation : float
        Utility a customer loses for a product right after buying it. It recovers with the
        product's repurchase cycle: within weeks for consumables, hardly at all for durables.
    repeat_boost : float
        Utility a customer gains for a consumable bought before once its cycle has passed (habit),
        which plants repeat purchases.
    buy_again_share : float
        Share of organic pages that are "buy again" pages of the customer's past purchases (for
        customers who bought before).
    popularity_feedback : float
        Strength of a popularity feedback loop in the organic log: the shop's page score is
        ``appeal + popularity_feedback * log1p(clicks so far)``, so products clicked early are
        shown more, clicked more, and so on. 0 (default) plants no loop.
    novelty_seeking : float
        How much every customer's taste runs against product appeal (utility ``- novelty_seeking
        * appeal``): the crowd-pleasers the shop's pages push are wanted less than their exposure
        suggests, so popularity looks better on the logged data than it does online. 0 (default)
        plants nothing.
    underserved_group : mapping of str to str, optional
        A customer group with a planted under-served taste, e.g. ``{"age_band": "65+"}`` (one key
        from :data:`GROUP_ATTRIBUTES`); how its taste differs is ``underserved_kind``.
    underserved_kind : {"niche", "appeal"}
        ``"niche"`` (default): the group's tastes differ from the majority's, as a minority's do:
        its members favour the niche top categories, the fifth of the top categories the other
        customers browse least (their category affinity rises by ``3 * strength`` there and falls
        elsewhere so that its mean stays put). So the group browses, clicks and buys other things
        than the majority: the difference is in the logged data, and a model fitted on everyone,
        which leans to what the majority chooses, ranks the group's held-out items worse (a
        quality-of-service harm that logged NDCG reveals). ``"appeal"``: the group's taste runs
        against product appeal (utility ``- strength * appeal``): it likes what the mainstream
        finds unappealing, yet it can only interact with the appealing products the shop's pages
        show, so its held-out events look like everyone's and only the shop's true expected
        clicks reveal the harm.
    underserved_strength : float
        Size of the group's difference (see ``underserved_kind``).
    """

    n_customers: int = 17_000
    n_products: int = 4_500
    n_days: int = 90
    horizon_days: int | None = None
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
    attention_budget: float = 5.0
    page_policy: str = "plackett_luce"
    page_temperature: float = 0.4
    page_epsilon: float = 0.1
    home_device_share: float = 0.75
    home_region_share: float = 0.9
    home_daypart_share: float = 0.7
    monthly_signups: float = 0.05
    monthly_launches: float = 0.035
    rating_rate: float = 0.3
    device_strength: float = 0.4
    daypart_strength: float = 0.4
    location_strength: float = 0.4
    trend_strength: float = 0.5
    shift_day: int | None = None
    shift_strength: float = 1.0
    repeat_satiation: float = 4.0
    repeat_boost: float = 1.5
    buy_again_share: float = 0.1
    popularity_feedback: float = 0.0
    novelty_seeking: float = 0.0
    underserved_group: Mapping[str, str] | None = None
    underserved_kind: str = "niche"
    underserved_strength: float = 1.0

    def __post_init__(self) -> None:
        _check_int(self, "n_customers", 1)
        _check_int(self, "n_products", 1)
        _check_int(self, "n_days", 1)
        _check_int(self, "seed", 0)
        _check_int(self, "n_factors", 1)
        _check_int(self, "n_brands", 1)
        _check_int(self, "page_size", 1)
        if self.horizon_days is not None:
            _check_int(self, "horizon_days", 1)
            if self.horizon_days < self.n_days:
                raise ValueError(
                    f"ShopConfig.horizon_days: must be >= n_days ({self.n_days}), got "
                    f"{self.horizon_days!r}"
                )
        if self.shift_day is not None:
            _check_int(self, "shift_day", 0)
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
        _check_float(self, "attention_budget", low=1.0)
        _check_float(self, "page_temperature", low=0.0, low_open=True)
        for name in (
            "home_device_share",
            "home_region_share",
            "home_daypart_share",
            "rating_rate",
            "page_epsilon",
            "buy_again_share",
        ):
            _check_float(self, name, low=0.0, high=1.0)
        for name in ("monthly_signups", "monthly_launches"):
            _check_float(self, name, low=0.0, high=1.0)
        for name in (
            "device_strength",
            "daypart_strength",
            "location_strength",
            "trend_strength",
            "shift_strength",
            "repeat_satiation",
            "repeat_boost",
            "popularity_feedback",
            "novelty_seeking",
            "underserved_strength",
        ):
            _check_float(self, name, low=0.0, high=10.0)
        if self.underserved_kind not in UNDERSERVED_KINDS:
            raise ValueError(
                f"ShopConfig.underserved_kind: {self.underserved_kind!r} is not one of "
                f"{list(UNDERSERVED_KINDS)}"
            )
        if self.page_policy not in PAGE_POLICIES:
            raise ValueError(
                f"ShopConfig.page_policy: {self.page_policy!r} is not one of {list(PAGE_POLICIES)}"
            )
        for name in ("device_mix", "region_mix", "daypart_mix", "gender_mix"):
            _check_mix(self, name)
        unknown = sorted(set(self.daypart_mix) - set(DAYPARTS))
        if unknown:
            raise ValueError(
                f"ShopConfig.daypart_mix: unknown part(s) of the day {unknown}; allowed are "
                f"{list(DAYPARTS)}"
            )
        _check_group(self)

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, _hashable(v)) for k, v in self.to_dict().items())))

    @property
    def start(self) -> pd.Timestamp:
        """Day 0 as a timestamp (midnight)."""
        return pd.Timestamp(self.start_date)

    @property
    def horizon(self) -> int:
        """Days on which the world is defined: ``horizon_days`` or ``n_days + 180``."""
        return self.horizon_days if self.horizon_days is not None else self.n_days + 180

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (mixes as dicts), e.g. for a run manifest."""
        out = dataclasses.asdict(self)
        for name in ("device_mix", "region_mix", "daypart_mix", "gender_mix"):
            out[name] = dict(out[name])
        if out["underserved_group"] is not None:
            out["underserved_group"] = dict(out["underserved_group"])
        else:
            # no group, no effect: left out, so a shop without the plant records the settings
            # (and writes the dataset's metadata) exactly as before the kind existed
            del out["underserved_kind"]
        return out

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of every setting, in declaration order."""
        return tuple(f.name for f in dataclasses.fields(cls))


def _hashable(value: Any) -> Any:
    return tuple(sorted(value.items())) if isinstance(value, dict) else value


def _check_group(cfg: ShopConfig) -> None:
    group = cfg.underserved_group
    if group is None:
        return
    if not isinstance(group, Mapping) or len(group) != 1:
        raise ValueError(
            f"ShopConfig.underserved_group: expected one attribute and its value such as "
            f"{{'age_band': '65+'}}, got {group!r}"
        )
    ((attribute, value),) = group.items()
    if attribute not in GROUP_ATTRIBUTES:
        raise ValueError(
            f"ShopConfig.underserved_group: unknown attribute {attribute!r}; allowed are "
            f"{list(GROUP_ATTRIBUTES)}"
        )
    allowed = {
        "age_band": [b[0] for b in AGE_BANDS],
        "gender": list(cfg.gender_mix),
        "region": list(cfg.region_mix),
        "device": list(cfg.device_mix),
    }[attribute]
    if value not in allowed:
        raise ValueError(
            f"ShopConfig.underserved_group[{attribute!r}]: unknown value {value!r}; allowed are "
            f"{allowed}"
        )
    object.__setattr__(cfg, "underserved_group", {str(attribute): str(value)})


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
