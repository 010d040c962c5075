"""Candidate lists, the per-customer table, trade-off curves, the recommended setting, decorrelation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recnb.fairness.audit import (
    candidates_table,
    category_codes,
    per_customer_table,
    read_candidates,
)
from recnb.fairness.mitigation import (
    MitigationInputs,
    available_methods,
    decorrelate_features,
    recommend_settings,
    selection_split,
    target_values,
    tradeoff,
)
from recnb.metrics import aplt, long_tail_mask, ranking_metric_arrays


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    n_c, n_p, c = 400, 120, 40
    pop = rng.pareto(1.2, n_p) + 0.1
    train = sp.csr_matrix((rng.random((n_c, n_p)) < 0.1 * pop / pop.mean()).astype(float))
    test = sp.csr_matrix((rng.random((n_c, n_p)) < 0.05 * pop / pop.mean()).astype(float))
    scores_full = np.log(pop)[None, :] + rng.normal(0, 1, (n_c, n_p))
    scores_full[train.toarray() > 0] = -np.inf
    cand = np.argsort(-scores_full, axis=1, kind="stable")[:, :c]
    scores = np.take_along_axis(scores_full, cand, axis=1)
    cand[rng.random(n_c) < 0.05, 30:] = -1  # a few short lists
    scores = np.where(cand >= 0, scores, np.nan)
    cats = rng.integers(0, 5, n_p)
    # small sellers sell the less popular products, as in a real catalogue
    sellers = (pop + rng.random(n_p) * 0.5 < np.median(pop) + 0.25).astype(np.int64)
    return train, test, cand, scores, cats, sellers


def test_candidates_round_trip(world):
    _, _, cand, scores, _, _ = world
    cidx = np.arange(100, 100 + len(cand))
    table = candidates_table(
        {"m": (cand, scores), "p": (cand[:, ::-1][:, :5] * 0 + cand[:, :5], scores[:, :5])}, cidx
    )
    assert list(table.columns) == ["model", "customer_row", "rank", "product", "score"]
    back = read_candidates(table)
    np.testing.assert_array_equal(back.customer_idx, cidx)
    np.testing.assert_array_equal(back.items["m"], cand)
    np.testing.assert_allclose(back.scores["m"], scores.astype(np.float32), equal_nan=True)
    assert back.items["p"].shape == (len(cand), 5)
    assert read_candidates(table, ["m"], n_candidates=10).items["m"].shape[1] == 10
    with pytest.raises(ValueError, match="no lists"):
        read_candidates(table, ["zz"])


def test_per_customer_table_matches_the_metrics(world):
    train, test, cand, _, cats, _ = world
    cidx = np.arange(len(cand))
    t = per_customer_table({"m": cand}, cidx, train, test, 10, item_categories=cats)
    nd = ranking_metric_arrays(cand[:, :10], test, ks=(10,), metrics=["ndcg"])[("ndcg", 10)]
    np.testing.assert_array_equal(t[("m", "ndcg")].to_numpy(), nd)
    np.testing.assert_array_equal(t[("m", "aplt")].to_numpy(), aplt(cand[:, :10], train))
    assert (t[("m", "calibration_kl")].dropna() >= 0).all()
    assert set(t.columns.get_level_values("metric")) == {
        "ndcg", "recall", "hit_rate", "mrr", "arp", "aplt", "popularity_lift", "calibration_kl"
    }  # fmt: skip


def _inputs(world):
    train, _, _, _, cats, sellers = world
    return MitigationInputs(
        train_rows=train,
        long_tail=long_tail_mask(train),
        sellers=sellers,
        categories=cats,
        weights=1.0 / np.log2(np.arange(2, 12)),
    )


def test_tradeoff_strength_zero_is_the_reference(world):
    _, test, cand, scores, _, _ = world
    inputs = _inputs(world)
    sel = selection_split(len(cand), 3)
    assert sel.sum() == len(cand) // 2
    t = tradeoff(
        "m",
        cand,
        scores,
        test,
        inputs,
        available_methods(inputs),
        [0.5, 1.0],
        10,
        sel,
        [0.3],
        n_boot=100,
    )
    zero = t[t["strength"] == 0]
    assert len(zero) == 4
    assert (zero["ndcg_change"] == 0).all() and (zero["value_change"] == 0).all()
    assert (zero[["ndcg_change_ci_low", "ndcg_change_ci_high"]].abs().to_numpy() < 1e-12).all()
    # each method moves its target the right way at full strength
    full = t[t["strength"] > 0].set_index(["method", "strength"])
    assert full.loc[("xquad_popularity", 1.0), "value_change"] > 0
    assert full.loc[("xquad_sellers", 1.0), "value_change"] > 0
    assert full.loc[("calibration", 1.0), "value_change"] < 0
    assert full.loc[("fair_sellers", 0.3), "value_change"] >= 0
    # intervals contain their estimates
    for col in ("ndcg", "value", "ndcg_change", "value_change"):
        assert (t[f"{col}_ci_low"] <= t[col] + 1e-12).all() and (
            t[col] <= t[f"{col}_ci_high"] + 1e-12
        ).all()


def test_target_values_known():
    inputs = MitigationInputs(
        train_rows=sp.csr_matrix((2, 4)),
        long_tail=np.array([False, False, True, True]),
        sellers=np.array([0, 1, 1, -1]),
        categories=np.array([0, 0, 1, 1]),
        weights=np.array([1.0, 0.5]),
    )
    lists = np.array([[0, 2], [3, -1]])
    np.testing.assert_allclose(target_values("xquad_popularity", lists, inputs), [0.5, 1.0])
    np.testing.assert_allclose(target_values("fair_sellers", lists, inputs), [0.5, 0.0])
    v = target_values("xquad_sellers", lists, inputs)
    assert v[0] == pytest.approx(0.5 / 1.5) and np.isnan(v[1])


def test_recommended_setting_is_chosen_on_the_selection_half():
    rows = []
    for s, sel_nd, sel_val, rep_val in [
        (0.0, 0, 0, 0),
        (0.5, -0.02, 0.10, 0.08),
        (1.0, -0.2, 0.3, 0.31),
    ]:
        rows.append(
            {
                "model": "m",
                "method": "xquad_popularity",
                "strength": s,
                "selection_ndcg_change": sel_nd,
                "selection_value_change": sel_val,
                "ndcg_change": sel_nd,
                "value_change": rep_val,
                "value_change_ci_low": rep_val - 0.05,
                "value_change_ci_high": rep_val + 0.05,
            }
        )
    t = pd.DataFrame(rows)
    r = recommend_settings(t, max_ndcg_loss=0.05).iloc[0]
    assert r["strength"] == 0.5 and r["mitigated"]
    r = recommend_settings(t, max_ndcg_loss=0.5).iloc[0]
    assert r["strength"] == 1.0
    r = recommend_settings(t, max_ndcg_loss=0.01).iloc[0]
    assert r["strength"] == 0.0 and not r["mitigated"]
    # lower is better for calibration: a falling KL is the improvement
    t2 = t.assign(method="calibration", selection_value_change=-t["selection_value_change"])
    assert recommend_settings(t2, 0.05).iloc[0]["strength"] == 0.5


def test_a_recommended_gain_must_hold_on_the_report_half():
    """Observed on the ci shop: xQuAD towards small sellers was recommended at strength 0.75 (a
    gain on the selection half) while the report half's change was -0.039 (CI -0.074 to 0.000);
    the summary called it the cheapest mitigation."""

    def table(method, rep_low, rep_high):
        return pd.DataFrame(
            {
                "model": "m",
                "method": method,
                "strength": [0.0, 0.75],
                "selection_ndcg_change": [0.0, -0.01],
                "selection_value_change": [0.0, 0.02 if method != "calibration" else -0.02],
                "value_change": [0.0, (rep_low + rep_high) / 2],
                "value_change_ci_low": [0.0, rep_low],
                "value_change_ci_high": [0.0, rep_high],
                "ndcg_change": [0.0, -0.01],
            }
        )

    r = recommend_settings(table("xquad_sellers", -0.074, 0.0)).iloc[0]
    assert r["mitigated"] and not r["confirmed"]
    assert recommend_settings(table("xquad_sellers", 0.01, 0.05)).iloc[0]["confirmed"]
    # lower is better for the calibration KL: a confirmed gain is an interval below 0
    assert recommend_settings(table("calibration", -0.3, -0.1)).iloc[0]["confirmed"]
    assert not recommend_settings(table("calibration", -0.3, 0.1)).iloc[0]["confirmed"]
    # a gain that holds but an NDCG cost beyond the budget on the report half (observed on the
    # ci shop: calibration chosen at -4% on the selection half cost -13.7% on the report half)
    costly = recommend_settings(
        table("calibration", -0.3, -0.1).assign(ndcg_change=[0.0, -0.137]), max_ndcg_loss=0.05
    ).iloc[0]
    assert costly["gain_holds"] and not costly["within_budget"] and not costly["confirmed"]
    # no strength chosen: nothing to confirm
    none = table("xquad_sellers", 0.01, 0.05).assign(selection_ndcg_change=[0.0, -0.5])
    r = recommend_settings(none).iloc[0]
    assert not r["mitigated"] and not r["confirmed"]


def test_decorrelate_features_removes_the_attribute():
    rng = np.random.default_rng(1)
    n = 500
    g = rng.integers(0, 2, n)
    f1 = g * 0.8 + rng.random(n) * 0.2  # strongly tied to gender
    f2 = rng.random(n)
    x = sp.csr_matrix(np.column_stack([g == 0, g == 1, f1, f2]).astype(float))
    out, names = decorrelate_features(
        x, ["gender:f", "gender:m", "rfm:recency", "rfm:frequency"], "gender"
    )
    assert names == ["rfm:recency", "rfm:frequency"]
    dense = out.toarray()
    assert abs(np.corrcoef(dense[:, 0], g)[0, 1]) < 1e-6
    assert abs(np.corrcoef(x.toarray()[:, 2], g)[0, 1]) > 0.9
    with pytest.raises(ValueError, match="age_band"):
        decorrelate_features(x, ["gender:f", "gender:m", "a", "b"], "age_band")


def test_category_codes():
    codes, names = category_codes(["b", None, "a", "b"])
    assert names == ["a", "b", "unknown"]
    np.testing.assert_array_equal(codes, [1, 2, 0, 1])
