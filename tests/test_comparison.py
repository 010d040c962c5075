"""Leaderboard, winner-vs-rest table, computed summaries and the comparison figures."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from recnb.evaluation import examples as ex
from recnb.evaluation import leaderboard as lboard
from recnb.metrics import summarize
from recnb.reporting import model_figures as plots_models
from recnb.reporting import tables
from recnb.reporting.narrative import models as narrative


def _per_customer(rng, means: dict[str, float], n: int = 400, noise: float = 0.05):
    base = rng.random(n) * 0.2
    rows = []
    for model, mu in means.items():
        for k in (5, 10):
            for metric, scale in (("ndcg", 1.0), ("precision", 0.5), ("recall", 0.8)):
                v = np.clip(scale * (base + mu + rng.normal(0, noise, n)), 0, 1)
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


def _tables(rng, means, fit=None):
    pc = _per_customer(rng, means)
    summary = summarize(pc, n_boot=200, seed=0)
    cov = pd.DataFrame(
        {
            "model": list(means),
            "metric": "catalog_coverage",
            "k": 10,
            "value": np.linspace(0.05, 0.6, len(means)),
            "ci_low": np.nan,
            "ci_high": np.nan,
            "n": 400,
        }
    )
    summary = pd.concat([summary, cov], ignore_index=True)
    fit = fit or {m: 1.0 for m in means}
    timing = pd.DataFrame(
        {
            "model": list(means),
            "fit_seconds": [fit[m] for m in means],
            "recommend_seconds": 0.5,
            "customers_per_second": 800.0,
            "fit_peak_mb": 10.0,
            "recommend_peak_mb": 1.0,
            "n_customers": 400,
        }
    )
    return pc, summary, timing


def test_summary_names_the_winner_and_follows_the_numbers(rng):
    means = {"popularity": 0.10, "als": 0.30, "item_knn": 0.20}
    pc, summary, timing = _tables(rng, means)
    sig = lboard.winner_vs_rest(pc, "ndcg", 10, n_bootstrap=200)
    assert sig["reference"].iloc[0] == "als" and sig["model"].tolist() == ["item_knn", "popularity"]
    assert sig["significant"].all()
    text = narrative.stakeholder_summary(summary, sig, timing)
    assert text.startswith("**als**")
    assert "statistically significant" in text and "runner-up, item_knn" in text
    assert "popularity baseline" in text and "a significant difference" in text
    v = summary.query("model == 'als' and metric == 'ndcg' and k == 10")["value"].iloc[0]
    assert f"{v:.3f}" in text

    # swap the numbers: another winner, and a tie is reported as a tie
    means2 = {"popularity": 0.10, "als": 0.200, "item_knn": 0.201}
    pc2, summary2, timing2 = _tables(
        rng, means2, fit={"popularity": 0.01, "als": 10.0, "item_knn": 1.0}
    )
    sig2 = lboard.winner_vs_rest(pc2, "ndcg", 10, n_bootstrap=200)
    text2 = narrative.stakeholder_summary(summary2, sig2, timing2)
    assert lboard.chosen_model(sig2) == "item_knn" and text2.startswith("**item_knn**")
    assert "statistically tied" in text2 and "statistically significant" not in text2
    assert text2 != text


def test_summary_when_the_baseline_wins_and_when_a_tied_model_is_cheaper(rng):
    pc, summary, timing = _tables(rng, {"popularity": 0.3, "als": 0.1})
    sig = lboard.winner_vs_rest(pc, "ndcg", 10, n_bootstrap=100)
    assert "No personalised model beats the popularity baseline" in narrative.stakeholder_summary(
        summary, sig, timing
    )
    # ease wins by a hair (paired differences +0.01 / -0.0099): tied with als, which is cheaper
    n = 400
    als = rng.random(n) * 0.5
    ease = als + np.where(np.arange(n) % 2 == 0, 0.01, -0.0099)
    pop = als * 0.2
    pc = pd.concat(
        [
            pd.DataFrame(
                {"model": m, "customer_row": np.arange(n), "metric": "ndcg", "k": 10, "value": v}
            )
            for m, v in (("ease", ease), ("als", als), ("popularity", pop))
        ],
        ignore_index=True,
    )
    summary = summarize(pc, n_boot=100, seed=0)
    timing = pd.DataFrame(
        {
            "model": ["ease", "als", "popularity"],
            "fit_seconds": [30.0, 1.0, 0.01],
            "customers_per_second": 900.0,
        }
    )
    sig = lboard.winner_vs_rest(pc, "ndcg", 10, n_bootstrap=100)
    text = narrative.stakeholder_summary(summary, sig, timing)
    assert lboard.chosen_model(sig) == "ease"
    assert "The runner-up, als" in text and "statistically tied" in text
    assert "If cost matters, als is statistically tied and trains in 1.0 s." in text
    timing.loc[1, "fit_seconds"] = 40.0
    assert "If cost matters" not in narrative.stakeholder_summary(summary, sig, timing)


def test_leaderboard_sorted_with_intervals(rng):
    pc, summary, timing = _tables(rng, {"popularity": 0.1, "als": 0.3, "item_knn": 0.2})
    lb = lboard.leaderboard(summary, timing, metrics=("ndcg", "precision"), k=10)
    assert lb["model"].tolist() == ["als", "item_knn", "popularity"]
    assert lb["rank"].tolist() == [1, 2, 3]
    assert (lb["ndcg_low"] <= lb["ndcg"]).all() and (lb["ndcg"] <= lb["ndcg_high"]).all()
    assert "catalog_coverage" in lb and "fit_seconds" in lb
    shown = tables.format_leaderboard(lb, ["ndcg", "precision"], 10)
    cell = shown["NDCG@10 [95% CI]"].iloc[0]
    assert (
        cell
        == f"{lb['ndcg'].iloc[0]:.3f} [{lb['ndcg_low'].iloc[0]:.3f}, {lb['ndcg_high'].iloc[0]:.3f}]"
    )
    with pytest.raises(ValueError, match="mrr"):
        lboard.leaderboard(summary, metrics=("mrr",), k=10)


def test_winner_vs_rest_relative_difference(rng):
    pc, _, _ = _tables(rng, {"a": 0.3, "b": 0.1})
    sig = lboard.winner_vs_rest(pc, "ndcg", 10, n_bootstrap=100)
    row = sig.iloc[0]
    assert row["relative_diff"] == pytest.approx(row["mean_diff"] / row["mean_model"])


def test_segment_and_tradeoff_sentences():
    seg = pd.DataFrame(
        {
            "model": "als",
            "segment_kind": "activity",
            "segment": ["cold", "light", "heavy"],
            "metric": "ndcg",
            "k": 10,
            "value": [0.05, 0.2, 0.3],
            "ci_low": [0.0, 0.18, 0.28],
            "ci_high": [0.1, 0.22, 0.32],
            "n": [10, 100, 90],
        }
    )
    text = narrative.describe_segments(seg, "als")
    assert "heavy customers best and cold customers worst; the intervals do not overlap" in text
    assert "cold 0.050 (n = 10)" in text
    summary = pd.DataFrame(
        {
            "model": ["a", "b", "c"] * 2,
            "metric": ["ndcg"] * 3 + ["catalog_coverage"] * 3,
            "k": 10,
            "value": [0.3, 0.2, 0.1, 0.1, 0.2, 0.3],
        }
    )
    assert "pull apart" in narrative.describe_tradeoff(summary)
    summary.loc[3:, "value"] = [0.3, 0.2, 0.1]
    assert "do not conflict" in narrative.describe_tradeoff(summary)


def test_sample_customers_cycles_segments():
    customers = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(6)],
            "segment": ["heavy", "heavy", "light", "cold", "light", "heavy"],
        }
    )
    picked = ex.sample_customers(customers, 4, seed=1)
    seg = customers.set_index("customer_id")["segment"]
    assert [seg[c] for c in picked] == ["heavy", "light", "cold", "heavy"]
    assert picked == ex.sample_customers(customers, 4, seed=1)
    assert len(ex.sample_customers(customers, 10)) == 6


def test_recommendations_with_reasons_use_product_names():
    from recnb.models.registry import make_model
    from recnb.models.testing import checkerboard

    inter, held = checkerboard()
    model = make_model("item_knn", shrinkage=0.0).fit(inter)
    products = pd.DataFrame(
        {"product_id": [f"p{j}" for j in range(12)], "title": [f"Item {j}" for j in range(12)]}
    )
    recs = ex.recommendations_with_reasons(model, ["c0", "cold"], k=2, products=products)
    first = recs[(recs["customer_id"] == "c0") & (recs["rank"] == 1)].iloc[0]
    assert first["product_id"] == f"p{held[0]}" and first["product"] == f"Item {held[0]}"
    assert "Item" in first["because"] and "consumed_product" in first["because"]
    cold = recs[recs["customer_id"] == "cold"]
    assert cold["because"].str.contains("fallback").all()


def test_user_knn_reasons_never_name_other_customers():
    from recnb.models.registry import make_model
    from recnb.models.testing import checkerboard

    inter, _ = checkerboard()
    model = make_model("user_knn", shrinkage=0.0).fit(inter)
    recs = ex.recommendations_with_reasons(model, ["c0", "c1"], k=2)
    others = set(inter.customer_ids) - {"c0", "c1"}
    first = recs[recs["rank"] == 1]["because"]
    assert first.str.contains(r"\d+ similar customers? chose it \(neighbour, \+").all()
    for because in recs["because"]:
        assert not any(c in because.replace(";", " ").split() for c in others)


def test_figures_render(rng):
    pc, summary, timing = _tables(rng, {"popularity": 0.1, "als": 0.3})
    history = pd.DataFrame(
        {
            "model": "als",
            "trial": [0, 1, 2],
            "metric": "ndcg",
            "k": 10,
            "value": [0.1, 0.3, 0.2],
            "best_so_far": [0.1, 0.3, 0.3],
            "seconds": 1.0,
            "configured": [True, False, False],
            "params": "{}",
        }
    )
    seg = summary.assign(segment_kind="activity", segment="light")
    figs = [
        plots_models.metric_bars(summary, ["ndcg", "recall"], 10),
        plots_models.precision_recall(summary),
        plots_models.tradeoff(summary, 10),
        plots_models.segment_bars(seg, "ndcg", 10),
        plots_models.timing_bars(timing),
        plots_models.tuning_history(history),
    ]
    for f in figs:
        assert isinstance(f, plt.Figure) and f.axes
        plt.close(f)
    with pytest.raises(ValueError, match="nothing was tuned"):
        plots_models.tuning_history(history.iloc[:0])


def test_describe_helpers_follow_the_tables(rng):
    pc, _, _ = _tables(rng, {"popularity": 0.1, "als": 0.3, "item_knn": 0.2999})
    sig = lboard.winner_vs_rest(pc, "ndcg", 10, n_bootstrap=100)
    text = narrative.describe_significance(sig)
    beaten = int(sig["significant"].sum())
    assert f"significantly better than {beaten} of the 2 other models" in text
    tied = sig.loc[~sig["significant"], "model"].tolist()
    assert ("statistically tied with" in text) == bool(tied)

    customers = pd.DataFrame({"segment": ["cold", "light", "light", "heavy"]})
    assert narrative.describe_segment_sizes(customers, 7) == (
        "Of 4 test customers: 1 cold (no training history; 25%), 2 light (1 to 7 products in "
        "training; 50%), 1 heavy (more than 7; 25%)."
    )
    ts = pd.DataFrame(
        {
            "model": ["als", "ease"],
            "n_trials": [10, 6],
            "metric": "ndcg",
            "k": 10,
            "configured_value": [0.10, None],
            "best_value": [0.15, 0.2],
            "seconds": [3.0, 0.5],
        }
    )
    text = narrative.describe_tuning(ts)
    assert "als: 0.100 -> 0.150 (50% higher) in 10 trials" in text
    assert "ease: best 0.200 (configured values outside the space)" in text
    assert "`map_msr`" in narrative.describe_map_variants(["ndcg", "map_msr"])
    assert "No MAP variant" in narrative.describe_map_variants(["ndcg"])


def test_explainable_choice_skips_models_that_cannot_explain():
    class Run:
        def __init__(self, can):
            self.model = type("M", (), {"can_explain": can})()

    sig = pd.DataFrame({"reference": ["bpr", "bpr"], "model": ["mult_vae", "als"]})
    assert (
        ex.explainable_choice(sig, {"bpr": Run(False), "mult_vae": Run(False), "als": Run(True)})
        == "als"
    )
    assert ex.explainable_choice(sig, {"bpr": Run(True)}) == "bpr"
    with pytest.raises(ValueError, match="can explain"):
        ex.explainable_choice(sig, {"bpr": Run(False)})


def test_reference_table_holds_the_published_rows():
    from recnb.evaluation.reference import msr_movielens100k

    ref = msr_movielens100k().set_index("algo")
    assert ref.loc["BPR", ["map", "ndcg_at_10", "precision_at_10", "recall_at_10"]].tolist() == [
        0.132478,
        0.441997,
        0.388229,
        0.212522,
    ]
    assert ref.loc["SVD", "rmse"] == 0.938681 and ref.loc["SVD", "mae"] == 0.742690
    assert ref.loc["ALS", "ndcg_at_10"] == 0.044239 and np.isnan(ref.loc["BiVAE", "rmse"])
    assert set(ref.index) >= {"ALS", "BiVAE", "BPR", "LightGCN", "NCF", "SAR", "SVD"}


def test_cost_is_kept_apart_from_the_repeatable_tables(rng):
    """The leaderboard file holds no measured column; the report joins them for display."""
    pc, summary, timing = _tables(rng, {"popularity": 0.1, "als": 0.3})
    board = lboard.leaderboard(summary, None, metrics=("ndcg",), k=10)
    assert not set(lboard.COST_COLUMNS) & set(board.columns)
    shown = tables.format_leaderboard(lboard.add_cost(board, timing), ["ndcg"], 10)
    assert "training time" in shown.columns and "customers / s" in shown.columns
    sig = lboard.winner_vs_rest(pc, "ndcg", 10, n_bootstrap=100)
    text = narrative.stakeholder_summary(summary, sig, None)
    assert "trains in" not in text
    cost = narrative.cost_summary(sig, timing)
    assert cost.startswith("It trains in") and cost in narrative.stakeholder_summary(
        summary, sig, timing
    )
    assert narrative.cost_summary(sig, None) == ""
    ts = pd.DataFrame(
        {
            "model": ["als"],
            "n_trials": [2],
            "metric": "ndcg",
            "k": 10,
            "configured_value": [0.1],
            "best_value": [0.2],
        }
    )
    tt = pd.DataFrame({"model": ["als", "als"], "trial": [0, 1], "seconds": [1.0, 2.0]})
    assert "in 2 trials, 3.0 s" in narrative.describe_tuning(ts, tt)
    assert narrative.describe_tuning(ts).endswith("in 2 trials.")
    pruned = narrative.describe_tuning(ts.assign(n_pruned=[1]), tt)
    assert "in 2 trials (1 stopped early by pruning), 3.0 s" in pruned
    assert "pruning" not in narrative.describe_tuning(ts.assign(n_pruned=[0]))
    cut = narrative.describe_tuning(ts.assign(budget=[10]), tt)
    assert "in 2 of 10 trials (search stopped: no longer improving), 3.0 s" in cut
    assert "stopped" not in narrative.describe_tuning(ts.assign(budget=[2]), tt)


def test_sources_sentence_names_each_origin_and_flags_edits():
    config = pd.DataFrame(
        {
            "parameter": ["models", "search_space", "k", "n_bootstrap"],
            "value": ["[]", "{}", "10", "50"],
            "source": [
                "params file",
                "notebook default, kept for the listed models",
                "notebook default",
                "edited in the notebook",
            ],
        }
    )
    text = narrative.describe_sources(config, "ci.yaml")
    assert text == (
        "Set by the params file (ci.yaml): `models`. Notebook defaults kept only for the models "
        "the params file lists: `search_space`. Notebook defaults: `k`. **Edited in the "
        "notebook** (these values ran, not the params file's): `n_bootstrap`."
    )
    quiet = narrative.describe_sources(config.iloc[[2]], "x.yaml")
    assert quiet == "Set by the params file (x.yaml): none. Notebook defaults: `k`."
    customers = pd.DataFrame({"customer_row": [0, 3, 5]})
    assert narrative.describe_evaluation(customers, ["a", "b"], (5, 10)) == (
        "2 models were refitted on the training period and scored on 3 test customers "
        "(customers with a relevant held-out product) at k = 5, 10."
    )
