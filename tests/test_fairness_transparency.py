"""Explanation fidelity: additivity, deletion of the top contributor, coverage, stability, privacy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recnb.fairness.transparency import (
    DELETERS,
    SEEDED,
    explanation_fidelity,
    explanation_stability,
    explanation_text,
    fidelity_summary,
    sample_pairs,
)
from recnb.models.testing import build, products_table, random_interactions


@pytest.fixture(scope="module")
def data():
    return random_interactions(
        np.random.default_rng(21), n_customers=60, n_products=40, density=0.25
    )


def _fit(name, data, seed=7):
    kwargs = {"random_state": seed}
    features = None
    if name == "content":
        kwargs["min_df"] = 1
        features = {"products": products_table(data.product_ids, np.random.default_rng(3))}
    if name == "biased_mf":
        kwargs["n_factors"] = 3
    return build(name, **kwargs).fit(data, features=features)


def _pairs(model, n_customers=25, k=5, seed=0):
    cidx = np.arange(model.n_customers_)
    topk, _ = model.recommend_indices(cidx, k=k)
    return sample_pairs(topk, cidx, n_customers, k, seed)


@pytest.mark.parametrize("name", sorted(DELETERS))
def test_contributions_add_up_and_deleting_the_top_one_lowers_the_score(name, data):
    model = _fit(name, data)
    pairs = _pairs(model)
    f = explanation_fidelity(model, pairs)
    assert len(f) == len(pairs)
    assert f["additive"].all(), f.loc[~f["additive"], ["sum_error"]]
    s = fidelity_summary(f).iloc[0]
    served = ~f["fallback"]
    assert s["coverage"] > 0.5 * served.mean()
    assert s["checked"] > 10
    # the last customer of random_interactions is cold: served by the fallback, not checked
    assert f.loc[f["fallback"], "lowered"].isna().all()
    assert s["lowered_share"] >= 0.95, f[
        ["top_kind", "top_contribution", "score", "score_without_top"]
    ]


def test_linear_models_lose_exactly_the_top_contribution(data):
    for name in ("item_knn", "ease", "user_knn", "content"):
        model = _fit(name, data)
        f = explanation_fidelity(model, _pairs(model)).dropna(subset=["score_without_top"])
        drop = f["score"] - f["score_without_top"]
        np.testing.assert_allclose(drop, f["top_contribution"], atol=1e-4)


def test_lightfm_deletion_is_not_the_shapley_value(data):
    """LightFM's contributions split pair terms in half, so removing a feature is a real test."""
    model = _fit("lightfm_warp", data)
    f = explanation_fidelity(model, _pairs(model)).dropna(subset=["score_without_top"])
    drop = f["score"] - f["score_without_top"]
    assert not np.allclose(drop, f["top_contribution"], atol=1e-4)


@pytest.mark.parametrize("name", SEEDED)
def test_stability_across_seeds_in_range(name, data):
    a, b = _fit(name, data, seed=1), _fit(name, data, seed=2)
    pairs = _pairs(a)
    stab = explanation_stability(a, b, pairs)
    assert len(stab) == len(pairs)
    ok = stab[~np.isnan(stab)]
    assert ((ok >= 0) & (ok <= 1)).all()
    # the same fit is perfectly stable
    same = explanation_stability(a, a, pairs)
    assert np.nanmin(same) == 1.0


@pytest.mark.parametrize("name", ["item_knn", "user_knn", "ease", "content"])
def test_unseeded_families_explain_identically_whatever_the_seed(name, data):
    a, b = _fit(name, data, seed=1), _fit(name, data, seed=99)
    pairs = _pairs(a)
    assert np.nanmin(explanation_stability(a, b, pairs)) == 1.0
    assert name not in SEEDED


def test_no_explanation_text_names_another_customer(data):
    names = {str(p): f"product {p}" for p in data.product_ids}
    for name in ("user_knn", "lightfm_warp", "item_knn"):
        model = _fit(name, data)
        pairs = _pairs(model)
        ids = set(map(str, model.customer_ids_))
        for c, p in zip(pairs["customer"], pairs["product"], strict=True):
            text = explanation_text(
                model.explain(model.customer_ids_[c], model.product_ids_[p]), names
            )
            assert text
            assert not any(cid in text for cid in ids), (name, text)
    ex = pd.DataFrame(
        {
            "contributor": ["u1", "u2", "customer_id=u9"],
            "kind": ["neighbour", "neighbour", "customer_identity"],
            "contribution": [0.5, 0.25, 0.1],
        }
    )
    assert (
        explanation_text(ex)
        == "2 similar customers chose it (+0.75); this customer's own history (+0.1)"
    )


def test_sample_pairs_is_seeded():
    topk = np.arange(40).reshape(10, 4)
    a = sample_pairs(topk, np.arange(100, 110), 3, 2, seed=5)
    b = sample_pairs(topk, np.arange(100, 110), 3, 2, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 6 and set(a["rank"]) == {1, 2}


def test_model_without_explanations_is_refused(data):
    with pytest.raises(ValueError, match="cannot explain"):
        explanation_fidelity(
            build("random").fit(data), pd.DataFrame({"customer": [0], "product": [1]})
        )
