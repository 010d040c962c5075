"""The data model's validation: one test per bad-input case, each checking the message names the culprit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recnb.data.schema import EVENT_TYPES, Dataset, SchemaError, validate_dataset


def make_ds(**overrides) -> Dataset:
    customers = pd.DataFrame(
        {"customer_id": ["c1", "c2", "c3"], "region": ["north", "south", "north"]}
    )
    products = pd.DataFrame(
        {
            "product_id": ["p1", "p2"],
            "price": [9.5, 20.0],
            "category": ["home/kitchen", "toys/lego"],
        }
    )
    events = pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c1"],
            "product_id": ["p1", "p2", "p1", "p2"],
            "timestamp": ["2026-01-01 10:00:00", "2026-01-02 11:00:00", "2026-01-03", "2026-01-03"],
            "event": ["view", "click", "purchase", "rating"],
            "value": [None, None, 1, 4],
        }
    )
    tables = {"customers": customers, "products": products, "events": events}
    tables.update(overrides)
    return Dataset(name="t", **tables)


def test_valid_dataset_is_coerced():
    ds = validate_dataset(make_ds())
    assert ds.events["timestamp"].dtype == "datetime64[ns]"
    assert list(ds.events["event"].cat.categories) == list(EVENT_TYPES)
    assert ds.events["event"].cat.ordered
    assert ds.products["price"].dtype == np.float64
    assert ds.events["value"].tolist()[2:] == [1.0, 4.0]


def test_integer_ids_become_strings():
    ds = make_ds(
        customers=pd.DataFrame({"customer_id": [17850, 13047]}),
        events=pd.DataFrame(
            {
                "customer_id": [17850.0, 13047.0],
                "product_id": ["p1", "p2"],
                "timestamp": pd.to_datetime(["2026-01-01", "2026-01-02"]),
                "event": ["purchase", "purchase"],
            }
        ),
    )
    out = validate_dataset(ds)
    assert out.customers["customer_id"].tolist() == ["17850", "13047"]
    assert out.events["customer_id"].tolist() == ["17850", "13047"]


def test_missing_required_column():
    ev = make_ds().events.drop(columns=["timestamp"])
    with pytest.raises(SchemaError, match=r"events: missing required column\(s\) \['timestamp'\]"):
        validate_dataset(make_ds(events=ev))


def test_unparsable_timestamp_names_value_and_row():
    ev = make_ds().events
    ev.loc[2, "timestamp"] = "yesterday-ish"
    with pytest.raises(
        SchemaError, match=r"events\.timestamp: unparsable timestamp.*'yesterday-ish'.*row 2"
    ):
        validate_dataset(make_ds(events=ev))


def test_numeric_timestamp_is_rejected_with_hint():
    ev = make_ds().events
    ev["timestamp"] = [1, 2, 3, 4]
    with pytest.raises(SchemaError, match=r"events\.timestamp: expected datetimes.*unit='s'"):
        validate_dataset(make_ds(events=ev))


def test_unparsable_price():
    pr = make_ds().products
    pr["price"] = ["9.5", "twenty"]
    with pytest.raises(SchemaError, match=r"products\.price: not a number.*'twenty'.*row 1"):
        validate_dataset(make_ds(products=pr))


def test_fractional_id_rejected():
    cu = pd.DataFrame({"customer_id": [1.5, 2.0, 3.0]})
    with pytest.raises(
        SchemaError, match=r"customers\.customer_id: ids must be strings or whole numbers.*1\.5"
    ):
        validate_dataset(make_ds(customers=cu))


def test_missing_id_rejected():
    cu = pd.DataFrame({"customer_id": ["c1", None, "c3"]})
    with pytest.raises(SchemaError, match=r"customers\.customer_id: missing id.*row 1"):
        validate_dataset(make_ds(customers=cu))


def test_unknown_event_type():
    ev = make_ds().events
    ev.loc[1, "event"] = "like"
    with pytest.raises(
        SchemaError, match=r"events\.event: unknown event type\(s\) \['like'\].*row 1"
    ):
        validate_dataset(make_ds(events=ev))


@pytest.mark.parametrize(
    "price, what", [(-1.0, "negative price"), (np.inf, "infinite value")], ids=["negative", "inf"]
)
def test_bad_price(price, what):
    pr = make_ds().products
    pr.loc[1, "price"] = price
    with pytest.raises(SchemaError, match=rf"products\.price: {what}.*row 1"):
        validate_dataset(make_ds(products=pr))


@pytest.mark.parametrize("bad", [np.inf, -np.inf, "inf"], ids=["inf", "-inf", "text-inf"])
def test_infinite_event_value_is_rejected(bad):
    ev = make_ds().events
    ev["value"] = ev["value"].astype(object)
    ev.loc[3, "value"] = bad
    with pytest.raises(SchemaError, match=r"events\.value: infinite value.*inf.*at row 3"):
        validate_dataset(make_ds(events=ev))


@pytest.mark.parametrize(
    "table, column",
    [("products", "avg_rating"), ("products", "rating_count"), ("events", "dwell_seconds")],
)
def test_infinite_number_in_any_numeric_column(table, column):
    df = make_ds().table(table)
    df[column] = 1.0
    df.loc[1, column] = np.inf
    with pytest.raises(SchemaError, match=rf"{table}\.{column}: infinite value.*row 1"):
        validate_dataset(make_ds(**{table: df}))


def test_missing_value_stays_allowed():
    ev = make_ds().events
    ev["value"] = [None, np.nan, 1.0, 4.0]
    assert validate_dataset(make_ds(events=ev)).events["value"].isna().sum() == 2


def test_negative_price_paid_in_events():
    ev = make_ds().events
    ev["price_paid"] = [None, None, -3.0, None]
    with pytest.raises(SchemaError, match=r"events\.price_paid: negative price.*-3\.0.*row 2"):
        validate_dataset(make_ds(events=ev))


@pytest.mark.parametrize("table,key", [("customers", "customer_id"), ("products", "product_id")])
def test_duplicate_ids(table, key):
    df = make_ds().table(table)
    df.loc[1, key] = df.loc[0, key]
    with pytest.raises(SchemaError, match=rf"{table}\.{key}: duplicate id.*row 1"):
        validate_dataset(make_ds(**{table: df}))


def test_events_with_unknown_customers_say_how_many():
    ev = make_ds().events
    ev.loc[[0, 3], "customer_id"] = "ghost"
    with pytest.raises(
        SchemaError,
        match=r"events\.customer_id: 2 event\(s\) reference 1 unknown customer id.*'ghost'",
    ):
        validate_dataset(make_ds(events=ev))


def test_events_with_unknown_products_categorical():
    ev = make_ds().events
    ev["product_id"] = pd.Categorical(["p1", "p9", "p1", "p8"])
    with pytest.raises(
        SchemaError, match=r"events\.product_id: 2 event\(s\) reference 2 unknown product"
    ):
        validate_dataset(make_ds(events=ev))


@pytest.mark.parametrize("table", ["customers", "products", "events"])
def test_empty_table(table):
    df = make_ds().table(table).iloc[0:0]
    with pytest.raises(SchemaError, match=rf"^{table}: table is empty"):
        validate_dataset(make_ds(**{table: df}))


def test_fingerprint_is_content_based():
    a = validate_dataset(make_ds())
    b = validate_dataset(make_ds())
    assert a.fingerprint() == b.fingerprint()
    ev = make_ds().events
    ev.loc[0, "event"] = "click"
    c = validate_dataset(make_ds(events=ev))
    assert c.fingerprint() != a.fingerprint()
