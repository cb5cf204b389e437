"""What Hyperband and ASHA share: where new configurations come from, and how a rung ranks.

A multi-fidelity strategy evaluates a configuration at a small epoch budget first and
promotes the best ones to larger budgets. Each evaluation is one set of the journal (with
``resource`` (its epochs), ``rung``, ``bracket`` and ``config_id`` fields, see
trial.Proposal); promotions are evaluated at the larger budget with the same trial
seeds, and an objective that checkpoints continues the lower rung's training (the
built-in GANs and the VAE do; see hyppo_hep/checkpoints.py), others train from scratch.

New configurations come from a *source*: uniform random (plain Hyperband / ASHA) or any
registered strategy (``lhs``, and the surrogate strategies ``rbf``/``gp``: the BOHB idea).
A surrogate source sees the evaluations of ONE budget level, the largest budget with at
least ``min_points`` finished sets (a surrogate fitted to scores of mixed budgets would
compare 1-epoch and 27-epoch losses); every other configuration is shown to it as pending,
so it keeps away from what is already being explored.

Promotion ranks the finished sets of a rung by ``mean - promote_k * std / sqrt(n_ok)``
(lower is better): with ``promote_k > 0`` a set whose trials scatter gets the benefit of the
doubt, so one unlucky trial out of three does not discard it (the Hyperband weakness noted
in the AutoML-for-VAE study). ``promote_k = 0`` ranks by the mean, as the papers do.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from hyppo_hep.errors import ConfigError
from hyppo_hep.history import DONE, FAILED, PENDING, History, SetRecord
from hyppo_hep.space import FREE_KINDS


def promotion_score(rec: SetRecord, promote_k: float = 0.0) -> float:
    """Ranking value of a finished set (lower is better): an optimistic bound on its mean."""
    if rec.n_ok == 0:
        return math.inf
    return rec.mean - promote_k * rec.std / math.sqrt(rec.n_ok)


def top_k(recs: list[SetRecord], k: int, promote_k: float = 0.0) -> list[SetRecord]:
    """The ``k`` best finished sets by promotion_score (ties by set id)."""
    done = [r for r in recs if r.state == DONE]
    return sorted(done, key=lambda r: (promotion_score(r, promote_k), r.set_id))[:max(k, 0)]


def floor_log(x: float, base: int) -> int:
    """floor(log_base(x)) without the float error of math.log (log_3(243) = 4.999...)."""
    k = 0
    while base ** (k + 1) <= x * (1 + 1e-12):
        k += 1
    return k


def resolve_max_budget(space, resource: str, max_epochs: int | None, path: str = "strategy") -> int:
    """The maximum epochs: the option, else the fixed value of ``resource`` in the space."""
    if not isinstance(resource, str) or not resource:
        raise ConfigError(f"{path}.resource", f"must be a parameter name, got {resource!r}")
    param = next((p for p in space.params if p.name == resource), None)
    if param is not None and isinstance(param, FREE_KINDS):
        raise ConfigError(f"space.{resource}", "is the fidelity of a multi-fidelity strategy: give it a fixed value "
                          "(the maximum epochs), not a range")
    if max_epochs is None:
        value = space.fixed.get(resource)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{path}.max_epochs", f"is missing (or fix '{resource}: N' in the space)")
        max_epochs = value
    if not isinstance(max_epochs, int) or isinstance(max_epochs, bool) or max_epochs < 1:
        raise ConfigError(f"{path}.max_epochs", f"must be an integer >= 1, got {max_epochs!r}")
    return max_epochs


def check_common(eta, min_epochs, max_epochs, promote_k, path: str = "strategy", sampler_options=None,
                 iterations=None) -> None:
    if sampler_options is not None and not isinstance(sampler_options, dict):
        raise ConfigError(f"{path}.sampler_options", f"must be a mapping, got {sampler_options!r}")
    if iterations is not None and (isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1):
        raise ConfigError(f"{path}.iterations", f"must be an integer >= 1 (or null), got {iterations!r}")
    if not isinstance(eta, int) or isinstance(eta, bool) or eta < 2:
        raise ConfigError(f"{path}.eta", f"must be an integer >= 2, got {eta!r}")
    if not isinstance(min_epochs, int) or isinstance(min_epochs, bool) or not 1 <= min_epochs <= max_epochs:
        raise ConfigError(f"{path}.min_epochs", f"must be an integer in 1..max_epochs ({max_epochs}), got {min_epochs!r}")
    if not isinstance(promote_k, (int, float)) or isinstance(promote_k, bool) or promote_k < 0:
        raise ConfigError(f"{path}.promote_k", f"must be a number >= 0, got {promote_k!r}")


class ConfigSource:
    """The seam 'where do new configurations come from': ``propose(history, n, rng)``."""

    def __init__(self, space, budget: int, sampler: str = "random", sampler_options: dict | None = None,
                 min_points: int | None = None):
        from hyppo_hep.strategy.base import STRATEGIES, build
        from hyppo_hep.strategy.random import RandomSearch

        if not isinstance(sampler, str) or sampler not in STRATEGIES or sampler in ("hyperband", "bohb", "asha"):
            known = sorted(set(STRATEGIES) - {"hyperband", "bohb", "asha"})
            raise ConfigError("strategy.sampler", f"({sampler!r}) is not a strategy that proposes new sets "
                              f"(known: {', '.join(known)})")
        self.space, self.name = space, sampler
        self.random = RandomSearch(space, budget)
        self.inner = None if sampler == "random" else build(sampler, dict(sampler_options or {}), space, budget)
        self.min_points = min_points if min_points is not None else max(space.dim + 1, 4)

    def view(self, history: History) -> History:
        """The history a surrogate source is shown: one budget level done, the rest pending."""
        counts: dict = {}
        for r in history.sets.values():
            if r.state == DONE and r.resource is not None:
                counts[r.resource] = counts.get(r.resource, 0) + 1
        enough = [b for b, c in counts.items() if c >= self.min_points]
        level = max(enough) if enough else (max(counts) if counts else None)
        by_config: dict[int, list[SetRecord]] = {}
        for r in history.sets.values():
            by_config.setdefault(r.lineage, []).append(r)
        view = History()
        for recs in by_config.values():
            at_level = [r for r in recs if r.resource == level and r.state in (DONE, FAILED)]
            view.add_set(at_level[0] if at_level else replace(recs[-1], state=PENDING))
        return view

    def propose(self, history: History, n: int, rng: np.random.Generator) -> list[dict]:
        if n <= 0:
            return []
        out: list[dict] = []
        if self.inner is not None:
            taken = history.keys(self.space)
            for params in self.inner.propose(self.view(history), n, rng):
                key = self.space.key(params)
                if key not in taken:
                    taken.add(key)
                    out.append(dict(params))
        if len(out) < n:  # random source, or the inner one ran short
            chosen = [SetRecord(-1 - i, p, [], state=PENDING) for i, p in enumerate(out)]
            if chosen:
                history = _with(history, chosen)
            out += self.random.propose(history, n - len(out), rng)
        return out[:n]


def _with(history: History, extra: list[SetRecord]) -> History:
    h = History()
    h.sets = {**history.sets, **{r.set_id: r for r in extra}}
    return h


def at_budget(params: dict, resource: str, budget: int) -> dict:
    """The params of an evaluation: the configuration with the resource set to the budget."""
    return {**params, resource: int(budget)}
