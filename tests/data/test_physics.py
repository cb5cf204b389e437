"""The generators reproduce the physics their docstrings document."""

import numpy as np
import pytest

from hyppo_hep.data import cache, classification, dimuon, hadronization, kinematics, showers


def test_two_body_momentum_and_boost_conserve_mass():
    M = np.array([1.0, 3.0])
    p = kinematics.two_body_momentum(M, 0.13957, 0.13957)
    # p* = sqrt(M^2/4 - m^2) for equal masses
    np.testing.assert_allclose(p, np.sqrt(M**2 / 4 - 0.13957**2))
    v = np.array([[2.0, 0.3, -0.4, 1.0], [5.0, 1.0, 2.0, 3.0]])
    boosted = kinematics.boost(v, np.array([[0.5, 0.2, -0.6], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(kinematics.mass(boosted), kinematics.mass(v))
    np.testing.assert_allclose(boosted[1], v[1])


def test_dimuon_mass_peaks_at_mz_within_resolution():
    d = dimuon.generate(20000, seed=3)
    f = d["features"]
    assert f.shape == (20000, 6)
    assert (f[:, 0] > 20).all() and (f[:, 3] > 20).all() and (np.abs(f[:, [1, 4]]) < 2.4).all()
    assert (f[:, 0] >= f[:, 3]).all()  # leading muon first
    m = dimuon.invariant_mass(f)
    window = m[np.abs(m - 91.1876) < 5]
    # 1.5% pT smearing gives ~1 GeV mass resolution: the peak's median sits within 0.3 GeV
    assert abs(np.median(window) - 91.1876) < 0.3
    # width of the core: Breit-Wigner (HWHM 1.25) folded with ~1 GeV resolution
    q25, q75 = np.percentile(window, [25, 75])
    assert 1.2 < (q75 - q25) / 2 < 2.2
    # the continuum fills the sidebands
    assert 0.03 < np.mean(m < 80) < 0.2


def test_collins_soper_angle_follows_one_plus_cos2():
    rng = np.random.default_rng(0)
    t = dimuon.generate_truth(100000, rng, a_fb=0.015)
    c = dimuon.cos_theta_cs(t["mu_minus"], t["mu_plus"])
    np.testing.assert_allclose(c, t["cos_cs"], atol=1e-4)  # the frame is built right
    assert abs(np.mean(c**2) - 0.4) < 0.005  # <cos^2> of 1 + cos^2 is 2/5
    afb = (np.sum(c > 0) - np.sum(c < 0)) / c.size
    assert abs(afb - 0.015) < 0.01


def test_hadronization_decay_angle_and_anisotropy():
    d = hadronization.generate(60000, seed=1)
    cond, target = d["cond"], d["target"]
    assert cond.shape == (60000, 4) and target.shape == (60000, 2)
    M = kinematics.mass(cond)
    assert M.min() > 2 * hadronization.M_PI
    flight = cond[:, 1:] / np.linalg.norm(cond[:, 1:], axis=1, keepdims=True)
    lead = kinematics.unit_vectors(np.cos(target[:, 0]), target[:, 1])
    c = np.sum(lead * flight, axis=1)
    assert (c >= -1e-9).all()  # the leading pion goes forward
    for lo, hi in [(0.28, 0.6), (2.5, 4.0)]:
        sel = (M > lo) & (M < hi)
        a = hadronization.anisotropy(M[sel])
        expected = np.mean((1 / 3 + a / 5) / (1 + a / 3))  # <c^2> of 1 + a c^2
        assert abs(np.mean(c[sel] ** 2) - expected) < 0.01
    # the leading pion is the more energetic one in the lab
    p_lead, p_other = hadronization.decay_products(cond[:1000], target[:1000])
    assert (p_lead[:, 0] >= p_other[:, 0] - 1e-9).all()
    np.testing.assert_allclose(p_lead + p_other, cond[:1000], atol=1e-9)


@pytest.mark.slow
def test_shower_maximum_moves_with_log_energy():
    energies = np.array([10.0, 20.0, 50.0, 100.0])
    depth_max = []
    for E in energies:
        s = showers.generate(150, seed=2, energy=E, grid=(24, 8, 12))["showers"]
        profile = s.sum(axis=(2, 3)).mean(axis=0)
        i = int(np.argmax(profile))
        y0, y1, y2 = profile[i - 1:i + 2]
        depth_max.append(i + 0.5 + 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2))  # parabola vertex, X0
    slope, intercept = np.polyfit(np.log(energies), depth_max, 1)
    # GFlash: T = ln(E/E_c) - 0.812, one X0 per e-fold of energy
    assert 0.7 < slope < 1.3
    residual = np.array(depth_max) - (slope * np.log(energies) + intercept)
    assert np.abs(residual).max() < 0.3


@pytest.mark.slow
def test_shower_containment_resolution_and_sparsity():
    d = showers.generate(200, seed=4)  # 60 GeV, 24^3
    s, E = d["showers"], d["energy"]
    assert s.shape == (200, 24, 24, 24) and s.dtype == np.float32 and (E == 60).all()
    radial = s.sum(axis=(0, 1, 2))
    assert 0.85 < radial[:6].sum() / radial.sum() < 0.95  # 90% within 1 R_M (6 rings)
    total = s.sum(axis=(1, 2, 3))
    assert 0.95 < total.mean() / 60 < 1.0  # small leakage
    assert 0.01 < total.std() / total.mean() < 0.035  # 0.15/sqrt(60) + 1% + leakage
    assert 0.05 < (s > 0).mean() < 0.4  # the readout threshold makes sparse images
    assert s[s > 0].min() >= 5e-4


def test_classification_set_weights_and_discriminants():
    d = classification.generate(20000, seed=5, n_features=50)
    X, y, w = d["X"], d["y"], d["w"]
    assert X.shape == (20000, 50) and len(classification.feature_names(50)) == 50
    assert np.isfinite(X).all() and (w > 0).all()
    # weighted yields: signal 1, backgrounds 3 + 8 + 5
    np.testing.assert_allclose([w[y == 1].sum(), w[y == 0].sum()], [1.0, 16.0], rtol=1e-9)
    fwd = X[:, 3]
    assert np.average(fwd[y == 1], weights=w[y == 1]) > np.average(fwd[y == 0], weights=w[y == 0]) + 0.5
    top = X[d["process"] == 0, 4]
    assert abs(np.median(top) - 172.5) < 3
    small = classification.generate(100, seed=5, n_features=5)["X"]
    assert small.shape == (100, 5)


def test_cache_memoises_in_memory_and_on_disk(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"a": np.arange(3.0)}

    first = cache.cached("toy", {"n": 3}, build, tmp_path)
    cache.clear_memory()
    second = cache.cached("toy", {"n": 3}, build, tmp_path)
    assert len(calls) == 1 and list(tmp_path.glob("toy-*.npz"))
    np.testing.assert_array_equal(first["a"], second["a"])
    cache.cached("toy", {"n": 4}, build, tmp_path)
    assert len(calls) == 2


def test_generators_are_seeded():
    a = dimuon.generate(500, seed=9)["features"]
    b = dimuon.generate(500, seed=9)["features"]
    c = dimuon.generate(500, seed=10)["features"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_cache_directory_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPPO_HEP_CACHE", str(tmp_path / "env"))
    assert cache.cache_dir() == tmp_path / "env"
    assert cache.cache_dir(str(tmp_path / "opt")) == tmp_path / "opt"
    monkeypatch.delenv("HYPPO_HEP_CACHE")
    assert cache.cache_dir().parts[-2:] == (".cache", "hyppo_hep")
