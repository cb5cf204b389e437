"""ASHA: asynchronous successive halving (Li et al., MLSys 2020).

No rung ever waits: whenever a worker is free, the best not-yet-promoted set in the top
``1/eta`` of the *finished* sets of a rung is promoted one rung up (highest rung first); if
there is none, a new configuration starts at the smallest budget. That suits asynchronous
MPI worker groups better than Hyperband's synchronous brackets. State is rebuilt from the
history on each call (resume continues the same rungs).

Options as for ``hyperband`` (max_epochs, min_epochs, eta, resource, sampler,
sampler_options, promote_k); ASHA runs until the campaign's ``budget`` of evaluations.
"""

from __future__ import annotations

import numpy as np

from hyppo_hep.history import PENDING
from hyppo_hep.trial import Proposal
from hyppo_hep.strategy.multifidelity import ConfigSource, at_budget, check_common, floor_log, resolve_max_budget, top_k


def asha_rungs(max_budget: int, eta: int = 3, min_budget: int = 1) -> list[int]:
    """Epoch budget of each rung: max_budget * eta^-k (rounded) for k = s_max .. 0, s_max =
    floor(log_eta(max_budget / min_budget)), the rungs of Hyperband's most exploratory
    bracket. Counted down from the top so that each rung is eta times the one below: counted
    up from min_budget, 11 epochs up to 100 gave rungs 11, 33, 99 and 100, a promotion that
    trained one epoch more."""
    s_max = floor_log(max_budget / min_budget, eta)
    return [max(1, int(round(max_budget * float(eta) ** (k - s_max)))) for k in range(s_max + 1)]


def asha_promotion(rungs: dict[int, list], n_rungs: int, eta: int, promote_k: float = 0.0,
                   skip: set = frozenset()):
    """The set to promote now, as ``(record, to_rung)``, or None.

    ``rungs``: rung index -> that rung's SetRecords (any state). A finished set is promotable
    from rung k when it is in the top ``floor(n_k / eta)`` of the ``n_k`` finished sets of
    rung k and its configuration is neither in rung k+1 nor in ``skip`` (configurations of
    ids promoted earlier in the same call)."""
    for k in range(n_rungs - 2, -1, -1):
        recs = rungs.get(k, [])
        finished = [r for r in recs if r.state != PENDING]
        above = {r.lineage for r in rungs.get(k + 1, [])}
        for r in top_k(finished, len(finished) // eta, promote_k):
            if r.lineage not in above and r.lineage not in skip:
                return r, k + 1
    return None


class ASHASearch:
    def __init__(self, space, budget: int, max_epochs: int | None = None, min_epochs: int = 1, eta: int = 3,
                 resource: str = "epochs", sampler: str = "random", sampler_options: dict | None = None,
                 promote_k: float = 0.0):
        self.space, self.resource = space, resource
        self.max_epochs = resolve_max_budget(space, resource, max_epochs)
        check_common(eta, min_epochs, self.max_epochs, promote_k, sampler_options=sampler_options)
        self.eta, self.promote_k = eta, float(promote_k)
        self.rungs = asha_rungs(self.max_epochs, eta, min_epochs)
        self.source = ConfigSource(space, budget, sampler, sampler_options)

    def propose(self, history, n: int, rng: np.random.Generator) -> list:
        rungs: dict[int, list] = {}
        for r in history.sets.values():
            if r.rung is not None:
                rungs.setdefault(r.rung, []).append(r)
        out: list[Proposal] = []
        promoted: set = set()
        while len(out) < n:
            found = asha_promotion(rungs, len(self.rungs), self.eta, self.promote_k, promoted)
            if found is None:
                break
            rec, k = found
            promoted.add(rec.lineage)
            out.append(Proposal(at_budget(rec.params, self.resource, self.rungs[k]), self.rungs[k], k, None,
                                rec.lineage))
        r0 = self.rungs[0]
        out += [Proposal(at_budget(p, self.resource, r0), r0, 0, None, None)
                for p in self.source.propose(history, n - len(out), rng)]
        return out

    def can_promote(self, history, config_id: int) -> bool:
        """Whether configuration ``config_id`` may still be promoted (its checkpoints are then
        kept, see hyppo_hep/checkpoints.py): below the top rung. No rung of ASHA is ever
        complete (a set ranked out now may enter the top 1/eta as the rung grows), so only the
        top rung, or the end of the search, frees a configuration's checkpoints."""
        rungs = [r.rung for r in history.sets.values() if r.lineage == config_id and r.rung is not None]
        return bool(rungs) and max(rungs) < len(self.rungs) - 1
