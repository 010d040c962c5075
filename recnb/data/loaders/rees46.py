"""REES46 "eCommerce behavior data from multi category store" (Open CDP): one CSV per month.

Layout of ``2019-Oct.csv`` (and every other month): ``event_time`` (``"2019-10-01 00:00:00 UTC"``),
``event_type`` (view, cart, remove_from_cart, purchase), ``product_id``, ``category_id``,
``category_code`` (``electronics.smartphone``, often empty), ``brand`` (often empty), ``price``,
``user_id``, ``user_session``.

Mapping: view -> ``view``, cart -> ``add_to_cart``, purchase -> ``purchase`` (its price as
``price_paid``); remove_from_cart has no event type in the data model and is dropped (counted).
``user_session`` -> ``session_id``. Products: ``category`` is the category code with dots turned into
slashes (``electronics/smartphone``), ``category_id`` the store's numeric category, ``brand``, and
``price`` the median positive price over the product's events (prices change over the month).
Timestamps are UTC. Users are anonymous: customers carry only their id.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from recnb.data.loaders._common import (
    CsvFile,
    PathLike,
    StepLog,
    categorical_ids,
    check_nrows,
    finish,
    map_events,
    mode_by_key,
    on_uniques,
    read_csv_checked,
    require_columns,
)
from recnb.data.schema import Dataset

PAGE = "https://www.kaggle.com/datasets/mkechinov/ecommerce-behavior-data-from-multi-category-store"
LICENCE = f"see {PAGE}"
CITATION = "eCommerce behavior data from multi category store, REES46 Open CDP (Kaggle, 2019)"

COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
FILE_PATTERN = re.compile(r"^(\d{4})-([A-Z][a-z]{2})\.csv(?:\.gz)?$")
"""Monthly file names as published: ``2019-Oct.csv``, ``2019-Nov.csv`` (optionally gzipped)."""
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

EVENT_MAP: dict[str, str | None] = {
    "view": "view",
    "cart": "add_to_cart",
    "remove_from_cart": None,
    "purchase": "purchase",
}
_TIME_SUFFIX = " UTC"
_CATEGORICAL = ("event_type", "category_code", "brand")


def find_rees46_files(path: PathLike, months: list[str] | None = None) -> list[Path]:
    """The monthly files: ``path`` itself if it is a file, else the ``YYYY-Mon.csv[.gz]`` files in the
    folder in calendar order (only ``months``, such as ``["2019-Oct"]``, if given)."""
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        return []
    found = []
    for f in p.iterdir():
        m = FILE_PATTERN.match(f.name)
        if f.is_file() and m and m.group(2) in _MONTHS:
            found.append((int(m.group(1)), _MONTHS.index(m.group(2)), f))
    found.sort(key=lambda t: (t[0], t[1], t[2].name))
    files = [f for _, _, f in found]
    if months is not None:
        wanted = set(months)
        have = {f.name.split(".")[0] for f in files}
        missing = sorted(wanted - have)
        if missing:
            raise FileNotFoundError(
                f"REES46: month file(s) {missing} not in {p}; found {sorted(have)}"
            )
        files = [f for f in files if f.name.split(".")[0] in wanted]
    return files


def _read_month(file: Path, nrows: int | None, log: StepLog) -> tuple[pd.DataFrame, CsvFile]:
    header = read_csv_checked(file, nrows=0)
    require_columns(header, file, COLUMNS)
    dtype = {
        "event_time": str,
        "product_id": "int64",
        "category_id": "Int64",
        "price": "float64",
        "user_id": "int64",
        "user_session": str,
        **{c: "category" for c in _CATEGORICAL},
    }
    reader = CsvFile(file, usecols=list(COLUMNS), dtype=dtype, nrows=nrows)
    return reader.read(log), reader


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if len(frames) == 1:
        return frames[0]
    out = pd.concat(frames, ignore_index=True)
    for c in _CATEGORICAL:
        out[c] = union_categoricals([f[c] for f in frames], ignore_order=True)
    return out


def _parse_times(s: pd.Series, file: Path, reader: CsvFile | None = None) -> pd.Series:
    def parse(u: pd.Series) -> pd.Series:
        # "2019-10-01 00:00:00 UTC": without the suffix pandas takes its fast ISO 8601 path
        out = pd.to_datetime(u.str.removesuffix(_TIME_SUFFIX), format="ISO8601", errors="coerce")
        if out.isna().any():  # another layout: parse generally, convert to naive UTC
            alt = pd.to_datetime(u, errors="coerce", utc=True, format="mixed").dt.tz_localize(None)
            out = out.fillna(alt)
        return out

    out = on_uniques(s, parse)
    bad = out.isna().to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        where = reader.where(pos) if reader is not None else f"data row {pos}"
        raise ValueError(
            f"{file}: column 'event_time' value {s.iloc[pos]!r} at {where} is not a timestamp"
        )
    return out.astype("datetime64[ns]")


def load_rees46(
    path: PathLike, *, nrows: int | None = None, months: list[str] | None = None
) -> Dataset:
    """Load REES46 monthly event files (one file, or every month file in a folder).

    Parameters
    ----------
    path : str or Path
        A monthly CSV (``2019-Oct.csv``) or the folder holding them.
    nrows : int, optional
        Read only the first ``nrows`` events in total, in calendar order (a month holds about 40
        million; the file is in time order, so this keeps the first hours or days).
    months : list of str, optional
        Only these months from a folder, e.g. ``["2019-Oct"]``.

    Returns
    -------
    Dataset
        Validated; ``notes`` lists the drops with their counts.
    """
    nrows = check_nrows(nrows)
    files = find_rees46_files(path, months)
    if not files:
        raise FileNotFoundError(
            f"REES46: no monthly file (YYYY-Mon.csv such as 2019-Oct.csv) at {path}; get it from "
            f"{PAGE}"
        )
    frames, read = [], []
    remaining = nrows
    log = StepLog()
    for f in files:
        df, reader = _read_month(f, remaining, log)
        df["event_time"] = _parse_times(df["event_time"], f, reader)
        frames.append(df)
        read.append(f.name)
        if remaining is not None:
            remaining -= len(df)
            if remaining <= 0:
                break
    raw = _concat(frames)
    if len(raw) == 0:
        raise ValueError(f"REES46: no events in {read}")
    label = files[0] if len(read) == 1 else Path(", ".join(read))
    log.add("read", len(raw), f"events in {', '.join(read)}")
    for col in ("product_id", "user_id"):
        bad = raw[col].isna().to_numpy()
        if bad.any():
            raise ValueError(
                f"{label}: column {col!r} empty at data row {int(np.flatnonzero(bad)[0])}"
            )
    event = map_events(raw["event_type"], EVENT_MAP, label, "event_type")
    keep = event.notna().to_numpy()
    log.add(
        "remove_from_cart dropped",
        (~keep).sum(),
        "remove_from_cart events have no event type in the data model: dropped",
        removes=True,
    )
    raw = raw[keep].reset_index(drop=True)
    event = event[keep].reset_index(drop=True)
    bad_price = raw["price"].isna() | (raw["price"] < 0)
    if bad_price.any():
        pos = int(np.flatnonzero(bad_price.to_numpy())[0])
        raise ValueError(
            f"{label}: column 'price' is missing or negative ({raw['price'].iloc[pos]!r}) at kept "
            f"event {pos}"
        )
    log.add(
        "price zero",
        (raw["price"] == 0).sum(),
        "events with price 0 (kept; left out of the product's median price)",
    )
    log.add(
        "missing session",
        raw["user_session"].isna().sum(),
        "events without user_session (kept; session_id missing)",
    )
    is_purchase = (event == "purchase").to_numpy()
    events = pd.DataFrame(
        {
            "customer_id": categorical_ids(raw["user_id"].to_numpy()),
            "product_id": categorical_ids(raw["product_id"].to_numpy()),
            "timestamp": raw["event_time"].to_numpy(),
            "event": event.array,
            "session_id": raw["user_session"].to_numpy(dtype=object),
            "price_paid": np.where(is_purchase, raw["price"].to_numpy(), np.nan),
        }
    )

    prod_ids = pd.unique(raw["product_id"])
    code = mode_by_key(raw["product_id"], raw["category_code"]).reindex(prod_ids)
    cat_id = mode_by_key(raw["product_id"], raw["category_id"]).reindex(prod_ids)
    brand = mode_by_key(raw["product_id"], raw["brand"]).reindex(prod_ids)
    positive = (raw["price"] > 0).to_numpy()
    price = (
        raw["price"][positive].groupby(raw["product_id"][positive].to_numpy()).median()
    ).reindex(prod_ids)
    category = pd.Series(code["value"].to_numpy(dtype=object)).str.replace(".", "/", regex=False)
    changed = (code["n_distinct"] > 1) | (cat_id["n_distinct"] > 1) | (brand["n_distinct"] > 1)
    log.add(
        "product attributes changed",
        changed.sum(),
        "products seen with more than one category or brand: the most frequent is used",
    )
    log.add(
        "products without category code",
        category.isna().sum(),
        "products with an empty category_code: category left missing (category_id kept)",
    )
    products = pd.DataFrame(
        {
            "product_id": prod_ids.astype(str).astype(object),
            "category": category.to_numpy(),
            "category_id": [None if pd.isna(v) else str(int(v)) for v in cat_id["value"]],
            "brand": brand["value"].to_numpy(dtype=object),
            "price": price.to_numpy(),
        }
    )
    customers = pd.DataFrame(
        {"customer_id": events["customer_id"].cat.categories.to_numpy(dtype=object)}
    )
    meta = {
        "source": "rees46",
        "files": [str(f) for f in files[: len(read)]],
        "page": PAGE,
        "licence": LICENCE,
        "citation": CITATION,
        "timezone": "UTC (as in event_time)",
        "options": {"nrows": nrows, "months": months},
    }
    return finish("rees46", customers, products, events, log, meta)
