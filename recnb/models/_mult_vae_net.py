"""The torch network of :class:`recnb.models.neural.MultVAE`, apart so that importing the model
catalogue (every stage's settings do) does not import torch: it is imported on the first fit or
load of a Mult-VAE."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import skip_init

__all__: list[str] = []


class _MultVAENet(nn.Module):
    """Encoder/decoder of Mult-VAE with one hidden layer on each side."""

    def __init__(self, n_items: int, hidden_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        # skip_init: no draw from torch's global RNG; reset() or a saved state fills the weights
        self.enc_hidden = skip_init(nn.Linear, n_items, hidden_dim)
        self.enc_out = skip_init(nn.Linear, hidden_dim, 2 * latent_dim)
        self.dec_hidden = skip_init(nn.Linear, latent_dim, hidden_dim)
        self.dec_out = skip_init(nn.Linear, hidden_dim, n_items)

    def reset(self, generator: torch.Generator) -> None:
        """Xavier-normal weights and N(0, 0.001) biases, as in the paper's code."""
        for layer in (self.enc_hidden, self.enc_out, self.dec_hidden, self.dec_out):
            nn.init.xavier_normal_(layer.weight, generator=generator)
            nn.init.normal_(layer.bias, std=0.001, generator=generator)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.tanh(self.enc_hidden(x))
        out = self.enc_out(h)
        return out[:, : self.latent_dim], out[:, self.latent_dim :]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec_out(torch.tanh(self.dec_hidden(z)))
