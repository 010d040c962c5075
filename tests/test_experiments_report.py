"""The stage-05 report's texts and table views, on small hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recnb.reporting import experiment_tables as views
from recnb.reporting.narrative import experiments as nar


def _pairs(ab, inter, agrees):
    n = len(ab)
    return pd.DataFrame(
        {
            "control": ["popularity"] * n,
            "treatment": [f"m{i}" for i in range(n)],
            "preference": np.linspace(-0.1, 0.1, n),
            "mean_credit_diff": 0.0,
            "p_value": 0.01,
            "interleaving_winner": [f"m{i}" for i in range(n)],
            "ab_true_diff": 0.1,
            "ab_diff": 0.1,
            "true_winner": [f"m{i}" for i in range(n)],
            "agrees": agrees,
            "customers_ab": ab,
            "customers_interleaving": inter,
            "customers_ab_measured": np.nan,
            "customers_interleaving_measured": np.nan,
            "ratio": np.asarray(ab, dtype=float) / np.asarray(inter, dtype=float),
        }
    )


def test_interleaving_text_follows_the_measured_ratio():
    cheaper = nar.describe_interleaving(_pairs([1000, 2000], [100, 100], [True, True]))
    assert "times fewer customers" in cheaper and "more" not in cheaper
    dearer = nar.describe_interleaving(_pairs([1000, 1000], [3000, 3000], [True, np.nan]))
    assert "3.0 times **more** customers" in dearer and "fewer" not in dearer
    even = nar.describe_interleaving(_pairs([1000], [1100], [np.nan]))
    assert "about as many customers" in even
    assert "no significant preference in any of the 1 pairs" in even


def test_interleaving_view_says_when_there_was_no_preference():
    v = views.interleaving_view(_pairs([10, 20, 30], [1, 2, 3], [True, False, np.nan]))
    assert list(v["agrees"]) == ["yes", "no", "no preference"]
    assert list(v["ab_over_interleaving"]) == [10.0, 10.0, 10.0]


def test_metrics_and_guardrail_views_use_plain_names():
    m = pd.DataFrame(
        {
            "metric": ["revenue_per_visitor", "revenue_per_visitor_cuped"],
            "method": ["Welch t-test", "Welch (CUPED)"],
            "control": [1.0, 1.0],
            "treatment": [1.1, 1.1],
            "lift": [0.1, 0.1],
            "lift_low": [0.0, 0.02],
            "lift_high": [0.2, 0.18],
            "p_value": [0.04, 0.01],
            "p_adjusted": [0.08, 0.02],
            "significant": [False, True],
        }
    )
    v = views.metrics_view(m)
    assert list(v["metric"]) == ["revenue per visitor", "revenue per visitor (CUPED)"]
    assert list(v["significant"]) == ["no", "yes"]
    g = pd.DataFrame(
        {
            "guardrail": ["conversion", "fairness_gap"],
            "available": [True, False],
            "control": [0.1, np.nan],
            "treatment": [0.09, np.nan],
            "margin": [0.005, np.nan],
            "p_value": [0.3, np.nan],
            "holds": [False, True],
            "note": ["conversion", "fewer than 2 customer groups"],
        }
    )
    gv = views.guardrails_view(g)
    assert list(gv["holds"]) == ["no", "not checked"]
    assert gv["guardrail"].iloc[1].startswith("fairness gap")


def test_ope_view_counts_targets_an_estimator_could_not_estimate():
    s = pd.DataFrame(
        {
            "target": ["a", "b", "a", "b"],
            "estimator": ["snips", "snips", "dr", "dr"],
            "rmse_rel": [np.nan, 0.2, 0.1, 0.3],
            "coverage": [np.nan, 1.0, 1.0, 0.0],
        }
    )
    v = views.ope_view(s).set_index("estimator")
    assert v.loc["snips", "targets"] == 1 and v.loc["snips", "targets_without_estimate"] == 1
    assert v.loc["dr", "median_rel_error"] == 0.2 and v.loc["dr", "worst_rel_error"] == 0.3
    assert v.loc["dr", "coverage"] == 0.5 and v.loc["dr", "targets_without_estimate"] == 0


def test_coverage_and_latency_sentences():
    cov = pd.DataFrame(
        [
            {
                "metric": "catalogue_coverage",
                "control": 0.15,
                "treatment": 0.28,
                "diff": 0.13,
                "boot_low": 0.09,
                "boot_high": 0.14,
                "catalogue_size": 206,
            }
        ]
    )
    text = nar.describe_coverage(cov, "popularity", "ease")
    assert "15.0% of the 206 products" in text and "+13.0 points" in text
    lat = pd.DataFrame(
        {"arm": ["popularity", "ease"], "customers": [100, 200], "seconds": [0.1, 1.0]}
    )
    text = nar.describe_latency(lat)
    assert "popularity 1.00 ms per customer" in text and "ease 5.00 ms per customer" in text
