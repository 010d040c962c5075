"""Top-k ranking metrics per customer, vectorized over customers, many cut-offs from one top-K array.

Definitions (``hit_r`` = 1 when the item at rank ``r`` is relevant, ``R`` = number of relevant
held-out items of the customer, ``g_r`` = gain of the item at rank ``r``):

========== ==================================================================================
precision  ``sum_{r<=k} hit_r / k`` (denominator ``k`` even when the list is shorter)
recall     ``sum_{r<=k} hit_r / R``
f1         ``2 * precision * recall / (precision + recall)``, 0 when both are 0
hit_rate   1 if any of the first ``k`` items is relevant, else 0
mrr        ``1 / rank`` of the first relevant item within the first ``k``, else 0
ndcg       ``DCG@k / IDCG@k`` with ``DCG@k = sum_{r<=k} g_r / log2(r + 1)``; IDCG is the DCG of
           the customer's held-out items sorted by gain. Binary gain (``g = 1`` if relevant)
           unless ``graded=True``: then ``g = grade`` (``gain="linear"``, as scikit-learn and
           ranx ``ndcg``) or ``g = 2**grade - 1`` (``gain="exponential"``, ranx
           ``ndcg_burges``).
map_rel    average precision with denominator ``R``:
           ``sum_{r<=k} hit_r * precision@r / R`` (ranx ``map@k``; TREC-style; can be < 1
           for a perfect list when ``R > k``)
map_min    average precision with denominator ``min(k, R)``
           (Microsoft Recommenders ``map_at_k``, Spark ``meanAveragePrecisionAt``;
           a perfect list always scores 1)
map_msr    Microsoft Recommenders ``map`` (the "MAP" column of their benchmark table): per
           customer identical to ``map_rel``; the only difference is that a customer with an
           empty list (all ``-1``) is NaN, i.e. left out of the mean, because their ``map``
           divides by the number of users present in both the truth and the predictions.
========== ==================================================================================

Peers, checked in the tests and ``benchmarks/bench_metrics.py``: precision, recall, NDCG and
``map_rel`` equal ranx's ``precision``, ``recall``, ``ndcg`` and ``map`` per customer; Microsoft
Recommenders' ``precision_at_k``, ``recall_at_k``, ``map_at_k`` and ``map`` average over the
customers present in both their truth and prediction frames (a customer with an empty list is
left out), while their ``ndcg_at_k`` averages over every customer of the truth frame (an empty
list counts 0, as here). Their NDCG uses a natural-log discount by default, which gives the same
ratio.

Only NDCG uses graded relevance; every other metric treats a grade ``> 0`` as relevant.
Customers with no relevant held-out item get NaN for every metric and are therefore excluded from
averages (:func:`recnb.metrics.summarize` skips NaN).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse

from recnb.metrics._common import (
    CUSTOMER_LABEL,
    CUSTOMER_ROW,
    check_ks,
    check_topk,
    check_truth,
    lookup,
    row_ids,
)

__all__ = [
    "RANKING_METRICS",
    "relevance_matrix",
    "ranking_metric_arrays",
    "ranking_metrics",
    "tidy_metrics",
]

RANKING_METRICS: tuple[str, ...] = (
    "precision",
    "recall",
    "f1",
    "hit_rate",
    "mrr",
    "ndcg",
    "map_rel",
    "map_min",
    "map_msr",
)

Gain = Literal["linear", "exponential"]


def relevance_matrix(
    topk: ArrayLike, truth: sparse.spmatrix | sparse.sparray
) -> tuple[np.ndarray, np.ndarray]:
    """Relevance of every recommended item, shape ``(n_customers, K)``.

    Parameters
    ----------
    topk : array-like of int, shape (n_customers, K)
        Product indices, best first; ``-1`` pads short rows.
    truth : scipy sparse matrix, shape (n_customers, n_products)
        Held-out items with relevance grades (> 0 relevant).

    Returns
    -------
    hit : numpy.ndarray of bool, shape (n_customers, K)
        True where the recommended item is a relevant held-out item.
    grade : numpy.ndarray of float64, shape (n_customers, K)
        Its relevance grade (0 where not relevant).
    """
    truth = check_truth(truth)
    items = check_topk(topk, truth.shape[1])
    _check_rows(items, truth)
    grade = lookup(items, truth)
    return grade > 0, grade


def ranking_metric_arrays(
    topk: ArrayLike,
    truth: sparse.spmatrix | sparse.sparray,
    ks: int | Iterable[int] = (5, 10),
    metrics: Sequence[str] | None = None,
    graded: bool = False,
    gain: Gain = "linear",
) -> dict[tuple[str, int], np.ndarray]:
    """Per-customer ranking metrics as arrays, for every requested metric and cut-off.

    Parameters
    ----------
    topk : array-like of int, shape (n_customers, K)
        Product indices, best first; ``-1`` pads short rows.
    truth : scipy sparse matrix, shape (n_customers, n_products)
        Held-out items; row ``i`` belongs to the customer of ``topk[i]``.
    ks : int or iterable of int
        Cut-offs, each ``<= K``.
    metrics : sequence of str, optional
        Names from :data:`RANKING_METRICS` (default: all). See the module docstring.
    graded : bool
        Use the stored grades as NDCG gains (default: binary relevance).
    gain : {"linear", "exponential"}
        Graded NDCG gain ``grade`` or ``2**grade - 1``; ignored when ``graded`` is False.

    Returns
    -------
    dict
        ``{(metric, k): values}`` with ``values`` float64 of length ``n_customers``; NaN for
        customers without a relevant held-out item (and, for ``map_msr``, with an empty list).
    """
    truth = check_truth(truth)
    items = check_topk(topk, truth.shape[1])
    _check_rows(items, truth)
    names = _check_metrics(metrics)
    if gain not in ("linear", "exponential"):
        raise ValueError(f"gain must be 'linear' or 'exponential', got {gain!r}")
    n, width = items.shape
    cutoffs = check_ks(ks, width)

    # Work rank-major, shape (K, n): cumulative sums over ranks then add contiguous rows.
    grade = lookup(items, truth, transposed=True)
    hit = grade > 0
    n_rel = np.diff(truth.indptr).astype(np.float64)
    no_truth = n_rel == 0
    ranks = np.arange(1, width + 1, dtype=np.float64)[:, None]
    cum_hits = _cumsum_ranks(hit.astype(np.float64))

    cum_dcg = ideal = cum_discount = None
    if "ndcg" in names:
        discount = 1.0 / np.log2(ranks + 1.0)
        if graded:
            cum_dcg = _cumsum_ranks(_gain(grade, gain) * discount)
            top = np.ascontiguousarray(_top_grades(truth, width).T)
            ideal = _cumsum_ranks(_gain(top, gain) * discount)
        else:
            cum_dcg = _cumsum_ranks(hit * discount)
            cum_discount = np.cumsum(discount[:, 0])
    cum_ap = None
    if names & {"map_rel", "map_min", "map_msr"}:
        cum_ap = _cumsum_ranks(np.where(hit, cum_hits / ranks, 0.0))
    first_hit = None
    if "mrr" in names:
        first_hit = np.where(hit.any(axis=0), hit.argmax(axis=0), width)
    empty_list = items[:, 0] < 0 if width else np.ones(n, dtype=bool)

    out: dict[tuple[str, int], np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for k in cutoffs:
            hits_k = cum_hits[k - 1]
            values: dict[str, np.ndarray] = {}
            precision = hits_k / k
            recall = hits_k / n_rel
            values["precision"] = precision
            values["recall"] = recall
            if "f1" in names:
                total = precision + recall
                values["f1"] = np.where(total > 0, 2 * precision * recall / total, 0.0)
            values["hit_rate"] = (hits_k > 0).astype(np.float64)
            if first_hit is not None:
                values["mrr"] = np.where(first_hit < k, 1.0 / (first_hit + 1.0), 0.0)
            if cum_dcg is not None:
                if ideal is None:
                    best = np.minimum(n_rel, k).astype(np.int64)
                    idcg = np.where(best > 0, cum_discount[np.maximum(best, 1) - 1], 0.0)
                else:
                    idcg = ideal[k - 1]
                values["ndcg"] = cum_dcg[k - 1] / idcg
            if cum_ap is not None:
                values["map_rel"] = cum_ap[k - 1] / n_rel
                values["map_min"] = cum_ap[k - 1] / np.minimum(n_rel, k)
                values["map_msr"] = np.where(empty_list, np.nan, values["map_rel"])
            for name in RANKING_METRICS:
                if name in names:
                    value = values[name]
                    value[no_truth] = np.nan
                    out[(name, k)] = value
    return out


def ranking_metrics(
    topk: ArrayLike,
    truth: sparse.spmatrix | sparse.sparray,
    ks: int | Iterable[int] = (5, 10),
    metrics: Sequence[str] | None = None,
    graded: bool = False,
    gain: Gain = "linear",
    customers: ArrayLike | None = None,
    drop_empty: bool = False,
) -> pd.DataFrame:
    """Per-customer ranking metrics as a tidy (long) DataFrame.

    Parameters
    ----------
    topk, truth, ks, metrics, graded, gain
        As in :func:`ranking_metric_arrays`; definitions in the module docstring.
    customers : array-like, optional
        Customer labels, one per row, for a ``customer`` column; without them the frame has a
        ``customer_row`` column holding the row index 0..n-1 instead.
    drop_empty : bool
        Drop customers without a relevant held-out item (their values are all NaN).

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_row`` (or ``customer``, see ``customers``), ``metric`` (str), ``k``
        (int64), ``value`` (float64); one row per customer, metric and cut-off, ordered by
        metric, k, customer.
    """
    arrays = ranking_metric_arrays(topk, truth, ks, metrics, graded, gain)
    n = truth.shape[0]
    keep = None
    if drop_empty:
        keep = np.diff(check_truth(truth).indptr) > 0
    column = CUSTOMER_ROW if customers is None else CUSTOMER_LABEL
    return tidy_metrics(arrays, _labels(customers, n), keep, column=column)


def tidy_metrics(
    arrays: dict[tuple[str, int], np.ndarray],
    customers: np.ndarray,
    keep: np.ndarray | None = None,
    column: str = CUSTOMER_ROW,
) -> pd.DataFrame:
    """Turn ``{(metric, k): per-customer values}`` into the tidy frame used across recnb.

    Parameters
    ----------
    arrays : dict
        ``{(metric, k): values}``; every ``values`` has one entry per customer.
    customers : numpy.ndarray
        Customer row indices or labels, same length as every value array.
    keep : numpy.ndarray of bool, optional
        Customers to keep (default: all).
    column : str
        Name of the customer column: ``"customer_row"`` for row indices (the default),
        ``"customer"`` for labels given by the caller.

    Returns
    -------
    pandas.DataFrame
        Columns ``<column>``, ``metric``, ``k``, ``value``.
    """
    customers = np.asarray(customers)
    if keep is not None:
        customers = customers[keep]
    keys = list(arrays)
    n = customers.shape[0]
    if keys:
        values = np.concatenate(
            [
                np.asarray(arrays[key], dtype=np.float64)[keep if keep is not None else slice(None)]
                for key in keys
            ]
        )
    else:
        values = np.empty(0, dtype=np.float64)
    if values.shape[0] != n * len(keys):
        raise ValueError("every metric array must have one value per customer")
    return pd.DataFrame(
        {
            column: np.tile(customers, len(keys)),
            "metric": np.repeat(np.array([m for m, _ in keys], dtype=object), n),
            "k": np.repeat(np.array([k for _, k in keys], dtype=np.int64), n),
            "value": values,
        }
    )


def _labels(customers: ArrayLike | None, n: int) -> np.ndarray:
    if customers is None:
        return np.arange(n, dtype=np.int64)
    labels = np.asarray(customers)
    if labels.shape != (n,):
        raise ValueError(f"customers has shape {labels.shape}; expected one label per row ({n},)")
    return labels


def _check_rows(items: np.ndarray, truth: sparse.csr_matrix) -> None:
    if items.shape[0] != truth.shape[0]:
        raise ValueError(
            f"topk has {items.shape[0]} rows but truth has {truth.shape[0]}; "
            "row i of both must be the same customer"
        )


def _check_metrics(metrics: Sequence[str] | None) -> set[str]:
    if metrics is None:
        return set(RANKING_METRICS)
    if isinstance(metrics, str):
        metrics = [metrics]
    unknown = [m for m in metrics if m not in RANKING_METRICS]
    if unknown:
        raise ValueError(f"unknown ranking metric(s) {unknown}; choose from {RANKING_METRICS}")
    return set(metrics)


def _cumsum_ranks(x: np.ndarray) -> np.ndarray:
    """Cumulative sum over ranks (axis 0) of a rank-major (K, n) float array, in place.

    A loop over the K ranks, each step one vectorized add over all customers: several times
    faster than ``np.cumsum(axis=0)``, whose inner loop runs along the strided axis.
    """
    for j in range(1, x.shape[0]):
        np.add(x[j - 1], x[j], out=x[j])
    return x


def _gain(grade: np.ndarray, gain: Gain) -> np.ndarray:
    return grade if gain == "linear" else np.exp2(grade) - 1.0


def _top_grades(truth: sparse.csr_matrix, width: int) -> np.ndarray:
    """The ``width`` largest grades of each row, descending, zero-padded: shape (n, width)."""
    n = truth.shape[0]
    rows = row_ids(truth)
    order = np.lexsort((-truth.data, rows))
    within = np.arange(truth.nnz, dtype=np.int64) - truth.indptr[rows]
    keep = within < width
    top = np.zeros((n, width), dtype=np.float64)
    top[rows[keep], within[keep]] = truth.data[order][keep]
    return top
