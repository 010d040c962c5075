"""Popularity bias and exposure: how a model's lists share attention among products and sellers.

Catalogue side (per model, lists cut at ``k``; ``-1`` padding ignored):

=================== =============================================================================
arp, aplt           mean over customers of :func:`recnb.metrics.arp` / :func:`recnb.metrics.aplt`
                    (average popularity of the listed products; their long-tail share)
coverage            share of the catalogue listed to at least one customer
long_tail_coverage  share of the long-tail products (:func:`recnb.metrics.long_tail_mask`) listed to
                    at least one customer
gini                Gini coefficient of the exposure counts over the whole catalogue, the one
                    convention of :func:`recnb.metrics.gini`: 0 when every product is listed
                    equally often, ``(n - 1) / n`` when one product gets every slot
entropy             Shannon entropy of the exposure shares, in bits, divided by ``log2(n)``: 1 when
                    every product is listed equally often, 0 when one product gets every slot
=================== =============================================================================

Provider side: products belong to sellers (the ``brand`` column); **small sellers** are the
brands outside the few largest that together hold ``large_share`` (default 50%) of the
catalogue. A position ``j`` of a list of ``k`` is examined with probability ``e_j``
(:func:`examination_weights`: the synthetic shop's own position-bias model with its attention
budget, else the DCG discount ``1 / log2(1 + j)``). Following Singh & Joachims (KDD 2018,
"Fairness of Exposure in Rankings"), with ``Exp(i)`` the mean over customers of the examination
probability of product ``i`` (0 when not listed) and ``U(i)`` its mean relevance (share of
evaluated customers for whom ``i`` is a held-out item):

- ``exposure_share``: the small sellers' share of all expected examinations, against their share
  of the catalogue (``catalogue_share``) and of the relevant items (``relevant_share``);
- demographic parity ratio ``DP = mean_{i in small} Exp(i) / mean_{i in large} Exp(i)``
  (1 = equal exposure per product);
- disparate treatment ratio ``DT = (mean_small Exp / mean_small U) / (mean_large Exp /
  mean_large U)`` (1 = exposure proportional to relevance; < 1 = small sellers get less
  exposure than their relevance earns).

Both ratios are ratios of sums over customers, so their bootstrap intervals resample customers
(count vectors, one matrix product). :func:`simulated_exposure` checks the expected exposure
against impressions the synthetic shop simulates from the same examination model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import sparse
from threadpoolctl import threadpool_limits

from recnb.metrics import aplt, arp, exposure_counts, gini, long_tail_mask
from recnb.metrics.stats import bootstrap_counts

__all__ = [
    "EXPOSURE_METRICS",
    "PROVIDER_COLUMNS",
    "catalogue_exposure",
    "examination_weights",
    "exposure_entropy",
    "exposure_per_list",
    "provider_exposure",
    "seller_groups",
    "simulated_exposure",
]

#: catalogue-level exposure metrics of :func:`catalogue_exposure`, in report order
EXPOSURE_METRICS: tuple[str, ...] = (
    "arp",
    "aplt",
    "coverage",
    "long_tail_coverage",
    "gini",
    "entropy",
)
PROVIDER_COLUMNS = [
    "model",
    "catalogue_share",
    "relevant_share",
    "exposure_share",
    "exposure_share_ci_low",
    "exposure_share_ci_high",
    "dp_ratio",
    "dp_ratio_ci_low",
    "dp_ratio_ci_high",
    "dt_ratio",
    "dt_ratio_ci_low",
    "dt_ratio_ci_high",
    "n_customers",
]


def examination_weights(k: int, shop=None) -> np.ndarray:
    """Probability that each position of a list of ``k`` is examined.

    Parameters
    ----------
    k : int
        List length.
    shop : recnb.data.synthetic.SyntheticShop, optional
        The synthetic shop: its own model (``position ** -position_bias`` scaled by the attention
        budget, :meth:`~recnb.data.synthetic.SyntheticShop.examination`). Without a shop, the DCG
        discount ``1 / log2(1 + j)`` (the examination model of Singh & Joachims' experiments).

    Returns
    -------
    numpy.ndarray of float64, shape (k,)
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    if shop is not None:
        return np.asarray(shop.examination(int(k)), dtype=np.float64)
    return 1.0 / np.log2(np.arange(2, k + 2))


def exposure_entropy(counts: ArrayLike) -> float:
    """Normalised Shannon entropy of exposure: ``H(shares) / log2(n)`` in [0, 1].

    1 when every product is exposed equally, 0 when one product takes all exposure; NaN for an
    empty total or a catalogue of one product.
    """
    x = np.asarray(counts, dtype=np.float64).ravel()
    if x.size == 0 or (x < 0).any():
        raise ValueError("exposure_entropy needs non-negative counts")
    total = x.sum()
    if total <= 0 or x.size < 2:
        return float("nan")
    p = x[x > 0] / total
    return float(-(p * np.log2(p)).sum() / np.log2(x.size))


def catalogue_exposure(
    lists: Mapping[str, np.ndarray],
    train: sparse.spmatrix,
    k: int,
    head_share: float = 0.8,
) -> pd.DataFrame:
    """The catalogue-side exposure metrics of every model (see the module docstring).

    Parameters
    ----------
    lists : mapping of str to numpy.ndarray, shape (n, >= k)
        Each model's lists (product indices, -1 padding).
    train : scipy sparse matrix (customers x products)
        Training interactions (popularity and long tail).
    k : int
    head_share : float
        Share of interactions held by the head (:func:`recnb.metrics.long_tail_mask`).

    Returns
    -------
    pandas.DataFrame
        ``model`` and :data:`EXPOSURE_METRICS`, one row per model; plus a row ``model = "data
        (training interactions)"`` whose ``gini`` and ``entropy`` describe the interactions
        themselves (how concentrated the data already is) and whose other columns are NaN.
    """
    n_products = train.shape[1]
    tail = long_tail_mask(train, head_share)
    rows = []
    for model, topk in lists.items():
        cut = np.asarray(topk)[:, :k]
        counts = exposure_counts(cut, n_products)
        listed = counts > 0
        rows.append(
            {
                "model": model,
                "arp": float(np.nanmean(arp(cut, train))),
                "aplt": float(np.nanmean(aplt(cut, train, head_share=head_share))),
                "coverage": float(listed.mean()),
                "long_tail_coverage": float(listed[tail].mean()) if tail.any() else np.nan,
                "gini": gini(counts),
                "entropy": exposure_entropy(counts),
            }
        )
    pos = sparse.csr_matrix(train, copy=True)
    pos.data = (pos.data > 0).astype(np.float64)
    pos.eliminate_zeros()
    data_counts = np.bincount(pos.indices, minlength=n_products)
    rows.append(
        {
            "model": "data (training interactions)",
            "gini": gini(data_counts),
            "entropy": exposure_entropy(data_counts),
        }
    )
    return pd.DataFrame(rows, columns=["model", *EXPOSURE_METRICS])


def seller_groups(
    product_brands: Sequence[object], large_share: float = 0.5
) -> tuple[np.ndarray, pd.DataFrame]:
    """Split products into small and large sellers by the size of their brand's catalogue.

    The large sellers are the fewest biggest brands (by number of products; ties by name) that
    together hold at least ``large_share`` of the products with a brand; every other brand is
    small. Products without a brand are in neither group.

    Parameters
    ----------
    product_brands : sequence
        Brand of each product (column order of the interactions); None/NaN when unknown.
    large_share : float
        In (0, 1).

    Returns
    -------
    (numpy.ndarray, pandas.DataFrame)
        Code per product: 1 small seller, 0 large seller, -1 no brand; and one row per brand with
        ``brand``, ``products``, ``large``.
    """
    if not 0 < large_share < 1:
        raise ValueError(f"large_share must lie in (0, 1), got {large_share}")
    brands = pd.Series(np.asarray(product_brands, dtype=object))
    known = brands.notna() & (brands.astype(str).str.strip() != "")
    if not known.any():
        raise ValueError("no product has a brand: provider fairness needs the 'brand' column")
    sizes = brands[known].astype(str).value_counts()
    table = pd.DataFrame({"brand": sizes.index, "products": sizes.to_numpy()})
    table = table.sort_values(["products", "brand"], ascending=[False, True], kind="stable")
    cum = table["products"].cumsum().to_numpy()
    n_large = int(np.searchsorted(cum, large_share * cum[-1], side="left")) + 1
    table["large"] = np.arange(len(table)) < n_large
    large = set(table.loc[table["large"], "brand"])
    code = np.full(len(brands), -1, dtype=np.int64)
    code[known.to_numpy()] = np.where(brands[known].astype(str).isin(large), 0, 1)
    return code, table.reset_index(drop=True)


def exposure_per_list(topk: np.ndarray, item_groups: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Expected examinations each list gives each product group.

    Parameters
    ----------
    topk : numpy.ndarray, shape (n, k)
    item_groups : numpy.ndarray of int, shape (n_products,)
        Group code per product (``-1``: none).
    weights : numpy.ndarray, shape (k,)
        Examination probability per position.

    Returns
    -------
    numpy.ndarray, shape (n, n_groups)
    """
    items = np.asarray(topk, dtype=np.int64)
    codes = np.asarray(item_groups, dtype=np.int64)
    n_groups = int(codes.max()) + 1 if codes.size else 0
    g = np.where(items >= 0, codes[np.maximum(items, 0)], -1)
    out = np.zeros((len(items), n_groups))
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64)[: items.shape[1]], items.shape)
    r, c = np.nonzero(g >= 0)
    np.add.at(out, (r, g[r, c]), w[r, c])
    return out


def provider_exposure(
    lists: Mapping[str, np.ndarray],
    truth: sparse.spmatrix,
    item_groups: np.ndarray,
    weights: np.ndarray,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Small-seller exposure, DP and DT ratios of every model, with bootstrap intervals.

    Parameters
    ----------
    lists : mapping of str to numpy.ndarray, shape (n, k)
        Each model's lists for the same ``n`` customers (cut to the report's ``k``).
    truth : scipy sparse matrix, shape (n, n_products)
        Held-out items of the same customers (value > 0: relevant).
    item_groups : numpy.ndarray of int, shape (n_products,)
        1 small seller, 0 large seller, -1 neither (:func:`seller_groups`).
    weights : numpy.ndarray, shape (k,)
        Examination probability per position (:func:`examination_weights`).
    n_boot, alpha, seed
        Bootstrap over customers.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`PROVIDER_COLUMNS`.
    """
    codes = np.asarray(item_groups, dtype=np.int64)
    n_small = float((codes == 1).sum())
    n_large = float((codes == 0).sum())
    if n_small == 0 or n_large == 0:
        raise ValueError("provider_exposure needs products of both small and large sellers")
    t = sparse.csr_matrix(truth)
    rel = t.copy()
    rel.data = (rel.data > 0).astype(np.float64)
    rel.eliminate_zeros()
    r_rows = np.repeat(np.arange(t.shape[0]), np.diff(rel.indptr))
    r_codes = codes[rel.indices]
    rel_small = np.bincount(r_rows[r_codes == 1], minlength=t.shape[0]).astype(np.float64)
    rel_large = np.bincount(r_rows[r_codes == 0], minlength=t.shape[0]).astype(np.float64)
    relevant_share = rel_small.sum() / max(rel_small.sum() + rel_large.sum(), 1e-300)
    rows = []
    per_model = {}
    for model, topk in lists.items():
        e = exposure_per_list(topk, codes, weights)
        e = np.pad(e, ((0, 0), (0, max(0, 2 - e.shape[1]))))
        if len(e) != t.shape[0]:
            raise ValueError(f"lists[{model!r}] has {len(e)} rows, truth {t.shape[0]}")
        per_model[model] = np.column_stack([e[:, 1], e[:, 0], rel_small, rel_large])

    def stats(sums: np.ndarray) -> np.ndarray:
        es, el, rs, rl = (sums[..., i] for i in range(4))
        with np.errstate(invalid="ignore", divide="ignore"):
            share = es / (es + el)
            dp = (es / n_small) / (el / n_large)
            dt = dp / ((rs / n_small) / (rl / n_large))
        return np.stack([share, dp, dt], axis=-1)

    n = t.shape[0]
    boot = {m: [] for m in per_model}
    with threadpool_limits(1, user_api="blas"):
        for counts in bootstrap_counts(n, n_boot, seed):
            for m, x in per_model.items():
                boot[m].append(stats(counts @ x))
    for m, x in per_model.items():
        value = stats(x.sum(axis=0))
        b = np.concatenate(boot[m])
        with np.errstate(invalid="ignore"):
            lo, hi = np.nanquantile(b, [alpha / 2, 1 - alpha / 2], axis=0)
        rows.append(
            [
                m,
                n_small / (n_small + n_large),
                relevant_share,
                value[0],
                lo[0],
                hi[0],
                value[1],
                lo[1],
                hi[1],
                value[2],
                lo[2],
                hi[2],
                n,
            ]
        )
    return pd.DataFrame(rows, columns=PROVIDER_COLUMNS)


def simulated_exposure(
    shop,
    product_ids: np.ndarray,
    item_groups_by_id: Mapping[str, int],
    n_repeats: int = 1,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Expected versus simulated examinations per product group for ranked lists shown in the shop.

    Every list is shown ``n_repeats`` times through :meth:`SyntheticShop.simulate_policy` (a
    deterministic policy: the list as given); each simulated impression says whether its slot was
    examined, drawn from the shop's position-bias model. The expected count is the sum of the
    examination probabilities of :meth:`SyntheticShop.examination`. Examinations do not depend on
    the customer, so the lists are shown to the shop's customers in turn. Both paths are
    independent: the expectation from :func:`examination_weights`, the simulation from the
    shop's sampled impressions.

    Parameters
    ----------
    shop : recnb.data.synthetic.SyntheticShop
    product_ids : numpy.ndarray of object, shape (n, k)
        Lists of shop product ids (``None`` padding).
    item_groups_by_id : mapping
        Product id -> group code (missing: -1, no group).
    n_repeats : int
        Showings of each list.
    seed : int or None

    Returns
    -------
    pandas.DataFrame
        ``group``, ``expected``, ``simulated`` (examinations per list), ``se`` (Monte-Carlo
        standard error of ``simulated``), ``z`` and ``n_lists``.
    """
    ids = np.asarray(product_ids, dtype=object)
    n, k = ids.shape
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    weights = examination_weights(k, shop)
    lists = np.tile(ids, (n_repeats, 1))
    visitors = np.resize(shop.customers["customer_id"].to_numpy(dtype=object), len(lists))
    visits = pd.DataFrame({"customer_id": visitors, "visit_id": np.arange(len(lists))})
    imp = shop.simulate_policy(
        visits, lists, k=k, rng=np.random.default_rng(seed), item_propensities=False
    )
    group_of = np.vectorize(
        lambda p: -1 if p is None else int(item_groups_by_id.get(p, -1)), otypes=[np.int64]
    )
    slot_groups = group_of(ids)
    sim_groups = group_of(imp["product_id"].to_numpy(dtype=object))
    examined = imp["examined"].to_numpy(dtype=np.float64)
    rows = []
    for g in sorted({int(x) for x in np.unique(slot_groups) if x >= 0}):
        w = np.where(slot_groups == g, weights[None, :], 0.0)
        expected = float(w.sum() / n)
        se = float(np.sqrt((w * (1 - w)).sum() * n_repeats) / len(lists))
        simulated = float(examined[sim_groups == g].sum() / len(lists))
        rows.append(
            {
                "group": g,
                "expected": expected,
                "simulated": simulated,
                "se": se,
                "z": (simulated - expected) / se if se > 0 else np.nan,
                "n_lists": len(lists),
            }
        )
    return pd.DataFrame(rows, columns=["group", "expected", "simulated", "se", "z", "n_lists"])
