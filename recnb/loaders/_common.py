"""Helpers shared by the real-data loaders: id strings, per-key modes, step log, final assembly."""

from __future__ import annotations

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
    if pd.api.types.infer_dtype(s, skipna=True) not in ("string", "empty"):
        s = s.map(_one_id, na_action="ignore")
    out = s.astype(object).str.strip()
    out = out.str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    return out.where(out.str.len() > 0, np.nan).astype(object)


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
    """A categorical of id strings (memory-light for long event logs)."""
    cat = pd.Categorical(values)
    cats = cat.categories
    if not (pd.api.types.is_object_dtype(cats) or pd.api.types.is_string_dtype(cats)):
        cat = cat.rename_categories([str(c) for c in cats])
    return cat


def mode_by_key(keys: pd.Series | np.ndarray, values: pd.Series | np.ndarray) -> pd.DataFrame:
    """Most frequent non-missing value per key (ties: the value seen first).

    Returns a frame indexed by key with columns ``value`` and ``n_distinct`` (how many distinct values
    the key had, so a loader can report keys whose value changed).
    """
    df = pd.DataFrame({"k": np.asarray(keys), "v": np.asarray(values)}).dropna()
    if df.empty:
        return pd.DataFrame({"value": pd.Series(dtype=object), "n_distinct": pd.Series(dtype=int)})
    counts = df.groupby(["k", "v"], sort=False, observed=True).size()
    n_distinct = counts.groupby(level=0, sort=False).size()
    counts = counts.sort_values(ascending=False, kind="stable")
    top = counts[~counts.index.get_level_values(0).duplicated()]
    out = pd.DataFrame(
        {"value": top.index.get_level_values(1)}, index=top.index.get_level_values(0)
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


def map_events(raw: pd.Series, mapping: dict[str, str | None], file: Path, column: str) -> pd.Series:
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


def read_text(file: Path, encodings: tuple[str, ...] = ("utf-8", "latin-1")) -> tuple[str, str]:
    """File text and the first encoding that decodes it strictly."""
    data = file.read_bytes()
    for enc in encodings:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise ValueError(f"{file}: cannot decode the file with any of {encodings}")
