"""Adaptive repeats: which earlier sets deserve more trials (a race for the best set).

In the manner of SMAC's intensification and of racing algorithms: a new set gets ``min``
trials; after that, trials go only to sets that could still be the best. "Could" is read
from the noise-aware estimates of hyppo_hep.recommend (each set's predicted true mean ±
its standard error, from its own trials AND the model of its neighbours): a set
*challenges* the incumbent (the recommended set) when the probability that its true value
is below the incumbent's,

    p = Phi((v_inc - v_i) / sqrt(se_i^2 + se_inc^2)),

is at least ``alpha``. A challenged incumbent is topped up first (as SMAC gives the
incumbent more runs before it may be replaced), then the challengers, most likely first
(or, with ``order="kg"``, by knowledge gradient: the expected gain of the pick from one more
trial). An incumbent of a single trial (``min: 1``) is topped up even unchallenged: with no
spread of its own its standard error says nothing.
Each top-up is ONE trial, so that every result re-decides the race; a set never gets more
than ``max`` trials. Sets still in flight are not topped up. The Search balances the race
against exploration (at most ``share`` of the trainings go to top-ups while new sets may
still start) and keeps the budget.

The estimates are computed once per change of the history (a trial told, a set started),
so asking again without news costs nothing; their cost is that of recommend (the model is
fitted on the 100 best sets only).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from hyppo_hep.history import DONE, FAILED, PENDING, History, SetRecord
from hyppo_hep.recommend import estimate_sets, estimate_values, successful_stats

ALPHA = 0.1  # a set whose chance to beat the incumbent is below this is out of the race
SHARE = 0.5  # most trainings that go to top-ups while new sets can still start
MIN_FAST_ALPHA = 0.03  # below it _rank takes the Estimate path (its pre-filter assumes p >= 0.03)


def beat_probability(v: float, se: float, v_inc: float, se_inc: float) -> float:
    """P(true value of the set < that of the incumbent), both Gaussian and independent."""
    scale = math.hypot(se, se_inc)
    if scale <= 0.0:
        return 1.0 if v < v_inc else (0.5 if v == v_inc else 0.0)
    return 0.5 * math.erfc((v - v_inc) / (scale * math.sqrt(2.0)))


def knowledge_gradients(ests, k_std: float = 0.0) -> list[float]:
    """Per estimate: the expected gain in the value of the pick from ONE more trial of that
    set (the knowledge gradient of independent Gaussian beliefs, Frazier et al. 2008). One
    trial of spread sigma moves the mean's estimate by a normal of sd
    se^2 / sqrt(se^2 + sigma^2); that matters only if it can cross the best OTHER set."""
    vals = [e.value(k_std) for e in ests]
    out = []
    for i, e in enumerate(ests):
        other = min(v for j, v in enumerate(vals) if j != i)
        step = e.mean_std ** 2 / math.sqrt(e.mean_std ** 2 + e.spread ** 2) if e.mean_std > 0 else 0.0
        if step <= 0.0:
            out.append(0.0)
            continue
        z = -abs(vals[i] - other) / step
        out.append(step * (z * 0.5 * math.erfc(-z / math.sqrt(2.0)) + math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)))
    return out


@dataclass
class Racing:
    """The race among the sets of one History. ``k_std``: sets rank by estimate + k·spread."""

    k_std: float = 0.0
    space: object = None
    alpha: float = ALPHA
    order: str = "beat"  # top-ups by beat probability (incumbent first), or "kg": knowledge gradient
    _key: tuple = field(default=(), repr=False)
    _order: list = field(default_factory=list, repr=False)
    _unmeasured: bool = field(default=False, repr=False)  # the incumbent has a single trial

    def contenders(self, history: History, version: int) -> list[tuple[int, float]]:
        """(set id, probability to be the best-or-better than the incumbent) of the sets still
        in the race, the incumbent first (probability 0.5 by convention) when challenged,
        then challengers by falling probability; just the incumbent when nobody challenges
        it. ``version`` changes whenever the history does (the cache key)."""
        key = (version, len(history.sets))
        if key != self._key:
            self._key, self._order = key, self._rank(history)
        return self._order

    def _rank(self, history: History) -> list[tuple[int, float]]:
        # finished sets and sets with some trials back (a topped-up set keeps its place)
        recs = [r for r in history.sets.values() if r.state != FAILED and r.trials]
        if self.order == "kg" or self.alpha < MIN_FAST_ALPHA:
            return self._rank_estimates(recs)
        # as _rank_estimates, on arrays: it runs after every result of a campaign's tail
        # (10,000 sets at 8000 workers), where an Estimate and a beat probability per set
        # cost 30-50 ms a time
        recs, mean, std, n_ok = successful_stats(recs)
        if not recs:
            return []
        est, se, spread = estimate_values(recs, mean, std, n_ok, self.k_std, self.space)
        value = est + self.k_std * spread  # = Estimate.value, the same float operations
        if not np.all(np.isfinite(value)):
            return self._rank_estimates(recs)
        ids = np.array([r.set_id for r in recs])
        i = int(np.lexsort((ids, value))[0])  # the least value, ties to the least set id
        v_inc, se_inc = float(value[i]), float(se[i])
        # who may beat the incumbent with probability >= alpha: (v - v_inc) / scale below
        # ~1.88 for alpha 0.03, so 2 keeps every one of them whatever numpy's last bits; the
        # probabilities themselves are beat_probability's, as before
        scale = np.hypot(se, se_inc)
        near = np.flatnonzero(~(scale > 0) | (value - v_inc <= 2.0 * scale))
        rivals = [(recs[j].set_id, beat_probability(float(value[j]), float(se[j]), v_inc, se_inc))
                  for j in near if j != i]
        rivals = sorted((r for r in rivals if r[1] >= self.alpha), key=lambda r: (-r[1], r[0]))
        self._unmeasured = int(n_ok[i]) < 2
        return [(recs[i].set_id, 0.5)] + rivals

    def _rank_estimates(self, recs) -> list[tuple[int, float]]:
        """_rank from an Estimate per set (knowledge-gradient order, a tiny alpha)."""
        ests = estimate_sets(recs, self.k_std, self.space)
        if not ests:
            return []
        inc = min(ests, key=lambda e: (e.value(self.k_std), e.set_id))
        v_inc = inc.value(self.k_std)
        rivals = [(e.set_id, beat_probability(e.value(self.k_std), e.mean_std, v_inc, inc.mean_std))
                  for e in ests if e.set_id != inc.set_id]
        rivals = sorted((r for r in rivals if r[1] >= self.alpha), key=lambda r: (-r[1], r[0]))
        self._unmeasured = inc.n_ok < 2
        order = [(inc.set_id, 0.5)] + rivals
        if self.order == "kg" and len(order) > 1:
            by_id = {e.set_id: e for e in ests}
            gain = knowledge_gradients([by_id[sid] for sid, _ in order], self.k_std)
            order = [o for _, o in sorted(zip(gain, order), key=lambda g: (-g[0], g[1][0]))]
        return order

    def top_ups(self, history: History, version: int, max_trials: int) -> list[int]:
        """Sets to give one more trial now, in order: in the race, finished (not in
        flight) and below ``max_trials``. Empty when the incumbent is unchallenged."""
        order = self.contenders(history, version)
        # an incumbent of one trial has no spread of its own (with min 1 nobody may have
        # one, and then every standard error is 0 and nobody challenges): measure it
        if len(order) < 2 and not (order and self._unmeasured):
            return []
        return [sid for sid, _ in order if _eligible(history.sets[sid]) and history.sets[sid].n_trials < max_trials]

    def confirmations(self, history: History, version: int, confirm: int, n: int,
                      fits: Callable[[int], bool] | None = None) -> list[tuple[int, int]]:
        """(set id, how many) confirmation trials to start now, at most ``n`` in all: the
        incumbent and its challengers, none with a regular trial in flight, each below
        ``confirm`` confirmation trials counting those in flight. Several per set at once
        (issue 16: the idle tail of a campaign has far more free slots than contenders),
        spread in proportion to each set's probability to be the best (D'Hondt: the next
        trial goes to the set with the largest p / (trials given + 1)), so the likely best
        get more. ``fits(set_id)``: whether a trial of that set may start now (the Search's
        end rule); sets it refuses get none."""
        quota, weight = {}, {}
        for sid, p in self.contenders(history, version):
            rec = history.sets[sid]
            left = confirm - rec.n_confirm
            if left > 0 and _confirmable(rec) and (fits is None or fits(sid)):
                quota[sid], weight[sid] = left, max(p, 1e-12)
        given: dict[int, int] = {}
        heap = [(-weight[sid], sid) for sid in quota]
        heapq.heapify(heap)
        for _ in range(max(0, n)):
            if not heap:
                break
            _, sid = heapq.heappop(heap)
            given[sid] = given.get(sid, 0) + 1
            if given[sid] < quota[sid]:
                heapq.heappush(heap, (-weight[sid] / (given[sid] + 1), sid))
        return list(given.items())


def _confirmable(rec: SetRecord) -> bool:
    """Finished, or pending with only confirmation trials out (their results re-open it)."""
    if rec.state == DONE:
        return True
    return rec.state == PENDING and bool(rec.trials) and set(rec.missing_trials) <= set(rec.confirm_trials)


def _eligible(rec: SetRecord) -> bool:
    return rec.state == DONE
