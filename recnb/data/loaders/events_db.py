"""The serving event store as a data source: ``data.source: events_db``.

The recommendation service (:mod:`recnb.serving`) commits every accepted event to an embedded SQLite
database before it answers. This module owns that database's layout (:data:`SCHEMA`, shared with the
service's writer) and reads it back into the data model, so that the next training run learns from
the new behaviour::

    data:
      source: events_db
      path: ../events/default.sqlite  # the store the service wrote (``--store``)
      options:
        base_run: ../reports/default  # optional: the run whose dataset the new events extend

(relative paths are relative to the params file, here one in ``params/``).

With ``base_run`` the run folder's cached, scrubbed dataset (``<base_run>/data``) is read and the
store's events are appended to its events; customers and products the store names but the base does
not are added with their id only (counted in the notes). Without it the dataset holds the store's
events alone.

Customer ids in the store are already the run's pseudonyms (the service never stores a raw id): the
dataset says so in ``meta["pseudonymized_ids"]`` with the store's key check, and the dataset build
keeps those ids (:func:`recnb.workflow.run_data.events_db_key` checks that the run's key gives the
same key check) instead of pseudonymizing them a second time.

The database is opened read-only (``mode=ro``), so a running service may keep writing; what is read
is one consistent snapshot (a single read transaction).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recnb.data.loaders._common import PathLike, StepLog, finish
from recnb.data.schema import EVENT_TYPES, Dataset

__all__ = [
    "EVENT_COLUMNS",
    "OPTION_KEYS",
    "SCHEMA",
    "STORE_FORMAT",
    "EventsDbError",
    "check_events_db",
    "events_db_options",
    "load_events_db",
    "read_store_meta",
    "read_store_events",
]

#: format tag in the store's ``store_meta`` table
STORE_FORMAT = "recnb-events/1"

#: columns of the ``events`` table that map to the data model's events (same names)
EVENT_COLUMNS: tuple[str, ...] = (
    "customer_id",
    "product_id",
    "timestamp",
    "event",
    "value",
    "dwell_seconds",
    "session_id",
    "device",
    "location",
    "price_paid",
)

_EVENT_CHECK = ", ".join(f"'{t}'" for t in EVENT_TYPES)

#: the store's tables. ``seq`` grows with commit order (gaps are possible); ``event_id`` is the client's
#: idempotency key (a retried POST with the same id is stored once); ``model_version`` is the export
#: that was serving when the event arrived. Timestamps are ISO 8601 text without a zone.
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS store_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT UNIQUE,
    customer_id   TEXT NOT NULL CHECK (length(customer_id) BETWEEN 1 AND 128),
    product_id    TEXT NOT NULL CHECK (length(product_id) BETWEEN 1 AND 128),
    event         TEXT NOT NULL CHECK (event IN ({_EVENT_CHECK})),
    timestamp     TEXT NOT NULL,
    value         REAL,
    dwell_seconds REAL CHECK (dwell_seconds IS NULL OR dwell_seconds >= 0),
    session_id    TEXT,
    device        TEXT,
    location      TEXT,
    price_paid    REAL CHECK (price_paid IS NULL OR price_paid >= 0),
    received_at   TEXT NOT NULL,
    model_version TEXT NOT NULL
);
"""

OPTION_KEYS: tuple[str, ...] = ("base_run",)
"""Options of the ``events_db`` source."""


class EventsDbError(ValueError):
    """The file is not an event store recnb can read; the message names the file and the fault."""


def events_db_options(options: dict[str, Any] | None, origin: str = "data.options") -> dict:
    """Check the options of the ``events_db`` source without opening anything.

    Raises
    ------
    ValueError
        An unknown key, or ``base_run`` that is not a path (text); the message names the key.
    """
    options = dict(options or {})
    for key in options:
        if key not in OPTION_KEYS:
            raise ValueError(
                f"{origin}.{key}: unknown option for data.source 'events_db'; allowed options are "
                f"{list(OPTION_KEYS)}"
            )
    base = options.get("base_run")
    if base is not None and (not isinstance(base, str) or not base.strip()):
        raise ValueError(f"{origin}.base_run: must be the path of a run folder, got {base!r}")
    return options


def _connect_ro(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: event store not found (the service's --store file)")
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        raise EventsDbError(f"{path}: not an SQLite database ({e})") from None
    return con


def read_store_meta(path: PathLike) -> dict[str, str]:
    """The ``store_meta`` table of an event store (format, key check, ...).

    Raises
    ------
    EventsDbError
        Not an SQLite file, no ``store_meta`` / ``events`` table, or another format tag.
    """
    path = Path(path)
    con = _connect_ro(path)
    try:
        return _meta(con, path)
    finally:
        con.close()


def _meta(con: sqlite3.Connection, path: Path) -> dict[str, str]:
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    missing = sorted({"store_meta", "events"} - tables)
    if missing:
        raise EventsDbError(
            f"{path}: not a recnb event store (table(s) {missing} missing; found {sorted(tables)})"
        )
    meta = dict(con.execute("SELECT key, value FROM store_meta").fetchall())
    if meta.get("format") != STORE_FORMAT:
        raise EventsDbError(
            f"{path}: store format {meta.get('format')!r}, expected {STORE_FORMAT!r}"
        )
    return meta


def read_store_events(path: PathLike, after_seq: int = 0) -> tuple[pd.DataFrame, dict[str, str]]:
    """Events of a store with ``seq > after_seq``, in commit order, and the store's meta.

    Returns
    -------
    (pandas.DataFrame, dict)
        Columns ``seq``, :data:`EVENT_COLUMNS`, ``received_at`` and ``model_version``
        (``timestamp`` and ``received_at`` as ``datetime64[ns]``), read in one transaction.
    """
    path = Path(path)
    con = _connect_ro(path)
    try:
        con.execute("BEGIN")  # one snapshot for meta and rows
        meta = _meta(con, path)
        cols = ["seq", *EVENT_COLUMNS, "received_at", "model_version"]
        df = pd.read_sql_query(
            f"SELECT {', '.join(cols)} FROM events WHERE seq > ? ORDER BY seq",
            con,
            params=(int(after_seq),),
        )
        con.execute("COMMIT")
    finally:
        con.close()
    for c in ("timestamp", "received_at"):
        parsed = pd.to_datetime(df[c], errors="coerce", format="ISO8601")
        bad = parsed.isna() & df[c].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise EventsDbError(
                f"{path}: events.{c} holds {df[c].iloc[row]!r} at seq {df['seq'].iloc[row]}, "
                "not an ISO 8601 time"
            )
        df[c] = parsed.astype("datetime64[ns]")
    return df, meta


def check_events_db(path: PathLike, options: dict[str, Any] | None, origin: str) -> None:
    """Preflight of the source: the options, the store and (when given) the base run's dataset."""
    options = events_db_options(options, origin)
    read_store_meta(path)
    base = options.get("base_run")
    if base is not None:
        data = _base_data_folder(base)
        if not (data / "dataset.json").is_file():
            raise FileNotFoundError(
                f"{origin}.base_run: {data / 'dataset.json'} not found (a run folder whose data "
                "was built, e.g. reports/default)"
            )


def _base_data_folder(base_run: PathLike) -> Path:
    p = Path(os.path.expandvars(os.path.expanduser(str(base_run))))
    return p / "data"


def load_events_db(path: PathLike, *, base_run: str | None = None) -> Dataset:
    """Read a serving event store (and optionally the run dataset it extends) into a Dataset.

    Parameters
    ----------
    path : str or Path
        The SQLite store written by the service.
    base_run : str, optional
        A run folder (``reports/<run>``); its cached, scrubbed dataset is the base the store's
        events are appended to.

    Returns
    -------
    Dataset
        Validated. ``meta["pseudonymized_ids"]`` carries the store's key check (see the module
        docstring); ``meta["events_db"]`` the store's path, last ``seq`` and event count.
    """
    path = Path(path)
    log = StepLog()
    new, meta = read_store_events(path)
    n_new = len(new)
    log.add("read", n_new, f"events in the event store {path.name} (the service's commits)")
    events = new[list(EVENT_COLUMNS)].copy()
    for c in ("value", "dwell_seconds", "price_paid"):
        events[c] = pd.to_numeric(events[c]).astype("float64")
    for c in ("session_id", "device", "location"):
        if events[c].isna().all():
            events = events.drop(columns=c)
    info: dict[str, Any] = {
        "file": str(path),
        "events_db": {
            "format": meta.get("format"),
            "events": n_new,
            "last_seq": int(new["seq"].max()) if n_new else 0,
        },
        "pseudonymized_ids": {"key_check": meta.get("key_check")},
    }
    if base_run is not None:
        from recnb.data.schema import load_dataset

        base = load_dataset(_base_data_folder(base_run))
        info["base_run"] = {"path": str(base_run), "fingerprint": base.fingerprint()}
        customers = base.customers.copy()
        products = base.products.copy()
        base_events = base.events.copy()
        for c in ("customer_id", "product_id", "event"):
            base_events[c] = base_events[c].astype(object)
        events = pd.concat([base_events, events], ignore_index=True, sort=False)
        log.add(
            "events_db: base run",
            len(base_events),
            f"{len(base_events)} events of the base run {base_run} kept; {n_new} events of the "
            "store appended",
        )
    else:
        customers = pd.DataFrame({"customer_id": pd.Series([], dtype=object)})
        products = pd.DataFrame({"product_id": pd.Series([], dtype=object)})
    for table, key, df in (
        ("customers", "customer_id", customers),
        ("products", "product_id", products),
    ):
        seen = pd.unique(events[key].astype(object))
        extra = np.setdiff1d(seen.astype(str), df[key].astype(str).to_numpy())
        if len(extra):
            add = pd.DataFrame({key: pd.Series(extra, dtype=object)})
            df = pd.concat([df, add], ignore_index=True, sort=False)
            if base_run is not None:
                log.add(
                    f"events_db: new {table}",
                    len(extra),
                    f"{len(extra)} {table} named by the store but absent from the base run were "
                    f"added with their id only",
                )
        if table == "customers":
            customers = df
        else:
            products = df
    return finish(
        "events_db",
        customers,
        products,
        events,
        log,
        info,
        contained=f"{n_new} stored events",
    )
