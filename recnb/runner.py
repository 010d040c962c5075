"""Run the stage notebooks of a params file with papermill and write the run folder.

``python -m recnb run params/default.yaml [--stages 02_preprocessing ...]``:

1. validates the params file (every key, against typed settings and each notebook's ``parameters`` cell);
2. executes the stage notebooks in order on the project's own Jupyter kernel, each into
   ``reports/<run_name>/<stage>.ipynb``, and converts it to ``<stage>.html`` with code hidden;
3. scans the run folder for raw identifiers after every run, failed or not, and moves a leaking file out
   of it (:func:`privacy_check`);
4. writes ``manifest.json`` (params, seeds, package versions, data fingerprint, git revision, timings,
   privacy check) and ``index.html``.

A failing stage stops the run with an error naming the stage and the failing cell's error; the partial
notebook is kept as ``<stage>.failed.ipynb`` and everything written before stays intact.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from recnb.io import atomic_path, read_json, write_json
from recnb.params import NOTEBOOK_DIR, REPO_ROOT, Settings, load_params, section_name

KERNEL_NAME = "recnb"

PACKAGES = (
    "recnb",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "implicit",
    "rectools-lightfm",
    "torch",
    "matplotlib",
    "fairlearn",
    "papermill",
    "nbconvert",
    "pyarrow",
    "optuna",
)


class StageError(RuntimeError):
    """A stage notebook failed; the message names the stage and the failing cell's error."""


def ensure_kernel() -> str:
    """Make sure a Jupyter kernel named ``recnb`` runs this very Python; return its name.

    The kernel spec is installed into this environment's prefix (``sys.prefix``) when missing, and the
    environment's Jupyter path is put first so a same-named user kernel cannot shadow it.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    share = Path(sys.prefix) / "share" / "jupyter"
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if str(share) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(share), *paths])
    ksm = KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec(KERNEL_NAME)
        ok = Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()
    except NoSuchKernel:
        ok = False
    if not ok:
        from ipykernel.kernelspec import install

        install(kernel_name=KERNEL_NAME, display_name="recnb (.venv)", prefix=sys.prefix)
        spec = KernelSpecManager().get_kernel_spec(KERNEL_NAME)
        if Path(spec.argv[0]).resolve() != Path(sys.executable).resolve():
            raise RuntimeError(
                f"Jupyter kernel {KERNEL_NAME!r} runs {spec.argv[0]}, not this environment's "
                f"{sys.executable}; remove the other kernel spec ({spec.resource_dir})"
            )
    return KERNEL_NAME


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for p in PACKAGES:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = None
    return out


def git_info(repo: Path = REPO_ROOT) -> dict[str, Any]:
    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(
                ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    rev = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"revision": rev, "dirty": bool(status) if status is not None else None}


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _failing_cell_error(exc: Exception) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    cell = getattr(exc, "exec_count", None)
    where = f"cell {cell}" if cell is not None else "a cell"
    return f"{where} raised {ename}: {evalue}"


def preflight(settings: Settings) -> None:
    """Fail before any stage runs if the data, its options or the pseudonym key are wrong.

    Raises
    ------
    FileNotFoundError
        A real source's files are not where ``data.path`` / ``$RECNB_DATA_DIR`` point (for the
        ``csv`` source: a file its options name).
    ValueError
        A ``data.options`` key the source does not have, or a bad value (for the ``csv`` source
        also a mapping to a column its file lacks, an unknown data model column, an event name
        mapped to an unknown event type); the message names the params file and the key.
    recnb.privacy.PrivacyError
        A real source and no pseudonym key (``RECNB_PSEUDONYM_KEY`` or ``data.pseudonym_key``).
    """
    if settings.data.source == "synthetic":
        return
    from recnb.loaders import check_options, resolve_data_path
    from recnb.privacy import resolve_key

    origin = f"{settings.source_file}: data.options"
    check_options(settings.data.source, settings.data.options, None, origin)
    path = resolve_data_path(settings.data.source, settings.data.path)
    check_options(settings.data.source, settings.data.options, path, origin)
    resolve_key(settings.data.pseudonym_key, allow_demo=False)


def run_stage(
    settings: Settings,
    stage: str,
    run_dir: Path,
    kernel_name: str,
    notebook_dir: Path = NOTEBOOK_DIR,
) -> dict[str, Any]:
    """Execute one stage notebook into the run folder and convert it to HTML."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from recnb.report import notebook_to_html

    nb_in = Path(notebook_dir) / f"{stage}.ipynb"
    nb_out = run_dir / f"{stage}.ipynb"
    failed_out = run_dir / f"{stage}.failed.ipynb"
    parameters = {
        "params_file": str(settings.source_file),
        "run_dir": str(run_dir),
        **settings.section(section_name(stage)),
    }
    t0 = time.perf_counter()
    with atomic_path(nb_out) as tmp:
        try:
            papermill.execute_notebook(
                str(nb_in),
                str(tmp),
                parameters=parameters,
                kernel_name=kernel_name,
                cwd=str(nb_in.parent),
                progress_bar=False,
                request_save_on_cell_execute=False,
            )
        except PapermillExecutionError as e:
            os.replace(tmp, failed_out)
            raise StageError(
                f"stage {stage} failed: {_failing_cell_error(e)} "
                f"(partial notebook kept as {failed_out})"
            ) from None
    failed_out.unlink(missing_ok=True)
    html_out = notebook_to_html(nb_out, run_dir / f"{stage}.html")
    return {
        "status": "ok",
        "notebook": nb_out.name,
        "html": html_out.name,
        "seconds": round(time.perf_counter() - t0, 2),
        "parameters": {k: v for k, v in parameters.items() if k not in ("params_file", "run_dir")},
        "finished": _now(),
    }


def run(
    params_file: str | os.PathLike,
    stages: list[str] | None = None,
    reports_dir: str | os.PathLike | None = None,
    echo: Any = None,
    notebook_dir: str | os.PathLike = NOTEBOOK_DIR,
) -> Path:
    """Run a params file; return the run folder.

    Parameters
    ----------
    params_file : path
        ``params/<name>.yaml``.
    notebook_dir : path
        Folder of the stage notebooks (default: the project's ``notebooks/``).
    stages : list of str, optional
        Subset of the file's stages to run (each must be in the file's ``stages`` list); default all.
    reports_dir : path, optional
        Parent of the run folder; default ``<repo>/reports``.
    echo : callable
        Progress printer (``print``; pass ``lambda *a: None`` for silence).
    """
    if echo is None:

        def echo(msg: str) -> None:
            print(msg, flush=True)

    notebook_dir = Path(notebook_dir)
    settings = load_params(params_file, notebook_dir)
    selected = list(settings.stages)
    if stages:
        unknown = [s for s in stages if s not in settings.stages]
        if unknown:
            raise ValueError(
                f"{params_file}: --stages {unknown} not in this file's stages {list(settings.stages)}"
            )
        selected = [s for s in settings.stages if s in stages]
    preflight(settings)
    run_dir = (Path(reports_dir) if reports_dir else REPO_ROOT / "reports") / settings.run_name
    run_dir = run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    kernel = ensure_kernel()

    manifest_path = run_dir / "manifest.json"
    previous = read_json(manifest_path) if manifest_path.exists() else {}
    manifest: dict[str, Any] = {
        "run_name": settings.run_name,
        "description": settings.description,
        "params_file": str(settings.source_file),
        "params": settings.as_dict(),
        "seed": settings.seed,
        "started": _now(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "git": git_info(),
        "stages": {
            s: previous.get("stages", {}).get(s, {"status": "not run"}) for s in settings.stages
        },
    }
    echo(f"recnb: run {settings.run_name!r} -> {run_dir}")
    error: StageError | None = None
    for i, stage in enumerate(selected, 1):
        echo(f"[{i}/{len(selected)}] {stage} ...")
        try:
            info = run_stage(settings, stage, run_dir, kernel, notebook_dir)
        except StageError as e:
            manifest["stages"][stage] = {"status": "failed", "error": str(e), "finished": _now()}
            error = e
            echo(f"[{i}/{len(selected)}] {stage} FAILED")
            break
        manifest["stages"][stage] = info
        echo(f"[{i}/{len(selected)}] {stage} done in {info['seconds']:.1f} s -> {info['html']}")
    manifest["data"] = _data_info(run_dir, settings)
    # after every run, failed or not: leaking files are moved out before anything else is written
    echo("privacy check: scanning the run folder for raw identifiers ...")
    manifest["privacy_check"] = privacy_check(settings, run_dir, manifest)
    privacy_error = privacy_failure(manifest["privacy_check"], run_dir)
    if privacy_error is not None:
        echo(str(privacy_error))
    manifest["finished"] = _now()
    write_json(manifest_path, manifest)
    from recnb.report import write_index

    write_index(run_dir, manifest)
    if error is not None:
        raise error
    if privacy_error is not None:
        raise privacy_error
    echo(f"recnb: open {run_dir / 'index.html'}")
    return run_dir


def privacy_check(
    settings: Settings, run_dir: Path, manifest: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Scan every file of the run for raw identifiers and move each leaking file out of the run folder.

    Runs after every run, failed or not (see :func:`recnb.privacy.check_run_folder` for what is looked
    for and where a leaking file goes). The raw identifiers (names, e-mails, phones, original customer
    ids) are read again from the source and held in memory only; they are never written anywhere. A
    stage error message in ``manifest`` that quotes one is replaced by a note (it would otherwise reach
    ``manifest.json`` and ``index.html``, which are written after the scan).

    Returns
    -------
    dict
        The result of :func:`recnb.privacy.check_run_folder`, for the manifest; ``status`` is
        ``"passed"``, ``"failed"`` (raw identifiers found and moved out) or ``"incomplete"`` (the raw
        identifiers could not be listed, so only e-mail addresses and phone numbers were looked for;
        ``error`` says why). Never raises for a finding: see :func:`privacy_failure`.
    """
    from recnb.data import load_raw
    from recnb.privacy import (
        Identifiers,
        check_run_folder,
        forbidden_from_raw,
        other_ids_from_raw,
        redact_message,
    )

    t0 = time.perf_counter()
    forbidden: dict[str, list[str]] = {}
    other: list[str] = []
    unlisted: str | None = None
    try:
        raw = load_raw(settings)
        forbidden, other = forbidden_from_raw(raw), other_ids_from_raw(raw)
    except Exception as e:  # the source cannot be read again (a loader failure, a moved file)
        unlisted = f"{type(e).__name__}: {e}"
    ids = Identifiers(forbidden, other)
    try:
        result = check_run_folder(run_dir, forbidden, other_ids=other)
    except Exception as e:  # the scan itself broke: the run cannot be vouched for
        stopped = redact_message(f"{type(e).__name__}: {e}", ids)
        result = {"status": "failed", "error": f"the scan stopped: {stopped}"}
    if unlisted is not None:
        unlisted = redact_message(unlisted, ids)
        result["error"] = (
            f"the source's raw identifiers could not be listed ({unlisted}); only e-mail addresses "
            f"and phone numbers were looked for"
        )
        if result["status"] == "passed":
            result["status"] = "incomplete"
    for info in (manifest or {}).get("stages", {}).values():
        if isinstance(info, dict) and isinstance(info.get("error"), str):
            info["error"] = redact_message(info["error"], ids)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    return result


def privacy_failure(check: dict[str, Any], run_dir: Path) -> Exception | None:
    """The error a run ends with when its privacy check did not pass (None when it passed)."""
    from recnb.privacy import PrivacyError, PrivacyScanError

    status = check.get("status")
    if status == "passed":
        return None
    if status == "failed" and check.get("findings"):
        files = sorted({f["file"] for f in check["findings"]})
        moved = check.get("quarantined", [])
        where = (
            "; moved out of the run folder: "
            + ", ".join(f"{m['path']} -> {m['moved_to']}" for m in moved)
            if moved
            else ""
        )
        lines = "\n".join(
            f"  - {f['file']}: {f['count']} {f['kind']}(s) in {f['where']}"
            for f in check["findings"][:20]
        )
        return PrivacyScanError(
            f"privacy check failed: raw identifiers in {len(files)} file(s) of {run_dir}"
            f"{where}\n{lines}"
        )
    return PrivacyError(f"privacy check {status}: {check.get('error', 'no detail')}")


def _data_info(run_dir: Path, settings: Settings) -> dict[str, Any]:
    info: dict[str, Any] = {"source": settings.data.source, "path": settings.data.path}
    ds_json = run_dir / "data" / "dataset.json"
    if ds_json.exists():
        d = read_json(ds_json)
        info.update(fingerprint=d.get("fingerprint"), rows=d.get("rows"))
    return info
