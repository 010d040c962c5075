"""Real-data loaders: small files in each official format written here, plus the shared real data.

Every expected count below is worked out by hand from the rows written in the test.
"""

from __future__ import annotations

import datetime as dt
import gzip
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recnb.data.loaders import (
    DATA_DIR_ENV,
    NON_PRODUCT_CODES,
    SOURCE_NAMES,
    ManualDownloadRequired,
    download,
    is_product_code,
    load_movielens,
    load_online_retail,
    load_rees46,
    load_retailrocket,
    load_source,
    load_taobao,
    resolve_data_path,
)
from recnb.data.loaders.retailrocket import category_paths
from recnb.data.schema import EVENT_TYPES


def notes(ds) -> dict[str, int]:
    return {n["step"]: n["rows"] for n in ds.notes}


def reason(ds, step: str) -> str:
    return next(n["reason"] for n in ds.notes if n["step"] == step)


# ----------------------------------------------------------------------------------------------
# UCI Online Retail
# ----------------------------------------------------------------------------------------------

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
RETAIL_ROWS = [
    # sale with trailing blanks in the description
    ("536365", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER  ", 6, "2010-12-01 08:26:00", 2.55, "17850", "United Kingdom"),
    ("536365", "71053", "WHITE METAL LANTERN", 6, "2010-12-01 08:26:00", 3.39, "17850", "United Kingdom"),
    ("536366", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 2, "2010-12-01 09:00:00", 2.95, "12583", "France"),
    ("536366", "POST", "POSTAGE", 3, "2010-12-01 09:00:00", 18.0, "12583", "France"),
    # lower-case twin of 85099B
    ("536367", "85099b", "JUMBO BAG RED RETROSPOT", 10, "2010-12-02 10:00:00", 1.65, "12583", "France"),
    ("536368", "85099B", "JUMBO BAG RED RETROSPOT", 5, "2010-12-02 11:00:00", 1.95, "17850", "United Kingdom"),
    # no customer id
    ("536369", "71053", "WHITE METAL LANTERN", 1, "2010-12-02 12:00:00", 3.39, "", "United Kingdom"),
    ("536370", "22222", "", -5, "2010-12-02 13:00:00", 0.0, "", "United Kingdom"),
    # cancellation of a product, and of a manual entry
    ("C536371", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", -2, "2010-12-03 08:00:00", 2.55, "17850", "United Kingdom"),
    ("C536372", "M", "Manual", -1, "2010-12-03 09:00:00", 5.0, "17850", "United Kingdom"),
    # bad-debt adjustment (given a customer so that it reaches its own step)
    ("A563185", "B", "Adjust bad debt", 1, "2011-08-12 14:50:00", 11062.06, "17850", "United Kingdom"),
    # the only lines of customer 13047: a gift voucher and a zero-price line
    ("536373", "gift_0001_10", "Dotcomgiftshop Gift Voucher £10.00", 1, "2010-12-04 10:00:00", 8.51, "13047", "United Kingdom"),
    ("536374", "84406B", "CREAM CUPID HEARTS COAT HANGER", 8, "2010-12-04 11:00:00", 0.0, "13047", "United Kingdom"),
    # a dotcom gift shop product, bank charges, country unspecified
    ("536375", "DCGSSBOY", "BOYS PARTY BAG", 1, "2010-12-05 10:00:00", 3.29, "12346", "Unspecified"),
    ("536376", "BANK CHARGES", "Bank Charges", 1, "2010-12-05 11:00:00", 15.0, "12346", "Unspecified"),
    # 12583 buys mostly from France, once from Germany
    ("536377", "85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 3, "2010-12-06 10:00:00", 3.05, "12583", "Germany"),
    # negative quantity on a sale invoice
    ("536378", "71053", "WHITE METAL LANTERN", -3, "2010-12-06 11:00:00", 3.39, "12583", "France"),
]  # fmt: skip


def _retail_csv_text(rows=RETAIL_ROWS) -> str:
    def cell(v):
        s = str(v)
        return f'"{s}"' if "," in s else s

    return "\n".join([RETAIL_HEADER, *(",".join(cell(v) for v in r) for r in rows)]) + "\n"


@pytest.fixture
def retail_csv(tmp_path: Path) -> Path:
    f = tmp_path / "online-retail" / "online_retail.csv"
    f.parent.mkdir()
    f.write_text(_retail_csv_text(), encoding="utf-8")
    return f


def test_online_retail_notes_count_each_special_case(retail_csv):
    ds = load_online_retail(retail_csv.parent)
    assert notes(ds) == {
        "read": 17,
        "stock codes upper-cased": 2,  # 85099b and gift_0001_10
        "descriptions trimmed": 1,
        "missing description": 1,
        "missing customer id": 2,
        "bad-debt adjustments": 1,
        "non-product stock codes": 4,
        "unit price <= 0": 1,
        "quantity sign": 1,
        "returns kept": 1,
        "country unspecified": 1,
        "customer country": 1,
        "customers without events": 1,
        "products without a priced sale": 2,
    }
    for code in ("POST", "M", "GIFT_0001_10", "BANK CHARGES"):
        assert f"{code} 1" in reason(ds, "non-product stock codes")
    assert ds.meta["raw_counts"] == {
        "rows": 17,
        "missing_customer_id": 2,
        "cancellation_rows": 2,
        "adjustment_rows": 1,
        "negative_quantity": 4,
        "unit_price_le_0": 2,
        "customers": 4,
        "stock_codes": 12,
        "countries": 4,
        "uk_rows": 10,
    }
    assert ds.meta["non_product_codes"] == {
        "POST": 1, "M": 1, "B": 1, "GIFT_0001_10": 1, "BANK CHARGES": 1
    }  # fmt: skip


def test_online_retail_maps_lines_to_purchase_events(retail_csv):
    ds = load_online_retail(retail_csv)
    ev = ds.events
    assert len(ev) == 8
    assert set(ev["event"].astype(str)) == {"purchase"}
    assert list(ev["session_id"]) == [
        "536365", "536365", "536366", "536367", "536368", "C536371", "536375", "536377"
    ]  # fmt: skip
    assert list(ev["product_id"]) == [
        "85123A", "71053", "85123A", "85099B", "85099B", "85123A", "DCGSSBOY", "85123A"
    ]  # fmt: skip
    ret = ev[ev["is_return"]]
    assert len(ret) == 1
    assert ret.iloc[0][["customer_id", "value", "price_paid"]].tolist() == ["17850", -2.0, 2.55]
    assert (ev.loc[~ev["is_return"], "value"] > 0).all()
    assert ev["value"].tolist() == [6, 6, 2, 10, 5, -2, 1, 3]
    assert ev["price_paid"].tolist() == [2.55, 3.39, 2.95, 1.65, 1.95, 2.55, 3.29, 3.05]
    assert ev["timestamp"].iloc[0] == pd.Timestamp("2010-12-01 08:26:00")
    assert ev["timestamp"].dtype == "datetime64[ns]"
    assert ev["location"].astype(object).tolist()[-2:] == [np.nan, "Germany"]
    assert ev["location"].astype(object).tolist()[:3] == ["United Kingdom"] * 2 + ["France"]


def test_online_retail_customers_and_products(retail_csv):
    ds = load_online_retail(retail_csv)
    cu = ds.customers.set_index("customer_id")
    assert list(cu.index) == ["17850", "12583", "13047", "12346"]
    assert cu["country"].astype(object).tolist()[:3] == [
        "United Kingdom",
        "France",
        "United Kingdom",
    ]
    assert cu["region"].astype(object).tolist()[:3] == ["United Kingdom", "Other", "United Kingdom"]
    assert pd.isna(cu.loc["12346", "country"]) and pd.isna(cu.loc["12346", "region"])
    pr = ds.products.set_index("product_id")
    assert sorted(pr.index) == sorted(["85123A", "71053", "85099B", "22222", "84406B", "DCGSSBOY"])
    assert pr.loc["85123A", "description"] == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert pr.loc["85123A", "price"] == pytest.approx(2.95)  # median of 2.55, 2.95, 3.05
    assert pr.loc["85099B", "price"] == pytest.approx(1.80)
    assert pr.loc["71053", "price"] == pytest.approx(3.39)
    assert pr[["price", "description"]].loc[["22222", "84406B"]].isna().all().all()
    assert "category" not in ds.products.columns  # the source has none: absent, not invented
    assert "age_band" not in ds.customers.columns


def test_online_retail_returns_drop_and_keep_codes(retail_csv):
    ds = load_online_retail(retail_csv, returns="drop")
    assert notes(ds)["returns dropped"] == 1
    assert "returns kept" not in notes(ds)
    assert len(ds.events) == 7 and "is_return" not in ds.events.columns
    assert (ds.events["value"] > 0).all()
    raw_codes = load_online_retail(retail_csv, upper_codes=False)
    assert "stock codes upper-cased" not in notes(raw_codes)
    assert {"85099b", "85099B"} <= set(raw_codes.products["product_id"])
    with pytest.raises(ValueError, match="returns='net'.*allowed values are \\('keep', 'drop'\\)"):
        load_online_retail(retail_csv, returns="net")


def test_online_retail_xlsx_and_gzip_give_the_same_dataset(retail_csv, tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(RETAIL_HEADER.split(","))
    for inv, code, desc, qty, date, price, cust, country in RETAIL_ROWS:
        # Excel stores numeric-looking invoices, codes and customer ids as numbers
        ws.append(
            [
                int(inv) if inv.isdigit() else inv,
                int(code) if code.isdigit() else code,
                desc or None,
                qty,
                dt.datetime.fromisoformat(date),
                price,
                float(cust) if cust else None,
                country,
            ]
        )
    xlsx = tmp_path / "Online Retail.xlsx"
    wb.save(xlsx)
    gz = tmp_path / "online_retail.csv.gz"
    gz.write_bytes(gzip.compress(_retail_csv_text().encode("utf-8")))
    ref = load_online_retail(retail_csv)
    for other in (load_online_retail(xlsx), load_online_retail(gz)):
        assert notes(other) == notes(ref)
        for t in ("customers", "products", "events"):
            pd.testing.assert_frame_equal(other.table(t), ref.table(t))


def test_online_retail_latin1_csv_with_us_dates(tmp_path):
    rows = [
        ("536365", "21000", "PAPIER MÂCHÉ BOWL", 2, "12/1/2010 8:26", 1.25, "17850", "United Kingdom"),
        ("536366", "21000", "PAPIER MÂCHÉ BOWL", 1, "12/13/2010 14:05", 1.25, "17850", "United Kingdom"),
    ]  # fmt: skip
    f = tmp_path / "Online Retail.csv"
    f.write_bytes(_retail_csv_text(rows).encode("latin-1"))
    ds = load_online_retail(f)
    assert ds.meta["encoding"] == "latin-1"
    assert ds.products["description"].tolist() == ["PAPIER MÂCHÉ BOWL"]
    assert ds.events["timestamp"].tolist() == [
        pd.Timestamp("2010-12-01 08:26"),
        pd.Timestamp("2010-12-13 14:05"),
    ]


def test_online_retail_bad_input_names_file_and_column(tmp_path):
    f = tmp_path / "online_retail.csv"
    f.write_text("InvoiceNo,StockCode,Quantity\n1,2,3\n")
    with pytest.raises(ValueError, match=r"online_retail.csv: missing column\(s\) \['Description'"):
        load_online_retail(f)
    f.write_text(_retail_csv_text(RETAIL_ROWS[:1]).replace("2010-12-01 08:26:00", "yesterday"))
    with pytest.raises(ValueError, match="'InvoiceDate' value 'yesterday' at line 2 is not a date"):
        load_online_retail(f)
    with pytest.raises(FileNotFoundError, match="looked for"):
        load_online_retail(tmp_path / "nowhere")


def test_product_code_rule_separates_the_documented_non_products():
    non_products = ["POST", "D", "M", "m", "DOT", "BANK CHARGES", "AMAZONFEE", "C2", "CRUK",
                    "PADS", "S", "B", "gift_0001_10", "gift_0001_50"]  # fmt: skip
    products = ["85123A", "71053", "15056bl", "84029G", "DCGSSBOY", "DCGS0003", "DCGS0066P"]
    mask = is_product_code(pd.Series(non_products + products))
    assert mask.tolist() == [False] * len(non_products) + [True] * len(products)
    assert "POST" in NON_PRODUCT_CODES and "gift_0001_*" in NON_PRODUCT_CODES


@pytest.mark.realdata
def test_online_retail_real_counts_match_readme(shared_data_dir):
    folder = shared_data_dir / "online-retail"
    if not folder.is_dir():
        pytest.skip(f"{folder} absent")
    ds = load_source("online_retail", folder)
    # figures stated in ../shared/data/README.md
    raw = ds.meta["raw_counts"]
    assert raw["rows"] == 541_909
    assert raw["missing_customer_id"] == 135_080
    assert raw["adjustment_rows"] == 3
    assert raw["unit_price_le_0"] == 2_517
    assert raw["customers"] == 4_372
    assert raw["stock_codes"] == 4_070
    assert raw["countries"] == 38
    assert raw["uk_rows"] == 495_478
    n = notes(ds)
    assert n["read"] == 541_909
    assert n["missing customer id"] == 135_080
    assert len(ds.customers) == 4_372
    # every line is either an event or counted in exactly one drop step
    dropped = sum(
        n[s]
        for s in ("missing customer id", "bad-debt adjustments", "non-product stock codes",
                  "unit price <= 0", "quantity sign")
    )  # fmt: skip
    assert len(ds.events) + dropped == 541_909
    assert n["returns kept"] == int(ds.events["is_return"].sum()) > 0
    assert (ds.events.loc[ds.events["is_return"], "value"] < 0).all()
    assert (ds.events["price_paid"] > 0).all()
    # every non-product code the rule finds is one the documentation lists
    documented = {c for c in NON_PRODUCT_CODES if not c.endswith("*")}
    found = set(ds.meta["non_product_codes"])
    assert {c for c in found if not c.startswith("GIFT_")} <= documented
    assert set(ds.customers["region"].dropna().astype(str)) == {"United Kingdom", "Other"}


# ----------------------------------------------------------------------------------------------
# MovieLens
# ----------------------------------------------------------------------------------------------


def _write(path: Path, text: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode(encoding))
    return path


def _flags(*on: int) -> str:
    return "|".join("1" if i in on else "0" for i in range(19))


@pytest.fixture
def ml100k(tmp_path: Path) -> Path:
    d = tmp_path / "ml-100k"
    _write(d / "u.data", "1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t1\t4\t888550871\n")
    _write(d / "u.user", "1|24|M|technician|85711\n2|53|F|other|T8H1N\n3|17|M|student|02139\n")
    genres = ("unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\n"
              "Documentary|7\nDrama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\n"
              "Romance|14\nSci-Fi|15\nThriller|16\nWar|17\nWestern|18\n\n")  # fmt: skip
    _write(d / "u.genre", genres)
    _write(
        d / "u.item",
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{_flags(3, 4, 5)}\n"
        f'2|Café "Olé", Le (1996)|01-Jan-1996||http://y|{_flags(8)}\n'
        f"3|unknown||||{_flags(0)}\n",
        encoding="latin-1",
    )
    return d


def test_movielens_100k(ml100k):
    ds = load_movielens(ml100k)
    assert ds.meta["layout"] == "100k" and ds.meta["encoding"] == "latin-1"
    assert notes(ds) == {
        "read": 3,
        "unknown movie": 0,
        "unknown user": 0,
        "movies without genre": 1,
    }
    ev = ds.events
    assert set(ev["event"].astype(str)) == {"rating"}
    assert ev["value"].tolist() == [5.0, 3.0, 4.0]
    assert ev["timestamp"].iloc[0] == pd.Timestamp(874965758, unit="s")
    cu = ds.customers.set_index("customer_id")
    assert cu["age"].tolist() == [24, 53, 17]
    assert cu["age_band"].astype(str).tolist() == ["18-24", "50-55", "under 18"]
    assert cu["gender"].astype(str).tolist() == ["M", "F", "M"]
    assert cu.loc["2", "postcode"] == "T8H1N"
    assert cu.loc["1", "occupation"] == "technician"
    pr = ds.products.set_index("product_id")
    assert pr.loc["1", "category"] == "Animation"
    assert pr.loc["1", "genres"] == "Animation|Children's|Comedy"
    assert pr.loc["2", "title"] == 'Café "Olé", Le (1996)'
    assert pr.loc["2", "year"] == 1996
    assert pd.isna(pr.loc["3", "category"]) and pd.isna(pr.loc["3", "genres"])


@pytest.fixture
def ml1m(tmp_path: Path) -> Path:
    d = tmp_path / "ml-1m"
    _write(d / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n"
                              "2::9999::2::978298000\n")  # fmt: skip
    _write(d / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    _write(
        d / "movies.dat",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "3::Misérables, Les (1995)::Drama|Musical\n",
        encoding="latin-1",
    )
    return d


def test_movielens_1m_double_colon_latin1(ml1m):
    ds = load_movielens(ml1m, variant="ml-1m")
    assert ds.meta["layout"] == "dat" and ds.meta["encoding"] == "latin-1"
    assert notes(ds)["read"] == 4
    assert notes(ds)["unknown movie"] == 1  # movie 9999 is not in movies.dat
    assert len(ds.events) == 3
    cu = ds.customers.set_index("customer_id")
    assert cu["age_band"].astype(str).tolist() == ["under 18", "56+"]
    assert "age" not in ds.customers.columns  # 1M has only band codes: no raw age is invented
    assert cu["occupation"].tolist() == ["K-12 student", "self-employed"]
    assert cu["postcode"].tolist() == ["48067", "70072"]
    pr = ds.products.set_index("product_id")
    assert pr.loc["3", "title"] == "Misérables, Les (1995)"
    assert pr.loc["661", "category"] == "Animation"
    assert pr.loc["661", "genres"] == "Animation|Children's|Musical"
    with pytest.raises(ValueError, match="variant='ml-100k' expects '100k'"):
        load_movielens(ml1m, variant="ml-100k")


@pytest.fixture
def ml_latest(tmp_path: Path) -> Path:
    d = tmp_path / "ml-latest-small"
    _write(
        d / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n"
        "2,1,0.5,1445714835\n3,3,5.0,1445714994\n",
        newline="\r\n",
    )
    _write(
        d / "movies.csv",
        "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation|Children\n"
        '3,"American President, The (1995)",Comedy|Drama|Romance\n'
        "4,Some Short (2018),(no genres listed)\n",
        newline="\r\n",
    )
    return d


def test_movielens_csv_crlf(ml_latest):
    ds = load_movielens(ml_latest)
    assert ds.meta["layout"] == "csv" and ds.meta["variant"] == "ml-latest-small"
    assert notes(ds) == {"read": 4, "unknown movie": 0, "movies without genre": 1}
    assert ds.events["value"].tolist() == [4.0, 4.5, 0.5, 5.0]
    assert ds.events["timestamp"].iloc[-1] == pd.Timestamp(1445714994, unit="s")
    assert list(ds.customers.columns) == ["customer_id"]  # no user attributes in this release
    pr = ds.products.set_index("product_id")
    assert pr.loc["3", "title"] == "American President, The (1995)"  # no trailing \r
    assert pr.loc["3", "genres"] == "Comedy|Drama|Romance"
    assert pd.isna(pr.loc["4", "category"])
    head = load_movielens(ml_latest / "ratings.csv", nrows=2)
    assert len(head.events) == 2 and notes(head)["read"] == 2


def test_movielens_missing_files_and_bad_rows(tmp_path, ml1m):
    with pytest.raises(FileNotFoundError, match="u.data, ratings.dat, ratings.csv"):
        load_movielens(tmp_path)
    _write(ml1m / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109::9\n")
    with pytest.raises(
        ValueError, match=r"ratings.dat: line 2 has 5 fields where 4 are expected \('1::661::3"
    ):
        load_movielens(ml1m)


@pytest.mark.realdata
def test_movielens_latest_small_real_counts_match_readme(shared_data_dir):
    folder = shared_data_dir / "ml-latest-small"
    if not folder.is_dir():
        pytest.skip(f"{folder} absent")
    ds = load_source("movielens", folder, variant="ml-latest-small")
    assert notes(ds)["read"] == 100_836
    assert len(ds.events) == 100_836
    assert len(ds.customers) == 610
    assert ds.events["product_id"].nunique() == 9_724
    assert len(ds.products) >= 9_724
    assert ds.events["value"].between(0.5, 5.0).all()


# ----------------------------------------------------------------------------------------------
# RetailRocket
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def retailrocket(tmp_path: Path) -> Path:
    d = tmp_path / "retailrocket"
    _write(
        d / "events.csv",
        "timestamp,visitorid,event,itemid,transactionid\n"
        "1433221332117,257597,view,355908,\n"
        "1433224214164,992329,view,248676,\n"
        "1433221999827,111016,addtocart,355908,\n"
        "1433222276276,111016,transaction,355908,4000\n"
        "1433223236124,483717,view,999,\n",
    )
    _write(
        d / "item_properties_part1.csv",
        "timestamp,itemid,property,value\n"
        "1435460400000,355908,categoryid,1338\n"
        "1441508400000,355908,available,1\n"
        "1439089200000,248676,888,1116713 960601 n277.200\n",
    )
    _write(
        d / "item_properties_part2.csv",
        "timestamp,itemid,property,value\n"
        "1431226800000,355908,categoryid,1000\n"  # older: the latest (1338) wins
        "1433041200000,248676,categoryid,7777\n"  # not in the tree
        "1433041200000,248676,available,0\n",
    )
    _write(d / "category_tree.csv", "categoryid,parentid\n1016,213\n213,\n1338,1016\n1000,213\n")
    return d


def test_retailrocket_mapping(retailrocket):
    ds = load_retailrocket(retailrocket)
    assert notes(ds) == {
        "read": 5,
        "item category changed": 1,
        "items without category": 1,
        "category not in tree": 1,
        "purchase without transaction id": 0,
    }
    ev = ds.events
    assert ev["event"].astype(str).tolist() == ["view", "view", "add_to_cart", "purchase", "view"]
    assert ev["timestamp"].iloc[0] == pd.Timestamp(1433221332117, unit="ms")
    assert ev["transaction_id"].isna().tolist() == [True, True, True, False, True]
    assert ev["transaction_id"].iloc[3] == "4000"
    pr = ds.products.set_index("product_id")
    assert pr.loc["355908", "category"] == "213/1016/1338"
    assert pr.loc["355908", "category_id"] == "1338"
    assert bool(pr.loc["355908", "available"]) is True
    assert pr.loc["248676", "category"] == "7777"
    assert bool(pr.loc["248676", "available"]) is False
    assert pd.isna(pr.loc["999", "category"]) and pd.isna(pr.loc["999", "available"])
    assert len(ds.customers) == 4
    small = load_retailrocket(retailrocket / "events.csv", nrows=2, item_properties=False)
    assert len(small.events) == 2 and list(small.products.columns) == ["product_id"]


def test_retailrocket_bad_event_and_tree_cycle(retailrocket, tmp_path):
    text = (retailrocket / "events.csv").read_text().replace("addtocart", "wishlisted")
    _write(retailrocket / "events.csv", text)
    with pytest.raises(
        ValueError, match=r"events.csv: column 'event' has unknown value\(s\) \['wishlisted'\]"
    ):
        load_retailrocket(retailrocket, item_properties=False)
    tree = pd.DataFrame({"categoryid": [1, 2, 3], "parentid": pd.array([2, 1, None], "Int64")})
    with pytest.raises(ValueError, match="cycle"):
        category_paths(tree)


# ----------------------------------------------------------------------------------------------
# REES46
# ----------------------------------------------------------------------------------------------

REES_HEADER = (
    "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
)


@pytest.fixture
def rees46(tmp_path: Path) -> Path:
    d = tmp_path / "rees46"
    _write(
        d / "2019-Oct.csv",
        REES_HEADER + "\n"
        "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,72d76fde-8bb3-4e00-8c23-a032dfed738c\n"
        "2019-10-01 00:00:01 UTC,cart,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,9333dfbd-b87a-4708-9857-6336556b0fcc\n"
        "2019-10-01 00:00:02 UTC,remove_from_cart,3900821,2053013552326770905,appliances.environment.water_heater,aqua,33.20,554748717,9333dfbd-b87a-4708-9857-6336556b0fcc\n"
        "2019-10-01 00:00:03 UTC,purchase,3900821,2053013552326770905,appliances.environment.water_heater,aqua,31.20,554748717,\n",
    )  # fmt: skip
    _write(
        d / "2019-Nov.csv",
        REES_HEADER + "\n"
        "2019-11-01 00:00:00 UTC,view,1004856,2053013555631882655,electronics.smartphone,samsung,130.76,541312140,a2d8d9b1-0e4c-4b8b-8c11-6e7ee1b2b0a1\n"
        "2019-11-01 00:00:05 UTC,view,3900821,2053013552326770905,appliances.environment.water_heater,aqua,0.00,600000000,b1b0c6a7-5f0d-4a8e-9b4b-3c5c2b5f6e7d\n",
    )  # fmt: skip
    return d


def test_rees46_mapping_and_month_order(rees46):
    ds = load_rees46(rees46)
    assert ds.meta["files"][0].endswith("2019-Oct.csv")  # calendar order, not alphabetical
    assert notes(ds) == {
        "read": 6,
        "remove_from_cart dropped": 1,
        "price zero": 1,
        "missing session": 1,
        "product attributes changed": 0,
        "products without category code": 1,
    }
    ev = ds.events
    assert ev["event"].astype(str).tolist() == ["view", "add_to_cart", "purchase", "view", "view"]
    assert ev["timestamp"].iloc[0] == pd.Timestamp("2019-10-01 00:00:00")
    assert ev["timestamp"].iloc[3] == pd.Timestamp("2019-11-01 00:00:00")
    assert ev["price_paid"].isna().tolist() == [True, True, False, True, True]
    assert ev["price_paid"].iloc[2] == pytest.approx(31.20)
    assert pd.isna(ev["session_id"].iloc[2])
    assert ev["session_id"].iloc[0] == "72d76fde-8bb3-4e00-8c23-a032dfed738c"
    pr = ds.products.set_index("product_id")
    assert pr.loc["3900821", "category"] == "appliances/environment/water_heater"
    assert pr.loc["3900821", "category_id"] == "2053013552326770905"
    assert pr.loc["3900821", "brand"] == "aqua"
    assert pr.loc["3900821", "price"] == pytest.approx(32.20)  # median of 33.20, 31.20; 0 left out
    assert pd.isna(pr.loc["44600062", "category"]) and pr.loc["44600062", "brand"] == "shiseido"
    assert sorted(ds.customers["customer_id"]) == ["541312140", "554748717", "600000000"]


def test_rees46_months_and_nrows(rees46):
    nov = load_rees46(rees46, months=["2019-Nov"])
    assert len(nov.events) == 2
    first = load_rees46(rees46, nrows=5)
    assert notes(first)["read"] == 5  # 4 October rows, then 1 November row
    assert first.events["timestamp"].max() == pd.Timestamp("2019-11-01 00:00:00")
    with pytest.raises(FileNotFoundError, match="2019-Dec"):
        load_rees46(rees46, months=["2019-Dec"])


# ----------------------------------------------------------------------------------------------
# Taobao UserBehavior
# ----------------------------------------------------------------------------------------------


def _cst(text: str) -> int:
    """Epoch seconds of a China Standard Time wall-clock time."""
    return int((pd.Timestamp(text) - pd.Timedelta(hours=8)).timestamp())


@pytest.fixture
def taobao(tmp_path: Path) -> Path:
    rows = [
        (1, 2268318, 2520377, "pv", _cst("2017-11-25 00:00:00")),
        (1, 2333346, 2520771, "fav", _cst("2017-11-26 10:00:00")),
        (1, 2333346, 2520771, "cart", _cst("2017-11-26 10:01:00")),
        (1, 2333346, 2520771, "buy", _cst("2017-12-03 23:59:59")),
        (2, 2268318, 2520377, "pv", _cst("2017-11-24 23:59:59")),  # a second too early
        (2, 4365585, 2520377, "pv", _cst("2017-12-04 00:00:00")),  # a second too late
        (2, 2268318, 2520377, "buy", _cst("2017-12-01 12:00:00")),
    ]
    f = tmp_path / "taobao" / "UserBehavior.csv"
    _write(f, "".join(",".join(map(str, r)) + "\n" for r in rows))
    return f.parent


def test_taobao_mapping_and_date_range(taobao):
    ds = load_taobao(taobao)
    assert notes(ds) == {"read": 7, "outside date range": 2, "item category changed": 0}
    ev = ds.events
    assert ev["event"].astype(str).tolist() == [
        "view",
        "wishlist",
        "add_to_cart",
        "purchase",
        "purchase",
    ]
    assert ev["timestamp"].iloc[0] == pd.Timestamp("2017-11-25 00:00:00")
    assert ev["timestamp"].iloc[3] == pd.Timestamp("2017-12-03 23:59:59")
    pr = ds.products.set_index("product_id")
    assert sorted(pr.index) == ["2268318", "2333346"]  # 4365585 only had a dropped row
    assert pr.loc["2333346", "category"] == "2520771"
    assert sorted(ds.customers["customer_id"]) == ["1", "2"]
    assert len(load_taobao(taobao / "UserBehavior.csv", nrows=3).events) == 3


def test_taobao_bad_input_names_the_file(taobao):
    f = taobao / "UserBehavior.csv"
    good = f.read_text()
    _write(f, "user_id,item_id,category_id,behavior_type,timestamp\n" + good)
    with pytest.raises(
        ValueError,
        match=r"UserBehavior.csv: line 1, column 'user_id': not a whole number \(value 'user_id'\)",
    ):
        load_taobao(taobao)
    _write(f, good)
    _write(f, f.read_text() + f"3,1,1,like,{_cst('2017-11-30 00:00:00')}\n")
    with pytest.raises(
        ValueError,
        match=r"UserBehavior.csv: column 'behavior_type' has unknown value\(s\) \['like'\]",
    ):
        load_taobao(taobao)


# ----------------------------------------------------------------------------------------------
# registry: load_source, resolve_data_path, download
# ----------------------------------------------------------------------------------------------


def test_every_loader_returns_known_event_types(
    retail_csv, ml_latest, retailrocket, rees46, taobao, tmp_path
):
    import yaml

    from recnb.serving.store import EventStore, StoredEvent
    from recnb.workflow.params import REPO_ROOT

    store = tmp_path / "events.sqlite"  # what the recommendation service writes
    with EventStore(store) as s:
        s.append([StoredEvent("0123456789abcdef", "P1", "purchase", "2026-02-01T10:00:00")])
    paths = {"online_retail": retail_csv.parent, "movielens": ml_latest,
             "retailrocket": retailrocket, "rees46": rees46, "taobao": taobao,
             "csv": REPO_ROOT / "examples" / "my_shop", "events_db": store}  # fmt: skip
    example = yaml.safe_load((REPO_ROOT / "params" / "my_shop_example.yaml").read_text())
    options = {"csv": example["data"]["options"]}
    assert set(paths) == set(SOURCE_NAMES)
    for name, path in paths.items():
        ds = load_source(name, path, **options.get(name, {}))
        assert ds.name == name
        assert set(ds.events["event"].astype(str)) <= set(EVENT_TYPES)
        assert ds.notes[0]["step"] == "read"


def test_resolve_data_path_env_and_explicit(tmp_path, ml_latest, ml1m, monkeypatch):
    root = ml_latest.parent  # holds ml-latest-small and ml-1m
    monkeypatch.setenv(DATA_DIR_ENV, str(root))
    assert resolve_data_path("movielens") == root / "ml-latest-small"
    assert resolve_data_path("movielens", variant="ml-1m") == root / "ml-1m"
    assert resolve_data_path("movielens", ml1m) == ml1m  # the explicit path wins
    assert resolve_data_path("movielens", root, variant="ml-1m") == root / "ml-1m"
    assert load_source("movielens", variant="ml-1m").meta["layout"] == "dat"
    with pytest.raises(FileNotFoundError) as err:
        resolve_data_path("online_retail")
    msg = str(err.value)
    assert str(root / "online-retail") in msg and DATA_DIR_ENV in msg
    assert "archive.ics.uci.edu" in msg and "download(" in msg
    with pytest.raises(FileNotFoundError, match="explicit path"):
        resolve_data_path("movielens", tmp_path / "missing")


def test_resolve_without_env_and_bad_names(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=f"{DATA_DIR_ENV} is not set.*kaggle"):
        resolve_data_path("retailrocket")
    with pytest.raises(ValueError, match="unknown data source 'amazon'; allowed names are"):
        load_source("amazon")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['retuns'\]; allowed options are"):
        load_source("online_retail", retuns="drop")
    with pytest.raises(ValueError, match="variant='ml-2m' is not allowed"):
        resolve_data_path("movielens", variant="ml-2m")


def test_load_source_passes_options(retail_csv):
    ds = load_source("online_retail", retail_csv.parent.parent, returns="drop")
    assert ds.meta["options"]["returns"] == "drop" and "is_return" not in ds.events.columns


def _zip(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def test_download_unpacks_official_layout_from_a_local_url(tmp_path, ml_latest, retail_csv):
    ml_zip = _zip(
        tmp_path / "ml.zip",
        {f"ml-latest-small/{f.name}": f.read_text() for f in ml_latest.iterdir()},
    )
    dest = tmp_path / "data"
    folder = download("movielens", dest, url=ml_zip.as_uri())
    assert folder == dest / "ml-latest-small"
    assert len(load_source("movielens", dest).events) == 4
    # already there: returned without fetching (the URL does not exist)
    assert download("movielens", dest, url=(tmp_path / "nope.zip").as_uri()) == folder
    # the UCI zip holds "Online Retail.xlsx"; any archive member ending in .xlsx is moved in place
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    wb.active.append(RETAIL_HEADER.split(","))
    wb.active.append(["536365", "71053", "WHITE METAL LANTERN", 6,
                      dt.datetime(2010, 12, 1, 8, 26), 3.39, 17850.0, "United Kingdom"])  # fmt: skip
    wb.save(tmp_path / "Online Retail.xlsx")
    with zipfile.ZipFile(tmp_path / "uci.zip", "w") as zf:
        zf.write(tmp_path / "Online Retail.xlsx", "Online Retail.xlsx")
    assert (
        download("online_retail", dest, url=(tmp_path / "uci.zip").as_uri())
        == dest / "online-retail"
    )
    assert len(load_source("online_retail", dest).events) == 1
    for name in ("retailrocket", "rees46", "taobao"):
        with pytest.raises(ManualDownloadRequired, match=str(dest / name)):
            download(name, dest)
