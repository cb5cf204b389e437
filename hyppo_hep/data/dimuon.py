"""Z/gamma* -> mu mu events at a 13 TeV pp collider (the Hyppo study's case 2).

Physics (GeV):

* Mass in [60, 120]: relativistic Breit-Wigner with running width,
  ``m^2 / ((m^2 - M_Z^2)^2 + m^4 Gamma_Z^2 / M_Z^2)`` (M_Z = 91.1876, Gamma_Z = 2.4952),
  plus a Drell-Yan continuum ``m^-4`` carrying a fraction ``f_dy`` (default 0.1) of the events.
* Dilepton rapidity Gaussian with sigma 2.0, truncated at ``|y| < ln(sqrt(s) / m)``.
* Dilepton pT: ``pT exp(-pT / 4.5)`` (85%) plus a power-law tail ``pT^-3.5`` above 10 GeV
  (15%, capped at 300 GeV); azimuth uniform.
* Decay in the Collins-Soper frame: ``1 + cos^2 theta + (8/3) A_FB cos theta`` with
  A_FB = 0.015 (positive z along the dilepton's longitudinal direction, the pp convention),
  azimuth uniform.
* Detector: muon pT smeared by a Gaussian of relative width 1.5%; acceptance
  pT > 20 GeV and |eta| < 2.4 for both muons. Events are generated until ``n_events`` pass.

Features, leading muon (higher pT) first: ``pt1, eta1, phi1, pt2, eta2, phi2``.
"""

from __future__ import annotations

import numpy as np

from hyppo_hep.data import kinematics as kin

M_Z, GAMMA_Z, M_MU = 91.1876, 2.4952, 0.105658
SQRT_S = 13000.0
M_LO, M_HI = 60.0, 120.0
FEATURES = ("pt1", "eta1", "phi1", "pt2", "eta2", "phi2")


def mass_pdf(m: np.ndarray, f_dy: float = 0.1) -> np.ndarray:
    """Unnormalised density of the dimuon mass (GeV^-1): Breit-Wigner + ``f_dy`` continuum."""
    bw = m**2 / ((m**2 - M_Z**2) ** 2 + m**4 * GAMMA_Z**2 / M_Z**2)
    grid = np.linspace(M_LO, M_HI, 4001)
    bw_norm = np.trapezoid(grid**2 / ((grid**2 - M_Z**2) ** 2 + grid**4 * GAMMA_Z**2 / M_Z**2), grid)
    dy_norm = (M_LO**-3 - M_HI**-3) / 3.0
    return (1 - f_dy) * bw / bw_norm + f_dy * m**-4.0 / dy_norm


def sample_cos_cs(n: int, a_fb: float, rng: np.random.Generator) -> np.ndarray:
    """cos theta in the Collins-Soper frame from ``1 + c^2 + (8/3) a_fb c`` on [-1, 1]."""
    return kin.sample_from_pdf(lambda c: 1 + c**2 + 8.0 / 3.0 * a_fb * c, -1.0, 1.0, n, rng)


def collins_soper_axes(Q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CS axes (x, y, z), each (n, 3), in the rest frame of dileptons ``Q`` (n, 4).

    z bisects the angle between the beam and minus the other beam (signed by the dilepton's
    pz); x lies in the plane of the beams, pointing away from their sum.
    """
    beta = -kin.velocity(Q)
    n = len(Q)
    a = kin.boost(np.tile([1.0, 0.0, 0.0, 1.0], (n, 1)), beta)[:, 1:]
    b = kin.boost(np.tile([1.0, 0.0, 0.0, -1.0], (n, 1)), beta)[:, 1:]
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    sign = np.where(Q[:, 3] >= 0, 1.0, -1.0)[:, None]
    return kin.orthonormal_frame(sign * (a - b), -(a + b))


def cos_theta_cs(mu_minus: np.ndarray, mu_plus: np.ndarray) -> np.ndarray:
    """Collins-Soper cos theta (n,) of the negative muon from lab four-vectors (n, 4).

    The closed formula ``2 (p1+ p2- - p1- p2+) / (m sqrt(m^2 + pT^2))`` with light-cone
    components ``p+- = (E +- pz)/sqrt 2``, signed by the dilepton pz.
    """
    Q = mu_minus + mu_plus
    m = kin.mass(Q)
    pt2 = Q[:, 1] ** 2 + Q[:, 2] ** 2
    p1p, p1m = (mu_minus[:, 0] + mu_minus[:, 3]) / np.sqrt(2), (mu_minus[:, 0] - mu_minus[:, 3]) / np.sqrt(2)
    p2p, p2m = (mu_plus[:, 0] + mu_plus[:, 3]) / np.sqrt(2), (mu_plus[:, 0] - mu_plus[:, 3]) / np.sqrt(2)
    return np.sign(Q[:, 3]) * 2 * (p1p * p2m - p1m * p2p) / (m * np.sqrt(m**2 + pt2))


def generate_truth(n: int, rng: np.random.Generator, f_dy: float = 0.1, a_fb: float = 0.015) -> dict[str, np.ndarray]:
    """Unsmeared, uncut events: ``mu_minus``, ``mu_plus`` (n, 4) and the true ``cos_cs`` (n,)."""
    m = kin.sample_from_pdf(lambda x: mass_pdf(x, f_dy), M_LO, M_HI, n, rng)
    y_max = np.log(SQRT_S / m)
    y = rng.normal(0.0, 2.0, n)
    while np.any(bad := np.abs(y) >= y_max):
        y[bad] = rng.normal(0.0, 2.0, bad.sum())
    tail = rng.random(n) < 0.15
    pt = np.where(tail, np.minimum(10.0 * rng.random(n) ** (-1 / 2.5), 300.0), rng.gamma(2.0, 4.5, n))
    phi = rng.uniform(-np.pi, np.pi, n)
    mt = np.sqrt(m**2 + pt**2)
    Q = np.column_stack([mt * np.cosh(y), pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y)])

    cos_cs = sample_cos_cs(n, a_fb, rng)
    phi_cs = rng.uniform(-np.pi, np.pi, n)
    ex, ey, ez = collins_soper_axes(Q)
    local = kin.unit_vectors(cos_cs, phi_cs)
    d = local[:, :1] * ex + local[:, 1:2] * ey + local[:, 2:] * ez
    p_star = kin.two_body_momentum(m, M_MU, M_MU)
    e_star = np.sqrt(p_star**2 + M_MU**2)
    beta = kin.velocity(Q)
    mu_minus = kin.boost(np.column_stack([e_star, p_star[:, None] * d]), beta)
    mu_plus = kin.boost(np.column_stack([e_star, -p_star[:, None] * d]), beta)
    return {"mu_minus": mu_minus, "mu_plus": mu_plus, "cos_cs": cos_cs}


def generate(n_events: int, seed: int = 0, pt_min: float = 20.0, eta_max: float = 2.4,
             pt_resolution: float = 0.015, f_dy: float = 0.1, a_fb: float = 0.015) -> dict[str, np.ndarray]:
    """``{"features": (n_events, 6)}`` (pt GeV, eta, phi rad; leading muon first) after cuts."""
    rng = np.random.default_rng(seed)
    chunks, have = [], 0
    while have < n_events:
        # About half the events pass the cuts; ask for a bit more than is missing.
        n = int(2.2 * (n_events - have)) + 100
        truth = generate_truth(n, rng, f_dy, a_fb)
        mus = [kin.pt_eta_phi(truth[k]) for k in ("mu_minus", "mu_plus")]
        for mu in mus:
            mu[:, 0] *= 1.0 + pt_resolution * rng.standard_normal(n)
        ok = np.all([(mu[:, 0] > pt_min) & (np.abs(mu[:, 1]) < eta_max) for mu in mus], axis=0)
        first = mus[0][:, 0] >= mus[1][:, 0]
        lead = np.where(first[:, None], mus[0], mus[1])
        sub = np.where(first[:, None], mus[1], mus[0])
        chunks.append(np.column_stack([lead, sub])[ok])
        have += int(ok.sum())
    return {"features": np.concatenate(chunks)[:n_events]}


def invariant_mass(features: np.ndarray) -> np.ndarray:
    """Dimuon mass (GeV, massless limit) ``sqrt(2 pT1 pT2 (cosh d_eta - cos d_phi))`` from features (n, 6)."""
    pt1, eta1, phi1, pt2, eta2, phi2 = features.T
    return np.sqrt(2 * pt1 * pt2 * (np.cosh(eta1 - eta2) - np.cos(phi1 - phi2)))
