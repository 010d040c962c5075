"""Bootstrap intervals, paired tests, Holm correction and the model comparison table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recnb.metrics import (
    bootstrap_ci,
    compare_models,
    holm_adjust,
    paired_comparison,
    summarize,
)


def test_bootstrap_ci_matches_plain_resampling_loop(rng: np.random.Generator) -> None:
    values = rng.exponential(size=300)
    low, high = bootstrap_ci(values, n_boot=400, alpha=0.1, seed=5)
    # reference: the same generator stream, one resample per row, percentile interval
    draws = np.random.default_rng(5).integers(0, 300, size=(400, 300))
    means = np.array([values[row].mean() for row in draws])
    expected = np.quantile(means, [0.05, 0.95])
    assert (low, high) == pytest.approx(tuple(expected), rel=1e-12)


def test_bootstrap_ci_is_seeded_drops_nan_and_covers(rng: np.random.Generator) -> None:
    values = rng.normal(size=200)
    with_nan = np.concatenate([values, [np.nan] * 7])
    assert bootstrap_ci(values, seed=1) == bootstrap_ci(with_nan, seed=1)
    assert bootstrap_ci(values, seed=1) != bootstrap_ci(values, seed=2)
    assert all(math.isnan(v) for v in bootstrap_ci([np.nan, np.nan]))
    with pytest.raises(ValueError, match="alpha"):
        bootstrap_ci(values, alpha=1.5)
    # coverage of the true mean (0) over 200 independent samples of n = 50: about 95%
    gen = np.random.default_rng(7)
    hits = 0
    for rep in range(200):
        low, high = bootstrap_ci(gen.normal(size=50), n_boot=400, seed=rep)
        hits += low <= 0.0 <= high
    assert 0.89 <= hits / 200 <= 0.99


def _frame(rng: np.random.Generator, n: int = 300) -> pd.DataFrame:
    base = rng.random(n)
    models = {"a": base, "b": np.clip(base - 0.05 + rng.normal(0, 0.05, n), 0, 1), "c": base * 0.5}
    rows = []
    for model, vals in models.items():
        for metric, k, offset in (("ndcg", 10, 0.0), ("recall", 5, 0.1)):
            v = np.clip(vals + offset, 0, 1)
            rows.append(
                pd.DataFrame(
                    {
                        "model": model,
                        "customer_row": np.arange(n),
                        "metric": metric,
                        "k": k,
                        "value": v,
                    }
                )
            )
    return pd.concat(rows, ignore_index=True)


def test_summarize_matches_bootstrap_ci_per_group(rng: np.random.Generator) -> None:
    frame = _frame(rng)
    frame.loc[(frame.model == "b") & (frame.customer_row < 10), "value"] = np.nan
    table = summarize(frame, n_boot=300, seed=4)
    assert list(table.columns) == ["model", "metric", "k", "value", "ci_low", "ci_high", "n"]
    assert len(table) == 6
    row = table[(table.model == "b") & (table.metric == "ndcg")].iloc[0]
    values = frame[(frame.model == "b") & (frame.metric == "ndcg")]["value"].to_numpy()
    assert row["n"] == 290
    assert row["value"] == pytest.approx(np.nanmean(values))
    # a group without NaN uses exactly the resamples of bootstrap_ci with the same seed
    row_a = table[(table.model == "a") & (table.metric == "recall")].iloc[0]
    values_a = frame[(frame.model == "a") & (frame.metric == "recall")]["value"].to_numpy()
    assert (row_a["ci_low"], row_a["ci_high"]) == pytest.approx(
        bootstrap_ci(values_a, n_boot=300, seed=4), rel=1e-12
    )
    assert (table["ci_low"] <= table["value"]).all() and (table["value"] <= table["ci_high"]).all()
    # without a model column
    single = summarize(frame[frame.model == "a"].drop(columns="model"), n_boot=50)
    assert list(single.columns) == ["metric", "k", "value", "ci_low", "ci_high", "n"]
    with pytest.raises(ValueError, match="several values"):
        summarize(pd.concat([frame, frame]), n_boot=10)
    with pytest.raises(ValueError, match="lacks"):
        summarize(frame.drop(columns="k"))


def test_paired_comparison_by_hand_and_against_scipy() -> None:
    a = np.array([3.0, 4.0, 1.0, 8.0, 5.0])
    b = np.array([2.0, 2.0, 4.0, 4.0, 5.0])
    # differences 1, 2, -3, 4, 0: mean 0.8; sd = sqrt((0.04 + 1.44 + 14.44 + 10.24 + 0.64)/4)
    # = sqrt(6.7); d_z = 0.8 / sqrt(6.7). Non-zero |d| ranks 1, 2, 3, 4: R+ = 1 + 2 + 4 = 7,
    # R- = 3 -> rank-biserial (7 - 3) / 10 = 0.4
    res = paired_comparison(a, b, n_boot=200)
    assert res["n"] == 5
    assert res["mean_diff"] == pytest.approx(0.8)
    assert res["cohens_dz"] == pytest.approx(0.8 / math.sqrt(6.7))
    assert res["rank_biserial"] == pytest.approx(0.4)
    assert res["t_pvalue"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    assert res["wilcoxon_pvalue"] == pytest.approx(stats.wilcoxon(a, b).pvalue)
    assert res["wilcoxon_statistic"] == pytest.approx(3.0)  # min(R+, R-)
    assert res["diff_ci_low"] <= 0.8 <= res["diff_ci_high"]


def test_paired_comparison_edge_cases() -> None:
    same = paired_comparison([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert same["t_pvalue"] == 1.0 and same["wilcoxon_pvalue"] == 1.0 and same["cohens_dz"] == 0
    shifted = paired_comparison([2.0, 3.0, 4.0, 5.0], [1.0, 2.0, 3.0, 4.0])
    assert shifted["t_pvalue"] == 0.0 and shifted["cohens_dz"] == math.inf
    assert shifted["rank_biserial"] == 1.0
    nan_pairs = paired_comparison([1.0, np.nan, 3.0, 5.0], [0.0, 1.0, np.nan, 1.0])
    assert nan_pairs["n"] == 2
    with pytest.raises(ValueError, match="at least 2"):
        paired_comparison([1.0], [2.0])


def test_holm_by_hand() -> None:
    # p = [0.01, 0.04, 0.03, 0.005], m = 4. Ascending: 0.005*4 = 0.02, 0.01*3 = 0.03,
    # 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]).tolist() == pytest.approx(
        [0.03, 0.06, 0.06, 0.02]
    )
    # NaN kept out of the family, m = 2: 0.2*2 = 0.4, then 0.6*1 = 0.6
    out = holm_adjust([0.6, np.nan, 0.2])
    assert out[0] == pytest.approx(0.6) and math.isnan(out[1]) and out[2] == pytest.approx(0.4)
    # capped at 1: 0.55*2 = 1.1 -> 1, and the running maximum lifts 0.6*1 to 1 as well
    assert holm_adjust([0.6, 0.55]).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="lie in"):
        holm_adjust([1.2])


def test_compare_models_table(rng: np.random.Generator) -> None:
    frame = _frame(rng)
    table = compare_models(frame, "ndcg", 10, n_boot=200)
    # winner a; b is 0.05 lower on average (runner-up), c much lower
    assert table["reference"].unique().tolist() == ["a"]
    assert table["model"].tolist() == ["b", "c"]
    assert (table["mean_diff"] > 0).all()
    assert table["significant"].all()
    np.testing.assert_allclose(table["t_pvalue_holm"], holm_adjust(table["t_pvalue"]))
    assert (table["t_pvalue_holm"] >= table["t_pvalue"]).all()
    base = compare_models(frame, "ndcg", 10, baseline="c", n_boot=50)
    assert base["model"].tolist() == ["a", "b"]
    assert (base["mean_diff"] < 0).all()
    lower = compare_models(frame, "ndcg", 10, higher_is_better=False, n_boot=50)
    assert lower["reference"].iloc[0] == "c"
    with pytest.raises(ValueError, match="no rows"):
        compare_models(frame, "ndcg", 5)
    with pytest.raises(ValueError, match="baseline"):
        compare_models(frame, "ndcg", 10, baseline="zzz")


def test_the_customer_column_is_the_row_index_or_labels_never_both() -> None:
    rows = pd.DataFrame(
        {"customer_row": [0, 1, 2], "metric": "ndcg", "k": 5, "value": [0.1, 0.2, 0.3]}
    )
    labelled = rows.rename(columns={"customer_row": "customer"})
    assert summarize(rows, n_boot=20).equals(summarize(labelled, n_boot=20))
    for bad in (rows.drop(columns="customer_row"), rows.assign(customer=["a", "b", "c"])):
        with pytest.raises(ValueError, match="exactly one of the columns 'customer_row'"):
            summarize(bad, n_boot=20)
