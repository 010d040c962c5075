"""ALS and BPR adapters: agreement with ``implicit`` itself, exact explanations, fold-in.

The shared contract (seeding, seen items, unknown customers, save/load, checkerboard) runs over
every registered model in tests/test_models_contract.py; these tests cover what is specific here.
"""

from __future__ import annotations

import warnings

import implicit.utils
import numpy as np
import pytest
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from recnb.models import make_model
from recnb.models.implicit_models import ImplicitALS, ImplicitBPR
from recnb.models.testing import build, checkerboard, random_interactions

ALS_SMALL = {"factors": 6, "iterations": 8, "regularization": 0.05, "alpha": 2.0}


@pytest.fixture
def data(rng):
    return random_interactions(rng, n_customers=60, n_products=30, density=0.2)


def test_registered_names_and_flags():
    assert type(make_model("als")) is ImplicitALS
    assert type(make_model("bpr")) is ImplicitBPR
    assert ImplicitALS.can_explain and not ImplicitBPR.can_explain


def test_als_factors_equal_implicit_called_directly(data):
    model = build("als", exact_user_factors=False, **ALS_SMALL).fit(data)
    with threadpool_limits(1, "blas"):
        direct = AlternatingLeastSquares(
            factors=6,
            regularization=0.05,
            alpha=2.0,
            iterations=8,
            num_threads=1,
            random_state=np.random.default_rng(7),
        )
        direct.fit(data.matrix, show_progress=False)
    np.testing.assert_array_equal(model.user_factors_, direct.user_factors)
    np.testing.assert_array_equal(model.item_factors_, direct.item_factors)
    assert model.user_factors_.dtype == np.float32
    # implicit's own top-k agrees with ours wherever the scores are not tied
    users = np.flatnonzero(model.has_history_)
    ours, our_scores = model.recommend_indices(users, k=5)
    ids, scores = direct.recommend(users, data.matrix[users], N=5)
    np.testing.assert_allclose(our_scores, scores, rtol=1e-5, atol=1e-6)
    gaps = np.abs(np.diff(scores, axis=1)).min(axis=1) > 1e-5
    np.testing.assert_array_equal(ours[gaps], ids[gaps])


def test_bpr_factors_equal_implicit_called_directly(data):
    model = build("bpr", factors=5, iterations=20, learning_rate=0.05).fit(data)
    with threadpool_limits(1, "blas"):
        direct = BayesianPersonalizedRanking(
            factors=5,
            iterations=20,
            learning_rate=0.05,
            num_threads=1,
            random_state=np.random.default_rng(7),
        )
        direct.fit(data.matrix, show_progress=False)
    np.testing.assert_array_equal(model.item_factors_, direct.item_factors)
    np.testing.assert_array_equal(model.user_factors_, direct.user_factors)
    # the item bias column: customer factors end with a column of ones
    assert model.item_factors_.shape == (data.n_products, 6)
    np.testing.assert_array_equal(model.user_factors_[:, -1], 1.0)


def test_als_results_do_not_depend_on_thread_count(data):
    one = build("als", **ALS_SMALL).fit(data)
    two = build("als", num_threads=2, **ALS_SMALL).fit(data)
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)
    np.testing.assert_array_equal(one.user_factors_, two.user_factors_)


@pytest.mark.parametrize("exact", [True, False])
def test_als_checkerboard_known_answer(exact):
    inter, held = checkerboard()
    model = build("als", exact_user_factors=exact).fit(inter)
    users = np.array(sorted(held))
    idx, _ = model.recommend_indices(users, k=1)
    np.testing.assert_array_equal(idx[:, 0], [held[u] for u in users])


def test_als_fit_silences_implicit_blas_warning(data, monkeypatch):
    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)
    with threadpool_limits(2, "blas"), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        build("als", **ALS_SMALL).fit(data)


def test_exact_user_factors_are_the_fold_in_of_the_training_rows(data):
    model = build("als", **ALS_SMALL).fit(data)
    np.testing.assert_allclose(
        model.fold_in(data.matrix), model.user_factors_, rtol=1e-4, atol=1e-5
    )
    inexact = build("als", exact_user_factors=False, **ALS_SMALL).fit(data)
    gap = np.abs(inexact.fold_in(data.matrix) - inexact.user_factors_).max()
    assert gap > 1e-3  # CG factors predate the last item update: why exact factors exist


def _pairs(model, n=12):
    """Customer/product id pairs: each customer's top product and a product it scores low."""
    users = np.flatnonzero(model.has_history_)[:n]
    idx, _ = model.recommend_indices(users, k=model.n_products_)
    out = []
    for u, row in zip(users, idx, strict=True):
        last = row[row >= 0][-1]
        out += [(model.customer_ids_[u], model.product_ids_[row[0]])]
        out += [(model.customer_ids_[u], model.product_ids_[last])]
    return out


def test_als_explanation_sums_to_the_score(data):
    model = build("als", **ALS_SMALL).fit(data)
    for cid, pid in _pairs(model):
        ex = model.explain(cid, pid)
        u = model.customer_indices([cid])
        score = model.score_pairs(u, model.product_indices([pid]))[0]
        assert ex["contribution"].sum() == pytest.approx(score, abs=1e-4)
        assert set(ex["kind"]) == {"consumed_product"}
        consumed = set(model.product_ids_[data.matrix[u[0]].indices])
        assert set(ex["contributor"]) == consumed


def test_als_removing_the_top_contributor_lowers_the_score(data):
    model = build("als", **ALS_SMALL).fit(data)
    checked = 0
    for cid, pid in _pairs(model):
        ex = model.explain(cid, pid)
        if len(ex) < 2:
            continue
        u = int(model.customer_indices([cid])[0])
        j = int(model.product_indices([pid])[0])
        top = int(model.product_indices([ex["contributor"].iloc[0]])[0])
        row = sp.csr_matrix(data.matrix[u])
        row[0, top] = 0
        row.eliminate_zeros()
        before = float(model.fold_in(data.matrix[u])[0] @ model.item_factors_[j])
        after = float(model.fold_in(row)[0] @ model.item_factors_[j])
        assert after < before, (cid, pid)
        checked += 1
    assert checked >= 10


def test_als_inexact_factors_report_the_residual(data):
    model = build("als", exact_user_factors=False, **ALS_SMALL).fit(data)
    cid, pid = _pairs(model)[0]
    ex = model.explain(cid, pid)
    assert (ex["kind"] == "residual").sum() == 1
    score = model.score_pairs(model.customer_indices([cid]), model.product_indices([pid]))[0]
    assert ex["contribution"].sum() == pytest.approx(score, abs=1e-5)


def test_fold_in_checks_the_product_dimension(data):
    model = build("als", **ALS_SMALL).fit(data)
    with pytest.raises(ValueError, match="training product order"):
        model.fold_in(sp.csr_matrix((1, data.n_products + 1), dtype=np.float32))


@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("als", {"factors": 0}, "factors"),
        ("als", {"alpha": 0.0}, "alpha"),
        ("als", {"num_threads": -1}, "num_threads"),
        ("als", {"exact_user_factors": "yes"}, "exact_user_factors"),
        ("bpr", {"learning_rate": 0}, "learning_rate"),
        ("bpr", {"iterations": 2.5}, "iterations"),
    ],
)
def test_bad_hyperparameters_fail_at_fit(name, params, match, data):
    with pytest.raises(ValueError, match=match):
        build(name, **params).fit(data)


def test_unknown_hyperparameter_is_an_error():
    with pytest.raises(TypeError, match="use_gpu"):
        make_model("als", use_gpu=False)
