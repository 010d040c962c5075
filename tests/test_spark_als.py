"""Spark ALS and the distributed top-k: same lists as the in-memory scoring of the same factors,
seen items never returned, heavy customers still get full lists.

One local Spark session for the module.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from spark_support import module_session, require_spark

require_spark()

from recnb.backends.spark import als as sals  # noqa: E402
from recnb.data.interactions import Interactions  # noqa: E402
from recnb.models.testing import random_interactions  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    session = module_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def fitted(spark):
    rng = np.random.default_rng(3)
    inter = random_interactions(rng, n_customers=80, n_products=50, density=0.12)
    # customer 0 has seen every product but 3: a fixed over-fetch would leave its list short
    m = inter.matrix.tolil()
    m[0, :] = 1.0
    m[0, [5, 17, 33]] = 0.0
    m[79, :] = 0.0  # a cold customer: popularity fallback
    inter = Interactions(sp.csr_matrix(m), inter.customer_ids, inter.product_ids)
    model = sals.SparkALS(factors=8, iterations=5, random_state=1).fit(inter)
    return inter, model


def _frames(spark, model, inter):
    uf = spark.createDataFrame(
        [(int(i), model.user_factors_[i].tolist()) for i in np.flatnonzero(model.has_history_)],
        "customer long, features array<float>",
    )
    itf = spark.createDataFrame(
        [(j, model.item_factors_[j].tolist()) for j in range(inter.n_products)],
        "product long, features array<float>",
    )
    m = inter.matrix.tocoo()
    seen = spark.createDataFrame(
        [(int(r), int(c)) for r, c, v in zip(m.row, m.col, m.data, strict=True) if v > 0],
        "customer long, product long",
    )
    return uf, itf, seen


@pytest.mark.parametrize("chunk_rows", [None, 3])
def test_distributed_topk_equals_in_memory_lists(spark, fitted, monkeypatch, chunk_rows):
    """Also with the scores of an Arrow batch taken 3 customers at a time (a worker's memory
    stays flat in the batch size; the lists must not change)."""
    inter, model = fitted
    if chunk_rows is not None:
        monkeypatch.setattr(sals, "SCORE_CHUNK_BYTES", 4 * inter.n_products * chunk_rows)
    uf, itf, seen = _frames(spark, model, inter)
    k = 10
    everyone = spark.range(inter.n_customers).withColumnRenamed("id", "customer")
    recs = sals.spark_recommend_topk(
        uf,
        itf,
        k,
        n_products=inter.n_products,
        seen=seen,
        customers=everyone,
        popularity=model.popularity_,
    ).toPandas()
    idx, val = model.recommend_indices(np.arange(inter.n_customers), k=k)
    got = np.full_like(idx, -1)
    got[recs["customer"].to_numpy(), recs["rank"].to_numpy() - 1] = recs["product"].to_numpy()
    np.testing.assert_array_equal(got, idx)
    score = np.full(idx.shape, np.nan, np.float32)
    score[recs["customer"].to_numpy(), recs["rank"].to_numpy() - 1] = recs["score"].to_numpy()
    np.testing.assert_allclose(score, val, rtol=1e-6)
    # the heavy customer gets exactly its 3 unseen products, the cold one the best-sellers
    assert sorted(got[0][got[0] >= 0]) == [5, 17, 33]
    np.testing.assert_array_equal(got[79], np.argsort(-model.popularity_, kind="stable")[:k])


def test_seen_items_are_never_recommended(spark, fitted):
    inter, model = fitted
    uf, itf, seen = _frames(spark, model, inter)
    recs = sals.spark_recommend_topk(uf, itf, 20, n_products=inter.n_products, seen=seen)
    hits = recs.join(seen, ["customer", "product"], "left_semi").count()
    assert hits == 0
    assert recs.count() > 0


def test_fallback_needs_popularity(spark, fitted):
    inter, model = fitted
    uf, itf, seen = _frames(spark, model, inter)
    everyone = spark.range(inter.n_customers).withColumnRenamed("id", "customer")
    with pytest.raises(ValueError, match="give popularity"):
        sals.spark_recommend_topk(
            uf, itf, 5, n_products=inter.n_products, seen=seen, customers=everyone
        )
