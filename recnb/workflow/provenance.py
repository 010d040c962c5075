"""What a stage ran on, and whether that is still true: input fingerprints and staleness.

Every stage of a run records, in ``manifest.json``, the fingerprints of its inputs:

- ``params``: its params section as the notebook received it, and the run seed;
- ``notebook``: the stage notebook's file;
- ``data``: the run's data source (:func:`recnb.workflow.run_data.source_fingerprint`: settings,
  data file content, generator or loader code);
- one entry per run-folder artefact it reads (``split``: the split folder written by stage 02),

and the fingerprints of the artefacts it writes. A stage whose recorded inputs differ from the
current ones is *stale*: shown so in ``index.html`` and the manifest, and a later stage that reads
its artefacts refuses to start until it is rerun (see :func:`recnb.workflow.runner.run`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from recnb.data.io import read_json
from recnb.workflow.params import Settings, available_stages
from recnb.workflow.run_data import data_settings_hash
from recnb.workflow.settings import ARTEFACTS, STAGES, stage_spec

__all__ = [
    "StaleInputError",
    "artefact_producer",
    "check_notebook_inputs",
    "current_inputs",
    "folder_fingerprint",
    "refresh_staleness",
    "stage_outputs",
    "stale_reasons",
    "upstream_problem",
]


class StaleInputError(RuntimeError):
    """A stage notebook would read an artefact of a stale, failed or missing earlier stage."""


def folder_fingerprint(path: Path) -> str | None:
    """SHA-256 over the relative names and contents of the files under ``path`` (None if absent).

    Hidden files (temporary files of atomic writes) and measured-time files (``timing*``) are
    left out: a stage rerun on the same inputs writes the same fingerprint.
    """
    if not path.exists():
        return None
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        rel = f.relative_to(path).as_posix() if f != path else f.name
        if any(part.startswith(".") for part in rel.split("/")) or f.name.startswith("timing"):
            continue
        h.update(rel.encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()


def _hash_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def artefact_producer(artefact: str, among: Iterable[str] | None = None) -> str | None:
    """The registered stage that writes ``artefact`` (None for the dataset cache).

    ``among`` limits the search to some stages (those of the run's notebook folder).
    """
    names = list(STAGES) if among is None else [s for s in among if s in STAGES]
    for name in names:
        if artefact in STAGES[name].writes:
            return name
    return None


def current_inputs(
    settings: Settings, stage: str, run_dir: Path, notebook_dir: Path, data_hash: str
) -> dict[str, str | None]:
    """The fingerprints of what ``stage`` would read if it ran now.

    Parameters
    ----------
    settings : Settings
    stage : str
    run_dir : path
        The run folder (artefacts are read from it).
    notebook_dir : path
        Folder of the stage notebooks.
    data_hash : str
        :func:`recnb.workflow.run_data.data_settings_hash` of the run (computed once by the caller).
    """
    nb = notebook_dir / f"{stage}.ipynb"
    out: dict[str, str | None] = {
        "params": _hash_json({"section": settings.notebook_values(stage), "seed": settings.seed}),
        "notebook": hashlib.sha256(nb.read_bytes()).hexdigest() if nb.exists() else None,
        "data": data_hash,
    }
    spec = stage_spec(stage)
    for artefact in spec.reads if spec else ():
        if artefact != "dataset":
            out[artefact] = folder_fingerprint(run_dir / ARTEFACTS[artefact])
    return out


_INPUT_NAMES = {
    "params": "its params section (or the run seed) changed",
    "notebook": "its notebook changed",
    "data": "the data changed (data settings, data files or the code that builds the dataset)",
}


def stale_reasons(
    recorded: dict[str, Any], current: dict[str, str | None], among: Iterable[str] | None = None
) -> list[str]:
    """Why a stage that ran with inputs ``recorded`` is not current (empty list: it is)."""
    if not recorded:
        return ["it ran before inputs were recorded"]
    out = []
    for key, value in current.items():
        if recorded.get(key) != value:
            if key in _INPUT_NAMES:
                out.append(_INPUT_NAMES[key])
            else:
                producer = artefact_producer(key, among)
                by = f" (written by {producer})" if producer else ""
                out.append(f"the {key}{by} it read changed since it ran")
    return out


def stage_outputs(run_dir: Path, stage: str) -> list[Path]:
    """Every file or folder of the run folder that ``stage`` writes (existing or not)."""
    paths = [
        run_dir / f"{stage}.ipynb",
        run_dir / f"{stage}.html",
        run_dir / "results" / stage,
        run_dir / "figures" / stage,
    ]
    summaries = run_dir / "summaries"
    paths += sorted(summaries.glob(f"{stage}.*")) if summaries.is_dir() else []
    spec = stage_spec(stage)
    for artefact in spec.writes if spec else ():
        paths.append(run_dir / ARTEFACTS[artefact])
    return paths


def refresh_staleness(
    manifest: dict[str, Any], settings: Settings, run_dir: Path, notebook_dir: Path, data_hash: str
) -> None:
    """Mark every stage of ``manifest`` that ran ok but whose inputs changed since as ``stale``
    (with ``stale_because``), and a stale one whose inputs are back as ``ok``."""
    among = available_stages(notebook_dir)
    for stage, rec in manifest["stages"].items():
        if rec.get("status") not in ("ok", "stale"):
            continue
        if not (notebook_dir / f"{stage}.ipynb").exists():
            continue
        why = stale_reasons(
            rec.get("inputs", {}),
            current_inputs(settings, stage, run_dir, notebook_dir, data_hash),
            among,
        )
        if why:
            rec["status"], rec["stale_because"] = "stale", why
        else:
            rec["status"] = "ok"
            rec.pop("stale_because", None)


def upstream_problem(
    manifest: dict[str, Any],
    selected: list[str],
    settings: Settings,
    run_dir: Path,
    notebook_dir: Path,
) -> str | None:
    """Why ``selected`` cannot run (None when it can): a selected stage would read an artefact
    whose producing stage is stale, failed or never ran (and is not rerun earlier in
    ``selected``), or whose folder is not what that stage wrote. Call after
    :func:`refresh_staleness`."""
    among = available_stages(notebook_dir)
    for i, stage in enumerate(selected):
        spec = stage_spec(stage)
        for artefact in spec.reads if spec else ():
            producer = artefact_producer(artefact, among)
            if producer is None or producer in selected[:i]:
                continue
            rec = manifest["stages"].get(producer) or {}
            status = rec.get("status", "not run")
            problem = None
            if status == "stale":
                problem = f"is stale: {'; '.join(rec.get('stale_because', []))}"
            elif status == "running":
                problem = "did not finish (its run was stopped while it ran)"
            elif status != "ok":
                problem = f"has status {status!r}"
            elif rec.get("outputs", {}).get(artefact) != folder_fingerprint(
                run_dir / ARTEFACTS[artefact]
            ):
                problem = "wrote a different version of it (the folder changed since)"
            if problem:
                chain = [s for s in settings.stages if s == producer or s in selected[i:]]
                return (
                    f"stage {stage} reads the {artefact} ({ARTEFACTS[artefact]}/) written by "
                    f"{producer}, which {problem}. Nothing was run. Rerun it first: python -m "
                    f"recnb run {settings.source_file} --stages {' '.join(chain)}"
                )
    return None


def check_notebook_inputs(
    settings: Settings, run_dir: Path, stage: str, notebook_dir: Path
) -> None:
    """For a notebook opened on its own (JupyterLab): stop if it would read a stale artefact.

    Uses the run folder's ``manifest.json`` (nothing to check without one).

    Raises
    ------
    StaleInputError
        The message names the artefact, the stage that wrote it, why it is stale and the
        command that reruns both.
    """
    manifest_file = run_dir / "manifest.json"
    spec = stage_spec(stage)
    if not manifest_file.exists() or spec is None or not spec.reads:
        return
    manifest = read_json(manifest_file)
    manifest.setdefault("stages", {})
    if manifest["stages"].get(stage, {}).get("status") == "running":
        return  # started by the runner, which checked its inputs just before
    refresh_staleness(
        manifest, settings, run_dir, notebook_dir, data_settings_hash(settings, run_dir)
    )
    problem = upstream_problem(manifest, [stage], settings, run_dir, notebook_dir)
    if problem:
        raise StaleInputError(problem)
