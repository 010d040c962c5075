"""The run's dataset: build it from the configured source, scrub it, cache it in the run folder.

:func:`build_dataset` generates the synthetic shop or calls a real loader, validates the tables and applies
the privacy scrub, so nothing downstream (reports included) ever sees raw personal data or original customer
ids. :func:`dataset_for_run` caches the result as Parquet in ``<run_dir>/data/`` with its fingerprint, so
every stage of a run reads the same data and any notebook can be rerun alone.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd

from recnb.io import read_json, write_json, write_parquet
from recnb.params import DataSettings, Settings
from recnb.schema import EVENT_TYPES, TABLES, Dataset, validate_dataset

DATA_SUBDIR = "data"


def shop_config(settings: Settings):
    """The :class:`recnb.synthetic.ShopConfig` of a synthetic run (seed from the run unless given)."""
    from recnb.synthetic import ShopConfig

    kwargs = dict(settings.data.synthetic)
    kwargs.setdefault("seed", settings.seed)
    return ShopConfig(**kwargs)


def load_raw(settings: Settings) -> Dataset:
    """The validated dataset of the configured source, before the privacy scrub."""
    data: DataSettings = settings.data
    if data.source == "synthetic":
        from recnb.synthetic import SyntheticShop

        ds = SyntheticShop(shop_config(settings)).generate()
    else:
        from recnb.loaders import load_source

        ds = load_source(data.source, data.path, **data.options)
    return validate_dataset(ds)


def build_dataset(settings: Settings) -> Dataset:
    """Load, validate and privacy-scrub the run's data."""
    from recnb.privacy import resolve_key, scrub

    ds = load_raw(settings)
    key = resolve_key(settings.data.pseudonym_key, allow_demo=settings.data.source == "synthetic")
    return validate_dataset(scrub(ds, key))


#: modules whose code decides the dataset (besides the generator or the loaders): a change to any
#: of them invalidates the cached dataset
_DATASET_CODE = ("data.py", "schema.py", "privacy.py")


def _code_fingerprint(*parts: str) -> str:
    """SHA-256 over the source files of recnb modules or packages (paths relative to recnb/)."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for part in parts:
        p = root / part
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(f.relative_to(root).as_posix().encode())
                h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


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


def _source_paths(settings: Settings) -> list[Path]:
    """The files and folders a real source is read from (its data path, and any existing path
    named in ``data.options``)."""
    from recnb.loaders import resolve_data_path

    paths = [Path(resolve_data_path(settings.data.source, settings.data.path))]
    base = settings.source_file.parent if settings.source_file else Path.cwd()
    for v in settings.data.options.values():
        if isinstance(v, str) and v and len(v) < 4096:
            cand = Path(os.path.expandvars(os.path.expanduser(v)))
            cand = cand if cand.is_absolute() else base / cand
            try:
                if cand.exists():
                    paths.append(cand)
            except OSError:
                continue
    return paths


def source_fingerprint(
    settings: Settings, known_files: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """What determines the run's dataset, and its hash.

    - the data settings (source, path, options, the pseudonym key's fingerprint);
    - for the synthetic shop: the full :class:`~recnb.synthetic.ShopConfig` (seed included) and a
      hash of the generator's code;
    - for a real source: size, mtime and SHA-256 of every data file (see
      :func:`files_fingerprint`; ``known_files`` from an earlier fingerprint saves re-hashing
      unchanged files) and a hash of the loaders' code;
    - a hash of the code that validates and scrubs the tables.

    Returns
    -------
    dict
        ``{"hash": str, "settings": dict, "files": dict, "code": str}``.
    """
    import dataclasses

    payload: dict[str, Any] = dataclasses.asdict(settings.data)
    payload.pop("pseudonym_key", None)
    payload["key_fingerprint"] = hashlib.sha256(
        (os.environ.get("RECNB_PSEUDONYM_KEY") or settings.data.pseudonym_key or "").encode()
    ).hexdigest()[:12]
    files: dict[str, dict[str, Any]] = {}
    if settings.data.source == "synthetic":
        payload["shop_config"] = dataclasses.asdict(shop_config(settings))
        code = _code_fingerprint("synthetic", *_DATASET_CODE)
    else:
        files = files_fingerprint(_source_paths(settings), known_files)
        code = _code_fingerprint("loaders", *_DATASET_CODE)
    h = hashlib.sha256(
        json.dumps(
            {
                "settings": payload,
                "files": {k: v["sha256"] for k, v in files.items()},
                "code": code,
            },
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()
    return {"hash": h, "settings": payload, "files": files, "code": code}


def data_settings_hash(settings: Settings, run_dir: str | os.PathLike | None = None) -> str:
    """Hash of everything that determines the dataset: settings, data file content, code.

    With ``run_dir``, the file records of the run's cached dataset speed up the check (files whose
    size and mtime did not change are not read again).
    """
    return source_fingerprint(settings, _known_files(run_dir))["hash"]


def _known_files(run_dir: str | os.PathLike | None) -> dict[str, dict[str, Any]] | None:
    if run_dir is None:
        return None
    info_file = Path(run_dir) / DATA_SUBDIR / "dataset.json"
    if not info_file.exists():
        return None
    try:
        return (read_json(info_file).get("source") or {}).get("files")
    except (ValueError, OSError):
        return None


def save_dataset(
    ds: Dataset, folder: str | os.PathLike, extra: dict[str, Any] | None = None
) -> Path:
    """Write the three tables as Parquet and ``dataset.json`` (name, notes, meta, fingerprint)."""
    folder = Path(folder)
    for t in TABLES:
        write_parquet(folder / f"{t}.parquet", ds.table(t))
    write_json(
        folder / "dataset.json",
        {
            "name": ds.name,
            "fingerprint": ds.fingerprint(),
            "rows": {t: len(ds.table(t)) for t in TABLES},
            "notes": ds.notes,
            "meta": ds.meta,
            **(extra or {}),
        },
    )
    return folder


def load_dataset(folder: str | os.PathLike) -> Dataset:
    """Read a dataset written by :func:`save_dataset`; checks its fingerprint."""
    folder = Path(folder)
    info = read_json(folder / "dataset.json")
    tables = {t: pd.read_parquet(folder / f"{t}.parquet") for t in TABLES}
    ev = tables["events"]
    ev["event"] = pd.Categorical(ev["event"].astype(object), categories=EVENT_TYPES, ordered=True)
    ds = Dataset(
        name=info["name"], notes=info.get("notes", []), meta=info.get("meta", {}), **tables
    )
    fp = ds.fingerprint()
    if fp != info["fingerprint"]:
        raise ValueError(
            f"{folder}: data files do not match dataset.json (fingerprint {fp[:12]} != "
            f"{info['fingerprint'][:12]}); delete the folder to rebuild it"
        )
    return ds


def dataset_for_run(settings: Settings, run_dir: str | os.PathLike) -> Dataset:
    """The run's scrubbed dataset, read from ``<run_dir>/data`` or built and cached there.

    The cache is keyed on :func:`source_fingerprint` (data settings, data file content, code): a
    data file edited in place, a new seed or a changed generator rebuilds it. The fingerprint is
    recorded in ``dataset.json`` under ``source``.
    """
    folder = Path(run_dir) / DATA_SUBDIR
    want = source_fingerprint(settings, _known_files(run_dir))
    if (folder / "dataset.json").exists():
        info = read_json(folder / "dataset.json")
        if info.get("settings_hash") == want["hash"]:
            ds = load_dataset(folder)
            if info.get("source", {}).get("files") != want["files"]:  # touched, same content
                write_json(folder / "dataset.json", {**info, **_cache_extra(want)})
            return ds
    ds = build_dataset(settings)
    save_dataset(ds, folder, extra=_cache_extra(want))
    return load_dataset(folder)


def _cache_extra(source: dict[str, Any]) -> dict[str, Any]:
    return {"settings_hash": source["hash"], "source": source}
