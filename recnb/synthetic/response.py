"""Ground truth of the synthetic shop: true utility and the response to a shown ranked list.

All functions here work on index arrays (see :mod:`recnb.synthetic.world` for the conventions); the
public, id-based API is :class:`recnb.synthetic.SyntheticShop`. The same functions produce the
organic browse log and answer ground-truth queries, so the log is a sample of exactly this model.

True utility of customer ``c`` for product ``p`` in context ``(device, daypart, region)`` on
day ``d``::

    u = <x_c, y_p> / sqrt(n_factors)                       taste
      + affinity[c, top(p)]                                 category affinity (demographic shifts)
      + 0.4 * quality[p] + 0.4 * appeal[p]                  product-only part
      - price_sensitivity[c] * relative_price[p]            log price relative to the leaf median
      + device[top(p)] + daypart[top(p)] + region[top(p)]   context (0 for an unknown context)
      + trend[leaf(p)](d) + novelty[p](d)                   drift (0 when the day is unknown)

Context effects are centred on their mix, so an unknown context gives the mix-average utility. The
trend of a leaf is ``trend_strength * (slope * (2 d / n_days - 1) + amplitude * sin(2 pi d / period
+ phase))``; novelty is ``trend_strength * 3.2 * exp(-(d - launch_day) / 14)`` from the launch day.

Response to a list (position-based model): the item at 1-based position ``k`` is examined with
probability ``k ** -position_bias``, independently of the others. Given examination::

    P(click)            = sigmoid(-4.4 + u)
    P(cart | click)     = sigmoid(-4.3 + 0.8 u + device_conversion)
    P(wishlist | click) = sigmoid(-4.4 + 0.5 u + 0.4 relative_price)
    P(purchase | cart)  = sigmoid(-3.0 + 0.6 u + device_conversion)

Utility is on a log-odds scale where a random (customer, product) pair averages 0; the products a
customer is actually shown average about 2 (they come from categories the customer likes and are
appealing), so the biases are set for realistic funnel rates on shown items: about 15% of views are
clicked, a quarter of clicks are added to the cart and under half of carts are bought.

Dwell: an examined item is glanced at for a lognormal time with mean 3 s; a clicked one is read for
a lognormal time with mean ``35 s * device_dwell * exp(0.25 u)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recnb.synthetic.world import World

CLICK_BIAS = -4.4
CART_BIAS, CART_SLOPE = -4.3, 0.8
WISH_BIAS, WISH_SLOPE, WISH_PRICE = -4.4, 0.5, 0.4
BUY_BIAS, BUY_SLOPE = -3.0, 0.6
GLANCE_MEAN, GLANCE_SIGMA = 3.0, 0.5
DWELL_MEAN, DWELL_SLOPE, DWELL_SIGMA = 35.0, 0.25, 0.6
NOVELTY_WEIGHT, NOVELTY_DAYS = 3.2, 14.0  # novelty = trend_strength * 3.2 * exp(-age / 14 days)
RATING_BASE, RATING_QUALITY, RATING_UTILITY, RATING_NOISE = 4.4, 0.6, 0.5, 0.9
RATING_CENTRE = 5.0  # typical utility of a bought product
DISCOUNTS = (0.0, 0.1, 0.2, 0.3)
DISCOUNT_P = (0.75, 0.1, 0.1, 0.05)
QUANTITY_EXTRA = {"grocery": 1.0, "beauty": 0.3, "pets": 0.4}  # Poisson mean of extra units
QUANTITY_EXTRA_DEFAULT = 0.1
_CHUNK = 1 << 19


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def trend(world: World, leaf: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Category trend of leaf ``leaf`` on (possibly fractional) day ``day``; NaN day gives 0."""
    n_days = world.config.n_days
    t = world.config.trend_strength * (
        world.trend_slope[leaf] * (2.0 * day / n_days - 1.0)
        + world.trend_amplitude[leaf]
        * np.sin(2.0 * np.pi * day / world.trend_period[leaf] + world.trend_phase[leaf])
    )
    return np.where(np.isnan(day), 0.0, t)


def novelty(world: World, p: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Boost of a recently launched product, decaying over two weeks; 0 before launch or NaN day."""
    age = day - world.p_launch_day[p]
    with np.errstate(invalid="ignore", over="ignore"):
        boost = world.config.trend_strength * NOVELTY_WEIGHT * np.exp(-age / NOVELTY_DAYS)
    return np.where(np.isnan(day) | (age < 0), 0.0, boost)


def utility(
    world: World,
    c: np.ndarray,
    p: np.ndarray,
    device: np.ndarray | None = None,
    daypart: np.ndarray | None = None,
    region: np.ndarray | None = None,
    day: np.ndarray | None = None,
) -> np.ndarray:
    """True utility for equal-length 1-D index arrays (context index -1 / day NaN: unknown)."""
    c = np.asarray(c, dtype=np.int64)
    p = np.asarray(p, dtype=np.int64)
    n = len(c)
    out = np.empty(n, dtype=np.float64)
    scale = 1.0 / np.sqrt(world.config.n_factors)
    for s in range(0, n, _CHUNK):
        e = min(n, s + _CHUNK)
        cc, pp = c[s:e], p[s:e]
        taste = np.einsum("ij,ij->i", world.c_factors[cc], world.p_factors[pp], dtype=np.float64)
        out[s:e] = taste * scale
    top = world.p_top[p]
    out += world.c_affinity[c, top]
    out += world.p_base[p]
    out -= world.c_price_sens[c].astype(np.float64) * world.p_rel_price[p]
    if device is not None:
        out += world.device_effect[device, top]
    if daypart is not None:
        out += world.daypart_effect[daypart, top]
    if region is not None:
        out += world.region_effect[region, top]
    if day is not None:
        day = np.asarray(day, dtype=np.float64)
        out += trend(world, world.p_leaf[p], day) + novelty(world, p, day)
    return out


def examination(world: World, positions: np.ndarray) -> np.ndarray:
    """Probability that a 1-based position is examined."""
    return np.asarray(positions, dtype=np.float64) ** -world.config.position_bias


@dataclass(frozen=True)
class Conditionals:
    """Conditional funnel probabilities for examined items (see the module docstring)."""

    click: np.ndarray
    cart: np.ndarray
    wishlist: np.ndarray
    purchase: np.ndarray
    dwell_mean: np.ndarray


def conditionals(
    world: World, u: np.ndarray, p: np.ndarray, device: np.ndarray | None
) -> Conditionals:
    """Funnel probabilities given examination, for utilities ``u`` of products ``p``."""
    conv = 0.0 if device is None else world.device_conversion[device]
    dwell = 1.0 if device is None else world.device_dwell[device]
    return Conditionals(
        click=_sigmoid(CLICK_BIAS + u),
        cart=_sigmoid(CART_BIAS + CART_SLOPE * u + conv),
        wishlist=_sigmoid(WISH_BIAS + WISH_SLOPE * u + WISH_PRICE * world.p_rel_price[p]),
        purchase=_sigmoid(BUY_BIAS + BUY_SLOPE * u + conv),
        dwell_mean=DWELL_MEAN * dwell * np.exp(DWELL_SLOPE * u),
    )


@dataclass(frozen=True)
class Funnel:
    """Sampled outcome for examined items: what happened and the measured values."""

    click: np.ndarray
    cart: np.ndarray
    wishlist: np.ndarray
    purchase: np.ndarray
    glance_seconds: np.ndarray
    dwell_seconds: np.ndarray
    quantity: np.ndarray
    price_paid: np.ndarray


def _lognormal(
    rng: np.random.Generator, mean: np.ndarray | float, sigma: float, n: int
) -> np.ndarray:
    return np.exp(np.log(mean) - sigma * sigma / 2 + sigma * rng.standard_normal(n))


def sample_funnel(
    world: World,
    rng: np.random.Generator,
    u: np.ndarray,
    p: np.ndarray,
    device: np.ndarray | None,
) -> Funnel:
    """Sample click, cart, wishlist, purchase, dwell, quantity and price paid for examined items."""
    n = len(u)
    cond = conditionals(world, u, p, device)
    r = rng.random((4, n))
    click = r[0] < cond.click
    cart = click & (r[1] < cond.cart)
    wish = click & (r[2] < cond.wishlist)
    buy = cart & (r[3] < cond.purchase)
    glance = np.round(_lognormal(rng, GLANCE_MEAN, GLANCE_SIGMA, n), 1)
    dwell = np.round(_lognormal(rng, cond.dwell_mean, DWELL_SIGMA, n), 1)
    extra = np.array([QUANTITY_EXTRA.get(t, QUANTITY_EXTRA_DEFAULT) for t in world.tops])
    quantity = 1 + rng.poisson(extra[world.p_top[p]])
    discount = np.asarray(DISCOUNTS)[rng.choice(len(DISCOUNTS), size=n, p=DISCOUNT_P)]
    price_paid = np.round(world.p_price[p] * (1.0 - discount), 2)
    return Funnel(click, cart, wish, buy, glance, dwell, quantity, price_paid)


def sample_rating(
    world: World, rng: np.random.Generator, u: np.ndarray, p: np.ndarray
) -> np.ndarray:
    """Star rating 1..5 a buyer gives: rises with product quality and the buyer's utility.

    ``round(4.4 + 0.6 quality + 0.5 (u - 5) + 0.9 noise)`` clipped to 1..5 (5 is the typical
    utility of a bought product).
    """
    raw = (
        RATING_BASE
        + RATING_QUALITY * world.p_quality[p]
        + RATING_UTILITY * (u - RATING_CENTRE)
        + RATING_NOISE * rng.standard_normal(len(u))
    )
    return np.clip(np.round(raw), 1, 5)
