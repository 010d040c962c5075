"""Transparency: explanations of recommendations and how faithful they are to the model.

For a model that can explain (:attr:`Recommender.can_explain`), :meth:`Recommender.explain` splits
a score into contributions (consumed products, similar customers, product terms, features,
biases). Over many (customer, recommended product) pairs this module measures:

- **additivity**: the contributions sum to the model's score (``|sum - score| < 1e-4``);
- **deletion fidelity**: removing the top contributor from the model's input and scoring again
  with the model's own scoring lowers the score (a faithful explanation's strongest reason
  matters). What is removed depends on the family (:data:`DELETERS`): the consumed product
  from the customer's history (item-kNN, EASE, EDLAE, RP3beta, PureSVD, ALS: the customer's factors are solved
  again from the shortened history with :meth:`ImplicitALS.fold_in`), the neighbour from the
  customer's neighbourhood (user-kNN), the term from the product's vector (content), the feature
  from the customer's or product's feature row (LightFM: representations rebuilt from the row
  without it; LightFM's contributions are Shapley values of a bilinear score, so removal is a
  real test), the term from the score (biased MF);
- **coverage**: the share of recommendations whose explanation gives at least one personal reason
  (a positive contribution that is not the popularity fallback, a bias or a residual);
- **stability**: the overlap (Jaccard) of the top-3 contributors of the same pairs explained by
  the model refitted with another seed; families whose fit does not use the seed are
  deterministic (:data:`SEEDED`).

No explanation shown names another customer: user-kNN neighbours are pooled into "N similar
customers", and LightFM's identity feature of the customer reads "this customer's own history"
(:func:`explanation_text`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp

from recnb.models.base import Recommender

__all__ = [
    "ADDITIVE_TOLERANCE",
    "DELETERS",
    "FIDELITY_COLUMNS",
    "NON_PERSONAL_KINDS",
    "SEEDED",
    "explanation_fidelity",
    "explanation_stability",
    "explanation_text",
    "fidelity_summary",
    "sample_pairs",
]

#: largest |sum of contributions - score| of an additive explanation
ADDITIVE_TOLERANCE = 1e-4
#: contribution kinds that are not a personal reason
NON_PERSONAL_KINDS = ("fallback", "bias", "residual")
#: registry names whose fit depends on the seed (stability is measured by refitting)
SEEDED: tuple[str, ...] = ("als", "pure_svd", "biased_mf", "lightfm_warp", "lightfm_bpr")
FIDELITY_COLUMNS = [
    "model",
    "customer",
    "product",
    "rank",
    "score",
    "contribution_sum",
    "sum_error",
    "additive",
    "fallback",
    "personal",
    "top_kind",
    "top_contribution",
    "score_without_top",
    "lowered",
]


def sample_pairs(
    topk: np.ndarray, customer_idx: np.ndarray, n_customers: int, k: int, seed: int | None
) -> pd.DataFrame:
    """A seeded sample of customers with each of their top-``k`` recommendations.

    Returns
    -------
    pandas.DataFrame
        ``customer`` (row index of the training data), ``product`` (index), ``rank`` (1..k).
    """
    items = np.asarray(topk)[:, :k]
    cidx = np.asarray(customer_idx, dtype=np.int64)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(cidx), size=min(n_customers, len(cidx)), replace=False))
    r, c = np.nonzero(items[pick] >= 0)
    return pd.DataFrame(
        {"customer": cidx[pick][r], "product": items[pick][r, c].astype(np.int64), "rank": c + 1}
    )


# ----------------------------------------------------------------------------------------------
# deletion of the top contributor, per family
# ----------------------------------------------------------------------------------------------


def _history_without(
    model: Recommender, matrix: sp.csr_matrix, c: np.ndarray, drop: np.ndarray
) -> sp.csr_matrix:
    """Rows ``matrix[c]`` with product ``drop[i]`` removed from row ``i``."""
    rows = sp.csr_matrix(matrix[c], copy=True).tolil()
    for i, j in enumerate(drop):
        if j >= 0:
            rows[i, int(j)] = 0
    out = rows.tocsr()
    out.eliminate_zeros()
    return out


def _product_index(model: Recommender, labels: Sequence[str]) -> np.ndarray:
    return model.product_indices(np.asarray(labels, dtype=object))


def _delete_history(model: Recommender, c, p, top) -> np.ndarray:
    drop = _product_index(model, top["contributor"])
    rows = _history_without(model, model.interactions_, c, drop)
    clone = copy.copy(model)
    clone.interactions_ = rows
    if model.name == "pure_svd":
        clone.customer_factors_ = np.asarray(rows @ model.item_factors_, dtype=np.float32)
    scores = clone._score_block(np.arange(len(c)))
    return np.asarray(scores[np.arange(len(c)), p], dtype=np.float64)


def _delete_als(model: Recommender, c, p, top) -> np.ndarray:
    drop = _product_index(model, top["contributor"])
    rows = _history_without(model, sp.csr_matrix(model.confidence_), c, drop)
    factors = model.fold_in(rows)
    return np.einsum("ij,ij->i", factors, model.item_factors_[p]).astype(np.float64)


def _delete_neighbour(model: Recommender, c, p, top) -> np.ndarray:
    drop = model.customer_indices(np.asarray(top["contributor"], dtype=object))
    rows = _history_without(model, model.neighbours_, c, drop)
    clone = copy.copy(model)
    clone.neighbours_ = rows
    scores = clone._score_block(np.arange(len(c)))
    return np.asarray(scores[np.arange(len(c)), p], dtype=np.float64)


def _delete_term(model: Recommender, c, p, top) -> np.ndarray:
    # the product's vector without the term, against the customer's profile (the profile is
    # built from the customer's history, which never holds a recommended product)
    names = pd.Index(np.asarray(model.feature_names_, dtype=object))
    f = names.get_indexer(np.asarray(top["contributor"], dtype=object))
    rows = sp.csr_matrix(model.item_vectors_[p], dtype=np.float64, copy=True)
    for i in range(len(p)):
        seg = slice(rows.indptr[i], rows.indptr[i + 1])
        rows.data[seg] = np.where(rows.indices[seg] == f[i], 0.0, rows.data[seg])
    profiles = model._profiles(np.asarray(c, dtype=np.int64))
    return np.asarray(rows.multiply(profiles).sum(axis=1), dtype=np.float64).ravel()


def _delete_feature(model: Recommender, c, p, top) -> np.ndarray:
    out = np.empty(len(c))
    for i, (ci, pi, name, kind) in enumerate(
        zip(c, p, top["contributor"], top["kind"], strict=True)
    ):
        urow = model.customer_features_[ci]
        irow = model.product_features_[pi]
        uf, uw = urow.indices, urow.data.astype(np.float64).copy()
        itf, iw = irow.indices, irow.data.astype(np.float64).copy()
        side = "customer" if kind.startswith("customer") else "product"
        feats, weights = (uf, uw) if side == "customer" else (itf, iw)
        labels = [model._feature_label(side, int(f))[0] for f in feats]
        weights[labels.index(name)] = 0.0
        pu = uw @ model.user_embeddings_[uf].astype(np.float64)
        bu = uw @ model.user_biases_[uf].astype(np.float64)
        qi = iw @ model.item_embeddings_[itf].astype(np.float64)
        bi = iw @ model.item_biases_[itf].astype(np.float64)
        out[i] = float(pu @ qi + bu + bi)
    return out


def _delete_additive_term(model: Recommender, c, p, top) -> np.ndarray:
    before = model.score_pairs(c, p).astype(np.float64)
    return before - top["contribution"].to_numpy(dtype=np.float64)


#: registry name -> how the top contributor is removed and the score recomputed
DELETERS: dict[str, Callable[..., np.ndarray]] = {
    "item_knn": _delete_history,
    "ease": _delete_history,
    "edlae": _delete_history,
    "rp3beta": _delete_history,
    "pure_svd": _delete_history,
    "als": _delete_als,
    "user_knn": _delete_neighbour,
    "content": _delete_term,
    "lightfm_warp": _delete_feature,
    "lightfm_bpr": _delete_feature,
    "biased_mf": _delete_additive_term,
}


# ----------------------------------------------------------------------------------------------
# fidelity, coverage, stability
# ----------------------------------------------------------------------------------------------


def _explain_all(model: Recommender, pairs: pd.DataFrame) -> list[pd.DataFrame]:
    cids = model.customer_ids_[pairs["customer"].to_numpy()]
    pids = model.product_ids_[pairs["product"].to_numpy()]
    return [model.explain(c, p) for c, p in zip(cids, pids, strict=True)]


def explanation_fidelity(
    model: Recommender, pairs: pd.DataFrame, label: str | None = None
) -> pd.DataFrame:
    """Additivity, deletion fidelity and coverage of a model's explanations on ``pairs``.

    Parameters
    ----------
    model : Recommender
        A fitted model with ``can_explain`` and an entry in :data:`DELETERS`.
    pairs : pandas.DataFrame
        ``customer``, ``product`` (training indices) and ``rank`` (:func:`sample_pairs`).
    label : str, optional
        Value of the ``model`` column (default: the model's registry name).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FIDELITY_COLUMNS`, one row per pair. ``lowered`` is NaN for pairs served
        by the popularity fallback or without a personal reason (nothing to remove).
    """
    if not model.can_explain:
        raise ValueError(f"{model.name} cannot explain its scores")
    if model.name not in DELETERS:
        raise ValueError(f"no deletion check for model {model.name!r}; known: {sorted(DELETERS)}")
    c = pairs["customer"].to_numpy(dtype=np.int64)
    p = pairs["product"].to_numpy(dtype=np.int64)
    scores = model.score_pairs(c, p).astype(np.float64)
    fallback = model.uses_fallback(c)
    explanations = _explain_all(model, pairs)
    sums = np.array([float(e["contribution"].sum()) for e in explanations])
    tops = []
    personal = np.zeros(len(c), dtype=bool)
    for i, e in enumerate(explanations):
        reasons = e[~e["kind"].isin(NON_PERSONAL_KINDS)]
        personal[i] = bool((reasons["contribution"] > 0).any()) and not fallback[i]
        top = reasons.iloc[0] if len(reasons) else None
        tops.append(
            (top["contributor"], top["kind"], float(top["contribution"]))
            if top is not None
            else (None, None, np.nan)
        )
    top = pd.DataFrame(tops, columns=["contributor", "kind", "contribution"])
    after = np.full(len(c), np.nan)
    check = personal & (top["contribution"].to_numpy() > 0)
    if check.any():
        sel = np.flatnonzero(check)
        after[sel] = DELETERS[model.name](
            model, c[sel], p[sel], top.iloc[sel].reset_index(drop=True)
        )
    err = np.abs(sums - scores)
    return pd.DataFrame(
        {
            "model": label or model.name,
            "customer": c,
            "product": p,
            "rank": pairs["rank"].to_numpy() if "rank" in pairs else 0,
            "score": scores,
            "contribution_sum": sums,
            "sum_error": err,
            "additive": err < ADDITIVE_TOLERANCE,
            "fallback": fallback,
            "personal": personal,
            "top_kind": top["kind"].to_numpy(dtype=object),
            "top_contribution": top["contribution"].to_numpy(),
            "score_without_top": after,
            "lowered": np.where(check, after < scores, np.nan),
        }
    )[FIDELITY_COLUMNS]


def _top_set(e: pd.DataFrame, n: int) -> set[str]:
    reasons = e[~e["kind"].isin(NON_PERSONAL_KINDS)]
    return set(reasons["contributor"].astype(str).head(n))


def explanation_stability(
    model: Recommender, refit: Recommender, pairs: pd.DataFrame, top: int = 3
) -> np.ndarray:
    """Jaccard overlap of the top-``top`` contributors of each pair under two fits of a model.

    Returns
    -------
    numpy.ndarray of float64
        One value per pair in [0, 1]; NaN when neither explanation has a personal reason.
    """
    a = _explain_all(model, pairs)
    b = _explain_all(refit, pairs)
    out = np.full(len(a), np.nan)
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        sx, sy = _top_set(x, top), _top_set(y, top)
        if sx or sy:
            out[i] = len(sx & sy) / len(sx | sy)
    return out


def fidelity_summary(
    fidelity: pd.DataFrame, stability: Mapping[str, np.ndarray] | None = None
) -> pd.DataFrame:
    """One row per model: pairs, additive share, deletion-lowered share, coverage, stability.

    Columns ``model, pairs, additive_share, max_sum_error, checked, lowered_share, coverage,
    fallback_share, stability`` (``stability`` NaN when not measured: a deterministic model).
    """
    rows = []
    for model, f in fidelity.groupby("model", sort=False):
        lowered = f["lowered"].dropna().astype(bool)
        stab = (stability or {}).get(model)
        rows.append(
            {
                "model": model,
                "pairs": len(f),
                "additive_share": float(f["additive"].mean()),
                "max_sum_error": float(f["sum_error"].max()),
                "checked": int(len(lowered)),
                "lowered_share": float(lowered.mean()) if len(lowered) else np.nan,
                "coverage": float(f["personal"].mean()),
                "fallback_share": float(f["fallback"].mean()),
                "stability": float(np.nanmean(stab))
                if stab is not None and np.isfinite(stab).any()
                else np.nan,
            }
        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------
# what a reader sees
# ----------------------------------------------------------------------------------------------


def explanation_text(
    explanation: pd.DataFrame,
    product_names: Mapping[str, str] | None = None,
    n_reasons: int = 3,
) -> str:
    """A short reason for a recommendation that names no customer.

    Neighbour contributions (other customers) are pooled into one reason; a customer identity
    feature (LightFM) reads "this customer's own history"; products are shown by name.
    """
    names = product_names or {}
    terms = []
    peers = explanation[explanation["kind"] == "neighbour"]
    if len(peers):
        terms.append(
            f"{len(peers)} similar customer{'s' if len(peers) > 1 else ''} chose it "
            f"({peers['contribution'].sum():+.3g})"
        )
    rest = explanation[explanation["kind"] != "neighbour"]
    for r in rest.head(n_reasons).itertuples(index=False):
        kind = str(r.kind)
        if kind == "customer_identity":
            who = "this customer's own history"
        elif kind == "product_identity":
            who = "the product itself"
        elif kind == "fallback":
            who = "popular with everyone (no history to personalise)"
        else:
            who = names.get(str(r.contributor), str(r.contributor))
        terms.append(f"{who} ({r.contribution:+.3g})")
    return "; ".join(terms)
