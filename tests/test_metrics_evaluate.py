"""evaluate(): the one-call per-customer frame for many models, and its hand-offs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from recnb.metrics import (
    BEYOND_METRICS,
    RANKING_METRICS,
    arp,
    auc_per_customer,
    compare_models,
    evaluate,
    ild_category,
    popular_items,
    ranking_metric_arrays,
    serendipity,
    summarize,
)


@pytest.fixture
def shop(rng: np.random.Generator) -> dict:
    n, n_products = 80, 30
    train = sparse.csr_matrix((rng.random((n, n_products)) < 0.15).astype(np.float64))
    truth_dense = (rng.random((n, n_products)) < 0.08) & (train.toarray() == 0)
    truth_dense[:5] = False  # five customers without held-out items
    truth = sparse.csr_matrix(truth_dense.astype(np.float64))
    scores = rng.normal(size=(n, n_products))
    models = {
        "random": np.argsort(rng.random((n, n_products)), axis=1)[:, :6],
        "scored": np.argsort(-scores, axis=1)[:, :6],
        "popularity": np.tile(popular_items(train, 6), (n, 1)),
    }
    return {
        "train": train,
        "truth": truth,
        "models": models,
        "scores": scores,
        "categories": rng.choice(["a", "b", "c"], size=n_products),
        "embeddings": rng.normal(size=(n_products, 4)),
    }


def test_evaluate_frame_has_every_metric_for_evaluated_customers(shop: dict) -> None:
    frame = evaluate(
        shop["models"],
        shop["truth"],
        ks=(3, 6),
        train=shop["train"],
        item_categories=shop["categories"],
        item_embeddings=shop["embeddings"],
        scores={m: shop["scores"] for m in shop["models"]},
    )
    assert list(frame.columns) == ["model", "customer_row", "metric", "k", "value"]
    assert set(frame["metric"]) == set(RANKING_METRICS) | set(BEYOND_METRICS) | {"auc"}
    evaluated = np.flatnonzero(np.diff(shop["truth"].indptr) > 0)
    assert 5 <= evaluated[0] and len(evaluated) > 60
    assert set(frame["customer_row"]) == set(evaluated)  # customers without truth dropped
    assert set(frame.loc[frame.metric == "auc", "k"]) == {0}
    size = 3 * len(evaluated) * (2 * (len(RANKING_METRICS) + len(BEYOND_METRICS)) + 1)
    assert len(frame) == size
    # values are those of the underlying functions
    scored = (
        frame[frame.model == "scored"]
        .set_index(["metric", "k", "customer_row"])["value"]
        .sort_index()
    )
    items, truth, train = shop["models"]["scored"], shop["truth"], shop["train"]
    direct = ranking_metric_arrays(items, truth, ks=(3, 6))
    np.testing.assert_allclose(scored.loc[("ndcg", 6)].to_numpy(), direct[("ndcg", 6)][evaluated])
    np.testing.assert_allclose(scored.loc[("arp", 3)].to_numpy(), arp(items, train, 3)[evaluated])
    np.testing.assert_allclose(
        scored.loc[("ild_category", 6)].to_numpy(),
        ild_category(items, shop["categories"])[evaluated],
    )
    np.testing.assert_allclose(
        scored.loc[("serendipity", 6)].to_numpy(),
        serendipity(items, truth, popular_items(train, 6))[evaluated],
    )
    auc = auc_per_customer(shop["scores"], truth, exclude=train)
    np.testing.assert_allclose(scored.loc[("auc", 0)].to_numpy(), auc[evaluated], equal_nan=True)
    # the popularity baseline is never serendipitous against itself
    pop = frame[(frame.model == "popularity") & (frame.metric == "serendipity")]
    assert (pop["value"] == 0).all()


def test_evaluate_defaults_selection_and_errors(shop: dict) -> None:
    plain = evaluate(shop["models"], shop["truth"], ks=5)
    assert set(plain["metric"]) == set(RANKING_METRICS)
    kept = evaluate(shop["models"], shop["truth"], ks=5, metrics=["recall"], drop_empty=False)
    assert kept["customer_row"].nunique() == 80
    no_truth = np.flatnonzero(np.diff(shop["truth"].indptr) == 0)
    assert kept.loc[kept.customer_row.isin(no_truth), "value"].isna().all()
    assert kept.loc[~kept.customer_row.isin(no_truth), "value"].notna().all()
    named = evaluate(
        {"scored": shop["models"]["scored"], "popularity": shop["models"]["popularity"]},
        shop["truth"],
        ks=5,
        metrics=["serendipity"],
        popularity_baseline="popularity",
        customers=[f"c{i}" for i in range(80)],
    )
    first = int(np.flatnonzero(np.diff(shop["truth"].indptr) > 0)[0])
    assert named["customer"].iloc[0] == f"c{first}"
    with pytest.raises(ValueError, match="needs train"):
        evaluate(shop["models"], shop["truth"], ks=5, metrics=["novelty"])
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(shop["models"], shop["truth"], ks=5, metrics=["map"])
    with pytest.raises(ValueError, match="rows"):
        evaluate({"x": shop["models"]["random"][:10]}, shop["truth"], ks=5)
    with pytest.raises(ValueError, match="scores\\['random'\\]"):
        evaluate(shop["models"], shop["truth"], ks=5, metrics=["auc"], scores={"scored": 0})
    with pytest.raises(ValueError, match="not among the models"):
        evaluate(
            shop["models"], shop["truth"], ks=5, metrics=["serendipity"], popularity_baseline="x"
        )


def test_evaluate_feeds_summary_and_comparison(shop: dict) -> None:
    frame = evaluate(shop["models"], shop["truth"], ks=6, metrics=["ndcg", "recall"])
    summary = summarize(frame, n_boot=100, seed=0)
    assert len(summary) == 3 * 2
    assert (summary["n"] == (np.diff(shop["truth"].indptr) > 0).sum()).all()
    table = compare_models(frame, "ndcg", 6, n_boot=100)
    assert len(table) == 2
    assert table["reference"].nunique() == 1
