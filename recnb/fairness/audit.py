"""The inputs of the fairness audit: stage 03's candidate lists and the per-customer metric table.

Stage 03 (model comparison) writes every model's final candidate list for the evaluated test
customers (:func:`candidate_lists`) to ``results/03_model_comparison/candidates.parquet``:
columns ``model`` (label), ``customer_row`` (row index of the split's customers, as in stage
03's other tables), ``rank`` (1..C), ``product`` (column index of the split's products) and ``score`` (the model's score, float32); only real entries (no padding).
The first ``k`` entries of a list are the list stage 03 scored; the rest are the candidates the
re-rankers may promote, kept only for the models stage 04 re-ranks (the other models' lists stop at
the scored list and their scores are NaN: :func:`recnb.fairness.stage.stage03_handoff`).
:func:`read_candidates` turns the file into arrays.

:func:`per_customer_table` computes, for every model and evaluated customer, the metrics the
group analysis disaggregates (lists cut at ``k``):

========================= ============================================================
ndcg, recall, hit_rate,   ranking metrics of :mod:`recnb.metrics.ranking` (binary relevance:
mrr                       a held-out item with value > 0), the numbers stage 03 reports
arp, aplt                 average popularity of the listed products and their long-tail share
                          (:func:`recnb.metrics.arp`, :func:`recnb.metrics.aplt`)
popularity_lift           ``(ARP - PP(u)) / PP(u)``: how much more popular the list is than what
                          the customer consumed (:func:`recnb.metrics.popularity_lift`)
calibration_kl            Steck's miscalibration of the list's categories against the customer's
                          training history (:func:`recnb.fairness.rerank.calibration_kl`)
========================= ============================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from recnb.fairness.rerank import calibration_kl, category_distribution
from recnb.metrics import aplt, arp, profile_popularity, ranking_metric_arrays

__all__ = [
    "CANDIDATE_COLUMNS",
    "CUSTOMER_METRICS",
    "HIGHER_IS_BETTER",
    "Candidates",
    "candidate_lists",
    "candidates_table",
    "category_codes",
    "per_customer_table",
    "read_candidates",
]

CANDIDATE_COLUMNS = ["model", "customer_row", "rank", "product", "score"]
#: per-customer metrics of :func:`per_customer_table`, in report order
CUSTOMER_METRICS: tuple[str, ...] = (
    "ndcg",
    "recall",
    "hit_rate",
    "mrr",
    "arp",
    "aplt",
    "popularity_lift",
    "calibration_kl",
)
#: direction of each metric for a customer: True higher is better, False lower is better, None
#: neither (a description of the list, not a quality)
HIGHER_IS_BETTER: dict[str, bool | None] = {
    "ndcg": True,
    "recall": True,
    "hit_rate": True,
    "mrr": True,
    "arp": None,
    "aplt": None,
    "popularity_lift": None,
    "calibration_kl": False,
    "expected_clicks": True,
}
_RANKING = ("ndcg", "recall", "hit_rate", "mrr")


def candidates_table(
    lists: Mapping[str, tuple[np.ndarray, np.ndarray]], customer_idx: np.ndarray
) -> pd.DataFrame:
    """The long table stage 03 writes: one row per (model, customer, rank) of real candidates.

    Parameters
    ----------
    lists : mapping of str to (indices, scores)
        Per model label, product indices ``(n, C)`` (-1 padding) and scores ``(n, C)``.
    customer_idx : numpy.ndarray of int, shape (n,)
        The customers' row indices, in the lists' row order.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CANDIDATE_COLUMNS` (``model`` categorical, ``customer_row`` and ``product``
        int32, ``rank`` int16, ``score`` float32), in model order, then customer, then rank.
    """
    cidx = np.asarray(customer_idx, dtype=np.int64)
    parts = []
    for model, (idx, val) in lists.items():
        idx = np.asarray(idx)
        if idx.shape[0] != len(cidx):
            raise ValueError(f"lists[{model!r}] has {idx.shape[0]} rows, customer_idx {len(cidx)}")
        r, c = np.nonzero(idx >= 0)
        parts.append(
            pd.DataFrame(
                {
                    "model": model,
                    "customer_row": cidx[r].astype(np.int32),
                    "rank": (c + 1).astype(np.int16),
                    "product": idx[r, c].astype(np.int32),
                    "score": np.asarray(val, dtype=np.float32)[r, c],
                }
            )
        )
    if not parts:
        return pd.DataFrame({c: [] for c in CANDIDATE_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    out["model"] = pd.Categorical(out["model"], categories=list(lists))
    return out


def candidate_lists(
    models: Mapping[str, object],
    customer_idx: np.ndarray,
    n_candidates: int,
    scored: Mapping[str, np.ndarray] | None = None,
    exclude_seen: bool = True,
    chunk: int = 20_000,
) -> pd.DataFrame:
    """Every fitted model's top-``n_candidates`` with scores, as the ``candidates`` table.

    Stage 03 calls this after scoring its models, so stage 04 audits the very lists stage 03
    scored and the candidates behind them without refitting anything.

    Parameters
    ----------
    models : mapping of str to Recommender
        Fitted models by label.
    customer_idx : numpy.ndarray of int
        The evaluated customers.
    n_candidates : int
        Candidates per list (at least the scored list length).
    scored : mapping of str to numpy.ndarray, optional
        The lists stage 03 scored (``ModelRun.topk``): each must be the start of the model's
        candidate list, or a ValueError names the model (the audit would describe other lists).
    exclude_seen : bool
        As for stage 03's lists.
    chunk : int
        Customers per call of ``recommend_indices``.
    """
    cidx = np.asarray(customer_idx, dtype=np.int64)
    out = {}
    for label, model in models.items():
        idx = np.empty((len(cidx), int(n_candidates)), dtype=np.int64)
        val = np.empty((len(cidx), int(n_candidates)), dtype=np.float32)
        for start in range(0, len(cidx), chunk):
            i, v = model.recommend_indices(
                cidx[start : start + chunk], k=int(n_candidates), exclude_seen=exclude_seen
            )
            idx[start : start + chunk], val[start : start + chunk] = i, v
        if scored is not None and label in scored:
            ref = np.asarray(scored[label])
            if ref.shape[1] > idx.shape[1] or not np.array_equal(idx[:, : ref.shape[1]], ref):
                raise ValueError(
                    f"model {label!r}: its top-{n_candidates} does not start with the list stage 03 "
                    f"scored (n_candidates must be >= the longest list, {ref.shape[1]})"
                )
        out[label] = (idx, val)
    return candidates_table(out, cidx)


@dataclass
class Candidates:
    """Every model's candidate lists for the same customers.

    Attributes
    ----------
    customer_idx : numpy.ndarray of int64, shape (n,)
        Row indices of the customers (sorted).
    items : dict of str to numpy.ndarray, shape (n, C)
        Product indices per model, best first, -1 padding.
    scores : dict of str to numpy.ndarray, shape (n, C)
        Scores, NaN in the padding.
    """

    customer_idx: np.ndarray
    items: dict[str, np.ndarray]
    scores: dict[str, np.ndarray]

    @property
    def models(self) -> list[str]:
        return list(self.items)

    def lists(self, k: int) -> dict[str, np.ndarray]:
        """Every model's list cut at ``k``."""
        return {m: v[:, :k] for m, v in self.items.items()}

    def subset(self, rows: np.ndarray) -> Candidates:
        """The same models for a subset of the customers (row positions)."""
        return Candidates(
            self.customer_idx[rows],
            {m: v[rows] for m, v in self.items.items()},
            {m: v[rows] for m, v in self.scores.items()},
        )


def read_candidates(
    table: pd.DataFrame, models: Sequence[str] | None = None, n_candidates: int | None = None
) -> Candidates:
    """Turn stage 03's ``candidates`` table into arrays (see the module docstring).

    Parameters
    ----------
    table : pandas.DataFrame
        Columns :data:`CANDIDATE_COLUMNS`.
    models : sequence of str, optional
        Models to keep, in this order (default: the table's order).
    n_candidates : int, optional
        Keep at most this many candidates per list.

    Raises
    ------
    ValueError
        Missing columns, unknown models, models listing different customers, a rank repeated.
    """
    missing = [c for c in CANDIDATE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"candidates table lacks column(s) {missing}")
    if isinstance(table["model"].dtype, pd.CategoricalDtype):
        codes = table["model"].cat.codes.to_numpy(dtype=np.int64)
        labels = [str(m) for m in table["model"].cat.categories]
    else:
        codes, uniq = pd.factorize(table["model"], sort=False)
        labels = [str(m) for m in uniq]
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
    present = [m for j, m in enumerate(labels) if bounds[j + 1] > bounds[j]]
    if models is None:
        models = present
    unknown = [m for m in models if m not in present]
    if unknown:
        raise ValueError(f"candidates table has no lists for model(s) {unknown}; it has {present}")
    customer = table["customer_row"].to_numpy(dtype=np.int64)
    rank = table["rank"].to_numpy(dtype=np.int64)
    product = table["product"].to_numpy(dtype=np.int64)
    score = table["score"].to_numpy(dtype=np.float64)
    customers = None
    items, scores = {}, {}
    for m in models:
        j = labels.index(m)
        rows = order[bounds[j] : bounds[j + 1]]
        cust = _distinct(customer[rows])
        if customers is None:
            customers = cust
        elif not np.array_equal(cust, customers):
            raise ValueError(f"candidates of model {m!r} cover other customers than {models[0]!r}")
        width = int(rank[rows].max())
        if n_candidates is not None and width > int(n_candidates):
            width = int(n_candidates)
            rows = rows[rank[rows] <= width]
        row = np.searchsorted(customers, customer[rows])
        col = rank[rows] - 1
        if (col < 0).any():
            raise ValueError(f"candidates of model {m!r} hold a rank below 1")
        if len(_distinct(row * width + col)) != len(row):
            raise ValueError(f"candidates of model {m!r} repeat a (customer, rank)")
        idx = np.full((len(customers), width), -1, dtype=np.int64)
        val = np.full((len(customers), width), np.nan)
        idx[row, col] = product[rows]
        val[row, col] = score[rows]
        items[m], scores[m] = idx, val
    return Candidates(customers if customers is not None else np.zeros(0, np.int64), items, scores)


def _distinct(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (by sorting: numpy's hash-based ``unique`` is slow on large ints)."""
    s = np.sort(x)
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def category_codes(
    product_categories: Sequence[object] | None,
) -> tuple[np.ndarray, list[str]] | None:
    """Integer code of each product's category (``None`` / NaN -> "unknown"), and the names."""
    if product_categories is None:
        return None
    cats = pd.Series(np.asarray(product_categories, dtype=object)).fillna("unknown").astype(str)
    codes, names = pd.factorize(cats, sort=True)
    return codes.astype(np.int64), [str(x) for x in names]


def per_customer_table(
    lists: Mapping[str, np.ndarray],
    customer_idx: np.ndarray,
    train: sparse.spmatrix,
    test: sparse.spmatrix,
    k: int,
    item_categories: np.ndarray | None = None,
    head_share: float = 0.8,
) -> pd.DataFrame:
    """Per-customer metrics of every model (see the module docstring).

    Parameters
    ----------
    lists : mapping of str to numpy.ndarray, shape (n, >= k)
        Each model's lists, rows aligned with ``customer_idx``.
    customer_idx : numpy.ndarray of int, shape (n,)
        Row indices of the customers in ``train`` / ``test``.
    train, test : scipy sparse matrix (customers x products)
        Training and held-out parts.
    k : int
        Cut-off.
    item_categories : numpy.ndarray of int, optional
        Category code per product (:func:`category_codes`); without it, no ``calibration_kl``.
    head_share : float
        Long-tail definition (:func:`recnb.metrics.long_tail_mask`).

    Returns
    -------
    pandas.DataFrame
        One row per customer (same order), columns a MultiIndex ``(model, metric)``.
    """
    cidx = np.asarray(customer_idx, dtype=np.int64)
    train = sparse.csr_matrix(train)
    truth = sparse.csr_matrix(test)[cidx]
    profile = profile_popularity(train)[cidx]
    target = None
    if item_categories is not None:
        n_cat = int(np.max(item_categories)) + 1
        target = category_distribution(train[cidx], len(cidx), item_categories, n_cat)
    out = {}
    for model, topk in lists.items():
        cut = np.asarray(topk)[:, :k]
        if len(cut) != len(cidx):
            raise ValueError(f"lists[{model!r}] has {len(cut)} rows, customer_idx {len(cidx)}")
        ranking = ranking_metric_arrays(cut, truth, ks=(k,), metrics=list(_RANKING))
        for m in _RANKING:
            out[(model, m)] = ranking[(m, k)]
        a = arp(cut, train)
        out[(model, "arp")] = a
        out[(model, "aplt")] = aplt(cut, train, head_share=head_share)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[(model, "popularity_lift")] = (a - profile) / profile
        if target is not None:
            out[(model, "calibration_kl")] = calibration_kl(cut, item_categories, target)
    frame = pd.DataFrame(out)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns, names=["model", "metric"])
    return frame
