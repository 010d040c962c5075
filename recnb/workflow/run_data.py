"""The run's dataset: build it from the configured source, scrub it, cache it in the run folder.

:func:`build_dataset` generates the synthetic shop or calls a real loader, validates the tables and applies
the privacy scrub, so nothing downstream (reports included) ever sees raw personal data or original customer
ids. :func:`dataset_for_run` caches the result as Parquet in ``<run_dir>/data/`` with its fingerprint, so
every stage of a run reads the same data and any notebook can be rerun alone.

This module sits in the workflow layer, not in :mod:`recnb.data`, because it joins a source
(:mod:`recnb.data`) with the privacy scrub (:mod:`recnb.privacy`, which itself reads the data model)
and the run's params: the data layer stays free of anything above it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from recnb.data.io import files_fingerprint, read_json, write_json
from recnb.data.loaders import load_source, resolve_data_path
from recnb.data.loaders.events_db import read_store_meta
from recnb.data.schema import Dataset, load_dataset, save_dataset, validate_dataset
from recnb.data.synthetic import ShopConfig, SyntheticShop
from recnb.privacy import DEMO_KEY, PrivacyError, resolve_key, scrub
from recnb.serving import key_check
from recnb.workflow.params import DataSettings, Settings

DATA_SUBDIR = "data"


def shop_config(settings: Settings) -> ShopConfig:
    """The :class:`recnb.data.synthetic.ShopConfig` of a synthetic run (seed from the run unless given)."""
    kwargs = dict(settings.data.synthetic)
    kwargs.setdefault("seed", settings.seed)
    return ShopConfig(**kwargs)


def load_raw(settings: Settings) -> Dataset:
    """The validated dataset of the configured source, before the privacy scrub."""
    data: DataSettings = settings.data
    if data.source == "synthetic":
        ds = SyntheticShop(shop_config(settings)).generate()
    else:
        ds = load_source(data.source, data.path, **source_options(settings))
    return validate_dataset(ds)


def source_options(settings: Settings) -> dict[str, Any]:
    """``data.options`` as the loader gets them: the ``events_db`` source's ``base_run``, when
    relative, is relative to the params file (as ``data.path`` is)."""
    options = dict(settings.data.options)
    base = options.get("base_run")
    if settings.data.source == "events_db" and isinstance(base, str) and base.strip():
        p = Path(os.path.expandvars(os.path.expanduser(base)))
        if not p.is_absolute() and settings.source_file is not None:
            p = (settings.source_file.parent / p).resolve()
        options["base_run"] = str(p)
    return options


def events_db_key(settings: Settings) -> bytes:
    """The key of a run on the serving event store (``data.source: events_db``).

    The store's customer ids are already pseudonyms; the run's key must be the one that made them
    (its key check equals the store's). The synthetic shop's public demo key is accepted without
    configuration when the store says its ids were made with it.

    Raises
    ------
    recnb.privacy.PrivacyError
        The store records no key check, or the configured key is another one; the message names
        the store.
    """
    path = resolve_data_path("events_db", settings.data.path)
    check = read_store_meta(path).get("key_check")
    if not check:
        raise PrivacyError(
            f"{path}: the event store records no key check, so nothing tells which key made its "
            "customer ids; serve an export written with the run's key (stage 03 writes one)"
        )
    key = resolve_key(settings.data.pseudonym_key, allow_demo=check == key_check(DEMO_KEY))
    if key_check(key) != check:
        raise PrivacyError(
            f"{path}: the event store's customer ids are pseudonyms under another key (key check "
            f"{check}, the configured key gives {key_check(key)}); set RECNB_PSEUDONYM_KEY to the "
            "key of the run whose model served them"
        )
    return key


def build_dataset(settings: Settings) -> Dataset:
    """Load, validate and privacy-scrub the run's data.

    The serving event store's customer ids are already the run's pseudonyms: they are kept (after
    :func:`events_db_key` checked the key), everything else is scrubbed as for any source.
    """
    ds = load_raw(settings)
    if settings.data.source == "events_db":
        return validate_dataset(scrub(ds, events_db_key(settings), pseudonymize_ids=False))
    key = resolve_key(settings.data.pseudonym_key, allow_demo=settings.data.source == "synthetic")
    return validate_dataset(scrub(ds, key))


#: modules whose code decides the dataset (besides the generator or the loaders), relative to
#: recnb/: a change to any of them invalidates the cached dataset
_DATASET_CODE = (
    "workflow/run_data.py",
    "data/schema.py",
    "privacy/scrub.py",
    "privacy/patterns.py",
)


def _code_root() -> Path:
    """The ``recnb/`` package folder."""
    return Path(__file__).resolve().parents[1]


def _code_fingerprint(*parts: str) -> str:
    """SHA-256 over the source files of recnb modules or packages (paths relative to recnb/)."""
    root = _code_root()
    h = hashlib.sha256()
    for part in parts:
        p = root / part
        files = sorted(p.rglob("*.py")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                h.update(f.relative_to(root).as_posix().encode())
                h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _source_paths(settings: Settings) -> list[Path]:
    """The files and folders a real source is read from (its data path, and any existing path
    named in ``data.options``)."""
    paths = [Path(resolve_data_path(settings.data.source, settings.data.path))]
    if settings.data.source == "events_db":
        # the store, its write-ahead log (recent commits live there until a checkpoint) and the
        # base run's dataset record (not the whole run folder: its reports change on every run)
        wal = paths[0].with_name(paths[0].name + "-wal")
        base_run = source_options(settings).get("base_run")
        extra = [wal, Path(base_run) / DATA_SUBDIR / "dataset.json"] if base_run else [wal]
        return paths + [p for p in extra if p.is_file()]
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
    - for the synthetic shop: the full :class:`~recnb.data.synthetic.ShopConfig` (seed included) and a
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
    payload: dict[str, Any] = dataclasses.asdict(settings.data)
    payload.pop("pseudonym_key", None)
    payload["key_fingerprint"] = hashlib.sha256(
        (os.environ.get("RECNB_PSEUDONYM_KEY") or settings.data.pseudonym_key or "").encode()
    ).hexdigest()[:12]
    files: dict[str, dict[str, Any]] = {}
    if settings.data.source == "synthetic":
        payload["shop_config"] = dataclasses.asdict(shop_config(settings))
        code = _code_fingerprint("data/synthetic", *_DATASET_CODE)
    else:
        files = files_fingerprint(_source_paths(settings), known_files)
        code = _code_fingerprint("data/loaders", *_DATASET_CODE)
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
