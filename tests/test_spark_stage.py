"""The preprocessing stage's split built on Spark is the very artefact the in-memory path writes.

One local Spark session for the module.
"""

from __future__ import annotations

import json

import pytest
from spark_support import module_session, require_spark

require_spark()

from recnb.backends.spark.stage import build_split_spark  # noqa: E402
from recnb.prep import split as sl  # noqa: E402
from recnb.prep.settings import PrepSettings  # noqa: E402


@pytest.fixture(scope="module")
def spark():
    session = module_session()
    yield session
    session.stop()


def _files(folder):
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_saved_split_is_byte_identical_to_memory(spark, tmp_path):
    from recnb import privacy
    from recnb.data import synthetic
    from recnb.data.schema import validate_dataset
    from recnb.prep import cleaning

    _, raw = synthetic.make_shop(n_customers=300, n_products=120, n_days=30, seed=3)
    ds = cleaning.clean(validate_dataset(privacy.scrub(raw, privacy.DEMO_KEY)))[0]
    kw = dict(
        test_days=7,
        valid_days=4,
        min_customer_interactions=2,
        min_product_interactions=2,
        bot_max_events_per_day=1000,
        tfidf_max_features=50,
        min_group_size=5,
    )
    ref = sl.build_split(ds, PrepSettings(**kw))
    got = build_split_spark(ds, spark, PrepSettings(**kw))
    assert sl.check_split(got.parts) == []
    for name, res in (("memory", ref), ("spark", got)):
        sl.save_split(
            tmp_path / name,
            res.parts,
            context=res.context,
            normalizers=res.normalizers,
            info=res.info,
        )
    a, b = _files(tmp_path / "memory"), _files(tmp_path / "spark")
    assert set(a) == set(b)
    for name in a:
        if name == "split.json":
            info_a = json.loads(a[name])
            info_b = json.loads(b[name])
            assert info_b["info"].pop("engine") == "spark"
            assert info_a == info_b
        else:
            assert a[name] == b[name], name
    for table in ("split", "cold_start", "features", "density", "timeline"):
        assert got.tables[table].equals(ref.tables[table].reset_index(drop=True)), table
