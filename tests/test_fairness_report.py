"""The fairness report's sentences and table views on small hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recnb.reporting import fairness_tables
from recnb.reporting.narrative import fairness as text


def _gaps() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "attribute": ["gender", "region"],
            "model": ["m", "m"],
            "metric": ["ndcg", "ndcg"],
            "n_groups": [2, 3],
            "n_customers": [158, 158],
            "low_group": ["female", "north"],
            "high_group": ["male", "west"],
            "overall": [0.2747, 0.2747],
            "difference": [0.1302, 0.0958],
            "difference_ci_low": [0.0552, 0.0517],
            "difference_ci_high": [0.1972, 0.2363],
            "ratio": [0.6250, 0.7226],
            "p_holm": [0.04, 1.0],
        }
    )


def _recommended(confirmed: bool) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "model": ["m"],
            "method": ["xquad_sellers"],
            "strength": [0.75],
            "target": ["small_seller_exposure"],
            "value_change": [-0.039 if not confirmed else 0.03],
            "value_change_ci_low": [-0.074 if not confirmed else 0.01],
            "value_change_ci_high": [0.0 if not confirmed else 0.05],
            "ndcg_change": [-0.008],
            "ndcg_change_ci_low": [-0.061],
            "ndcg_change_ci_high": [0.049],
            "mitigated": [True],
            "gain_holds": [confirmed],
            "within_budget": [True],
            "confirmed": [confirmed],
        }
    )


def _catalogue() -> pd.DataFrame:
    return pd.DataFrame({"model": ["m"], "aplt": [0.1], "gini": [0.9]})


def test_summary_states_the_gap_against_the_best_group():
    """Observed: 'female (by gender: 47% below the best group)' where 47% was the gap over the
    overall mean; against the best group (ratio 0.625) it is 38%."""
    s = text.stakeholder_summary(
        _gaps(), "m", "ndcg", 10, 0.05, ["gender", "region"], _catalogue(), None,
        _recommended(True), None,
    )  # fmt: skip
    assert "female (by gender: 38% below the best served group, p = 0.040)" in s
    assert "north" not in s  # not significant


def test_summary_names_the_models_that_serve_the_planted_group_worse():
    planted = "planted group (age_band = 65+)"
    rows = pd.DataFrame(
        {
            "attribute": [planted] * 4,
            "model": ["m", "popularity", "random", "knn"],
            "metric": ["ndcg"] * 4,
            "low_group": ["in the group", "in the group", "in the group", "rest"],
            "high_group": ["rest", "rest", "rest", "in the group"],
            "difference": [0.01, 0.04, 0.02, 0.03],
            "ratio": [0.9, 0.6, 0.8, 0.7],
            "p_holm": [0.2, 0.0005, 0.01, 0.001],
        }
    )
    s = text.stakeholder_summary(
        pd.concat([_gaps(), rows], ignore_index=True), "m", "ndcg", 10, 0.05,
        ["gender", "region", planted], _catalogue(), None, _recommended(True), None, planted,
    )  # fmt: skip
    # the chosen model does not under-serve the group; popularity does (random is no model, and
    # knn serves the group better, not worse)
    assert (
        "the audit does not find it for m (p = 0.200); the group is served significantly worse "
        "in NDCG@10 by popularity (p < 0.001)."
    ) in s


def test_an_unconfirmed_setting_is_no_mitigation():
    s = text.stakeholder_summary(
        _gaps(), "m", "ndcg", 10, 0.05, ["gender"], _catalogue(), None, _recommended(False), None
    )
    assert "Cheapest mitigation" not in s and "No re-ranker improves fairness" in s
    assert "**not confirmed**" in text.describe_mitigation(_recommended(False), "m", 0.05)
    assert "holds on the other half" in text.describe_mitigation(_recommended(True), "m", 0.05)
    view = fairness_tables.recommended_view(_recommended(False))
    assert view.loc[0, "holds on the other half"] == "no"
    assert view.loc[0, "method"] == "xQuAD, seller mix"


def test_gaps_view_keeps_compared_pairs_only():
    g = pd.concat([_gaps(), _gaps().iloc[:1].assign(attribute="device", difference=np.nan)])
    v = fairness_tables.gaps_view(g, "ndcg")
    assert list(v["attribute"]) == ["gender", "region"]
    assert v.loc[0, "gap 95% CI"] == "0.0552 to 0.1972"


def test_one_stability_refit_by_default_and_named_models_checked():
    import pytest

    from recnb.fairness.stage import stability_models

    specs = {
        "item_knn": ("item_knn", {}),
        "als": ("als", {}),
        "lightfm_warp": ("lightfm_warp", {}),
    }
    explainers = list(specs)
    assert stability_models(specs, explainers, "lightfm_warp") == ["lightfm_warp"]
    assert stability_models(specs, explainers, "item_knn") == ["als"]  # chosen is deterministic
    assert stability_models(specs, explainers, "item_knn", ["item_knn", "als"]) == ["als"]
    assert stability_models({"item_knn": ("item_knn", {})}, ["item_knn"], "item_knn") == []
    with pytest.raises(ValueError, match="'bpr'"):
        stability_models(specs, explainers, "als", ["bpr"])


def test_read_stage03_names_what_is_missing_or_mismatched(tmp_path):
    import json

    import pytest

    from recnb.data import io
    from recnb.fairness import audit
    from recnb.fairness.inputs import read_stage03

    with pytest.raises(FileNotFoundError, match="candidates.parquet"):
        read_stage03(tmp_path)
    top = np.array([[0, 1, 2], [2, 1, 0]])
    io.write_parquet(
        tmp_path / "candidates.parquet",
        audit.candidates_table({"popularity": (top, -top.astype(float))}, np.array([3, 5])),
    )
    io.write_parquet(
        tmp_path / "customers.parquet", pd.DataFrame({"customer_row": [3], "segment": ["light"]})
    )
    io.write_parquet(
        tmp_path / "capabilities.parquet",
        pd.DataFrame({"model": ["popularity"], "algorithm": ["popularity"]}),
    )
    io.write_parquet(
        tmp_path / "tuning_chosen.parquet",
        pd.DataFrame({"model": [], "hyperparameter": [], "value": []}),
    )
    io.write_parquet(tmp_path / "significance.parquet", pd.DataFrame({"reference": ["popularity"]}))
    io.write_parquet(
        tmp_path / "configuration.parquet",
        pd.DataFrame({"parameter": ["metric", "k"], "value": [json.dumps("ndcg"), "10"]}),
    )
    with pytest.raises(ValueError, match=r"customers \[5\] of candidates.parquet"):
        read_stage03(tmp_path)
    io.write_parquet(
        tmp_path / "customers.parquet",
        pd.DataFrame({"customer_row": [3, 5], "segment": ["light", "heavy"]}),
    )
    s03 = read_stage03(tmp_path, n_candidates=2)
    assert (s03.chosen, s03.metric, s03.k) == ("popularity", "ndcg", 10)
    assert list(s03.activity) == ["light", "heavy"]
    assert s03.candidates.items["popularity"].shape == (2, 2)
    assert s03.specs == {"popularity": ("popularity", {})}


def test_example_customers_are_labelled_without_digits():
    from recnb.fairness.stage import _example_label

    assert [_example_label(i) for i in (0, 1, 25, 26, 27)] == [
        "customer A",
        "customer B",
        "customer Z",
        "customer AA",
        "customer AB",
    ]


def test_overall_popularity_lift_without_groups():
    cols = pd.MultiIndex.from_tuples([("m", "popularity_lift"), ("m", "ndcg")])
    values = pd.DataFrame([[0.5, 0.1], [1.5, 0.2], [np.nan, 0.0], [-0.2, 0.3]], columns=cols)
    s = text.describe_overall_lift(values, "m")
    assert "Over all 3 customers" in s and "60% more popular" in s and "67% of the" in s
    assert text.describe_overall_lift(values, "other") == ""
