"""Helpers shared by the real-data loaders: id strings, per-key modes, step log, final assembly."""

from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import io
import itertools
import lzma
import os
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recnb.data.schema import Dataset, validate_dataset

PathLike = str | os.PathLike


class StepLog:
    """What a loader dropped or changed, in order; becomes :attr:`Dataset.notes`.

    Every check is logged, also when it matched no row, so a reader sees that it was made. A step
    added with ``removes=True`` took its rows out of the data (the others changed or only counted
    them); a load that ends with no event lists those steps.
    """

    def __init__(self) -> None:
        self.steps: list[tuple[str, int, str]] = []
        self.removing: set[int] = set()

    def add(self, step: str, rows: int, reason: str, removes: bool = False) -> None:
        if removes:
            self.removing.add(len(self.steps))
        self.steps.append((step, int(rows), reason))

    def removed(self) -> list[tuple[str, int, str]]:
        """The steps that took rows out, with at least one row."""
        return [s for i, s in enumerate(self.steps) if i in self.removing and s[1]]

    def __iter__(self):
        return iter(self.steps)


def finish(
    name: str,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    events: pd.DataFrame,
    log: StepLog,
    meta: dict[str, Any],
    contained: str | None = None,
) -> Dataset:
    """Assemble the three tables, record the log with :meth:`Dataset.add_note`, validate.

    Raises
    ------
    ValueError
        No event is left: the message says what the file held (``contained``) and what each step
        of the log removed, instead of the bare "table is empty" of the schema check.
    """
    if len(events) == 0:
        raise ValueError(empty_result_message(name, log, meta, contained))
    ds = Dataset(
        name=name,
        customers=customers.reset_index(drop=True),
        products=products.reset_index(drop=True),
        events=events.reset_index(drop=True),
        meta=meta,
    )
    for step, rows, reason in log:
        ds.add_note(step, rows, reason)
    return validate_dataset(ds)


def empty_result_message(
    name: str, log: StepLog, meta: dict[str, Any], contained: str | None = None
) -> str:
    """Why a load ended with no events: the file, what it held, what each step removed."""
    where = meta.get("file") or meta.get("folder") or meta.get("files") or "the data"
    if isinstance(where, list | tuple):
        where = ", ".join(str(w) for w in where)
    elif isinstance(where, dict):
        where = ", ".join(str(w) for w in where.values())
    steps = log.removed()
    read = next((r for s, r, _ in log if s == "read"), None)
    held = contained or (f"{read:,} rows" if read is not None else "no usable rows")
    removed = "; ".join(f"{s}: {r:,} ({why})" for s, r, why in steps) or "nothing"
    return (
        f"{name}: no events left after loading {where}. The file holds {held}. The loader "
        f"removed: {removed}. Nothing is left to recommend from: check that this is the file you "
        "meant and the loader options in data.options"
    )


def check_nrows(nrows: int | None) -> int | None:
    """``None`` or a positive whole number of rows to read."""
    if nrows is None:
        return None
    if isinstance(nrows, bool) or not isinstance(nrows, int | np.integer) or nrows < 1:
        raise ValueError(f"nrows must be a positive integer or None, got {nrows!r}")
    return int(nrows)


def check_choice(option: str, value: Any, allowed: Iterable[Any]) -> Any:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"option {option}={value!r} is not allowed; allowed values are {allowed}")
    return value


def require_columns(df: pd.DataFrame, file: Path, columns: Iterable[str]) -> None:
    """Fail with the file name, the missing columns and the columns found."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"{file}: missing column(s) {missing}; found {list(df.columns)}; expected the "
            f"official layout {list(columns)}"
        )


def find_file(folder: Path, names: Iterable[str]) -> Path | None:
    """The first of ``names`` that exists in ``folder``."""
    for n in names:
        p = folder / n
        if p.is_file():
            return p
    return None


def on_uniques(s: pd.Series, fn) -> pd.Series:
    """Apply a vectorised string function ``fn`` (Series -> Series) to the distinct values of ``s``
    only and broadcast the result back; missing values stay missing. Much faster than a row-wise
    string operation on columns with few distinct values (codes, invoices, countries)."""
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    mapped = fn(pd.Series(np.asarray(uniques, dtype=object))).to_numpy()
    out = np.empty(len(s), dtype=mapped.dtype if mapped.dtype != bool else bool)
    if len(mapped):
        out = mapped[np.where(codes < 0, 0, codes)]
    missing = codes < 0
    if missing.any():
        out = out.astype(object)
        out[missing] = np.nan
    return pd.Series(out, index=s.index, name=s.name)


def as_id_strings(s: pd.Series) -> pd.Series:
    """Ids as stripped strings (object dtype); whole numbers in integer form; blank -> missing.

    Handles the mixed cells an Excel reader returns (``536365`` as int, ``17850.0`` as float,
    ``"C536379"`` as str) and the ``"17850.0"`` strings a float column leaves behind in a CSV.
    """
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        out = pd.Series(np.full(len(s), np.nan, dtype=object), index=s.index)
        mask = s.notna().to_numpy()
        vals = s.to_numpy()[mask]
        if pd.api.types.is_float_dtype(s):
            frac = (vals % 1) != 0
            if frac.any():
                raise ValueError(f"column {s.name!r}: id {vals[frac][0]!r} is not a whole number")
        out[mask] = vals.astype("int64").astype(str)
        return out

    def clean(u: pd.Series) -> pd.Series:
        u = u.map(_one_id).astype(object).str.strip()
        u = u.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
        return u.where(u.str.len() > 0, np.nan)

    return on_uniques(s, clean).astype(object)


def _one_id(v: Any) -> Any:
    if isinstance(v, str):
        return v
    if isinstance(v, bool | np.bool_):
        return str(v)
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        if np.isnan(v):
            return np.nan
        if float(v).is_integer():
            return str(int(v))
    return str(v)


def categorical_ids(values: np.ndarray | pd.Series) -> pd.Categorical:
    """A categorical of id strings (memory-light for long event logs), categories in order of first
    appearance."""
    codes, uniques = pd.factorize(np.asarray(values))
    if (codes < 0).any():
        raise ValueError("categorical_ids: missing id")
    cats = pd.Index(np.asarray(uniques).astype(str), dtype=object)
    return pd.Categorical.from_codes(codes, categories=cats, validate=False)


def mode_by_key(keys: pd.Series | np.ndarray, values: pd.Series | np.ndarray) -> pd.DataFrame:
    """Most frequent non-missing value per key (ties: the value seen first).

    Returns a frame indexed by key with columns ``value`` and ``n_distinct`` (how many distinct values
    the key had, so a loader can report keys whose value changed).
    """
    k = keys.reset_index(drop=True) if isinstance(keys, pd.Series) else pd.Series(keys)
    v = values.reset_index(drop=True) if isinstance(values, pd.Series) else pd.Series(values)
    df = pd.DataFrame({"k": k, "v": v}).dropna()
    if df.empty:
        return pd.DataFrame({"value": pd.Series(dtype=object), "n_distinct": pd.Series(dtype=int)})
    counts = df.groupby(["k", "v"], sort=False, observed=True).size()
    n_distinct = counts.groupby(level=0, sort=False).size()
    counts = counts.sort_values(ascending=False, kind="stable")
    top = counts[~counts.index.get_level_values(0).duplicated()]
    out = pd.DataFrame(
        {"value": np.asarray(top.index.get_level_values(1), dtype=object)},
        index=np.asarray(top.index.get_level_values(0)),
    )
    out["n_distinct"] = n_distinct.reindex(out.index).to_numpy()
    return out


_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_NS_PER_UNIT = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def epoch_to_datetime(
    values: pd.Series | np.ndarray,
    unit: str,
    file: PathLike,
    column: str = "timestamp",
    where: Any = None,
) -> pd.Series:
    """Epoch numbers to naive UTC datetimes.

    Fails naming the file, the column, the value and its line (``where(position)`` gives the
    line) on a missing value or a number that is no date in ``unit`` (for example epoch
    milliseconds in a column documented as seconds).
    """
    s = pd.Series(values)

    def at(pos: int) -> str:
        return where(pos) if where is not None else f"data row {pos}"

    if s.isna().any():
        pos = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise ValueError(f"{file}: column {column!r} is empty at {at(pos)}")
    num = s.to_numpy(dtype="float64")
    limit = np.iinfo("int64").max / _NS_PER_UNIT[unit]
    out_of_range = ~np.isfinite(num) | (np.abs(num) >= limit)
    if out_of_range.any():
        pos = int(np.flatnonzero(out_of_range)[0])
        value = s.iloc[pos]
        hint = ""
        if unit == "s" and abs(float(value)) < limit * 1000:
            hint = " (it looks like epoch milliseconds)"
        raise ValueError(
            f"{file}: column {column!r} value {shown(value)} at {at(pos)} is not a date in epoch "
            f"{_UNIT_NAMES[unit]}{hint}; {int(out_of_range.sum())} such value(s)"
        )
    return pd.Series(pd.to_datetime(s.to_numpy(), unit=unit), index=s.index)


def map_events(
    raw: pd.Series, mapping: dict[str, str | None], file: Path, column: str
) -> pd.Series:
    """Map the source's event names to :data:`EVENT_TYPES`; ``None`` in ``mapping`` gives a missing
    value (the caller drops and counts those rows); a name not in ``mapping`` fails loudly."""
    cat = raw.astype("category")
    missing = cat.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"{file}: column {column!r} is empty on {int(missing.sum())} rows, first at data row "
            f"{int(np.flatnonzero(missing)[0])}"
        )
    cats = [str(c) for c in cat.cat.categories]
    unknown = [c for c in cats if c not in mapping]
    if unknown:
        bad = raw.astype(str).isin(unknown).to_numpy()
        pos = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{file}: column {column!r} has unknown value(s) {sorted(unknown)[:5]} "
            f"({int(bad.sum())} rows, first at data row {pos}); known values are {list(mapping)}"
        )
    targets = sorted({v for v in mapping.values() if v is not None})
    code_map = np.array([targets.index(mapping[c]) if mapping[c] else -1 for c in cats] + [-1])
    codes = cat.cat.codes.to_numpy()  # -1 for a missing value -> stays missing
    new = pd.Categorical.from_codes(code_map[codes], categories=targets)
    return pd.Series(new, index=raw.index, name=raw.name)


def count_table(s: pd.Series, limit: int = 20) -> str:
    """``"POST 1196, M 465, ..."``: value counts as text for a note."""
    vc = s.value_counts()
    parts = [f"{k} {v}" for k, v in vc.head(limit).items()]
    if len(vc) > limit:
        parts.append(f"... ({len(vc) - limit} more)")
    return ", ".join(parts)


def read_text(
    file: Path, encodings: tuple[str, ...] = ("utf-8", "latin-1"), nrows: int | None = None
) -> tuple[str, str]:
    """Text of a file (its first ``nrows`` lines if given) and the first encoding that decodes it
    strictly (latin-1 decodes anything, so it goes last)."""
    if nrows is None:
        data = file.read_bytes()
    else:
        with open(file, "rb") as fh:
            data = b"".join(itertools.islice(fh, nrows))
    for enc in encodings:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise ValueError(f"{file}: cannot decode the file with any of {encodings}")


# ----------------------------------------------------------------------------------------------
# reading CSV files that may be cut short or damaged
# ----------------------------------------------------------------------------------------------

LAST_LINE_POLICIES = ("drop", "check")
"""What to do with a last line that does not end with a line break: ``"drop"`` it (the official
releases all end with one, so its absence means the file was cut short) or ``"check"`` it (keep it
when all its fields are there and parse; for exports a user makes, which may lack the final break)."""

_COMPRESSION_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
)
_CHUNK_BYTES = 1 << 20
_SCAN_ROWS = 1_000_000
_EXCERPT = 60


class DamagedFileError(ValueError):
    """A data file is broken somewhere other than at its very end; the message names the file and
    the line."""


@dataclass
class FileEnd:
    """What a guarded read found at the end of a file (see :class:`CsvFile`).

    Attributes
    ----------
    file : Path
        The file.
    compression : str or None
        ``"gzip"``, ``"bz2"``, ``"xz"`` or ``None``.
    complete_lines : int
        Lines that end with a line break (header included).
    cut_short : bool
        The compressed stream ended before its end marker (an interrupted download).
    last_line : int or None
        Line number of a last line without a line break, if there was one.
    last_text : str
        That line (shortened).
    action : str
        ``"dropped"``, ``"kept"`` or ``""`` when there was no such line.
    policy : str
        The reader's ``last_line`` policy (see :data:`LAST_LINE_POLICIES`).
    """

    file: Path
    compression: str | None
    policy: str = "drop"
    complete_lines: int = 0
    cut_short: bool = False
    last_line: int | None = None
    last_text: str = ""
    action: str = ""

    @property
    def noteworthy(self) -> bool:
        return self.cut_short or self.last_line is not None

    def note(self) -> tuple[str, int, str]:
        """``(step, rows, reason)`` for :class:`StepLog`."""
        name = self.file.name
        if self.cut_short:
            where = (
                f"the broken last line {self.last_line} ({self.last_text!r}) dropped"
                if self.last_line is not None
                else "it ends at a line break, so no line is broken"
            )
            return (
                "file cut short",
                1 if self.last_line is not None else 0,
                f"{name}: the {self.compression} stream ends before its end marker (an interrupted "
                f"download?): {self.complete_lines:,} complete lines read, {where}; the lines after "
                "it are missing: download the file again to get them",
            )
        if self.action == "dropped":
            why = (
                "as every line of the official file does"
                if self.policy == "drop"
                else "and lacks fields or holds a value that does not parse"
            )
            return (
                "last line cut short",
                1,
                f"{name}: line {self.last_line} ({self.last_text!r}) does not end with a line break, "
                f"{why}: the file was cut short (an interrupted download?) and the line dropped",
            )
        return (
            "last line without line break",
            0,
            f"{name}: line {self.last_line} does not end with a line break; kept, since all its "
            "fields are present and parse (a cut inside its last value could not be seen)",
        )


def shown(value: Any) -> str:
    """``repr`` of a value for a message, numpy scalars shown as plain numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _excerpt(data: bytes, encoding: str) -> str:
    text = data.decode(encoding, errors="replace").rstrip("\r\n")
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "..."


def _open_bytes(file: Path, data: bytes | None) -> tuple[io.RawIOBase | Any, str | None, list]:
    """A binary stream of the file's (decompressed) content, its compression and what to close."""
    if data is not None:
        return io.BytesIO(data), None, []
    fh = open(file, "rb")  # noqa: SIM115 - closed by the caller through the returned list
    head = fh.read(6)
    fh.seek(0)
    for magic, kind in _COMPRESSION_MAGIC:
        if head.startswith(magic):
            if kind == "gzip":
                stream = gzip.GzipFile(fileobj=fh, mode="rb")
            elif kind == "bz2":
                stream = bz2.BZ2File(fh, mode="rb")
            else:
                stream = lzma.LZMAFile(fh, mode="rb")
            return stream, kind, [stream, fh]
    return fh, None, [fh]


class _GuardedStream(io.RawIOBase):
    """Bytes of a text file handed out in whole lines only.

    The bytes after the last line break are held back until the end of the file, where
    ``decide(header, tail)`` says whether that unterminated last line is kept. A compressed stream
    that ends before its end marker (``EOFError``: an interrupted download) ends the file at the last
    complete line; damaged compressed data raises :class:`DamagedFileError` naming the line.
    """

    def __init__(
        self,
        stream: Any,
        end: FileEnd,
        decide: Any,
        encoding: str,
        header_expected: bool,
    ) -> None:
        super().__init__()
        self._stream = stream
        self._read = getattr(stream, "read1", stream.read)
        self._end = end
        self._decide = decide
        self._encoding = encoding
        self._header_expected = header_expected
        self._buf = b""
        self._pos = 0
        self._tail = b""
        self._header: bytes | None = None
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._buf) and not self._eof:
            self._fill()
        if self._pos >= len(self._buf):
            return 0
        k = min(len(b), len(self._buf) - self._pos)
        b[:k] = self._buf[self._pos : self._pos + k]
        self._pos += k
        return k

    def _fill(self) -> None:
        end = self._end
        try:
            chunk = self._read(_CHUNK_BYTES)
        except EOFError:
            end.cut_short = True
            chunk = b""
        except (OSError, zlib.error, lzma.LZMAError) as err:
            raise DamagedFileError(
                f"{end.file}: the {end.compression or 'file'} data is damaged after line "
                f"{end.complete_lines} ({err}); the file cannot be read past that point: download "
                "it again"
            ) from err
        if not chunk:
            self._eof = True
            self._buf, self._pos = self._at_end(), 0
            return
        data = self._tail + chunk if self._tail else chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._tail = data
            self._buf, self._pos = b"", 0
            return
        self._buf, self._pos, self._tail = data[: cut + 1], 0, data[cut + 1 :]
        if self._header is None:
            self._header = self._buf[: self._buf.find(b"\n") + 1]
        end.complete_lines += self._buf.count(b"\n")

    def _at_end(self) -> bytes:
        """What follows the last complete line: the unterminated last line, or nothing."""
        end = self._end
        tail, self._tail = self._tail, b""
        if not tail.strip(b" \t\r\n\x1a"):
            return b""
        if self._header_expected and end.complete_lines == 0:
            return tail + b"\n"  # the header line alone: nothing to judge
        end.last_line = end.complete_lines + 1
        end.last_text = _excerpt(tail, self._encoding)
        if not end.cut_short and self._decide(self._header or b"", tail):
            end.action = "kept"
            return tail + b"\n"
        end.action = "dropped"
        return b""


def _first_bad_value(values: pd.Series, kind: str) -> tuple[int, str] | None:
    """Position and reason of the first text value that the numeric ``kind`` cannot hold
    (``"int64"``/``"Int64"`` (nullable), ``"float64"``...), or ``None``."""
    text = on_uniques(values, lambda u: u.astype(str).str.strip()).fillna("")
    empty = (text == "").to_numpy()
    candidates: list[tuple[int, str]] = []
    if kind.lower().startswith("int"):
        digits = text.str.fullmatch(r"[+-]?\d+").to_numpy(dtype=bool)
        if kind[0] == "i":  # not nullable
            hit = np.flatnonzero(empty)
            if len(hit):
                candidates.append((int(hit[0]), "empty"))
        hit = np.flatnonzero(~digits & ~empty)
        if len(hit):
            candidates.append((int(hit[0]), "not a whole number"))
        for i in np.flatnonzero(digits & (text.str.len().to_numpy() > 18)):
            if not -(2**63) <= int(text.iloc[i]) < 2**63:
                candidates.append((int(i), "too large for a 64-bit integer id"))
                break
    else:
        num = pd.to_numeric(text.where(~empty), errors="coerce")
        hit = np.flatnonzero(num.isna().to_numpy() & ~empty)
        if len(hit):
            candidates.append((int(hit[0]), "not a number"))
    return min(candidates) if candidates else None


class CsvFile:
    """A CSV (or ``.csv.gz`` / ``.bz2`` / ``.xz``) data file read with :func:`pandas.read_csv`,
    guarded against interrupted downloads and damaged lines.

    - A last line without a line break is dropped (``last_line="drop"``, the official releases all
      end with a break) or kept only when all its fields are present and parse (``"check"``).
    - A compressed file that ends before its end marker (an interrupted download; reading it raw
      ends in ``EOFError``) is read up to its last complete line; the broken line after it is
      dropped.
    - Either is recorded as a step of the loader's :class:`StepLog`, with the line number.
    - A line broken anywhere else stops the read with :class:`DamagedFileError` naming the file,
      the line, the column and the value.

    Parameters
    ----------
    file : Path
        The file (named in every message).
    data : bytes, optional
        Content to read instead of the file's (already decoded and re-encoded text).
    shown_sep : str, optional
        Separator to show in messages when ``data`` replaced the file's own (``::`` in MovieLens).
    last_line : {"drop", "check"}
        See :data:`LAST_LINE_POLICIES`.
    **kwargs
        :func:`pandas.read_csv` options (``sep``, ``dtype``, ``names``, ``header``, ``usecols``,
        ``nrows``, ``chunksize``, ``encoding``...).
    """

    def __init__(
        self,
        file: PathLike,
        *,
        data: bytes | None = None,
        last_line: str = "drop",
        shown_sep: str | None = None,
        **kwargs: Any,
    ) -> None:
        check_choice("last_line", last_line, LAST_LINE_POLICIES)
        self.file = Path(file)
        self.data = data
        self.last_line = last_line
        self.shown_sep = shown_sep
        self.kwargs = kwargs
        self.end: FileEnd | None = None

    # -- helpers ------------------------------------------------------------------------------

    @property
    def encoding(self) -> str:
        return self.kwargs.get("encoding") or "utf-8"

    @property
    def _has_header(self) -> bool:
        return self.kwargs.get("header", "infer") is not None and "names" not in self.kwargs

    @property
    def _sep(self) -> str:
        return self.kwargs.get("sep", self.kwargs.get("delimiter", ","))

    def _fields(self, line: bytes) -> list[str] | None:
        """The fields of one line as the csv module splits it; ``None`` for an unclosed quote."""
        text = line.decode(self.encoding, errors="replace").rstrip("\r\n")
        quoting = self.kwargs.get("quoting", csv.QUOTE_MINIMAL)
        if quoting != csv.QUOTE_NONE and text.count('"') % 2:
            return None
        try:
            rows = list(csv.reader([text], delimiter=self._sep, quoting=quoting, strict=True))
        except csv.Error:
            return None
        return rows[0] if rows else []

    def _expected_fields(self, header: bytes) -> int | None:
        if "names" in self.kwargs:
            return len(self.kwargs["names"])
        fields = self._fields(header) if header else None
        return len(fields) if fields is not None else None

    def _line_is_complete(self, header: bytes, line: bytes) -> bool:
        """All fields present, no open quote, and the values parse with the read's dtypes."""
        fields = self._fields(line)
        expected = self._expected_fields(header)
        if fields is None or expected is None or len(fields) != expected:
            return False
        kwargs = {k: v for k, v in self.kwargs.items() if k not in ("nrows", "chunksize")}
        try:
            pd.read_csv(io.BytesIO((header if self._has_header else b"") + line + b"\n"), **kwargs)
        except (ValueError, OverflowError, pd.errors.ParserError):
            return False
        return True

    @contextlib.contextmanager
    def _stream(self):
        stream, compression, to_close = _open_bytes(self.file, self.data)
        end = FileEnd(self.file, compression, self.last_line)
        decide = (lambda h, t: False) if self.last_line == "drop" else self._line_is_complete
        buf = io.BufferedReader(
            _GuardedStream(stream, end, decide, self.encoding, self._has_header), _CHUNK_BYTES
        )
        try:
            yield buf, end
        finally:
            buf.close()
            for f in to_close:
                f.close()

    def _record(self, end: FileEnd, log: StepLog | None) -> None:
        self.end = end
        if log is not None and end.noteworthy:
            log.add(*end.note(), removes=True)

    # -- reading ------------------------------------------------------------------------------

    def read(self, log: StepLog | None = None) -> pd.DataFrame:
        """The whole file as a DataFrame; a cut-short end is recorded in ``log``."""
        if "chunksize" in self.kwargs:
            raise TypeError("CsvFile.read: use chunks() with chunksize")
        try:
            with self._stream() as (buf, end):
                df = pd.read_csv(buf, **self.kwargs)
        except (UnicodeDecodeError, DamagedFileError):
            raise
        except pd.errors.EmptyDataError as err:
            raise ValueError(f"{self.file}: the file is empty (no header, no data)") from err
        except pd.errors.ParserError as err:
            raise DamagedFileError(self._explain_parser_error(err)) from err
        except (ValueError, OverflowError) as err:
            raise DamagedFileError(self._explain_bad_value(err)) from err
        self._record(end, log)
        return df

    def chunks(self, log: StepLog | None = None):
        """Iterate over DataFrames of ``chunksize`` rows; errors as in :meth:`read`."""
        try:
            with self._stream() as (buf, end):
                with pd.read_csv(buf, **self.kwargs) as reader:
                    yield from reader
        except (UnicodeDecodeError, DamagedFileError):
            raise
        except pd.errors.ParserError as err:
            raise DamagedFileError(self._explain_parser_error(err)) from err
        except (ValueError, OverflowError) as err:
            raise DamagedFileError(self._explain_bad_value(err)) from err
        self._record(end, log)

    # -- locating problems --------------------------------------------------------------------

    def _scan(self):
        """``(data row, physical line, fields)`` of every record as pandas counts rows (blank lines
        skipped); the header, if any, comes first with row ``-1``."""
        quoting = self.kwargs.get("quoting", csv.QUOTE_MINIMAL)
        with self._stream() as (buf, _):
            text = io.TextIOWrapper(buf, encoding=self.encoding, errors="replace", newline="")
            reader = csv.reader(text, delimiter=self._sep, quoting=quoting)
            row = -1 if self._has_header else 0
            for fields in reader:
                if not fields or fields == [""]:
                    continue
                yield row, reader.line_num, fields
                row += 1

    def _expected_count(self) -> int | None:
        if "names" in self.kwargs:
            return len(self.kwargs["names"])
        if not self._has_header:
            return None
        for row, _, fields in self._scan():
            if row == -1:
                return len(fields)
        return None

    def lines_of(self, positions: Iterable[int]) -> dict[int, int]:
        """Physical line numbers (1-based, header included) of data rows given by position."""
        wanted = {int(p) for p in positions}
        out: dict[int, int] = {}
        if not wanted:
            return out
        last = max(wanted)
        for row, line, _ in self._scan():
            if row in wanted:
                out[row] = line
            if row >= last:
                break
        return out

    def where(self, position: int) -> str:
        """``"line N"`` of a data row (its physical line in the file)."""
        line = self.lines_of([position]).get(int(position))
        return f"line {line}" if line is not None else f"data row {position}"

    def _field_count_problem(self, only_row: int | None = None) -> str | None:
        """The first record (or record ``only_row``) whose field count is wrong, described."""
        expected = self._expected_count()
        try:
            for row, line, fields in self._scan():
                if row < 0 or (only_row is not None and row != only_row):
                    continue
                if expected is None:
                    expected = len(fields)
                if len(fields) != expected:
                    text = _excerpt((self.shown_sep or self._sep).join(fields).encode(), "utf-8")
                    return (
                        f"{self.file}: line {line} has {len(fields)} fields where {expected} are "
                        f"expected ({text!r}): the file is damaged in the middle, not just cut "
                        "short at its end; fix that line or download the file again"
                    )
                if only_row is not None:
                    return None
        except csv.Error:
            return None
        return None

    def line_problem(self, position: int) -> str | None:
        """A description of data row ``position`` if its line has the wrong number of fields (a
        line broken in the middle of the file; pandas fills a short line with missing values)."""
        return self._field_count_problem(only_row=int(position))

    def _explain_parser_error(self, err: Exception) -> str:
        return self._field_count_problem() or f"{self.file}: cannot read the file: {err}"

    def _typed_columns(self) -> dict[str, str]:
        dtype = self.kwargs.get("dtype")
        if dtype is None:
            return {}
        if not isinstance(dtype, dict):
            cols = self.kwargs.get("names") or []
            dtype = dict.fromkeys(cols, dtype)
        out = {}
        for col, t in dtype.items():
            name = str(np.dtype(t)) if not isinstance(t, str) else t
            if name in ("int64", "Int64", "int32", "Int32", "int", "float64", "float32", "float"):
                out[col] = name
        return out

    def _explain_bad_value(self, err: Exception) -> str:
        """Read the file again as text, a chunk at a time, to find the first value the typed
        columns cannot hold: its line, column and value."""
        typed = self._typed_columns()
        if typed:
            kwargs = dict(self.kwargs)
            kwargs.update(dtype=str, keep_default_na=False, chunksize=_SCAN_ROWS)
            if "usecols" in kwargs and callable(kwargs["usecols"]):
                kwargs.pop("usecols")
            offset = 0
            try:
                text = CsvFile(self.file, data=self.data, last_line=self.last_line, **kwargs)
                for chunk in text.chunks():
                    found = [
                        (hit[0], str(col), hit[1])
                        for col in chunk.columns
                        if col in typed
                        and (hit := _first_bad_value(chunk[col], typed[col])) is not None
                    ]
                    if found:
                        pos, col, what = min(found, key=lambda f: f[0])  # leftmost on ties
                        value = chunk[col].iloc[pos]
                        pos += offset
                        short = self._field_count_problem(only_row=pos)
                        if short:
                            return short
                        return (
                            f"{self.file}: {self.where(pos)}, column {col!r}: {what} (value "
                            f"{value!r}); fix that line or download the file again"
                        )
                    offset += len(chunk)
            except (ValueError, OverflowError):
                pass
        return f"{self.file}: cannot read the file: {err}"


def read_csv_checked(
    file: PathLike,
    source: bytes | None = None,
    *,
    log: StepLog | None = None,
    last_line: str = "drop",
    **kwargs: Any,
) -> Any:
    """:func:`pandas.read_csv` through :class:`CsvFile`: errors name the file, the line and the
    column; a file cut short is read up to its last complete line and recorded in ``log``.

    ``source`` is content to read instead of the file's (bytes). With ``chunksize`` an iterator of
    DataFrames is returned.
    """
    reader = CsvFile(file, data=source, last_line=last_line, **kwargs)
    if "chunksize" in kwargs:
        return reader.chunks(log)
    return reader.read(log)
