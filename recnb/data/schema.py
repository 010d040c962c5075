"""The data model every source is mapped into: customers, products and events.

A :class:`Dataset` holds the three tables as pandas DataFrames. :func:`validate_dataset` is the single
gate every source passes through (synthetic shop and real loaders alike): it coerces dtypes and
rejects bad input with a :class:`SchemaError` naming the table, the column, an example bad value and
its row. :func:`save_dataset` and :func:`load_dataset` write and read a dataset folder (Parquet tables
and ``dataset.json``).

Conventions
-----------
- ``customer_id`` and ``product_id`` are strings (object dtype, or a categorical of strings in the
  events table, which saves memory on large logs).
- ``timestamp`` is a naive ``datetime64[ns]`` in the shop's local wall-clock time.
- ``event`` is one of :data:`EVENT_TYPES`, stored as an ordered categorical (funnel order).
- A column a source lacks is absent, never invented. Only the columns in ``REQUIRED`` are required.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recnb.data.io import read_json, write_json, write_parquet

EVENT_TYPES: tuple[str, ...] = ("view", "click", "add_to_cart", "wishlist", "purchase", "rating")
"""Allowed event types, in funnel order."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("customer_id",),
    "products": ("product_id",),
    "events": ("customer_id", "product_id", "timestamp", "event"),
}

# Optional columns and their logical kind. Columns not listed here are kept as they are.
OPTIONAL: dict[str, dict[str, str]] = {
    "customers": {
        "age_band": "category",
        "gender": "category",
        "region": "category",
        "country": "category",
        "device": "category",  # preferred / home device
        "signup_date": "datetime",
        # raw personal data: present only before the privacy step
        "name": "string",
        "email": "string",
        "phone": "string",
        "address": "string",
        "postcode": "string",
        "age": "number",
    },
    "products": {
        "category": "string",  # a path such as "home/kitchen"
        "brand": "string",
        "price": "price",
        "avg_rating": "number",
        "rating_count": "number",
        "description": "string",
        "title": "string",
    },
    "events": {
        "value": "number",  # rating (for event == "rating") or quantity
        "dwell_seconds": "nonneg",
        "session_id": "string",
        "device": "category",
        "location": "category",
        "price_paid": "price",
    },
}

# Direct identifiers: the privacy step removes these before any other step sees the data.
PERSONAL_COLUMNS: tuple[str, ...] = ("name", "email", "phone", "address")

TABLES: tuple[str, ...] = ("customers", "products", "events")


class SchemaError(ValueError):
    """Raised when a table does not fit the data model; the message names table, column, value, row."""


@dataclass
class Dataset:
    """Customers, products and events of one shop, plus what the loader did to get there.

    Parameters
    ----------
    name : str
        Short name of the source (``"synthetic"``, ``"online_retail"``...).
    customers, products, events : pandas.DataFrame
        The three tables of the data model.
    notes : list of dict
        What the loader dropped or changed and why, one dict per step with keys ``step``, ``rows``
        and ``reason``. Shown in the data-understanding report.
    meta : dict
        Free-form provenance (file paths, seed, licence, citation).
    """

    name: str
    customers: pd.DataFrame
    products: pd.DataFrame
    events: pd.DataFrame
    notes: list[dict[str, Any]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> pd.DataFrame:
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; tables are {TABLES}")
        return getattr(self, name)

    def fingerprint(self) -> str:
        """SHA-256 over the content of the three tables (column names, dtypes and values)."""
        h = hashlib.sha256()
        for t in TABLES:
            df = self.table(t)
            h.update(t.encode())
            h.update(repr([(c, str(df[c].dtype)) for c in df.columns]).encode())
            if len(df):
                h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
        return h.hexdigest()

    def summary(self) -> pd.DataFrame:
        """One row per table: rows and columns."""
        return pd.DataFrame(
            [
                {
                    "table": t,
                    "rows": len(self.table(t)),
                    "columns": ", ".join(self.table(t).columns),
                }
                for t in TABLES
            ]
        )

    def add_note(self, step: str, rows: int, reason: str) -> None:
        self.notes.append({"step": step, "rows": int(rows), "reason": reason})


# ----------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------


def _row_label(df: pd.DataFrame, pos: int) -> str:
    return f"row {df.index[pos]!r}"


def _bad(table: str, column: str, df: pd.DataFrame, mask: np.ndarray, what: str) -> SchemaError:
    positions = np.flatnonzero(mask)
    pos = int(positions[0])
    value = df[column].iloc[pos]
    if isinstance(value, np.generic):  # shown as a plain number, not np.float64(...)
        value = value.item()
    return SchemaError(
        f"{table}.{column}: {what}; {len(positions)} bad row(s), e.g. value {value!r} at "
        f"{_row_label(df, pos)}"
    )


def _coerce_id(table: str, column: str, df: pd.DataFrame) -> pd.Series:
    s = df[column]
    if isinstance(s.dtype, pd.CategoricalDtype):
        cats = s.cat.categories
        if not (pd.api.types.is_object_dtype(cats) or pd.api.types.is_string_dtype(cats)):
            s = s.cat.rename_categories([str(c) for c in cats])
        missing = s.isna().to_numpy()
        if missing.any():
            raise _bad(table, column, df, missing, "missing id")
        return s
    missing = s.isna().to_numpy()
    if missing.any():
        raise _bad(table, column, df, missing, "missing id")
    if pd.api.types.is_float_dtype(s):
        frac = (s.to_numpy() % 1) != 0
        if frac.any():
            raise _bad(table, column, df, frac, "ids must be strings or whole numbers")
        s = s.astype("int64")
    if pd.api.types.is_integer_dtype(s) or pd.api.types.is_bool_dtype(s):
        return s.astype(str).astype(object)
    if pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
        vals = s.to_numpy(dtype=object)
        notstr = np.fromiter((not isinstance(v, str) for v in vals), bool, len(vals))
        if notstr.any():
            # numbers mixed into a string column: turn them into their string form
            s = s.map(lambda v: v if isinstance(v, str) else _num_to_id(v, table, column))
        empty = (s.str.len() == 0).to_numpy()
        if empty.any():
            raise _bad(table, column, df, empty, "empty id")
        return s.astype(object)
    raise SchemaError(
        f"{table}.{column}: ids must be strings or integers, got dtype {s.dtype} "
        f"(e.g. value {s.iloc[0]!r} at {_row_label(df, 0)})"
    )


def _num_to_id(v: Any, table: str, column: str) -> str:
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    raise SchemaError(f"{table}.{column}: id value {v!r} is neither a string nor a whole number")


def _coerce_number(table: str, column: str, df: pd.DataFrame, kind: str) -> pd.Series:
    s = df[column]
    num = pd.to_numeric(s, errors="coerce")
    unparsable = (num.isna() & s.notna()).to_numpy()
    if unparsable.any():
        raise _bad(table, column, df, unparsable, "not a number")
    num = num.astype("float64")
    vals = num.to_numpy()
    infinite = np.isinf(vals)  # NaN is a missing value; an infinity is no measurement
    if infinite.any():
        raise _bad(table, column, df, infinite, "infinite value (missing values are NaN)")
    if kind in ("price", "nonneg"):
        negative = vals < 0
        if negative.any():
            what = "negative price" if kind == "price" else "negative value"
            raise _bad(table, column, df, negative, what)
    return num


def _coerce_datetime(table: str, column: str, df: pd.DataFrame) -> pd.Series:
    s = df[column]
    if pd.api.types.is_datetime64_any_dtype(s):
        if getattr(s.dt, "tz", None) is not None:
            s = s.dt.tz_localize(None)
        out = s.astype("datetime64[ns]")
    elif pd.api.types.is_numeric_dtype(s):
        raise SchemaError(
            f"{table}.{column}: expected datetimes, got numbers (dtype {s.dtype}, e.g. "
            f"{s.iloc[0]!r} at {_row_label(df, 0)}); convert epoch seconds with "
            f"pd.to_datetime(x, unit='s') in the loader"
        )
    else:
        out = pd.to_datetime(s, errors="coerce", format="mixed")
        unparsable = (out.isna() & s.notna()).to_numpy()
        if unparsable.any():
            raise _bad(table, column, df, unparsable, "unparsable timestamp")
        if getattr(out.dt, "tz", None) is not None:
            out = out.dt.tz_localize(None)
        out = out.astype("datetime64[ns]")
    if table == "events" and column == "timestamp":
        missing = out.isna().to_numpy()
        if missing.any():
            raise _bad(table, column, df, missing, "missing timestamp")
    return out


def _validate_table(table: str, df: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise SchemaError(f"{table}: expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise SchemaError(f"{table}: table is empty")
    dup_cols = df.columns[df.columns.duplicated()]
    if len(dup_cols):
        raise SchemaError(f"{table}: duplicate column name(s) {list(dup_cols)}")
    missing = [c for c in REQUIRED[table] if c not in df.columns]
    if missing:
        raise SchemaError(
            f"{table}: missing required column(s) {missing}; required are {list(REQUIRED[table])}, "
            f"found {list(df.columns)}"
        )
    df = df.reset_index(drop=True).copy()
    for col in ("customer_id", "product_id"):
        if col in df.columns and col in REQUIRED[table]:
            df[col] = _coerce_id(table, col, df)
    for col, kind in OPTIONAL[table].items():
        if col not in df.columns:
            continue
        if kind in ("number", "price", "nonneg"):
            df[col] = _coerce_number(table, col, df, kind)
        elif kind == "datetime":
            df[col] = _coerce_datetime(table, col, df)
        elif kind == "category":
            if not isinstance(df[col].dtype, pd.CategoricalDtype):
                df[col] = df[col].astype("category")
        elif kind == "string":
            if not (pd.api.types.is_object_dtype(df[col]) or pd.api.types.is_string_dtype(df[col])):
                df[col] = df[col].astype(object).where(df[col].notna(), None)
                df[col] = df[col].map(lambda v: v if v is None else str(v))
    if table == "events":
        df["timestamp"] = _coerce_datetime(table, "timestamp", df)
        ev = df["event"]
        ev_str = ev.astype(object) if isinstance(ev.dtype, pd.CategoricalDtype) else ev
        unknown = ~ev_str.isin(EVENT_TYPES).to_numpy()
        if unknown.any():
            bad_vals = sorted({str(v) for v in ev_str[unknown].unique()})[:5]
            raise SchemaError(
                f"events.event: unknown event type(s) {bad_vals}; allowed are {list(EVENT_TYPES)}; "
                f"{int(unknown.sum())} bad row(s), first at {_row_label(df, int(np.flatnonzero(unknown)[0]))}"
            )
        df["event"] = pd.Categorical(ev_str, categories=EVENT_TYPES, ordered=True)
    else:
        key = REQUIRED[table][0]
        dup = df[key].duplicated(keep="first").to_numpy()
        if dup.any():
            raise _bad(table, key, df, dup, "duplicate id")
    return df


def validate_dataset(ds: Dataset) -> Dataset:
    """Check and coerce the three tables; return a new, validated :class:`Dataset`.

    Raises
    ------
    SchemaError
        Missing required column; unparsable id, timestamp or number; an infinite number in any
        numeric column; unknown event type; negative price; duplicate customer or product ids; events referencing unknown customers or
        products; an empty table. The message names the table, the column, an example bad value and
        its row.
    """
    customers = _validate_table("customers", ds.customers)
    products = _validate_table("products", ds.products)
    events = _validate_table("events", ds.events)
    for key, ref in (("customer_id", customers), ("product_id", products)):
        known = pd.Index(ref[key])
        col = events[key]
        if isinstance(col.dtype, pd.CategoricalDtype):
            cats = col.cat.categories
            used = cats[np.unique(col.cat.codes.to_numpy())]
            unknown_vals = used[~used.isin(known)]
            mask = col.isin(unknown_vals).to_numpy() if len(unknown_vals) else None
        else:
            mask = ~col.isin(known).to_numpy()
            if not mask.any():
                mask = None
        if mask is not None:
            n = int(mask.sum())
            examples = list(pd.unique(col[mask].astype(object)))[:5]
            first = int(np.flatnonzero(mask)[0])
            table = "customers" if key == "customer_id" else "products"
            raise SchemaError(
                f"events.{key}: {n} event(s) reference {len(pd.unique(col[mask]))} unknown "
                f"{table[:-1]} id(s) not in the {table} table, e.g. {examples} (first at "
                f"{_row_label(events, first)})"
            )
    return Dataset(
        name=ds.name,
        customers=customers,
        products=products,
        events=events,
        notes=list(ds.notes),
        meta=dict(ds.meta),
    )


# ----------------------------------------------------------------------------------------------
# the dataset folder
# ----------------------------------------------------------------------------------------------


def save_dataset(
    ds: Dataset, folder: str | os.PathLike, extra: dict[str, Any] | None = None
) -> Path:
    """Write the three tables as Parquet and ``dataset.json`` (name, notes, meta, fingerprint)."""
    folder = Path(folder)
    for t in TABLES:
        write_parquet(folder / f"{t}.parquet", ds.table(t))
    write_json(
        folder / "dataset.json",
        {
            "name": ds.name,
            "fingerprint": ds.fingerprint(),
            "rows": {t: len(ds.table(t)) for t in TABLES},
            "notes": ds.notes,
            "meta": ds.meta,
            **(extra or {}),
        },
    )
    return folder


def load_dataset(folder: str | os.PathLike) -> Dataset:
    """Read a dataset written by :func:`save_dataset`; checks its fingerprint."""
    folder = Path(folder)
    info = read_json(folder / "dataset.json")
    tables = {t: pd.read_parquet(folder / f"{t}.parquet") for t in TABLES}
    ev = tables["events"]
    ev["event"] = pd.Categorical(ev["event"].astype(object), categories=EVENT_TYPES, ordered=True)
    ds = Dataset(
        name=info["name"], notes=info.get("notes", []), meta=info.get("meta", {}), **tables
    )
    fp = ds.fingerprint()
    if fp != info["fingerprint"]:
        raise ValueError(
            f"{folder}: data files do not match dataset.json (fingerprint {fp[:12]} != "
            f"{info['fingerprint'][:12]}); delete the folder to rebuild it"
        )
    return ds
