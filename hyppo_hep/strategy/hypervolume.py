"""Pareto arithmetic for multi-objective search: pure array functions, every column minimised.

- ``non_dominated_sort``: the Pareto rank of each point (0: the front; 1: the front once
  rank 0 is removed; ...), by repeated peeling;
- ``hypervolume``: the exact volume dominated by a point set and bounded by a reference
  point, by slicing along the last objective (HSO, While et al. 2006): a sorted sweep in
  2-D, a sum of 2-D slices in 3-D, recursively beyond. O(n^(k-1) log n) for n points and
  k objectives, which is milliseconds for the tens to hundreds of sets a search has at
  k <= 4. (Written here rather than imported: the maintained exact codes, moocore and
  pymoo, are not dependencies of the project, and Optuna's is private.)
- ``hypervolume_improvement``: what each of many candidate vectors would add to a front;
- ``additive_epsilon``: how far a dominated vector is from becoming non-dominated, so a
  search can still rank candidates that add nothing;
- ``chebyshev``: the augmented Chebyshev scalarisation of ParEGO (Knowles 2006).

Shapes: a point set ``F`` is ``n x k``, a reference point ``ref`` is ``k``.
"""

from __future__ import annotations

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` <= ``b`` in every objective and < in one."""
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_sort(F: np.ndarray) -> np.ndarray:
    """Pareto rank of each row of ``F`` (``n x k``): ``n`` ints, 0 for the non-dominated
    rows. Equal rows share a rank. Rows with a NaN are ranked after all others."""
    F = np.asarray(F, dtype=float)
    n = len(F)
    ranks = np.full(n, -1, dtype=int)
    finite = np.all(np.isfinite(F), axis=1) if F.size else np.ones(n, dtype=bool)
    remaining = np.flatnonzero(finite)
    rank = 0
    while remaining.size:
        dominated = _dominated(F[remaining])
        ranks[remaining[~dominated]] = rank
        remaining = remaining[dominated]
        rank += 1
    ranks[~finite] = rank
    return ranks


def _dominated(G: np.ndarray, chunk: int = 256) -> np.ndarray:
    """``n`` bools: rows of ``G`` that another row dominates (row blocks bound the memory
    of the pairwise comparison to chunk x n x k)."""
    out = np.zeros(len(G), dtype=bool)
    for start in range(0, len(G), chunk):
        B = G[start:start + chunk, None, :]
        out[start:start + chunk] = np.any(np.all(G[None] <= B, axis=2) & np.any(G[None] < B, axis=2), axis=1)
    return out


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """``n`` bools: the non-dominated rows of ``F`` (duplicates all kept; rows with a NaN
    are not on the front)."""
    F = np.asarray(F, dtype=float)
    mask = np.all(np.isfinite(F), axis=1) if F.size else np.zeros(len(F), dtype=bool)
    mask[mask] = ~_dominated(F[mask])
    return mask


def _hv2(F: np.ndarray, ref: np.ndarray) -> float:
    """Area dominated by the rows of ``F`` (``n x 2``, all strictly below ``ref``)."""
    F = F[np.lexsort((F[:, 1], F[:, 0]))]
    area, y_prev = 0.0, ref[1]
    for x, y in F:
        if y < y_prev:
            area += (ref[0] - x) * (y_prev - y)
            y_prev = y
    return area


def _hv(F: np.ndarray, ref: np.ndarray) -> float:
    k = F.shape[1]
    if len(F) == 0:
        return 0.0
    if k == 1:
        return float(ref[0] - F[:, 0].min())
    if k == 2:
        return _hv2(F, ref)
    # slice along the last objective: between consecutive levels the dominated region's
    # cross-section is the (k-1)-D hypervolume of the points at or below that level
    F = F[np.argsort(F[:, -1], kind="stable")]
    levels = np.append(F[:, -1], ref[-1])
    vol = 0.0
    for i in range(len(F)):
        height = levels[i + 1] - levels[i]
        if height > 0:
            vol += height * _hv(F[: i + 1, :-1], ref[:-1])
    return vol


def hypervolume(F: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume dominated by the rows of ``F`` (``n x k``) and bounded by ``ref``
    (``k``). Rows not strictly below ``ref`` in every objective, or with a NaN, add nothing."""
    F = np.asarray(F, dtype=float).reshape(-1, len(ref))
    ref = np.asarray(ref, dtype=float)
    F = F[np.all(F < ref, axis=1)]
    if len(F) == 0:
        return 0.0
    return float(_hv(F[pareto_mask(F)], ref))


def hypervolume_improvement(front: np.ndarray, V: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """What each row of ``V`` (``m x k``) would add to the hypervolume of ``front``
    (``n x k``): ``m`` values >= 0, 0 for rows that ``front`` weakly dominates or that are
    not below ``ref``. Exact, and vectorised over the candidates (see ``_hvi``)."""
    ref = np.asarray(ref, dtype=float)
    V = np.asarray(V, dtype=float).reshape(-1, len(ref))
    front = np.asarray(front, dtype=float).reshape(-1, len(ref))
    front = front[np.all(front < ref, axis=1)]
    if len(front):
        front = front[pareto_mask(front)]
    out = np.zeros(len(V))
    ok = np.all(V < ref, axis=1)
    if ok.any():
        out[ok] = _hvi(front, V[ok], ref)
    return np.maximum(out, 0.0)


def _hvi(front: np.ndarray, V: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume improvement of each row of ``V`` (all below ``ref``) over ``front``, by
    slicing along the last objective: at height z the improvement's cross-section is the
    (k-1)-D improvement over the front points at or below z, which only changes at the
    front's levels."""
    if V.shape[1] == 1:
        edge = min(front[:, 0].min(), ref[0]) if len(front) else ref[0]
        return np.maximum(edge - V[:, 0], 0.0)
    order = np.argsort(front[:, -1], kind="stable")
    bounds = np.concatenate([[-np.inf], front[order, -1], [ref[-1]]])
    out = np.zeros(len(V))
    for j in range(len(order) + 1):  # between bounds j and j + 1, the slice holds order[:j]
        length = np.minimum(bounds[j + 1], ref[-1]) - np.maximum(bounds[j], V[:, -1])
        rows = np.flatnonzero(length > 0)
        if rows.size:
            out[rows] += length[rows] * _hvi(front[order[:j], :-1], V[rows, :-1], ref[:-1])
    return out


def additive_epsilon(front: np.ndarray, V: np.ndarray) -> np.ndarray:
    """How far each row v of ``V`` (``m x k``) must move along the diagonal to leave the
    region that ``front`` (``n x k``) weakly dominates: max over the front of
    min_i (v_i - f_i), floored at 0 (v - e for any e above it is dominated by no row of
    the front). 0 for rows no front point dominates; ``m`` values."""
    V = np.asarray(V, dtype=float)
    front = np.asarray(front, dtype=float)
    if len(front) == 0:
        return np.zeros(len(V))
    gap = np.min(V[:, None, :] - front[None, :, :], axis=2)  # m x n: >= 0 where f <= v
    return np.maximum(gap.max(axis=1), 0.0)


def chebyshev(V: np.ndarray, weights: np.ndarray, rho: float = 0.05) -> np.ndarray:
    """Augmented Chebyshev scalarisation of the rows of ``V`` (``m x k``, normalised so the
    ideal point is 0): max_i w_i v_i + rho * sum_i w_i v_i; ``m`` values, lower is better.
    Every Pareto-optimal point minimises it for some weight vector, also on concave fronts."""
    WV = np.asarray(V, dtype=float) * np.asarray(weights, dtype=float)
    return WV.max(axis=1) + rho * WV.sum(axis=1)


def simplex_weights(k: int, rng: np.random.Generator) -> np.ndarray:
    """A weight vector uniform on the (k-1)-simplex (``k``, sums to 1)."""
    return rng.dirichlet(np.ones(k))
