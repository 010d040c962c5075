"""Ground truth of the synthetic shop: true utility and the response to a shown ranked list.

All functions here work on index arrays (see :mod:`recnb.data.synthetic.world` for the conventions); the
public, id-based API is :class:`recnb.data.synthetic.SyntheticShop`. The same functions produce the
organic browse log and answer ground-truth queries, so the log is a sample of exactly this model.

True utility of customer ``c`` for product ``p`` in context ``(device, daypart, region)`` on
day ``d``, given the customer's purchase history::

    u = <x_c, y_p> / sqrt(n_factors)                       taste
      + affinity[c, top(p)]                                 category affinity (demographic shifts)
      + 0.4 * quality[p] + 0.4 * appeal[p]                  product-only part
      - price_sensitivity[c] * relative_price[p]            log price relative to the leaf median
      - novelty_seeking * appeal[p]                         every customer (0 by default)
      - underserved_strength * appeal[p]                    planted under-served group, kind "appeal"
      + device[top(p)] + daypart[top(p)] + region[top(p)]   context (planted effects)
      + trend[leaf(p)](d) + novelty[p](d) + shift[top(p)](d)  drift (0 when the day is unknown)
      + repeat[c, p](d)                                     state: what the customer bought before

Context effects are centred on the population mix. A context value that is unknown (``-1``) stands
for the customer's own mix (home value with the ``home_*_share``, else the population mix), whose
expected effect is ``home_share * effect[home]``; :func:`context_grid` enumerates that mix where
an expectation of a non-linear response is needed.

Drift is bounded and defined in absolute days (the window length plays no part). The trend of a leaf
is ``trend_strength * (slope * tanh(d / 60) + amplitude * sin(2 pi d / period + phase))``; novelty is
``trend_strength * 3.2 * exp(-(d - launch_day) / 14)`` from the launch day; the planted shift is
``shift_strength * shift[top]`` from ``shift_day`` on.

State: if the customer last bought the product ``t`` days before (time kept to the second; a
purchase counts from its checkout on), ``repeat = -repeat_satiation * exp(-t / cycle) +
repeat_boost * consumable * (1 - exp(-t / cycle))`` where ``cycle`` is the product's repurchase
cycle in days (weeks for consumables, two years for durables).

Response to a list (position-based model with an attention budget): the item at 1-based position
``k`` of a list of ``L`` slots is examined with probability ``k ** -position_bias * min(1, B / sum(j
** -position_bias, j = 1..L))``, independently of the others, where ``B`` is the attention budget:
a page gets at most ``B`` examinations in expectation. Given examination, a product that is on sale
(launched) responds with::

    P(click)            = sigmoid(-4.4 + u)
    P(cart | click)     = sigmoid(-4.3 + 0.8 u + device_conversion)
    P(wishlist | click) = sigmoid(-4.4 + 0.5 u + 0.4 relative_price)
    P(purchase | cart)  = sigmoid(-3.0 + 0.6 u + device_conversion)

and a product not yet launched never responds. Utility is on a log-odds scale where a random
(customer, product) pair averages 0; the products a customer is actually shown average about 2
(they come from categories the customer likes and are appealing), so the biases are set for
realistic funnel rates on shown items: about 15% of views are clicked, a quarter of clicks are added
to the cart and under half of carts are bought.

A purchase buys ``1 + Poisson(extra)`` units (more for groceries, beauty and pets) at the price less
a discount of 0, 10, 20 or 30% (probabilities 0.75, 0.1, 0.1, 0.05); its expected revenue is
``price * (1 - 0.045) * (1 + extra)``.

Dwell: an examined item is glanced at for a lognormal time with mean 3 s; a clicked one is read for
a lognormal time with mean ``35 s * device_dwell * exp(0.25 u)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recnb.data.synthetic.world import World

CLICK_BIAS = -4.4
CART_BIAS, CART_SLOPE = -4.3, 0.8
WISH_BIAS, WISH_SLOPE, WISH_PRICE = -4.4, 0.5, 0.4
BUY_BIAS, BUY_SLOPE = -3.0, 0.6
GLANCE_MEAN, GLANCE_SIGMA = 3.0, 0.5
DWELL_MEAN, DWELL_SLOPE, DWELL_SIGMA = 35.0, 0.25, 0.6
NOVELTY_WEIGHT, NOVELTY_DAYS = 3.2, 14.0  # novelty = trend_strength * 3.2 * exp(-age / 14 days)
TREND_DAYS = 60.0  # the slope part of a trend saturates as tanh(day / 60)
RATING_BASE, RATING_QUALITY, RATING_UTILITY, RATING_NOISE = 4.4, 0.6, 0.5, 0.9
RATING_CENTRE = 5.0  # typical utility of a bought product
DISCOUNTS = (0.0, 0.1, 0.2, 0.3)
DISCOUNT_P = (0.75, 0.1, 0.1, 0.05)
MEAN_DISCOUNT = float(np.dot(DISCOUNTS, DISCOUNT_P))
QUANTITY_EXTRA = {"grocery": 1.0, "beauty": 0.3, "pets": 0.4}  # Poisson mean of extra units
QUANTITY_EXTRA_DEFAULT = 0.1
_CHUNK = 1 << 19


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def trend(world: World, leaf: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Bounded category trend of leaf ``leaf`` on (possibly fractional) day ``day``; NaN gives 0."""
    cfg = world.config
    with np.errstate(invalid="ignore"):
        t = cfg.trend_strength * (
            world.trend_slope[leaf] * np.tanh(day / TREND_DAYS)
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


def shift(world: World, top: np.ndarray, day: np.ndarray) -> np.ndarray:
    """The planted step change of category preferences (0 before ``shift_day`` or NaN day)."""
    cfg = world.config
    if cfg.shift_day is None:
        return np.zeros(np.broadcast_shapes(np.shape(top), np.shape(day)))
    with np.errstate(invalid="ignore"):
        on = day >= cfg.shift_day
    return np.where(on, cfg.shift_strength * world.shift_effect[top], 0.0)


def repeat_effect(world: World, p: np.ndarray, days_since: np.ndarray) -> np.ndarray:
    """Utility change from having bought ``p`` ``days_since`` days ago (NaN: never bought)."""
    cfg = world.config
    with np.errstate(invalid="ignore"):
        decay = np.exp(-days_since / world.p_cycle[p])
    eff = -cfg.repeat_satiation * decay + cfg.repeat_boost * world.p_consumable[p] * (1.0 - decay)
    return np.where(np.isnan(days_since), 0.0, eff)


def _context_term(
    effect: np.ndarray, values: np.ndarray | None, home: np.ndarray, share: float, top: np.ndarray
) -> np.ndarray:
    """Context effect of known values; the customer's own-mix expectation where unknown (-1)."""
    if values is None:
        return share * effect[home, top]
    unknown = values < 0
    out = effect[values, top]
    if unknown.any():
        out[unknown] = share * effect[home[unknown], top[unknown]]
    return out


def utility(
    world: World,
    c: np.ndarray,
    p: np.ndarray,
    device: np.ndarray | None = None,
    daypart: np.ndarray | None = None,
    region: np.ndarray | None = None,
    day: np.ndarray | None = None,
    days_since: np.ndarray | None = None,
    drift: np.ndarray | None = None,
) -> np.ndarray:
    """True utility for equal-length 1-D index arrays.

    A context index of -1 (or ``None`` for the whole array) means the customer's own context mix
    (the expected effect); ``day`` is the time in days since day 0 (fractional; NaN or ``None``
    leaves out the drifting terms); ``days_since`` is the time since the customer last bought the
    product, in days (NaN or ``None``: never). ``drift``, if given, is the trend plus shift of each
    row already computed (the log computes them per visit and leaf).
    """
    c = np.asarray(c, dtype=np.int64)
    p = np.asarray(p, dtype=np.int64)
    n = len(c)
    cfg = world.config
    out = np.empty(n, dtype=np.float64)
    scale = 1.0 / np.sqrt(cfg.n_factors)
    for s in range(0, n, _CHUNK):
        e = min(n, s + _CHUNK)
        cc, pp = c[s:e], p[s:e]
        taste = np.einsum("ij,ij->i", world.c_factors[cc], world.p_factors[pp], dtype=np.float64)
        out[s:e] = taste * scale
    top = world.p_top[p]
    out += world.c_affinity[c, top]
    out += world.p_base[p]
    out -= world.c_price_sens[c].astype(np.float64) * world.p_rel_price[p]
    if cfg.novelty_seeking:
        out -= cfg.novelty_seeking * world.p_appeal[p]
    if cfg.underserved_group is not None and cfg.underserved_kind == "appeal":
        out -= np.where(world.c_underserved[c], cfg.underserved_strength * world.p_appeal[p], 0.0)
    out += _context_term(world.device_effect, device, world.c_device[c], cfg.home_device_share, top)
    out += _context_term(
        world.daypart_effect, daypart, world.c_daypart[c], cfg.home_daypart_share, top
    )
    out += _context_term(world.region_effect, region, world.c_region[c], cfg.home_region_share, top)
    if day is not None:
        day = np.asarray(day, dtype=np.float64)
        if drift is not None:
            out += drift
        elif day.ndim == 0:  # one day for every row: the trends per leaf, then gathered
            leaves = np.arange(len(world.leaves))
            out += trend(world, leaves, day)[world.p_leaf[p]]
            out += shift(world, world.leaf_top, day)[world.p_leaf[p]]
        else:
            out += trend(world, world.p_leaf[p], day) + shift(world, top, day)
        out += novelty(world, p, day)
    if days_since is not None:
        out += repeat_effect(world, p, np.asarray(days_since, dtype=np.float64))
    return out


def own_mix(world: World, dimension: str, home: np.ndarray) -> np.ndarray:
    """Each customer's own distribution over the values of a context dimension (rows x values).

    ``dimension`` is ``"device"``, ``"daypart"`` or ``"region"``; ``home`` the customers' home
    values. The home value has probability ``share + (1 - share) * mix[home]``.
    """
    cfg = world.config
    weights, share = {
        "device": (world.device_weights, cfg.home_device_share),
        "daypart": (world.daypart_weights, cfg.home_daypart_share),
        "region": (world.region_weights, cfg.home_region_share),
    }[dimension]
    out = np.tile((1.0 - share) * weights, (len(home), 1))
    out[np.arange(len(home)), home] += share
    return out


def context_grid(
    world: World,
    c: np.ndarray,
    device: np.ndarray | None,
    daypart: np.ndarray | None,
    region: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Enumerate the customer's own context mix where a context value is unknown.

    Returns ``(device, daypart, region, weight)``, each of shape ``(n_rows, n_combinations)``
    (broadcastable): the combinations of the dimensions unknown in some row, with each row's
    probability of each combination (a known value has weight 1 on itself). The weights of a row
    sum to 1, so ``(weight * f).sum(axis=1)`` is the expectation of ``f`` over the mix. At most
    ``3 x 4 x 5 = 60`` combinations with the default mixes.
    """
    n = len(c)
    homes = {"device": world.c_device, "daypart": world.c_daypart, "region": world.c_region}
    given = {"device": device, "daypart": daypart, "region": region}
    values, weights = [], []
    for dim in ("device", "daypart", "region"):
        v = given[dim]
        v = np.full(n, -1, dtype=np.int64) if v is None else np.asarray(v, dtype=np.int64)
        unknown = v < 0
        if not unknown.any():
            values.append(v[:, None])
            weights.append(np.ones((n, 1)))
            continue
        mix = own_mix(world, dim, homes[dim][c].astype(np.int64))
        known_rows = np.flatnonzero(~unknown)
        mix[known_rows] = 0.0
        mix[known_rows, v[known_rows]] = 1.0
        values.append(np.arange(mix.shape[1])[None, :])
        weights.append(mix)
    full = (n, values[0].shape[1], values[1].shape[1], values[2].shape[1])
    axes = ((slice(None), slice(None), None, None), (slice(None), None, slice(None), None),
            (slice(None), None, None, slice(None)))  # fmt: skip
    grid = [np.broadcast_to(v[ax], full).reshape(n, -1) for v, ax in zip(values, axes, strict=True)]
    weight = np.ones(full)
    for w, ax in zip(weights, axes, strict=True):
        weight = weight * w[ax]
    weight = weight.reshape(n, -1)
    return grid[0], grid[1], grid[2], weight


def attention_scale(world: World, list_length: np.ndarray) -> np.ndarray:
    """Factor applied to the position-bias examination of every slot of a list of this length."""
    length = np.asarray(list_length, dtype=np.int64)
    top = int(length.max()) if length.size else 1
    total = np.cumsum(np.arange(1, top + 1, dtype=np.float64) ** -world.config.position_bias)
    return np.minimum(1.0, world.config.attention_budget / total[np.maximum(length, 1) - 1])


def examination(
    world: World, positions: np.ndarray, list_length: np.ndarray | int | None = None
) -> np.ndarray:
    """Probability that a 1-based position of a list of ``list_length`` slots is examined.

    ``list_length`` (scalar or per position) brings in the attention budget; ``None`` gives the
    position bias alone (a list short enough to fit the budget).
    """
    pos = np.asarray(positions)
    if pos.size and np.issubdtype(pos.dtype, np.integer) and pos.min() >= 1:
        table = np.arange(1, int(pos.max()) + 1, dtype=np.float64) ** -world.config.position_bias
        e = table[pos - 1]
    else:
        e = np.asarray(positions, dtype=np.float64) ** -world.config.position_bias
    if list_length is None:
        return e
    return e * attention_scale(world, np.broadcast_to(list_length, e.shape))


def expected_quantity(world: World, p: np.ndarray) -> np.ndarray:
    """Expected units of one purchase of each product."""
    extra = np.array([QUANTITY_EXTRA.get(t, QUANTITY_EXTRA_DEFAULT) for t in world.tops])
    return 1.0 + extra[world.p_top[p]]


def expected_order_value(world: World, p: np.ndarray) -> np.ndarray:
    """Expected revenue of one purchase: price after the mean discount times expected units."""
    return world.p_price[p] * (1.0 - MEAN_DISCOUNT) * expected_quantity(world, p)


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
    """Sampled outcome for examined items: what happened and the measured values (``quantity``
    and ``price_paid`` only for purchases: 0 and NaN elsewhere)."""

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
    available: np.ndarray | None = None,
) -> Funnel:
    """Sample click, cart, wishlist, purchase, dwell, quantity and price paid for examined items.

    ``available`` (default: all) marks products on sale; the others are examined but never
    clicked.
    """
    n = len(u)
    cond = conditionals(world, u, p, device)
    r = rng.random((4, n))
    click = r[0] < cond.click
    if available is not None:
        click &= available
    cart = click & (r[1] < cond.cart)
    wish = click & (r[2] < cond.wishlist)
    buy = cart & (r[3] < cond.purchase)
    glance = np.round(_lognormal(rng, GLANCE_MEAN, GLANCE_SIGMA, n), 1)
    dwell = np.round(_lognormal(rng, cond.dwell_mean, DWELL_SIGMA, n), 1)
    # units and discount of the purchases (0 units and NaN price elsewhere)
    b = np.flatnonzero(buy)
    quantity = np.zeros(n, dtype=np.int64)
    quantity[b] = 1 + rng.poisson(expected_quantity(world, p[b]) - 1.0)
    discount = np.asarray(DISCOUNTS)[rng.choice(len(DISCOUNTS), size=len(b), p=DISCOUNT_P)]
    price_paid = np.full(n, np.nan)
    price_paid[b] = np.round(world.p_price[p[b]] * (1.0 - discount), 2)
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
