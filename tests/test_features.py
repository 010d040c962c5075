"""Customer, product and context features: hand-computed values, alignment, no test-period events."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recnb.data.schema import EVENT_TYPES
from recnb.prep import features as feat

PRODUCTS = pd.DataFrame(
    {
        "product_id": ["p1", "p2", "p3", "p4"],
        "category": ["home/kitchen", "home/garden", "sports", None],
        "brand": ["acme", "acme", "zed", "solo"],
        "price": [10.0, 20.0, 30.0, 40.0],
        "description": [
            "steel kettle for the kitchen",
            "garden hose green",
            "running shoes light",
            "kettle and hose bundle",
        ],
    }
)
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": ["a", "b", "c"],
        "gender": ["f", "m", None],
        "age_band": ["18-24", "18-24", "25-34"],
    }
)


def _events(rows):
    """rows: (customer, product, timestamp, event, device)."""
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "product_id": [r[1] for r in rows],
            "timestamp": pd.to_datetime([r[2] for r in rows]),
            "event": pd.Categorical([r[3] for r in rows], categories=EVENT_TYPES, ordered=True),
            "device": pd.Categorical([r[4] for r in rows]),
        }
    )


EVENTS = _events(
    [
        ("a", "p1", "2024-01-10 08:00", "view", "mobile"),  # morning
        ("a", "p1", "2024-01-10 08:05", "purchase", "mobile"),
        ("a", "p3", "2024-01-20 20:00", "view", "desktop"),  # evening
        ("a", "p2", "2024-01-30 13:00", "view", "mobile"),  # afternoon
        ("b", "p3", "2024-01-31 23:00", "purchase", "desktop"),  # evening
    ]
)
REF = pd.Timestamp("2024-01-31 23:00")


def _col(m, names, name):
    return np.asarray(m[:, names.index(name)].todense()).ravel()


def test_customer_features_hand_computed():
    ids = np.array(["a", "b", "c"], dtype=object)
    m, names = feat.customer_features(EVENTS, CUSTOMERS, PRODUCTS, ids, REF, n_price_tiers=2)
    assert len(names) == len(set(names)) == m.shape[1] and m.shape[0] == 3
    days_a = (REF - pd.Timestamp("2024-01-30 13:00")) / pd.Timedelta(days=1)
    assert _col(m, names, "rfm:recency") == pytest.approx(
        [np.exp(-days_a / 30), 1.0, 0.0], rel=1e-6
    )
    assert _col(m, names, "rfm:frequency") == pytest.approx(
        [1.0, np.log(2) / np.log(5), 0.0], rel=1e-6
    )
    # monetary: a bought p1 (10), b bought p3 (30)
    assert _col(m, names, "rfm:monetary") == pytest.approx(
        [np.log(11) / np.log(31), 1.0, 0.0], rel=1e-6
    )
    # category shares of events: a -> home 3/4, sports 1/4
    assert _col(m, names, "category:home") == pytest.approx([0.75, 0.0, 0.0])
    assert _col(m, names, "category:sports") == pytest.approx([0.25, 1.0, 0.0])
    assert _col(m, names, "device:mobile") == pytest.approx([0.75, 0.0, 0.0])
    assert _col(m, names, "time_of_day:morning") == pytest.approx([0.5, 0.0, 0.0])
    assert _col(m, names, "time_of_day:evening") == pytest.approx([0.25, 1.0, 0.0])
    # price tier from purchases: median price 10 (a) and 30 (b); catalogue median edge 25
    assert _col(m, names, "price_tier:q1") == pytest.approx([1.0, 0.0, 0.0])
    assert _col(m, names, "price_tier:q2") == pytest.approx([0.0, 1.0, 0.0])
    assert _col(m, names, "gender:f") == pytest.approx([1.0, 0.0, 0.0])
    assert _col(m, names, "age_band:25-34") == pytest.approx([0.0, 0.0, 1.0])
    assert m.min() >= 0 and m.max() <= 1


def test_customer_features_rows_follow_the_id_map():
    ids = np.array(["c", "b", "a"], dtype=object)
    m, names = feat.customer_features(EVENTS, CUSTOMERS, PRODUCTS, ids, REF)
    ref, _ = feat.customer_features(EVENTS, CUSTOMERS, PRODUCTS, ids[::-1], REF)
    assert (m != ref[::-1]).nnz == 0


def test_category_paths_are_hierarchy_aware():
    m, names = feat.category_paths(PRODUCTS["category"])
    assert names == [
        "category:home",
        "category:home/garden",
        "category:home/kitchen",
        "category:sports",
    ]
    assert m.toarray().tolist() == [[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]


def test_product_features_catalogue_popularity_and_tfidf():
    ids = np.array(["p4", "p3", "p2", "p1"], dtype=object)
    m, names = feat.product_features(
        EVENTS, PRODUCTS, ids, n_price_buckets=2, tfidf_max_features=50, tfidf_min_df=2
    )
    assert _col(m, names, "brand:acme") == pytest.approx([0, 0, 1, 1])
    assert _col(m, names, "category:home") == pytest.approx([0, 0, 1, 1])
    # popularity: distinct customers in the events: p3 has 2, p1 and p2 1, p4 0
    assert _col(m, names, "popularity") == pytest.approx(
        [0.0, 1.0, np.log(2) / np.log(3), np.log(2) / np.log(3)]
    )
    tfidf = [n for n in names if n.startswith("tfidf:")]
    assert set(tfidf) == {"tfidf:kettle", "tfidf:hose"}  # words in >= 2 descriptions
    assert m[0, names.index("tfidf:kettle")] > 0 and m[1, names.index("tfidf:kettle")] == 0
    assert np.asarray(
        (m[:, [names.index(n) for n in names if n.startswith("price_bucket")]]).sum(axis=1)
    ).ravel().tolist() == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="not in the products table"):
        feat.product_features(EVENTS, PRODUCTS, np.array(["p9"], dtype=object))


def test_rating_features_from_period_events_when_catalogue_has_none():
    ev = _events(
        [
            ("a", "p1", "2024-01-01", "rating", "mobile"),
            ("b", "p1", "2024-01-02", "rating", "mobile"),
        ]
    )
    ev["value"] = [5.0, 3.0]
    ev2 = _events([("a", "p2", "2024-01-01", "rating", "mobile")])
    ev2["value"] = [1.0]
    both = pd.concat([ev, ev2], ignore_index=True)
    m, names = feat.product_features(
        both, PRODUCTS, np.array(["p1", "p2"], dtype=object), tfidf_max_features=0
    )
    # ratings span 1..5: p1 average 4 -> 0.75, p2 average 1 -> 0
    assert _col(m, names, "rating:avg") == pytest.approx([0.75, 0.0])
    cat = PRODUCTS.assign(avg_rating=[4.0, 2.0, 3.0, np.nan], rating_count=[10, 0, 5, 0])
    m2, n2 = feat.product_features(
        both, cat, np.array(["p1", "p2", "p4"], dtype=object), tfidf_max_features=0
    )
    assert _col(m2, n2, "rating:avg") == pytest.approx([1.0, 0.0, 0.0])


def test_context_rows_align_with_matrix_entries():
    ids_c = np.array(["a", "b"], dtype=object)
    ids_p = np.array(["p1", "p2", "p3"], dtype=object)
    # stored pairs in CSR order: (a,p1) (a,p2) (a,p3) (b,p3)
    m = sp.csr_matrix((np.ones(4), ([0, 0, 0, 1], [0, 1, 2, 2])), shape=(2, 3))
    ctx, names = feat.context_features(EVENTS, m, ids_c, ids_p)
    assert ctx.shape == (4, len(names))
    assert _col(ctx, names, "device:mobile") == pytest.approx([1.0, 1.0, 0.0, 0.0])
    assert _col(ctx, names, "hour:evening") == pytest.approx([0.0, 0.0, 1.0, 1.0])
    assert _col(ctx, names, "weekday:wed") == pytest.approx([1.0, 0.0, 0.0, 1.0])  # 2024-01-10, -31


def test_feature_summary_groups():
    m = sp.csr_matrix(np.array([[1, 0, 0.5], [0, 0, 0]]))
    t = feat.feature_summary(m, ["a:x", "a:y", "b:z"], "customer")
    assert t[["group", "features", "rows_covered"]].values.tolist() == [
        ["a", 2, 0.5],
        ["b", 1, 0.5],
    ]
