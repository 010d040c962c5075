"""The export artefact of a run: everything the service needs to serve one fitted model.

``export_model(model, run_dir, name, train=...)`` writes ``<run_dir>/models/<name>/``::

    model/model.json, model/state.npz   the model's own save (Recommender.save: open formats, its
                                        customer and product vocabularies included: the id maps)
    history.npz                         the training matrix (customer x product confidences in the
                                        model's id order): the base the service adds new events to
    fallback.json                       what a customer without history gets: products ranked by
                                        popularity (customers who interacted in training), ties by
                                        product index, i.e. the model's own fallback
    serving.json                        how to serve it (:class:`ServingSpec`): model, signal (event
                                        weights, scaling), accepted context, customer id form and
                                        key check, what a new event changes
    manifest.json                       format, size and sha256 of every other file, the run's data
                                        fingerprint

The folder is written under a temporary name beside its target and renamed into place (an existing
export is swapped atomically with ``renameat2(RENAME_EXCHANGE)`` where the kernel has it), so a
reader sees the old export or the new one, never a mix. :func:`load_export` refuses a folder whose
manifest, file list or checksums do not match, with a message naming the file.

Customer ids in a run are keyed pseudonyms (:mod:`recnb.privacy`); the export records a *key check*
(the pseudonym of a fixed text under the run's key, :func:`key_check`), never the key, so a service
that pseudonymizes raw ids itself can prove it holds the same key.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from pydantic import ValidationError

from recnb.data.interactions import Interactions
from recnb.data.io import read_json, write_json, write_with
from recnb.data.schema import EVENT_TYPES
from recnb.models.base import ModelFileError, Recommender
from recnb.models.topk import topk_dense
from recnb.privacy import pseudonymize
from recnb.serving.spec import (
    GENERIC_ID_PATTERN,
    SERVING_FORMAT,
    ContextSpec,
    IdSpec,
    ServingSpec,
    SignalSpec,
)

__all__ = [
    "EXPORT_FORMAT",
    "MODELS_DIR",
    "SERVING_FORMAT",
    "ContextSpec",
    "ExportError",
    "ExportedModel",
    "IdSpec",
    "ServingSpec",
    "SignalSpec",
    "export_model",
    "describe_export",
    "find_export",
    "key_check",
    "list_exports",
    "load_export",
]

EXPORT_FORMAT = "recnb-export/1"
#: exports live in ``<run_dir>/models/<name>/``
MODELS_DIR = "models"
MANIFEST = "manifest.json"
SERVING = "serving.json"
FALLBACK = "fallback.json"
HISTORY = "history.npz"
MODEL_SUBDIR = "model"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: the text whose pseudonym is the key check
_KEY_CHECK_TEXT = "recnb-key-check"


class ExportError(ValueError):
    """An export folder cannot be served; the message names the file and what is wrong.

    Attributes
    ----------
    path : pathlib.Path
        The file or folder at fault.
    problem : str
        What is wrong, without the path.
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass
class ExportedModel:
    """A loaded, checked export.

    Attributes
    ----------
    folder : pathlib.Path
    version : str
        First 12 hex characters of the sha256 of ``manifest.json`` (changes with any file).
    manifest : dict
    spec : ServingSpec
    model : Recommender
    history : scipy.sparse.csr_matrix
        Training confidences, customers x products in the model's order.
    fallback : numpy.ndarray of int64
        Product indices, best first.
    """

    folder: Path
    version: str
    manifest: dict[str, Any]
    spec: ServingSpec
    model: Recommender
    history: sp.csr_matrix
    fallback: np.ndarray


# -- writing -------------------------------------------------------------------------------------
def key_check(key: bytes | str) -> str:
    """The pseudonym of a fixed text under ``key``: equal checks mean equal keys (a key check
    value; it reveals nothing about the key)."""
    return str(pseudonymize([_KEY_CHECK_TEXT], key)[0])


def _id_spec(ids: np.ndarray, key: bytes | str | None) -> IdSpec:
    text = np.asarray(ids, dtype=object).astype(str)
    lengths = {len(s) for s in text[:1000]}
    if len(lengths) == 1 and all(re.fullmatch(r"[0-9a-f]+", s) for s in text):
        n = lengths.pop()
        if all(len(s) == n for s in text) and 8 <= n <= 64:
            return IdSpec(
                form="pseudonym",
                pattern=f"^[0-9a-f]{{{n}}}$",
                length=n,
                key_check=key_check(key) if key is not None else None,
            )
    return IdSpec(
        form="opaque",
        pattern=GENERIC_ID_PATTERN,
        key_check=key_check(key) if key is not None else None,
    )


def _signal_spec(meta: dict[str, Any]) -> SignalSpec:
    """The training signal from a part's meta; a setting the part records as None (an explicit
    signal has no event weights or scaling) takes the spec's default."""

    def get(key: str, default: Any) -> Any:
        value = meta.get(key)
        return default if value is None else value

    weights = meta.get("event_weights")
    return SignalSpec(
        signal=get("signal", "implicit"),
        event_weights={
            str(k): float(v)
            for k, v in (weights if isinstance(weights, dict) else {}).items()
            if v is not None
        }
        or {t: 1.0 for t in EVENT_TYPES},
        scaling=get("scaling", "log"),
        alpha=float(get("alpha", 1.0)),
        dwell_factor=float(get("dwell_factor", 0.0)),
        recency_half_life_days=float(get("recency_half_life_days", 0.0)),
    )


def _context_spec(meta: dict[str, Any], model: Recommender) -> ContextSpec:
    names = [str(n) for n in meta.get("context_feature_names", [])]

    def values(prefix: str) -> list[str]:
        return sorted({n.split(":", 1)[1] for n in names if n.startswith(prefix + ":")})

    return ContextSpec(
        device=values("device"),
        location=values("location"),
        hour=True,
        used_by_model=False,
        note=(
            f"the {model.name!r} model scores a customer from the training history alone; the "
            "context is checked and echoed, not used"
        ),
    )


def _history_updates(model: Recommender) -> Literal["rescored", "excluded_only", "none"]:
    from recnb.serving.history import can_rescore, personal

    if not personal(model):
        return "none"
    return "rescored" if can_rescore(model) else "excluded_only"


def _fallback_ranking(model: Recommender) -> np.ndarray:
    idx, _ = topk_dense(model.popularity_[None, :].astype(np.float32), model.n_products_)
    return idx[0][idx[0] >= 0]


def _run_data(run_dir: Path) -> tuple[str | None, str | None, int]:
    """(run name, data fingerprint, last store seq the data holds) of a run folder."""
    run_name = None
    man = run_dir / "manifest.json"
    if man.is_file():
        with contextlib.suppress(ValueError, OSError):
            run_name = read_json(man).get("run_name")
    info_file = run_dir / "data" / "dataset.json"
    if not info_file.is_file():
        return run_name, None, 0
    info = read_json(info_file)
    seq = ((info.get("meta") or {}).get("events_db") or {}).get("last_seq", 0)
    return run_name, info.get("fingerprint"), int(seq or 0)


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() != MANIFEST
    )


def _fsync_tree(folder: Path) -> None:
    for p in [*_files(folder), folder / MANIFEST]:
        with open(p, "rb") as fh:
            os.fsync(fh.fileno())
    for d in sorted({folder, *(p.parent for p in _files(folder))}):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where not available."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, f"renameat2({a}, {b}) failed: {os.strerror(err)}")


def _publish(tmp: Path, final: Path) -> None:
    """Move the complete folder ``tmp`` onto ``final`` (replacing an existing export)."""
    if not final.exists():
        os.replace(tmp, final)
        return
    if _exchange(tmp, final):
        shutil.rmtree(tmp)  # tmp now holds the old export
        return
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old)


def export_model(
    model: Recommender,
    run_dir: str | os.PathLike,
    name: str,
    *,
    train: Interactions | None = None,
    label: str | None = None,
    key: bytes | str | None = None,
) -> Path:
    """Write the export of a fitted model to ``<run_dir>/models/<name>/`` (atomically).

    Parameters
    ----------
    model : Recommender
        Fitted on ``train``.
    run_dir : str or path
        The run folder (its ``data/dataset.json`` gives the data fingerprint).
    name : str
        Folder name under ``models/`` (letters, digits, ``_ . -``), e.g. ``"model_comparison"``.
    train : Interactions, optional
        The training part the model was fitted on; default ``<run_dir>/split/train``.
    label : str, optional
        The model's label in the run (e.g. ``"lightfm_warp_cf"``); default its registry name.
    key : bytes or str, optional
        The run's pseudonymization key (:func:`recnb.privacy.resolve_key`): only its key check is
        written. Without it, a service cannot pseudonymize raw ids for this export.

    Returns
    -------
    pathlib.Path
        The export folder.

    Raises
    ------
    ValueError
        A bad name, or a model not fitted on ``train`` (other ids).
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"export_model: name must be 1-64 letters, digits, '_', '.', '-', got {name!r}"
        )
    run_dir = Path(run_dir)
    if train is None:
        train = Interactions.load(run_dir / "split" / "train")
    model._check_fitted()
    if not (
        np.array_equal(model.customer_ids_.astype(str), np.asarray(train.customer_ids, str))
        and np.array_equal(model.product_ids_.astype(str), np.asarray(train.product_ids, str))
    ):
        raise ValueError(
            f"export_model: the {model.name!r} model was not fitted on this training part (its "
            f"{model.n_customers_} x {model.n_products_} ids differ from train's {train.shape})"
        )
    run_name, fingerprint, seq = _run_data(run_dir)
    spec = ServingSpec(
        name=name,
        label=label or model.name,
        model=model.name,
        can_explain=bool(model.can_explain),
        explain_note="" if model.can_explain else str(model.explain_note),
        history_updates=_history_updates(model),
        signal=_signal_spec(train.meta),
        context=_context_spec(train.meta, model),
        customer_ids=_id_spec(model.customer_ids_, key),
        fallback=(
            "customers without any history get the products most customers interacted with in "
            "training (ties: lower product index), minus products they already had"
        ),
        run_name=run_name,
        data_fingerprint=fingerprint,
        trained_through_seq=seq,
    )
    models_dir = run_dir / MODELS_DIR
    models_dir.mkdir(parents=True, exist_ok=True)
    for leftover in models_dir.glob(f".{name}.*"):  # an interrupted export's temporary folder
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=models_dir))
    try:
        model.save(tmp / MODEL_SUBDIR)
        hist = sp.csr_matrix(train.matrix, dtype=np.float32)
        hist.sort_indices()
        write_with(tmp / HISTORY, lambda t: _save_csr(t, hist))
        ranking = _fallback_ranking(model)
        write_json(
            tmp / FALLBACK,
            {
                "policy": "popularity",
                "definition": spec.fallback,
                "product_ids": [str(p) for p in model.product_ids_[ranking]],
                # "popularity", not "customers": a list under a key named for customers is read
                # as customer ids by the privacy scan (MovieLens ids are small integers)
                "popularity": [float(x) for x in model.popularity_[ranking]],
            },
        )
        write_json(tmp / SERVING, spec.model_dump(mode="json"))
        files = {
            p.relative_to(tmp).as_posix(): {"bytes": p.stat().st_size, "sha256": _sha256(p)}
            for p in _files(tmp)
        }
        write_json(
            tmp / MANIFEST,
            {
                "format": EXPORT_FORMAT,
                "name": name,
                "label": spec.label,
                "model": model.name,
                "run_name": run_name,
                "data_fingerprint": fingerprint,
                "files": files,
            },
        )
        os.chmod(tmp, 0o777 & ~_umask())
        _fsync_tree(tmp)
        _publish(tmp, models_dir / name)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return models_dir / name


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _save_csr(path: Path, m: sp.csr_matrix) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, data=m.data, indices=m.indices, indptr=m.indptr, shape=np.asarray(m.shape))


# -- reading -------------------------------------------------------------------------------------
def list_exports(run_dir: str | os.PathLike) -> list[str]:
    """Names of the exports in a run folder (folders under ``models/`` with a manifest)."""
    base = Path(run_dir) / MODELS_DIR
    if not base.is_dir():
        return []
    return sorted(
        p.name for p in base.iterdir() if not p.name.startswith(".") and (p / MANIFEST).is_file()
    )


#: the export :func:`find_export` prefers when a run has several (stage 07's champion)
PREFERRED = ("champion", "model_comparison")


def find_export(run_dir: str | os.PathLike, name: str | None = None) -> Path:
    """The export folder to serve from a run folder.

    ``name`` picks one; without it: ``champion`` if present, else ``model_comparison``, else the
    only export.

    Raises
    ------
    ExportError
        No run folder, no export, or several and none preferred (the message lists them).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ExportError(run_dir, "no such run folder")
    names = list_exports(run_dir)
    if name is not None:
        if name not in names:
            raise ExportError(
                run_dir / MODELS_DIR / name,
                f"no export named {name!r} in this run; exports: {names or 'none'}",
            )
        return run_dir / MODELS_DIR / name
    if not names:
        raise ExportError(
            run_dir / MODELS_DIR,
            "no exported model in this run: run stage 03 (03_model_comparison), which exports its "
            "chosen model, or call recnb.serving.export_model",
        )
    for pref in PREFERRED:
        if pref in names:
            return run_dir / MODELS_DIR / pref
    if len(names) == 1:
        return run_dir / MODELS_DIR / names[0]
    raise ExportError(run_dir / MODELS_DIR, f"several exports {names}: choose one (--model NAME)")


def _read_manifest(folder: Path) -> tuple[bytes, dict[str, Any]]:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ExportError(folder, "no such export folder")
    if not path.is_file():
        raise ExportError(path, "missing: not an export folder (export_model writes it last)")
    raw = path.read_bytes()
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExportError(path, f"not valid JSON ({e})") from None
    if not isinstance(info, dict):
        raise ExportError(path, f"expected a JSON object, got {type(info).__name__}")
    if info.get("format") != EXPORT_FORMAT:
        raise ExportError(path, f"format {info.get('format')!r}, expected {EXPORT_FORMAT!r}")
    files = info.get("files")
    ok = isinstance(files, dict) and all(
        isinstance(v, dict) and isinstance(v.get("bytes"), int) and isinstance(v.get("sha256"), str)
        for v in files.values()
    )
    if not ok:
        raise ExportError(path, "'files' must map each file to its 'bytes' and 'sha256'")
    return raw, info


def _check_files(folder: Path, info: dict[str, Any]) -> None:
    recorded = info["files"]
    present = {p.relative_to(folder).as_posix() for p in _files(folder)}
    missing = sorted(set(recorded) - present)
    if missing:
        raise ExportError(folder / missing[0], f"missing (listed in {MANIFEST})")
    extra = sorted(present - set(recorded))
    if extra:
        raise ExportError(
            folder / extra[0], f"not listed in {MANIFEST} (the folder was changed after export)"
        )
    for rel in sorted(recorded):
        p = folder / rel
        size = p.stat().st_size
        if size != recorded[rel]["bytes"]:
            raise ExportError(
                p,
                f"{size} bytes, {MANIFEST} records {recorded[rel]['bytes']} (changed after export)",
            )
        digest = _sha256(p)
        if digest != recorded[rel]["sha256"]:
            raise ExportError(
                p,
                f"sha256 {digest[:16]}... differs from {recorded[rel]['sha256'][:16]}... recorded "
                f"in {MANIFEST} (changed after export)",
            )
    for required in (SERVING, FALLBACK, HISTORY, f"{MODEL_SUBDIR}/model.json"):
        if required not in recorded:
            raise ExportError(folder / required, f"missing (an export needs it; not in {MANIFEST})")


def _load_history(path: Path, shape: tuple[int, int]) -> sp.csr_matrix:
    try:
        with np.load(path, allow_pickle=False) as z:
            got = tuple(int(x) for x in z["shape"])
            m = sp.csr_matrix((z["data"], z["indices"], z["indptr"]), shape=got)
        m.check_format(full_check=True)
    except (ValueError, KeyError, OSError) as e:
        raise ExportError(path, f"not a readable sparse matrix ({type(e).__name__}: {e})") from None
    if m.shape != shape:
        raise ExportError(path, f"shape {m.shape}, the model has {shape} customers x products")
    if not np.isfinite(m.data).all():
        raise ExportError(path, "holds non-finite values")
    return sp.csr_matrix(m, dtype=np.float32)


def load_export(folder: str | os.PathLike, attempts: int = 3) -> ExportedModel:
    """Read and check an export written by :func:`export_model`.

    Checks, in order: the manifest (format, file list), that the folder holds exactly the listed
    files with their recorded sizes and sha256, ``serving.json`` against :class:`ServingSpec`, the
    model (``Recommender.load`` with its own checks), the training matrix's shape, the fallback's
    product ids; and finally that the manifest did not change while the folder was read. A read
    that failed because a new export replaced the folder meanwhile is tried again (up to
    ``attempts`` times).

    Raises
    ------
    ExportError
        The message names the file and what is wrong with it.
    """
    folder = Path(folder)
    for attempt in range(attempts):
        raw = (folder / MANIFEST).read_bytes() if (folder / MANIFEST).is_file() else None
        try:
            return _load_export(folder)
        except ExportError:
            now = (folder / MANIFEST).read_bytes() if (folder / MANIFEST).is_file() else None
            if raw is None or now == raw or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _load_export(folder: Path) -> ExportedModel:
    raw, info = _read_manifest(folder)
    _check_files(folder, info)
    try:
        spec = ServingSpec.model_validate(read_json(folder / SERVING))
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}" for err in e.errors()
        )
        raise ExportError(folder / SERVING, f"not a valid serving spec: {problems}") from None
    except ValueError as e:
        raise ExportError(folder / SERVING, f"not a valid serving spec: {e}") from None
    try:
        model = Recommender.load(folder / MODEL_SUBDIR)
    except ModelFileError as e:
        raise ExportError(e.path, e.problem) from None
    if model.name != spec.model:
        raise ExportError(
            folder / SERVING, f"names model {spec.model!r}, the saved model is {model.name!r}"
        )
    history = _load_history(folder / HISTORY, (model.n_customers_, model.n_products_))
    try:
        fb = read_json(folder / FALLBACK)
        ids = fb["product_ids"]
        if not isinstance(ids, list):
            raise TypeError("product_ids is not a list")
    except (ValueError, KeyError, TypeError) as e:
        raise ExportError(folder / FALLBACK, f"not a fallback list ({e})") from None
    fallback = model.product_indices(ids) if ids else np.zeros(0, np.int64)
    if (fallback < 0).any():
        bad = [ids[i] for i in np.flatnonzero(fallback < 0)[:3]]
        raise ExportError(folder / FALLBACK, f"names product(s) {bad} the model does not know")
    if len(np.unique(fallback)) != len(fallback):
        raise ExportError(folder / FALLBACK, "lists a product twice")
    if (folder / MANIFEST).read_bytes() != raw:
        raise ExportError(
            folder / MANIFEST,
            "changed while the export was read (a new export was written meanwhile); load again",
        )
    return ExportedModel(
        folder=folder,
        version=hashlib.sha256(raw).hexdigest()[:12],
        manifest=info,
        spec=spec,
        model=model,
        history=history,
        fallback=fallback,
    )


def _serve_path(run: Path) -> str:
    """``reports/<run>`` for a run folder in a ``reports/`` folder (the command as typed in the
    project folder), else the run folder's full path."""
    run = run.resolve()
    return f"reports/{run.name}" if run.parent.name == "reports" else run.as_posix()


def describe_export(folder: str | os.PathLike, run_dir: str | os.PathLike | None = None) -> str:
    """What was exported and how to serve it, in plain language (for the stage report)."""
    e = load_export(folder)
    spec = e.spec
    where = Path(folder)
    run = Path(run_dir) if run_dir is not None else where.parent.parent
    updates = {
        "rescored": "a new event rescores the customer's list at once (for a customer the service "
        "has never seen too)",
        "excluded_only": "a new event only takes the product out of the customer's list; this "
        "model cannot fold a new history in, so its scores change at the next training",
        "none": "the model is not personal, so new events wait for the next training",
    }[spec.history_updates]
    size = sum(v["bytes"] for v in e.manifest["files"].values()) / 2**20
    return (
        f"The chosen model, **{spec.label}**, fitted on the whole training period, is exported to "
        f"`{where.relative_to(run).as_posix() if where.is_relative_to(run) else where}` "
        f"({size:.1f} MB, version `{e.version}`): the model's files, its training history, the "
        f"fallback for customers without history (the {min(len(e.fallback), 3)} most popular "
        f"products first) and a manifest with the checksum of every file. "
        f"`python -m recnb serve {_serve_path(run)}` answers requests with it; {updates}. "
        + (
            "It explains its recommendations."
            if spec.can_explain
            else f"It cannot explain its recommendations ({spec.explain_note})."
        )
    )
