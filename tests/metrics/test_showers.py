"""Shower metrics: SSIM, observables, FRD and the VAE combined score."""

import numpy as np
import pytest
import torch

from hyppo_hep.data import showers as shower_data
from hyppo_hep.metrics import frd, ssim, vae_score
from hyppo_hep.metrics.showers import shower_observables_np


def test_ssim_hand_value_on_a_single_window():
    rng = np.random.default_rng(0)
    x, y = rng.random((7, 7)), rng.random((7, 7))
    # one 7x7 window: the SSIM formula with sample (ddof=1) covariances over the whole image
    c1, c2 = 0.01**2, 0.03**2
    cov = np.cov(x.ravel(), y.ravel())
    want = ((2 * x.mean() * y.mean() + c1) * (2 * cov[0, 1] + c2)) / (
        (x.mean() ** 2 + y.mean() ** 2 + c1) * (cov[0, 0] + cov[1, 1] + c2))
    assert ssim.ssim(x, y, 1.0) == pytest.approx(want, rel=1e-12)
    assert ssim.ssim(x, x, 1.0) == pytest.approx(1.0)


def test_ssim_matches_skimage():
    skm = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    x = rng.random((24, 24))
    y = x + 0.3 * rng.random((24, 24))
    assert ssim.ssim(x, y, 1.3) == pytest.approx(skm.structural_similarity(x, y, data_range=1.3), rel=1e-10)


def test_shower_observables_by_hand():
    s = np.zeros((2, 2, 4, 3), dtype=np.float64)
    s[0, 0, 0, 0] = 2.0  # one voxel in layer 0
    s[0, 1, 1, 2] = 1.0
    s[0, 1, 3, 2] = 1.0  # two opposite voxels in layer 1 (alpha bins 1 and 3 are 180 deg apart)
    x, y = shower_data.Geometry(2, 4, 3, 2.0, 3.0).xy_centres()
    obs = shower_observables_np(s, x, y, threshold=0.5)
    np.testing.assert_allclose(obs["e_total"], [4.0, 0.0])
    np.testing.assert_allclose(obs["e_layer"][0], [2.0, 2.0])
    np.testing.assert_allclose([obs["centre_x"][0, 0], obs["centre_y"][0, 0]], [x[0, 0], y[0, 0]])
    np.testing.assert_allclose([obs["centre_x"][0, 1], obs["centre_y"][0, 1]], [0.0, 0.0], atol=1e-12)
    r = 2.5  # ring 2 centre, 3 R_M / 3 rings
    np.testing.assert_allclose(obs["width_x"][0, 1] ** 2 + obs["width_y"][0, 1] ** 2, r**2)
    np.testing.assert_array_equal(obs["n_hits"], [3, 0])
    np.testing.assert_allclose(obs["width_x"][1], 0.0)


@pytest.fixture(scope="module")
def small_showers():
    d = shower_data.generate(160, seed=0, energy_range=(10, 100), grid=(12, 8, 8), chunk=80)
    return torch.from_numpy(d["showers"]), torch.from_numpy(d["energy"])


@pytest.mark.slow
def test_frd_regressor_learns_and_separates(small_showers):
    s, e = small_showers
    model, mse = frd.train_regressor(s[:120], e[:120], epochs=8, batch_size=32, seed=0)
    assert mse < 0.5  # explains most of the variance of ln E
    real_a, real_b = s[:80], s[80:]
    same = frd.frd(model, real_a, real_b)
    distorted = frd.frd(model, real_a, real_b * 0.5)  # half the energy
    assert distorted > 3 * same


def test_vae_combined_score_components(small_showers):
    s, e = small_showers
    x, y = (torch.from_numpy(a) for a in shower_data.Geometry(12, 8, 8).xy_centres())
    z = torch.from_numpy(np.random.default_rng(0).standard_normal((2000, 4)))
    dr = float(ssim.log_images(s).max())
    perfect = vae_score.combined_score(s, s, s, z, e, e, x, y, dr)
    assert perfect["recon"] == pytest.approx(0.0, abs=1e-12)
    assert perfect["e_total"] == 0.0 and perfect["e_layer"] == 0.0
    assert perfect["gauss"] < 0.01
    bad = vae_score.combined_score(s, s.flip(0), s * 0.5, 2 * z + 1, e, e, x, y, dr)
    # latent N(1, 2^2): quantile errors (1 + z_q)^2 average 1 + 1 = 2 (approximately, 50 levels)
    assert bad["gauss"] == pytest.approx(2.0, rel=0.1)
    ratio = (s.sum(dim=(1, 2, 3)) / e).double()
    want = vae_score.quantile_mse(0.5 * ratio, ratio)
    assert bad["e_total"] == pytest.approx(want) and want > 0.1
    assert bad["e_layer"] > 0.1 and bad["recon"] > 0.05
    assert bad["score"] == pytest.approx(bad["recon"] + bad["gauss"] + bad["e_total"] + bad["e_layer"])
