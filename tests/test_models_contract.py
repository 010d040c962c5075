"""One contract test class run over every registered model (tiny data, known answers)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from recnb.data.interactions import Interactions
from recnb.models import REGISTRY, Recommender
from recnb.models.base import CONFIG_FILE, ModelFileError, NotFittedError
from recnb.models.testing import (
    SAVE_CORRUPTIONS,
    build,
    checkerboard,
    corrupt_saved_model,
    random_interactions,
)

MODELS = sorted(REGISTRY)

# models that are not expected to put the held-out block product first on the checkerboard:
# baselines do not personalise; biased_mf predicts ratings, and every stored value is 1.0 there
NO_KNOWN_ANSWER = {
    "random": "random lists",
    "popularity": "not personalised",
    "trending": "not personalised",
    "biased_mf": "rating predictor: all observed ratings are equal on this data",
    "buy_again": "repeat-aware: with seen products excluded it is popularity "
    "(its known answer: test_repeat_aware_known_answer)",
}


def repeat_board() -> tuple[Interactions, np.ndarray]:
    """Six customers, ten products, hourly timestamps. Each customer had three products: two once
    and long ago, one (the favourite) three times and last. Returns the data and the favourites."""
    rows, cols, vals, times = [], [], [], []
    favourite = np.array([(3 * u + 2) % 10 for u in range(6)])
    for u in range(6):
        for j, (v, t) in zip(
            [(3 * u) % 10, (3 * u + 1) % 10, favourite[u]],
            [(1.0, 0), (1.0, 1), (3.0, 100)],
            strict=True,
        ):
            rows.append(u)
            cols.append(j)
            vals.append(v)
            times.append(1.7e9 + 3600.0 * (t + u))
    shape = (6, 10)
    m = sp.csr_matrix((vals, (rows, cols)), shape=shape, dtype=np.float32)
    ts = sp.csr_matrix((times, (rows, cols)), shape=shape, dtype=np.float64)
    inter = Interactions(
        m,
        np.array([f"c{u}" for u in range(6)], dtype=object),
        np.array([f"p{j}" for j in range(10)], dtype=object),
        timestamps=ts,
    )
    return inter, favourite


@pytest.fixture(scope="module")
def board():
    return checkerboard()


@pytest.fixture(scope="module")
def fitted(board):
    inter, _ = board
    cache: dict[str, Recommender] = {}

    def get(name: str) -> Recommender:
        if name not in cache:
            cache[name] = build(name).fit(inter)
        return cache[name]

    return get


def _all_customers(model: Recommender) -> np.ndarray:
    return np.arange(model.n_customers_)


@pytest.mark.parametrize("name", MODELS)
class TestModelContract:
    def test_registered_under_its_name(self, name):
        cls = REGISTRY[name]
        assert cls.name == name
        assert issubclass(cls, Recommender)
        for flag in (
            "can_explain",
            "serves_cold_customers",
            "serves_cold_products",
            "repeat_aware",
        ):
            assert isinstance(getattr(cls, flag), bool)

    def test_init_only_stores_params(self, name):
        model = build(name)
        params = model.get_params()
        assert params["random_state"] == 7
        assert not [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]
        with pytest.raises(NotFittedError):
            model.recommend_indices(np.array([0]), k=2)

    def test_fit_returns_self_and_leaves_params(self, name, board):
        inter, _ = board
        model = build(name)
        before = model.get_params()
        assert model.fit(inter) is model
        assert model.get_params() == before
        assert list(model.customer_ids_) == list(inter.customer_ids)
        assert not hasattr(model, "_fit_features")

    def test_same_seed_same_lists(self, name, board, fitted):
        inter, _ = board
        a = fitted(name)
        b = build(name).fit(inter)
        ia, sa = a.recommend_indices(_all_customers(a), k=5)
        ib, sb = b.recommend_indices(_all_customers(b), k=5)
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(sa, sb)
        # fitting the same instance again gives the same model too
        b.fit(inter)
        ic, sc = b.recommend_indices(_all_customers(b), k=5)
        np.testing.assert_array_equal(ia, ic)
        np.testing.assert_array_equal(sa, sc)

    def test_seen_items_never_returned(self, name, board, fitted):
        inter, _ = board
        model = fitted(name)
        n_p = inter.n_products
        idx, val = model.recommend_indices(_all_customers(model), k=n_p)
        seen = (inter.matrix > 0).toarray()
        for u in range(inter.n_customers):
            got = idx[u][idx[u] >= 0]
            assert not seen[u, got].any(), f"customer {u} got a seen product"
            # padding only where fewer than k products are available
            assert len(got) == n_p - seen[u].sum()
            assert len(set(got)) == len(got)
            assert np.isnan(val[u][idx[u] < 0]).all()
            assert np.isfinite(val[u][idx[u] >= 0]).all()
            assert (np.diff(val[u][idx[u] >= 0]) <= 0).all(), "scores not in descending order"

    def test_exclude_seen_false_ranks_everything(self, name, fitted):
        model = fitted(name)
        idx, _ = model.recommend_indices(
            _all_customers(model), k=model.n_products_, exclude_seen=False
        )
        assert (idx >= 0).all()
        assert all(len(set(r)) == model.n_products_ for r in idx)

    def test_unknown_customer_gets_popularity(self, name, board, fitted):
        inter, _ = board
        model = fitted(name)
        recs = model.recommend(["nobody", "c0"], k=3)
        unknown = recs[recs.customer_id == "nobody"]
        pop = np.asarray((inter.matrix > 0).sum(axis=0)).ravel()
        expected = np.lexsort((np.arange(len(pop)), -pop))[:3]
        assert unknown["product_id"].tolist() == [f"p{j}" for j in expected]
        assert unknown["rank"].tolist() == [1, 2, 3]
        np.testing.assert_array_equal(unknown["score"].to_numpy(), pop[expected].astype(np.float32))

    def test_unknown_customer_error_policy(self, name, board):
        inter, _ = board
        model = build(name, unknown="error").fit(inter)
        with pytest.raises(KeyError, match="nobody"):
            model.recommend(["c1", "nobody"], k=3)
        with pytest.raises(KeyError):
            model.recommend_indices(np.array([0, -1]), k=3)
        assert len(model.recommend(["c1"], k=3)) == 3

    def test_cold_customer_fallback(self, name, fitted):
        model = fitted(name)
        cold = model.customer_indices(["cold"])
        assert cold[0] == model.n_customers_ - 1
        if model.serves_cold_customers:
            assert not model.uses_fallback(cold)[0]
            return
        assert model.uses_fallback(cold)[0]
        a, sa = model.recommend_indices(cold, k=4)
        b, sb = model.recommend_indices(np.array([-1]), k=4)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sa, sb)

    def test_recommend_matches_indices(self, name, fitted):
        model = fitted(name)
        ids = list(model.customer_ids_) + ["nobody"]
        recs = model.recommend(ids, k=4)
        assert list(recs.columns) == ["customer_id", "rank", "product_id", "score"]
        idx, val = model.recommend_indices(model.customer_indices(ids), k=4)
        for row, cid in enumerate(ids):
            mine = recs[recs.customer_id == cid]
            keep = idx[row] >= 0
            assert mine["rank"].tolist() == list(range(1, keep.sum() + 1))
            assert mine["product_id"].tolist() == list(model.product_ids_[idx[row][keep]])
            np.testing.assert_array_equal(mine["score"].to_numpy(), val[row][keep])

    def test_default_customers_are_all_training_customers(self, name, fitted):
        model = fitted(name)
        recs = model.recommend(k=2)
        assert recs["customer_id"].unique().tolist() == list(model.customer_ids_)

    def test_scores_match_score_pairs(self, name, fitted):
        model = fitted(name)
        cidx = _all_customers(model)
        idx, val = model.recommend_indices(cidx, k=3)
        c = np.repeat(cidx, 3)
        np.testing.assert_allclose(
            model.score_pairs(c, idx.ravel()), val.ravel(), rtol=1e-5, atol=1e-6
        )

    def test_batch_size_does_not_change_lists(self, name, board, fitted):
        inter, _ = board
        model = fitted(name)
        small = build(name, batch_size=1).fit(inter)
        a, sa = model.recommend_indices(_all_customers(model), k=5)
        b, sb = small.recommend_indices(_all_customers(model), k=5)
        np.testing.assert_allclose(sa, sb, rtol=1e-5, atol=1e-6)
        # BLAS may round a product differently for another block shape: lists may differ only
        # where two products' scores are tied to within float32 rounding
        differ = a != b
        full = model.score_pairs(np.repeat(_all_customers(model), 5), b.ravel()).reshape(b.shape)
        np.testing.assert_allclose(full[differ], sa[differ], rtol=1e-5, atol=1e-6)

    def test_candidates_restrict_and_keep_order(self, name, fitted):
        model = fitted(name)
        cand = np.array([1, 3, 6, 7, 11])
        full, _ = model.recommend_indices(_all_customers(model), k=model.n_products_)
        got, _ = model.recommend_indices(_all_customers(model), k=3, candidates=cand)
        for u in range(model.n_customers_):
            expected = [j for j in full[u] if j in set(cand)][:3]
            assert [j for j in got[u] if j >= 0] == expected
        recs = model.recommend(["c0"], k=3, candidates=["p1", "p7"])
        assert set(recs["product_id"]) <= {"p1", "p7"}
        with pytest.raises(KeyError, match="nope"):
            model.recommend(["c0"], k=3, candidates=["p1", "nope"])

    def test_known_answer_first_on_checkerboard(self, name, board, fitted):
        if name in NO_KNOWN_ANSWER:
            pytest.skip(NO_KNOWN_ANSWER[name])
        inter, held = board
        model = fitted(name)
        users = np.array(sorted(held))
        idx, _ = model.recommend_indices(users, k=1)
        precision_at_1 = np.mean(idx[:, 0] == np.array([held[u] for u in users]))
        assert precision_at_1 == 1.0

    def test_repeat_aware_known_answer(self, name):
        """A repeat-aware model, with seen products allowed, puts first the product the customer
        had most often and most recently; any model keeps its own order of the same data."""
        if not REGISTRY[name].repeat_aware:
            pytest.skip("not a repeat-aware model: seen products are excluded in its mode")
        inter, favourite = repeat_board()
        model = build(name).fit(inter)
        users = np.arange(inter.n_customers)
        idx, val = model.recommend_indices(users, k=inter.n_products, exclude_seen=False)
        np.testing.assert_array_equal(idx[:, 0], favourite)
        # every product the customer had ranks above every product they never had
        seen = (inter.matrix > 0).toarray()
        for u in users:
            n_own = int(seen[u].sum())
            assert seen[u, idx[u, :n_own]].all() and not seen[u, idx[u, n_own:]].any()
        # with seen products excluded nothing personal is left: the popularity order
        excl, _ = model.recommend_indices(users, k=3)
        pop = np.asarray((inter.matrix > 0).sum(axis=0)).ravel()
        for u in users:
            order = [j for j in np.lexsort((np.arange(len(pop)), -pop)) if not seen[u, j]]
            assert list(excl[u]) == order[:3]

    def test_get_params_round_trip_clone(self, name, board, fitted):
        inter, _ = board
        model = fitted(name)
        twin = clone(model)
        assert twin.get_params() == model.get_params()
        assert not hasattr(twin, "seen_")
        twin.fit(inter)
        a, _ = model.recommend_indices(_all_customers(model), k=4)
        b, _ = twin.recommend_indices(_all_customers(model), k=4)
        np.testing.assert_array_equal(a, b)
        rebuilt = type(model)(**model.get_params())
        assert rebuilt.get_params() == model.get_params()

    def test_save_load_round_trip(self, name, fitted, tmp_path):
        model = fitted(name)
        folder = model.save(tmp_path / name)
        info = json.loads((folder / "model.json").read_text())
        assert info["model"] == name
        assert info["params"] == json.loads(json.dumps(model.get_params()))
        with np.load(folder / "state.npz", allow_pickle=False) as z:
            assert all(z[k].dtype != object for k in z.files)
        loaded = Recommender.load(folder)
        assert type(loaded) is type(model)
        assert loaded.get_params() == model.get_params()
        ids = list(model.customer_ids_) + ["nobody"]
        pd.testing.assert_frame_equal(loaded.recommend(ids, k=5), model.recommend(ids, k=5))
        a, sa = model.recommend_indices(_all_customers(model), k=5)
        b, sb = loaded.recommend_indices(_all_customers(model), k=5)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(sa, sb)
        assert type(model).load(folder).name == name

    @pytest.mark.parametrize("kind", sorted(SAVE_CORRUPTIONS))
    def test_load_refuses_damaged_save(self, name, fitted, tmp_path, kind):
        folder = fitted(name).save(tmp_path / name)
        path, pattern = corrupt_saved_model(folder, kind)
        with pytest.raises(ModelFileError, match=pattern) as err:
            Recommender.load(folder)
        assert err.value.path == path
        assert str(err.value).startswith(f"{path}: ")

    def test_load_checks_every_hyperparameter(self, name, fitted, tmp_path):
        folder = fitted(name).save(tmp_path / name)
        config = json.loads((folder / CONFIG_FILE).read_text())
        for key in config["params"]:
            bad = {**config, "params": {**config["params"], key: "lots"}}
            (folder / CONFIG_FILE).write_text(json.dumps(bad))
            with pytest.raises(
                ModelFileError, match=rf"{CONFIG_FILE}: bad hyperparameter: .*{key}"
            ):
                Recommender.load(folder)
        (folder / CONFIG_FILE).write_text(json.dumps(config))
        assert Recommender.load(folder).get_params() == fitted(name).get_params()

    def test_explain_or_clear_refusal(self, name, fitted):
        model = fitted(name)
        if not model.can_explain:
            with pytest.raises(NotImplementedError, match="cannot explain"):
                model.explain("c0", "p0")
            return
        top = model.recommend(["c0"], k=1).iloc[0]
        ex = model.explain("c0", top["product_id"])
        assert list(ex.columns) == ["contributor", "kind", "contribution"]
        assert len(ex) >= 1
        assert (np.diff(ex["contribution"].to_numpy()) <= 0).all()
        with pytest.raises(KeyError, match="nope"):
            model.explain("c0", "nope")

    def test_fit_rejects_bad_input(self, name, board):
        inter, _ = board
        model = build(name)
        with pytest.raises(TypeError, match="Interactions"):
            model.fit(inter.matrix)
        empty = inter.with_matrix(inter.matrix * 0)
        with pytest.raises(ValueError, match="empty"):
            model.fit(empty)
        bad = inter.matrix.copy()
        bad.data[0] = np.nan
        with pytest.raises(ValueError, match="non-finite"):
            model.fit(inter.with_matrix(bad))
        with pytest.raises(KeyError, match="allowed"):
            model.fit(inter, features={"produtcs": None})
        with pytest.raises(ValueError, match="unknown="):
            build(name, unknown="skip").fit(inter)

    def test_works_on_random_data(self, name, rng):
        inter = random_interactions(rng)
        model = build(name).fit(inter)
        idx, val = model.recommend_indices(np.arange(inter.n_customers), k=5)
        assert idx.shape == (inter.n_customers, 5)
        assert val.dtype == np.float32
        seen = (inter.matrix > 0).toarray()
        rows = np.repeat(np.arange(inter.n_customers), 5)
        ok = idx.ravel() >= 0
        assert not seen[rows[ok], idx.ravel()[ok]].any()
