"""What is monitored: the day x bin count tables of the inputs and outputs of a recommender.

Inputs (from the event log):

- ``event_mix``: active customers of the day per event type they had (a change of how customers
  use the shop, or of tracking);
- ``category_mix``: active customers of the day per top-level product category they touched (a
  change of taste or assortment);
- ``new_customer_share``: active customers of the day split into new and returning (a marketing
  campaign, an outage of sign-ups). New means signed up within ``new_days`` days before the day
  when the customers table has ``signup_date``, otherwise first seen in the log within
  ``new_days`` days (which falls over the log's first ``new_days`` days by construction).

Both mixes count a (customer, day, bin) once by default (``per_customer_day``): counting raw events
lets one very active customer's session move a whole day, which is noise, not drift.

Output (from the recommended lists):

- ``exposure``: recommended slots per top-level category of the products shown.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recnb.monitoring.drift import daily_counts

__all__ = [
    "INPUT_FEATURES",
    "event_days",
    "exposure_counts",
    "input_counts",
    "top_category",
]

INPUT_FEATURES: tuple[str, ...] = ("event_mix", "category_mix", "new_customer_share")
"""The input features of :func:`input_counts`, in order."""


def event_days(timestamps: pd.Series | np.ndarray, start: pd.Timestamp | None = None) -> np.ndarray:
    """Whole days since ``start`` (default: midnight of the first timestamp) of each event."""
    ts = pd.to_datetime(pd.Series(timestamps))
    if ts.isna().any():
        raise ValueError(f"events.timestamp: {int(ts.isna().sum())} missing timestamp(s)")
    origin = ts.min().normalize() if start is None else pd.Timestamp(start).normalize()
    return ((ts - origin) // pd.Timedelta(days=1)).to_numpy(dtype=np.int64)


def top_category(products: pd.DataFrame) -> pd.Series:
    """Top-level category (before the first ``/``) per product id; ``"unknown"`` where missing."""
    if "category" not in products.columns:
        return pd.Series("unknown", index=products["product_id"].astype(str).to_numpy())
    cat = products["category"].astype(object).where(products["category"].notna(), "unknown")
    top = cat.astype(str).str.split("/", n=1).str[0]
    return pd.Series(top.to_numpy(), index=products["product_id"].astype(str).to_numpy())


def input_counts(
    events: pd.DataFrame,
    products: pd.DataFrame,
    customers: pd.DataFrame | None = None,
    start: pd.Timestamp | None = None,
    new_days: int = 30,
    features: Sequence[str] = INPUT_FEATURES,
    per_customer_day: bool = True,
) -> dict[str, pd.DataFrame]:
    """Day x bin count tables of the input features (see the module docstring).

    Parameters
    ----------
    events : pandas.DataFrame
        ``customer_id``, ``product_id``, ``timestamp``, ``event``.
    products : pandas.DataFrame
        ``product_id`` and ``category`` (a path such as ``home/kitchen``; absent: one bin).
    customers : pandas.DataFrame, optional
        ``customer_id`` and ``signup_date`` (used for new customers when present).
    start : Timestamp, optional
        Day 0 (default: the first event's midnight).
    new_days : int
        How recent a sign-up (or first visit) makes a customer new.
    features : sequence of str
        Which of :data:`INPUT_FEATURES` to build.
    per_customer_day : bool
        Count each (customer, day, bin) once in the event and category mixes (default): one very
        active customer's long session then moves a day's mix as much as one ordinary visitor,
        so days vary less for reasons that are not drift. False counts every event.

    Returns
    -------
    dict of str to pandas.DataFrame
        Feature -> day x bin counts over every day from day 0 to the last event.
    """
    unknown = sorted(set(features) - set(INPUT_FEATURES))
    if unknown:
        raise ValueError(f"features: unknown {unknown}; choose from {list(INPUT_FEATURES)}")
    for col in ("customer_id", "product_id", "timestamp", "event"):
        if col not in events.columns:
            raise ValueError(f"events: column {col!r} is missing")
    day = event_days(events["timestamp"], start)
    days = range(0, int(day.max()) + 1) if len(day) else range(0)
    cid_all = events["customer_id"].astype(str).to_numpy()

    def counts(values: np.ndarray, bins: list | None) -> pd.DataFrame:
        if not per_customer_day:
            return daily_counts(day, values, bins, days)
        t = pd.DataFrame({"c": cid_all, "d": day, "v": values}).drop_duplicates()
        return daily_counts(t["d"].to_numpy(), t["v"].to_numpy(dtype=object), bins, days)

    out: dict[str, pd.DataFrame] = {}
    if "event_mix" in features:
        ev = events["event"]
        cats = list(ev.cat.categories) if isinstance(ev.dtype, pd.CategoricalDtype) else None
        out["event_mix"] = counts(ev.astype(object).to_numpy(), cats)
    if "category_mix" in features:
        top = top_category(products)
        pid = events["product_id"].astype(str).to_numpy()
        cat = top.reindex(pid).to_numpy(dtype=object)
        cat = np.where(pd.isna(cat), "unknown", cat)
        bins = sorted(set(top.unique()) | ({"unknown"} if (cat == "unknown").any() else set()))
        out["category_mix"] = counts(cat, bins)
    if "new_customer_share" in features:
        cid = events["customer_id"].astype(str).to_numpy()
        active = pd.DataFrame({"c": cid, "day": day}).drop_duplicates()
        origin = pd.to_datetime(events["timestamp"]).min().normalize() if start is None else start
        if customers is not None and "signup_date" in customers.columns:
            su = pd.to_datetime(customers["signup_date"])
            su_day = pd.Series(
                ((su - pd.Timestamp(origin).normalize()) / pd.Timedelta(days=1)).to_numpy(),
                index=customers["customer_id"].astype(str).to_numpy(),
            )
            since = active["day"].to_numpy() - su_day.reindex(active["c"]).to_numpy()
        else:
            first = active.groupby("c")["day"].transform("min").to_numpy()
            since = active["day"].to_numpy() - first
        is_new = np.where(np.isnan(since.astype(float)), False, since < new_days)
        label = np.where(is_new, "new", "returning")
        out["new_customer_share"] = daily_counts(
            active["day"].to_numpy(), label, ["new", "returning"], days
        )
    return out


def exposure_counts(
    day: np.ndarray,
    lists: np.ndarray,
    product_category: np.ndarray,
    categories: Sequence[str],
    days: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Day x category counts of recommended slots.

    Parameters
    ----------
    day : numpy.ndarray of int, shape (n,)
        The day each list was served.
    lists : numpy.ndarray of int, shape (n, k)
        Product indices per list (``-1`` marks an empty slot).
    product_category : numpy.ndarray of str
        Category of each product index.
    categories : sequence of str
        The bins.
    days : sequence of int, optional
        Days of the table.
    """
    lists = np.asarray(lists)
    d = np.repeat(np.asarray(day, dtype=np.int64), lists.shape[1])
    flat = lists.ravel()
    keep = flat >= 0
    cats = np.asarray(product_category, dtype=object)[flat[keep]]
    return daily_counts(d[keep], cats, list(categories), days)
