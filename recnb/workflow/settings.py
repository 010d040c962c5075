"""Typed settings: the value rules of every stage's params section, one model per stage.

Each stage notebook declares its parameters (names, types, defaults) in its ``parameters`` cell;
:mod:`recnb.workflow.params` checks names and types against that cell. This module adds what a cell
cannot say: the allowed *values* (ranges, choices, cross-key rules such as ``k`` in ``k_values``,
model names and hyperparameters from :mod:`recnb.models.registry`), so that ``python -m recnb
check`` and ``run`` stop before any stage starts, with a message naming the file, the key and what
is allowed. A stage whose library code is configured by a typed object reuses it: stage 02's model
is :class:`recnb.prep.settings.PrepSettings` registered as a stage, so names, defaults and ranges
have one source.

A stage registers its model with :func:`register_stage`, together with the run-folder artefacts it
reads and writes (used by the runner to tell a stale stage from a current one)::

    @register_stage("04_fairness", reads=("dataset", "split"))
    class FairnessSettings(StageSettings):
        min_group_size: int = Field(10, ge=1)

The model's fields must be the notebook's parameters (minus ``params_file`` and ``run_dir``) with
the same defaults; ``tests/test_settings.py`` checks that for every registered stage.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recnb.evaluation.reference import REFERENCE_TABLES
from recnb.experiments.stage import StudySettings
from recnb.metrics import RANKING_METRICS
from recnb.prep.settings import PrepSettings

__all__ = [
    "ARTEFACTS",
    "ENGINES",
    "STAGES",
    "AbSimulationSettings",
    "DataUnderstandingSettings",
    "FairnessBiasSettings",
    "ContextSettings",
    "ModelComparisonSettings",
    "MonitoringSettings",
    "PreprocessingSettings",
    "StageSettings",
    "StageSpec",
    "register_stage",
    "stage_spec",
    "validation_messages",
]

#: run-folder artefacts a stage can read: name -> folder inside the run folder. ``dataset`` is the
#: scrubbed data cache (built by whichever stage first asks for it); the others are written by a
#: stage (its ``writes``), and a later stage that lists one in ``reads`` depends on that stage.
ARTEFACTS: dict[str, str] = {
    "dataset": "data",
    "split": "split",
    "model_comparison": "results/03_model_comparison",
}


class StageSettings(BaseModel):
    """Base of the per-stage settings models: unknown keys and type coercion are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)

    #: keys whose notebook default depends on another key the user set; filled by validators and
    #: injected by the runner although the params file does not name them
    adjusted: ClassVar[tuple[str, ...]] = ()

    def notebook_values(self) -> dict[str, Any]:
        """The values the runner passes to the notebook: the keys the params file sets, plus the
        keys a validator adjusted to them (see :attr:`adjusted`)."""
        keys = set(self.model_fields_set) | {
            k
            for k in self.adjusted
            if getattr(self, k) != type(self).model_fields[k].get_default(call_default_factory=True)
        }
        return {k: getattr(self, k) for k in type(self).model_fields if k in keys}


@dataclass(frozen=True)
class StageSpec:
    """One registered stage.

    Attributes
    ----------
    name : str
        Stage (notebook) name, e.g. ``"02_preprocessing"``.
    settings : type of StageSettings
        Its params-section model.
    reads : tuple of str
        Artefacts (keys of :data:`ARTEFACTS`) the stage reads.
    writes : tuple of str
        Artefacts the stage writes (a later stage that reads one depends on this stage).
    """

    name: str
    settings: type[StageSettings]
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()


#: stage name -> spec (filled by :func:`register_stage`)
STAGES: dict[str, StageSpec] = {}


def register_stage(
    name: str, reads: tuple[str, ...] = (), writes: tuple[str, ...] = ()
) -> Callable[[type[StageSettings]], type[StageSettings]]:
    """Class decorator: register the settings model of stage ``name``."""
    for a in (*reads, *writes):
        if a not in ARTEFACTS:
            raise ValueError(f"stage {name!r}: unknown artefact {a!r}; known: {list(ARTEFACTS)}")

    def deco(cls: type[StageSettings]) -> type[StageSettings]:
        if not (isinstance(cls, type) and issubclass(cls, StageSettings)):
            raise TypeError(f"register_stage({name!r}): {cls!r} is not a StageSettings model")
        STAGES[name] = StageSpec(name, cls, tuple(reads), tuple(writes))
        return cls

    return deco


def stage_spec(stage: str) -> StageSpec | None:
    """The registered spec of ``stage``, or None for a notebook without a settings model."""
    return STAGES.get(stage)


def validation_messages(err: ValidationError, prefix: str) -> list[str]:
    """One line per pydantic error: ``key '<prefix>.<path>': <message>, got <value>``."""
    out = []
    for e in err.errors(include_url=False):
        if not e["loc"]:  # a cross-key rule: its message names its keys relative to the section
            msg = str(e["msg"]).removeprefix("Value error, ")
            out.append(msg.replace("key '", f"key '{prefix}."))
            continue
        path = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        got = e.get("input")
        tail = "" if e["type"] in ("value_error", "missing") else f", got {got!r}"
        out.append(f"key '{path}': {msg}{tail}")
    return out


# ----------------------------------------------------------------------------------------------
# 01 data understanding
# ----------------------------------------------------------------------------------------------


@register_stage("01_data_understanding", reads=("dataset",))
class DataUnderstandingSettings(StageSettings):
    """``data_understanding:`` section."""

    top_categories: int = Field(15, ge=1)
    min_group_size: int = Field(10, ge=1)


# ----------------------------------------------------------------------------------------------
# 02 preprocessing
# ----------------------------------------------------------------------------------------------


#: where stage 02 builds the split: ``memory`` (:func:`recnb.prep.split.build_split`) or ``spark``
#: (:func:`recnb.backends.spark.stage.build_split_spark`: same split, heavy part on Spark)
ENGINES: tuple[str, ...] = ("memory", "spark")


@register_stage("02_preprocessing", reads=("dataset",), writes=("split",))
class PreprocessingSettings(StageSettings, PrepSettings):
    """``preprocessing:`` section: :class:`recnb.prep.settings.PrepSettings` (every key, its default
    and its allowed values) as a stage; the notebook builds one from its parameters cell
    (:meth:`recnb.workflow.stage.StageContext.parameters`) and passes it to ``clean`` and
    :func:`recnb.workflow.engines.build_split_on_engine`.

    Beside the preprocessing settings, where the split runs:

    Attributes
    ----------
    engine : {"memory", "spark"}
        ``"spark"``: the signal, the split, the training filters and the aggregation run on Apache
        Spark (the ``spark`` extra and Java 17+; split kinds ``temporal`` and ``stratified``); the
        saved split is the same as in memory.
    spark_master : str or None
        ``spark.master`` of the session (``local[2]``, ``spark://host:7077``, ``yarn``,
        ``k8s://...``; checked); None: ``spark.master`` in ``spark_conf``, else ``local[2]``, or
        spark-submit's master under spark-submit. The environment variable
        ``RECNB_SPARK_MASTER`` overrides it (:func:`recnb.backends.spark.session.resolve_master`).
    spark_conf : dict of str -> str, number or bool
        Further Spark settings (``spark.executor.memory``, ...), over recnb's defaults
        (:data:`recnb.backends.spark.session.DEFAULT_CONF`); keys must start with ``spark.``.
    """

    engine: Literal[*ENGINES] = "memory"  # type: ignore[valid-type]
    spark_master: str | None = None
    spark_conf: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _engine(self) -> PreprocessingSettings:
        if self.engine != "spark":
            if self.spark_master is not None or self.spark_conf:
                raise ValueError(
                    "key 'spark_master' / 'spark_conf' set but key 'engine' is "
                    f"{self.engine!r}: they apply to engine: spark only"
                )
            return self
        from recnb.backends.spark.prep import SPARK_SPLIT_KINDS
        from recnb.backends.spark.session import check_master, check_spark_conf

        if self.spark_master is not None:
            check_master(self.spark_master, "key 'spark_master'")
        conf = check_spark_conf(self.spark_conf, "key 'spark_conf'")
        in_conf = conf.get("spark.master")
        if (
            in_conf is not None
            and self.spark_master is not None
            and in_conf != self.spark_master.strip()
        ):
            raise ValueError(
                f"key 'spark_master' is {self.spark_master!r} but key 'spark_conf' sets "
                f"spark.master to {in_conf!r}: give the master once"
            )

        if self.split_kind not in SPARK_SPLIT_KINDS:
            raise ValueError(
                f"key 'split_kind' {self.split_kind!r} is not available with key 'engine' spark; "
                f"it runs {list(SPARK_SPLIT_KINDS)} (engine: memory runs every kind)"
            )
        if importlib.util.find_spec("pyspark") is None:
            raise ValueError(
                "key 'engine' is spark but pyspark is not installed: pip install -e '.[spark]' "
                "(make reports installs it when the params file says engine: spark)"
            )
        return self


# ----------------------------------------------------------------------------------------------
# 03 model comparison
# ----------------------------------------------------------------------------------------------


def _registry() -> Mapping[str, Any]:
    from recnb.models.registry import REGISTRY

    load_backend_models()
    return REGISTRY


def load_backend_models() -> None:
    """Register the models that live in :mod:`recnb.backends` (``spark_als``).

    The model catalogue (:mod:`recnb.models.catalog`) lists only the modules of
    :mod:`recnb.models`, which may not import the backends above them; the workflow, which may,
    imports them here so that a params file can name them. Importing needs no optional dependency
    (pyspark is imported when a Spark model is fitted).
    """
    import recnb.backends.spark.als  # noqa: F401  (registers spark_als)


def _build(model: str, params: Mapping[str, Any], where: str) -> None:
    """Construct the model to run its own hyperparameter checks; re-raise naming ``where``."""
    from recnb.models.registry import make_model

    load_backend_models()

    try:
        m = make_model(model, **params)
        # scikit-learn style: __init__ only stores, fit() checks; run fit's checks now
        m._check_common_params()
        m._check_params()
    except (TypeError, ValueError, KeyError) as e:
        msg = str(e.args[0]) if e.args else str(e)
        raise ValueError(f"{where}: {msg}") from None


@register_stage("03_model_comparison", reads=("dataset", "split"), writes=("model_comparison",))
class ModelComparisonSettings(StageSettings):
    """``model_comparison:`` section.

    Model labels are registry names (:data:`recnb.models.registry.REGISTRY`) or labels whose
    ``model_params`` entry names a registered model under ``model``. When the params file gives
    ``models`` but not ``model_params`` / ``search_space`` / ``n_trials_per_model``, the notebook's
    defaults for those keys are kept only for the listed models.
    """

    adjusted: ClassVar[tuple[str, ...]] = ("model_params", "search_space", "n_trials_per_model")

    models: list[str] = Field(
        default_factory=lambda: [
            "random",
            "popularity",
            "trending",
            "item_knn",
            "user_knn",
            "content",
            "pure_svd",
            "als",
            "bpr",
            "lightfm_warp",
            "lightfm_warp_cf",
            "ease",
            "mult_vae",
        ],
        min_length=1,
    )
    model_params: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {
            "lightfm_warp": {"epochs": 6},
            "lightfm_warp_cf": {"model": "lightfm_warp", "use_features": False},
            "mult_vae": {"epochs": 10, "hidden_dim": 300, "latent_dim": 100},
        }
    )
    search_space: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {
            "item_knn": {
                "n_neighbors": {"low": 20, "high": 400, "log": True},
                "shrinkage": {"low": 0.0, "high": 100.0},
                "weighting": ["none", "bm25"],
            },
            "user_knn": {
                "n_neighbors": {"low": 20, "high": 400, "log": True},
                "shrinkage": {"low": 0.0, "high": 100.0},
                "weighting": ["none", "bm25"],
            },
            "pure_svd": {
                "n_factors": {"low": 16, "high": 256, "log": True},
                "binarize": [True, False],
            },
            "als": {
                "factors": {"low": 16, "high": 128, "log": True},
                "regularization": {"low": 0.01, "high": 100.0, "log": True},
                "alpha": {"low": 0.5, "high": 50.0, "log": True},
            },
            "bpr": {
                "factors": {"low": 16, "high": 128, "log": True},
                "learning_rate": {"low": 0.001, "high": 0.1, "log": True},
                "regularization": {"low": 0.0001, "high": 0.1, "log": True},
            },
            "ease": {"l2": {"low": 10.0, "high": 5000.0, "log": True}},
        }
    )
    n_trials: int = Field(10, ge=0)
    n_trials_per_model: dict[str, int] = Field(
        default_factory=lambda: {"user_knn": 6, "bpr": 6, "ease": 6}
    )
    tuning_method: Literal["tpe", "random"] = "tpe"
    tuning_max_customers: int | None = Field(5000, ge=1)
    metric: str = "ndcg"
    k: int = Field(10, ge=1)
    k_values: list[int] = Field(default_factory=lambda: [5, 10, 20], min_length=1)
    leaderboard_metrics: list[str] = Field(
        default_factory=lambda: ["ndcg", "precision", "recall", "map_min"]
    )
    n_bootstrap: int = Field(1000, ge=1)
    alpha: float = Field(0.05, gt=0, lt=1)
    max_customers: int | None = Field(None, ge=1)
    baseline: str | None = "popularity"
    n_sample_customers: int = Field(3, ge=0)
    products_table: bool = True
    min_group_size: int = Field(10, ge=1)
    reference_table: str | None = None
    n_jobs: int = Field(2, ge=1)
    tuning_pruning: bool = True
    tuning_patience: int | None = Field(3, ge=1)
    validation_folds_per_model: dict[str, int] = Field(default_factory=dict)

    @field_validator("reference_table")
    @classmethod
    def _reference_table(cls, v: str | None) -> str | None:
        if v is not None and v not in REFERENCE_TABLES:
            raise ValueError(
                f"unknown reference table {v!r}; allowed: {sorted(REFERENCE_TABLES)} (null for none)"
            )
        return v

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str) -> str:
        if v not in RANKING_METRICS:
            raise ValueError(f"unknown metric {v!r}; allowed: {list(RANKING_METRICS)}")
        return v

    @field_validator("leaderboard_metrics")
    @classmethod
    def _leaderboard_metrics(cls, v: list[str]) -> list[str]:
        bad = [m for m in v if m not in RANKING_METRICS]
        if bad:
            raise ValueError(f"unknown metric(s) {bad}; allowed: {list(RANKING_METRICS)}")
        return v

    @field_validator("k_values")
    @classmethod
    def _k_values(cls, v: list[int]) -> list[int]:
        bad = [x for x in v if x < 1]
        if bad:
            raise ValueError(f"list lengths must be >= 1, got {bad}")
        return v

    @model_validator(mode="after")
    def _cross(self) -> ModelComparisonSettings:
        given = self.model_fields_set
        if self.k not in self.k_values:
            raise ValueError(
                f"key 'k' ({self.k}) must be one of the reported list lengths "
                f"'k_values' {self.k_values}"
            )
        labels = list(self.models)
        dup = sorted({m for m in labels if labels.count(m) > 1})
        if dup:
            raise ValueError(f"key 'models' lists {dup} more than once; give each its own label")
        # notebook defaults the user never wrote apply only to the models the user listed
        for key in self.adjusted:
            if key not in given and "models" in given:
                kept = {lbl: v for lbl, v in getattr(self, key).items() if lbl in labels}
                object.__setattr__(self, key, kept)
        registry = _registry()
        known = sorted(registry)
        algo: dict[str, str] = {}
        for lbl in labels:
            params = dict(self.model_params.get(lbl) or {})
            name = params.pop("model", lbl)
            if not isinstance(name, str) or name not in registry:
                if "model" in (self.model_params.get(lbl) or {}):  # a label naming its model
                    raise ValueError(
                        f"key 'model_params.{lbl}.model': unknown model {name!r}; "
                        f"registered models are {known}"
                    )
                raise ValueError(
                    f"key 'models': unknown model {lbl!r}; registered models are {known} "
                    f"(a label of your own needs a model_params entry with a 'model' key)"
                )
            algo[lbl] = name
        for key in (
            "model_params",
            "search_space",
            "n_trials_per_model",
            "validation_folds_per_model",
        ):
            extra = [lbl for lbl in getattr(self, key) if lbl not in labels]
            if extra:
                raise ValueError(
                    f"key '{key}' has entries {extra} for models not in 'models' {labels}"
                )
        for lbl, name in algo.items():
            params = {k: v for k, v in (self.model_params.get(lbl) or {}).items() if k != "model"}
            _check_hyperparameters(name, params, f"model_params.{lbl}")
            _build(name, params, f"key 'model_params.{lbl}'")
        for lbl, space in self.search_space.items():
            _check_space(algo[lbl], dict(self.model_params.get(lbl) or {}), space, lbl)
        for lbl, n in self.n_trials_per_model.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValueError(f"key 'n_trials_per_model.{lbl}': must be an int >= 0, got {n!r}")
        for lbl, n in self.validation_folds_per_model.items():
            if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                raise ValueError(
                    f"key 'validation_folds_per_model.{lbl}': must be an int >= 1, got {n!r}"
                )
        if "baseline" in given and self.baseline is not None and self.baseline not in labels:
            raise ValueError(
                f"key 'baseline': {self.baseline!r} is not one of the compared models {labels} "
                "(null for no baseline)"
            )
        return self


# ----------------------------------------------------------------------------------------------
# 04 fairness, bias and transparency
# ----------------------------------------------------------------------------------------------


@register_stage("04_fairness_bias", reads=("dataset", "split", "model_comparison"))
class FairnessBiasSettings(StageSettings):
    """``fairness_bias:`` section (notebook ``04_fairness_bias``).

    The list length and primary metric are stage 03's (read from its results); the models are the
    ones stage 03 compared, so ``mitigation_models`` is checked against them when the stage runs.
    """

    attributes: list[str] | None = None
    min_group_size: int = Field(10, ge=2)
    n_bootstrap: int = Field(1000, ge=1)
    n_permutations: int = Field(1000, ge=1)
    alpha: float = Field(0.05, gt=0, lt=1)
    n_candidates: int = Field(100, ge=1)
    mitigation_models: list[str] | None = None
    strengths: list[float] = Field(
        default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0], min_length=1
    )
    fair_proportions: list[float] = Field(
        default_factory=lambda: [0.0, 0.2, 0.4, 0.6], min_length=1
    )
    max_ndcg_loss: float = Field(0.05, ge=0, lt=1)
    n_simulated_lists: int = Field(2000, ge=0)
    explain_customers: int = Field(30, ge=1)
    stability_models: list[str] | None = None
    decorrelate: bool = True
    n_jobs: int = Field(2, ge=1)

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, v: list[str] | None) -> list[str] | None:
        from recnb.fairness.groups import ATTRIBUTES

        if v is not None:
            bad = [a for a in v if a not in ATTRIBUTES]
            if bad:
                raise ValueError(
                    f"unknown customer attribute(s) {bad}; allowed: {list(ATTRIBUTES)}"
                )
        return v

    @field_validator("strengths", "fair_proportions")
    @classmethod
    def _unit(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if not 0.0 <= x <= 1.0]
        if bad:
            raise ValueError(f"values must lie in [0, 1], got {bad}")
        return v


def _check_hyperparameters(model: str, params: Mapping[str, Any], where: str) -> None:
    from recnb.models.registry import hyperparameters

    allowed = hyperparameters(model)
    for name in params:
        if name not in allowed:
            raise ValueError(
                f"key '{where}.{name}': not a hyperparameter of model {model!r}; "
                f"allowed: {sorted(allowed)}"
            )


def _check_space(model: str, fixed: dict[str, Any], space: Any, label: str) -> None:
    """The space parses, and the model accepts both ends of every range and every choice."""
    from recnb.evaluation.tuning import parse_space  # optuna: imported when a space is checked

    fixed.pop("model", None)
    try:
        dims = parse_space(model, space, label)
    except ValueError as e:
        raise ValueError(f"key 'search_space.{label}': {e}") from None
    for d in dims:
        where = f"key 'search_space.{label}.{d.name}'"
        points = list(d.choices or ()) if d.kind == "categorical" else [d.low, d.high]
        for p in points:
            if isinstance(p, float) and not math.isfinite(p):
                raise ValueError(f"{where}: bounds must be finite, got {p}")
            _build(model, {**fixed, d.name: p}, f"{where} (value {p!r})")


# ----------------------------------------------------------------------------------------------
# 05 A/B simulation
# ----------------------------------------------------------------------------------------------


@register_stage("05_ab_simulation", reads=("dataset", "split", "model_comparison"))
class AbSimulationSettings(StageSettings, StudySettings):
    """``ab_simulation:`` section: :class:`recnb.experiments.stage.StudySettings` (every key, its
    default and its allowed values) as a stage; the notebook builds one from its parameters cell
    and passes it to :func:`recnb.experiments.stage.run_shop_study` (synthetic shop) or
    :func:`recnb.experiments.stage.run_log_study` (real logs)."""


# 06 context, cold start, repeat purchases, dynamic updates
# ----------------------------------------------------------------------------------------------

CONTEXT_DIMENSIONS: tuple[str, ...] = ("device", "location", "daypart", "weekend")


@register_stage("06_context", reads=("dataset",))
class ContextSettings(StageSettings):
    """``context:`` section (the logic is :mod:`recnb.context`; :func:`recnb.context.stage.run_studies`
    reads these values)."""

    test_days: float = Field(14.0, gt=0)
    valid_days: float = Field(7.0, gt=0)
    event_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "click": 2.0,
            "wishlist": 3.0,
            "add_to_cart": 4.0,
            "purchase": 8.0,
            "rating": 5.0,
        }
    )
    base_model: str = "item_knn"
    base_params: dict[str, Any] = Field(default_factory=dict)
    dimensions: list[str] = Field(
        default_factory=lambda: ["device", "daypart", "location"], min_length=1
    )
    k: int = Field(10, ge=1)
    weight_grid: list[float] = Field(default_factory=lambda: [0.0, 0.5, 1.0, 2.0], min_length=1)
    lightfm: bool = True
    lightfm_epochs: int = Field(10, ge=1)
    lightfm_components: int = Field(32, ge=1)
    lightfm_context_weight: float = Field(0.1, gt=0)
    cold_share: float = Field(0.1, gt=0, lt=1)
    repeat_aware: bool = True
    repeat_half_life_days: float = Field(30.0, gt=0)
    rolling_steps: int = Field(7, ge=1)
    rolling_step_days: float = Field(2.0, gt=0)
    als_factors: int = Field(64, ge=1)
    als_regularization: float = Field(10.0, gt=0)
    als_iterations: int = Field(15, ge=1)
    trend_days: float = Field(7.0, gt=0)
    n_bootstrap: int = Field(1000, ge=1)
    alpha: float = Field(0.05, gt=0, lt=1)
    min_requests: int = Field(30, ge=1)

    @field_validator("dimensions")
    @classmethod
    def _dimensions(cls, v: list[str]) -> list[str]:
        bad = [d for d in v if d not in CONTEXT_DIMENSIONS]
        if bad:
            raise ValueError(
                f"unknown context dimension(s) {bad}; allowed: {list(CONTEXT_DIMENSIONS)}"
            )
        if len(set(v)) != len(v):
            raise ValueError(f"a context dimension is listed twice: {v}")
        return v

    @field_validator("event_weights")
    @classmethod
    def _event_weights(cls, v: dict[str, float]) -> dict[str, float]:
        from recnb.prep.weighting import check_event_weights

        check_event_weights(v)
        return v

    @field_validator("weight_grid")
    @classmethod
    def _weight_grid(cls, v: list[float]) -> list[float]:
        bad = [w for w in v if not (math.isfinite(w) and w >= 0)]
        if bad:
            raise ValueError(f"post-filter weights must be finite and >= 0, got {bad}")
        return v

    @model_validator(mode="after")
    def _cross(self) -> ContextSettings:
        if self.rolling_steps * self.rolling_step_days > self.test_days:
            raise ValueError(
                f"key 'rolling_steps' x 'rolling_step_days' ({self.rolling_steps} x "
                f"{self.rolling_step_days:g} days) must fit in 'test_days' ({self.test_days:g})"
            )
        registry = _registry()
        if self.base_model not in registry:
            raise ValueError(
                f"key 'base_model': unknown model {self.base_model!r}; registered models are "
                f"{sorted(registry)}"
            )
        _check_hyperparameters(self.base_model, self.base_params, "base_params")
        _build(self.base_model, dict(self.base_params), "key 'base_params'")
        return self


# 07 monitoring
# ----------------------------------------------------------------------------------------------


def _check_model_spec(spec: Any, where: str) -> None:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("model"), str):
        raise ValueError(f"key '{where}': expected a mapping with a 'model' name, got {spec!r}")
    registry = _registry()
    if spec["model"] not in registry:
        raise ValueError(
            f"key '{where}.model': unknown model {spec['model']!r}; registered models are "
            f"{sorted(registry)}"
        )
    params = {k: v for k, v in spec.items() if k != "model"}
    _check_hyperparameters(spec["model"], params, where)
    _build(spec["model"], params, f"key '{where}'")


@register_stage("07_monitoring", reads=("dataset",))
class MonitoringSettings(StageSettings):
    """``monitoring:`` section (see :mod:`recnb.monitoring` and notebook 07)."""

    reference_days: int = Field(28, ge=2)
    alert_rate: float = Field(0.002, gt=0.0, lt=0.5)
    smoothing_eps: float = Field(0.0001, ge=0.0, le=0.01)
    new_customer_days: int = Field(30, ge=1)
    drill_shift_day: int | None = Field(60, ge=1)
    warmup_days: int = Field(28, ge=1)
    period_days: int = Field(7, ge=1)
    retrain_every: int = Field(2, ge=1)
    max_periods: int = Field(12, ge=2)
    k: int = Field(10, ge=1)
    champion: dict[str, Any] = Field(
        default_factory=lambda: {"model": "als", "factors": 32, "iterations": 10}
    )
    challengers: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {
            "als_regularized": {
                "model": "als",
                "factors": 32,
                "iterations": 10,
                "regularization": 30.0,
            },
            "item_knn": {"model": "item_knn"},
            "popularity": {"model": "popularity"},
        }
    )
    group_column: str | None = "age_band"
    min_group_size: int = Field(30, ge=1)
    noninferiority_margin: float = Field(0.05, ge=0.0, lt=1.0)
    fairness_margin: float = Field(0.02, ge=0.0, le=1.0)
    fairness_alert_margin: float = Field(0.02, ge=0.0, le=1.0)
    ab_days: int = Field(14, ge=1)
    n_boot: int = Field(200, ge=10)

    @model_validator(mode="after")
    def _cross(self) -> MonitoringSettings:
        _check_model_spec(self.champion, "champion")
        if not self.challengers:
            raise ValueError("key 'challengers': give at least one challenger")
        for name, spec in self.challengers.items():
            if name == "champion":
                raise ValueError("key 'challengers': the name 'champion' is reserved")
            _check_model_spec(spec, f"challengers.{name}")
        return self
