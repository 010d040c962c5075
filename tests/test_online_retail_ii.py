"""UCI Online Retail II: the two-sheet workbook and the CSV exports users make of it.

The lines below copy the layout of the real ``online_retail_II.xlsx`` (its column names, the cell
types openpyxl gives: numeric invoices and stock codes as numbers, ``Customer ID`` as a float, dates as
datetimes) and its special cases: cancellations ``C...``, a bad-debt adjustment ``A...`` with a
negative price, a stock adjustment (negative quantity at price 0, no customer), a test stock code, a
line the shop booked twice, and the December 2010 lines that both sheets hold. Expected counts are
worked out by hand from these rows.
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pandas as pd
import pytest

from recnb.data.loaders import load_online_retail, load_source, resolve_data_path

openpyxl = pytest.importorskip("openpyxl")


# the layout of the real workbook, written out here (not imported) so the test states it
COLUMNS_II = ("Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price",
              "Customer ID", "Country")  # fmt: skip
SHEETS_II = ("Year 2009-2010", "Year 2010-2011")


def notes(ds) -> dict[str, int]:
    return {n["step"]: n["rows"] for n in ds.notes}


def reason(ds, step: str) -> str:
    return next(n["reason"] for n in ds.notes if n["step"] == step)


def T(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# (Invoice, StockCode, Description, Quantity, InvoiceDate, Price, Customer ID, Country)
ONLY_2009 = [
    (489434, 85048, "15CM CHRISTMAS GLASS BALL 20 LIGHTS", 12, T("2009-12-01 07:45"), 6.95, 13085.0, "United Kingdom"),
    (489434, "79323P", "PINK CHERRY LIGHTS", 12, T("2009-12-01 07:45"), 6.75, 13085.0, "United Kingdom"),
    ("C489449", 22087, "PAPER BUNTING WHITE LACE", -12, T("2009-12-01 10:33"), 2.95, 16321.0, "Australia"),
    (489464, 21733, "85123a mixed", -96, T("2009-12-01 10:52"), 0.0, None, "United Kingdom"),
    (502269, 21984, "PACK OF 12 PINK PAISLEY TISSUES ", 10, T("2010-03-23 15:36"), 0.25, 17940.0, "United Kingdom"),
    ("A506401", "B", "Adjust bad debt", 1, T("2010-04-29 13:36"), -53594.36, None, "United Kingdom"),
    (522330, "TEST001", "This is a test product.", 5, T("2010-09-13 11:52"), 4.5, 14103.0, "United Kingdom"),
]  # fmt: skip
OVERLAP = [
    (536365, "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 6, T("2010-12-01 08:26"), 2.55, 17850.0, "United Kingdom"),
    (536365, 71053, "WHITE METAL LANTERN", 6, T("2010-12-01 08:26"), 3.39, 17850.0, "United Kingdom"),
    ("C536379", "D", "Discount", -1, T("2010-12-01 09:41"), 27.5, 14527.0, "United Kingdom"),
    # booked twice by the shop: both lines are real and stay
    (536409, 21866, "UNION JACK FLAG LUGGAGE TAG", 1, T("2010-12-01 11:45"), 1.25, 17908.0, "United Kingdom"),
    (536409, 21866, "UNION JACK FLAG LUGGAGE TAG", 1, T("2010-12-01 11:45"), 1.25, 17908.0, "United Kingdom"),
    (538171, 22966, "GINGERBREAD MAN COOKIE CUTTER", 2, T("2010-12-09 20:01"), 1.25, 17530.0, "United Kingdom"),
]  # fmt: skip
ONLY_2011 = [
    (541431, 23166, "MEDIUM CERAMIC TOP STORAGE JAR", 74215, T("2011-01-18 10:01"), 1.04, 12346.0, "United Kingdom"),
    ("C541433", 23166, "MEDIUM CERAMIC TOP STORAGE JAR", -74215, T("2011-01-18 10:17"), 1.04, 12346.0, "United Kingdom"),
    (581587, 22138, "BAKING SET 9 PIECE RETROSPOT", 3, T("2011-12-09 12:50"), 4.95, 12680.0, "France"),
]  # fmt: skip
SHEET_1 = ONLY_2009 + OVERLAP
SHEET_2 = OVERLAP + ONLY_2011


def write_workbook(file: Path, sheets: dict[str, list[tuple]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        ws.append(list(COLUMNS_II))
        for r in rows:
            ws.append(list(r))
    file.parent.mkdir(parents=True, exist_ok=True)
    wb.save(file)
    return file


@pytest.fixture
def xlsx(tmp_path: Path) -> Path:
    return write_workbook(
        tmp_path / "online-retail-ii" / "online_retail_II.xlsx",
        {SHEETS_II[0]: SHEET_1, SHEETS_II[1]: SHEET_2},
    )


def export_csv(xlsx: Path, out: Path, sort: bool = False) -> Path:
    """What users do: both sheets one after the other, written by pandas (as the Kaggle copy)."""
    sheets = pd.read_excel(xlsx, sheet_name=None)
    df = pd.concat(sheets.values(), ignore_index=True)
    if sort:
        df = df.sort_values("InvoiceDate", kind="stable")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.name.endswith(".gz"):
        out.write_bytes(gzip.compress(df.to_csv(index=False).encode("utf-8")))
    else:
        df.to_csv(out, index=False)
    return out


N_LINES = len(SHEET_1) + len(SHEET_2)  # 13 + 9 = 22 lines read
N_COPIES = len(OVERLAP)  # 6 lines of sheet 2 repeat sheet 1

EXPECTED_NOTES = {
    "read": N_LINES,
    "sheet overlap": N_COPIES,
    "stock codes upper-cased": 0,
    "descriptions trimmed": 1,  # "PACK OF 12 PINK PAISLEY TISSUES "
    "missing description": 0,
    # 489464 (stock adjustment) and A506401
    "missing customer id": 2,
    "bad-debt adjustments": 0,  # A506401 has no customer: dropped one step earlier
    "non-product stock codes": 2,  # TEST001, D (C536379)
    "unit price <= 0": 0,
    "quantity sign": 0,
    "returns kept": 2,  # C489449, C541433
    "country unspecified": 0,
    "customer country": 0,
    "customers without events": 2,  # 14103 (TEST001 only), 14527 (discount only)
    # 21733: only the stock adjustment; 22087: only the cancellation C489449
    "products without a priced sale": 2,
}


def test_workbook_with_both_sheets_loads_with_the_overlap_removed(xlsx):
    ds = load_online_retail(xlsx)
    assert notes(ds) == EXPECTED_NOTES
    assert ds.meta["release"] == "Online Retail II" and ds.meta["layout"] == "online_retail_ii"
    assert ds.meta["sheets"] == list(SHEETS_II)
    assert ds.meta["sheet_overlap_rows"] == N_COPIES
    assert "doi.org/10.24432/C5CG6D" in ds.meta["citation"]
    assert "Year 2010-2011" in reason(ds, "sheet overlap")
    assert "2010-12-01 08:26 to 2010-12-09 20:01" in reason(ds, "sheet overlap")
    ev = ds.events
    # 22 lines - 6 copies - 2 without customer - 2 non-product = 12 events
    assert len(ev) == 12
    # the line booked twice stays twice; every other overlap line once
    tag = ev[(ev["product_id"] == "21866")]
    assert len(tag) == 2
    assert (ev["session_id"] == "536365").sum() == 2
    assert (ev["session_id"] == "538171").sum() == 1
    assert ev["timestamp"].min() == pd.Timestamp("2009-12-01 07:45")
    assert ev["timestamp"].max() == pd.Timestamp("2011-12-09 12:50")
    assert set(ev.loc[ev["is_return"], "session_id"]) == {"C489449", "C541433"}
    assert ev.loc[ev["session_id"] == "C541433", "value"].tolist() == [-74215.0]
    # ids as the first release writes them: no ".0" from the float Customer ID cells
    assert "13085" in set(ds.customers["customer_id"])
    assert {"85048", "79323P", "85123A"} <= set(ds.products["product_id"])
    raw = ds.meta["raw_counts"]
    assert raw["rows"] == N_LINES and raw["cancellation_rows"] == 2 + 2  # C536379 in both sheets
    assert raw["adjustment_rows"] == 1


def test_csv_and_gzip_exports_give_the_workbook_dataset(xlsx, tmp_path):
    ref = load_online_retail(xlsx)
    for name in ("online_retail_II.csv", "online_retail_II.csv.gz"):
        f = export_csv(xlsx, tmp_path / "export" / name)
        assert "13085.0" in pd.read_csv(f, dtype=str)["Customer ID"].tolist()  # as users have it
        ds = load_online_retail(f)
        assert notes(ds) == notes(ref), name
        assert "both sheets" in reason(ds, "sheet overlap")
        for t in ("customers", "products", "events"):
            pd.testing.assert_frame_equal(ds.table(t), ref.table(t), obj=f"{name} {t}")


def test_csv_export_sorted_by_date_still_loses_only_the_copies(xlsx, tmp_path):
    ref = load_online_retail(xlsx)
    ds = load_online_retail(export_csv(xlsx, tmp_path / "sorted" / "retail.csv", sort=True))
    assert notes(ds)["sheet overlap"] == N_COPIES
    key = ["session_id", "product_id", "timestamp", "value"]
    pd.testing.assert_frame_equal(
        ds.events.sort_values(key).reset_index(drop=True)[key],
        ref.events.sort_values(key).reset_index(drop=True)[key],
    )


def test_csv_of_one_sheet_keeps_every_line(xlsx, tmp_path):
    """One sheet exported alone: the overlap lines are there once (the twice-booked tag twice)."""
    sheet = pd.read_excel(xlsx, sheet_name=SHEETS_II[1])
    f = tmp_path / "one" / "online_retail_II.csv"
    f.parent.mkdir()
    sheet.to_csv(f, index=False)
    ds = load_online_retail(f)
    assert notes(ds)["read"] == len(SHEET_2)
    assert notes(ds)["sheet overlap"] == 0
    assert "not all doubled" in reason(ds, "sheet overlap")
    assert (ds.events["product_id"] == "21866").sum() == 2


def test_a_later_sheet_line_missing_from_the_earlier_sheet_is_kept_and_counted(tmp_path):
    extra = (536500, 22114, "HOT WATER BOTTLE TEA AND SYMPATHY", 4, T("2010-12-02 10:00"), 3.95, 17850.0, "United Kingdom")  # fmt: skip
    f = write_workbook(
        tmp_path / "online_retail_II.xlsx",
        {SHEETS_II[0]: SHEET_1, SHEETS_II[1]: OVERLAP + [extra] + ONLY_2011},
    )
    ds = load_online_retail(f)
    assert notes(ds)["sheet overlap"] == N_COPIES
    assert "1 line(s) of a later sheet dated within an earlier sheet's span" in reason(
        ds, "sheet overlap"
    )
    assert (ds.events["product_id"] == "22114").sum() == 1


def test_found_in_its_folder_by_name_and_through_the_data_dir(xlsx, monkeypatch):
    monkeypatch.setenv("RECNB_DATA_DIR", str(xlsx.parent.parent))
    assert resolve_data_path("online_retail") == xlsx.parent  # online-retail-ii/
    ds = load_source("online_retail")
    assert ds.meta["file"] == str(xlsx) and len(ds.events) == 12


def test_sheet_in_another_layout_and_unknown_columns_are_named(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = SHEETS_II[0]
    ws.append(list(COLUMNS_II))
    ws.append(list(SHEET_1[0]))
    other = wb.create_sheet("Notes")
    other.append(["Invoice", "Comment"])
    other.append([1, "checked"])
    f = tmp_path / "online_retail_II.xlsx"
    wb.save(f)
    with pytest.raises(ValueError, match=r"online_retail_II.xlsx sheet 'Notes': missing column"):
        load_online_retail(f)
    csv = tmp_path / "retail.csv"
    csv.write_text("Invoice,StockCode,Qty\n1,2,3\n")
    with pytest.raises(
        ValueError, match=r"expected the columns of Online Retail \[.*Online Retail II"
    ):
        load_online_retail(csv)


def test_bad_value_in_a_sheet_is_reported_at_its_sheet_row(tmp_path):
    rows = [list(r) for r in SHEET_2]
    rows[4][3] = "lots"  # Quantity of the 5th data line: row 6 of the sheet
    f = write_workbook(
        tmp_path / "online_retail_II.xlsx", {SHEETS_II[0]: SHEET_1, SHEETS_II[1]: rows}
    )
    with pytest.raises(
        ValueError,
        match=r"column 'Quantity' is missing or not a number at sheet 'Year 2010-2011' row 6 "
        r"\(value 'lots'",
    ):
        load_online_retail(f)


def test_overlap_window_matches_the_documented_sheets():
    from recnb.data.loaders import online_retail

    assert online_retail.COLUMNS_II == COLUMNS_II and online_retail.SHEETS_II == SHEETS_II
    OVERLAP_II = online_retail.OVERLAP_II
    assert OVERLAP_II == (pd.Timestamp("2010-12-01 08:26"), pd.Timestamp("2010-12-09 20:01"))
    assert min(r[4] for r in SHEET_2) == OVERLAP_II[0]
    assert max(r[4] for r in SHEET_1) == OVERLAP_II[1]


def test_download_variant_ii_unpacks_into_its_own_folder(xlsx, tmp_path):
    import zipfile

    from recnb.data.loaders import download

    archive = tmp_path / "online+retail+ii.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(xlsx, "online_retail_II.xlsx")
    dest = tmp_path / "data"
    folder = download("online_retail", dest, variant="ii", url=archive.as_uri())
    assert folder == dest / "online-retail-ii"
    assert load_source("online_retail", folder).meta["release"] == "Online Retail II"
    with pytest.raises(ValueError, match=r"variant='iii' is not allowed"):
        download("online_retail", dest, variant="iii")


@pytest.mark.realdata
@pytest.mark.slow
def test_real_lines_in_the_ii_layout_lose_exactly_the_documented_overlap(shared_data_dir, tmp_path):
    """The 2010-2011 sheet of release II is the first release's file; its lines up to 2010-12-09
    20:01 (the last line of sheet 2009-2010) are the overlap: 22,523 lines, as the data set's
    documentation states. Written as a both-sheets CSV export (that window, then the whole sheet),
    the load must drop exactly those copies and give the first release's dataset."""
    src = shared_data_dir / "online-retail" / "online_retail.csv.gz"
    if not src.is_file():
        pytest.skip(f"{src} absent")
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    window = df[pd.to_datetime(df["InvoiceDate"]) <= pd.Timestamp("2010-12-09 20:01")]
    assert len(window) == 22_523
    both = pd.concat([window, df], ignore_index=True)
    both.columns = list(COLUMNS_II)
    f = tmp_path / "online_retail_II.csv.gz"
    f.write_bytes(gzip.compress(both.to_csv(index=False).encode("utf-8")))
    ref = load_online_retail(src)
    ds = load_online_retail(f)
    assert notes(ds)["read"] == 541_909 + 22_523
    assert notes(ds)["sheet overlap"] == 22_523
    assert {k: v for k, v in notes(ds).items() if k not in ("read", "sheet overlap")} == {
        k: v for k, v in notes(ref).items() if k != "read"
    }
    for t in ("customers", "products", "events"):
        pd.testing.assert_frame_equal(ds.table(t), ref.table(t), obj=t)
