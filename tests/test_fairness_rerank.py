"""Re-rankers: known answers, strength 0 is the identity, FA*IR against the authors' code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recnb.fairness.rerank import (
    _adjusted,
    calibrated_rerank,
    calibration_kl,
    category_distribution,
    fair_adjusted_alpha,
    fair_failure_probability,
    fair_mtable,
    fair_rerank,
    fair_table_satisfied,
    relevance,
    xquad_rerank,
)

FIXTURE = Path(__file__).parent / "fixtures" / "fair" / "fairsearchcore.json"


def _candidates(rng, n=40, c=30, n_products=200, ties=True, pad=True):
    cand = np.stack([rng.choice(n_products, size=c, replace=False) for _ in range(n)])
    scores = np.sort(rng.normal(size=(n, c)), axis=1)[:, ::-1].copy()
    if ties:
        scores = np.round(scores, 1)  # many equal scores
    if pad:
        short = rng.random(n) < 0.3
        lengths = rng.integers(5, c, size=n)
        for i in np.flatnonzero(short):
            cand[i, lengths[i] :] = -1
            scores[i, lengths[i] :] = np.nan
    return cand, scores


# ---------------------------------------------------------------------------------------------
# strength 0 reproduces the model's list exactly
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_strength_zero_is_the_input(seed):
    rng = np.random.default_rng(seed)
    cand, scores = _candidates(rng)
    n_products = 200
    groups = rng.integers(0, 2, size=n_products)
    cats = rng.integers(0, 5, size=n_products)
    target = rng.dirichlet(np.ones(5), size=len(cand))
    pref = rng.dirichlet(np.ones(2), size=len(cand))
    k = 10
    expected = cand[:, :k]
    for variant in ("smooth", "binary"):
        got = xquad_rerank(cand, scores, groups, pref, k, 0.0, variant)
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(calibrated_rerank(cand, scores, cats, target, k, 0.0), expected)
    np.testing.assert_array_equal(fair_rerank(cand, scores, groups == 1, k, 0.0), expected)
    np.testing.assert_array_equal(
        fair_rerank(cand, scores, groups == 1, k, 0.0, adjust=False), expected
    )


def test_positive_strength_changes_lists_and_keeps_them_valid():
    rng = np.random.default_rng(5)
    cand, scores = _candidates(rng, pad=True)
    groups = rng.integers(0, 2, size=200)
    pref = np.tile([0.2, 0.8], (len(cand), 1))
    out = xquad_rerank(cand, scores, groups, pref, 10, 0.9)
    assert not np.array_equal(out, cand[:, :10])
    for row_out, row_in in zip(out, cand, strict=True):
        got = row_out[row_out >= 0]
        assert len(set(got)) == len(got)
        assert set(got) <= set(row_in[row_in >= 0])
        assert len(got) == min(10, (row_in >= 0).sum())


# ---------------------------------------------------------------------------------------------
# xQuAD
# ---------------------------------------------------------------------------------------------


def test_xquad_hand_computed():
    # products 0..3 head (group 0), 4..5 tail (group 1); model order 0, 1, 4, 2, 5, 3
    cand = np.array([[0, 1, 4, 2, 5, 3]])
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])  # relevance 1, .8, .6, .4, .2, 0
    groups = np.array([0, 0, 0, 0, 1, 1])
    pref = np.array([[0.5, 0.5]])
    # lambda = 0.5, smooth: step 1 (S empty, cov = 1): 0.5*rel + 0.25 -> product 0 (0.75)
    # step 2: head share 1 -> head cov 0; tail cov 1: values .5*.8=.4 (1), .5*.6+.25=.55 (4)
    # -> 4; step 3: head share .5, tail .5: 1: .4+.125=.525, 2: .2+.125=.325, 5: .1+.125
    # -> 1
    out = xquad_rerank(cand, scores, groups, pref, 3, 0.5, "smooth")
    np.testing.assert_array_equal(out, [[0, 4, 1]])
    # binary: after 0 and 4 both groups are covered: pure relevance -> 1
    np.testing.assert_array_equal(
        xquad_rerank(cand, scores, groups, pref, 3, 0.5, "binary"), [[0, 4, 1]]
    )
    # strength 1: only the group terms matter; ties go to the earlier candidate
    out = xquad_rerank(cand, scores, groups, pref, 4, 1.0, "binary")
    np.testing.assert_array_equal(out[0, :2], [0, 4])


def test_xquad_no_interest_in_tail_keeps_order():
    cand = np.array([[0, 1, 4, 2, 5, 3]])
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    groups = np.array([0, 0, 0, 0, 1, 1])
    out = xquad_rerank(cand, scores, groups, np.array([1.0, 0.0]), 4, 0.3)
    np.testing.assert_array_equal(out, cand[:, :4])


# ---------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------


def test_calibration_kl_zero_when_matching_and_positive_otherwise():
    cats = np.array([0, 0, 1, 1, 2, 2])
    target = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
    lists = np.array([[0, 2, -1, -1], [0, 1, 4, -1], [0, 1, 2, 3]])
    kl = calibration_kl(lists, cats, target)
    assert kl[0] == 0.0
    assert kl[1] > 0
    assert np.isnan(kl[2])  # no target
    # hand value: q = (2/3, 0, 1/3); q~ = .99 q + .01 p = (.665, .005, .33)
    expected = 0.5 * np.log(0.5 / (0.99 * 2 / 3 + 0.005)) + 0.5 * np.log(0.5 / 0.005)
    assert kl[1] == pytest.approx(expected, rel=1e-12)


def test_calibration_kl_nonnegative_on_random_lists():
    rng = np.random.default_rng(1)
    cats = rng.integers(0, 6, size=300)
    lists = np.stack([rng.choice(300, 10, replace=False) for _ in range(200)])
    target = rng.dirichlet(np.ones(6) * 0.5, size=200)
    kl = calibration_kl(lists, cats, target)
    assert (kl >= 0).all()
    # a list with exactly the target's distribution scores 0
    own = category_distribution(lists, 200, cats, 6)
    assert np.allclose(calibration_kl(lists, cats, own), 0.0, atol=1e-15)


def test_category_distribution_from_history():
    import scipy.sparse as sp

    hist = sp.csr_matrix(np.array([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0, 0, 3.0, 1.0]]))
    cats = np.array([0, 1, 1, 2])
    d = category_distribution(hist, 3, cats, 3)
    np.testing.assert_allclose(d, [[0.5, 0.5, 0], [0, 0, 0], [0, 0.5, 0.5]])


def test_calibrated_rerank_full_strength_matches_the_target():
    # history: half category 0, half category 1; the model ranks all of category 0 first
    cand = np.array([[0, 1, 2, 3, 4, 5, 6, 7]])
    scores = -np.arange(8, dtype=float)[None, :]
    cats = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    target = np.array([[0.5, 0.5]])
    out = calibrated_rerank(cand, scores, cats, target, 4, 1.0)
    assert sorted(cats[out[0]].tolist()) == [0, 0, 1, 1]
    assert calibration_kl(out, cats, target)[0] == 0.0
    assert calibration_kl(cand[:, :4], cats, target)[0] > 0
    # the best-ranked products of each category are the ones kept
    assert set(out[0]) == {0, 1, 4, 5}
    # a customer without a target keeps the model's order at any strength
    out = calibrated_rerank(cand, scores, cats, np.zeros((1, 2)), 4, 1.0)
    np.testing.assert_array_equal(out, cand[:, :4])


def test_calibrated_kl_falls_with_strength():
    rng = np.random.default_rng(3)
    cand, scores = _candidates(rng, n=100, c=40, pad=False, ties=False)
    cats = rng.integers(0, 4, size=200)
    target = rng.dirichlet(np.ones(4), size=100)
    kls = [
        np.nanmean(
            calibration_kl(calibrated_rerank(cand, scores, cats, target, 10, lam), cats, target)
        )
        for lam in (0.0, 0.3, 0.7, 0.99)
    ]
    assert all(a >= b - 1e-12 for a, b in zip(kls, kls[1:], strict=False)), kls
    assert kls[-1] < 0.5 * kls[0]


# ---------------------------------------------------------------------------------------------
# FA*IR
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden():
    return json.loads(FIXTURE.read_text())


def test_fair_tables_match_fairsearchcore(golden):
    """Tables equal; fairsearchcore 1.0.4's failure probability leaves out the last position (its
    compute_aux_mtable loops over 1..k-1), so it equals ours of the table without its last
    entry, and its adjusted alpha is what our search finds with that failure probability."""
    n_last_differs = 0
    for case in golden["tables"]:
        k, p, alpha = case["k"], case["p"], case["alpha"]
        np.testing.assert_array_equal(fair_mtable(k, p, alpha), case["mtable"], err_msg=str(case))
        assert fair_failure_probability(case["mtable"][:-1], p) == pytest.approx(
            case["fail_probability"], abs=1e-12
        )
        a, table = _adjusted(k, p, alpha, last_position=False)
        assert a == pytest.approx(case["adjusted_alpha"], rel=1e-12, abs=1e-15), case
        np.testing.assert_array_equal(table, case["adjusted_mtable"], err_msg=str(case))
        assert fair_failure_probability(case["adjusted_mtable"][:-1], p) == pytest.approx(
            case["adjusted_fail_probability"], abs=1e-12
        )
        # with every position counted the adjusted table is never stricter
        ours = fair_adjusted_alpha(k, p, alpha)[1]
        assert (ours <= np.asarray(case["adjusted_mtable"])).all()
        n_last_differs += int(case["mtable"][-1] != case["mtable"][-2])
    assert n_last_differs > 3  # the cases do exercise the difference


def test_fair_failure_probability_by_enumeration():
    """Every one of the 2**10 rankings of 10 positions, weighted by its probability."""
    import itertools

    rng = np.random.default_rng(0)
    for p in (0.2, 0.5, 0.8):
        for alpha in (0.05, 0.1, 0.3):
            table = fair_mtable(10, p, alpha)
            fail = 0.0
            for bits in itertools.product((0, 1), repeat=10):
                b = np.asarray(bits)
                if (np.cumsum(b) < table).any():
                    fail += p ** b.sum() * (1 - p) ** (10 - b.sum())
            assert fair_failure_probability(table, p) == pytest.approx(fail, abs=1e-14)
        random_table = np.maximum.accumulate(rng.integers(0, 3, size=10))
        fail = sum(
            p ** sum(bits) * (1 - p) ** (10 - sum(bits))
            for bits in itertools.product((0, 1), repeat=10)
            if (np.cumsum(bits) < random_table).any()
        )
        assert fair_failure_probability(random_table, p) == pytest.approx(fail, abs=1e-14)


def test_fair_adjusted_table_fails_fair_rankings_near_alpha():
    """Simulated check of the adjustment: rankings drawn with probability p per position fail
    the adjusted table about alpha of the time (closer than the unadjusted table does)."""
    rng = np.random.default_rng(1)
    k, p, alpha = 20, 0.4, 0.1
    _, table = fair_adjusted_alpha(k, p, alpha)
    draws = rng.random((200_000, k)) < p
    fails = (np.cumsum(draws, axis=1) < table).any(axis=1).mean()
    assert fails == pytest.approx(fair_failure_probability(table, p), abs=0.003)
    plain = (np.cumsum(draws, axis=1) < fair_mtable(k, p, alpha)).any(axis=1).mean()
    assert abs(fails - alpha) < abs(plain - alpha)


def test_fair_rerank_matches_fairsearchcore(golden):
    for case in golden["rankings"]:
        scores = np.asarray(case["scores"])[None, :]
        cand = np.arange(scores.shape[1])[None, :]
        prot = np.asarray(case["protected"])
        out = fair_rerank(cand, scores, prot, case["k"], case["p"], case["alpha"])
        np.testing.assert_array_equal(out[0], case["reranked"])
        _, table = fair_adjusted_alpha(case["k"], case["p"], case["alpha"])
        assert bool(fair_table_satisfied(out, prot, table)[0]) == case["is_fair"]


def test_fair_failure_probability_known_values():
    # one position that must be protected: fails with probability 1 - p
    assert fair_failure_probability([1], 0.3) == pytest.approx(0.7)
    # two positions, at least one protected by position 2: fails when both unprotected
    assert fair_failure_probability([0, 1], 0.3) == pytest.approx(0.49)
    assert fair_failure_probability([0, 0, 0], 0.3) == 0.0


def test_fair_output_satisfies_its_table_at_every_prefix():
    rng = np.random.default_rng(7)
    cand, scores = _candidates(rng, n=200, c=60, pad=False, ties=True)
    prot = rng.random(200) < 0.2
    for p in (0.2, 0.4, 0.6):
        _, table = fair_adjusted_alpha(10, p, 0.1)
        out = fair_rerank(cand, scores, prot, 10, p, 0.1)
        counts = np.cumsum(prot[out], axis=1)
        enough = (prot[cand]).sum(axis=1) >= table[-1]
        assert enough.mean() > 0.9
        assert (counts[enough] >= table[None, :]).all()
        np.testing.assert_array_equal(
            fair_table_satisfied(out, prot, table), (counts >= table).all(axis=1)
        )
        # within each group the model's order is kept
        pos = {int(x): j for j, x in enumerate(cand[0])}
        for grp in (True, False):
            seq = [pos[int(x)] for x in out[0] if prot[x] == grp]
            assert seq == sorted(seq)


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------


def test_bad_inputs_are_named():
    cand = np.array([[0, 1, 2]])
    with pytest.raises(ValueError, match="not sorted"):
        fair_rerank(cand, np.array([[1.0, 2.0, 0.0]]), np.ones(3, bool), 2, 0.5)
    with pytest.raises(ValueError, match="twice"):
        fair_rerank(np.array([[0, 0, 2]]), np.array([[3.0, 2.0, 1.0]]), np.ones(3, bool), 2, 0.5)
    with pytest.raises(ValueError, match="padding before"):
        fair_rerank(
            np.array([[0, -1, 2]]), np.array([[3.0, np.nan, 1.0]]), np.ones(3, bool), 2, 0.5
        )
    with pytest.raises(ValueError, match="strength"):
        xquad_rerank(cand, np.array([[3.0, 2.0, 1.0]]), np.zeros(3, int), [1.0], 2, 1.5)
    with pytest.raises(ValueError, match="k must"):
        calibrated_rerank(
            cand, np.array([[3.0, 2.0, 1.0]]), np.zeros(3, int), np.ones((1, 1)), 4, 0.5
        )


def test_relevance_scaling():
    s = np.array([[4.0, 2.0, 0.0], [1.0, 1.0, np.nan]])
    r = relevance(s)
    np.testing.assert_allclose(r[0], [1.0, 0.5, 0.0])
    assert r[1, 0] == 1.0 and r[1, 1] == 1.0 and np.isnan(r[1, 2])
