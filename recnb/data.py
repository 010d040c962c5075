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


def data_settings_hash(settings: Settings) -> str:
    """Hash of everything that determines the dataset (source, path, options, shop config, seed)."""
    import dataclasses

    payload = dataclasses.asdict(settings.data)
    payload.pop("pseudonym_key", None)
    payload["key_fingerprint"] = hashlib.sha256(
        (os.environ.get("RECNB_PSEUDONYM_KEY") or settings.data.pseudonym_key or "").encode()
    ).hexdigest()[:12]
    if settings.data.source == "synthetic":
        payload["seed"] = settings.seed
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


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
    """The run's scrubbed dataset, read from ``<run_dir>/data`` or built and cached there."""
    folder = Path(run_dir) / DATA_SUBDIR
    want = data_settings_hash(settings)
    if (folder / "dataset.json").exists():
        info = read_json(folder / "dataset.json")
        if info.get("settings_hash") == want:
            return load_dataset(folder)
    ds = build_dataset(settings)
    save_dataset(ds, folder, extra={"settings_hash": want})
    return load_dataset(folder)
