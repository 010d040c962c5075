"""Exposure metrics: the Gini convention, entropy, seller groups, DP/DT ratios, shop simulation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recnb.fairness.exposure import (
    catalogue_exposure,
    examination_weights,
    exposure_entropy,
    exposure_per_list,
    provider_exposure,
    seller_groups,
    simulated_exposure,
)
from recnb.metrics import gini


def _train(n_customers=20, n_products=10, seed=0):
    rng = np.random.default_rng(seed)
    m = (rng.random((n_customers, n_products)) < 0.3).astype(float)
    m[0] = 1.0  # every product has an interaction
    return sp.csr_matrix(m)


def test_gini_convention_uniform_zero_one_item_maximum():
    n = 10
    train = _train(n_products=n)
    uniform = np.arange(n).reshape(5, 2)  # every product listed exactly once
    one = np.zeros((5, 1), dtype=np.int64)  # product 0 gets every slot
    t = catalogue_exposure({"one": one}, train, k=1)
    assert t.set_index("model").loc["one", "gini"] == pytest.approx((n - 1) / n)
    t = catalogue_exposure({"uniform": uniform}, train, k=2)
    assert t.set_index("model").loc["uniform", "gini"] == pytest.approx(0.0, abs=1e-15)
    assert gini(np.ones(7)) == 0.0
    assert gini(np.r_[5.0, np.zeros(6)]) == pytest.approx(6 / 7)


def test_entropy_uniform_one_and_single_product_zero():
    assert exposure_entropy(np.ones(8)) == pytest.approx(1.0)
    assert exposure_entropy(np.r_[3.0, np.zeros(7)]) == 0.0
    assert exposure_entropy(np.r_[1.0, 1.0, 0.0, 0.0]) == pytest.approx(0.5)


def test_catalogue_exposure_coverage_and_data_row():
    train = _train()
    lists = {"m": np.array([[0, 1, -1], [0, 2, 3]])}
    t = catalogue_exposure(lists, train, k=3).set_index("model")
    assert t.loc["m", "coverage"] == pytest.approx(4 / 10)
    data = t.loc["data (training interactions)"]
    counts = np.asarray((train > 0).sum(axis=0)).ravel()
    assert data["gini"] == pytest.approx(gini(counts))
    assert np.isnan(data["arp"])


def test_seller_groups_split_at_the_large_share():
    brands = ["A"] * 5 + ["B"] * 3 + ["C"] * 1 + ["D"] * 1 + [None]
    code, table = seller_groups(brands, large_share=0.5)
    # 10 branded products; A alone holds 5 = 50%
    assert table.loc[table["large"], "brand"].tolist() == ["A"]
    np.testing.assert_array_equal(code, [0] * 5 + [1] * 5 + [-1])
    code, _ = seller_groups(brands, large_share=0.6)
    np.testing.assert_array_equal(code, [0] * 8 + [1] * 2 + [-1])
    with pytest.raises(ValueError, match="brand"):
        seller_groups([None, None])


def test_provider_ratios_hand_computed():
    # products 0, 1 large sellers; 2, 3 small sellers
    groups = np.array([0, 0, 1, 1])
    w = np.array([1.0, 0.5])
    lists = {"m": np.array([[0, 2], [1, 0]])}
    truth = sp.csr_matrix(np.array([[1.0, 0, 1, 0], [0, 0, 0, 1]]))
    t = provider_exposure(lists, truth, groups, w, n_boot=20).iloc[0]
    # exposure: small 0.5 (product 2 at position 2); large 1 + 1 + .5 = 2.5
    assert t["exposure_share"] == pytest.approx(0.5 / 3.0)
    assert t["dp_ratio"] == pytest.approx((0.5 / 2) / (2.5 / 2))
    # relevance: small 2 pairs, large 1 pair
    assert t["relevant_share"] == pytest.approx(2 / 3)
    assert t["dt_ratio"] == pytest.approx(((0.5 / 2) / (2.5 / 2)) / ((2 / 2) / (1 / 2)))
    assert t["catalogue_share"] == 0.5
    e = exposure_per_list(lists["m"], groups, w)
    np.testing.assert_allclose(e, [[1.0, 0.5], [1.5, 0.0]])


def test_provider_interval_covers_the_value():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 2, size=50)
    lists = {"m": np.stack([rng.choice(50, 10, replace=False) for _ in range(300)])}
    truth = sp.csr_matrix((rng.random((300, 50)) < 0.05).astype(float))
    t = provider_exposure(lists, truth, groups, examination_weights(10), n_boot=200).iloc[0]
    for col in ("exposure_share", "dp_ratio", "dt_ratio"):
        assert t[f"{col}_ci_low"] <= t[col] <= t[f"{col}_ci_high"]


def test_examination_weights():
    np.testing.assert_allclose(examination_weights(3), [1.0, 1 / np.log2(3), 0.5])


@pytest.fixture(scope="module")
def small_shop():
    from recnb.data.synthetic import ShopConfig, SyntheticShop

    return SyntheticShop(ShopConfig(n_customers=300, n_products=120, n_days=5, seed=3))


def test_expected_exposure_agrees_with_simulated_impressions(small_shop):
    shop = small_shop
    rng = np.random.default_rng(0)
    products = shop.products["product_id"].to_numpy(dtype=object)
    ids = np.stack([rng.choice(products, 10, replace=False) for _ in range(400)])
    codes, _ = seller_groups(shop.products["brand"].to_numpy(dtype=object))
    by_id = dict(zip(products, codes, strict=True))
    t = simulated_exposure(shop, ids, by_id, n_repeats=5, seed=1)
    assert set(t["group"]) == {0, 1}
    assert (t["z"].abs() < 4).all(), t
    # the expectation is the shop's examination model summed over the lists' slots
    w = shop.examination(10)
    g = np.vectorize(by_id.get)(ids)
    assert t.set_index("group").loc[1, "expected"] == pytest.approx(
        (w[None, :] * (g == 1)).sum() / 400
    )
    # a wrong examination model is detected: the simulated counts disagree with it
    wrong = (np.ones(10)[None, :] * (g == 1)).sum() / 400
    row = t.set_index("group").loc[1]
    assert abs(row["simulated"] - wrong) / row["se"] > 10


def test_exposure_per_list_ignores_padding_and_ungrouped():
    e = exposure_per_list(
        np.array([[3, -1], [2, 1]]), np.array([0, -1, 1, 1]), np.array([1.0, 0.5])
    )
    np.testing.assert_allclose(e, [[0.0, 1.0], [0.0, 1.0]])
