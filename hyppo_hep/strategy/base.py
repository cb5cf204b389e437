"""Strategy protocol and registry."""

from __future__ import annotations

import inspect
from typing import Protocol

import numpy as np

from hyppo_hep.errors import ConfigError
from hyppo_hep.registry import Registry


class Strategy(Protocol):
    def propose(self, history, n: int, rng: np.random.Generator) -> list[dict]:
        """Up to ``n`` new params dicts, none already evaluated or pending."""


# name -> "module:class"; the class is built as cls(space, budget, **options).
STRATEGIES = Registry("strategy", {
    "random": "hyppo_hep.strategy.random:RandomSearch",
    "lhs": "hyppo_hep.strategy.random:LatinHypercubeSearch",
    "grid": "hyppo_hep.strategy.grid:GridSearch",
    "rbf": "hyppo_hep.strategy.surrogate:RBFStrategy",
    "gp": "hyppo_hep.strategy.surrogate:GPStrategy",
    # multi-fidelity: sets evaluated at an epoch budget, the best promoted to larger ones
    "hyperband": "hyppo_hep.strategy.hyperband:HyperbandSearch",
    "bohb": "hyppo_hep.strategy.hyperband:BOHB",
    "asha": "hyppo_hep.strategy.asha:ASHASearch",
    "multiobjective": "hyppo_hep.strategy.multiobjective:MultiObjectiveStrategy",  # Pareto front of mean, std, size, info
})


def register(name: str, target: str | type) -> None:
    STRATEGIES.register(name, target)


def strategy_class(name: str, path: str = "strategy") -> type:
    if name not in STRATEGIES:
        raise ConfigError(path, f"'{name}' is not a known strategy (known: {', '.join(STRATEGIES.names())})")
    return STRATEGIES.load(name)


def check_options(name: str, options: dict, path: str = "strategy") -> None:
    """Raise ConfigError naming the first option the strategy does not take (``start``, the
    sets evaluated first, is every plain-set strategy's: strategy/start.py)."""
    from hyppo_hep.strategy.start import TAKES_START

    params = inspect.signature(strategy_class(name, path).__init__).parameters
    allowed = [p for p in params if p not in ("self", "space", "budget")] + (["start"] if name in TAKES_START else [])
    for key in options:
        if key not in allowed:
            raise ConfigError(f"{path}.{key}", f"is not an option of strategy '{name}' (options: {', '.join(allowed) or 'none'})")


def build(name: str, options: dict, space, budget: int):
    from hyppo_hep.strategy.start import StartFirst, read_start

    check_options(name, options)
    options = dict(options)
    start = options.pop("start", None)
    strategy = strategy_class(name)(space, budget, **options)
    return strategy if start is None else StartFirst(strategy, space, read_start(start, space))


def new_points(space, U: np.ndarray, history, n: int, also_taken: set = frozenset()) -> list[dict]:
    """Decode the first ``n`` rows of U whose lattice points are neither in the history nor
    in ``also_taken`` (sets chosen earlier in the same proposal)."""
    taken = history.keys(space) | set(also_taken)
    out = []
    for u in U:
        params = space.decode(u)
        key = space.key(params)
        if key in taken:
            continue
        taken.add(key)
        out.append(params)
        if len(out) == n:
            break
    return out
