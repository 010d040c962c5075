"""Ranking metrics: hand-computed cases, input checks, properties, and cross-checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.metrics import ndcg_score
from test_metrics_reference import ref_ranking, rows_of

from recnb.metrics import (
    RANKING_METRICS,
    ranking_metric_arrays,
    ranking_metrics,
    relevance_matrix,
)

L3 = 1 / math.log2(3)  # discount at rank 2
L4 = 1 / math.log2(4)  # discount at rank 3 (= 0.5)
L5 = 1 / math.log2(5)  # discount at rank 4


def csr(rows: list[dict[int, float]], n_products: int) -> sparse.csr_matrix:
    r = [i for i, row in enumerate(rows) for _ in row]
    c = [j for row in rows for j in row]
    v = [g for row in rows for g in row.values()]
    return sparse.csr_matrix((v, (r, c)), shape=(len(rows), n_products), dtype=np.float64)


def values(arrays: dict, metric: str, k: int) -> list[float]:
    return arrays[(metric, k)].tolist()


# --- hand-computed cases -------------------------------------------------------------------------

# customer 0: list [2, 0, 5, 7], relevant {0, 7, 9}      -> hits at ranks 2 and 4
# customer 1: list [4, 1, -1, -1], relevant {4}          -> hit at rank 1, list of 2 items
# customer 2: list [3, 6, 8, 1], relevant {}             -> not evaluated (NaN)
# customer 3: list [-1, -1, -1, -1], relevant {5}        -> empty list
TOPK = np.array([[2, 0, 5, 7], [4, 1, -1, -1], [3, 6, 8, 1], [-1, -1, -1, -1]])
TRUTH = csr([{0: 1.0, 7: 1.0, 9: 1.0}, {4: 1.0}, {}, {5: 1.0}], n_products=10)


def test_precision_recall_f1_hit_rate_by_hand() -> None:
    a = ranking_metric_arrays(TOPK, TRUTH, ks=(1, 2, 4))
    # c0: hits@1 = 0, @2 = 1, @4 = 2; precision = hits / k, recall = hits / 3
    # c1: hits = 1 at every k; precision@4 = 1/4 (denominator k although only 2 items)
    assert values(a, "precision", 1)[:2] == [0.0, 1.0]
    assert values(a, "precision", 2)[:2] == [0.5, 0.5]
    assert values(a, "precision", 4)[:2] == [0.5, 0.25]
    assert values(a, "recall", 4)[:2] == pytest.approx([2 / 3, 1.0])
    # f1@4 c0: 2 * (1/2)(2/3) / (1/2 + 2/3) = 4/7; c1: 2 * (1/4)(1) / (5/4) = 2/5
    assert values(a, "f1", 4)[:2] == pytest.approx([4 / 7, 2 / 5])
    assert values(a, "f1", 1)[0] == 0.0  # no hit: 0, not NaN
    assert values(a, "hit_rate", 1)[:2] == [0.0, 1.0]
    assert values(a, "hit_rate", 2)[:2] == [1.0, 1.0]
    # customer 3 (empty list) has truth: zeros; customer 2 (no truth): NaN
    assert values(a, "precision", 4)[3] == 0.0
    assert all(math.isnan(a[(m, 4)][2]) for m in RANKING_METRICS)


def test_mrr_by_hand() -> None:
    a = ranking_metric_arrays(TOPK, TRUTH, ks=(1, 4))
    # c0: first hit at rank 2 -> 1/2 at k=4 but 0 at k=1; c1: rank 1 -> 1
    assert values(a, "mrr", 1)[:2] == [0.0, 1.0]
    assert values(a, "mrr", 4)[:2] == [0.5, 1.0]
    assert values(a, "mrr", 4)[3] == 0.0


def test_ndcg_binary_by_hand() -> None:
    a = ranking_metric_arrays(TOPK, TRUTH, ks=(2, 4))
    # c0 @4: DCG = 1/log2(3) + 1/log2(5); IDCG (3 relevant, k=4) = 1 + 1/log2 3 + 1/log2 4
    # c0 @2: DCG = 1/log2 3; IDCG = 1 + 1/log2 3
    assert values(a, "ndcg", 4)[0] == pytest.approx((L3 + L5) / (1 + L3 + L4))
    assert values(a, "ndcg", 2)[0] == pytest.approx(L3 / (1 + L3))
    assert values(a, "ndcg", 4)[1] == pytest.approx(1.0)  # single relevant item at rank 1


def test_ndcg_graded_by_hand() -> None:
    topk = np.array([[1, 2, 3]])
    truth = csr([{1: 1.0, 2: 3.0, 4: 2.0}], n_products=5)
    lin = ranking_metric_arrays(topk, truth, ks=3, metrics=["ndcg"], graded=True)
    # linear: DCG = 1 + 3/log2 3 + 0; ideal grades 3, 2, 1: IDCG = 3 + 2/log2 3 + 1/2
    assert lin[("ndcg", 3)][0] == pytest.approx((1 + 3 * L3) / (3 + 2 * L3 + 0.5))
    exp = ranking_metric_arrays(
        topk, truth, ks=3, metrics=["ndcg"], graded=True, gain="exponential"
    )
    # exponential gains 2^g - 1: 1, 7, 3 -> DCG = 1 + 7/log2 3; IDCG = 7 + 3/log2 3 + 1/2
    assert exp[("ndcg", 3)][0] == pytest.approx((1 + 7 * L3) / (7 + 3 * L3 + 0.5))
    binary = ranking_metric_arrays(topk, truth, ks=3, metrics=["ndcg"])
    assert binary[("ndcg", 3)][0] == pytest.approx((1 + L3) / (1 + L3 + 0.5))


def test_map_variants_by_hand() -> None:
    a = ranking_metric_arrays(TOPK, TRUTH, ks=(2, 4))
    # c0: hits at ranks 2 and 4: precision there 1/2 and 2/4 -> sum = 1
    #   map_rel@4 = 1/3 (|rel| = 3); map_min@4 = 1/min(4, 3) = 1/3
    #   @2: sum = 1/2 -> map_rel = 1/6, map_min = (1/2)/min(2, 3) = 1/4
    assert values(a, "map_rel", 4)[0] == pytest.approx(1 / 3)
    assert values(a, "map_min", 4)[0] == pytest.approx(1 / 3)
    assert values(a, "map_rel", 2)[0] == pytest.approx(1 / 6)
    assert values(a, "map_min", 2)[0] == pytest.approx(1 / 4)
    assert values(a, "map_msr", 2)[0] == pytest.approx(1 / 6)
    # c3: empty list -> map_rel 0 but map_msr NaN (left out of the mean, as Recommenders does)
    assert values(a, "map_rel", 4)[3] == 0.0
    assert math.isnan(values(a, "map_msr", 4)[3])


def test_relevance_matrix() -> None:
    hit, grade = relevance_matrix(np.array([[1, 2, -1]]), csr([{2: 3.0, 0: 1.0}], n_products=4))
    assert hit.tolist() == [[False, True, False]]
    assert grade.tolist() == [[0.0, 3.0, 0.0]]


def test_tidy_frame_layout_and_labels() -> None:
    frame = ranking_metrics(TOPK, TRUTH, ks=(2, 4), metrics=["precision", "ndcg"])
    assert list(frame.columns) == ["customer_row", "metric", "k", "value"]
    assert len(frame) == 4 * 2 * 2
    assert frame["k"].dtype == np.int64
    row = frame[(frame.customer_row == 1) & (frame.metric == "precision") & (frame.k == 4)]
    assert row["value"].item() == 0.25
    labelled = ranking_metrics(
        TOPK, TRUTH, ks=4, metrics=["recall"], customers=["a", "b", "c", "d"], drop_empty=True
    )
    assert labelled["customer"].tolist() == ["a", "b", "d"]


def test_zero_grades_are_not_relevant() -> None:
    # product 0 is stored with an explicit zero grade, product 1 with grade 1
    truth = sparse.csr_matrix((np.array([0.0, 1.0]), np.array([0, 1]), np.array([0, 2])), (1, 3))
    assert truth.nnz == 2
    a = ranking_metric_arrays(np.array([[0, 1]]), truth, ks=2, metrics=["recall"])
    assert a[("recall", 2)][0] == 1.0


# --- input checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("topk", "message"),
    [
        (np.array([[1, -1, 2]]), "before a real item"),
        (np.array([[1, 1, 2]]), "twice"),
        (np.array([[1, 12, 2]]), "only 10 products"),
        (np.array([[1, -3, 2]]), "only -1"),
        (np.array([[1.0, 2.0, 3.0]]), "integer"),
        (np.array([1, 2, 3]), "2-D"),
    ],
)
def test_bad_topk_is_rejected(topk: np.ndarray, message: str) -> None:
    truth = sparse.csr_matrix((topk.shape[0] if topk.ndim == 2 else 1, 10))
    with pytest.raises(ValueError, match=message):
        ranking_metric_arrays(topk, truth, ks=1)


def test_bad_truth_and_arguments_are_rejected() -> None:
    topk = np.array([[0, 1]])
    with pytest.raises(TypeError, match="sparse"):
        ranking_metric_arrays(topk, np.zeros((1, 3)), ks=1)
    with pytest.raises(ValueError, match="negative"):
        ranking_metric_arrays(topk, sparse.csr_matrix(np.array([[-1.0, 0, 1]])), ks=1)
    dup = sparse.csr_matrix((np.ones(2), np.array([1, 1]), np.array([0, 2])), shape=(1, 3))
    with pytest.raises(ValueError, match="twice"):
        ranking_metric_arrays(topk, dup, ks=1)
    good = sparse.csr_matrix(np.array([[1.0, 0, 0]]))
    with pytest.raises(ValueError, match="exceeds"):
        ranking_metric_arrays(topk, good, ks=3)
    with pytest.raises(ValueError, match="unknown ranking metric"):
        ranking_metric_arrays(topk, good, ks=1, metrics=["map"])
    with pytest.raises(ValueError, match="rows"):
        ranking_metric_arrays(np.array([[0, 1], [1, 2]]), good, ks=1)
    with pytest.raises(ValueError, match="gain"):
        ranking_metric_arrays(topk, good, ks=1, graded=True, gain="quadratic")


# --- properties (hypothesis) ----------------------------------------------------------------------


@st.composite
def cases(draw: st.DrawFn) -> tuple[np.ndarray, sparse.csr_matrix, int]:
    n_products = draw(st.integers(1, 12))
    width = draw(st.integers(1, 6))
    n = draw(st.integers(1, 5))
    topk = np.full((n, width), -1, dtype=np.int64)
    rows = []
    for i in range(n):
        perm = draw(st.permutations(range(n_products)))
        length = draw(st.integers(0, min(width, n_products)))
        topk[i, :length] = perm[:length]
        relevant = draw(st.sets(st.integers(0, n_products - 1), max_size=n_products))
        rows.append({j: float(draw(st.integers(1, 3))) for j in sorted(relevant)})
    k = draw(st.integers(1, width))
    return topk, csr(rows, n_products), k


@settings(max_examples=150, deadline=None)
@given(cases())
def test_property_matches_reference_and_range(case: tuple) -> None:
    topk, truth, k = case
    for graded, gain in ((False, "linear"), (True, "linear"), (True, "exponential")):
        a = ranking_metric_arrays(topk, truth, ks=k, graded=graded, gain=gain)
        for i, grades in enumerate(rows_of(truth)):
            expected = ref_ranking(topk[i].tolist(), grades, k, graded, gain)
            for metric in RANKING_METRICS:
                got = a[(metric, k)][i]
                if math.isnan(expected[metric]):
                    assert math.isnan(got), (metric, i)
                else:
                    assert got == pytest.approx(expected[metric], rel=1e-12, abs=1e-15)
                    assert 0.0 <= got <= 1.0 + 1e-12


@settings(max_examples=100, deadline=None)
@given(cases())
def test_property_order_of_held_out_items_is_irrelevant(case: tuple) -> None:
    topk, truth, k = case
    coo = truth.tocoo()
    order = np.random.default_rng(len(coo.data)).permutation(len(coo.data))
    shuffled = sparse.coo_matrix(
        (coo.data[order], (coo.row[order], coo.col[order])), shape=truth.shape
    ).tocsr()
    shuffled.has_sorted_indices = False
    a = ranking_metric_arrays(topk, truth, ks=k, graded=True)
    b = ranking_metric_arrays(topk, shuffled, ks=k, graded=True)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


@settings(max_examples=100, deadline=None)
@given(cases())
def test_property_perfect_ranking_scores_one(case: tuple) -> None:
    _, truth, _ = case
    n, n_products = truth.shape
    grades = rows_of(truth)
    width = n_products
    topk = np.full((n, width), -1, dtype=np.int64)
    for i, row in enumerate(grades):
        best = sorted(row, key=lambda j: -row[j])  # relevant items by grade, best first
        rest = [j for j in range(n_products) if j not in row]
        topk[i] = best + rest
    for k in range(1, width + 1):
        a = ranking_metric_arrays(topk, truth, ks=k, graded=True)
        for i, row in enumerate(grades):
            if not row:
                continue
            for metric in ("ndcg", "map_min", "mrr", "hit_rate"):
                assert a[(metric, k)][i] == pytest.approx(1.0)
            if len(row) <= k:
                assert a[("recall", k)][i] == pytest.approx(1.0)
                assert a[("map_rel", k)][i] == pytest.approx(1.0)
            if len(row) >= k:
                assert a[("precision", k)][i] == pytest.approx(1.0)


@settings(max_examples=150, deadline=None)
@given(cases(), st.data())
def test_property_relevant_item_at_rank_one_never_lowers_ndcg(case: tuple, data) -> None:
    topk, truth, k = case
    grades = rows_of(truth)
    for i, row in enumerate(grades):
        listed = [j for j in topk[i] if j >= 0]
        # binary gains: any relevant item not yet listed; graded: one with the top grade
        for graded in (False, True):
            top = max(row.values(), default=0)
            pool = [j for j in row if j not in listed and (not graded or row[j] == top)]
            if not pool:
                continue
            new = data.draw(st.sampled_from(pool))
            moved = np.full(topk.shape[1], -1)
            shifted = [new, *listed][: topk.shape[1]]
            moved[: len(shifted)] = shifted
            before = ranking_metric_arrays(topk[i : i + 1], truth[i], ks=k, graded=graded)
            after = ranking_metric_arrays(moved[None, :], truth[i], ks=k, graded=graded)
            assert after[("ndcg", k)][0] >= before[("ndcg", k)][0] - 1e-12


# --- cross-checks with independent implementations ------------------------------------------------


def random_case(
    rng: np.random.Generator, n: int = 60, n_products: int = 40, width: int = 10
) -> tuple[np.ndarray, sparse.csr_matrix]:
    topk = np.argsort(rng.random((n, n_products)), axis=1)[:, :width]
    lengths = rng.integers(0, width + 1, size=n)
    topk[np.arange(width)[None, :] >= lengths[:, None]] = -1
    dense = (rng.random((n, n_products)) < 0.12) * rng.integers(1, 4, size=(n, n_products))
    return topk, sparse.csr_matrix(dense.astype(np.float64))


def test_matches_reference_on_random_inputs(rng: np.random.Generator) -> None:
    topk, truth = random_case(rng, n=300)
    ks = (1, 3, 5, 10)
    a = ranking_metric_arrays(topk, truth, ks=ks, graded=True)
    grades = rows_of(truth)
    for k in ks:
        for i in range(topk.shape[0]):
            expected = ref_ranking(topk[i].tolist(), grades[i], k, graded=True)
            for metric in RANKING_METRICS:
                np.testing.assert_allclose(a[(metric, k)][i], expected[metric], rtol=1e-12)


def test_ndcg_matches_sklearn(rng: np.random.Generator) -> None:
    n, n_products, width = 80, 30, 8
    topk = np.argsort(rng.random((n, n_products)), axis=1)[:, :width]  # full lists, no ties
    dense = (rng.random((n, n_products)) < 0.2) * rng.integers(1, 5, size=(n, n_products))
    truth = sparse.csr_matrix(dense.astype(np.float64))
    scores = np.zeros((n, n_products))
    np.put_along_axis(scores, topk, np.arange(width, 0, -1, dtype=np.float64)[None, :], axis=1)
    for k in (1, 4, 8):
        a = ranking_metric_arrays(topk, truth, ks=k, metrics=["ndcg"], graded=True)
        for i in np.flatnonzero(dense.sum(axis=1) > 0):
            expected = ndcg_score(dense[i : i + 1], scores[i : i + 1], k=k)
            assert a[("ndcg", k)][i] == pytest.approx(expected, rel=1e-12)


def test_matches_ranx(rng: np.random.Generator) -> None:
    ranx = pytest.importorskip("ranx")
    topk, truth = random_case(rng, n=120, n_products=40, width=10)
    topk[:, 0] = np.where(topk[:, 0] < 0, 0, topk[:, 0])  # ranx needs a non-empty run
    keep = np.diff(truth.indptr) > 0
    topk, truth = topk[keep], truth[keep]
    grades = rows_of(truth)
    qrels = ranx.Qrels.from_dict(
        {f"q{i:04d}": {f"d{j:04d}": int(g) for j, g in row.items()} for i, row in enumerate(grades)}
    )
    run = ranx.Run.from_dict(
        {
            f"q{i:04d}": {f"d{j:04d}": float(10 - r) for r, j in enumerate(row) if j >= 0}
            for i, row in enumerate(topk.tolist())
        }
    )
    pairs = {
        "precision": ("precision", False, "linear"),
        "recall": ("recall", False, "linear"),
        "f1": ("f1", False, "linear"),
        "hit_rate": ("hit_rate", False, "linear"),
        "mrr": ("mrr", False, "linear"),
        "map_rel": ("map", False, "linear"),
        "ndcg": ("ndcg", True, "linear"),
        "ndcg_exp": ("ndcg_burges", True, "exponential"),
    }
    for k in (3, 10):
        names = [f"{theirs}@{k}" for theirs, _, _ in pairs.values()]
        ranx.evaluate(qrels, run, names, return_mean=False)
        for ours, (theirs, graded, gain) in pairs.items():
            metric = "ndcg" if ours == "ndcg_exp" else ours
            a = ranking_metric_arrays(topk, truth, ks=k, metrics=[metric], graded=graded, gain=gain)
            per = run.scores[f"{theirs}@{k}"]
            expected = np.array([per[f"q{i:04d}"] for i in range(len(grades))])
            np.testing.assert_allclose(a[(metric, k)], expected, rtol=1e-12, atol=1e-15)


def test_long_frame_matches_arrays(rng: np.random.Generator) -> None:
    topk, truth = random_case(rng)
    frame = ranking_metrics(topk, truth, ks=(2, 5))
    arrays = ranking_metric_arrays(topk, truth, ks=(2, 5))
    wide = frame.pivot_table(
        index="customer_row", columns=["metric", "k"], values="value", dropna=False
    )
    for (metric, k), expected in arrays.items():
        got = wide[(metric, k)].reindex(range(topk.shape[0])).to_numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)])
    assert isinstance(frame, pd.DataFrame)
