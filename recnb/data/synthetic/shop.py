"""The public face of the synthetic shop: :class:`SyntheticShop` and :func:`make_shop`.

A shop is a small world with a known ground truth. Besides the organic event log
(:meth:`SyntheticShop.generate`) and its impressions (:meth:`SyntheticShop.impressions`), it
answers what real logs cannot: the true utility of any (customer, product, context, day, history),
the expected and sampled response of a customer to any ranked list, the traffic of any day
(:meth:`SyntheticShop.visits`), and the exact expected value of a ranking policy over visits
(:meth:`SyntheticShop.policy_value`), with a simulator that logs the same policy's impressions and
propensities (:meth:`SyntheticShop.simulate_policy`). The A/B simulation, off-policy estimates,
fairness audits and monitoring stages are checked against these.

Time
----
``day`` is the time in days since ``start_date`` (0 = the log's first midnight; fractional: 10.5 is
noon of day 10; the log's visits happen at their start time). ``None`` (or NaN) leaves out the
drifting terms (trends, novelty, the planted shift) and the sign-up and launch checks: a timeless
average (a purchase history then cannot apply, and passing one is an error). With a day, a product not launched by then is not available (it never
responds), and asking about a customer before their sign-up raises an error.

Context
-------
Every ground-truth method takes ``context``: ``None`` or a dict with any of

- ``"device"``: a device name from :attr:`SyntheticShop.devices`;
- ``"hour"``: hour of day 0-23 (it enters through its part of the day, see
  :data:`~recnb.data.synthetic.config.DAYPARTS`), or ``"daypart"``: a part-of-day name (not both);
- ``"location"``: a region name from :attr:`SyntheticShop.regions`.

A value may be a scalar or an array (broadcast against the ids); ``None`` in an array, or a key left
out, means "unknown": the answer is then the expectation over the customer's own context mix (the
home device, region and part of the day with their ``home_*_share``, otherwise the population
mixes; see :meth:`SyntheticShop.context_mix`). For the utility that is the mix-weighted utility; for
response probabilities, which are not linear in utility, every combination of the unknown
dimensions is evaluated and averaged (up to 60 per row: slower than giving the context).
:meth:`SyntheticShop.simulate_response` instead draws one context per list from that mix.

History
-------
``history`` is the customer's purchase history, the state the true utility depends on: a
:class:`~recnb.data.synthetic.PurchaseHistory` (from :meth:`SyntheticShop.history` or
:meth:`SyntheticShop.log_history`) or an events-like table (see :meth:`SyntheticShop.history`).
A purchase counts from the moment it happens (to the second). ``None`` means no purchases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from recnb.data.schema import EVENT_TYPES, Dataset, validate_dataset
from recnb.data.synthetic import response, traffic
from recnb.data.synthetic.config import DAYPART_HOURS, DAYPARTS, ShopConfig
from recnb.data.synthetic.history import PurchaseHistory
from recnb.data.synthetic.policy import RankingPolicy
from recnb.data.synthetic.sessions import LogResult, page_policy, simulate_log
from recnb.data.synthetic.world import (
    OBSERVABLE_CUSTOMER_COLUMNS,
    OBSERVABLE_PRODUCT_COLUMNS,
    build_world,
)

_CONTEXT_KEYS = ("device", "hour", "daypart", "location")
_DAYPART_OF_HOUR = np.zeros(24, dtype=np.int64)
for _i, _d in enumerate(DAYPARTS):
    _DAYPART_OF_HOUR[DAYPART_HOURS[_d][0] : DAYPART_HOURS[_d][1]] = _i
_RESPONSE_STREAM = 1001  # seed-sequence key of the shop's own response generator

POLICY_VALUE_COLUMNS: tuple[str, ...] = (
    "expected_examinations",
    "expected_clicks",
    "expected_add_to_cart",
    "expected_wishlist",
    "expected_purchases",
    "expected_revenue",
    "expected_dwell_seconds",
)
"""Per-visit expectations returned by :meth:`SyntheticShop.policy_value`."""


class SyntheticShop:
    """A synthetic shop with a known ground truth, built deterministically from ``config.seed``.

    Parameters
    ----------
    config : ShopConfig, optional
        Sizes and knobs; the defaults give a 90-day log of about 20k customers (17k registered
        before it, the rest signing up during it), 5k products and 1M events.

    Attributes
    ----------
    config : ShopConfig
        The settings the shop was built from.
    customers : pandas.DataFrame
        Ground-truth customers of the whole population up to the horizon (the Dataset holds those
        signed up within the log's window): the observable columns plus the latent
        ``signup_day``, ``preferred_daypart``, ``activity`` (expected visits per 30 days),
        ``price_sensitivity`` and ``underserved`` (member of the planted under-served group).
    products : pandas.DataFrame
        Ground-truth products up to the horizon: the observable columns plus the latent
        ``top_category``, ``quality``, ``appeal``, ``relative_price`` (log price over the leaf
        median), ``launch_day`` (never shown or bought before it), ``consumable`` and
        ``repurchase_days`` (the repurchase cycle).
    """

    def __init__(self, config: ShopConfig | None = None) -> None:
        if config is None:
            config = ShopConfig()
        if not isinstance(config, ShopConfig):
            raise TypeError(
                f"SyntheticShop: config must be a ShopConfig, got {type(config).__name__}"
            )
        self.config = config
        self._world = build_world(config)
        self._customer_index = pd.Index(self._world.customers["customer_id"])
        self._product_index = pd.Index(self._world.products["product_id"])
        self._rng = np.random.default_rng(
            np.random.SeedSequence(config.seed, spawn_key=(_RESPONSE_STREAM,))
        )
        self._log: LogResult | None = None
        self._impressions: pd.DataFrame | None = None

    def __repr__(self) -> str:
        c = self.config
        return (
            f"SyntheticShop(n_customers={c.n_customers}, n_products={c.n_products}, "
            f"n_days={c.n_days}, seed={c.seed})"
        )

    # ---- ground-truth tables and vocabularies ------------------------------------------------

    @property
    def customers(self) -> pd.DataFrame:
        """Ground-truth customer table (a copy; see the class docstring)."""
        return self._world.customers.copy()

    @property
    def products(self) -> pd.DataFrame:
        """Ground-truth product table (a copy; see the class docstring)."""
        return self._world.products.copy()

    @property
    def devices(self) -> tuple[str, ...]:
        """Device names, in the order of ``config.device_mix``."""
        return self._world.devices

    @property
    def regions(self) -> tuple[str, ...]:
        """Region (location) names, in the order of ``config.region_mix``."""
        return self._world.regions

    @property
    def dayparts(self) -> tuple[str, ...]:
        """Parts of the day: night 0-5h, morning 6-11h, afternoon 12-17h, evening 18-23h."""
        return DAYPARTS

    @property
    def categories(self) -> tuple[str, ...]:
        """Leaf category paths (``"home/kitchen"``...)."""
        return tuple(leaf.path for leaf in self._world.leaves)

    @property
    def customer_factors(self) -> np.ndarray:
        """Latent taste vectors of customers (n_customers x n_factors, read-only)."""
        return _readonly(self._world.c_factors)

    @property
    def product_factors(self) -> np.ndarray:
        """Latent taste vectors of products (n_products x n_factors, read-only)."""
        return _readonly(self._world.p_factors)

    @property
    def category_affinity(self) -> pd.DataFrame:
        """Customers' affinity to each top category (rows: customer ids, columns: categories)."""
        return pd.DataFrame(
            self._world.c_affinity.astype(np.float64),
            index=self._customer_index,
            columns=list(self._world.tops),
        )

    @property
    def context_effects(self) -> pd.DataFrame:
        """The planted context effects on utility: one row per (dimension, value, top category).

        Columns ``dimension`` (``device``, ``daypart``, ``location``), ``value``,
        ``top_category`` and ``effect`` (utility added in that context; centred on the
        population mix, so 0 on average; all 0 for a dimension whose strength is 0).
        """
        w = self._world
        rows = []
        for dim, names, table in (
            ("device", w.devices, w.device_effect),
            ("daypart", DAYPARTS, w.daypart_effect),
            ("location", w.regions, w.region_effect),
        ):
            for i, name in enumerate(names):
                for t, top in enumerate(w.tops):
                    rows.append((dim, name, top, float(table[i, t])))
        return pd.DataFrame(rows, columns=["dimension", "value", "top_category", "effect"])

    @property
    def page_policy(self) -> RankingPolicy:
        """The ranking policy that orders the organic log's pages (``ShopConfig.page_policy``)."""
        return page_policy(self._world)

    def context_mix(self, customer_ids: Any) -> pd.DataFrame:
        """Each customer's own context mix: what "no context" averages over.

        Returns
        -------
        pandas.DataFrame
            One row per (customer, dimension, value): ``customer_id``, ``dimension``
            (``device``, ``daypart``, ``location``), ``value`` and ``probability`` (summing to 1
            per customer and dimension). Dimensions are independent.
        """
        c = np.atleast_1d(self._index(customer_ids, "customer"))
        w = self._world
        parts = []
        for dim, key, names, home in (
            ("device", "device", w.devices, w.c_device),
            ("daypart", "daypart", DAYPARTS, w.c_daypart),
            ("location", "region", w.regions, w.c_region),
        ):
            mix = response.own_mix(w, key, home[c].astype(np.int64))
            parts.append(
                pd.DataFrame(
                    {
                        "customer_id": np.repeat(self._customer_index[c].to_numpy(), len(names)),
                        "dimension": dim,
                        "value": np.tile(np.asarray(names, dtype=object), len(c)),
                        "probability": mix.ravel(),
                    }
                )
            )
        return pd.concat(parts, ignore_index=True)

    def sample_context(self, customer_ids: Any, rng: np.random.Generator | int | None = None):
        """Draw one visit context per customer from the customer's own mix.

        Returns
        -------
        dict of str to numpy.ndarray
            ``device``, ``hour`` and ``location`` per customer, ready for ``context=``.
        """
        rng = self._generator(rng)
        c = np.atleast_1d(self._index(customer_ids, "customer"))
        ctx = traffic.sample_context(self._world, rng, c)
        return self._context_names(ctx)

    def examination(self, n_positions: int) -> np.ndarray:
        """Probability that each position of a list of ``n_positions`` slots is examined.

        The position bias ``k ** -position_bias`` scaled down by the page's attention budget when
        the list is long (see :mod:`recnb.data.synthetic.response`); their sum is the expected number
        of examinations, at most ``attention_budget``.
        """
        if isinstance(n_positions, bool) or not isinstance(n_positions, int | np.integer):
            raise ValueError(f"n_positions: expected a positive integer, got {n_positions!r}")
        if n_positions < 1:
            raise ValueError(f"n_positions: expected a positive integer, got {n_positions!r}")
        pos = np.arange(1, n_positions + 1)
        return response.examination(self._world, pos, n_positions)

    # ---- traffic and state -------------------------------------------------------------------

    def visits(self, days: int | Iterable[int]) -> pd.DataFrame:
        """The visits (traffic) of the given days, from the shop's arrival process.

        Deterministic: the same day always gives the same visits, and within the log's window they
        are the log's sessions (same ids). Customers visit only from their sign-up day on, at their
        activity rate (weekends busier), at an hour, on a device and in a location drawn from
        their own mix (see :mod:`recnb.data.synthetic.traffic`).

        Parameters
        ----------
        days : int or iterable of int
            Day indices, within ``0 .. horizon - 1`` (``ShopConfig.horizon_days``).

        Returns
        -------
        pandas.DataFrame
            One row per visit, by time: ``visit_id``, ``customer_id``, ``day``, ``timestamp``
            (start), ``hour``, ``daypart``, ``device``, ``location`` and ``pages`` (list pages the
            organic log shows in that visit).
        """
        day_list = [days] if isinstance(days, int | np.integer) else list(days)
        parts = []
        w = self._world
        for d in day_list:
            if isinstance(d, bool) or not isinstance(d, int | np.integer):
                raise ValueError(f"visits: days must be integers, got {d!r}")
            v = traffic.draw_visits(w, int(d))
            parts.append(
                pd.DataFrame(
                    {
                        "visit_id": traffic.visit_ids(int(d), len(v["customer"])),
                        "customer_id": self._customer_index[v["customer"]].to_numpy(),
                        "day": v["day"],
                        "timestamp": self.config.start + pd.to_timedelta(v["start_second"], "s"),
                        "hour": v["hour"],
                        "daypart": np.asarray(DAYPARTS, dtype=object)[v["daypart"]],
                        "device": np.asarray(w.devices, dtype=object)[v["device"]],
                        "location": np.asarray(w.regions, dtype=object)[v["region"]],
                        "pages": v["pages"].astype(np.int64),
                    }
                )
            )
        if not parts:
            raise ValueError("visits: no days given")
        out = pd.concat(parts, ignore_index=True)
        out["timestamp"] = out["timestamp"].astype("datetime64[ns]")
        return out

    def expected_traffic(self, day: int) -> pd.DataFrame:
        """Every customer signed up by ``day`` with their expected number of visits that day.

        Passing this table to :meth:`policy_value` (it has no context columns, so the context is
        the customer's own mix, and a ``weight`` column) gives the exact expected value of a policy
        over that day's traffic: ``np.average(value, weights=weight)`` per visit.

        Returns
        -------
        pandas.DataFrame
            ``customer_id``, ``day`` and ``weight`` (expected visits).
        """
        if isinstance(day, bool) or not isinstance(day, int | np.integer):
            raise ValueError(f"expected_traffic: day must be an integer, got {day!r}")
        if not 0 <= day < self.config.horizon:
            raise ValueError(
                f"expected_traffic: day {day} is outside the world's days "
                f"0..{self.config.horizon - 1}"
            )
        c, rate = traffic.expected_visits(self._world, int(day))
        return pd.DataFrame(
            {
                "customer_id": self._customer_index[c].to_numpy(),
                "day": np.full(len(c), int(day)),
                "weight": rate,
            }
        )

    def history(
        self, purchases: pd.DataFrame, base: PurchaseHistory | None = None
    ) -> PurchaseHistory:
        """A purchase history (the shop's state) from a table of purchases.

        Parameters
        ----------
        purchases : pandas.DataFrame
            Rows with ``customer_id``, ``product_id`` and the purchase's time: a ``time`` column
            (days since day 0, fractional), else ``timestamp``, else ``day`` (a whole day counts
            from its midnight). If the table has an ``event`` column (an events table) only
            ``purchase`` rows count; if it has a boolean ``purchased`` column (impressions from
            :meth:`simulate_policy`) only rows where it is true count; otherwise every row is a
            purchase.
        base : PurchaseHistory, optional
            A history to extend (e.g. :meth:`log_history`).

        Returns
        -------
        PurchaseHistory
        """
        if isinstance(purchases, PurchaseHistory):
            return purchases
        if not isinstance(purchases, pd.DataFrame):
            raise ValueError(
                f"history: expected a DataFrame of purchases, got {type(purchases).__name__}"
            )
        rows = purchases
        if "event" in rows.columns:
            rows = rows[rows["event"].astype(object) == "purchase"]
        elif "purchased" in rows.columns:
            rows = rows[rows["purchased"].astype(bool)]
        missing = [col for col in ("customer_id", "product_id") if col not in rows.columns]
        if missing:
            raise ValueError(f"history: the purchases table lacks column(s) {missing}")
        if "time" in rows.columns:
            time = rows["time"].to_numpy(dtype=np.float64)
        elif "timestamp" in rows.columns:
            time = _days(pd.to_datetime(rows["timestamp"]), self.config.start)
        elif "day" in rows.columns:
            time = rows["day"].to_numpy(dtype=np.float64)
        else:
            raise ValueError(
                "history: the purchases table needs a 'time', 'timestamp' or 'day' column"
            )
        if np.isnan(time).any():
            raise ValueError("history: a purchase has no time (NaN)")
        c = self._index(rows["customer_id"].astype(object).to_numpy(), "customer")
        p = self._index(rows["product_id"].astype(object).to_numpy(), "product")
        base = base if base is not None else PurchaseHistory(self._world.n_products)
        return base.add(c, p, time)

    def log_history(self) -> PurchaseHistory:
        """The purchase history at the end of the organic log (the state after day n_days - 1).

        Simulates the log first if :meth:`generate` has not run.
        """
        return self._ensure_log().history

    # ---- ground truth ------------------------------------------------------------------------

    def true_utility(
        self,
        customer_ids: Any,
        product_ids: Any,
        context: Mapping[str, Any] | None = None,
        day: Any = None,
        history: PurchaseHistory | pd.DataFrame | None = None,
    ) -> np.ndarray:
        """True utility of products for customers, optionally in a context, on a day, with history.

        Parameters
        ----------
        customer_ids, product_ids : str or array-like of str
            Ids, broadcast against each other numpy-style: equal shapes give pairwise utilities,
            ``customer_ids[:, None]`` with ``product_ids[None, :]`` gives a customers x products
            block (mind its size).
        context : dict, optional
            ``device``, ``hour`` (or ``daypart``) and ``location``; scalars or arrays broadcast
            against the ids. A missing key or ``None`` value means the customer's own mix (the
            utility averaged over it).
        day : float or array-like, optional
            Day index since ``config.start_date``; ``None`` leaves out the drifting terms.
        history : PurchaseHistory or pandas.DataFrame, optional
            Purchases before ``day`` (needs ``day``); ``None`` means none.

        Returns
        -------
        numpy.ndarray
            float64 utilities with the broadcast shape.

        Raises
        ------
        KeyError
            An id is not a customer or product of this shop.
        ValueError
            Unknown context key or value, an hour outside 0-23, or a history without a day.
        """
        c = self._index(customer_ids, "customer")
        p = self._index(product_ids, "product")
        ctx = self._parse_context(context)
        d = None if day is None else np.asarray(day, dtype=np.float64)
        shapes = [c.shape, p.shape, *(v.shape for v in ctx.values())]
        if d is not None:
            shapes.append(d.shape)
        shape = np.broadcast_shapes(*shapes)
        flat = {k: np.broadcast_to(v, shape).ravel() for k, v in ctx.items()}
        cf = np.broadcast_to(c, shape).ravel()
        pf = np.broadcast_to(p, shape).ravel()
        df = None if d is None else np.broadcast_to(d, shape).ravel()
        u = response.utility(
            self._world,
            cf,
            pf,
            device=flat.get("device"),
            daypart=flat.get("daypart"),
            region=flat.get("location"),
            day=df,
            days_since=self._days_since(history, cf, pf, df),
        )
        return u.reshape(shape)

    def response_probabilities(
        self,
        customer_id: Any,
        ranked_product_ids: Any,
        context: Mapping[str, Any] | None = None,
        day: Any = None,
        history: PurchaseHistory | pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Expected response, position by position, of customers shown ranked lists.

        Parameters
        ----------
        customer_id : str or array-like of str
            One customer for one list, or one customer per list (or one for all lists).
        ranked_product_ids : array-like of str
            One list (1-D, best first) or several lists of equal length (2-D, one row per list).
            Ids within a list must be distinct. Every slot counts for the attention budget.
        context : dict, optional
            As for :meth:`true_utility`; values are scalars or one per list. Unknown parts are
            averaged over the customer's own mix (exactly, by enumeration).
        day : float or array-like, optional
            Day index, scalar or one per list. With a day, products not launched yet have
            ``available`` False and respond with probability 0.
        history : PurchaseHistory or pandas.DataFrame, optional
            Purchases before ``day`` (the state); ``None`` means none.

        Returns
        -------
        pandas.DataFrame
            One row per (list, position): ``list_index``, ``customer_id``, ``position``
            (1-based), ``product_id``, ``available``, ``utility`` (its expectation when the
            context is partly unknown), and the marginal probabilities ``p_examine`` (position
            bias and attention budget), ``p_click``, ``p_add_to_cart``, ``p_wishlist``,
            ``p_purchase`` (each includes examination and the earlier funnel steps, so
            ``p_purchase <= p_add_to_cart <= p_click <= p_examine``), ``expected_revenue``
            (``p_purchase`` times the expected units and the price after the mean discount) and
            ``expected_dwell_seconds`` (glance while examining plus reading after a click).
            Summing a column over a list's rows gives its expected number of such events (or
            revenue).

        Raises
        ------
        ValueError
            Bad lists or context, or a customer asked about before their sign-up day.
        """
        req = self._parse_lists(customer_id, ranked_product_ids, context, day, history)
        exp = self._expected_item_response(req)
        p_exam = response.examination(self._world, req["position"], req["list_length"])
        return pd.DataFrame(
            {
                "list_index": req["list_index"],
                "customer_id": self._customer_index[req["c"]].to_numpy(dtype=object),
                "position": req["position"],
                "product_id": self._product_index[req["p"]].to_numpy(dtype=object),
                "available": req["available"],
                "utility": exp["utility"],
                "p_examine": p_exam,
                "p_click": p_exam * exp["click"],
                "p_add_to_cart": p_exam * exp["cart"],
                "p_wishlist": p_exam * exp["wishlist"],
                "p_purchase": p_exam * exp["purchase"],
                "expected_revenue": p_exam * exp["revenue"],
                "expected_dwell_seconds": p_exam * exp["dwell"],
            }
        )

    def simulate_response(
        self,
        customer_id: Any,
        ranked_product_ids: Any,
        context: Mapping[str, Any] | None = None,
        day: Any = None,
        rng: np.random.Generator | int | None = None,
        history: PurchaseHistory | pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Sample the events customers produce when shown ranked lists (same model as the log).

        Parameters
        ----------
        customer_id, ranked_product_ids, context, day
            As for :meth:`response_probabilities`; an unknown context part is drawn per list from
            the customer's own mix.
        rng : numpy.random.Generator or int, optional
            Randomness; ``None`` uses the shop's own response generator (seeded from
            ``config.seed`` and advanced by each call, so a fixed sequence of calls repeats).
        history : PurchaseHistory or pandas.DataFrame, optional
            As for :meth:`response_probabilities`.

        Returns
        -------
        pandas.DataFrame
            One row per event: ``list_index``, ``customer_id``, ``position``, ``product_id``,
            ``event`` (ordered categorical of :data:`recnb.data.schema.EVENT_TYPES`; ``view`` means
            examined), ``dwell_seconds`` (view: glance, click: reading time), ``value`` (purchase
            quantity) and ``price_paid`` (unit price of a purchase). Later ratings are not
            simulated. Rows are ordered by list, position and funnel step.
        """
        rng = self._generator(rng)
        req = self._parse_lists(customer_id, ranked_product_ids, context, day, history)
        req = self._draw_missing_context(req, rng)
        fun, idx = self._sample_items(req, rng)
        nan = np.full(len(idx), np.nan)
        steps = [
            ("view", np.ones(len(idx), dtype=bool), fun.glance_seconds, nan, nan),
            ("click", fun.click, fun.dwell_seconds, nan, nan),
            ("add_to_cart", fun.cart, nan, nan, nan),
            ("wishlist", fun.wishlist, nan, nan, nan),
            ("purchase", fun.purchase, nan, fun.quantity.astype(np.float64), fun.price_paid),
        ]
        rows = np.concatenate([idx[m] for _, m, *_ in steps])
        code = np.concatenate(
            [np.full(int(m.sum()), EVENT_TYPES.index(n), dtype=np.int8) for n, m, *_ in steps]
        )
        dwell = np.concatenate([d[m] for _, m, d, _, _ in steps])
        value = np.concatenate([v[m] for _, m, _, v, _ in steps])
        price = np.concatenate([pp[m] for _, m, _, _, pp in steps])
        order = np.lexsort((code, rows))
        rows, code = rows[order], code[order]
        return pd.DataFrame(
            {
                "list_index": req["list_index"][rows],
                "customer_id": self._customer_index[req["c"][rows]].to_numpy(dtype=object),
                "position": req["position"][rows],
                "product_id": self._product_index[req["p"][rows]].to_numpy(dtype=object),
                "event": pd.Categorical.from_codes(code, categories=EVENT_TYPES, ordered=True),
                "dwell_seconds": dwell[order],
                "value": value[order],
                "price_paid": price[order],
            }
        )

    # ---- policies ----------------------------------------------------------------------------

    def policy_value(
        self,
        visits: pd.DataFrame,
        candidates: Any,
        scores: Any = None,
        policy: RankingPolicy | None = None,
        k: int | None = None,
        history: PurchaseHistory | pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Exact expected outcome of a ranking policy, visit by visit.

        For each visit the policy draws a slate of ``k`` of the visit's candidates from their
        scores (:class:`~recnb.data.synthetic.RankingPolicy`); the expectation is over the policy's
        randomness, the customer's response and, where the visit's context is unknown, the
        customer's own context mix. It is exact: the policy's marginal (item, position)
        probabilities times the examination of each position times the item's conditional
        response, summed.

        Parameters
        ----------
        visits : pandas.DataFrame
            One row per visit, with ``customer_id`` and optionally its time (``timestamp``, else
            ``day`` in days since day 0), ``device``, ``hour`` (or ``daypart``), ``location``
            (missing columns or values: unknown, the customer's own mix), ``visit_id`` and
            ``weight`` (carried through). :meth:`visits` and :meth:`expected_traffic` give such
            tables.
        candidates : array-like of str, shape (n_visits, n_candidates)
            Candidate product ids per visit; ``None`` marks an empty slot. Ids in a row must be
            distinct.
        scores : array-like of float, shape (n_visits, n_candidates), optional
            The policy's score per candidate. Without scores the candidates are taken as the
            ranked list, best first (a deterministic policy).
        policy : RankingPolicy, optional
            Default: deterministic (best score first).
        k : int, optional
            Slate length (default: the number of candidate columns).
        history : PurchaseHistory or pandas.DataFrame, optional
            The purchase history before each visit's day (held fixed over the visits).

        Returns
        -------
        pandas.DataFrame
            One row per visit: ``visit_id`` (if given), ``customer_id``, ``weight`` (if given) and
            :data:`POLICY_VALUE_COLUMNS`: expected examinations, clicks, add-to-carts, wishlist
            adds, purchases, revenue and dwell seconds. Their mean over visits is the policy's
            expected value per visit (weighted by ``weight`` for :meth:`expected_traffic`).
        """
        req = self._parse_policy(visits, candidates, scores, policy, k, history)
        n_vis, n_cand = req["cand"].shape
        probs = req["policy"].position_probabilities(req["scores"], req["k"])  # (V, C, k)
        exam = response.examination(
            self._world,
            np.tile(np.arange(1, req["k"] + 1), n_vis),
            np.repeat(req["length"], req["k"]),
        ).reshape(n_vis, req["k"])
        exam = np.where(np.arange(req["k"])[None, :] < req["length"][:, None], exam, 0.0)
        shown = np.einsum("vcj,vj->vc", probs, exam)  # P(candidate examined)
        flat = req["flat"]
        exp = self._expected_item_response(flat)
        out = {}
        if "visit_id" in visits.columns:
            out["visit_id"] = visits["visit_id"].to_numpy()
        out["customer_id"] = visits["customer_id"].astype(object).to_numpy()
        if "weight" in visits.columns:
            out["weight"] = visits["weight"].to_numpy(dtype=np.float64)
        out["expected_examinations"] = exam.sum(axis=1)
        valid_rows = flat["visit"], flat["slot"]
        for col, key in (
            ("expected_clicks", "click"),
            ("expected_add_to_cart", "cart"),
            ("expected_wishlist", "wishlist"),
            ("expected_purchases", "purchase"),
            ("expected_revenue", "revenue"),
            ("expected_dwell_seconds", "dwell"),
        ):
            per = np.zeros((n_vis, n_cand))
            per[valid_rows] = exp[key]
            out[col] = (shown * per).sum(axis=1)
        return pd.DataFrame(out)

    def simulate_policy(
        self,
        visits: pd.DataFrame,
        candidates: Any,
        scores: Any = None,
        policy: RankingPolicy | None = None,
        k: int | None = None,
        history: PurchaseHistory | pd.DataFrame | None = None,
        rng: np.random.Generator | int | None = None,
        item_propensities: bool = True,
        update_history: bool = False,
    ) -> pd.DataFrame:
        """Log a ranking policy on visits: the shown slates, the responses and the propensities.

        The same model as :meth:`policy_value`, sampled: per visit a context (where unknown, from
        the customer's own mix), a slate from the policy, and the customer's response to it.

        Parameters
        ----------
        visits, candidates, scores, policy, k, history
            As for :meth:`policy_value`.
        rng : numpy.random.Generator or int, optional
            Randomness; ``None`` uses the shop's own response generator.
        item_propensities : bool
            Compute ``item_propensity`` (for Plackett-Luce this is the costly part, about
            ``n_candidates ** 2 * 50`` operations per visit); False leaves it NaN.
        update_history : bool
            Let purchases change the state for later days: visits are simulated day by day and
            each day's purchases join the history before the next day (needs a ``timestamp`` or
            ``day`` for every visit; rows come out ordered by day). Default False (the state stays as given,
            as in :meth:`policy_value`). The resulting state is ``shop.history(impressions,
            base=history)``.

        Returns
        -------
        pandas.DataFrame
            One row per shown slot: ``visit_id`` (or the visit's row number), ``customer_id``,
            ``day`` (whole day), ``time`` (the visit's time in days, from ``timestamp`` when the
            visits have it), the context used (``device``, ``hour``, ``location``), ``position``,
            ``candidate`` (column in ``candidates``), ``product_id``, ``score``, ``available``,
            ``list_length``, ``p_examine``, the outcomes ``examined``, ``clicked``,
            ``added_to_cart``, ``wishlisted``, ``purchased``, ``quantity``, ``price_paid``,
            ``revenue`` and ``dwell_seconds`` (glance plus reading time), and the logging
            propensities ``list_propensity`` (the whole slate), ``prefix_propensity`` (the slate
            up to this position) and ``item_propensity`` (this product at this position).
        """
        rng = self._generator(rng)
        req = self._parse_policy(visits, candidates, scores, policy, k, history)
        day = req["day"]
        if update_history:
            if day is None or np.isnan(day).any():
                raise ValueError("update_history: every visit needs a 'day' or 'timestamp'")
            state = req["history"]
            cand_arr = np.asarray(candidates, dtype=object)
            score_arr = None if scores is None else np.asarray(scores, dtype=np.float64)
            parts = []
            whole = np.floor(day)
            for d in np.unique(whole):
                sel = np.flatnonzero(whole == d)
                part = self.simulate_policy(
                    visits.iloc[sel],
                    cand_arr[sel],
                    None if score_arr is None else score_arr[sel],
                    policy,
                    k,
                    state,
                    rng,
                    item_propensities,
                    update_history=False,
                )
                if "visit_id" not in visits.columns:
                    part["visit_id"] = sel[part["visit_id"].to_numpy()]
                parts.append(part)
                state = self.history(part, base=state)
            return pd.concat(parts, ignore_index=True)
        pol = req["policy"]
        n_vis = len(req["cand"])
        ranking = pol.sample(req["scores"], req["k"], rng)
        prefix = pol.prefix_propensities(req["scores"], ranking)
        item = (
            pol.item_propensities(req["scores"], ranking)
            if item_propensities
            else np.full(ranking.shape, np.nan)
        )
        v_idx, pos = np.nonzero(ranking >= 0)
        cand = ranking[v_idx, pos]
        length = req["length"]
        c = req["c_visit"][v_idx]
        p = req["cand"][v_idx, cand]
        ctx = req["ctx_visit"]
        # one context per visit: draw the unknown parts from the customer's own mix
        drawn = traffic.sample_context(self._world, rng, req["c_visit"])
        dev = np.where(ctx["device"] >= 0, ctx["device"], drawn["device"])
        dp = np.where(ctx["daypart"] >= 0, ctx["daypart"], drawn["daypart"])
        reg = np.where(ctx["region"] >= 0, ctx["region"], drawn["region"])
        # an hour inside a known part of the day where only the part is known
        part = np.maximum(ctx["daypart"], 0)
        in_part = traffic.DAYPART_START[part] + np.floor(
            rng.random(n_vis) * traffic.DAYPART_WIDTH[part]
        ).astype(np.int64)
        hour = np.where(
            ctx["hour"] >= 0, ctx["hour"], np.where(ctx["daypart"] >= 0, in_part, drawn["hour"])
        )
        d_rows = None if day is None else day[v_idx]
        row_req = {
            "c": c,
            "p": p,
            "position": pos + 1,
            "list_length": length[v_idx],
            "device": dev[v_idx],
            "daypart": dp[v_idx],
            "region": reg[v_idx],
            "day": d_rows,
            "days_since": self._days_since(req["history"], c, p, d_rows),
            "available": self._available(p, d_rows),
        }
        fun, idx = self._sample_items(row_req, rng)
        n = len(p)
        examined = np.zeros(n, dtype=bool)
        examined[idx] = True

        def spread(values: np.ndarray, fill: Any) -> np.ndarray:
            full = np.full(n, fill, dtype=np.asarray(values).dtype if fill is not np.nan else float)
            full[idx] = values
            return full

        clicked = spread(fun.click, False)
        purchased = spread(fun.purchase, False)
        quantity = np.where(purchased, spread(fun.quantity, 0), 0)
        price_paid = np.where(purchased, spread(fun.price_paid.astype(float), np.nan), np.nan)
        dwell = spread(fun.glance_seconds + np.where(fun.click, fun.dwell_seconds, 0.0), np.nan)
        vid = visits["visit_id"].to_numpy()[v_idx] if "visit_id" in visits.columns else v_idx
        return pd.DataFrame(
            {
                "visit_id": vid,
                "customer_id": self._customer_index[c].to_numpy(dtype=object),
                "day": np.full(n, np.nan) if d_rows is None else np.floor(d_rows),
                "time": np.full(n, np.nan) if d_rows is None else d_rows,
                "device": np.asarray(self.devices, dtype=object)[dev[v_idx]],
                "hour": hour[v_idx],
                "location": np.asarray(self.regions, dtype=object)[reg[v_idx]],
                "position": pos + 1,
                "candidate": cand,
                "product_id": self._product_index[p].to_numpy(dtype=object),
                "score": req["scores"][v_idx, cand],
                "available": row_req["available"],
                "list_length": length[v_idx],
                "p_examine": response.examination(self._world, pos + 1, length[v_idx]),
                "examined": examined,
                "clicked": clicked,
                "added_to_cart": spread(fun.cart, False),
                "wishlisted": spread(fun.wishlist, False),
                "purchased": purchased,
                "quantity": quantity.astype(np.int64),
                "price_paid": price_paid,
                "revenue": np.where(purchased, quantity * np.nan_to_num(price_paid), 0.0),
                "dwell_seconds": dwell,
                "list_propensity": prefix[v_idx, length[v_idx] - 1],
                "prefix_propensity": prefix[v_idx, pos],
                "item_propensity": item[v_idx, pos],
            }
        )

    # ---- the organic log ---------------------------------------------------------------------

    def event_context(self, events: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The context and day under which each logged event's utility was drawn.

        For a session event that is the visit's device, location, hour and day (context is fixed
        at the visit's start; the visit is found from its session id, so any subset of rows
        works); for a rating, those of the visit in which the rated product was bought.

        Parameters
        ----------
        events : pandas.DataFrame
            Rows of the events table from :meth:`generate` (columns ``customer_id``,
            ``product_id``, ``event`` and ``session_id``), with the shop's own ids.

        Returns
        -------
        context : dict of str to numpy.ndarray
            ``device``, ``hour`` and ``location`` per row, ready for :meth:`true_utility`.
        day : numpy.ndarray
            The visit's start per row, in days since day 0 (fractional), ready for ``day=``;
            with ``history=`` the events' purchases, :meth:`true_utility` then gives exactly the
            utility the log drew the event from.

        Raises
        ------
        KeyError
            A session id or a rated purchase this shop's log does not have.
        """
        missing = [
            c for c in ("customer_id", "product_id", "event", "session_id") if c not in events
        ]
        if missing:
            raise ValueError(f"event_context: events lack column(s) {missing}")
        n = len(events)
        device = np.empty(n, dtype=object)
        location = np.empty(n, dtype=object)
        hour = np.full(n, -1, dtype=np.int64)
        day = np.full(n, np.nan)
        sess = events["session_id"].astype(object).to_numpy()
        has_sess = pd.notna(sess)
        if has_sess.any():
            ids = sess[has_sess]
            table = self._session_table(ids)
            pos = table.index.get_indexer(ids)
            if (pos < 0).any():
                bad = list(dict.fromkeys(ids[pos < 0].tolist()))[:5]
                raise KeyError(f"event_context: unknown session id(s) {bad}")
            device[has_sess] = table["device"].to_numpy()[pos]
            location[has_sess] = table["location"].to_numpy()[pos]
            hour[has_sess] = table["hour"].to_numpy()[pos]
            day[has_sess] = _days(table["timestamp"], self.config.start)[pos]
        rating = ~has_sess
        if rating.any():
            rc = self._ensure_log().rating_context
            c = self._index(events["customer_id"].astype(object).to_numpy()[rating], "customer")
            p = self._index(events["product_id"].astype(object).to_numpy()[rating], "product")
            key = pd.Index(rc["customer"].to_numpy() * self._world.n_products + rc["product"])
            pos = key.get_indexer(c * self._world.n_products + p)
            if (pos < 0).any():
                raise KeyError(
                    f"event_context: {int((pos < 0).sum())} rating(s) without a rated purchase in "
                    f"this shop's log"
                )
            device[rating] = np.asarray(self.devices, dtype=object)[rc["device"].to_numpy()[pos]]
            location[rating] = np.asarray(self.regions, dtype=object)[rc["region"].to_numpy()[pos]]
            hour[rating] = rc["hour"].to_numpy()[pos]
            day[rating] = rc["time"].to_numpy()[pos]
        return {"device": device, "hour": hour, "location": location}, day

    def generate(self) -> Dataset:
        """Simulate the organic browse log and return the observable, validated :class:`Dataset`.

        Deterministic: every call (and every shop with the same config) gives identical tables.
        The Dataset holds the customers signed up and the products launched by the window's last
        day. The customers table carries raw personal data (name, email, phone, address, postcode,
        exact age) for the privacy step to remove; latent traits stay in :attr:`customers` and
        :attr:`products` only.
        """
        log = simulate_log(self._world)
        events = log.events
        log.events = None  # the shop keeps the state, not the table it hands out
        self._log = log
        w = self._world
        n_days = self.config.n_days
        cust = w.customers[w.customers["signup_day"] < n_days]
        prod = w.products[w.products["launch_day"] < n_days]
        ds = Dataset(
            name="synthetic",
            customers=cust.loc[:, list(OBSERVABLE_CUSTOMER_COLUMNS)].reset_index(drop=True),
            products=prod.loc[:, list(OBSERVABLE_PRODUCT_COLUMNS)].reset_index(drop=True),
            events=events,
            meta={
                "source": "synthetic",
                "generator": "recnb.data.synthetic",
                "seed": self.config.seed,
                "config": self.config.to_dict(),
                "sessions": log.sessions,
                "window": [
                    str(self.config.start.date()),
                    str((self.config.start + pd.Timedelta(days=n_days - 1)).date()),
                ],
            },
        )
        if log.late_ratings:
            ds.add_note(
                "ratings_after_window",
                log.late_ratings,
                "ratings that would be given after the simulated window are not logged",
            )
        return validate_dataset(ds)

    def impressions(self, item_propensities: bool = True) -> pd.DataFrame:
        """Every slot the organic log showed, with what happened and the page policy's propensities.

        The log's pages are lists ordered by the shop's page policy (:attr:`page_policy`) over its
        scores, so they can be replayed and off-policy estimators run on them. Simulates the log
        again (the same log as :meth:`generate`; about 6 CPU seconds at the default size, 2.4M
        rows) and caches the result.

        Parameters
        ----------
        item_propensities : bool
            Compute ``item_propensity`` (exact; for Plackett-Luce pages about 30 microseconds per
            page, 7 CPU seconds at the default size); False leaves it NaN.

        Returns
        -------
        pandas.DataFrame
            One row per shown slot, by visit, page and position: ``list_id`` (one per page),
            ``session_id`` (joins the events), ``customer_id``, ``day``, ``time`` (the visit's
            start in days), ``hour``, ``device``, ``location``, ``page_type``
            (``category``, ``home``, ``buy_again``), ``position``, ``product_id``, ``score`` (the
            shop's page score), ``utility`` (the true utility at the visit, with the history),
            ``page_length``, ``p_examine``, the outcomes ``examined``,
            ``clicked``, ``added_to_cart``, ``wishlisted``, ``purchased``, and the propensities
            ``list_propensity``, ``prefix_propensity`` and ``item_propensity``.
        """
        if self._impressions is None:
            self._impressions = simulate_log(self._world, keep_impressions=True).impressions
        imp = self._impressions.copy()
        if item_propensities:
            imp["item_propensity"] = _page_item_propensities(self.page_policy, imp)
        else:
            imp["item_propensity"] = np.nan
        return imp

    # ---- helpers -----------------------------------------------------------------------------

    def _ensure_log(self) -> LogResult:
        if self._log is None:
            self._log = simulate_log(self._world)
            self._log.events = None
        return self._log

    def _session_table(self, ids: np.ndarray) -> pd.DataFrame:
        days = sorted({_session_day(s) for s in pd.unique(ids)})
        v = self.visits(days)
        return v.set_index("visit_id")

    def _generator(self, rng: np.random.Generator | int | None) -> np.random.Generator:
        if rng is None:
            return self._rng
        if isinstance(rng, np.random.Generator):
            return rng
        return np.random.default_rng(rng)

    def _index(self, ids: Any, what: str) -> np.ndarray:
        arr = np.asarray(ids, dtype=object)
        index = self._customer_index if what == "customer" else self._product_index
        flat = arr.ravel()
        pos = index.get_indexer(flat)
        bad = pos < 0
        if bad.any():
            examples = list(dict.fromkeys(flat[bad].tolist()))[:5]
            raise KeyError(
                f"{int(bad.sum())} unknown {what} id(s) (not in this shop's {what}s table), "
                f"e.g. {examples}"
            )
        return pos.reshape(arr.shape)

    def _names(self, values: Any, names: tuple[str, ...], key: str) -> np.ndarray:
        arr = np.asarray(values, dtype=object)
        flat = arr.ravel()
        known = pd.Index(names).get_indexer(flat)
        missing = pd.isna(flat)
        bad = (known < 0) & ~missing
        if bad.any():
            raise ValueError(
                f"context[{key!r}]: unknown value(s) {sorted({str(v) for v in flat[bad]})[:5]}; "
                f"allowed are {list(names)} (or None for unknown)"
            )
        return np.where(missing, -1, known).reshape(arr.shape)

    def _hours(self, values: Any) -> np.ndarray:
        h = np.asarray(values, dtype=object)
        flat = h.ravel()
        missing = pd.isna(flat)
        hours = np.full(len(flat), -1, dtype=np.int64)
        ok = ~missing
        try:
            vals = flat[ok].astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"context['hour']: expected hours 0-23, got {h!r}") from None
        bad = (vals < 0) | (vals > 23) | (vals % 1 != 0)
        if bad.any():
            raise ValueError(
                f"context['hour']: hours must be whole numbers 0-23, got {vals[bad][:5].tolist()}"
            )
        hours[ok] = vals.astype(np.int64)
        return hours.reshape(h.shape)

    def _parse_context(self, context: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
        if context is None:
            return {}
        if not isinstance(context, Mapping):
            raise ValueError(f"context: expected a dict or None, got {type(context).__name__}")
        unknown = sorted(set(context) - set(_CONTEXT_KEYS))
        if unknown:
            raise ValueError(
                f"context: unknown key(s) {unknown}; allowed are {list(_CONTEXT_KEYS)}"
            )
        if "hour" in context and "daypart" in context:
            raise ValueError("context: give either 'hour' or 'daypart', not both")
        out: dict[str, np.ndarray] = {}
        if "device" in context:
            out["device"] = self._names(context["device"], self.devices, "device")
        if "location" in context:
            out["location"] = self._names(context["location"], self.regions, "location")
        if "daypart" in context:
            out["daypart"] = self._names(context["daypart"], DAYPARTS, "daypart")
        if "hour" in context:
            hours = self._hours(context["hour"])
            out["daypart"] = np.where(hours < 0, -1, _DAYPART_OF_HOUR[np.maximum(hours, 0)])
        return out

    def _context_names(self, ctx: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "device": np.asarray(self.devices, dtype=object)[ctx["device"]],
            "hour": np.asarray(ctx["hour"], dtype=np.int64),
            "location": np.asarray(self.regions, dtype=object)[ctx["region"]],
        }

    def _history(self, history: PurchaseHistory | pd.DataFrame | None) -> PurchaseHistory | None:
        if history is None:
            return None
        if isinstance(history, PurchaseHistory):
            if history.n_products != self._world.n_products:
                raise ValueError("history: built for another shop (product count differs)")
            return history
        return self.history(history)

    def _days_since(
        self,
        history: PurchaseHistory | pd.DataFrame | None,
        c: np.ndarray,
        p: np.ndarray,
        day: np.ndarray | None,
    ) -> np.ndarray | None:
        hist = self._history(history)
        if hist is None:
            return None
        if day is None:
            raise ValueError("history: the state needs a day (pass day=...)")
        return hist.days_since(c, p, day)

    def _available(self, p: np.ndarray, day: np.ndarray | None) -> np.ndarray:
        if day is None:
            return np.ones(len(p), dtype=bool)
        with np.errstate(invalid="ignore"):
            return ~(self._world.p_launch_day[p] > day)

    def _check_signed_up(self, c: np.ndarray, day: np.ndarray | None) -> None:
        if day is None:
            return
        with np.errstate(invalid="ignore"):
            early = self._world.c_signup_day[c] > day
        if early.any():
            i = int(np.flatnonzero(early)[0])
            raise ValueError(
                f"customer {self._customer_index[c[i]]!r} signs up on day "
                f"{int(self._world.c_signup_day[c[i]])} but was asked about day {day[i]:g}"
            )

    def _parse_lists(
        self,
        customer_id: Any,
        ranked: Any,
        context: Mapping[str, Any] | None,
        day: Any,
        history: PurchaseHistory | pd.DataFrame | None,
    ) -> dict[str, Any]:
        lists = np.asarray(ranked, dtype=object)
        if lists.ndim == 1:
            lists = lists[None, :]
        elif lists.ndim != 2:
            raise ValueError(
                f"ranked_product_ids: expected one list (1-D) or lists of equal length (2-D), "
                f"got {lists.ndim} dimensions"
            )
        n, k = lists.shape
        if k == 0:
            raise ValueError("ranked_product_ids: the list is empty")
        p = self._index(lists, "product")
        srt = np.sort(p, axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
        if dup.any():
            row = int(np.flatnonzero(dup)[0])
            raise ValueError(
                f"ranked_product_ids: list {row} shows a product more than once: "
                f"{lists[row].tolist()}"
            )
        c = self._index(customer_id, "customer")
        if c.ndim > 1 or (c.ndim == 1 and len(c) not in (1, n)):
            raise ValueError(
                f"customer_id: expected one id or one per list ({n}), got shape {c.shape}"
            )

        def per_list(v: np.ndarray, name: str) -> np.ndarray:
            if v.ndim > 1 or (v.ndim == 1 and len(v) not in (1, n)):
                raise ValueError(
                    f"{name}: expected a scalar or one value per list ({n}), got shape {v.shape}"
                )
            return np.broadcast_to(v.reshape(-1, 1) if v.ndim else v, (n, k)).ravel()

        ctx = {
            key: per_list(v, f"context[{key!r}]") for key, v in self._parse_context(context).items()
        }
        d = None if day is None else per_list(np.asarray(day, dtype=np.float64), "day")
        c_flat = per_list(c, "customer_id")
        p_flat = p.ravel()
        self._check_signed_up(c_flat, d)
        return {
            "c": c_flat,
            "p": p_flat,
            "device": ctx.get("device"),
            "daypart": ctx.get("daypart"),
            "region": ctx.get("location"),
            "day": d,
            "days_since": self._days_since(history, c_flat, p_flat, d),
            "available": self._available(p_flat, d),
            "position": np.tile(np.arange(1, k + 1), n),
            "list_length": np.full(n * k, k),
            "list_index": np.repeat(np.arange(n), k),
        }

    def _expected_item_response(self, req: dict[str, Any]) -> dict[str, np.ndarray]:
        """Per row: the expected response given examination, over the unknown context."""
        w = self._world
        c, p = req["c"], req["p"]
        known = all(
            req.get(key) is not None and (np.asarray(req[key]) >= 0).all()
            for key in ("device", "daypart", "region")
        )
        day = req["day"]
        ds = req["days_since"]
        if known:
            dev = req["device"]
            u = response.utility(
                w, c, p, device=dev, daypart=req["daypart"], region=req["region"], day=day,
                days_since=ds,
            )  # fmt: skip
            rp, weight = p, None
        else:
            # the utility without context once per row (index len-1 is each effect table's zero
            # row), then every combination of the unknown context dimensions adds its effects
            n = len(c)
            u0 = response.utility(
                w,
                c,
                p,
                device=np.full(n, len(w.device_effect) - 1),
                daypart=np.full(n, len(w.daypart_effect) - 1),
                region=np.full(n, len(w.region_effect) - 1),
                day=day,
                days_since=ds,
            )
            dev, dp, reg, weight = response.context_grid(
                w, c, req.get("device"), req.get("daypart"), req.get("region")
            )
            top = w.p_top[p][:, None]
            u = (
                u0[:, None]
                + w.device_effect[dev, top]
                + w.daypart_effect[dp, top]
                + w.region_effect[reg, top]
            )
            rp = p[:, None]
        cond = response.conditionals(w, u, rp, dev)
        click = cond.click
        cart = click * cond.cart
        purchase = cart * cond.purchase
        values = {
            "utility": u,
            "click": click,
            "cart": cart,
            "wishlist": click * cond.wishlist,
            "purchase": purchase,
            "revenue": purchase * response.expected_order_value(w, rp),
            "dwell": response.GLANCE_MEAN + click * cond.dwell_mean,
        }
        if weight is not None:
            values = {key: (weight * v).sum(axis=1) for key, v in values.items()}
        avail = req["available"]
        if not avail.all():  # products not launched yet never respond
            for key in ("click", "cart", "wishlist", "purchase", "revenue"):
                values[key] = np.where(avail, values[key], 0.0)
            values["dwell"] = np.where(avail, values["dwell"], response.GLANCE_MEAN)
        return values

    def _draw_missing_context(self, req: dict[str, Any], rng: np.random.Generator) -> dict:
        """One context per list for the unknown parts, drawn from the customer's own mix."""
        n = len(req["c"])
        known = {key: req.get(key) for key in ("device", "daypart", "region")}
        if all(v is not None and (v >= 0).all() for v in known.values()):
            return req
        lists = req["list_index"]
        first = np.r_[0, np.flatnonzero(np.diff(lists)) + 1]
        drawn = traffic.sample_context(self._world, rng, req["c"][first])
        out = dict(req)
        for key in ("device", "daypart", "region"):
            per_list = np.asarray(drawn[key], dtype=np.int64)[lists]
            cur = known[key]
            out[key] = per_list if cur is None else np.where(cur >= 0, cur, per_list)
        del n
        return out

    def _sample_items(self, req: dict[str, Any], rng: np.random.Generator):
        """Examination and funnel for rows with a full context; returns (funnel, examined rows)."""
        examined = rng.random(len(req["position"])) < response.examination(
            self._world, req["position"], req["list_length"]
        )
        idx = np.flatnonzero(examined)
        day = req["day"]
        ds = req["days_since"]
        u = response.utility(
            self._world,
            req["c"][idx],
            req["p"][idx],
            device=req["device"][idx],
            daypart=req["daypart"][idx],
            region=req["region"][idx],
            day=None if day is None else day[idx],
            days_since=None if ds is None else ds[idx],
        )
        fun = response.sample_funnel(
            self._world, rng, u, req["p"][idx], req["device"][idx], req["available"][idx]
        )
        return fun, idx

    def _parse_policy(
        self,
        visits: pd.DataFrame,
        candidates: Any,
        scores: Any,
        policy: RankingPolicy | None,
        k: int | None,
        history: PurchaseHistory | pd.DataFrame | None,
    ) -> dict[str, Any]:
        if not isinstance(visits, pd.DataFrame):
            raise ValueError(f"visits: expected a DataFrame, got {type(visits).__name__}")
        if "customer_id" not in visits.columns:
            raise ValueError("visits: the table lacks the 'customer_id' column")
        n_vis = len(visits)
        cand = np.asarray(candidates, dtype=object)
        if cand.ndim != 2 or cand.shape[0] != n_vis:
            raise ValueError(
                f"candidates: expected a 2-D array with one row per visit ({n_vis}), got shape "
                f"{cand.shape}"
            )
        valid = ~pd.isna(cand)
        p = np.full(cand.shape, -1, dtype=np.int64)
        p[valid] = self._index(cand[valid], "product")
        srt = np.sort(np.where(valid, p, -np.arange(1, cand.shape[1] + 1)), axis=1)
        dup = (srt[:, 1:] == srt[:, :-1]).any(axis=1)
        if dup.any():
            raise ValueError(
                f"candidates: row {int(np.flatnonzero(dup)[0])} lists a product more than once"
            )
        if scores is None:
            if policy is not None and policy.kind != "deterministic":
                raise ValueError(f"scores: a {policy.kind} policy needs scores")
            s = np.where(valid, -np.arange(cand.shape[1], dtype=np.float64)[None, :], np.nan)
        else:
            s = np.asarray(scores, dtype=np.float64)
            if s.shape != cand.shape:
                raise ValueError(
                    f"scores: expected the shape of candidates {cand.shape}, got {s.shape}"
                )
            if np.isnan(s[valid]).any():
                raise ValueError("scores: NaN score for a candidate")
            s = np.where(valid, s, np.nan)
        policy = policy if policy is not None else RankingPolicy("deterministic")
        if not isinstance(policy, RankingPolicy):
            raise ValueError(f"policy: expected a RankingPolicy, got {type(policy).__name__}")
        k = cand.shape[1] if k is None else k
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k: expected a positive integer, got {k!r}")
        c_visit = self._index(visits["customer_id"].astype(object).to_numpy(), "customer")
        if "timestamp" in visits.columns:
            day = _days(pd.to_datetime(visits["timestamp"]), self.config.start)
        elif "day" in visits.columns:
            day = visits["day"].to_numpy(dtype=np.float64)
        else:
            day = None
        self._check_signed_up(c_visit, day)
        ctx_visit = {
            "device": (
                self._names(visits["device"].astype(object).to_numpy(), self.devices, "device")
                if "device" in visits.columns
                else np.full(n_vis, -1)
            ),
            "region": (
                self._names(visits["location"].astype(object).to_numpy(), self.regions, "location")
                if "location" in visits.columns
                else np.full(n_vis, -1)
            ),
            "hour": (
                self._hours(visits["hour"].to_numpy(dtype=object))
                if "hour" in visits.columns
                else np.full(n_vis, -1)
            ),
        }
        if "hour" in visits.columns:
            h = ctx_visit["hour"]
            ctx_visit["daypart"] = np.where(h < 0, -1, _DAYPART_OF_HOUR[np.maximum(h, 0)])
        elif "daypart" in visits.columns:
            ctx_visit["daypart"] = self._names(
                visits["daypart"].astype(object).to_numpy(), DAYPARTS, "daypart"
            )
        else:
            ctx_visit["daypart"] = np.full(n_vis, -1)
        hist = self._history(history)
        if hist is not None and day is None:
            raise ValueError("history: the state needs a day (give visits a 'day' column)")
        n_valid = valid.sum(axis=1)
        v_idx, slot = np.nonzero(valid)
        cf, pf = c_visit[v_idx], p[v_idx, slot]
        d_rows = None if day is None else day[v_idx]
        flat = {
            "visit": v_idx,
            "slot": slot,
            "c": cf,
            "p": pf,
            "device": ctx_visit["device"][v_idx],
            "daypart": ctx_visit["daypart"][v_idx],
            "region": ctx_visit["region"][v_idx],
            "day": d_rows,
            "days_since": None if hist is None else hist.days_since(cf, pf, d_rows),
            "available": self._available(pf, d_rows),
        }
        return {
            "cand": p,
            "scores": s,
            "policy": policy,
            "k": int(k),
            "length": np.minimum(n_valid, int(k)),
            "c_visit": c_visit,
            "ctx_visit": ctx_visit,
            "day": day,
            "history": hist,
            "flat": flat,
        }


def _days(ts: pd.Series | pd.DatetimeIndex, start: pd.Timestamp) -> np.ndarray:
    """Timestamps as days since ``start`` (fractional)."""
    return ((ts - start) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)


def _session_day(session_id: str) -> int:
    try:
        return int(str(session_id)[1:].split("-")[0])
    except ValueError:
        raise KeyError(f"event_context: {session_id!r} is not a session id of this shop") from None


def _page_item_propensities(policy: RankingPolicy, imp: pd.DataFrame) -> np.ndarray:
    """Marginal P(product at its position) for every row of the organic impressions."""
    list_id = imp["list_id"].to_numpy()
    order = np.lexsort((imp["position"].to_numpy(), list_id))
    lid = list_id[order]
    first = np.r_[0, np.flatnonzero(np.diff(lid)) + 1]
    length = np.diff(np.r_[first, len(lid)])
    width = int(length.max()) if len(length) else 1
    row = np.repeat(np.arange(len(first)), length)
    slot = np.arange(len(lid)) - np.repeat(first, length)
    scores = np.full((len(first), width), np.nan)
    scores[row, slot] = imp["score"].to_numpy()[order]
    ranking = np.full((len(first), width), -1, dtype=np.int64)
    ranking[row, slot] = slot  # the shown order: candidate j is at position j + 1
    # the page's candidates are exactly its shown products; shown order = candidate order here
    out_sorted = policy.item_propensities(scores, ranking)[row, slot]
    out = np.empty(len(lid))
    out[order] = out_sorted
    return out


def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


def make_shop(**config_kwargs: Any) -> tuple[SyntheticShop, Dataset]:
    """Build a shop from :class:`ShopConfig` settings and generate its Dataset.

    Parameters
    ----------
    **config_kwargs
        Any :class:`ShopConfig` field (``n_customers``, ``n_products``, ``n_days``, ``seed``...).

    Returns
    -------
    shop : SyntheticShop
        The ground truth.
    dataset : Dataset
        The validated, observable tables (:meth:`SyntheticShop.generate`).

    Raises
    ------
    ValueError
        An unknown setting (the message lists the allowed ones) or a bad value.
    """
    allowed = ShopConfig.field_names()
    unknown = sorted(set(config_kwargs) - set(allowed))
    if unknown:
        raise ValueError(
            f"synthetic shop: unknown setting(s) {unknown}; allowed are {list(allowed)}"
        )
    shop = SyntheticShop(ShopConfig(**config_kwargs))
    return shop, shop.generate()
