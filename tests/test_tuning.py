"""Hyperparameter search: space parsing, history, determinism, and it never reads the test part."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.evaluation.specs import ModelSpec, model_specs
from recnb.evaluation.tuning import (
    Dimension,
    load_validation_parts,
    parse_space,
    plan,
    tune_model,
    tune_models,
    validation_folds,
    validation_score,
)
from recnb.prep.split import load_split, save_split


def _parts(rng, n_c=60, n_p=30):
    """train_inner / valid / train / test of a block-structured random matrix (shared maps)."""
    blocks = np.arange(n_c)[:, None] % 3 == np.arange(n_p)[None, :] % 3
    dense = (rng.random((n_c, n_p)) < np.where(blocks, 0.6, 0.05)).astype(np.float32)
    u = rng.random((n_c, n_p))
    ids_c, ids_p = [f"c{i}" for i in range(n_c)], [f"p{j}" for j in range(n_p)]
    base = Interactions(sp.csr_matrix(dense * (u < 0.6)), ids_c, ids_p)
    parts = {
        "train_inner": base,
        "valid": base.with_matrix(sp.csr_matrix(dense * ((u >= 0.6) & (u < 0.8)))),
        "train": base.with_matrix(sp.csr_matrix(dense * (u < 0.8))),
        "test": base.with_matrix(sp.csr_matrix(dense * (u >= 0.8))),
    }
    return parts


SPACE = {"n_neighbors": {"low": 2, "high": 20}, "shrinkage": {"low": 0.0, "high": 50.0}}


def test_parse_space_forms_and_errors():
    dims = parse_space(
        "als",
        {
            "factors": {"low": 4, "high": 64, "log": True},
            "regularization": {"low": 0.001, "high": 1.0, "log": True},
            "iterations": [5, 10],
            "use_cg": {"choices": [True, False]},
            "alpha": {"low": 1, "high": 9, "type": "float", "step": 2},
        },
    )
    by = {d.name: d for d in dims}
    assert by["factors"].kind == "int" and by["factors"].log
    assert by["regularization"].kind == "float"
    assert by["iterations"] == Dimension("iterations", "categorical", choices=(5, 10))
    assert by["use_cg"].choices == (True, False)
    assert by["alpha"].kind == "float" and by["alpha"].step == 2
    bad = [
        ({"factor": [1, 2]}, "not a hyperparameter"),
        ({"factors": []}, "empty"),
        ({"factors": 8}, "model_params"),
        ({"factors": {"low": 8}}, "both 'low' and 'high'"),
        ({"factors": {"low": 8, "high": 8}}, "below high"),
        ({"regularization": {"low": 0.0, "high": 1.0, "log": True}}, "low > 0"),
        ({"factors": {"low": 1, "high": 9, "scale": "log"}}, "unknown key"),
        ({"factors": {"low": 1, "high": 9, "type": "str"}}, "type must be"),
    ]
    for space, msg in bad:
        with pytest.raises(ValueError, match=msg):
            parse_space("als", space)


def test_dimension_contains():
    assert Dimension("a", "int", 2, 20).contains(20)
    assert not Dimension("a", "int", 2, 20).contains(21)
    assert not Dimension("a", "int", 2, 20).contains(2.5)
    assert Dimension("a", "float", 0.0, 1.0, step=0.25).contains(0.75)
    assert not Dimension("a", "float", 0.0, 1.0, step=0.25).contains(0.7)
    assert Dimension("a", "categorical", choices=("none", "bm25")).contains("bm25")
    assert not Dimension("a", "categorical", choices=(1, 2)).contains(True)


def test_tune_model_records_every_trial_and_repeats(rng):
    parts = _parts(rng)
    spec = ModelSpec("knn", "item_knn", {"n_neighbors": 5, "shrinkage": 0.0})
    res = tune_model(spec, parts["train_inner"], parts["valid"], SPACE, n_trials=6, seed=4)
    h = res.history
    assert len(h) == 6 and h["trial"].tolist() == list(range(6))
    assert h["configured"].tolist() == [True] + [False] * 5
    assert json.loads(h["params"].iloc[0]) == {"n_neighbors": 5, "shrinkage": 0.0}
    assert (np.diff(h["best_so_far"]) >= 0).all()
    assert res.best_value == h["value"].max() >= res.configured_value
    assert res.spec.params == {**spec.params, **res.best_params}
    for name, value in res.best_params.items():
        assert next(d for d in parse_space("item_knn", SPACE) if d.name == name).contains(value)
    # the recorded score is what validation_score gives for the chosen values
    cidx = np.flatnonzero(np.diff(parts["valid"].matrix.indptr) > 0)
    again, _ = validation_score(res.spec, parts["train_inner"], parts["valid"], cidx, seed=4)
    assert again == pytest.approx(res.best_value, abs=1e-12)
    # same seed, same search
    res2 = tune_model(spec, parts["train_inner"], parts["valid"], SPACE, n_trials=6, seed=4)
    assert res2.history["params"].tolist() == h["params"].tolist()
    np.testing.assert_array_equal(res2.history["value"], h["value"])


def test_random_method_and_configured_outside_the_space(rng):
    parts = _parts(rng)
    spec = ModelSpec("knn", "item_knn", {"n_neighbors": 100})  # outside 2..20
    res = tune_model(
        spec, parts["train_inner"], parts["valid"], SPACE, n_trials=3, method="random", seed=1
    )
    assert res.configured_value is None and not res.history["configured"].any()
    with pytest.raises(ValueError, match="unknown"):
        tune_model(spec, parts["train_inner"], parts["valid"], SPACE, n_trials=2, method="grid")
    with pytest.raises(ValueError, match="n_trials"):
        tune_model(spec, parts["train_inner"], parts["valid"], SPACE, n_trials=0)


def test_tune_models_tables_and_untuned_models(rng):
    parts = _parts(rng)
    specs = model_specs(["popularity", "item_knn"], {"item_knn": {"n_neighbors": 5}})
    t = tune_models(
        specs, parts["train_inner"], parts["valid"], {"item_knn": SPACE}, n_trials=3, seed=2
    )
    assert [s.label for s in t.specs] == ["popularity", "item_knn"]
    assert t.specs[0] == specs[0]
    assert set(t.history["model"]) == {"item_knn"} and len(t.history) == 3
    chosen = t.chosen.set_index("hyperparameter")
    assert set(chosen["source"]) == {"tuned"}
    assert json.loads(chosen.loc["n_neighbors", "value"]) == t.specs[1].params["n_neighbors"]
    row = t.summary.iloc[0]
    assert row["model"] == "item_knn" and row["best_value"] >= row["configured_value"]
    none = tune_models(specs, parts["train_inner"], parts["valid"], {"item_knn": SPACE}, 0)
    assert none.specs == specs and none.history.empty
    with pytest.raises(ValueError, match="not in the comparison"):
        tune_models(specs, parts["train_inner"], parts["valid"], {"als": {}}, n_trials=2)
    with pytest.raises(ValueError, match="not a hyperparameter"):
        tune_models(specs, parts["train_inner"], parts["valid"], {"item_knn": {"k": [1]}}, 2)


def test_tuning_never_reads_the_test_part(rng, tmp_path, monkeypatch):
    parts = _parts(rng)
    clean = tmp_path / "clean"
    save_split(clean, parts)
    # a poisoned copy: the test part holds NaN and different values; train is poisoned too
    poisoned = dict(parts)
    for name in ("test", "train"):
        m = parts[name].matrix.copy()
        m.data[:] = np.nan
        poisoned[name] = parts[name].with_matrix(m)
    bad = tmp_path / "poisoned"
    save_split(bad, poisoned)

    loaded: list[str] = []
    original = Interactions.load.__func__

    def spy(cls, folder):
        loaded.append(str(folder))
        return original(cls, folder)

    monkeypatch.setattr(Interactions, "load", classmethod(spy))
    load_split(clean)  # the spy sees every part read by the generic loader ...
    assert any(p.endswith("test") for p in loaded)
    loaded.clear()

    specs = model_specs(["item_knn"])
    results = []
    for folder in (clean, bad):
        ti, va = load_validation_parts(folder)
        results.append(tune_models(specs, ti, va, {"item_knn": SPACE}, n_trials=4, seed=3))
    # ... but tuning opened train_inner and valid only, and the poison changed nothing
    assert loaded and all(p.endswith(("train_inner", "valid")) for p in loaded)
    assert results[0].history["value"].tolist() == results[1].history["value"].tolist()
    assert results[0].specs == results[1].specs


def test_per_model_budgets(rng):
    parts = _parts(rng)
    specs = model_specs(["item_knn", "pure_svd"])
    spaces = {"item_knn": SPACE, "pure_svd": {"n_factors": {"low": 2, "high": 10}}}
    t = tune_models(
        specs,
        parts["train_inner"],
        parts["valid"],
        spaces,
        n_trials=3,
        seed=0,
        n_trials_per_model={"pure_svd": 2},
    )
    assert t.history.groupby("model").size().to_dict() == {"item_knn": 3, "pure_svd": 2}
    t = tune_models(
        specs,
        parts["train_inner"],
        parts["valid"],
        spaces,
        n_trials=3,
        n_trials_per_model={"item_knn": 0},
    )
    assert set(t.history["model"]) == {"pure_svd"}
    with pytest.raises(ValueError, match="not in the comparison"):
        tune_models(
            specs, parts["train_inner"], parts["valid"], spaces, 3, n_trials_per_model={"ease": 2}
        )
    with pytest.raises(ValueError, match="budget"):
        tune_models(
            specs,
            parts["train_inner"],
            parts["valid"],
            spaces,
            3,
            n_trials_per_model={"item_knn": -1},
        )


def test_measured_times_are_apart_and_progress_is_reported(rng):
    """Observed: tuning_history and tuning_summary differed between two identical runs (seconds)."""
    parts = _parts(rng)
    specs = model_specs(["popularity", "item_knn"], {"item_knn": {"n_neighbors": 5}})
    calls = []

    def progress(step, model=None, n=None, total=None):
        calls.append((step, model, n, total))

    kw = dict(search_space={"item_knn": SPACE}, n_trials=3, seed=2)
    a = tune_models(specs, parts["train_inner"], parts["valid"], progress=progress, **kw)
    b = tune_models(specs, parts["train_inner"], parts["valid"], **kw)
    for name in ("history", "summary", "chosen"):
        ta, tb = getattr(a, name), getattr(b, name)
        assert not [c for c in ta.columns if "second" in c], (name, list(ta.columns))
        pd.testing.assert_frame_equal(ta, tb)  # everything but the timing table repeats
    assert list(a.timing.columns) == ["model", "trial", "seconds", "cpu_seconds"]
    assert len(a.timing) == 3
    assert (a.timing["seconds"] >= 0).all()
    assert calls == [("tuning", "item_knn", n, 3) for n in range(4)]


def test_plan_lists_each_model_with_its_fixed_values_space_and_budget():
    specs = model_specs(
        ["popularity", "als", "cf"], {"cf": {"model": "lightfm_warp", "use_features": False}}
    )
    space = {"als": {"factors": {"low": 4, "high": 8}}}
    t = plan(specs, space, n_trials=5, n_trials_per_model={"als": 3}).set_index("model")
    assert t.loc["cf", "algorithm"] == "lightfm_warp"
    assert json.loads(t.loc["cf", "fixed"]) == {"use_features": False}
    assert json.loads(t.loc["als", "searched"]) == space["als"]
    assert t["trials"].to_dict() == {"popularity": 0, "als": 3, "cf": 0}
    assert t.loc["popularity", "fixed"] == "" and t.loc["popularity", "searched"] == ""


def test_validation_folds_redraw_the_split_with_its_per_group_counts(rng):
    parts = _parts(rng)
    ti, va = parts["train_inner"], parts["valid"]
    both = (ti.matrix + va.matrix).toarray()
    for by, axis in (("item", 0), ("user", 1)):
        folds = validation_folds(ti, va, 3, {"kind": "stratified", "stratify_by": by}, seed=5)
        assert len(folds) == 3 and folds[0] == (ti, va)
        for f_ti, f_va in folds[1:]:
            a, b = f_ti.matrix.toarray(), f_va.matrix.toarray()
            np.testing.assert_array_equal(a + b, both)  # the same pairs, values kept
            assert not ((a > 0) & (b > 0)).any()
            # per product (by item) or per customer (by user): the saved split's counts
            np.testing.assert_array_equal(
                (b > 0).sum(axis=axis), (va.matrix.toarray() > 0).sum(axis=axis)
            )
            assert (f_ti.customer_ids == ti.customer_ids).all()
        assert not np.array_equal(folds[1][1].matrix.toarray(), folds[2][1].matrix.toarray())
        assert not np.array_equal(folds[1][1].matrix.toarray(), va.matrix.toarray())
        again = validation_folds(ti, va, 3, {"kind": "stratified", "stratify_by": by}, seed=5)
        np.testing.assert_array_equal(again[2][1].matrix.toarray(), folds[2][1].matrix.toarray())
    assert validation_folds(ti, va, 1, {"kind": "temporal"}) == [(ti, va)]
    with pytest.raises(ValueError, match="drawn at random.*'temporal'"):
        validation_folds(ti, va, 2, {"kind": "temporal"})
    with pytest.raises(ValueError, match="int >= 1"):
        validation_folds(ti, va, 0, {"kind": "random"})


def test_folds_average_each_trial_over_the_redrawn_splits(rng):
    parts = _parts(rng)
    ti, va = parts["train_inner"], parts["valid"]
    split = {"kind": "stratified", "stratify_by": "item"}
    specs = model_specs(["item_knn", "ease"], {"item_knn": {"n_neighbors": 5}})
    space = {"item_knn": SPACE, "ease": {"l2": {"low": 1.0, "high": 100.0, "log": True}}}
    t = tune_models(
        specs, ti, va, space, n_trials=3, seed=2,
        validation_folds_per_model={"item_knn": 3}, split=split,
    )  # fmt: skip
    folds = validation_folds(ti, va, 3, split, seed=2)
    h = t.history.set_index("model")
    for label, n in (("item_knn", 3), ("ease", 1)):
        rows = h.loc[[label]]
        for params, value in zip(rows["params"], rows["value"], strict=True):
            spec = next(s for s in specs if s.label == label).with_params(**json.loads(params))
            scores = [
                validation_score(spec, f_ti, f_va, np.flatnonzero(f_va.matrix.getnnz(1)), seed=2)[0]
                for f_ti, f_va in folds[:n]
            ]
            assert value == pytest.approx(np.mean(scores), abs=1e-12)
    with pytest.raises(ValueError, match="not in the comparison"):
        tune_models(specs, ti, va, space, 2, validation_folds_per_model={"als": 2}, split=split)
    with pytest.raises(ValueError, match="int >= 1"):
        tune_models(specs, ti, va, space, 2, validation_folds_per_model={"ease": 0}, split=split)
    with pytest.raises(ValueError, match="drawn at random"):
        tune_models(specs, ti, va, space, 2, validation_folds_per_model={"ease": 2}, split={})


def test_folds_of_a_scoring_only_search_fit_each_fold_once(rng):
    parts = _parts(rng)
    ti, va = parts["train_inner"], parts["valid"]
    split = {"kind": "random"}
    spec = ModelSpec("blend", "blend", {"first": "ease", "second": "item_knn",
                                        "first_params": {"l2": 10.0}, "second_params": {}})  # fmt: skip
    folds = validation_folds(ti, va, 2, split, seed=1)
    res = tune_model(
        spec, ti, va, {"weight": {"low": 0.0, "high": 1.0}}, n_trials=3, seed=1,
        extra_folds=folds[1:],
    )  # fmt: skip
    for params, value in zip(res.history["params"], res.history["value"], strict=True):
        s = spec.with_params(**json.loads(params))
        scores = [
            validation_score(s, f_ti, f_va, np.flatnonzero(f_va.matrix.getnnz(1)), seed=1)[0]
            for f_ti, f_va in folds
        ]
        assert value == pytest.approx(np.mean(scores), abs=1e-6)
