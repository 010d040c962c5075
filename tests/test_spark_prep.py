"""The Spark preprocessing agrees with the in-memory split: same pairs, same values, same counts.

One local Spark session for the module. The in-memory :func:`recnb.prep.split.build_split` is the
reference; each case compares all four parts' matrices (pairs, float32 confidences, last-event
times) exactly, and the counts the report prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from spark_support import module_session, require_spark

require_spark()

from recnb.backends.spark import prep  # noqa: E402
from recnb.data.schema import Dataset, validate_dataset  # noqa: E402
from recnb.prep import split as sl  # noqa: E402
from recnb.prep import weighting as wt  # noqa: E402
from recnb.prep.settings import PrepSettings  # noqa: E402

MSR = Path(__file__).resolve().parent / "fixtures" / "msr"


@pytest.fixture(scope="module")
def spark():
    session = module_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def shop():
    from recnb import privacy
    from recnb.data import synthetic
    from recnb.prep import cleaning

    _, raw = synthetic.make_shop(n_customers=300, n_products=120, n_days=30, seed=3)
    ds = validate_dataset(privacy.scrub(raw, privacy.DEMO_KEY))
    return cleaning.clean(ds, dedup_window_seconds=5)[0]


@pytest.fixture(scope="module")
def shop_events(spark, shop):
    return prep.events_to_spark(spark, shop.events).cache()


def _settings(**kw) -> PrepSettings:
    # the settings of a case: no training filter unless the case names one
    base = dict(min_customer_interactions=1, min_product_interactions=1, bot_max_events_per_day=0)
    return PrepSettings(**{**base, **kw})


def _assert_same_split(ref: sl.SplitResult, res: prep.SparkSplit) -> None:
    assert list(res.customer_ids) == list(ref.parts["train"].customer_ids)
    assert list(res.product_ids) == list(ref.parts["train"].product_ids)
    mats = res.matrices()
    for part in sl.PARTS:
        a, ta = ref.parts[part].matrix, ref.parts[part].timestamps
        b, tb = mats[part]
        assert a.nnz > 0, part
        # same pairs, and bit for bit the same float32 values and float64 times
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices), part
        assert np.array_equal(a.data, b.data), part
        assert np.array_equal(ta.data, tb.data), part
    for key, value in ref.info.items():
        assert res.info[key] == value, key
    pd.testing.assert_frame_equal(res.tables["density"], ref.tables["density"])
    pd.testing.assert_frame_equal(
        res.tables["timeline"], ref.tables["timeline"].reset_index(drop=True)
    )
    sig_a, sig_b = ref.tables["signal"], res.tables["signal"]
    pd.testing.assert_frame_equal(
        sig_b.drop(columns=["total_weight", "weight_share"]),
        sig_a.drop(columns=["total_weight", "weight_share"]),
    )
    # the per-type totals are sums of millions of events on real data: Spark adds them in
    # another order, so they agree to rounding (the pairs' sums above are bit-identical)
    np.testing.assert_allclose(sig_b["total_weight"], sig_a["total_weight"], rtol=1e-12)


def test_temporal_split_with_bots_and_kcore_equals_memory(shop, shop_events):
    kw = dict(
        split_kind="temporal",
        test_days=7,
        valid_days=4,
        min_customer_interactions=2,
        min_product_interactions=2,
        bot_max_events_per_day=20,
    )
    ref = sl.build_split(shop, _settings(tfidf_max_features=0, **kw))
    res = prep.spark_build_split(shop_events, _settings(**kw))
    # the case exercises what it claims to: bots flagged, the k-core iterates
    assert ref.info["events_removed_bots"] > 0 and ref.tables["density"]["rounds"].iloc[1] > 1
    assert ref.info["removed_seen_pairs"]["test"] > 0
    _assert_same_split(ref, res)


def test_stratified_split_equals_memory_row_for_row(shop, shop_events):
    kw = dict(
        split_kind="stratified",
        test_fraction=0.25,
        valid_fraction=0.2,
        min_rating=3,
        min_customer_interactions=2,
        min_product_interactions=3,
        seed=5,
    )
    ref = sl.build_split(shop, _settings(tfidf_max_features=0, **kw))
    res = prep.spark_build_split(shop_events, _settings(**kw))
    assert ref.info["dropped_by_split"] > 0  # min_rating drops some groups
    _assert_same_split(ref, res)


def test_non_integer_weights_sum_to_the_same_bits(shop, spark):
    # dwell factor and recency decay make every weight a non-integer float: the pair sums only
    # agree bit for bit because Spark adds them in event-row order, as np.bincount does
    ev = shop.events.copy()
    ev["returned_at"] = pd.NaT
    buys = np.flatnonzero((ev["event"] == "purchase").to_numpy())[::3]
    ev.loc[ev.index[buys], "returned_at"] = ev["timestamp"].iloc[buys] + pd.Timedelta(days=2)
    ds = Dataset(shop.name, shop.customers, shop.products, ev)
    kw = dict(
        split_kind="temporal",
        test_days=7,
        valid_days=4,
        dwell_factor=0.5,
        recency_half_life_days=3.0,
        scaling="linear",
        alpha=2.0,
        test_events=["purchase", "add_to_cart", "click"],
    )
    ref = sl.build_split(ds, _settings(tfidf_max_features=0, **kw))
    assert sum(ref.info["purchases_returned"].values()) > 0
    frac = ref.parts["train"].matrix.data
    assert np.mean(frac != np.round(frac)) > 0.9
    _assert_same_split(
        ref, prep.spark_build_split(prep.events_to_spark(spark, ds.events), _settings(**kw))
    )


def test_explicit_ratings_keep_the_latest_rating(spark):
    rows = [
        ("a", "p1", "2024-01-01", "rating", 2.0),
        ("a", "p1", "2024-01-03", "rating", 4.0),  # latest rating of a/p1 in train
        ("a", "p2", "2024-01-02", "view", np.nan),
        ("b", "p1", "2024-01-02", "rating", 5.0),
        ("b", "p2", "2024-01-02", "rating", 3.0),
        ("b", "p2", "2024-01-02", "rating", 1.0),  # same time: the later row wins
        ("c", "p2", "2024-01-09", "rating", 5.0),
        ("a", "p3", "2024-01-10", "rating", 3.0),
    ]
    ev = pd.DataFrame(rows, columns=["customer_id", "product_id", "timestamp", "event", "value"])
    ev["timestamp"] = pd.to_datetime(ev["timestamp"])
    ds = validate_dataset(
        Dataset(
            "t",
            pd.DataFrame({"customer_id": ["a", "b", "c"]}),
            pd.DataFrame({"product_id": ["p1", "p2", "p3"], "category": "x", "price": 1.0}),
            ev,
        )
    )
    kw = dict(signal="explicit", split_kind="temporal", test_days=3, valid_days=5)
    ref = sl.build_split(ds, _settings(tfidf_max_features=0, **kw))
    res = prep.spark_build_split(prep.events_to_spark(spark, ds.events), _settings(**kw))
    train = res.matrices()["train"][0]
    assert train[0, 0] == 4.0 and train[1, 1] == 1.0
    for part in sl.PARTS:
        a, b = ref.parts[part].matrix, res.matrices()[part][0]
        assert (a != b).nnz == 0, part


def test_unavailable_kinds_and_unknown_events_fail_clearly(spark, shop_events):
    with pytest.raises(ValueError, match="'leave_last' is not available on the Spark engine"):
        prep.spark_build_split(shop_events, _settings(split_kind="leave_last"))
    bad = prep.events_to_spark(
        spark,
        pd.DataFrame(
            {
                "customer_id": ["a"],
                "product_id": ["p"],
                "timestamp": pd.to_datetime(["2024-01-01"]),
                "event": ["teleport"],
            }
        ),
    )
    with pytest.raises(ValueError, match=r"events.event: unknown event type\(s\) \['teleport'\]"):
        prep.spark_build_split(bad)


# -- the Microsoft-compatible stratified split on its own, against the release's golden rows ----


def _msr_cases():
    cases = json.loads((MSR / "splits.json").read_text())["cases"]
    picked, seen = [], set()
    for c in cases:
        key = (c["frame"], c["filter_by"], isinstance(c["ratio"], list), c["min_rating"])
        if key not in seen:
            seen.add(key)
            picked.append(c)
    return picked[:6]


def test_spark_stratified_split_gives_the_released_rows(spark):
    # six cases of the Recommenders 1.2.1 golden fixtures (every frame, both filter_by, a ratio
    # list, min_rating 3): the same rows in every split as the release's python_stratified_split
    cases = _msr_cases()
    assert {c["min_rating"] for c in cases} == {1, 3} and any(
        isinstance(c["ratio"], list) for c in cases
    )
    for case in cases:
        df = pd.read_csv(MSR / f"split_frame_{case['frame']}.csv", dtype={"rating": float})
        sdf = spark.createDataFrame(df.assign(row=np.arange(len(df))))
        parts = prep.spark_stratified_split(
            sdf,
            ratio=case["ratio"],
            min_rating=case["min_rating"],
            filter_by=case["filter_by"],
            seed=case["seed"],
            col_order="row",
        )
        got = [sorted(r["row"] for r in p.select("row").collect()) for p in parts]
        assert got == [sorted(s) for s in case["splits"]], case["frame"]


def test_draws_are_those_of_one_sequential_draw_across_partitions(spark):
    # 5 partitions, positions shuffled among them: each still gets RandomState(7).rand(n)[pos]
    n = 2_000
    df = spark.range(n).withColumnRenamed("id", "pos").repartition(5)
    got = prep._draw_uniform(df, "pos", 7, "u").toPandas().sort_values("pos")
    np.testing.assert_array_equal(got["u"].to_numpy(), np.random.RandomState(7).rand(n))


def test_events_read_from_parquet_equal_the_in_memory_events(spark, shop, shop_events, tmp_path):
    # a shop's events as pandas writes them (naive timestamps), read back in file order
    path = tmp_path / "events.parquet"
    shop.events.to_parquet(path)
    got = prep.read_events(spark, path).toPandas().sort_values("event_row", ignore_index=True)
    want = shop_events.toPandas().sort_values("event_row", ignore_index=True)
    for col in ("event_row", "customer_id", "product_id", "ts", "event", "dwell_seconds"):
        pd.testing.assert_series_equal(got[col], want[col], check_dtype=False)


def test_weights_and_confidence_need_no_python_worker(spark, shop, shop_events):
    # a pandas UDF per event was the slowest step of the split (measured in bench_spark.py): the
    # type weights and the confidence are native Spark expressions, with the in-memory values
    from pyspark.sql import functions as F

    ev = prep.spark_event_weights(shop_events)
    conf = ev.withColumn("v", prep._confidence(F.col("w") * F.lit(3.7), "log", 2.5))
    plan = conf._jdf.queryExecution().executedPlan().toString()
    assert "EvalPython" not in plan, plan
    got = conf.orderBy("event_row").select("w", "v").toPandas()
    want = wt.event_weights(shop.events)
    assert np.array_equal(got["w"].to_numpy(), want)  # same bits
    ref = wt.scale_confidence(want * 3.7, "log", 2.5)
    np.testing.assert_allclose(got["v"].to_numpy(), ref, rtol=1e-15, atol=0)
    assert np.array_equal(got["v"].to_numpy().astype(np.float32), ref.astype(np.float32))
    lin = ev.orderBy("event_row").select(prep._confidence(F.col("w"), "linear", 2.5).alias("v"))
    lin = lin.toPandas()["v"]
    assert np.array_equal(lin.to_numpy(), wt.scale_confidence(want, "linear", 2.5))
