"""The A/B runner on a small shop: simulated against exact values, SRM, decision, privacy, calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import proportions_ztest

from recnb.data.synthetic import RankingPolicy
from recnb.experiments import (
    Arm,
    Guardrail,
    PopularityPenalty,
    Traffic,
    exact_values,
    per_customer,
    run_ab_test,
    simulate_arm,
)
from recnb.experiments import calibration as cal
from recnb.experiments import power as pw
from recnb.experiments.arms import standardise
from recnb.experiments.simulation import cumulative_by_day, history_before


@pytest.fixture(scope="module")
def traffic(experiment_world):
    w = experiment_world
    return Traffic.from_shop(w.shop, range(w.n_days, w.n_days + 28), unit_id=w.unit_id)


def test_traffic_carries_pseudonyms_not_shop_ids(experiment_world, traffic):
    w = experiment_world
    shop_ids = set(w.shop.customers["customer_id"])
    assert not shop_ids & set(traffic.unit_id)
    known = np.isin(traffic.units(), w.train.customer_ids)
    assert known.mean() > 0.5  # most visitors are customers the models know
    assert (traffic.days >= w.n_days).all()


def test_standardise_keeps_order_and_nan():
    s = np.array([[3.0, 1.0, np.nan], [2.0, 2.0, 2.0]])
    z = standardise(s)
    assert np.isnan(z[0, 2]) and z[0, 0] > z[0, 1]
    assert z[0, :2] == pytest.approx([1.0, -1.0])
    assert (z[1] == 0).all()


@pytest.mark.parametrize(
    "policy",
    [RankingPolicy("deterministic"), RankingPolicy("plackett_luce", temperature=0.5)],
    ids=["deterministic", "plackett_luce"],
)
def test_simulated_outcomes_converge_to_the_exact_value(experiment_world, traffic, policy):
    w = experiment_world
    arm = Arm("knn", w.models["item_knn"], policy, n_candidates=20)
    out = simulate_arm(w.shop, traffic, arm, 10, w.history, rng=5, exact=True).visits
    for col in ("examinations", "clicks", "add_to_cart", "purchases", "revenue"):
        sampled, exact = out[col].to_numpy(), out[f"exp_{col}"].to_numpy()
        se = sampled.std(ddof=1) / np.sqrt(len(sampled))
        assert abs(sampled.mean() - exact.mean()) < 3 * se, col
    # the exact values of the visits do not depend on the sampling
    again = exact_values(w.shop, traffic, arm, 10, w.history)
    assert np.allclose(again["exp_revenue"], out["exp_revenue"])


def test_popularity_penalty_reranks_towards_the_tail(experiment_world, traffic):
    w = experiment_world
    model = w.models["item_knn"]
    plain = Arm("plain", model, n_candidates=30).candidates(traffic.units()[:200])
    mitigated = Arm("mitigated", model, n_candidates=30, reranker=PopularityPenalty(1.0))
    mit = mitigated.candidates(traffic.units()[:200])
    pop = np.asarray(model.popularity_, dtype=float)

    def top_pop(c):
        order = np.argsort(-np.nan_to_num(c.scores, nan=-np.inf), axis=1)[:, :10]
        return pop[np.take_along_axis(c.product_index, order, axis=1)].mean()

    assert top_pop(mit) < top_pop(plain)


@pytest.fixture(scope="module")
def ab_result(experiment_world, traffic):
    w = experiment_world
    groups = w.dataset.customers.set_index("customer_id")["age_band"]
    return run_ab_test(
        w.shop,
        traffic,
        Arm("popularity", w.models["popularity"]),
        Arm("ease", w.models["ease"]),
        history=w.history,
        seed=1,
        groups=groups,
        n_boot=300,
    )


def test_ab_result_tables_are_consistent(ab_result):
    r = ab_result
    pc = r.per_customer
    assert set(pc["arm"]) == {"popularity", "ease"}
    assert pc["unit_id"].is_unique
    assert r.srm.observed == (
        int((pc["arm"] == "popularity").sum()),
        int((pc["arm"] == "ease").sum()),
    )
    assert not r.srm.mismatch
    m = r.metrics.set_index("metric")
    # the analysis table is what the per-customer table says
    c, t = pc[pc["arm"] == "popularity"], pc[pc["arm"] == "ease"]
    assert m.loc["revenue_per_visitor", "control"] == pytest.approx(c["revenue"].mean())
    assert m.loc["conversion", "treatment"] == pytest.approx((t["purchases"] > 0).mean())
    assert m.loc["ctr", "control"] == pytest.approx(c["clicks"].sum() / c["impressions"].sum())
    assert (m["p_adjusted"] >= m["p_value"] - 1e-12).all()
    # the last daily look is the whole experiment
    last = r.looks.iloc[-1]
    assert last["mean_control"] == pytest.approx(m.loc["revenue_per_visitor", "control"])
    assert last["n_treatment"] == len(t)
    # every exact truth lies within 3 standard errors of its estimate
    assert (r.truth["z"].abs() < 3).all()
    assert {"aov", "conversion", "fairness_gap"} == set(r.guardrails["guardrail"])
    assert r.guardrails.set_index("guardrail").loc["fairness_gap", "available"]


def test_ab_results_hold_no_shop_customer_id(experiment_world, ab_result):
    shop_ids = set(experiment_world.shop.customers["customer_id"])
    for df in (ab_result.per_customer, ab_result.visits, *ab_result.logs.values()):
        for col in df.columns:
            if df[col].dtype == object:
                assert not shop_ids & set(df[col].dropna().astype(str)), col


def test_planted_sample_ratio_mismatch_voids_the_decision(experiment_world, traffic):
    w = experiment_world
    res = run_ab_test(
        w.shop,
        traffic,
        Arm("popularity", w.models["popularity"]),
        Arm("ease", w.models["ease"]),
        history=w.history,
        split=(0.7, 0.3),
        expected_split=(0.5, 0.5),  # what the analysis was told: the assignment is broken
        n_boot=50,
    )
    assert res.srm.mismatch
    assert res.decision.verdict == "no decision"
    assert "Sample ratio mismatch" in res.decision.reasons[0]


def test_decision_ships_a_much_better_arm_and_not_a_worse_one(experiment_world, traffic):
    w = experiment_world
    kw = dict(
        history=w.history,
        metrics=["clicks_per_visitor", "ctr"],
        guardrails=[Guardrail("clicks_per_visitor", 0.05)],
        n_boot=50,
    )
    good = run_ab_test(
        w.shop, traffic, Arm("random", w.models["random"]), Arm("ease", w.models["ease"]), **kw
    )
    assert good.decision.verdict == "ship", good.decision.reasons
    bad = run_ab_test(
        w.shop, traffic, Arm("ease", w.models["ease"]), Arm("random", w.models["random"]), **kw
    )
    assert bad.decision.verdict == "do not ship"
    assert "significantly worse" in bad.decision.reasons[0]


def test_cuped_row_uses_the_pre_period(experiment_world, traffic):
    w = experiment_world
    arm = Arm("popularity", w.models["popularity"])
    pre = Traffic.from_shop(w.shop, range(w.n_days - 14, w.n_days), unit_id=w.unit_id)
    pilot = simulate_arm(
        w.shop, pre, arm, 10, history_before(w.history, w.n_days - 14), rng=9, exact=False
    )
    cov = per_customer(pilot.visits).set_index("unit_id")["clicks"]
    res = run_ab_test(
        w.shop,
        traffic,
        arm,
        Arm("ease", w.models["ease"]),
        history=w.history,
        metrics=["clicks_per_visitor", "ctr"],
        covariate=cov,
        n_boot=50,
    )
    m = res.metrics.set_index("metric")
    row = m.loc["clicks_per_visitor_cuped"]
    assert 0 < row["rho"] < 1
    assert row["variance_ratio"] < 1
    assert row["variance_ratio"] == pytest.approx(1 - row["rho"] ** 2, abs=0.05)


# ---- calibration at small size -------------------------------------------------------------


@pytest.fixture(scope="module")
def pools(experiment_world, traffic):
    """Every customer's outcome under popularity and under EASE, and a pre-period covariate."""
    w = experiment_world
    out = {}
    for i, name in enumerate(("popularity", "ease")):
        v = simulate_arm(w.shop, traffic, Arm(name, w.models[name]), 10, w.history, rng=i).visits
        out[name] = v
    pre = Traffic.from_shop(w.shop, range(w.n_days - 28, w.n_days), unit_id=w.unit_id)
    pilot = simulate_arm(
        w.shop, pre, Arm("popularity", w.models["popularity"]), 10,
        history_before(w.history, w.n_days - 28), rng=7, exact=False,
    ).visits  # fmt: skip
    units = traffic.units()
    cov = per_customer(pilot).set_index("unit_id")["clicks"].reindex(units).fillna(0.0)
    return out, units, cov.to_numpy()


def test_vectorised_pvalues_equal_the_single_experiment_tests(rng):
    a, b = rng.exponential(2.0, 300), rng.exponential(2.3, 250)
    p, d, se = cal.welch_pvalues(
        np.array([300.0]), np.array([a.sum()]), np.array([(a * a).sum()]),
        np.array([250.0]), np.array([b.sum()]), np.array([(b * b).sum()]),
    )  # fmt: skip
    assert p[0] == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)
    pp, _ = cal.proportion_pvalues(np.array([400.0]), np.array([52.0]), np.array([380.0]), 31.0)
    assert pp[0] == pytest.approx(proportions_ztest([52, 31], [400, 380])[1])


def test_aa_false_positive_rate_is_alpha(pools):
    out, units, _ = pools
    pc = per_customer(out["popularity"])
    rev = cal.aa_rejection_rate(pc["revenue"], n_sims=10000, seed=1)
    conv = cal.aa_rejection_rate(pc["converted"], n_sims=10000, kind="proportion", seed=2)
    clicks = cal.aa_rejection_rate(pc["clicks"], n_sims=10000, seed=3)
    for res in (rev, conv, clicks):
        assert 0.04 <= res["rate"] <= 0.06, res


def test_peeking_inflates_and_msprt_holds(pools):
    out, units, _ = pools
    v = out["popularity"]
    days = np.unique(v["day"])
    cum = cumulative_by_day(v, "clicks", units, days)
    first = np.searchsorted(days, per_customer(v).set_index("unit_id")["first_day"].loc[units])
    res = cal.peeking_rejection_rates(cum, first, tau=0.1, n_sims=2000, seed=4)
    assert 0.03 <= res["naive_final"] <= 0.07
    assert res["naive_any"] > 0.10  # 28 daily looks
    assert res["msprt_any"] <= 0.05


def test_empirical_power_matches_the_design_and_cuped_is_unbiased(pools):
    out, units, cov = pools
    yc = per_customer(out["popularity"]).set_index("unit_id")["clicks"].loc[units].to_numpy()
    yt = per_customer(out["ease"]).set_index("unit_id")["clicks"].loc[units].to_numpy()
    n = pw.sample_size_mean(yc.std(), yt.mean() - yc.mean(), sd_treatment=yt.std())
    res = cal.power_check(yc, yt, n, covariate=cov, n_sims=10000, seed=5)
    assert res.design_power == pytest.approx(0.8, abs=0.01)
    assert abs(res.empirical_power - res.design_power) <= 0.03
    assert res.cuped_variance_ratio == pytest.approx(1 - res.rho**2, abs=0.03)
    assert abs(res.cuped_bias_z) < 3
    assert res.cuped_power > res.empirical_power
