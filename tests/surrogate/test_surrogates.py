"""Surrogates: interpolation, prediction, and how they use the spread of repeated trials.

Both surrogates run through the same contract (shapes, several outputs), then each through
its own numbers."""

import numpy as np
import pytest

from hyppo_hep.surrogate.gp import GPSurrogate
from hyppo_hep.surrogate.rbf import KERNELS, RBFSurrogate


def branin_unit(X):
    x1, x2 = 15 * X[:, 0] - 5, 15 * X[:, 1]
    return (x2 - 5.1 / (4 * np.pi**2) * x1**2 + 5 / np.pi * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * np.pi)) * np.cos(x1) + 10


def data(n=40, d=2, seed=0):
    X = np.random.default_rng(seed).random((n, d))
    return X, branin_unit(X) if d == 2 else np.sin(3 * X).sum(axis=1)


SURROGATES = {"rbf": lambda: RBFSurrogate(), "gp": lambda: GPSurrogate(n_restarts=0)}


@pytest.mark.parametrize("name", SURROGATES)
def test_contract_shapes_and_outputs(name):
    X, y = data(30)
    Y = np.stack([y, np.cos(4 * X[:, 0])], axis=1)
    V = np.full_like(Y, 0.01)
    model = SURROGATES[name]().fit(X, Y, V)
    Xt = np.random.default_rng(1).random((7, 2))
    mean, std = model.predict(Xt)
    assert mean.shape == (7, 2) and std.shape == (7, 2) and np.all(std >= 0)
    # a 1-D y gives 1-D predictions, and the first output is the same as fitted alone
    m1, s1 = SURROGATES[name]().fit(X, y, V[:, 0]).predict(Xt)
    assert m1.shape == (7,) and s1.shape == (7,)
    np.testing.assert_allclose(m1, mean[:, 0], rtol=1e-6, atol=1e-6 * np.ptp(y))


@pytest.mark.parametrize("kernel", KERNELS)
def test_rbf_reproduces_its_data(kernel):
    X, y = data(40)
    mean, std = RBFSurrogate(kernel, eta=1e-10).fit(X, y).predict(X)
    np.testing.assert_allclose(mean, y, atol=1e-6 * np.ptp(y))
    assert np.all(std == 0)  # exact data: no ensemble, no uncertainty


def test_rbf_linear_tail_reproduces_a_plane_everywhere():
    X = np.random.default_rng(2).random((12, 3))
    plane = lambda Z: 1.5 + Z @ np.array([2.0, -1.0, 0.5])  # noqa: E731
    Xt = np.random.default_rng(3).random((20, 3)) * 1.4 - 0.2  # also outside the data
    mean, _ = RBFSurrogate().fit(X, plane(X)).predict(Xt)
    np.testing.assert_allclose(mean, plane(Xt), atol=1e-6)


def test_rbf_predicts_held_out_points_of_a_smooth_function():
    X, y = data(150)
    Xt, yt = data(200, seed=9)
    mean, _ = RBFSurrogate().fit(X, y).predict(Xt)
    assert np.median(np.abs(mean - yt)) < 0.02 * np.ptp(y)


def test_rbf_ensemble_std_follows_the_trial_spread():
    X, y = data(40)
    V = np.where(X[:, 0] > 0.5, 4.0, 0.04)  # right half: trials scatter 10x more
    model = RBFSurrogate(n_ensemble=400).fit(X, y, V)
    _, std = model.predict(X)
    right = X[:, 0] > 0.5
    # at a data point the ensemble moves by about the std of that point's value
    np.testing.assert_allclose(np.median(std[right]), 2.0, rtol=0.2)
    np.testing.assert_allclose(np.median(std[~right]), 0.2, rtol=0.3)
    # the mean is still the interpolant of the observed values
    np.testing.assert_allclose(model.predict(X)[0], y, atol=1e-4 * np.ptp(y))
    # deterministic: the resampling is seeded
    np.testing.assert_array_equal(RBFSurrogate(n_ensemble=400).fit(X, y, V).predict(X)[1], std)


def test_rbf_stays_finite_on_a_fine_lattice_cluster():
    # many points one lattice step apart (what a converged local search produces)
    g = np.linspace(0.5, 0.5 + 9 / 199, 10)
    X = np.array([[a, b] for a in g for b in g])
    y = branin_unit(X)
    mean, _ = RBFSurrogate().fit(X, y).predict(X)
    assert np.all(np.isfinite(mean)) and np.max(np.abs(mean - y)) < 1e-3 * np.ptp(y)


def test_gp_std_shrinks_at_data_points():
    X, y = data(25)
    model = GPSurrogate(n_restarts=0).fit(X, y)
    _, s_data = model.predict(X)
    far = np.random.default_rng(5).random((200, 2))
    far = far[np.min(np.linalg.norm(far[:, None] - X[None], axis=2), axis=1) > 0.15]
    _, s_far = model.predict(far)
    assert len(far) > 5
    assert np.max(s_data) < 0.05 * np.median(s_far)


def test_gp_uses_trial_spread_as_known_noise():
    X, y = data(30)
    quiet = GPSurrogate(n_restarts=0).fit(X, y, np.full(30, 1e-6))
    noisy_var = np.full(30, 1e-6)
    noisy_var[:5] = 400.0  # five sets whose trials scattered wildly
    noisy = GPSurrogate(n_restarts=0).fit(X, y, noisy_var)
    _, s_quiet = quiet.predict(X[:5])
    _, s_noisy = noisy.predict(X[:5])
    # a point known only roughly keeps an uncertainty of about its noise, not zero
    assert np.all(s_noisy > 5 * s_quiet) and np.all(s_noisy < 20.0)
    # and is trusted less: a corrupted value there barely moves the prediction
    y_bad = y.copy()
    y_bad[0] += 100.0
    m_bad, _ = GPSurrogate(n_restarts=0).fit(X, y_bad, noisy_var).predict(X[:1])
    assert abs(m_bad[0] - y[0]) < 0.5 * 100.0


def test_gp_condition_collapses_std_at_pending_points():
    X, y = data(20)
    model = GPSurrogate(n_restarts=0).fit(X, y)
    P = np.array([[0.5, 0.5], [0.1, 0.9]])
    m0, s0 = model.predict(P)
    cond = model.condition(P, m0)
    m1, s1 = cond.predict(P)
    np.testing.assert_allclose(m1, m0, atol=1e-3 * np.ptp(y))
    assert np.all(s1 < 0.1 * s0)
    # the original is untouched
    np.testing.assert_allclose(model.predict(P)[1], s0)


@pytest.mark.slow
def test_gp_hyperparameters_fitted_on_a_subset_still_condition_on_all_points():
    X, y = data(120)
    model = GPSurrogate(max_fit_points=40, n_restarts=0).fit(X, y)
    mean, std = model.predict(X)
    np.testing.assert_allclose(mean, y, atol=0.01 * np.ptp(y))


def test_smoothing_rbf_is_closer_to_the_truth_on_noisy_means():
    rng = np.random.default_rng(2)
    X = rng.random((60, 2))
    truth = ((X - 0.5) ** 2).sum(axis=1)
    noise_var = np.full(60, 0.02**2)
    y = truth + rng.standard_normal(60) * 0.02
    Xt = rng.random((500, 2))
    err = {}
    for smooth in (0.0, 1.0):
        model = RBFSurrogate("cubic", smooth=smooth).fit(X, y, noise_var)
        err[smooth] = np.sqrt(np.mean((model.predict(Xt)[0] - ((Xt - 0.5) ** 2).sum(axis=1)) ** 2))
        at_points = model.predict(X)[0]
        if smooth == 0.0:
            np.testing.assert_allclose(at_points, y, atol=1e-3)  # interpolates the noise
        else:
            assert np.max(np.abs(at_points - y)) > 0.005  # does not
    assert err[1.0] < 0.8 * err[0.0]
