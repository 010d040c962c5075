"""The event log as seen by the context, cold-start, repeat and rolling-origin evaluations.

:class:`EventLog` fixes one customer and one product vocabulary for the whole log, so that a model
trained on any time window (``interactions(start, end)``) and the held-out requests of any later
window share indices: a product launched after a training window is simply an empty column of that
window's matrix.

A *request* is one visit (a session; without sessions, one customer-day): the moment a list is
asked for. Its context is what is known when the list is asked for, and nothing else: the device,
the location, the part of the day and whether it is a weekend, all read from the visit's *first*
event (:data:`REQUEST_FEATURES`). What the customer then does in the visit (the products, event
types, dwell times, prices) is the answer the list is scored against, never an input
(``tests/test_context.py`` checks that changing anything after a visit's first event leaves its
request features unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.data.schema import Dataset
from recnb.data.synthetic import DAYPART_HOURS, DAYPARTS
from recnb.prep.weighting import DEFAULT_EVENT_WEIGHTS, aggregate, event_weights

__all__ = [
    "POSITIVE_EVENTS",
    "REQUEST_FEATURES",
    "EventLog",
    "RequestSet",
    "daypart_of",
]

#: request-time context features: all known when the visit starts (its first event)
REQUEST_FEATURES: tuple[str, ...] = ("device", "location", "daypart", "weekend")

#: event types that make a product relevant to a request (views are not an answer)
POSITIVE_EVENTS: tuple[str, ...] = ("click", "add_to_cart", "wishlist", "purchase", "rating")


def daypart_of(timestamps: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """Part of the day (:data:`recnb.data.synthetic.DAYPARTS`) of each timestamp, as strings."""
    hours = pd.DatetimeIndex(timestamps).hour.to_numpy()
    out = np.empty(len(hours), dtype=object)
    for name in DAYPARTS:
        lo, hi = DAYPART_HOURS[name]
        out[(hours >= lo) & (hours < hi)] = name
    return out


@dataclass
class RequestSet:
    """Requests of one time window and the products that answer each of them.

    Attributes
    ----------
    requests : pandas.DataFrame
        One row per request, in time order: ``request_id``, ``customer_id``, ``customer``
        (index in the log's vocabulary), ``timestamp`` (the visit's first event) and the
        available :data:`REQUEST_FEATURES` columns.
    truth : scipy.sparse.csr_matrix, shape (n_requests, n_products)
        1 where the customer responded positively to the product in that visit.
    repeat : scipy.sparse.csr_matrix, same shape
        1 where such a product had already been interacted with before the window (a repeat).
    """

    requests: pd.DataFrame
    truth: sp.csr_matrix
    repeat: sp.csr_matrix

    def __len__(self) -> int:
        return len(self.requests)

    def subset(self, mask: np.ndarray) -> RequestSet:
        """The requests where ``mask`` is true."""
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        return RequestSet(
            self.requests.iloc[rows].reset_index(drop=True), self.truth[rows], self.repeat[rows]
        )

    def new_only(self) -> RequestSet:
        """Products seen before the window removed from the answers; requests left without an
        answer dropped (the mode of every model that never recommends what the customer had)."""
        new = (self.truth - self.truth.multiply(self.repeat)).tocsr()
        new.eliminate_zeros()
        keep = np.diff(new.indptr) > 0
        rows = np.flatnonzero(keep)
        return RequestSet(
            self.requests.iloc[rows].reset_index(drop=True),
            new[rows],
            sp.csr_matrix(new[rows].shape, dtype=np.float32),
        )


class EventLog:
    """A dataset's events with fixed customer and product vocabularies.

    Parameters
    ----------
    ds : Dataset
        A validated (and, in a run, privacy-scrubbed) dataset.
    weights : mapping, optional
        Training weight per event type (default
        :data:`recnb.prep.weighting.DEFAULT_EVENT_WEIGHTS`).
    positive_events : sequence of str
        Event types that answer a request (:data:`POSITIVE_EVENTS`).
    """

    def __init__(
        self,
        ds: Dataset,
        weights: Mapping[str, float] | None = None,
        positive_events: Sequence[str] = POSITIVE_EVENTS,
    ) -> None:
        ev = ds.events
        order = np.argsort(ev["timestamp"].to_numpy(), kind="stable")
        ev = ev.iloc[order].reset_index(drop=True)
        self.events = ev
        cust = ev["customer_id"].astype(object).to_numpy()
        prod = ev["product_id"].astype(object).to_numpy()
        self.customer, self.customer_ids = pd.factorize(cust, sort=True)
        self.product, self.product_ids = pd.factorize(prod, sort=True)
        self.customer_ids = np.asarray(self.customer_ids, dtype=object)
        self.product_ids = np.asarray(self.product_ids, dtype=object)
        self.time = ev["timestamp"].to_numpy(dtype="datetime64[ns]")
        self.weight = event_weights(ev, DEFAULT_EVENT_WEIGHTS if weights is None else weights)
        kind = ev["event"].astype(object).to_numpy()
        self.positive = np.isin(kind, list(positive_events))
        self.purchase = kind == "purchase"
        session = self._sessions(ev, cust)
        # sessions numbered in the order of their first event (events are in time order)
        self.session_code, self.session_ids = pd.factorize(session, sort=False)
        self.session_ids = np.asarray(self.session_ids, dtype=object)
        _, self.session_first = np.unique(self.session_code, return_index=True)
        self.customers = ds.customers
        self.products = self._aligned_products(ds.products)
        self.available = [c for c in ("device", "location") if c in ev.columns]

    # ---- vocabularies ------------------------------------------------------------------------
    @property
    def n_customers(self) -> int:
        return len(self.customer_ids)

    @property
    def n_products(self) -> int:
        return len(self.product_ids)

    @property
    def start(self) -> pd.Timestamp:
        return pd.Timestamp(self.time[0])

    @property
    def end(self) -> pd.Timestamp:
        """The last event's time."""
        return pd.Timestamp(self.time[-1])

    def request_features(self) -> list[str]:
        """The :data:`REQUEST_FEATURES` this log can supply (device and location only if present)."""
        return [f for f in REQUEST_FEATURES if f in ("daypart", "weekend") or f in self.available]

    def categories(self, level: int = 1) -> np.ndarray:
        """Category of each product in the vocabulary, cut at ``level`` path segments
        (``"unknown"`` where the products table has none)."""
        if self.products is None or "category" not in self.products.columns:
            return np.full(self.n_products, "unknown", dtype=object)
        cat = self.products["category"].astype(object).fillna("unknown").astype(str)
        return np.asarray(cat.str.split("/").str[:level].str.join("/"), dtype=object)

    # ---- windows -----------------------------------------------------------------------------
    def mask(
        self,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        exclude_customers: np.ndarray | None = None,
    ) -> np.ndarray:
        """Events with ``start <= time < end`` (open ends when None), optionally without the
        customers (indices) in ``exclude_customers``."""
        m = np.ones(len(self.time), dtype=bool)
        if start is not None:
            m &= self.time >= np.datetime64(pd.Timestamp(start))
        if end is not None:
            m &= self.time < np.datetime64(pd.Timestamp(end))
        if exclude_customers is not None and len(exclude_customers):
            m &= ~np.isin(self.customer, exclude_customers)
        return m

    def interactions(
        self,
        start: pd.Timestamp | None = None,
        end: pd.Timestamp | None = None,
        exclude_customers: np.ndarray | None = None,
        mask: np.ndarray | None = None,
    ) -> Interactions:
        """Weighted, log-scaled confidences of the window's events (global vocabularies).

        ``mask`` restricts the events further (e.g. to one context value: pre-filtering).
        Carries ``timestamps`` (last event per pair) for time-aware models.
        """
        m = self.mask(start, end, exclude_customers)
        if mask is not None:
            m &= mask
        mat, times = aggregate(
            self.customer[m],
            self.product[m],
            self.weight[m],
            (self.n_customers, self.n_products),
            times=self.time[m],
        )
        return Interactions(mat, self.customer_ids, self.product_ids, timestamps=times)

    def requests(
        self,
        start: pd.Timestamp,
        end: pd.Timestamp | None = None,
        exclude_customers: np.ndarray | None = None,
        only_customers: np.ndarray | None = None,
        positive: np.ndarray | None = None,
    ) -> RequestSet:
        """The visits starting in ``[start, end)`` that have at least one positive event.

        A product counts as a repeat when the customer had a positive event on it before
        ``start`` (before the window, so before any list of the window was asked for).
        ``positive`` (a boolean mask over events) replaces the positive event types, e.g.
        ``log.purchase`` to score purchases only (repeats are then products bought before).
        """
        pos = self.positive if positive is None else np.asarray(positive, dtype=bool)
        first = self.session_first
        ok = self.time[first] >= np.datetime64(pd.Timestamp(start))
        if end is not None:
            ok &= self.time[first] < np.datetime64(pd.Timestamp(end))
        owner = self.customer[first]
        if exclude_customers is not None and len(exclude_customers):
            ok &= ~np.isin(owner, exclude_customers)
        if only_customers is not None:
            ok &= np.isin(owner, only_customers)
        rows = np.flatnonzero(ok[self.session_code] & pos)
        used, r = np.unique(self.session_code[rows], return_inverse=True)
        # sessions are numbered by their first event, so ``used`` is in time order
        first = first[used]
        truth = sp.csr_matrix(
            (np.ones(len(rows), np.float32), (r, self.product[rows])),
            shape=(len(used), self.n_products),
        )
        truth.sum_duplicates()
        truth.data[:] = 1.0
        req = self._request_frame(first, self.session_ids[used])
        before = self.mask(None, start) & pos
        seen = sp.csr_matrix(
            (np.ones(int(before.sum()), np.float32), (self.customer[before], self.product[before])),
            shape=(self.n_customers, self.n_products),
        )
        seen.data[:] = 1.0
        repeat = truth.multiply(seen[req["customer"].to_numpy()]).tocsr()
        repeat.data[:] = 1.0
        repeat.eliminate_zeros()
        return RequestSet(req, truth, repeat)

    def _request_frame(self, first: np.ndarray, session_ids: np.ndarray) -> pd.DataFrame:
        """Request features from each visit's first event only (request time)."""
        ev = self.events
        ts = pd.DatetimeIndex(self.time[first])
        out = pd.DataFrame(
            {
                "request_id": session_ids,
                "customer_id": self.customer_ids[self.customer[first]],
                "customer": self.customer[first].astype(np.int64),
                "timestamp": ts,
            }
        )
        for col in self.available:
            out[col] = ev[col].astype(object).to_numpy()[first]
            out[col] = out[col].fillna("unknown")
        out["daypart"] = daypart_of(ts)
        out["weekend"] = np.where(ts.weekday >= 5, "weekend", "weekday")
        return out

    @staticmethod
    def _sessions(ev: pd.DataFrame, cust: np.ndarray) -> np.ndarray:
        day = ev["timestamp"].dt.strftime("%Y-%m-%d").to_numpy(dtype=object)
        fallback = cust.astype(str) + "@" + day.astype(str)
        if "session_id" not in ev.columns:
            return fallback.astype(object)
        sess = ev["session_id"].astype(object).to_numpy()
        return np.where(pd.isna(sess), fallback, cust.astype(str) + "/" + sess.astype(str)).astype(
            object
        )

    def _aligned_products(self, products: pd.DataFrame | None) -> pd.DataFrame | None:
        if products is None or "product_id" not in products.columns:
            return None
        p = products.drop_duplicates("product_id").set_index(
            products.drop_duplicates("product_id")["product_id"].astype(object)
        )
        return p.reindex(self.product_ids).reset_index(drop=True)
