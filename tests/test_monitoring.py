"""Monitoring (issue 14, notebook 07): drift statistics and alarms, the simulated deployment, the
champion/challenger gate and the registry file."""

from __future__ import annotations

import json
import multiprocessing as mp

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from recnb.data.synthetic import make_shop
from recnb.models.base import Recommender
from recnb.models.registry import make_model
from recnb.monitoring.deployment import (
    _period_truth,
    build_interactions,
    fairness_alerts,
    group_gap,
    list_churn,
    simulate_deployment,
)
from recnb.monitoring.drift import (
    alarm_summary,
    daily_counts,
    drift_scores,
    first_alarm_day,
    js_divergence,
    psi,
    smoothed_shares,
)
from recnb.monitoring.gate import (
    ab_test,
    assign_arms,
    decide,
    fairness_guardrail,
    noninferiority,
    offline_recall,
)
from recnb.monitoring.registry import (
    RegistryError,
    append_record,
    config_hash,
    read_registry,
    registry_path,
)
from recnb.monitoring.signals import event_days, input_counts

ALERT_RATE = 0.01
SHIFT_DAY = 45


# ---- statistics ------------------------------------------------------------------------------


def test_psi_known_value():
    # p = (0.5, 0.5), q = (0.25, 0.75): (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5)
    expected = -0.25 * np.log(0.5) + 0.25 * np.log(1.5)
    assert psi([50, 50], [25, 75], eps=0.0) == pytest.approx(expected, rel=1e-12)
    assert psi([3, 7, 0], [30, 70, 0]) == pytest.approx(0.0, abs=1e-15)


def test_js_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.integers(0, 50, 6), rng.integers(0, 50, 6)
        a[0] += 1
        b[0] += 1
        p, q = smoothed_shares(a), smoothed_shares(b)
        assert js_divergence(a, b) == pytest.approx(jensenshannon(p, q, base=2) ** 2, abs=1e-12)
    assert js_divergence([1, 0], [0, 1], eps=0.0) == pytest.approx(1.0)


def test_smoothing_keeps_empty_bins_finite():
    assert np.isfinite(psi([10, 0], [5, 5]))
    assert np.isinf(psi([10, 0], [5, 5], eps=0.0))
    with pytest.raises(ValueError, match="counts"):
        smoothed_shares([1, -1])
    s = smoothed_shares([[1, 0, 3], [0, 0, 2]], eps=0.01)
    assert np.allclose(s.sum(axis=1), 1.0)


def test_daily_counts_fills_missing_days_and_rejects_unknown_bins():
    t = daily_counts([0, 0, 2], ["a", "b", "a"], ["a", "b"], range(0, 4))
    assert t.to_numpy().tolist() == [[1, 1], [0, 0], [1, 0], [0, 0]]
    with pytest.raises(ValueError, match="'c' is not one of the bins"):
        daily_counts([0], ["c"], ["a", "b"])


def test_dispersion_null_is_calibrated_on_multinomial_days():
    """On independent multinomial days (no over-dispersion) the alarm rate is near alpha."""
    rng = np.random.default_rng(1)
    p = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
    table = pd.DataFrame(rng.multinomial(2000, p, size=400), index=pd.RangeIndex(400, name="day"))
    s = drift_scores(table, reference_days=28, alert_rate=0.05, statistics=("psi",))
    rate = s["alarm"].mean()
    assert 0.01 <= rate <= 0.09, rate
    assert s["dispersion"].median() < 1.3


# ---- drift on the shop -----------------------------------------------------------------------


def _shop_drift(seed: int, shift_day: int | None) -> pd.DataFrame:
    shop, ds = make_shop(
        n_customers=2500, n_products=600, n_days=70, seed=seed, shift_day=shift_day
    )
    counts = input_counts(ds.events, ds.products, ds.customers, start=shop.config.start)
    return drift_scores(counts, reference_days=28, alert_rate=ALERT_RATE)


@pytest.fixture(scope="module")
def stationary_scores() -> list[pd.DataFrame]:
    return [_shop_drift(seed, None) for seed in (11, 12, 13)]


def test_planted_shift_alarms_on_its_day_and_not_before():
    scores = _shop_drift(11, SHIFT_DAY)
    assert first_alarm_day(scores) == SHIFT_DAY
    assert first_alarm_day(scores, "category_mix") == SHIFT_DAY
    before = scores[scores["day"] < SHIFT_DAY]
    assert len(before["day"].unique()) >= 10 and not before["alarm"].any()


def test_stationary_shop_alarms_no_more_than_nominal(stationary_scores):
    per_day = pd.concat([s.groupby("day")["alarm"].any().reset_index() for s in stationary_scores])[
        "alarm"
    ]
    n, alarms = len(per_day), int(per_day.sum())
    assert n >= 100
    # the rate is not significantly above the nominal daily budget
    assert stats.binomtest(alarms, n, ALERT_RATE, alternative="greater").pvalue > 0.05
    summary = alarm_summary(stationary_scores[0])
    assert summary.loc[summary["feature"] == "any", "nominal"].item() == pytest.approx(ALERT_RATE)


def test_sessions_are_overdispersed_so_a_multinomial_threshold_would_cry_wolf():
    """Events of a session are not independent: counted per event, the measured dispersion is
    well above 1 and a threshold assuming independent events (dispersion 1) alarms far above the
    nominal rate; counting each customer-day once removes most of it."""
    shop, ds = make_shop(n_customers=2500, n_products=600, n_days=70, seed=11)
    disp = {}
    for per_day in (False, True):
        counts = input_counts(
            ds.events, ds.products, ds.customers, start=shop.config.start, per_customer_day=per_day
        )
        s = drift_scores(counts, alert_rate=ALERT_RATE, statistics=("psi",), null="dispersion")
        cat = s[s["feature"] == "category_mix"]
        disp[per_day] = cat["dispersion"].median()
        if not per_day:
            naive = cat["threshold"] / cat["dispersion"]
            assert (cat["value"] > naive).mean() > 5 * cat["alpha"].iloc[0]
    assert disp[False] > 3.0 and disp[True] < disp[False] / 2


def test_new_customer_share_uses_signup_dates():
    events = pd.DataFrame(
        {
            "customer_id": ["a", "b", "b"],
            "product_id": ["p", "p", "p"],
            "timestamp": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-03"]),
            "event": ["view", "view", "view"],
        }
    )
    customers = pd.DataFrame(
        {"customer_id": ["a", "b"], "signup_date": pd.to_datetime(["2025-12-31", "2025-01-01"])}
    )
    products = pd.DataFrame({"product_id": ["p"], "category": ["home/kitchen"]})
    c = input_counts(events, products, customers, new_days=30)
    assert c["new_customer_share"].loc[0].tolist() == [1, 1]
    assert c["new_customer_share"].loc[2].tolist() == [0, 1]
    assert c["category_mix"].columns.tolist() == ["home"]
    assert event_days(events["timestamp"]).tolist() == [0, 0, 2]


# ---- deployment ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def drill():
    shop, ds = make_shop(n_customers=2500, n_products=600, n_days=63, seed=5, shift_day=42)
    return shop, ds


def _als() -> Recommender:
    return make_model("als", factors=16, iterations=8, random_state=0, num_threads=1)


@pytest.fixture(scope="module")
def deployment(drill):
    shop, ds = drill
    return simulate_deployment(
        ds.events,
        ds.products,
        ds.customers,
        _als,
        start=shop.config.start,
        warmup_days=28,
        period_days=7,
        retrain_every=2,
    )


def test_deployment_periods(deployment):
    per = deployment.periods
    assert set(per["strategy"]) == {"scheduled", "frozen"}
    sched = per[per["strategy"] == "scheduled"].set_index("period")
    frozen = per[per["strategy"] == "frozen"].set_index("period")
    assert sched["retrained"].tolist() == [True, False, True, False, True]
    assert sched["model_age_days"].tolist() == [0, 7, 0, 7, 0]
    assert frozen["model_age_days"].tolist() == [0, 7, 14, 21, 28]
    # a model that is not retrained serves the same lists: no churn; a retrained one changes them
    assert (frozen["churn"].iloc[1:] == 0).all()
    assert (sched.loc[[2, 4], "churn"] > 0.1).all() and (sched.loc[[1, 3], "churn"] == 0).all()
    for col in ("precision", "recall", "ndcg", "coverage", "gini"):
        assert per[col].between(0, 1).all(), col
    assert (per["arp"] > 0).all()
    assert deployment.exposure.index.tolist() == list(range(28, 63))


def test_period_truth_excludes_seen_and_views(drill):
    shop, ds = drill
    day = event_days(ds.events["timestamp"], shop.config.start)
    model = make_model("popularity").fit(build_interactions(ds.events[day < 30]))
    ev = ds.events[(day >= 30) & (day < 37)]
    cust = np.unique(ev["customer_id"].astype(str))
    truth = _period_truth(ev, model, cust, ("purchase",))
    assert truth.nnz > 0
    cidx = model.customer_indices(cust)
    rows, cols = truth.nonzero()
    known = cidx[rows] >= 0
    assert model.seen_[cidx[rows][known], cols[known]].sum() == 0
    n_purch = (ev["event"] == "purchase").sum()
    assert truth.nnz <= n_purch


def test_group_gap_matches_fairlearn():
    from fairlearn.metrics import MetricFrame

    rng = np.random.default_rng(3)
    v = rng.random(600)
    g = rng.choice(["x", "y", "z"], 600)
    v[g == "z"] += 0.2
    ours = group_gap(v, g, min_group_size=1, n_boot=50)
    mf = MetricFrame(
        metrics=lambda y_true, y_pred: float(np.mean(y_pred)),
        y_true=v,
        y_pred=v,
        sensitive_features=g,
    )
    assert ours["gap"] == pytest.approx(mf.difference(), abs=1e-12)
    assert ours["worst_group"] == str(mf.by_group.idxmin())
    assert ours["ci_low"] <= ours["gap"] <= ours["ci_high"]


def test_list_churn():
    prev = {"a": np.array(["p1", "p2"]), "b": np.array(["p1", "p2"])}
    cur = {"a": np.array(["p2", "p1"]), "b": np.array(["p1", "p3"]), "c": np.array(["p9"])}
    assert list_churn(prev, cur) == pytest.approx(0.25)
    assert np.isnan(list_churn({}, cur))


def test_fairness_alert_fires_on_a_material_significant_growth_only():
    per = pd.DataFrame(
        {
            "strategy": ["s"] * 3,
            "period": [0, 1, 2],
            "group_gap": [0.02, 0.03, 0.09],
            "gap_se": [0.005, 0.005, 0.005],
        }
    )
    alerts = fairness_alerts(per, margin=0.02)
    assert alerts["alarm"].tolist() == [False, False, True]


# ---- gate ------------------------------------------------------------------------------------


def test_noninferiority_known_cases():
    rng = np.random.default_rng(0)
    a = rng.random(2000)
    same = noninferiority(a, a + rng.normal(0, 0.01, 2000), margin=0.05)
    assert same["passed"]
    worse = noninferiority(a, a - 0.1, margin=0.05)
    assert not worse["passed"] and worse["difference"] == pytest.approx(-0.1)


def test_fairness_guardrail_flags_a_widened_gap():
    rng = np.random.default_rng(1)
    g = rng.choice(["x", "y"], 3000)
    a = rng.random(3000)
    b = a.copy()
    b[g == "y"] -= 0.1
    res = fairness_guardrail(a, b, g, margin=0.02, n_boot=200)
    assert not res["passed"] and res["change"] > 0.05
    assert fairness_guardrail(a, a.copy(), g, margin=0.02, n_boot=200)["passed"]


def test_assign_arms_is_stable_and_balanced():
    units = np.array([f"u{i}" for i in range(4000)], dtype=object)
    a = assign_arms(units, "s")
    assert np.array_equal(a, assign_arms(units, "s"))
    assert abs(a.mean() - 0.5) < 0.03
    assert not np.array_equal(a, assign_arms(units, "other"))


def test_decide():
    rows = pd.DataFrame(
        {
            "challenger": ["worse", "unfair", "loser", "good", "better"],
            "noninferior": [False, True, True, True, True],
            "fair": [True, False, True, True, True],
            "ab_won": [np.nan, np.nan, False, True, True],
            "ab_uplift": [np.nan, np.nan, -0.01, 0.01, 0.02],
        }
    )
    winner, out = decide(rows, ab_available=True)
    assert winner == "better"
    assert out["decision"].tolist() == [
        "rejected",
        "rejected",
        "rejected",
        "not promoted",
        "promoted",
    ]
    winner, out = decide(rows, ab_available=False)
    assert winner is None and out["decision"].iloc[-1] == "not promoted"


def test_deliberately_worse_candidate_is_rejected(drill):
    """A random recommender as the challenger: it fails the offline gate, and were it A/B tested
    anyway it would lose."""
    shop, ds = drill
    day = event_days(ds.events["timestamp"], shop.config.start)
    cut = 56
    train = build_interactions(ds.events[day < cut])
    hold = ds.events[day >= cut]
    models = {
        "champion": _als().fit(train),
        "random": make_model("random", random_state=0).fit(train),
    }
    cust = np.unique(hold["customer_id"].astype(str))
    rel = ("click", "add_to_cart", "wishlist", "purchase")
    rec = offline_recall(models, cust, lambda m: _period_truth(hold, m, cust, rel), 10)
    ni = noninferiority(rec["champion"].to_numpy(), rec["random"].to_numpy(), margin=0.05)
    assert not ni["passed"]
    ab = ab_test(
        shop, models["champion"], models["random"], range(63, 70), history=shop.log_history()
    )
    assert not ab["won"] and ab["exact_clicks_b"] < ab["exact_clicks_a"]
    assert ab["visits_a"] + ab["visits_b"] == len(shop.visits(range(63, 70)))
    rows = pd.DataFrame(
        {
            "challenger": ["random"],
            "noninferior": [ni["passed"]],
            "fair": [True],
            "ab_won": [ab["won"]],
            "ab_uplift": [ab["uplift"]],
        }
    )
    winner, out = decide(rows, ab_available=True)
    assert winner is None and out["decision"].item() == "rejected"


# ---- registry --------------------------------------------------------------------------------


def _append(args):
    run_dir, i = args
    return append_record(run_dir, {"config_hash": "h", "data_fingerprint": "d", "seed": i})[
        "version"
    ]


def test_registry_appends_versions_and_exports_the_champion(tmp_path, drill):
    shop, ds = drill
    model = make_model("popularity").fit(build_interactions(ds.events.head(5000)))
    cfg = {"k": 10, "model": "popularity"}
    r1 = append_record(
        tmp_path, {"config_hash": config_hash(cfg), "data_fingerprint": "abc", "seed": 1}
    )
    r2 = append_record(
        tmp_path, {"config_hash": config_hash(cfg), "data_fingerprint": "abc", "seed": 1}, model
    )
    assert (r1["version"], r2["version"]) == (1, 2)
    assert config_hash(cfg) == config_hash({"model": "popularity", "k": 10})
    recs = read_registry(tmp_path)
    assert [r["version"] for r in recs] == [1, 2]
    assert recs[1]["packages"]["numpy"] == np.__version__
    loaded = Recommender.load(tmp_path / recs[1]["champion"]["path"])
    ids = model.customer_ids_[:20]
    pd.testing.assert_frame_equal(loaded.recommend(ids, k=5), model.recommend(ids, k=5))
    with pytest.raises(ValueError, match="seed"):
        append_record(tmp_path, {"config_hash": "h", "data_fingerprint": "d"})


def test_registry_concurrent_appends_get_distinct_versions(tmp_path):
    ctx = mp.get_context("spawn")
    with ctx.Pool(4) as pool:
        versions = pool.map(_append, [(str(tmp_path), i) for i in range(12)])
    assert sorted(versions) == list(range(1, 13))
    lines = registry_path(tmp_path).read_text().splitlines()
    assert sorted(json.loads(x)["seed"] for x in lines) == list(range(12))


def test_registry_damaged_line_is_named_and_nothing_appended(tmp_path):
    append_record(tmp_path, {"config_hash": "h", "data_fingerprint": "d", "seed": 0})
    path = registry_path(tmp_path)
    with open(path, "a") as fh:
        fh.write('{"format": "recnb-registry/1", "vers')
    before = path.read_bytes()
    with pytest.raises(RegistryError, match="line 2 is incomplete"):
        append_record(tmp_path, {"config_hash": "h", "data_fingerprint": "d", "seed": 1})
    assert path.read_bytes() == before


# ---- stage settings and building blocks ------------------------------------------------------


def test_monitoring_settings_name_the_bad_key():
    from recnb.workflow.settings import MonitoringSettings

    assert MonitoringSettings().champion["model"] == "als"
    with pytest.raises(ValueError, match="challengers.knn.model': unknown model 'nope'"):
        MonitoringSettings(challengers={"knn": {"model": "nope"}})
    with pytest.raises(ValueError, match="champion.factorz"):
        MonitoringSettings(champion={"model": "als", "factorz": 3})
    with pytest.raises(ValueError, match="reserved"):
        MonitoringSettings(challengers={"champion": {"model": "popularity"}})


def test_gate_without_a_shop_promotes_nobody(drill):
    from recnb.monitoring.stage import champion_challenger

    shop, ds = drill
    res = champion_challenger(
        ds.events,
        ds.customers,
        {"model": "als", "factors": 16, "iterations": 8},
        {
            "random": {"model": "random"},
            "als_again": {"model": "als", "factors": 16, "iterations": 8},
        },
        start=shop.config.start,
        n_boot=50,
    )
    assert res.winner is None and not res.ab_available
    t = res.table.set_index("challenger")
    assert t.loc["random", "decision"] == "rejected"
    # the same configuration and seed: identical lists, non-inferior, never promoted offline
    assert t.loc["als_again", "recall_difference"] == 0.0
    assert t.loc["als_again", "decision"] == "not promoted"


def test_narrative_sentences_follow_the_numbers():
    from recnb.reporting.narrative import monitoring as text

    scores = pd.DataFrame({"day": [10, 11, 12, 13, 14], "alarm": [False, True, False, True, True]})
    s = text.drift_sentence(scores, 13)
    assert "raised the alarm on that same day" in s and "1 of 3 monitored days" in s
    assert "day 11" in s
    late = text.drift_sentence(scores.assign(alarm=[False, False, False, False, True]), 13)
    assert "detected on day 14 (a delay of 1 days)" in late and "No day before it" in late
    summary = pd.DataFrame(
        [
            {
                "feature": "any",
                "days": 50,
                "alarm_days": 0,
                "rate": 0.0,
                "ci_low": 0.0,
                "ci_high": 0.07,
                "nominal": 0.01,
            }
        ]
    )
    assert "within the false-alarm budget of 1.0%" in text.stationary_sentence(summary, "Log")


def test_drift_monitor_leaves_out_a_partial_last_day(drill):
    from recnb.monitoring.stage import drift_monitor

    shop, ds = drill
    counts, scores = drift_monitor(ds, shop.config.start, reference_days=14)
    assert counts["event_mix"].index.max() == shop.config.n_days - 1
    assert scores["day"].max() == shop.config.n_days - 1


def test_a_single_category_feature_is_not_scored():
    table = pd.DataFrame({"purchase": np.full(40, 100.0)}, index=pd.RangeIndex(40, name="day"))
    other = pd.DataFrame(
        np.random.default_rng(0).multinomial(500, [0.5, 0.5], size=40),
        index=pd.RangeIndex(40, name="day"),
    )
    s = drift_scores({"event_mix": table, "other": other}, reference_days=14)
    assert set(s["feature"]) == {"other"}


def test_serving_model_exports_the_signal_it_was_trained_on(tmp_path):
    """Observed: stage 07's champion could not be served (saved with Recommender.save only), and
    build_interactions recorded no signal, so an export of a model fitted on it would have told
    the service every event weighs 1. Now the export carries the weights the matrix was built with:
    the service, given a customer's events one by one, rebuilds that customer's training row."""
    from recnb.monitoring.stage import serving_model
    from recnb.prep.weighting import DEFAULT_EVENT_WEIGHTS
    from recnb.serving import export_model, find_export, load_export
    from recnb.serving.history import HistoryOverlay, NewEvent

    rng = np.random.default_rng(3)
    n = 3000
    events = pd.DataFrame(
        {
            "customer_id": [f"c{i:03d}" for i in rng.integers(0, 120, n)],
            "product_id": [f"p{i:03d}" for i in rng.integers(0, 60, n)],
            "event": rng.choice(
                ["view", "click", "add_to_cart", "purchase"], n, p=[0.6, 0.2, 0.1, 0.1]
            ),
        }
    )
    spec = {"model": "als", "factors": 8, "iterations": 3}
    model, train = serving_model(events, spec, seed=5)
    assert model.name == "als" and model.get_params()["random_state"] == 5
    export_model(model, tmp_path, "champion", train=train, label="champion")
    e = load_export(find_export(tmp_path))
    assert e.folder == tmp_path / "models" / "champion"
    assert e.spec.signal.event_weights == DEFAULT_EVENT_WEIGHTS
    assert e.spec.history_updates == "rescored"
    # a customer unknown to the export sends its events: the service's history is its row of the
    # matrix built from all events
    who = "c007"
    products = {str(p): j for j, p in enumerate(model.product_ids_)}
    overlay = HistoryOverlay(e.history[:0], {}, products, e.spec.signal)
    mine = events[events["customer_id"] == who]
    overlay.apply(
        NewEvent(seq, who, r.product_id, r.event)
        for seq, r in enumerate(mine.itertuples(index=False), start=1)
    )
    row = train.customer_ids.tolist().index(who)
    np.testing.assert_allclose(
        overlay.history(who).toarray(), train.matrix[row].toarray(), rtol=1e-6
    )


def test_ab_test_is_clustered_by_customer():
    """Observed: the A/B gate ran a two-proportion z-test over visits while customers are the
    randomisation unit; one customer's visits are correlated, so A/A splits "won" far more often
    than alpha. The clustered test (delta method on per-customer sums) holds its level, and it is
    the formula of recnb.experiments.stats.ratio_test."""
    from statsmodels.stats.proportion import proportions_ztest

    from recnb.experiments.stats import ratio_test
    from recnb.monitoring.gate import clustered_ctr_test

    rng = np.random.default_rng(11)
    n = 2000
    rate = rng.beta(1.0, 1.0, n)  # customers differ a lot in how often they click
    visits = rng.poisson(6.0, n) + 1
    clicks = rng.binomial(visits, rate).astype(float)
    visits = visits.astype(float)
    naive = clustered = 0
    n_tests = 300
    for _ in range(n_tests):  # A/A: both arms serve the same thing
        b = rng.random(n) < 0.5
        res = clustered_ctr_test(clicks[b], visits[b], clicks[~b], visits[~b])
        clustered += res["p_value"] < 0.05
        _, p = proportions_ztest(
            [clicks[b].sum(), clicks[~b].sum()],
            [visits[b].sum(), visits[~b].sum()],
            alternative="larger",
        )
        naive += p < 0.05
    assert clustered / n_tests < 0.09  # nominal 5%, with room for 300 draws
    assert naive / n_tests > 0.12  # the visit-level test is anti-conservative here
    ref = ratio_test(clicks[b], visits[b], clicks[~b], visits[~b])
    assert res["uplift"] == pytest.approx(ref.diff)
    assert res["se"] == pytest.approx(ref.se)
    one_sided = ref.p_value / 2 if ref.diff > 0 else 1 - ref.p_value / 2
    assert res["p_value"] == pytest.approx(one_sided)


def test_gate_reasons_quote_the_figures_of_every_failed_gate():
    rows = pd.DataFrame(
        [
            {
                "challenger": "both_bad",
                "noninferior": False,
                "fair": False,
                "recall_champion": 0.11,
                "recall_challenger": 0.085,
                "difference_lower_bound": -0.0296,
                "allowed_loss": 0.0055,
                "gap_champion": 0.028,
                "gap_challenger": 0.05,
                "gap_change_upper_bound": 0.031,
                "allowed_gap_growth": 0.02,
                "ab_won": np.nan,
                "ab_uplift": np.nan,
            },
            {
                "challenger": "lost_ab",
                "noninferior": True,
                "fair": True,
                "ctr_champion": 0.74,
                "ctr_challenger": 0.743,
                "p_ab": 0.35,
                "ab_detectable": 0.022,
                "ab_won": False,
                "ab_uplift": 0.003,
            },
        ]
    )
    winner, out = decide(rows, ab_available=True)
    assert winner is None
    r = out.set_index("challenger")["reason"]
    assert "recall 0.0850 against the champion's 0.1100 (-22.7%)" in r["both_bad"]
    assert "allowed loss of -0.0055" in r["both_bad"]
    assert "from 0.028 to 0.050" in r["both_bad"] and "+0.031, exceeds" in r["both_bad"]
    assert "guardrail of 0.020" in r["both_bad"]
    assert "p = 0.35" in r["lost_ab"] and "detect a gain of about 0.022" in r["lost_ab"]
