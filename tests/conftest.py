"""Shared test fixtures.

BLAS and the recommender libraries run on one thread in tests so that results repeat exactly.
"""

from __future__ import annotations

import importlib.util
import os

for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

# spark_als lives in recnb.backends, which the model catalogue does not import (the workflow does,
# recnb.workflow.settings.load_backend_models): register it here so that every test module sees the
# same registry, and the contract suite covers it, whatever ran first. Without the 'spark' extra it
# is left out (the Spark test modules skip, or fail under RECNB_REQUIRE_SPARK=1).
if importlib.util.find_spec("pyspark") is not None:
    import recnb.backends.spark.als  # noqa: E402, F401


def _shared_data_dir() -> Path | None:
    env = os.environ.get("RECNB_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator: tests that draw random inputs repeat exactly."""
    return np.random.default_rng(20261129)


@pytest.fixture
def shared_data_dir() -> Path:
    """Folder with the real data sets (../shared/data or $RECNB_DATA_DIR); skip when absent."""
    d = _shared_data_dir()
    if d is None:
        pytest.skip("real data sets not present (../shared/data or RECNB_DATA_DIR)")
    return d


@pytest.fixture(autouse=True, scope="module")
def _stop_spark_after_module():
    """A module that started a Spark session (e.g. by fitting ``spark_als``) stops it at its end,
    so every module runs with at most one session of its own."""
    yield
    import sys

    if "pyspark" in sys.modules:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()


@pytest.fixture(scope="session")
def experiment_world():
    """A small shop with a split and fitted models, for the experiment tests (built once).

    3,000 customers, 300 products, a 30-day log; the run's privacy scrub (demo key), a temporal
    split with a 7-day test period, and popularity, item-kNN, EASE and random models fitted on
    ``train``. ``unit_id`` maps the shop's customer ids to the pseudonyms the models know.
    """
    from types import SimpleNamespace

    from recnb import privacy
    from recnb.data.schema import validate_dataset
    from recnb.data.synthetic import make_shop
    from recnb.models import make_model
    from recnb.prep import cleaning
    from recnb.prep import split as sl
    from recnb.prep.settings import PrepSettings

    shop, raw = make_shop(n_customers=3000, n_products=300, n_days=30, seed=11)
    ds = cleaning.clean(validate_dataset(privacy.scrub(raw, privacy.DEMO_KEY)))[0]
    res = sl.build_split(
        ds, PrepSettings(test_days=7, valid_days=0, tfidf_max_features=0), run_seed=0
    )
    train = res.parts["train"]
    models = {
        "popularity": make_model("popularity").fit(train),
        "item_knn": make_model("item_knn", n_neighbors=50).fit(train),
        "ease": make_model("ease").fit(train),
        "random": make_model("random", random_state=0).fit(train),
    }
    return SimpleNamespace(
        shop=shop,
        dataset=ds,
        train=train,
        test=res.parts["test"],
        models=models,
        history=shop.log_history(),
        unit_id=lambda ids: privacy.pseudonymize(ids, privacy.DEMO_KEY, 16),
        n_days=30,
    )
