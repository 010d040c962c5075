"""Group disaggregation: fairlearn agreement, suppression, bootstrap and permutation tests."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from recnb.fairness.groups import (
    NOT_RECORDED,
    bootstrap_group_means,
    customer_groups,
    disaggregate,
    encode_groups,
    group_attributes,
    group_means,
    metric_frame,
    permutation_gap_test,
)


@pytest.fixture()
def table():
    rng = np.random.default_rng(0)
    n = 600
    gender = rng.choice(["f", "m", "x"], size=n, p=[0.49, 0.49, 0.02])  # "x": about 12 people
    region = rng.choice(["n", "s", "e"], size=n).astype(object)
    region[rng.random(n) < 0.1] = NOT_RECORDED
    activity = rng.choice(["light", "heavy"], size=n)
    ndcg = rng.random(n) * 0.3 + (gender == "f") * 0.05
    recall = rng.random(n)
    recall[rng.random(n) < 0.1] = np.nan
    values = pd.DataFrame(
        np.column_stack([ndcg, recall]),
        columns=pd.MultiIndex.from_tuples([("m1", "ndcg"), ("m1", "recall")]),
    )
    groups = pd.DataFrame({"gender": gender, "region": region})
    return values, groups, activity


def test_overall_is_the_mean_of_the_column_and_matches_metricframe(table):
    values, groups, _ = table
    by_group, gaps = disaggregate(values, groups, min_group_size=20, n_boot=50, n_permutations=50)
    for (_model, metric), col in values.items():
        row = by_group[
            (by_group.group == "all customers")
            & (by_group.metric == metric)
            & (by_group.attribute == "gender")
        ]
        assert row["value"].iloc[0] == pytest.approx(np.nanmean(col.to_numpy()), rel=1e-12)
        g = gaps[(gaps.metric == metric) & (gaps.attribute == "gender")]
        assert g["overall"].iloc[0] == pytest.approx(np.nanmean(col.to_numpy()), rel=1e-12)
        # a MetricFrame over every customer has the same overall
        from fairlearn.metrics import MetricFrame

        from recnb.fairness.groups import _mean

        mf = MetricFrame(metrics=_mean, y_true=col, y_pred=col, sensitive_features=groups["gender"])
        assert mf.overall == pytest.approx(np.nanmean(col.to_numpy()), rel=1e-12)


def test_group_values_difference_and_ratio_equal_metricframe(table):
    values, groups, activity = table
    by_group, gaps = disaggregate(values, groups, min_group_size=20, n_boot=50, n_permutations=50)
    for attribute in ("gender", "region"):
        for (_model, metric), col in values.items():
            mf = metric_frame(col.to_numpy(), groups[attribute], min_group_size=20, name=attribute)
            shown = by_group[
                (by_group.attribute == attribute) & (by_group.metric == metric) & by_group.compared
            ].set_index("group")["value"]
            pd.testing.assert_series_equal(
                shown.sort_index(), mf.by_group.sort_index(), check_names=False, rtol=1e-12
            )
            g = gaps[(gaps.attribute == attribute) & (gaps.metric == metric)].iloc[0]
            assert g["difference"] == pytest.approx(mf.difference(), rel=1e-12)
            assert g["ratio"] == pytest.approx(mf.ratio(), rel=1e-12)
    # with the activity level as control feature: one difference per level
    mf = metric_frame(values[("m1", "ndcg")], groups["gender"], 20, control=activity)
    assert set(mf.difference().index) == {"heavy", "light"}


def test_small_groups_are_suppressed_never_shown(table):
    values, groups, _ = table
    by_group, gaps = disaggregate(values, groups, min_group_size=20, n_boot=50, n_permutations=50)
    x = by_group[(by_group.attribute == "gender") & (by_group.group == "x")]
    assert len(x) == 2 and x["suppressed"].all()
    assert x[["n", "value", "ci_low", "ci_high"]].isna().all().all()
    g = gaps[gaps.attribute == "gender"]
    assert (g["n_groups"] == 2).all()
    assert set(g["low_group"]) | set(g["high_group"]) <= {"f", "m"}
    # customers without the attribute: shown with their size, never compared
    nr = by_group[(by_group.attribute == "region") & (by_group.group == NOT_RECORDED)]
    assert not nr["compared"].any() and (nr["n"] > 20).all()
    assert (gaps[gaps.attribute == "region"]["n_groups"] == 3).all()
    # the frame also leaves the small group out
    mf = metric_frame(values[("m1", "ndcg")], groups["gender"], 20)
    assert set(mf.by_group.index) == {"f", "m"}


def test_encode_groups_order_and_suppression():
    enc = encode_groups(["b", "a", "b", "c", NOT_RECORDED, "b", "a"], 2, order=["b", "a", "c"])
    assert enc.names == ["b", "a"]
    assert enc.suppressed == ["c", NOT_RECORDED]
    np.testing.assert_array_equal(enc.codes, [0, 1, 0, -1, -1, 0, 1])
    np.testing.assert_array_equal(enc.sizes, [3, 2])


def test_customer_groups_mark_missing_values():
    customers = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "country": ["UK", None, "Unspecified", "France"],
            "gender": pd.Categorical(["f", "m", "f", None]),
        }
    )
    g = customer_groups(["d", "a", "zz", "b"], customers, ["country", "gender"])
    assert g["country"].tolist() == ["France", "UK", NOT_RECORDED, NOT_RECORDED]
    assert g["gender"].tolist() == [NOT_RECORDED, "f", NOT_RECORDED, "m"]
    assert group_attributes(customers) == ["gender", "country"]
    with pytest.raises(KeyError, match="occupation"):
        group_attributes(customers, ["occupation"])


def test_group_means_ignore_nan():
    v = np.array([[1.0, np.nan], [3.0, 2.0], [5.0, 4.0], [7.0, np.nan]])
    means, counts = group_means(v, np.array([0, 0, 1, -1]), 2)
    np.testing.assert_allclose(means, [[2.0, 2.0], [5.0, 4.0]])
    np.testing.assert_allclose(counts, [[2, 1], [1, 1]])


def test_stratified_bootstrap_keeps_group_sizes_and_matches_theory():
    rng = np.random.default_rng(2)
    v = np.concatenate([rng.normal(0, 1, 400), np.full(100, 3.0)])[:, None]
    codes = np.repeat([0, 1], [400, 100])
    boot = bootstrap_group_means(v, codes, 2, 2000, seed=5)
    assert boot.shape == (2000, 2, 1)
    # a constant group resampled within itself never moves
    assert (boot[:, 1, 0] == 3.0).all()
    # the spread of a resampled mean is sd / sqrt(n)
    assert boot[:, 0, 0].std() == pytest.approx(v[:400].std() / np.sqrt(400), rel=0.1)
    again = bootstrap_group_means(v, codes, 2, 2000, seed=5)
    np.testing.assert_array_equal(boot, again)


def test_permutation_p_value_matches_exhaustive_enumeration():
    v = np.array([1.0, 2.0, 3.0, 6.0, 7.0, 9.0, 4.0, 5.0])[:, None]
    codes = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    obs, p = permutation_gap_test(v, codes, 2, n_permutations=20000, seed=1)
    # exact: share of the C(8, 4) labelings with a gap at least the observed one
    gaps = []
    for idx in itertools.combinations(range(8), 4):
        a = np.zeros(8, bool)
        a[list(idx)] = True
        gaps.append(abs(v[a].mean() - v[~a].mean()))
    exact = np.mean(np.asarray(gaps) >= obs[0] - 1e-12)
    assert obs[0] == pytest.approx(abs(v[codes == 1].mean() - v[codes == 0].mean()))
    assert p[0] == pytest.approx(exact, abs=3 * np.sqrt(exact * (1 - exact) / 20000) + 1e-4)


def test_permutation_within_strata_ignores_a_gap_explained_by_activity():
    rng = np.random.default_rng(4)
    n = 2000
    heavy = rng.random(n) < 0.5
    # group 1 is mostly heavy; heavy customers score higher; no group effect within activity
    group = np.where(heavy, rng.random(n) < 0.8, rng.random(n) < 0.2).astype(np.int64)
    v = (rng.normal(0, 1, n) + 1.0 * heavy)[:, None]
    _, p_plain = permutation_gap_test(v, group, 2, 500, seed=0)
    _, p_strata = permutation_gap_test(v, group, 2, 500, seed=0, strata=heavy)
    assert p_plain[0] < 0.01
    assert p_strata[0] > 0.05
    # a real group effect is found within strata too
    v2 = v + 0.3 * group[:, None]
    _, p2 = permutation_gap_test(v2, group, 2, 500, seed=0, strata=heavy)
    assert p2[0] < 0.01


def test_permutation_test_false_flag_rate_is_alpha_under_the_null():
    """Random labels, 300 repetitions at small size: flags at 5% within binomial error."""
    rng = np.random.default_rng(11)
    reps, flags = 300, 0
    for r in range(reps):
        v = rng.exponential(size=(150, 1))
        codes = rng.integers(0, 3, size=150)
        _, p = permutation_gap_test(v, codes, 3, 199, seed=r)
        flags += int(p[0] <= 0.05)
    rate = flags / reps
    assert abs(rate - 0.05) <= 3 * np.sqrt(0.05 * 0.95 / reps), rate


def test_planted_gap_detected_and_interval_excludes_zero():
    rng = np.random.default_rng(8)
    n = 3000
    grp = rng.choice(["a", "b", "c"], size=n)
    v = rng.random(n) - 0.1 * (grp == "c")
    values = pd.DataFrame({"ndcg": v})
    _, gaps = disaggregate(values, pd.DataFrame({"g": grp}), n_boot=300, n_permutations=300)
    row = gaps.iloc[0]
    assert row["p_value"] < 0.01 and row["low_group"] == "c"
    assert row["difference_ci_low"] > 0
    assert row["ratio"] < 1


def test_metric_frame_of_several_columns_equals_one_frame_per_column(table):
    values, groups, activity = table
    both = metric_frame(values.droplevel(0, axis=1), groups["gender"], 20, control=activity)
    for metric in ("ndcg", "recall"):
        one = metric_frame(values[("m1", metric)], groups["gender"], 20, control=activity)
        np.testing.assert_allclose(both.difference()[metric], one.difference(), rtol=1e-12)
        np.testing.assert_allclose(both.ratio()[metric], one.ratio(), rtol=1e-12)


def test_permutation_tests_only_for_the_metrics_asked(table):
    values, groups, activity = table
    _, gaps = disaggregate(
        values, groups, 20, n_boot=30, n_permutations=30, activity=activity, test_metrics=["ndcg"]
    )
    assert gaps.loc[gaps.metric == "ndcg", "p_value_within_activity"].notna().all()
    assert gaps.loc[gaps.metric == "recall", ["p_value", "p_holm"]].isna().all().all()
    assert gaps.loc[gaps.metric == "recall", "difference_ci_low"].notna().all()
