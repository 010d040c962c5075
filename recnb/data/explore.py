"""Data understanding: the descriptive tables behind notebook 01.

Each function takes a :class:`~recnb.data.schema.Dataset` and returns a tidy table (the sentences a
reader takes away from them are in :mod:`recnb.reporting.narrative.data`). A function whose input
columns a source lacks returns ``None`` and :func:`missing_columns` says why, so the report states it
instead of failing. It lives in the data layer because it reads nothing but the data model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recnb.data.schema import EVENT_TYPES, Dataset


def missing_columns(ds: Dataset, table: str, columns: list[str]) -> list[str]:
    """The columns of ``columns`` that ``table`` lacks (or holds only missing values in)."""
    df = ds.table(table)
    return [c for c in columns if c not in df.columns or df[c].isna().all()]


def loader_notes(ds: Dataset) -> pd.DataFrame:
    """What the loader, the validation and the privacy scrub did: ``step, rows, reason``."""
    return pd.DataFrame(ds.notes, columns=["step", "rows", "reason"])


def overview(ds: Dataset) -> pd.DataFrame:
    """Headline sizes: customers, products, events, active customers/products, period, density."""
    ev = ds.events
    n_c, n_p = len(ds.customers), len(ds.products)
    pairs = ev.groupby(["customer_id", "product_id"], observed=True).size()
    active_c = ev["customer_id"].nunique()
    active_p = ev["product_id"].nunique()
    rows = [
        ("customers", n_c),
        ("products", n_p),
        ("events", len(ev)),
        ("customers with events", active_c),
        ("products with events", active_p),
        ("distinct customer-product pairs", len(pairs)),
        ("first event", ev["timestamp"].min()),
        ("last event", ev["timestamp"].max()),
        ("days covered", (ev["timestamp"].max() - ev["timestamp"].min()).days + 1),
        ("density of customer x product matrix", len(pairs) / max(active_c * active_p, 1)),
    ]
    if "session_id" in ev.columns:
        rows.append(("sessions", ev["session_id"].nunique()))
    return pd.DataFrame(rows, columns=["measure", "value"])


def funnel(ds: Dataset) -> pd.DataFrame:
    """Events per type in funnel order, with share of views and distinct customers per type."""
    ev = ds.events
    counts = ev["event"].value_counts().reindex(list(EVENT_TYPES), fill_value=0)
    custs = ev.groupby("event", observed=False)["customer_id"].nunique().reindex(list(EVENT_TYPES))
    out = pd.DataFrame(
        {
            "event": list(EVENT_TYPES),
            "events": counts.to_numpy(),
            "customers": custs.fillna(0).astype(int).to_numpy(),
        }
    )
    views = out.loc[out["event"] == "view", "events"].iloc[0]
    out["per_100_views"] = 100 * out["events"] / views if views else np.nan
    return out[out["events"] > 0].reset_index(drop=True)


def long_tail(ds: Dataset, by: str = "product_id") -> pd.DataFrame:
    """Events per product (or customer), sorted, with rank and cumulative share (for log-log plots)."""
    counts = ds.events.groupby(by, observed=True).size().sort_values(ascending=False)
    n = counts.to_numpy()
    return pd.DataFrame(
        {
            by: counts.index.astype(str),
            "events": n,
            "rank": np.arange(1, len(n) + 1),
            "cum_share": np.cumsum(n) / n.sum(),
        }
    )


def head_share(tail: pd.DataFrame, top_fraction: float = 0.2) -> float:
    """Share of events taken by the top ``top_fraction`` of a :func:`long_tail` table."""
    k = max(1, int(np.ceil(top_fraction * len(tail))))
    return float(tail["events"].iloc[:k].sum() / tail["events"].sum())


def categories(ds: Dataset, level: int = 1) -> pd.DataFrame | None:
    """Products and events per category at a level of the category path (1 = top level)."""
    if missing_columns(ds, "products", ["category"]):
        return None
    cat = ds.products.set_index("product_id")["category"].astype(str)
    top = cat.str.split("/").str[:level].str.join("/")
    prods = top.value_counts()
    ev_cat = ds.events["product_id"].map(top)
    evs = ev_cat.value_counts()
    out = pd.DataFrame({"products": prods, "events": evs}).fillna(0).astype(int)
    out.index.name = "category"
    return out.sort_values("events", ascending=False).reset_index()


def prices(ds: Dataset) -> pd.DataFrame | None:
    """Price quantiles per top-level category (or overall when categories are absent)."""
    if missing_columns(ds, "products", ["price"]):
        return None
    p = ds.products.dropna(subset=["price"])
    if "category" in p.columns and p["category"].notna().any():
        key = p["category"].astype(str).str.split("/").str[0]
    else:
        key = pd.Series("all", index=p.index)
    q = p.groupby(key)["price"].describe(percentiles=[0.1, 0.5, 0.9])
    q.index.name = "category"
    return q[["count", "10%", "50%", "90%", "max"]].reset_index()


def ratings(ds: Dataset) -> pd.DataFrame | None:
    """Distribution of rating values (rating events), or None when the source has none."""
    ev = ds.events
    r = ev[ev["event"] == "rating"]
    if r.empty or "value" not in ev.columns:
        return None
    counts = r["value"].round(1).value_counts().sort_index()
    return pd.DataFrame({"rating": counts.index, "events": counts.to_numpy()})


def hour_by_device(ds: Dataset) -> pd.DataFrame | None:
    """Events per hour of day (rows) and device (columns); None when the source has no device."""
    if missing_columns(ds, "events", ["device"]):
        return None
    ev = ds.events
    t = pd.crosstab(ev["timestamp"].dt.hour, ev["device"].astype(str))
    t.index.name = "hour"
    return t.reindex(range(24), fill_value=0)


def hour_of_day(ds: Dataset) -> pd.DataFrame:
    """Share of events per hour of day."""
    h = ds.events["timestamp"].dt.hour.value_counts().reindex(range(24), fill_value=0)
    return pd.DataFrame(
        {"hour": range(24), "events": h.to_numpy(), "share": h.to_numpy() / h.sum()}
    )


def session_lengths(ds: Dataset) -> pd.DataFrame | None:
    """Events per session and session duration in minutes; None without session ids."""
    if missing_columns(ds, "events", ["session_id"]):
        return None
    g = ds.events.groupby("session_id", observed=True)["timestamp"]
    out = pd.DataFrame({"events": g.size(), "minutes": (g.max() - g.min()).dt.total_seconds() / 60})
    return out.reset_index(drop=True)


def session_summary(sessions: pd.DataFrame) -> pd.DataFrame:
    """Count, mean, spread and the 50th / 90th percentiles of :func:`session_lengths`.

    Returns
    -------
    pandas.DataFrame
        One row per statistic (``index``: count, mean, std, min, 50%, 90%, max), columns
        ``events`` and ``minutes``.
    """
    return sessions.describe(percentiles=[0.5, 0.9]).reset_index()


def device_shares(by_hour: pd.DataFrame) -> pd.Series:
    """Share of all events per device, from :func:`hour_by_device`."""
    return by_hour.sum() / by_hour.to_numpy().sum()


def daily_activity(ds: Dataset) -> pd.DataFrame:
    """Events per day and type (for the timeline plot)."""
    ev = ds.events
    t = pd.crosstab(ev["timestamp"].dt.floor("D"), ev["event"].astype(str))
    t.index.name = "day"
    return t


def customer_attributes(ds: Dataset, min_count: int = 10) -> dict[str, pd.DataFrame]:
    """Counts of customers per demographic attribute; groups under ``min_count`` are merged.

    Groups under ``min_count`` are merged into one ``other`` row, whose count is itself replaced by
    ``"<min_count"`` when the merged total is still below the minimum: no report row gives the exact
    size of a group of fewer than ``min_count`` customers.
    """
    out = {}
    for col in ("age_band", "gender", "region", "country", "device"):
        if col in ds.customers.columns and ds.customers[col].notna().any():
            vc = ds.customers[col].astype(str).value_counts()
            small = vc < min_count
            table = vc[~small].rename("customers").rename_axis(col).reset_index()
            table["customers"] = table["customers"].astype(object)
            if small.any():
                merged = int(vc[small].sum())
                label = f"other ({int(small.sum())} groups of <{min_count})"
                # the merged row is shown only if it is itself large enough
                table.loc[len(table)] = [label, merged if merged >= min_count else f"<{min_count}"]
            out[col] = table
    return out
