"""Spark metrics equal the in-memory ones to 1e-9 on the same recommendations.

One local Spark session for the module. The inputs are random but shaped like real evaluations:
short lists padded with -1, customers with an empty list, customers without held-out items (left
out), graded truth, products never seen in training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from spark_support import module_session, require_spark

require_spark()

from recnb import metrics as M  # noqa: E402
from recnb.backends.spark import metrics as SM  # noqa: E402

N_CUSTOMERS, N_PRODUCTS, K = 120, 60, 12


@pytest.fixture(scope="module")
def spark():
    session = module_session()
    yield session
    session.stop()


def _random_topk(rng, n, n_products, width, short_share=0.2, empty_share=0.05):
    topk = np.stack([rng.permutation(n_products)[:width] for _ in range(n)]).astype(np.int64)
    lengths = np.full(n, width)
    short = rng.random(n) < short_share
    lengths[short] = rng.integers(1, width, short.sum())
    lengths[rng.random(n) < empty_share] = 0
    topk[np.arange(width)[None, :] >= lengths[:, None]] = -1
    return topk


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(11)
    truth = sp.random(N_CUSTOMERS, N_PRODUCTS, density=0.06, random_state=1, format="csr")
    truth.data = rng.integers(1, 4, truth.nnz).astype(np.float64)  # grades 1..3
    train = sp.random(N_CUSTOMERS, N_PRODUCTS, density=0.15, random_state=2, format="csr")
    train = train[:, :-5]  # the last 5 products are never in training
    train = sp.hstack([train, sp.csr_matrix((N_CUSTOMERS, 5))]).tocsr()
    models = {
        "a": _random_topk(rng, N_CUSTOMERS, N_PRODUCTS, K),
        "b": _random_topk(rng, N_CUSTOMERS, N_PRODUCTS, K),
    }
    categories = np.array([f"c{i % 7}" for i in range(N_PRODUCTS)], dtype=object)
    embeddings = rng.normal(size=(N_PRODUCTS, 5))
    assert (np.diff(truth.indptr) == 0).any()  # some customers are left out
    return truth, train, models, categories, embeddings


def _as_series(frame: pd.DataFrame) -> pd.Series:
    return frame.set_index(["model", "customer_row", "metric", "k"])["value"].sort_index()


def test_every_metric_equals_memory(spark, case):
    truth, train, models, categories, embeddings = case
    ks = (1, 5, 10)
    ref = M.evaluate(
        models,
        truth,
        ks=ks,
        train=train,
        item_categories=categories,
        item_embeddings=embeddings,
    )
    got = SM.spark_evaluate(
        {m: SM.topk_to_spark(spark, t) for m, t in models.items()},
        SM.csr_to_spark(spark, truth),
        n_products=N_PRODUCTS,
        ks=ks,
        train=SM.csr_to_spark(spark, train, "value"),
        item_categories=spark.createDataFrame(
            pd.DataFrame({"product": np.arange(N_PRODUCTS), "category": categories})
        ),
        item_embeddings=spark.createDataFrame(
            pd.DataFrame({"product": np.arange(N_PRODUCTS), "vector": list(embeddings)})
        ),
    ).toPandas()
    a, b = _as_series(ref), _as_series(got)
    assert set(ref["metric"]) == set(SM.SPARK_PER_CUSTOMER_METRICS)
    assert a.index.equals(b.index)
    np.testing.assert_array_equal(np.isnan(a.to_numpy()), np.isnan(b.to_numpy()))
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=0, atol=1e-9, equal_nan=True)


def test_graded_ndcg_and_a_model_as_serendipity_baseline(spark, case):
    truth, train, models, _, _ = case
    for gain in ("linear", "exponential"):
        ref = M.evaluate(
            models,
            truth,
            ks=(3, 10),
            metrics=["ndcg", "serendipity"],
            graded=True,
            gain=gain,
            train=train,
            popularity_baseline="b",
        )
        got = SM.spark_evaluate(
            {m: SM.topk_to_spark(spark, t) for m, t in models.items()},
            SM.csr_to_spark(spark, truth),
            n_products=N_PRODUCTS,
            ks=(3, 10),
            metrics=["ndcg", "serendipity"],
            graded=True,
            gain=gain,
            train=SM.csr_to_spark(spark, train, "value"),
            popularity_baseline="b",
        ).toPandas()
        a, b = _as_series(ref), _as_series(got)
        assert a.index.equals(b.index)
        np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=0, atol=1e-9)


def test_catalog_metrics_equal_memory(spark, case):
    _, _, models, _, _ = case
    got = SM.spark_catalog_metrics(SM.topk_to_spark(spark, models["a"]), N_PRODUCTS, (1, 5, 10))
    for r in got.itertuples():
        if r.metric == "catalog_coverage":
            expect = M.catalog_coverage(models["a"], N_PRODUCTS, r.k)
        else:
            expect = M.gini_exposure(models["a"], N_PRODUCTS, r.k)
        assert abs(r.value - expect) <= 1e-12, (r.metric, r.k)


def test_a_perfect_list_scores_one_and_auc_is_refused(spark):
    truth = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 2, 0]], dtype=float))
    topk = np.array([[1, 0, 3], [2, -1, -1]])
    got = SM.spark_ranking_metrics(
        SM.topk_to_spark(spark, topk), SM.csr_to_spark(spark, truth), ks=(2,)
    ).toPandas()
    by = got.set_index(["customer", "metric"])["value"]
    for m in ("precision", "recall", "ndcg", "map_min", "hit_rate", "mrr"):
        assert by[(0, m)] == 1.0, m
    assert by[(1, "precision")] == 0.5 and by[(1, "ndcg")] == 1.0
    with pytest.raises(ValueError, match="auc is computed in memory only"):
        SM.spark_evaluate(
            {"a": SM.topk_to_spark(spark, topk)},
            SM.csr_to_spark(spark, truth),
            n_products=4,
            metrics=["auc"],
        )
