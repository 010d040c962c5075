"""The stage's two studies end to end on the small shop (and its log without the shop)."""

from __future__ import annotations

import numpy as np
import pytest

from recnb.experiments.stage import (
    StudySettings,
    log_pilot,
    run_log_study,
    run_shop_study,
    shop_tables,
)
from recnb.reporting.narrative import experiments as nar

SETTINGS = StudySettings(
    control="popularity",
    policies=["random", "popularity", "item_knn"],
    max_days=14,
    n_simulations=300,
    n_bootstrap=100,
    ope_seeds=1,
    novelty_case=False,
)


@pytest.fixture(scope="module")
def shop_study(experiment_world):
    w = experiment_world
    messages = []
    res = run_shop_study(
        w.shop, w.dataset, w.train, w.test, SETTINGS, None, None, "ease", w.unit_id, 7,
        progress=messages.append,
    )  # fmt: skip
    return res, messages


def test_shop_study_runs_every_part(shop_study):
    res, messages = shop_study
    assert res.treatment == "ease" and res.control == "popularity"
    assert res.policies == [
        "random", "popularity", "item_knn", "ease", "ease+PL", "ease+eps", "ease+debias",
    ]  # fmt: skip
    assert len(messages) >= 6
    assert res.design.days <= 14
    assert res.ab.primary == "revenue_per_visitor"
    assert "revenue_per_visitor_cuped" in set(res.ab.metrics["metric"])
    assert set(res.ab.guardrails["guardrail"]) == {"conversion", "ctr", "fairness_gap"}
    # every deterministic policy but the control (the stochastic variants are not interleaved)
    assert list(res.interleaving["treatment"]) == ["random", "item_knn", "ease", "ease+debias"]
    assert set(res.ope.truth["policy"]) >= set(res.policies)
    assert list(res.offline["ndcg"].columns) == res.policies
    assert set(res.agreement_clicks.stats["statistic"]) == {
        "kendall_tau", "spearman", "winner_agreement",
    }  # fmt: skip
    assert res.novelty is None
    tables = shop_tables(res)
    assert {"design", "metrics", "guardrails", "truth", "looks", "calibration", "decision"} <= set(
        tables
    )
    assert "novelty" not in tables and "timing_latency" in tables  # measured: a timing* file
    assert tables["decision"]["verdict"].iloc[0] == res.ab.decision.verdict


def test_narrative_quotes_the_results(shop_study):
    res, _ = shop_study
    summary = nar.stakeholder_summary(
        res.ab, res.design, res.agreement_revenue.stats, res.interleaving
    )
    assert "ease" in summary and "popularity" in summary
    assert res.ab.decision.reasons[0] in summary
    lift = res.ab.metrics.set_index("metric").loc["revenue_per_visitor_cuped", "lift"]
    assert f"{100 * lift:+.1f}%" in summary
    for text in (
        nar.describe_design(res.design, res.control, res.treatment),
        nar.describe_srm(res.ab.srm),
        nar.describe_decision(res.ab),
        nar.describe_monitoring(res.ab),
        nar.describe_calibration(res.calibration, 0.05),
        nar.describe_interleaving(res.interleaving),
        nar.describe_ope(res.ope.summary, res.ope.truth),
        nar.describe_agreement(
            res.agreement_clicks.stats, res.agreement_clicks.table, "NDCG@10", "clicks"
        ),
    ):
        assert text and "nan" not in text.lower()


def test_log_study_plans_and_gates_without_a_shop(experiment_world):
    w = experiment_world
    pilot = log_pilot(w.dataset.events, 14)
    assert set(pilot.columns) == {"unit_id", "day", "revenue", "purchases", "clicks", "events"}
    assert pilot["day"].between(0, 13).all()
    buys = w.dataset.events[w.dataset.events["event"] == "purchase"]
    last = buys[buys["timestamp"] >= pilot_start(w.dataset.events, 14)]
    assert pilot["purchases"].sum() == len(last)
    res = run_log_study(w.dataset, SETTINGS)
    assert res.metric == "revenue_per_visitor"
    assert not res.srm.mismatch
    n = sum(res.srm.observed)
    assert res.srm_sensitivity == pytest.approx(np.sqrt(10.8276 * 0.25 / n), rel=1e-3)
    assert "propensities" in res.ope_note
    text = nar.describe_log_study(res, "online_retail")
    assert "skips everything that needs the ground truth" in text
    assert f"{res.design.n_control + res.design.n_treatment:,} customers" in text
    assert "nan" not in text.lower() and res.ope_note in text


def pilot_start(events, days):
    import pandas as pd

    ts = pd.to_datetime(events["timestamp"])
    return ts.max().normalize() + pd.Timedelta(days=1) - pd.Timedelta(days=days)


def test_log_study_falls_back_when_the_log_has_no_purchases(experiment_world):
    w = experiment_world
    ds = w.dataset
    no_buys = type(ds)(
        name=ds.name,
        customers=ds.customers,
        products=ds.products,
        events=ds.events[ds.events["event"] != "purchase"],
    )
    res = run_log_study(no_buys, SETTINGS)
    assert res.metric == "events_per_visitor"
