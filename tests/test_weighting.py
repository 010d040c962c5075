"""Event weights, confidences, explicit normalization."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recnb.data.schema import EVENT_TYPES
from recnb.prep import weighting as wt


def _ev(events, dwell=None):
    df = pd.DataFrame({"event": pd.Categorical(events, categories=EVENT_TYPES, ordered=True)})
    if dwell is not None:
        df["dwell_seconds"] = dwell
    return df


def test_event_weights_default_and_missing_types_weigh_zero():
    w = wt.event_weights(_ev(["view", "click", "wishlist", "add_to_cart", "purchase"]))
    assert list(w) == [1.0, 2.0, 3.0, 4.0, 8.0]
    w2 = wt.event_weights(_ev(["view", "purchase"]), {"purchase": 1.0})
    assert list(w2) == [0.0, 1.0]


def test_event_weights_reject_bad_keys_and_values():
    with pytest.raises(ValueError, match="unknown event type 'buy'"):
        wt.event_weights(_ev(["view"]), {"buy": 1.0})
    with pytest.raises(ValueError, match="view"):
        wt.event_weights(_ev(["view"]), {"view": -1})
    with pytest.raises(ValueError, match="every weight is 0"):
        wt.event_weights(_ev(["view"]), {"view": 0})


def test_dwell_factor():
    w = wt.event_weights(
        _ev(["view", "view", "view"], [0.0, 60.0, np.nan]), {"view": 2.0}, dwell_factor=0.5
    )
    assert w == pytest.approx([2.0, 2.0 * (1 + 0.5 * np.log(2.0)), 2.0])


def test_recency_decay_half_life():
    ref = pd.Timestamp("2024-01-31")
    ts = pd.to_datetime(["2024-01-31", "2024-01-21", "2024-01-11", "2024-02-05"])
    assert wt.recency_decay(ts, ref, 10.0) == pytest.approx([1.0, 0.5, 0.25, 1.0])
    assert list(wt.recency_decay(ts, ref, 0.0)) == [1.0] * 4


def test_aggregate_sums_then_scales():
    rows = np.array([0, 0, 0, 1, 1])
    cols = np.array([1, 1, 0, 2, 2])
    w = np.array([1.0, 8.0, 2.0, 0.0, 0.0])  # pair (1, 2) has weight 0 only: no entry
    times = pd.to_datetime(
        ["2024-01-01", "2024-01-03", "2024-01-02", "2024-01-01", "2024-01-01"]
    ).to_numpy()
    m, tm = wt.aggregate(rows, cols, w, (2, 3), scaling="log", alpha=2.0, times=times)
    assert m.dtype == np.float32 and m.nnz == 2
    assert m[0, 1] == pytest.approx(1 + 2 * np.log1p(9.0), rel=1e-6)
    assert m[0, 0] == pytest.approx(1 + 2 * np.log1p(2.0), rel=1e-6)
    assert tm[0, 1] == pd.Timestamp("2024-01-03").value / 1e9
    lin, _ = wt.aggregate(rows, cols, w, (2, 3), scaling="linear", alpha=0.5)
    assert lin[0, 1] == pytest.approx(5.5)
    raw, _ = wt.aggregate(rows, cols, w, (2, 3), scaling="none")
    assert raw[0, 1] == 9.0
    with pytest.raises(ValueError, match="scaling"):
        wt.scale_confidence(np.ones(1), "sqrt")


def test_latest_ratings_keeps_the_last_rating_and_rejects_zero():
    t = pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-03"]).to_numpy()
    m, tm = wt.latest_ratings(
        np.array([0, 0, 1]), np.array([0, 0, 1]), np.array([4.0, 2.0, 3.5]), t, (2, 2)
    )
    assert m[0, 0] == 4.0 and m[1, 1] == 3.5 and m.nnz == 2
    with pytest.raises(ValueError, match="<= 0"):
        wt.latest_ratings(np.array([0]), np.array([0]), np.array([0.0]), t[:1], (1, 1))


@pytest.mark.parametrize("method", ["center", "zscore"])
def test_rating_normalizer_is_reversible(method, tmp_path):
    m = sp.csr_matrix(np.array([[5.0, 3.0, 0.0], [4.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    n = wt.RatingNormalizer(method).fit(m)
    assert n.mean_[0] == 4.0 and n.mean_[1] == 4.0
    assert n.mean_[2] == pytest.approx(4.0)  # no ratings: global mean
    z = n.transform(m)
    assert z.nnz == m.nnz  # a rating equal to the mean stays stored (as 0)
    assert z[0].data == pytest.approx([1.0, -1.0])  # mean 4; the std of (5, 3) is 1
    assert z[1].data == pytest.approx([0.0])  # single rating: centred, std replaced by 1
    rows = np.repeat(np.arange(3), np.diff(m.indptr))
    assert n.inverse(rows, z.data) == pytest.approx(m.data)
    n.save(tmp_path, np.array(["a", "b", "c"], dtype=object))
    back = wt.RatingNormalizer.load(tmp_path, np.array(["a", "b", "c"], dtype=object))
    assert back.inverse(rows, z.data) == pytest.approx(m.data)
    with pytest.raises(ValueError, match="do not match"):
        wt.RatingNormalizer.load(tmp_path, np.array(["a", "c", "b"], dtype=object))


def test_zscore_scales_by_customer_std():
    m = sp.csr_matrix(np.array([[5.0, 1.0]]))
    n = wt.RatingNormalizer("zscore").fit(m)
    assert n.std_[0] == 2.0
    assert n.transform(m).data == pytest.approx([1.0, -1.0])
    assert wt.RatingNormalizer("center").fit(m).transform(m).data == pytest.approx([2.0, -2.0])
