"""Hyperband (Li et al., JMLR 2018): successive halving over several brackets.

The bracket arithmetic is a pure function (:func:`hyperband_brackets`); the strategy only
orchestrates, rebuilding its state from the history on every call (so a resumed run
continues the same brackets). Brackets run in order; while a rung waits for its last sets,
free workers start the next bracket instead of idling, so asynchronous MPI workers stay busy.

Options (``strategy: {name: hyperband, ...}``):

- ``max_epochs``: largest budget (default: the fixed value of ``resource`` in the space);
- ``min_epochs``: smallest budget (default 1); ``eta``: reduction factor (default 3);
- ``resource``: the parameter set to each evaluation's budget (default ``epochs``);
- ``iterations``: Hyperband iterations (all brackets once each); default: repeat until the
  campaign's ``budget`` of evaluations is used;
- ``sampler`` (+ ``sampler_options``): where new configurations come from, ``random`` or a
  strategy name (``lhs``, ``rbf``, ``gp``); ``promote_k``: spread-aware promotion
  (see strategy/multifidelity.py). ``bohb`` is Hyperband with ``sampler: rbf, promote_k: 1``.
"""

from __future__ import annotations

import math

import numpy as np

from hyppo_hep.history import PENDING
from hyppo_hep.trial import Proposal
from hyppo_hep.strategy.multifidelity import ConfigSource, at_budget, check_common, floor_log, resolve_max_budget, top_k


def hyperband_brackets(max_budget: int, eta: int = 3, min_budget: int = 1) -> list[list[tuple[int, int]]]:
    """The Hyperband schedule: one list per bracket, most exploratory first.

    Bracket ``s`` (s = s_max .. 0, s_max = floor(log_eta(R)), R = max_budget / min_budget)
    starts n = ceil((s_max + 1) / (s + 1) * eta^s) configurations at r = R * eta^-s; rung i
    keeps floor(n * eta^-i) of them at budget r * eta^i. Entries are ``(n_configs, epochs)``;
    epochs are ``min_budget * R * eta^(i - s)`` rounded to integers. For R = 81, eta = 3 this
    is the table of the paper: (81,1) (27,3) (9,9) (3,27) (1,81) / (34,3) (11,9) (3,27) (1,81) /
    (15,9) (5,27) (1,81) / (8,27) (2,81) / (5,81).
    """
    R = max_budget / min_budget
    s_max = floor_log(R, eta)
    brackets = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * eta ** s - 1e-9)
        rungs = []
        for i in range(s + 1):
            n_i = n // eta ** i
            r_i = max(1, int(round(max_budget * float(eta) ** (i - s))))
            rungs.append((n_i, min(r_i, max_budget)))
        brackets.append(rungs)
    return brackets


def schedule_epochs(brackets: list[list[tuple[int, int]]]) -> int:
    """Total epochs (per trial) of one Hyperband iteration: sum of n_i * r_i."""
    return sum(n * r for rungs in brackets for n, r in rungs)


class HyperbandSearch:
    def __init__(self, space, budget: int, max_epochs: int | None = None, min_epochs: int = 1, eta: int = 3,
                 resource: str = "epochs", iterations: int | None = None, sampler: str = "random",
                 sampler_options: dict | None = None, promote_k: float = 0.0):
        self.space, self.resource = space, resource
        self.max_epochs = resolve_max_budget(space, resource, max_epochs)
        check_common(eta, min_epochs, self.max_epochs, promote_k, sampler_options=sampler_options, iterations=iterations)
        self.eta, self.promote_k, self.iterations = eta, float(promote_k), iterations
        self.brackets = hyperband_brackets(self.max_epochs, eta, min_epochs)
        self.source = ConfigSource(space, budget, sampler, sampler_options)

    def propose(self, history, n: int, rng: np.random.Generator) -> list:
        by_bracket: dict[int, dict[int, list]] = {}
        for r in history.sets.values():
            if r.bracket is not None:
                by_bracket.setdefault(r.bracket, {}).setdefault(r.rung, []).append(r)
        promotions: list[Proposal] = []
        new_for: list[int] = []  # bracket of each new configuration requested
        b = 0
        while len(promotions) + len(new_for) < n:
            if self.iterations is not None and b >= self.iterations * len(self.brackets):
                break
            rungs = self.brackets[b % len(self.brackets)]
            recs = by_bracket.get(b, {})
            for i in range(1, len(rungs)):  # promotions first: they finish a bracket
                prev, here = recs.get(i - 1, []), recs.get(i, [])
                if len(prev) < rungs[i - 1][0] or any(r.state == PENDING for r in prev):
                    break  # rung i-1 still running: synchronous successive halving waits
                have = {r.lineage for r in here}
                for r in top_k(prev, rungs[i][0], self.promote_k):
                    if r.lineage not in have and len(promotions) + len(new_for) < n:
                        promotions.append(Proposal(at_budget(r.params, self.resource, rungs[i][1]), rungs[i][1], i, b,
                                                   r.lineage))
            missing = rungs[0][0] - len(recs.get(0, []))
            new_for += [b] * max(0, min(missing, n - len(promotions) - len(new_for)))
            b += 1
        configs = self.source.propose(history, len(new_for), rng)
        r0 = {bk: self.brackets[bk % len(self.brackets)][0][1] for bk in set(new_for)}
        return promotions + [Proposal(at_budget(p, self.resource, r0[bk]), r0[bk], 0, bk, None)
                             for p, bk in zip(configs, new_for)]

    def can_promote(self, history, config_id: int) -> bool:
        """Whether configuration ``config_id`` may still be promoted (its checkpoints are then
        kept, see hyppo_hep/checkpoints.py): not at its bracket's last rung, and its rung is
        still running or its configuration is among those the next rung takes."""
        mine = [r for r in history.sets.values() if r.lineage == config_id and r.bracket is not None]
        if not mine:
            return False
        top = max(mine, key=lambda r: r.rung)
        b, i = top.bracket, top.rung
        rungs = self.brackets[b % len(self.brackets)]
        if i >= len(rungs) - 1:
            return False
        prev = [r for r in history.sets.values() if r.bracket == b and r.rung == i]
        if len(prev) < rungs[i][0] or any(r.state == PENDING for r in prev):
            return True  # the rung is not complete: the ranking is not known yet
        return config_id in {r.lineage for r in top_k(prev, rungs[i + 1][0], self.promote_k)}


class BOHB(HyperbandSearch):
    """Hyperband with new configurations from the RBF surrogate strategy and spread-aware
    promotion (in the spirit of BOHB, Falkner et al. 2018, with this package's surrogates)."""

    def __init__(self, space, budget: int, max_epochs: int | None = None, min_epochs: int = 1, eta: int = 3,
                 resource: str = "epochs", iterations: int | None = None, sampler: str = "rbf",
                 sampler_options: dict | None = None, promote_k: float = 1.0):
        super().__init__(space, budget, max_epochs, min_epochs, eta, resource, iterations, sampler,
                         sampler_options, promote_k)
