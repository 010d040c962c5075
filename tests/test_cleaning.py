"""Cleaning: unknown references, returns, exact and near duplicates, bots; the removal table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recnb.data.schema import Dataset, validate_dataset
from recnb.prep import cleaning

T0 = pd.Timestamp("2024-03-01 10:00:00")


def _events(rows):
    """rows: (customer, product, seconds after T0, event, value)."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "product_id": [r[1] for r in rows],
            "timestamp": [T0 + pd.Timedelta(seconds=r[2]) for r in rows],
            "event": pd.Categorical(
                [r[3] for r in rows],
                categories=("view", "click", "add_to_cart", "wishlist", "purchase", "rating"),
                ordered=True,
            ),
            "value": [r[4] for r in rows],
        }
    )


def _dataset(rows, **extra_cols):
    ev = _events(rows)
    for k, v in extra_cols.items():
        ev[k] = v
    customers = pd.DataFrame({"customer_id": sorted({r[0] for r in rows})})
    products = pd.DataFrame({"product_id": sorted({r[1] for r in rows})})
    return validate_dataset(Dataset("t", customers, products, ev))


def test_unknown_products_and_customers_dropped():
    ev = _events(
        [
            ("a", "p1", 0, "view", None),
            ("a", "gone", 1, "view", None),
            ("zz", "p1", 2, "view", None),
        ]
    )
    kept, rem = cleaning.drop_unknown_references(
        ev, pd.DataFrame({"product_id": ["p1"]}), pd.DataFrame({"customer_id": ["a"]})
    )
    assert list(kept.index) == [0]
    assert [(r.step, r.rows) for r in rem] == [("unknown products", 1), ("unknown customers", 1)]


RETURNS = [
    ("a", "p1", 0, "purchase", 2.0),  # a/p1: bought 2, returned 2 -> cancelled
    ("a", "p1", 60, "purchase", -2.0),
    ("a", "p2", 0, "purchase", 3.0),  # a/p2: bought 3, returned 1 -> kept
    ("a", "p2", 90, "purchase", -1.0),
    ("b", "p1", 0, "purchase", -5.0),  # b/p1: return without purchase in the data
    ("b", "p2", 0, "view", None),
]


def test_returns_net_marks_fully_returned_purchases_without_removing_them():
    kept, rem = cleaning.handle_returns(_events(RETURNS), "net")
    assert list(kept.index) == [0, 2, 5]  # return rows gone; purchases kept, marked
    when = kept[cleaning.RETURNED_AT]
    assert when[0] == kept["timestamp"][0] + pd.Timedelta(seconds=60)  # a/p1: all sent back
    assert when[[2, 5]].isna().all()  # a/p2: partial return; a view
    assert [(r.step, r.rows) for r in rem] == [
        ("returns / cancellations", 3),
        ("purchases fully returned", 0),
    ]
    assert "1 purchase line(s) marked" in rem[1].reason


def test_returned_at_follows_the_running_balance_of_each_pair():
    t = np.array(["2024-01-01", "2024-01-03", "2024-01-10", "2024-01-12", "2024-01-20"])
    # buy 1, return 1 (caught up on day 3), buy 2, return 1 (balance 1), return 1 (day 20)
    when = cleaning.returned_at(
        keys=np.zeros(5, dtype=int),
        times=t.astype("datetime64[ns]"),
        is_purchase=np.array([True, False, True, False, False]),
        is_return=np.array([False, True, False, True, True]),
        quantity=np.array([1.0, 1.0, 2.0, 1.0, 1.0]),
    )
    assert [str(x)[:10] for x in when] == ["2024-01-03", "NaT", "2024-01-20", "NaT", "NaT"]
    # a return at the same instant as the purchase counts; another pair is independent
    when = cleaning.returned_at(
        keys=np.array([0, 0, 1]),
        times=np.array(["2024-01-01"] * 3, dtype="datetime64[ns]"),
        is_purchase=np.array([True, False, True]),
        is_return=np.array([False, True, False]),
        quantity=np.ones(3),
    )
    assert [str(x)[:10] for x in when] == ["2024-01-01", "NaT", "NaT"]


def test_returns_drop_removes_return_rows_only():
    kept, rem = cleaning.handle_returns(_events(RETURNS), "drop")
    assert list(kept.index) == [0, 2, 5]
    assert [r.rows for r in rem] == [3]


def test_is_return_column_decides_when_present():
    ev = _events([("a", "p1", 0, "purchase", 1.0), ("a", "p1", 5, "purchase", 1.0)])
    ev["is_return"] = [False, True]  # quantity recorded positive, flag says return
    kept, _ = cleaning.handle_returns(ev, "net")
    assert list(kept.index) == [0] and kept[cleaning.RETURNED_AT].notna().all()
    with pytest.raises(ValueError, match="returns must be one of"):
        cleaning.handle_returns(ev, "keep")


def test_exact_and_near_duplicates():
    rows = [
        ("a", "p1", 0, "view", None),
        ("a", "p1", 0, "view", None),  # exact duplicate
        ("a", "p1", 5, "view", None),  # 5 s after the previous: near duplicate
        ("a", "p1", 9, "view", None),  # 4 s after the previous (chained): near duplicate
        ("a", "p1", 30, "view", None),  # 21 s: kept
        ("a", "p1", 31, "click", None),  # another event type: kept
        ("b", "p1", 1, "view", None),  # another customer: kept
    ]
    ev = _events(rows)
    kept, rem = cleaning.drop_exact_duplicates(ev)
    assert list(kept.index) == [0, 2, 3, 4, 5, 6] and rem[0].rows == 1
    kept2, rem2 = cleaning.drop_near_duplicates(kept, window_seconds=5)
    assert list(kept2.index) == [0, 4, 5, 6] and rem2[0].rows == 2
    off, rem3 = cleaning.drop_near_duplicates(kept, window_seconds=0)
    assert len(off) == len(kept) and rem3[0].rows == 0


def test_bots_flagged_by_peak_daily_events():
    # customer 0: six events within six minutes; customer 1: six events on six days
    cust = np.array([0] * 6 + [1] * 6)
    base = np.datetime64("2024-01-01T00:00:00", "ns")
    ts = np.concatenate(
        [
            base + np.arange(6) * np.timedelta64(60, "s"),
            base + np.arange(6) * np.timedelta64(1, "D"),
        ]
    )
    assert cleaning.bot_customers(cust, ts, 5).tolist() == [True, False]
    assert cleaning.bot_customers(cust, ts, 6).tolist() == [False, False]
    assert cleaning.bot_customers(cust, ts, 0, n_customers=3).tolist() == [False] * 3  # off


def test_clean_reports_every_step_and_keeps_row_order():
    rows = [
        ("a", "p1", 0, "view", None),
        ("a", "p1", 0, "view", None),
        ("a", "p2", 0, "purchase", 1.0),
        ("a", "p2", 3600, "purchase", -1.0),
        ("c", "p1", 100, "view", None),
        *[("bot", "p1", i, "view", None) for i in range(0, 100, 10)],
        ("c", "p2", 50, "click", None),
    ]
    ds = _dataset(rows)
    out, table = cleaning.clean(ds, dedup_window_seconds=1, returns="net")
    # no bot step here: who is a bot is decided per training part by the split
    assert list(table["step"]) == [
        "unknown products",
        "unknown customers",
        "returns / cancellations",
        "purchases fully returned",
        "exact duplicates",
        "near duplicates",
    ]
    assert list(table["rows"]) == [0, 0, 1, 0, 1, 0]
    assert table["rows_after"].iloc[-1] == len(out.events) == 14
    pairs = list(
        zip(
            out.events["customer_id"].astype(str), out.events["product_id"].astype(str), strict=True
        )
    )
    assert pairs == [("a", "p1"), ("a", "p2"), ("c", "p1"), *[("bot", "p1")] * 10, ("c", "p2")]
    assert out.events[cleaning.RETURNED_AT].notna().sum() == 1  # a/p2, marked for the split
    assert validate_dataset(out).events.shape == out.events.shape
    assert any(n["step"] == "cleaning: exact duplicates" for n in out.notes)
