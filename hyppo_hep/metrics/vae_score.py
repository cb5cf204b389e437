"""The AutoML-for-VAE study's combined score for shower VAEs (lower is better).

It joins the machine-learning and the physics view, each term dimensionless:

* ``recon``   = 1 - per-layer SSIM of reconstructed vs true showers (log images);
* ``gauss``   = latent Gaussianity: mean over latent dimensions of the MSE between the
  empirical quantiles of the encodings (the posterior means of the validation showers;
  an untrained encoder's samples would look Gaussian by construction, its means do not)
  and the standard normal's quantiles;
* ``e_total`` = MSE between the quantiles of E_total / E_incident of generated (decoded
  from z ~ N(0, 1)) and true showers;
* ``e_layer`` = MSE of the mean energy per layer, generated vs true, divided by the square
  of the true mean layer energy.

``score = recon + gauss + e_total + e_layer`` (weights configurable). All in torch.
"""

from __future__ import annotations

from hyppo_hep.metrics.showers import shower_observables
from hyppo_hep.metrics.ssim import shower_ssim

N_QUANTILES = 50


def _levels(n, like):
    import torch

    return (torch.arange(n, device=like.device, dtype=like.dtype) + 0.5) / n


def latent_gaussianity(z, n_quantiles: int = N_QUANTILES) -> float:
    """Mean over dimensions of the quantile MSE of ``z`` (N, k) against N(0, 1)."""
    import torch

    z = z.double()
    q = _levels(n_quantiles, z)
    emp = torch.quantile(z, q, dim=0)  # (n_quantiles, k)
    ref = torch.special.ndtri(q)[:, None]
    return float(((emp - ref) ** 2).mean())


def quantile_mse(a, b, n_quantiles: int = N_QUANTILES) -> float:
    """MSE between the ``n_quantiles`` quantiles of 1-D tensors ``a`` and ``b``."""
    a, b = a.double(), b.double()
    q = _levels(n_quantiles, a)
    import torch

    return float(((torch.quantile(a, q) - torch.quantile(b, q)) ** 2).mean())


def combined_score(real, recon, gen, z, e_inc_real, e_inc_gen, x, y, data_range: float,
                   weights=(1.0, 1.0, 1.0, 1.0)) -> dict:
    """Components and ``score`` from tensors: true, reconstructed and generated showers
    (N, L, A, R) in GeV, latent encodings z (N, k), incident energies (N,), voxel centres x, y.
    """
    obs_r = shower_observables(real, x, y)
    obs_g = shower_observables(gen, x, y)
    parts = {
        "recon": 1.0 - shower_ssim(real, recon, data_range),
        "gauss": latent_gaussianity(z),
        "e_total": quantile_mse(obs_g["e_total"] / e_inc_gen, obs_r["e_total"] / e_inc_real),
        "e_layer": float(((obs_g["e_layer"].double().mean(0) - obs_r["e_layer"].double().mean(0)) ** 2).mean()
                         / obs_r["e_layer"].double().mean() ** 2),
    }
    parts["score"] = float(sum(w * parts[k] for w, k in zip(weights, ("recon", "gauss", "e_total", "e_layer"))))
    return parts
