"""Mult-VAE (Liang, Krishnan, Hoffman & Jebara 2018, "Variational Autoencoders for Collaborative
Filtering") in PyTorch on the CPU.

A customer's binary history ``x`` (one row of the training matrix) is L2-normalised, dropped out
(training only) and encoded by ``n_products -> hidden_dim -> 2 * latent_dim`` (tanh) into the mean
and log-variance of a Gaussian; a sample ``z`` (the mean when scoring) is decoded by
``latent_dim -> hidden_dim -> n_products`` (tanh) into logits of a multinomial over products. The
loss is the multinomial negative log-likelihood plus ``beta`` times the KL divergence, ``beta``
rising linearly from 0 to ``beta_max`` over ``anneal_steps`` updates (the paper's annealing, with
the cap chosen by the user). Scores are the decoder logits, computed in batches of customers.

Determinism: every random draw (initialisation, shuffling, dropout masks, the reparameterisation
noise) comes from a local ``torch.Generator`` or the fit's numpy generator, both seeded from
``random_state``; the global torch RNG is not touched. During fit and scoring torch runs with
``torch.use_deterministic_algorithms(True)`` and ``num_threads`` threads; both settings are
restored afterwards. The same seed and thread count give identical factors and lists.

Saved state is the network's ``state_dict`` as float32 arrays in ``state.npz`` (keys ``net.<name>``);
nothing is pickled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recnb.data.interactions import Interactions
from recnb.models._checks import check_nonnegative, check_positive_int
from recnb.models.base import Recommender
from recnb.models.registry import register

if TYPE_CHECKING:  # torch is imported when a model is fitted or loaded, not with the catalogue
    import torch

    from recnb.models._mult_vae_net import _MultVAENet

__all__ = ["MultVAE"]

_NET_PREFIX = "net."


@contextlib.contextmanager
def _torch_settings(num_threads: int) -> Iterator[None]:
    """Deterministic algorithms and a fixed thread count, restored on exit."""
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(int(num_threads))
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.set_num_threads(threads)


@register
class MultVAE(Recommender):
    """Variational autoencoder with a multinomial likelihood over products.

    Parameters
    ----------
    hidden_dim : int
        Width of the hidden layer of encoder and decoder (paper: 600).
    latent_dim : int
        Dimension of the latent code (paper: 200).
    dropout : float
        Input dropout rate in training, in [0, 1) (paper: 0.5).
    epochs : int
        Passes over the customers with history.
    train_batch_size : int
        Customers per gradient step (paper: 500).
    learning_rate : float
        Adam step size.
    weight_decay : float
        Adam L2 penalty.
    beta_max : float
        Final KL weight (paper: 0.2).
    anneal_steps : int
        Gradient steps over which the KL weight rises linearly from 0 to ``beta_max``;
        0 uses ``beta_max`` from the start.
    num_threads : int
        Torch threads during fit and scoring (results repeat exactly for a fixed value).
    random_state : int or None
        Seed of every random draw.
    unknown : {"popularity", "error"}
        Policy for customers absent from training.
    batch_size : int or None
        Customers scored per dense block.
    """

    name: ClassVar[str] = "mult_vae"
    passes_param: ClassVar[str | None] = "epochs"
    explain_note: ClassVar[str] = (
        "Mult-VAE scores pass through non-linear layers and have no additive decomposition"
    )

    def __init__(
        self,
        hidden_dim: int = 600,
        latent_dim: int = 200,
        dropout: float = 0.5,
        epochs: int = 50,
        train_batch_size: int = 500,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        beta_max: float = 0.2,
        anneal_steps: int = 20000,
        num_threads: int = 1,
        random_state: int | None = None,
        unknown: str = "popularity",
        batch_size: int | None = None,
    ) -> None:
        super().__init__(random_state=random_state, unknown=unknown, batch_size=batch_size)
        self.hidden_dim = hidden_dim
        self.latent_dim = latent_dim
        self.dropout = dropout
        self.epochs = epochs
        self.train_batch_size = train_batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.beta_max = beta_max
        self.anneal_steps = anneal_steps
        self.num_threads = num_threads

    # -- fitting -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        who = type(self).__name__
        for key in ("hidden_dim", "latent_dim", "epochs", "train_batch_size", "num_threads"):
            check_positive_int(who, key, getattr(self, key))
        check_positive_int(who, "anneal_steps", self.anneal_steps, minimum=0)
        check_nonnegative(who, "dropout", self.dropout)
        if not self.dropout < 1:
            raise ValueError(f"{who}: dropout must be below 1, got {self.dropout!r}")
        check_nonnegative(who, "learning_rate", self.learning_rate, strict=True)
        check_nonnegative(who, "weight_decay", self.weight_decay)
        check_nonnegative(who, "beta_max", self.beta_max)

    def _fit(self, train: Interactions, rng: np.random.Generator) -> None:
        import torch

        from recnb.models._mult_vae_net import _MultVAENet

        x = self.seen_
        rows = np.flatnonzero(self.has_history_)
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
        with _torch_settings(self.num_threads):
            net = _MultVAENet(self.n_products_, int(self.hidden_dim), int(self.latent_dim))
            net.reset(gen)
            opt = torch.optim.Adam(
                net.parameters(),
                lr=float(self.learning_rate),
                weight_decay=float(self.weight_decay),
            )
            net.train()
            step = 0
            losses = []
            bs = int(self.train_batch_size)
            for _ in range(int(self.epochs)):
                order = rows[rng.permutation(len(rows))]
                total = 0.0
                for start in range(0, len(order), bs):
                    batch = torch.from_numpy(_dense_rows(x, order[start : start + bs]))
                    beta = self._beta(step)
                    loss = self._loss(net, batch, beta, gen)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    step += 1
                    total += float(loss.detach()) * len(batch)
                losses.append(total / max(1, len(order)))
                if self._watched():  # score the net so far (no gradients, no random draws)
                    self._net = net
                    net.eval()
                    self._pass_done(len(losses))
                    net.train()
            net.eval()
        self._net = net
        self.train_loss_ = np.asarray(losses, dtype=np.float32)
        self.n_updates_ = step

    def _beta(self, step: int) -> float:
        if self.anneal_steps == 0:
            return float(self.beta_max)
        return float(min(self.beta_max, self.beta_max * step / self.anneal_steps))

    def _loss(
        self, net: _MultVAENet, x: torch.Tensor, beta: float, gen: torch.Generator
    ) -> torch.Tensor:
        import torch
        from torch.nn import functional as F

        h = F.normalize(x, dim=1)
        if self.dropout > 0:
            keep = torch.rand(h.shape, generator=gen) >= self.dropout
            h = h * keep / (1.0 - self.dropout)
        mu, logvar = net.encode(h)
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn(std.shape, generator=gen)
        logits = net.decode(z)
        nll = -(F.log_softmax(logits, dim=1) * x).sum(dim=1).mean()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)).mean()
        return nll + beta * kl

    # -- scoring -------------------------------------------------------------------------------
    def _score(self, customer_idx: np.ndarray) -> np.ndarray:
        return self.score_histories(self.seen_[customer_idx])

    def score_histories(self, history: sp.spmatrix) -> np.ndarray:
        """Decoder logits for histories (rows in the training product order).

        Serves histories the model did not train on (for example a new customer's first views):
        Mult-VAE folds a history in by encoding it, with no refitting.

        Parameters
        ----------
        history : scipy.sparse matrix, shape (n, n_products)
            Non-zero entries are consumed products (values are binarised).

        Returns
        -------
        numpy.ndarray of float32, shape (n, n_products)
        """
        self._check_fitted()
        hist = sp.csr_matrix(history)
        if hist.shape[1] != self.n_products_:
            raise ValueError(
                f"{type(self).__name__}.score_histories: history has {hist.shape[1]} columns, "
                f"expected {self.n_products_}"
            )
        import torch
        from torch.nn import functional as F

        x = _dense_rows(hist, np.arange(hist.shape[0]))
        with _torch_settings(self.num_threads), torch.no_grad():
            mu, _ = self._net.encode(F.normalize(torch.from_numpy(x), dim=1))
            return self._net.decode(mu).numpy().astype(np.float32, copy=False)

    # -- persistence ---------------------------------------------------------------------------
    def _get_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, scalars = super()._get_state()
        for key, tensor in self._net.state_dict().items():
            arrays[_NET_PREFIX + key] = tensor.detach().numpy().copy()
        return arrays, scalars

    def _set_state(self, arrays: dict[str, np.ndarray], scalars: dict[str, Any]) -> None:
        net_arrays = {
            k[len(_NET_PREFIX) :]: v for k, v in arrays.items() if k.startswith(_NET_PREFIX)
        }
        rest = {k: v for k, v in arrays.items() if not k.startswith(_NET_PREFIX)}
        super()._set_state(rest, scalars)
        import torch

        from recnb.models._mult_vae_net import _MultVAENet

        net = _MultVAENet(self.n_products_, int(self.hidden_dim), int(self.latent_dim))
        expected = set(net.state_dict())
        if set(net_arrays) != expected:
            raise ValueError(
                f"{type(self).__name__}: saved network tensors {sorted(net_arrays)} do not match "
                f"the architecture's {sorted(expected)}"
            )
        net.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in net_arrays.items()})
        net.eval()
        self._net = net


def _dense_rows(m: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
    """Binary float32 dense block of the given CSR rows."""
    block = m[rows]
    out = np.zeros(block.shape, dtype=np.float32)
    r = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
    out[r, block.indices] = (block.data > 0).astype(np.float32)
    return out
