"""``data.source: csv``: a shop's own export, described by a column and an event-name mapping.

The files are the synthetic shop written out under a shop's own column and event names (as
``examples/make_my_shop.py`` does), so every loaded value can be compared with the shop it came from.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from recnb.workflow.params import REPO_ROOT

EXAMPLE_PARAMS = REPO_ROOT / "params" / "my_shop_example.yaml"


def _example_module():
    spec = importlib.util.spec_from_file_location(
        "make_my_shop", REPO_ROOT / "examples" / "make_my_shop.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


make_my_shop = _example_module()


def example_options() -> dict:
    return yaml.safe_load(EXAMPLE_PARAMS.read_text())["data"]["options"]


def notes(ds) -> dict[str, int]:
    return {n["step"]: n["rows"] for n in ds.notes}


def reason(ds, step: str) -> str:
    return next(n["reason"] for n in ds.notes if n["step"] == step)


@pytest.fixture(scope="module")
def shop_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("shop") / "export"
    return make_my_shop.write_my_shop(folder, n_customers=600, n_products=200, n_days=30, seed=7)


@pytest.fixture(scope="module")
def shop():
    from recnb.data.synthetic import ShopConfig, SyntheticShop

    return SyntheticShop(ShopConfig(n_customers=600, n_products=200, n_days=30, seed=7)).generate()


def copy_export(shop_files: dict[str, Path], tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    for f in shop_files.values():
        shutil.copy(f, folder / f.name)
    return folder


# ----------------------------------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------------------------------


def test_export_loads_back_into_the_shop_it_came_from(shop_files, shop):
    from recnb.data.loaders import load_source

    ds = load_source("csv", shop_files["events"].parent, **example_options())
    assert ds.name == "csv"
    assert notes(ds) == {
        "read": len(shop.events),
        "read customers": len(shop.customers),
        "unknown customer": 0,
        "read products": len(shop.products),
        "unknown product": 0,
    }
    ev, ref = ds.events, shop.events
    assert ev["customer_id"].astype(str).tolist() == ref["customer_id"].astype(str).tolist()
    assert ev["event"].astype(str).tolist() == ref["event"].astype(str).tolist()
    assert (ev["timestamp"] == ref["timestamp"].dt.floor("s")).all()
    pd.testing.assert_series_equal(ev["value"], ref["value"], check_names=False, rtol=1e-5)
    pd.testing.assert_series_equal(
        ev["price_paid"], ref["price_paid"], check_names=False, rtol=1e-5
    )
    assert ev["session_id"].fillna("").tolist() == ref["session_id"].fillna("").tolist()
    assert "dwell_seconds" not in ev.columns  # not in the export: absent, not invented
    cu = ds.customers.set_index("customer_id")
    rc = shop.customers.set_index("customer_id")
    assert (cu["age_band"].astype(str) == rc["age_band"].astype(str)).all()
    assert (cu["signup_date"] == rc["signup_date"]).all()
    assert "gender" in cu.columns  # already named as in the data model: no mapping needed
    assert "email" not in cu.columns
    pr = ds.products.set_index("product_id")
    assert (pr["category"] == shop.products.set_index("product_id")["category"]).all()
    assert ds.meta["columns"]["events"]["customer_id"] == "visitor_id"
    assert ds.meta["timestamps"] == "ISO 8601, local time as written"


def test_events_file_alone_and_gzip(shop_files, tmp_path, shop):
    import gzip

    from recnb.data.loaders import load_csv

    f = tmp_path / "orders.csv.gz"
    f.write_bytes(gzip.compress(shop_files["events"].read_bytes()))
    opts = example_options()
    ds = load_csv(f, columns={"events": opts["columns"]["events"]}, event_names=opts["event_names"])
    assert len(ds.events) == len(shop.events)
    assert list(ds.customers.columns) == ["customer_id"]
    assert len(ds.customers) == shop.events["customer_id"].nunique()
    assert len(ds.products) == shop.events["product_id"].nunique()


def test_event_names_mapped_to_null_are_dropped_and_counted(tmp_path):
    from recnb.data.loaders import load_csv

    (tmp_path / "events.csv").write_text(
        "user,item,ts,kind\n"
        "u1,p1,2024-03-01 10:00:00,seen\nu1,p1,2024-03-01 10:01:00,basket\n"
        "u1,p1,2024-03-01 10:02:00,unbasket\nu2,p1,2024-03-01 11:00:00,bought\n"
    )
    cols = {
        "events": {"customer_id": "user", "product_id": "item", "timestamp": "ts", "event": "kind"}
    }
    names = {"seen": "view", "basket": "add_to_cart", "unbasket": None, "bought": "purchase"}
    ds = load_csv(tmp_path, columns=cols, event_names=names)
    assert ds.events["event"].astype(str).tolist() == ["view", "add_to_cart", "purchase"]
    assert notes(ds)["events mapped to null"] == 1
    del names["unbasket"]
    with pytest.raises(
        ValueError,
        match=r"events.csv: column 'kind' \(event\) has value\(s\) \['unbasket'\] that are not in "
        r"event_names \(1 row\(s\), first at line 4\)",
    ):
        load_csv(tmp_path, columns=cols, event_names=names)
    with pytest.raises(ValueError, match=r"that are not event types.*map your names"):
        load_csv(tmp_path, columns=cols)


def test_event_type_for_an_order_export_without_event_column(tmp_path):
    from recnb.data.loaders import load_csv

    (tmp_path / "orders.csv").write_text(
        "customer_id,product_id,timestamp,value\nc1,p1,2024-03-01T10:00:00Z,2\n"
        "c2,p2,2024-03-01T12:00:00+01:00,1\n"
    )
    ds = load_csv(tmp_path / "orders.csv", event_type="purchase")
    assert ds.events["event"].astype(str).tolist() == ["purchase", "purchase"]
    # offsets converted to UTC
    assert ds.events["timestamp"].tolist() == [
        pd.Timestamp("2024-03-01 10:00"),
        pd.Timestamp("2024-03-01 11:00"),
    ]
    assert ds.meta["timezone"] == "ISO 8601 with UTC offsets, converted to UTC"
    with pytest.raises(ValueError, match=r"has no column for \['event'\] \(or set event_type"):
        load_csv(tmp_path / "orders.csv")


@pytest.mark.parametrize("unit, scale", [("s", 1), ("ms", 1000)])
def test_epoch_timestamps_with_their_unit(tmp_path, unit, scale):
    from recnb.data.loaders import load_csv

    t = 1709287200  # 2024-03-01 10:00:00 UTC
    (tmp_path / "events.csv").write_text(
        f"customer_id,product_id,timestamp,event\nc1,p1,{t * scale},view\nc1,p2,{(t + 60) * scale},click\n"
    )
    ds = load_csv(tmp_path, timestamp_unit=unit)
    assert ds.events["timestamp"].tolist() == [
        pd.Timestamp("2024-03-01 10:00"),
        pd.Timestamp("2024-03-01 10:01"),
    ]
    other = "ms" if unit == "s" else "s"
    with pytest.raises(
        ValueError,
        match=rf"events.csv: column 'timestamp' value '{t * scale}' at line 2 is too "
        rf".*it looks like {'seconds' if unit == 's' else 'milliseconds'}",
    ):
        load_csv(tmp_path, timestamp_unit=other)
    with pytest.raises(ValueError, match=r"at line 2 is a number: set data.options.timestamp_unit"):
        load_csv(tmp_path)


def test_text_timestamps_not_iso_need_their_format(tmp_path):
    from recnb.data.loaders import load_csv

    (tmp_path / "events.csv").write_text(
        "customer_id,product_id,timestamp,event\nc1,p1,01/03/2024 10:00,view\n"
        "c1,p2,02/03/2024 10:00,view\n"
    )
    with pytest.raises(
        ValueError,
        match=r"column 'timestamp' value '01/03/2024 10:00' at line 2 is not an ISO 8601 "
        r"date-time.*timestamp_format",
    ):
        load_csv(tmp_path)
    ds = load_csv(tmp_path, timestamp_format="%d/%m/%Y %H:%M")
    assert ds.events["timestamp"].tolist() == [
        pd.Timestamp("2024-03-01 10:00"),
        pd.Timestamp("2024-03-02 10:00"),
    ]


def test_bad_values_name_file_line_and_column(tmp_path):
    from recnb.data.loaders import load_csv

    (tmp_path / "events.csv").write_text(
        "who,what,when,event,qty\nc1,p1,2024-03-01 10:00,purchase,2\nc2,p1,2024-03-01 11:00,purchase,two\n"
    )
    cols = {
        "events": {"customer_id": "who", "product_id": "what", "timestamp": "when", "value": "qty"}
    }
    with pytest.raises(
        ValueError,
        match=r"events.csv: column 'qty' \(value\) value 'two' at line 3 is not a number",
    ):
        load_csv(tmp_path, columns=cols)
    (tmp_path / "events.csv").write_text(
        "who,what,when,event\nc1,p1,2024-03-01 10:00,view\n,p1,2024-03-01 11:00,view\n"
    )
    with pytest.raises(
        ValueError, match=r"column 'who' \(customer_id\) is empty at line 3 \(1 such row"
    ):
        load_csv(
            tmp_path,
            columns=cols | {"events": {k: v for k, v in cols["events"].items() if k != "value"}},
        )


def test_unknown_ids_are_dropped_and_duplicates_refused(tmp_path):
    from recnb.data.loaders import load_csv

    (tmp_path / "events.csv").write_text(
        "customer_id,product_id,timestamp,event\nc1,p1,2024-03-01 10:00,view\n"
        "c1,p9,2024-03-01 10:05,view\nc2,p2,2024-03-01 11:00,view\n"
    )
    (tmp_path / "products.csv").write_text("product_id,price\np1,9.5\np2,3\n")
    ds = load_csv(tmp_path, products="products.csv")
    assert len(ds.events) == 2 and notes(ds)["unknown product"] == 1
    assert "e.g. 'p9' at events.csv line 3" in reason(ds, "unknown product")
    (tmp_path / "products.csv").write_text("product_id,price\np1,9.5\np2,3\np1,4\n")
    with pytest.raises(
        ValueError,
        match=r"products.csv: column 'product_id' value 'p1' at line 4 repeats the id of line 2",
    ):
        load_csv(tmp_path, products="products.csv")


def test_nothing_left_says_what_the_file_held(tmp_path):
    from recnb.data.loaders import load_csv

    (tmp_path / "events.csv").write_text(
        "customer_id,product_id,timestamp,event\nc1,p1,2024-03-01 10:00,gone\n"
    )
    with pytest.raises(
        ValueError,
        match=r"csv: no events left.*The file holds 1 event row\(s\) \(event gone: 1\).*events "
        r"mapped to null: 1",
    ):
        load_csv(tmp_path, event_names={"gone": None})


def test_last_line_without_line_break_is_kept_when_complete(tmp_path):
    from recnb.data.loaders import load_csv

    (tmp_path / "events.csv").write_text(
        "customer_id,product_id,timestamp,event\nc1,p1,2024-03-01 10:00,view\nc2,p1,2024-03-01 11:00,view"
    )
    ds = load_csv(tmp_path)
    assert len(ds.events) == 2 and "last line without line break" in notes(ds)
    (tmp_path / "events.csv").write_text(
        "customer_id,product_id,timestamp,event\nc1,p1,2024-03-01 10:00,view\nc2,p1,2024-03-01 11"
    )
    ds = load_csv(tmp_path)
    assert len(ds.events) == 1 and notes(ds)["last line cut short"] == 1


# ----------------------------------------------------------------------------------------------
# options: checked before anything is read past the header
# ----------------------------------------------------------------------------------------------


def _check(folder: Path | None, **changes):
    from recnb.data.loaders import check_options

    opts = example_options()
    for key, value in changes.items():
        target = opts
        *path, last = key.split("__")
        for p in path:
            target = target[p]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    check_options("csv", opts, folder, "params/my_shop.yaml: data.options")


@pytest.mark.parametrize(
    "change, match",
    [
        ({"evnts": "e.csv"}, r"params/my_shop.yaml: data.options.evnts: unknown option for data.source 'csv'; allowed options are \['events'"),
        ({"columns__events__custmer_id": "visitor_id"}, r"data.options.columns.events.custmer_id: 'custmer_id' is not a column of the data model's events table"),
        ({"columns__orders": {"customer_id": "x"}}, r"data.options.columns.orders: unknown table"),
        ({"event_names__order": "buy"}, r"data.options.event_names.order: 'buy' is not an event type; allowed are \['view'"),
        ({"event_type": "purchase"}, r"data.options.event_type: gives every row one event type"),
        ({"timestamp_unit": "sec"}, r"data.options.timestamp_unit: 'sec' is not allowed; allowed values are \['s', 'ms'\]"),
        ({"timestamp_format": "dd/mm/yyyy"}, r"data.options.timestamp_format: must be a strftime form"),
        ({"sep": ";;"}, r"data.options.sep: must be one character"),
        ({"encoding": "utf-9"}, r"data.options.encoding: unknown text encoding 'utf-9'"),
        ({"customers": ...}, r"data.options.columns.customers: maps columns of the customers table, but no customers file is given"),
        ({"nrows": 0}, r"data.options.nrows: nrows must be a positive integer"),
    ],
)  # fmt: skip
def test_option_mistakes_name_the_key(change, match):
    with pytest.raises(ValueError, match=match):
        _check(None, **change)


def test_mapping_to_a_missing_column_names_file_key_and_column(shop_files, tmp_path):
    folder = copy_export(shop_files, tmp_path)
    _check(folder)  # the example as it is
    with pytest.raises(
        ValueError,
        match=r"data.options.columns.products.price: maps to column 'price_eur', which "
        r".*products.csv does not have; its columns are \['item_sku', 'name'",
    ):
        _check(folder, columns__products__price="price_eur")
    with pytest.raises(
        FileNotFoundError, match=r"data.options.customers: file .*clients.csv' not found"
    ):
        _check(folder, customers="clients.csv")
    with pytest.raises(
        ValueError,
        match=r"data.options.columns.events: .*events.csv has no column for \['timestamp'\]",
    ):
        _check(folder, columns__events__timestamp=...)


def test_run_checks_the_csv_source_before_any_stage(shop_files, tmp_path, monkeypatch):
    from recnb.workflow.params import load_params
    from recnb.workflow.runner import preflight

    folder = copy_export(shop_files, tmp_path)
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    raw["data"]["path"] = str(folder)
    raw["data"]["options"]["event_names"]["order"] = "checkout"
    params = tmp_path / "my_shop.yaml"
    params.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("RECNB_PSEUDONYM_KEY", "k" * 32)
    with pytest.raises(ValueError, match=rf"{params}: data.options.event_names.order: 'checkout'"):
        preflight(load_params(params))
    raw["data"]["options"]["event_names"]["order"] = "purchase"
    raw["data"]["path"] = None
    params.write_text(yaml.safe_dump(raw))
    with pytest.raises(FileNotFoundError, match=r"csv: data.path is required"):
        preflight(load_params(params))


def test_committed_example_is_valid_and_loads():
    from recnb.data.loaders import check_options
    from recnb.workflow.params import load_params
    from recnb.workflow.run_data import load_raw

    settings = load_params(EXAMPLE_PARAMS)
    assert settings.data.source == "csv"
    check_options("csv", settings.data.options, settings.data.path, str(EXAMPLE_PARAMS))
    ds = load_raw(settings)
    assert len(ds.events) > 1000 and set(ds.events["event"].astype(str)) >= {"view", "purchase"}
    assert len(ds.customers) == 300 and len(ds.products) == 100


# ----------------------------------------------------------------------------------------------
# a whole run through it
# ----------------------------------------------------------------------------------------------


@pytest.mark.notebook
@pytest.mark.slow
def test_full_ci_sized_run_through_the_csv_source(shop_files, tmp_path, monkeypatch):
    """Every stage of the example params file, on an export of the ci-sized shop, with the ci
    stage sections (small tuning), into a temporary reports folder."""
    from recnb.workflow.runner import run

    folder = copy_export(shop_files, tmp_path)
    example = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    ci = yaml.safe_load((REPO_ROOT / "params" / "ci.yaml").read_text())
    params = {k: v for k, v in ci.items() if k not in ("data", "run_name", "description")}
    params["run_name"] = "csv_source_ci"
    params["data"] = dict(example["data"], path=str(folder))
    params["stages"] = example["stages"]
    file = tmp_path / "csv_ci.yaml"
    file.write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.setenv("RECNB_PSEUDONYM_KEY", "a test key that is long enough " * 2)
    run_dir = run(file, reports_dir=tmp_path / "reports", echo=lambda m: None)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for stage in example["stages"]:
        assert manifest["stages"][stage]["status"] == "ok", stage
        assert (run_dir / f"{stage}.html").exists()
    data = json.loads((run_dir / "data" / "dataset.json").read_text())
    assert data["name"] == "csv"
    assert data["rows"]["events"] == sum(1 for _ in open(shop_files["events"])) - 1
    assert data["meta"]["columns"]["events"]["product_id"] == "item_sku"
    board = pd.read_parquet(run_dir / "results" / "03_model_comparison" / "leaderboard.parquet")
    assert {"popularity", "random"} <= set(board["model"])
    ids = set(pd.read_parquet(run_dir / "data" / "customers.parquet")["customer_id"])
    assert not ids & set(pd.read_csv(shop_files["customers"])["visitor_id"])  # pseudonymised


def test_check_names_a_bad_mapping_and_notes_missing_data(
    shop_files, tmp_path, monkeypatch, capsys
):
    """`python -m recnb check` checks data.options (and the files when found), like `run`'s preflight."""
    from recnb.workflow.cli import main

    folder = copy_export(shop_files, tmp_path)
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    raw["data"]["path"] = str(folder)
    raw["data"]["options"]["event_names"]["order"] = "checkout"
    params = tmp_path / "my_shop.yaml"
    params.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("RECNB_PSEUDONYM_KEY", "k" * 32)
    assert main(["check", str(params)]) == 2
    assert "data.options.event_names.order: 'checkout'" in capsys.readouterr().err
    raw["data"]["options"]["event_names"]["order"] = "purchase"
    raw["data"]["options"]["columns"]["events"]["timestamp"] = "no_such_column"
    params.write_text(yaml.safe_dump(raw))
    assert main(["check", str(params)]) == 2
    assert "no_such_column" in capsys.readouterr().err
    del raw["data"]["options"]["columns"]["events"]["timestamp"]
    raw["data"]["path"] = str(tmp_path / "missing")
    params.write_text(yaml.safe_dump(raw))
    monkeypatch.delenv("RECNB_PSEUDONYM_KEY")
    assert main(["check", str(params)]) == 0
    err = capsys.readouterr().err
    assert "note: data files not checked" in err and "note: a run needs a pseudonym key" in err
