"""Spark MLlib ALS reaches implicit ALS's quality on the same split, within the stated tolerance.

One local Spark session for the module. Both libraries are tuned on validation over the same
small grid and refitted on train (:func:`recnb.backends.spark.quality.compare_als`); the tolerance
and its reasons are in :data:`recnb.backends.spark.quality.RELATIVE_TOLERANCE`.
``benchmarks/bench_spark.py --quality`` runs the same comparison on the default shop.
"""

from __future__ import annotations

import numpy as np
import pytest
from spark_support import module_session, require_spark

require_spark()

from recnb.backends.spark.quality import RELATIVE_TOLERANCE, compare_als  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    session = module_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def parts():
    from recnb import privacy
    from recnb.data import synthetic
    from recnb.data.schema import validate_dataset
    from recnb.prep import cleaning
    from recnb.prep import split as sl
    from recnb.prep.settings import PrepSettings

    _, raw = synthetic.make_shop(n_customers=1500, n_products=300, n_days=45, seed=11)
    ds = cleaning.clean(validate_dataset(privacy.scrub(raw, privacy.DEMO_KEY)))[0]
    settings = PrepSettings(
        test_days=10,
        valid_days=7,
        min_customer_interactions=2,
        min_product_interactions=2,
        bot_max_events_per_day=0,
        tfidf_max_features=0,
    )
    res = sl.build_split(ds, settings)
    return res.parts


def test_spark_als_within_tolerance_of_implicit_als(spark, parts):
    grid = [
        {"factors": 16, "iterations": 10, "regularization": r, "alpha": a}
        for r, a in ((0.1, 1.0), (0.1, 10.0))
    ]
    out = compare_als(parts, {"als": grid, "spark_als": grid}, k=10, seed=0, n_boot=500)
    als, spark_als = out["als"]["ndcg"], out["spark_als"]["ndcg"]
    assert out["als"]["customers"] >= 100
    # both learn something: far above what a random list of the catalogue scores
    n_products = parts["train"].n_products
    assert min(als, spark_als) > 5 * 10 / n_products
    assert out["within_tolerance"], (
        f"spark_als nDCG@10 {spark_als:.4f} vs als {als:.4f}: "
        f"{out['relative_difference']:+.1%} beyond +-{RELATIVE_TOLERANCE:.0%}"
    )
    p = out["paired"]
    assert p["diff_ci_low"] <= p["mean_diff"] <= p["diff_ci_high"]
    assert np.isfinite(p["t_pvalue"])
