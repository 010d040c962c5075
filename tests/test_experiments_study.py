"""Design, offline-online agreement, the novelty case, and the stage's building blocks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recnb.data.synthetic import RankingPolicy
from recnb.experiments import Arm, Traffic, per_customer, simulate_arm, study
from recnb.experiments import offline_online as oo
from recnb.experiments import power as pw
from recnb.experiments.design import design_from_pilot
from recnb.metrics import ranking_metric_arrays


@pytest.fixture(scope="module")
def traffic(experiment_world):
    w = experiment_world
    return Traffic.from_shop(w.shop, range(w.n_days, w.n_days + 14), unit_id=w.unit_id)


# ---- design ----------------------------------------------------------------------------------


def _pilot(n_customers: int, days: int, seed: int) -> pd.DataFrame:
    """Visits of customers arriving uniformly over the days, revenue exponential per visit."""
    rng = np.random.default_rng(seed)
    unit = rng.integers(0, n_customers, 20 * n_customers)
    day = rng.integers(0, days, len(unit))
    rev = rng.exponential(10.0, len(unit)) * (rng.random(len(unit)) < 0.2)
    return pd.DataFrame(
        {
            "unit_id": np.char.add("c", unit.astype(str)).astype(object),
            "day": day,
            "revenue": rev,
            "purchases": (rev > 0).astype(float),
        }
    )


def test_design_picks_the_first_week_with_enough_customers():
    pilot = _pilot(3000, 28, 1)
    d = design_from_pilot(pilot, "revenue_per_visitor", mde_relative=0.2, max_days=28)
    t = d.table
    assert t["days"].tolist() == [7, 14, 21, 28]
    row = t.set_index("days").loc[d.days]
    assert row["customers"] >= row["n_needed"]
    earlier = t[t["days"] < d.days]
    assert (earlier["customers"] < earlier["n_needed"]).all()
    # the sample size is statsmodels' for that window's spread
    window = per_customer(pilot[pilot["day"] < d.days])
    sd = window["revenue"].std(ddof=1)
    assert d.n_control == pw.sample_size_mean(sd, 0.2 * window["revenue"].mean())
    assert d.achieved_power >= 0.8 and not d.capped


def test_design_says_when_the_traffic_is_too_small():
    d = design_from_pilot(_pilot(300, 28, 2), "revenue_per_visitor", 0.02, max_days=28)
    assert d.capped and d.days == 28 and d.achieved_power < 0.8
    assert d.detectable_effect > 0.02
    # the effect detectable at 80% power with the expected customers, by the formula
    n_c = d.expected_customers / 2
    assert pw.power_mean(d.sd, d.detectable_effect * d.baseline, n_c) == pytest.approx(
        0.8, abs=1e-3
    )
    with pytest.raises(ValueError, match="mean or a proportion"):
        design_from_pilot(_pilot(300, 28, 2), "ctr")


# ---- offline metrics and agreement -----------------------------------------------------------


def test_offline_metrics_of_a_deterministic_arm_are_stage_03s(experiment_world):
    w = experiment_world
    arm = Arm("ease", w.models["ease"], n_candidates=10)
    got = oo.offline_metrics([arm], w.test, k=10)
    rows = np.flatnonzero(w.test.matrix.getnnz(axis=1) > 0)
    topk, _ = w.models["ease"].recommend_indices(rows, k=10)
    want = ranking_metric_arrays(
        topk, w.test.matrix[rows], ks=[10], metrics=["ndcg", "precision", "recall"]
    )
    for m in ("ndcg", "precision", "recall"):
        assert np.allclose(got[m]["ease"].to_numpy(), want[(m, 10)], equal_nan=True), m


def test_offline_metric_of_a_stochastic_arm_is_its_expectation(experiment_world):
    w = experiment_world
    pol = RankingPolicy("plackett_luce", temperature=0.7)
    arm = Arm("ease+PL", w.models["ease"], pol, n_candidates=20)
    got = oo.offline_metrics([arm], w.test, k=10)["ndcg"]["ease+PL"].to_numpy()
    ids = got_ids = oo.offline_metrics([arm], w.test, k=10)["ndcg"].index.to_numpy()
    del got_ids
    cand = arm.candidates(ids)
    rows = w.test.customer_ids
    test_rows = pd.Index(rows).get_indexer(ids)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(300):
        r = pol.sample(cand.scores, 10, rng)
        topk = np.where(r >= 0, np.take_along_axis(cand.product_index, np.maximum(r, 0), 1), -1)
        draws.append(
            ranking_metric_arrays(topk, w.test.matrix[test_rows], ks=[10], metrics=["ndcg"])[
                ("ndcg", 10)
            ]
        )
    mc = np.mean(draws, axis=0)
    se = np.std(draws, axis=0).mean() / np.sqrt(300)
    assert abs(np.nanmean(mc) - np.nanmean(got)) < 3 * se


def test_agreement_of_concordant_and_reversed_rankings():
    rng = np.random.default_rng(0)
    means = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    off = pd.DataFrame(rng.normal(means * 0.01, 0.001, (500, 5)), columns=list("abcde"))
    on = pd.DataFrame(rng.normal(means, 0.01, (800, 5)), columns=list("abcde"))
    ag = oo.agreement(off, on, "a", n_boot=200)
    s = ag.stats.set_index("statistic")["value"]
    assert s["kendall_tau"] == pytest.approx(1.0) and s["spearman"] == pytest.approx(1.0)
    assert s["winner_agreement"] == 1.0
    assert ag.table["online_lift"].iloc[0] == 0.0
    rev = oo.agreement(off, on[list("abcde")[::-1]].set_axis(list("abcde"), axis=1), "a", n_boot=50)
    assert rev.stats.set_index("statistic").loc["kendall_tau", "value"] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="same policies"):
        oo.agreement(off, on[list("edcba")], "a")


def test_novelty_seeking_customers_make_popularity_win_offline_and_lose_online():
    case = oo.novelty_case(dict(n_customers=2000, n_products=400, n_days=45, seed=5))
    assert case.reproduced
    t = case.table.set_index(["novelty_seeking", "model"])
    assert t.loc[(1.5, "popularity"), "offline_rank"] == 1
    assert t.loc[(1.5, "popularity"), "online_rank"] == 3  # last online
    # novelty-seeking customers widen popularity's online loss
    assert t.loc[(1.5, "popularity"), "online_share"] < t.loc[(0.0, "popularity"), "online_share"]


# ---- the stage's building blocks -------------------------------------------------------------


def test_stage03_models_apply_the_chosen_hyperparameters(experiment_world):
    w = experiment_world
    chosen = pd.DataFrame(
        {
            "model": ["knn_small", "knn_small", "ease"],
            "hyperparameter": ["n_neighbors", "weighting", "l2"],
            "value": ["7", '"bm25"', "50.0"],
            "source": ["tuned", "tuned", "fixed"],
        }
    )
    models = study.stage03_models(
        ["knn_small", "ease"], w.train, {"knn_small": {"model": "item_knn"}}, chosen, seed=1
    )
    assert models["knn_small"].name == "item_knn"
    assert models["knn_small"].n_neighbors == 7 and models["knn_small"].weighting == "bm25"
    assert models["ease"].l2 != 50.0  # a fixed row is not a tuned value: the params file has it
    sig = pd.DataFrame({"reference": ["ease", "ease"], "model": ["a", "b"]})
    assert study.chosen_label(sig) == "ease"


def test_policy_arms_and_calibration_checks(experiment_world, traffic):
    w = experiment_world
    arms = study.policy_arms({k: w.models[k] for k in ("popularity", "ease")}, "ease")
    labels = [a.label for a in arms]
    assert labels == ["popularity", "ease", "ease+PL", "ease+eps", "ease+debias"]
    online = oo.online_values(w.shop, traffic, arms[:2], 10, w.history, seed=3)
    assert list(online.exact["clicks"].columns) == ["popularity", "ease"]
    assert online.sampled["clicks"].index.equals(online.exact["clicks"].index)
    pilot = simulate_arm(
        w.shop,
        Traffic.from_shop(w.shop, range(w.n_days - 14, w.n_days), unit_id=w.unit_id),
        arms[0], 10, None, rng=1, exact=False,
    )  # fmt: skip
    cov = per_customer(pilot.visits).set_index("unit_id")["clicks"]
    checks = study.calibration_checks(
        online, "popularity", "ease", "clicks", cov, tau=0.1, n_sims=400
    )
    c = checks.set_index("check")
    assert {"aa_false_positive_rate", "peeking_naive_any_look", "peeking_msprt_any_look",
            "empirical_power", "cuped_variance_ratio"} <= set(c.index)  # fmt: skip
    assert c.loc["peeking_naive_any_look", "value"] > c.loc["peeking_final_look", "value"]
    il = study.interleaving_vs_ab(
        w.shop, traffic, arms[0], [arms[1]], online, 10, w.history, measure=["ease"], n_sims=200
    )
    row = il.iloc[0]
    assert row["interleaving_winner"] == "ease" and row["true_winner"] == "ease" and row["agrees"]
    assert row["customers_interleaving"] < row["customers_ab"]
    assert np.isfinite(row["customers_interleaving_measured"])


def test_agreement_point_values_are_the_simulated_ones_and_the_exact_ones_beside():
    # an experimenter sees the simulated means; the exact values (truth) are reported beside
    rng = np.random.default_rng(1)
    means = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    off = pd.DataFrame(rng.normal(means * 0.01, 0.001, (300, 5)), columns=list("abcde"))
    sampled = pd.DataFrame(rng.normal(means, 0.01, (400, 5)), columns=list("abcde"))
    exact = pd.DataFrame(np.tile(means[::-1], (400, 1)), columns=list("abcde"))
    ag = oo.agreement(off, sampled, "a", exact, n_boot=50)
    s = ag.stats.set_index("statistic")
    assert s.loc["kendall_tau", "value"] == pytest.approx(1.0)
    assert s.loc["kendall_tau", "value_exact"] == pytest.approx(-1.0)
    assert s.loc["spearman", "value_exact"] == pytest.approx(-1.0)
    assert s.loc["winner_agreement", "value_exact"] == 0.0


def test_calibration_text_explains_an_a_a_rate_far_below_alpha():
    from recnb.reporting.narrative import experiments as nar

    def checks(rate):
        return pd.DataFrame(
            [("aa_false_positive_rate", rate, 0.05, 0.005, 1000, "A/A, Welch")],
            columns=["check", "value", "expected", "mc_se", "n_sims", "note"],
        )

    assert "rarely reject" in nar.describe_calibration(checks(0.01), 0.05)
    assert "rarely reject" not in nar.describe_calibration(checks(0.049), 0.05)
