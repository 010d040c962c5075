"""Data-understanding tables and their sentences on a hand-made dataset with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recnb.data import explore
from recnb.data.schema import Dataset, validate_dataset
from recnb.reporting.narrative import data as narrative
from recnb.reporting.tables import readable_values


@pytest.fixture
def ds() -> Dataset:
    customers = pd.DataFrame(
        {"customer_id": [f"c{i}" for i in range(12)], "gender": ["f"] * 11 + ["x"]}
    )
    products = pd.DataFrame(
        {
            "product_id": ["p1", "p2", "p3", "p4", "p5"],
            "category": ["home/kitchen", "home/garden", "toys/lego", "toys/dolls", "books/novel"],
            "price": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    rows = []
    # p1 gets 8 views, p2 1 view; 4 clicks and 2 purchases on p1
    for i in range(8):
        rows.append((f"c{i}", "p1", f"2026-01-01 0{i}:00", "view", "mobile", "s1"))
    rows.append(("c9", "p2", "2026-01-02 10:00", "view", "desktop", "s2"))
    for i in range(4):
        rows.append((f"c{i}", "p1", f"2026-01-01 0{i}:05", "click", "mobile", "s1"))
    rows += [("c0", "p1", "2026-01-01 00:10", "purchase", "mobile", "s1")] * 2
    events = pd.DataFrame(
        rows, columns=["customer_id", "product_id", "timestamp", "event", "device", "session_id"]
    )
    return validate_dataset(Dataset("toy", customers, products, events))


def test_funnel(ds):
    f = explore.funnel(ds)
    assert f["event"].tolist() == ["view", "click", "purchase"]
    assert f["events"].tolist() == [9, 4, 2]
    assert f["per_100_views"].round(3).tolist() == [100.0, round(400 / 9, 3), round(200 / 9, 3)]
    assert "22.2 end in a purchase" in narrative.describe_funnel(f)


def test_long_tail_and_head_share(ds):
    t = explore.long_tail(ds, "product_id")
    assert t["product_id"].tolist() == ["p1", "p2"]
    assert t["events"].tolist() == [14, 1]
    assert explore.head_share(t, 0.2) == pytest.approx(14 / 15)


def test_long_tail_sentence_uses_the_metrics_gini(ds):
    t = explore.long_tail(ds, "product_id")  # 14 and 1 events: Gini (14 - 1) / (2 * 15)
    text = narrative.describe_long_tail(t, "products")
    assert "account for 93% of all events (Gini 0.43," in text


def test_categories_level_one(ds):
    c = explore.categories(ds, level=1).set_index("category")
    assert c.loc["home", "products"] == 2 and c.loc["home", "events"] == 15
    assert c.loc["toys", "events"] == 0


def test_missing_columns_are_reported_not_failed(ds):
    no_price = Dataset(
        "x", ds.customers, ds.products.drop(columns=["price", "category"]), ds.events
    )
    assert explore.prices(no_price) is None
    assert explore.categories(no_price) is None
    assert explore.ratings(ds) is None  # no rating events
    no_dev = Dataset(
        "x", ds.customers, ds.products, ds.events.drop(columns=["device", "session_id"])
    )
    assert explore.hour_by_device(no_dev) is None
    assert explore.session_lengths(no_dev) is None


def test_hour_by_device_counts(ds):
    t = explore.hour_by_device(ds)
    assert t.to_numpy().sum() == 15
    assert t.loc[10, "desktop"] == 1


def test_small_customer_groups_are_merged(ds):
    g = explore.customer_attributes(ds, min_count=10)["gender"]
    assert g["customers"].tolist() == [11, "<10"]  # the single "x" customer is not countable
    assert g["gender"].tolist() == ["f", "other (1 groups of <10)"]


def test_loader_notes_ratings_devices_and_sessions(ds):
    notes = explore.loader_notes(Dataset("x", ds.customers, ds.products, ds.events))
    assert list(notes.columns) == ["step", "rows", "reason"] and notes.empty
    ds.add_note("dropped", 3, "why")
    assert explore.loader_notes(ds).to_dict("records") == [
        {"step": "dropped", "rows": 3, "reason": "why"}
    ]
    r = pd.DataFrame({"rating": [1.0, 5.0], "events": [1, 3]})
    assert narrative.describe_ratings(r) == "4 ratings, mean 4.00."
    shares = explore.device_shares(explore.hour_by_device(ds))
    assert shares.sum() == pytest.approx(1.0)
    text = narrative.describe_devices(shares)
    assert text.startswith("Device shares of events: ") and text.endswith("%.")
    summary = explore.session_summary(explore.session_lengths(ds))
    assert summary["index"].tolist() == ["count", "mean", "std", "min", "50%", "90%", "max"]
    n = int(summary.set_index("index").loc["count", "events"])
    assert narrative.describe_sessions(summary).startswith(f"{n:,} sessions; median ")


def test_overview_reads_as_text(ds):
    shown = readable_values(explore.overview(ds))
    ov = dict(zip(shown["measure"], shown["value"], strict=True))
    assert ov["events"] == "15" and ov["density of customer x product matrix"] == "0.5"


def test_overview_density(ds):
    ov = dict(zip(explore.overview(ds)["measure"], explore.overview(ds)["value"], strict=True))
    assert ov["distinct customer-product pairs"] == 9
    assert ov["density of customer x product matrix"] == pytest.approx(9 / (9 * 2))


def test_split_plots_render():
    import matplotlib.pyplot as plt

    from recnb.reporting import data_figures as plots

    timeline = pd.DataFrame(
        {
            "day": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-02", "2026-01-03"]),
            "part": ["train_inner", "train_inner", "valid", "test"],
            "events": [5, 3, 2, 4],
        }
    )
    fig = plots.split_timeline(timeline, cutoff="2026-01-03")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train_inner", "valid", "test"]
    without = plots.split_timeline(timeline, cutoff=None)
    assert len(ax.lines) == len(without.axes[0].lines) + 1  # the dashed cut-off line
    plt.close(fig)
    plt.close(without)
    fig = plots.signal_hist(np.array([1.0, 2.0, 2.0]), explicit=True)
    assert fig.axes[0].get_xlabel() == "rating"
    plt.close(fig)
