"""Initial experimental designs: pure functions from (space, n, rng) to lattice points.

Every design returns distinct lattice points (``m x dim``, m <= n) that avoid the keys in
``exclude``; where the lattice is too small to hold n distinct new points, fewer come back.
Designs are sized by what can be proposed: at most the lattice's size and at most
:data:`MAX_DESIGN` points (a budget of 1e9 sets must not allocate gigabytes up front;
strategies continue with random points after a design is used up).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import pdist

MAX_DESIGN = 100_000  # points of one design
MAX_MAXIMIN = 2_000  # above this, one hypercube without the pairwise-distance criterion


def design_size(space, n: int) -> int:
    """How many points a design of ``n`` can hold: n, capped by the lattice and MAX_DESIGN."""
    return int(max(0, min(n, MAX_DESIGN, space.size())))


def _distinct(space, U: np.ndarray, exclude: set, rng: np.random.Generator, n: int) -> np.ndarray:
    """Keep the first ``n`` points of U whose lattice keys are new, topping up with uniform
    random points when snapping merged some of them."""
    seen = set(exclude)
    out: list[np.ndarray] = []
    capacity = space.size() - len(seen)
    for _ in range(50):
        for u in U:
            key = tuple(np.round(u, 9))
            if key not in seen:
                seen.add(key)
                out.append(u)
                if len(out) == n:
                    return np.array(out)
        if len(out) >= capacity:
            break
        U = space.sample(rng, max(4 * (n - len(out)), 16))
    return np.array(out, dtype=float).reshape(len(out), space.dim)  # (0, 0) and (1, 0) are valid too


def random_design(space, n: int, rng: np.random.Generator, exclude: set = frozenset()) -> np.ndarray:
    """``n`` uniform random lattice points."""
    n = design_size(space, n)
    return _distinct(space, space.sample(rng, n), exclude, rng, n)


def latin_hypercube(space, n: int, rng: np.random.Generator, exclude: set = frozenset()) -> np.ndarray:
    """A Latin hypercube of ``n`` points: each coordinate's n strata hold one point each.

    Of 20 random hypercubes the one with the largest minimum pairwise distance is kept
    (a cheap maximin improvement, as pySOT's SymmetricLatinHypercube aims for); above
    MAX_MAXIMIN points the first one is kept (the criterion's cost grows as n^2)."""
    n = design_size(space, n)
    if n <= 0 or space.dim == 0:
        return np.empty((0, space.dim))
    best, best_score = None, -1.0
    for _ in range(20 if n <= MAX_MAXIMIN else 1):
        strata = np.argsort(rng.random((space.dim, n)), axis=1).T  # n x dim permutations
        U = space.snap((strata + rng.random((n, space.dim))) / n)
        score = float(np.min(pdist(U, "sqeuclidean"))) if 1 < n <= MAX_MAXIMIN else 0.0
        if score > best_score:
            best, best_score = U, score
    return _distinct(space, best, exclude, rng, n)


DESIGNS = {"random": random_design, "lhs": latin_hypercube}
