"""Beyond-accuracy metrics: coverage, exposure inequality, diversity, novelty, serendipity, popularity bias.

Definitions (``L`` = a customer's list cut at ``k``, ``-1`` entries ignored; ``c_i`` = number of
training customers with a positive interaction with product ``i``; ``phi(i) = c_i / U`` with ``U``
the number of customers with at least one training interaction):

=================== =============================================================================
catalog_coverage    distinct products recommended to anyone / number of products
gini_exposure       Gini coefficient of the exposure counts (times each product is recommended)
                    over the *whole* catalogue, never-recommended products included:
                    ``G = sum_i (2 i - n - 1) x_(i) / (n sum x)`` with ``x`` sorted ascending.
                    0 = every product shown equally often; ``(n - 1) / n`` (about 1) = one product
                    gets all exposure.
ild_category        intra-list diversity: share of the list's item pairs whose categories differ
                    (0 = one category, 1 = all different); NaN for lists of fewer than 2 items
ild_embedding       intra-list diversity: mean pairwise cosine distance ``1 - cos`` of the items'
                    embedding vectors (range 0..2); NaN for lists of fewer than 2 items
novelty             mean self-information ``-log2 p(i)`` of the listed items, in bits, with
                    ``p(i) = c_i / sum_j c_j`` (Castells et al.'s item-choice model, as in Microsoft
                    Recommenders' ``historical_item_novelty``); a product absent from training
                    counts as seen once (``c_i = 1``) so its novelty stays finite
serendipity         share of the ``k`` slots holding an item that is relevant *and* not in the
                    popularity baseline's first ``k`` items (Ge et al. 2010 with a popularity
                    primitive recommender); denominator ``k`` as precision
arp                 average recommendation popularity: mean ``phi(i)`` over the list (Abdollahpouri
                    et al. 2019), i.e. the average share of customers who interacted with a
                    recommended product
aplt                average percentage of long tail: share of the list's items in the long tail.
                    Head = the fewest most popular products (by ``c_i``, ties by index) that
                    together account for at least ``head_share`` (default 80%) of training
                    interactions; every other product, including unseen ones, is long tail.
popularity_lift     per customer ``(ARP(L) - PP(u)) / PP(u)`` with ``PP(u)`` the mean ``phi`` of the
                    customer's training items: > 0 means the list is more popular than what the
                    customer consumed. :func:`popularity_lift_by_group` gives the group version of
                    Abdollahpouri et al. (UMAP 2021): ``(GAP_r(g) - GAP_p(g)) / GAP_p(g)``, a ratio
                    of group means, which differs from the mean of per-customer lifts.
=================== =============================================================================

Per-customer functions return float64 arrays of length ``n_customers`` (NaN where undefined, e.g.
an empty list); catalogue-level ones return floats, and :func:`aggregate_metrics` adds bootstrap
intervals over customers.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse

from recnb.metrics._common import check_ks, check_topk, check_truth, lookup
from recnb.metrics.stats import _percentiles, bootstrap_counts

__all__ = [
    "popularity_counts",
    "item_popularity",
    "popular_items",
    "long_tail_mask",
    "exposure_counts",
    "catalog_coverage",
    "gini",
    "gini_exposure",
    "ild_category",
    "ild_embedding",
    "novelty",
    "serendipity",
    "arp",
    "aplt",
    "profile_popularity",
    "popularity_lift",
    "popularity_lift_by_group",
    "aggregate_metrics",
]

_CHUNK_ELEMENTS = 4_000_000


# --- popularity from training -----------------------------------------------------------------


def _train_csr(train: sparse.spmatrix | sparse.sparray) -> sparse.csr_matrix:
    if not sparse.issparse(train):
        raise TypeError(f"train must be a scipy sparse matrix, got {type(train).__name__}")
    csr = sparse.csr_matrix(train, dtype=np.float64, copy=True)
    csr.sum_duplicates()
    csr.data = (csr.data > 0).astype(np.float64)
    csr.eliminate_zeros()
    return csr


def popularity_counts(train: sparse.spmatrix | sparse.sparray) -> np.ndarray:
    """Number of training customers with a positive interaction with each product, ``c_i``.

    Parameters
    ----------
    train : scipy sparse matrix, shape (n_customers, n_products)
        Training interactions (values > 0 count; duplicates are summed first).

    Returns
    -------
    numpy.ndarray of int64, shape (n_products,)
    """
    csr = _train_csr(train)
    return np.bincount(csr.indices, minlength=csr.shape[1]).astype(np.int64)


def item_popularity(train: sparse.spmatrix | sparse.sparray) -> np.ndarray:
    """Share of training customers who interacted with each product, ``phi(i)`` in [0, 1].

    The denominator is the number of customers with at least one training interaction.
    """
    csr = _train_csr(train)
    active = int((np.diff(csr.indptr) > 0).sum())
    if active == 0:
        raise ValueError("train holds no positive interaction; popularity is undefined")
    return np.bincount(csr.indices, minlength=csr.shape[1]) / active


def popular_items(train: sparse.spmatrix | sparse.sparray, k: int) -> np.ndarray:
    """The ``k`` most popular products in training (by ``c_i``, ties by lower index), best first."""
    counts = popularity_counts(train)
    if not 1 <= k <= counts.size:
        raise ValueError(f"k={k} must lie in 1..{counts.size} (the number of products)")
    return np.argsort(-counts, kind="stable")[:k].astype(np.int64)


def long_tail_mask(train: sparse.spmatrix | sparse.sparray, head_share: float = 0.8) -> np.ndarray:
    """True for long-tail products: outside the head covering ``head_share`` of interactions.

    The head is the smallest set of most popular products (by ``c_i``, ties broken by lower
    index) whose interactions sum to at least ``head_share`` of all training interactions.
    """
    if not 0 < head_share <= 1:
        raise ValueError(f"head_share must lie in (0, 1], got {head_share}")
    counts = popularity_counts(train)
    total = counts.sum()
    if total == 0:
        raise ValueError("train holds no positive interaction; the long tail is undefined")
    order = np.argsort(-counts, kind="stable")
    cumulative = np.cumsum(counts[order])
    n_head = int(np.searchsorted(cumulative, head_share * total, side="left")) + 1
    tail = np.ones(counts.size, dtype=bool)
    tail[order[:n_head]] = False
    return tail


# --- catalogue level ---------------------------------------------------------------------------


def _cut(topk: ArrayLike, n_products: int, k: int | None) -> np.ndarray:
    items = check_topk(topk, n_products)
    if k is not None:
        check_ks(k, items.shape[1])
        items = items[:, :k]
    return items


def exposure_counts(topk: ArrayLike, n_products: int, k: int | None = None) -> np.ndarray:
    """How many lists (cut at ``k``) contain each product: int64 array of length ``n_products``."""
    items = _cut(topk, n_products, k)
    return np.bincount(items[items >= 0], minlength=n_products).astype(np.int64)


def catalog_coverage(topk: ArrayLike, n_products: int, k: int | None = None) -> float:
    """Share of the catalogue recommended to at least one customer (lists cut at ``k``)."""
    return float((exposure_counts(topk, n_products, k) > 0).mean())


def gini(values: ArrayLike) -> float:
    """Gini coefficient of non-negative values: 0 when all are equal, all zeros included.

    ``G = sum_i (2 i - n - 1) x_(i) / (n sum x)``, ``x`` sorted ascending, ``i = 1..n``; the
    maximum, one non-zero value, is ``(n - 1) / n``. Values that sum to 0 are all equal, so their
    Gini is 0 (no product exposed is an equal exposure; the formula's 0 / 0 is not reported as
    NaN).

    Raises
    ------
    ValueError
        An empty array or a negative value.
    """
    x = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if x.size == 0 or np.any(x < 0):
        raise ValueError("gini needs a non-empty array of non-negative values")
    return float(_gini_rows(x[None, :])[0])


def _gini_rows(sorted_rows: np.ndarray) -> np.ndarray:
    n = sorted_rows.shape[1]
    weight = 2.0 * np.arange(1, n + 1) - n - 1
    total = sorted_rows.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, (sorted_rows @ weight) / (n * total), 0.0)


def gini_exposure(topk: ArrayLike, n_products: int, k: int | None = None) -> float:
    """Gini coefficient of exposure over the whole catalogue (0 = equal exposure)."""
    return gini(exposure_counts(topk, n_products, k))


def aggregate_metrics(
    recommendations: Mapping[str, ArrayLike],
    n_products: int,
    ks: int | tuple[int, ...] = (10,),
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
    customers: ArrayLike | None = None,
) -> pd.DataFrame:
    """Catalogue coverage and Gini of exposure per model and cut-off, with bootstrap intervals.

    The customers' lists are resampled with replacement and both statistics recomputed on each
    resample (the same resamples for every model and cut-off). A resample holds only about 63%
    distinct customers, so it sees fewer distinct products: the bootstrap distribution of these
    distinct-count statistics is shifted (coverage down, Gini up) and its percentile interval
    would often exclude the estimate. The interval reported is therefore *centred*: the
    bootstrap distribution's spread around its median, placed around the estimate,
    ``[value - (median - q_low), value + (q_high - median)]``, clipped to [0, 1]. It expresses
    how much the statistic moves between samples of customers, not a bias correction.

    Parameters
    ----------
    recommendations : mapping of str to array-like of int, shape (n_customers, K)
        Top-K array of each model, all for the same customers.
    n_products : int
        Catalogue size.
    ks : int or tuple of int
        Cut-offs.
    n_boot, alpha, seed
        Number of resamples, 1 - confidence level, generator seed.
    customers : array-like of int or bool, optional
        Rows to include (default: all rows).

    Returns
    -------
    pandas.DataFrame
        Columns ``model, metric, k, value, ci_low, ci_high, n`` with metrics
        ``catalog_coverage`` and ``gini_exposure``; ``n`` = number of lists.
    """
    prepared = []
    n = None
    for model, topk in recommendations.items():
        items = check_topk(topk, n_products, name=f"recommendations[{model!r}]")
        if customers is not None:
            items = items[np.asarray(customers)]
        if n is not None and items.shape[0] != n:
            raise ValueError(
                f"recommendations[{model!r}] has {items.shape[0]} rows, the first model {n}"
            )
        n = items.shape[0]
        for k in check_ks(ks, items.shape[1]):
            cut = items[:, :k]
            valid = cut >= 0
            indptr = np.concatenate([[0], np.cumsum(valid.sum(axis=1))])
            lists = sparse.csr_matrix(
                (np.ones(int(indptr[-1])), cut[valid], indptr), shape=(n, n_products)
            )
            # CSC view of the transpose: the product walks customers in order (cache friendly)
            prepared.append((str(model), k, lists.T, exposure_counts(cut, n_products)))
    if n is None:
        raise ValueError("recommendations is empty: give at least one model's top-K array")
    boot_cov: list[list[np.ndarray]] = [[] for _ in prepared]
    boot_gini: list[list[np.ndarray]] = [[] for _ in prepared]
    for weights in bootstrap_counts(n, n_boot, seed):
        weights_t = np.ascontiguousarray(weights.T)
        for j, (_, _, lists_t, _) in enumerate(prepared):
            exposure = np.ascontiguousarray(np.asarray(lists_t @ weights_t).T)
            boot_cov[j].append((exposure > 0).mean(axis=1))
            boot_gini[j].append(_gini_rows(np.sort(exposure, axis=1)))
    rows = []
    for j, (model, k, _, counts) in enumerate(prepared):
        for metric, value, boot in (
            ("catalog_coverage", float((counts > 0).mean()), np.concatenate(boot_cov[j])),
            ("gini_exposure", gini(counts), np.concatenate(boot_gini[j])),
        ):
            low, high = _percentiles(boot[:, None], alpha)
            middle = float(np.nanmedian(boot))
            ci_low = min(max(value - (middle - low[0]), 0.0), 1.0)
            ci_high = min(max(value + (high[0] - middle), 0.0), 1.0)
            rows.append((model, metric, k, value, ci_low, ci_high, n))
    return pd.DataFrame(rows, columns=["model", "metric", "k", "value", "ci_low", "ci_high", "n"])


# --- per customer ------------------------------------------------------------------------------


def _rows_per_chunk(per_row: int) -> int:
    return max(1, _CHUNK_ELEMENTS // max(per_row, 1))


def ild_category(topk: ArrayLike, item_categories: ArrayLike, k: int | None = None) -> np.ndarray:
    """Category-based intra-list diversity per customer: share of item pairs in different categories.

    Parameters
    ----------
    topk : array-like of int, shape (n_customers, K)
    item_categories : array-like, shape (n_products,)
        Category label of every product (any hashable; missing values are rejected).
    k : int, optional
        Cut-off (default: the full list).

    Returns
    -------
    numpy.ndarray of float64
        In [0, 1]; NaN for lists with fewer than two items.
    """
    codes, _ = pd.factorize(np.asarray(item_categories, dtype=object).ravel())
    if (codes < 0).any():
        raise ValueError(
            f"item_categories has missing values at products {np.flatnonzero(codes < 0)[:5].tolist()}"
        )
    items = _cut(topk, codes.size, k)
    n, width = items.shape
    # Missing slots get distinct negative placeholders, never equal to anything.
    cats = np.where(items >= 0, codes[np.maximum(items, 0)], -1 - np.arange(width)[None, :])
    same = np.empty(n, dtype=np.float64)
    step = _rows_per_chunk(width * width)
    for start in range(0, n, step):
        block = cats[start : start + step]
        eq = block[:, :, None] == block[:, None, :]
        same[start : start + block.shape[0]] = (eq.sum(axis=(1, 2)) - width) / 2.0
    m = (items >= 0).sum(axis=1).astype(np.float64)
    pairs = m * (m - 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m >= 2, 1.0 - same / pairs, np.nan)


def ild_embedding(topk: ArrayLike, item_embeddings: ArrayLike, k: int | None = None) -> np.ndarray:
    """Embedding-based intra-list diversity per customer: mean pairwise cosine distance.

    Uses ``sum_{i<j} cos(v_i, v_j) = (||sum_i u_i||^2 - m) / 2`` for unit vectors ``u``, so the cost
    is linear in the list length.

    Parameters
    ----------
    topk : array-like of int, shape (n_customers, K)
    item_embeddings : array-like of float, shape (n_products, d)
        One vector per product; recommended products must have a non-zero vector.
    k : int, optional
        Cut-off (default: the full list).

    Returns
    -------
    numpy.ndarray of float64
        ``1 - mean cos`` in [0, 2]; NaN for lists with fewer than two items.
    """
    emb = np.asarray(item_embeddings, dtype=np.float64)
    if emb.ndim != 2:
        raise ValueError(f"item_embeddings must be 2-D (products x dims), got shape {emb.shape}")
    items = _cut(topk, emb.shape[0], k)
    n, width = items.shape
    norms = np.linalg.norm(emb, axis=1)
    used = items[items >= 0]
    if used.size and not np.all(np.isfinite(norms[used]) & (norms[used] > 0)):
        bad = used[~(np.isfinite(norms[used]) & (norms[used] > 0))][:5]
        raise ValueError(
            f"item_embeddings has zero or non-finite vectors for products {bad.tolist()}"
        )
    unit = emb / np.where(norms > 0, norms, 1.0)[:, None]
    sq = np.empty(n, dtype=np.float64)
    step = _rows_per_chunk(width * emb.shape[1])
    for start in range(0, n, step):
        block = items[start : start + step]
        vecs = unit[np.maximum(block, 0)] * (block >= 0)[:, :, None]
        total = vecs.sum(axis=1)
        sq[start : start + block.shape[0]] = np.einsum("ij,ij->i", total, total)
    m = (items >= 0).sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_cos = (sq - m) / (m * (m - 1))
    return np.where(m >= 2, 1.0 - mean_cos, np.nan)


def _list_mean(items: np.ndarray, per_item: np.ndarray) -> np.ndarray:
    valid = items >= 0
    total = np.where(valid, per_item[np.maximum(items, 0)], 0.0).sum(axis=1)
    m = valid.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m > 0, total / m, np.nan)


def novelty(
    topk: ArrayLike, train: sparse.spmatrix | sparse.sparray, k: int | None = None
) -> np.ndarray:
    """Mean self-information ``-log2 p(i)`` (bits) of each customer's listed items.

    ``p(i) = c_i / sum_j c_j`` from training; products absent from training count as ``c_i = 1``.
    NaN for empty lists.
    """
    counts = popularity_counts(train).astype(np.float64)
    total = counts.sum()
    if total == 0:
        raise ValueError("train holds no positive interaction; novelty is undefined")
    info = -np.log2(np.maximum(counts, 1.0) / total)
    return _list_mean(_cut(topk, counts.size, k), info)


def serendipity(
    topk: ArrayLike,
    truth: sparse.spmatrix | sparse.sparray,
    baseline: ArrayLike,
    k: int | None = None,
) -> np.ndarray:
    """Share of the ``k`` slots holding a relevant item that the popularity baseline did not list.

    Parameters
    ----------
    topk : array-like of int, shape (n_customers, K)
    truth : scipy sparse matrix, shape (n_customers, n_products)
        Held-out items (grade > 0 relevant).
    baseline : array-like of int, shape (K_b,) or (n_customers, K_b)
        The popularity baseline's ranked list: one list for everyone (1-D, e.g.
        :func:`popular_items`) or one per customer (2-D). Its first ``k`` items count as expected.
    k : int, optional
        Cut-off (default: the full width of ``topk``).

    Returns
    -------
    numpy.ndarray of float64
        In [0, 1]; NaN for customers without a relevant held-out item.
    """
    truth = check_truth(truth)
    n_products = truth.shape[1]
    items = check_topk(topk, n_products)
    if items.shape[0] != truth.shape[0]:
        raise ValueError(f"topk has {items.shape[0]} rows, truth has {truth.shape[0]}")
    width = items.shape[1] if k is None else check_ks(k, items.shape[1])[0]
    items = items[:, :width]
    base = np.asarray(baseline)
    if base.ndim == 1:
        base = check_topk(base[None, :], n_products, name="baseline")[0]
        if base.size < width:
            raise ValueError(f"baseline has {base.size} items, fewer than k={width}")
        expected = np.isin(items, base[:width]) & (items >= 0)
    else:
        base = check_topk(base, n_products, name="baseline")
        if base.shape[0] != items.shape[0] or base.shape[1] < width:
            raise ValueError(
                f"baseline has shape {base.shape}; need {items.shape[0]} rows and >= {width} columns"
            )
        cut = base[:, :width]
        valid = cut >= 0
        indptr = np.concatenate([[0], np.cumsum(valid.sum(axis=1))])
        base_csr = sparse.csr_matrix(
            (np.ones(int(indptr[-1])), cut[valid], indptr), shape=truth.shape
        )
        base_csr.sort_indices()
        expected = lookup(items, base_csr) > 0
    hit = lookup(items, truth) > 0
    value = (hit & ~expected).sum(axis=1) / float(width)
    value[np.diff(truth.indptr) == 0] = np.nan
    return value


def arp(
    topk: ArrayLike, train: sparse.spmatrix | sparse.sparray, k: int | None = None
) -> np.ndarray:
    """Average recommendation popularity per customer: mean ``phi(i)`` of the listed items."""
    phi = item_popularity(train)
    return _list_mean(_cut(topk, phi.size, k), phi)


def aplt(
    topk: ArrayLike,
    train: sparse.spmatrix | sparse.sparray,
    k: int | None = None,
    head_share: float = 0.8,
) -> np.ndarray:
    """Share of each customer's listed items in the long tail (see :func:`long_tail_mask`)."""
    tail = long_tail_mask(train, head_share).astype(np.float64)
    return _list_mean(_cut(topk, tail.size, k), tail)


def profile_popularity(train: sparse.spmatrix | sparse.sparray) -> np.ndarray:
    """Mean ``phi(i)`` over each customer's training items, ``PP(u)``; NaN for empty profiles."""
    csr = _train_csr(train)
    phi = item_popularity(csr)
    m = np.diff(csr.indptr)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(m > 0, (csr @ phi) / m, np.nan)


def popularity_lift(
    topk: ArrayLike, train: sparse.spmatrix | sparse.sparray, k: int | None = None
) -> np.ndarray:
    """Per-customer popularity lift ``(ARP(L) - PP(u)) / PP(u)``; NaN for empty list or profile."""
    items = check_topk(topk)
    if items.shape[0] != train.shape[0]:
        raise ValueError(f"topk has {items.shape[0]} rows, train has {train.shape[0]}")
    profile = profile_popularity(train)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (arp(items, train, k) - profile) / profile


def popularity_lift_by_group(
    topk: ArrayLike,
    train: sparse.spmatrix | sparse.sparray,
    groups: ArrayLike,
    k: int | None = None,
) -> pd.DataFrame:
    """Group popularity lift of Abdollahpouri et al. (UMAP 2021).

    ``GAP_p(g)`` = mean over the group's customers of ``PP(u)``; ``GAP_r(g)`` = mean of their
    list's ARP; ``popularity_lift = (GAP_r - GAP_p) / GAP_p``. Customers with an empty list or
    profile are left out.

    Parameters
    ----------
    topk : array-like of int, shape (n_customers, K)
    train : scipy sparse matrix, shape (n_customers, n_products)
    groups : array-like, shape (n_customers,)
        Group label of each customer (e.g. a popularity-taste tercile or a demographic).
    k : int, optional
        Cut-off.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``n``, ``gap_profile``, ``gap_recommended``, ``popularity_lift``.
    """
    items = check_topk(topk)
    labels = np.asarray(groups)
    if labels.shape != (items.shape[0],) or items.shape[0] != train.shape[0]:
        raise ValueError(
            f"groups {labels.shape}, topk {items.shape} and train {train.shape} must share rows"
        )
    frame = pd.DataFrame(
        {"group": labels, "profile": profile_popularity(train), "recommended": arp(items, train, k)}
    ).dropna()
    out = frame.groupby("group", sort=True).agg(
        n=("profile", "size"),
        gap_profile=("profile", "mean"),
        gap_recommended=("recommended", "mean"),
    )
    out["popularity_lift"] = (out["gap_recommended"] - out["gap_profile"]) / out["gap_profile"]
    return out.reset_index()
