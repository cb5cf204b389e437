"""Fréchet distance of Gaussian fits (FPD, with 1/N extrapolation) and kernel distance (KPD).

Following Kansal et al. (2023): features are normalised by the truth's max-abs; the
Fréchet distance of finite samples is biased by ~1/N, so it is evaluated on random
subsets of several sizes N and the linear fit FD(N) = FD_inf + c/N is extrapolated to
N -> infinity. KPD is the unbiased MMD^2 with the quartic polynomial kernel
``k(x, y) = (x.y / d + 1)^4``, the median over batches.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """``|mu1 - mu2|^2 + Tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2))`` of two Gaussians (d,), (d, d)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
    # Tr (cov1 cov2)^(1/2) = sum of sqrt eigenvalues of the PSD matrix cov1^(1/2) cov2 cov1^(1/2):
    # symmetric eigensolvers stay exact for the singular covariances of dead ReLU features,
    # where a general sqrtm warns and can return complex rounding noise.
    lam, vec = linalg.eigh(cov1)
    half = (vec * np.sqrt(np.clip(lam, 0.0, None))) @ vec.T
    tr_sqrt = np.sum(np.sqrt(np.clip(linalg.eigvalsh(half @ cov2 @ half), 0.0, None)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt)


def gaussian_frechet(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance of the Gaussian fits of samples ``x`` (n, d) and ``y`` (m, d)."""
    return frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))


def fpd(truth: np.ndarray, gen: np.ndarray, min_samples: int = 2000, max_samples: int = 10000,
        num_batches: int = 10, num_points: int = 10, seed: int = 0) -> tuple[float, float]:
    """FPD extrapolated to infinite samples, and its fit uncertainty; inputs (n, d), (m, d).

    At each of ``num_points`` sizes N in [min_samples, max_samples] the FD is averaged over
    ``num_batches`` random subsets; FD_inf is the intercept of the fit in 1/N.
    """
    rng = np.random.default_rng(seed)
    scale = np.abs(truth).max(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    truth, gen = truth / scale, gen / scale
    max_samples = min(max_samples, len(truth), len(gen))
    min_samples = min(min_samples, max_samples)
    sizes = np.linspace(min_samples, max_samples, num_points).astype(int)
    vals = []
    for n in sizes:
        vals.append(np.mean([gaussian_frechet(truth[rng.choice(len(truth), n, replace=False)],
                                              gen[rng.choice(len(gen), n, replace=False)]) for _ in range(num_batches)]))
    A = np.column_stack([np.ones(len(sizes)), 1.0 / sizes])
    coef, *_ = np.linalg.lstsq(A, np.array(vals), rcond=None)
    resid = np.array(vals) - A @ coef
    dof = max(len(sizes) - 2, 1)
    cov = np.linalg.pinv(A.T @ A) * (resid @ resid) / dof
    return float(coef[0]), float(np.sqrt(cov[0, 0]))


def mmd2_poly(x: np.ndarray, y: np.ndarray, degree: int = 4) -> float:
    """Unbiased MMD^2 of ``x`` (n, d) and ``y`` (m, d) with kernel ``(x.y / d + 1)^degree``."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** degree
    kyy = (y @ y.T / d + 1.0) ** degree
    kxy = (x @ y.T / d + 1.0) ** degree
    n, m = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2.0 * kxy.mean())


def kpd(truth: np.ndarray, gen: np.ndarray, num_batches: int = 10, batch_size: int = 5000,
        seed: int = 0) -> tuple[float, float]:
    """KPD: median of :func:`mmd2_poly` over random batches, and half the interquartile range."""
    rng = np.random.default_rng(seed)
    scale = np.abs(truth).max(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    truth, gen = truth / scale, gen / scale
    b = min(batch_size, len(truth), len(gen))
    vals = [mmd2_poly(truth[rng.choice(len(truth), b, replace=False)], gen[rng.choice(len(gen), b, replace=False)])
            for _ in range(num_batches)]
    q1, med, q3 = np.percentile(vals, [25, 50, 75])
    return float(med), float((q3 - q1) / 2)
