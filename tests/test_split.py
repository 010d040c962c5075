"""Splits: the released Microsoft Recommenders' stratified split (recnb's re-implementation, checked
against golden fixtures in test_split_msr_fixtures.py), temporal / leave-last / random, leakage,
artefact."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.data.schema import Dataset, validate_dataset
from recnb.prep import split as sl
from recnb.prep.settings import SPLIT_KINDS, PrepSettings
from recnb.reporting.narrative.prep import (
    describe_cold_start,
    describe_density,
    describe_features,
    describe_removals,
    describe_signal,
    describe_split,
    summary_paragraph,
)

#: the hand-worked cases below assume no training filter and a split seed of 42: the settings'
#: defaults (k-core 2, bot filter 1000, pooled groups under 10) are set off here
LOOSE = dict(
    min_customer_interactions=1,
    min_product_interactions=1,
    bot_max_events_per_day=0,
    min_group_size=1,
    seed=42,
)


def build(ds, kind=None, on_step=None, **kw):
    """:func:`recnb.prep.split.build_split` with :data:`LOOSE` settings changed by ``kw``."""
    if kind is not None:
        kw["split_kind"] = kind
    return sl.build_split(ds, PrepSettings(**{**LOOSE, **kw}), on_step=on_step)


# -- the stratified split (rule of Recommenders 1.2.1) -------------------------------------------


def test_stratified_split_hand_worked_example():
    # np.random.seed(42); np.random.rand(10) ->
    # .3745 .9507 .7320 .5987 .1560 .1560 .0581 .8662 .6011 .7081 (row 5 is .15599 < row 4 .15602)
    r = np.random.RandomState(42).rand(10)
    assert r[5] < r[4]
    df = pd.DataFrame(
        {
            "userID": ["A", "A", "A", "A", "B", "B", "B", "C", "C", "D"],
            "itemID": list(range(10)),
            "rating": [5.0] * 10,
        }
    )
    train, test = sl.python_stratified_split(df, ratio=0.75, filter_by="user", seed=42)
    # a row stays in train when its rank <= round(0.75 * count), round half to even:
    # A: order r0 r3 r2 r1, round(3.0) = 3 -> train r0 r3 r2, test r1
    # B: order r6 r5 r4, round(2.25) = 2 -> train r6 r5, test r4
    # C: order r8 r7, round(1.5) = 2 -> both in train
    # D: one row, round(0.75) = 1 -> train
    assert list(train.index) == [0, 3, 2, 6, 5, 8, 7, 9]  # sorted by (user, random), as released
    assert list(test.index) == [1, 4]
    assert list(sl.stratified_labels(df["userID"], 0.75, 42)) == [0, 1, 0, 0, 1, 0, 0, 0, 0, 0]
    assert "random" not in df.columns and len(df) == 10  # input left untouched


def test_stratified_train_share_is_rounded_half_to_even():
    # the minimal case: groups of 1, 2 and 10 at 0.75 keep 1 / 2 / 8 rows in train
    # (Recommenders 1.2.1 measured; floor would keep 0 / 1 / 7)
    groups = np.repeat([0, 1, 2], [1, 2, 10])
    lab = sl.stratified_labels(groups, 0.75, seed=7)
    assert np.bincount(groups[lab == 0], minlength=3).tolist() == [1, 2, 8]
    # half to even, not half up: at 0.5 a group of 5 keeps round(2.5) = 2, of 3 round(1.5) = 2,
    # of 1 round(0.5) = 0
    groups = np.repeat([0, 1, 2], [5, 3, 1])
    lab = sl.stratified_labels(groups, 0.5, seed=7)
    assert np.bincount(groups[lab == 0], minlength=3).tolist() == [2, 2, 0]
    # a ratio list: each split ends at round(cumsum * count); a group of 5 at [.6, .2, .2] -> 3/1/1
    lab = sl.stratified_labels(np.zeros(5, dtype=int), [0.6, 0.2, 0.2], seed=1)
    assert np.bincount(lab, minlength=3).tolist() == [3, 1, 1]


def test_stratified_split_filter_by_item_and_min_rating():
    df = pd.DataFrame({"userID": list("abcdefg"), "itemID": [1, 1, 1, 1, 2, 2, 3]})
    parts = sl.python_stratified_split(df, ratio=0.5, min_rating=2, filter_by="item", seed=1)
    kept = sorted(pd.concat(parts).index)
    assert kept == [0, 1, 2, 3, 4, 5]  # item 3 has one row < min_rating 2: dropped
    assert [len(p) for p in parts] == [3, 3]  # item 1: 2 of 4, item 2: 1 of 2 in train
    assert list(sl.stratified_labels(df["itemID"], 0.5, 1, min_rating=2))[-1] == -1


def test_stratified_ratio_list_is_normalised_into_three_splits():
    df = pd.DataFrame({"userID": ["u"] * 10, "itemID": range(10)})
    parts = sl.python_stratified_split(df, ratio=[6.0, 2.0, 2.0], seed=3)
    assert [len(p) for p in parts] == [6, 2, 2]
    assert sorted(pd.concat(parts)["itemID"]) == list(range(10))
    with pytest.raises(TypeError):
        sl.python_stratified_split(df, ratio=1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        sl.python_stratified_split(df, ratio=1.0)
    with pytest.raises(ValueError, match="filter_by"):
        sl.python_stratified_split(df, filter_by="session")


# -- label functions -----------------------------------------------------------------------------


def test_temporal_labels():
    ts = pd.to_datetime(["2024-01-01", "2024-01-20", "2024-01-24", "2024-01-25", "2024-01-31"])
    lab, b = sl.temporal_labels(ts, test_days=7, valid_days=5)
    assert b["cutoff"] == pd.Timestamp("2024-01-24") and b["valid_start"] == pd.Timestamp(
        "2024-01-19"
    )
    assert list(lab) == [sl.TRAIN_INNER, sl.VALID, sl.TEST, sl.TEST, sl.TEST]
    lab2, _ = sl.temporal_labels(ts, cutoff="2024-01-25", valid_days=0)
    assert list(lab2) == [sl.TRAIN_INNER, sl.TRAIN_INNER, sl.TRAIN_INNER, sl.TEST, sl.TEST]


def test_leave_last_labels():
    cust = np.array([0, 0, 0, 0, 1, 1, 2])
    t = pd.to_datetime(
        [
            "2024-01-01",
            "2024-01-04",
            "2024-01-02",
            "2024-01-03",
            "2024-01-01",
            "2024-01-02",
            "2024-01-01",
        ]
    )
    lab = sl.leave_last_labels(cust, t.to_numpy(), n_test=1, n_valid=1)
    # customer 0: last = day 4 -> test, day 3 -> valid; customer 1: 2 pairs -> test only; 2: 1 pair
    assert list(lab) == [0, 2, 0, 1, 0, 2, 0]


def test_random_holdout_labels(rng):
    cust = np.repeat(np.arange(50), 10)
    lab = sl.random_holdout_labels(cust, test_fraction=0.2, valid_fraction=0.25, seed=5)
    per = pd.crosstab(cust, lab)
    assert (
        (per[sl.TEST] == 2).all()
        and (per[sl.VALID] == 2).all()
        and (per[sl.TRAIN_INNER] == 6).all()
    )
    assert (lab == sl.random_holdout_labels(cust, 0.2, 0.25, seed=5)).all()
    assert (lab != sl.random_holdout_labels(cust, 0.2, 0.25, seed=6)).any()
    one = sl.random_holdout_labels(np.array([0]), 0.9, 0.9, seed=1)
    assert list(one) == [sl.TRAIN_INNER]  # a single pair always stays in training


# -- build_split on hand-made and synthetic data -------------------------------------------------


def _dataset(rows, customers=None, products=None):
    """rows: (customer, product, day of January 2024 (float), event[, value[, device]])."""
    ev = pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "product_id": [r[1] for r in rows],
            "timestamp": [pd.Timestamp("2024-01-01") + pd.Timedelta(days=r[2] - 1) for r in rows],
            "event": [r[3] for r in rows],
            "value": [r[4] if len(r) > 4 else np.nan for r in rows],
            "device": [r[5] if len(r) > 5 else "mobile" for r in rows],
        }
    )
    cust = (
        customers
        if customers is not None
        else pd.DataFrame({"customer_id": sorted(set(ev["customer_id"]))})
    )
    prod = (
        products
        if products is not None
        else pd.DataFrame(
            {
                "product_id": sorted(set(ev["product_id"])),
                "category": "a/b",
                "price": 1.0,
            }
        )
    )
    return validate_dataset(Dataset("t", cust, prod, ev))


HAND = [
    ("a", "p1", 1, "view"),
    ("a", "p2", 2, "purchase"),
    ("b", "p1", 3, "view"),
    ("b", "p2", 12, "click"),  # valid window [10, 15)
    ("a", "p1", 13, "view"),  # seen in train_inner: dropped from valid
    ("c", "p3", 16, "view"),  # test (>= day 15): cold customer c, cold product p3
    ("a", "p2", 18, "purchase"),  # seen in train: dropped from test
    ("b", "p3", 19, "view"),
    ("a", "p1", 20, "view"),  # last event: day 20 -> cut-off day 15 with test_days=5
]


def test_temporal_build_split_hand_example():
    res = build(_dataset(HAND), kind="temporal", test_days=5, valid_days=5, tfidf_max_features=0)
    parts = res.parts
    assert list(parts["train"].customer_ids) == ["a", "b", "c"]
    assert list(parts["train"].product_ids) == ["p1", "p2", "p3"]

    def pairs(name):
        m = parts[name].matrix.tocoo()
        return {
            (parts[name].customer_ids[i], parts[name].product_ids[j])
            for i, j in zip(m.row, m.col, strict=True)
        }

    assert pairs("train_inner") == {("a", "p1"), ("a", "p2"), ("b", "p1")}
    assert pairs("valid") == {("b", "p2")}
    assert pairs("train") == {("a", "p1"), ("a", "p2"), ("b", "p1"), ("b", "p2")}
    assert pairs("test") == {("c", "p3"), ("b", "p3")}
    assert res.info["removed_seen_pairs"] == {"valid": 1, "test": 2}
    assert parts["test"].meta["cold_customers"] == [2]
    assert parts["test"].meta["cold_products"] == [2]
    assert parts["test"].meta["cold_pair_share"] == 1.0
    # confidence: a/p2 purchase (8) in train: 1 + log1p(8)
    assert parts["train"].matrix[0, 1] == pytest.approx(1 + np.log(9), rel=1e-6)
    # a/p1: view day 1 and view day 13 -> x = 2 in train; only day 1 in train_inner
    assert parts["train"].matrix[0, 0] == pytest.approx(1 + np.log(3), rel=1e-6)
    assert parts["train_inner"].matrix[0, 0] == pytest.approx(1 + np.log(2), rel=1e-6)
    assert sl.check_split(parts) == []


def test_describe_split_reports_the_test_span_of_a_fixed_cutoff():
    kw = dict(kind="temporal", test_days=5, valid_days=5, tfidf_max_features=0)
    by_days = describe_split(build(_dataset(HAND), **kw))
    assert "at 2024-01-15" in by_days and "to 2024-01-20 (5 days)" in by_days
    # a fixed cutoff overrides test_days: the sentence gives the span actually tested
    fixed = describe_split(build(_dataset(HAND), cutoff="2024-01-17", **kw))
    assert "at 2024-01-17" in fixed and "to 2024-01-20 (3 days)" in fixed


def test_preprocessing_sentences_read_the_hand_example():
    res = build(_dataset(HAND), kind="temporal", test_days=5, valid_days=5, tfidf_max_features=0)
    # signal over all 9 events: 6 views x 1, 1 click x 2, 2 purchases x 8 = 6 + 2 + 16
    assert describe_signal(res.tables["signal"]) == (
        "Share of the total training signal by event type: purchase 67%, view 25%, click 8%. "
        "Purchase events dominate the signal."
    )
    # no filter in LOOSE: train keeps its 2 customers, 2 products and 4 pairs
    assert describe_density(res.tables["density"]) == (
        "After k-core: 2 of 2 customers and 2 of 2 products remain, with 4 of 4 "
        "customer-product pairs; density goes from 100% to 100% (the share of all possible "
        "pairs that hold an interaction)."
    )
    assert describe_removals(pd.DataFrame({"step": ["x"], "rows": [0], "reason": ["r"]}), 9) == (
        "Cleaning removed nothing: all 9 events passed every check."
    )
    two = pd.DataFrame({"step": ["a", "b"], "rows": [1, 3], "reason": ["ra", "rb"]})
    assert describe_removals(two, 40) == (
        "Cleaning removed 4 of 40 events (10.0%); the largest step was b (3 rows: rb)."
    )
    table = pd.DataFrame(
        {
            "entity": ["customer", "customer"],
            "group": ["rfm", "device"],
            "features": [3, 2],
            "rows_covered": [1.0, 0.25],
            "mean_nonzeros": [3.0, 1.0],
        }
    )
    assert describe_features(table) == (
        "Customer features: 5 columns in groups rfm (3), device (2). Sparse groups (under half "
        "of the rows covered): device."
    )
    # test: customers a, b, c; c is new (no train history), as is product p3
    assert describe_cold_start(res).startswith(
        "In valid, 0 of 1 customers (0.0%) and 0 of 1 products (0.0%) have no history in "
        "train_inner"
    )
    assert "In test, 1 of 2 customers (50%) and 1 of 1 products (100%)" in describe_cold_start(res)


def test_recency_decay_measured_from_each_training_end():
    res = build(
        _dataset(HAND),
        test_days=5,
        valid_days=5,
        recency_half_life_days=2.0,
        scaling="none",
        tfidf_max_features=0,
    )
    # train ends at the cut-off (day 15): a/p2 purchase on day 2 -> 8 * 0.5 ** (13 / 2)
    assert res.parts["train"].matrix[0, 1] == pytest.approx(8 * 0.5**6.5, rel=1e-5)
    # train_inner ends at the validation start (day 10): 8 * 0.5 ** 4
    assert res.parts["train_inner"].matrix[0, 1] == pytest.approx(8 * 0.5**4, rel=1e-5)
    assert res.parts["test"].matrix[1, 2] == 1.0  # evaluation parts are not decayed


def test_test_events_restrict_relevance():
    res = build(
        _dataset(HAND),
        test_days=5,
        valid_days=5,
        test_events=["purchase"],
        drop_seen_in_test=False,
        tfidf_max_features=0,
    )
    m = res.parts["test"].matrix.tocoo()
    assert list(zip(m.row, m.col, strict=True)) == [(0, 1)]  # a/p2 purchase only


@pytest.fixture(scope="module")
def shop_dataset():
    synthetic = pytest.importorskip("recnb.data.synthetic")
    from recnb import privacy
    from recnb.prep import cleaning

    _, raw = synthetic.make_shop(n_customers=300, n_products=120, n_days=30, seed=3)
    ds = validate_dataset(privacy.scrub(raw, privacy.DEMO_KEY))
    return cleaning.clean(ds, dedup_window_seconds=5)[0]


@pytest.mark.parametrize("kind", SPLIT_KINDS)
def test_every_kind_passes_the_leakage_checks(shop_dataset, kind):
    res = build(
        shop_dataset,
        kind=kind,
        test_days=7,
        valid_days=4,
        min_customer_interactions=2,
        tfidf_max_features=50,
    )
    assert sl.check_split(res.parts) == []
    parts = res.parts
    for name in sl.PARTS:
        assert parts[name].shape == parts["train"].shape
    val, te = parts["valid"].matrix, parts["test"].matrix
    assert val.multiply(te).nnz == 0  # validation disjoint from test
    if kind == "temporal":
        cut = pd.Timestamp(res.info["cutoff"]).value / 1e9
        assert parts["test"].timestamps.data.min() >= cut  # no test event before the cut-off
        assert parts["train"].timestamps.data.max() < cut


def test_check_split_catches_planted_leaks(shop_dataset):
    res = build(shop_dataset, kind="temporal", test_days=7, valid_days=4, tfidf_max_features=0)
    parts = dict(res.parts)
    # plant a test pair (with its time) into train
    te = parts["test"]
    leak = Interactions(
        matrix=parts["train"].matrix + te.matrix,
        customer_ids=te.customer_ids,
        product_ids=te.product_ids,
        timestamps=parts["train"].timestamps.maximum(te.timestamps),
        meta=parts["train"].meta,
    )
    problems = sl.check_split({**parts, "train": leak})
    assert any("also in train" in p for p in problems)
    assert any("at or after the cut-off" in p for p in problems)
    # the check reads the data, not the label the split wrote: a wrong label alone is no problem,
    # features that differ from train's are (e.g. computed over the test period)
    relabelled = te.with_matrix(te.matrix)
    relabelled.timestamps = te.timestamps
    relabelled.meta["features_from"] = "test"
    assert sl.check_split({**parts, "test": relabelled}) == []
    bad = te.with_matrix(te.matrix)
    bad.timestamps = te.timestamps
    bad.customer_features = te.customer_features * 2.0
    assert "test: its features are not those of train" in sl.check_split({**parts, "test": bad})
    # a train part whose last events come after the test's first one, whatever cut-off is recorded
    late = parts["train"].with_matrix(parts["train"].matrix)
    late.timestamps = parts["train"].timestamps.copy()
    late.timestamps.data[0] = te.timestamps.data.max()
    late.meta["cutoff"] = "2100-01-01"
    assert any(
        "with a last event at or after the first test event" in p
        for p in sl.check_split({**parts, "train": late})
    )
    with pytest.raises(ValueError, match="leakage checks"):
        sl.assert_split_ok({**parts, "train": leak})


def test_features_never_see_a_test_period_event(shop_dataset):
    ds = shop_dataset
    kw = dict(kind="temporal", test_days=7, valid_days=4, tfidf_max_features=50)
    cutoff = build(ds, **kw).info["cutoff"]
    clean = build(ds, cutoff=cutoff, **kw)
    # plant, after the cut-off, a purchase on a new device by an existing customer of an existing product
    ev = ds.events
    planted = ev.iloc[[0]].copy()
    planted["timestamp"] = ev["timestamp"].max() + pd.Timedelta(hours=1)
    planted["event"] = "purchase"
    planted["device"] = "smartwatch"
    planted_ds = validate_dataset(
        Dataset(ds.name, ds.customers, ds.products, pd.concat([ev, planted], ignore_index=True))
    )
    leaky = build(planted_ds, cutoff=cutoff, **kw)
    assert leaky.parts["test"].nnz >= clean.parts["test"].nnz  # the event did land in test
    for part in ("train_inner", "train"):
        a, b = clean.parts[part], leaky.parts[part]
        assert a.customer_feature_names == b.customer_feature_names
        assert not any("smartwatch" in n for n in b.customer_feature_names)
        assert (a.customer_features != b.customer_features).nnz == 0
        assert (a.product_features != b.product_features).nnz == 0
        assert (a.matrix != b.matrix).nnz == 0


def test_stratified_build_split_lands_rows_like_python_stratified_split(rng):
    n = 400
    users = rng.integers(0, 25, n)
    items = rng.integers(0, 60, n)
    df = pd.DataFrame({"userID": users, "itemID": items}).drop_duplicates().reset_index(drop=True)
    df["rating"] = rng.integers(1, 6, len(df)).astype(float)
    rows = [
        (f"u{u}", f"i{i}", 1 + k / 1000, "rating", r)
        for k, (u, i, r) in enumerate(df[["userID", "itemID", "rating"]].itertuples(index=False))
    ]
    res = build(
        _dataset(rows),
        kind="stratified",
        signal="explicit",
        test_fraction=0.25,
        valid_fraction=0.0,
        stratify_by="item",
        seed=42,
        tfidf_max_features=0,
    )
    _, ref_test = sl.python_stratified_split(df, ratio=0.75, filter_by="item", seed=42)
    te = res.parts["test"]
    m = te.matrix.tocoo()
    ours = {
        (te.customer_ids[i], te.product_ids[j], float(v))
        for i, j, v in zip(m.row, m.col, m.data, strict=True)
    }
    expected = {
        (f"u{u}", f"i{i}", r)
        for u, i, r in ref_test[["userID", "itemID", "rating"]].itertuples(index=False)
    }
    assert ours == expected
    assert res.parts["valid"].nnz == 0


def test_explicit_split_keeps_ratings_and_saves_normalizer(tmp_path):
    rows = [
        ("a", "p1", 1, "rating", 5.0),
        ("a", "p2", 2, "rating", 3.0),
        ("b", "p1", 3, "rating", 4.0),
        ("a", "p1", 4, "rating", 4.0),  # re-rating: the latest (4) counts
        ("b", "p2", 9, "rating", 2.0),
        ("a", "p3", 10, "view"),  # not a rating: ignored by the explicit signal
    ]
    res = build(
        _dataset(rows),
        signal="explicit",
        test_days=2,
        valid_days=0,
        normalization="center",
        tfidf_max_features=0,
    )
    tr = res.parts["train"]
    assert tr.meta["signal"] == "explicit"
    assert tr.matrix.toarray().tolist() == [[4.0, 3.0], [4.0, 0.0]]
    assert res.parts["test"].matrix.toarray().tolist() == [[0.0, 0.0], [0.0, 2.0]]
    sl.save_split(
        tmp_path / "split",
        res.parts,
        context=res.context,
        normalizers=res.normalizers,
        info=res.info,
    )
    norm = sl.load_normalizer(tmp_path / "split", "train")
    assert norm.mean_.tolist() == [3.5, 4.0]
    assert norm.inverse(np.array([1]), np.array([-2.0])).tolist() == [2.0]
    with pytest.raises(FileNotFoundError, match="only explicit"):
        sl.load_normalizer(tmp_path / "split", "test")


def test_save_and_load_split_round_trip(tmp_path, shop_dataset):
    res = build(shop_dataset, test_days=7, valid_days=4, tfidf_max_features=30)
    folder = sl.save_split(tmp_path / "split", res.parts, context=res.context, info=res.info)
    back = sl.load_split(folder)
    assert list(back) == list(sl.PARTS)
    for name in sl.PARTS:
        a, b = res.parts[name], back[name]
        assert (a.matrix != b.matrix).nnz == 0
        assert list(a.customer_ids) == list(b.customer_ids)
        assert a.product_feature_names == b.product_feature_names
        assert (a.customer_features != b.customer_features).nnz == 0
        assert a.meta.get("cold_customers") == b.meta.get("cold_customers")
    ctx, names = sl.load_context(folder, "train")
    assert ctx.shape == (back["train"].nnz, len(names))
    assert sl.load_context(folder, "test") is None
    assert sl.split_info(folder)["cutoff"] == res.info["cutoff"]
    assert sl.check_split(back) == []


def test_save_split_rejects_parts_with_other_id_maps(tmp_path):
    a = Interactions(sp.csr_matrix(np.eye(2)), np.array(["x", "y"]), np.array(["p", "q"]))
    b = Interactions(sp.csr_matrix(np.eye(2)), np.array(["y", "x"]), np.array(["p", "q"]))
    with pytest.raises(ValueError, match="id maps"):
        sl.save_split(tmp_path, {"train": a, "test": b})
    with pytest.raises(FileNotFoundError, match="02_preprocessing"):
        sl.load_split(tmp_path / "nothing")


# -- the stage notebook ---------------------------------------------------------------------------


@pytest.mark.notebook
@pytest.mark.slow
def test_preprocessing_notebook_runs_with_non_default_knobs(tmp_path):
    pytest.importorskip("recnb.data.synthetic")
    from recnb.workflow.runner import run

    params = tmp_path / "p.yaml"
    params.write_text(
        """
run_name: prep
seed: 11
data:
  source: synthetic
  synthetic: {n_customers: 300, n_products: 100, n_days: 20}
stages: [02_preprocessing]
preprocessing:
  split_kind: random
  event_weights: {view: 1, click: 2, add_to_cart: 4, purchase: 10}
  recency_half_life_days: 10
  dwell_factor: 0.2
  scaling: linear
  alpha: 0.5
  test_fraction: 0.25
  tfidf_max_features: 100
"""
    )
    run_dir = run(params, reports_dir=tmp_path / "reports", echo=lambda m: None)
    parts = sl.load_split(run_dir / "split")
    assert sl.check_split(parts) == []
    assert parts["train"].meta["split_kind"] == "random"
    assert parts["train"].meta["event_weights"] == {
        "view": 1,
        "click": 2,
        "add_to_cart": 4,
        "purchase": 10,
    }
    assert parts["train"].meta["seed"] == 11  # seed None: the run's seed
    res = run_dir / "results" / "02_preprocessing"
    removals = pd.read_parquet(res / "removals.parquet")
    signal_rows = removals[removals["step"] == "events without weight"]["rows"]
    assert int(signal_rows.iloc[0]) > 0  # wishlist and rating weigh 0 here
    assert (run_dir / "figures" / "02_preprocessing" / "split_timeline.png").stat().st_size > 1000
    assert (
        "Every leakage check passed" in (run_dir / "summaries" / "02_preprocessing.md").read_text()
    )


def test_build_split_fails_loudly_on_bad_settings():
    ds = _dataset(HAND)
    with pytest.raises(ValueError, match="no event carries weight"):
        build(ds, event_weights={"rating": 1.0})
    with pytest.raises(ValueError, match=r"split_kind\n.*'temporal', 'leave_last'"):
        build(ds, kind="chrono")
    with pytest.raises(ValueError, match=r"test_events\n.*unknown event type"):
        build(ds, test_events=["buy"])
    with pytest.raises(ValueError, match="test part is empty"):
        build(ds, cutoff="2024-02-01", tfidf_max_features=0)
    with pytest.raises(ValueError, match="no 'rating' event"):
        build(ds, signal="explicit")


# -- training filters see training data only (issue 8, item 3) ----------------------------------

# min 2 products per customer and 2 customers per product; cut-off day 15, validation [10, 15)
FILTERED = [
    ("a", "p1", 1, "view"),
    ("a", "p2", 2, "purchase"),
    ("a", "p3", 3, "view"),
    ("a", "p6", 4, "view"),  # p6: one training customer -> out of training
    ("b", "p1", 2, "view"),
    ("b", "p2", 3, "click"),
    ("b", "p3", 4, "view"),
    ("c", "p1", 5, "view"),  # c: one training product -> out of training
    ("d", "p2", 6, "view"),
    ("d", "p3", 6.5, "view"),
    ("d", "p4", 7, "view"),  # p4 has only d before the validation window
    ("a", "p4", 11, "view"),  # valid: p4 now has two customers in train
    ("b", "p5", 12, "view"),
    ("d", "p5", 13, "view"),
    ("a", "p5", 16, "view"),  # test
    ("b", "p4", 17, "view"),
    ("e", "p1", 18, "view"),  # a customer new in the test period
    ("a", "p1", 20, "view"),
]
FILTER_KW = dict(
    kind="temporal",
    cutoff="2024-01-15",
    valid_days=5,
    min_customer_interactions=2,
    min_product_interactions=2,
    tfidf_max_features=0,
)


def _pairs_of(inter):
    m = inter.matrix.tocoo()
    return {
        (inter.customer_ids[i], inter.product_ids[j]) for i, j in zip(m.row, m.col, strict=True)
    }


def _saved_bytes(folder):
    return {
        str(f.relative_to(folder)): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()
    }


def _assert_training_parts_identical(clean, planted, tmp_path):
    for name, res in (("clean", clean), ("planted", planted)):
        sl.save_split(tmp_path / name, res.parts, context=res.context, info=res.info)
    for part in ("train_inner", "valid", "train"):
        a = _saved_bytes(tmp_path / "clean" / part)
        b = _saved_bytes(tmp_path / "planted" / part)
        assert a.keys() == b.keys()
        assert [f for f in a if a[f] != b[f]] == [], part


def test_kcore_runs_on_each_training_part_only(tmp_path):
    clean = build(_dataset(FILTERED), **FILTER_KW)
    # k-core of train_inner on train_inner's events, of train on train's (train_inner + valid)
    assert _pairs_of(clean.parts["train_inner"]) == {
        (u, p) for u in "abd" for p in ("p1", "p2", "p3") if (u, p) != ("d", "p1")
    }
    assert ("d", "p4") in _pairs_of(clean.parts["train"])  # p4 has a and d in train
    assert ("d", "p4") not in _pairs_of(clean.parts["train_inner"])
    assert not any(u == "c" or p == "p6" for u, p in _pairs_of(clean.parts["train"]))
    assert sl.check_split(clean.parts) == []

    # test-period events of c (p2, p3) and of a second customer of p6 (b): before the fix the
    # whole-log k-core counted them and moved c and p6 into training and into the tuning data
    planted_rows = FILTERED + [
        ("c", "p2", 16, "view"),
        ("c", "p3", 17, "purchase"),
        ("b", "p6", 19, "view"),
    ]
    planted = build(_dataset(planted_rows), **FILTER_KW)
    assert {("c", "p2"), ("c", "p3"), ("b", "p6")} <= _pairs_of(planted.parts["test"])
    _assert_training_parts_identical(clean, planted, tmp_path)
    # c and p6 have no training pair: they are cold in the test part, and counted as such
    test = planted.parts["test"]
    assert list(test.customer_ids).index("c") in test.meta["cold_customers"]
    assert list(test.product_ids).index("p6") in test.meta["cold_products"]
    cold = planted.tables["cold_start"].set_index("part")
    assert cold.loc["test", "cold_customers"] == 2  # c and the new customer e


def test_bot_filter_runs_on_each_training_part_only(tmp_path):
    kw = dict(FILTER_KW, bot_max_events_per_day=3)
    burst = [("b", "p1", 19 + k / 1440, "view") for k in range(4)]  # 4 views within 4 minutes
    clean = build(_dataset(FILTERED), **kw)
    planted = build(_dataset(FILTERED + burst), **kw)
    # b looks like a bot in the test period only: it stays in training, leaves the test part
    assert any(u == "b" for u, _ in _pairs_of(planted.parts["train"]))
    assert not any(u == "b" for u, _ in _pairs_of(planted.parts["test"]))
    assert planted.info["events_removed_bots_test"] == 5  # the burst and b's test view of p4
    _assert_training_parts_identical(clean, planted, tmp_path)
    # a burst in the training period removes the customer from training and from test
    early = [("b", "p1", 3 + k / 1440, "view") for k in range(4)]
    res = build(_dataset(FILTERED + early), **kw)
    for part in sl.PARTS:
        assert not any(u == "b" for u, _ in _pairs_of(res.parts[part])), part
    assert res.info["bot_customers"] == 1
    removals = sl.removal_overview([], pd.DataFrame(columns=["step", "rows", "reason"]), res)
    assert "bot-like customers (train)" in set(removals["step"])
    assert sl.check_split(res.parts) == []


@pytest.mark.parametrize("kind", ["leave_last", "random", "stratified"])
def test_kcore_of_per_customer_splits_counts_training_pairs_only(kind):
    # z has three products; whichever one is held out, two stay in training: fine for min 2;
    # y has two: once one is held out for test, y has one training pair and leaves training
    rows = [(u, f"p{i}", 1 + i + 0.1 * k, "view") for k, u in enumerate("uvw") for i in range(4)]
    rows += [("z", "p0", 1, "view"), ("z", "p1", 2, "view"), ("z", "p2", 3, "view")]
    rows += [("y", "p0", 1, "view"), ("y", "p3", 2, "view")]
    res = build(
        _dataset(rows),
        kind=kind,
        leave_last_n=1,
        test_fraction=0.5,
        valid_fraction=0.0,
        min_customer_interactions=2,
        min_product_interactions=1,
        tfidf_max_features=0,
    )
    train, test = res.parts["train"], res.parts["test"]
    per_customer = dict(zip(train.customer_ids, np.diff(train.matrix.indptr), strict=True))
    assert all(n == 0 or n >= 2 for n in per_customer.values())  # closed under its own k-core
    y_test = any(u == "y" for u, _ in _pairs_of(test))
    if y_test:  # y held out one of its two pairs: one training pair left, below the minimum
        assert per_customer["y"] == 0
        assert list(test.customer_ids).index("y") in test.meta["cold_customers"]
    assert sl.check_split(res.parts) == []


def test_check_split_recomputes_the_kcore_of_each_training_part(shop_dataset):
    res = build(
        shop_dataset,
        kind="temporal",
        test_days=7,
        valid_days=4,
        min_customer_interactions=3,
        min_product_interactions=2,
        tfidf_max_features=0,
    )
    parts = dict(res.parts)
    assert sl.check_split(parts) == []
    # what a k-core on the whole log produced: a customer kept in train with too few train
    # products, because test-period products counted
    tr = parts["train"]
    m = tr.matrix.tolil()
    row = int(np.flatnonzero(np.diff(tr.matrix.indptr) == 0)[0])
    m[row, 0] = 1.0
    t = tr.timestamps.tolil()
    t[row, 0] = tr.timestamps.data.min()
    leaky = tr.with_matrix(m.tocsr())
    leaky.timestamps = t.tocsr()
    problems = sl.check_split({**parts, "train": leaky})
    assert any("train: 1 customer(s) with fewer than 3 products" in p for p in problems)


# -- validation window longer than the training span (issue 9) -----------------------------------


def test_valid_days_longer_than_the_training_span_stops_with_a_clear_message():
    # HAND: first event day 1, cut-off day 15: a 14-day training span
    with pytest.raises(ValueError) as err:
        build(_dataset(HAND), test_days=5, valid_days=20, tfidf_max_features=0)
    msg = str(err.value)
    assert "valid_days=20" in msg and "preprocessing.valid_days" in msg
    assert "14 days" in msg and "train_inner" in msg and "below 14" in msg
    # just inside the span: fine
    res = build(_dataset(HAND), test_days=5, valid_days=13, tfidf_max_features=0)
    assert res.parts["train_inner"].nnz > 0


def test_training_filters_that_empty_a_part_name_their_settings():
    with pytest.raises(ValueError, match="train part is empty after the training filters") as err:
        build(_dataset(FILTERED), **dict(FILTER_KW, min_customer_interactions=9, valid_days=0))
    assert "min_customer_interactions=9" in str(err.value)


def test_returns_are_netted_on_each_part_own_period(tmp_path):
    from recnb.prep import cleaning

    def split_of(rows):
        cleaned, _ = cleaning.clean(_dataset(rows), returns="net")
        return build(cleaned, **FILTER_KW)

    clean = split_of(FILTERED)
    # a returns the p2 it bought on day 2, but only in the test period: training cannot know it
    # (before the fix, cleaning netted the whole log and a/p2 vanished from training)
    planted = split_of(FILTERED + [("a", "p2", 16, "purchase", -1.0)])
    assert ("a", "p2") in _pairs_of(planted.parts["train"])
    _assert_training_parts_identical(clean, planted, tmp_path)
    # returned during the validation window: still in train_inner, gone from train
    res = split_of(FILTERED + [("a", "p2", 12, "purchase", -1.0)])
    assert ("a", "p2") in _pairs_of(res.parts["train_inner"])
    assert ("a", "p2") not in _pairs_of(res.parts["train"])
    assert res.info["purchases_returned"]["train"] == 1
    assert sl.check_split(res.parts) == []
    n_events = len(FILTERED) + 1
    text = summary_paragraph(n_events, pd.DataFrame({"rows": [1]}), res)
    assert (
        "From training went 1 returned purchase(s) (returned before the cut-off), and the k-core"
        in text
    )
    # a purchase in the test period returned in the test period is not a test interaction
    res = split_of(FILTERED + [("e", "p3", 18, "purchase", 1.0), ("e", "p3", 19, "purchase", -1.0)])
    assert ("e", "p3") not in _pairs_of(res.parts["test"])
    assert res.info["purchases_returned"]["test"] == 1


def test_seen_pairs_are_those_of_the_training_period_before_the_filters():
    # f rates p1 in the validation window and again in the test period; with one product, the
    # k-core keeps f out of train. The repeat is still no new product: it leaves the test part,
    # and validation and test share no pair
    rows = FILTERED + [("f", "p1", 11, "view"), ("f", "p1", 17, "view")]
    res = build(_dataset(rows), **FILTER_KW)
    assert not any(u == "f" for u, _ in _pairs_of(res.parts["train"]))
    assert ("f", "p1") in _pairs_of(res.parts["valid"])
    assert ("f", "p1") not in _pairs_of(res.parts["test"])
    assert sl.check_split(res.parts) == []
