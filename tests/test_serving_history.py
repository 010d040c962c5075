"""Scoring a history the model was not trained on, and the overlay of new events."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _serving import base_run, fitted, train

from recnb.models.knn import top_similar
from recnb.serving.history import (
    HistoryOverlay,
    NewEvent,
    can_rescore,
    explain_view,
    history_view,
    rescore,
)
from recnb.serving.spec import SignalSpec

RESCORED = [
    ("item_knn", {"weighting": "bm25"}),
    ("user_knn", {"weighting": "none"}),
    ("user_knn", {"weighting": "tfidf", "shrinkage": 3.0}),
    ("user_knn", {"weighting": "bm25"}),
    ("ease", {}),
    ("ease", {"binarize": False}),
    ("pure_svd", {"n_factors": 8}),
    ("pure_svd", {"n_factors": 8, "binarize": True}),
    ("als", {}),
    ("mult_vae", {"epochs": 2, "hidden_dim": 32, "latent_dim": 8}),
    ("rp3beta", {"n_neighbors": 30}),
    ("edlae", {"l2": 50.0}),
    ("edlae", {"l2": 50.0, "binarize": False}),
    ("blend", {"first": "item_knn", "second": "als", "second_params": {"factors": 8}}),
]


@pytest.mark.parametrize(("name", "params"), RESCORED, ids=lambda x: str(x))
def test_an_unchanged_history_scores_exactly_like_the_model(train, name, params):
    """The golden check of every view: a training customer's own row gives the model's scores
    bit for bit (and its explanation)."""
    model = fitted(name, train, **params)
    assert can_rescore(model)
    idx = np.flatnonzero(~model.uses_fallback(np.arange(model.n_customers_)))[:40]
    want = model._score_block(idx)
    got = rescore(model, train.matrix[idx], idx)
    np.testing.assert_array_equal(got, want)
    if model.can_explain:
        c, p = int(idx[3]), int(np.argmax(want[3]))
        view = history_view(model, train.matrix[[c]], np.array([c]))
        a = model.explain(model.customer_ids_[c], model.product_ids_[p])
        b = explain_view(view, p)
        assert list(a["contributor"]) == list(b["contributor"])
        np.testing.assert_allclose(a["contribution"], b["contribution"], rtol=1e-6)


def test_content_model_rescore_matches(base_run, train):
    from recnb.data.schema import load_dataset
    from recnb.models import make_model

    ds = load_dataset(base_run / "data")
    model = make_model("content", random_state=1).fit(train, features={"products": ds.products})
    idx = np.arange(30)
    np.testing.assert_array_equal(rescore(model, train.matrix[idx], idx), model._score_block(idx))


def test_models_that_cannot_fold_a_history_in_say_so(train):
    model = fitted("bpr", train)
    assert not can_rescore(model)
    blend = fitted("blend", train, first="item_knn", second="bpr")
    assert not can_rescore(blend)
    with pytest.raises(TypeError, match="cannot score a history"):
        rescore(model, train.matrix[:1])


def test_user_knn_neighbours_of_a_new_customer_are_the_cosine_neighbours(train):
    """Known answer: with no weighting, a new customer's neighbours are the top shrunk-cosine
    rows of the training matrix, as top_similar computes them on the stacked matrix."""
    model = fitted("user_knn", train, weighting="none", shrinkage=2.0, n_neighbors=15)
    h = sp.csr_matrix(train.matrix[7].toarray() + train.matrix[11].toarray())
    x = sp.vstack([model.interactions_, h], format="csr")
    ref = top_similar(x, 15, 2.0)[-1]  # the new row's neighbours among all rows
    view = history_view(model, h)
    got = view.neighbours_[0]
    assert ref.indices.max() < model.n_customers_  # it is nobody's neighbour but the others'
    np.testing.assert_array_equal(np.sort(got.indices), np.sort(ref.indices))
    np.testing.assert_allclose(
        got.toarray().ravel(), ref.toarray().ravel()[: model.n_customers_], rtol=1e-6
    )


def test_item_knn_a_purchase_adds_its_neighbours_scores(train):
    """Known answer: item-kNN's scores are linear in the history, so a new purchase of product j
    by a customer without history scores exactly conf(8) * similarity[j]."""
    model = fitted("item_knn", train)
    spec = SignalSpec(event_weights={"purchase": 8.0, "view": 1.0}, scaling="log", alpha=1.0)
    overlay = HistoryOverlay(train.matrix, model.customer_index_, model.product_index_, spec)
    j = 5
    overlay.apply([NewEvent(1, "newcomer", str(model.product_ids_[j]), "purchase")])
    h = overlay.history("newcomer")
    assert h.nnz == 1 and h.data[0] == pytest.approx(1 + np.log1p(8.0))
    want = h.data[0] * model.similarity_[j].toarray().ravel()
    np.testing.assert_allclose(rescore(model, h)[0], want, rtol=1e-6)


def test_overlay_adds_new_weights_to_the_training_signal(train):
    spec = SignalSpec(event_weights={"view": 1.0, "purchase": 8.0}, scaling="log", alpha=2.0)
    base = sp.csr_matrix(np.array([[1 + 2 * np.log1p(3.0), 0, 0]], dtype=np.float32))
    overlay = HistoryOverlay(base, {"c": 0}, {"a": 0, "b": 1, "z": 2}, spec)
    assert overlay.history("c") is None  # no new event: the training row is the history
    n = overlay.apply(
        [
            NewEvent(1, "c", "a", "view"),  # x: 3 -> 4
            NewEvent(2, "c", "b", "purchase"),  # new pair: x = 8
            NewEvent(3, "c", "unknown-product", "view"),  # counted, not applied
            NewEvent(4, "c", "z", "rating"),  # weight 0 here: outside the signal
            NewEvent(2, "c", "a", "view"),  # already applied (seq 2 <= 4): skipped
        ]
    )
    assert n == 2 and overlay.last_seq == 4
    assert overlay.unknown_products == 1 and overlay.outside_signal == 1
    h = overlay.history("c").toarray().ravel()
    np.testing.assert_allclose(h, [1 + 2 * np.log1p(4.0), 1 + 2 * np.log1p(8.0), 0], rtol=1e-6)
    assert overlay.n_events("c") == 2


@pytest.mark.parametrize("scaling", ["log", "linear", "none"])
def test_untouched_pairs_keep_their_training_confidence_bit_for_bit(scaling):
    spec = SignalSpec(event_weights={"view": 1.0}, scaling=scaling, alpha=0.7)
    vals = np.array([[1.2345678, 3.3, 0.0]], dtype=np.float32)
    overlay = HistoryOverlay(sp.csr_matrix(vals), {"c": 0}, {"a": 0, "b": 1, "z": 2}, spec)
    overlay.apply([NewEvent(1, "c", "z", "view")])
    h = overlay.history("c").toarray().ravel()
    assert h[0] == vals[0, 0] and h[1] == vals[0, 1]


def test_explicit_signal_keeps_the_latest_rating():
    spec = SignalSpec(signal="explicit", event_weights={"rating": 1.0})
    overlay = HistoryOverlay(
        sp.csr_matrix(np.array([[4.0, 0.0]], dtype=np.float32)), {"c": 0}, {"a": 0, "b": 1}, spec
    )
    overlay.apply(
        [
            NewEvent(1, "c", "a", "rating", value=2.0),
            NewEvent(2, "c", "b", "rating", value=5.0),
            NewEvent(3, "c", "b", "rating", value=3.0),
            NewEvent(4, "c", "b", "view"),
        ]
    )
    np.testing.assert_array_equal(overlay.history("c").toarray().ravel(), [2.0, 3.0])
    assert overlay.outside_signal == 1


def test_dwell_factor_weighs_new_events_as_in_training():
    spec = SignalSpec(event_weights={"view": 1.0}, scaling="none", dwell_factor=0.5)
    overlay = HistoryOverlay(sp.csr_matrix((1, 1), dtype=np.float32), {}, {"a": 0}, spec)
    overlay.apply([NewEvent(1, "n", "a", "view", dwell_seconds=120.0)])
    assert overlay.history("n").data[0] == pytest.approx(1 + 0.5 * np.log1p(2.0))
