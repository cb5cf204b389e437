"""The trial-duration model of the end of a campaign (hyppo_hep/durations.py)."""

import math

import numpy as np
import pytest

from hyppo_hep.config import DEFAULT_CONFIG, load_config
from hyppo_hep.design import random_design
from hyppo_hep.durations import TrialDurations, conditional_mean


def _space():
    return load_config(DEFAULT_CONFIG).space


def test_a_known_pattern_is_predicted_for_unseen_sets():
    """Durations 600 s x e^(1.5 u) in the generator's layer size u (unit cube), nothing
    else: the model predicts unseen sets within 8% (3% median) and learns a spread under 0.05; the plain
    mean over all trials (what the confirmation rule used before) is off by up to 50%."""
    space = _space()
    j = [p.name for p in space.free].index("gen_layersize")
    U = random_design(space, 60, np.random.default_rng(3))
    d = TrialDurations(space)

    def true(params):
        return 600.0 * math.exp(1.5 * space.encode(params)[j])

    for sid, u in enumerate(U[:40]):
        params = space.decode(u)
        for _ in range(3):
            d.add(sid, params, true(params))
    mu, sigma = d.log_normal(space.decode(U[0]))
    assert sigma < 0.05
    errors = [abs(d.expected(None, space.decode(u)) / true(space.decode(u)) - 1) for u in U[40:]]
    assert max(errors) < 0.08 and np.median(errors) < 0.03
    plain = np.mean([true(space.decode(u)) for u in U[:40]])
    assert max(abs(plain / true(space.decode(u)) - 1) for u in U[40:]) > 0.3
    assert d.quantile(space.decode(U[41]), 0.5) == pytest.approx(math.exp(d.log_normal(space.decode(U[41]))[0]))


def test_a_set_with_trials_back_takes_their_mean_and_elapsed_time_raises_the_estimate():
    space = _space()
    d = TrialDurations(space)
    assert d.expected(None, None) is None  # nothing back: nothing known
    params = space.decode(np.full(space.dim, 0.5))
    d.add(7, params, 100.0)
    d.add(7, params, 140.0)
    assert d.expected(7, params) == pytest.approx(120.0)
    assert d.set_mean(8) is None
    # an unknown set, intercept-only model (too few trials for the features)
    lo = d.expected(None, params, elapsed=0.0)
    late = d.expected(None, params, elapsed=400.0)
    assert late > 400.0 > lo  # a trial still out at 400 s is expected to end after 400 s


def test_log_normal_conditional_mean():
    mu, sigma = math.log(100.0), 0.5
    assert conditional_mean(mu, sigma, 0.0) == pytest.approx(100.0 * math.exp(0.125))
    # by simulation: E[D | D > 150]
    rng = np.random.default_rng(0)
    x = np.exp(rng.normal(mu, sigma, 2_000_000))
    tail = x[x > 150.0]
    assert conditional_mean(mu, sigma, 150.0) == pytest.approx(tail.mean(), rel=0.01)
    assert conditional_mean(mu, sigma, 1e6) == 1e6  # far beyond every duration: any moment now


def test_without_a_space_one_log_normal_over_every_trial():
    d = TrialDurations(None)
    for i, s in enumerate([50.0, 100.0, 200.0]):
        d.add(i, {"x": i}, s)
    mu, sigma = d.log_normal({"x": 9})
    assert mu == pytest.approx(math.log(100.0))
    assert sigma == pytest.approx(math.log(2.0))
