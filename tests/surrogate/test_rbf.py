"""The smoothing RBF smooths the mean by the mean's noise, and only the mean: a second
output (the trial spread) is still interpolated."""

import numpy as np

from hyppo_hep.surrogate.rbf import RBFSurrogate


def test_smoothing_the_mean_leaves_the_spread_output_interpolated():
    x = np.linspace(-2, 2, 9)[:, None]
    spread = 0.05 + 2.0 * np.maximum(0.0, -x[:, 0])  # large where the means are noisy
    mean = x[:, 0] ** 2 + spread * np.array([1.0, -1.0, 0.5, -0.5, 0.0, 0.1, -0.1, 0.0, 0.2])
    Y = np.stack([mean, spread], axis=1)
    V = np.stack([spread**2 / 5, spread**2 / 8], axis=1)
    plain = RBFSurrogate(smooth=0.0).fit(x, Y, V)
    smooth = RBFSurrogate(smooth=1.0).fit(x, Y, V)
    mu_plain, _ = plain.predict(x)
    mu_smooth, _ = smooth.predict(x)
    # the spread output goes through its data either way ...
    assert np.allclose(mu_smooth[:, 1], spread, atol=1e-3)
    assert np.allclose(mu_plain[:, 1], spread, atol=1e-3)
    # ... while the mean is smoothed where its noise is large and kept where it is small
    assert np.max(np.abs(mu_smooth[:4, 0] - mean[:4])) > 0.1
    assert np.allclose(mu_smooth[5:, 0], mean[5:], atol=0.02)
    # one output alone is fitted exactly as the first of two
    alone = RBFSurrogate(smooth=1.0).fit(x, mean, V[:, 0])
    assert np.allclose(alone.predict(x)[0], mu_smooth[:, 0])
