"""The score blend: its formula, explanations, saved state, and members tuned before it."""

from __future__ import annotations

import numpy as np
import pytest

from recnb.evaluation.specs import ModelSpec
from recnb.evaluation.tuning import tune_models
from recnb.models import Recommender
from recnb.models.blend import inherit_member_params
from recnb.models.testing import build, checkerboard, random_interactions

ALS = {"factors": 4, "iterations": 8, "regularization": 0.1, "alpha": 5.0, "num_threads": 1}


def _blend(weight=0.3, **kw):
    params = {
        "first": "ease",
        "second": "als",
        "first_params": {"l2": 2.0},
        "second_params": ALS,
        "weight": weight,
        **kw,
    }
    return build("blend", **params)


def test_blend_is_the_weighted_sum_of_standardised_member_scores(rng):
    inter = random_interactions(rng, n_customers=30, n_products=20)
    model = _blend(0.3).fit(inter)
    ease = build("ease", l2=2.0).fit(inter)
    als = build("als", **ALS).fit(inter)
    users = np.arange(inter.n_customers - 1)  # the last one is cold
    a = ease._score(users).astype(np.float64)
    b = als._score(users).astype(np.float64)
    want = 0.3 * a / a.std(axis=1, keepdims=True) + 0.7 * b / b.std(axis=1, keepdims=True)
    np.testing.assert_allclose(model._score(users), want, rtol=1e-4, atol=1e-5)
    # weight 1 ranks exactly like the first member
    only = _blend(1.0).fit(inter)
    np.testing.assert_array_equal(
        only.recommend_indices(users, k=5)[0], ease.recommend_indices(users, k=5)[0]
    )


def test_blend_explanations_sum_to_the_score(rng):
    inter = random_interactions(rng)
    model = _blend(0.6).fit(inter)
    for r in model.recommend(["u1", "u3"], k=3).itertuples(index=False):
        ex = model.explain(r.customer_id, r.product_id)
        assert set(ex["kind"]) == {"consumed_product (ease)", "consumed_product (als)"}
        assert ex["contribution"].sum() == pytest.approx(r.score, rel=1e-4, abs=1e-5)


def test_blend_refuses_to_explain_when_a_member_cannot(rng):
    inter = random_interactions(rng)
    model = _blend(second="bpr", second_params={"factors": 4, "iterations": 5}).fit(inter)
    with pytest.raises(NotImplementedError, match=r"member\(s\) \['bpr'\]"):
        model.explain("u1", "i1")


def test_blend_save_load_keeps_members(tmp_path, rng):
    inter = random_interactions(rng)
    model = _blend(0.4).fit(inter)
    loaded = Recommender.load(model.save(tmp_path / "b"))
    assert [m.name for m in loaded.members_] == ["ease", "als"]
    users = np.arange(inter.n_customers)
    a, sa = model.recommend_indices(users, k=5)
    b, sb = loaded.recommend_indices(users, k=5)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(sa, sb)


def test_blend_rejects_bad_members_and_weights():
    inter, _ = checkerboard()
    for params, key in (
        ({"first": "nope"}, "first"),
        ({"second": "blend"}, "second"),
        ({"weight": 1.5}, "weight"),
        ({"first_params": [1]}, "first_params"),
    ):
        with pytest.raises(ValueError, match=key):
            _blend(**params).fit(inter)


def test_inherit_member_params_takes_the_chosen_values():
    ease = ModelSpec("ease", "ease", {"l2": 7.0})
    als = ModelSpec("als_wide", "als", {"factors": 9})
    blend = ModelSpec("blend", "blend", {"first": "ease", "second": "als"})
    got = inherit_member_params(blend, [ease, als])
    assert got.params["first_params"] == {"l2": 7.0}
    assert got.params["second_params"] == {"factors": 9}
    fixed = blend.with_params(first_params={"l2": 1.0})
    assert inherit_member_params(fixed, [ease, als]).params["first_params"] == {"l2": 1.0}
    assert inherit_member_params(ease, []) is ease
    with pytest.raises(ValueError, match="list the blend after its members"):
        inherit_member_params(blend, [ease])


def test_tuning_gives_a_blend_its_members_tuned_values(rng):
    train_inner = random_interactions(rng, n_customers=40, n_products=20)
    valid = train_inner.with_matrix(train_inner.matrix[:, ::-1].tocsr())
    specs = [
        ModelSpec("ease", "ease", {}),
        ModelSpec("als", "als", ALS),
        ModelSpec("blend", "blend", {"first": "ease", "second": "als"}),
    ]
    spaces = {
        "ease": {"l2": {"low": 1.0, "high": 50.0, "log": True}},
        "blend": {"weight": {"low": 0.0, "high": 1.0}},
    }
    tuned = tune_models(specs, train_inner, valid, spaces, n_trials=3, seed=1)
    chosen = {s.label: s for s in tuned.specs}
    assert chosen["blend"].params["first_params"] == chosen["ease"].params
    assert chosen["blend"].params["first_params"]["l2"] == tuned.results["ease"].best_params["l2"]
    assert chosen["blend"].params["second_params"] == ALS
    assert 0.0 <= chosen["blend"].params["weight"] <= 1.0
