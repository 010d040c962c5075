"""Cold start: customers the models never trained on, and products first sold in the test period.

New customers (:func:`cold_customer_study`): a random share of the customers active after the
cut-off is held out *entirely* from training (none of their events reach any model). What the shop
knows about such a customer at request time is their attributes (age band, gender, region, home
device, when the data has them) and their first visit's views (the first session before the
cut-off). The rankers compared on their test visits:

- ``popularity``: the fallback every collaborative model uses for an unknown customer;
- ``LightFM + customer features``: LightFM trained with customer features (attribute one-hots
  and the top-category shares of the first visit's views, built the same way for every customer)
  besides the identities; a held-out customer is represented by the features alone;
- ``content from first views``: the first visit's viewed products' content vectors
  (:func:`recnb.models.content.product_vectors`), averaged into a profile, cosine to every product;
- ``ALS fold-in of first views``: :meth:`recnb.models.implicit_models.ImplicitALS.fold_in` of the
  first visit's views against the trained product factors.

New products (:func:`cold_product_study`): products with no event before the cut-off. Test visits
whose answers include one are ranked *among the new products only* by ``LightFM + product
features`` (category path, brand, price bucket), ``content`` (the customer's training history
profile against the new products' content vectors) and ``no information`` (a seeded random order:
what a model without product features can do).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from lightfm import LightFM
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from recnb.context import compare
from recnb.context.log import EventLog, RequestSet
from recnb.models.content import product_vectors
from recnb.models.implicit_models import ImplicitALS
from recnb.models.topk import topk_dense

__all__ = ["ColdStudy", "CUSTOMER_ATTRIBUTES", "cold_customer_study", "cold_product_study"]

#: customer attributes used as features when the customers table has them
CUSTOMER_ATTRIBUTES: tuple[str, ...] = ("age_band", "gender", "region", "device")


@dataclass
class ColdStudy:
    """Per-request metrics of each ranker on the cold requests, and what was held out."""

    requests: RequestSet
    per_request: dict[str, pd.DataFrame]
    info: dict[str, object]


def _onehots(table: pd.DataFrame, columns: Sequence[str]) -> tuple[sp.csr_matrix, list[str]]:
    blocks, names = [], []
    for col in columns:
        if col not in table.columns:
            continue
        vals = table[col].astype(object).where(table[col].notna(), None).to_numpy()
        codes, labels = pd.factorize(vals, sort=True)
        ok = codes >= 0
        m = sp.csr_matrix(
            (np.ones(int(ok.sum()), np.float32), (np.flatnonzero(ok), codes[ok])),
            shape=(len(table), len(labels)),
        )
        blocks.append(m)
        names += [f"{col}:{v}" for v in labels]
    if not blocks:
        return sp.csr_matrix((len(table), 0), dtype=np.float32), []
    return sp.hstack(blocks, format="csr", dtype=np.float32), names


def _first_visits(log: EventLog, before: pd.Timestamp) -> sp.csr_matrix:
    """Customers x products: the products viewed (any event) in each customer's first visit,
    when that visit started before ``before``."""
    first_sess = np.full(log.n_customers, -1, dtype=np.int64)
    owner = log.customer[log.session_first]
    early = log.time[log.session_first] < np.datetime64(pd.Timestamp(before))
    # sessions are numbered in time order: the first one per customer has the smallest code
    codes = np.flatnonzero(early)
    first_sess_rev = pd.Series(codes).groupby(owner[codes]).min()
    first_sess[first_sess_rev.index.to_numpy()] = first_sess_rev.to_numpy()
    rows = np.flatnonzero(
        (first_sess[log.customer] == log.session_code) & (first_sess[log.customer] >= 0)
    )
    m = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (log.customer[rows], log.product[rows])),
        shape=(log.n_customers, log.n_products),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _customer_features(log: EventLog, first: sp.csr_matrix) -> tuple[sp.csr_matrix, list[str]]:
    cust = log.customers
    if cust is not None and "customer_id" in cust.columns:
        table = (
            cust.drop_duplicates("customer_id")
            .set_index(cust.drop_duplicates("customer_id")["customer_id"].astype(object))
            .reindex(log.customer_ids)
            .reset_index(drop=True)
        )
    else:
        table = pd.DataFrame(index=range(log.n_customers))
    attrs, names = _onehots(table, CUSTOMER_ATTRIBUTES)
    cats, cat_names = pd.factorize(log.categories(1), sort=True)
    to_cat = sp.csr_matrix(
        (np.ones(log.n_products, np.float32), (np.arange(log.n_products), cats)),
        shape=(log.n_products, len(cat_names)),
    )
    shares = normalize(first @ to_cat, norm="l1")
    feats = sp.hstack([attrs, shares], format="csr", dtype=np.float32)
    return feats, names + [f"first_visit:{c}" for c in cat_names]


def _fit_lightfm(
    inter: sp.csr_matrix,
    user_features: sp.csr_matrix | None,
    item_features: sp.csr_matrix | None,
    no_components: int,
    epochs: int,
    seed: int,
) -> LightFM:
    model = LightFM(
        no_components=no_components, loss="warp", random_state=np.random.RandomState(seed)
    )
    model.fit(
        inter.tocoo(),
        user_features=user_features,
        item_features=item_features,
        epochs=epochs,
        num_threads=1,
    )
    return model


def _rank(scores: np.ndarray, k: int, exclude: sp.csr_matrix | None = None) -> np.ndarray:
    s = np.array(scores, dtype=np.float32, copy=True)
    if exclude is not None:
        e = exclude.tocoo()
        s[e.row, e.col] = -np.inf
    idx, _ = topk_dense(s, k)
    return idx


def _positives(log: EventLog, mask: np.ndarray) -> sp.csr_matrix:
    rows = np.flatnonzero(mask & log.positive)
    m = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (log.customer[rows], log.product[rows])),
        shape=(log.n_customers, log.n_products),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def cold_customer_study(
    log: EventLog,
    cutoff: pd.Timestamp,
    share: float = 0.1,
    k: int = 10,
    no_components: int = 32,
    epochs: int = 10,
    als_params: dict | None = None,
    seed: int = 0,
) -> ColdStudy:
    """Compare the rankers for customers held out entirely from training (module docstring).

    Parameters
    ----------
    log : EventLog
    cutoff : pandas.Timestamp
        Training events are before it; the held-out customers' test visits start from it on.
    share : float
        Share of the customers with a first visit before the cut-off and a test visit after it
        that is held out (at least 1).
    k : int
        List length.
    no_components, epochs
        LightFM settings.
    als_params : dict, optional
        Settings of :class:`ImplicitALS` for the fold-in.
    seed : int
        Seeds the choice of held-out customers and the models.
    """
    if not 0 < share < 1:
        raise ValueError(f"cold_customer_study: share must be in (0, 1), got {share}")
    cutoff = pd.Timestamp(cutoff)
    first = _first_visits(log, cutoff)
    has_first = np.diff(first.indptr) > 0
    all_test = log.requests(cutoff)
    active = np.unique(all_test.requests["customer"].to_numpy())
    eligible = active[has_first[active]]
    if len(eligible) < 2:
        raise ValueError("cold_customer_study: fewer than 2 customers active before and after")
    rng = np.random.default_rng(seed)
    n_out = max(1, int(round(share * len(eligible))))
    held = np.sort(rng.choice(eligible, n_out, replace=False))
    train_mask = log.mask(None, cutoff, exclude_customers=held)
    reqs = log.requests(cutoff, only_customers=held)
    # an answer the customer gave in the first visit is not new: drop it (and empty requests)
    fv = first[reqs.requests["customer"].to_numpy()]
    new = (reqs.truth - reqs.truth.multiply(fv)).tocsr()
    new.eliminate_zeros()
    keep = np.flatnonzero(np.diff(new.indptr) > 0)
    reqs = RequestSet(reqs.requests.iloc[keep].reset_index(drop=True), new[keep], new[keep] * 0)
    cust = reqs.requests["customer"].to_numpy()
    seen_first = first[cust]
    per: dict[str, pd.DataFrame] = {}

    pos = _positives(log, train_mask)
    popularity = np.asarray(pos.sum(axis=0), dtype=np.float32).ravel()
    pop_scores = np.broadcast_to(popularity, (len(cust), log.n_products))
    per["popularity"] = compare.request_metrics(_rank(pop_scores, k, seen_first), reqs, k)

    feats, _ = _customer_features(log, first)
    trained = np.diff(pos.indptr) > 0
    ident = sp.diags(trained.astype(np.float32), format="csr")
    uf = normalize(sp.hstack([ident, feats], format="csr", dtype=np.float32), norm="l1")
    with threadpool_limits(1, "blas"):
        lfm = _fit_lightfm(pos, uf, None, no_components, epochs, seed)
        cold_rows = normalize(
            sp.hstack([sp.csr_matrix((len(cust), log.n_customers)), feats[cust]], format="csr"),
            norm="l1",
        )
        ub, ue = lfm.get_user_representations(cold_rows)
        ib, ie = lfm.get_item_representations()
        s = ue @ ie.T + ib[None, :] + ub[:, None]
    per["LightFM + customer features"] = compare.request_metrics(_rank(s, k, seen_first), reqs, k)

    if log.products is not None:
        vec, _ = product_vectors(log.products.assign(product_id=log.product_ids), log.product_ids)
        vec = sp.csr_matrix(normalize(vec), dtype=np.float32)
        prof = normalize(seen_first @ vec)
        s = np.asarray((prof @ vec.T).todense(), dtype=np.float32)
        per["content from first views"] = compare.request_metrics(_rank(s, k, seen_first), reqs, k)

    train = log.interactions(mask=train_mask)
    params = {"num_threads": 1, "random_state": seed, **(als_params or {})}
    with threadpool_limits(1, "blas"):
        als = ImplicitALS(**params).fit(train)
        factors = als.fold_in(seen_first)
        s = factors @ als.item_factors_.T
    per["ALS fold-in of first views"] = compare.request_metrics(_rank(s, k, seen_first), reqs, k)
    info = {
        "held_out_customers": int(len(held)),
        "eligible_customers": int(len(eligible)),
        "requests": int(len(reqs)),
        "training_events_of_held_out": int(np.isin(log.customer[train_mask], held).sum()),
    }
    return ColdStudy(reqs, per, info)


def cold_product_study(
    log: EventLog,
    cutoff: pd.Timestamp,
    k: int = 10,
    no_components: int = 32,
    epochs: int = 10,
    seed: int = 0,
) -> ColdStudy:
    """Rank the products first seen after the cut-off for the test visits that chose one.

    Raises
    ------
    ValueError
        No product table, no new product, or no test visit answered by one.
    """
    if log.products is None:
        raise ValueError("cold_product_study: the dataset has no products table")
    cutoff = pd.Timestamp(cutoff)
    train_mask = log.mask(None, cutoff)
    seen_before = np.zeros(log.n_products, dtype=bool)
    seen_before[log.product[train_mask]] = True
    new_items = np.flatnonzero(~seen_before)
    if len(new_items) == 0:
        raise ValueError(f"cold_product_study: every product has an event before {cutoff}")
    reqs = log.requests(cutoff)
    only_new = reqs.truth[:, new_items]
    keep = np.flatnonzero(np.diff(only_new.tocsr().indptr) > 0)
    if len(keep) == 0:
        raise ValueError("cold_product_study: no test visit chose a new product")
    sub = reqs.subset(np.isin(np.arange(len(reqs)), keep))
    # answers restricted to the new products (columns keep the log's product indices)
    mask_new = sp.diags((~seen_before).astype(np.float32))
    truth = (sub.truth @ mask_new).tocsr()
    truth.eliminate_zeros()
    sub = RequestSet(sub.requests, truth, truth * 0)
    cust = sub.requests["customer"].to_numpy()
    not_new = np.where(seen_before, -np.inf, 0.0).astype(np.float32)
    per: dict[str, pd.DataFrame] = {}

    rng = np.random.default_rng(seed)
    rand = rng.random((len(cust), log.n_products)).astype(np.float32) + not_new
    per["no information (random)"] = compare.request_metrics(_rank(rand, k), sub, k)

    pos = _positives(log, train_mask)
    products = log.products.assign(product_id=log.product_ids)
    vec, _ = product_vectors(products, log.product_ids, text_weight=0.0)
    item_feats = sp.csr_matrix(vec, dtype=np.float32)
    ident = sp.diags(seen_before.astype(np.float32), format="csr")
    itf = normalize(sp.hstack([ident, item_feats], format="csr", dtype=np.float32), norm="l1")
    with threadpool_limits(1, "blas"):
        lfm = _fit_lightfm(pos, None, itf, no_components, epochs, seed)
        ub, ue = lfm.get_user_representations()
        ib, ie = lfm.get_item_representations(itf)
        s = ue[cust] @ ie.T + ib[None, :] + ub[cust, None]
    per["LightFM + product features"] = compare.request_metrics(_rank(s + not_new, k), sub, k)

    full_vec, _ = product_vectors(products, log.product_ids)
    full_vec = sp.csr_matrix(normalize(full_vec), dtype=np.float32)
    hist = log.interactions(mask=train_mask).matrix[cust]
    prof = normalize(hist @ full_vec)
    s = np.asarray((prof @ full_vec.T).todense(), dtype=np.float32)
    per["content"] = compare.request_metrics(_rank(s + not_new, k), sub, k)
    info = {
        "new_products": int(len(new_items)),
        "requests": int(len(sub)),
        "new_product_answers": int(truth.nnz),
    }
    return ColdStudy(sub, per, info)
