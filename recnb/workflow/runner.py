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
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from recnb.data.io import atomic_path, read_json, write_json
from recnb.data.loaders import check_options, resolve_data_path
from recnb.privacy import (
    Identifiers,
    PrivacyError,
    PrivacyScanError,
    check_run_folder,
    forbidden_from_raw,
    other_ids_from_raw,
    redact_message,
    resolve_key,
)
from recnb.reporting.pages import notebook_to_html, write_index
from recnb.workflow.params import (
    INSPECTED_ENV,
    NOTEBOOK_DIR,
    REPO_ROOT,
    Settings,
    inspected_parameters,
    load_params,
)
from recnb.workflow.progress import ENV_FILE, ENV_SECONDS, describe, read_new
from recnb.workflow.provenance import (
    current_inputs,
    folder_fingerprint,
    refresh_staleness,
    stage_outputs,
    upstream_problem,
)
from recnb.workflow.run_data import data_settings_hash, events_db_key, load_raw, source_options
from recnb.workflow.settings import ARTEFACTS, stage_spec

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
    origin = f"{settings.source_file}: data.options"
    options = source_options(settings)
    check_options(settings.data.source, options, None, origin)
    path = resolve_data_path(settings.data.source, settings.data.path)
    check_options(settings.data.source, options, path, origin)
    if settings.data.source == "events_db":
        events_db_key(settings)  # the key that made the store's pseudonyms
    else:
        resolve_key(settings.data.pseudonym_key, allow_demo=False)


def check_data(settings: Settings) -> list[str]:
    """What ``python -m recnb check`` can say about the data before a run, without loading it.

    The source's options are always checked (unknown keys, wrong kinds, the csv source's mappings).
    Where the data files are found, they are checked as :func:`preflight` checks them; where they
    are not (a params file checked on another machine), the answer is a note, not an error, since
    ``check`` validates the file and ``run`` stops at the same place before any stage.

    Returns
    -------
    list of str
        Notes on what could not be checked here.

    Raises
    ------
    ValueError
        A bad ``data.options`` key or value; the message names the params file and the key.
    """
    if settings.data.source == "synthetic":
        return []
    origin = f"{settings.source_file}: data.options"
    options = source_options(settings)
    check_options(settings.data.source, options, None, origin)
    notes = []
    try:
        path = resolve_data_path(settings.data.source, settings.data.path)
    except FileNotFoundError as e:
        notes.append(f"data files not checked: {e}")
        path = None
    else:
        check_options(settings.data.source, options, path, origin)
    try:
        if settings.data.source != "events_db":
            resolve_key(settings.data.pseudonym_key, allow_demo=False)
        elif path is not None:
            events_db_key(settings)  # the key that made the store's pseudonyms
    except PrivacyError as e:
        notes.append(f"a run needs a pseudonym key: {e}")
    return notes


class RunError(ValueError):
    """The run cannot start: nothing to run, a stage would read stale inputs, a bad folder."""


def check_runnable(settings: Settings, stages: list[str] | None = None) -> list[str]:
    """The stages a run would execute, in order; raise :class:`RunError` if there are none.

    Parameters
    ----------
    settings : Settings
    stages : list of str, optional
        ``--stages``: each must be in the file's ``stages`` list.
    """
    file = settings.source_file
    if not settings.stages:
        raise RunError(
            f"{file}: key 'stages' is empty, so nothing would run; list the stages to run "
            "(or leave the key out to run them all)"
        )
    if not stages:
        return list(settings.stages)
    unknown = [s for s in stages if s not in settings.stages]
    if unknown:
        raise RunError(
            f"{file}: --stages {unknown} not in this file's stages {list(settings.stages)}"
        )
    return [s for s in settings.stages if s in stages]


class _IPCKernel:
    """Kernel manager class for papermill: the kernel talks over Unix sockets, not TCP.

    Over TCP, any local user can connect to the kernel's ports, and ipykernel warns about it on
    every start ("Kernel is running over TCP without encryption"). Unix sockets in the user's
    Jupyter runtime folder are reachable only through the file system, so the warning's cause is
    gone rather than its message hidden.
    """

    _cls: Any = None

    @classmethod
    def get(cls) -> Any:
        if os.name == "nt":  # no Unix sockets: keep jupyter's default
            return None
        if cls._cls is None:
            import uuid

            from jupyter_client.manager import AsyncKernelManager
            from jupyter_core.paths import jupyter_runtime_dir
            from traitlets import default

            class IPCKernelManager(AsyncKernelManager):
                """Local kernel over Unix sockets, shut down without a SIGINT first.

                jupyter_client interrupts a kernel (SIGINT) before asking it to shut down. For a
                kernel that finished its notebook that only matters when the signal lands while
                ipykernel still handles a message (a slow machine): it then logs "ERROR |
                KeyboardInterrupt caught in kernel" although the stage succeeded. The shutdown
                request alone stops an idle kernel; a busy one (the run was interrupted) is
                terminated after jupyter_client's wait, as before.
                """

                async def _async_interrupt_kernel(self) -> None:
                    if self.shutting_down:
                        return
                    await super()._async_interrupt_kernel()

                @default("transport")
                def _default_transport(self) -> str:
                    return "ipc"

                @default("ip")
                def _default_ip(self) -> str:
                    folder = Path(jupyter_runtime_dir())
                    folder.mkdir(parents=True, exist_ok=True)
                    return str(folder / f"recnb-{uuid.uuid4().hex[:12]}-ipc")

            cls._cls = IPCKernelManager
        return cls._cls


class _ProgressPrinter:
    """Background thread: print the stage's progress file when its step changes, or every
    ``interval`` seconds for the same step (see :mod:`recnb.workflow.progress`)."""

    def __init__(self, path: Path, echo: Any, interval: float, poll: float = 1.0) -> None:
        import threading

        self.path, self.echo, self.interval, self.poll = path, echo, interval, poll
        self.started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="recnb-progress", daemon=True)

    def __enter__(self) -> _ProgressPrinter:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        last_key: Any = None
        last_print, offset = 0.0, 0
        pending: dict[str, Any] | None = None
        while not self._stop.wait(self.poll):
            last_key, last_print, offset, pending = self.step(last_key, last_print, offset, pending)

    def step(
        self, last_key: Any, last_print: float, offset: int, pending: dict[str, Any] | None
    ) -> tuple[Any, float, int, dict[str, Any] | None]:
        """Read the new lines; print every change of step or model, and the latest state of the
        same step when ``interval`` seconds passed since the last line printed."""
        states, offset = read_new(self.path, offset)
        now = time.time()
        for state in states:
            key = (state.get("step"), state.get("model"))
            if key != last_key:
                self.echo(f"      {describe(state, now, self.started)}")
                last_key, last_print, pending = key, now, None
            else:
                pending = state
        if pending is not None and now - last_print >= self.interval:
            self.echo(f"      {describe(pending, now, self.started)}")
            last_print, pending = now, None
        return last_key, last_print, offset, pending


def run_stage(
    settings: Settings,
    stage: str,
    run_dir: Path,
    kernel_name: str,
    notebook_dir: Path = NOTEBOOK_DIR,
    echo: Any = None,
) -> dict[str, Any]:
    """Execute one stage notebook into the run folder and convert it to HTML.

    Raises
    ------
    StageError
        The notebook failed (the partial notebook is kept as ``<stage>.failed.ipynb``).
    KeyboardInterrupt
        Ctrl-C: the kernel is shut down and the interrupt passed on.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    nb_in = Path(notebook_dir) / f"{stage}.ipynb"
    nb_out = run_dir / f"{stage}.ipynb"
    failed_out = run_dir / f"{stage}.failed.ipynb"
    parameters = {
        "params_file": str(settings.source_file),
        "run_dir": str(run_dir),
        **settings.notebook_values(stage),
    }
    progress_file = run_dir / f".{stage}.progress.jsonl"
    progress_file.unlink(missing_ok=True)
    interval = float(os.environ.get(ENV_SECONDS, "30") or 30)
    engine_kwargs: dict[str, Any] = {}
    km_class = _IPCKernel.get()
    if km_class is not None:
        engine_kwargs["kernel_manager_class"] = km_class
    t0 = time.perf_counter()
    old_env = os.environ.get(ENV_FILE)
    os.environ[ENV_FILE] = str(progress_file)  # inherited by the kernel process
    # the parameters cells this process has read: the kernel's settings need not import papermill
    old_inspected = os.environ.pop(INSPECTED_ENV, None)
    handed = inspected_parameters(Path(notebook_dir))
    if handed is not None:
        os.environ[INSPECTED_ENV] = handed
    try:
        with (
            atomic_path(nb_out) as tmp,
            _ProgressPrinter(progress_file, echo or (lambda m: None), interval),
        ):
            try:
                papermill.execute_notebook(
                    str(nb_in),
                    str(tmp),
                    parameters=parameters,
                    kernel_name=kernel_name,
                    cwd=str(nb_in.parent),
                    progress_bar=False,
                    request_save_on_cell_execute=False,
                    # a cell's outputs may arrive late on a busy machine: wait for them, and fail
                    # rather than save a report with outputs missing (nbclient waits 4 s, then
                    # goes on without them)
                    iopub_timeout=120,
                    raise_on_iopub_timeout=True,
                    **engine_kwargs,
                )
            except PapermillExecutionError as e:
                os.replace(tmp, failed_out)
                raise StageError(
                    f"stage {stage} failed: {_failing_cell_error(e)} "
                    f"(partial notebook kept as {failed_out.name})"
                ) from None
            except (RuntimeError, TimeoutError, OSError) as e:  # dead kernel, lost outputs
                if tmp.exists() and tmp.stat().st_size:
                    os.replace(tmp, failed_out)
                raise StageError(
                    f"stage {stage} failed: the kernel or its outputs were lost "
                    f"({type(e).__name__}: {e})"
                ) from None
    finally:
        if old_env is None:
            os.environ.pop(ENV_FILE, None)
        else:
            os.environ[ENV_FILE] = old_env
        os.environ.pop(INSPECTED_ENV, None)
        if old_inspected is not None:
            os.environ[INSPECTED_ENV] = old_inspected
        progress_file.unlink(missing_ok=True)
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


PREVIOUS_DIR = "previous"
"""Where a failed or interrupted stage's outputs of the earlier run are moved (``previous/<stage>``)."""

_ATTEMPT_DIR = ".attempt"


def _move_outputs(run_dir: Path, stage: str, dest: Path) -> list[str]:
    """Move the stage's outputs (:func:`recnb.workflow.provenance.stage_outputs`) under ``dest``."""
    moved = []
    for p in stage_outputs(run_dir, stage):
        if p.exists():
            target = dest / p.relative_to(run_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, target)
            moved.append(p.relative_to(run_dir).as_posix())
    return moved


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _set_aside(run_dir: Path, stage: str) -> None:
    """Before a stage runs: move its outputs of the earlier run out of the way, so nothing the new
    attempt does not rewrite survives beside its new outputs."""
    attempt = run_dir / _ATTEMPT_DIR / stage
    if attempt.exists():  # left by a run that was killed: these are the earlier outputs
        for p in stage_outputs(run_dir, stage):
            _remove(p)
        return
    attempt.mkdir(parents=True)
    _move_outputs(run_dir, stage, attempt)


def _settle(run_dir: Path, stage: str, ok: bool) -> str | None:
    """After a stage: drop the earlier outputs (success), or (failure, interrupt) remove the
    partial new outputs and keep the earlier ones under ``previous/<stage>``; return that folder."""
    attempt = run_dir / _ATTEMPT_DIR / stage
    previous = run_dir / PREVIOUS_DIR / stage
    if ok:
        _remove(attempt)
        _remove(previous)
        _cleanup_empty(run_dir / PREVIOUS_DIR)
        _cleanup_empty(run_dir / _ATTEMPT_DIR)
        return None
    for p in stage_outputs(run_dir, stage):
        _remove(p)
    if attempt.exists() and any(attempt.iterdir()):
        _remove(previous)
        previous.parent.mkdir(parents=True, exist_ok=True)
        os.replace(attempt, previous)
    else:
        _remove(attempt)
    _cleanup_empty(run_dir / _ATTEMPT_DIR)
    return previous.relative_to(run_dir).as_posix() if previous.exists() else None


def _cleanup_empty(folder: Path) -> None:
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def run(
    params_file: str | os.PathLike,
    stages: list[str] | None = None,
    reports_dir: str | os.PathLike | None = None,
    echo: Any = None,
    notebook_dir: str | os.PathLike = NOTEBOOK_DIR,
) -> Path:
    """Run a params file; return the run folder.

    Before any stage starts, the params are validated (keys, types, values), the data and key are
    found, and every selected stage's upstream artefacts are checked: a stage that would read the
    split of a stale or failed stage 02 stops the run with the command that reruns both. Each stage
    records the fingerprints of its inputs and outputs in ``manifest.json``; stages whose inputs
    changed since they ran are marked ``stale``. A stage that fails or is interrupted (Ctrl-C)
    leaves no output of its own in place: its partial outputs are removed and those of the earlier
    run moved to ``previous/<stage>/``, and the manifest and index say so.

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

    Raises
    ------
    RunError
        Nothing to run, a bad reports folder, or a stage would read stale inputs.
    StageError
        A stage notebook failed.
    """
    if echo is None:

        def echo(msg: str) -> None:
            print(msg, flush=True)

    notebook_dir = Path(notebook_dir)
    settings = load_params(params_file, notebook_dir)
    selected = check_runnable(settings, stages)
    preflight(settings)
    parent = Path(reports_dir) if reports_dir else REPO_ROOT / "reports"
    if parent.exists() and not parent.is_dir():
        raise RunError(f"--reports-dir {parent} is a file, not a folder")
    run_dir = (parent / settings.run_name).resolve()
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"run folder {run_dir} is a file, not a folder")

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
    for s, rec in previous.get("stages", {}).items():  # stages since dropped from the file
        manifest["stages"].setdefault(s, rec)
    data_hash = data_settings_hash(settings, run_dir)
    refresh_staleness(manifest, settings, run_dir, notebook_dir, data_hash)
    problem = upstream_problem(manifest, selected, settings, run_dir, notebook_dir)
    if problem:
        raise RunError(problem)

    run_dir.mkdir(parents=True, exist_ok=True)
    kernel = ensure_kernel()
    echo(f"recnb: run {settings.run_name!r} -> {run_dir}")

    def save() -> None:
        manifest["data"] = _data_info(run_dir, settings)
        manifest["finished"] = _now()
        write_json(manifest_path, manifest)
        write_index(run_dir, manifest)

    error: StageError | None = None
    privacy_error: Exception | None = None
    try:
        for i, stage in enumerate(selected, 1):
            echo(f"[{i}/{len(selected)}] {stage} ...")
            inputs = current_inputs(settings, stage, run_dir, notebook_dir, data_hash)
            manifest["stages"][stage] = {"status": "running", "started": _now(), "inputs": inputs}
            _set_aside(run_dir, stage)
            save()
            try:
                info = run_stage(settings, stage, run_dir, kernel, notebook_dir, echo)
            except (KeyboardInterrupt, Exception) as e:  # StageError, or the runner itself failed
                interrupted = isinstance(e, KeyboardInterrupt)
                kept = _settle(run_dir, stage, ok=False)
                manifest["stages"][stage] = {
                    "status": "interrupted" if interrupted else "failed",
                    "error": "interrupted (Ctrl-C)" if interrupted else str(e),
                    "finished": _now(),
                    "inputs": inputs,
                    "previous_outputs": kept,
                }
                refresh_staleness(manifest, settings, run_dir, notebook_dir, data_hash)
                save()
                echo(f"[{i}/{len(selected)}] {stage} {'INTERRUPTED' if interrupted else 'FAILED'}")
                if kept:
                    echo(f"      outputs of the earlier run moved to {kept}/")
                if not isinstance(e, StageError):
                    raise
                error = e
                break
            _settle(run_dir, stage, ok=True)
            spec = stage_spec(stage)
            info["inputs"] = inputs
            info["outputs"] = {
                a: folder_fingerprint(run_dir / ARTEFACTS[a]) for a in (spec.writes if spec else ())
            }
            manifest["stages"][stage] = info
            refresh_staleness(manifest, settings, run_dir, notebook_dir, data_hash)
            save()
            echo(f"[{i}/{len(selected)}] {stage} done in {info['seconds']:.1f} s -> {info['html']}")
    finally:
        # after every run, failed, interrupted or not: leaking files are moved out of the run
        # folder before the manifest and the index are written
        stale = [s for s, r in manifest["stages"].items() if r.get("status") == "stale"]
        if stale:
            echo(f"recnb: stale (inputs changed since they ran; rerun them): {', '.join(stale)}")
        manifest["data"] = _data_info(run_dir, settings)
        echo("privacy check: scanning the run folder for raw identifiers ...")
        manifest["privacy_check"] = privacy_check(settings, run_dir, manifest)
        privacy_error = privacy_failure(manifest["privacy_check"], run_dir)
        if privacy_error is not None:
            echo(str(privacy_error))
        save()
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
        src = d.get("source") or {}
        info.update(
            fingerprint=d.get("fingerprint"),
            rows=d.get("rows"),
            source_fingerprint=d.get("settings_hash"),
            files={k: v.get("sha256") for k, v in (src.get("files") or {}).items()},
        )
    return info
