"""One call for the notebooks: every per-customer metric of every model in one tidy frame.

:func:`evaluate` returns columns ``model, customer_row, metric, k, value`` (``customer`` when the
caller gives customer labels); feed it to
:func:`recnb.metrics.summarize` for means with confidence intervals and to
:func:`recnb.metrics.compare_models` for the significance table. Catalogue-level metrics
(coverage, Gini) come from :func:`recnb.metrics.aggregate_metrics`, which returns the summary
columns directly.

Every per-customer value, including the beyond-accuracy ones, is computed for the evaluated
customers only: those with at least one relevant held-out item. The others are NaN (dropped
from the frame by default), so all metrics of a report average over the same customers.
``k = 0`` marks a metric without a cut-off (``auc``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse

from recnb.metrics._common import CUSTOMER_LABEL, CUSTOMER_ROW, check_ks, check_topk, check_truth
from recnb.metrics.auc import ScoreSource, auc_per_customer
from recnb.metrics.beyond import (
    aplt,
    arp,
    ild_category,
    ild_embedding,
    novelty,
    popular_items,
    popularity_lift,
    serendipity,
)
from recnb.metrics.ranking import (
    RANKING_METRICS,
    Gain,
    _labels,
    ranking_metric_arrays,
    tidy_metrics,
)

__all__ = ["BEYOND_METRICS", "PER_CUSTOMER_METRICS", "evaluate"]

BEYOND_METRICS: tuple[str, ...] = (
    "novelty",
    "serendipity",
    "arp",
    "aplt",
    "popularity_lift",
    "ild_category",
    "ild_embedding",
)
PER_CUSTOMER_METRICS: tuple[str, ...] = RANKING_METRICS + BEYOND_METRICS + ("auc",)

_NEEDS = {
    "novelty": "train",
    "arp": "train",
    "aplt": "train",
    "popularity_lift": "train",
    "serendipity": "train or popularity_baseline",
    "ild_category": "item_categories",
    "ild_embedding": "item_embeddings",
    "auc": "scores",
}


def evaluate(
    recommendations: Mapping[str, ArrayLike],
    truth: sparse.spmatrix | sparse.sparray,
    *,
    ks: int | Iterable[int] = (5, 10),
    metrics: Sequence[str] | None = None,
    graded: bool = False,
    gain: Gain = "linear",
    train: sparse.spmatrix | sparse.sparray | None = None,
    item_categories: ArrayLike | None = None,
    item_embeddings: ArrayLike | None = None,
    popularity_baseline: str | ArrayLike | None = None,
    scores: Mapping[str, ScoreSource] | None = None,
    head_share: float = 0.8,
    customers: ArrayLike | None = None,
    drop_empty: bool = True,
) -> pd.DataFrame:
    """Per-customer metrics of several models in one tidy frame.

    Parameters
    ----------
    recommendations : mapping of str to array-like of int, shape (n_customers, K)
        Each model's top-K product indices (best first, ``-1`` pads short lists); row ``i``
        belongs to the customer of row ``i`` of ``truth``.
    truth : scipy sparse matrix, shape (n_customers, n_products)
        Held-out items with relevance grades (> 0 relevant).
    ks : int or iterable of int
        Cut-offs.
    metrics : sequence of str, optional
        Names from :data:`PER_CUSTOMER_METRICS`. Default: all ranking metrics plus every other
        metric whose input is given (train -> novelty, arp, aplt, popularity_lift, serendipity;
        item_categories -> ild_category; item_embeddings -> ild_embedding; scores -> auc).
        Asking for a metric without its input raises.
    graded, gain
        NDCG gain, see :func:`recnb.metrics.ranking_metric_arrays`.
    train : scipy sparse matrix, optional
        Training interactions: popularity for the beyond-accuracy metrics, and the products
        excluded from AUC.
    item_categories : array-like, shape (n_products,), optional
        Category of each product.
    item_embeddings : array-like, shape (n_products, d), optional
        Embedding of each product.
    popularity_baseline : str or array-like, optional
        For serendipity: a key of ``recommendations`` (e.g. ``"popularity"``), a 1-D ranked
        product list or a 2-D per-customer top-K. Default: the most popular training products.
    scores : mapping of str to score source, optional
        Per model, dense scores or a batch scoring callable for :func:`auc_per_customer`.
    head_share : float
        Interaction share of the popularity head for ``aplt``.
    customers : array-like, optional
        Customer labels for a ``customer`` column; without them the frame has a
        ``customer_row`` column holding the row index of ``truth``.
    drop_empty : bool
        Drop customers without a relevant held-out item (all their values are NaN).

    Returns
    -------
    pandas.DataFrame
        Columns ``model``, ``customer_row`` (or ``customer``), ``metric``, ``k``, ``value``.
    """
    truth = check_truth(truth)
    n, n_products = truth.shape
    labels = _labels(customers, n)
    if not recommendations:
        raise ValueError("recommendations is empty: give at least one model's top-K array")
    checked = {
        str(name): check_topk(topk, n_products, name=f"recommendations[{name!r}]")
        for name, topk in recommendations.items()
    }
    for name, items in checked.items():
        if items.shape[0] != n:
            raise ValueError(
                f"recommendations[{name!r}] has {items.shape[0]} rows but truth has {n}"
            )
    width = min(items.shape[1] for items in checked.values())
    cutoffs = check_ks(ks, width)
    available = {
        "train": train is not None,
        "train or popularity_baseline": train is not None or popularity_baseline is not None,
        "item_categories": item_categories is not None,
        "item_embeddings": item_embeddings is not None,
        "scores": scores is not None,
    }
    if metrics is None:
        chosen = list(RANKING_METRICS) + [
            m for m in (*BEYOND_METRICS, "auc") if available[_NEEDS[m]]
        ]
    else:
        chosen = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in chosen if m not in PER_CUSTOMER_METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {PER_CUSTOMER_METRICS}")
        for m in chosen:
            if m in _NEEDS and not available[_NEEDS[m]]:
                raise ValueError(f"metric {m!r} needs {_NEEDS[m]}, which was not given")
    if train is not None and train.shape != truth.shape:
        raise ValueError(f"train has shape {train.shape}, truth has {truth.shape}")
    baseline = None
    if "serendipity" in chosen:
        baseline = _baseline(popularity_baseline, checked, train, max(cutoffs))

    evaluated = np.diff(truth.indptr) > 0
    frames = []
    for name, items in checked.items():
        ranking = [m for m in chosen if m in RANKING_METRICS]
        arrays: dict[tuple[str, int], np.ndarray] = {}
        if ranking:
            arrays.update(ranking_metric_arrays(items, truth, cutoffs, ranking, graded, gain))
        for k in cutoffs:
            for metric in chosen:
                value = _beyond(
                    metric,
                    items,
                    k,
                    truth,
                    train,
                    item_categories,
                    item_embeddings,
                    baseline,
                    head_share,
                )
                if value is not None:
                    arrays[(metric, k)] = value
        if "auc" in chosen:
            if name not in scores:
                raise ValueError(f"metric 'auc' needs scores[{name!r}], which was not given")
            arrays[("auc", 0)] = auc_per_customer(scores[name], truth, exclude=train)
        for value in arrays.values():
            value[~evaluated] = np.nan
        column = CUSTOMER_ROW if customers is None else CUSTOMER_LABEL
        frame = tidy_metrics(arrays, labels, evaluated if drop_empty else None, column=column)
        frame.insert(0, "model", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _baseline(
    popularity_baseline: str | ArrayLike | None,
    checked: Mapping[str, np.ndarray],
    train: sparse.spmatrix | sparse.sparray | None,
    k: int,
) -> np.ndarray:
    if popularity_baseline is None:
        return popular_items(train, k)
    if isinstance(popularity_baseline, str):
        if popularity_baseline not in checked:
            raise ValueError(
                f"popularity_baseline {popularity_baseline!r} is not among the models "
                f"{list(checked)}"
            )
        return checked[popularity_baseline]
    return np.asarray(popularity_baseline)


def _beyond(
    metric: str,
    items: np.ndarray,
    k: int,
    truth: sparse.csr_matrix,
    train: sparse.spmatrix | sparse.sparray | None,
    item_categories: ArrayLike | None,
    item_embeddings: ArrayLike | None,
    baseline: np.ndarray | None,
    head_share: float,
) -> np.ndarray | None:
    if metric == "novelty":
        return novelty(items, train, k)
    if metric == "serendipity":
        return serendipity(items, truth, baseline, k)
    if metric == "arp":
        return arp(items, train, k)
    if metric == "aplt":
        return aplt(items, train, k, head_share)
    if metric == "popularity_lift":
        return popularity_lift(items, train, k)
    if metric == "ild_category":
        return ild_category(items, item_categories, k)
    if metric == "ild_embedding":
        return ild_embedding(items, item_embeddings, k)
    return None
