"""Hadronization toy: clusters decaying to two charged pions (the Hyppo study's case 1).

Physics (all in GeV):

* Cluster mass ``M = 2 m_pi + Gamma(k=2, scale=0.6)``: a spread from threshold to a few GeV
  with mean about 1.5 GeV, like the cluster spectrum of a cluster-hadronization model.
* Cluster momentum ``|p| ~ Gamma(k=2, scale=2.5)`` (mean 5 GeV), direction isotropic.
* Decay ``cluster -> pi+ pi-`` in the cluster rest frame with the two-body momentum p*;
  the angle theta' of pi+ to the cluster's flight direction follows
  ``1 + a(M) cos^2 theta'`` with ``a(M) = A0 exp(-(M - 2 m_pi) / M0)`` (A0 = 3, M0 = 1 GeV):
  light clusters decay along their flight axis, heavy ones isotropically. The azimuth
  around the flight axis is uniform.
* The leading pion is the one with the larger lab energy (``E = gamma (E* + beta p* cos theta')``,
  so it is the one emitted forward, ``cos theta' > 0``).

Features: the condition is the cluster four-momentum ``(E, px, py, pz)``; the target is the
leading pion's polar angle theta in [0, pi] and azimuth phi in (-pi, pi] in the cluster rest
frame reached from the lab by a pure boost (axes parallel to the lab's). The target's
distribution thus depends on the cluster's direction (the pion follows it) and mass (the
anisotropy), which is what a conditional generator must learn.
"""

from __future__ import annotations

import numpy as np

from hyppo_hep.data import kinematics as kin

M_PI = 0.13957
A0, M0 = 3.0, 1.0


def anisotropy(M: np.ndarray) -> np.ndarray:
    """Coefficient a(M) of ``1 + a cos^2 theta'`` for cluster masses ``M`` (n,), GeV."""
    return A0 * np.exp(-(M - 2 * M_PI) / M0)


def sample_cos_theta(a: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw cos theta' from ``1 + a cos^2`` on [-1, 1], one per entry of ``a`` (n,) (rejection)."""
    out = np.empty(a.shape)
    todo = np.arange(a.size)
    while todo.size:
        c = rng.uniform(-1.0, 1.0, todo.size)
        ok = rng.random(todo.size) * (1.0 + a[todo]) < 1.0 + a[todo] * c**2
        out[todo[ok]] = c[ok]
        todo = todo[~ok]
    return out


def generate(n_events: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``{"cond": (n, 4) cluster (E, px, py, pz), "target": (n, 2) (theta, phi)}`` in GeV, rad."""
    rng = np.random.default_rng(seed)
    M = 2 * M_PI + rng.gamma(2.0, 0.6, n_events)
    p_abs = rng.gamma(2.0, 2.5, n_events)
    flight = kin.unit_vectors(rng.uniform(-1, 1, n_events), rng.uniform(-np.pi, np.pi, n_events))
    cluster = np.column_stack([np.sqrt(M**2 + p_abs**2), p_abs[:, None] * flight])

    cos_t = sample_cos_theta(anisotropy(M), rng)
    phi_t = rng.uniform(-np.pi, np.pi, n_events)
    # Direction of pi+ in the rest frame, expressed in lab-parallel axes via the flight frame.
    ex, ey, ez = kin.orthonormal_frame(flight, _any_perpendicular_hint(flight))
    local = kin.unit_vectors(cos_t, phi_t)
    d_plus = local[:, :1] * ex + local[:, 1:2] * ey + local[:, 2:] * ez
    # Equal masses: the forward-emitted pion (cos theta' > 0) has the larger lab energy.
    lead = np.where((cos_t >= 0)[:, None], d_plus, -d_plus)
    theta = np.arccos(np.clip(lead[:, 2], -1.0, 1.0))
    phi = np.arctan2(lead[:, 1], lead[:, 0])
    return {"cond": cluster, "target": np.column_stack([theta, phi])}


def decay_products(cond: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lab four-momenta (n, 4) of the leading and the other pion, from cluster and target angles."""
    M = kin.mass(cond)
    p_star = kin.two_body_momentum(M, M_PI, M_PI)
    d = kin.unit_vectors(np.cos(target[:, 0]), target[:, 1])
    rest = np.column_stack([np.sqrt(p_star**2 + M_PI**2), p_star[:, None] * d])
    other = rest * np.array([1.0, -1.0, -1.0, -1.0])
    beta = kin.velocity(cond)
    return kin.boost(rest, beta), kin.boost(other, beta)


def _any_perpendicular_hint(z: np.ndarray) -> np.ndarray:
    """A vector (n, 3) never parallel to ``z``: the lab axis least aligned with it."""
    hint = np.zeros_like(z)
    hint[np.arange(len(z)), np.argmin(np.abs(z), axis=1)] = 1.0
    return hint
