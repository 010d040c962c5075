"""Mult-VAE: determinism without touching torch's global state, training signal, annealing,
fold-in of new histories, open-format persistence.

The shared contract runs over every registered model in tests/test_models_contract.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from recnb.models import Recommender, make_model
from recnb.models.base import ModelFileError
from recnb.models.neural import MultVAE
from recnb.models.testing import build, checkerboard, random_interactions, rewrite_saved_state

SMALL = {
    "hidden_dim": 32,
    "latent_dim": 8,
    "epochs": 30,
    "train_batch_size": 16,
    "learning_rate": 0.01,
}


@pytest.fixture(scope="module")
def board():
    return checkerboard()


@pytest.fixture(scope="module")
def vae(board):
    return build("mult_vae", **SMALL).fit(board[0])


def test_registered():
    assert type(make_model("mult_vae")) is MultVAE
    assert not MultVAE.can_explain


def test_checkerboard_known_answer(vae, board):
    _, held = board
    users = np.array(sorted(held))
    idx, _ = vae.recommend_indices(users, k=1)
    np.testing.assert_array_equal(idx[:, 0], [held[u] for u in users])


def test_same_seed_identical_weights_other_seed_not(vae, board):
    again = build("mult_vae", **SMALL).fit(board[0])
    for (ka, a), (kb, b) in zip(
        vae._net.state_dict().items(), again._net.state_dict().items(), strict=True
    ):
        assert ka == kb
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    other = build("mult_vae", random_state=8, **SMALL).fit(board[0])
    w = "dec_out.weight"
    assert not torch.equal(vae._net.state_dict()[w], other._net.state_dict()[w])


def test_fit_leaves_torch_global_state_alone(board):
    torch.manual_seed(123)
    rng_before = torch.random.get_rng_state()
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    model = build("mult_vae", num_threads=1, **SMALL).fit(board[0])
    model.recommend_indices(np.arange(3), k=2)
    assert torch.equal(torch.random.get_rng_state(), rng_before)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic


def test_training_lowers_the_loss(vae):
    assert vae.train_loss_.shape == (SMALL["epochs"],)
    assert vae.train_loss_[-5:].mean() < vae.train_loss_[:5].mean()
    assert vae.n_updates_ == SMALL["epochs"] * 2  # 24 customers with history, batches of 16


def test_beta_annealing_schedule():
    m = MultVAE(beta_max=0.2, anneal_steps=100)
    assert [m._beta(s) for s in (0, 50, 100, 500)] == pytest.approx([0.0, 0.1, 0.2, 0.2])
    assert MultVAE(beta_max=0.3, anneal_steps=0)._beta(0) == pytest.approx(0.3)


def test_score_histories_folds_in_new_customers(vae, board):
    inter, held = board
    # the training rows give the model's own scores
    np.testing.assert_allclose(
        vae.score_histories(inter.matrix[:4]), vae._score(np.arange(4)), rtol=0, atol=0
    )
    # a new customer who viewed two products of block 1 gets block 1's products first
    new = sp.csr_matrix(([1.0, 1.0], ([0, 0], [6, 7])), shape=(1, inter.n_products))
    scores = vae.score_histories(new)[0]
    scores[[6, 7]] = -np.inf
    assert set(np.argsort(-scores)[:4]) <= set(range(6, 12))
    with pytest.raises(ValueError, match="expected 12"):
        vae.score_histories(sp.csr_matrix((1, 5)))


def test_saved_state_is_the_state_dict_as_arrays(vae, tmp_path):
    folder = vae.save(tmp_path / "vae")
    with np.load(folder / "state.npz", allow_pickle=False) as z:
        net = {k for k in z.files if k.startswith("net.")}
        assert net == {f"net.{k}" for k in vae._net.state_dict()}
        assert all(z[k].dtype == np.float32 for k in net)
    loaded = Recommender.load(folder)
    np.testing.assert_array_equal(loaded._score(np.arange(5)), vae._score(np.arange(5)))
    # a tensor missing from a state rewritten with matching checksums and recorded arrays: the
    # architecture check names it (a plainly edited file fails its checksum first)
    rewrite_saved_state(folder, lambda a: a.pop("net.dec_out.bias"), record_arrays=True)
    with pytest.raises(ModelFileError, match="state.npz: .*do not match the architecture"):
        Recommender.load(folder)


def test_works_on_random_data_with_dropout_off(rng):
    data = random_interactions(rng)
    model = build("mult_vae", dropout=0.0, anneal_steps=0, **SMALL).fit(data)
    idx, val = model.recommend_indices(np.arange(data.n_customers - 1), k=3)
    assert (idx >= 0).all() and np.isfinite(val).all()


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"dropout": 1.0}, "dropout"),
        ({"hidden_dim": 0}, "hidden_dim"),
        ({"epochs": 2.0}, "epochs"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"beta_max": -1.0}, "beta_max"),
        ({"num_threads": 0}, "num_threads"),
    ],
)
def test_bad_hyperparameters_fail_at_fit(params, match, board):
    with pytest.raises(ValueError, match=match):
        build("mult_vae", **{**SMALL, **params}).fit(board[0])
