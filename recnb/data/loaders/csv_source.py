"""Any shop's own export: ``data.source: csv`` maps CSV files into the data model without Python.

An events file (required) and optional customers and products files are read with a column mapping
(``{data model column: your column}`` per table) and an event-name mapping (``{your value: event
type}``) given in ``data.options``::

    data:
      source: csv
      path: exports/            # the folder holding the files (or the events file itself)
      options:
        events: orders.csv      # file names relative to data.path
        products: catalogue.csv
        columns:
          events: {customer_id: user, product_id: sku, timestamp: time, event: action}
          products: {product_id: sku, category: department, price: list_price}
        event_names: {page_view: view, basket_add: add_to_cart, checkout: purchase, refund: null}

A column already named as in the data model needs no entry. ``null`` as an event type drops those
rows (counted in the notes). Without a customers or products file, those tables hold the ids seen in
the events. Timestamps are ISO 8601 text by default (``2024-03-01 14:05:00``, ``2024-03-01T14:05Z``:
values with a UTC offset are converted to UTC); other text needs ``timestamp_format``, epoch numbers
``timestamp_unit`` (``s`` or ``ms``), so a day-first date or a millisecond epoch is never guessed.

Everything is checked before anything is read past the header, with a message naming the params key,
the file and the column: an unknown option key, a mapping to a column the file lacks, a data model
column that does not exist, an event name mapped to a type outside :data:`~recnb.data.schema.EVENT_TYPES`.
A bad value stops the load naming the file, the line, the column and the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recnb.data.loaders._common import (
    CsvFile,
    PathLike,
    StepLog,
    as_id_strings,
    check_nrows,
    finish,
    on_uniques,
    shown,
)
from recnb.data.schema import EVENT_TYPES, OPTIONAL, REQUIRED, Dataset

TABLE_FILES: dict[str, str | None] = {"events": "events.csv", "customers": None, "products": None}
"""Option naming each table's file, with its default (only the events file is required)."""
TIMESTAMP_UNITS: tuple[str, ...] = ("s", "ms")
OPTION_KEYS: tuple[str, ...] = (
    "events",
    "customers",
    "products",
    "columns",
    "event_names",
    "event_type",
    "timestamp_unit",
    "timestamp_format",
    "sep",
    "encoding",
    "nrows",
)
_ID_COLUMNS = ("customer_id", "product_id")
_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
_SECONDS_MS_BOUNDARY = 1e11
"""Epoch values below this are seconds (up to the year 5138), above it milliseconds (from 1973)."""


def schema_columns(table: str) -> tuple[str, ...]:
    """The data model's columns of ``table`` (required first), the targets a mapping may name."""
    return REQUIRED[table] + tuple(c for c in OPTIONAL[table] if c not in REQUIRED[table])


class CsvOptionsError(ValueError):
    """A ``data.options`` entry of the csv source is wrong; the message names the key."""


@dataclass(frozen=True)
class CsvOptions:
    """Validated options of the csv source (see :func:`csv_options`)."""

    files: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    event_names: dict[str, str | None] | None = None
    event_type: str | None = None
    timestamp_unit: str | None = None
    timestamp_format: str | None = None
    sep: str = ","
    encoding: str = "utf-8"
    nrows: int | None = None
    events_given: bool = False


def _fail(origin: str, key: str, msg: str) -> CsvOptionsError:
    return CsvOptionsError(f"{origin}.{key}: {msg}" if key else f"{origin}: {msg}")


def csv_options(options: Mapping[str, Any], origin: str = "data.options") -> CsvOptions:
    """Check the options of the csv source without reading any file.

    Parameters
    ----------
    options : mapping
        ``data.options`` of a params file (or the keyword arguments of :func:`load_csv`).
    origin : str
        How the options are named in messages, e.g. ``"params/my_shop.yaml: data.options"``.

    Raises
    ------
    CsvOptionsError
        An unknown key; a value of the wrong type; a data model column (mapping key) that does not
        exist; an event name mapped to a type that is not an event type; a timestamp unit other than
        ``s`` / ``ms``; both or neither of an ``event`` column and ``event_type``... The message
        names the key and the allowed values.
    """
    if not isinstance(options, Mapping):
        raise _fail(origin, "", f"must be a mapping of options, got {options!r}")
    unknown = [k for k in options if k not in OPTION_KEYS]
    if unknown:
        raise _fail(
            origin,
            str(unknown[0]),
            f"unknown option for data.source 'csv'; allowed options are {list(OPTION_KEYS)}",
        )
    files: dict[str, str] = {}
    for table, default in TABLE_FILES.items():
        value = options.get(table, default)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise _fail(origin, table, f"must be a file name (text), got {value!r}")
        files[table] = value
    columns_raw = options.get("columns") or {}
    if not isinstance(columns_raw, Mapping):
        raise _fail(origin, "columns", f"must be a mapping of tables, got {columns_raw!r}")
    columns: dict[str, dict[str, str]] = {}
    for table, mapping in columns_raw.items():
        if table not in TABLE_FILES:
            raise _fail(
                origin, f"columns.{table}", f"unknown table; tables are {list(TABLE_FILES)}"
            )
        if table not in files:
            raise _fail(
                origin,
                f"columns.{table}",
                f"maps columns of the {table} table, but no {table} file is given (set "
                f"{origin}.{table})",
            )
        if not isinstance(mapping, Mapping):
            raise _fail(
                origin,
                f"columns.{table}",
                "must map data model columns to your file's columns, e.g. {customer_id: user}",
            )
        allowed = schema_columns(table)
        for target, column in mapping.items():
            if target not in allowed:
                raise _fail(
                    origin,
                    f"columns.{table}.{target}",
                    f"{target!r} is not a column of the data model's {table} table; mapping keys "
                    f"are data model columns ({list(allowed)}), values your file's columns",
                )
            if not isinstance(column, str) or not column:
                raise _fail(
                    origin,
                    f"columns.{table}.{target}",
                    f"must name a column of your {table} file, got {column!r}",
                )
        columns[table] = {str(k): str(v) for k, v in mapping.items()}
    names_raw = options.get("event_names")
    event_names = None
    if names_raw is not None:
        if not isinstance(names_raw, Mapping) or not names_raw:
            raise _fail(
                origin,
                "event_names",
                "must map your event names to event types, e.g. {order: purchase, refund: null}",
            )
        event_names = {}
        for name, target in names_raw.items():
            if target is not None and target not in EVENT_TYPES:
                raise _fail(
                    origin,
                    f"event_names.{name}",
                    f"{target!r} is not an event type; allowed are {list(EVENT_TYPES)} (or null "
                    "to drop these rows)",
                )
            event_names[str(name)] = target
    event_type = options.get("event_type")
    if event_type is not None:
        if event_type not in EVENT_TYPES:
            raise _fail(
                origin,
                "event_type",
                f"{event_type!r} is not an event type; allowed are {list(EVENT_TYPES)}",
            )
        if "event" in columns.get("events", {}) or event_names is not None:
            raise _fail(
                origin,
                "event_type",
                "gives every row one event type, so it cannot go with an event column mapping or "
                "event_names; use one or the other",
            )
    unit = options.get("timestamp_unit")
    if unit is not None and unit not in TIMESTAMP_UNITS:
        raise _fail(
            origin,
            "timestamp_unit",
            f"{unit!r} is not allowed; allowed values are {list(TIMESTAMP_UNITS)} (epoch seconds "
            "or milliseconds), or null for text timestamps",
        )
    fmt = options.get("timestamp_format")
    if fmt is not None:
        if not isinstance(fmt, str) or "%" not in fmt:
            raise _fail(
                origin,
                "timestamp_format",
                f"must be a strftime form such as '%d/%m/%Y %H:%M', got {fmt!r}",
            )
        if unit is not None:
            raise _fail(
                origin,
                "timestamp_format",
                "applies to text timestamps; it cannot go with timestamp_unit (epoch numbers)",
            )
    sep = options.get("sep", ",")
    if not isinstance(sep, str) or len(sep) != 1:
        raise _fail(origin, "sep", f"must be one character, got {sep!r}")
    encoding = options.get("encoding", "utf-8")
    try:
        "".encode(encoding)
    except (LookupError, TypeError):
        raise _fail(origin, "encoding", f"unknown text encoding {encoding!r}") from None
    try:
        nrows = check_nrows(options.get("nrows"))
    except ValueError as err:
        raise _fail(origin, "nrows", str(err)) from None
    return CsvOptions(
        files=files,
        columns=columns,
        event_names=event_names,
        event_type=event_type,
        timestamp_unit=unit,
        timestamp_format=fmt,
        sep=sep,
        encoding=encoding,
        nrows=nrows,
        events_given="events" in options,
    )


def csv_files(path: PathLike, opts: CsvOptions, origin: str = "data.options") -> dict[str, Path]:
    """The file of each table: ``path`` is the folder holding them (names relative to it), or the
    events file itself (the other names relative to its folder)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"data.path {str(p)!r}: no such file or folder")
    folder = p.parent if p.is_file() else p
    out: dict[str, Path] = {}
    for table, name in opts.files.items():
        if table == "events" and p.is_file():
            if opts.events_given:
                raise _fail(
                    origin,
                    "events",
                    f"data.path {str(p)!r} is a file, so it is the events file; remove "
                    f"{origin}.events or point data.path at the folder",
                )
            out[table] = p
            continue
        f = Path(name).expanduser()
        f = f if f.is_absolute() else folder / f
        if not f.is_file():
            raise FileNotFoundError(
                f"{origin}.{table}: file {str(f)!r} not found (file names are relative to "
                f"{str(folder)!r})"
            )
        out[table] = f
    return out


def effective_columns(
    table: str, header: list[str], opts: CsvOptions, file: Path, origin: str = "data.options"
) -> dict[str, str]:
    """``{data model column: file column}`` of one table: the mapping given, plus every column of
    the file already named as in the data model.

    Raises
    ------
    CsvOptionsError
        A mapped column is not in the file; a required column is neither mapped nor present.
    """
    given = opts.columns.get(table, {})
    for target, column in given.items():
        if column not in header:
            raise _fail(
                origin,
                f"columns.{table}.{target}",
                f"maps to column {column!r}, which {file} does not have; its columns are {header}",
            )
    mapping = dict(given)
    taken = set(given.values())
    for col in schema_columns(table):
        if col not in mapping and col in header and col not in taken:
            mapping[col] = col
    required = [c for c in REQUIRED[table] if not (table == "events" and c == "event")]
    if table == "events" and opts.event_type is None:
        required.append("event")
    missing = [c for c in required if c not in mapping]
    if missing:
        hint = " (or set event_type when every row is one type)" if "event" in missing else ""
        raise _fail(
            origin,
            f"columns.{table}",
            f"{file} has no column for {missing}{hint}: map them, e.g. {{{missing[0]}: "
            f"<your column>}}; the file's columns are {header}",
        )
    return mapping


def _header(file: Path, opts: CsvOptions) -> list[str]:
    try:
        head = CsvFile(file, nrows=0, sep=opts.sep, encoding=opts.encoding).read()
    except UnicodeDecodeError as err:
        raise _not_text(file, opts, err) from None
    return [str(c) for c in head.columns]


def _not_text(file: Path, opts: CsvOptions, err: UnicodeDecodeError) -> ValueError:
    return ValueError(
        f"{file}: not {opts.encoding} text ({err.reason} at byte {err.start}); name the file's "
        "encoding in data.options.encoding (e.g. latin-1)"
    )


def check_csv_source(
    path: PathLike | None, options: Mapping[str, Any], origin: str = "data.options"
) -> CsvOptions:
    """Validate the options and, when ``path`` is given, the files and their headers (nothing past
    the header is read): what the runner checks before any stage starts."""
    opts = csv_options(options, origin)
    if path is None:
        raise _fail(
            origin.rsplit(".", 1)[0] if origin.endswith(".options") else origin,
            "path",
            "data.source 'csv' needs data.path: the folder holding your files, or the events file",
        )
    files = csv_files(path, opts, origin)
    for table, f in files.items():
        effective_columns(table, _header(f, opts), opts, f, origin)
    return opts


# ----------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------


@dataclass
class _Table:
    table: str
    file: Path
    reader: CsvFile
    mapping: dict[str, str]
    frame: pd.DataFrame

    def label(self, target: str) -> str:
        col = self.mapping[target]
        return f"column {col!r}" + (f" ({target})" if col != target else "")


def _read_table(table: str, file: Path, opts: CsvOptions, log: StepLog, origin: str) -> _Table:
    mapping = effective_columns(table, _header(file, opts), opts, file, origin)
    usecols = sorted(set(mapping.values()))
    reader = CsvFile(
        file,
        last_line="check",
        sep=opts.sep,
        encoding=opts.encoding,
        usecols=usecols,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        nrows=opts.nrows if table == "events" else None,
    )
    try:
        raw = reader.read(log)
    except UnicodeDecodeError as err:
        raise _not_text(file, opts, err) from None
    frame = pd.DataFrame({target: raw[col].to_numpy() for target, col in mapping.items()})
    return _Table(table, file, reader, mapping, frame)


def _ids(t: _Table, target: str) -> pd.Series:
    s = t.frame[target]
    try:
        out = as_id_strings(s)
    except ValueError as err:
        raise ValueError(f"{t.file}: {t.label(target)}: {err}") from None
    missing = out.isna().to_numpy()
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise ValueError(
            t.reader.line_problem(pos)
            or f"{t.file}: {t.label(target)} is empty at {t.reader.where(pos)} "
            f"({int(missing.sum())} such row(s)); every row needs an id"
        )
    return out


def _numbers(t: _Table, target: str) -> pd.Series:
    s = t.frame[target]
    text = s.astype(object).where(s.notna(), None)
    num = pd.to_numeric(on_uniques(s, lambda u: u.str.strip()), errors="coerce")
    bad = (num.isna() & pd.Series(text).notna()).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{t.file}: {t.label(target)} value {shown(s.iloc[pos])} at {t.reader.where(pos)} is "
            f"not a number ({int(bad.sum())} such value(s))"
        )
    infinite = np.isinf(num.to_numpy(dtype="float64"))
    if infinite.any():
        pos = int(np.flatnonzero(infinite)[0])
        raise ValueError(
            f"{t.file}: {t.label(target)} value {shown(s.iloc[pos])} at {t.reader.where(pos)} is "
            "infinite"
        )
    return num.astype("float64")


def _timestamps(t: _Table, target: str, opts: CsvOptions, required: bool) -> tuple[pd.Series, str]:
    """Parsed timestamps and how they were read."""
    s = t.frame[target]
    missing = s.isna().to_numpy()
    if required and missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise ValueError(
            t.reader.line_problem(pos)
            or f"{t.file}: {t.label(target)} is empty at {t.reader.where(pos)} "
            f"({int(missing.sum())} such row(s))"
        )
    text = on_uniques(s, lambda u: u.str.strip())
    present = ~missing

    def fail(mask: np.ndarray, what: str) -> ValueError:
        pos = int(np.flatnonzero(mask)[0])
        return ValueError(
            f"{t.file}: {t.label(target)} value {shown(s.iloc[pos])} at {t.reader.where(pos)} "
            f"{what} ({int(mask.sum())} such value(s))"
        )

    if opts.timestamp_unit is not None:
        num = pd.to_numeric(text, errors="coerce")
        bad = present & num.isna().to_numpy()
        if bad.any():
            raise fail(bad, f"is not an epoch number (timestamp_unit is {opts.timestamp_unit!r})")
        vals = num.to_numpy(dtype="float64")
        if opts.timestamp_unit == "s":
            wrong = present & (np.abs(vals) >= _SECONDS_MS_BOUNDARY)
            what = "is too large for epoch seconds: it looks like milliseconds (timestamp_unit: ms)"
        else:
            wrong = present & (np.abs(vals) < _SECONDS_MS_BOUNDARY)
            what = "is too small for epoch milliseconds (before 1973): it looks like seconds "
            what += "(timestamp_unit: s)"
        if wrong.any():
            raise fail(wrong, what)
        out = pd.to_datetime(num, unit=opts.timestamp_unit)
        return out.astype("datetime64[ns]"), f"epoch {opts.timestamp_unit} (UTC)"
    if opts.timestamp_format is not None:
        out = on_uniques(
            text, lambda u: pd.to_datetime(u, format=opts.timestamp_format, errors="coerce")
        )
        bad = present & out.isna().to_numpy()
        if bad.any():
            raise fail(bad, f"does not match timestamp_format {opts.timestamp_format!r}")
        return out.astype("datetime64[ns]"), opts.timestamp_format
    numeric = present & text.str.fullmatch(r"[+-]?\d+(?:\.\d+)?").fillna(False).to_numpy()
    if numeric.any():
        raise fail(
            numeric,
            "is a number: set data.options.timestamp_unit to 's' (epoch seconds) or 'ms' "
            "(epoch milliseconds)",
        )
    aware = present & text.str.contains(_TZ_SUFFIX).fillna(False).to_numpy()
    if aware.any() and not aware[present].all():
        raise fail(
            present & ~aware,
            "has no UTC offset while other values have one: the times cannot be put on one clock",
        )
    out = on_uniques(
        text,
        lambda u: pd.to_datetime(u, format="ISO8601", errors="coerce", utc=bool(aware.any())),
    )
    bad = present & out.isna().to_numpy()
    if bad.any():
        raise fail(
            bad,
            "is not an ISO 8601 date-time (2024-03-01 14:05:00): name its form in "
            "data.options.timestamp_format (e.g. '%d/%m/%Y %H:%M'), or set timestamp_unit for "
            "epoch numbers",
        )
    if aware.any():
        out = pd.to_datetime(out, utc=True).dt.tz_localize(None)
        return out.astype("datetime64[ns]"), "ISO 8601 with UTC offsets, converted to UTC"
    return out.astype("datetime64[ns]"), "ISO 8601, local time as written"


def _convert(t: _Table, opts: CsvOptions, timestamp_note: list[str]) -> pd.DataFrame:
    """The table's columns in the data model's types (ids as text, numbers, datetimes)."""
    out = pd.DataFrame(index=t.frame.index)
    kinds = OPTIONAL[t.table]
    for target in t.frame.columns:
        if target in _ID_COLUMNS:
            out[target] = _ids(t, target)
        elif target == "timestamp":
            out[target], how = _timestamps(t, target, opts, required=True)
            timestamp_note.append(how)
        elif target == "event":
            out[target] = t.frame[target]
        elif kinds.get(target) in ("number", "price", "nonneg"):
            out[target] = _numbers(t, target)
        elif kinds.get(target) == "datetime":
            out[target], _ = _timestamps(t, target, opts, required=False)
        else:
            s = t.frame[target]
            out[target] = on_uniques(s, lambda u: u.str.strip()).astype(object)
    return out


def _unique_ids(t: _Table, ids: pd.Series, key: str) -> None:
    dup = ids.duplicated().to_numpy()
    if dup.any():
        pos = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((ids == ids.iloc[pos]).to_numpy())[0])
        raise ValueError(
            f"{t.file}: {t.label(key)} value {ids.iloc[pos]!r} at {t.reader.where(pos)} repeats "
            f"the id of {t.reader.where(first)} ({int(dup.sum())} repeated id(s)); each "
            f"{t.table[:-1]} must appear once"
        )


def _map_events(t: _Table, opts: CsvOptions, log: StepLog, origin: str) -> pd.Series:
    raw = t.frame["event"]
    missing = raw.isna().to_numpy()
    if missing.any():
        pos = int(np.flatnonzero(missing)[0])
        raise ValueError(
            t.reader.line_problem(pos)
            or f"{t.file}: {t.label('event')} is empty at {t.reader.where(pos)} "
            f"({int(missing.sum())} such row(s))"
        )
    text = on_uniques(raw, lambda u: u.str.strip())
    mapping = opts.event_names or {e: e for e in EVENT_TYPES}
    unknown = ~text.isin(list(mapping)).to_numpy()
    if unknown.any():
        pos = int(np.flatnonzero(unknown)[0])
        values = sorted(pd.unique(text[unknown]))[:8]
        how = (
            f"add them to {origin}.event_names"
            if opts.event_names is not None
            else f"map your names to event types with {origin}.event_names"
        )
        raise ValueError(
            f"{t.file}: {t.label('event')} has value(s) {values} that are not "
            f"{'in event_names' if opts.event_names is not None else 'event types'} "
            f"({int(unknown.sum())} row(s), first at {t.reader.where(pos)}); {how} (event types: "
            f"{list(EVENT_TYPES)}; null drops a name)"
        )
    mapped = text.map(mapping)
    dropped = mapped.isna().to_numpy()
    if opts.event_names is not None and any(v is None for v in opts.event_names.values()):
        names = [k for k, v in opts.event_names.items() if v is None]
        log.add(
            "events mapped to null",
            int(dropped.sum()),
            f"rows whose event is {names} (mapped to null in event_names) dropped",
            removes=True,
        )
    return mapped


def load_csv(
    path: PathLike,
    *,
    events: str | None = None,
    customers: str | None = None,
    products: str | None = None,
    columns: dict[str, dict[str, str]] | None = None,
    event_names: dict[str, str | None] | None = None,
    event_type: str | None = None,
    timestamp_unit: str | None = None,
    timestamp_format: str | None = None,
    sep: str = ",",
    encoding: str = "utf-8",
    nrows: int | None = None,
) -> Dataset:
    """Load a shop's own CSV export (events, and optionally customers and products).

    Parameters
    ----------
    path : str or Path
        The folder holding the files, or the events file.
    events, customers, products : str, optional
        File names, relative to ``path`` (``events`` defaults to ``events.csv``, or is ``path``
        itself when that is a file; without a customers or products file those tables hold the ids
        of the events). Plain or ``.gz``.
    columns : dict, optional
        Per table, ``{data model column: your column}``; a column already named as in the data model
        needs no entry.
    event_names : dict, optional
        ``{your event name: event type}``; ``None`` (YAML ``null``) drops those rows. Without it the
        event column must hold the event types themselves.
    event_type : str, optional
        The one event type of every row, for an events file without an event column (an order
        export: ``purchase``).
    timestamp_unit : {"s", "ms"}, optional
        Timestamps are epoch seconds or milliseconds (UTC).
    timestamp_format : str, optional
        strftime form of text timestamps that are not ISO 8601 (``"%d/%m/%Y %H:%M"``).
    sep, encoding : str
        Field separator and text encoding of the files.
    nrows : int, optional
        Read only the first ``nrows`` events.

    Returns
    -------
    Dataset
        Validated; ``notes`` lists every drop with its count, ``meta`` the files and mappings.
    """
    origin = "data.options"
    given = {
        "events": events,
        "customers": customers,
        "products": products,
        "columns": columns,
        "event_names": event_names,
        "event_type": event_type,
        "timestamp_unit": timestamp_unit,
        "timestamp_format": timestamp_format,
        "sep": sep,
        "encoding": encoding,
        "nrows": nrows,
    }
    opts = csv_options({k: v for k, v in given.items() if v is not None}, origin)
    files = csv_files(path, opts, origin)
    log = StepLog()
    how: list[str] = []

    ev_t = _read_table("events", files["events"], opts, log, origin)
    if len(ev_t.frame) == 0:
        raise ValueError(f"{files['events']}: no events (the file holds only its header)")
    log.add("read", len(ev_t.frame), f"events in {files['events'].name}")
    ev = _convert(ev_t, opts, how)
    if opts.event_type is not None:
        ev["event"] = opts.event_type
    else:
        ev["event"] = _map_events(ev_t, opts, log, origin).to_numpy()
    keep = ev["event"].notna().to_numpy()

    tables: dict[str, pd.DataFrame] = {}
    for table, key in (("customers", "customer_id"), ("products", "product_id")):
        if table not in files:
            continue
        t = _read_table(table, files[table], opts, log, origin)
        log.add(f"read {table}", len(t.frame), f"{table} in {files[table].name}")
        df = _convert(t, opts, [])
        _unique_ids(t, df[key], key)
        tables[table] = df
        known = ev[key].isin(df[key]).to_numpy()
        unknown = keep & ~known
        example = ""
        if unknown.any():
            pos = int(np.flatnonzero(unknown)[0])
            example = (
                f" ({ev[key][unknown].nunique()} distinct id(s), e.g. {ev[key].iloc[pos]!r} at "
                f"{files['events'].name} {ev_t.reader.where(pos)})"
            )
        log.add(
            f"unknown {key.removesuffix('_id')}",
            int(unknown.sum()),
            f"events whose {ev_t.mapping[key]} is not in {files[table].name} dropped{example}",
            removes=True,
        )
        keep &= known

    events_out = ev[keep].reset_index(drop=True)
    if "customers" not in tables:
        tables["customers"] = pd.DataFrame(
            {"customer_id": pd.unique(events_out["customer_id"]).astype(object)}
        )
    if "products" not in tables:
        tables["products"] = pd.DataFrame(
            {"product_id": pd.unique(events_out["product_id"]).astype(object)}
        )
    if opts.event_type is None:
        counts = ev_t.frame["event"].str.strip().value_counts()
        kinds = ", ".join(f"{k}: {v:,}" for k, v in counts.head(10).items())
        held = f"{len(ev):,} event row(s) ({ev_t.mapping['event']} {kinds})"
    else:
        held = f"{len(ev):,} event row(s), all {opts.event_type}"
    meta = {
        "source": "csv",
        "files": {t: str(f) for t, f in files.items()},
        "columns": {
            "events": ev_t.mapping,
            **{
                t: effective_columns(t, _header(files[t], opts), opts, files[t], origin)
                for t in ("customers", "products")
                if t in files
            },
        },
        "event_names": opts.event_names,
        "event_type": opts.event_type,
        "timestamps": how[0] if how else None,
        "timezone": how[0] if how else None,
        "options": {k: v for k, v in given.items() if v is not None},
    }
    return finish("csv", tables["customers"], tables["products"], events_out, log, meta, held)
