"""Early pruning of tuning trials: watching a fit never changes it, pruning off is the search as
before, pruning on stops hopeless trials and never chooses one."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.evaluation.evaluate import evaluation_customers
from recnb.evaluation.specs import ModelSpec
from recnb.evaluation.tuning import tune_model, validation_score
from recnb.models import testing
from recnb.models.registry import REGISTRY


def _parts(seed: int = 11, n_c: int = 120, n_p: int = 50) -> tuple[Interactions, Interactions]:
    rng = np.random.default_rng(seed)
    blocks = np.arange(n_c)[:, None] % 4 == np.arange(n_p)[None, :] % 4
    dense = (rng.random((n_c, n_p)) < np.where(blocks, 0.45, 0.05)).astype(np.float32)
    u = rng.random((n_c, n_p))
    ids_c, ids_p = [f"c{i}" for i in range(n_c)], [f"p{j}" for j in range(n_p)]
    base = Interactions(sp.csr_matrix(dense * (u < 0.75)), ids_c, ids_p)
    return base, base.with_matrix(sp.csr_matrix(dense * (u >= 0.75)))


ITERATIVE = {
    "als": {"factors": 4, "iterations": 6, "num_threads": 1},
    "bpr": {"factors": 4, "iterations": 6},
    "lightfm_warp": {"no_components": 4, "epochs": 6},
    "mult_vae": {"epochs": 6, "hidden_dim": 16, "latent_dim": 4},
}


def test_the_iterative_models_name_their_passes():
    named = sorted(n for n, cls in REGISTRY.items() if cls.passes_param is not None)
    assert named == ["als", "bpr", "lightfm_bpr", "lightfm_warp", "mult_vae"]
    for name in named:
        assert REGISTRY[name].passes_param in testing.build(name).get_params()


@pytest.mark.parametrize("name", sorted(ITERATIVE))
def test_watching_a_fit_never_changes_it(name):
    train, _ = _parts()
    every = np.arange(train.n_customers - 1)
    plain = testing.build(name, **ITERATIVE[name], random_state=3).fit(train)
    watched = testing.build(name, **ITERATIVE[name], random_state=3)
    seen, lists = [], []

    def watch(model, n_done):
        seen.append(n_done)
        lists.append(model.recommend_indices(every, k=5)[0])

    with watched.watching(watch):
        watched.fit(train)
    assert not hasattr(watched, "_pass_watcher")
    assert seen == list(range(1, 7))
    a, _ = plain.recommend_indices(every, k=10)
    b, _ = watched.recommend_indices(every, k=10)
    np.testing.assert_array_equal(a, b)
    # the state seen after the last pass is the fitted model's (ALS re-solves customers after)
    if name != "als":
        np.testing.assert_array_equal(lists[-1], a[:, :5])
    # a watcher that raises stops the fit there
    stopped = []

    def stop(model, n_done):
        stopped.append(n_done)
        if n_done == 2:
            raise RuntimeError("stop here")

    model = testing.build(name, **ITERATIVE[name])
    with pytest.raises(RuntimeError, match="stop here"), model.watching(stop):
        model.fit(train)
    assert stopped == [1, 2]


SPACE = {
    "regularization": {"low": 0.001, "high": 500.0, "log": True},
    "alpha": {"low": 0.01, "high": 50.0, "log": True},
}
ALS = ModelSpec("als", "als", {"factors": 8, "iterations": 16, "num_threads": 1})


def test_pruning_off_runs_every_trial_to_the_end():
    train, valid = _parts()
    off = tune_model(ALS, train, valid, SPACE, n_trials=9, seed=4)
    assert not off.history["pruned"].any()
    cidx = evaluation_customers(valid, None, 4)
    for params, value in zip(off.history["params"], off.history["value"], strict=True):
        refit, _ = validation_score(
            ALS.with_params(**json.loads(params)), train, valid, cidx, seed=4
        )
        assert value == refit
    # a model without passes is searched the same with pruning on
    knn = ModelSpec("item_knn", "item_knn", {})
    space = {"n_neighbors": {"low": 2, "high": 40}}
    a = tune_model(knn, train, valid, space, n_trials=6, seed=4)
    b = tune_model(knn, train, valid, space, n_trials=6, seed=4, pruning=True)
    pd.testing.assert_frame_equal(a.history, b.history)


def test_pruning_stops_hopeless_trials_and_never_chooses_one():
    train, valid = _parts()
    on = tune_model(ALS, train, valid, SPACE, n_trials=12, seed=4, pruning=True)
    h = on.history
    assert h["pruned"].any()
    assert not h["pruned"].iloc[:4].any()  # the startup trials run to the end
    done = h[~h["pruned"]]
    assert on.best_value == done["value"].max()
    assert json.loads(done.loc[done["value"].idxmax(), "params"]) == on.best_params
    # a completed trial scores what a plain fit of its values scores
    cidx = evaluation_customers(valid, None, 4)
    for params, value in zip(done["params"], done["value"], strict=True):
        refit, _ = validation_score(
            ALS.with_params(**json.loads(params)), train, valid, cidx, seed=4
        )
        assert value == refit
    # best_so_far only counts completed trials
    expected = h["value"].where(~h["pruned"]).cummax()
    pd.testing.assert_series_equal(h["best_so_far"], expected, check_names=False)
    again = tune_model(ALS, train, valid, SPACE, n_trials=12, seed=4, pruning=True)
    pd.testing.assert_frame_equal(again.history, h)


# -- stopping a search that no longer improves -----------------------------------------------
def _expected_stop(history: pd.DataFrame, patience: int, min_trials: int) -> int:
    """Trials a patience stop runs, replayed from a full search's history."""
    best, since = None, 0
    for n, (value, pruned) in enumerate(zip(history["value"], history["pruned"], strict=True), 1):
        if not pruned and (best is None or value > best):
            best, since = value, 0
        else:
            since += 1
        if since >= patience and n >= min_trials:
            return n
    return len(history)


@pytest.mark.parametrize("pruning", [False, True])
def test_patience_runs_the_first_trials_of_the_full_search(pruning):
    train, valid = _parts()
    full = tune_model(ALS, train, valid, SPACE, n_trials=15, seed=4, pruning=pruning)
    stops = 0
    for patience in (1, 2, 3, 20):
        cut = tune_model(
            ALS, train, valid, SPACE, n_trials=15, seed=4, pruning=pruning, patience=patience
        )
        n = _expected_stop(full.history, patience, min_trials=5)  # pruning_startup(15) == 5
        assert len(cut.history) == n
        stops += n < 15
        # the same trials, the same scores: a prefix of the full search
        pd.testing.assert_frame_equal(cut.history, full.history.iloc[:n])
        pd.testing.assert_frame_equal(
            cut.timing[["model", "trial"]], full.timing.iloc[:n][["model", "trial"]]
        )
        # the chosen trial is the full search's whenever no later trial improved on it
        done = full.history[~full.history["pruned"]]
        if done["value"].idxmax() < n:
            assert cut.best_params == full.best_params
            assert cut.best_value == full.best_value
    assert stops >= 1  # some patience actually stopped this search early


def test_no_improvement_stop_counts_pruned_trials_and_waits_for_min_trials():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    values = [0.1, 0.3, 0.2, None, 0.3, 0.25, 0.9]  # None: pruned; 0.3 again is no gain

    def run(patience: int, min_trials: int = 0) -> int:
        from recnb.evaluation.tuning import NoImprovementStop

        stop = NoImprovementStop(patience, min_trials)
        study = optuna.create_study(direction="maximize")

        def objective(trial):
            v = values[trial.number]
            if v is None:
                raise optuna.TrialPruned()
            return v

        study.optimize(objective, n_trials=len(values), callbacks=[stop])
        assert stop.stopped == (len(study.trials) < len(values))
        return len(study.trials)

    assert run(1) == 3  # 0.2 does not beat 0.3
    assert run(3) == 5  # 0.2, pruned, 0.3 (a tie): three without gain
    assert run(4) == 6
    assert run(5) == 7  # never stopped: the 0.9 at the end runs
    assert run(1, min_trials=6) == 6
    from recnb.evaluation.tuning import NoImprovementStop

    with pytest.raises(ValueError, match="patience"):
        NoImprovementStop(0)
