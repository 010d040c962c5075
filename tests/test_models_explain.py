"""Explanation fidelity: contributions add up to the score; removing the top one lowers it."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from recnb.models import REGISTRY
from recnb.models.testing import build, products_table, random_interactions

EXPLAINERS = sorted(n for n in REGISTRY if REGISTRY[n].can_explain)


@pytest.fixture(scope="module")
def data():
    return random_interactions(np.random.default_rng(11), n_customers=30, n_products=20)


def _pairs(model, inter, n=6):
    """A few (customer, product) pairs: each of the first customers with their top product."""
    cidx = np.arange(n)
    idx, _ = model.recommend_indices(cidx, k=2)
    return [(int(c), int(p)) for c, row in zip(cidx, idx, strict=True) for p in row if p >= 0]


@pytest.mark.parametrize("name", EXPLAINERS)
def test_contributions_sum_to_score(name, data):
    model = build(name).fit(data)
    for c, p in _pairs(model, data):
        ex = model.explain(model.customer_ids_[c], model.product_ids_[p])
        score = float(model.score_pairs(np.array([c]), np.array([p]))[0])
        assert ex["contribution"].sum() == pytest.approx(score, abs=1e-4), (c, p)


def test_fallback_customer_explained_by_popularity(data):
    model = build("item_knn").fit(data)
    ex = model.explain("nobody", "i3")
    assert ex["kind"].tolist() == ["fallback"]
    assert ex["contribution"].iloc[0] == model.popularity_[3]


def _drop_history(model, c: int, j: int) -> None:
    x = model.interactions_.tolil()
    x[c, j] = 0
    model.interactions_ = x.tocsr()
    model.interactions_.eliminate_zeros()


def _top(model, c, p):
    ex = model.explain(model.customer_ids_[c], model.product_ids_[p])
    return ex.iloc[0]


@pytest.mark.parametrize("name", ["item_knn", "ease", "pure_svd", "edlae", "rp3beta"])
def test_removing_top_consumed_product_lowers_score(name, data):
    model = build(name).fit(data)
    for c, p in _pairs(model, data):
        top = _top(model, c, p)
        assert top["kind"] == "consumed_product"
        before = float(model.score_pairs(np.array([c]), np.array([p]))[0])
        changed = copy.deepcopy(model)
        _drop_history(changed, c, int(changed.product_indices([top["contributor"]])[0]))
        if name == "pure_svd":
            changed.customer_factors_ = np.asarray(
                changed.interactions_ @ changed.item_factors_, dtype=np.float32
            )
        after = float(changed.score_pairs(np.array([c]), np.array([p]))[0])
        assert top["contribution"] > 0
        assert after < before
        assert before - after == pytest.approx(top["contribution"], abs=1e-4)


def test_item_knn_refit_without_top_product_lowers_score_by_its_contribution(data):
    # with every neighbour kept, similarities between other products do not depend on the
    # removed interaction, so a refit loses exactly the removed product's contribution
    n_p = data.n_products
    model = build("item_knn", n_neighbors=n_p, shrinkage=2.0).fit(data)
    for c, p in _pairs(model, data, n=4):
        top = _top(model, c, p)
        j = int(model.product_indices([top["contributor"]])[0])
        m = data.matrix.tolil()
        m[c, j] = 0
        refit = build("item_knn", n_neighbors=n_p, shrinkage=2.0).fit(data.with_matrix(m.tocsr()))
        before = float(model.score_pairs(np.array([c]), np.array([p]))[0])
        after = float(refit.score_pairs(np.array([c]), np.array([p]))[0])
        assert after < before
        assert before - after == pytest.approx(top["contribution"], abs=1e-4)


def test_user_knn_removing_top_neighbour_lowers_score(data):
    model = build("user_knn").fit(data)
    for c, p in _pairs(model, data):
        top = _top(model, c, p)
        assert top["kind"] == "neighbour"
        v = int(model.customer_indices([top["contributor"]])[0])
        before = float(model.score_pairs(np.array([c]), np.array([p]))[0])
        changed = copy.deepcopy(model)
        nb = changed.neighbours_.tolil()
        nb[c, v] = 0
        changed.neighbours_ = nb.tocsr()
        after = float(changed.score_pairs(np.array([c]), np.array([p]))[0])
        assert after < before
        assert before - after == pytest.approx(top["contribution"], abs=1e-4)


def test_content_top_terms_match_and_removal_lowers_score(data):
    products = products_table(data.product_ids, np.random.default_rng(3))
    model = build("content", min_df=1).fit(data, features={"products": products})
    for c, p in _pairs(model, data):
        ex = model.explain(model.customer_ids_[c], model.product_ids_[p])
        assert set(ex["kind"]) <= {"term", "category", "brand", "price"}
        top = ex.iloc[0]
        # the contributor is a feature the product really has
        f = int(np.flatnonzero(model.feature_names_ == top["contributor"])[0])
        assert model.item_vectors_[p, f] > 0
        before = float(model.score_pairs(np.array([c]), np.array([p]))[0])
        changed = copy.deepcopy(model)
        vec = changed.item_vectors_.tolil()
        vec[p, f] = 0
        changed.item_vectors_ = vec.tocsr()
        after = float(changed.score_pairs(np.array([c]), np.array([p]))[0])
        assert after < before
        assert before - after == pytest.approx(top["contribution"], abs=1e-4)


def test_biased_mf_explanation_has_biases_and_factors(data):
    model = build("biased_mf", n_factors=3).fit(data)
    ex = model.explain("u0", "i1")
    assert set(ex["kind"]) == {"bias", "latent_factor"}
    assert len(ex) == 3 + 3
    mu = ex.loc[ex.contributor == "global mean", "contribution"].iloc[0]
    assert mu == pytest.approx(float(data.matrix.data.mean()), rel=1e-6)
