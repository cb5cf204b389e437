"""Weighted signal/background set in the spirit of a t-channel single-top selection.

Processes (label 1 = signal): t-channel single top, and the backgrounds ttbar, W+jets and
QCD multijet. Each Monte Carlo event carries a weight ``sigma L / N_gen`` of its process
times a log-normal generator spread (sigma 0.3): QCD is simulated with few events of large
weight, as in the analyses, so the weights matter for training and for the metrics.

The five high-level features (``n_features=5``, the QCD-suppression set of the study):

* ``lep_pt``: lepton pT (GeV); real W leptons ~ Gamma(4, 10), QCD fakes 25 + Exp(12).
* ``met``: missing ET (GeV); neutrinos ~ Gamma(4, 10), QCD mismeasurement Gamma(2, 8).
* ``mt_w``: transverse W mass (GeV); a Jacobian edge at 80.4 smeared by 8 for W processes,
  Gamma(2, 15) for QCD.
* ``fwd_jet_abs_eta``: |eta| of the untagged jet; the recoiling light quark of t-channel
  production is forward (|N(0, 2.4)|) while the others are central (|N(0, 1.3)|); < 4.7.
* ``m_top``: reconstructed top mass (GeV); N(172.5, 20) for single top, N(172.5, 35) for
  ttbar, Gamma(6, 25) for the others.

The ~50-feature set (``n_features=50``) adds low-level objects: up to six jets ordered in pT
(pT, eta, phi, b-tag score; zeros for absent jets; jet multiplicity and number of true b
jets per process, with gluon-splitting and heavy-flavour extras), lepton eta
and phi, MET phi, HT, the numbers of jets and b tags, the lepton's cos theta* in the top rest
frame proxy (``1 + cos`` for the polarised single top, flat otherwise), Delta phi(lepton, MET)
the lepton isolation (large for QCD fakes), m_jj, Delta eta_jj and Delta R_jj of the two
leading jets, and nine pile-up-like nuisance features with no discriminating power.
"""

from __future__ import annotations

import numpy as np

HIGH_LEVEL = ("lep_pt", "met", "mt_w", "fwd_jet_abs_eta", "m_top")
# process: (label, share of MC events, weighted yield, mean number of jets)
PROCESSES = {
    "tchan": (1, 0.35, 1.0, 2.4),
    "ttbar": (0, 0.20, 3.0, 4.2),
    "wjets": (0, 0.30, 8.0, 2.3),
    "qcd": (0, 0.15, 5.0, 2.8),
}


def _high_level(proc: str, n: int, rng: np.random.Generator) -> np.ndarray:
    qcd = proc == "qcd"
    lep_pt = 25.0 + rng.exponential(12.0, n) if qcd else rng.gamma(4.0, 10.0, n) + 5.0
    met = rng.gamma(2.0, 8.0, n) if qcd else rng.gamma(4.0, 10.0, n)
    mt = rng.gamma(2.0, 15.0, n) if qcd else 80.4 * np.sqrt(rng.beta(3.0, 1.0, n)) + rng.normal(0, 8.0, n)
    eta_sd = 2.4 if proc == "tchan" else 1.3
    fwd = np.minimum(np.abs(rng.normal(0.0, eta_sd, n)), 4.7)
    if proc in ("tchan", "ttbar"):
        m_top = rng.normal(172.5, 20.0 if proc == "tchan" else 35.0, n)
    else:
        m_top = rng.gamma(6.0, 25.0, n)
    return np.column_stack([lep_pt, met, np.abs(mt), fwd, m_top])


def _low_level(proc: str, hl: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(hl)
    mean_jets = PROCESSES[proc][3]
    n_jets = np.clip(rng.poisson(mean_jets - 1.0, n) + 1, 1, 6)
    # true b jets: one (+ a gluon-splitting partner) in t-channel, two in ttbar, heavy flavour in the rest
    extra_b = {"tchan": (1, 0.3), "ttbar": (0, 0.0), "wjets": (2, 0.2), "qcd": (2, 0.25)}[proc]
    n_b = {"tchan": 1, "ttbar": 2, "wjets": 0, "qcd": 0}[proc] + rng.binomial(extra_b[0], extra_b[1], n)
    pt = np.sort(20.0 + rng.exponential(35.0, (n, 6)), axis=1)[:, ::-1]
    eta = rng.normal(0.0, 1.5, (n, 6))
    phi = rng.uniform(-np.pi, np.pi, (n, 6))
    is_b = np.arange(6)[None, :] < np.minimum(n_b, n_jets)[:, None]
    btag = np.where(is_b, rng.beta(3.0, 1.5, (n, 6)), rng.beta(1.2, 4.0, (n, 6)))
    present = np.arange(6)[None, :] < n_jets[:, None]
    jets = np.stack([pt, eta, phi, btag], axis=2) * present[:, :, None]
    lep_eta, lep_phi, met_phi = rng.normal(0, 1.1, n), rng.uniform(-np.pi, np.pi, n), rng.uniform(-np.pi, np.pi, n)
    ht = (pt * present).sum(axis=1) + hl[:, 0]
    n_tags = (btag * present > 0.5).sum(axis=1)
    if proc == "tchan":  # 1 + cos theta*: inverse CDF
        cos_star = 2.0 * np.sqrt(rng.random(n)) - 1.0
    else:
        cos_star = rng.uniform(-1.0, 1.0, n)
    dphi = np.abs(np.angle(np.exp(1j * (lep_phi - met_phi))))
    lep_iso = rng.exponential(0.15 if proc == "qcd" else 0.05, n)
    deta = np.abs(eta[:, 0] - eta[:, 1]) * present[:, 1]
    dphi_jj = np.abs(np.angle(np.exp(1j * (phi[:, 0] - phi[:, 1]))))
    mjj = np.sqrt(2 * pt[:, 0] * pt[:, 1] * (np.cosh(deta) - np.cos(dphi_jj))) * present[:, 1]
    dr_jj = np.hypot(deta, dphi_jj) * present[:, 1]
    nuisance = rng.normal(0.0, 1.0, (n, 9)) + rng.poisson(30, (n, 1))
    return np.column_stack([jets.reshape(n, 24), lep_eta, lep_phi, met_phi, ht, n_jets, n_tags,
                            cos_star, dphi, lep_iso, mjj, deta, dr_jj, nuisance])


def feature_names(n_features: int) -> list[str]:
    if n_features == 5:
        return list(HIGH_LEVEL)
    jets = [f"jet{i}_{q}" for i in range(1, 7) for q in ("pt", "eta", "phi", "btag")]
    rest = ["lep_eta", "lep_phi", "met_phi", "ht", "n_jets", "n_btags", "cos_theta_star", "dphi_lep_met",
            "lep_iso", "mjj", "deta_jj", "dr_jj"]
    return list(HIGH_LEVEL) + jets + rest + [f"nuisance{i}" for i in range(9)]


def generate(n_events: int, seed: int = 0, n_features: int = 5, luminosity: float = 1.0) -> dict[str, np.ndarray]:
    """``{"X": (n, d), "y": (n,), "w": (n,), "process": (n,)}`` with d = ``n_features`` (5 or 50).

    ``w`` sums to ``luminosity x`` the weighted yield of each process; ``process`` indexes
    ``list(PROCESSES)``.
    """
    if n_features not in (5, 50):
        raise ValueError("n_features must be 5 (high-level) or 50 (with low-level objects)")
    rng = np.random.default_rng(seed)
    names = list(PROCESSES)
    shares = np.array([PROCESSES[p][1] for p in names])
    counts = rng.multinomial(n_events, shares / shares.sum())
    X, y, w, proc_id = [], [], [], []
    for i, (proc, n) in enumerate(zip(names, counts)):
        label, _, yield_, _ = PROCESSES[proc]
        hl = _high_level(proc, n, rng)
        X.append(hl if n_features == 5 else np.column_stack([hl, _low_level(proc, hl, rng)]))
        spread = rng.lognormal(0.0, 0.3, n)
        w.append(luminosity * yield_ * spread / max(spread.sum(), 1e-300))
        y.append(np.full(n, label))
        proc_id.append(np.full(n, i))
    order = rng.permutation(n_events)
    return {"X": np.concatenate(X)[order], "y": np.concatenate(y)[order].astype(np.float64),
            "w": np.concatenate(w)[order], "process": np.concatenate(proc_id)[order]}
