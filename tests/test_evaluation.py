"""Evaluation glue: fit, recommend, score, segment, time; tiny data with known answers."""

from __future__ import annotations

import ast

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recnb.data.interactions import Interactions, check_same_ids
from recnb.evaluation.cost import PeakMemory
from recnb.evaluation.evaluate import (
    evaluate_models,
    evaluation_customers,
    load_evaluation_parts,
    product_categories,
    recommend_topk,
)
from recnb.evaluation.segments import (
    SEGMENTS,
    customer_devices,
    customer_segments,
    segment_summary,
)
from recnb.evaluation.specs import ModelSpec, algorithms, model_specs
from recnb.models.base import Recommender
from recnb.models.registry import model_capabilities
from recnb.models.testing import TEST_PARAMS, checkerboard


class Oracle(Recommender):
    """Scores every product by its held-out value: the perfect model (not registered)."""

    name = "oracle_for_tests"

    def __init__(self, truth=None, random_state=None, unknown="popularity", batch_size=None):
        self.truth = truth
        self.random_state = random_state
        self.unknown = unknown
        self.batch_size = batch_size

    def _fit(self, train, rng):
        self.n_fitted_ = 1

    def _score(self, customer_idx):
        return self.truth[customer_idx].toarray().astype(np.float32)


class OracleSpec(ModelSpec):
    def build(self, seed=None, **overrides):
        return Oracle(truth=self.params["truth"], random_state=seed)


def _board_parts():
    train, held = checkerboard()
    rows = list(held)
    test_m = sp.csr_matrix(
        (np.ones(len(rows), np.float32), (rows, [held[u] for u in rows])), shape=train.shape
    )
    return train, train.with_matrix(test_m), held


def test_perfect_model_scores_one_on_every_accuracy_metric():
    train, test, _ = _board_parts()
    ev = evaluate_models(
        [OracleSpec("oracle", "oracle", {"truth": test.matrix})],
        train,
        test,
        k_values=[1, 3],
        n_bootstrap=50,
        beyond_metrics=(),
    )
    acc = ev.summary[ev.summary["kind"] == "accuracy"]
    # one held-out item per customer: every metric but precision@3 is exactly 1
    at1 = acc[acc["k"] == 1]
    assert set(at1["metric"]) == {"precision", "recall", "ndcg", "map_min", "hit_rate", "mrr"}
    np.testing.assert_allclose(at1["value"], 1.0, atol=0)
    at3 = acc[acc["k"] == 3].set_index("metric")["value"]
    assert at3["precision"] == pytest.approx(1 / 3, abs=1e-12)
    for m in ("recall", "ndcg", "map_min", "hit_rate", "mrr"):
        assert at3[m] == 1.0
    assert (acc["n"] == 24).all()  # every customer with a held-out item, none other


def test_known_answers_on_the_checkerboard():
    train, test, held = _board_parts()
    specs = model_specs(["item_knn", "popularity"], {"item_knn": TEST_PARAMS["item_knn"]})
    ev = evaluate_models(specs, train, test, k_values=[1, 5], seed=3, n_bootstrap=50)
    s = ev.summary.set_index(["model", "metric", "k"])["value"]
    assert s[("item_knn", "hit_rate", 1)] == 1.0
    assert s[("item_knn", "ndcg", 5)] == 1.0
    # the lists never contain a seen product, and their rows are the evaluated customers
    topk = ev.runs["item_knn"].topk
    cidx = ev.customers["customer_row"].to_numpy()
    assert list(cidx) == sorted(held)
    assert topk[:, 0].tolist() == [held[u] for u in cidx]
    seen = train.matrix[cidx].toarray() > 0
    assert not np.take_along_axis(seen, np.maximum(topk, 0), axis=1)[topk >= 0].any()
    # popularity: all in-block products are equally popular -> the answer is not always first
    assert s[("popularity", "hit_rate", 1)] < 1.0
    # per-customer table holds one value per model, customer, metric and k
    pc = ev.per_customer
    assert not pc.duplicated(["model", "customer_row", "metric", "k"]).any()
    assert set(pc["customer_row"]) == set(held)


def test_summary_has_intervals_beyond_accuracy_and_timing():
    train, test, _ = _board_parts()
    cats = np.array(["a"] * 6 + ["b"] * 6, dtype=object)
    specs = model_specs(["random", "item_knn"], {"item_knn": TEST_PARAMS["item_knn"]})
    ev = evaluate_models(
        specs, train, test, k_values=[2], seed=1, n_bootstrap=100, item_categories=cats
    )
    s = ev.summary
    assert {"catalog_coverage", "gini_exposure", "novelty", "ild_category", "aplt"} <= set(
        s["metric"]
    )
    acc = s[s["kind"] == "accuracy"]
    assert (acc["ci_low"] <= acc["value"] + 1e-12).all()
    assert (acc["value"] <= acc["ci_high"] + 1e-12).all()
    # item_knn: the one unseen product of the customer's block, then one of the other block
    ild = s.set_index(["model", "metric", "k"])["value"][("item_knn", "ild_category", 2)]
    assert ild == 1.0
    t = ev.timing.set_index("model")
    assert list(t.index) == ["random", "item_knn"]
    assert (t["fit_seconds"] >= 0).all() and (t["recommend_seconds"] >= 0).all()
    assert (t["n_customers"] == 24).all()
    assert list(ev.summary["model"].drop_duplicates()) == ["random", "item_knn"]


def test_rating_metrics_for_rating_models(rng):
    n_c, n_p = 40, 15
    dense = rng.integers(1, 6, size=(n_c, n_p)).astype(np.float32)
    mask = rng.random((n_c, n_p)) < 0.8
    ids_c, ids_p = [f"c{i}" for i in range(n_c)], [f"p{j}" for j in range(n_p)]
    train = Interactions(sp.csr_matrix(dense * mask), ids_c, ids_p)
    test = train.with_matrix(sp.csr_matrix(dense * ~mask))
    specs = model_specs(["biased_mf", "popularity"], {"biased_mf": {"n_factors": 2}})
    ev = evaluate_models(specs, train, test, k_values=[3], n_bootstrap=50, beyond_metrics=())
    r = ev.rating.set_index("metric")
    assert list(ev.rating["model"].unique()) == ["biased_mf"]
    model = ev.runs["biased_mf"].model
    coo = test.matrix.tocoo()
    pred = model.predict(np.array(ids_c)[coo.row], np.array(ids_p)[coo.col])
    assert r.loc["rmse", "value"] == pytest.approx(np.sqrt(np.mean((pred - coo.data) ** 2)))
    assert r.loc["mae", "value"] == pytest.approx(np.mean(np.abs(pred - coo.data)))


def test_segments_cold_light_heavy_and_device():
    m = sp.csr_matrix(
        np.array([[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], np.float32)
    )
    seg, light_max = customer_segments(m, np.arange(5))
    assert light_max == 2  # median of warm histories 1, 2, 3, 4 = 2.5 -> 2
    assert seg["segment"].astype(str).tolist() == ["cold", "light", "light", "heavy", "heavy"]
    seg, light_max = customer_segments(m, np.arange(5), light_max=3)
    assert seg["segment"].astype(str).tolist() == ["cold", "light", "light", "light", "heavy"]
    with pytest.raises(ValueError, match="light_max"):
        customer_segments(m, np.arange(5), light_max=0)

    customers = pd.DataFrame({"customer_id": ["a", "b"], "device": ["mobile", None]})
    dev = customer_devices(["b", "a", "z"], customers=customers)
    assert dev.tolist() == ["unknown", "mobile", "unknown"]
    events = pd.DataFrame(
        {"customer_id": ["a", "a", "a", "b", "b"], "device": ["web", "app", "app", "web", "app"]}
    )
    dev = customer_devices(["a", "b"], events=events)
    assert dev.tolist() == ["app", "app"]  # most used; a tie goes to the first name
    assert customer_devices(["a"], customers=pd.DataFrame({"customer_id": ["a"]})) is None


def test_device_segments_in_the_evaluation():
    train, test, _ = _board_parts()
    dev = pd.Series(["web" if i % 2 else "app" for i in range(train.n_customers)])
    specs = model_specs(["item_knn"], {"item_knn": TEST_PARAMS["item_knn"]})
    ev = evaluate_models(specs, train, test, k_values=[1], n_bootstrap=20, devices=dev)
    d = ev.segments[ev.segments["segment_kind"] == "device"]
    assert sorted(d["segment"].unique()) == ["app", "web"]
    assert d.groupby("metric")["n"].sum().eq(24).all()
    a = ev.segments[ev.segments["segment_kind"] == "activity"]
    assert set(a["segment"]) <= {"cold", "light", "heavy"}
    with pytest.raises(ValueError, match="devices has 3 entries"):
        evaluate_models(specs, train, test, k_values=[1], n_bootstrap=20, devices=dev[:3])


def test_segment_summary_with_non_text_device_labels():
    # integer device codes and a missing device: the codes are reported as text, the gap dropped
    per_customer = pd.DataFrame(
        {
            "model": "m",
            "customer_row": np.arange(6),
            "metric": "ndcg",
            "k": 1,
            "value": [1.0, 0.0, 1.0, 1.0, 0.0, 0.0],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_row": np.arange(6),
            "segment": pd.Categorical(["light"] * 6, categories=list(SEGMENTS), ordered=True),
            "device": np.array([1, 1, 2, 2, 2, None], dtype=object),
        }
    )
    out = segment_summary(per_customer, customers, n_bootstrap=20, min_group_size=1)
    d = out[out["segment_kind"] == "device"].set_index("segment")
    assert d.index.tolist() == ["1", "2"]
    assert d.loc["1", "value"] == pytest.approx(0.5)
    assert d.loc["2", "value"] == pytest.approx(2 / 3)
    assert d["n"].tolist() == [2, 3]


def test_small_segments_are_not_reported():
    train, test, _ = _board_parts()
    # 24 evaluated customers: 2 on "tv", 22 on "app"
    dev = pd.Series(["tv" if i < 2 else "app" for i in range(train.n_customers)])
    specs = model_specs(["item_knn"], {"item_knn": TEST_PARAMS["item_knn"]})
    ev = evaluate_models(
        specs, train, test, k_values=[1], n_bootstrap=20, devices=dev, min_group_size=10
    )
    d = ev.segments[ev.segments["segment_kind"] == "device"]
    assert d["segment"].unique().tolist() == ["app"]
    ev = evaluate_models(
        specs, train, test, k_values=[1], n_bootstrap=20, devices=dev, min_group_size=1
    )
    d = ev.segments[ev.segments["segment_kind"] == "device"]
    assert sorted(d["segment"].unique()) == ["app", "tv"]


def test_evaluation_customers_and_sample():
    m = sp.csr_matrix(np.array([[0, 1], [0, 0], [2, 0], [1, 1], [0, 3]], np.float32))
    assert evaluation_customers(m).tolist() == [0, 2, 3, 4]
    a = evaluation_customers(m, max_customers=2, seed=5)
    assert len(a) == 2 and set(a) <= {0, 2, 3, 4} and list(a) == sorted(a)
    assert a.tolist() == evaluation_customers(m, max_customers=2, seed=5).tolist()
    assert evaluation_customers(m, max_customers=0).tolist() == [0, 2, 3, 4]


def test_recommend_topk_in_chunks_equals_one_call():
    train, _, _ = _board_parts()
    model = model_specs(["item_knn"], {"item_knn": TEST_PARAMS["item_knn"]})[0].build(0)
    model.fit(train)
    cidx = np.arange(train.n_customers)
    whole, _ = model.recommend_indices(cidx, k=4)
    np.testing.assert_array_equal(recommend_topk(model, cidx, 4, chunk=5), whole)


def test_model_specs_validation():
    specs = model_specs(
        ["als", "lightfm_cf"], {"lightfm_cf": {"model": "lightfm_warp", "use_features": False}}
    )
    assert specs[1] == ModelSpec("lightfm_cf", "lightfm_warp", {"use_features": False})
    assert specs[0].build(seed=9).random_state == 9
    assert specs[0].with_params(factors=8).build(1).factors == 8
    with pytest.raises(KeyError, match="nonexistent"):
        model_specs(["nonexistent"])
    with pytest.raises(TypeError, match="unknown hyperparameter"):
        model_specs(["als"], {"als": {"factor": 8}})
    with pytest.raises(ValueError, match="not in models"):
        model_specs(["als"], {"bpr": {}})
    with pytest.raises(ValueError, match="more than once"):
        model_specs(["als", "als"])
    with pytest.raises(ValueError, match="non-empty list"):
        model_specs([])
    with pytest.raises(ValueError, match=r"model_params\['als'\] must be a mapping"):
        model_specs(["als"], {"als": ["factors", 8]})


def test_capabilities_follow_the_class_flags():
    specs = model_specs(["popularity", "content", "item_knn"])
    caps = model_capabilities(algorithms(specs)).set_index("model")
    assert caps.loc["content", "cold_products"]
    assert not caps.loc["item_knn", "cold_products"]
    assert caps.loc["item_knn", "cold_customers"] == "popularity fallback"
    assert caps.loc["item_knn", "explains"]


def test_parts_must_share_id_maps():
    train, test, _ = _board_parts()
    other = Interactions(test.matrix, [f"x{i}" for i in range(test.n_customers)], test.product_ids)
    with pytest.raises(ValueError, match="customer_ids"):
        check_same_ids({"train": train, "test": other}, "test")
    with pytest.raises(ValueError, match="no models"):
        evaluate_models([], train, test)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_models(model_specs(["popularity"]), train, test, metrics=("ndcgg",))


def test_load_evaluation_parts(tmp_path):
    train, test, _ = _board_parts()
    with pytest.raises(FileNotFoundError, match="02_preprocessing"):
        load_evaluation_parts(tmp_path / "split")
    train.save(tmp_path / "split" / "train")
    test.save(tmp_path / "split" / "test")
    a, b = load_evaluation_parts(tmp_path / "split")
    assert (a.matrix != train.matrix).nnz == 0 and (b.matrix != test.matrix).nnz == 0


def test_product_categories_top_level():
    products = pd.DataFrame(
        {"product_id": ["p1", "p2", "p3"], "category": ["home/kitchen", None, "toys"]}
    )
    got = product_categories(["p3", "p1", "p2", "p9"], products)
    assert got.tolist() == ["toys", "home", "unknown", "unknown"]
    assert product_categories(["p1"], products.drop(columns="category")) is None


def test_peak_memory_sees_a_large_allocation():
    with PeakMemory() as mem:
        block = np.ones(64 * 2**20 // 8)  # 64 MB, touched
        block[::512] += 1.0
    assert mem.peak_mb >= 48
    del block


# ----------------------------------------------------------------------------------------------
# notebook 03 end to end (papermill): the CI shop, and the MovieLens protocol on a small u.data
# ----------------------------------------------------------------------------------------------


def _write_ml100k(folder, rng, n_users=80, n_items=50):
    """A small folder in the ML-100K layout (u.data, u.item) with three taste groups."""
    folder.mkdir(parents=True)
    rows = []
    t = 880_000_000
    for u in range(1, n_users + 1):
        liked = [i for i in range(1, n_items + 1) if i % 3 == u % 3]
        other = [i for i in range(1, n_items + 1) if i % 3 != u % 3]
        items = list(rng.choice(liked, 10, replace=False)) + list(
            rng.choice(other, 4, replace=False)
        )
        for i in items:
            r = int(rng.integers(4, 6)) if i % 3 == u % 3 else int(rng.integers(1, 4))
            t += int(rng.integers(1, 5000))
            rows.append(f"{u}\t{i}\t{r}\t{t}")
    (folder / "u.data").write_text("\n".join(rows) + "\n")
    genres = ["0"] * 19
    items = []
    for i in range(1, n_items + 1):
        g = list(genres)
        g[1 + i % 3] = "1"
        items.append(f"{i}|Movie {i} (199{i % 10})|01-Jan-199{i % 10}||http://x|" + "|".join(g))
    (folder / "u.item").write_text("\n".join(items) + "\n", encoding="latin-1")


@pytest.mark.notebook
@pytest.mark.slow
def test_movielens_protocol_on_a_small_u_data_file(rng, tmp_path, monkeypatch, capsys):
    import importlib.util

    import yaml

    from recnb.workflow.params import REPO_ROOT

    data = tmp_path / "data" / "ml-100k"
    _write_ml100k(data, rng)
    params = yaml.safe_load((REPO_ROOT / "params" / "movielens100k.yaml").read_text())
    params["stages"] = ["02_preprocessing", "03_model_comparison"]
    params["data"]["path"] = str(data)
    mc = params["model_comparison"]
    mc["models"] = ["popularity", "item_knn", "pure_svd", "biased_mf", "als"]
    mc["model_params"] = {"als": {"num_threads": 1, "iterations": 5}}
    mc["search_space"] = {"pure_svd": {"n_factors": {"low": 2, "high": 12}}}
    mc.update(n_trials=3, n_trials_per_model={}, n_bootstrap=100)
    pfile = tmp_path / "ml.yaml"
    pfile.write_text(yaml.safe_dump(params))
    monkeypatch.setenv("RECNB_PSEUDONYM_KEY", "test-key-not-secret")

    spec = importlib.util.spec_from_file_location(
        "bench_movielens", REPO_ROOT / "benchmarks" / "bench_movielens.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main([str(pfile), "--reports-dir", str(tmp_path / "reports")]) == 0
    out = capsys.readouterr().out
    # the pipeline's test part is exactly recnb's python_stratified_split of the raw file
    assert "'only_reference': 0, 'only_pipeline': 0" in out
    assert "targets on ml-100k" in out and "BiVAE" in out
    assert "== tuning on validation" in out

    res = tmp_path / "reports" / "movielens100k" / "results" / "03_model_comparison"
    metrics = pd.read_parquet(res / "metrics.parquet")
    at10 = metrics[metrics["k"] == 10]
    assert {"map_msr", "map_min", "ndcg", "precision", "recall"} <= set(at10["metric"])
    # the report prints Microsoft's published rows (named in the params file) below ours
    beside = pd.read_parquet(res / "reference_comparison.parquet")
    assert beside[beside["source"] == "this run"]["model"].tolist()[0] in mc["models"]
    theirs = beside[beside["source"] == "msr_movielens100k"].set_index("model")
    assert theirs.loc["BPR", "ndcg"] == 0.441997
    html = (tmp_path / "reports" / "movielens100k" / "03_model_comparison.html").read_text()
    assert "Beside published figures" in html and "README" in html
    assert "0.4420" in html  # Microsoft's BPR nDCG@10 (0.441997), shown in the report's table
    assert set(at10["model"]) == set(mc["models"])
    # every held-out rating is relevant: evaluated customers = customers with a test rating
    test = Interactions.load(tmp_path / "reports" / "movielens100k" / "split" / "test")
    n_eval = int((np.diff(test.matrix.indptr) > 0).sum())
    assert (at10[at10["metric"] == "ndcg"]["n"] == n_eval).all()
    rating = pd.read_parquet(res / "rating_metrics.parquet")
    assert set(rating["model"]) == {"biased_mf"} and set(rating["metric"]) == {"rmse", "mae"}
    hist = pd.read_parquet(res / "tuning_history.parquet")
    assert set(hist["model"]) == {"pure_svd"} and len(hist) == 3


@pytest.mark.notebook
def test_notebook_03_runs_on_the_ci_params(tmp_path):
    import yaml

    from recnb.workflow.params import REPO_ROOT, load_params
    from recnb.workflow.runner import run

    # params/ci.yaml as it is, restricted to the two stages this test needs
    params = yaml.safe_load((REPO_ROOT / "params" / "ci.yaml").read_text())
    params["stages"] = ["02_preprocessing", "03_model_comparison"]
    pfile = tmp_path / "ci.yaml"
    pfile.write_text(yaml.safe_dump(params))
    settings = load_params(pfile)
    run_dir = run(pfile, reports_dir=tmp_path / "reports", echo=lambda m: None)
    res = run_dir / "results" / "03_model_comparison"
    board = pd.read_parquet(res / "leaderboard.parquet")
    section = settings.section("model_comparison")
    from recnb.workflow.params import notebook_parameters

    default_models = ast.literal_eval(
        notebook_parameters("03_model_comparison")["models"]["default"]
    )
    assert set(board["model"]) == set(section.get("models", default_models))
    assert board["rank"].tolist() == list(range(1, len(board) + 1))
    assert board["ndcg"].is_monotonic_decreasing
    sig = pd.read_parquet(res / "significance.parquet")
    winner = sig["reference"].iloc[0]
    assert winner == board["model"].iloc[0]
    summary = (run_dir / "summaries" / "03_model_comparison.md").read_text()
    assert summary.startswith(f"**{winner}**")
    for name in (
        "metrics",
        "timing",
        "segments",
        "capabilities",
        "sample_recommendations",
        "tuning_chosen",
        "tuning_history",
    ):
        assert (res / f"{name}.parquet").exists(), name
    figs = run_dir / "figures" / "03_model_comparison"
    for name in ("metric_bars", "precision_recall", "tradeoff", "segments_activity", "timing"):
        assert (figs / f"{name}.png").stat().st_size > 1000, name
    html = (run_dir / "03_model_comparison.html").read_text()
    assert "Traceback" not in html and "StageContext(" not in html
