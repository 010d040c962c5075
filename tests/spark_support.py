"""Shared set-up of the Spark test modules: one local session per module, stopped at its end.

The modules skip when pyspark is not installed, unless ``RECNB_REQUIRE_SPARK=1`` (set by
``make test``, which installs the ``spark`` extra): then a missing pyspark or Java fails, so CI
cannot pass without running them.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

#: the settings of the test sessions: two local cores, few shuffle partitions, no UI, quiet
TEST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "1g",
}


def require_spark() -> None:
    """Skip (or, with RECNB_REQUIRE_SPARK=1, fail) the calling module without pyspark."""
    if importlib.util.find_spec("pyspark") is not None:
        return
    if os.environ.get("RECNB_REQUIRE_SPARK") == "1":
        pytest.fail("pyspark is not installed but RECNB_REQUIRE_SPARK=1: pip install -e '.[spark]'")
    pytest.skip("pyspark not installed (the 'spark' extra)", allow_module_level=True)


def module_session():
    """Start the module's local session (call from a module-scoped fixture; stop it after)."""
    from recnb.backends.spark.session import spark_session

    return spark_session(master="local[2]", app_name="recnb-tests", conf=TEST_CONF)
