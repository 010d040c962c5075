"""UCI Online Retail and Online Retail II: invoice lines of a UK online gift shop.

Two releases of the same shop's data, told apart by their column names:

- **Online Retail** (UCI 352, 2010-12 to 2011-12): ``Online Retail.xlsx``, one sheet, columns
  ``InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country``; or a
  CSV with those columns, plain or gzipped;
- **Online Retail II** (UCI 502, 2009-12 to 2011-12): ``online_retail_II.xlsx`` with two sheets,
  ``Year 2009-2010`` (525,461 lines, 2009-12-01 07:45 to 2010-12-09 20:01) and ``Year 2010-2011``
  (541,910 lines, 2010-12-01 08:26 to 2011-12-09 12:50), columns ``Invoice, StockCode, Description,
  Quantity, InvoiceDate, Price, Customer ID, Country``; or a CSV export of it, plain or gzipped (the
  widespread ``online_retail_II.csv`` holds both sheets one after the other, 1,067,371 lines, with
  ``Customer ID`` as ``13085.0`` and dates as ``2009-12-01 07:45:00``).

The two sheets of release II overlap: the 22,523 lines of 2010-12-01 08:26 to 2010-12-09 20:01 are in
both, identical. Each such line is kept once and the copies are counted in the notes: in the xlsx, a
line of a later sheet that repeats a line of an earlier sheet is dropped (as a multiset, so a line the
shop really booked twice stays twice); in a CSV, where the sheets are no longer told apart, the lines
dated inside that window are dropped to one copy when every one of them appears an even number of
times (a file holding both sheets), and kept as they are otherwise (a file holding one copy).

Dates: an xlsx holds real dates; a CSV is read with the documented ``YYYY-MM-DD HH:MM:SS`` (or without
seconds). Exports in another form are read only when the form is certain: ``12/13/2010 14:05`` is
month first, ``13/12/2010 14:05`` day first; a file where every day is 12 or less fits both and is
refused unless ``date_format`` names the form.

Each invoice line becomes a ``purchase`` event (value = quantity, price_paid = unit price, session_id =
invoice, location = country). What the file holds besides purchases of products is dropped or marked,
and every step is logged with its row count in :attr:`Dataset.notes`:

1. StockCode letters upper-cased (``85099b`` and ``85099B`` are the same product), optional;
2. Description blanks trimmed;
3. lines without CustomerID dropped;
4. bad-debt adjustments (InvoiceNo ``A...``) dropped;
5. non-product stock codes (postage, carriage, fees, discounts, manual entries, samples, gift vouchers,
   test and stock-adjustment codes) dropped, see :func:`is_product_code` and :data:`NON_PRODUCT_CODES`;
6. lines with UnitPrice <= 0 dropped;
7. lines whose quantity sign disagrees with the invoice type (or zero quantity) dropped;
8. cancellations (InvoiceNo ``C...``, negative quantity) kept with ``is_return=True`` and a negative
   value (``returns="keep"``, so preprocessing can net them) or dropped (``returns="drop"``).

The customers table holds every CustomerID of the file with its (most frequent) country and a region
(``"United Kingdom"`` or ``"Other"``); the products table every product stock code with its most
frequent description and median unit price over its sale lines. The source has no categories, brands,
ages or genders: those columns are absent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recnb.data.loaders._common import (
    CsvFile,
    PathLike,
    StepLog,
    as_id_strings,
    check_choice,
    check_nrows,
    count_table,
    find_file,
    finish,
    mode_by_key,
    on_uniques,
    shown,
)
from recnb.data.schema import Dataset

COLUMNS: tuple[str, ...] = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
"""Columns of the Online Retail release (2010-2011); the loader works with these names."""
COLUMNS_II: tuple[str, ...] = (
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
)
"""Columns of the Online Retail II release (2009-2011), in the same order and meaning as
:data:`COLUMNS`."""
LAYOUTS: dict[str, tuple[str, ...]] = {"online_retail": COLUMNS, "online_retail_ii": COLUMNS_II}
SHEETS_II: tuple[str, ...] = ("Year 2009-2010", "Year 2010-2011")
"""The sheets of ``online_retail_II.xlsx``, in order."""
OVERLAP_II: tuple[pd.Timestamp, pd.Timestamp] = (
    pd.Timestamp("2010-12-01 08:26:00"),
    pd.Timestamp("2010-12-09 20:01:00"),
)
"""First line of sheet ``Year 2010-2011`` and last line of sheet ``Year 2009-2010``: the lines dated
in between are in both sheets (22,523 lines)."""

FILE_NAMES: tuple[str, ...] = (
    "online_retail.csv.gz",
    "online_retail.csv",
    "Online Retail.xlsx",
    "online_retail.xlsx",
    "Online Retail.csv",
    "online_retail_II.xlsx",
    "online_retail_II.csv.gz",
    "online_retail_II.csv",
)
"""File names looked for in a folder, in this order (the official archives hold ``Online
Retail.xlsx`` and ``online_retail_II.xlsx``); point ``data.path`` at the file to choose another."""

URL = "https://archive.ics.uci.edu/static/public/352/online+retail.zip"
PAGE = "https://archive.ics.uci.edu/dataset/352/online+retail"
URL_II = "https://archive.ics.uci.edu/static/public/502/online+retail+ii.zip"
PAGE_II = "https://archive.ics.uci.edu/dataset/502/online+retail+ii"
LICENCE = "CC BY 4.0"
CITATION = (
    "Chen, Sain & Guo (2012), Data mining for the online retail industry: a case study of RFM "
    "model-based customer segmentation using data mining, J. Database Marketing & Customer Strategy "
    "Management 19(3):197-208"
)
CITATION_II = (
    "Chen, D., Online Retail II [Dataset], UCI Machine Learning Repository, "
    "https://doi.org/10.24432/C5CG6D"
)

PRODUCT_CODE = re.compile(r"^(?:\d{5}[A-Za-z]*|DCGS[A-Za-z0-9]+)$")
"""A product's StockCode: five digits with an optional letter suffix (the shop's catalogue numbers,
``85123A``), or a ``DCGS...`` code (goods sold through the dotcom gift shop: party bags, dog collars)."""

NON_PRODUCT_CODES: dict[str, str] = {
    "POST": "postage",
    "DOT": "dotcom postage",
    "C2": "carriage",
    "M": "manual entry",
    "D": "discount",
    "S": "samples",
    "B": "bad-debt adjustment",
    "BANK CHARGES": "bank charges",
    "AMAZONFEE": "Amazon fee",
    "CRUK": "CRUK commission",
    "PADS": "pads to match cushions (booked at 0.001)",
    "ADJUST": "stock adjustment (Online Retail II)",
    "TEST001": "test entry (Online Retail II)",
    "gift_0001_*": "gift vouchers",
}
"""The codes of the UCI file that :data:`PRODUCT_CODE` rejects, for the reader. The rule decides, not
this list: any other code that does not look like a product is dropped too and named in the notes."""

UK = "United Kingdom"
UNSPECIFIED = "Unspecified"
RETURNS = ("keep", "drop")
DOCUMENTED_DATE_FORMATS: tuple[str, ...] = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
"""The documented form of InvoiceDate in a CSV (year first: never ambiguous)."""
MONTH_FIRST_FORMATS: tuple[str, ...] = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")
DAY_FIRST_FORMATS: tuple[str, ...] = (
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
)
"""Forms that spreadsheet exports write (US: month first; UK and most of Europe: day first)."""


def is_product_code(codes: pd.Series) -> np.ndarray:
    """Boolean mask: which StockCodes name a product (see :data:`PRODUCT_CODE`)."""
    match = on_uniques(codes.astype(object), lambda u: u.astype(str).str.match(PRODUCT_CODE))
    return match.fillna(False).to_numpy(dtype=bool)


def find_online_retail_file(path: PathLike) -> Path | None:
    """The data file: ``path`` itself if it is a file, else the first of :data:`FILE_NAMES` in it."""
    p = Path(path)
    if p.is_file():
        return p
    if p.is_dir():
        return find_file(p, FILE_NAMES)
    return None


@dataclass
class RawLines:
    """Invoice lines as read, before any drop; columns renamed to :data:`COLUMNS`.

    Attributes
    ----------
    frame : DataFrame
        The lines, ids as strings, Quantity and UnitPrice as numbers, InvoiceDate parsed.
    layout : str
        ``"online_retail"`` or ``"online_retail_ii"`` (a key of :data:`LAYOUTS`).
    encoding : str
        Text encoding of a CSV, ``"xlsx"`` for a workbook.
    sheets : list of str
        The workbook's sheets read, in order (empty for a CSV).
    part : ndarray
        Index into ``sheets`` of each line (zeros for a CSV).
    where : callable
        Position of a line -> where it is in the file (``"line 12"``, ``"sheet 'Year 2009-2010' row
        12"``), for messages.
    date_format : str
        How InvoiceDate was read (``"xlsx dates"`` or a strftime format).
    """

    frame: pd.DataFrame
    layout: str
    encoding: str
    sheets: list[str] = field(default_factory=list)
    part: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    where: Callable[[int], str] = str
    date_format: str = ""
    notes: list[tuple[str, int, str]] = field(default_factory=list)


def detect_layout(columns: list[str], where: str) -> str:
    """The release whose columns ``columns`` holds; a clear error naming both layouts otherwise."""
    present = {str(c).strip() for c in columns}
    for layout, cols in LAYOUTS.items():
        if set(cols) <= present:
            return layout
    closest = min(LAYOUTS.values(), key=lambda cols: len(set(cols) - present))
    missing = [c for c in closest if c not in present]
    raise ValueError(
        f"{where}: missing column(s) {missing}; found {[str(c) for c in columns]}; expected the "
        f"columns of Online Retail {list(COLUMNS)} or of Online Retail II {list(COLUMNS_II)}"
    )


def _to_layout_i(df: pd.DataFrame, layout: str) -> pd.DataFrame:
    df = df.rename(columns=lambda c: str(c).strip())
    df = df[list(LAYOUTS[layout])].copy()
    df.columns = list(COLUMNS)
    return df


def _read_workbook(
    file: Path, nrows: int | None
) -> tuple[pd.DataFrame, str, list[str], np.ndarray]:
    """Every sheet of the workbook that holds data, in order (the II release has two)."""
    frames, sheets, layout = [], [], None
    with pd.ExcelFile(file, engine="openpyxl") as book:
        for sheet in book.sheet_names:
            remaining = None if nrows is None else nrows - sum(len(f) for f in frames)
            if remaining is not None and remaining <= 0:
                break
            df = book.parse(sheet, nrows=remaining)
            if df.empty and len(df.columns) == 0:
                continue  # an empty sheet
            this = detect_layout(list(df.columns), f"{file} sheet {sheet!r}")
            if layout is not None and this != layout:
                raise ValueError(
                    f"{file}: sheet {sheet!r} has the columns of {this}, the sheets before it those "
                    f"of {layout}"
                )
            layout = this
            frames.append(_to_layout_i(df, this))
            sheets.append(sheet)
    if not frames:
        raise ValueError(f"{file}: no sheet with data")
    part = np.concatenate([np.full(len(f), i) for i, f in enumerate(frames)])
    return pd.concat(frames, ignore_index=True), layout, sheets, part


def _read_csv(
    file: Path, nrows: int | None, log: StepLog | None
) -> tuple[pd.DataFrame, str, str, CsvFile]:
    """A CSV (plain or compressed) in either layout; UTF-8, else latin-1 (the widespread Kaggle
    copies of both releases are latin-1)."""
    header = CsvFile(file, nrows=0, encoding="latin-1").read()  # the header is ASCII
    layout = detect_layout(list(header.columns), str(file))
    names = dict(zip(COLUMNS, LAYOUTS[layout], strict=True))
    text_cols = ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country")
    dtype = {names[c]: str for c in text_cols} | {
        names[c]: "float64" for c in ("Quantity", "UnitPrice")
    }
    dtype[names["InvoiceDate"]] = str
    for encoding in ("utf-8", "latin-1"):
        reader = CsvFile(
            file,
            encoding=encoding,
            dtype=dtype,
            nrows=nrows,
            keep_default_na=False,
            na_values=[""],
        )
        attempt = StepLog()
        try:
            df = reader.read(attempt)
        except UnicodeDecodeError:
            continue
        if log is not None:
            for step in attempt:
                log.add(*step)
        return _to_layout_i(df, layout), layout, encoding, reader
    raise ValueError(f"{file}: cannot decode the file as UTF-8 or latin-1")  # pragma: no cover


def read_online_retail(
    file: PathLike,
    nrows: int | None = None,
    date_format: str | None = None,
    log: StepLog | None = None,
) -> RawLines:
    """The raw invoice lines of either release, ids as strings and InvoiceDate parsed.

    A CSV cut short at its end is read up to its last complete line (recorded in ``log``); a bad
    value stops the read with the file, the line (or sheet and row), the column and the value.
    """
    file = Path(file)
    name = file.name.lower()
    if name.endswith((".xlsx", ".xlsm")):
        raw, layout, sheets, part = _read_workbook(file, nrows)
        starts = np.concatenate([[0], np.cumsum(np.bincount(part, minlength=len(sheets)))])

        def where(pos: int) -> str:
            k = int(part[pos])
            return f"sheet {sheets[k]!r} row {pos - int(starts[k]) + 2}"

        def problem(pos: int) -> None:
            return None

        encoding = "xlsx"
    else:
        raw, layout, encoding, reader = _read_csv(file, nrows, log)
        sheets, part = [], np.zeros(len(raw), dtype=int)
        where = reader.where
        problem = reader.line_problem
    if len(raw) == 0:
        raise ValueError(f"{file}: no data rows")
    names = dict(zip(COLUMNS, LAYOUTS[layout], strict=True))
    for col in ("InvoiceNo", "StockCode", "CustomerID"):
        try:
            raw[col] = as_id_strings(raw[col])
        except ValueError as err:
            raise ValueError(f"{file}: {err}") from None
    for col in ("Description", "Country"):  # an Excel cell may hold a number: text it
        raw[col] = on_uniques(raw[col], lambda u: u.map(str)).astype(object)
    for col in ("Quantity", "UnitPrice"):
        num = pd.to_numeric(raw[col], errors="coerce")
        bad = (num.isna() & raw[col].notna()) | raw[col].isna()
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                problem(pos)
                or f"{file}: column {names[col]!r} is missing or not a number at {where(pos)} "
                f"(value {shown(raw[col].iloc[pos])}; {int(bad.sum())} bad row(s))"
            )
        raw[col] = num.astype("float64")
    for col in ("InvoiceNo", "StockCode"):
        bad = raw[col].isna().to_numpy()
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            raise ValueError(
                problem(pos)
                or f"{file}: column {names[col]!r} is empty on {int(bad.sum())} row(s), first at "
                f"{where(pos)}"
            )
    dates, used, notes = parse_invoice_dates(raw["InvoiceDate"], file, where, date_format)
    raw["InvoiceDate"] = dates
    return RawLines(raw, layout, encoding, sheets, part, where, used, notes)


def _as_text(v: object) -> str:
    if isinstance(v, pd.Timestamp | dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return str(v).strip()


def parse_invoice_dates(
    s: pd.Series,
    file: PathLike,
    where: Callable[[int], str],
    date_format: str | None = None,
) -> tuple[pd.Series, str, list[tuple[str, int, str]]]:
    """InvoiceDate values to datetimes: ``(dates, how they were read, notes)``.

    Real dates (an xlsx) are taken as they are. Text is read with ``date_format`` if given, else
    with the documented year-first form, else with the one spreadsheet form (month first or day
    first) that fits every value.

    Raises
    ------
    ValueError
        A missing or unreadable date (named with its line and value); a file whose dates fit both
        month-first and day-first reading (every day 12 or less) without ``date_format``.
    """
    notes: list[tuple[str, int, str]] = []
    if pd.api.types.is_datetime64_any_dtype(s):
        out, used = s, "xlsx dates"
    else:
        missing = s.isna().to_numpy()
        if missing.any():
            pos = int(np.flatnonzero(missing)[0])
            raise ValueError(f"{file}: column 'InvoiceDate' is empty at {where(pos)}")
        text = on_uniques(s.astype(object), lambda u: u.map(_as_text)).astype(object)

        def parse(fmt: str) -> pd.Series:
            return on_uniques(text, lambda u: pd.to_datetime(u, format=fmt, errors="coerce"))

        if date_format is not None:
            out, used = parse(date_format), date_format
            bad = out.isna().to_numpy()
            if bad.any():
                pos = int(np.flatnonzero(bad)[0])
                raise ValueError(
                    f"{file}: column 'InvoiceDate' value {s.iloc[pos]!r} at {where(pos)} does not "
                    f"match date_format {date_format!r} ({int(bad.sum())} such value(s))"
                )
        else:
            out, used = _infer_dates(text, s, file, where, parse, notes)
    return pd.Series(out, index=s.index).astype("datetime64[ns]"), used, notes


def _infer_dates(text, s, file, where, parse, notes):
    tried: dict[str, pd.Series] = {}
    for fmt in DOCUMENTED_DATE_FORMATS:
        tried[fmt] = parse(fmt)
        if tried[fmt].notna().all():
            return tried[fmt], fmt
    fits = {}
    for fmt in MONTH_FIRST_FORMATS + DAY_FIRST_FORMATS:
        tried[fmt] = parse(fmt)
        if tried[fmt].notna().all():
            fits[fmt] = tried[fmt]
    month_first = [f for f in fits if f in MONTH_FIRST_FORMATS]
    day_first = [f for f in fits if f in DAY_FIRST_FORMATS]
    if month_first and day_first:
        raise ValueError(
            f"{file}: column 'InvoiceDate' is ambiguous: every value (e.g. {s.iloc[0]!r} at "
            f"{where(0)}) reads both month first ({month_first[0]!r}) and day first "
            f"({day_first[0]!r}), as no day is above 12. Name the form in data.options, e.g. "
            f"date_format: {day_first[0]!r} for a day-first (UK) export"
        )
    if fits:
        fmt = next(iter(fits))
        other = DAY_FIRST_FORMATS[0] if fmt in MONTH_FIRST_FORMATS else MONTH_FIRST_FORMATS[0]
        proof = np.flatnonzero(tried.get(other, parse(other)).isna().to_numpy())
        order = "month first" if fmt in MONTH_FIRST_FORMATS else "day first"
        example = (
            f", e.g. {s.iloc[int(proof[0])]!r} at {where(int(proof[0]))}" if len(proof) else ""
        )
        notes.append(
            (
                "date format",
                0,
                f"InvoiceDate is not in the documented form YYYY-MM-DD HH:MM:SS; read as {fmt!r} "
                f"({order}), the only form that fits every value{example}",
            )
        )
        return fits[fmt], fmt
    best = max(tried, key=lambda f: int(tried[f].notna().sum()))
    bad = np.flatnonzero(tried[best].isna().to_numpy())
    pos = int(bad[0])
    raise ValueError(
        f"{file}: column 'InvoiceDate' value {s.iloc[pos]!r} at {where(pos)} is not a date: it "
        f"does not fit {best!r}, the form of the other values ({len(bad)} such value(s)); forms "
        f"tried: {list(tried)}"
    )


def remove_sheet_overlap(lines: RawLines) -> tuple[np.ndarray, tuple[str, int, str] | None]:
    """Mask of the lines that repeat the overlap between the II release's sheets, and its note.

    xlsx: a line of a later sheet identical (all eight columns) to a line of an earlier sheet is a
    copy, counted as a multiset. CSV: the lines dated inside :data:`OVERLAP_II` are halved when
    every distinct line there appears an even number of times (both sheets in one file).
    """
    df = lines.frame
    dup = np.zeros(len(df), dtype=bool)
    if lines.layout != "online_retail_ii" or len(df) == 0:
        return dup, None
    key = pd.util.hash_pandas_object(df[list(COLUMNS)], index=False).to_numpy()
    lo, hi = OVERLAP_II
    window = f"{lo:%Y-%m-%d %H:%M} to {hi:%Y-%m-%d %H:%M}"
    if len(lines.sheets) > 1:
        unmatched_in_span = 0
        for k in range(1, len(lines.sheets)):
            earlier = pd.Series(key[lines.part < k]).value_counts()
            idx = np.flatnonzero(lines.part == k)
            later = pd.Series(key[idx])
            seen = later.groupby(later).cumcount().to_numpy()
            available = earlier.reindex(later.to_numpy()).fillna(0).to_numpy()
            dup[idx] = seen < available
            last_earlier = df["InvoiceDate"][lines.part < k].max()
            in_span = df["InvoiceDate"].to_numpy()[idx] <= np.datetime64(last_earlier)
            unmatched_in_span += int((in_span & ~dup[idx]).sum())
        extra = (
            f"; {unmatched_in_span:,} line(s) of a later sheet dated within an earlier sheet's span "
            "are not in it and are kept"
            if unmatched_in_span
            else ""
        )
        return dup, (
            "sheet overlap",
            int(dup.sum()),
            f"lines of a later sheet ({', '.join(repr(x) for x in lines.sheets[1:])}) that repeat "
            f"a line of an earlier sheet (the sheets overlap from {window}) dropped: each line is "
            f"kept once{extra}",
        )
    dates = df["InvoiceDate"].to_numpy()
    inside = (dates >= np.datetime64(lo)) & (dates <= np.datetime64(hi))
    idx = np.flatnonzero(inside)
    if not len(idx):
        return dup, (
            "sheet overlap",
            0,
            f"no line dated in the sheets' overlap ({window}): nothing to remove",
        )
    k = pd.Series(key[idx])
    counts = k.map(k.value_counts()).to_numpy()
    if (counts % 2 == 0).all():
        seen = k.groupby(k).cumcount().to_numpy()
        dup[idx] = seen >= counts // 2
        return dup, (
            "sheet overlap",
            int(dup.sum()),
            f"the file holds both sheets of the xlsx: each of the {len(idx):,} lines dated in the "
            f"sheets' overlap ({window}) is there twice; one copy of each dropped",
        )
    return dup, (
        "sheet overlap",
        0,
        f"the {len(idx):,} lines dated in the sheets' overlap ({window}) are not all doubled: the "
        "file holds one copy of that period (one sheet, or already deduplicated); nothing removed",
    )


def raw_counts(raw: pd.DataFrame) -> dict[str, int]:
    """The figures the data set's documentation states, computed on the file as read."""
    inv = on_uniques(raw["InvoiceNo"], lambda u: u.str.upper().str[:1])
    return {
        "rows": len(raw),
        "missing_customer_id": int(raw["CustomerID"].isna().sum()),
        "cancellation_rows": int((inv == "C").sum()),
        "adjustment_rows": int((inv == "A").sum()),
        "negative_quantity": int((raw["Quantity"] < 0).sum()),
        "unit_price_le_0": int((raw["UnitPrice"] <= 0).sum()),
        "customers": int(raw["CustomerID"].nunique()),
        "stock_codes": int(raw["StockCode"].nunique()),
        "countries": int(raw["Country"].nunique()),
        "uk_rows": int((raw["Country"] == UK).sum()),
    }


def describe_counts(counts: dict[str, int]) -> str:
    """What the file held, for a message: ``"6 invoice lines: 6 cancellations ..."``."""
    return (
        f"{counts['rows']:,} invoice line(s): {counts['cancellation_rows']:,} cancellation(s) "
        f"(InvoiceNo 'C...'), {counts['negative_quantity']:,} with a negative Quantity, "
        f"{counts['adjustment_rows']:,} bad-debt adjustment(s) (InvoiceNo 'A...'), "
        f"{counts['unit_price_le_0']:,} with UnitPrice <= 0, {counts['missing_customer_id']:,} "
        "without CustomerID"
    )


def load_online_retail(
    path: PathLike,
    *,
    returns: str = "keep",
    upper_codes: bool = True,
    nrows: int | None = None,
    date_format: str | None = None,
) -> Dataset:
    """Load UCI Online Retail or Online Retail II from the xlsx or CSV file (or the folder holding
    it); the release is recognised from its columns.

    Parameters
    ----------
    path : str or Path
        The data file, or a folder holding one of :data:`FILE_NAMES`.
    returns : {"keep", "drop"}
        Cancellation lines: keep them as purchase events with ``is_return=True`` and a negative value
        (so preprocessing can net them against the purchase), or drop them.
    upper_codes : bool
        Upper-case StockCode letters so ``85099b`` and ``85099B`` are one product.
    nrows : int, optional
        Read only the first ``nrows`` lines (for quick looks; all counts then refer to those lines).
    date_format : str, optional
        strftime form of InvoiceDate in a CSV export that is not in the documented
        ``YYYY-MM-DD HH:MM:SS`` (e.g. ``"%d/%m/%Y %H:%M"`` for a UK spreadsheet export). Needed only
        when the form is ambiguous (every day 12 or less); ignored for an xlsx.

    Returns
    -------
    Dataset
        Validated; ``notes`` lists every drop and change with its row count, ``meta["raw_counts"]``
        the documented figures of the file as read (rows, missing CustomerID, customers...).
    """
    check_choice("returns", returns, RETURNS)
    nrows = check_nrows(nrows)
    if date_format is not None and (not isinstance(date_format, str) or "%" not in date_format):
        raise ValueError(
            f"option date_format={date_format!r} is not a strftime form such as '%d/%m/%Y %H:%M'"
        )
    file = find_online_retail_file(path)
    if file is None:
        raise FileNotFoundError(
            f"Online Retail: no data file at {path} (looked for {list(FILE_NAMES)}); get it from "
            f"{URL} or {URL_II}"
        )
    log = StepLog()
    lines = read_online_retail(file, nrows=nrows, date_format=date_format, log=log)
    for note in lines.notes:
        log.add(*note)
    counts = raw_counts(lines.frame)
    where_read = f"{len(lines.sheets)} sheets of " if len(lines.sheets) > 1 else ""
    log.add("read", len(lines.frame), f"invoice lines in {where_read}{file.name}")
    overlap, note = remove_sheet_overlap(lines)
    if note is not None:
        log.add(*note, removes=True)
    raw = lines.frame[~overlap].reset_index(drop=True)

    code = raw["StockCode"]
    if upper_codes:
        upper = on_uniques(code, lambda u: u.str.upper())
        changed = (upper != code).to_numpy()
        example = (
            f", e.g. {code[changed].iloc[0]} -> {upper[changed].iloc[0]}" if changed.any() else ""
        )
        merged = code.nunique() - upper.nunique()
        log.add(
            "stock codes upper-cased",
            changed.sum(),
            f"lower-case letters in StockCode upper-cased; {merged} codes merged with their "
            f"upper-case twin{example}",
        )
        code = upper
    desc = raw["Description"]
    trimmed = on_uniques(desc, lambda u: u.str.strip())
    log.add(
        "descriptions trimmed",
        (desc.notna() & (trimmed != desc)).sum(),
        "leading or trailing blanks removed from Description",
    )
    desc = trimmed.where(trimmed != "", np.nan)
    log.add(
        "missing description",
        desc.isna().sum(),
        "lines without Description (kept; a product's description comes from its priced sales)",
    )

    inv = raw["InvoiceNo"]
    first = on_uniques(inv, lambda u: u.str.upper().str[:1])
    is_cancel = (first == "C").to_numpy()
    is_adjust = (first == "A").to_numpy()
    product = is_product_code(code)
    qty = raw["Quantity"].to_numpy()
    price = raw["UnitPrice"].to_numpy()
    customer = raw["CustomerID"]
    country = raw["Country"].where(raw["Country"] != UNSPECIFIED, np.nan)

    keep = np.ones(len(raw), dtype=bool)

    def drop(step: str, mask: np.ndarray, reason: str) -> None:
        hit = keep & mask
        log.add(step, hit.sum(), reason, removes=True)
        keep[hit] = False

    drop("missing customer id", customer.isna().to_numpy(), "lines without CustomerID dropped")
    drop(
        "bad-debt adjustments",
        is_adjust,
        "InvoiceNo starting with 'A' (bad-debt adjustments, not sales) dropped",
    )
    nonprod_rows = code[keep & ~product]
    drop(
        "non-product stock codes",
        ~product,
        "StockCodes that are not products (postage, carriage, fees, discounts, manual entries, "
        "samples, gift vouchers) dropped: " + (count_table(nonprod_rows) or "none"),
    )
    drop(
        "unit price <= 0", price <= 0, "lines with UnitPrice <= 0 (free or booking entries) dropped"
    )
    drop(
        "quantity sign",
        (is_cancel & (qty >= 0)) | (~is_cancel & (qty <= 0)),
        "quantity sign disagrees with the invoice type (negative on a sale, positive on a "
        "cancellation) or quantity is zero: dropped",
    )
    if returns == "keep":
        log.add(
            "returns kept",
            (keep & is_cancel).sum(),
            "cancellation lines (InvoiceNo 'C...') kept as purchase events with is_return=True and "
            "a negative value, to be netted by preprocessing",
        )
    else:
        drop("returns dropped", is_cancel, "cancellation lines (InvoiceNo 'C...') dropped")
    log.add(
        "country unspecified",
        (keep & (raw["Country"] == UNSPECIFIED).to_numpy()).sum(),
        "Country 'Unspecified' treated as missing (events.location, customers.country and region)",
    )

    events = pd.DataFrame(
        {
            "customer_id": customer[keep].to_numpy(),
            "product_id": code[keep].to_numpy(),
            "timestamp": raw["InvoiceDate"][keep].to_numpy(),
            "event": "purchase",
            "value": qty[keep].astype("float64"),
            "price_paid": price[keep],
            "session_id": inv[keep].to_numpy(),
            "location": country[keep].to_numpy(),
        }
    )
    if returns == "keep":
        events["is_return"] = is_cancel[keep]

    # customers: every CustomerID of the file, with the country they buy from most often
    has_cust = customer.notna().to_numpy()
    cust_ids = pd.unique(customer[has_cust])
    cc = mode_by_key(customer[has_cust], country[has_cust]).reindex(cust_ids)
    log.add(
        "customer country",
        (cc["n_distinct"] > 1).sum(),
        "customers seen with more than one Country: the most frequent one is used",
    )
    cust_country = cc["value"].to_numpy(dtype=object)
    region = np.where(cust_country == UK, UK, "Other").astype(object)
    region[pd.isna(cust_country)] = np.nan
    customers = pd.DataFrame({"customer_id": cust_ids, "country": cust_country, "region": region})
    log.add(
        "customers without events",
        (~pd.Index(cust_ids).isin(events["customer_id"])).sum(),
        "customers of the file all of whose lines were dropped above (kept in the customers table)",
    )

    # products: every product stock code of the file; description and price from its sale lines
    prod_ids = pd.unique(code[product])
    sale = product & (price > 0) & (qty > 0) & ~is_cancel & ~is_adjust
    descr = mode_by_key(code[sale], desc[sale])["value"].reindex(prod_ids)
    med = pd.Series(price[sale]).groupby(code[sale].to_numpy()).median().reindex(prod_ids)
    products = pd.DataFrame(
        {"product_id": prod_ids, "description": descr.to_numpy(), "price": med.to_numpy()}
    )
    log.add(
        "products without a priced sale",
        products["price"].isna().sum(),
        "products seen only on zero-price, cancelled or adjustment lines: price and description "
        "left missing",
    )

    release_ii = lines.layout == "online_retail_ii"
    meta = {
        "source": "online_retail",
        "release": "Online Retail II" if release_ii else "Online Retail",
        "layout": lines.layout,
        "file": str(file),
        "sheets": lines.sheets,
        "encoding": lines.encoding,
        "date_format": lines.date_format,
        "url": URL_II if release_ii else URL,
        "page": PAGE_II if release_ii else PAGE,
        "licence": LICENCE,
        "citation": CITATION_II if release_ii else CITATION,
        "timezone": "UK wall-clock time, as recorded",
        "raw_counts": counts,
        "sheet_overlap_rows": int(overlap.sum()),
        "non_product_codes": {str(k): int(v) for k, v in code[~product].value_counts().items()},
        "options": {
            "returns": returns,
            "upper_codes": upper_codes,
            "nrows": nrows,
            "date_format": date_format,
        },
    }
    return finish("online_retail", customers, products, events, log, meta, describe_counts(counts))
