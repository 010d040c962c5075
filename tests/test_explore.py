"""Data-understanding tables on a hand-made dataset with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recnb import explore
from recnb.schema import Dataset, validate_dataset


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
    assert "22.2 end in a purchase" in explore.describe_funnel(f)


def test_long_tail_and_head_share(ds):
    t = explore.long_tail(ds, "product_id")
    assert t["product_id"].tolist() == ["p1", "p2"]
    assert t["events"].tolist() == [14, 1]
    assert explore.head_share(t, 0.2) == pytest.approx(14 / 15)


def test_gini_known_values():
    assert explore.gini(np.array([1, 1, 1, 1])) == pytest.approx(0.0)
    assert explore.gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)  # (n-1)/n for one owner
    assert explore.gini(np.zeros(3)) == 0.0


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


def test_overview_density(ds):
    ov = dict(zip(explore.overview(ds)["measure"], explore.overview(ds)["value"], strict=True))
    assert ov["distinct customer-product pairs"] == 9
    assert ov["density of customer x product matrix"] == pytest.approx(9 / (9 * 2))


def test_split_plots_render():
    import matplotlib.pyplot as plt

    from recnb import plots

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
