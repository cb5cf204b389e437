"""Input warping learned from the data: which coordinates act on a log-like scale.

A learning rate on a linear lattice (index 1..200 x 5e-5) acts on a log scale: the
response changes steeply near the low end and barely at the high end, which a radial
basis function in the linear coordinate fits badly. HEBO fits a Kumaraswamy CDF per
input by marginal likelihood; an RBF has no likelihood, so here each ordered coordinate
picks, greedily, the warp from a small family whose leave-one-out error (Rippa's closed
form, hyppo_hep.recommend.loo_rbf) over the better sets is lowest:

    w(u) = log(1 + a u) / log(1 + a)              stretches the low end (a = 30, 1000)
    w(u) = 1 - log(1 + a (1 - u)) / log(1 + a)    stretches the high end
    w(u) = u                                      (identity, kept unless a warp is better)

a = 1000 on a 200-level lattice is close to a log scale of the index. Pure functions.
"""

from __future__ import annotations

import numpy as np

WARPS: tuple[tuple[float, bool], ...] = ((0.0, False), (30.0, False), (1000.0, False), (30.0, True), (1000.0, True))
# a warp must lower the LOO error by this fraction to replace the one already chosen
MIN_GAIN = 0.02


def warp(u: np.ndarray, a: float, high: bool) -> np.ndarray:
    """Warp unit-interval values ``u`` (any shape) by ``a`` at the low (or ``high``) end."""
    if a == 0.0:
        return u
    if high:
        return 1.0 - np.log1p(a * (1.0 - u)) / np.log1p(a)
    return np.log1p(a * u) / np.log1p(a)


def apply_warps(F: np.ndarray, warps: dict[int, tuple[float, bool]]) -> np.ndarray:
    """Features ``F`` (``n x p``) with column ``j`` warped by ``warps[j]``; a copy."""
    if not warps:
        return F
    F = np.array(F, dtype=float, copy=True)
    for j, (a, high) in warps.items():
        F[:, j] = warp(np.clip(F[:, j], 0.0, 1.0), a, high)
    return F


def choose_warps(F: np.ndarray, y: np.ndarray, noise: np.ndarray | float, columns, weight: np.ndarray
                 ) -> dict[int, tuple[float, bool]]:
    """Greedy choice of a warp per column in ``columns`` of ``F`` (``n x p``, unit cube) for
    the values ``y`` (``n``): each column in turn takes the warp of WARPS with the lowest
    LOO error over the points where ``weight`` is true, if it beats the current choice by
    MIN_GAIN. ``noise``: the RBF's diagonal (scalar or ``n``). Returns {column: warp} for the
    warped columns only."""
    from hyppo_hep.recommend import loo_rbf

    def error(G):
        loo = loo_rbf(G, y[:, None], noise)
        return np.inf if loo is None else float(np.mean((y[weight] - loo[weight, 0]) ** 2))

    chosen: dict[int, tuple[float, bool]] = {}
    best = error(F)
    if not np.isfinite(best):
        return chosen
    for j in columns:
        for option in WARPS[1:]:
            trial = {**chosen, j: option}
            err = error(apply_warps(F, trial))
            if err < best * (1.0 - MIN_GAIN):
                best, chosen = err, trial
    return chosen
