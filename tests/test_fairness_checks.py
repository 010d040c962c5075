"""The group test on the synthetic shop: it finds the planted groups and flags a null at alpha.

Small versions of ``benchmarks/bench_fairness.py`` (default size, 200 seeds).
"""

from __future__ import annotations

import numpy as np
import pytest

from recnb.fairness.checks import shop_gap_test


@pytest.mark.slow
def test_planted_niche_group_is_found_in_logged_ndcg():
    """The default plant (a minority's niche taste) shows in held-out logged events: popularity,
    fitted on everyone, ranks the group's held-out items worse, among customers of the same
    activity (a smaller version of ``bench_fairness.py --power`` at the default size)."""
    kw = {"n_customers": 6000, "n_products": 1500, "n_days": 60, "test_days": 10.0}
    r = shop_gap_test(1, "age_band", "65+", underserved_group={"age_band": "65+"}, **kw)
    base = shop_gap_test(1, "age_band", "65+", **kw)
    assert r["ndcg_p_value_within_activity"] < 0.01
    assert r["ndcg_gap"] > 0.02  # rest minus group: the group is served worse
    assert base["ndcg_p_value_within_activity"] > 0.05


@pytest.mark.slow
def test_planted_underserved_group_is_found_in_true_expected_clicks():
    r = shop_gap_test(
        1,
        "age_band",
        "25-34",
        n_customers=2000,
        n_products=600,
        n_days=30,
        underserved_group={"age_band": "25-34"},
        underserved_kind="appeal",
    )
    base = shop_gap_test(1, "age_band", "25-34", n_customers=2000, n_products=600, n_days=30)
    assert r["expected_clicks_p_value_within_activity"] < 0.01
    # the group is served worse than without the plant (same seed: same customers and log base)
    assert r["expected_clicks_gap"] > base["expected_clicks_gap"] + 0.05
    assert r["expected_clicks_gap"] > 0


@pytest.mark.slow
def test_false_flag_rate_on_a_group_without_effect_is_alpha():
    """region changes nothing in a shop with location_strength 0: a true null, over 100 shops."""
    seeds = range(100)
    flags = []
    for s in seeds:
        r = shop_gap_test(
            s,
            "region",
            "south",
            n_customers=250,
            n_products=80,
            n_days=15,
            test_days=5.0,
            location_strength=0.0,
            n_permutations=199,
        )
        flags.append(
            [r["ndcg_p_value_within_activity"] <= 0.05, r["expected_clicks_p_value"] <= 0.05]
        )
    rate = np.mean(flags, axis=0)
    bound = 3 * np.sqrt(0.05 * 0.95 / len(seeds))
    assert (np.abs(rate - 0.05) <= bound).all(), rate
