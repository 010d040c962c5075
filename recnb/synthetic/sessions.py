"""Organic browse sessions of the synthetic shop, sampled from the ground-truth response model.

How a session unfolds (all vectorized, sessions processed in chunks so memory stays flat):

1. Each customer has ``Poisson(activity * active_days / 30)`` sessions, on days after signing up
   (weekends a little busier), at an hour inside the customer's preferred part of the day (or one
   drawn from the mix), on the home device and in the home region (or ones drawn from the mixes).
2. A session looks at a geometric number of list pages. A page is either a category page (a leaf
   chosen by the customer's affinity, taste, the session's context and the day's trends) or the home
   page (shop-wide bestsellers). Its products are drawn by their appeal, products launched later
   than the session's day are never shown, and the shop orders the page by appeal plus noise (there
   is no recommender yet: this is the logging policy).
3. The customer examines positions with position bias, and examined products go through the funnel
   of :mod:`recnb.synthetic.response` in the session's context: ``view`` (examined), ``click`` (the
   product page was opened; ``dwell_seconds`` is the reading time), ``add_to_cart``, ``wishlist``,
   ``purchase`` (at checkout, the end of the session; ``value`` is the quantity, ``price_paid`` the
   unit price after any discount) and, days later, a ``rating`` for some purchases (``value`` 1-5;
   ratings have no session, a customer rates a product at most once, and ratings that would
   fall after the window are not logged). A product is shown at most once per session.

Context is fixed at the session's start: its device, location (region), part of the day and day
index are those that enter the true utility.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recnb.schema import EVENT_TYPES
from recnb.synthetic import response
from recnb.synthetic.config import DAYPART_HOURS, DAYPARTS
from recnb.synthetic.world import World

HOME_PAGE_SHARE = 0.2  # share of pages that are the shop-wide bestseller page
HOME_PAGE_SHARPNESS = 1.3  # bestseller page: weights exp(1.3 * appeal)
LEAF_SIZE_WEIGHT = 0.5  # bigger leaves attract more browsing: + 0.5 * log(n products)
LEAF_TEMPERATURE = 1.5  # category choice logits are multiplied by this
ORDER_NOISE = 0.5  # noise in the shop's page ordering (appeal + noise)
WEEKEND_BOOST = 1.3
PAGE_LOAD_SECONDS = 5.0
SCROLL_SECONDS = 1.0
CART_SECONDS = 4.0
WISHLIST_SECONDS = 2.0
CHECKOUT_SECONDS = 30.0
RATING_DELAY_DAYS = 4.0  # ratings arrive 1 + Exponential(4) days after the purchase
SESSIONS_PER_CHUNK = 20_000

_EV = {name: code for code, name in enumerate(EVENT_TYPES)}


def _session_days(world: World, rng: np.random.Generator, c: np.ndarray) -> np.ndarray:
    cfg = world.config
    weekday = (cfg.start.dayofweek + np.arange(cfg.n_days)) % 7
    w = np.where(weekday >= 5, WEEKEND_BOOST, 1.0)
    cum = np.cumsum(w)
    lo = np.maximum(world.c_signup_day[c], 0)
    base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
    u = base + rng.random(len(c)) * (cum[-1] - base)
    return np.minimum(np.searchsorted(cum, u, side="right"), cfg.n_days - 1).astype(np.int32)


def _mixed(
    rng: np.random.Generator, home: np.ndarray, share: float, weights: np.ndarray
) -> np.ndarray:
    """The home value with probability ``share``, else a draw from the mix (marginal = the mix)."""
    n = len(home)
    drawn = rng.choice(len(weights), size=n, p=weights / weights.sum())
    return np.where(rng.random(n) < share, home, drawn).astype(np.int16)


def draw_sessions(world: World, rng: np.random.Generator) -> pd.DataFrame:
    """One row per session, in chronological order: customer, day, start second, context, pages."""
    cfg = world.config
    active_days = cfg.n_days - np.maximum(world.c_signup_day, 0)
    n_sess = rng.poisson(world.c_activity * active_days / 30.0)
    c = np.repeat(np.arange(world.n_customers, dtype=np.int32), n_sess)
    day = _session_days(world, rng, c)
    daypart_w = np.array([cfg.daypart_mix.get(d, 0.0) for d in DAYPARTS])
    daypart = _mixed(rng, world.c_daypart[c], cfg.home_daypart_share, daypart_w)
    starts = np.array([DAYPART_HOURS[d][0] for d in DAYPARTS])
    widths = np.array([DAYPART_HOURS[d][1] - DAYPART_HOURS[d][0] for d in DAYPARTS])
    hour = starts[daypart] + np.floor(rng.random(len(c)) * widths[daypart]).astype(np.int64)
    second = hour * 3600 + rng.integers(0, 3600, size=len(c))
    device = _mixed(
        rng, world.c_device[c], cfg.home_device_share, np.array(list(cfg.device_mix.values()))
    )
    region = _mixed(
        rng, world.c_region[c], cfg.home_region_share, np.array(list(cfg.region_mix.values()))
    )
    pages = rng.geometric(1.0 / cfg.pages_per_session, size=len(c)).astype(np.int32)
    t0 = day.astype(np.int64) * 86_400 + second
    order = np.lexsort((c, t0))
    return pd.DataFrame(
        {
            "customer": c[order],
            "day": day[order],
            "daypart": daypart[order],
            "start_second": t0[order],
            "device": device[order],
            "region": region[order],
            "pages": pages[order],
        }
    )


class _Catalogue:
    """Products grouped by leaf with cumulative exposure weights, for fast weighted draws."""

    def __init__(self, world: World) -> None:
        n_leaf = len(world.leaves)
        self.order = np.argsort(world.p_leaf, kind="stable").astype(np.int64)
        counts = np.bincount(world.p_leaf, minlength=n_leaf)
        self.leaf_end = np.cumsum(counts)
        self.leaf_start = self.leaf_end - counts
        w = np.exp(world.p_appeal.astype(np.float64))[self.order]
        self.cum = np.cumsum(w)
        self.leaf_lo = np.where(
            self.leaf_start > 0, self.cum[np.maximum(self.leaf_start - 1, 0)], 0.0
        )
        self.leaf_hi = self.cum[np.maximum(self.leaf_end - 1, 0)]
        self.counts = counts
        hw = np.exp(HOME_PAGE_SHARPNESS * world.p_appeal.astype(np.float64))
        self.home_cum = np.cumsum(hw)

    def draw_leaf(self, rng: np.random.Generator, leaf: np.ndarray) -> np.ndarray:
        lo, hi = self.leaf_lo[leaf], self.leaf_hi[leaf]
        pos = np.searchsorted(self.cum, lo + rng.random(len(leaf)) * (hi - lo), side="right")
        pos = np.clip(pos, self.leaf_start[leaf], self.leaf_end[leaf] - 1)
        return self.order[pos]

    def draw_home(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random(n) * self.home_cum[-1]
        return np.minimum(np.searchsorted(self.home_cum, u, side="right"), len(self.home_cum) - 1)


def _leaf_logits(world: World, cat: _Catalogue, c: np.ndarray) -> np.ndarray:
    """Per-customer part of the category-choice logits (customers x leaves)."""
    leaf_top = np.array([world.tops.index(leaf.top) for leaf in world.leaves])
    scale = 1.0 / np.sqrt(world.config.n_factors)
    taste = (world.c_factors[c] @ world.leaf_centroids.T).astype(np.float64) * scale
    size = np.where(cat.counts > 0, LEAF_SIZE_WEIGHT * np.log(np.maximum(cat.counts, 1)), -np.inf)
    return world.c_affinity[c][:, leaf_top] + taste + size[None, :]


def _simulate_chunk(
    world: World, cat: _Catalogue, sess: pd.DataFrame, first_id: int, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], int]:
    cfg = world.config
    n_leaf = len(world.leaves)
    leaf_top = np.array([world.tops.index(leaf.top) for leaf in world.leaves])
    c_s = sess["customer"].to_numpy()
    day_s = sess["day"].to_numpy()
    dev_s = sess["device"].to_numpy().astype(np.int64)
    dp_s = sess["daypart"].to_numpy().astype(np.int64)
    reg_s = sess["region"].to_numpy().astype(np.int64)
    t0_s = sess["start_second"].to_numpy()
    n_s = len(sess)

    # --- category choice per session ----------------------------------------------------------
    logits = _leaf_logits(world, cat, c_s)
    logits += world.device_effect[dev_s][:, leaf_top]
    logits += world.daypart_effect[dp_s][:, leaf_top]
    logits += world.region_effect[reg_s][:, leaf_top]
    leaf_idx = np.arange(n_leaf)
    logits += response.trend(world, leaf_idx[None, :], day_s[:, None].astype(np.float64))
    logits *= LEAF_TEMPERATURE
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    cum = np.cumsum(prob, axis=1)
    cum /= cum[:, -1:]

    # --- pages --------------------------------------------------------------------------------
    page_sess = np.repeat(np.arange(n_s), sess["pages"].to_numpy())
    n_pages = len(page_sess)
    u = rng.random(n_pages)
    page_leaf = (cum[page_sess] < u[:, None]).sum(axis=1)
    page_leaf = np.minimum(page_leaf, n_leaf - 1)
    home = rng.random(n_pages) < HOME_PAGE_SHARE

    # --- candidates ---------------------------------------------------------------------------
    k = cfg.page_size
    imp_page = np.repeat(np.arange(n_pages), k)
    imp_prod = np.empty(len(imp_page), dtype=np.int64)
    is_home = home[imp_page]
    imp_prod[~is_home] = cat.draw_leaf(rng, page_leaf[imp_page[~is_home]])
    imp_prod[is_home] = cat.draw_home(rng, int(is_home.sum()))
    launched = world.p_launch_day[imp_prod] <= day_s[page_sess[imp_page]]
    imp_page, imp_prod = imp_page[launched], imp_prod[launched]
    # a product is shown at most once per session (on the first page that draws it)
    m = world.n_products
    _, first = np.unique(page_sess[imp_page].astype(np.int64) * m + imp_prod, return_index=True)
    imp_page, imp_prod = imp_page[first], imp_prod[first]
    score = world.p_appeal[imp_prod] + ORDER_NOISE * rng.standard_normal(len(imp_prod))
    order = np.lexsort((-score, imp_page))
    imp_page, imp_prod = imp_page[order], imp_prod[order]
    page_first = np.r_[0, np.flatnonzero(np.diff(imp_page)) + 1]
    page_len = np.diff(np.r_[page_first, len(imp_page)])
    position = np.arange(len(imp_page)) - np.repeat(page_first, page_len) + 1

    # --- examination and funnel ---------------------------------------------------------------
    examined = rng.random(len(position)) < response.examination(world, position)
    imp_page, imp_prod = imp_page[examined], imp_prod[examined]
    s = page_sess[imp_page]
    # the first examined item of each page carries the page load time, except on the session's
    # first page: the session's first event is logged at its start, so the log tells the context
    page_load = np.r_[False, (imp_page[1:] != imp_page[:-1]) & (s[1:] == s[:-1])]
    c = c_s[s]
    dev = dev_s[s]
    u_true = response.utility(
        world, c, imp_prod, device=dev, daypart=dp_s[s], region=reg_s[s],
        day=day_s[s].astype(np.float64),
    )  # fmt: skip
    fun = response.sample_funnel(world, rng, u_true, imp_prod, dev)

    # --- timing -------------------------------------------------------------------------------
    pre = np.where(page_load, PAGE_LOAD_SECONDS, 0.0)
    cost = (
        pre
        + SCROLL_SECONDS
        + fun.glance_seconds
        + np.where(fun.click, fun.dwell_seconds, 0.0)
        + np.where(fun.cart, CART_SECONDS, 0.0)
        + np.where(fun.wishlist, WISHLIST_SECONDS, 0.0)
    )
    csum = np.cumsum(cost)
    excl = csum - cost
    s_first = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    s_len = np.diff(np.r_[s_first, len(s)])
    offset = excl - np.repeat(excl[s_first], s_len)
    session_total = np.repeat(csum[s_first + s_len - 1] - excl[s_first], s_len)
    t_view = t0_s[s] + np.floor(offset + pre).astype(np.int64)
    t_click = t_view + np.floor(fun.glance_seconds).astype(np.int64)
    t_cart = t_click + np.floor(fun.dwell_seconds).astype(np.int64)
    t_wish = t_cart + np.where(fun.cart, int(CART_SECONDS), 0) + int(WISHLIST_SECONDS)
    t_buy = t0_s[s] + np.floor(session_total + CHECKOUT_SECONDS).astype(np.int64)

    # --- ratings ------------------------------------------------------------------------------
    buy_idx = np.flatnonzero(fun.purchase)
    rated = buy_idx[rng.random(len(buy_idx)) < cfg.rating_rate]
    delay = (1.0 + rng.exponential(RATING_DELAY_DAYS, size=len(rated))) * 86_400
    t_rate = t_buy[rated] + delay.astype(np.int64)
    in_window = t_rate < cfg.n_days * 86_400
    rated, t_rate = rated[in_window], t_rate[in_window]
    stars = response.sample_rating(world, rng, u_true[rated], imp_prod[rated])

    # --- assemble -----------------------------------------------------------------------------
    nan = np.full(len(s), np.nan)
    parts = [
        ("view", slice(None), t_view, fun.glance_seconds, nan, nan),
        ("click", fun.click, t_click, fun.dwell_seconds, nan, nan),
        ("add_to_cart", fun.cart, t_cart, nan, nan, nan),
        ("wishlist", fun.wishlist, t_wish, nan, nan, nan),
        ("purchase", fun.purchase, t_buy, nan, fun.quantity.astype(np.float64), fun.price_paid),
    ]
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("c", "p", "t", "ev", "sess", "dev", "reg", "dwell", "value", "price")
    }
    for name, mask, t, dwell, value, price in parts:
        cols["c"].append(c[mask])
        cols["p"].append(imp_prod[mask])
        cols["t"].append(t[mask])
        cols["ev"].append(np.full(len(t[mask]), _EV[name], dtype=np.int8))
        cols["sess"].append(first_id + s[mask])
        cols["dev"].append(dev[mask])
        cols["reg"].append(reg_s[s][mask])
        cols["dwell"].append(dwell[mask])
        cols["value"].append(value[mask])
        cols["price"].append(price[mask])
    rc = c[rated]
    cols["c"].append(rc)
    cols["p"].append(imp_prod[rated])
    cols["t"].append(t_rate)
    cols["ev"].append(np.full(len(rated), _EV["rating"], dtype=np.int8))
    cols["sess"].append(np.full(len(rated), -1, dtype=np.int64))
    cols["dev"].append(world.c_device[rc].astype(np.int64))
    cols["reg"].append(world.c_region[rc].astype(np.int64))
    cols["dwell"].append(np.full(len(rated), np.nan))
    cols["value"].append(stars.astype(np.float64))
    cols["price"].append(np.full(len(rated), np.nan))
    return {k: np.concatenate(v) for k, v in cols.items()}, int((~in_window).sum())


def simulate_events(
    world: World, seed_sequence: np.random.SeedSequence
) -> tuple[pd.DataFrame, dict[str, int]]:
    """The organic event log as an events table of the data model, plus counts.

    The counts are ``sessions`` (drawn) and ``late_ratings`` (ratings that would fall after the
    window and are therefore not logged).
    """
    cfg = world.config
    rng_sess, rng_chunks = (np.random.default_rng(s) for s in seed_sequence.spawn(2))
    sess = draw_sessions(world, rng_sess)
    cat = _Catalogue(world)
    n_s = len(sess)
    chunk_seeds = np.random.SeedSequence(rng_chunks.integers(0, 2**63)).spawn(
        max(1, -(-n_s // SESSIONS_PER_CHUNK))
    )
    parts, late = [], 0
    for i, start in enumerate(range(0, n_s, SESSIONS_PER_CHUNK)):
        chunk = sess.iloc[start : start + SESSIONS_PER_CHUNK]
        cols_i, late_i = _simulate_chunk(
            world, cat, chunk, start, np.random.default_rng(chunk_seeds[i])
        )
        parts.append(cols_i)
        late += late_i
    if not parts:
        raise ValueError(
            f"synthetic shop: no sessions were drawn (n_customers={cfg.n_customers}, "
            f"monthly_sessions={cfg.monthly_sessions}, n_days={cfg.n_days}); enlarge the shop"
        )
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.lexsort((cols["p"], cols["ev"], cols["sess"], cols["t"]))
    cols = {k: v[order] for k, v in cols.items()}
    # a customer rates a product at most once (the first time)
    is_rating = cols["ev"] == _EV["rating"]
    pair = cols["c"].astype(np.int64) * world.n_products + cols["p"]
    again = np.zeros(len(pair), dtype=bool)
    r_idx = np.flatnonzero(is_rating)
    _, first_r = np.unique(pair[r_idx], return_index=True)
    again[r_idx] = True
    again[r_idx[first_r]] = False
    cols = {k: v[~again] for k, v in cols.items()}
    if len(cols["t"]) == 0:
        raise ValueError(
            f"synthetic shop: the simulated log is empty ({n_s} sessions); enlarge the shop"
        )
    width = max(7, len(str(n_s)))
    sess_names = np.array([f"S{i + 1:0{width}d}" for i in range(n_s)] + [None], dtype=object)
    cust_ids = world.customers["customer_id"].to_numpy()
    prod_ids = world.products["product_id"].to_numpy()
    events = pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(cols["c"], categories=pd.Index(cust_ids)),
            "product_id": pd.Categorical.from_codes(cols["p"], categories=pd.Index(prod_ids)),
            "timestamp": cfg.start + pd.to_timedelta(cols["t"], unit="s"),
            "event": pd.Categorical.from_codes(cols["ev"], categories=EVENT_TYPES, ordered=True),
            "value": cols["value"],
            "dwell_seconds": cols["dwell"],
            "session_id": sess_names[cols["sess"]],
            "device": pd.Categorical.from_codes(cols["dev"], categories=list(world.devices)),
            "location": pd.Categorical.from_codes(cols["reg"], categories=list(world.regions)),
            "price_paid": cols["price"],
        }
    )
    events["timestamp"] = events["timestamp"].astype("datetime64[ns]")
    return events, {"sessions": n_s, "late_ratings": late}
