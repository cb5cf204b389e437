"""The GAN of the Hyppo study: two-layer MLP generator and discriminator.

Generator: [noise (+ condition)] -> (Linear -> BatchNorm -> LeakyReLU) x 2 -> Linear -> tanh,
then a fixed affine layer (the study's lambda layer) that maps [-1, 1] back to the
features' range. Discriminator: [features (+ condition)] -> (Linear -> BatchNorm ->
LeakyReLU) x 2 -> Linear -> sigmoid. Both see features and conditions in [-1, 1]
(MinMax-scaled on the truth). The discriminator returns logits; its probability is
``sigmoid(logits)`` and the binary cross-entropy is computed from the logits
(``BCEWithLogits``: the same loss, without the overflow of log(sigmoid)).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from hyppo_hep.models.common import activation


def _two_layers(n_in: int, width: int, act: str, dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(2):
        layers += [nn.Linear(n_in if i == 0 else width, width), nn.BatchNorm1d(width), activation(act)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return layers


class Generator(nn.Module):
    """Noise (N, noise_dim) and condition (N, cond_dim) in [-1, 1] -> features (N, out_dim)."""

    def __init__(self, noise_dim: int, out_dim: int, layersize: int, lo, hi, cond_dim: int = 0,
                 act: str = "leaky_relu", dropout: float = 0.0):
        super().__init__()
        self.noise_dim, self.cond_dim = noise_dim, cond_dim
        self.net = nn.Sequential(*_two_layers(noise_dim + cond_dim, layersize, act, dropout),
                                 nn.Linear(layersize, out_dim), nn.Tanh())
        self.register_buffer("lo", torch.as_tensor(lo, dtype=torch.float32))
        self.register_buffer("hi", torch.as_tensor(hi, dtype=torch.float32))

    def unit(self, noise, cond=None):
        """Generated features in [-1, 1] (the tanh output), shape (N, out_dim)."""
        return self.net(noise if cond is None else torch.cat([noise, cond], dim=1))

    def forward(self, noise, cond=None):
        """Generated features in the features' own units and range."""
        return (self.unit(noise, cond) + 1.0) * 0.5 * (self.hi - self.lo) + self.lo


class Discriminator(nn.Module):
    """Features (N, in_dim) and condition (N, cond_dim) in [-1, 1] -> logits (N,)."""

    def __init__(self, in_dim: int, layersize: int, cond_dim: int = 0, act: str = "leaky_relu", dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(*_two_layers(in_dim + cond_dim, layersize, act, dropout), nn.Linear(layersize, 1))

    def forward(self, x, cond=None):
        return self.net(x if cond is None else torch.cat([x, cond], dim=1)).squeeze(1)

    def prob(self, x, cond=None):
        """The sigmoid output: probability that ``x`` is real."""
        return torch.sigmoid(self(x, cond))
