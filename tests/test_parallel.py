"""Models on several processes: the same results for any number of workers; a blend's weight
search fits once and scores like refits."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.evaluation import parallel
from recnb.evaluation.evaluate import evaluate_models, evaluation_customers
from recnb.evaluation.specs import model_specs
from recnb.evaluation.tuning import scoring_only, tune_model, tune_models, validation_score


def _parts(seed: int = 3, n_c: int = 90, n_p: int = 40) -> dict[str, Interactions]:
    rng = np.random.default_rng(seed)
    blocks = np.arange(n_c)[:, None] % 3 == np.arange(n_p)[None, :] % 3
    dense = (rng.random((n_c, n_p)) < np.where(blocks, 0.5, 0.08)).astype(np.float32)
    dense *= rng.integers(1, 4, dense.shape).astype(np.float32)
    u = rng.random((n_c, n_p))
    ids_c, ids_p = [f"c{i}" for i in range(n_c)], [f"p{j}" for j in range(n_p)]
    base = Interactions(sp.csr_matrix(dense * (u < 0.6)), ids_c, ids_p)
    return {
        "train_inner": base,
        "valid": base.with_matrix(sp.csr_matrix(dense * ((u >= 0.6) & (u < 0.8)))),
        "train": base.with_matrix(sp.csr_matrix(dense * (u < 0.8))),
        "test": base.with_matrix(sp.csr_matrix(dense * (u >= 0.8))),
    }


MODELS = ["popularity", "item_knn", "als", "bpr", "ease", "blend"]
PARAMS = {
    "als": {"factors": 8, "iterations": 5, "num_threads": 0},
    "bpr": {"factors": 8, "iterations": 20},
    "blend": {"first": "ease", "second": "als"},
}
SPACE = {
    "item_knn": {"n_neighbors": {"low": 2, "high": 30}},
    "als": {"regularization": {"low": 0.01, "high": 10.0, "log": True}},
    "bpr": {"learning_rate": {"low": 0.005, "high": 0.1, "log": True}},
    "ease": {"l2": {"low": 1.0, "high": 500.0, "log": True}},
    "blend": {"weight": {"low": 0.0, "high": 1.0}},
}


def _tune(parts: dict[str, Interactions], n_jobs: int):
    specs = model_specs(MODELS, PARAMS)
    return tune_models(
        specs,
        parts["train_inner"],
        parts["valid"],
        SPACE,
        n_trials=4,
        seed=5,
        n_trials_per_model={"blend": 3},
        n_jobs=n_jobs,
    )


def test_tuning_is_the_same_for_any_number_of_workers():
    parts = _parts()
    serial, two = _tune(parts, 1), _tune(parts, 2)
    pd.testing.assert_frame_equal(serial.history, two.history)
    pd.testing.assert_frame_equal(serial.chosen, two.chosen)
    pd.testing.assert_frame_equal(serial.summary, two.summary)
    assert serial.specs == two.specs
    assert list(two.timing["model"]) == list(serial.timing["model"])
    # the blend searched with the members' chosen values
    blend = next(s for s in two.specs if s.label == "blend")
    assert blend.params["first_params"] == next(s for s in two.specs if s.label == "ease").params


def test_evaluation_is_the_same_for_any_number_of_workers():
    parts = _parts()
    specs = model_specs(MODELS, PARAMS)
    kw = dict(k_values=(5, 10), seed=1, n_bootstrap=50)
    serial = evaluate_models(specs, parts["train"], parts["test"], n_jobs=1, **kw)
    two = evaluate_models(specs, parts["train"], parts["test"], n_jobs=2, **kw)
    pd.testing.assert_frame_equal(serial.summary, two.summary)
    pd.testing.assert_frame_equal(serial.per_customer, two.per_customer)
    pd.testing.assert_frame_equal(serial.segments, two.segments)
    for label in serial.runs:
        np.testing.assert_array_equal(serial.runs[label].topk, two.runs[label].topk)
        # the fitted model came back from its worker and still recommends the same lists
        cidx = serial.customers["customer_row"].to_numpy()
        idx, _ = two.runs[label].model.recommend_indices(cidx, k=10)
        np.testing.assert_array_equal(idx, serial.runs[label].topk)
    assert list(two.timing["model"]) == MODELS
    assert (two.timing["scoring_seconds"] >= 0).all()


def test_a_worker_error_reaches_the_caller():
    parts = _parts()
    specs = model_specs(["item_knn", "als"], {"als": {"factors": 4, "iterations": 2}})
    bad = {
        "item_knn": SPACE["item_knn"],
        "als": {"factors": {"low": -3, "high": -1}},
    }
    with pytest.raises(ValueError, match="factors"):
        tune_models(specs, parts["train_inner"], parts["valid"], bad, n_trials=2, n_jobs=2)


def test_blend_weight_search_fits_once_and_scores_like_refits():
    parts = _parts()
    (spec,) = model_specs(
        ["blend"],
        {
            "blend": {
                "first": "ease",
                "second": "item_knn",
                "first_params": {"l2": 20.0},
                "second_params": {"n_neighbors": 10},
            }
        },
    )
    assert scoring_only("blend", ["weight"])
    assert not scoring_only("blend", ["weight", "first"])
    assert not scoring_only("ease", ["l2"])
    res = tune_model(spec, parts["train_inner"], parts["valid"], SPACE["blend"], n_trials=5, seed=2)
    cidx = evaluation_customers(parts["valid"], None, 2)

    for params, value in zip(res.history["params"], res.history["value"], strict=True):
        refit, _ = validation_score(
            spec.with_params(**json.loads(params)),
            parts["train_inner"],
            parts["valid"],
            cidx,
            seed=2,
        )
        assert value == refit
    # the first trial fits; the others only score
    t = res.timing["seconds"].to_numpy()
    assert t[0] > 0 and (t[1:] < t[0]).all()


def test_resolve_n_jobs(monkeypatch):
    monkeypatch.delenv(parallel.N_JOBS_ENV, raising=False)
    assert parallel.resolve_n_jobs(4) == 4
    assert parallel.resolve_n_jobs(4, n_tasks=2) == 2
    assert parallel.resolve_n_jobs(4, n_tasks=0) == 1
    monkeypatch.setenv(parallel.N_JOBS_ENV, "1")
    assert parallel.resolve_n_jobs(4) == 1
    monkeypatch.setenv(parallel.N_JOBS_ENV, "zero")
    with pytest.raises(ValueError, match=parallel.N_JOBS_ENV):
        parallel.resolve_n_jobs(2)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="n_jobs"):
            parallel.resolve_n_jobs(bad)


def test_time_budget_puts_seconds_beside_quality():
    from recnb.evaluation.cost import TIME_BUDGET_COLUMNS, time_budget

    parts = _parts()
    blend = {"first": "ease", "second": "item_knn", "first_params": {}, "second_params": {}}
    specs = model_specs(["popularity", "item_knn", "blend"], {"blend": blend})
    space = {"item_knn": {"n_neighbors": {"low": 2, "high": 500}}, "blend": SPACE["blend"]}
    tuned = tune_models(specs, parts["train_inner"], parts["valid"], space, n_trials=3, seed=1)
    ev = evaluate_models(tuned.specs, parts["train"], parts["test"], k_values=(10,), n_bootstrap=20)
    b = time_budget(tuned.summary, tuned.timing, ev.timing, ev.summary, "ndcg", 10)
    assert list(b.columns) == [*TIME_BUDGET_COLUMNS, "ndcg@10", "ci_low", "ci_high"]
    assert list(b["model"]) == ["popularity", "item_knn", "blend"]
    row = b.set_index("model")
    assert row.loc["popularity", "trials"] == 0 and row.loc["popularity", "tuning_seconds"] == 0
    assert np.isnan(row.loc["popularity", "seconds_per_trial"])
    assert row.loc["item_knn", "trials"] == 3
    assert row.loc["item_knn", "tuning_seconds"] == pytest.approx(
        tuned.timing.loc[tuned.timing["model"] == "item_knn", "seconds"].sum()
    )
    s = ev.summary[(ev.summary["metric"] == "ndcg") & (ev.summary["k"] == 10)].set_index("model")
    assert row.loc["blend", "ndcg@10"] == s.loc["blend", "value"]
    assert row.loc["blend", "ci_low"] <= row.loc["blend", "ndcg@10"] <= row.loc["blend", "ci_high"]
    total = row[["tuning_seconds", "fit_seconds", "recommend_seconds", "scoring_seconds"]].sum(1)
    np.testing.assert_allclose(row["total_seconds"], total)
    # CPU seconds: the trials' (measured in the searching process), the final fit's and the
    # recommendation's
    assert (tuned.timing["cpu_seconds"] >= 0).all()
    assert (tuned.timing["cpu_seconds"] > 0).any()
    cpu = ev.timing.set_index("model")[["fit_cpu_seconds", "recommend_cpu_seconds"]].sum(1)
    cpu = cpu + tuned.timing.groupby("model")["cpu_seconds"].sum().reindex(cpu.index).fillna(0)
    np.testing.assert_allclose(row["cpu_seconds"], cpu)
    # a timing table without CPU seconds (an older run): NaN for the tuned model only
    old = time_budget(
        tuned.summary, tuned.timing.drop(columns="cpu_seconds"), ev.timing, ev.summary, "ndcg", 10
    ).set_index("model")
    assert np.isnan(old.loc["item_knn", "cpu_seconds"])
    assert old.loc["popularity", "cpu_seconds"] == row.loc["popularity", "cpu_seconds"]
    summ = tuned.summary.set_index("model")
    assert np.isnan(row.loc["popularity", "validation_gain"])
    assert row.loc["item_knn", "validation_gain"] == pytest.approx(
        summ.loc["item_knn", "best_value"] - summ.loc["item_knn", "configured_value"]
    )


def test_workers_know_the_models_registered_outside_recnb_models():
    """Observed in CI: params/spark_ci.yaml's stage 03 failed with "unknown model 'spark_als'":
    the workflow registers spark_als (recnb.backends) in the notebook's process, and the spawned
    workers knew only recnb.models' catalogue."""
    pytest.importorskip("pyspark")
    import recnb.backends.spark.als  # noqa: F401  (registers spark_als, as the workflow does)
    from recnb.models.registry import hyperparameters

    with parallel.model_executor(n_jobs=2, n_tasks=2) as ex:
        got = ex.submit(hyperparameters, "spark_als").result()
    assert got == hyperparameters("spark_als")


def test_longest_first_changes_the_order_of_work_only(monkeypatch):
    from recnb.evaluation import evaluate

    parts = _parts()
    specs = model_specs(MODELS, PARAMS)
    kw = dict(k_values=(5, 10), seed=1, n_bootstrap=50, n_jobs=1)
    plain = evaluate_models(specs, parts["train"], parts["test"], **kw)
    started = []
    one = evaluate._evaluate_one

    def record(spec, *args):
        started.append(spec.label)
        return one(spec, *args)

    monkeypatch.setattr(evaluate, "_evaluate_one", record)
    expected = {"als": 3.0, "blend": float("inf"), "ease": 3.0, "item_knn": 0.5}
    ordered = evaluate_models(specs, parts["train"], parts["test"], expected_seconds=expected, **kw)
    assert started == ["blend", "als", "ease", "item_knn", "popularity", "bpr"]
    pd.testing.assert_frame_equal(plain.summary, ordered.summary)
    pd.testing.assert_frame_equal(plain.per_customer, ordered.per_customer)
    assert list(ordered.timing["model"]) == MODELS
    for label in plain.runs:
        np.testing.assert_array_equal(plain.runs[label].topk, ordered.runs[label].topk)


def test_expected_fit_seconds():
    from recnb.evaluation.tuning import expected_fit_seconds

    specs = model_specs(
        ["popularity", "item_knn", "als", "lightfm_warp_cf"],
        {"lightfm_warp_cf": {"model": "lightfm_warp", "use_features": False}},
    )
    timing = pd.DataFrame(
        {"model": ["item_knn"] * 4, "trial": range(4), "seconds": [1.0, 0.0, 3.0, 2.0]}
    )
    assert expected_fit_seconds(specs, timing) == {
        "popularity": 0.0,  # untuned, no passes
        "item_knn": 2.0,  # median of the trials that fitted (the 0 s repeat left out)
        "als": float("inf"),  # untuned, passes over the data: unknown, first
        "lightfm_warp_cf": float("inf"),
    }
    empty = pd.DataFrame(columns=["model", "trial", "seconds"])
    assert expected_fit_seconds(specs, empty)["item_knn"] == 0.0


def test_final_fits_report_progress_as_they_finish():
    """With the longest fits handed out first, progress waited (in the models' order) for the
    first model, a quick baseline handed out last: the terminal showed nothing for minutes."""
    parts = _parts()
    specs = model_specs(["popularity", "item_knn", "als"], {"als": PARAMS["als"]})
    calls = []
    evaluate_models(
        specs,
        parts["train"],
        parts["test"],
        k_values=(10,),
        n_bootstrap=20,
        n_jobs=2,
        expected_seconds={"als": float("inf"), "item_knn": 1.0},
        progress=lambda *a: calls.append(a),
    )
    fits = [c for c in calls if c[0] == "fit on train, score test"]
    assert fits[0] == ("fit on train, score test", None, 0, 3)
    assert [c[2] for c in fits[1:]] == [1, 2, 3]
    assert sorted(c[1] for c in fits[1:]) == ["als", "item_knn", "popularity"]
