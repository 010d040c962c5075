"""Per-customer AUC: hand case, pairwise reference, scikit-learn, batching and input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics import roc_auc_score
from test_metrics_reference import ref_auc

from recnb.metrics import auc_per_customer


def test_auc_by_hand() -> None:
    # 5 products; customer 0 trained on product 4 (excluded), held out {0, 3}.
    # candidates 0..3 with scores 0.9, 0.5, 0.9, 0.1: positives 0 (0.9) and 3 (0.1), negatives
    # 1 (0.5) and 2 (0.9). Pairs: (0,1) win, (0,2) tie 1/2, (3,1) loss, (3,2) loss -> 1.5/4.
    # customer 1: held out {2}; no exclusion; scores rank 2 above all 4 others -> 1.
    # customer 2: no held-out item -> NaN.
    scores = np.array(
        [[0.9, 0.5, 0.9, 0.1, 5.0], [0.1, 0.2, 0.9, 0.3, 0.4], [0.5, 0.4, 0.3, 0.2, 0.1]]
    )
    truth = sparse.csr_matrix(([1.0, 1.0, 1.0], ([0, 0, 1], [0, 3, 2])), shape=(3, 5))
    train = sparse.csr_matrix(([1.0], ([0], [4])), shape=(3, 5))
    auc = auc_per_customer(scores, truth, exclude=train)
    assert auc[0] == pytest.approx(0.375)
    assert auc[1] == 1.0
    assert math.isnan(auc[2])


def _random(rng: np.random.Generator, n: int = 40, n_products: int = 25):
    scores = rng.integers(0, 6, size=(n, n_products)).astype(np.float64)  # many ties
    truth = sparse.csr_matrix((rng.random((n, n_products)) < 0.15).astype(np.float64))
    train = sparse.csr_matrix((rng.random((n, n_products)) < 0.2).astype(np.float64))
    return scores, truth, train


def test_auc_matches_pairwise_reference_and_sklearn(rng: np.random.Generator) -> None:
    scores, truth, train = _random(rng)
    auc = auc_per_customer(scores, truth, exclude=train)
    dense_truth, dense_train = truth.toarray() > 0, train.toarray() > 0
    checked = 0
    for i in range(scores.shape[0]):
        excluded = set(np.flatnonzero(dense_train[i]).tolist())
        positives = set(np.flatnonzero(dense_truth[i]).tolist()) - excluded
        expected = ref_auc(scores[i].tolist(), positives, excluded)
        if math.isnan(expected):
            assert math.isnan(auc[i])
            continue
        assert auc[i] == pytest.approx(expected, rel=1e-12)
        cand = ~dense_train[i]
        assert auc[i] == pytest.approx(
            roc_auc_score(dense_truth[i][cand], scores[i][cand]), rel=1e-12
        )
        checked += 1
    assert checked > 20


def test_auc_batched_callable_equals_dense(rng: np.random.Generator) -> None:
    scores, truth, train = _random(rng, n=53)
    calls: list[np.ndarray] = []

    def score_batch(rows: np.ndarray) -> np.ndarray:
        calls.append(rows.copy())
        return scores[rows].astype(np.float32)

    dense = auc_per_customer(scores, truth, exclude=train)
    batched = auc_per_customer(score_batch, truth, exclude=train, batch_size=7)
    np.testing.assert_allclose(batched, dense, rtol=1e-12)
    assert max(len(c) for c in calls) <= 7
    evaluated = np.concatenate(calls)
    assert np.array_equal(evaluated, np.flatnonzero(np.diff(truth.indptr) > 0))


def test_auc_selected_customers_and_checks(rng: np.random.Generator) -> None:
    scores, truth, train = _random(rng, n=10)
    some = auc_per_customer(scores, truth, exclude=train, customers=[1, 3])
    full = auc_per_customer(scores, truth, exclude=train)
    assert np.isnan(some[[0, 2, 4]]).all()
    np.testing.assert_array_equal(some[[1, 3]], full[[1, 3]])
    bad = scores.copy()
    bad[0, :] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        auc_per_customer(bad, truth + sparse.csr_matrix(([1.0], ([0], [0])), shape=truth.shape))
    with pytest.raises(ValueError, match="shape"):
        auc_per_customer(scores[:, :-1], truth)
    with pytest.raises(ValueError, match="expected"):
        auc_per_customer(lambda rows: scores[rows, :-1], truth)
    with pytest.raises(ValueError, match="outside"):
        auc_per_customer(scores, truth, customers=[10])


def test_auc_ignores_scores_of_excluded_items() -> None:
    # excluded products may carry -inf (a model masking seen items): they are not candidates
    scores = np.array([[1.0, -np.inf, 0.0]])
    truth = sparse.csr_matrix(np.array([[1.0, 0.0, 0.0]]))
    train = sparse.csr_matrix(np.array([[0.0, 1.0, 0.0]]))
    assert auc_per_customer(scores, truth, exclude=train)[0] == 1.0
