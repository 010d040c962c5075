"""Building, scrubbing and caching the run's dataset."""

from __future__ import annotations

import pandas as pd
import pytest

from recnb.data import io
from recnb.data.schema import PERSONAL_COLUMNS, load_dataset
from recnb.workflow import run_data
from recnb.workflow.params import load_params
from recnb.workflow.run_data import build_dataset, dataset_for_run, load_raw


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


def _movielens_settings(tmp_path, n_ratings: int):
    """A params file on a tiny ml-latest-small folder with ``n_ratings`` ratings."""
    d = tmp_path / "ml-latest-small"
    d.mkdir(exist_ok=True)
    rows = "".join(f"{1 + i % 7},{1 + i % 5},4.0,{964982703 + i}\n" for i in range(n_ratings))
    (d / "ratings.csv").write_text("userId,movieId,rating,timestamp\n" + rows)
    (d / "movies.csv").write_text(
        "movieId,title,genres\n" + "".join(f"{i},Film {i} (1995),Drama\n" for i in range(1, 6))
    )
    p = tmp_path / "ml.yaml"
    p.write_text(f"run_name: ml\nseed: 1\nstages: []\ndata:\n  source: movielens\n  path: {d}\n")
    return load_params(p), d


def test_data_file_edited_in_place_rebuilds_the_cached_dataset(tmp_path, monkeypatch):
    """Observed: the old events were reused after the file was cut (cache keyed on the path)."""
    import json
    import os

    monkeypatch.setenv("RECNB_PSEUDONYM_KEY", "test-only-key")
    settings, folder = _movielens_settings(tmp_path, 60)
    run_dir = tmp_path / "run"
    assert len(dataset_for_run(settings, run_dir).events) == 60
    info = json.loads((run_dir / "data" / "dataset.json").read_text())
    recorded = info["source"]["files"][str((folder / "ratings.csv").resolve())]
    assert recorded["sha256"] and recorded["size"] > 0  # the content fingerprint is recorded

    settings, _ = _movielens_settings(tmp_path, 30)  # the same path, cut to half
    assert len(dataset_for_run(settings, run_dir).events) == 30

    # touched but unchanged: same content, no rebuild (the tables are not rewritten)
    events_mtime = (run_dir / "data" / "events.parquet").stat().st_mtime_ns
    st = (folder / "ratings.csv").stat()
    os.utime(folder / "ratings.csv", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert len(dataset_for_run(settings, run_dir).events) == 30
    assert (run_dir / "data" / "events.parquet").stat().st_mtime_ns == events_mtime


def test_source_fingerprint_of_the_synthetic_shop(settings, tmp_path, monkeypatch):
    """The shop's fingerprint is its full config, seed and the generator's code version."""
    a = run_data.source_fingerprint(settings)
    assert a["files"] == {} and a["settings"]["shop_config"]["seed"] == 5
    assert run_data.source_fingerprint(settings)["hash"] == a["hash"]
    p = tmp_path / "q.yaml"
    p.write_text(settings.source_file.read_text().replace("n_days: 7", "n_days: 8"))
    assert run_data.source_fingerprint(load_params(p))["hash"] != a["hash"]
    real = run_data._code_fingerprint
    monkeypatch.setattr(
        run_data,
        "_code_fingerprint",
        lambda *parts: real(*parts) + ("x" if "data/synthetic" in parts else ""),
    )
    assert run_data.source_fingerprint(settings)["hash"] != a["hash"]  # generator code changed


def test_files_fingerprint_reads_a_file_only_when_size_or_mtime_changed(tmp_path, monkeypatch):
    import os

    f = tmp_path / "events.csv"
    f.write_text("a,b\n1,2\n")
    first = io.files_fingerprint([tmp_path])
    rec = first[str(f.resolve())]
    assert rec["sha256"] == io.file_sha256(f) and rec["size"] == 8

    def no_read(path):  # the fast pre-check must not read an unchanged file
        raise AssertionError(f"{path} read although size and mtime are unchanged")

    monkeypatch.setattr(io, "file_sha256", no_read)
    assert io.files_fingerprint([tmp_path], first) == first
    monkeypatch.undo()
    st = f.stat()
    f.write_text("a,b\n3,4\n")  # same size, content changed, mtime moved
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    assert io.files_fingerprint([tmp_path], first)[str(f.resolve())]["sha256"] != rec["sha256"]


def test_the_dataset_code_fingerprint_covers_files_that_exist():
    """Observed: the list named ``privacy.py`` after privacy became a package, so a change to the
    scrub never rebuilt a cached dataset; every listed module or package must exist."""
    root = run_data._code_root()
    for part in (*run_data._DATASET_CODE, "data/synthetic", "data/loaders"):
        assert (root / part).exists(), part
    assert "privacy/scrub.py" in run_data._DATASET_CODE
