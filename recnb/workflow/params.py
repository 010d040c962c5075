"""Run parameters: load a ``params/<name>.yaml`` file and validate every key.

A params file holds one run: shared keys (``run_name``, ``seed``, ``data``, ``stages``) and one section per
stage, named after the stage's notebook without its number (``data_understanding:`` for
``01_data_understanding.ipynb``). A section's keys must be names from that notebook's ``parameters`` cell
(read with :func:`papermill.inspect_notebook`), with values of the declared type. Papermill itself only warns
on an unknown parameter; here an unknown or mistyped key stops the run with an error naming the key, the
file and the allowed keys.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from recnb.prep.settings import MAX_SEED
from recnb.workflow.settings import stage_spec, validation_messages

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"

RESERVED_PARAMETERS = ("params_file", "run_dir")
"""Parameters every stage notebook has, set by the runner (never in a params section)."""

SOURCES = (
    "synthetic",
    "online_retail",
    "movielens",
    "retailrocket",
    "rees46",
    "taobao",
    "csv",
    "events_db",
)

_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # used with fullmatch: no trailing newline


class ParamsError(ValueError):
    """A params file is missing, unreadable or holds an unknown or mistyped key."""


@dataclass(frozen=True)
class DataSettings:
    """Where the run's data comes from.

    Attributes
    ----------
    source : str
        ``"synthetic"`` (the embedded shop) or a real loader name (see :data:`SOURCES`).
    path : str or None
        File or folder of a real source; ``None`` means ``$RECNB_DATA_DIR/<folder>``. A relative
        path is taken relative to the params file; ``~`` and ``$VARS`` are expanded.
    options : dict
        Keyword options passed to the loader (for example ``returns: drop`` for Online Retail).
    synthetic : dict
        :class:`recnb.data.synthetic.ShopConfig` fields for the synthetic shop (sizes, days...).
    pseudonym_key : str or None
        Key for customer pseudonyms. Prefer the ``RECNB_PSEUDONYM_KEY`` environment variable; never
        commit a real key. The synthetic shop may use the documented demo key.
    """

    source: str = "synthetic"
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    synthetic: dict[str, Any] = field(default_factory=dict)
    pseudonym_key: str | None = None


@dataclass(frozen=True)
class Settings:
    """A validated params file."""

    run_name: str
    seed: int
    data: DataSettings
    stages: tuple[str, ...]
    sections: dict[str, dict[str, Any]]
    description: str = ""
    source_file: Path | None = None
    typed: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def section(self, stage: str) -> dict[str, Any]:
        """Parameters of one stage as the params file gives them (``"02_preprocessing"`` or
        ``"preprocessing"``)."""
        return dict(self.sections.get(section_name(stage), {}))

    def stage_settings(self, stage: str) -> Any:
        """The validated :class:`recnb.workflow.settings.StageSettings` of a stage (None when the stage has
        no registered settings model)."""
        return self.typed.get(section_name(stage))

    def notebook_values(self, stage: str) -> dict[str, Any]:
        """What the runner injects into a stage notebook: the params file's values, plus the
        notebook defaults a settings model adjusted to them (e.g. ``model_params`` kept only for
        the listed ``models``)."""
        given = self.section(stage)
        typed = self.stage_settings(stage)
        if typed is None:
            return given
        adjusted = typed.notebook_values()
        return {**given, **{k: v for k, v in adjusted.items() if k not in given}}

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain data, for the manifest: a pseudonym key is never copied out."""
        data = dataclasses.asdict(self.data)
        if data.get("pseudonym_key") is not None:
            data["pseudonym_key"] = "<set in the params file; not recorded>"
        d = {
            "run_name": self.run_name,
            "seed": self.seed,
            "description": self.description,
            "data": data,
            "stages": list(self.stages),
        }
        d.update({k: dict(v) for k, v in self.sections.items()})
        return d


# ----------------------------------------------------------------------------------------------
# stages and their notebooks
# ----------------------------------------------------------------------------------------------


def available_stages(notebook_dir: Path = NOTEBOOK_DIR) -> tuple[str, ...]:
    """Stage names, from the numbered notebooks in ``notebook_dir``, in order."""
    return tuple(sorted(p.stem for p in notebook_dir.glob("[0-9][0-9]_*.ipynb") if p.is_file()))


def section_name(stage: str) -> str:
    """``"02_preprocessing"`` -> ``"preprocessing"``."""
    return re.sub(r"^\d\d_", "", stage)


#: environment variable through which the runner hands its kernels the parameters cells it has
#: already read (JSON ``{notebook path: {"mtime": ..., "parameters": ...}}``): reading them again
#: in a kernel would import papermill, and with it nbformat and jsonschema (seconds per stage)
INSPECTED_ENV = "RECNB_NOTEBOOK_PARAMETERS"
#: largest value of :data:`INSPECTED_ENV` set (Linux caps one environment string at 128 KiB)
_INSPECTED_MAX = 100_000


@lru_cache(maxsize=64)
def _inspect(path: str, mtime: float) -> dict[str, dict[str, Any]]:
    handed = _handed_over(path, mtime)
    if handed is not None:
        return handed
    import papermill

    return {k: dict(v) for k, v in papermill.inspect_notebook(path).items()}


def _handed_over(path: str, mtime: float) -> dict[str, dict[str, Any]] | None:
    """The parameters of notebook ``path`` as the runner read them (:data:`INSPECTED_ENV`), or
    None when they were not handed over or the notebook changed since (another mtime)."""
    raw = os.environ.get(INSPECTED_ENV)
    if not raw:
        return None
    try:
        entry = json.loads(raw).get(path)
    except (ValueError, AttributeError):
        return None
    if not isinstance(entry, dict) or entry.get("mtime") != mtime:
        return None
    return entry.get("parameters")


def inspected_parameters(notebook_dir: Path = NOTEBOOK_DIR) -> str | None:
    """The parameters cells of every stage notebook (:func:`load_params` reads them all) as the
    value of :data:`INSPECTED_ENV`; None when too long for an environment variable (the kernels
    then read the notebooks themselves)."""
    out = {}
    for stage in available_stages(notebook_dir):
        path = notebook_dir / f"{stage}.ipynb"
        mtime = path.stat().st_mtime
        out[str(path)] = {"mtime": mtime, "parameters": _inspect(str(path), mtime)}
    raw = json.dumps(out)
    return raw if len(raw) <= _INSPECTED_MAX else None


def notebook_parameters(stage: str, notebook_dir: Path = NOTEBOOK_DIR) -> dict[str, dict[str, Any]]:
    """The ``parameters`` cell of a stage notebook: name -> {inferred_type_name, default, help}."""
    path = notebook_dir / f"{stage}.ipynb"
    if not path.exists():
        raise ParamsError(f"stage {stage!r}: notebook {path} not found")
    params = _inspect(str(path), path.stat().st_mtime)
    if not params:
        raise ParamsError(f"{path}: no cell tagged 'parameters'")
    missing = [p for p in RESERVED_PARAMETERS if p not in params]
    if missing:
        raise ParamsError(f"{path}: parameters cell lacks {missing}")
    return params


_TYPE_CHECKS: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def _type_ok(value: Any, type_name: str) -> bool:
    t = type_name.strip().lower()
    optional = False
    m = re.fullmatch(r"(?:optional\[(.+)\]|(.+)\s*\|\s*none|none\s*\|\s*(.+))", t)
    if m:
        optional = True
        t = next(g for g in m.groups() if g).strip()
    if value is None:
        return optional or t in ("none", "nonetype")
    t = re.sub(r"\[.*\]$", "", t)  # list[int] -> list
    if t not in _TYPE_CHECKS:
        return True  # an annotation we do not model: accept
    if isinstance(value, bool) and t in ("int", "float"):
        return False
    return isinstance(value, _TYPE_CHECKS[t])


# ----------------------------------------------------------------------------------------------
# loading
# ----------------------------------------------------------------------------------------------

_TOP_KEYS = ("run_name", "seed", "description", "data", "stages")
_DATA_KEYS = tuple(f.name for f in dataclasses.fields(DataSettings))


def _err(file: Path, msg: str) -> ParamsError:
    return ParamsError(f"{file}: {msg}")


def load_params(path: str | os.PathLike, notebook_dir: Path = NOTEBOOK_DIR) -> Settings:
    """Read and validate a params file.

    Raises
    ------
    ParamsError
        If the file is missing or not YAML, or a key is unknown, missing or of the wrong type. The
        message names the file, the key and the allowed keys.
    """
    file = Path(path)
    if not file.exists():
        raise ParamsError(f"{file}: params file not found")
    if file.is_dir():
        raise ParamsError(f"{file}: is a directory, not a params file (give params/<name>.yaml)")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise _err(
            file, f"not a text file (byte {e.start} is not UTF-8); a params file is YAML text"
        ) from None
    except OSError as e:
        raise _err(file, f"cannot be read ({e.strerror or e})") from None
    if "\x00" in text:
        raise _err(file, "not a text file (it holds NUL bytes); a params file is YAML text")
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise _err(file, f"not valid YAML: {_yaml_problem(e)}") from None
    if not isinstance(raw, dict):
        raise _err(file, "expected a mapping of keys at the top level")

    stages_available = available_stages(notebook_dir)
    section_names = {section_name(s): s for s in stages_available}
    allowed_top = list(_TOP_KEYS) + sorted(section_names)
    for key in raw:
        if key not in allowed_top:
            raise _err(file, f"unknown key {key!r}; allowed keys are {allowed_top}")

    run_name = raw.get("run_name")
    if not isinstance(run_name, str) or not _RUN_NAME.fullmatch(run_name):
        raise _err(
            file,
            f"key 'run_name' must be a folder-safe name (letters, digits, _ . -), got {run_name!r}",
        )
    seed = raw.get("seed", 42)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise _err(file, f"key 'seed' must be an integer in 0..2**32-1 ({MAX_SEED}), got {seed!r}")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _err(file, f"key 'description' must be a string, got {description!r}")

    data_raw = raw.get("data", {}) or {}
    if not isinstance(data_raw, dict):
        raise _err(file, f"key 'data' must be a mapping, got {data_raw!r}")
    for key in data_raw:
        if key not in _DATA_KEYS:
            raise _err(file, f"unknown key 'data.{key}'; allowed keys are {list(_DATA_KEYS)}")
    source = data_raw.get("source", "synthetic")
    if source not in SOURCES:
        raise _err(file, f"key 'data.source' is {source!r}; allowed values are {list(SOURCES)}")
    for key in ("options", "synthetic"):
        if not isinstance(data_raw.get(key, {}) or {}, dict):
            raise _err(file, f"key 'data.{key}' must be a mapping, got {data_raw[key]!r}")
    for key in ("path", "pseudonym_key"):
        v = data_raw.get(key)
        if v is not None and not isinstance(v, str):
            raise _err(file, f"key 'data.{key}' must be a string, got {v!r}")
    synthetic = dict(data_raw.get("synthetic", {}) or {})
    if synthetic:
        _check_shop_keys(file, synthetic)
    data_path = data_raw.get("path")
    if data_path is not None:
        # relative paths are relative to the params file, so a run works from any directory
        expanded = Path(os.path.expandvars(os.path.expanduser(data_path)))
        data_path = str(expanded if expanded.is_absolute() else (file.parent / expanded).resolve())
    data = DataSettings(
        source=source,
        path=data_path,
        options=dict(data_raw.get("options", {}) or {}),
        synthetic=synthetic,
        pseudonym_key=data_raw.get("pseudonym_key"),
    )

    stages_raw = raw.get("stages", list(stages_available))
    if not isinstance(stages_raw, list) or not all(isinstance(s, str) for s in stages_raw):
        raise _err(file, f"key 'stages' must be a list of stage names, got {stages_raw!r}")
    for s in stages_raw:
        if s not in stages_available:
            raise _err(
                file, f"key 'stages': unknown stage {s!r}; available are {list(stages_available)}"
            )

    sections: dict[str, dict[str, Any]] = {}
    typed: dict[str, Any] = {}
    for sec, stage in section_names.items():
        values = raw.get(sec, {}) or {}
        if not isinstance(values, dict):
            raise _err(
                file, f"key {sec!r} must be a mapping of notebook parameters, got {values!r}"
            )
        declared = notebook_parameters(stage, notebook_dir)
        allowed = [p for p in declared if p not in RESERVED_PARAMETERS]
        for key, value in values.items():
            if key in RESERVED_PARAMETERS:
                raise _err(file, f"key '{sec}.{key}' is set by the runner and cannot be given here")
            if key not in declared:
                raise _err(
                    file,
                    f"unknown key '{sec}.{key}' (not a parameter of notebooks/{stage}.ipynb); "
                    f"allowed keys are {allowed}",
                )
            tname = str(declared[key].get("inferred_type_name", "None"))
            if not _type_ok(value, tname):
                hint = ""
                if isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value):
                    hint = " (YAML reads 1e-3 as text: write 1.0e-3)"
                raise _err(
                    file,
                    f"key '{sec}.{key}' must be of type {tname} (default "
                    f"{declared[key].get('default')}), got {value!r} ({type(value).__name__})"
                    + hint,
                )
        sections[sec] = dict(values)
        typed_section = _typed_section(file, sec, stage, values)
        if typed_section is not None:
            typed[sec] = typed_section

    return Settings(
        run_name=run_name,
        seed=seed,
        data=data,
        stages=tuple(stages_raw),
        sections=sections,
        description=description,
        source_file=file.resolve(),
        typed=typed,
    )


def _typed_section(file: Path, sec: str, stage: str, values: dict[str, Any]) -> Any:
    """Validate a section's values with the stage's registered settings model (if any)."""
    spec = stage_spec(stage)
    if spec is None:
        return None
    try:
        return spec.settings(**values)
    except ValidationError as e:
        lines = validation_messages(e, sec)
        raise _err(file, "; ".join(lines)) from None


def _yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error on one line: what is wrong and where."""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    mark = getattr(e, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{context + ': ' if context else ''}{problem}{where}"


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, except that a key given twice in one mapping is an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: let the base class report it
                break
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} on line {line} (first given on line {first}); "
                    "a key may appear once",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _check_shop_keys(file: Path, synthetic: dict[str, Any]) -> None:
    from recnb.data.synthetic import ShopConfig  # numba and the shop: only when a run has one

    names = [f.name for f in dataclasses.fields(ShopConfig)]
    for key in synthetic:
        if key not in names:
            raise _err(file, f"unknown key 'data.synthetic.{key}'; allowed keys are {names}")
    seed = synthetic.get("seed")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
    ):
        raise _err(
            file, f"key 'data.synthetic.seed' must be an integer in 0..2**32-1, got {seed!r}"
        )
    try:
        ShopConfig(**synthetic)
    except (TypeError, ValueError) as e:
        raise _err(file, f"key 'data.synthetic': {e}") from None
