"""The model registry file of a run folder: one versioned JSON record per run, appended safely.

``<run_dir>/registry/registry.jsonl`` holds one line per recorded run: version (1, 2, ...), time
(UTC), the config hash, the data fingerprint, the seed, the package versions, the champion and the
gate's decision. A record is appended under an exclusive lock (:mod:`filelock`), as one ``write``
of a whole line to a file opened in append mode, then flushed and ``fsync``-ed: concurrent runs
get distinct versions and a reader never sees half a record from a finished append.

The chosen champion is exported in the models' own save format (``model.json`` + ``state.npz``,
:meth:`recnb.models.base.Recommender.save`) to ``<run_dir>/registry/champions/v<version>/``, an
immutable folder per version written under a temporary name and renamed into place; the record
points at it and carries the sha256 of its ``state.npz``. This copy is the registry's record of what
served; the export that ``python -m recnb serve`` loads (manifest, checksums, id maps, training
history, fallback) is written by stage 07 with :func:`recnb.serving.export_model` to
``<run_dir>/models/champion/`` (serving is a sibling package, so this module does not write it).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock

from recnb.data.io import read_json
from recnb.models.base import Recommender

__all__ = [
    "REGISTRY_DIR",
    "REGISTRY_FILE",
    "RECORD_FORMAT",
    "RegistryError",
    "append_record",
    "config_hash",
    "export_champion",
    "package_versions",
    "read_registry",
]

REGISTRY_DIR = "registry"
REGISTRY_FILE = "registry.jsonl"
RECORD_FORMAT = "recnb-registry/1"
_PACKAGES = ("recnb", "numpy", "scipy", "pandas", "scikit-learn", "implicit", "statsmodels")


class RegistryError(ValueError):
    """A registry file that cannot be read: the message names the file and the line."""


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of a configuration (sorted keys, no spaces)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_versions(packages: Iterable[str] = _PACKAGES) -> dict[str, str]:
    """Installed versions of the packages a model's behaviour depends on, and Python's."""
    out = {"python": platform.python_version()}
    for name in packages:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def registry_path(run_dir: str | os.PathLike) -> Path:
    """``<run_dir>/registry/registry.jsonl``."""
    return Path(run_dir) / REGISTRY_DIR / REGISTRY_FILE


def read_registry(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every record of the run's registry, oldest first (empty list when there is none).

    Raises
    ------
    RegistryError
        A line that is not a JSON record of this format (file and line number in the message).
    """
    path = registry_path(run_dir)
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(fh, start=1):
            if not line.endswith("\n"):
                raise RegistryError(f"{path}: line {no} is incomplete (no end of line)")
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise RegistryError(f"{path}: line {no} is not JSON ({e.msg})") from None
            if not isinstance(rec, dict) or rec.get("format") != RECORD_FORMAT:
                raise RegistryError(f"{path}: line {no} is not a {RECORD_FORMAT} record")
            records.append(rec)
    return records


def append_record(
    run_dir: str | os.PathLike,
    record: Mapping[str, Any],
    champion: Recommender | None = None,
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Append one record to the run's registry and return it with its version.

    Parameters
    ----------
    run_dir : path
        The run folder.
    record : mapping
        JSON-serialisable fields: at least ``config_hash``, ``data_fingerprint``, ``seed``. The
        function adds ``format``, ``version`` (one more than the last record's), ``recorded_at``
        (UTC, ISO) and ``packages`` (:func:`package_versions`, unless given).
    champion : Recommender, optional
        The chosen champion: exported with :func:`export_champion` under the record's version
        (while the lock is held) and described in the record's ``champion`` field.
    timeout : float
        Seconds to wait for the lock.

    Raises
    ------
    ValueError
        A required field is missing.
    RegistryError
        The existing file is damaged (nothing is appended to it).
    """
    missing = [k for k in ("config_hash", "data_fingerprint", "seed") if k not in record]
    if missing:
        raise ValueError(f"append_record: record lacks field(s) {missing}")
    path = registry_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=timeout):
        existing = read_registry(run_dir)
        version = max((int(r.get("version", 0)) for r in existing), default=0) + 1
        full = {
            "format": RECORD_FORMAT,
            "version": version,
            "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "packages": package_versions(),
            **dict(record),
        }
        full["format"], full["version"] = RECORD_FORMAT, version
        if champion is not None:
            full["champion"] = export_champion(champion, run_dir, version)
        line = json.dumps(full, sort_keys=True, default=str) + "\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            data = line.encode("utf-8")
            written = os.write(fd, data)
            if written != len(data):  # pragma: no cover - a regular file takes the whole line
                raise OSError(f"{path}: short write ({written} of {len(data)} bytes)")
            os.fsync(fd)
        finally:
            os.close(fd)
    return full


def export_champion(model: Recommender, run_dir: str | os.PathLike, version: int) -> dict[str, Any]:
    """Save the champion in the models' format to ``registry/champions/v<version>/``.

    The folder is written under a temporary name and renamed into place; an existing folder of
    that version is an error (versions are immutable).

    Returns
    -------
    dict
        ``path`` (relative to the run folder), ``model`` (registry name), ``params``,
        ``state_sha256``.
    """
    root = Path(run_dir) / REGISTRY_DIR / "champions"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"v{int(version):04d}"
    if final.exists():
        raise FileExistsError(f"{final}: champion version {version} already exported")
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        model.save(tmp)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    info = read_json(final / "model.json")
    return {
        "path": str(final.relative_to(Path(run_dir))),
        "model": info["model"],
        "params": info["params"],
        "state_sha256": info["state_npz"]["sha256"],
    }
