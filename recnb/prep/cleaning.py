"""Cleaning the event log: unknown references, returns, duplicates; the bot rule.

Each step is a function that takes the events table and returns the rows it keeps plus a record of how
many rows it removed and why; :func:`clean` runs them in a fixed order and returns the cleaned
:class:`~recnb.data.schema.Dataset` with a removal table (one row per step, zero rows included, so the
report shows every check that ran). Row order is preserved everywhere: some splits (Microsoft
Recommenders' stratified split) depend on it.

Order: unknown references -> returns -> exact duplicates -> near duplicates. Returns come first so that
netting sees every purchase line before duplicates are collapsed.

Every step here decides on an event's own content or on earlier events only, so no event can remove an
earlier one. The rules that would let a later event change who or what is trained on run in the split,
on each training part's own events (:func:`recnb.prep.split.build_split`): the bot filter
(:func:`bot_customers`) and the k-core there, and the netting of returns, which this module only
prepares (a purchase gets the time it was returned; the split drops it from the parts that end after).
Exact duplicates share their timestamp, and a near duplicate is removed because of an earlier event,
never a later one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recnb.data.schema import Dataset

RETURN_MODES = ("net", "drop")


@dataclass(frozen=True)
class Removal:
    """What one cleaning step removed."""

    step: str
    rows: int
    reason: str
    customers: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "step": self.step,
            "rows": self.rows,
            "customers": self.customers,
            "reason": self.reason,
        }


def _codes(col: pd.Series) -> np.ndarray:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.codes.to_numpy().astype(np.int64)
    return pd.factorize(col, sort=False)[0].astype(np.int64)


def _ns(ts: pd.Series) -> np.ndarray:
    return ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def return_mask(events: pd.DataFrame) -> np.ndarray:
    """Rows that are returns or cancellations.

    A boolean ``is_return`` column decides when present; otherwise a purchase with a negative
    ``value`` (quantity), as in Online Retail's ``C`` invoices, is a return.
    """
    if "is_return" in events.columns:
        return events["is_return"].fillna(False).to_numpy(dtype=bool)
    if "value" not in events.columns:
        return np.zeros(len(events), dtype=bool)
    val = events["value"].to_numpy(dtype=float)
    return (events["event"] == "purchase").to_numpy() & (val < 0)


def drop_unknown_references(
    events: pd.DataFrame, products: pd.DataFrame, customers: pd.DataFrame
) -> tuple[pd.DataFrame, list[Removal]]:
    """Drop events whose product or customer is not in the catalogue / customer table."""
    out: list[Removal] = []
    keep = np.ones(len(events), dtype=bool)
    for key, table, what in (
        ("product_id", products, "product"),
        ("customer_id", customers, "customer"),
    ):
        col = events[key]
        known = pd.Index(table[key].astype(str))
        if isinstance(col.dtype, pd.CategoricalDtype):
            ok_cat = col.cat.categories.astype(str).isin(known)
            codes = col.cat.codes.to_numpy()
            ok = np.where(codes >= 0, ok_cat[np.maximum(codes, 0)], False)
        else:
            ok = col.astype(str).isin(known).to_numpy()
        bad = keep & ~ok
        out.append(
            Removal(
                f"unknown {what}s",
                int(bad.sum()),
                f"event refers to a {what} id missing from the {what}s table",
            )
        )
        keep &= ok
    return events[keep], out


RETURNED_AT = "returned_at"
"""Events column written by :func:`handle_returns` (mode ``"net"``): when a purchase was returned."""


def returned_at(
    keys: np.ndarray,
    times: np.ndarray,
    is_purchase: np.ndarray,
    is_return: np.ndarray,
    quantity: np.ndarray,
) -> np.ndarray:
    """When each purchase line was sent back: the first return of its pair that catches up.

    For a customer-product pair, purchases add their quantity and returns subtract theirs, in time
    order (a purchase before a return at the same instant). A purchase counts as returned at the
    first return, at or after it, that brings the pair's running balance to zero or below: by then
    everything bought so far had been sent back. A purchase after that point starts afresh.

    Parameters
    ----------
    keys : numpy.ndarray of int
        Pair code of each event.
    times : numpy.ndarray of datetime64
        Event times.
    is_purchase, is_return : numpy.ndarray of bool
        Purchase lines and return lines (other rows are ignored).
    quantity : numpy.ndarray of float
        Quantity of each line (positive).

    Returns
    -------
    numpy.ndarray of datetime64[ns]
        Per row: the time the purchase counts as returned; NaT for rows that are not purchases or
        were never (fully) returned.
    """
    n = len(keys)
    out = np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    sel = np.flatnonzero(is_purchase | is_return)
    if len(sel) == 0:
        return out
    k = np.asarray(keys, dtype=np.int64)[sel]
    t = np.asarray(times, dtype="datetime64[ns]").astype(np.int64)[sel]
    r = np.asarray(is_return, dtype=bool)[sel]
    order = np.lexsort((r, t, k))  # by pair, then time, purchases first at equal times
    k, t, r = k[order], t[order], r[order]
    delta = np.where(r, -1.0, 1.0) * np.asarray(quantity, dtype=np.float64)[sel][order]
    start = np.r_[True, k[1:] != k[:-1]]
    csum = np.cumsum(delta)
    before_group = np.where(start, csum - delta, np.nan)
    balance = csum - pd.Series(before_group).ffill().to_numpy()
    never = np.iinfo(np.int64).max
    caught_up = np.where(r & (balance <= 1e-9), t, never)
    # the first catch-up at or after each row, within its pair: a reversed running minimum
    nxt = pd.Series(caught_up[::-1]).groupby(k[::-1]).cummin().to_numpy()[::-1]
    when = np.where(~r & (nxt < never), nxt, np.iinfo(np.int64).min)  # min int64 is NaT
    out[sel[order]] = when.astype("datetime64[ns]")
    return out


def handle_returns(events: pd.DataFrame, mode: str = "net") -> tuple[pd.DataFrame, list[Removal]]:
    """Drop return and cancellation rows; with ``"net"``, mark the purchases they cancel.

    Parameters
    ----------
    events : pandas.DataFrame
        Events; returns are found with :func:`return_mask`.
    mode : {"net", "drop"}
        ``"drop"`` removes the return rows only. ``"net"`` also nets them against the purchases of
        the same customer and product (quantity: absolute ``value``, 1 when missing): each purchase
        line gets the time it was returned (:func:`returned_at`) in a column ``returned_at`` (NaT:
        kept), and no purchase is removed here. Whether a purchase is gone depends on the part
        that holds it: :func:`recnb.prep.split.build_split` drops it from each part whose end comes
        after the return (a training part never learns of a return after its own end).

    Returns
    -------
    (pandas.DataFrame, list of Removal)
    """
    if mode not in RETURN_MODES:
        raise ValueError(f"returns must be one of {RETURN_MODES}, got {mode!r}")
    ret = return_mask(events)
    removals = [Removal("returns / cancellations", int(ret.sum()), f"return rows removed ({mode})")]
    keep = ~ret
    if mode == "net" and ret.any():
        purchase = (events["event"] == "purchase").to_numpy() & ~ret
        qty = (
            events["value"].to_numpy(dtype=float)
            if "value" in events.columns
            else np.ones(len(events))
        )
        qty = np.where(np.isnan(qty), 1.0, np.abs(qty))
        c = _codes(events["customer_id"])
        p = _codes(events["product_id"])
        key = c * (int(p.max()) + 1) + p
        when = returned_at(key, events["timestamp"].to_numpy(), purchase, ret, qty)
        marked = int((~np.isnat(when)).sum())
        removals.append(
            Removal(
                "purchases fully returned",
                0,
                f"none removed here: {marked} purchase line(s) marked with the time their returns "
                "caught up (column returned_at); the split drops each from the parts that end "
                "after that time",
            )
        )
        out = events[keep].copy()
        out[RETURNED_AT] = when[keep]
        return out, removals
    return events[keep], removals


def drop_exact_duplicates(events: pd.DataFrame) -> tuple[pd.DataFrame, list[Removal]]:
    """Drop rows identical to an earlier row in every column (the first is kept)."""
    dup = events.duplicated(keep="first").to_numpy()
    return events[~dup], [
        Removal("exact duplicates", int(dup.sum()), "row identical to an earlier row")
    ]


def drop_near_duplicates(
    events: pd.DataFrame, window_seconds: float
) -> tuple[pd.DataFrame, list[Removal]]:
    """Drop an event when the same customer did the same event on the same product shortly before.

    An event is a near duplicate when the previous event with the same (customer, product, event)
    happened at most ``window_seconds`` earlier; the first of a burst is kept. ``window_seconds <= 0``
    turns the step off.
    """
    if window_seconds <= 0 or len(events) == 0:
        return events, [
            Removal("near duplicates", 0, "off (dedup window is 0 seconds)"),
        ]
    c = _codes(events["customer_id"])
    p = _codes(events["product_id"])
    e = events["event"].cat.codes.to_numpy().astype(np.int64)
    t = _ns(events["timestamp"])
    order = np.lexsort((np.arange(len(t)), t, e, p, c))
    cs, ps, es, ts = c[order], p[order], e[order], t[order]
    same = np.zeros(len(t), dtype=bool)
    same[1:] = (cs[1:] == cs[:-1]) & (ps[1:] == ps[:-1]) & (es[1:] == es[:-1])
    gap = np.zeros(len(t), dtype=np.int64)
    gap[1:] = ts[1:] - ts[:-1]
    dup_sorted = same & (gap <= int(round(window_seconds * 1e9)))
    dup = np.zeros(len(t), dtype=bool)
    dup[order] = dup_sorted
    return events[~dup], [
        Removal(
            "near duplicates",
            int(dup.sum()),
            f"same customer, product and event within {window_seconds:g} s of the previous one",
        )
    ]


def bot_customers(
    customers: np.ndarray,
    timestamps: np.ndarray,
    max_events_per_day: int,
    n_customers: int | None = None,
) -> np.ndarray:
    """Customers whose busiest calendar day (UTC) has more than ``max_events_per_day`` events.

    The rule of the bot filter; :func:`recnb.prep.split.build_split` applies it to each training part on
    that part's own events, so who stays in training never depends on test-period events.

    Parameters
    ----------
    customers : numpy.ndarray of int
        Customer code of each event (``>= 0``).
    timestamps : numpy.ndarray of datetime64
        Time of each event.
    max_events_per_day : int
        Threshold; ``<= 0`` turns the filter off (no customer is flagged).
    n_customers : int, optional
        Number of customer codes (default: max code + 1).

    Returns
    -------
    numpy.ndarray of bool
        Per customer code: flagged as a bot.
    """
    c = np.asarray(customers, dtype=np.int64)
    n = int(n_customers) if n_customers is not None else (int(c.max()) + 1 if len(c) else 0)
    flagged = np.zeros(n, dtype=bool)
    if max_events_per_day <= 0 or len(c) == 0:
        return flagged
    day = np.asarray(timestamps, dtype="datetime64[ns]").astype(np.int64) // (86_400 * 10**9)
    day = day - day.min()
    n_days = int(day.max()) + 1
    ukey, counts = np.unique(c * n_days + day, return_counts=True)
    peak = np.zeros(n, dtype=np.int64)
    np.maximum.at(peak, ukey // n_days, counts)
    return peak > max_events_per_day


def clean(
    ds: Dataset,
    *,
    dedup_window_seconds: float = 0.0,
    returns: str = "net",
) -> tuple[Dataset, pd.DataFrame]:
    """Run every cleaning step and report what each removed.

    Parameters
    ----------
    ds : Dataset
        A validated, privacy-scrubbed dataset.
    dedup_window_seconds : float
        Near-duplicate window (see :func:`drop_near_duplicates`); 0 keeps near duplicates.
    returns : {"net", "drop"}
        How returns and cancellations are handled (see :func:`handle_returns`).

    Returns
    -------
    (Dataset, pandas.DataFrame)
        The cleaned dataset (a note per step with removed rows) and the removal table with columns
        ``step, rows, customers, reason, rows_after``.
    """
    events = ds.events
    records: list[dict[str, object]] = []

    def log(rem: list[Removal], n_after: int) -> None:
        for r in rem:
            records.append({**r.as_dict(), "rows_after": n_after})

    events, rem = drop_unknown_references(events, ds.products, ds.customers)
    log(rem, len(events))
    events, rem = handle_returns(events, returns)
    log(rem, len(events))
    events, rem = drop_exact_duplicates(events)
    log(rem, len(events))
    events, rem = drop_near_duplicates(events, dedup_window_seconds)
    log(rem, len(events))

    events = events.reset_index(drop=True)
    if isinstance(events["customer_id"].dtype, pd.CategoricalDtype):
        events["customer_id"] = events["customer_id"].cat.remove_unused_categories()
    if isinstance(events["product_id"].dtype, pd.CategoricalDtype):
        events["product_id"] = events["product_id"].cat.remove_unused_categories()
    table = pd.DataFrame(records, columns=["step", "rows", "customers", "reason", "rows_after"])
    notes = list(ds.notes) + [
        {"step": f"cleaning: {r['step']}", "rows": int(r["rows"]), "reason": str(r["reason"])}
        for r in records
        if r["rows"]
    ]
    out = Dataset(
        name=ds.name,
        customers=ds.customers,
        products=ds.products,
        events=events,
        notes=notes,
        meta=dict(ds.meta),
    )
    return out, table
