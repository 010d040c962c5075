"""The params validation and the papermill runner, on tiny notebooks written by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat as nbf
import pytest

from recnb.workflow.cli import main
from recnb.workflow.params import ParamsError, load_params
from recnb.workflow.runner import RunError, StageError, run


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


# ----------------------------------------------------------------------------------------------
# run folder truth: input fingerprints, stale stages, refusal, interrupts
# ----------------------------------------------------------------------------------------------

CHAIN = """
run_name: chain
seed: 3
data:
  source: synthetic
  synthetic: {n_customers: 60, n_products: 30, n_days: 5}
stages: [01_make, 02_use]
make:
  size: 2
"""


@pytest.fixture
def chain(tmp_path: Path, monkeypatch) -> Path:
    """Two stages like 02 and 03: ``01_make`` writes the split folder, ``02_use`` reads it."""
    from pydantic import Field

    from recnb.workflow import settings as st

    class MakeSettings(st.StageSettings):
        size: int = Field(2, ge=1)

    class UseSettings(st.StageSettings):
        label: str = "x"

    monkeypatch.setitem(st.STAGES, "01_make", st.StageSpec("01_make", MakeSettings, (), ("split",)))
    monkeypatch.setitem(st.STAGES, "02_use", st.StageSpec("02_use", UseSettings, ("split",), ()))
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_notebook(
        nbdir / "01_make.ipynb",
        PARAMS_CELL + "size: int = 2  # rows\n",
        "from pathlib import Path\n"
        "p = Path(run_dir, 'split'); p.mkdir(exist_ok=True)\n"
        "(p / 'part.txt').write_text('row\\n' * size)\n"
        "r = Path(run_dir, 'results', '01_make'); r.mkdir(parents=True, exist_ok=True)\n"
        "(r / 'made.txt').write_text(str(size))",
    )
    write_notebook(
        nbdir / "02_use.ipynb",
        PARAMS_CELL + 'label: str = "x"  # a label\n',
        "from pathlib import Path\n"
        "n = len(Path(run_dir, 'split', 'part.txt').read_text().splitlines())\n"
        "r = Path(run_dir, 'results', '02_use'); r.mkdir(parents=True, exist_ok=True)\n"
        "(r / 'used.txt').write_text(f'{label}:{n}')\n"
        "import time, os\n"
        "if os.environ.get('SLOW_USE'):\n"
        "    Path(os.environ['SLOW_USE']).write_text(str(os.getpid()))\n"
        "    time.sleep(120)",
    )
    return tmp_path


def _run(project: Path, text: str, stages=None) -> Path:
    return run(
        params(project, text),
        stages=stages,
        reports_dir=project / "reports",
        notebook_dir=project / "notebooks",
        echo=lambda m: None,
    )


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


@pytest.mark.notebook
def test_rerun_of_an_upstream_stage_marks_the_later_stage_stale(chain):
    """Observed: `--stages 01` with new params left stages 02 and 03 of the old data, all 'ok'."""
    run_dir = _run(chain, CHAIN)
    m = _manifest(run_dir)
    assert [m["stages"][s]["status"] for s in ("01_make", "02_use")] == ["ok", "ok"]
    rec = m["stages"]["02_use"]
    assert set(rec["inputs"]) == {"params", "notebook", "data", "split"}
    assert rec["inputs"]["split"] == m["stages"]["01_make"]["outputs"]["split"]

    _run(chain, CHAIN.replace("size: 2", "size: 5"), stages=["01_make"])
    m = _manifest(run_dir)
    assert m["stages"]["01_make"]["status"] == "ok"
    assert m["stages"]["02_use"]["status"] == "stale"
    assert any("split" in r for r in m["stages"]["02_use"]["stale_because"])
    index = (run_dir / "index.html").read_text()
    assert "Stale: this report no longer matches" in index

    # rerunning the stale stage alone is allowed (its upstream is current) and makes it current
    _run(chain, CHAIN.replace("size: 2", "size: 5"), stages=["02_use"])
    assert _manifest(run_dir)["stages"]["02_use"]["status"] == "ok"
    assert (run_dir / "results" / "02_use" / "used.txt").read_text() == "x:5"


@pytest.mark.notebook
def test_a_stage_refuses_an_upstream_artefact_made_with_other_params(chain):
    """Observed: `--stages 03_model_comparison` trained on a split made with the old params."""
    run_dir = _run(chain, CHAIN)
    before = (run_dir / "results" / "02_use" / "used.txt").read_text()
    with pytest.raises(RunError) as e:
        _run(chain, CHAIN.replace("size: 2", "size: 5"), stages=["02_use"])
    msg = str(e.value)
    assert "stage 02_use reads the split (split/) written by 01_make, which is stale" in msg
    assert "params section" in msg and "--stages 01_make 02_use" in msg
    assert (run_dir / "results" / "02_use" / "used.txt").read_text() == before  # nothing ran
    # the data changing counts too (here: the synthetic shop's size)
    with pytest.raises(RunError, match="the data changed"):
        _run(chain, CHAIN.replace("n_days: 5", "n_days: 6"), stages=["02_use"])
    # an artefact edited by hand is not what its stage wrote
    (run_dir / "split" / "part.txt").write_text("edited\n")
    with pytest.raises(RunError, match="wrote a different version of it"):
        _run(chain, CHAIN, stages=["02_use"])
    _run(chain, CHAIN)  # both stages: fine
    assert _manifest(run_dir)["stages"]["02_use"]["status"] == "ok"


@pytest.mark.notebook
def test_sigint_during_a_stage_leaves_the_run_folder_honest(chain):
    """Observed: Ctrl-C in stage 03 after a params change left old stage-03 results marked ok."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    run_dir = _run(chain, CHAIN)
    old_used = (run_dir / "results" / "02_use" / "used.txt").read_text()
    marker = chain / "kernel.pid"
    script = (
        "import sys\n"
        "from pydantic import Field\n"
        "from recnb.workflow import settings as st\n"
        "class M(st.StageSettings):\n    size: int = Field(2, ge=1)\n"
        "class U(st.StageSettings):\n    label: str = 'x'\n"
        "st.STAGES['01_make'] = st.StageSpec('01_make', M, (), ('split',))\n"
        "st.STAGES['02_use'] = st.StageSpec('02_use', U, ('split',), ())\n"
        "from recnb.workflow.runner import run\n"
        f"run({str(chain / 'p.yaml')!r}, reports_dir={str(chain / 'reports')!r}, "
        f"notebook_dir={str(chain / 'notebooks')!r})\n"
    )
    params(chain, CHAIN.replace("size: 2", "size: 4") + "use:\n  label: new\n")
    env = {**os.environ, "SLOW_USE": str(marker)}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    try:
        deadline = time.time() + 240
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "stage 02_use never started"
            time.sleep(0.5)
        time.sleep(1)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground job
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out
    m = _manifest(run_dir)
    assert m["stages"]["01_make"]["status"] == "ok"  # reran with size 4 before the interrupt
    rec = m["stages"]["02_use"]
    assert rec["status"] == "interrupted" and rec["previous_outputs"] == "previous/02_use"
    # the old stage-02 results are not in place beside the new split; they are set aside
    assert not (run_dir / "results" / "02_use").exists()
    assert not (run_dir / "02_use.html").exists()
    prev = run_dir / "previous" / "02_use"
    assert (prev / "results" / "02_use" / "used.txt").read_text() == old_used
    assert "interrupted" in (run_dir / "index.html").read_text()
    assert not (run_dir / ".attempt").exists()
    # an interrupted run is still scanned for raw identifiers (privacy, always)
    assert m["privacy_check"]["status"] == "passed", m["privacy_check"]
    # the kernel did not outlive the run
    pid = int(marker.read_text())
    for _ in range(20):
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"kernel {pid} still running after the interrupt")
    # a later run of the interrupted stage is refused nothing and works
    _run(chain, CHAIN.replace("size: 2", "size: 4"), stages=["02_use"])
    assert _manifest(run_dir)["stages"]["02_use"]["status"] == "ok"
    assert not (run_dir / "previous").exists()


@pytest.mark.notebook
def test_a_run_prints_no_warning_or_error(project, tmp_path):
    """Observed: every stage printed the kernel's 'running over TCP without encryption' WARNING."""
    import subprocess
    import sys

    p = params(project, GOOD)
    script = (
        "from recnb.workflow.runner import run\n"
        f"run({str(p)!r}, reports_dir={str(project / 'reports')!r}, "
        f"notebook_dir={str(project / 'notebooks')!r})\n"
    )
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    bad = [ln for ln in r.stderr.splitlines() if "WARNING" in ln or "ERROR" in ln]
    assert not bad, bad


@pytest.mark.notebook
@pytest.mark.parametrize("ours", [True, False])
def test_kernel_shutdown_sends_no_sigint_to_a_finished_kernel(tmp_path, ours):
    """Observed: the default run's stage 03 printed "ERROR | KeyboardInterrupt caught in kernel":
    jupyter_client interrupts (SIGINT) every kernel before its shutdown request. The runner's
    kernel manager asks a finished kernel to shut down without the signal."""
    import asyncio

    from jupyter_client.manager import AsyncKernelManager

    from recnb.workflow.runner import _IPCKernel, ensure_kernel

    marker = tmp_path / "sigint.txt"
    cls = _IPCKernel.get() if ours else AsyncKernelManager

    async def go() -> None:
        km = cls(kernel_name=ensure_kernel())
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        await kc.wait_for_ready(timeout=120)
        # ipykernel restores `saved_sigint_handler` after each message: make it ours, so a SIGINT
        # that reaches the idle kernel is recorded
        code = (
            "import signal\n"
            "def _h(*a):\n"
            f"    open({str(marker)!r}, 'a').write('sigint\\n')\n"
            "get_ipython().kernel.saved_sigint_handler = _h\n"
        )
        reply = await kc.execute_interactive(code, timeout=60)
        assert reply["content"]["status"] == "ok"
        kc.stop_channels()
        await km.shutdown_kernel(now=False)

    asyncio.run(go())
    assert marker.exists() != ours  # the stock manager signals; the runner's does not


def test_notebook_opened_alone_refuses_a_stale_split(tmp_path):
    """Stage 03 opened in JupyterLab on a run whose split was made with other params stops."""
    from recnb.workflow.params import NOTEBOOK_DIR
    from recnb.workflow.provenance import StaleInputError, current_inputs, folder_fingerprint
    from recnb.workflow.run_data import data_settings_hash
    from recnb.workflow.stage import StageContext

    p = tmp_path / "p.yaml"
    p.write_text("run_name: t\nseed: 1\ndata:\n  synthetic: {n_customers: 50}\n")
    settings = load_params(p)
    run_dir = tmp_path / "run"
    (run_dir / "split").mkdir(parents=True)
    (run_dir / "split" / "split.json").write_text("{}")
    inputs = current_inputs(
        settings, "02_preprocessing", run_dir, NOTEBOOK_DIR, data_settings_hash(settings, run_dir)
    )
    rec = {
        "status": "ok",
        "inputs": inputs,
        "outputs": {"split": folder_fingerprint(run_dir / "split")},
    }
    (run_dir / "manifest.json").write_text(json.dumps({"stages": {"02_preprocessing": rec}}))
    StageContext(p, run_dir, "03_model_comparison")  # current: fine

    p.write_text(p.read_text() + "preprocessing:\n  test_days: 3.0\n")
    with pytest.raises(StaleInputError, match=r"written by 02_preprocessing, which is stale"):
        StageContext(p, run_dir, "03_model_comparison")
    StageContext(p, run_dir, "01_data_understanding")  # reads no split: not affected


def test_compare_runs_reports_differing_measured_and_one_sided_files(tmp_path):
    from recnb.workflow.compare import compare_runs

    a, b = tmp_path / "a", tmp_path / "b"
    for root, value in ((a, b"1"), (b, b"2")):
        (root / "results" / "03_x").mkdir(parents=True)
        (root / "results" / "03_x" / "same.csv").write_bytes(b"x")
        (root / "results" / "03_x" / "changed.csv").write_bytes(value)
        (root / "results" / "03_x" / "timing.csv").write_bytes(value)
        (root / "manifest.json").write_bytes(value)
    (a / "split").mkdir()
    (a / "split" / "split.json").write_bytes(b"{}")
    c = compare_runs(a, b)
    assert c.identical == ["results/03_x/same.csv"]
    assert c.differ == ["results/03_x/changed.csv"]
    assert c.measured == ["manifest.json", "results/03_x/timing.csv"]
    assert (c.only_a, c.only_b) == (["split/split.json"], [])
    assert not c.same
    with pytest.raises(FileNotFoundError, match="missing"):
        compare_runs(a, tmp_path / "missing")


def test_the_kernel_reads_the_parameters_cells_from_the_runner(project):
    """A kernel's load_params imported papermill (and nbformat, jsonschema: seconds per stage)
    to read the parameters cells the runner had already read; the runner now hands them over."""
    nbdir = project / "notebooks"
    write_notebook(
        nbdir / "02_beta.ipynb",
        PARAMS_CELL + "fail: bool = False  # raise on purpose\n",
        "import os, sys\nfrom pathlib import Path\n"
        "from recnb.workflow.params import INSPECTED_ENV, load_params\n"
        f"s = load_params(params_file, Path({str(nbdir)!r}))\n"
        "Path(run_dir, 'beta.txt').write_text(\n"
        "    f\"{'papermill' in sys.modules} {INSPECTED_ENV in os.environ} {s.section('01_alpha')}\"\n"
        ")",
    )
    run_dir = _run(project, GOOD)
    assert (run_dir / "beta.txt").read_text() == "False True {'k': 5, 'label': 'hello'}"


def test_handed_over_parameters_are_used_only_for_the_same_notebook(project, monkeypatch):
    from recnb.workflow import params as params_mod

    nbdir = project / "notebooks"
    path = nbdir / "01_alpha.ipynb"
    handed = json.loads(params_mod.inspected_parameters(nbdir))
    assert set(handed) == {str(path), str(nbdir / "02_beta.ipynb")}
    entry = handed[str(path)]
    assert entry["parameters"]["k"]["default"] == "10"
    # what was handed over is what is read; a changed notebook (other mtime) is read again
    entry["parameters"]["k"]["default"] = "11"
    monkeypatch.setenv(params_mod.INSPECTED_ENV, json.dumps(handed))
    params_mod._inspect.cache_clear()
    assert params_mod.notebook_parameters("01_alpha", nbdir)["k"]["default"] == "11"
    entry["mtime"] += 1.0
    monkeypatch.setenv(params_mod.INSPECTED_ENV, json.dumps(handed))
    params_mod._inspect.cache_clear()
    assert params_mod.notebook_parameters("01_alpha", nbdir)["k"]["default"] == "10"
    monkeypatch.setenv(params_mod.INSPECTED_ENV, "not json")
    params_mod._inspect.cache_clear()
    assert params_mod.notebook_parameters("01_alpha", nbdir)["k"]["default"] == "10"
    params_mod._inspect.cache_clear()
