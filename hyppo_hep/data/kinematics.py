"""Vectorised relativistic kinematics shared by the generators (numpy, GeV, c = 1).

Four-vectors are arrays of shape ``(n, 4)`` ordered ``(E, px, py, pz)``.
"""

from __future__ import annotations

import numpy as np


def two_body_momentum(M: np.ndarray, m1: float, m2: float) -> np.ndarray:
    """Momentum p* (GeV) of each daughter in the rest frame of a parent of mass ``M`` (n,)."""
    arg = (M**2 - (m1 + m2) ** 2) * (M**2 - (m1 - m2) ** 2)
    return np.sqrt(np.maximum(arg, 0.0)) / (2.0 * M)


def boost(p: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Boost four-vectors ``p`` (n, 4) by velocities ``beta`` (n, 3), |beta| < 1.

    A frame moving with ``-beta`` sees ``p``: boosting a particle at rest by ``beta`` gives it
    velocity ``beta``.
    """
    b2 = np.sum(beta**2, axis=1)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = np.sum(beta * p[:, 1:], axis=1)
    # (gamma - 1)/b2 is 0/0 for b = 0; its limit is gamma^2/(gamma+1)
    g2 = gamma**2 / (gamma + 1.0)
    E = gamma * (p[:, 0] + bp)
    vec = p[:, 1:] + (g2 * bp + gamma * p[:, 0])[:, None] * beta
    return np.column_stack([E, vec])


def velocity(p: np.ndarray) -> np.ndarray:
    """Velocity vectors (n, 3) of four-vectors (n, 4)."""
    return p[:, 1:] / p[:, :1]


def mass(p: np.ndarray) -> np.ndarray:
    """Invariant masses (n,) of four-vectors (n, 4), clipped at 0 against rounding."""
    return np.sqrt(np.maximum(p[:, 0] ** 2 - np.sum(p[:, 1:] ** 2, axis=1), 0.0))


def unit_vectors(cos_theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Unit vectors (n, 3) from polar cosines and azimuths."""
    sin_theta = np.sqrt(np.clip(1.0 - cos_theta**2, 0.0, 1.0))
    return np.column_stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), cos_theta])


def orthonormal_frame(z: np.ndarray, x_hint: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-handed unit axes (x, y, z), each (n, 3): z along ``z``, x in the (z, x_hint) plane."""
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    x = x_hint - np.sum(x_hint * z, axis=1, keepdims=True) * z
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x, np.cross(z, x), z


def pt_eta_phi(p: np.ndarray) -> np.ndarray:
    """Transverse momentum (GeV), pseudorapidity and azimuth, (n, 3), of four-vectors (n, 4)."""
    pt = np.hypot(p[:, 1], p[:, 2])
    return np.column_stack([pt, np.arcsinh(p[:, 3] / pt), np.arctan2(p[:, 2], p[:, 1])])


def sample_from_pdf(pdf, lo: float, hi: float, n: int, rng: np.random.Generator, grid: int = 20001) -> np.ndarray:
    """Draw ``n`` values from the unnormalised density ``pdf`` on [lo, hi] by inverting its CDF.

    The CDF is tabulated on ``grid`` points (trapezoid rule) and inverted by linear
    interpolation: exact to the grid spacing, and vectorised for any shape of density.
    """
    x = np.linspace(lo, hi, grid)
    f = pdf(x)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (f[1:] + f[:-1]) * np.diff(x))])
    return np.interp(rng.random(n) * cdf[-1], cdf, x)
