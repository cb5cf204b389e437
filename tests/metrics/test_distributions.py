"""Distribution metrics against scipy/sklearn/skimage or hand-computed values."""

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from hyppo_hep.metrics import classification, frechet, jsd, separation, wasserstein


@pytest.fixture
def samples():
    rng = np.random.default_rng(0)
    return rng.normal(size=(400, 3)), rng.normal(0.3, 1.5, size=(250, 3)), rng.random(400), rng.random(250)


def test_w1_hand_value():
    # F_P - F_Q is 1/2 on [0, 1) and [2, 3): W1 = 1, on two points each
    assert wasserstein.average_w1(np.array([[0.0], [2.0]]), np.array([[1.0], [3.0]]), scale=False) == pytest.approx(1.0)
    # scaled: truth [0, 2] -> [-1, 1], so the shift of 1 becomes 1 too, gen 3 -> 2
    assert wasserstein.average_w1(np.array([[0.0], [2.0]]), np.array([[1.0], [3.0]])) == pytest.approx(1.0)


def test_w1_torch_matches_scipy_weighted_and_unweighted(samples):
    a, b, wa, wb = samples
    t = lambda x: torch.tensor(x)
    ref_w = [wasserstein_distance(a[:, j], b[:, j], wa, wb) for j in range(3)]
    ref = [wasserstein_distance(a[:, j], b[:, j]) for j in range(3)]
    np.testing.assert_allclose(wasserstein.w1_torch(t(a), t(b), t(wa), t(wb)).numpy(), ref_w, rtol=1e-10)
    np.testing.assert_allclose(wasserstein.w1_torch(t(a), t(b)).numpy(), ref, rtol=1e-10)
    lo, hi = wasserstein.minmax_range(a)
    unit = lambda x: t(wasserstein.to_unit(x, lo, hi))
    assert wasserstein.average_w1_torch(unit(a), unit(b), t(wa), t(wb)) == pytest.approx(
        wasserstein.average_w1(a, b, wa, wb), rel=1e-10)
    np.testing.assert_allclose(wasserstein.from_unit(wasserstein.to_unit(a, lo, hi), lo, hi), a)


def test_jsd_matches_scipy_squared_base2_and_hand_value():
    # truth bins (1/2, 1/2), gen all in bin 0 (0.0 and the clipped -5.0): mixture (3/4, 1/4)
    kl_p = 0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(0.5 / 0.25)
    kl_q = np.log2(1 / 0.75)
    truth = np.array([0.0, 0.1, 0.2, 0.3])
    assert jsd.histogram_jsd(truth, np.array([0.0, -5.0]), bins=2) == pytest.approx(0.5 * (kl_p + kl_q))
    assert jsd.histogram_jsd(truth, np.array([0.0, 0.3]), bins=2) == 0.0
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=2000), rng.normal(0.5, 1, 2000)
    edges = np.histogram_bin_edges(a, 20)
    ha, _ = np.histogram(a, edges)
    hb, _ = np.histogram(np.clip(b, edges[0], edges[-1]), edges)
    assert jsd.histogram_jsd(a, b, bins=20) == pytest.approx(jensenshannon(ha, hb, base=2) ** 2)
    assert jsd.jsd_per_observable(np.column_stack([a, a]), np.column_stack([a, b]), bins=20)[0] == 0.0


def test_fidelity_score_by_hand():
    table = np.array([[0.1, 0.02], [0.3, 0.02], [0.2, 0.05]])  # 3 models x 2 observables
    # column means 0.2 and 0.03: model 0 -> (0.5 + 2/3) / 2
    np.testing.assert_allclose(jsd.fidelity_score(table), [(0.5 + 2 / 3) / 2, (1.5 + 2 / 3) / 2, (1.0 + 5 / 3) / 2])
    np.testing.assert_allclose(jsd.fidelity_score(table, [3, 1])[0], (3 * 0.5 + 2 / 3) / 4)


def test_separation_power_by_hand():
    assert separation.separation_power([1, 1], [1, 1]) == 0.0
    assert separation.separation_power([1, 0], [0, 1]) == pytest.approx(1.0)
    # h = (0.5, 0.5), g = (0.25, 0.75): 1/2 (0.0625/0.75 + 0.0625/1.25)
    assert separation.separation_power([2, 2], [1, 3]) == pytest.approx(0.5 * (0.0625 / 0.75 + 0.0625 / 1.25))
    assert separation.separation_power_samples(np.array([0.0, 1.0]), np.array([0.0, 1.0]), bins=2) == 0.0


def test_frechet_distance_of_known_gaussians():
    # diagonal covariances: |dmu|^2 + sum (sigma1 - sigma2)^2
    fd = frechet.frechet_distance(np.array([0.0, 1.0]), np.diag([1.0, 4.0]), np.array([1.0, 1.0]), np.diag([4.0, 1.0]))
    assert fd == pytest.approx(1.0 + 1.0 + 1.0)


def test_fpd_extrapolation_removes_the_finite_sample_bias():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(20000, 4)), rng.normal(size=(20000, 4))
    value, err = frechet.fpd(a, b, min_samples=500, max_samples=5000, num_batches=5, num_points=6)
    biased = frechet.gaussian_frechet(a[:500], b[:500])
    assert biased > 5 * abs(value)  # same distribution: FD at N=500 is all bias
    assert abs(value) < 3 * err + 1e-3
    shifted, _ = frechet.fpd(a, b + np.array([0.5, 0, 0, 0]), min_samples=500, max_samples=5000, num_batches=5, num_points=6)
    scale = np.abs(a).max(axis=0)[0]
    assert shifted == pytest.approx((0.5 / scale) ** 2, rel=0.3)


@pytest.mark.slow
def test_kpd_hand_value_and_detection():
    x, y = np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]])
    # d = 1, k = (xy + 1)^4: kxx off-diag 1, kyy off-diag 3^4 = 81, kxy = [1, 1; 16, 81]
    assert frechet.mmd2_poly(x, y) == pytest.approx(1 + 81 - 2 * (1 + 1 + 16 + 81) / 4)
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3000, 3))
    same, _ = frechet.kpd(a, rng.normal(size=(3000, 3)), num_batches=5, batch_size=1000)
    diff, _ = frechet.kpd(a, rng.normal(0.5, 1, size=(3000, 3)), num_batches=5, batch_size=1000)
    assert abs(same) < 1e-3 < diff


def test_weighted_auc_and_loss(samples):
    from sklearn.metrics import log_loss, roc_auc_score

    rng = np.random.default_rng(4)
    y = rng.random(600) > 0.4
    score = np.round(rng.random(600) + 0.4 * y, 1)  # rounding makes ties
    w = rng.random(600)
    assert classification.weighted_auc(y, score, w) == pytest.approx(roc_auc_score(y, score, sample_weight=w))
    assert classification.weighted_auc_torch(torch.tensor(y), torch.tensor(score), torch.tensor(w)) == pytest.approx(
        roc_auc_score(y, score, sample_weight=w))
    # by hand: signal 0.9 (w 1) beats background 0.1 (w 2), ties background 0.9 (w 1): (2 + 0.5) / 3
    assert classification.weighted_auc([1, 0, 0], [0.9, 0.1, 0.9], [1.0, 2.0, 1.0]) == pytest.approx(2.5 / 3)
    p = np.clip(score / 1.5, 0.01, 0.99)
    assert classification.weighted_bce(y, p, w) == pytest.approx(log_loss(y, p, sample_weight=w))
    assert classification.weighted_bce(np.array([1.0]), np.array([0.5])) == pytest.approx(np.log(2))
