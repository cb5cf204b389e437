"""Grid search over the lattice (floats on ``points_per_float`` levels).

When the grid is larger than the budget, the points are visited in a seeded random order
so that a truncated grid still covers the space instead of one corner of it."""

from __future__ import annotations

import numpy as np

from hyppo_hep.errors import ConfigError
from hyppo_hep.strategy.base import new_points

MAX_GRID_POINTS = 2_000_000


class GridSearch:
    def __init__(self, space, budget: int, points_per_float: int = 5, shuffle: bool | None = None):
        if isinstance(points_per_float, bool) or not isinstance(points_per_float, int) or points_per_float < 1:
            raise ConfigError("strategy.points_per_float", f"must be an integer >= 1, got {points_per_float!r}")
        if shuffle is not None and not isinstance(shuffle, bool):
            raise ConfigError("strategy.shuffle", f"must be true, false or null, got {shuffle!r}")
        size = int(np.prod([getattr(p, "n_levels", points_per_float) for p in space.free]))
        if size > MAX_GRID_POINTS:
            raise ConfigError("strategy", f"grid search over {size:.3g} points is more than {MAX_GRID_POINTS:,}: narrow the space or use random/lhs")
        self.space = space
        self.points_per_float = points_per_float
        self.shuffle = shuffle
        self.budget = budget
        self._grid: np.ndarray | None = None

    def propose(self, history, n: int, rng: np.random.Generator) -> list[dict]:
        if self._grid is None:
            grid = self.space.grid(self.points_per_float)
            shuffle = self.shuffle if self.shuffle is not None else len(grid) > self.budget
            self._grid = grid[rng.permutation(len(grid))] if shuffle else grid
        return new_points(self.space, self._grid, history, n)
