"""Atomic file output, and fingerprints of files.

Everything recnb writes goes through these functions: the content is written to a temporary file in
the same folder and renamed over the target, so a crash never leaves a half-written file and a file
that existed before stays intact until its replacement is complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; give the result the permissions a plain open() would
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def _umask() -> int:
    # read without changing it for longer than this call (os.umask has no getter)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return None if not np.isfinite(o) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, pd.Timestamp):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "isoformat"):
        return o.isoformat()
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text(
        path, json.dumps(obj, indent=2, default=_json_default, allow_nan=False) + "\n"
    )


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def write_parquet(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found (did the stage that writes it run?)")
    return pd.read_parquet(path)


def write_with(path: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_npz(path: str | os.PathLike, matrix: sp.spmatrix) -> Path:
    """Save a sparse matrix as CSR ``.npz`` atomically (:func:`scipy.sparse.save_npz`)."""

    def _write(tmp: Path) -> None:
        # scipy appends .npz when the name lacks it; a file object keeps the temporary name
        with open(tmp, "wb") as fh:
            sp.save_npz(fh, sp.csr_matrix(matrix))

    return write_with(path, _write)


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically (format from the suffix)."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    return write_with(path, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=fmt))


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's content, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def files_fingerprint(
    paths: list[Path], known: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """Size, modification time and SHA-256 of every regular file under ``paths``.

    A file whose size and ``mtime_ns`` equal those recorded in ``known`` keeps its recorded
    SHA-256 (the fast pre-check); any other file is hashed. Hidden files are skipped.

    Returns
    -------
    dict
        ``{absolute path: {"size", "mtime_ns", "sha256"}}``, sorted by path.
    """
    known = known or {}
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files += [
                f
                for f in p.rglob("*")
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            ]
        elif p.is_file():
            files.append(p)
    out: dict[str, dict[str, Any]] = {}
    for f in sorted(set(files)):
        st = f.stat()
        key = str(f.resolve())
        prev = known.get(key) or {}
        if prev.get("size") == st.st_size and prev.get("mtime_ns") == st.st_mtime_ns:
            digest = prev["sha256"]
        else:
            digest = file_sha256(f)
        out[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    return out
