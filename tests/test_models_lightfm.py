"""LightFM adapter: agreement with LightFM itself, exact per-feature explanations, what features add
(cold products reachable through their attributes), new products scored from feature rows.

The shared contract runs over every registered model in tests/test_models_contract.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from lightfm import LightFM

from recnb.data.interactions import Interactions
from recnb.models import hyperparameters, make_model
from recnb.models.lightfm_model import LightFMBPR, LightFMWarp
from recnb.models.testing import build, random_interactions

FAST = {"no_components": 8, "epochs": 30, "learning_rate": 0.05}
N_BLOCK_CUSTOMERS = 20
N_WARM = 6  # products with interactions per block
N_COLD = 2  # products without interactions per block


def blocks(rng: np.random.Generator) -> Interactions:
    """Two tastes: block-b customers buy block-b products; each block has cold products.

    Products carry their block as a category feature plus two noise terms; customers carry their
    block as a segment feature. Products ``N_WARM..N_WARM+N_COLD-1`` of each block have no
    interactions at all.
    """
    per_block = N_WARM + N_COLD
    rows, cols = [], []
    for b in range(2):
        for c in range(N_BLOCK_CUSTOMERS):
            u = b * N_BLOCK_CUSTOMERS + c
            for j in rng.choice(N_WARM, 4, replace=False):
                rows.append(u)
                cols.append(b * per_block + j)
    n_c, n_p = 2 * N_BLOCK_CUSTOMERS, 2 * per_block
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_c, n_p))
    block_p = np.arange(n_p) // per_block
    pf = np.zeros((n_p, 4), np.float32)
    pf[np.arange(n_p), block_p] = 1.0
    pf[:, 2:] = rng.random((n_p, 2)) < 0.5
    block_c = np.arange(n_c) // N_BLOCK_CUSTOMERS
    cf = np.zeros((n_c, 2), np.float32)
    cf[np.arange(n_c), block_c] = 1.0
    return Interactions(
        matrix=m,
        customer_ids=[f"c{i}" for i in range(n_c)],
        product_ids=[f"p{j}" for j in range(n_p)],
        customer_features=sp.csr_matrix(cf),
        customer_feature_names=["segment:a", "segment:b"],
        product_features=sp.csr_matrix(pf),
        product_feature_names=["category:a", "category:b", "term:x", "term:y"],
    )


@pytest.fixture(scope="module")
def block_data():
    return blocks(np.random.default_rng(11))


@pytest.fixture(scope="module")
def hybrid(block_data):
    return build("lightfm_warp", **FAST).fit(block_data)


@pytest.fixture(scope="module")
def pure_cf(block_data):
    return build("lightfm_warp", use_features=False, **FAST).fit(block_data)


def _cold_products(block: int) -> np.ndarray:
    start = block * (N_WARM + N_COLD) + N_WARM
    return np.arange(start, start + N_COLD)


def _own_cold_first_rate(model) -> float:
    """Share of customers for whom every own-block cold product outscores every other cold one."""
    hits = []
    for u in range(model.n_customers_):
        b = u // N_BLOCK_CUSTOMERS
        own = model.score_pairs(np.full(N_COLD, u), _cold_products(b))
        other = model.score_pairs(np.full(N_COLD, u), _cold_products(1 - b))
        hits.append(own.min() > other.max())
    return float(np.mean(hits))


def _manual_score(model, urow: np.ndarray, irow: np.ndarray) -> float:
    """LightFM's formula from the fitted feature embeddings, independently of the adapter."""
    pu = urow @ model.user_embeddings_.astype(np.float64)
    qi = irow @ model.item_embeddings_.astype(np.float64)
    return float(pu @ qi + urow @ model.user_biases_ + irow @ model.item_biases_)


def test_registered_names_and_default_losses():
    assert type(make_model("lightfm_warp")) is LightFMWarp
    assert type(make_model("lightfm_bpr")) is LightFMBPR
    assert hyperparameters("lightfm_warp")["loss"] == "warp"
    assert hyperparameters("lightfm_bpr")["loss"] == "bpr"
    assert set(hyperparameters("lightfm_bpr")) == set(hyperparameters("lightfm_warp"))


@pytest.mark.parametrize("use_features", [True, False])
@pytest.mark.parametrize("loss", ["warp", "bpr"])
def test_scores_equal_lightfm_predict_called_directly(block_data, use_features, loss):
    model = build("lightfm_warp", loss=loss, use_features=use_features, **FAST).fit(block_data)
    seed = int(np.random.default_rng(7).integers(0, 2**31 - 1))
    direct = LightFM(no_components=8, loss=loss, learning_rate=0.05, random_state=seed)
    direct.fit(
        block_data.matrix.tocoo(),
        user_features=model.customer_features_,
        item_features=model.product_features_,
        epochs=30,
        num_threads=1,
    )
    np.testing.assert_array_equal(model.item_embeddings_, direct.item_embeddings)
    u, i = np.meshgrid(np.arange(block_data.n_customers), np.arange(block_data.n_products))
    u, i = u.ravel(), i.ravel()
    expected = direct.predict(
        u.astype(np.int32),
        i.astype(np.int32),
        user_features=model.customer_features_,
        item_features=model.product_features_,
    )
    np.testing.assert_allclose(model.score_pairs(u, i), expected, rtol=1e-5, atol=1e-5)


def test_feature_matrices_identity_plus_normalised_side_features(hybrid, pure_cf, block_data):
    n_c, n_p = block_data.shape
    assert hybrid.product_features_.shape == (n_p, n_p + 4)
    assert hybrid.customer_features_.shape == (n_c, n_c + 2)
    np.testing.assert_allclose(abs(hybrid.product_features_).sum(axis=1).A1, 1.0, rtol=1e-6)
    cold = _cold_products(0)
    # cold products have no identity feature: they are represented by their attributes only
    assert hybrid.product_features_[cold][:, :n_p].nnz == 0
    warm = np.arange(N_WARM)
    np.testing.assert_array_equal(hybrid.product_features_[warm, warm].A1 > 0, True)
    assert pure_cf.product_features_.shape == (n_p, n_p)
    assert (pure_cf.product_features_ != sp.identity(n_p)).nnz == 0
    assert pure_cf.product_feature_names_ == []


def test_features_make_cold_products_reachable(hybrid, pure_cf):
    assert _own_cold_first_rate(hybrid) == 1.0
    assert _own_cold_first_rate(pure_cf) < 0.75


def test_new_products_are_scored_from_their_features(hybrid, block_data):
    new = np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32)  # category a, category b
    scores = hybrid.score_new_products(list(block_data.customer_ids), new)
    assert scores.shape == (block_data.n_customers, 2)
    block = np.arange(block_data.n_customers) // N_BLOCK_CUSTOMERS
    assert (scores[block == 0, 0] > scores[block == 0, 1]).all()
    assert (scores[block == 1, 1] > scores[block == 1, 0]).all()
    # a catalogue product without interactions is represented the same way as a new one
    cold = _cold_products(0)
    rows = block_data.product_features[cold].toarray()
    u = np.arange(block_data.n_customers)
    again = hybrid.score_new_products(list(block_data.customer_ids), rows)
    for j, p in enumerate(cold):
        np.testing.assert_allclose(
            again[:, j], hybrid.score_pairs(u, np.full(len(u), p)), rtol=1e-5, atol=1e-6
        )


def test_new_products_need_product_features(pure_cf, hybrid):
    with pytest.raises(ValueError, match="no product features"):
        pure_cf.score_new_products(["c0"], np.ones((1, 4), np.float32))
    with pytest.raises(ValueError, match="expected 4"):
        hybrid.score_new_products(["c0"], np.ones((1, 3), np.float32))
    with pytest.raises(KeyError, match="nobody"):
        hybrid.score_new_products(["nobody"], np.ones((1, 4), np.float32))


@pytest.mark.parametrize("which", ["hybrid", "pure_cf"])
def test_explanation_sums_to_the_score(which, request, block_data):
    model = request.getfixturevalue(which)
    for u in (0, 7, 25, 39):
        for p in (0, 3, N_WARM, 9, 14):
            cid, pid = block_data.customer_ids[u], block_data.product_ids[p]
            score = float(model.score_pairs(np.array([u]), np.array([p]))[0])
            ex = model.explain(cid, pid)
            assert ex["contribution"].sum() == pytest.approx(score, abs=1e-4)
            pairs = model.explain_pairs(cid, pid)
            assert pairs["contribution"].sum() == pytest.approx(score, abs=1e-4)
            expected_kinds = {"customer_identity", "product_identity"}
            if which == "hybrid":
                expected_kinds = {"customer_identity", "customer_feature", "product_feature"}
                if p % (N_WARM + N_COLD) < N_WARM:
                    expected_kinds.add("product_identity")
            assert set(ex["kind"]) == expected_kinds


def test_explanation_names_the_features(hybrid):
    ex = hybrid.explain("c0", "p1")
    assert set(ex["contributor"]) >= {"customer_id=c0", "customer:segment:a", "product_id=p1"}
    assert "product:category:a" in set(ex["contributor"])


def test_removing_the_top_contributor_lowers_the_score(hybrid, block_data):
    checked = 0
    for u in range(0, block_data.n_customers, 3):
        p = int(hybrid.recommend_indices(np.array([u]), k=1)[0][0, 0])
        ex = hybrid.explain(block_data.customer_ids[u], block_data.product_ids[p])
        urow = hybrid.customer_features_[u].toarray().ravel().astype(np.float64)
        irow = hybrid.product_features_[p].toarray().ravel().astype(np.float64)
        score = _manual_score(hybrid, urow, irow)
        assert score == pytest.approx(
            float(hybrid.score_pairs(np.array([u]), np.array([p]))[0]), abs=1e-5
        )
        top, kind = ex["contributor"].iloc[0], ex["kind"].iloc[0]
        if kind.startswith("customer"):
            col = _column(hybrid, "customer", top, block_data)
            urow[col] = 0.0
        else:
            col = _column(hybrid, "product", top, block_data)
            irow[col] = 0.0
        assert _manual_score(hybrid, urow, irow) < score, (u, p, top)
        checked += 1
    assert checked >= 10


def _column(model, side: str, label: str, data: Interactions) -> int:
    ids = data.customer_ids if side == "customer" else data.product_ids
    names = model.customer_feature_names_ if side == "customer" else model.product_feature_names_
    if label.startswith(f"{side}_id="):
        return int(list(ids).index(label.split("=", 1)[1]))
    return len(ids) + names.index(label.split(":", 1)[1])


def test_features_passed_to_fit_override_the_interactions(block_data):
    extra = sp.csr_matrix(np.eye(block_data.n_products, 3, dtype=np.float32))
    model = build("lightfm_warp", no_components=4, epochs=2).fit(
        block_data,
        features={"product_features": extra, "product_feature_names": ["f0", "f1", "f2"]},
    )
    assert model.product_feature_names_ == ["f0", "f1", "f2"]
    assert model.product_features_.shape == (block_data.n_products, block_data.n_products + 3)


def test_sample_weights_are_used_when_asked(rng):
    data = random_interactions(rng)  # confidences 1..5
    plain = build("lightfm_warp", no_components=4, epochs=3).fit(data)
    weighted = build("lightfm_warp", no_components=4, epochs=3, use_weights=True).fit(data)
    same = build("lightfm_warp", no_components=4, epochs=3, use_weights=True).fit(data)
    assert not np.array_equal(plain.item_embeddings_, weighted.item_embeddings_)
    np.testing.assert_array_equal(weighted.item_embeddings_, same.item_embeddings_)


def test_without_side_features_the_hybrid_is_pure_cf(rng):
    data = random_interactions(rng)
    bare = Interactions(data.matrix, data.customer_ids, data.product_ids)
    a = build("lightfm_bpr", no_components=4, epochs=3).fit(bare)
    b = build("lightfm_bpr", no_components=4, epochs=3, use_features=False).fit(data)
    np.testing.assert_array_equal(a.item_repr_, b.item_repr_)
    np.testing.assert_array_equal(a.user_repr_, b.user_repr_)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"loss": "logistic"}, "loss"),
        ({"no_components": 0}, "no_components"),
        ({"epochs": 1.5}, "epochs"),
        ({"num_threads": 0}, "num_threads"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"item_alpha": float("nan")}, "item_alpha"),
        ({"use_features": 1}, "use_features"),
    ],
)
def test_bad_hyperparameters_fail_at_fit(params, match, block_data):
    with pytest.raises(ValueError, match=match):
        build("lightfm_warp", **params).fit(block_data)
