"""Search strategies: ``propose(history, n, rng) -> list[params dict]``.

A strategy is built for one space and budget (``build(name, options, space, budget)``)
and never sees the executor. Proposals must avoid every evaluated AND pending set.
"""

from hyppo_hep.strategy.base import STRATEGIES, Strategy, build, register

__all__ = ["STRATEGIES", "Strategy", "build", "register"]
