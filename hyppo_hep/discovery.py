"""How the space of a define-by-run search is known: by running ``build(hp)`` without training.

Before a search, ``build`` is run in a recording mode, many times, with minimal, maximal,
per-choice and random answers; every parameter ever asked joins the space, and a parameter
not asked in every run is *conditional* (see hyppo_hep/conditional_space.py for how such a
space is encoded). All hyperparameters must therefore be asked in ``build`` (``train``
reads them with ``hp[name]``), ranges must not depend on other values, and ``build``
should stay cheap on the CPU.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from hyppo_hep.conditional_space import ConditionalSpace
from hyppo_hep.errors import UserError
from hyppo_hep.hp import HP
from hyppo_hep.space import FixedParam, FloatParam


def _levels(param) -> list[float]:
    """Unit-cube positions of every level of a discrete parameter (for forced discovery)."""
    n = getattr(param, "n_levels", 0)
    return [0.5] if n == 1 else [k / (n - 1) for k in range(n)]


def discover(build: Callable, n_random: int = 32, seed: int = 0, max_forced_levels: int = 16) -> "ConditionalSpace":
    """Run ``build(hp)`` in recording mode and return the space it asks (see module doc).

    Runs: all-minimum, all-maximum, defaults, then, for every discrete parameter with at
    most ``max_forced_levels`` levels, one run per level (others random), repeated while new
    parameters appear, then ``n_random`` random runs. Deterministic for a ``seed``."""
    rng = np.random.default_rng(seed)
    order: dict[str, Any] = {}
    runs: list[set] = []

    def run(policy: str, forced: dict | None = None) -> None:
        hp = HP(policy=policy, forced=forced, rng=rng)
        try:
            build(hp)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 — the user's build failing is the user's to fix
            raise UserError(f"build(hp) failed while discovering the space ({type(exc).__name__}: {exc})") from None
        for name, p in hp.params.items():
            if name in order and order[name] != p:
                raise UserError(f"hyperparameter '{name}' is asked with different definitions in different runs "
                                f"({order[name]} vs {p}); ranges must not depend on other values")
            order.setdefault(name, p)
        runs.append(set(hp.params))

    for policy in ("max", "min", "default"):
        run(policy)
    forced_done: set = set()
    for _ in range(5):
        todo = [p for p in order.values() if p.name not in forced_done and not isinstance(p, (FixedParam, FloatParam))
                and p.n_levels <= max_forced_levels]
        if not todo:
            break
        for p in todo:
            forced_done.add(p.name)
            for x in _levels(p):
                run("random", {p.name: x})
    for _ in range(n_random):
        run("random")
    if not order:
        raise UserError("build(hp) asked no hyperparameters")
    conditional = [n for n in order if not all(n in r for r in runs)]
    return ConditionalSpace(list(order.values()), conditional, build)
