"""The public face of the synthetic shop: :class:`SyntheticShop` and :func:`make_shop`.

A shop is a small world with a known ground truth. Besides the organic event log
(:meth:`SyntheticShop.generate`), it answers what real logs cannot: the true utility of any
(customer, product, context, day) and the expected and sampled response of a customer to any ranked
list. The A/B simulation, off-policy estimates and fairness audits are checked against these.

Context
-------
Every ground-truth method takes ``context``: ``None`` or a dict with any of

- ``"device"``: a device name from :attr:`SyntheticShop.devices`;
- ``"hour"``: hour of day 0-23 (it enters through its part of the day, see
  :data:`~recnb.synthetic.config.DAYPARTS`), or ``"daypart"``: a part-of-day name (not both);
- ``"location"``: a region name from :attr:`SyntheticShop.regions`.

A value may be a scalar or an array (broadcast against the ids); ``None`` in an array, or a key left
out, means "unknown": that effect is then the mix-weighted average over its values (effects are
centred), so ``true_utility`` without a device equals the device-mix average of the utilities with
each device. ``day`` is the day index since ``start_date`` (0 = first day; may be fractional,
negative or beyond the window, where the trends extrapolate); ``None`` (or NaN) leaves out the
trend and novelty terms. The log's own context per event is given by
:meth:`SyntheticShop.event_context`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from recnb.schema import EVENT_TYPES, Dataset, validate_dataset
from recnb.synthetic import response
from recnb.synthetic.config import DAYPART_HOURS, DAYPARTS, ShopConfig
from recnb.synthetic.sessions import simulate_events
from recnb.synthetic.world import (
    OBSERVABLE_CUSTOMER_COLUMNS,
    OBSERVABLE_PRODUCT_COLUMNS,
    build_world,
)

_CONTEXT_KEYS = ("device", "hour", "daypart", "location")
_DAYPART_OF_HOUR = np.zeros(24, dtype=np.int64)
for _i, _d in enumerate(DAYPARTS):
    _DAYPART_OF_HOUR[DAYPART_HOURS[_d][0] : DAYPART_HOURS[_d][1]] = _i
_LOG_STREAM, _RESPONSE_STREAM = 1000, 1001  # seed-sequence keys, apart from the world's streams


class SyntheticShop:
    """A synthetic shop with a known ground truth, built deterministically from ``config.seed``.

    Parameters
    ----------
    config : ShopConfig, optional
        Sizes and knobs; the defaults give about 20k customers, 5k products and 1M events.

    Attributes
    ----------
    config : ShopConfig
        The settings the shop was built from.
    customers : pandas.DataFrame
        Ground-truth customers: the observable columns of the Dataset plus the latent
        ``preferred_daypart``, ``activity`` (expected sessions per 30 days) and
        ``price_sensitivity``.
    products : pandas.DataFrame
        Ground-truth products: the observable columns plus the latent ``top_category``,
        ``quality``, ``appeal``, ``relative_price`` (log price over the leaf median) and
        ``launch_day`` (day index of launch; never shown before it).
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

    # ---- ground truth ------------------------------------------------------------------------

    def true_utility(
        self,
        customer_ids: Any,
        product_ids: Any,
        context: Mapping[str, Any] | None = None,
        day: Any = None,
    ) -> np.ndarray:
        """True utility of products for customers, optionally in a context and on a day.

        Parameters
        ----------
        customer_ids, product_ids : str or array-like of str
            Ids, broadcast against each other numpy-style: equal shapes give pairwise utilities,
            ``customer_ids[:, None]`` with ``product_ids[None, :]`` gives a customers x products
            block (mind its size).
        context : dict, optional
            ``device``, ``hour`` (or ``daypart``) and ``location``; scalars or arrays broadcast
            against the ids (see the module docstring). Missing keys mean unknown context.
        day : float or array-like, optional
            Day index since ``config.start_date``; ``None`` leaves out the drifting terms.

        Returns
        -------
        numpy.ndarray
            float64 utilities with the broadcast shape.

        Raises
        ------
        KeyError
            An id is not a customer or product of this shop.
        ValueError
            Unknown context key or value, or an hour outside 0-23.
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
        u = response.utility(
            self._world,
            np.broadcast_to(c, shape).ravel(),
            np.broadcast_to(p, shape).ravel(),
            device=flat.get("device"),
            daypart=flat.get("daypart"),
            region=flat.get("location"),
            day=None if d is None else np.broadcast_to(d, shape).ravel(),
        )
        return u.reshape(shape)

    def response_probabilities(
        self,
        customer_id: Any,
        ranked_product_ids: Any,
        context: Mapping[str, Any] | None = None,
        day: Any = None,
    ) -> pd.DataFrame:
        """Expected response, position by position, of customers shown ranked lists.

        Parameters
        ----------
        customer_id : str or array-like of str
            One customer for one list, or one customer per list (or one for all lists).
        ranked_product_ids : array-like of str
            One list (1-D, best first) or several lists of equal length (2-D, one row per list).
            Ids within a list must be distinct.
        context : dict, optional
            As for :meth:`true_utility`; values are scalars or one per list.
        day : float or array-like, optional
            Day index, scalar or one per list.

        Returns
        -------
        pandas.DataFrame
            One row per (list, position): ``list_index``, ``customer_id``, ``position``
            (1-based), ``product_id``, ``utility``, and the marginal probabilities ``p_examine``
            (position bias), ``p_click``, ``p_add_to_cart``, ``p_wishlist``, ``p_purchase``
            (each includes examination and the earlier funnel steps, so
            ``p_purchase <= p_add_to_cart <= p_click <= p_examine``) and
            ``expected_dwell_seconds`` (glance while examining plus reading after a click).
            Summing a column over a list's rows gives its expected number of such events.
        """
        req = self._parse_lists(customer_id, ranked_product_ids, context, day)
        u = req["utility"]
        cond = response.conditionals(self._world, u, req["p"], req["device"])
        p_exam = response.examination(self._world, req["position"])
        p_click = p_exam * cond.click
        p_cart = p_click * cond.cart
        return pd.DataFrame(
            {
                "list_index": req["list_index"],
                "customer_id": self._customer_index[req["c"]].to_numpy(dtype=object),
                "position": req["position"],
                "product_id": self._product_index[req["p"]].to_numpy(dtype=object),
                "utility": u,
                "p_examine": p_exam,
                "p_click": p_click,
                "p_add_to_cart": p_cart,
                "p_wishlist": p_click * cond.wishlist,
                "p_purchase": p_cart * cond.purchase,
                "expected_dwell_seconds": p_exam * response.GLANCE_MEAN + p_click * cond.dwell_mean,
            }
        )

    def simulate_response(
        self,
        customer_id: Any,
        ranked_product_ids: Any,
        context: Mapping[str, Any] | None = None,
        day: Any = None,
        rng: np.random.Generator | int | None = None,
    ) -> pd.DataFrame:
        """Sample the events customers produce when shown ranked lists (same model as the log).

        Parameters
        ----------
        customer_id, ranked_product_ids, context, day
            As for :meth:`response_probabilities`.
        rng : numpy.random.Generator or int, optional
            Randomness; ``None`` uses the shop's own response generator (seeded from
            ``config.seed`` and advanced by each call, so a fixed sequence of calls repeats).

        Returns
        -------
        pandas.DataFrame
            One row per event: ``list_index``, ``customer_id``, ``position``, ``product_id``,
            ``event`` (ordered categorical of :data:`recnb.schema.EVENT_TYPES`; ``view`` means
            examined), ``dwell_seconds`` (view: glance, click: reading time), ``value`` (purchase
            quantity) and ``price_paid`` (unit price of a purchase). Later ratings are not
            simulated. Rows are ordered by list, position and funnel step.
        """
        if rng is None:
            rng = self._rng
        elif not isinstance(rng, np.random.Generator):
            rng = np.random.default_rng(rng)
        req = self._parse_lists(customer_id, ranked_product_ids, context, day)
        examined = rng.random(len(req["position"])) < response.examination(
            self._world, req["position"]
        )
        idx = np.flatnonzero(examined)
        dev = None if req["device"] is None else req["device"][idx]
        fun = response.sample_funnel(self._world, rng, req["utility"][idx], req["p"][idx], dev)
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

    def event_context(self, events: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The context and day under which each logged event's utility was drawn.

        For a session event that is the session's device and location and the hour and day of the
        session's first event (context is fixed at the session start); for a rating (no session)
        the rating's own device, location, hour and day.

        Parameters
        ----------
        events : pandas.DataFrame
            Rows of the events table from :meth:`generate` (any subset containing whole sessions,
            with columns ``session_id``, ``timestamp``, ``device``, ``location``).

        Returns
        -------
        context : dict of str to numpy.ndarray
            ``device``, ``hour`` and ``location`` per row, ready for :meth:`true_utility`.
        day : numpy.ndarray
            Day index per row.
        """
        missing = [c for c in ("session_id", "timestamp", "device", "location") if c not in events]
        if missing:
            raise ValueError(f"event_context: events lack column(s) {missing}")
        ts = pd.to_datetime(events["timestamp"])
        sess = events["session_id"].astype(object)
        start = ts.groupby(sess.to_numpy(), sort=False).transform("min")
        start = start.where(sess.notna(), ts)
        day = ((start - self.config.start) // pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
        context = {
            "device": events["device"].astype(object).to_numpy(),
            "hour": start.dt.hour.to_numpy(),
            "location": events["location"].astype(object).to_numpy(),
        }
        return context, day

    # ---- the organic log ---------------------------------------------------------------------

    def generate(self) -> Dataset:
        """Simulate the organic browse log and return the observable, validated :class:`Dataset`.

        Deterministic: every call (and every shop with the same config) gives identical tables.
        The customers table carries raw personal data (name, email, phone, address, postcode,
        exact age) for the privacy step to remove; latent traits stay in :attr:`customers` and
        :attr:`products` only.
        """
        w = self._world
        events, counts = simulate_events(
            w, np.random.SeedSequence(self.config.seed, spawn_key=(_LOG_STREAM,))
        )
        ds = Dataset(
            name="synthetic",
            customers=w.customers.loc[:, list(OBSERVABLE_CUSTOMER_COLUMNS)].copy(),
            products=w.products.loc[:, list(OBSERVABLE_PRODUCT_COLUMNS)].copy(),
            events=events,
            meta={
                "source": "synthetic",
                "generator": "recnb.synthetic",
                "seed": self.config.seed,
                "config": self.config.to_dict(),
                "sessions": counts["sessions"],
                "window": [
                    str(self.config.start.date()),
                    str((self.config.start + pd.Timedelta(days=self.config.n_days - 1)).date()),
                ],
            },
        )
        if counts["late_ratings"]:
            ds.add_note(
                "ratings_after_window",
                counts["late_ratings"],
                "ratings that would be given after the simulated window are not logged",
            )
        return validate_dataset(ds)

    # ---- helpers -----------------------------------------------------------------------------

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
            h = np.asarray(context["hour"], dtype=object)
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
                    f"context['hour']: hours must be whole numbers 0-23, got "
                    f"{vals[bad][:5].tolist()}"
                )
            hours[ok] = vals.astype(np.int64)
            out["daypart"] = np.where(hours < 0, -1, _DAYPART_OF_HOUR[hours]).reshape(h.shape)
        return out

    def _parse_lists(
        self, customer_id: Any, ranked: Any, context: Mapping[str, Any] | None, day: Any
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
        u = response.utility(
            self._world,
            c_flat,
            p_flat,
            device=ctx.get("device"),
            daypart=ctx.get("daypart"),
            region=ctx.get("location"),
            day=d,
        )
        return {
            "c": c_flat,
            "p": p_flat,
            "utility": u,
            "device": ctx.get("device"),
            "position": np.tile(np.arange(1, k + 1), n),
            "list_index": np.repeat(np.arange(n), k),
        }


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
