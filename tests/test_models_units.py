"""Unit tests of the model layer's pieces: top-k, registry, base checks, and each family's maths."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recnb.data.interactions import Interactions
from recnb.models import REGISTRY, Recommender, hyperparameters, make_model, model_capabilities
from recnb.models.base import MissingModelFileError, ModelFileError
from recnb.models.content import product_vectors
from recnb.models.ease import EaseMemoryError
from recnb.models.factorization import _als_side, _buckets
from recnb.models.knn import top_similar, top_similar_blocks, weight_rows
from recnb.models.testing import build, checkerboard, products_table, random_interactions
from recnb.models.topk import (
    GROUP,
    SELECT_BUDGET,
    chunk_bounds,
    mask_csr_rows,
    scoring_threads,
    topk_dense,
)

FIXTURES = Path(__file__).parent / "fixtures"


# -- top-k -------------------------------------------------------------------------------------
def _oracle(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n, m = scores.shape
    idx = np.full((n, k), -1)
    val = np.full((n, k), np.nan, np.float32)
    for r in range(n):
        order = [
            j for j in sorted(range(m), key=lambda j: (-scores[r, j], j)) if scores[r, j] > -np.inf
        ]
        order = order[:k]
        idx[r, : len(order)] = order
        val[r, : len(order)] = scores[r, order]
    return idx, val


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(1, 12),
    st.integers(1, 14),
    st.integers(0, 2**31 - 1),
)
def test_topk_dense_matches_full_sort_with_ties_and_exclusions(n, m, k, seed):
    g = np.random.default_rng(seed)
    scores = g.integers(0, 4, (n, m)).astype(np.float32)  # many ties
    scores[g.random((n, m)) < 0.3] = -np.inf
    idx, val = topk_dense(scores, k)
    exp_idx, exp_val = _oracle(scores, k)
    np.testing.assert_array_equal(idx, exp_idx)
    np.testing.assert_array_equal(val, exp_val)


def _oracle_wide(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n, m = scores.shape
    idx = np.full((n, k), -1)
    val = np.full((n, k), np.nan, np.float32)
    for r in range(n):
        order = np.lexsort((np.arange(m), -scores[r]))
        order = order[np.isfinite(scores[r, order])][:k]
        idx[r, : len(order)] = order
        val[r, : len(order)] = scores[r, order]
    return idx, val


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(0, 300), st.integers(0, 2**31 - 1), st.booleans())
def test_topk_dense_wide_rows_grouped_path(k, extra, seed, integer):
    # wide enough for the grouped pre-selection (k * GROUP * 4 columns or more)
    g = np.random.default_rng(seed)
    m = k * GROUP * 4 + extra
    if integer:  # heavy ties between group maxima
        scores = g.integers(0, 6, (5, m)).astype(np.float32)
    else:
        scores = g.standard_normal((5, m)).astype(np.float32)
    scores[g.random((5, m)) < g.random()] = -np.inf
    scores[0] = -np.inf  # nothing available
    scores[1, : m - 3] = -np.inf  # fewer than k available, all in the tail
    idx, val = topk_dense(scores, k)
    exp_idx, exp_val = _oracle_wide(scores, k)
    np.testing.assert_array_equal(idx, exp_idx)
    np.testing.assert_array_equal(val, exp_val)


def test_topk_dense_known_case_and_errors():
    s = np.array([[0.5, 2.0, 2.0, -np.inf, 1.0]], np.float32)
    idx, val = topk_dense(s, 3)
    assert idx.tolist() == [[1, 2, 4]]
    assert val.tolist() == [[2.0, 2.0, 1.0]]
    idx, val = topk_dense(s, 6)
    assert idx.tolist() == [[1, 2, 4, 0, -1, -1]]
    assert np.isnan(val[0, 4:]).all()
    with pytest.raises(ValueError, match="NaN"):
        topk_dense(np.array([[1.0, np.nan, 0.0]]), 2)
    with pytest.raises(ValueError, match="k must be"):
        topk_dense(s, 0)
    wide = np.zeros((2, 4 * GROUP * 3), np.float32)
    wide[1, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        topk_dense(wide, 3)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 12), st.integers(0, 2**31 - 1), st.booleans())
def test_topk_dense_many_wide_rows_in_row_chunks(k, seed, integer):
    # more rows than one selection chunk (SELECT_BUDGET scores): rows are selected chunk by chunk
    g = np.random.default_rng(seed)
    m = k * GROUP * 4 + int(g.integers(0, 200))
    n = SELECT_BUDGET // m * 2 + 3
    if integer:
        scores = g.integers(0, 5, (n, m)).astype(np.float32)
    else:
        scores = g.standard_normal((n, m)).astype(np.float32)
    scores[g.random((n, m)) < 0.2] = -np.inf
    scores[7] = -np.inf
    idx, val = topk_dense(scores, k)
    exp_idx, exp_val = _oracle_wide(scores, k)
    np.testing.assert_array_equal(idx, exp_idx)
    np.testing.assert_array_equal(val, exp_val)


def test_mask_csr_rows_matches_row_slices(rng):
    m = sp.random(30, 50, density=0.2, format="csr", random_state=3, dtype=np.float32)
    m.data[m.indptr[4] : m.indptr[5]] = 0  # an empty row
    m.eliminate_zeros()
    rows = np.array([4, 0, 29, 0, 17])
    got = np.zeros((len(rows), 50), np.float32)
    mask_csr_rows(got, m.indptr, m.indices, rows)
    want = np.zeros_like(got)
    want[m[rows].toarray() != 0] = -np.inf
    np.testing.assert_array_equal(got, want)
    empty = np.zeros((2, 50), np.float32)
    mask_csr_rows(empty, m.indptr, m.indices, np.array([4, 4]))
    assert (empty == 0).all()


@pytest.mark.parametrize(
    ("n", "step"), [(0, 3), (1, 4), (2, 2), (3, 2), (5, 2), (7, 3), (9, 4), (10, 3), (4, 1)]
)
def test_chunk_bounds_cover_in_order_without_a_lone_row(n, step):
    bounds = chunk_bounds(n, step)
    assert [i for a, b in bounds for i in range(a, b)] == list(range(n))
    sizes = [b - a for a, b in bounds]
    if step > 1 and n > 1:
        assert min(sizes) >= 2
    if sizes:
        assert max(sizes) - min(sizes) <= 1 or step == 2
        assert len(sizes) == -(-n // step) or step == 2
    assert max(sizes, default=0) <= max(step, 3 if step == 2 else 1)


def test_scoring_threads_setting(monkeypatch):
    monkeypatch.setenv("RECNB_SCORING_THREADS", "3")
    assert scoring_threads() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("RECNB_SCORING_THREADS", bad)
        with pytest.raises(ValueError, match="RECNB_SCORING_THREADS"):
            scoring_threads()
    monkeypatch.delenv("RECNB_SCORING_THREADS")
    assert scoring_threads() >= 1


def test_chunked_scores_equal_the_block_product(rng, monkeypatch):
    # every customer's scores come from the same matrix-matrix product whatever the number of
    # customers asked: chunks are balanced, where a small remainder chunk (here 2 of 130 rows)
    # used to go through BLAS's small-matrix kernel, which rounds differently
    monkeypatch.setenv("RECNB_SCORING_THREADS", "1")
    inter = random_interactions(rng, n_customers=131, n_products=400, density=0.05)
    model = make_model("pure_svd", n_factors=48, random_state=0, batch_size=64).fit(inter)
    cust = np.arange(inter.n_customers - 1)
    for n in (130, 129, 65):
        idx, val = model.recommend_indices(cust[:n], k=20)
        full = model.customer_factors_[cust] @ model.item_factors_.T
        full[model.seen_[cust].toarray() > 0] = -np.inf
        exp_idx, exp_val = topk_dense(full[:n], 20)
        np.testing.assert_array_equal(val, exp_val)
        np.testing.assert_array_equal(idx, exp_idx)


@pytest.mark.parametrize("name", ["pure_svd", "biased_mf", "als", "ease"])
def test_threads_do_not_change_lists(name, rng, monkeypatch):
    inter = random_interactions(rng, n_customers=80, n_products=60)
    model = build(name, batch_size=3).fit(inter)
    assert model.parallel_scoring
    cust = np.concatenate([np.arange(inter.n_customers), [-1, 5, 5]])
    monkeypatch.setenv("RECNB_SCORING_THREADS", "1")
    a = model.recommend_indices(cust, k=7)
    monkeypatch.setenv("RECNB_SCORING_THREADS", "2")
    b = model.recommend_indices(cust, k=7)
    c = model.recommend_indices(cust, k=7, candidates=np.arange(0, 60, 3))
    monkeypatch.setenv("RECNB_SCORING_THREADS", "1")
    d = model.recommend_indices(cust, k=7, candidates=np.arange(0, 60, 3))
    for x, y in ((a, b), (c, d)):
        np.testing.assert_array_equal(x[0], y[0])
        np.testing.assert_array_equal(x[1], y[1])


def test_transposed_factors_follow_the_attribute(rng):
    inter = random_interactions(rng)
    model = build("pure_svd").fit(inter)
    vt = model._transposed("item_factors_")
    assert vt.flags.c_contiguous and np.array_equal(vt, model.item_factors_.T)
    assert model._transposed("item_factors_") is vt  # kept
    model.item_factors_ = model.item_factors_ * 2
    np.testing.assert_array_equal(model._transposed("item_factors_"), model.item_factors_.T)
    cust = np.arange(inter.n_customers - 1)
    np.testing.assert_array_equal(
        model._score(cust), model.customer_factors_[cust] @ model.item_factors_.T
    )


def test_worker_errors_reach_the_caller(rng, monkeypatch):
    monkeypatch.setenv("RECNB_SCORING_THREADS", "2")
    inter = random_interactions(rng)
    model = build("pure_svd", batch_size=2).fit(inter)
    model.item_factors_ = model.item_factors_.copy()
    model.item_factors_[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.recommend_indices(np.arange(inter.n_customers - 1), k=3)


# -- registry ----------------------------------------------------------------------------------
def test_registry_lists_required_families():
    required = {"random", "popularity", "trending", "item_knn", "user_knn", "content"}
    required |= {"pure_svd", "biased_mf", "ease"}
    assert required <= set(REGISTRY)


def test_make_model_rejects_unknown_names_and_hyperparameters():
    with pytest.raises(KeyError, match="known models: .*item_knn"):
        make_model("itemknn")
    with pytest.raises(
        TypeError, match=r"unknown hyperparameter\(s\) \['neighbours'\].*n_neighbors"
    ):
        make_model("item_knn", neighbours=5)
    model = make_model("item_knn", n_neighbors=5, random_state=1)
    assert model.get_params()["n_neighbors"] == 5
    assert hyperparameters("ease")["max_items"] == 20_000


def test_model_capabilities_table():
    caps = model_capabilities(["content", "item_knn"]).set_index("model")
    assert caps.loc["content", "cold_products"]
    assert not caps.loc["item_knn", "cold_products"]
    assert caps.loc["item_knn", "cold_customers"] == "popularity fallback"
    assert set(model_capabilities()["model"]) == set(REGISTRY)


def test_bad_hyperparameter_values_fail_at_fit():
    inter, _ = checkerboard()
    for name, params, match in [
        ("item_knn", {"n_neighbors": 0}, "n_neighbors"),
        ("item_knn", {"weighting": "idf"}, "weighting"),
        ("user_knn", {"shrinkage": -1.0}, "shrinkage"),
        ("user_knn", {"shrinkage": "none"}, "shrinkage"),
        ("pure_svd", {"n_factors": 2.5}, "n_factors"),
        ("pure_svd", {"item_scaling": float("nan")}, "item_scaling"),
        ("biased_mf", {"regularization": -0.1}, "regularization"),
        ("ease", {"l2": 0.0}, "l2"),
        ("popularity", {"by": "views"}, "by"),
        ("trending", {"window_days": 0}, "window_days"),
        ("content", {"min_df": 0}, "min_df"),
        ("content", {"text_weight": True}, "text_weight"),
        ("random", {"batch_size": 0}, "batch_size"),
    ]:
        with pytest.raises(ValueError, match=match):
            make_model(name, **params).fit(inter)


# -- base class --------------------------------------------------------------------------------
def test_recommend_indices_validates_input():
    inter, _ = checkerboard()
    model = build("item_knn").fit(inter)
    with pytest.raises(IndexError, match="out of range"):
        model.recommend_indices(np.array([inter.n_customers]))
    with pytest.raises(IndexError, match="out of range"):
        model.recommend_indices(np.array([-2]))
    with pytest.raises(TypeError, match="integers"):
        model.recommend_indices(np.array([0.5]))
    with pytest.raises(ValueError, match="k must be"):
        model.recommend_indices(np.array([0]), k=0)
    with pytest.raises(IndexError, match="candidate"):
        model.recommend_indices(np.array([0]), candidates=np.array([99]))


def test_features_override_is_checked():
    inter, _ = checkerboard()
    model = build("content")
    with pytest.raises(ValueError, match="rows, expected"):
        model.fit(inter, features={"product_features": np.ones((3, 2))})
    with pytest.raises(ValueError, match="names"):
        model.fit(
            inter,
            features={
                "product_features": np.ones((inter.n_products, 2)),
                "product_feature_names": ["a"],
            },
        )
    with pytest.raises(TypeError, match="DataFrame"):
        model.fit(inter, features={"products": [1, 2]})


def test_load_refuses_foreign_or_missing_files(tmp_path):
    inter, _ = checkerboard()
    model = build("popularity").fit(inter)
    with pytest.raises(MissingModelFileError, match="no such folder") as err:
        Recommender.load(tmp_path / "nothing")
    assert isinstance(err.value, FileNotFoundError)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="model.json: missing"):
        Recommender.load(tmp_path / "empty")
    folder = model.save(tmp_path / "m")
    info = json.loads((folder / "model.json").read_text())
    with pytest.raises(TypeError, match="PopularityRecommender"):
        REGISTRY["ease"].load(folder)
    info["model"] = "no_such_model"
    (folder / "model.json").write_text(json.dumps(info))
    with pytest.raises(ModelFileError, match="model.json: model 'no_such_model' is not registered"):
        Recommender.load(folder)
    info["format"] = "pickle"
    (folder / "model.json").write_text(json.dumps(info))
    with pytest.raises(ModelFileError, match="model.json: format 'pickle'"):
        Recommender.load(folder)
    info["format"] = "recnb-model/1"  # the format before checksums
    (folder / "model.json").write_text(json.dumps(info))
    with pytest.raises(ModelFileError, match="without checksums"):
        Recommender.load(folder)
    (folder / "model.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ModelFileError, match="not a text file"):
        Recommender.load(folder)
    (folder / "model.json").write_text("[1, 2]")
    with pytest.raises(ModelFileError, match="expected a JSON object"):
        Recommender.load(folder)


def test_load_rejects_the_issue_cases(tmp_path):
    # issue 9: a model.json with n_neighbors "lots" loaded and recommended; a damaged state.npz
    # ended in BadZipFile, a "pickled data" message, a numpy shape error or an AttributeError
    inter, _ = checkerboard()
    model = build("item_knn").fit(inter)
    folder = model.save(tmp_path / "knn")
    good = (folder / "model.json").read_text()
    info = json.loads(good)
    info["params"]["n_neighbors"] = "lots"
    (folder / "model.json").write_text(json.dumps(info))
    with pytest.raises(ModelFileError, match="item_knn: n_neighbors must be an int, got 'lots'"):
        Recommender.load(folder)
    info["params"]["n_neighbors"] = 0
    (folder / "model.json").write_text(json.dumps(info))
    with pytest.raises(ModelFileError, match="n_neighbors must be an int >= 1"):
        Recommender.load(folder)
    (folder / "model.json").write_text(good)
    # a consistent rewrite (checksums and recorded shapes updated) of a wrong-sized similarity
    # matrix is caught when the state is put together, not as a numpy error at recommend time
    sim = model.similarity_
    model.similarity_ = sp.csr_matrix(sim[:-1, :-1])
    folder2 = model.save(tmp_path / "knn2")
    with pytest.raises(ModelFileError, match="state.npz: the saved state does not make a working"):
        Recommender.load(folder2)
    model.similarity_ = sim
    assert Recommender.load(folder).recommend(["c0"], k=2).shape == (2, 4)


def test_save_records_checksums_dtypes_and_shapes(tmp_path):
    inter, _ = checkerboard()
    model = build("pure_svd").fit(inter)
    folder = model.save(tmp_path / "m")
    info = json.loads((folder / "model.json").read_text())
    assert info["format"] == "recnb-model/2"
    data = (folder / "state.npz").read_bytes()
    assert info["state_npz"] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert info["arrays"]["item_factors_"] == {
        "dtype": "<f4",
        "shape": list(model.item_factors_.shape),
    }
    assert info["arrays"]["seen___indptr"]["shape"] == [inter.n_customers + 1]
    assert len(info["state_sha256"]) == 64


def test_check_params_types_from_annotations():
    # the annotations of __init__ are the types: every model, including ones added later
    for name, params, match in [
        ("item_knn", {"n_neighbors": "lots"}, "n_neighbors must be an int, got 'lots'"),
        ("item_knn", {"n_neighbors": 5.0}, "n_neighbors must be an int"),
        ("als", {"use_cg": 1}, "use_cg must be a bool"),
        ("ease", {"l2": "high"}, "l2 must be a number"),
        ("trending", {"half_life_days": "week"}, "half_life_days must be a number or None"),
        ("popularity", {"by": 3}, "by must be a str"),
        ("random", {"random_state": "seven"}, "random_state must be an int or None"),
        ("random", {"random_state": -1}, "random_state must be None or an int >= 0"),
        ("random", {"batch_size": True}, "batch_size must be an int or None"),
    ]:
        with pytest.raises(ValueError, match=match):
            make_model(name, **params).check_params()
    make_model("ease", l2=5).check_params()  # an int is a number
    make_model("trending", half_life_days=None, random_state=np.int64(3)).check_params()


def test_save_refuses_unwritable_state(tmp_path):
    inter, _ = checkerboard()
    model = build("popularity").fit(inter)
    model.something_ = object()
    with pytest.raises(TypeError, match="something_"):
        model.save(tmp_path / "m")


# -- baselines ---------------------------------------------------------------------------------
def test_random_is_seeded_and_personal():
    inter = random_interactions(np.random.default_rng(0), n_customers=20, n_products=40)
    a = make_model("random", random_state=1).fit(inter).recommend_indices(np.arange(19), k=10)[0]
    b = make_model("random", random_state=2).fit(inter).recommend_indices(np.arange(19), k=10)[0]
    assert not np.array_equal(a, b)
    assert len({tuple(r) for r in a}) > 15  # lists differ between customers


def test_popularity_by_confidence_and_trending_window():
    day = 86_400.0
    m = sp.csr_matrix(np.array([[5, 1, 0], [1, 1, 0], [0, 1, 1]], np.float32))
    ts = sp.csr_matrix(
        np.array([[1 * day, 10 * day, 0], [2 * day, 10 * day, 0], [0, 9 * day, 10 * day]])
    )
    inter = Interactions(m, ["a", "b", "c"], ["x", "y", "z"], timestamps=ts)
    pop = make_model("popularity").fit(inter)
    np.testing.assert_array_equal(pop.item_scores_, [2, 3, 1])
    conf = make_model("popularity", by="confidence").fit(inter)
    np.testing.assert_array_equal(conf.item_scores_, [6, 3, 1])
    trend = make_model("trending", window_days=3).fit(inter)
    np.testing.assert_array_equal(trend.item_scores_, [0, 3, 1])
    decay = make_model("trending", window_days=3, half_life_days=1).fit(inter)
    np.testing.assert_allclose(decay.item_scores_, [0, 2.5, 1])
    with pytest.raises(ValueError, match="timestamps"):
        make_model("trending").fit(Interactions(m, ["a", "b", "c"], ["x", "y", "z"]))


# -- kNN ---------------------------------------------------------------------------------------
def test_top_similar_matches_dense_cosine(rng):
    x = sp.random(30, 12, density=0.3, random_state=4, format="csr", dtype=np.float32)
    sims = top_similar(x, n_neighbors=4, shrinkage=0.5, budget=64).toarray()
    d = x.toarray().astype(np.float64)
    norms = np.linalg.norm(d, axis=1)
    full = d @ d.T / (norms[:, None] * norms[None, :] + 0.5)
    np.fill_diagonal(full, 0)
    for r in range(30):
        kept = np.flatnonzero(sims[r])
        positive = np.flatnonzero(full[r] > 0)
        assert len(kept) == min(4, len(positive))
        np.testing.assert_allclose(sims[r, kept], full[r, kept], rtol=1e-5)
        if len(kept):  # nothing better was dropped
            assert full[r].max() <= sims[r, kept].max() + 1e-6
            assert np.sort(full[r])[::-1][len(kept) - 1] == pytest.approx(sims[r, kept].min())


@pytest.mark.parametrize(
    ("n_neighbors", "shrinkage", "weighting"),
    [(1, 0.0, "none"), (3, 0.5, "none"), (7, 10.0, "bm25"), (500, 2.0, "tfidf")],
)
def test_top_similar_identical_to_the_block_version(n_neighbors, shrinkage, weighting):
    # small integer counts: many exactly tied similarities, rows without any overlap, and
    # n_neighbors above the row count; the compiled kernel keeps the same neighbours and values
    gen = np.random.default_rng(n_neighbors)
    dense = gen.integers(0, 3, size=(60, 25)) * (gen.random((60, 25)) < 0.2)
    dense[5] = 0  # a row with nothing
    dense[6] = dense[7]  # two identical rows
    x = weight_rows(sp.csr_matrix(dense.astype(np.float32)), weighting)
    new = top_similar(x, n_neighbors, shrinkage)
    old = top_similar_blocks(x, n_neighbors, shrinkage, budget=64)
    assert new.shape == old.shape == (60, 60)
    np.testing.assert_array_equal(new.indptr, old.indptr)
    np.testing.assert_array_equal(new.indices, old.indices)
    np.testing.assert_array_equal(new.data, old.data)
    assert new.dtype == np.float32 and new.has_sorted_indices


def test_weight_rows_bm25_and_tfidf():
    x = sp.csr_matrix(np.array([[1, 4, 0], [0, 1, 1], [2, 0, 0]], np.float32))
    tf = weight_rows(x, "tfidf").toarray()
    idf = np.log1p(3 / np.array([2, 2, 1]))
    np.testing.assert_allclose(tf, np.sqrt(x.toarray()) * idf, rtol=1e-6)
    bm = weight_rows(x, "bm25", k1=1.2, b=0.75).toarray()
    lengths = np.array([5, 2, 2.0])
    norm = 0.25 + 0.75 * lengths / lengths.mean()
    d = x.toarray()
    expected = np.where(d > 0, d * 2.2 / (1.2 * norm[:, None] + d) * idf, 0)
    np.testing.assert_allclose(bm, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="weighting"):
        weight_rows(x, "idf")


def test_item_knn_scores_are_history_times_similarity(rng):
    inter = random_interactions(rng)
    model = build("item_knn", n_neighbors=5, weighting="bm25").fit(inter)
    assert model.similarity_.getnnz(axis=1).max() <= 5
    s = model.score_pairs(np.arange(5), np.full(5, 2))
    expected = (inter.matrix[:5] @ model.similarity_[:, 2]).toarray().ravel()
    np.testing.assert_allclose(s, expected, rtol=1e-6)


# -- content -----------------------------------------------------------------------------------
def test_product_vectors_blocks_and_alignment():
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    products = products_table(ids, np.random.default_rng(0)).iloc[[2, 0, 1]]  # 'd' missing
    m, names = product_vectors(products, ids, min_df=1)
    assert m.shape == (4, len(names))
    assert m[3].nnz == 0
    assert "category:home" in names and "category:home/kitchen" in names
    assert any(n.startswith("term:") for n in names)
    assert any(n.startswith("brand:") for n in names)
    assert any(n.startswith("price:") for n in names)
    with pytest.raises(KeyError, match="product_id"):
        product_vectors(products.drop(columns="product_id"), ids)


def test_content_serves_cold_products_and_needs_features(rng):
    inter, _ = checkerboard()
    # product p5 gets no interactions at all: still reachable through its features
    m = inter.matrix.tolil()
    m[:, 5] = 0
    cold = inter.with_matrix(m.tocsr())
    model = build("content").fit(cold)
    assert model.popularity_[5] == 0
    idx, _ = model.recommend_indices(np.arange(12), k=2)
    assert (idx == 5).any()
    bare = Interactions(inter.matrix, inter.customer_ids, inter.product_ids)
    with pytest.raises(ValueError, match="no product features"):
        build("content").fit(bare)


# -- factorisation -----------------------------------------------------------------------------
def test_pure_svd_matches_exact_svd_projection(rng):
    inter = random_interactions(rng, n_customers=30, n_products=15)
    model = build("pure_svd", n_factors=5, n_iter=30).fit(inter)
    x = inter.matrix.toarray().astype(np.float64)
    _, _, vt = np.linalg.svd(x)
    v = vt[:5].T
    expected = x @ v @ v.T
    got = model.score_pairs(np.repeat(np.arange(29), 15), np.tile(np.arange(15), 29))
    np.testing.assert_allclose(got.reshape(29, 15), expected[:29], atol=2e-3)
    assert model.item_factors_.dtype == np.float32


def test_pure_svd_item_scaling_is_eigenrec_projection(rng):
    """EigenRec's scaling: the SVD of ``X diag(||x_j||^d)``, customers scored by ``x_u V V^T``."""
    inter = random_interactions(rng, n_customers=30, n_products=15)
    x = inter.matrix.toarray().astype(np.float64)
    d = -0.5
    norms = np.linalg.norm(x, axis=0)
    _, _, vt = np.linalg.svd(x * np.where(norms > 0, norms, 1.0) ** d)
    v = vt[:5].T
    model = build("pure_svd", n_factors=5, n_iter=30, item_scaling=d).fit(inter)
    got = model.score_pairs(np.repeat(np.arange(29), 15), np.tile(np.arange(15), 29))
    np.testing.assert_allclose(got.reshape(29, 15), (x @ v @ v.T)[:29], atol=2e-3)
    plain = build("pure_svd", n_factors=5, n_iter=30).fit(inter)
    assert not np.allclose(
        got, plain.score_pairs(np.repeat(np.arange(29), 15), np.tile(np.arange(15), 29)), atol=1e-2
    )


def test_biased_mf_recovers_low_rank_ratings():
    g = np.random.default_rng(5)
    n_c, n_p, f = 120, 60, 2
    truth = 3.0 + g.normal(0, 0.3, (n_c, 1)) + g.normal(0, 0.3, (1, n_p))
    truth += g.normal(0, 0.6, (n_c, f)) @ g.normal(0, 0.6, (f, n_p))
    mask = g.random((n_c, n_p)) < 0.5
    noisy = truth + g.normal(0, 0.1, truth.shape)
    r, c = np.nonzero(mask)
    inter = Interactions(
        sp.csr_matrix((noisy[r, c].astype(np.float32), (r, c)), shape=(n_c, n_p)),
        [f"u{i}" for i in range(n_c)],
        [f"i{j}" for j in range(n_p)],
    )
    model = make_model("biased_mf", n_factors=2, n_epochs=25, regularization=0.02, random_state=0)
    model.fit(inter)
    hr, hc = np.nonzero(~mask)
    pred = model.predict(np.array(inter.customer_ids)[hr], np.array(inter.product_ids)[hc])
    rmse = float(np.sqrt(np.mean((pred - truth[hr, hc]) ** 2)))
    baseline = float(np.sqrt(np.mean((noisy[r, c].mean() - truth[hr, hc]) ** 2)))
    assert rmse < 0.1 < baseline
    # unknown ids fall back to biases / the global mean; predictions are clipped to the range
    p = model.predict(["u0", "ghost", "ghost"], ["ghost", "i0", "ghost"])
    assert p[2] == pytest.approx(model.global_mean_)
    assert p[0] == pytest.approx(model.global_mean_ + model.customer_bias_[0], rel=1e-6)
    assert (model.predict(["u0"] * n_p, inter.product_ids) <= noisy[r, c].max() + 1e-6).all()


def _naive_als_side(r, other, other_bias, mu, reg, bias_reg):
    """One least-squares solve per row, the textbook way (the reference for _als_side)."""
    f = other.shape[1]
    p, b = np.zeros((r.shape[0], f)), np.zeros(r.shape[0])
    for u in range(r.shape[0]):
        cols = r.indices[r.indptr[u] : r.indptr[u + 1]]
        if len(cols) == 0:
            continue
        y = np.hstack([other[cols], np.ones((len(cols), 1))])
        t = r.data[r.indptr[u] : r.indptr[u + 1]].astype(np.float64) - mu - other_bias[cols]
        pen = len(cols) * np.diag([reg] * f + [bias_reg])
        x = np.linalg.solve(y.T @ y + pen, y.T @ t)
        p[u], b[u] = x[:f], x[f]
    return p, b


@pytest.mark.parametrize(("f", "bias_reg", "threads"), [(3, 0.05, 1), (12, 0.2, 2), (12, 0.0, 2)])
def test_als_side_matches_one_solve_per_row(f, bias_reg, threads):
    # rows with 0, 1, a few (dual form: fewer ratings than factors) and many ratings (primal)
    g = np.random.default_rng(f)
    counts = np.array([0, 1, 2, 3, 5, 8, 13, 21, 34, 55] * 3)
    n_other = 60
    rows = np.repeat(np.arange(len(counts)), counts)
    cols = np.concatenate([g.choice(n_other, c, replace=False) for c in counts])
    r = sp.csr_matrix(
        ((g.integers(1, 11, len(rows)) / 2).astype(np.float32), (rows, cols)),
        shape=(len(counts), n_other),
    )
    r.sort_indices()
    other, bias = g.normal(0, 0.3, (n_other, f)), g.normal(0, 0.2, n_other)
    want = _naive_als_side(r, other, bias, 3.1, 0.1, bias_reg)
    buckets = _buckets(r, f + 1)
    with ThreadPoolExecutor(threads) as pool:
        got = _als_side(buckets, r.shape[0], other, bias, 3.1, 0.1, bias_reg, pool)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-9, atol=1e-12)
    assert sorted(np.concatenate([b.rows for b in buckets]).tolist()) == list(
        np.flatnonzero(counts)
    )


def test_biased_mf_equals_the_previous_als(monkeypatch):
    # golden predictions of the ALS before the batched solver (commit e05abfd: one Gram matrix per
    # row from sparse products, one solve per row), same data, seed and settings
    golden = np.load(FIXTURES / "biased_mf_als_e05abfd.npz")
    g = np.random.default_rng(2024)
    n_c, n_p = 70, 45
    mask = g.random((n_c, n_p)) < 0.3
    mask[:, 0] |= ~mask.any(axis=1)
    mask[0, :] |= ~mask.any(axis=0)
    r, c = np.nonzero(mask)
    vals = (g.integers(1, 11, len(r)) / 2.0).astype(np.float32)
    inter = Interactions(
        sp.csr_matrix((vals, (r, c)), shape=(n_c, n_p)),
        [f"u{i}" for i in range(n_c)],
        [f"i{j}" for j in range(n_p)],
    )
    for threads in ("1", "2"):
        monkeypatch.setenv("RECNB_SCORING_THREADS", threads)
        model = make_model(
            "biased_mf",
            n_factors=3,
            n_epochs=6,
            regularization=0.08,
            bias_regularization=0.05,
            random_state=11,
        ).fit(inter)
        assert model.global_mean_ == pytest.approx(float(golden["global_mean"]), abs=1e-12)
        np.testing.assert_allclose(model.item_bias_, golden["item_bias"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            model._score(np.arange(n_c)), golden["scores"], rtol=1e-5, atol=1e-5
        )


def test_biased_mf_needs_a_factor_penalty():
    inter, _ = checkerboard()
    with pytest.raises(ValueError, match="regularization must be a positive"):
        make_model("biased_mf", regularization=0.0).fit(inter)
    make_model("biased_mf", n_factors=2, n_epochs=2, bias_regularization=0.0).fit(inter)


# -- EASE --------------------------------------------------------------------------------------
def test_ease_matches_closed_form(rng):
    inter = random_interactions(rng, n_customers=40, n_products=12)
    model = build("ease", l2=3.0).fit(inter)
    x = (inter.matrix.toarray() > 0).astype(np.float64)
    p = np.linalg.inv(x.T @ x + 3.0 * np.eye(12))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    np.testing.assert_allclose(model.weights_, b, atol=1e-5)
    assert model.weights_.dtype == np.float32


def test_ease_refuses_large_catalogue_with_clear_message():
    inter, _ = checkerboard()
    with pytest.raises(EaseMemoryError, match=r"12 products, above max_items=10.*GiB"):
        build("ease", max_items=10).fit(inter)
    assert issubclass(EaseMemoryError, MemoryError)
