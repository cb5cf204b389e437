"""Average 1-D Wasserstein distance, the Hyppo study's GAN score.

``W1(P, Q) = integral |F_P(x) - F_Q(x)| dx`` per feature, averaged over features, computed
on features mapped to [-1, 1] by a MinMax scaler fitted on the truth (so numbers are
comparable only with the same scaling and test-set size). Event weights are supported.
The numpy version is the reference (scipy); the torch version runs on the training device.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance


def minmax_range(truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature (min, max) of ``truth`` (n, d); constant features get a unit span."""
    lo, hi = truth.min(axis=0), truth.max(axis=0)
    return lo, np.where(hi > lo, hi, lo + 1.0)


def to_unit(x, lo, hi):
    """Map ``x`` (n, d) linearly so that [lo, hi] -> [-1, 1] (numpy or torch)."""
    return 2.0 * (x - lo) / (hi - lo) - 1.0


def from_unit(u, lo, hi):
    """Inverse of :func:`to_unit` (numpy or torch)."""
    return (u + 1.0) * 0.5 * (hi - lo) + lo


def average_w1(truth: np.ndarray, gen: np.ndarray, truth_weights=None, gen_weights=None, scale: bool = True) -> float:
    """Mean over features of W1 between ``truth`` (n, d) and ``gen`` (m, d), scaled to [-1, 1] on the truth."""
    truth, gen = np.atleast_2d(truth.T).T, np.atleast_2d(gen.T).T
    if scale:
        lo, hi = minmax_range(truth)
        truth, gen = to_unit(truth, lo, hi), to_unit(gen, lo, hi)
    return float(np.mean([wasserstein_distance(truth[:, j], gen[:, j], truth_weights, gen_weights)
                          for j in range(truth.shape[1])]))


def w1_torch(u, v, u_weights=None, v_weights=None):
    """Per-feature W1 (d,) between tensors ``u`` (n, d) and ``v`` (m, d) on their device.

    Integrates |F_u - F_v| between consecutive points of the pooled sorted sample, all
    features at once (sort + searchsorted, no Python loop over events).
    """
    import torch

    d = u.shape[1]
    pooled = torch.sort(torch.cat([u, v]).T.contiguous(), dim=1).values  # (d, n+m)
    deltas = torch.diff(pooled, dim=1)
    at = pooled[:, :-1].contiguous()

    def cdf(x, w):
        xs, order = torch.sort(x.T.contiguous(), dim=1)
        if w is None:
            cum = torch.arange(1, x.shape[0] + 1, device=x.device, dtype=x.dtype).expand(d, -1) / x.shape[0]
        else:
            ws = w.to(x.dtype)[order]
            cum = torch.cumsum(ws, dim=1) / ws.sum(dim=1, keepdim=True)
        cum = torch.cat([torch.zeros(d, 1, device=x.device, dtype=x.dtype), cum], dim=1)
        return torch.gather(cum, 1, torch.searchsorted(xs, at, right=True))

    return torch.sum(torch.abs(cdf(u, u_weights) - cdf(v, v_weights)) * deltas, dim=1)


def average_w1_torch(truth_unit, gen_unit, truth_weights=None, gen_weights=None) -> float:
    """Mean W1 over features of tensors already mapped to [-1, 1] (the GAN's training space)."""
    return float(w1_torch(truth_unit, gen_unit, truth_weights, gen_weights).mean())
