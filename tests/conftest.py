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
