"""Beyond-accuracy metrics on a hand-computed toy shop, plus references on random inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from test_metrics_reference import ref_gini, ref_ild_category, ref_ild_embedding

from recnb.metrics import (
    aggregate_metrics,
    aplt,
    arp,
    bootstrap_counts,
    catalog_coverage,
    exposure_counts,
    gini,
    gini_exposure,
    ild_category,
    ild_embedding,
    item_popularity,
    long_tail_mask,
    novelty,
    popular_items,
    popularity_counts,
    popularity_lift,
    popularity_lift_by_group,
    profile_popularity,
    serendipity,
)

# Training: c0 {0, 1}, c1 {0, 2}, c2 {0, 1, 3}, c3 nothing.
# counts c = [3, 2, 1, 1, 0, 0] (7 interactions), 3 active customers,
# phi = c / 3 = [1, 2/3, 1/3, 1/3, 0, 0].
TRAIN = sparse.csr_matrix(([1.0] * 7, ([0, 0, 1, 1, 2, 2, 2], [0, 1, 0, 2, 0, 1, 3])), shape=(4, 6))
TOPK = np.array([[2, 3, 4], [0, 1, -1], [5, -1, -1], [0, 3, 5]])
# held out: c0 {3}, c1 {1, 4}, c2 {}, c3 {0, 5}
TRUTH = sparse.csr_matrix(([1.0] * 5, ([0, 1, 1, 3, 3], [3, 1, 4, 0, 5])), shape=(4, 6))
CATEGORIES = ["a", "a", "b", "b", "c", "a"]
EMBEDDINGS = np.array([[1, 0], [0, 1], [1, 1], [2, 0], [-1, 0], [0, 3]], dtype=float)
NAN = float("nan")


def assert_close(got: np.ndarray, expected: list[float]) -> None:
    np.testing.assert_allclose(got, np.array(expected, dtype=float), rtol=1e-12, equal_nan=True)


def test_popularity_and_long_tail_by_hand() -> None:
    assert popularity_counts(TRAIN).tolist() == [3, 2, 1, 1, 0, 0]
    assert_close(item_popularity(TRAIN), [1, 2 / 3, 1 / 3, 1 / 3, 0, 0])
    assert popular_items(TRAIN, 3).tolist() == [0, 1, 2]  # 2 before 3: tie broken by index
    # cumulative interactions in popularity order 3, 5, 6, 7; 80% of 7 = 5.6 -> head {0, 1, 2}
    assert long_tail_mask(TRAIN).tolist() == [False, False, False, True, True, True]
    # 70% of 7 = 4.9 -> head {0, 1}
    assert long_tail_mask(TRAIN, head_share=0.7).tolist() == [False, False, True, True, True, True]
    with pytest.raises(ValueError, match="head_share"):
        long_tail_mask(TRAIN, head_share=0)


def test_coverage_and_gini_by_hand() -> None:
    # k = 3: exposure [2, 1, 1, 2, 1, 2] -> every product shown
    assert exposure_counts(TOPK, 6).tolist() == [2, 1, 1, 2, 1, 2]
    assert catalog_coverage(TOPK, 6) == 1.0
    # k = 1: first items 2, 0, 5, 0 -> exposure [2, 0, 1, 0, 0, 1], coverage 3/6;
    # Gini: sorted [0, 0, 0, 1, 1, 2], weights 2i - 7 = -5, -3, -1, 1, 3, 5 -> 14 / (6 * 4)
    assert catalog_coverage(TOPK, 6, k=1) == 0.5
    assert gini_exposure(TOPK, 6, k=1) == pytest.approx(7 / 12)
    assert gini([5, 5, 5]) == 0.0
    assert gini([0, 0, 0, 4]) == pytest.approx(3 / 4)  # maximum (n - 1) / n
    assert gini([0, 0]) == 0.0  # all equal (nothing exposed): 0, the one convention
    assert gini(np.zeros(3)) == 0.0
    assert gini([1, 1, 1, 1]) == 0.0
    with pytest.raises(ValueError, match="non-negative"):
        gini([])
    with pytest.raises(ValueError, match="non-negative"):
        gini([1, -1])


def test_gini_matches_pairwise_reference(rng: np.random.Generator) -> None:
    for _ in range(20):
        x = rng.integers(0, 20, size=rng.integers(1, 30)).astype(float)
        if x.sum() == 0:
            continue
        assert gini(x) == pytest.approx(ref_gini(x.tolist()), rel=1e-12)


def test_novelty_by_hand() -> None:
    # -log2(c / 7), unseen products count as c = 1
    bits = [math.log2(7 / 3), math.log2(7 / 2), math.log2(7), math.log2(7), math.log2(7)]
    assert_close(
        novelty(TOPK, TRAIN),
        [math.log2(7), (bits[0] + bits[1]) / 2, math.log2(7), (bits[0] + 2 * math.log2(7)) / 3],
    )
    assert_close(novelty(TOPK, TRAIN, k=1), [math.log2(7), bits[0], math.log2(7), bits[0]])


def test_arp_aplt_and_popularity_lift_by_hand() -> None:
    # ARP: c0 (1/3 + 1/3 + 0)/3, c1 (1 + 2/3)/2, c2 0, c3 (1 + 1/3 + 0)/3
    assert_close(arp(TOPK, TRAIN), [2 / 9, 5 / 6, 0, 4 / 9])
    # long tail {3, 4, 5}: c0 2/3, c1 0, c2 1, c3 2/3
    assert_close(aplt(TOPK, TRAIN), [2 / 3, 0, 1, 2 / 3])
    # profiles: c0 (1 + 2/3)/2 = 5/6, c1 (1 + 1/3)/2 = 2/3, c2 (1 + 2/3 + 1/3)/3 = 2/3, c3 empty
    assert_close(profile_popularity(TRAIN), [5 / 6, 2 / 3, 2 / 3, NAN])
    # lift: c0 (2/9 - 5/6)/(5/6) = -11/15, c1 (5/6 - 2/3)/(2/3) = 1/4, c2 -1, c3 NaN
    assert_close(popularity_lift(TOPK, TRAIN), [-11 / 15, 1 / 4, -1, NAN])
    # groups a = {c0, c1}: GAP_p = 3/4, GAP_r = 19/36 -> -8/27; b = {c2} (c3 has no profile)
    groups = popularity_lift_by_group(TOPK, TRAIN, ["a", "a", "b", "b"])
    assert groups["group"].tolist() == ["a", "b"]
    assert groups["n"].tolist() == [2, 1]
    assert groups["gap_profile"].tolist() == pytest.approx([3 / 4, 2 / 3])
    assert groups["popularity_lift"].tolist() == pytest.approx([-8 / 27, -1])


def test_intra_list_diversity_by_hand() -> None:
    # categories: c0 b, b, c -> 2 of 3 pairs differ; c1 a, a -> 0; c2 one item; c3 a, b, a -> 2/3
    assert_close(ild_category(TOPK, CATEGORIES), [2 / 3, 0, NAN, 2 / 3])
    assert_close(ild_category(TOPK, CATEGORIES, k=2), [0, 0, NAN, 1])
    # embeddings: c0 cos(2,3) = 1/sqrt2, cos(2,4) = -1/sqrt2, cos(3,4) = -1 -> mean distance 4/3;
    # c1 orthogonal -> 1; c3 cos(0,3) = 1, others 0 -> (0 + 1 + 1)/3
    assert_close(ild_embedding(TOPK, EMBEDDINGS), [4 / 3, 1, NAN, 2 / 3])
    with pytest.raises(ValueError, match="zero or non-finite"):
        ild_embedding(TOPK, np.vstack([EMBEDDINGS[:5], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="missing"):
        ild_category(TOPK, ["a", None, "b", "b", "c", "a"])


def test_diversity_matches_references(rng: np.random.Generator) -> None:
    n_products = 30
    topk = np.argsort(rng.random((50, n_products)), axis=1)[:, :7]
    topk[rng.random(50) < 0.3, 4:] = -1
    cats = rng.choice(["x", "y", "z", "w"], size=n_products).tolist()
    emb = rng.normal(size=(n_products, 5))
    got_cat = ild_category(topk, cats)
    got_emb = ild_embedding(topk, emb)
    for i, row in enumerate(topk.tolist()):
        assert got_cat[i] == pytest.approx(ref_ild_category(row, cats), rel=1e-12)
        assert got_emb[i] == pytest.approx(ref_ild_embedding(row, emb), rel=1e-10)


def test_serendipity_by_hand() -> None:
    base = popular_items(TRAIN, 3)  # [0, 1, 2]
    # k = 3: c0 relevant 3, not in [0, 1, 2] -> 1/3; c1 relevant 1 is expected -> 0;
    # c2 no held-out item -> NaN; c3 relevant 0 (expected) and 5 (unexpected) -> 1/3
    assert_close(serendipity(TOPK, TRUTH, base), [1 / 3, 0, NAN, 1 / 3])
    # k = 2 with baseline [0, 1]: c0 [2, 3] -> 1/2; c3 [0, 3] -> 0 relevant unexpected
    assert_close(serendipity(TOPK, TRUTH, base, k=2), [1 / 2, 0, NAN, 0])
    # per-customer baseline: c0 was shown 3 by the baseline -> no longer serendipitous
    per_customer = np.array([[3, 0, 1], [0, 1, 2], [0, 1, 2], [0, 1, 2]])
    assert_close(serendipity(TOPK, TRUTH, per_customer), [0, 0, NAN, 1 / 3])
    with pytest.raises(ValueError, match="fewer than k"):
        serendipity(TOPK, TRUTH, np.array([0]), k=2)


def test_aggregate_metrics_bootstrap_matches_direct_resampling() -> None:
    rng = np.random.default_rng(3)
    topk = np.argsort(rng.random((40, 25)), axis=1)[:, :4]
    table = aggregate_metrics({"m": topk}, 25, ks=(2, 4), n_boot=200, seed=11)
    assert table["metric"].tolist() == ["catalog_coverage", "gini_exposure"] * 2
    assert table["n"].unique().tolist() == [40]
    for k in (2, 4):
        rows = table[table.k == k].set_index("metric")
        assert rows.loc["catalog_coverage", "value"] == catalog_coverage(topk, 25, k=k)
        assert rows.loc["gini_exposure", "value"] == pytest.approx(gini_exposure(topk, 25, k=k))
        # slow reference: resample lists with the same count draws, recompute from scratch
        cov, gin = [], []
        for counts in bootstrap_counts(40, 200, 11):
            for c in counts:
                lists = np.repeat(topk[:, :k], c.astype(int), axis=0)
                cov.append(catalog_coverage(lists, 25))
                gin.append(gini_exposure(lists, 25))
        for metric, boot in (("catalog_coverage", cov), ("gini_exposure", gin)):
            # centred interval: the bootstrap spread around its median, moved to the estimate
            low, middle, high = np.quantile(boot, [0.025, 0.5, 0.975])
            value = rows.loc[metric, "value"]
            expected = np.clip([value - (middle - low), value + (high - middle)], 0.0, 1.0)
            got = rows.loc[metric, ["ci_low", "ci_high"]].to_numpy(dtype=float)
            np.testing.assert_allclose(got, expected, rtol=1e-12)
            assert rows.loc[metric, "ci_low"] <= value <= rows.loc[metric, "ci_high"]
    assert isinstance(table, pd.DataFrame)
