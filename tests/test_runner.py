"""The params validation and the papermill runner, on tiny notebooks written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat as nbf
import pytest

from recnb.__main__ import main
from recnb.params import ParamsError, load_params
from recnb.runner import StageError, run


def write_notebook(path: Path, params_src: str, body: str) -> None:
    nb = nbf.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "recnb", "display_name": "recnb", "language": "python"}}
    nb.cells = [
        nbf.v4.new_markdown_cell("# A stage"),
        nbf.v4.new_code_cell(params_src, metadata={"tags": ["parameters"]}),
        nbf.v4.new_code_cell(body),
    ]
    nbf.write(nb, path)


PARAMS_CELL = """
params_file: str = "../params/default.yaml"  # the run's params file
run_dir: str = "../reports/default"  # the run folder
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_notebook(
        nbdir / "01_alpha.ipynb",
        PARAMS_CELL + 'k: int = 10  # list length\nlabel: str = "x"  # a label\n',
        "from pathlib import Path\n"
        "Path(run_dir, 'alpha.txt').write_text(f'{k}-{label}')\n"
        "print('SECRET_SOURCE_MARKER' if False else 'alpha output k=%d' % k)",
    )
    write_notebook(
        nbdir / "02_beta.ipynb",
        PARAMS_CELL + "fail: bool = False  # raise on purpose\n",
        "if fail:\n    raise ValueError('planted failure in beta')\n"
        "from pathlib import Path\nPath(run_dir, 'beta.txt').write_text('ok')",
    )
    return tmp_path


def params(project: Path, text: str) -> Path:
    p = project / "p.yaml"
    p.write_text(text)
    return p


GOOD = """
run_name: t1
seed: 3
data:
  source: synthetic
  synthetic: {n_customers: 60, n_products: 30, n_days: 5}
stages: [01_alpha, 02_beta]
alpha:
  k: 5
  label: hello
"""


def test_load_params_validates_sections(project):
    s = load_params(params(project, GOOD), project / "notebooks")
    assert s.run_name == "t1" and s.seed == 3
    assert s.section("01_alpha") == {"k": 5, "label": "hello"}
    assert s.stages == ("01_alpha", "02_beta")


@pytest.mark.parametrize(
    "text, pattern",
    [
        (
            GOOD.replace("  k: 5", "  kk: 5"),
            r"unknown key 'alpha\.kk'.*allowed keys are \['k', 'label'\]",
        ),
        (GOOD.replace("  k: 5", "  k: five"), r"key 'alpha\.k' must be of type int.*'five'"),
        (GOOD.replace("  k: 5", "  k: true"), r"key 'alpha\.k' must be of type int"),
        (GOOD + "gamma:\n  a: 1\n", r"unknown key 'gamma'; allowed keys are"),
        (GOOD.replace("seed: 3", "seed: -1"), r"key 'seed' must be an integer in 0..2\*\*32-1"),
        (
            GOOD.replace("run_name: t1", "run_name: ../evil"),
            r"key 'run_name' must be a folder-safe name",
        ),
        (GOOD.replace("[01_alpha, 02_beta]", "[01_alpha, 03_gamma]"), r"unknown stage '03_gamma'"),
        (GOOD.replace("source: synthetic", "source: netflix"), r"key 'data\.source' is 'netflix'"),
        (GOOD.replace("source: synthetic", "sauce: synthetic"), r"unknown key 'data\.sauce'"),
        (GOOD.replace("n_days: 5", "n_dayz: 5"), r"unknown key 'data\.synthetic\.n_dayz'"),
        (GOOD.replace("  k: 5", "  run_dir: /tmp"), r"'alpha\.run_dir' is set by the runner"),
        ("run_name: [unclosed\n", r"not valid YAML"),
    ],
)
def test_bad_params_name_key_and_file(project, text, pattern):
    p = params(project, text)
    with pytest.raises(ParamsError, match=pattern) as e:
        load_params(p, project / "notebooks")
    assert str(p) in str(e.value)


def test_missing_params_file(tmp_path):
    with pytest.raises(ParamsError, match="params file not found"):
        load_params(tmp_path / "nope.yaml")


@pytest.mark.notebook
def test_run_writes_reports_manifest_and_index(project):
    p = params(project, GOOD)
    run_dir = run(
        p, reports_dir=project / "reports", notebook_dir=project / "notebooks", echo=lambda m: None
    )
    assert (run_dir / "alpha.txt").read_text() == "5-hello"  # parameters were injected
    for stage in ("01_alpha", "02_beta"):
        assert (run_dir / f"{stage}.ipynb").exists()
        html = (run_dir / f"{stage}.html").read_text()
        assert "Path(run_dir" not in html  # code is hidden from stakeholders
    assert "alpha output k=5" in (run_dir / "01_alpha.html").read_text()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["seed"] == 3
    assert manifest["stages"]["01_alpha"]["status"] == "ok"
    assert manifest["stages"]["01_alpha"]["seconds"] > 0
    assert manifest["packages"]["numpy"]
    assert "revision" in manifest["git"]
    index = (run_dir / "index.html").read_text()
    assert 'href="01_alpha.html"' in index and 'href="02_beta.html"' in index


@pytest.mark.notebook
def test_failing_stage_moves_its_earlier_outputs_aside(project):
    """Observed: a failed stage left the earlier run's report beside a manifest of new params."""
    nbdir = project / "notebooks"
    run(
        params(project, GOOD),
        reports_dir=project / "reports",
        notebook_dir=nbdir,
        echo=lambda m: None,
    )
    run_dir = project / "reports" / "t1"
    alpha_before = (run_dir / "01_alpha.html").read_text()
    beta_before = (run_dir / "02_beta.html").read_text()
    bad = params(project, GOOD + "beta:\n  fail: true\n")
    with pytest.raises(
        StageError, match=r"stage 02_beta failed: cell \d+ raised ValueError: planted failure"
    ):
        run(bad, reports_dir=project / "reports", notebook_dir=nbdir, echo=lambda m: None)
    assert (run_dir / "01_alpha.html").read_text() == alpha_before  # an earlier stage: intact
    assert not (run_dir / "02_beta.html").exists()  # nothing stale looks current
    assert not (run_dir / "02_beta.ipynb").exists()
    moved = run_dir / "previous" / "02_beta"
    assert (moved / "02_beta.html").read_text() == beta_before  # moved aside, not lost
    assert (run_dir / "02_beta.failed.ipynb").exists()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stages"]["02_beta"]["status"] == "failed"
    assert manifest["stages"]["02_beta"]["previous_outputs"] == "previous/02_beta"
    assert "planted failure" in manifest["stages"]["02_beta"]["error"]
    index = (run_dir / "index.html").read_text()
    assert "planted failure" in index and "previous/02_beta" in index
    assert 'href="02_beta.html"' not in index

    # fixed and rerun: the stage is current again and the set-aside copy is gone
    run(params(project, GOOD), reports_dir=project / "reports", notebook_dir=nbdir, echo=print)
    assert (run_dir / "02_beta.html").exists() and not (run_dir / "previous").exists()
    assert not (run_dir / ".attempt").exists()


def test_cli_reports_params_typo(tmp_path, capsys):
    p = tmp_path / "p.yaml"
    p.write_text("run_name: x\nsed: 1\n")
    assert main(["check", str(p)]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'sed'" in err and str(p) in err


def test_preflight_stops_before_any_stage_without_data_or_key(project, tmp_path, monkeypatch):
    from recnb.privacy import PrivacyError

    monkeypatch.delenv("RECNB_DATA_DIR", raising=False)
    monkeypatch.delenv("RECNB_PSEUDONYM_KEY", raising=False)
    text = GOOD.replace("source: synthetic", f"source: online_retail\n  path: {tmp_path / 'nope'}")
    text = text.replace("  synthetic: {n_customers: 60, n_products: 30, n_days: 5}\n", "")
    nbdir, reports = project / "notebooks", project / "reports"
    with pytest.raises(FileNotFoundError, match="online_retail"):
        run(params(project, text), reports_dir=reports, notebook_dir=nbdir, echo=lambda m: None)
    data = tmp_path / "nope"
    data.mkdir()
    (data / "online_retail.csv").write_text("InvoiceNo\n")
    with pytest.raises(PrivacyError, match="RECNB_PSEUDONYM_KEY"):
        run(params(project, text), reports_dir=reports, notebook_dir=nbdir, echo=lambda m: None)
    assert not reports.exists()  # nothing was started
