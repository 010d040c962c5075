"""Organic browse sessions of the synthetic shop, sampled from the ground-truth response model.

The log is simulated day by day, and within a day in rounds (every customer's first visit of the
day, then the second visits...), so the shop's state carries forward: what a customer bought counts
from the checkout on, in any later visit, and the products' click counts (for the popularity
feedback) are updated at the end of each day. Each day has its own random stream: the log of a given
day does not depend on the window length. How a day unfolds (vectorized over the
day's visits):

1. The day's visits come from the arrival process (:mod:`recnb.data.synthetic.traffic`): customers who
   have signed up, at an hour, on a device and in a region from their own mix.
2. A visit looks at a geometric number of list pages. A page is the home page (shop-wide
   bestsellers), a "buy again" page (the customer's past purchases, for customers who bought
   before, with ``buy_again_share``) or a category page (a leaf chosen by the customer's affinity,
   taste, the visit's context and the day's trends). Its candidates are drawn by the shop's
   score (appeal, plus ``popularity_feedback * log1p(clicks so far)``) among the products launched
   by that day, and the shop orders the page with its page policy (``ShopConfig.page_policy``: a
   Plackett-Luce draw over the scores by default), whose propensities are known. A product is
   shown at most once per visit.
3. The customer examines positions with position bias (and the page's attention budget), and
   examined products go through the funnel of :mod:`recnb.data.synthetic.response` in the visit's
   context and at the visit's start time, with the customer's purchase history: ``view``
   (examined), ``click``
   (the product page was opened; ``dwell_seconds`` is the reading time), ``add_to_cart``,
   ``wishlist``, ``purchase`` (at checkout, the end of the visit; ``value`` is the quantity,
   ``price_paid`` the unit price after any discount) and, days later, a ``rating`` for some
   purchases (``value`` 1-5; ratings have no session, a customer rates a product at most once, and
   ratings that would fall after the window are not logged).
4. The purchases enter the history (at their checkout time) before the next round; the day's clicks
   enter the popularity counts at the end of the day.

Context is fixed at the visit's start: its device, location, part of the day and start time (in
days, fractional) are those that enter the true utility.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recnb.data.schema import EVENT_TYPES
from recnb.data.synthetic import response, traffic
from recnb.data.synthetic.history import PurchaseHistory
from recnb.data.synthetic.policy import RankingPolicy
from recnb.data.synthetic.world import (
    HOME_PAGE_SHARE,
    HOME_PAGE_SHARPNESS,
    LEAF_SIZE_WEIGHT,
    LEAF_TEMPERATURE,
    World,
)

PAGE_LOAD_SECONDS = 5.0
SCROLL_SECONDS = 1.0
CART_SECONDS = 4.0
WISHLIST_SECONDS = 2.0
CHECKOUT_SECONDS = 30.0
RATING_DELAY_DAYS = 4.0  # ratings arrive 1 + Exponential(4) days after the purchase
LOG_STREAM = 1000  # seed-sequence key of the log's behaviour, apart from the world's streams

PAGE_TYPES: tuple[str, ...] = ("category", "home", "buy_again")
"""Kinds of organic page, in the order of their codes."""

_EV = {name: code for code, name in enumerate(EVENT_TYPES)}


def page_policy(world: World) -> RankingPolicy:
    """The ranking policy with which the shop orders its organic pages."""
    cfg = world.config
    return RankingPolicy(
        kind=cfg.page_policy, epsilon=cfg.page_epsilon, temperature=cfg.page_temperature
    )


def shop_scores(world: World, clicks: np.ndarray) -> np.ndarray:
    """The shop's own score of each product: appeal plus the popularity feedback term."""
    score = world.p_appeal.astype(np.float64)
    fb = world.config.popularity_feedback
    if fb > 0:
        score = score + fb * np.log1p(clicks)
    return score


class _Catalogue:
    """Products on sale on one day, grouped by leaf with cumulative weights for fast draws."""

    def __init__(self, world: World, day: int, score: np.ndarray) -> None:
        n_leaf = len(world.leaves)
        on_sale = np.flatnonzero(world.p_launch_day <= day)
        self.order = on_sale[np.argsort(world.p_leaf[on_sale], kind="stable")].astype(np.int64)
        counts = np.bincount(world.p_leaf[on_sale], minlength=n_leaf)
        self.leaf_end = np.cumsum(counts)
        self.leaf_start = self.leaf_end - counts
        self.cum = np.cumsum(np.exp(score[self.order]))
        self.leaf_lo = np.where(
            self.leaf_start > 0, self.cum[np.maximum(self.leaf_start - 1, 0)], 0.0
        )
        self.leaf_hi = self.cum[np.maximum(self.leaf_end - 1, 0)] if len(self.cum) else counts * 0.0
        self.counts = counts
        self.home = on_sale
        self.home_cum = np.cumsum(np.exp(HOME_PAGE_SHARPNESS * score[on_sale]))

    def draw_leaf(self, rng: np.random.Generator, leaf: np.ndarray) -> np.ndarray:
        lo, hi = self.leaf_lo[leaf], self.leaf_hi[leaf]
        pos = np.searchsorted(self.cum, lo + rng.random(len(leaf)) * (hi - lo), side="right")
        pos = np.clip(pos, self.leaf_start[leaf], self.leaf_end[leaf] - 1)
        return self.order[pos]

    def draw_home(self, rng: np.random.Generator, n: int) -> np.ndarray:
        u = rng.random(n) * self.home_cum[-1]
        pos = np.minimum(np.searchsorted(self.home_cum, u, side="right"), len(self.home_cum) - 1)
        return self.home[pos]


def _leaf_logits(world: World, cat: _Catalogue, c: np.ndarray) -> np.ndarray:
    """Per-customer part of the category-choice logits (customers x leaves)."""
    scale = 1.0 / np.sqrt(world.config.n_factors)
    taste = (world.c_factors[c] @ world.leaf_centroids.T).astype(np.float64) * scale
    size = np.where(cat.counts > 0, LEAF_SIZE_WEIGHT * np.log(np.maximum(cat.counts, 1)), -np.inf)
    return world.c_affinity[c][:, world.leaf_top] + taste + size[None, :]


@dataclass
class DayLog:
    """What one simulated day produced (arrays; session indices are local to the day)."""

    events: dict[str, np.ndarray]
    impressions: dict[str, np.ndarray] | None
    purchases: tuple[np.ndarray, np.ndarray, np.ndarray]
    clicked_products: np.ndarray
    late_ratings: int


def _pad_pages(
    page: np.ndarray, values: np.ndarray, n_pages: int, width: int, fill: float
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a (pages x width) matrix from values grouped by page (page sorted)."""
    first = np.r_[0, np.flatnonzero(np.diff(page)) + 1] if len(page) else np.array([], int)
    length = np.diff(np.r_[first, len(page)])
    slot = np.arange(len(page)) - np.repeat(first, length)
    out = np.full((n_pages, width), fill, dtype=np.float64)
    out[page, slot] = values
    return out, slot


def simulate_day(
    world: World,
    day: int,
    visits: dict[str, np.ndarray],
    sess_index: np.ndarray,
    cat: _Catalogue,
    score: np.ndarray,
    history: PurchaseHistory,
    rng: np.random.Generator,
    window_end: int,
    keep_impressions: bool = False,
) -> DayLog:
    """Simulate the organic pages of some of one day's visits (see the module docstring).

    ``sess_index`` numbers the visits in the whole log; the history must hold every purchase
    made before these visits.
    """
    cfg = world.config
    n_leaf = len(world.leaves)
    c_s = visits["customer"]
    dev_s = visits["device"].astype(np.int64)
    dp_s = visits["daypart"].astype(np.int64)
    reg_s = visits["region"].astype(np.int64)
    t0_s = visits["start_second"]
    time_s = t0_s / 86_400.0  # the visit's start in days: the time of its utility
    n_s = len(c_s)
    k = cfg.page_size

    # --- category choice per visit ------------------------------------------------------------
    logits = _leaf_logits(world, cat, c_s)
    logits += world.device_effect[dev_s][:, world.leaf_top]
    logits += world.daypart_effect[dp_s][:, world.leaf_top]
    logits += world.region_effect[reg_s][:, world.leaf_top]
    leaf_idx = np.arange(n_leaf)
    drift = response.trend(world, leaf_idx[None, :], time_s[:, None])
    drift += response.shift(world, world.leaf_top[None, :], time_s[:, None])
    logits += drift
    logits *= LEAF_TEMPERATURE
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    cum = np.cumsum(prob, axis=1)
    cum /= cum[:, -1:]

    # --- pages --------------------------------------------------------------------------------
    page_sess = np.repeat(np.arange(n_s), visits["pages"])
    n_pages = len(page_sess)
    u = rng.random(n_pages)
    page_leaf = np.minimum((cum[page_sess] < u[:, None]).sum(axis=1), n_leaf - 1)
    kind_u = rng.random(n_pages)
    hist_c, hist_p = history.distinct_products()
    c_page = c_s[page_sess]
    h_start = np.searchsorted(hist_c, c_page, side="left")
    h_count = np.searchsorted(hist_c, c_page, side="right") - h_start
    page_type = np.zeros(n_pages, dtype=np.int8)  # category
    page_type[kind_u < HOME_PAGE_SHARE] = 1
    again = (
        (kind_u >= HOME_PAGE_SHARE)
        & (kind_u < HOME_PAGE_SHARE + cfg.buy_again_share)
        & (h_count > 0)
    )
    page_type[again] = 2
    h_offset = np.floor(rng.random(n_pages) * np.maximum(h_count, 1)).astype(np.int64)

    # --- candidates ---------------------------------------------------------------------------
    imp_page = np.repeat(np.arange(n_pages), k)
    slot = np.tile(np.arange(k), n_pages)
    imp_prod = np.empty(len(imp_page), dtype=np.int64)
    kind = page_type[imp_page]
    cat_rows = kind == 0
    imp_prod[cat_rows] = cat.draw_leaf(rng, page_leaf[imp_page[cat_rows]])
    home_rows = kind == 1
    imp_prod[home_rows] = cat.draw_home(rng, int(home_rows.sum()))
    again_rows = kind == 2
    ap = imp_page[again_rows]
    pick = h_start[ap] + (h_offset[ap] + slot[again_rows]) % h_count[ap]
    imp_prod[again_rows] = hist_p[pick] if len(pick) else pick
    keep = ~again_rows | (slot < h_count[imp_page])
    imp_page, imp_prod = imp_page[keep], imp_prod[keep]
    # a product is shown at most once per visit (on the first page that draws it)
    m = world.n_products
    _, first = np.unique(page_sess[imp_page].astype(np.int64) * m + imp_prod, return_index=True)
    first.sort()
    imp_page, imp_prod = imp_page[first], imp_prod[first]

    # --- the shop orders each page with its page policy ---------------------------------------
    policy = page_policy(world)
    order = policy.order_groups(imp_page, score[imp_prod], rng)
    imp_page, imp_prod = imp_page[order], imp_prod[order]
    page_len = np.bincount(imp_page, minlength=n_pages)
    page_first = np.cumsum(page_len) - page_len
    position = np.arange(len(imp_page)) - page_first[imp_page] + 1

    # --- examination and funnel ---------------------------------------------------------------
    p_exam = response.examination(world, position, page_len[imp_page])
    examined = rng.random(len(position)) < p_exam
    s_all = page_sess[imp_page]
    ex = np.flatnonzero(examined)
    e_page, e_prod = imp_page[ex], imp_prod[ex]
    s = page_sess[e_page]
    # the first examined item of each page carries the page load time, except on the visit's
    # first page: the visit's first event is logged at its start, so the log tells the context
    page_load = np.r_[False, (e_page[1:] != e_page[:-1]) & (s[1:] == s[:-1])]
    c = c_s[s]
    dev = dev_s[s]
    # only customers who bought before can have a repeat term
    days_since = np.full(len(c), np.nan)
    bought = np.zeros(world.n_customers, dtype=bool)
    bought[hist_c] = True
    rows = np.flatnonzero(bought[c])
    days_since[rows] = history.days_since(c[rows], e_prod[rows], time_s[s[rows]])
    u_true = response.utility(
        world, c, e_prod, device=dev, daypart=dp_s[s], region=reg_s[s], day=time_s[s],
        days_since=days_since, drift=drift[s, world.p_leaf[e_prod]],
    )  # fmt: skip
    fun = response.sample_funnel(world, rng, u_true, e_prod, dev)

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
    s_first = np.r_[0, np.flatnonzero(np.diff(s)) + 1] if len(s) else np.array([], dtype=int)
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
    stars = response.sample_rating(world, rng, u_true[rated], e_prod[rated])
    # drawn before the cut, so the random stream does not depend on the window's length
    in_window = t_rate < window_end * 86_400
    rated, t_rate, stars = rated[in_window], t_rate[in_window], stars[in_window]

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
        key: []
        for key in ("c", "p", "t", "ev", "sess", "dev", "reg", "dwell", "value", "price", "rsess")
    }
    for name, mask, t, dwell, value, price in parts:
        cols["c"].append(c[mask])
        cols["p"].append(e_prod[mask])
        cols["t"].append(t[mask])
        cols["ev"].append(np.full(len(t[mask]), _EV[name], dtype=np.int8))
        cols["sess"].append(sess_index[s[mask]])
        cols["dev"].append(dev[mask])
        cols["reg"].append(reg_s[s][mask])
        cols["dwell"].append(dwell[mask])
        cols["value"].append(value[mask])
        cols["price"].append(price[mask])
        cols["rsess"].append(np.full(len(t[mask]), -1, dtype=np.int64))
    rc = c[rated]
    cols["c"].append(rc)
    cols["p"].append(e_prod[rated])
    cols["t"].append(t_rate)
    cols["ev"].append(np.full(len(rated), _EV["rating"], dtype=np.int8))
    cols["sess"].append(np.full(len(rated), -1, dtype=np.int64))
    cols["dev"].append(world.c_device[rc].astype(np.int64))
    cols["reg"].append(world.c_region[rc].astype(np.int64))
    cols["dwell"].append(np.full(len(rated), np.nan))
    cols["value"].append(stars.astype(np.float64))
    cols["price"].append(np.full(len(rated), np.nan))
    cols["rsess"].append(sess_index[s[rated]])  # the visit whose purchase is rated
    events = {key: np.concatenate(v) for key, v in cols.items()}

    impressions = None
    if keep_impressions:
        resp = np.zeros((5, len(imp_prod)), dtype=bool)
        for row, flag in enumerate(
            (np.ones(len(ex), dtype=bool), fun.click, fun.cart, fun.wishlist, fun.purchase)
        ):
            resp[row, ex] = flag
        # the page's shown order as a ranking of its candidates (candidate j = position j + 1)
        page_scores, _ = _pad_pages(imp_page, score[imp_prod], n_pages, k, np.nan)
        ranking = np.where(np.isnan(page_scores), -1, np.arange(k)[None, :])
        prefix = policy.prefix_propensities(page_scores, ranking)
        # the true utility of every shown slot (examined ones: exactly the value the log used)
        c_all = c_s[s_all]
        ds_all = np.full(len(c_all), np.nan)
        rows_all = np.flatnonzero(bought[c_all])
        ds_all[rows_all] = history.days_since(
            c_all[rows_all], imp_prod[rows_all], time_s[s_all[rows_all]]
        )
        u_all = response.utility(
            world, c_all, imp_prod, device=dev_s[s_all], daypart=dp_s[s_all],
            region=reg_s[s_all], day=time_s[s_all], days_since=ds_all,
            drift=drift[s_all, world.p_leaf[imp_prod]],
        )  # fmt: skip
        u_all[ex] = u_true
        impressions = {
            "sess": sess_index[s_all],
            "page": imp_page,
            "page_type": page_type[imp_page],
            "position": position,
            "product": imp_prod,
            "score": score[imp_prod],
            "utility": u_all,
            "page_length": page_len[imp_page],
            "p_examine": p_exam,
            "examined": resp[0],
            "clicked": resp[1],
            "added_to_cart": resp[2],
            "wishlisted": resp[3],
            "purchased": resp[4],
            "list_propensity": prefix[imp_page, page_len[imp_page] - 1],
            "prefix_propensity": prefix[imp_page, position - 1],
        }
    buy = fun.purchase
    return DayLog(
        events=events,
        impressions=impressions,
        purchases=(c[buy], e_prod[buy], t_buy[buy] / 86_400.0),
        clicked_products=e_prod[fun.click],
        late_ratings=int((~in_window).sum()),
    )


@dataclass
class LogResult:
    """The organic log and what the shop keeps about it."""

    events: pd.DataFrame | None
    sessions: int
    late_ratings: int
    history: PurchaseHistory
    rating_context: pd.DataFrame
    impressions: pd.DataFrame | None


def simulate_log(
    world: World, n_days: int | None = None, keep_impressions: bool = False
) -> LogResult:
    """The organic log of days ``0 .. n_days - 1`` as an events table of the data model.

    Also returns the number of sessions, the ratings left out for falling after the window, the
    purchase history at the window's end, the purchase context of every logged rating (for
    ``event_context``) and, if asked, the impressions (every shown slot).
    """
    cfg = world.config
    n_days = cfg.n_days if n_days is None else n_days
    history = PurchaseHistory(world.n_products)
    clicks = np.zeros(world.n_products, dtype=np.int64)
    parts: list[dict[str, np.ndarray]] = []
    imp_parts: list[dict[str, np.ndarray]] = []
    sess_names: list[np.ndarray] = []
    sess_meta: list[dict[str, np.ndarray]] = []
    n_sess = 0
    n_pages = 0
    late = 0
    for day in range(n_days):
        visits = traffic.draw_visits(world, day)
        n_v = len(visits["customer"])
        if n_v == 0:
            continue
        rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(LOG_STREAM, day)))
        score = shop_scores(world, clicks)
        cat = _Catalogue(world, day, score)
        # a customer's visits of the day in rounds (1st visits, 2nd visits...), so purchases of an
        # earlier visit are in the state of a later one
        by_cust = np.lexsort((visits["start_second"], visits["customer"]))
        cust_sorted = visits["customer"][by_cust]
        first = np.r_[True, cust_sorted[1:] != cust_sorted[:-1]]
        run_start = np.maximum.accumulate(np.where(first, np.arange(n_v), 0))
        rank = np.empty(n_v, dtype=np.int64)
        rank[by_cust] = np.arange(n_v) - run_start
        day_clicks = []
        for r in range(int(rank.max()) + 1):
            sel = np.flatnonzero(rank == r)
            sub = {key: v[sel] for key, v in visits.items()}
            out = simulate_day(
                world, day, sub, n_sess + sel, cat, score, history, rng, n_days, keep_impressions
            )
            parts.append(out.events)
            if out.impressions is not None:
                imp = out.impressions
                imp["page"] = imp["page"] + n_pages
                n_pages += int(sub["pages"].sum())
                imp_parts.append(imp)
            late += out.late_ratings
            bc, bp, bt = out.purchases
            if len(bc):
                history = history.add(bc, bp, bt)
            day_clicks.append(out.clicked_products)
        sess_names.append(traffic.visit_ids(day, n_v))
        sess_meta.append(
            {k: visits[k] for k in ("day", "hour", "device", "region", "daypart", "customer")}
            | {"time": visits["start_second"] / 86_400.0}
        )
        n_sess += n_v
        np.add.at(clicks, np.concatenate(day_clicks), 1)
    if not parts:
        raise ValueError(
            f"synthetic shop: no visits were drawn (n_customers={cfg.n_customers}, "
            f"monthly_sessions={cfg.monthly_sessions}, n_days={n_days}); enlarge the shop"
        )
    cols = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.lexsort((cols["p"], cols["ev"], cols["sess"], cols["t"]))
    cols = {key: v[order] for key, v in cols.items()}
    # a customer rates a product at most once (the first time)
    is_rating = cols["ev"] == _EV["rating"]
    pair = cols["c"].astype(np.int64) * world.n_products + cols["p"]
    again = np.zeros(len(pair), dtype=bool)
    r_idx = np.flatnonzero(is_rating)
    _, first_r = np.unique(pair[r_idx], return_index=True)
    again[r_idx] = True
    again[r_idx[first_r]] = False
    cols = {key: v[~again] for key, v in cols.items()}
    if len(cols["t"]) == 0:
        raise ValueError(
            f"synthetic shop: the simulated log is empty ({n_sess} sessions); enlarge the shop"
        )
    names = np.concatenate(sess_names + [np.array([None], dtype=object)])
    meta = {key: np.concatenate([m[key] for m in sess_meta]) for key in sess_meta[0]}
    cust_ids = world.customers["customer_id"].to_numpy()
    prod_ids = world.products["product_id"].to_numpy()
    # customers signed up and products launched in the window come first in the population
    cust_cat = pd.Index(cust_ids[: int((world.c_signup_day < n_days).sum())])
    prod_cat = pd.Index(prod_ids[: int((world.p_launch_day < n_days).sum())])
    events = pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(cols["c"], categories=cust_cat),
            "product_id": pd.Categorical.from_codes(cols["p"], categories=prod_cat),
            "timestamp": cfg.start + pd.to_timedelta(cols["t"], unit="s"),
            "event": pd.Categorical.from_codes(cols["ev"], categories=EVENT_TYPES, ordered=True),
            "value": cols["value"],
            "dwell_seconds": cols["dwell"],
            "session_id": names[cols["sess"]],
            "device": pd.Categorical.from_codes(cols["dev"], categories=list(world.devices)),
            "location": pd.Categorical.from_codes(cols["reg"], categories=list(world.regions)),
            "price_paid": cols["price"],
        }
    )
    events["timestamp"] = events["timestamp"].astype("datetime64[ns]")
    rated = cols["ev"] == _EV["rating"]
    rs = cols["rsess"][rated]
    rating_context = pd.DataFrame(
        {
            "customer": cols["c"][rated],
            "product": cols["p"][rated],
            "day": meta["day"][rs],
            "time": meta["time"][rs],
            "hour": meta["hour"][rs],
            "device": meta["device"][rs].astype(np.int64),
            "region": meta["region"][rs].astype(np.int64),
        }
    )
    impressions = None
    if keep_impressions:
        imp = {key: np.concatenate([p[key] for p in imp_parts]) for key in imp_parts[0]}
        # chronological: by visit, then page and position
        order = np.lexsort((imp["position"], imp["page"], imp["sess"]))
        imp = {key: v[order] for key, v in imp.items()}
        s = imp.pop("sess")
        page = imp.pop("page")
        list_id = np.cumsum(np.r_[True, page[1:] != page[:-1]]) - 1
        impressions = pd.DataFrame(
            {
                "list_id": list_id.astype(np.int64),
                "session_id": names[s],
                "customer_id": cust_ids[meta["customer"][s]],
                "day": meta["day"][s],
                "time": meta["time"][s],
                "hour": meta["hour"][s],
                "device": np.asarray(world.devices, dtype=object)[meta["device"][s]],
                "location": np.asarray(world.regions, dtype=object)[meta["region"][s]],
                "page_type": np.asarray(PAGE_TYPES, dtype=object)[imp.pop("page_type")],
                "position": imp.pop("position").astype(np.int64),
                "product_id": prod_ids[imp.pop("product")],
                **imp,
            }
        )
    return LogResult(
        events=events,
        sessions=n_sess,
        late_ratings=late,
        history=history,
        rating_context=rating_context,
        impressions=impressions,
    )
