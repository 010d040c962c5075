"""Fit, recommend and score models on a split: the glue between :mod:`recnb.models` and
:mod:`recnb.metrics`.

One call, :func:`evaluate_models`, takes the models configured in a params file (as
:class:`~recnb.evaluation.specs.ModelSpec` objects), fits each on a training part, recommends
top-``K`` lists for the evaluation customers in batches through
:meth:`~recnb.models.base.Recommender.recommend_indices`, and turns the lists into tidy tables:

- per-customer ranking metrics (``model, customer_row, metric, k, value``; ``customer_row`` is
  the row index shared by every part of the split);
- their means with percentile-bootstrap 95% confidence intervals over customers (the same
  resamples for every model, so intervals are paired);
- beyond-accuracy metrics of the lists: per customer (novelty, popularity bias, serendipity,
  category diversity) and per catalogue (coverage, Gini of exposure), with intervals too;
- rating error (RMSE/MAE) for models that predict ratings (``predict``), on explicit data;
- cost: training and recommendation wall time, customers served per second and the peak
  increase of resident memory during each step;
- the same accuracy metrics per customer segment (:mod:`recnb.evaluation.segments`): ``cold``,
  ``light``, ``heavy`` and the customer's device when the data has one.

Evaluation customers are those with at least one relevant (value > 0) held-out item; all others
have undefined recall and NDCG and are left out, as in every published protocol. Seen items
(value > 0 in the training part) are excluded from the lists unless ``exclude_seen=False``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.data.interactions import Interactions, as_csr, check_same_ids
from recnb.evaluation.cost import PeakMemory
from recnb.evaluation.parallel import model_executor, resolve_n_jobs
from recnb.evaluation.segments import customer_segments, segment_summary
from recnb.evaluation.specs import ModelSpec, order_by_models
from recnb.metrics import (
    BEYOND_METRICS,
    RANKING_METRICS,
    aggregate_metrics,
    check_ks,
    rating_summary,
    summarize,
)
from recnb.metrics import evaluate as metrics_evaluate
from recnb.models.base import Recommender
from recnb.prep.split import load_split

__all__ = [
    "DEFAULT_BEYOND",
    "DEFAULT_METRICS",
    "Evaluation",
    "ModelRun",
    "ProgressCallback",
    "evaluate_models",
    "evaluation_customers",
    "load_evaluation_parts",
    "per_customer_metrics",
    "product_categories",
    "recommend_topk",
    "run_model",
]

#: ranking metrics computed per customer by default (names from recnb.metrics.ranking)
DEFAULT_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "map_min", "hit_rate", "mrr")
#: per-customer beyond-accuracy metrics computed by default (recnb.metrics.beyond)
DEFAULT_BEYOND: tuple[str, ...] = ("novelty", "arp", "aplt", "serendipity", "ild_category")
#: progress step of the final fits (:func:`evaluate_models`)
FINAL_STEP = "fit on train, score test"
#: customers recommended per call of recommend_indices (the model batches further inside)
RECOMMEND_CHUNK = 20_000


class ProgressCallback(Protocol):
    """What the long functions of this layer call to report progress: ``progress(step, model,
    n, total)`` (model i of n, trial n of N). :class:`recnb.workflow.progress.Progress` is one."""

    def __call__(
        self, step: str, model: str | None = None, n: int | None = None, total: int | None = None
    ) -> None: ...


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
# customers and recommendation
# ----------------------------------------------------------------------------------------------


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
    m = as_csr(truth)
    positive = np.asarray((m > 0).sum(axis=1)).ravel()
    rows = np.flatnonzero(positive > 0).astype(np.int64)
    if max_customers is not None and max_customers < 0:
        raise ValueError(f"max_customers must be >= 0 or None, got {max_customers}")
    if max_customers and len(rows) > max_customers:
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(rows, size=int(max_customers), replace=False))
    return rows


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
    watcher: Callable[[Recommender, int], None] | None = None,
) -> ModelRun:
    """Fit ``spec`` on ``train`` and recommend ``k`` products to ``customer_idx``, timed.

    ``watcher`` is called after each pass of an iterative fit (see
    :meth:`recnb.models.base.Recommender.watching`); it may raise to stop the fit.
    """
    model = spec.build(seed)
    with PeakMemory() as mem_fit, model.watching(watcher):
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
        Columns ``model, customer_row, metric, k, value`` (``customer_row`` = row of ``test``).
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
        ``customer_row`` (row index), ``customer_id``, ``n_train``, ``segment`` and, when known,
        ``device``: one row per evaluation customer.
    per_customer : pandas.DataFrame
        ``model, customer_row, metric, k, value`` (ranking and per-customer beyond-accuracy metrics).
    summary : pandas.DataFrame
        ``model, metric, k, value, ci_low, ci_high, n, kind``: every metric's mean with its
        bootstrap interval over customers, plus catalogue coverage and Gini of exposure
        (bootstrap over lists); ``kind`` is ``"accuracy"`` or ``"beyond"``.
    rating : pandas.DataFrame
        ``model, metric, value, ci_low, ci_high, n`` (RMSE/MAE; empty without rating models).
    timing : pandas.DataFrame
        ``model, fit_seconds, recommend_seconds, customers_per_second, fit_peak_mb,
        recommend_peak_mb, fit_cpu_seconds, recommend_cpu_seconds, scoring_seconds,
        n_customers``: wall-clock seconds, peak resident-memory increase (MB) and CPU seconds
        of the process that ran the model (all threads; less sensitive than wall time to other
        load on the machine); ``scoring_seconds`` is the time to compute the per-customer
        metrics of its lists.
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


def _evaluate_one(
    spec: ModelSpec,
    train: Interactions,
    test: Interactions,
    cidx: np.ndarray,
    ks: tuple[int, ...],
    seed: int | None,
    metrics: Sequence[str],
    features: dict[str, Any] | None,
    item_categories: np.ndarray | None,
    exclude_seen: bool,
    rating_metrics: bool,
    n_bootstrap: int,
) -> tuple[ModelRun, pd.DataFrame, float, pd.DataFrame | None]:
    """One model of :func:`evaluate_models`: fit, lists, per-customer metrics (and their
    seconds), rating error. A task of :func:`recnb.evaluation.parallel.model_executor`."""
    run = run_model(spec, train, cidx, max(ks), seed, features, exclude_seen)
    t0 = time.perf_counter()
    pc = per_customer_metrics(run.topk, test, train, cidx, ks, metrics, spec.label, item_categories)
    scored = time.perf_counter() - t0
    rating = _rating_metrics(run, test, cidx, n_bootstrap, seed) if rating_metrics else None
    return run, pc, scored, rating


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
    progress: ProgressCallback | None = None,
    min_group_size: int = 10,
    n_jobs: int = 1,
    expected_seconds: Mapping[str, float] | None = None,
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
        Device per row index of ``test`` (see :func:`recnb.evaluation.segments.customer_devices`);
        adds device segments.
    max_customers : int, optional
        Evaluate a seeded sample of at most this many customers (None or 0: all).
    light_max : int, optional
        Light/heavy threshold (see :func:`recnb.evaluation.segments.customer_segments`).
    exclude_seen : bool
        Remove training items from the lists.
    rating_metrics : bool
        RMSE and MAE for models with a ``predict`` method (explicit ratings).
    progress : callable, optional
        ``progress("fit on train, score test", label, i, n)`` as each model finishes (``i``
        models done, ``label`` the one that just finished; ``None`` and 0 first; a
        :class:`ProgressCallback`), then ``progress("confidence intervals and segments")``.
    min_group_size : int
        Smallest customer segment reported in :attr:`Evaluation.segments` (see
        :func:`recnb.evaluation.segments.segment_summary`).
    n_jobs : int
        Models fitted and scored side by side on this many worker processes
        (:func:`recnb.evaluation.parallel.model_executor`); the results are identical for any
        ``n_jobs`` (measured times aside).
    expected_seconds : mapping, optional
        ``{label: seconds}`` expected per model (e.g.
        :func:`recnb.evaluation.tuning.expected_fit_seconds`): the models are handed to the
        workers longest first, so a long fit does not start last and run alone at the end.
        Only the order of work changes; results and tables keep the order of ``specs``.

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
    resolve_n_jobs(n_jobs)
    check_same_ids({"train": train, "test": test}, "evaluate_models")
    if item_categories is not None and len(item_categories) != train.n_products:
        raise ValueError(
            f"item_categories has {len(item_categories)} entries, expected one per product "
            f"({train.n_products})"
        )
    ks = check_ks(k_values, name="k_values")
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
    expected = dict(expected_seconds or {})
    # longest first (ties and unknown models keep their order): a stable sort on -seconds
    start = sorted(range(len(specs)), key=lambda i: -float(expected.get(specs[i].label, 0.0)))
    with model_executor(n_jobs, len(specs)) as executor:
        submitted = {
            i: executor.submit(
                _evaluate_one,
                spec,
                train,
                test,
                cidx,
                ks,
                seed,
                [*metrics, *beyond_metrics],
                features,
                item_categories,
                exclude_seen,
                rating_metrics,
                n_bootstrap,
            )
            for i, spec in ((i, specs[i]) for i in start)
        }
        futures = [submitted[i] for i in range(len(specs))]
        if progress is not None:  # as the models finish (longest first: not in their order)
            label_of = {id(f): s.label for s, f in zip(specs, futures, strict=True)}
            progress(FINAL_STEP, None, 0, len(specs))
            for n_done, future in enumerate(as_completed(futures), 1):
                progress(FINAL_STEP, label_of[id(future)], n_done, len(specs))
        for spec, future in zip(specs, futures, strict=True):
            run, pc_one, scored, rating_one = future.result()
            runs[spec.label] = run
            per_customer.append(pc_one)
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
                    "scoring_seconds": scored,
                    "n_customers": int(len(cidx)),
                }
            )
            if rating_one is not None:
                rating_parts.append(rating_one)

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
    summary = order_by_models(summary, labels)
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
