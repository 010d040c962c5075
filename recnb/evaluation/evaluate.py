"""Fit, recommend and score models on a split: the glue between :mod:`recnb.models` and
:mod:`recnb.metrics`.

One call, :func:`evaluate_models`, takes the models configured in a params file (as
:class:`ModelSpec` objects), fits each on a training part, recommends top-``K`` lists for the
evaluation customers in batches through :meth:`~recnb.models.base.Recommender.recommend_indices`,
and turns the lists into tidy tables:

- per-customer ranking metrics (``model, customer, metric, k, value``; ``customer`` is the row
  index shared by every part of the split);
- their means with percentile-bootstrap 95% confidence intervals over customers (the same
  resamples for every model, so intervals are paired);
- beyond-accuracy metrics of the lists: per customer (novelty, popularity bias, serendipity,
  category diversity) and per catalogue (coverage, Gini of exposure), with intervals too;
- rating error (RMSE/MAE) for models that predict ratings (``predict``), on explicit data;
- cost: training and recommendation wall time, customers served per second and the peak
  increase of resident memory during each step;
- the same accuracy metrics per customer segment: ``cold`` (no training history: every model
  serves them through its documented fallback unless it scores cold customers itself), ``light``
  and ``heavy`` (training history up to / above a threshold, by default the median of the
  evaluated warm customers), and the customer's device when the data has one.

Evaluation customers are those with at least one relevant (value > 0) held-out item; all others
have undefined recall and NDCG and are left out, as in every published protocol. Seen items
(value > 0 in the training part) are excluded from the lists unless ``exclude_seen=False``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.interactions import Interactions
from recnb.metrics import (
    BEYOND_METRICS,
    RANKING_METRICS,
    aggregate_metrics,
    rating_summary,
    summarize,
)
from recnb.metrics import evaluate as metrics_evaluate
from recnb.models.base import Recommender
from recnb.models.registry import REGISTRY, hyperparameters, make_model
from recnb.split import load_split

__all__ = [
    "DEFAULT_BEYOND",
    "DEFAULT_METRICS",
    "SEGMENTS",
    "Evaluation",
    "ModelRun",
    "ModelSpec",
    "PeakMemory",
    "check_same_index",
    "customer_segments",
    "customer_devices",
    "evaluate_models",
    "evaluation_customers",
    "load_evaluation_parts",
    "model_capabilities",
    "model_specs",
    "per_customer_metrics",
    "product_categories",
    "recommend_topk",
    "run_model",
    "segment_summary",
]

#: ranking metrics computed per customer by default (names from recnb.metrics.ranking)
DEFAULT_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "map_min", "hit_rate", "mrr")
#: per-customer beyond-accuracy metrics computed by default (recnb.metrics.beyond)
DEFAULT_BEYOND: tuple[str, ...] = ("novelty", "arp", "aplt", "serendipity", "ild_category")
#: activity segments, in report order
SEGMENTS: tuple[str, ...] = ("cold", "light", "heavy")
#: customers recommended per call of recommend_indices (the model batches further inside)
RECOMMEND_CHUNK = 20_000


# ----------------------------------------------------------------------------------------------
# model specifications
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """One configured model: a label for reports, a registry name and fixed hyperparameters.

    Attributes
    ----------
    label : str
        Name shown in tables and plots (unique within a comparison).
    model : str
        Registry name (see :data:`recnb.models.registry.REGISTRY`).
    params : dict
        Hyperparameters passed to :func:`recnb.models.registry.make_model`.
    """

    label: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)

    def build(self, seed: int | None = None, **overrides: Any) -> Recommender:
        """A new, unfitted model; ``random_state`` is the run seed unless the params set it."""
        params = {**self.params, **overrides}
        if "random_state" in hyperparameters(self.model) and "random_state" not in params:
            params["random_state"] = seed
        return make_model(self.model, **params)

    def with_params(self, **params: Any) -> ModelSpec:
        """The same spec with some hyperparameters replaced (e.g. the tuned ones)."""
        return ModelSpec(self.label, self.model, {**self.params, **params})


def model_specs(
    models: Sequence[str], model_params: Mapping[str, Mapping[str, Any]] | None = None
) -> list[ModelSpec]:
    """Turn the ``models`` / ``model_params`` parameters of a notebook into :class:`ModelSpec` s.

    Parameters
    ----------
    models : list of str
        Labels of the models to compare, in report order. A label is a registry name, or any
        name whose ``model_params`` entry names the registry model under the key ``model``
        (so one algorithm can appear twice, e.g. LightFM with and without side features).
    model_params : dict, optional
        ``{label: {hyperparameter: value, ..., "model": registry_name}}``.

    Returns
    -------
    list of ModelSpec

    Raises
    ------
    ValueError
        Empty or duplicated labels, or ``model_params`` for a label not in ``models``.
    KeyError
        A label that is neither registered nor mapped to a registered model.
    TypeError
        An unknown hyperparameter (the message lists the allowed ones).
    """
    if isinstance(models, str) or not isinstance(models, Sequence) or not models:
        raise ValueError(f"models must be a non-empty list of model names, got {models!r}")
    labels = [str(m) for m in models]
    dup = sorted({m for m in labels if labels.count(m) > 1})
    if dup:
        raise ValueError(f"models lists {dup} more than once; give each entry its own label")
    model_params = dict(model_params or {})
    extra = sorted(set(model_params) - set(labels))
    if extra:
        raise ValueError(
            f"model_params has entries {extra} that are not in models {labels}; "
            "add them to models or remove them"
        )
    specs = []
    for label in labels:
        given = model_params.get(label) or {}
        if not isinstance(given, Mapping):
            raise ValueError(f"model_params[{label!r}] must be a mapping, got {given!r}")
        params = dict(given)
        name = str(params.pop("model", label))
        if name not in REGISTRY:
            raise KeyError(
                f"models: {label!r} is not a registered model and model_params[{label!r}] names "
                f"no 'model'; known models: {sorted(REGISTRY)}"
            )
        make_model(name, **params)  # fail early on an unknown or misspelt hyperparameter
        specs.append(ModelSpec(label, name, params))
    return specs


def model_capabilities(specs: Iterable[ModelSpec]) -> pd.DataFrame:
    """Which models explain, serve cold customers and reach cold products (the class flags).

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``algorithm``, ``cold_customers`` (``"own scores"`` or ``"popularity
        fallback"``), ``cold_products`` (bool), ``explains`` (bool).
    """
    rows = []
    for s in specs:
        cls = REGISTRY[s.model]
        rows.append(
            {
                "model": s.label,
                "algorithm": s.model,
                "cold_customers": "own scores"
                if cls.serves_cold_customers
                else "popularity fallback",
                "cold_products": bool(cls.serves_cold_products),
                "explains": bool(cls.can_explain),
            }
        )
    return pd.DataFrame(rows)


def load_evaluation_parts(split_dir: str | os.PathLike) -> tuple[Interactions, Interactions]:
    """Read the ``train`` and ``test`` parts of a saved split (``<run_dir>/split``).

    Raises
    ------
    FileNotFoundError
        When the preprocessing stage has not written the split.
    """
    parts = load_split(split_dir, ["train", "test"])
    return parts["train"], parts["test"]


def product_categories(
    product_ids: Sequence[str], products: pd.DataFrame | None, level: int = 1
) -> np.ndarray | None:
    """Top-level category of each product (for category diversity), or None without categories.

    ``category`` paths such as ``"home/kitchen"`` are cut at ``level`` parts; products without a
    category get ``"unknown"``.
    """
    if products is None or "category" not in products.columns:
        return None
    cat = products.set_index(products["product_id"].astype(str))["category"]
    cat = cat[~cat.index.duplicated()].astype(object)
    top = cat.where(cat.notna(), "unknown").astype(str).str.split("/").str[:level].str.join("/")
    ids = pd.Index(np.asarray(product_ids, dtype=object).astype(str))
    return top.reindex(ids).fillna("unknown").to_numpy(dtype=object)


# ----------------------------------------------------------------------------------------------
# cost measurement
# ----------------------------------------------------------------------------------------------


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # not Linux
        import psutil

        return int(psutil.Process().memory_info().rss)


class PeakMemory:
    """Context manager: the peak increase of resident memory (MB) while the block runs.

    A background thread samples the process's resident set size every ``interval`` seconds;
    ``peak_mb`` is the largest sample minus the size at entry (0 when memory only shrank). It
    sees native allocations (BLAS, ``implicit``, LightFM, torch) that :mod:`tracemalloc` misses;
    very short spikes between two samples can be missed.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak_mb = float("nan")
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        self._start = _rss()
        self._peak = self._start
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss())

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, _rss())
        self.peak_mb = max(0.0, (self._peak - self._start) / 2**20)


# ----------------------------------------------------------------------------------------------
# customers, segments, recommendation
# ----------------------------------------------------------------------------------------------


def _matrix(x: Interactions | sp.spmatrix) -> sp.csr_matrix:
    m = x.matrix if isinstance(x, Interactions) else x
    if not sp.issparse(m):
        raise TypeError(f"expected Interactions or a sparse matrix, got {type(x).__name__}")
    return sp.csr_matrix(m)


def evaluation_customers(
    truth: Interactions | sp.spmatrix, max_customers: int | None = None, seed: int | None = 0
) -> np.ndarray:
    """Row indices of customers with at least one relevant (value > 0) held-out item.

    Parameters
    ----------
    truth : Interactions or sparse matrix
        The held-out part (validation or test).
    max_customers : int, optional
        Evaluate a seeded random sample of at most this many customers (None or 0: all).
    seed : int or None
        Seed of the sample.

    Returns
    -------
    numpy.ndarray of int64, sorted
    """
    m = _matrix(truth)
    positive = np.asarray((m > 0).sum(axis=1)).ravel()
    rows = np.flatnonzero(positive > 0).astype(np.int64)
    if max_customers is not None and max_customers < 0:
        raise ValueError(f"max_customers must be >= 0 or None, got {max_customers}")
    if max_customers and len(rows) > max_customers:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(rows, size=int(max_customers), replace=False))
    return rows


def customer_segments(
    train: Interactions | sp.spmatrix, customer_idx: np.ndarray, light_max: int | None = None
) -> tuple[pd.DataFrame, int]:
    """Cold / light / heavy label of each customer from their training history.

    ``cold``: no positive training interaction; ``light``: 1 to ``light_max`` distinct products;
    ``heavy``: more than ``light_max``.

    Parameters
    ----------
    train : Interactions or sparse matrix
        The training part the models see.
    customer_idx : numpy.ndarray of int
        Customers to label (rows of ``train``).
    light_max : int, optional
        Upper bound of ``light``; None uses the median history length of the warm customers in
        ``customer_idx`` (at least 1).

    Returns
    -------
    (pandas.DataFrame, int)
        Columns ``customer`` (row index), ``n_train`` (distinct products with value > 0),
        ``segment`` (categorical in :data:`SEGMENTS` order); and the ``light_max`` used.
    """
    m = _matrix(train)
    cidx = np.asarray(customer_idx, dtype=np.int64)
    n_train = np.asarray((m[cidx] > 0).sum(axis=1)).ravel().astype(np.int64)
    warm = n_train[n_train > 0]
    if light_max is None:
        light_max = int(max(1, np.median(warm))) if len(warm) else 1
    if isinstance(light_max, bool) or not isinstance(light_max, int | np.integer) or light_max < 1:
        raise ValueError(f"light_max must be a positive int or None, got {light_max!r}")
    seg = np.where(n_train == 0, "cold", np.where(n_train <= light_max, "light", "heavy"))
    df = pd.DataFrame(
        {
            "customer": cidx,
            "n_train": n_train,
            "segment": pd.Categorical(seg, categories=list(SEGMENTS), ordered=True),
        }
    )
    return df, int(light_max)


def customer_devices(
    customer_ids: Sequence[str],
    customers: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> pd.Series | None:
    """The device of each customer: the ``device`` attribute, else their most used event device.

    Parameters
    ----------
    customer_ids : sequence of str
        Customers to label, in order.
    customers : pandas.DataFrame, optional
        Customers table with ``customer_id`` and a ``device`` column (preferred device).
    events : pandas.DataFrame, optional
        Events with ``customer_id`` and ``device``; used when the customers table has no device.

    Returns
    -------
    pandas.Series of str or None
        Aligned with ``customer_ids`` (``"unknown"`` where no device is known); None when the
        data records no device at all.
    """
    ids = pd.Index(np.asarray(customer_ids, dtype=object).astype(str))
    mapping = None
    if customers is not None and "device" in customers.columns:
        c = customers.dropna(subset=["device"])
        mapping = pd.Series(c["device"].astype(str).to_numpy(), index=c["customer_id"].astype(str))
    elif events is not None and "device" in events.columns:
        e = events[["customer_id", "device"]].dropna()
        if len(e):
            counts = (
                e.assign(customer_id=e["customer_id"].astype(str), device=e["device"].astype(str))
                .groupby(["customer_id", "device"], observed=True)
                .size()
                .reset_index(name="n")
                .sort_values(["customer_id", "n", "device"], ascending=[True, False, True])
            )
            top = counts.drop_duplicates("customer_id")
            mapping = pd.Series(top["device"].to_numpy(), index=top["customer_id"].to_numpy())
    if mapping is None or mapping.empty:
        return None
    mapping = mapping[~mapping.index.duplicated()]
    return pd.Series(mapping.reindex(ids).fillna("unknown").to_numpy(), index=np.arange(len(ids)))


def recommend_topk(
    model: Recommender,
    customer_idx: np.ndarray,
    k: int,
    exclude_seen: bool = True,
    chunk: int = RECOMMEND_CHUNK,
) -> np.ndarray:
    """Top-``k`` product indices for many customers, ``chunk`` customers per call.

    Returns
    -------
    numpy.ndarray of int64, shape (len(customer_idx), k); ``-1`` pads short lists.
    """
    cidx = np.asarray(customer_idx, dtype=np.int64)
    out = np.empty((len(cidx), int(k)), np.int64)
    for start in range(0, len(cidx), chunk):
        idx, _ = model.recommend_indices(
            cidx[start : start + chunk], k=k, exclude_seen=exclude_seen
        )
        out[start : start + chunk] = idx
    return out


@dataclass
class ModelRun:
    """One model fitted and run on the evaluation customers."""

    spec: ModelSpec
    model: Recommender
    topk: np.ndarray
    fit_seconds: float
    fit_peak_mb: float
    recommend_seconds: float
    recommend_peak_mb: float
    fit_cpu_seconds: float = float("nan")
    recommend_cpu_seconds: float = float("nan")

    @property
    def customers_per_second(self) -> float:
        n = self.topk.shape[0]
        return n / self.recommend_seconds if self.recommend_seconds > 0 else float("inf")


def run_model(
    spec: ModelSpec,
    train: Interactions,
    customer_idx: np.ndarray,
    k: int,
    seed: int | None = 0,
    features: dict[str, Any] | None = None,
    exclude_seen: bool = True,
) -> ModelRun:
    """Fit ``spec`` on ``train`` and recommend ``k`` products to ``customer_idx``, timed."""
    model = spec.build(seed)
    with PeakMemory() as mem_fit:
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(train, features=features)
        fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    with PeakMemory() as mem_rec:
        t0, c0 = time.perf_counter(), time.process_time()
        topk = recommend_topk(model, customer_idx, k, exclude_seen=exclude_seen)
        rec_s, rec_cpu = time.perf_counter() - t0, time.process_time() - c0
    return ModelRun(
        spec, model, topk, fit_s, mem_fit.peak_mb, rec_s, mem_rec.peak_mb, fit_cpu, rec_cpu
    )


def per_customer_metrics(
    topk: np.ndarray,
    test: Interactions,
    train: Interactions,
    customer_idx: np.ndarray,
    ks: Iterable[int],
    metrics: Sequence[str] = DEFAULT_METRICS,
    model: str = "model",
    item_categories: np.ndarray | None = None,
) -> pd.DataFrame:
    """Tidy per-customer metrics of one model's lists, through :func:`recnb.metrics.evaluate`.

    Popularity-based metrics (novelty, ARP, APLT, popularity lift, serendipity's baseline) use
    the whole training part, whichever customers are evaluated.

    Parameters
    ----------
    topk : numpy.ndarray, shape (len(customer_idx), K)
        Lists of the customers in ``customer_idx``, in that order.
    test, train : Interactions
        Held-out and training parts (same id maps).
    customer_idx : numpy.ndarray of int
        Evaluated customers (rows of ``test``), each with a relevant held-out item.
    ks : iterable of int
        Cut-offs, each <= K.
    metrics : sequence of str
        Names from :data:`recnb.metrics.PER_CUSTOMER_METRICS` (``auc`` excluded).
    model : str
        Value of the ``model`` column.
    item_categories : numpy.ndarray, optional
        Category per product (needed for ``ild_category``).

    Returns
    -------
    pandas.DataFrame
        Columns ``model, customer, metric, k, value`` (``customer`` = row index).
    """
    cidx = np.asarray(customer_idx, dtype=np.int64)
    n = test.n_customers
    keep = np.zeros(n, dtype=np.float32)
    keep[cidx] = 1.0
    truth = sp.diags(keep) @ test.matrix
    full = np.full((n, topk.shape[1]), -1, np.int64)
    full[cidx] = topk
    metrics = [m for m in metrics if m != "ild_category" or item_categories is not None]
    df = metrics_evaluate(
        {model: full},
        sp.csr_matrix(truth),
        ks=tuple(ks),
        metrics=metrics,
        train=train.matrix,
        item_categories=item_categories,
        drop_empty=True,
    )
    return df


# ----------------------------------------------------------------------------------------------
# the comparison
# ----------------------------------------------------------------------------------------------


@dataclass
class Evaluation:
    """Everything :func:`evaluate_models` measured, as tidy tables plus the fitted runs.

    Attributes
    ----------
    customers : pandas.DataFrame
        ``customer`` (row index), ``customer_id``, ``n_train``, ``segment`` and, when known,
        ``device``: one row per evaluation customer.
    per_customer : pandas.DataFrame
        ``model, customer, metric, k, value`` (ranking and per-customer beyond-accuracy metrics).
    summary : pandas.DataFrame
        ``model, metric, k, value, ci_low, ci_high, n, kind``: every metric's mean with its
        bootstrap interval over customers, plus catalogue coverage and Gini of exposure
        (bootstrap over lists); ``kind`` is ``"accuracy"`` or ``"beyond"``.
    rating : pandas.DataFrame
        ``model, metric, value, ci_low, ci_high, n`` (RMSE/MAE; empty without rating models).
    timing : pandas.DataFrame
        ``model, fit_seconds, recommend_seconds, customers_per_second, fit_peak_mb,
        recommend_peak_mb, fit_cpu_seconds, recommend_cpu_seconds, n_customers``: wall-clock
        seconds, peak resident-memory increase (MB) and CPU seconds of this process (all
        threads; less sensitive than wall time to other load on the machine).
    segments : pandas.DataFrame
        ``model, segment_kind ("activity" or "device"), segment, metric, k, value, ci_low,
        ci_high, n``.
    runs : dict
        ``label -> ModelRun`` (fitted model and its top-K lists).
    light_max : int
        Threshold between light and heavy customers.
    ks : tuple of int
    """

    customers: pd.DataFrame
    per_customer: pd.DataFrame
    summary: pd.DataFrame
    rating: pd.DataFrame
    timing: pd.DataFrame
    segments: pd.DataFrame
    runs: dict[str, ModelRun]
    light_max: int
    ks: tuple[int, ...]

    @property
    def models(self) -> list[str]:
        return list(self.runs)

    def tables(self, per_customer_k: int | None = None) -> dict[str, pd.DataFrame]:
        """The result tables by file name (what a notebook writes with ``ctx.write_table``).

        ``metrics_per_customer`` holds the accuracy metrics (at ``per_customer_k`` only, when
        given), which is what the significance tests read; the beyond-accuracy values per
        customer stay in :attr:`per_customer`.
        """
        pc = self.per_customer[self.per_customer["metric"].isin(RANKING_METRICS)]
        if per_customer_k is not None:
            pc = pc[pc["k"] == per_customer_k]
        return {
            "metrics": self.summary,
            "metrics_per_customer": pc.reset_index(drop=True),
            "rating_metrics": self.rating,
            "timing": self.timing,
            "segments": self.segments,
            "customers": self.customers.assign(segment=self.customers["segment"].astype(str)),
        }


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    values = (int(ks),) if isinstance(ks, int | np.integer) else tuple(ks)
    if not values:
        raise ValueError("k_values is empty; give at least one list length")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k_values must hold positive integers, got {k!r}")
    return tuple(sorted({int(k) for k in values}))


def check_same_index(a: Interactions, b: Interactions, names: str = "train and test") -> None:
    """Raise unless two parts of a split share their id maps (same rows, same columns)."""
    if a.shape != b.shape:
        raise ValueError(
            f"{names} must share id maps, but their shapes differ ({a.shape} vs {b.shape}); "
            "build every part of the split from one Interactions"
        )
    for name in ("customer_ids", "product_ids"):
        x, y = getattr(a, name), getattr(b, name)
        if not np.array_equal(np.asarray(x, dtype=object), np.asarray(y, dtype=object)):
            raise ValueError(f"{names} have different {name}; they must share id maps")


def _rating_metrics(
    run: ModelRun, test: Interactions, customer_idx: np.ndarray, n_bootstrap: int, seed: int | None
) -> pd.DataFrame | None:
    predict = getattr(run.model, "predict", None)
    if not callable(predict):
        return None
    rows = test.matrix[np.asarray(customer_idx, dtype=np.int64)].tocoo()
    keep = rows.data > 0
    if not keep.any():
        return None
    cust = np.asarray(customer_idx)[rows.row[keep]]
    pred = predict(test.customer_ids[cust], test.product_ids[rows.col[keep]])
    df = rating_summary(rows.data[keep], pred, customers=cust, n_boot=n_bootstrap, seed=seed)
    df.insert(0, "model", run.spec.label)
    return df


def evaluate_models(
    specs: Sequence[ModelSpec],
    train: Interactions,
    test: Interactions,
    k_values: Iterable[int] = (5, 10, 20),
    seed: int | None = 0,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    metrics: Sequence[str] = DEFAULT_METRICS,
    beyond_metrics: Sequence[str] = DEFAULT_BEYOND,
    segment_metrics: Sequence[str] | None = None,
    features: dict[str, Any] | None = None,
    item_categories: np.ndarray | None = None,
    devices: pd.Series | None = None,
    max_customers: int | None = None,
    light_max: int | None = None,
    exclude_seen: bool = True,
    rating_metrics: bool = True,
    progress: Callable[..., None] | None = None,
    min_group_size: int = 10,
) -> Evaluation:
    """Fit every model on ``train``, recommend to the test customers and measure everything.

    Parameters
    ----------
    specs : sequence of ModelSpec
        Models to compare (labels unique).
    train, test : Interactions
        Training and held-out parts sharing id maps (same shape).
    k_values : iterable of int
        List lengths to score; lists are computed once at the largest.
    seed : int or None
        Seed of models (``random_state``), customer sample and bootstrap.
    n_bootstrap : int
        Bootstrap resamples of customers for the confidence intervals.
    alpha : float
        1 - confidence level of the intervals.
    metrics : sequence of str
        Per-customer ranking metrics (:data:`recnb.metrics.RANKING_METRICS`).
    beyond_metrics : sequence of str
        Per-customer beyond-accuracy metrics (:data:`recnb.metrics.BEYOND_METRICS`;
        ``ild_category`` is skipped without ``item_categories``). Catalogue coverage and Gini of
        exposure are always computed.
    segment_metrics : sequence of str, optional
        Metrics summarised per segment (default: ``metrics``).
    features : dict, optional
        Side-feature overrides passed to every ``fit`` (see :meth:`Recommender.fit`).
    item_categories : numpy.ndarray, optional
        Category per product (column order of ``train``).
    devices : pandas.Series, optional
        Device per row index of ``test`` (see :func:`customer_devices`); adds device segments.
    max_customers : int, optional
        Evaluate a seeded sample of at most this many customers (None or 0: all).
    light_max : int, optional
        Light/heavy threshold (see :func:`customer_segments`).
    exclude_seen : bool
        Remove training items from the lists.
    rating_metrics : bool
        RMSE and MAE for models with a ``predict`` method (explicit ratings).
    progress : callable, optional
        ``progress("fit on train, score test", label, i, n)`` before each model (i models done;
        see :mod:`recnb.progress`), then ``progress("confidence intervals and segments")``.
    min_group_size : int
        Smallest customer segment reported in :attr:`Evaluation.segments` (see
        :func:`segment_summary`).

    Returns
    -------
    Evaluation
    """
    specs = list(specs)
    if not specs:
        raise ValueError("evaluate_models: no models given")
    labels = [s.label for s in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"evaluate_models: model labels must be unique, got {labels}")
    unknown = [m for m in metrics if m not in RANKING_METRICS]
    unknown += [m for m in beyond_metrics if m not in BEYOND_METRICS]
    if unknown:
        raise ValueError(
            f"unknown metric(s) {unknown}; ranking metrics are {RANKING_METRICS}, "
            f"beyond-accuracy metrics are {BEYOND_METRICS}"
        )
    check_same_index(train, test)
    if item_categories is not None and len(item_categories) != train.n_products:
        raise ValueError(
            f"item_categories has {len(item_categories)} entries, expected one per product "
            f"({train.n_products})"
        )
    ks = _check_ks(k_values)
    k_max = max(ks)
    cidx = evaluation_customers(test, max_customers, seed)
    if len(cidx) == 0:
        raise ValueError("evaluate_models: no customer has a relevant held-out item in test")
    customers, light_max = customer_segments(train, cidx, light_max)
    customers.insert(1, "customer_id", np.asarray(test.customer_ids, dtype=object)[cidx])
    if devices is not None:
        dev = pd.Series(devices)
        if len(dev) != test.n_customers:
            raise ValueError(
                f"devices has {len(dev)} entries, expected one per customer ({test.n_customers})"
            )
        customers["device"] = dev.to_numpy(dtype=object)[cidx]

    runs: dict[str, ModelRun] = {}
    per_customer, rating_parts, timing = [], [], []
    for i, spec in enumerate(specs):
        if progress is not None:
            progress("fit on train, score test", spec.label, i, len(specs))
        run = run_model(spec, train, cidx, k_max, seed, features, exclude_seen)
        runs[spec.label] = run
        per_customer.append(
            per_customer_metrics(
                run.topk,
                test,
                train,
                cidx,
                ks,
                [*metrics, *beyond_metrics],
                spec.label,
                item_categories,
            )
        )
        timing.append(
            {
                "model": spec.label,
                "fit_seconds": run.fit_seconds,
                "recommend_seconds": run.recommend_seconds,
                "customers_per_second": run.customers_per_second,
                "fit_peak_mb": run.fit_peak_mb,
                "recommend_peak_mb": run.recommend_peak_mb,
                "fit_cpu_seconds": run.fit_cpu_seconds,
                "recommend_cpu_seconds": run.recommend_cpu_seconds,
                "n_customers": int(len(cidx)),
            }
        )
        if rating_metrics:
            r = _rating_metrics(run, test, cidx, n_bootstrap, seed)
            if r is not None:
                rating_parts.append(r)

    pc = pd.concat(per_customer, ignore_index=True)
    if progress is not None:
        progress("confidence intervals and segments")
    summary = summarize(pc, n_boot=n_bootstrap, alpha=alpha, seed=seed)
    catalogue = aggregate_metrics(
        {label: run.topk for label, run in runs.items()},
        train.n_products,
        ks=ks,
        n_boot=n_bootstrap,
        alpha=alpha,
        seed=seed,
    )
    summary = pd.concat([summary, catalogue], ignore_index=True)
    summary["kind"] = np.where(summary["metric"].isin(RANKING_METRICS), "accuracy", "beyond")
    summary = _order_models(summary, labels)
    seg_metrics = list(segment_metrics) if segment_metrics is not None else list(metrics)
    segments = segment_summary(
        pc[pc["metric"].isin(seg_metrics)],
        customers,
        n_bootstrap,
        alpha,
        seed,
        min_group_size=min_group_size,
    )
    rating_df = (
        pd.concat(rating_parts, ignore_index=True)
        if rating_parts
        else pd.DataFrame(columns=["model", "metric", "value", "ci_low", "ci_high", "n"])
    )
    return Evaluation(
        customers=customers,
        per_customer=pc,
        summary=summary,
        rating=rating_df,
        timing=pd.DataFrame(timing),
        segments=segments,
        runs=runs,
        light_max=light_max,
        ks=ks,
    )


def segment_summary(
    per_customer: pd.DataFrame,
    customers: pd.DataFrame,
    n_bootstrap: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
    min_group_size: int = 10,
) -> pd.DataFrame:
    """Metric means with bootstrap intervals per activity segment and, if known, per device.

    Segments with fewer than ``min_group_size`` evaluated customers are left out (privacy: no
    report row describes a handful of people).

    Parameters
    ----------
    per_customer : pandas.DataFrame
        ``model, customer, metric, k, value``.
    customers : pandas.DataFrame
        ``customer``, ``segment`` and optionally ``device`` (see :class:`Evaluation`).
    n_bootstrap, alpha, seed
        Bootstrap settings.
    min_group_size : int
        Smallest segment reported.

    Returns
    -------
    pandas.DataFrame
        ``model, segment_kind, segment, metric, k, value, ci_low, ci_high, n``; segments with no
        customer, or fewer than ``min_group_size``, are absent.
    """
    columns = ["model", "segment_kind", "segment", "metric", "k", "value", "ci_low", "ci_high", "n"]
    kinds = [("activity", "segment")]
    if "device" in customers.columns:
        kinds.append(("device", "device"))
    out = []
    for kind, column in kinds:
        labels = customers.set_index("customer")[column]
        if not isinstance(labels.dtype, pd.CategoricalDtype):
            # compare as text, as _segment_order lists them (e.g. integer device codes)
            labels = labels.where(labels.isna(), labels.astype(str))
        seg = per_customer["customer"].map(labels).to_numpy()
        for value in _segment_order(labels):
            sel = per_customer[seg == value]
            if sel.empty or sel["value"].notna().sum() == 0:
                continue
            if sel["customer"].nunique() < min_group_size:
                continue
            s = summarize(sel, n_boot=n_bootstrap, alpha=alpha, seed=seed)
            s.insert(1, "segment_kind", kind)
            s.insert(2, "segment", str(value))
            out.append(s)
    if not out:
        return pd.DataFrame(columns=columns)
    models = list(dict.fromkeys(per_customer["model"]))
    return _order_models(pd.concat(out, ignore_index=True), models)[columns]


def _segment_order(labels: pd.Series) -> list[Any]:
    if isinstance(labels.dtype, pd.CategoricalDtype):
        return [c for c in labels.cat.categories if (labels == c).any()]
    return sorted(pd.unique(labels.dropna().astype(str)))


def _order_models(df: pd.DataFrame, labels: Sequence[str]) -> pd.DataFrame:
    """Sort a table by the configured model order, keeping its own order within a model."""
    if df.empty:
        return df
    rank = {m: i for i, m in enumerate(labels)}
    key = df["model"].map(rank).fillna(len(rank)).to_numpy()
    order = np.lexsort((np.arange(len(df)), key))
    return df.iloc[order].reset_index(drop=True)
