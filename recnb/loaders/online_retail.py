"""UCI Online Retail: invoice lines of a UK online gift shop (2010-12 to 2011-12).

Reads the official ``Online Retail.xlsx`` or a CSV with the same eight columns (``InvoiceNo, StockCode,
Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country``), plain or gzipped. Each invoice
line becomes a ``purchase`` event (value = quantity, price_paid = unit price, session_id = invoice,
location = country). What the file holds besides purchases of products is dropped or marked, and
every step is logged with its row count in :attr:`Dataset.notes`:

1. StockCode letters upper-cased (``85099b`` and ``85099B`` are the same product), optional;
2. Description blanks trimmed;
3. lines without CustomerID dropped;
4. bad-debt adjustments (InvoiceNo ``A...``) dropped;
5. non-product stock codes (postage, carriage, fees, discounts, manual entries, samples, gift vouchers)
   dropped, see :func:`is_product_code` and :data:`NON_PRODUCT_CODES`;
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

import re
from pathlib import Path

import numpy as np
import pandas as pd

from recnb.loaders._common import (
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
    read_csv_checked,
    require_columns,
)
from recnb.schema import Dataset

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
FILE_NAMES: tuple[str, ...] = (
    "online_retail.csv.gz",
    "online_retail.csv",
    "Online Retail.xlsx",
    "online_retail.xlsx",
    "Online Retail.csv",
)
"""File names looked for in a folder, in this order (the official archive holds ``Online Retail.xlsx``)."""

URL = "https://archive.ics.uci.edu/static/public/352/online+retail.zip"
PAGE = "https://archive.ics.uci.edu/dataset/352/online+retail"
LICENCE = "CC BY 4.0"
CITATION = (
    "Chen, Sain & Guo (2012), Data mining for the online retail industry: a case study of RFM "
    "model-based customer segmentation using data mining, J. Database Marketing & Customer Strategy "
    "Management 19(3):197-208"
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
    "gift_0001_*": "gift vouchers",
}
"""The codes of the UCI file that :data:`PRODUCT_CODE` rejects, for the reader. The rule decides, not
this list: any other code that does not look like a product is dropped too and named in the notes."""

UK = "United Kingdom"
UNSPECIFIED = "Unspecified"
RETURNS = ("keep", "drop")
_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")


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


def read_online_retail(file: PathLike, nrows: int | None = None) -> tuple[pd.DataFrame, str]:
    """The raw invoice lines with ids as strings and InvoiceDate parsed; also the text encoding."""
    file = Path(file)
    text_cols = {c: str for c in ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country")}
    name = file.name.lower()
    if name.endswith((".xlsx", ".xlsm")):
        raw = pd.read_excel(file, engine="openpyxl", nrows=nrows)
        encoding = "xlsx"
    else:
        encoding = "utf-8"
        kwargs = dict(dtype=text_cols, nrows=nrows, keep_default_na=False, na_values=[""])
        try:
            raw = read_csv_checked(file, encoding=encoding, **kwargs)
        except UnicodeDecodeError:
            encoding = "latin-1"  # the widespread Kaggle copy of this data set is latin-1
            raw = read_csv_checked(file, encoding=encoding, **kwargs)
    require_columns(raw, file, COLUMNS)
    if len(raw) == 0:
        raise ValueError(f"{file}: no data rows")
    raw = raw[list(COLUMNS)].copy()
    for col in ("InvoiceNo", "StockCode", "CustomerID"):
        raw[col] = as_id_strings(raw[col])
    for col in ("Description", "Country"):  # an Excel cell may hold a number: text it
        raw[col] = on_uniques(raw[col], lambda u: u.map(str)).astype(object)
    for col in ("Quantity", "UnitPrice"):
        num = pd.to_numeric(raw[col], errors="coerce")
        bad = (num.isna() & raw[col].notna()) | raw[col].isna()
        if bad.any():
            pos = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"{file}: column {col!r} is missing or not a number at data row {pos} "
                f"(value {raw[col].iloc[pos]!r}, {int(bad.sum())} bad rows)"
            )
        raw[col] = num
    for col in ("InvoiceNo", "StockCode"):
        bad = raw[col].isna().to_numpy()
        if bad.any():
            raise ValueError(
                f"{file}: column {col!r} is empty on {int(bad.sum())} rows, first at data row "
                f"{int(np.flatnonzero(bad)[0])}"
            )
    raw["InvoiceDate"] = _parse_dates(raw["InvoiceDate"], file)
    return raw, encoding


def _parse_dates(s: pd.Series, file: Path) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):
        out = s
    else:
        text = on_uniques(s.astype(str), lambda u: u.str.strip())
        out = None
        for fmt in _DATE_FORMATS:
            parsed = on_uniques(text, lambda u, f=fmt: pd.to_datetime(u, format=f, errors="coerce"))
            if parsed.notna().all():
                out = parsed
                break
        if out is None:
            parsed = pd.to_datetime(text, format=_DATE_FORMATS[0], errors="coerce")
            pos = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            raise ValueError(
                f"{file}: column 'InvoiceDate' value {s.iloc[pos]!r} at data row {pos} does not "
                f"parse with any of {list(_DATE_FORMATS)}"
            )
    if out.isna().any():
        pos = int(np.flatnonzero(out.isna().to_numpy())[0])
        raise ValueError(f"{file}: column 'InvoiceDate' is empty at data row {pos}")
    return out.astype("datetime64[ns]")


def raw_counts(raw: pd.DataFrame) -> dict[str, int]:
    """The figures the data set's documentation states, computed on the file as read."""
    inv = on_uniques(raw["InvoiceNo"], lambda u: u.str.upper().str[:1])
    return {
        "rows": len(raw),
        "missing_customer_id": int(raw["CustomerID"].isna().sum()),
        "cancellation_rows": int((inv == "C").sum()),
        "adjustment_rows": int((inv == "A").sum()),
        "unit_price_le_0": int((raw["UnitPrice"] <= 0).sum()),
        "customers": int(raw["CustomerID"].nunique()),
        "stock_codes": int(raw["StockCode"].nunique()),
        "countries": int(raw["Country"].nunique()),
        "uk_rows": int((raw["Country"] == UK).sum()),
    }


def load_online_retail(
    path: PathLike,
    *,
    returns: str = "keep",
    upper_codes: bool = True,
    nrows: int | None = None,
) -> Dataset:
    """Load UCI Online Retail from the xlsx or CSV file (or the folder holding it).

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

    Returns
    -------
    Dataset
        Validated; ``notes`` lists every drop and change with its row count, ``meta["raw_counts"]``
        the documented figures of the file as read (rows, missing CustomerID, customers...).
    """
    check_choice("returns", returns, RETURNS)
    nrows = check_nrows(nrows)
    file = find_online_retail_file(path)
    if file is None:
        raise FileNotFoundError(
            f"Online Retail: no data file at {path} (looked for {list(FILE_NAMES)}); get it from {URL}"
        )
    raw, encoding = read_online_retail(file, nrows=nrows)
    counts = raw_counts(raw)
    log = StepLog()
    log.add("read", len(raw), f"invoice lines in {file.name}")

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
        log.add(step, hit.sum(), reason)
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

    meta = {
        "source": "online_retail",
        "file": str(file),
        "encoding": encoding,
        "url": URL,
        "page": PAGE,
        "licence": LICENCE,
        "citation": CITATION,
        "timezone": "UK wall-clock time, as recorded",
        "raw_counts": counts,
        "non_product_codes": {str(k): int(v) for k, v in code[~product].value_counts().items()},
        "options": {"returns": returns, "upper_codes": upper_codes, "nrows": nrows},
    }
    return finish("online_retail", customers, products, events, log, meta)
