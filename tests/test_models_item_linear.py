"""EDLAE/DLAE and RP3beta against direct float64 implementations of their papers' formulas."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recnb.models.ease import EaseMemoryError
from recnb.models.rp3beta import rp3beta_weights
from recnb.models.testing import build, checkerboard, random_interactions


def _binary(inter) -> np.ndarray:
    return (inter.matrix.toarray() > 0).astype(np.float64)


# -- EDLAE / DLAE ------------------------------------------------------------------------------
@pytest.mark.parametrize("zero_diagonal", [True, False])
def test_edlae_matches_closed_form(rng, zero_diagonal):
    inter = random_interactions(rng, n_customers=50, n_products=14)
    l2, p = 3.0, 0.3
    model = build("edlae", l2=l2, dropout=p, zero_diagonal=zero_diagonal).fit(inter)
    x = _binary(inter)
    g = x.T @ x
    lam = np.diag(p / (1 - p) * np.diag(g) + l2)
    inv = np.linalg.inv(g + lam)
    if zero_diagonal:  # Steck 2020, EDLAE full rank: B = I - P diagMat(1 / diag(P))
        b = -inv / np.diag(inv)[None, :]
        np.fill_diagonal(b, 0.0)
    else:  # DLAE: B = (G + Lambda)^-1 G
        b = inv @ g
    np.testing.assert_allclose(model.weights_, b, atol=2e-5)
    assert model.weights_.dtype == np.float32
    # the score is x_u B, and explain's terms add up to it
    c = 0
    top = model.recommend([model.customer_ids_[c]], k=1).iloc[0]
    j = int(model.product_indices([top["product_id"]])[0])
    assert top["score"] == pytest.approx((x[c] @ b)[j], abs=1e-4)
    ex = model.explain(model.customer_ids_[c], top["product_id"])
    assert ex["contribution"].sum() == pytest.approx(top["score"], abs=1e-4)


def test_edlae_without_dropout_is_ease(rng):
    inter = random_interactions(rng, n_customers=40, n_products=12)
    a = build("edlae", l2=5.0, dropout=0.0).fit(inter)
    b = build("ease", l2=5.0).fit(inter)
    np.testing.assert_allclose(a.weights_, b.weights_, atol=1e-6)


def test_edlae_refuses_large_catalogue_and_bad_values():
    inter, _ = checkerboard()
    with pytest.raises(EaseMemoryError, match=r"edlae: the catalogue has 12 products.*GiB"):
        build("edlae", max_items=10).fit(inter)
    for params, key in (
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"l2": 0.0}, "l2"),
        ({"zero_diagonal": 1}, "zero_diagonal"),
        ({"binarize": "yes"}, "binarize"),
    ):
        with pytest.raises(ValueError, match=key):
            build("edlae", **params).fit(inter)


# -- RP3beta -----------------------------------------------------------------------------------
def _rp3beta_reference(x: np.ndarray, alpha, beta, k, norm) -> np.ndarray:
    """Dacrema et al.'s RP3betaRecommender, written densely in float64."""
    p_ui = x / np.maximum(x.sum(axis=1, keepdims=True), 1)
    p_iu = x.T / np.maximum(x.T.sum(axis=1, keepdims=True), 1)
    p_ui, p_iu = p_ui**alpha, p_iu**alpha
    pop = x.sum(axis=0)
    deg = np.where(pop > 0, np.power(np.maximum(pop, 1), -beta), 0.0)
    w = (p_iu @ p_ui) * deg[None, :]
    np.fill_diagonal(w, 0.0)
    out = np.zeros_like(w)
    for i in range(len(w)):
        order = np.lexsort((np.arange(len(w)), -w[i]))[:k]
        out[i, order] = w[i, order]
    if norm:
        s = out.sum(axis=1, keepdims=True)
        out = np.divide(out, s, out=np.zeros_like(out), where=s > 0)
    return out


@pytest.mark.parametrize(
    "alpha,beta,k,norm", [(1.0, 0.5, 5, True), (0.7, 0.0, 3, False), (1.3, 1.0, 100, True)]
)
def test_rp3beta_matches_reference(rng, alpha, beta, k, norm):
    inter = random_interactions(rng, n_customers=45, n_products=16, density=0.25)
    x = _binary(inter)
    want = _rp3beta_reference(x, alpha, beta, k, norm)
    got = rp3beta_weights(sp.csr_matrix(x), alpha, beta, k, norm).toarray()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    assert ((got > 0).sum(axis=1) <= k).all()
    # building W by blocks of rows gives the same matrix
    blocked = rp3beta_weights(sp.csr_matrix(x), alpha, beta, k, norm, block_rows=3).toarray()
    np.testing.assert_array_equal(blocked, got)
    model = build("rp3beta", alpha=alpha, beta=beta, n_neighbors=k, normalize_rows=norm).fit(inter)
    scores = model.score_pairs(np.zeros(16, np.int64), np.arange(16))
    np.testing.assert_allclose(scores, (x[0] @ want).astype(np.float32), rtol=1e-5, atol=1e-6)


def test_rp3beta_ties_keep_the_lower_product_index():
    # every product is reached with the same probability from product 0: with two neighbours
    # the two lowest indices are kept, whatever the block size
    x = np.zeros((1, 6))
    x[0, :] = 1
    w = rp3beta_weights(sp.csr_matrix(x), 1.0, 0.0, 2, False).toarray()
    assert np.flatnonzero(w[0]).tolist() == [1, 2]
    assert np.flatnonzero(w[3]).tolist() == [0, 1]


def test_rp3beta_explain_sums_to_score(rng):
    inter = random_interactions(rng)
    model = build("rp3beta", n_neighbors=10).fit(inter)
    recs = model.recommend(["u1", "u2"], k=3)
    for r in recs.itertuples(index=False):
        ex = model.explain(r.customer_id, r.product_id)
        assert set(ex["kind"]) == {"consumed_product"}
        assert ex["contribution"].sum() == pytest.approx(r.score, rel=1e-5, abs=1e-7)


def test_rp3beta_rejects_bad_values():
    inter, _ = checkerboard()
    for params, key in (
        ({"alpha": -1.0}, "alpha"),
        ({"beta": float("nan")}, "beta"),
        ({"n_neighbors": 0}, "n_neighbors"),
        ({"normalize_rows": 0}, "normalize_rows"),
    ):
        with pytest.raises(ValueError, match=key):
            build("rp3beta", **params).fit(inter)
