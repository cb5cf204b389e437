"""A dense VAE for calorimeter showers, with the AutoML-for-VAE study's hyperparameters.

Input: a shower flattened to V voxels, preprocessed to [0, 1] as
``log(1 + E / 1 MeV) / log(1 + E_max / 1 MeV)`` (showers span four orders of magnitude
and are mostly empty; the log keeps the low-energy halo visible to the loss), plus a
condition c (N, 1), the scaled log incident energy (zero for a fixed energy).

Encoder: [x, c] -> hidden layers -> (mu, log sigma^2) of a ``latent_dim`` Gaussian;
decoder: [z, c] -> hidden layers -> V outputs -> output activation. The loss is the
reconstruction term (binary cross-entropy summed over voxels for a sigmoid output, squared
error otherwise) plus ``wkl`` times the KL divergence to N(0, 1).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from hyppo_hep.models.common import activation, initialise


def _stack(n_in: int, widths: list[int], act: str) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(n_in, w), activation(act)]
        n_in = w
    return nn.Sequential(*layers), n_in


class ShowerVAE(nn.Module):
    def __init__(self, n_voxels: int, latent_dim: int, enc_widths: list[int], dec_widths: list[int],
                 act: str = "relu", out_act: str = "sigmoid", kernel_init: str = "glorot_uniform",
                 bias_init: str = "zeros", cond_dim: int = 1):
        super().__init__()
        self.latent_dim, self.out_act = latent_dim, out_act
        self.encoder, n = _stack(n_voxels + cond_dim, enc_widths, act)
        self.to_stats = nn.Linear(n, 2 * latent_dim)
        self.decoder, n = _stack(latent_dim + cond_dim, dec_widths, act)
        self.to_voxels = nn.Sequential(nn.Linear(n, n_voxels), activation(out_act))
        initialise(self, kernel_init, bias_init)

    def encode(self, x, c):
        """(mu, logvar), each (N, latent_dim), of x (N, V) in [0, 1] with condition c (N, 1)."""
        mu, logvar = self.to_stats(self.encoder(torch.cat([x, c], dim=1))).chunk(2, dim=1)
        return mu, logvar.clamp(-20.0, 10.0)

    def decode(self, z, c):
        """Voxels (N, V) in the preprocessed scale from latent z (N, latent_dim)."""
        return self.to_voxels(self.decoder(torch.cat([z, c], dim=1)))

    def forward(self, x, c, generator=None):
        mu, logvar = self.encode(x, c)
        eps = torch.randn(mu.shape, device=mu.device, dtype=mu.dtype, generator=generator)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decode(z, c), mu, logvar, z

    def loss(self, x, recon, mu, logvar, wkl: float):
        """Mean over events of reconstruction (summed over voxels) + wkl * KL."""
        if self.out_act == "sigmoid":
            rec = F.binary_cross_entropy(recon.clamp(1e-6, 1 - 1e-6), x, reduction="none").sum(dim=1)
        else:
            rec = ((recon - x) ** 2).sum(dim=1)
        kl = -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp(), dim=1)
        return (rec + wkl * kl).mean()
