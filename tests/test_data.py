"""Building, scrubbing and caching the run's dataset."""

from __future__ import annotations

import pandas as pd
import pytest

from recnb.data import build_dataset, dataset_for_run, load_dataset, load_raw
from recnb.params import load_params
from recnb.schema import PERSONAL_COLUMNS


@pytest.fixture
def settings(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text(
        "run_name: t\nseed: 5\nstages: []\n"
        "data:\n  source: synthetic\n  synthetic: {n_customers: 80, n_products: 40, n_days: 7}\n"
    )
    return load_params(p)


def test_same_seed_same_fingerprint_other_seed_different(settings, tmp_path):
    a = build_dataset(settings)
    b = build_dataset(settings)
    assert a.fingerprint() == b.fingerprint()
    p = tmp_path / "q.yaml"
    p.write_text(settings.source_file.read_text().replace("seed: 5", "seed: 6"))
    c = build_dataset(load_params(p))
    assert c.fingerprint() != a.fingerprint()


def test_scrubbed_dataset_has_no_personal_data(settings):
    raw = load_raw(settings)
    ds = build_dataset(settings)
    assert set(PERSONAL_COLUMNS) & set(raw.customers.columns)  # the shop has something to remove
    assert not set(PERSONAL_COLUMNS) & set(ds.customers.columns)
    assert not set(raw.customers["customer_id"]) & set(ds.customers["customer_id"])
    assert set(ds.events["customer_id"]) <= set(ds.customers["customer_id"])


def test_dataset_for_run_caches_and_detects_tampering(settings, tmp_path):
    run_dir = tmp_path / "run"
    a = dataset_for_run(settings, run_dir)
    mtime = (run_dir / "data" / "events.parquet").stat().st_mtime_ns
    b = dataset_for_run(settings, run_dir)
    assert b.fingerprint() == a.fingerprint()
    assert (run_dir / "data" / "events.parquet").stat().st_mtime_ns == mtime  # read, not rebuilt
    ev = pd.read_parquet(run_dir / "data" / "events.parquet")
    ev["event"] = ev["event"].astype(str)
    ev.loc[0, "event"] = "purchase" if ev.loc[0, "event"] != "purchase" else "view"
    ev.to_parquet(run_dir / "data" / "events.parquet", index=False)
    with pytest.raises(ValueError, match="data files do not match dataset.json"):
        load_dataset(run_dir / "data")
