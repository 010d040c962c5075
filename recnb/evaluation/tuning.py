"""Hyperparameter search on the validation split only: fit on ``train_inner``, score on ``valid``.

The test part never enters this module: every function takes the two validation parts as
arguments, so the choice of hyperparameters cannot depend on the customers and items a report is
finally judged on. After the search, the chosen values are refitted on the full training part by
:func:`recnb.evaluation.evaluate.evaluate_models`.

Search space format (the ``search_space`` parameter of notebook 03), per model label::

    search_space:
      als:
        factors: {low: 16, high: 256, log: true}        # int range (both bounds are ints)
        regularization: {low: 0.001, high: 1.0, log: true}  # float range
        alpha: {low: 0.5, high: 40.0}
        iterations: [10, 15, 30]                        # a list: categorical choices
      item_knn:
        n_neighbors: {low: 10, high: 400, step: 10}     # int range on a grid
        weighting: {choices: [none, tfidf, bm25]}       # categorical, long form

``type: int`` / ``type: float`` force the kind of a range. Names must be hyperparameters of the
model; a fixed value belongs in ``model_params``, not here. Samplers: ``"tpe"`` (optuna's
Tree-structured Parzen Estimator, Bayesian) or ``"random"``; both seeded. The model's own
configured values are tried first when they lie inside the space, so the search can only improve
on them (on the validation data). Every trial is recorded: its parameters and score in ``history``,
its wall-clock duration apart in ``timing`` (measured times differ between two runs of the same
params; everything else repeats byte for byte).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import optuna
import pandas as pd
import scipy.sparse as sp

from recnb.data.interactions import Interactions, check_same_ids
from recnb.evaluation.evaluate import (
    ProgressCallback,
    evaluation_customers,
    recommend_topk,
    run_model,
)
from recnb.evaluation.parallel import model_executor, resolve_n_jobs
from recnb.evaluation.specs import ModelSpec
from recnb.metrics import RANKING_METRICS, ranking_metric_arrays
from recnb.models.base import Recommender
from recnb.models.blend import inherit_member_params
from recnb.models.registry import REGISTRY, hyperparameters
from recnb.prep.split import load_split

__all__ = [
    "METHODS",
    "NoImprovementStop",
    "expected_fit_seconds",
    "plan",
    "Dimension",
    "Tuning",
    "TuningResult",
    "load_validation_parts",
    "parse_space",
    "pruning_startup",
    "scoring_only",
    "suggest",
    "tune_model",
    "tune_models",
    "validation_folds",
    "validation_score",
]

#: accepted values of the ``method`` argument
METHODS = ("tpe", "random")
#: columns of a tuning history (no measured times: those are in the timing table)
HISTORY_COLUMNS = [
    "model",
    "trial",
    "metric",
    "k",
    "value",
    "best_so_far",
    "configured",
    "params",
    "pruned",
]
#: progress step reported after each finished search when searches run on worker processes
SEARCHES_DONE = "searches finished"
#: columns of the tuning timing table
TIMING_COLUMNS = ["model", "trial", "seconds", "cpu_seconds"]
_RANGE_KEYS = {"low", "high", "log", "step", "type"}


@dataclass(frozen=True)
class Dimension:
    """One searched hyperparameter.

    Attributes
    ----------
    name : str
        Hyperparameter name.
    kind : {"int", "float", "categorical"}
    low, high : float or None
        Bounds of a range (inclusive).
    log : bool
        Sample the range on a log scale.
    step : float or None
        Grid step of a range.
    choices : tuple or None
        Values of a categorical dimension.
    """

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] | None = None

    def contains(self, value: Any) -> bool:
        """Whether ``value`` is a point of this dimension (used to try configured values first)."""
        if self.kind == "categorical":
            return any(_same(value, c) for c in self.choices or ())
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            return False
        if self.kind == "int" and float(value) != int(value):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is not None:
            r = (value - self.low) / self.step
            return math.isclose(r, round(r), abs_tol=1e-9)
        return True


def _same(a: Any, b: Any) -> bool:
    return (
        type(a) is type(b)
        and a == b
        or (not isinstance(a, bool | str) and not isinstance(b, bool | str) and a == b)
    )


def parse_space(model: str, space: Mapping[str, Any], label: str | None = None) -> list[Dimension]:
    """Validate one model's search space and return its dimensions.

    Parameters
    ----------
    model : str
        Registry name (its hyperparameters are the allowed names).
    space : mapping
        ``{hyperparameter: list of choices | {choices: [...]} | {low, high[, log, step, type]}}``.
    label : str, optional
        Model label used in error messages (default: ``model``).

    Returns
    -------
    list of Dimension

    Raises
    ------
    ValueError
        An unknown hyperparameter, an empty choice list, bad bounds or an unknown key; the
        message names the model and the key.
    """
    who = f"search_space[{(label or model)!r}]"
    if not isinstance(space, Mapping):
        raise ValueError(f"{who} must be a mapping of hyperparameter -> range, got {space!r}")
    allowed = hyperparameters(model)
    dims = []
    for name, spec in space.items():
        where = f"{who}[{name!r}]"
        if name not in allowed:
            raise ValueError(
                f"{where}: {name!r} is not a hyperparameter of model {model!r}; "
                f"allowed: {sorted(allowed)}"
            )
        if isinstance(spec, Mapping) and "choices" in spec:
            extra = sorted(set(spec) - {"choices"})
            if extra:
                raise ValueError(f"{where}: unknown key(s) {extra} beside 'choices'")
            spec = spec["choices"]
        if isinstance(spec, list | tuple):
            if not spec:
                raise ValueError(f"{where}: the list of choices is empty")
            dims.append(Dimension(name, "categorical", choices=tuple(spec)))
            continue
        if not isinstance(spec, Mapping):
            raise ValueError(
                f"{where}: expected a list of choices or a range {{low, high}}, got {spec!r}; "
                "a fixed value belongs in model_params"
            )
        extra = sorted(set(spec) - _RANGE_KEYS)
        if extra:
            raise ValueError(f"{where}: unknown key(s) {extra}; allowed: {sorted(_RANGE_KEYS)}")
        if "low" not in spec or "high" not in spec:
            raise ValueError(f"{where}: a range needs both 'low' and 'high', got {dict(spec)}")
        low, high = spec["low"], spec["high"]
        for key, v in (("low", low), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise ValueError(f"{where}: {key} must be a number, got {v!r}")
        kind = spec.get("type")
        if kind is None:
            kind = "int" if isinstance(low, int) and isinstance(high, int) else "float"
        if kind not in ("int", "float"):
            raise ValueError(f"{where}: type must be 'int' or 'float', got {kind!r}")
        if not low < high:
            raise ValueError(f"{where}: low ({low}) must be below high ({high})")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ValueError(f"{where}: log must be true or false, got {log!r}")
        if log and low <= 0:
            raise ValueError(f"{where}: a log range needs low > 0, got {low}")
        step = spec.get("step")
        if step is not None:
            if isinstance(step, bool) or not isinstance(step, int | float) or step <= 0:
                raise ValueError(f"{where}: step must be a positive number, got {step!r}")
            if log:
                raise ValueError(f"{where}: step and log cannot be combined")
        if kind == "int":
            if float(low) != int(low) or float(high) != int(high):
                raise ValueError(f"{where}: an int range needs integer bounds, got {low}..{high}")
            low, high = int(low), int(high)
            step = int(step) if step is not None else None
        dims.append(
            Dimension(
                name,
                kind,
                float(low) if kind == "float" else low,
                float(high) if kind == "float" else high,
                log,
                step,
            )
        )
    return dims


def suggest(trial: optuna.trial.BaseTrial, dims: Sequence[Dimension]) -> dict[str, Any]:
    """Draw one point of the space through an optuna trial."""
    out: dict[str, Any] = {}
    for d in dims:
        if d.kind == "categorical":
            out[d.name] = trial.suggest_categorical(d.name, list(d.choices))
        elif d.kind == "int":
            out[d.name] = int(
                trial.suggest_int(d.name, int(d.low), int(d.high), step=d.step or 1, log=d.log)
            )
        else:
            out[d.name] = float(trial.suggest_float(d.name, d.low, d.high, step=d.step, log=d.log))
    return out


def validation_score(
    spec: ModelSpec,
    train_inner: Interactions,
    valid: Interactions,
    customer_idx: np.ndarray,
    metric: str = "ndcg",
    k: int = 10,
    seed: int | None = 0,
    features: dict[str, Any] | None = None,
    exclude_seen: bool = True,
) -> tuple[float, float]:
    """Fit ``spec`` on ``train_inner``, score its top-``k`` lists on ``valid``.

    Returns
    -------
    (float, float)
        Mean of ``metric@k`` over ``customer_idx`` (customers with a relevant validation item),
        and the seconds the fit and recommendation took.
    """
    t0 = time.perf_counter()
    run = run_model(spec, train_inner, customer_idx, k, seed, features, exclude_seen)
    return _mean_metric(run.topk, valid, customer_idx, metric, k), time.perf_counter() - t0


def _mean_metric(
    topk: np.ndarray, valid: Interactions, customer_idx: np.ndarray, metric: str, k: int
) -> float:
    values = ranking_metric_arrays(topk, valid.matrix[customer_idx], ks=(k,), metrics=[metric])
    return float(np.nanmean(values[(metric, k)]))


def scoring_only(model: str, names: Sequence[str]) -> bool:
    """Whether hyperparameters ``names`` of registry model ``model`` are read only when scoring.

    Such a search (a blend's ``weight``: :attr:`recnb.models.base.Recommender.scoring_params`)
    fits the model once and re-scores it per trial; the lists are those of a refit.
    """
    own = set(getattr(REGISTRY[model], "scoring_params", ()))
    return bool(names) and set(names) <= own


def load_validation_parts(split_dir: str | os.PathLike) -> tuple[Interactions, Interactions]:
    """Read only the ``train_inner`` and ``valid`` parts of a saved split.

    The ``train`` and ``test`` folders are never opened, so nothing in the search can depend on
    the test data.
    """
    parts = load_split(split_dir, ["train_inner", "valid"])
    return parts["train_inner"], parts["valid"]


#: split kinds whose validation part is drawn at random, so more folds can be drawn the same way,
#: and the group whose per-group validation counts a redrawn fold keeps
_FOLD_GROUPS = {("stratified", "user"): 0, ("stratified", "item"): 1, ("random", None): 0}


def validation_folds(
    train_inner: Interactions,
    valid: Interactions,
    n_folds: int,
    split: Mapping[str, Any],
    seed: int | None = 0,
) -> list[tuple[Interactions, Interactions]]:
    """The validation split and ``n_folds - 1`` more drawn from the same pairs by the same rule.

    One validation split scores each trial with noise: when the best values of a model lie on a
    flat ridge, that noise picks among them. Averaging the score over several splits of the same
    training pairs (repeated hold-out) lowers it. Fold 0 is the saved split itself; fold ``f``
    moves, within each group of the split's rule (each customer for a split stratified by user or
    a random one, each product for one stratified by item), as many pairs as the saved validation
    part holds for that group, drawn at random (generator seeded with ``[seed, f]``) among the
    group's pairs of ``train_inner + valid``. Every fold thus has the saved split's size and per-group counts.
    Side features are kept; pair timestamps are not (None in a redrawn fold).

    Parameters
    ----------
    train_inner, valid : Interactions
        The saved validation split (same id maps, disjoint pairs).
    n_folds : int
        Number of folds (>= 1; 1 returns the saved split only).
    split : mapping
        The split's settings (:func:`recnb.prep.split.split_info`): ``kind`` and, for a
        stratified split, ``stratify_by``.
    seed : int or None
        Seed of the redrawn folds.

    Returns
    -------
    list of (Interactions, Interactions)
        ``(train_inner, valid)`` per fold, fold 0 first.

    Raises
    ------
    ValueError
        ``n_folds`` is not a positive int, or the split's validation part is not drawn at random
        (a temporal or leave-last split: its validation period cannot be redrawn).
    """
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or n_folds < 1:
        raise ValueError(
            f"validation_folds: the number of folds must be an int >= 1, got {n_folds!r}"
        )
    if n_folds == 1:
        return [(train_inner, valid)]
    kind = split.get("kind")
    key = (kind, split.get("stratify_by") if kind == "stratified" else None)
    if key not in _FOLD_GROUPS:
        raise ValueError(
            f"validation_folds: {n_folds} folds need a split whose validation part is drawn at "
            f"random (split_kind stratified or random); this split is {kind!r}"
            + (f" by {key[1]!r}" if key[1] else "")
            + ": use 1 fold"
        )
    check_same_ids({"train_inner": train_inner, "valid": valid}, "validation_folds")
    inner, held = train_inner.matrix.tocoo(), valid.matrix.tocoo()
    rows = np.concatenate([inner.row, held.row]).astype(np.int64)
    cols = np.concatenate([inner.col, held.col]).astype(np.int64)
    vals = np.concatenate([inner.data, held.data])
    axis = _FOLD_GROUPS[key]
    group = rows if axis == 0 else cols
    n_groups = train_inner.matrix.shape[axis]
    quota = np.bincount(held.row if axis == 0 else held.col, minlength=n_groups)
    folds = [(train_inner, valid)]
    base = 0 if seed is None else int(seed)
    for f in range(1, n_folds):
        draw = np.random.default_rng([base, f]).random(len(group))
        order = np.lexsort((draw, group))
        first = np.searchsorted(group[order], np.arange(n_groups))
        rank = np.empty(len(group), np.int64)
        rank[order] = np.arange(len(group)) - first[group[order]]
        out = rank < quota[group]

        pairs = (vals, rows, cols)
        folds.append((_fold_part(train_inner, pairs, ~out, f), _fold_part(valid, pairs, out, f)))
    return folds


def _fold_part(
    like: Interactions, pairs: tuple[np.ndarray, ...], mask: np.ndarray, fold: int
) -> Interactions:
    """The pairs under ``mask`` as a part like ``like`` (same ids and side features)."""
    vals, rows, cols = pairs
    m = sp.csr_matrix((vals[mask], (rows[mask], cols[mask])), shape=like.matrix.shape)
    # pair timestamps do not follow a redrawn fold
    return replace(like, matrix=m, timestamps=None, meta={**like.meta, "fold": fold})


@dataclass
class TuningResult:
    """The search of one model.

    Attributes
    ----------
    spec : ModelSpec
        The model with the chosen hyperparameters merged into its fixed ones.
    best_params : dict
        Chosen values of the searched hyperparameters.
    best_value : float
        Validation score of the chosen values.
    configured_value : float or None
        Validation score of the configured (untuned) values when they lie in the space.
    history : pandas.DataFrame
        One row per trial: ``model, trial, metric, k, value, best_so_far, configured`` (True for
        the trial of the configured values), ``params`` (JSON) and ``pruned`` (stopped early:
        ``value`` is its score at the pass it stopped, and it is never chosen).
    timing : pandas.DataFrame
        ``model, trial, seconds, cpu_seconds``: wall-clock and CPU seconds (of the process that
        ran the search) of each trial's fit and scoring (0 for a point already scored).
    """

    spec: ModelSpec
    best_params: dict[str, Any]
    best_value: float
    configured_value: float | None
    history: pd.DataFrame
    timing: pd.DataFrame


def _sampler(method: str, seed: int | None, n_trials: int) -> optuna.samplers.BaseSampler:
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "tpe":
        # a third of the budget (at least 2 trials) explores at random before TPE models it
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(2, n_trials // 3))
    raise ValueError(f"tuning method {method!r} is unknown; allowed: {list(METHODS)}")


def pruning_startup(n_trials: int) -> int:
    """Trials that always run to the end before the pruner may stop one (as many as the TPE
    sampler draws at random: a third of the budget, at least 2)."""
    return max(2, n_trials // 3)


#: first pass at which a trial may be pruned; passes 4, 8, 16, ... are scored
FIRST_PRUNING_PASS = 4


def _pruner(n_trials: int) -> optuna.pruners.BasePruner:
    return optuna.pruners.MedianPruner(
        n_startup_trials=pruning_startup(n_trials), n_warmup_steps=FIRST_PRUNING_PASS - 1
    )


class _Pruned(Exception):
    """Raised by a watcher to stop a fit; carries the score at the pass it stopped."""

    def __init__(self, value: float) -> None:
        super().__init__(value)
        self.value = value


def _watcher(
    trial: optuna.trial.Trial,
    valid: Interactions,
    cidx: np.ndarray,
    metric: str,
    k: int,
    exclude_seen: bool,
) -> Any:
    """Score the model after passes 4, 8, 16, ...; stop the fit when optuna prunes the trial."""

    def watch(model: Recommender, n_done: int) -> None:
        if n_done < FIRST_PRUNING_PASS or n_done & (n_done - 1):  # not a power of two
            return
        if n_done >= getattr(model, model.passes_param):  # the last pass: scored after the fit
            return
        topk = recommend_topk(model, cidx, k, exclude_seen=exclude_seen)
        value = _mean_metric(topk, valid, cidx, metric, k)
        trial.report(value, n_done)
        if trial.should_prune():
            raise _Pruned(value)

    return watch


class NoImprovementStop:
    """Optuna callback: stop a search when its best score has not improved for ``patience``
    finished trials in a row.

    A trial improves when it completes (not pruned) with a score strictly above every earlier
    completed one. The trials run before the stop are those of the full search (each trial's
    point depends only on the earlier ones), so the chosen trial is the full search's whenever
    no later trial would have beaten it; a search that keeps improving runs its whole budget.
    Deterministic: it counts trials, not seconds, so a stopped search repeats exactly.

    Parameters
    ----------
    patience : int
        Trials without improvement after which the search stops (>= 1).
    min_trials : int
        Trials that always run, e.g. the sampler's random start-up (the search never stops
        before it has modelled anything).
    """

    def __init__(self, patience: int, min_trials: int = 0) -> None:
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an int >= 1, got {patience!r}")
        self.patience = patience
        self.min_trials = int(min_trials)
        self.n_seen = 0
        self.best: float | None = None
        self.since_best = 0
        self.stopped = False

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        improved = trial.state == optuna.trial.TrialState.COMPLETE and (
            self.best is None or trial.value > self.best
        )
        self.n_seen += 1
        if improved:
            self.best, self.since_best = float(trial.value), 0
        else:
            self.since_best += 1
        if self.since_best >= self.patience and self.n_seen >= self.min_trials:
            self.stopped = True
            study.stop()


def tune_model(
    spec: ModelSpec,
    train_inner: Interactions,
    valid: Interactions,
    space: Mapping[str, Any],
    n_trials: int = 10,
    metric: str = "ndcg",
    k: int = 10,
    method: str = "tpe",
    seed: int | None = 0,
    max_customers: int | None = None,
    features: dict[str, Any] | None = None,
    exclude_seen: bool = True,
    progress: ProgressCallback | None = None,
    pruning: bool = False,
    patience: int | None = None,
    extra_folds: Sequence[tuple[Interactions, Interactions]] = (),
) -> TuningResult:
    """Search ``space`` for ``spec`` on the validation split.

    Parameters
    ----------
    spec : ModelSpec
        Model and its fixed hyperparameters (searched names are overridden per trial).
    train_inner, valid : Interactions
        The validation split: fit on ``train_inner``, score on ``valid`` (same id maps).
    space : mapping
        Search space (see the module docstring).
    n_trials : int
        Budget: number of fits (>= 1).
    metric, k : str, int
        Objective: mean ``metric@k`` over validation customers (maximised).
    method : {"tpe", "random"}
        Sampler.
    seed : int or None
        Seed of the sampler, of the models and of the customer sample.
    max_customers : int, optional
        Score a seeded sample of at most this many validation customers (None or 0: all).
    features : dict, optional
        Side-feature overrides passed to ``fit``.
    exclude_seen : bool
        Remove ``train_inner`` items from the lists.
    progress : callable, optional
        ``progress("tuning", label, n_done, n_trials)`` before the first and after every trial
        (a :class:`~recnb.evaluation.evaluate.ProgressCallback`).
    pruning : bool
        Stop hopeless trials of iterative models early (models with
        :attr:`~recnb.models.base.Recommender.passes_param`: ALS, BPR, LightFM, Mult-VAE): the
        model is scored on the validation customers after passes 4, 8, 16, ... and optuna's
        median pruner stops a trial whose score there is below the median of the earlier trials
        at the same pass (never during the first :func:`pruning_startup` trials). A pruned trial
        is recorded with its last score and ``pruned=True`` and is never chosen. Without
        pruning (or for other models) every trial runs to the end, as before.
    patience : int, optional
        Stop the search when the best validation score has not improved for this many trials
        in a row (:class:`NoImprovementStop`), never before the sampler's random start-up
        (:func:`pruning_startup` trials); the trials it runs are the first ones of the full
        search. None runs the whole budget.
    extra_folds : sequence of (Interactions, Interactions), optional
        More ``(train_inner, valid)`` splits (:func:`validation_folds` after its first): a
        trial's value is then the mean of its scores on the validation split and on these, each
        fit on its own ``train_inner``. Only the first split's fit is watched by the pruner; a
        pruned trial is not fitted on the others.

    Returns
    -------
    TuningResult
        ``history`` has one row per trial that ran (fewer than ``n_trials`` when stopped).
    """
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive int, got {n_trials!r}")
    if metric not in RANKING_METRICS:
        raise ValueError(f"tuning metric {metric!r} unknown; choose from {RANKING_METRICS}")
    # never before the sampler's random start-up trials are done
    stopper = (
        NoImprovementStop(patience, pruning_startup(n_trials)) if patience is not None else None
    )
    check_same_ids({"train_inner": train_inner, "valid": valid}, "tune_model")
    dims = parse_space(spec.model, space, spec.label)
    if not dims:
        raise ValueError(f"search_space[{spec.label!r}] is empty")
    cidx = evaluation_customers(valid, max_customers, seed)
    if len(cidx) == 0:
        raise ValueError("tuning: no customer has a relevant item in the validation part")
    more = [(ti, va, evaluation_customers(va, max_customers, seed)) for ti, va in extra_folds]
    for i, (ti, va, c) in enumerate(more, start=1):
        check_same_ids({"train_inner": train_inner, f"fold {i} train_inner": ti}, "tune_model")
        check_same_ids({"valid": valid, f"fold {i} valid": va}, "tune_model")
        if len(c) == 0:
            raise ValueError(f"tuning: no customer has a relevant item in validation fold {i}")

    defaults = {**hyperparameters(spec.model), **spec.params}
    start = {d.name: defaults[d.name] for d in dims}
    configured_in_space = all(d.contains(start[d.name]) for d in dims)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    prune = bool(pruning) and getattr(REGISTRY[spec.model], "passes_param", None) is not None
    study = optuna.create_study(
        direction="maximize",
        sampler=_sampler(method, seed, n_trials),
        pruner=_pruner(n_trials) if prune else optuna.pruners.NopPruner(),
    )
    if configured_in_space:
        study.enqueue_trial(start)
    records: list[dict[str, Any]] = []
    times: list[dict[str, Any]] = []

    cache: dict[str, tuple[float, bool]] = {}
    # a search over hyperparameters that only the scoring reads (a blend's weight) fits once
    fitted: list[Recommender] = []  # one per fold
    reuse = scoring_only(spec.model, [d.name for d in dims])

    def other_folds(params: dict[str, Any]) -> list[float]:
        """Scores on the extra folds (fitted once each when only scoring params are searched)."""
        out = []
        for i, (ti, va, c) in enumerate(more, start=1):
            if reuse and len(fitted) > i:
                model = fitted[i].set_params(**params)
                model.check_params()
                topk = recommend_topk(model, c, k, exclude_seen=exclude_seen)
            else:
                run = run_model(spec.with_params(**params), ti, c, k, seed, features, exclude_seen)
                topk = run.topk
                if reuse:
                    fitted.append(run.model)
            out.append(_mean_metric(topk, va, c, metric, k))
        return out

    if progress is not None:
        progress("tuning", spec.label, 0, n_trials)

    def objective(trial: optuna.trial.Trial) -> float:
        params = suggest(trial, dims)
        key = json.dumps(params, sort_keys=True)
        pruned = False
        c0 = time.process_time()
        if key in cache:  # a point already scored (small discrete spaces): no refit
            (value, pruned), seconds = cache[key], 0.0
        elif reuse and fitted:
            t0 = time.perf_counter()
            model = fitted[0].set_params(**params)
            model.check_params()
            topk = recommend_topk(model, cidx, k, exclude_seen=exclude_seen)
            value = _mean_metric(topk, valid, cidx, metric, k)
            if more:
                value = float(np.mean([value, *other_folds(params)]))
            seconds = time.perf_counter() - t0
        else:
            t0 = time.perf_counter()
            try:
                run = run_model(
                    spec.with_params(**params),
                    train_inner,
                    cidx,
                    k,
                    seed,
                    features,
                    exclude_seen,
                    _watcher(trial, valid, cidx, metric, k, exclude_seen) if prune else None,
                )
                value = _mean_metric(run.topk, valid, cidx, metric, k)
                if reuse:
                    fitted.append(run.model)
                if more:
                    value = float(np.mean([value, *other_folds(params)]))
            except _Pruned as stop:
                value, pruned = stop.value, True
            seconds = time.perf_counter() - t0
        cache[key] = (value, pruned)
        records.append(
            {
                "model": spec.label,
                "trial": trial.number,
                "value": value,
                "configured": bool(configured_in_space and trial.number == 0),
                "params": key,
                "pruned": pruned,
            }
        )
        cpu = time.process_time() - c0 if seconds > 0 else 0.0
        times.append(
            {"model": spec.label, "trial": trial.number, "seconds": seconds, "cpu_seconds": cpu}
        )
        if progress is not None:
            progress("tuning", spec.label, len(records), n_trials)
        if not np.isfinite(value):
            raise ValueError(
                f"tuning {spec.label!r}: validation {metric}@{k} is {value} for {params}"
            )
        if pruned:
            raise optuna.TrialPruned(f"pass score {value:.4f} below the median")
        return value

    study.optimize(objective, n_trials=n_trials, callbacks=[stopper] if stopper else None)
    history = pd.DataFrame(records)
    complete = history["value"].where(~history["pruned"])
    history["best_so_far"] = complete.cummax()
    history["metric"] = metric
    history["k"] = int(k)
    history = history[HISTORY_COLUMNS]
    best = json.loads(history.loc[complete.idxmax(), "params"])
    return TuningResult(
        spec=spec.with_params(**best),
        best_params=best,
        best_value=float(complete.max()),
        configured_value=float(history["value"].iloc[0]) if configured_in_space else None,
        history=history,
        timing=pd.DataFrame(times, columns=TIMING_COLUMNS),
    )


@dataclass
class Tuning:
    """The searches of several models.

    Attributes
    ----------
    specs : list of ModelSpec
        Every configured model, with chosen values merged in for the tuned ones.
    chosen : pandas.DataFrame
        ``model, hyperparameter, value, source``: one row per hyperparameter that is searched
        (``source = "tuned"``) or fixed in params (``"fixed"``); ``value`` as JSON text.
    summary : pandas.DataFrame
        ``model, n_trials`` (trials run), ``budget`` (trials allowed: more than ``n_trials`` when
        the search stopped for lack of improvement), ``metric, k, configured_value, best_value,
        n_pruned`` (trials stopped early by the pruner).
    history : pandas.DataFrame
        All trials (see :class:`TuningResult`).
    timing : pandas.DataFrame
        ``model, trial, seconds`` of all trials (measured: kept apart from the tables above,
        which repeat exactly for the same params and seed).
    results : dict
        ``label -> TuningResult``.
    """

    specs: list[ModelSpec]
    chosen: pd.DataFrame
    summary: pd.DataFrame
    history: pd.DataFrame
    timing: pd.DataFrame
    results: dict[str, TuningResult]


def tune_models(
    specs: Sequence[ModelSpec],
    train_inner: Interactions,
    valid: Interactions,
    search_space: Mapping[str, Mapping[str, Any]],
    n_trials: int = 10,
    metric: str = "ndcg",
    k: int = 10,
    method: str = "tpe",
    seed: int | None = 0,
    max_customers: int | None = None,
    features: dict[str, Any] | None = None,
    exclude_seen: bool = True,
    progress: ProgressCallback | None = None,
    n_trials_per_model: Mapping[str, int] | None = None,
    n_jobs: int = 1,
    pruning: bool = False,
    patience: int | None = None,
    validation_folds_per_model: Mapping[str, int] | None = None,
    split: Mapping[str, Any] | None = None,
) -> Tuning:
    """Tune every model that has a search space; keep the others as configured.

    Models are handled in order; a ``blend`` whose member hyperparameters are not set takes the
    values chosen for its members listed before it (:func:`recnb.models.blend.inherit_member_params`)
    before its own search.

    Parameters
    ----------
    specs : sequence of ModelSpec
        All models of the comparison.
    train_inner, valid : Interactions
        The validation split.
    search_space : mapping
        ``{label: space}``; labels must be among ``specs`` (an unknown label is an error).
    n_trials : int
        Budget per tuned model; 0 tunes nothing.
    metric, k, method, seed, max_customers, features, exclude_seen
        See :func:`tune_model`.
    progress : callable, optional
        Progress callback, passed to :func:`tune_model` (a :class:`~recnb.evaluation.evaluate.ProgressCallback`).
    n_trials_per_model : mapping, optional
        ``{label: budget}`` overriding ``n_trials`` for some models (e.g. fewer trials for a model
        that is slow to fit and has a one-dimensional space).
    n_jobs : int
        Searches run side by side on this many worker processes
        (:func:`recnb.evaluation.parallel.model_executor`); each search is sequential and seeded,
        so the results are identical for any ``n_jobs``. With ``n_jobs > 1`` progress is reported
        per finished search (step :data:`SEARCHES_DONE`) instead of per trial.
    pruning : bool
        Stop hopeless trials of iterative models early (see :func:`tune_model`).
    patience : int, optional
        Stop a model's search when its best validation score has not improved for this many
        trials in a row (see :func:`tune_model`); None runs every budget in full.
    validation_folds_per_model : mapping, optional
        ``{label: n_folds}``: score those models' trials on ``n_folds`` validation splits
        (:func:`validation_folds`) and average; the others use the one saved split (1 fold).
    split : mapping, optional
        The split's settings (:func:`recnb.prep.split.split_info`), needed to draw more folds.

    Returns
    -------
    Tuning
    """
    resolve_n_jobs(n_jobs)
    specs = list(specs)
    labels = [s.label for s in specs]
    search_space = dict(search_space or {})
    unknown = sorted(set(search_space) - set(labels))
    if unknown:
        raise ValueError(
            f"search_space has entries {unknown} for models not in the comparison {labels}"
        )
    budgets = dict(n_trials_per_model or {})
    unknown = sorted(set(budgets) - set(labels))
    if unknown:
        raise ValueError(
            f"n_trials_per_model has entries {unknown} for models not in the comparison {labels}"
        )
    for name, value in [("n_trials", n_trials), *budgets.items()]:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}: a tuning budget must be an int >= 0, got {value!r}")
    n_folds = dict(validation_folds_per_model or {})
    unknown = sorted(set(n_folds) - set(labels))
    if unknown:
        raise ValueError(
            f"validation_folds_per_model has entries {unknown} for models not in the comparison "
            f"{labels}"
        )
    for name, value in n_folds.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"validation_folds_per_model[{name!r}] must be an int >= 1, got {value!r}"
            )
    most = max(n_folds.values(), default=1)
    folds = validation_folds(train_inner, valid, most, split or {}, seed) if most > 1 else []
    for s in specs:  # validate every space before spending time on any search
        if s.label in search_space:
            parse_space(s.model, search_space[s.label], s.label)

    def searched(s: ModelSpec) -> bool:
        return budgets.get(s.label, n_trials) > 0 and bool(search_space.get(s.label))

    def submit(executor: Executor, s: ModelSpec) -> Future:
        return executor.submit(
            tune_model,
            s,
            train_inner,
            valid,
            search_space[s.label],
            budgets.get(s.label, n_trials),
            metric,
            k,
            method,
            seed,
            max_customers,
            features,
            exclude_seen,
            progress if n_jobs == 1 else None,  # a callback stays in this process
            pruning,
            patience,
            folds[1 : n_folds.get(s.label, 1)],
        )

    n_searches = sum(searched(s) for s in specs)
    out_specs, results, chosen, summary = [], {}, [], []
    with model_executor(n_jobs, n_searches) as executor:
        # every search that depends on no other starts now; a blend's waits for its members
        futures = {
            s.label: submit(executor, s) for s in specs if searched(s) and not _waits_for_members(s)
        }
        done = 0
        if progress is not None and n_jobs > 1:
            progress(SEARCHES_DONE, None, 0, n_searches)
        for s in specs:
            # a blend listed after its members takes their values chosen on validation
            s = inherit_member_params(s, out_specs)
            if not searched(s):
                out_specs.append(s)
                tuned: set[str] = set()
            else:
                future = futures.pop(s.label, None) or submit(executor, s)
                res = future.result()
                done += 1
                if progress is not None and n_jobs > 1:  # per search: trials run elsewhere
                    progress(SEARCHES_DONE, s.label, done, n_searches)
                results[s.label] = res
                out_specs.append(res.spec)
                summary.append(
                    {
                        "model": s.label,
                        "n_trials": len(res.history),
                        "budget": budgets.get(s.label, n_trials),
                        "metric": metric,
                        "k": int(k),
                        "configured_value": res.configured_value,
                        "best_value": res.best_value,
                        "n_pruned": int(res.history["pruned"].sum()),
                    }
                )
                tuned = set(res.best_params)
            final = out_specs[-1].params
            for name in sorted(set(final) | tuned):
                chosen.append(
                    {
                        "model": s.label,
                        "hyperparameter": name,
                        "value": json.dumps(final[name]),
                        "source": "tuned" if name in tuned else "fixed",
                    }
                )
    history = (
        pd.concat([r.history for r in results.values()], ignore_index=True)
        if results
        else pd.DataFrame(columns=HISTORY_COLUMNS)
    )
    timing = (
        pd.concat([r.timing for r in results.values()], ignore_index=True)
        if results
        else pd.DataFrame(columns=TIMING_COLUMNS)
    )
    return Tuning(
        specs=out_specs,
        chosen=pd.DataFrame(chosen, columns=["model", "hyperparameter", "value", "source"]),
        summary=pd.DataFrame(
            summary,
            columns=[
                "model",
                "n_trials",
                "budget",
                "metric",
                "k",
                "configured_value",
                "best_value",
                "n_pruned",
            ],
        ),
        history=history,
        timing=timing,
        results=results,
    )


def expected_fit_seconds(specs: Sequence[ModelSpec], timing: pd.DataFrame) -> dict[str, float]:
    """How long each model's final fit is expected to take, to hand the longest out first.

    A rough order, not a forecast: a tuned model is expected to take its median trial seconds
    (trials that reused a score, 0 s, left out); an untuned model that makes passes over the data
    (:attr:`~recnb.models.base.Recommender.passes_param`: LightFM, Mult-VAE, ...) is unknown and
    expected to be the longest (``inf``, in the order given); any other untuned model (baselines,
    content) 0.

    Parameters
    ----------
    specs : sequence of ModelSpec
        The models of the final fit.
    timing : pandas.DataFrame
        ``Tuning.timing`` (``model, trial, seconds``).

    Returns
    -------
    dict
        ``{label: seconds}`` for :func:`recnb.evaluation.evaluate.evaluate_models`.
    """
    ran = timing[timing["seconds"] > 0] if not timing.empty else timing
    median = ran.groupby("model")["seconds"].median() if not ran.empty else pd.Series(dtype=float)
    out = {}
    for s in specs:
        if s.label in median.index:
            out[s.label] = float(median[s.label])
        elif getattr(REGISTRY[s.model], "passes_param", None) is not None:
            out[s.label] = math.inf
        else:
            out[s.label] = 0.0
    return out


def _waits_for_members(spec: ModelSpec) -> bool:
    """Whether ``spec`` takes values chosen for other models (a blend without member params)."""
    try:
        return inherit_member_params(spec, []) is not spec
    except ValueError:  # members not among the (empty) list: it needs them
        return True


def plan(
    specs: Sequence[ModelSpec],
    search_space: Mapping[str, Mapping[str, Any]] | None,
    n_trials: int,
    n_trials_per_model: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """What a comparison is about to run, one row per model, before any fit.

    Returns
    -------
    pandas.DataFrame
        ``model`` (label), ``algorithm`` (registry name), ``fixed`` (its fixed hyperparameters as
        JSON, ``""`` for none), ``searched`` (its search space as JSON, ``""`` for none) and
        ``trials`` (the tuning budget: 0 for a model without a search space).
    """
    space = dict(search_space or {})
    budgets = dict(n_trials_per_model or {})
    rows = []
    for s in specs:
        own = space.get(s.label) or {}
        rows.append(
            {
                "model": s.label,
                "algorithm": s.model,
                "fixed": json.dumps(s.params) if s.params else "",
                "searched": json.dumps(own) if own else "",
                "trials": int(budgets.get(s.label, n_trials)) if own else 0,
            }
        )
    return pd.DataFrame(rows, columns=["model", "algorithm", "fixed", "searched", "trials"])
