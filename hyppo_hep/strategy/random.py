"""Random search and the Latin-hypercube design as strategies of their own."""

from __future__ import annotations

import numpy as np

from hyppo_hep.design import latin_hypercube, random_design
from hyppo_hep.errors import ConfigError
from hyppo_hep.strategy.base import new_points


class RandomSearch:
    """Uniform random lattice points, never repeating a set."""

    def __init__(self, space, budget: int):
        self.space = space

    def propose(self, history, n: int, rng: np.random.Generator) -> list[dict]:
        U = random_design(self.space, n, rng, exclude=history.keys(self.space))
        return new_points(self.space, U, history, n)


class LatinHypercubeSearch:
    """One Latin hypercube over the whole budget (``size`` points), handed out in order;
    random points after it is used up."""

    def __init__(self, space, budget: int, size: int | None = None):
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ConfigError("strategy.size", f"must be an integer >= 1, got {size!r}")
        # latin_hypercube caps the design by the lattice and MAX_DESIGN: a budget of 1e9
        # sets does not allocate 1e9 points
        self.space, self.size = space, size or budget
        self._design: np.ndarray | None = None

    def propose(self, history, n: int, rng: np.random.Generator) -> list[dict]:
        if self._design is None:
            self._design = latin_hypercube(self.space, self.size, rng)
        out = new_points(self.space, self._design, history, n)
        if len(out) < n:
            chosen = {self.space.key(p) for p in out}
            U = random_design(self.space, n - len(out), rng, exclude=history.keys(self.space) | chosen)
            out += new_points(self.space, U, history, n - len(out), also_taken=chosen)
        return out
