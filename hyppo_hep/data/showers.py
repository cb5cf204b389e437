"""Electromagnetic showers from a GFlash-style parametrisation, voxelised in (layer, alpha, r).

Physics (Grindhammer & Peters, hep-ex/0001020; constants in docs PHYSICS.md):

* Medium PbWO4 as in the AutoML-for-VAE study: Z_eff = 68, X0 = 0.89 cm, R_M = 2.0 cm,
  E_c = 610 MeV / (Z + 1.24). Depth t in X0, radius r in R_M, energies in GeV.
* Longitudinal: each shower draws (ln T, ln alpha) from correlated Gaussians around
  <ln T> = ln(ln y - 0.812), <ln alpha> = ln(0.81 + (0.458 + 2.26/Z) ln y), y = E / E_c, with
  the GFlash sigmas and correlation rho; its energy follows Gamma(alpha, beta = (alpha-1)/T)
  in depth, so the maximum T moves as ln E.
* Radial at tau = t / T: core + tail, ``f(r) = p 2 r Rc^2/(r^2+Rc^2)^2 + (1-p) 2 r Rt^2/(r^2+Rt^2)^2``.
* Fluctuations: the energy is deposited as N_spot = 93 ln(Z) E^0.876 spots drawn from the
  profiles above; each spot's energy is Gamma-distributed with shape k = E / (a^2 N_spot),
  which makes the total's stochastic resolution a/sqrt(E) (a = 0.15), times a shower-wide
  factor N(1, b) for the constant term (b = 0.01). Spots outside the grid leak out.
* Readout: voxels below ``threshold`` (default 0.5 MeV) read zero, which gives the
  realistic sparsity of calorimeter images.

Grid: ``(n_layers, n_alpha, n_r)``, default 24 x 24 x 24 over 24 X0 in depth and 4 R_M in
radius (layer 1 X0, ring 1/6 R_M); the incident particle enters at r = 0 along the layer axis.
Incident energies: fixed (default 60 GeV) or log-uniform in ``energy_range`` (e.g. 10-100 GeV).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Z_EFF = 68.0
E_CRIT = 0.610 / (Z_EFF + 1.24)  # GeV


@dataclass(frozen=True)
class Geometry:
    """Voxel grid: layers of ``depth / n_layers`` X0, ``n_alpha`` sectors, ``n_r`` rings to ``r_max`` R_M."""

    n_layers: int = 24
    n_alpha: int = 24
    n_r: int = 24
    depth: float = 24.0
    r_max: float = 4.0

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.n_layers, self.n_alpha, self.n_r)

    def xy_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Transverse voxel centres x, y in R_M, each of shape (n_alpha, n_r)."""
        r = (np.arange(self.n_r) + 0.5) * self.r_max / self.n_r
        a = (np.arange(self.n_alpha) + 0.5) * 2 * np.pi / self.n_alpha
        return np.outer(np.cos(a), r), np.outer(np.sin(a), r)


def longitudinal_parameters(E: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-shower (T, alpha), each (n,), with GFlash's correlated fluctuations; T in X0."""
    ln_y = np.log(E / E_CRIT)
    mean_ln_t = np.log(ln_y - 0.812)
    mean_ln_a = np.log(0.81 + (0.458 + 2.26 / Z_EFF) * ln_y)
    sig_t = 1.0 / (-1.4 + 1.26 * ln_y)
    sig_a = 1.0 / (-0.58 + 0.86 * ln_y)
    rho = 0.705 - 0.023 * ln_y
    z1, z2 = rng.standard_normal((2, E.size))
    ln_t = mean_ln_t + sig_t * (np.sqrt((1 + rho) / 2) * z1 + np.sqrt((1 - rho) / 2) * z2)
    ln_a = mean_ln_a + sig_a * (np.sqrt((1 + rho) / 2) * z1 - np.sqrt((1 - rho) / 2) * z2)
    # alpha > 1 keeps the profile peaked (T > 0); the clip only touches far tails.
    return np.exp(ln_t), np.maximum(np.exp(ln_a), 1.05)


def radial_radius(tau: np.ndarray, lnE: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Spot radii (R_M) from the core + tail profile at reduced depths ``tau`` (spots,)."""
    Z = Z_EFF
    rc = (0.0251 + 0.00319 * lnE) + (0.1162 - 0.000381 * Z) * tau
    k1, k2, k3, k4 = 0.659 - 0.00309 * Z, 0.645, -2.59, 0.3585 + 0.0412 * lnE
    rt = k1 * (np.exp(k3 * (tau - k2)) + np.exp(k4 * (tau - k2)))
    p1, p2, p3 = 2.632 - 0.00094 * Z, 0.401 + 0.00187 * Z, 1.313 - 0.0686 * lnE
    arg = (p2 - tau) / p3
    p = np.clip(p1 * np.exp(arg - np.exp(arg)), 0.0, 1.0)
    R = np.where(rng.random(tau.size) < p, rc, rt)
    u = rng.random(tau.size)
    return R * np.sqrt(u / (1.0 - u))


def simulate(E: np.ndarray, geometry: Geometry, rng: np.random.Generator, a: float = 0.15,
             b: float = 0.01, threshold: float = 5e-4) -> np.ndarray:
    """Voxelised showers (n, n_layers, n_alpha, n_r) in GeV for incident energies ``E`` (n,) GeV."""
    n = E.size
    T, alpha = longitudinal_parameters(E, rng)
    n_spot = np.maximum((93 * np.log(Z_EFF) * E**0.876).astype(np.int64), 1)
    owner = np.repeat(np.arange(n), n_spot)
    t = rng.gamma(alpha[owner], T[owner] / (alpha[owner] - 1.0))
    r = radial_radius(t / T[owner], np.log(E)[owner], rng)
    ang = rng.uniform(0.0, 2 * np.pi, owner.size)
    k = E / (a**2 * n_spot)
    scale = E * np.maximum(1.0 + b * rng.standard_normal(n), 0.0) / n_spot
    e_spot = rng.gamma(k[owner], 1.0 / k[owner]) * scale[owner]

    g = geometry
    iz = np.floor(t * g.n_layers / g.depth).astype(np.int64)
    ir = np.floor(r * g.n_r / g.r_max).astype(np.int64)
    ia = np.minimum(np.floor(ang * g.n_alpha / (2 * np.pi)).astype(np.int64), g.n_alpha - 1)
    inside = (iz < g.n_layers) & (ir < g.n_r)  # the rest leaks out of the calorimeter
    flat = ((owner * g.n_layers + iz) * g.n_alpha + ia) * g.n_r + ir
    vox = np.bincount(flat[inside], weights=e_spot[inside], minlength=n * g.n_layers * g.n_alpha * g.n_r)
    vox[vox < threshold] = 0.0
    return vox.reshape((n,) + g.shape)


def generate(n_events: int, seed: int = 0, energy: float = 60.0, energy_range=None,
             grid=(24, 24, 24), threshold: float = 5e-4, chunk: int = 100) -> dict[str, np.ndarray]:
    """``{"showers": (n, *grid) float32 GeV, "energy": (n,) float32 GeV}``.

    ``energy_range=(lo, hi)`` draws incident energies log-uniformly, else all are ``energy``.
    Showers are simulated ``chunk`` at a time to bound the memory of the spot arrays.
    """
    rng = np.random.default_rng(seed)
    geometry = Geometry(*grid)
    if energy_range is not None:
        lo, hi = energy_range
        E = np.exp(rng.uniform(np.log(lo), np.log(hi), n_events))
    else:
        E = np.full(n_events, float(energy))
    out = np.empty((n_events,) + geometry.shape, dtype=np.float32)
    for start in range(0, n_events, chunk):
        out[start:start + chunk] = simulate(E[start:start + chunk], geometry, rng, threshold=threshold)
    return {"showers": out, "energy": E.astype(np.float32)}
