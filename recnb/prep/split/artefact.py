"""The saved split: the artefact stage 02 writes and the model stage reads.

``<run_dir>/split/`` holds one folder per part (``train_inner``, ``valid``, ``train``, ``test``), each an
:class:`~recnb.data.interactions.Interactions` (all four sharing one id map), plus ``context.*`` for the
training parts, ``normalization.*`` for the training parts of an explicit split, and ``split.json``
(the parts and the split's settings). Features are computed from ``train_inner``'s events for
``train_inner`` and ``valid``, from ``train``'s events for ``train`` and ``test``: no feature sees an
event of the part it is evaluated on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import scipy.sparse as sp

from recnb.data.interactions import Interactions, check_same_ids
from recnb.data.io import read_json, write_json, write_npz
from recnb.prep.weighting import RatingNormalizer

__all__ = ["load_context", "load_normalizer", "load_split", "save_split", "split_info"]


def save_split(
    folder: str | os.PathLike,
    parts: Mapping[str, Interactions],
    *,
    context: Mapping[str, tuple[sp.csr_matrix, list[str]]] | None = None,
    normalizers: Mapping[str, RatingNormalizer] | None = None,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write the parts of a split to ``folder/<part>/`` and ``folder/split.json``.

    Parameters
    ----------
    folder : str or path
        Usually ``<run_dir>/split``.
    parts : dict of str -> Interactions
        Parts sharing one id map (checked).
    context : dict, optional
        Per part, the context matrix (rows = stored pairs in CSR order) and its names:
        ``<part>/context.npz`` + ``<part>/context.json``.
    normalizers : dict, optional
        Per part, a fitted :class:`~recnb.prep.weighting.RatingNormalizer`: ``<part>/normalization.*``.
    info : dict, optional
        Split settings written to ``split.json``.
    """
    folder = Path(folder)
    check_same_ids(parts, f"save_split({folder})")
    for name, inter in parts.items():
        sub = inter.save(folder / name)
        if context and name in context:
            m, names = context[name]
            if m.shape != (inter.nnz, len(names)):
                raise ValueError(
                    f"save_split: context of {name!r} has shape {m.shape}, expected ({inter.nnz}, {len(names)})"
                )
            write_npz(sub / "context.npz", m)
            write_json(sub / "context.json", {"feature_names": list(names)})
        if normalizers and name in normalizers:
            normalizers[name].save(sub, inter.customer_ids)
    write_json(folder / "split.json", {"parts": list(parts), "info": dict(info or {})})
    return folder


def load_split(
    folder: str | os.PathLike, parts: Sequence[str] | None = None
) -> dict[str, Interactions]:
    """Read the parts written by :func:`save_split` (checks that they share one id map).

    Parameters
    ----------
    folder : path
        ``<run_dir>/split``.
    parts : sequence of str, optional
        Read only these parts (e.g. ``["train_inner", "valid"]`` for tuning, so the test part is
        never opened); default every part listed in ``split.json``.
    """
    folder = Path(folder)
    if parts is None:
        if not (folder / "split.json").exists():
            raise FileNotFoundError(
                f"{folder}/split.json not found: run the preprocessing stage (02_preprocessing) first"
            )
        names = list(read_json(folder / "split.json")["parts"])
    else:
        names = list(parts)
        missing = [n for n in names if not (folder / n / "meta.json").exists()]
        if missing:
            raise FileNotFoundError(
                f"{folder}: split part(s) {missing} not found; run the preprocessing stage "
                "(02_preprocessing) first"
            )
    parts = {n: Interactions.load(folder / n) for n in names}
    check_same_ids(parts, f"load_split({folder})")
    return parts


def split_info(folder: str | os.PathLike) -> dict[str, Any]:
    """The settings saved with a split (``split.json``'s ``info``)."""
    return dict(read_json(Path(folder) / "split.json").get("info", {}))


def load_context(folder: str | os.PathLike, part: str) -> tuple[sp.csr_matrix, list[str]] | None:
    """Context features of a part (rows = stored pairs of its matrix in CSR order), or None."""
    sub = Path(folder) / part
    if not (sub / "context.npz").exists():
        return None
    return sp.load_npz(sub / "context.npz").tocsr(), list(
        read_json(sub / "context.json")["feature_names"]
    )


def load_normalizer(folder: str | os.PathLike, part: str) -> RatingNormalizer:
    """The rating normalizer saved with a (training) part of an explicit split."""
    sub = Path(folder) / part
    if not (sub / "normalization.json").exists():
        raise FileNotFoundError(
            f"{sub}: no normalization saved (only explicit splits have one, for train_inner and train)"
        )
    ids = pd.read_parquet(sub / "customers.parquet")["customer_id"].to_numpy(dtype=object)
    return RatingNormalizer.load(sub, ids)
