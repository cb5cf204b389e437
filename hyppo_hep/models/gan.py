"""The GAN of the Hyppo study: two-layer MLP generator and discriminator.

Generator: [noise (+ condition)] -> (Linear -> norm -> LeakyReLU) x 2 -> Linear -> tanh,
then a fixed affine layer (the study's lambda layer) that maps [-1, 1] back to the
features' range. Discriminator: [features (+ condition)] -> (Linear -> norm -> LeakyReLU)
x 2 -> Linear -> logit. Both see features and conditions in [-1, 1] (MinMax-scaled on the
truth). The discriminator returns logits; its probability is ``sigmoid(logits)``.

Normalisation (``NORMS``): ``batch`` (the study's, for both networks), ``layer``,
``spectral`` (spectral norm of every Linear weight, discriminator only) or ``none``.
A batch-normalised discriminator must see real and generated events in ONE batch
(``Discriminator.joint``): on an all-real or all-generated batch BatchNorm subtracts
the batch's own mean and divides by its own spread after the first Linear layer, so
the discriminator cannot see a shift or a rescaling of any feature, and the generator
never learns the features' location (the dimuon GAN's pT stayed off by half the range).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from hyppo_hep.models.common import activation

NORMS = ("none", "batch", "layer", "spectral")


def _linear(n_in: int, n_out: int, norm: str) -> nn.Module:
    layer = nn.Linear(n_in, n_out)
    return nn.utils.parametrizations.spectral_norm(layer) if norm == "spectral" else layer


def _norm_layer(width: int, norm: str) -> list[nn.Module]:
    if norm == "batch":
        return [nn.BatchNorm1d(width)]
    if norm == "layer":
        return [nn.LayerNorm(width)]
    return []  # none; spectral acts on the Linear weights themselves


def _two_layers(n_in: int, width: int, act: str, dropout: float, norm: str) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(2):
        layers += [_linear(n_in if i == 0 else width, width, norm), *_norm_layer(width, norm), activation(act)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return layers


class Generator(nn.Module):
    """Noise (N, noise_dim) and condition (N, cond_dim) in [-1, 1] -> features (N, out_dim)."""

    def __init__(self, noise_dim: int, out_dim: int, layersize: int, lo, hi, cond_dim: int = 0,
                 act: str = "leaky_relu", dropout: float = 0.0, norm: str = "batch"):
        super().__init__()
        if norm not in ("none", "batch", "layer"):
            raise ValueError(f"generator norm must be none, batch or layer, got {norm!r}")
        self.noise_dim, self.cond_dim = noise_dim, cond_dim
        self.net = nn.Sequential(*_two_layers(noise_dim + cond_dim, layersize, act, dropout, norm),
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

    def __init__(self, in_dim: int, layersize: int, cond_dim: int = 0, act: str = "leaky_relu",
                 dropout: float = 0.0, norm: str = "none"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"discriminator norm must be one of {NORMS}, got {norm!r}")
        self.net = nn.Sequential(*_two_layers(in_dim + cond_dim, layersize, act, dropout, norm),
                                 _linear(layersize, 1, norm))
        # With BatchNorm the output for one event depends on the rest of its batch: real and
        # generated events must share a batch (see the module docstring).
        self.joint = norm == "batch"

    def forward(self, x, cond=None):
        return self.net(x if cond is None else torch.cat([x, cond], dim=1)).squeeze(1)

    def prob(self, x, cond=None):
        """The sigmoid output: probability that ``x`` is real."""
        return torch.sigmoid(self(x, cond))
