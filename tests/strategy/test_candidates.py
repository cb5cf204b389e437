"""Candidate generation (hyppo_hep/strategy/candidates.py): ARD weights and DYCORS radii."""

import numpy as np
import pytest


def test_ard_weights_stretch_the_trust_region_along_irrelevant_coordinates():
    from hyppo_hep.strategy.candidates import ard_weights

    rng = np.random.default_rng(3)
    F = rng.random((40, 4))
    y = np.sin(6 * F[:, 0]) + 0.5 * np.sin(2 * F[:, 1]) + 0.01 * rng.standard_normal(40)
    w = ard_weights(F, y, np.full(40, 1e-4))
    assert np.exp(np.mean(np.log(w))) == pytest.approx(1.0)
    assert w[0] < w[1] < min(w[2], w[3])  # x0 matters most, x2 and x3 not at all


def test_dycors_per_coordinate_radius():
    from hyppo_hep.strategy.candidates import dycors_candidates

    levels = np.full(3, np.inf)
    C = dycors_candidates(np.full(3, 0.5), 4000, np.array([0.01, 0.1, 0.0]), 1.0, levels,
                          np.zeros(3, dtype=bool), np.random.default_rng(0))
    spread = np.std(C - 0.5, axis=0)
    assert spread[0] == pytest.approx(0.01, rel=0.1) and spread[1] == pytest.approx(0.1, rel=0.1)
    assert spread[2] == 0.0
