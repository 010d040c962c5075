"""Privacy, always: the runner scans the run folder after every run, failed or not, and moves a leaking
file out of it; the scan is clean on real data and on a default-size synthetic shop."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat as nbf
import pandas as pd
import pytest

from recnb import privacy
from recnb.workflow.params import REPO_ROOT, load_params
from recnb.workflow.runner import StageError, run

PARAMS_CELL = """
params_file: str = "../params/default.yaml"  # the run's params file
run_dir: str = "../reports/default"  # the run folder
"""

# every stage body starts with the raw (unscrubbed) data at hand, as a careless notebook would
PRELUDE = """
from pathlib import Path
import pandas as pd
from recnb.workflow.run_data import load_raw
from recnb.workflow.params import load_params
raw = load_raw(load_params(params_file, Path(params_file).parent / "notebooks"))
out = Path(run_dir)
"""

PARAMS = """
run_name: t1
seed: 3
data:
  source: synthetic
  synthetic: {n_customers: 60, n_products: 30, n_days: 5}
stages: [01_alpha, 02_beta]
"""


def _notebook(path: Path, body: str) -> None:
    nb = nbf.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "recnb", "display_name": "recnb", "language": "python"}}
    nb.cells = [
        nbf.v4.new_markdown_cell("# A stage"),
        nbf.v4.new_code_cell(PARAMS_CELL, metadata={"tags": ["parameters"]}),
        nbf.v4.new_code_cell(PRELUDE + body),
    ]
    nbf.write(nb, path)


def _project(tmp_path: Path, alpha: str, beta: str = "(out / 'beta.txt').write_text('ok')") -> Path:
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _notebook(nbdir / "01_alpha.ipynb", alpha)
    _notebook(nbdir / "02_beta.ipynb", beta)
    (tmp_path / "p.yaml").write_text(PARAMS)
    return tmp_path


def _run(project: Path):
    return run(
        project / "p.yaml",
        reports_dir=project / "reports",
        notebook_dir=project / "notebooks",
        echo=lambda m: None,
    )


def _manifest(project: Path) -> dict:
    return json.loads((project / "reports" / "t1" / "manifest.json").read_text())


RAW_ID_TABLE = """
top = raw.customers[["customer_id"]].head(3).rename(columns={"customer_id": "customer"})
(out / "results").mkdir(exist_ok=True)
top.assign(n=[3, 2, 1]).to_parquet(out / "results" / "top.parquet")
"""


@pytest.mark.notebook
def test_failed_stage_is_scanned_and_its_leak_moved_out(tmp_path):
    project = _project(tmp_path, RAW_ID_TABLE + "raise ValueError('planted failure')")
    with pytest.raises(StageError, match="planted failure"):
        _run(project)
    run_dir = project / "reports" / "t1"
    check = _manifest(project)["privacy_check"]
    assert check is not None and check["status"] == "failed"
    assert [(f["file"], f["kind"]) for f in check["findings"]] == [
        ("results/top.parquet", "customer id")
    ]
    assert not (run_dir / "results" / "top.parquet").exists()
    (moved,) = check["quarantined"]
    assert moved["path"] == "results/top.parquet"
    dest = Path(moved["moved_to"])
    assert dest.exists() and dest.is_relative_to(project / "reports" / ".quarantine" / "t1")
    assert run_dir not in dest.parents
    index = (run_dir / "index.html").read_text()
    assert "FAILED: raw identifiers in 1 file(s): results/top.parquet (customer id)" in index
    assert html_escape(check["quarantine_dir"]) in index
    assert privacy.scan_run_folder(run_dir, _forbidden(project)) == []


@pytest.mark.notebook
def test_failed_clean_stage_still_records_the_check(tmp_path):
    project = _project(tmp_path, "raise ValueError('planted failure')")
    with pytest.raises(StageError):
        _run(project)
    check = _manifest(project)["privacy_check"]
    # the failed notebook, and the manifest and index the runner wrote while the stage ran
    assert check["status"] == "passed" and check["files_scanned"] == 3
    assert check["quarantined"] == []


@pytest.mark.notebook
def test_leak_in_a_successful_run_fails_it_and_the_files_leave_the_run_folder(tmp_path):
    alpha = """
(out / "data").mkdir(exist_ok=True)
products = raw.products.copy()
products.loc[0, "description"] = "Wholesale: mail " + raw.customers["email"].iloc[0]
products.to_parquet(out / "data" / "products.parquet")
raw.events.head(5).drop(columns=["customer_id"]).to_parquet(out / "data" / "events.parquet")
(out / "data" / "dataset.json").write_text("{}")
"""
    beta = """
from IPython.display import HTML, display
display(HTML(f"<p>Our best customer is {raw.customers['customer_id'].iloc[0]}.</p>"))
"""
    project = _project(tmp_path, alpha, beta)
    with pytest.raises(privacy.PrivacyError, match=r"data/products\.parquet.*email") as e:
        _run(project)
    run_dir = project / "reports" / "t1"
    forbidden = _forbidden(project)
    assert not any(v in str(e.value) for v in forbidden["email"] + forbidden["customer id"])
    check = _manifest(project)["privacy_check"]
    assert sorted({f["file"] for f in check["findings"]}) == [
        "02_beta.html",
        "02_beta.ipynb",
        "data/products.parquet",
    ]
    # the cached dataset leaves whole (no stage reads a part of it); the reports leave too
    assert sorted(m["path"] for m in check["quarantined"]) == [
        "02_beta.html",
        "02_beta.ipynb",
        "data",
    ]
    assert not (run_dir / "data").exists() and not (run_dir / "02_beta.html").exists()
    assert privacy.scan_run_folder(run_dir, forbidden) == []
    index = (run_dir / "index.html").read_text()
    assert "Moved out of the run folder to" in index and 'href="02_beta.html"' not in index
    assert 'href="01_alpha.html"' in index


@pytest.mark.notebook
def test_stage_error_quoting_raw_data_is_withheld(tmp_path):
    body = "raise ValueError('bad row: ' + raw.customers['email'].iloc[0])"
    project = _project(tmp_path, body)
    with pytest.raises(StageError):
        _run(project)
    email = _forbidden(project)["email"][0]
    manifest_text = (project / "reports" / "t1" / "manifest.json").read_text()
    index = (project / "reports" / "t1" / "index.html").read_text()
    assert email not in manifest_text and email not in index
    assert (
        "message withheld by the privacy check" in _manifest(project)["stages"]["01_alpha"]["error"]
    )
    # the failed notebook holds the traceback with the address: it left the run folder
    assert not (project / "reports" / "t1" / "01_alpha.failed.ipynb").exists()


def html_escape(s: str) -> str:
    import html

    return html.escape(s)


def _forbidden(project: Path) -> dict[str, list[str]]:
    from recnb.workflow.run_data import load_raw

    settings = load_params(project / "p.yaml", project / "notebooks")
    return privacy.forbidden_from_raw(load_raw(settings))


# -- clean runs give zero findings -----------------------------------------------------------------


@pytest.mark.slow
def test_default_size_synthetic_shop_is_clean_after_the_scrub(tmp_path):
    """The default shop (20,000 customers, 5,000 products with descriptions, ~1M events): the free-text
    scrub changes nothing (no price, code or date is taken for a phone number) and the saved dataset
    scans clean."""
    from recnb.workflow.run_data import build_dataset, load_raw, save_dataset

    settings = load_params(REPO_ROOT / "params" / "default.yaml")
    raw = load_raw(settings)
    ds = build_dataset(settings)
    (note,) = [n for n in ds.notes if n["step"] == "privacy: scrub free text"]
    assert note["rows"] == 0, note["reason"]
    pd.testing.assert_frame_equal(
        ds.products.reset_index(drop=True), raw.products.reset_index(drop=True)
    )
    save_dataset(ds, tmp_path / "run" / "data")
    result = privacy.check_run_folder(
        tmp_path / "run",
        privacy.forbidden_from_raw(raw),
        other_ids=privacy.other_ids_from_raw(raw),
        move=False,
    )
    assert result["findings"] == [], result["findings"]
    assert result["id_matching"]["customer id"]["distinctive"] == len(raw.customers)


@pytest.mark.slow
@pytest.mark.notebook
def test_default_size_synthetic_run_has_zero_findings(tmp_path):
    """Stages 01 and 02 of ``params/default.yaml`` (the default shop, its reports, the split): the
    scan after the run finds nothing (no name, address, e-mail, phone or raw id; no price, date or
    model code taken for a phone number) and moves nothing."""
    run_dir = run(
        REPO_ROOT / "params" / "default.yaml",
        stages=["01_data_understanding", "02_preprocessing"],
        reports_dir=tmp_path,
        echo=lambda m: None,
    )
    check = json.loads((run_dir / "manifest.json").read_text())["privacy_check"]
    assert check["status"] == "passed" and check["findings"] == [] and check["quarantined"] == []
    assert check["identifier_kinds"] == ["address", "customer id", "email", "name", "phone"]
    assert check["files_scanned"] > 50


@pytest.mark.realdata
@pytest.mark.parametrize(
    "params_name, folder",
    [("online_retail", "online-retail"), ("ml_latest_small", "ml-latest-small")],
)
def test_real_data_text_holds_no_phone_or_email_and_scans_clean(
    params_name, folder, shared_data_dir, tmp_path, monkeypatch
):
    if not (shared_data_dir / folder).is_dir():
        pytest.skip(f"{shared_data_dir / folder} not present")
    from recnb.workflow.run_data import build_dataset, load_raw, save_dataset

    monkeypatch.setenv("RECNB_DATA_DIR", str(shared_data_dir))
    monkeypatch.setenv("RECNB_PSEUDONYM_KEY", "test-only-key-not-a-secret")
    settings = load_params(REPO_ROOT / "params" / f"{params_name}.yaml")
    raw = load_raw(settings)
    ds = build_dataset(settings)
    (note,) = [n for n in ds.notes if n["step"] == "privacy: scrub free text"]
    assert note["rows"] == 0, note["reason"]  # descriptions and titles hold no phone or e-mail
    save_dataset(ds, tmp_path / "run" / "data")
    result = privacy.check_run_folder(
        tmp_path / "run",
        privacy.forbidden_from_raw(raw),
        other_ids=privacy.other_ids_from_raw(raw),
        move=False,
    )
    assert result["findings"] == []


def test_quarantine_dir_is_outside_every_run_folder(tmp_path):
    runs = tmp_path / "reports"
    q = privacy.default_quarantine_dir(runs / "a")
    assert runs / "a" not in q.parents and q.is_relative_to(runs / ".quarantine")
    assert os.path.basename(q.parent) == "a"


@pytest.mark.notebook
def test_unreadable_source_gives_an_incomplete_check_not_none(tmp_path, monkeypatch):
    """A stage that fails while loading the data still gets a check: the raw identifiers cannot be
    listed, so only e-mail addresses and phone numbers are looked for, and the manifest says so."""
    monkeypatch.setenv("RECNB_PSEUDONYM_KEY", "test-only-key-not-a-secret")
    project = _project(tmp_path, "")
    data = tmp_path / "retail.csv"
    data.write_text("InvoiceNo,Oops\n536365,1\n")
    (project / "p.yaml").write_text(
        PARAMS.replace("source: synthetic", f"source: online_retail\n  path: {data}")
        .replace("  synthetic: {n_customers: 60, n_products: 30, n_days: 5}\n", "")
        .replace("[01_alpha, 02_beta]", "[01_alpha]")
    )
    with pytest.raises(StageError, match="01_alpha"):
        _run(project)
    check = _manifest(project)["privacy_check"]
    assert check["status"] == "incomplete"
    assert "could not be listed" in check["error"] and str(data) in check["error"]
    assert check["files_scanned"] == 3  # the failed notebook, the manifest and the index


@pytest.mark.notebook
def test_a_pseudonym_key_in_the_params_file_never_reaches_the_manifest(tmp_path):
    """Observed: ``manifest.json`` copied ``data.pseudonym_key`` from the params file verbatim."""
    project = _project(tmp_path, "(out / 'alpha.txt').write_text('ok')")
    secret = "a-secret-key-nobody-may-see-7f3a"
    (project / "p.yaml").write_text(
        PARAMS.replace("  source: synthetic\n", f"  source: synthetic\n  pseudonym_key: {secret}\n")
    )
    _run(project)
    run_dir = project / "reports" / "t1"
    assert load_params(project / "p.yaml", project / "notebooks").data.pseudonym_key == secret
    for f in run_dir.rglob("*"):
        if f.is_file():
            assert secret.encode() not in f.read_bytes(), f
    assert _manifest(project)["params"]["data"]["pseudonym_key"] != secret
