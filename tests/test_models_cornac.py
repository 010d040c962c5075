"""The cornac BPR adapter gives cornac's own scores, in recnb's id order."""

from __future__ import annotations

import numpy as np
import pytest
from cornac.data import Dataset
from cornac.models import BPR

from recnb.models.testing import build, random_interactions


def test_cornac_bpr_scores_are_cornacs(rng):
    inter = random_interactions(rng, n_customers=30, n_products=18)
    model = build("cornac_bpr", factors=5, iterations=20, learning_rate=0.05).fit(inter)
    # the adapter draws cornac's seed from numpy.random.default_rng(random_state)
    seed = int(np.random.default_rng(7).integers(2**31 - 1))
    pos = (inter.matrix > 0).tocoo()
    n_c, n_p = inter.shape
    data = Dataset(
        n_c,
        n_p,
        {i: i for i in range(n_c)},
        {j: j for j in range(n_p)},
        (pos.row.astype(np.int64), pos.col.astype(np.int64), np.ones(pos.nnz, np.float32)),
        seed=seed,
    )
    ref = BPR(k=5, max_iter=20, learning_rate=0.05, lambda_reg=0.01, seed=seed, verbose=False)
    ref.fit(data)
    want = np.asarray(ref.u_factors @ ref.i_factors.T + ref.i_biases[None, :], np.float32)
    users = np.arange(n_c - 1)  # the last customer is cold (popularity fallback)
    np.testing.assert_allclose(model._score(users), want[users], rtol=1e-5, atol=1e-6)
    # and cornac's own ranking (its score() for one user) agrees
    np.testing.assert_allclose(model._score(np.array([2]))[0], ref.score(2), rtol=1e-5, atol=1e-6)


def test_cornac_bpr_rejects_bad_values(rng):
    inter = random_interactions(rng)
    for params, key in (
        ({"factors": 0}, "factors"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"regularization": -1.0}, "regularization"),
        ({"iterations": 1.5}, "iterations"),
    ):
        with pytest.raises(ValueError, match=key):
            build("cornac_bpr", **params).fit(inter)
