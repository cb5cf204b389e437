"""Structural similarity (SSIM) of images, batched in torch (runs on the training device).

Matches ``skimage.metrics.structural_similarity`` with its defaults (7 x 7 uniform window,
K1 = 0.01, K2 = 0.03, sample covariance, borders of half a window excluded) and an explicit
``data_range``. Sparse showers are dominated by empty voxels, so showers are compared per
layer on ``log(1 + E / 1 MeV)`` images (:func:`shower_ssim`).
"""

from __future__ import annotations

import numpy as np


def ssim_torch(x, y, data_range: float, win_size: int = 7, k1: float = 0.01, k2: float = 0.03):
    """SSIM (N,) of image batches ``x``, ``y`` (N, H, W) tensors; H, W >= ``win_size``."""
    import torch

    if x.shape != y.shape or x.dim() != 3:
        raise ValueError(f"ssim needs two (N, H, W) batches of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    # float64 stays float64 (exact comparisons); float32 showers stay float32, ~2x faster on CPU.
    dtype = torch.promote_types(x.dtype, torch.float32)
    x, y = x.unsqueeze(1).to(dtype), y.unsqueeze(1).to(dtype)

    ux, uy, uxx, uyy, uxy = _window_means(torch.cat([x, y, x * x, y * y, x * y], dim=1), win_size).unbind(1)
    norm = win_size**2 / (win_size**2 - 1.0)
    vx, vy, vxy = norm * (uxx - ux * ux), norm * (uyy - uy * uy), norm * (uxy - ux * uy)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2))


def _window_means(a, w: int):
    """Means over all unpadded w x w windows of ``a`` (..., H, W) -> (..., H-w+1, W-w+1).

    Exactly the window means that skimage keeps after cropping its borders; separable
    unfold-and-mean is several times faster than 2-D pooling on CPU.
    """
    return a.unfold(-1, w, 1).mean(-1).unfold(-2, w, 1).mean(-1)


def ssim(x: np.ndarray, y: np.ndarray, data_range: float) -> float:
    """Mean SSIM of numpy images ``x``, ``y`` (H, W) or batches (N, H, W)."""
    import torch

    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim == 2:
        x, y = x[None], y[None]
    return float(ssim_torch(torch.from_numpy(x), torch.from_numpy(y), data_range).mean())


def log_images(showers):
    """``log(1 + E / 1 MeV)`` layer images (N * layers, alpha, r) of showers (N, layers, alpha, r) in GeV."""
    import torch

    return torch.log1p(showers * 1000.0).reshape(-1, showers.shape[-2], showers.shape[-1])


def shower_ssim(real, other, data_range: float | None = None) -> float:
    """Mean per-layer SSIM of shower tensors (N, layers, alpha, r) in GeV on log images.

    ``data_range`` defaults to the largest log value of ``real``; pass it to compare
    different models on the same footing.
    """
    a, b = log_images(real), log_images(other)
    if data_range is None:
        data_range = float(a.max()) or 1.0
    win = min(7, a.shape[-1], a.shape[-2])
    win -= 1 - win % 2  # the window must be odd
    return float(ssim_torch(a, b, data_range, win_size=win).mean())
