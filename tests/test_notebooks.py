"""Smoke test: every stage notebook runs through papermill on params/ci.yaml (the small shop)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from recnb.workflow.compare import compare_runs
from recnb.workflow.params import REPO_ROOT, load_params
from recnb.workflow.runner import run

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    return run(REPO_ROOT / "params" / "ci.yaml", reports_dir=out, echo=lambda m: None)


def test_every_stage_has_html_and_notebook(ci_run):
    settings = load_params(REPO_ROOT / "params" / "ci.yaml")
    manifest = json.loads((ci_run / "manifest.json").read_text())
    for stage in settings.stages:
        assert manifest["stages"][stage]["status"] == "ok", stage
        assert (ci_run / f"{stage}.ipynb").exists()
        html = (ci_run / f"{stage}.html").read_text()
        assert "StageContext(" not in html  # code hidden
        assert "Traceback" not in html
        assert (ci_run / "summaries" / f"{stage}.md").read_text().strip()
    index = (ci_run / "index.html").read_text()
    for stage in settings.stages:
        assert f'href="{stage}.html"' in index


def test_manifest_records_provenance(ci_run):
    manifest = json.loads((ci_run / "manifest.json").read_text())
    assert manifest["seed"] == 7
    assert len(manifest["data"]["fingerprint"]) == 64
    assert manifest["data"]["rows"]["events"] > 1000
    assert manifest["packages"]["implicit"] and manifest["packages"]["papermill"]
    assert manifest["params"]["data"]["synthetic"]["n_customers"] == 600


def test_data_understanding_results_are_files(ci_run):
    funnel = pd.read_parquet(ci_run / "results" / "01_data_understanding" / "funnel.parquet")
    assert funnel["event"].iloc[0] == "view"
    assert (
        funnel["events"].is_monotonic_decreasing
        or funnel["events"].iloc[0] == funnel["events"].max()
    )
    assert (ci_run / "figures" / "01_data_understanding" / "funnel.png").stat().st_size > 1000


def test_monitoring_records_the_run_and_exports_the_champion(ci_run):
    from recnb.models.base import Recommender
    from recnb.monitoring.registry import read_registry

    (record,) = read_registry(ci_run)
    assert record["version"] == 1 and record["seed"] == 7
    assert len(record["config_hash"]) == 64 and len(record["data_fingerprint"]) == 64
    model = Recommender.load(ci_run / record["champion"]["path"])
    assert model.name == record["champion"]["model"]
    res = ci_run / "results" / "07_monitoring"
    gate = pd.read_parquet(res / "gate.parquet")
    assert set(gate["decision"]) <= {"promoted", "rejected", "not promoted"}
    assert record["serving"] == (record["promoted"] or "champion")
    periods = pd.read_parquet(res / "periods.parquet")
    assert set(periods["strategy"]) == {"scheduled", "frozen"}
    assert not [c for c in periods.columns if "seconds" in c]
    drill = pd.read_parquet(res / "drift_drill.parquet")
    # ci.yaml plants the drill's change on day 20, inside the monitored days; the ci shop (600
    # customers) is too small to detect it at the default budget: tests/test_monitoring.py checks
    # detection on its day, and no alarm before it, on a shop of 2,500 customers
    assert drill["day"].min() < 20 < drill["day"].max()


def test_reports_hold_no_raw_identifiers(ci_run):
    from recnb.privacy import assert_no_identifiers, forbidden_from_raw
    from recnb.workflow.run_data import load_raw

    raw = load_raw(load_params(REPO_ROOT / "params" / "ci.yaml"))
    assert_no_identifiers(ci_run, forbidden_from_raw(raw))


def test_stage_03_exports_its_chosen_model_for_serving(ci_run):
    """``python -m recnb serve reports/ci`` serves what stage 03 chose: the export is the winner of
    the significance table, loads with its checksums, and the report says how to serve it."""
    from recnb.serving import find_export, load_export

    significance = pd.read_parquet(
        ci_run / "results" / "03_model_comparison" / "significance.parquet"
    )
    e = load_export(find_export(ci_run, "model_comparison"))
    assert e.folder == ci_run / "models" / "model_comparison"
    assert e.spec.label == significance["reference"].iloc[0]
    assert e.spec.run_name == "ci" and e.spec.customer_ids.form == "pseudonym"
    html = (ci_run / "03_model_comparison.html").read_text()
    assert f"python -m recnb serve {ci_run.resolve().as_posix()}" in html


def test_serve_loads_stage_07s_champion(ci_run, tmp_path):
    """Observed: stage 07 saved its champion with ``Recommender.save`` only (registry/champions),
    so ``python -m recnb serve reports/ci`` served stage 03's export instead. Now the configuration
    the gate chose is fitted on the run's log and exported like stage 03's model: serve picks it
    first, it loads with its checksums and id maps, and it answers a customer of the run."""
    from fastapi.testclient import TestClient

    from recnb.monitoring.registry import read_registry
    from recnb.serving import create_app, find_export, load_export

    (record,) = read_registry(ci_run)
    folder = find_export(ci_run)
    assert folder == ci_run / "models" / "champion"
    assert record["export"] == {"path": "models/champion", "version": load_export(folder).version}
    e = load_export(folder)
    assert e.spec.model == record["champion"]["model"] == record["serving_spec"]["model"]
    assert e.spec.label == record["serving"] and e.spec.run_name == "ci"
    assert e.spec.customer_ids.form == "pseudonym" and e.spec.signal.event_weights["purchase"] > 0
    events = pd.read_parquet(ci_run / "data" / "events.parquet")
    assert set(e.model.customer_ids_.astype(str)) == set(events["customer_id"].astype(str))
    app = create_app(ci_run, store=tmp_path / "events.sqlite")
    assert app.state.service.current.export.folder == folder
    cid = str(e.model.customer_ids_[0])
    with TestClient(app) as client:
        r = client.get(f"/recommendations/{cid}", params={"k": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["source"] == "model" and len(body["items"]) == 5
    want = e.model.recommend([cid], k=5)
    assert [i["product_id"] for i in body["items"]] == list(want["product_id"])
    html = (ci_run / "07_monitoring.html").read_text()
    assert "models/champion" in html and "python -m recnb serve" in html


def test_same_params_same_bytes_and_a_quiet_terminal(ci_run, tmp_path):
    """Observed: leaderboard, tuning_history and tuning_summary differed (wall-clock columns);
    every stage printed the kernel's "running over TCP without encryption" WARNING."""
    import os
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "recnb", "run", "params/ci.yaml", "--reports-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        env={**os.environ, "RECNB_PROGRESS_SECONDS": "5"},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert r.returncode == 0, r.stderr
    alarming = [ln for ln in r.stderr.splitlines() if "WARNING" in ln or "ERROR" in ln]
    assert not alarming, alarming
    # progress lines from stage 03 (searches run side by side: one line per finished search)
    assert "searches finished" in r.stdout
    assert "fit on train, score test mult_vae" in r.stdout
    again = tmp_path / "ci"
    c = compare_runs(ci_run, again)
    assert not (c.only_a or c.only_b), (c.only_a, c.only_b)
    assert not c.differ, c.differ  # parquet compared as bytes: embedded metadata included
    checked = [p for p in again.rglob("*.parquet") if not p.name.startswith("timing")]
    assert len(checked) > 30
    res = again / "results" / "03_model_comparison"
    for name in ("leaderboard", "tuning_history", "tuning_summary"):
        cols = pd.read_parquet(res / f"{name}.parquet").columns
        assert not [c for c in cols if "seconds" in c or c.endswith("_mb")], (name, list(cols))
    assert "fit_seconds" in pd.read_parquet(res / "timing.parquet").columns
    assert (pd.read_parquet(res / "timing_tuning.parquet")["seconds"] >= 0).all()
    # the report still shows the measured cost
    html = (again / "03_model_comparison.html").read_text()
    assert "training time" in html and "customers / s" in html
    assert "trains in" in (again / "index.html").read_text()


def test_rerun_of_one_stage_keeps_the_others(ci_run, tmp_path):
    copy = tmp_path / "ci"
    shutil.copytree(ci_run, copy)
    before = (copy / "01_data_understanding.html").stat().st_mtime
    settings = load_params(REPO_ROOT / "params" / "ci.yaml")
    last = settings.stages[-1]
    run(REPO_ROOT / "params" / "ci.yaml", stages=[last], reports_dir=tmp_path, echo=lambda m: None)
    manifest = json.loads((copy / "manifest.json").read_text())
    assert all(manifest["stages"][s]["status"] == "ok" for s in settings.stages)
    if last != "01_data_understanding":
        assert (copy / "01_data_understanding.html").stat().st_mtime == before


@pytest.mark.realdata
@pytest.mark.parametrize(
    "params_name, folder",
    [("online_retail", "online-retail"), ("ml_latest_small", "ml-latest-small")],
)
def test_real_data_runs_stages_01_and_02(
    params_name, folder, shared_data_dir, tmp_path, monkeypatch
):
    """Notebooks 01 and 02 on the real data sets in ../shared/data (skipped when absent)."""
    if not (shared_data_dir / folder).is_dir():
        pytest.skip(f"{shared_data_dir / folder} not present")
    monkeypatch.setenv("RECNB_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("RECNB_PSEUDONYM_KEY", "test-only-key-not-a-secret")
    params = REPO_ROOT / "params" / f"{params_name}.yaml"
    run_dir = run(
        params,
        stages=["01_data_understanding", "02_preprocessing"],
        reports_dir=tmp_path,
        echo=lambda m: None,
    )
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["privacy_check"]["status"] == "passed"
    for stage in ("01_data_understanding", "02_preprocessing"):
        assert manifest["stages"][stage]["status"] == "ok"
    assert (run_dir / "split" / "test" / "matrix.npz").exists()
