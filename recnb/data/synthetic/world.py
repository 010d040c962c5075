"""The latent world of the synthetic shop: customers, products and the effects that link them.

:func:`build_world` turns a :class:`~recnb.data.synthetic.config.ShopConfig` into a :class:`World`: numpy
arrays of latent traits (taste vectors, category affinities, price sensitivity, activity, product
quality and appeal, sign-up and launch days, repurchase cycles), the context, trend and shift
effects, and the ground-truth tables of customers and products (observable columns plus latent
scalar columns).

The population is built in cohorts, each from its own random stream: the base (customers registered
and products on sale before day 0) and one cohort per 30 days of sign-ups and launches up to the
horizon. So the world on a given day does not depend on ``n_days`` nor on the horizon.

Index conventions: customers and products are addressed by position ``0..n-1`` in the population
(base first, then the cohorts in order); devices, regions and parts of the day by their position in
:attr:`World.devices`, :attr:`World.regions` and :data:`~recnb.data.synthetic.config.DAYPARTS`. Every
context effect table has one extra last row of zeros, so index ``-1`` adds no effect.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recnb.data.synthetic import vocabulary as voc
from recnb.data.synthetic.config import DAYPARTS, ShopConfig

COHORT_DAYS = 30
"""Sign-ups and launches are drawn in cohorts of this many days, each from its own stream."""

_TOWNS_PER_REGION = 6

# seed-sequence keys of the world's random streams (the log and the visits use others)
_EFFECTS_STREAM, _TEXT_STREAM, _CUSTOMER_STREAM, _PRODUCT_STREAM = 0, 1, 2, 3

NICHE_SHARE = 0.2
"""Share of the top categories that are the planted group's niche (at least one)."""
NICHE_AFFINITY = 3.0
"""Affinity the planted group gains for its niche per unit of ``underserved_strength``."""
NICHE_HEAD = 0.05
"""Share of the products that form the head of the majority's attention (see :func:`niche_tops`)."""

# the log's category choice (recnb.data.synthetic.sessions, which imports this module)
LEAF_SIZE_WEIGHT = 0.5  # bigger leaves attract more browsing: + 0.5 * log(n products)
LEAF_TEMPERATURE = 1.5  # category choice logits are multiplied by this
HOME_PAGE_SHARE = 0.2  # share of pages that are the shop-wide bestseller page
HOME_PAGE_SHARPNESS = 1.3  # bestseller page: weights exp(1.3 * score)

# quality terciles of the product text: quality ~ N(0, sqrt(0.4^2 + 0.8^2)), cut at +-0.4307 sd
_QUALITY_TERCILE = 0.4307 * float(np.hypot(0.4, 0.8))


@dataclass(frozen=True, eq=False)
class World:
    """Latent arrays of one synthetic shop (see the module docstring for index conventions)."""

    config: ShopConfig
    devices: tuple[str, ...]
    regions: tuple[str, ...]
    genders: tuple[str, ...]
    leaves: tuple[voc.Leaf, ...]
    tops: tuple[str, ...]
    leaf_top: np.ndarray
    device_weights: np.ndarray
    daypart_weights: np.ndarray
    region_weights: np.ndarray
    n_base_customers: int
    n_base_products: int
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
    c_underserved: np.ndarray
    niche: np.ndarray  # top categories the planted group favours (kind "niche"; else empty)
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
    p_cycle: np.ndarray
    p_consumable: np.ndarray
    # effects (context tables: last row zeros, index -1)
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
    shift_effect: np.ndarray
    # ground-truth tables (the whole population up to the horizon)
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


def _draw(rng: np.random.Generator, weights: np.ndarray, size: int) -> np.ndarray:
    return rng.choice(len(weights), size=size, p=weights / weights.sum()).astype(np.int16)


def _centered(
    rng: np.random.Generator, weights: np.ndarray, n_top: int, scale: float
) -> np.ndarray:
    """Context effect table (rows: context values, cols: top categories) with mix-weighted mean 0.

    A trailing row of zeros stands for "no effect" (index -1). The pattern is drawn at unit scale
    and multiplied by ``scale``, so a strength changes the size of the planted effect, not its
    shape.
    """
    eff = rng.normal(0.0, 1.0, size=(len(weights), n_top))
    w = weights / weights.sum()
    eff -= w @ eff
    return np.vstack([eff * scale, np.zeros((1, n_top))]).astype(np.float64)


@dataclass(frozen=True)
class _Globals:
    """Draws shared by every cohort."""

    age_effect: np.ndarray
    gender_effect: np.ndarray
    leaf_centroids: np.ndarray
    leaf_weights: np.ndarray
    brand_size: np.ndarray
    brand_home: np.ndarray
    brand_quality: np.ndarray
    brands: list[str]
    towns: np.ndarray


def _cohort_sizes(base: int, monthly_share: float, horizon: int) -> list[int]:
    n_cohorts = -(-horizon // COHORT_DAYS)
    per = int(round(base * monthly_share))
    return [base] + [per] * n_cohorts


def build_world(config: ShopConfig) -> World:
    """Draw every latent trait of the shop from ``config.seed`` (deterministic)."""
    seed = config.seed
    rng_eff = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_EFFECTS_STREAM,)))
    rng_text = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_TEXT_STREAM,)))
    f = config.n_factors
    leaves = voc.LEAVES
    tops = voc.TOP_CATEGORIES
    n_top, n_leaf = len(tops), len(leaves)
    leaf_top = np.array([tops.index(leaf.top) for leaf in leaves], dtype=np.int16)
    devices = tuple(config.device_mix)
    regions = tuple(config.region_mix)
    genders = tuple(config.gender_mix)
    n_bands = len(voc.AGE_BANDS)

    # ---- effects (one stream, fixed order) ----------------------------------------------------
    device_w = np.array(list(config.device_mix.values()))
    region_w = np.array(list(config.region_mix.values()))
    daypart_w = np.array([config.daypart_mix.get(d, 0.0) for d in DAYPARTS])
    device_effect = _centered(rng_eff, device_w, n_top, config.device_strength)
    daypart_effect = _centered(rng_eff, daypart_w, n_top, config.daypart_strength)
    region_effect = _centered(rng_eff, region_w, n_top, config.location_strength)
    age_effect = rng_eff.normal(0.0, 0.5, size=(n_bands, n_top))
    gender_effect = rng_eff.normal(0.0, 0.5, size=(len(genders), n_top))
    top_centroids = rng_eff.normal(0.0, 0.6, size=(n_top, f))
    leaf_centroids = top_centroids[leaf_top] + rng_eff.normal(0.0, 0.5, size=(n_leaf, f))
    trend_slope = rng_eff.normal(0.0, 1.0, size=n_leaf)
    trend_amplitude = rng_eff.uniform(0.3, 0.7, size=n_leaf)
    trend_period = rng_eff.uniform(20.0, 60.0, size=n_leaf)
    trend_phase = rng_eff.uniform(0.0, 2 * np.pi, size=n_leaf)
    shift_effect = rng_eff.normal(0.0, 1.0, size=n_top)
    leaf_weights = rng_eff.gamma(2.0, 1.0, size=n_leaf)
    nb = config.n_brands
    glob = _Globals(
        age_effect=age_effect,
        gender_effect=gender_effect,
        leaf_centroids=leaf_centroids,
        leaf_weights=leaf_weights / leaf_weights.sum(),
        brand_size=1.0 / np.arange(1, nb + 1) ** config.brand_zipf,
        brand_home=rng_eff.integers(0, n_top, size=nb),
        brand_quality=rng_eff.normal(0.0, 0.4, size=nb),
        brands=voc.brand_names(nb, rng_text),
        towns=np.asarray(voc.town_names(len(regions) * _TOWNS_PER_REGION, rng_text), dtype=object),
    )
    device_conversion = np.array([voc.DEVICE_CONVERSION.get(d, 0.0) for d in devices] + [0.0])
    device_dwell = np.array([voc.DEVICE_DWELL.get(d, 1.0) for d in devices] + [1.0])

    # ---- customers, cohort by cohort --------------------------------------------------------
    horizon = config.horizon
    cust_parts = []
    first = 0
    for k, size in enumerate(_cohort_sizes(config.n_customers, config.monthly_signups, horizon)):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_CUSTOMER_STREAM, k)))
        part = _draw_customers(config, glob, rng, k, size, first)
        first += size
        cust_parts.append(part)
    cust = {key: np.concatenate([p[key] for p in cust_parts]) for key in cust_parts[0]}
    keep = cust["signup_day"] < horizon
    cust = {key: v[keep] for key, v in cust.items()}

    # ---- products, cohort by cohort ----------------------------------------------------------
    prod_parts = []
    first = 0
    for k, size in enumerate(_cohort_sizes(config.n_products, config.monthly_launches, horizon)):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_PRODUCT_STREAM, k)))
        part = _draw_products(config, glob, leaf_top, rng, k, size, first)
        first += size
        prod_parts.append(part)
    prod = {key: np.concatenate([p[key] for p in prod_parts]) for key in prod_parts[0]}
    keep = prod["launch_day"] < horizon
    prod = {key: v[keep] for key, v in prod.items()}

    group = config.underserved_group
    niche = np.zeros(0, dtype=np.int64)
    if group is None:
        underserved = np.zeros(len(cust["band"]), dtype=bool)
    else:
        ((attribute, value),) = group.items()
        codes, names = {
            "age_band": (cust["band"], [b[0] for b in voc.AGE_BANDS]),
            "gender": (cust["gender"], list(genders)),
            "region": (cust["region"], list(regions)),
            "device": (cust["device"], list(devices)),
        }[attribute]
        underserved = codes == names.index(value)
        if config.underserved_kind == "niche":
            base = prod["launch_day"] < 0  # the catalogue on sale when the log starts
            niche = _plant_niche_taste(
                config, leaf_top, glob, cust, underserved, prod["leaf"][base], prod["appeal"][base]
            )
    cycle_of_leaf = np.array(
        [voc.CONSUMABLE_CYCLE_DAYS.get(leaf.path, voc.DURABLE_CYCLE_DAYS) for leaf in leaves]
    )
    consumable_leaf = np.array([leaf.path in voc.CONSUMABLE_CYCLE_DAYS for leaf in leaves])
    p_base = (QUALITY_WEIGHT * prod["quality"] + APPEAL_WEIGHT * prod["appeal"]).astype(np.float32)

    customers = _customer_table(config, genders, regions, devices, cust, underserved)
    products = _product_table(config, leaves, glob.brands, prod, cycle_of_leaf, consumable_leaf)
    return World(
        config=config,
        devices=devices,
        regions=regions,
        genders=genders,
        leaves=leaves,
        tops=tops,
        leaf_top=leaf_top,
        device_weights=device_w / device_w.sum(),
        daypart_weights=daypart_w / daypart_w.sum(),
        region_weights=region_w / region_w.sum(),
        n_base_customers=config.n_customers,
        n_base_products=config.n_products,
        c_age=cust["age"],
        c_band=cust["band"],
        c_gender=cust["gender"],
        c_region=cust["region"],
        c_device=cust["device"],
        c_daypart=cust["daypart"],
        c_signup_day=cust["signup_day"],
        c_activity=cust["activity"],
        c_price_sens=cust["price_sens"],
        c_factors=cust["factors"],
        c_affinity=cust["affinity"],
        c_underserved=underserved,
        niche=niche,
        p_leaf=prod["leaf"],
        p_top=leaf_top[prod["leaf"]],
        p_brand=prod["brand"],
        p_price=prod["price"],
        p_rel_price=prod["rel_price"],
        p_quality=prod["quality"],
        p_appeal=prod["appeal"],
        p_launch_day=prod["launch_day"],
        p_factors=prod["factors"],
        p_base=p_base,
        p_cycle=cycle_of_leaf[prod["leaf"]],
        p_consumable=consumable_leaf[prod["leaf"]],
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
        shift_effect=shift_effect,
        customers=customers,
        products=products,
    )


def niche_tops(
    leaf_top: np.ndarray,
    leaf_weights: np.ndarray,
    leaf_centroids: np.ndarray,
    affinity: np.ndarray,
    factors: np.ndarray,
    p_leaf: np.ndarray,
    p_appeal: np.ndarray,
) -> np.ndarray:
    """The planted group's niche: the top categories the head of the majority's attention misses.

    The attention each product gets from the customers given (``affinity`` / ``factors``: those
    outside the group) follows the log without context, trends and feedback: category pages
    (:data:`HOME_PAGE_SHARE` of pages are the shop-wide bestseller page instead) pick a leaf by
    the log's category choice (affinity, taste and leaf size, :func:`recnb.data.synthetic.
    sessions._leaf_logits`) and a product of the leaf with weight ``exp(appeal)``; the bestseller
    page picks from the whole catalogue with weight ``exp(HOME_PAGE_SHARPNESS * appeal)``. The
    head is the :data:`NICHE_HEAD` best attended products (what a popularity ranking offers).
    The :data:`NICHE_SHARE` top categories (at least one) with the fewest products in the head
    are the niche, sorted (ties go to the category whose products get less attention on
    average): what the group favours, a ranking by what the majority chooses hardly offers.
    """
    n_top = int(leaf_top.max()) + 1
    n_leaf = len(leaf_top)
    f = factors.shape[1]
    logits = (
        affinity[:, leaf_top].astype(np.float64)
        + (factors @ leaf_centroids.T) / np.sqrt(f)
        + LEAF_SIZE_WEIGHT * np.log(leaf_weights)[None, :]
    ) * LEAF_TEMPERATURE
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    leaf_share = prob.mean(axis=0)
    w = np.exp(p_appeal.astype(np.float64))
    leaf_total = np.bincount(p_leaf, weights=w, minlength=n_leaf)
    home = np.exp(HOME_PAGE_SHARPNESS * p_appeal.astype(np.float64))
    attention = (1.0 - HOME_PAGE_SHARE) * leaf_share[p_leaf] * w / leaf_total[p_leaf]
    attention += HOME_PAGE_SHARE * home / home.sum()
    p_top = leaf_top[p_leaf]
    n_head = max(1, int(round(NICHE_HEAD * len(p_leaf))))
    head = np.argsort(-attention, kind="stable")[:n_head]
    products = np.bincount(p_top, minlength=n_top).astype(np.float64)
    in_head = np.bincount(p_top[head], minlength=n_top)
    mean_attention = np.bincount(p_top, weights=attention, minlength=n_top) / np.maximum(
        products, 1.0
    )
    order = np.lexsort((mean_attention, in_head))
    order = order[products[order] > 0]
    n = max(1, int(round(NICHE_SHARE * n_top)))
    return np.sort(order[:n])


def _plant_niche_taste(
    config: ShopConfig,
    leaf_top: np.ndarray,
    glob: _Globals,
    cust: dict[str, np.ndarray],
    member: np.ndarray,
    p_leaf: np.ndarray,
    p_appeal: np.ndarray,
) -> np.ndarray:
    """Give the planted group a minority's taste (``underserved_kind = "niche"``), in place.

    Members' category affinity rises by ``NICHE_AFFINITY * strength`` for the niche top
    categories (:func:`niche_tops`, chosen from the other customers' browsing) and falls
    elsewhere so that its mean over the top categories stays put. Nothing is drawn: the rest of
    the world is the same as without the plant. Returns the niche (top category indices).
    """
    strength = NICHE_AFFINITY * config.underserved_strength
    niche = np.zeros(int(leaf_top.max()) + 1, dtype=bool)
    rest = ~member
    niche[
        niche_tops(
            leaf_top,
            glob.leaf_weights,
            glob.leaf_centroids,
            cust["affinity"][rest],
            cust["factors"][rest],
            p_leaf,
            p_appeal,
        )
    ] = True
    shift = np.where(niche, strength, -strength * niche.sum() / (~niche).sum())
    cust["affinity"][member] += shift.astype(np.float32)
    return np.flatnonzero(niche)


def _draw_customers(
    config: ShopConfig, glob: _Globals, rng: np.random.Generator, cohort: int, n: int, first: int
) -> dict[str, np.ndarray]:
    """Traits of one cohort of customers (cohort 0: the base, registered before day 0)."""
    f = config.n_factors
    n_bands = len(voc.AGE_BANDS)
    if cohort == 0:
        signup = -rng.integers(1, 3 * 365, size=n)
    else:
        signup = np.sort(rng.integers((cohort - 1) * COHORT_DAYS, cohort * COHORT_DAYS, size=n))
    band_p = np.asarray(voc.AGE_BAND_SHARES) / np.sum(voc.AGE_BAND_SHARES)
    band = rng.choice(n_bands, size=n, p=band_p).astype(np.int8)
    lo = np.array([b[1] for b in voc.AGE_BANDS])
    hi = np.array([b[2] for b in voc.AGE_BANDS])
    age = (lo[band] + np.floor(rng.random(n) * (hi - lo + 1)[band])).astype(np.int16)
    gender = _draw(rng, np.array(list(config.gender_mix.values())), n)
    region = _draw(rng, np.array(list(config.region_mix.values())), n)
    device = _draw(rng, np.array(list(config.device_mix.values())), n)
    daypart_w = np.array([config.daypart_mix.get(d, 0.0) for d in DAYPARTS])
    daypart = _draw(rng, daypart_w, n).astype(np.int8)
    band_activity = np.asarray(voc.AGE_BAND_ACTIVITY)
    s = config.activity_sigma
    spread = np.exp(rng.normal(0.0, s, size=n) - s * s / 2)
    activity = config.monthly_sessions * band_activity[band] / (band_p @ band_activity) * spread
    price_sens = (
        np.asarray(voc.AGE_BAND_PRICE_SENSITIVITY)[band]
        * np.exp(rng.normal(0.0, 0.4, size=n) - 0.08)
    ).astype(np.float32)
    factors = rng.normal(0.0, 1.0, size=(n, f)).astype(np.float32)
    affinity = (
        rng.normal(0.0, 0.6, size=(n, len(glob.age_effect[0])))
        + glob.age_effect[band]
        + glob.gender_effect[gender]
    ).astype(np.float32)
    text = _person_text(config, glob, rng, gender, region)
    return {
        "number": np.arange(first + 1, first + n + 1, dtype=np.int64),
        "signup_day": signup.astype(np.int32),
        "band": band,
        "age": age,
        "gender": gender,
        "region": region,
        "device": device,
        "daypart": daypart,
        "activity": activity,
        "price_sens": price_sens,
        "factors": factors.reshape(n, f),
        "affinity": affinity.reshape(n, len(glob.age_effect[0])),
        **text,
    }


def _draw_products(
    config: ShopConfig,
    glob: _Globals,
    leaf_top: np.ndarray,
    rng: np.random.Generator,
    cohort: int,
    m: int,
    first: int,
) -> dict[str, np.ndarray]:
    """Traits of one cohort of products (cohort 0: the base catalogue, on sale before day 0)."""
    f = config.n_factors
    leaves = voc.LEAVES
    n_top = int(leaf_top.max()) + 1
    if cohort == 0:
        launch = -rng.integers(1, 2 * 365, size=m)
    else:
        launch = np.sort(rng.integers((cohort - 1) * COHORT_DAYS, cohort * COHORT_DAYS, size=m))
    leaf = rng.choice(len(leaves), size=m, p=glob.leaf_weights).astype(np.int16)
    top = leaf_top[leaf]
    nb = len(glob.brand_size)
    # a product's brand: mostly a brand whose home is the product's top category
    brand = np.empty(m, dtype=np.int32)
    at_home = rng.random(m) < 0.8
    all_cum = np.cumsum(glob.brand_size / glob.brand_size.sum())
    for t in range(n_top):
        idx = np.flatnonzero((top == t) & at_home)
        home = np.flatnonzero(glob.brand_home == t)
        if len(home) == 0:
            at_home[idx] = False
            continue
        w = glob.brand_size[home]
        cum = np.cumsum(w / w.sum())
        pos = np.minimum(np.searchsorted(cum, rng.random(len(idx)), side="right"), len(home) - 1)
        brand[idx] = home[pos]
    away = np.flatnonzero(~at_home)
    brand[away] = np.minimum(np.searchsorted(all_cum, rng.random(len(away)), side="right"), nb - 1)
    quality = (glob.brand_quality[brand] + rng.normal(0.0, 0.8, size=m)).astype(np.float32)
    appeal = (rng.normal(0.0, 1.0, size=m) + 0.3 * quality).astype(np.float32)
    med = np.array([lf.median_price for lf in leaves])[leaf]
    sig = np.array([lf.price_sigma for lf in leaves])[leaf]
    log_rel = sig * rng.normal(0.0, 1.0, size=m) + 0.15 * quality
    price = np.maximum(np.round(med * np.exp(log_rel), 2), 0.5)
    rel_price = np.log(price / med).astype(np.float32)
    factors = (glob.leaf_centroids[leaf] + rng.normal(0.0, 0.6, size=(m, f))).astype(np.float32)
    # catalogue ratings: more for appealing, older products; the mean follows quality
    age_factor = 1.0 if cohort == 0 else 0.1
    rating_count = rng.poisson(np.exp(1.8 + 1.0 * appeal + 0.3 * quality) * age_factor)
    noise = rng.normal(0.0, 1.0, size=m) * 0.9 / np.sqrt(rating_count + 1)
    avg_rating = np.clip(np.round(3.8 + 0.55 * quality + noise, 1), 1.0, 5.0)
    avg_rating = np.where(rating_count > 0, avg_rating, np.nan)
    number = np.arange(first + 1, first + m + 1, dtype=np.int64)
    text = _product_text(rng, glob.brands, leaf, brand, quality, rel_price, number)
    return {
        "number": number,
        "launch_day": launch.astype(np.int32),
        "leaf": leaf,
        "brand": brand,
        "price": price,
        "rel_price": rel_price,
        "quality": quality,
        "appeal": appeal,
        "factors": factors.reshape(m, f),
        "avg_rating": avg_rating,
        "rating_count": rating_count.astype(np.int64),
        **text,
    }


def _person_text(
    config: ShopConfig,
    glob: _Globals,
    rng: np.random.Generator,
    gender: np.ndarray,
    region: np.ndarray,
) -> dict[str, np.ndarray]:
    """Raw personal data of a cohort (name, e-mail, phone, address, postcode)."""
    n = len(gender)
    genders = tuple(config.gender_mix)
    regions = tuple(config.region_mix)
    gender_names = np.asarray(genders, dtype=object)[gender] if n else np.array([], dtype=object)
    first = np.empty(n, dtype=object)
    u = rng.random(n)
    for g in np.unique(gender_names):
        pool = voc.FIRST_NAMES.get(g, voc.FIRST_NAMES["other"])
        mask = gender_names == g
        first[mask] = voc.pick(pool, u[mask])
    last = voc.pick(voc.LAST_NAMES, rng.random(n))
    number = rng.integers(1, 100, size=n)
    domain = voc.pick(voc.EMAIL_DOMAINS, rng.random(n))
    town = glob.towns[region * _TOWNS_PER_REGION + rng.integers(0, _TOWNS_PER_REGION, size=n)]
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
        postcode.append(f"{codes[region[i]]}{area[i]} {sector[i]}{pc_unit}")
        phone.append(f"+1-555-{phone_a[i]:03d}-{phone_b[i]:04d}")
    return {
        "name": np.asarray(name, dtype=object),
        "email": np.asarray(email, dtype=object),
        "phone": np.asarray(phone, dtype=object),
        "address": np.asarray(address, dtype=object),
        "postcode": np.asarray(postcode, dtype=object),
    }


def _product_text(
    rng: np.random.Generator,
    brands: list[str],
    leaf: np.ndarray,
    brand: np.ndarray,
    quality: np.ndarray,
    rel_price: np.ndarray,
    number: np.ndarray,
) -> dict[str, np.ndarray]:
    """Title and description of a cohort of products: words reflect category and attributes."""
    m = len(leaf)
    leaves = voc.LEAVES
    q_terc = np.digitize(quality, [-_QUALITY_TERCILE, _QUALITY_TERCILE])
    price_tier = np.where(rel_price < -0.35, 0, np.where(rel_price > 0.35, 2, 1))
    u = rng.random((m, 8))
    titles, descriptions = [], []
    for i in range(m):
        lf = leaves[leaf[i]]
        words = voc.TOP_WORDS[lf.top]
        noun = lf.nouns[int(u[i, 0] * len(lf.nouns))]
        adj = words["adjectives"][int(u[i, 1] * len(words["adjectives"]))]
        material = words["materials"][int(u[i, 2] * len(words["materials"]))]
        use = words["uses"][int(u[i, 3] * len(words["uses"]))]
        colour = voc.COLOURS[int(u[i, 4] * len(voc.COLOURS))]
        qw = voc.QUALITY_WORDS[int(q_terc[i])]
        qword = qw[int(u[i, 5] * len(qw))]
        pw = voc.PRICE_WORDS[int(price_tier[i])]
        pword = pw[int(u[i, 6] * len(pw))]
        name = brands[brand[i]]
        model = f"{chr(65 + int(u[i, 7] * 26))}{100 + (number[i] - 1) % 900}"
        title = f"{name} {adj} {noun} {model}"
        titles.append(title)
        descriptions.append(
            f"{title}. A {qword} {adj} {noun} by {name} in {colour}, made with {material}, "
            f"{use}. {pword.capitalize()} pick from our {lf.sub.replace('_', ' ')} range in "
            f"{lf.top}."
        )
    return {
        "title": np.asarray(titles, dtype=object),
        "description": np.asarray(descriptions, dtype=object),
    }


def _ids(prefix: str, numbers: np.ndarray, base: int) -> np.ndarray:
    """Ids such as ``C00001``: zero-padded to the base size's width, so they do not depend on the
    horizon (numbers past the width just grow longer and stay unique)."""
    width = max(5, len(str(base)))
    return np.array([f"{prefix}{i:0{width}d}" for i in numbers], dtype=object)


def _customer_table(
    config: ShopConfig,
    genders: tuple[str, ...],
    regions: tuple[str, ...],
    devices: tuple[str, ...],
    cust: dict[str, np.ndarray],
    underserved: np.ndarray,
) -> pd.DataFrame:
    signup = config.start + pd.to_timedelta(cust["signup_day"], unit="D")
    return pd.DataFrame(
        {
            "customer_id": _ids("C", cust["number"], config.n_customers),
            "age_band": pd.Categorical.from_codes(
                cust["band"], categories=[b[0] for b in voc.AGE_BANDS], ordered=True
            ),
            "gender": pd.Categorical.from_codes(cust["gender"], categories=list(genders)),
            "region": pd.Categorical.from_codes(cust["region"], categories=list(regions)),
            "device": pd.Categorical.from_codes(cust["device"], categories=list(devices)),
            "signup_date": signup.astype("datetime64[ns]"),
            "name": cust["name"],
            "email": cust["email"],
            "phone": cust["phone"],
            "address": cust["address"],
            "postcode": cust["postcode"],
            "age": cust["age"].astype(np.int64),
            # latent (ground truth only)
            "signup_day": cust["signup_day"].astype(np.int64),
            "preferred_daypart": pd.Categorical.from_codes(
                cust["daypart"], categories=list(DAYPARTS)
            ),
            "activity": cust["activity"],
            "price_sensitivity": cust["price_sens"].astype(np.float64),
            "underserved": underserved,
        }
    )


def _product_table(
    config: ShopConfig,
    leaves: tuple[voc.Leaf, ...],
    brands: list[str],
    prod: dict[str, np.ndarray],
    cycle_of_leaf: np.ndarray,
    consumable_leaf: np.ndarray,
) -> pd.DataFrame:
    leaf = prod["leaf"]
    return pd.DataFrame(
        {
            "product_id": _ids("P", prod["number"], config.n_products),
            "title": prod["title"],
            "category": np.asarray([lf.path for lf in leaves], dtype=object)[leaf],
            "brand": np.asarray(brands, dtype=object)[prod["brand"]],
            "price": prod["price"],
            "avg_rating": prod["avg_rating"],
            "rating_count": prod["rating_count"],
            "description": prod["description"],
            # latent (ground truth only)
            "top_category": np.asarray([lf.top for lf in leaves], dtype=object)[leaf],
            "quality": prod["quality"].astype(np.float64),
            "appeal": prod["appeal"].astype(np.float64),
            "relative_price": prod["rel_price"].astype(np.float64),
            "launch_day": prod["launch_day"].astype(np.int64),
            "consumable": consumable_leaf[leaf],
            "repurchase_days": cycle_of_leaf[leaf],
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
