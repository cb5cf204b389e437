"""Candidate generation, merit and acquisition: pure array functions on the unit cube.

The surrogate strategies (strategy/surrogate.py) draw many cheap candidates, predict them
with a surrogate and pick the few worth a training:

- ``dycors_candidates``: perturb a random subset of the coordinates of a centre (DYCORS,
  Regis & Shoemaker 2013): each coordinate is perturbed with probability ``prob``, which
  the strategy shrinks as the budget is used, by a normal step of ``radius`` (unit-cube
  units) that the strategy adapts to successes and failures;
- ``uniform_candidates``: uniform points, so the search keeps some global reach;
- ``weighted_merit_select``: the weighted merit of predicted value and distance to every
  evaluated and pending set, picking a batch greedily so that a batch is spread out;
- ``expected_improvement`` / ``lower_confidence_bound``: GP acquisitions (lower is better
  for the objective; EI is to be maximised, LCB minimised);
- ``radius_schedule``: the adaptive radius as a pure function of the success/failure
  sequence, so that a resumed search rebuilds it from its history.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr
from scipy.spatial.distance import cdist

RADIUS_MAX = 0.2
RADIUS_MIN = 0.2 * 0.5**6


def dycors_candidates(center: np.ndarray, n: int, radius: float | np.ndarray, prob: float, levels: np.ndarray,
                      categorical: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n`` perturbations of ``center`` (``dim``) in the unit cube, ``n x dim``, snapped to
    the lattice given by ``levels`` (levels per coordinate, ``inf`` for floats).

    Each coordinate is perturbed with probability ``prob`` (at least one per candidate). An
    ordered coordinate moves by N(0, radius^2) (``radius``: a number, or one per coordinate
    for a trust region stretched along the directions that matter least), at least one
    lattice step, reflected into
    [0, 1]; a categorical one (``categorical[j]`` True) jumps to another choice at random."""
    center = np.asarray(center, dtype=float)
    d = center.size
    if n <= 0 or d == 0:
        return np.empty((0, d))
    mask = rng.random((n, d)) < prob
    none = ~mask.any(axis=1)
    mask[none, rng.integers(0, d, none.sum())] = True
    steps = np.where(np.isfinite(levels), 1.0 / np.maximum(levels - 1, 1), 0.0)
    z = rng.standard_normal((n, d)) * np.broadcast_to(np.asarray(radius, dtype=float), (d,))
    # on a coarse lattice a small step would snap back to the centre: move at least one level
    z = np.sign(z) * np.maximum(np.abs(z), steps)
    C = center + np.where(mask, z, 0.0)
    C = np.abs(C)                      # reflect at 0
    C = 1.0 - np.abs(1.0 - C)          # reflect at 1
    C = np.clip(C, 0.0, 1.0)
    for j in np.flatnonzero(categorical & (levels > 1)):
        k = int(levels[j])
        rows = np.flatnonzero(mask[:, j])
        cur = int(round(center[j] * (k - 1)))
        other = (cur + rng.integers(1, k, rows.size)) % k
        C[rows, j] = other / (k - 1)
    return _snap(C, levels)


def uniform_candidates(n: int, levels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform lattice points, ``n x dim``."""
    return _snap(rng.random((n, len(levels))), levels)


def _snap(U: np.ndarray, levels: np.ndarray) -> np.ndarray:
    disc = np.isfinite(levels)
    if disc.any():
        k = np.maximum(levels[disc] - 1, 1)
        U = U.copy()
        U[:, disc] = np.where(levels[disc] == 1, 0.5, np.round(U[:, disc] * k) / k)
    return U


def unique_new(U: np.ndarray, taken: set) -> np.ndarray:
    """Rows of ``U`` (first occurrence) whose rounded keys are not in ``taken``."""
    keep, seen = [], set(taken)
    for i, key in enumerate(map(tuple, np.round(U, 9))):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return U[keep]


def min_distance(F: np.ndarray, G: np.ndarray) -> np.ndarray:
    """Distance of each row of ``F`` (``m x p``) to its nearest row of ``G`` (``q x p``), ``m``;
    ``inf`` when G is empty."""
    if len(G) == 0:
        return np.full(len(F), np.inf)
    return cdist(F, G).min(axis=1)


def _unit_rescale(v: np.ndarray) -> np.ndarray:
    finite = np.isfinite(v)
    if not finite.any():
        return np.zeros_like(v)
    lo, hi = v[finite].min(), v[finite].max()
    return np.where(finite, (v - lo) / (hi - lo) if hi > lo else 0.0, 1.0)


def weighted_merit_select(F: np.ndarray, value: np.ndarray, dist: np.ndarray, weights, n: int) -> list[int]:
    """Greedily pick ``n`` of the ``m`` candidates (features ``F``, ``m x p``).

    Merit = w * value_scaled + (1 - w) * (1 - dist_scaled), lower is better, with both terms
    rescaled to [0, 1] over the candidates; w = ``weights[i % len(weights)]`` for the i-th
    pick (close to 1: exploit the prediction; close to 0: explore far from known sets).
    ``dist`` is each candidate's distance to the nearest evaluated or pending set; after
    each pick it is updated with the picked point, so a batch spreads out. Candidates at
    distance 0 (already taken) are never picked. Returns candidate indices."""
    value_s = _unit_rescale(np.asarray(value, dtype=float))
    dist = np.asarray(dist, dtype=float).copy()
    chosen: list[int] = []
    for i in range(min(n, len(F))):
        w = float(weights[i % len(weights)])
        d_s = _unit_rescale(np.where(np.isfinite(dist), dist, np.nan))
        d_s = np.where(np.isfinite(dist), d_s, 1.0)
        merit = w * value_s + (1.0 - w) * (1.0 - d_s)
        merit[dist <= 1e-12] = np.inf
        merit[chosen] = np.inf
        j = int(np.argmin(merit))
        if not np.isfinite(merit[j]):
            break
        chosen.append(j)
        dist = np.minimum(dist, cdist(F, F[j:j + 1])[:, 0])
    return chosen


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
    """EI of minimisation below ``best``: E[max(best - f, 0)], f ~ N(mu, sigma^2); ``m``."""
    sigma = np.maximum(np.asarray(sigma, dtype=float), 1e-12)
    z = (best - mu) / sigma
    return (best - mu) * ndtr(z) + sigma * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)


def lower_confidence_bound(mu: np.ndarray, sigma: np.ndarray, beta: float) -> np.ndarray:
    """mu - beta * sigma (to be minimised); ``m``."""
    return np.asarray(mu) - beta * np.asarray(sigma)


def perturb_probability(dim: int, n_adaptive: int, n_adaptive_total: int) -> float:
    """DYCORS: perturb about min(20/d, 1) of the coordinates at first, fewer as the budget
    is used (log decay), so late proposals refine few coordinates at a time."""
    p0 = min(20.0 / max(dim, 1), 1.0)
    if n_adaptive_total <= 1:
        return p0
    return p0 * max(1.0 - np.log(n_adaptive + 1) / np.log(n_adaptive_total), 0.0)


def ard_weights(F: np.ndarray, y: np.ndarray, noise_var: np.ndarray | None = None, seed: int = 0,
                bounds: tuple[float, float] = (0.01, 2.0)) -> np.ndarray:
    """Per-coordinate trust-region weights from a GP's ARD length scales (as TuRBO shapes its
    trust region): ``F`` (``n x d``, unit cube), ``y`` (``n``) -> ``d`` weights with
    geometric mean 1, large where the objective changes slowly (so the search steps far
    there) and small where it is sensitive. Length scales are fitted by maximum likelihood
    (scikit-learn, Matern 5/2) with ``noise_var`` (each y's variance) as known noise."""
    import warnings

    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern

    d = F.shape[1]
    sd = float(np.std(y)) or 1.0
    ys = (y - np.mean(y)) / sd
    alpha = 1e-6 + (np.zeros(len(y)) if noise_var is None else np.maximum(noise_var, 0.0) / sd**2)
    kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(np.full(d, 0.5), bounds, nu=2.5)
    gp = GaussianProcessRegressor(kernel, alpha=alpha, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter at the length-scale bounds
        gp.fit(F, ys)
    ls = np.clip(np.atleast_1d(gp.kernel_.k2.length_scale).astype(float), *bounds)
    return ls / np.exp(np.mean(np.log(ls)))


def radius_schedule(values, n_skip: int, dim: int, succ_tol: int = 3, fail_tol: int | None = None,
                    rel_tol: float = 1e-3) -> float:
    """The adaptive radius after the objective ``values`` (in completion order).

    The first ``n_skip`` values (the initial design) set the incumbent. Each later value is
    a success if it beats the incumbent by ``rel_tol`` (relative to the incumbent's size),
    else a failure. ``succ_tol`` successes in a row double the radius (up to RADIUS_MAX);
    ``fail_tol`` (default max(4, dim)) failures in a row halve it; below RADIUS_MIN it is
    reset to RADIUS_MAX (the search has converged locally: widen again)."""
    fail_tol = fail_tol or max(4, dim)
    values = np.asarray(values, dtype=float)
    radius, succ, fail = RADIUS_MAX, 0, 0
    best = np.min(values[:n_skip]) if n_skip > 0 and len(values) else np.inf
    for v in values[n_skip:]:
        if v < best - rel_tol * abs(best):
            succ, fail = succ + 1, 0
        else:
            succ, fail = 0, fail + 1
        best = min(best, v)
        if succ >= succ_tol:
            radius, succ = min(2 * radius, RADIUS_MAX), 0
        if fail >= fail_tol:
            radius, fail = radius / 2, 0
            if radius < RADIUS_MIN:
                radius = RADIUS_MAX
    return radius
