"""The latent world of the synthetic shop: customers, products and the effects that link them.

:func:`build_world` turns a :class:`~recnb.synthetic.config.ShopConfig` into a :class:`World`: numpy
arrays of latent traits (taste vectors, category affinities, price sensitivity, activity, product
quality and appeal, launch days), the context and trend effects, and the ground-truth tables of
customers and products (observable columns plus latent scalar columns).

Index conventions: customers and products are addressed by position ``0..n-1``; devices, regions
and parts of the day by their position in :attr:`World.devices`, :attr:`World.regions` and
:data:`~recnb.synthetic.config.DAYPARTS`. Every effect table has one extra last row of zeros, so
index ``-1`` means "unknown context" and adds no effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recnb.synthetic import vocabulary as voc
from recnb.synthetic.config import DAYPARTS, ShopConfig


@dataclass(frozen=True, eq=False)
class World:
    """Latent arrays of one synthetic shop (see the module docstring for index conventions)."""

    config: ShopConfig
    devices: tuple[str, ...]
    regions: tuple[str, ...]
    genders: tuple[str, ...]
    leaves: tuple[voc.Leaf, ...]
    tops: tuple[str, ...]
    # customers
    c_age: np.ndarray
    c_band: np.ndarray
    c_gender: np.ndarray
    c_region: np.ndarray
    c_device: np.ndarray
    c_daypart: np.ndarray
    c_signup_day: np.ndarray
    c_activity: np.ndarray
    c_price_sens: np.ndarray
    c_factors: np.ndarray
    c_affinity: np.ndarray
    # products
    p_leaf: np.ndarray
    p_top: np.ndarray
    p_brand: np.ndarray
    p_price: np.ndarray
    p_rel_price: np.ndarray
    p_quality: np.ndarray
    p_appeal: np.ndarray
    p_launch_day: np.ndarray
    p_factors: np.ndarray
    p_base: np.ndarray
    # effects (last row zeros: index -1 = unknown)
    device_effect: np.ndarray
    daypart_effect: np.ndarray
    region_effect: np.ndarray
    device_conversion: np.ndarray
    device_dwell: np.ndarray
    leaf_centroids: np.ndarray
    trend_slope: np.ndarray
    trend_amplitude: np.ndarray
    trend_period: np.ndarray
    trend_phase: np.ndarray
    # ground-truth tables
    customers: pd.DataFrame
    products: pd.DataFrame

    @property
    def n_customers(self) -> int:
        return len(self.c_age)

    @property
    def n_products(self) -> int:
        return len(self.p_leaf)


# weights of the product-only part of utility
QUALITY_WEIGHT = 0.4
APPEAL_WEIGHT = 0.4


def _draw(rng: np.random.Generator, mix: dict[str, float], size: int) -> np.ndarray:
    p = np.asarray(list(mix.values()), dtype=np.float64)
    return rng.choice(len(p), size=size, p=p / p.sum()).astype(np.int16)


def _centered(
    rng: np.random.Generator, weights: np.ndarray, n_top: int, scale: float
) -> np.ndarray:
    """Context effect table (rows: context values, cols: top categories) with mix-weighted mean 0.

    A trailing row of zeros stands for an unknown context; thanks to the centring, leaving a context
    key out gives the same utility as averaging over that context's mix.
    """
    eff = rng.normal(0.0, scale, size=(len(weights), n_top))
    w = weights / weights.sum()
    eff -= w @ eff
    return np.vstack([eff, np.zeros((1, n_top))]).astype(np.float64)


def build_world(config: ShopConfig) -> World:
    """Draw every latent trait of the shop from ``config.seed`` (deterministic)."""
    root = np.random.SeedSequence(config.seed)
    rng_eff, rng_cust, rng_prod, rng_text = (np.random.default_rng(s) for s in root.spawn(4))
    f = config.n_factors
    leaves = voc.LEAVES
    tops = voc.TOP_CATEGORIES
    n_top, n_leaf = len(tops), len(leaves)
    leaf_top = np.array([tops.index(leaf.top) for leaf in leaves], dtype=np.int16)
    devices = tuple(config.device_mix)
    regions = tuple(config.region_mix)
    genders = tuple(config.gender_mix)
    n_bands = len(voc.AGE_BANDS)

    # ---- effects --------------------------------------------------------------------------
    cs = config.context_strength
    device_w = np.array(list(config.device_mix.values()))
    region_w = np.array(list(config.region_mix.values()))
    daypart_w = np.array([config.daypart_mix.get(d, 0.0) for d in DAYPARTS])
    device_effect = _centered(rng_eff, device_w, n_top, cs)
    daypart_effect = _centered(rng_eff, daypart_w, n_top, cs)
    region_effect = _centered(rng_eff, region_w, n_top, cs)
    age_effect = rng_eff.normal(0.0, 0.5, size=(n_bands, n_top))
    gender_effect = rng_eff.normal(0.0, 0.5, size=(len(genders), n_top))
    top_centroids = rng_eff.normal(0.0, 0.6, size=(n_top, f))
    leaf_centroids = top_centroids[leaf_top] + rng_eff.normal(0.0, 0.5, size=(n_leaf, f))
    trend_slope = rng_eff.normal(0.0, 0.7, size=n_leaf)
    trend_amplitude = rng_eff.uniform(0.3, 0.7, size=n_leaf)
    trend_period = rng_eff.uniform(20.0, 60.0, size=n_leaf)
    trend_phase = rng_eff.uniform(0.0, 2 * np.pi, size=n_leaf)
    device_conversion = np.array([voc.DEVICE_CONVERSION.get(d, 0.0) for d in devices] + [0.0])
    device_dwell = np.array([voc.DEVICE_DWELL.get(d, 1.0) for d in devices] + [1.0])

    # ---- customers ------------------------------------------------------------------------
    n = config.n_customers
    band_p = np.asarray(voc.AGE_BAND_SHARES) / np.sum(voc.AGE_BAND_SHARES)
    c_band = rng_cust.choice(n_bands, size=n, p=band_p).astype(np.int8)
    lo = np.array([b[1] for b in voc.AGE_BANDS])
    hi = np.array([b[2] for b in voc.AGE_BANDS])
    c_age = (lo[c_band] + np.floor(rng_cust.random(n) * (hi - lo + 1)[c_band])).astype(np.int16)
    c_gender = _draw(rng_cust, config.gender_mix, n)
    c_region = _draw(rng_cust, config.region_mix, n)
    c_device = _draw(rng_cust, config.device_mix, n)
    c_daypart = rng_cust.choice(4, size=n, p=daypart_w / daypart_w.sum()).astype(np.int8)
    new = rng_cust.random(n) < config.new_customer_share
    c_signup_day = np.where(
        new,
        rng_cust.integers(0, config.n_days, size=n),
        -rng_cust.integers(1, 3 * 365, size=n),
    ).astype(np.int32)
    band_activity = np.asarray(voc.AGE_BAND_ACTIVITY)
    s = config.activity_sigma
    spread = np.exp(rng_cust.normal(0.0, s, size=n) - s * s / 2)
    c_activity = config.monthly_sessions * band_activity[c_band] / (band_p @ band_activity) * spread
    c_price_sens = (
        np.asarray(voc.AGE_BAND_PRICE_SENSITIVITY)[c_band]
        * np.exp(rng_cust.normal(0.0, 0.4, size=n) - 0.08)
    ).astype(np.float32)
    c_factors = rng_cust.normal(0.0, 1.0, size=(n, f)).astype(np.float32)
    c_affinity = (
        rng_cust.normal(0.0, 0.6, size=(n, n_top)) + age_effect[c_band] + gender_effect[c_gender]
    ).astype(np.float32)

    # ---- products -------------------------------------------------------------------------
    m = config.n_products
    leaf_w = rng_prod.gamma(2.0, 1.0, size=n_leaf)
    p_leaf = rng_prod.choice(n_leaf, size=m, p=leaf_w / leaf_w.sum()).astype(np.int16)
    p_top = leaf_top[p_leaf]
    nb = config.n_brands
    brand_size = 1.0 / np.arange(1, nb + 1) ** config.brand_zipf
    brand_home = rng_prod.integers(0, n_top, size=nb)
    brand_quality = rng_prod.normal(0.0, 0.4, size=nb)
    # a product's brand: mostly a brand whose home is the product's top category
    p_brand = np.empty(m, dtype=np.int32)
    at_home = rng_prod.random(m) < 0.8
    all_cum = np.cumsum(brand_size / brand_size.sum())
    for t in range(n_top):
        idx = np.flatnonzero((p_top == t) & at_home)
        home = np.flatnonzero(brand_home == t)
        if len(home) == 0:
            at_home[idx] = False
            continue
        w = brand_size[home]
        cum = np.cumsum(w / w.sum())
        pos = np.minimum(
            np.searchsorted(cum, rng_prod.random(len(idx)), side="right"), len(home) - 1
        )
        p_brand[idx] = home[pos]
    away = np.flatnonzero(~at_home)
    p_brand[away] = np.minimum(
        np.searchsorted(all_cum, rng_prod.random(len(away)), side="right"), nb - 1
    )
    p_quality = (brand_quality[p_brand] + rng_prod.normal(0.0, 0.8, size=m)).astype(np.float32)
    p_appeal = (rng_prod.normal(0.0, 1.0, size=m) + 0.3 * p_quality).astype(np.float32)
    med = np.array([leaf.median_price for leaf in leaves])[p_leaf]
    sig = np.array([leaf.price_sigma for leaf in leaves])[p_leaf]
    log_rel = sig * rng_prod.normal(0.0, 1.0, size=m) + 0.15 * p_quality
    p_price = np.maximum(np.round(med * np.exp(log_rel), 2), 0.5)
    p_rel_price = np.log(p_price / med).astype(np.float32)
    launched_in_window = rng_prod.random(m) < config.new_product_share
    p_launch_day = np.where(
        launched_in_window,
        rng_prod.integers(1, max(config.n_days, 2), size=m),
        -rng_prod.integers(1, 2 * 365, size=m),
    ).astype(np.int32)
    p_factors = (leaf_centroids[p_leaf] + rng_prod.normal(0.0, 0.6, size=(m, f))).astype(np.float32)
    p_base = (QUALITY_WEIGHT * p_quality + APPEAL_WEIGHT * p_appeal).astype(np.float32)
    # catalogue ratings: more for appealing, older products; the mean follows quality
    age_factor = np.where(launched_in_window, 0.1, 1.0)
    rating_count = rng_prod.poisson(np.exp(1.8 + 1.0 * p_appeal + 0.3 * p_quality) * age_factor)
    noise = rng_prod.normal(0.0, 1.0, size=m) * 0.9 / np.sqrt(rating_count + 1)
    avg_rating = np.clip(np.round(3.8 + 0.55 * p_quality + noise, 1), 1.0, 5.0)
    avg_rating = np.where(rating_count > 0, avg_rating, np.nan)

    customers = _customer_table(
        config, rng_text, genders, regions, devices, c_age, c_band, c_gender, c_region, c_device,
        c_daypart, c_signup_day, c_activity, c_price_sens,
    )  # fmt: skip
    products = _product_table(
        config, rng_text, leaves, p_leaf, p_brand, p_price, p_rel_price, p_quality, p_appeal,
        p_launch_day, avg_rating, rating_count,
    )  # fmt: skip

    return World(
        config=config,
        devices=devices,
        regions=regions,
        genders=genders,
        leaves=leaves,
        tops=tops,
        c_age=c_age,
        c_band=c_band,
        c_gender=c_gender,
        c_region=c_region,
        c_device=c_device,
        c_daypart=c_daypart,
        c_signup_day=c_signup_day,
        c_activity=c_activity,
        c_price_sens=c_price_sens,
        c_factors=c_factors,
        c_affinity=c_affinity,
        p_leaf=p_leaf,
        p_top=p_top,
        p_brand=p_brand,
        p_price=p_price,
        p_rel_price=p_rel_price,
        p_quality=p_quality,
        p_appeal=p_appeal,
        p_launch_day=p_launch_day,
        p_factors=p_factors,
        p_base=p_base,
        device_effect=device_effect,
        daypart_effect=daypart_effect,
        region_effect=region_effect,
        device_conversion=device_conversion,
        device_dwell=device_dwell,
        leaf_centroids=leaf_centroids.astype(np.float32),
        trend_slope=trend_slope,
        trend_amplitude=trend_amplitude,
        trend_period=trend_period,
        trend_phase=trend_phase,
        customers=customers,
        products=products,
    )


def _ids(prefix: str, n: int) -> np.ndarray:
    width = max(5, len(str(n)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def _customer_table(
    config: ShopConfig,
    rng: np.random.Generator,
    genders: tuple[str, ...],
    regions: tuple[str, ...],
    devices: tuple[str, ...],
    c_age: np.ndarray,
    c_band: np.ndarray,
    c_gender: np.ndarray,
    c_region: np.ndarray,
    c_device: np.ndarray,
    c_daypart: np.ndarray,
    c_signup_day: np.ndarray,
    c_activity: np.ndarray,
    c_price_sens: np.ndarray,
) -> pd.DataFrame:
    n = len(c_age)
    gender_names = np.asarray(genders, dtype=object)[c_gender]
    first = np.empty(n, dtype=object)
    u = rng.random(n)
    for g in np.unique(gender_names):
        pool = voc.FIRST_NAMES.get(g, voc.FIRST_NAMES["other"])
        mask = gender_names == g
        first[mask] = voc.pick(pool, u[mask])
    last = voc.pick(voc.LAST_NAMES, rng.random(n))
    number = rng.integers(1, 100, size=n)
    domain = voc.pick(voc.EMAIL_DOMAINS, rng.random(n))
    towns_per_region = 6
    towns = np.asarray(voc.town_names(len(regions) * towns_per_region, rng), dtype=object)
    town = towns[c_region * towns_per_region + rng.integers(0, towns_per_region, size=n)]
    street = voc.pick(voc.STREETS, rng.random(n))
    kind = voc.pick(voc.STREET_KINDS, rng.random(n))
    house = rng.integers(1, 200, size=n)
    area = rng.integers(1, 30, size=n)
    sector = rng.integers(0, 10, size=n)
    unit = rng.integers(0, 26 * 26, size=n)
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    codes = [r[:2].upper() for r in regions]
    phone_a = rng.integers(100, 1000, size=n)
    phone_b = rng.integers(0, 10000, size=n)
    name, email, address, postcode, phone = [], [], [], [], []
    for i in range(n):
        fn, ln = first[i], last[i]
        name.append(f"{fn} {ln}")
        email.append(f"{fn.lower()}.{ln.lower()}{number[i]}@{domain[i]}")
        address.append(f"{house[i]} {street[i]} {kind[i]}, {town[i]}")
        pc_unit = letters[unit[i] // 26 % len(letters)] + letters[unit[i] % len(letters)]
        postcode.append(f"{codes[c_region[i]]}{area[i]} {sector[i]}{pc_unit}")
        phone.append(f"+1-555-{phone_a[i]:03d}-{phone_b[i]:04d}")
    signup = config.start + pd.to_timedelta(c_signup_day, unit="D")
    return pd.DataFrame(
        {
            "customer_id": _ids("C", n),
            "age_band": pd.Categorical.from_codes(
                c_band, categories=[b[0] for b in voc.AGE_BANDS], ordered=True
            ),
            "gender": pd.Categorical.from_codes(c_gender, categories=list(genders)),
            "region": pd.Categorical.from_codes(c_region, categories=list(regions)),
            "device": pd.Categorical.from_codes(c_device, categories=list(devices)),
            "signup_date": signup.astype("datetime64[ns]"),
            "name": np.asarray(name, dtype=object),
            "email": np.asarray(email, dtype=object),
            "phone": np.asarray(phone, dtype=object),
            "address": np.asarray(address, dtype=object),
            "postcode": np.asarray(postcode, dtype=object),
            "age": c_age.astype(np.int64),
            # latent (ground truth only)
            "preferred_daypart": pd.Categorical.from_codes(c_daypart, categories=list(DAYPARTS)),
            "activity": c_activity,
            "price_sensitivity": c_price_sens.astype(np.float64),
        }
    )


def _product_table(
    config: ShopConfig,
    rng: np.random.Generator,
    leaves: tuple[voc.Leaf, ...],
    p_leaf: np.ndarray,
    p_brand: np.ndarray,
    p_price: np.ndarray,
    p_rel_price: np.ndarray,
    p_quality: np.ndarray,
    p_appeal: np.ndarray,
    p_launch_day: np.ndarray,
    avg_rating: np.ndarray,
    rating_count: np.ndarray,
) -> pd.DataFrame:
    m = len(p_leaf)
    brands = voc.brand_names(config.n_brands, rng)
    q_terc = np.digitize(p_quality, np.quantile(p_quality, [1 / 3, 2 / 3])) if m > 2 else np.ones(m)
    r = p_rel_price
    price_tier = np.where(r < -0.35, 0, np.where(r > 0.35, 2, 1))
    u = rng.random((m, 8))
    titles, descriptions = [], []
    for i in range(m):
        leaf = leaves[p_leaf[i]]
        words = voc.TOP_WORDS[leaf.top]
        noun = leaf.nouns[int(u[i, 0] * len(leaf.nouns))]
        adj = words["adjectives"][int(u[i, 1] * len(words["adjectives"]))]
        material = words["materials"][int(u[i, 2] * len(words["materials"]))]
        use = words["uses"][int(u[i, 3] * len(words["uses"]))]
        colour = voc.COLOURS[int(u[i, 4] * len(voc.COLOURS))]
        qw = voc.QUALITY_WORDS[int(q_terc[i])]
        qword = qw[int(u[i, 5] * len(qw))]
        pw = voc.PRICE_WORDS[int(price_tier[i])]
        pword = pw[int(u[i, 6] * len(pw))]
        brand = brands[p_brand[i]]
        model = f"{chr(65 + int(u[i, 7] * 26))}{100 + i % 900}"
        title = f"{brand} {adj} {noun} {model}"
        titles.append(title)
        descriptions.append(
            f"{title}. A {qword} {adj} {noun} by {brand} in {colour}, made with {material}, "
            f"{use}. {pword.capitalize()} pick from our {leaf.sub.replace('_', ' ')} range in "
            f"{leaf.top}."
        )
    return pd.DataFrame(
        {
            "product_id": _ids("P", m),
            "title": np.asarray(titles, dtype=object),
            "category": np.asarray([leaf.path for leaf in leaves], dtype=object)[p_leaf],
            "brand": np.asarray(brands, dtype=object)[p_brand],
            "price": p_price,
            "avg_rating": avg_rating,
            "rating_count": rating_count.astype(np.int64),
            "description": np.asarray(descriptions, dtype=object),
            # latent (ground truth only)
            "top_category": np.asarray([leaf.top for leaf in leaves], dtype=object)[p_leaf],
            "quality": p_quality.astype(np.float64),
            "appeal": p_appeal.astype(np.float64),
            "relative_price": p_rel_price.astype(np.float64),
            "launch_day": p_launch_day.astype(np.int64),
        }
    )


OBSERVABLE_CUSTOMER_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "age_band",
    "gender",
    "region",
    "device",
    "signup_date",
    "name",
    "email",
    "phone",
    "address",
    "postcode",
    "age",
)
"""Customer columns that go into the Dataset (the rest of :attr:`World.customers` is latent)."""

OBSERVABLE_PRODUCT_COLUMNS: tuple[str, ...] = (
    "product_id",
    "title",
    "category",
    "brand",
    "price",
    "avg_rating",
    "rating_count",
    "description",
)
"""Product columns that go into the Dataset (the rest of :attr:`World.products` is latent)."""
