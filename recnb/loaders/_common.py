"""Helpers shared by the real-data loaders: id strings, per-key modes, step log, final assembly."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recnb.schema import Dataset, validate_dataset

PathLike = str | os.PathLike


class StepLog:
    """What a loader dropped or changed, in order; becomes :attr:`Dataset.notes`.

    Every check is logged, also when it matched no row, so a reader sees that it was made.
    """

    def __init__(self) -> None:
        self.steps: list[tuple[str, int, str]] = []

    def add(self, step: str, rows: int, reason: str) -> None:
        self.steps.append((step, int(rows), reason))

    def __iter__(self):
        return iter(self.steps)


def finish(
    name: str,
    customers: pd.DataFrame,
    products: pd.DataFrame,
    events: pd.DataFrame,
    log: StepLog,
    meta: dict[str, Any],
) -> Dataset:
    """Assemble the three tables, record the log with :meth:`Dataset.add_note`, validate."""
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


def epoch_to_datetime(values: pd.Series | np.ndarray, unit: str, file: Path) -> pd.Series:
    """Epoch numbers to naive UTC datetimes; fail naming the file on a missing value."""
    s = pd.Series(values)
    if s.isna().any():
        pos = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise ValueError(f"{file}: missing timestamp at data row {pos}")
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


def read_csv_checked(file: Path | str, source: Any = None, **kwargs: Any) -> Any:
    """``pandas.read_csv`` whose parse and dtype errors name the file (pandas' own messages do not).

    ``source`` is what pandas reads (a buffer) when it is not ``file`` itself.
    """
    try:
        return pd.read_csv(file if source is None else source, **kwargs)
    except UnicodeDecodeError:
        raise
    except (pd.errors.ParserError, ValueError, OverflowError) as err:
        raise ValueError(f"{file}: cannot read as the official layout: {err}") from err
