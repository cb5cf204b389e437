"""The end of a campaign: which sets start last, and how the slots are filled then.

Mixed into :class:`hyppo_hep.search.Search` (kept apart because it is half of the search's
logic and has its own constants, which the benchmarks vary). Once the sets left fill a few
rounds of the slots (:meth:`EndPhase._end_phase`), new sets are steered toward candidates
expected to end by the campaign's projected end, and with single-trial placement a new set
may start as a probe whose other trials are owed and packed at the end
(:meth:`EndPhase._learn_then_pack`). The confirmation trials' end rule
(:meth:`EndPhase._confirm_fits`) reads the same projected ends. benchmarks/RESULTS_mpi.md
sections 10-14 measure every rule here.

The mixin reads the Search's state: ``history``, ``durations``, ``strategy``, ``space``,
``clock``, ``min_trials``, ``trials``, ``budget_left``, ``trainings_left``, ``probes``,
``last_round``, ``_out`` (trials out -> asked time), ``_held`` (owed trials),
``_probe_start`` and ``_quantile``; it submits through ``_submit_proposal`` and
``_resubmit``. Nothing here writes state but through those (journalled events).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Callable

import numpy as np

from hyppo_hep.design import random_design
from hyppo_hep.durations import conditional_law, last_end_quantile
from hyppo_hep.strategy.base import new_points
from hyppo_hep.trial import Proposal, TrialSpec

# The end phase (EndPhase._end_phase, _propose_for_the_end; benchmarks/RESULTS_mpi.md section
# 10). It starts once the sets left fill END_ROUNDS rounds of the slots (4: at 80 workers 2
# and 4 gave the same with rbf, 4 was better with random; at 8000 workers 4 keeps more long
# sets from starting late). Per new set the strategy is asked for OVERSAMPLE candidates and
# FILLERS random points of the space are put behind them, so that a short set exists when
# all the strategy's candidates are long (rbf's sit around its incumbent). A candidate fits
# when a high quantile of its duration ends by the projected end: 1 - min_trials / workers,
# clipped to [END_QUANTILE, MAX_QUANTILE], because a set that runs over idles every worker
# while one that ends early idles only its own slot (and confirmation trials may fill it);
# it leaves room for a last set when its END_QUANTILE ends before the shortest candidate's
# high quantile would have to start. Chosen on 10 seeds x size and batch duration models x
# rbf and random at 80 simulated workers (bench_end_phase.py) against fixed quantiles
# 0.65-0.9, no fillers, and the strategy's order without room.
OVERSAMPLE = 16
FILLERS = 16
END_ROUNDS = 4
# END_ROUNDS holds up to END_ROUNDS_GROUPS slots (where it was chosen); beyond, it grows as
# sqrt(ln slots / ln END_ROUNDS_GROUPS) (end_rounds: 5.4 rounds at 160 slots, 6.5 at 1600).
# The last of G sets of unknown length ends about sqrt(2 ln G) standard deviations past the
# typical one, so with more slots more of the late sets must be probed and steered for the
# end to be known work: at 8000 workers 4 rounds left 86.5% utilisation (seed 1), this rule
# 93.5% (RESULTS_mpi.md section 17). 0: END_ROUNDS at every scale (benchmarks).
END_ROUNDS_GROUPS = 16
END_QUANTILE = 0.65
MAX_QUANTILE = 0.999
# A confirmation trial may end by this quantile of the campaign's regular end (the maximum
# of the running sets' uncertain ends, _last_end), not only by the latest expected end: with
# several sets of unknown factor out, the last one ends later than any one is expected to,
# and the contenders' trials (10-30 min) rarely fit the minutes the latest expected end
# leaves. 0.5 against 0 (the rule before), 0.3 and 0.7 on 10 seeds, both duration models,
# rbf and random (bench_end_phase.py; RESULTS_mpi.md section 12b): every one of them at or
# above the rule before, 0.5 the best sum.
CONFIRM_END_QUANTILE = 0.5
# Learn then pack (EndPhase._learn_then_pack; RESULTS_mpi.md section 13). A set's trials share
# its hidden duration factor, so once one is back the others' length is known to ~2%. With an
# executor that places single trials (``probes``), the end phase may start a new set with ONE
# trial (a probe) and hold its other trials back (owed: regular trials of the set, same
# indices and seeds) while the owed work that could fill the end is less than OWED_FILL x
# workers x the packing window (the shortest candidate's high quantile: in the last window
# before the projected end no new set fits) and the set leaves time for its owed trials
# after its probe. Freeing places then take a due owed trial, a new set while one fits, the
# longest owed trial that ends by the projected end: work of unknown length moves earlier,
# the end is packed with work of known length. An owed trial is due when it must start now
# to end by the projected end: its set's own mean once its probe is back, else the
# DUE_QUANTILE (0: the end phase's high quantile) of its duration given that its probe has
# run so long. Measured on 10 seeds x 2 duration models x rbf and random against probing
# only sets whose median fits the window, only near the end (3 windows), OWED_FILL 0.5 and
# 2, DUE_QUANTILE 0.5 and 0.999 (bench_end_phase.py). PROBES = False: never (benchmarks).
PROBES = True
OWED_FILL = 1.0
DUE_QUANTILE = 0.0  # an unknown owed trial's length for the due rule (0: the end phase's high quantile)
SHORTEST_FIRST = True  # new sets left that fit nowhere go before owed trials that fit (they are unknown)
# The end phase's duration law counts the trials still running (_censor_running; durations.py
# TrialDurations.censor): fitted on the trials back alone, it learns the short ones of the
# sets started lately and under-predicts where the strategy has moved recently (800 workers,
# rbf: the 0.99375 quantile exceeded by 1.8-4.0% of the end phase's whole sets, 0.6% meant;
# at 8000 workers whole sets past their 0.999 quantile made the wall). RESULTS_mpi.md
# section 14. False: the fit of the trials back alone (the rule before; benchmarks).
CENSOR_RUNNING = True


class EndPhase:
    """The end-phase half of :class:`hyppo_hep.search.Search` (see the module's docstring)."""

    def _probing(self) -> bool:
        """Learn then pack is on: single trials can run anywhere, the end phase is on, and
        a set has more than one trial to learn from its first. Not with adaptive repeats:
        there the race gives a set its further trials from its results, and probes (each
        taking a new set's trainings at once) spent a budget in trainings before any set
        was back to race (a real mpiexec campaign: 8 probes, 0-2 top-ups instead of 6-9)."""
        return bool(PROBES and self.probes and self.last_round and 1 < self.min_trials == self.trials)

    def _trial_duration(self, set_id: int | None, elapsed: float = 0.0, params: dict | None = None) -> float | None:
        """Expected seconds of a trial of ``set_id`` (None: a new set with ``params``) that
        has run ``elapsed`` seconds (durations.py: the set's mean when it has trials back,
        else the model's mean beyond ``elapsed``); None when no trial says."""
        if set_id is not None:
            params = self.history.sets[set_id].params
        return self.durations.expected(set_id, params, elapsed)

    def _regular_ends(self, now: float) -> list[float] | None:
        """Projected end of every regular trial out (asked time + expected duration given
        how long it has run, not before now: an overdue trial may end any moment); None
        when some duration is unknown, [] when no regular trial is out. Computed once per
        set and asked time (a set's trials are asked together)."""
        ends, memo = [], {}
        for (sid, t), t0 in self._out.items():
            if t in self.history.sets[sid].confirm_trials:
                continue
            end = memo.get((sid, t0))
            if end is None:
                d = self._trial_duration(sid, max(0.0, now - t0))
                if d is None:
                    return None
                end = memo[(sid, t0)] = max(now, t0 + d)
            ends.append(end)
        return ends

    def _confirm_fits(self) -> Callable[[int], bool] | None:
        """The end rule: None when no regular trial is out (nothing to overlap); else a
        test of whether a confirmation trial of a set (its own trials' mean duration: known
        to ~2%), started now, ends no later than the last regular trial out: the later of
        the latest expected end and the CONFIRM_END_QUANTILE quantile of the maximum of the
        running sets' ends (:meth:`_last_end`). Without any duration known, every set fits
        (the rule before: confirm while regular trials run)."""
        now = self.clock()
        ends = self._regular_ends(now)
        if ends is None:  # a regular trial of unknown duration is out
            return lambda sid: True
        if not ends:
            return None
        end = max(max(ends), self._last_end(now, CONFIRM_END_QUANTILE))

        def fits(set_id: int) -> bool:
            d = self._trial_duration(set_id)
            return d is None or now + d <= end
        return fits

    def _last_end(self, now: float, q: float) -> float:
        """The ``q`` quantile of the end of the last regular trial out (the campaign's
        end, confirmation trials apart): a set with trials back ends at its start + their
        mean; one without, at its start + a log-normal duration (durations.py) longer than
        it has run; a set's trials share its factor, so each set is one draw. The maximum
        of several uncertain ends is later than the latest expected end: the confirmation
        trials may use that time. ``now`` when nothing is known (q <= 0: not computed)."""
        fixed, mus, sigmas, starts = now, [], [], []
        seen = set()
        for (sid, t), t0 in self._out.items():
            rec = self.history.sets[sid]
            if (sid, t0) in seen or t in rec.confirm_trials:
                continue
            seen.add((sid, t0))
            own = self.durations.set_mean(sid)
            ln = self.durations.log_normal(rec.params, sid) if own is None else None
            if ln is None:
                fixed = max(fixed, t0 + (own or 0.0))
                continue
            mus.append(ln[0])
            sigmas.append(ln[1])
            starts.append(t0)
        if q <= 0.0 or not mus:
            return fixed
        return last_end_quantile(q, max(fixed, now), np.asarray(mus), np.asarray(sigmas), np.asarray(starts), now)

    def _end_phase(self, n: int) -> tuple[float, list[float], int] | None:
        """The end phase: once the sets left to start fill at most :func:`end_rounds` rounds
        of the slots (the ``n`` free ones and those the trials out hold; a slot is
        ``min_trials`` trials, as the executors count them), returns (now, the projected end
        of every regular trial out, the workers: ``n`` slots' worth plus the trials out);
        else None (also while no duration is known or nothing runs)."""
        per = max(1, self.min_trials)
        # cheap: no scan far from the end; held trials exist only in the end phase, which
        # then stays on (probes out are single trials: fewer trials out, not fewer slots)
        slots = n + len(self._out) // per
        if not self._held and self.budget_left > end_rounds(slots) * slots:
            return None
        now = self.clock()
        if CENSOR_RUNNING:
            self._censor_running(now)
        ends = self._regular_ends(now)
        if not ends:
            return None
        return now, ends, n * per + len(self._out)

    def _censor_running(self, now: float) -> None:
        """Give the duration model the regular and probe trials still running, as known to
        last longer than they have run (TrialDurations.censor), for this ask's end-phase
        decisions: per set without trials back and time asked, how many and since when.
        Rebuilt from :attr:`_out` and the clock, so a replayed search decides the same."""
        runs: dict[tuple[int, float], int] = {}
        for (sid, _), t0 in self._out.items():
            if self.durations.set_mean(sid) is None:
                runs[(sid, t0)] = runs.get((sid, t0), 0) + 1
        sids = [sid for sid, _ in runs]
        self.durations.censor(sids, [self.history.sets[sid].params for sid in sids],
                              np.array([now - t0 for _, t0 in runs]), np.array(list(runs.values()), dtype=float))

    def _propose_for_the_end(self, n: int, rng, phase: tuple[float, list[float], int]) -> tuple[list, float | None]:
        """``n`` proposals for the end phase and the campaign's projected end they were
        chosen for (:meth:`_end_candidates`), in :meth:`_end_order`. Multi-fidelity rungs
        and extensions are taken as proposed."""
        cands = self._end_candidates(n, rng, phase)
        if cands[1] is None:
            return cands[0][:n], None
        props, lns, end = cands
        hi, _, order = self._end_order(lns, end - phase[0])
        return [props[i] for i in order[:n]], end

    def _end_candidates(self, n: int, rng, phase: tuple[float, list[float], int],
                        held_work: float = 0.0) -> tuple[list, list | None, float | None]:
        """(candidates, their duration log-normals, the campaign's projected end), or
        (proposals, None, None) when they are not steered (rungs, extensions, no model).
        Candidates: the strategy's (``OVERSAMPLE`` per set, in its order of preference), then
        ``FILLERS`` random points of the space. The projected end: the running trials'
        expected rest, ``held_work`` (owed trials, seconds) and the sets left at the
        candidates' median expected duration, spread over the workers, and never before the
        running work's own end."""
        now, ends, workers = phase
        props = self.strategy.propose(self.history, OVERSAMPLE * n, rng)
        if any(isinstance(p, Proposal) and (p.extends or p.resource is not None) for p in props):
            return props, None, None
        props = props + self._fillers(props, FILLERS * n, rng)
        lns = [self.durations.log_normal(p.params if isinstance(p, Proposal) else p) for p in props]
        if not props or any(ln is None for ln in lns):
            return props, None, None
        per = max(1, self.min_trials)
        self._quantile = self._high_quantile(workers)
        mean = float(np.median([math.exp(mu + sigma * sigma / 2.0) for mu, sigma in lns]))
        work = sum(e - now for e in ends) + held_work + self.budget_left * per * mean
        return props, lns, max(max(ends), now + work / max(1, workers))

    def _high_quantile(self, workers: int) -> float:
        """The quantile a new set's duration must end by the projected end at: a set that
        runs over idles every worker, one that ends early only its own slot."""
        return min(MAX_QUANTILE, max(END_QUANTILE, 1.0 - max(1, self.min_trials) / max(1, workers)))

    def _end_order(self, lns: list, window: float) -> tuple[list[float], list[float], list[int]]:
        """(high quantiles, END_QUANTILE quantiles, the candidates' order) for a projected
        end ``window`` seconds away. A candidate fits when its high quantile ends by then.
        In that order: those that fit and leave room for the shortest candidate after them
        (strategy order), those that fit (the slot's last set), then the rest shortest
        first. So sets are the strategy's while the end is far and short when it is near:
        the last work on every slot is short, its unpredictable part small in seconds."""
        hi = self._quantiles(lns, self._quantile)
        lo = self._quantiles(lns, END_QUANTILE)
        room = window - min(hi)  # for the shortest candidate as the slot's last set

        def rank(i: int) -> tuple:
            if hi[i] <= window:  # it fits, even as the slot's last set
                return (0 if lo[i] <= room else 1, 0.0, i)
            return (2, hi[i], i)
        return hi, lo, sorted(range(len(lns)), key=rank)

    def _learn_then_pack(self, n: int, n_new: int, rng, phase: tuple[float, list[float], int]) -> list[TrialSpec]:
        """The end phase with single-trial placement, for ``n`` free slots (``n`` x
        ``min_trials`` single trials): up to ``n_new`` new sets and owed trials. Each place
        takes, in that order: a due owed trial (it must start now to end by the projected
        end); a new set that fits (:meth:`_end_order`), as a probe while the owed work that
        can fill the end is short of OWED_FILL x workers x the packing window (the shortest
        candidate's high quantile) and the set leaves time for its owed trials after its
        probe, else whole; while new sets are left, the shortest, as a probe (SHORTEST_FIRST;
        after the next step when it is off); the longest owed trial of known length that ends
        by the projected end; owed trials, longest first (one of unknown length only when
        nothing else is handed out)."""
        now, ends, workers = phase
        per = self.min_trials
        owed = _Owed(self._held, *self._held_work(now, DUE_QUANTILE or self._high_quantile(workers)))
        props, lns, end = [], None, None
        if n_new > 0:
            props, lns, end = self._end_candidates(min(n * per, n_new), rng, phase, owed.work())
            if lns is None:  # not steered: as proposed, then owed trials
                return [self._submit_proposal(p, None) for p in props[:n_new]] + self._release_all(n)
        if end is None:
            end = max(max(ends), now + (sum(e - now for e in ends) + owed.work()) / max(1, workers))
        window = end - now
        hi, _, order = self._end_order(lns, window) if lns else ([], [], [])
        pack = min(hi) if hi else math.inf  # in the last `pack` before the end no new set fits
        means = [math.exp(mu + sigma * sigma / 2.0) for mu, sigma in lns or []]
        pool, need = owed.pool(pack), (OWED_FILL * workers * pack if hi else 0.0)
        specs, units, i = [], n * per, 0
        while units > 0:
            left = i < min(len(order), n_new)  # a new set may still start
            if owed.take_due(window):
                units -= 1
            elif left and hi[order[i]] <= window:  # a new set that fits
                j = order[i]
                probe = pool < need and 2 * hi[j] <= window  # time for its owed trials after it
                specs.append(self._submit_proposal(props[j], end, probe))
                pool += (per - 1) * means[j] if probe else 0.0
                units, i = units - (1 if probe else per), i + 1
            elif not (left and SHORTEST_FIRST) and owed.take_fit(window):  # packs this slot with known work
                units -= 1
            elif left:  # nothing fits: the shortest new set, its length learnt from one trial
                specs.append(self._submit_proposal(props[order[i]], end, True))
                units, i = units - 1, i + 1
            elif owed.take_any(unknown=not (specs or owed.taken)):
                units -= 1
            else:
                break
        return specs + [self._release(sid, k) for sid, k in owed.taken.items()]

    def _held_work(self, now: float, q: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For every set with owed trials (in :attr:`_held`'s order): the expected seconds of
        a trial, the length it must be given to end by the end, and whether the set's own
        trials say it. The length to give: the set's own mean when a trial is back; else the
        ``q`` quantile of its duration given that its probe has run so long (a probe that
        overruns says its set is long: its owed trials must start sooner)."""
        sids = list(self._held)
        own = np.array([self.durations.set_mean(sid) or np.nan for sid in sids], dtype=float)
        known = ~np.isnan(own)
        d, give = own.copy(), own.copy()
        unknown = [sid for sid, k in zip(sids, known) if not k]
        lns = self.durations.log_normals(unknown, [self.history.sets[sid].params for sid in unknown])
        if unknown and lns is not None:
            elapsed = np.array([max(0.0, now - self._probe_start.get(sid, now)) for sid in unknown])
            mean, quantile = conditional_law(lns[0], lns[1], elapsed, q)
            d[~known], give[~known] = mean, np.maximum(mean, quantile)
        return np.nan_to_num(d), np.nan_to_num(give), known

    def _release(self, set_id: int, k: int) -> TrialSpec:
        """Send out ``k`` of set ``set_id``'s owed trials (same indices and seeds as if
        submitted with it)."""
        return self._resubmit(self.history.sets[set_id], self._held[set_id][:k], owed=True)

    def _release_all(self, n: int) -> list[TrialSpec]:
        """Owed trials for ``n`` free slots when there is no end phase to place them (nothing
        runs, or probes are off now: a resume elsewhere), longest first."""
        specs, units = [], max(0, n) * max(1, self.min_trials)
        d = self._held_work(self.clock(), 0.5)[0]
        for _, sid in sorted(zip(-d, self._held)):
            if units <= 0:
                break
            k = len(self._held[sid])
            specs.append(self._release(sid, min(k, units)))
            units -= k
        return specs

    @staticmethod
    def _quantiles(lns: list[tuple[float, float]], q: float) -> list[float]:
        z = NormalDist().inv_cdf(q)
        return [math.exp(mu + sigma * z) for mu, sigma in lns]

    def _fillers(self, props: list, k: int, rng) -> list[dict]:
        """``k`` random points of the space, none proposed before nor among ``props``."""
        if not k:
            return []
        taken = {self.space.key(p.params if isinstance(p, Proposal) else p) for p in props}
        U = random_design(self.space, k, rng, exclude=self.history.keys(self.space) | taken)
        return new_points(self.space, U, self.history, k, also_taken=taken)

    def _end_fields(self, params: dict, deadline: float) -> dict:
        d = self.durations.quantile(params, self._quantile)
        return {"deadline": deadline, **({"expected_end": self.clock() + d} if d is not None else {})}


def end_rounds(slots: int) -> float:
    """Rounds of ``slots`` slots' sets left at which the end phase starts (END_ROUNDS,
    growing as sqrt(ln slots) beyond END_ROUNDS_GROUPS slots)."""
    if END_ROUNDS_GROUPS <= 1 or slots <= END_ROUNDS_GROUPS:
        return float(END_ROUNDS)
    return END_ROUNDS * math.sqrt(math.log(slots) / math.log(END_ROUNDS_GROUPS))


class _Owed:
    """The owed trials of one ask (:meth:`EndPhase._learn_then_pack`): per set with trials
    held (``held``'s order), the expected seconds of a trial ``d``, the length it must be
    given to end by the end ``give``, whether its own trials say it ``known``, and how many
    are held; :attr:`taken` counts the trials handed out now, per set. Arrays, because at
    8000 workers thousands of sets hold trials at every ask."""

    def __init__(self, held: dict[int, list[int]], d: np.ndarray, give: np.ndarray, known: np.ndarray):
        self.sids = list(held)
        self.d, self.give, self.known = d, give, known
        self.left = np.array([len(t) for t in held.values()], dtype=int)
        self.taken: dict[int, int] = {}

    def work(self) -> float:
        """Seconds of owed work left (expected)."""
        return float(self.d @ self.left) if self.sids else 0.0

    def pool(self, pack: float) -> float:
        """Seconds of owed work of trials no longer than ``pack``: what can fill the end."""
        return float(self.d[self.d <= pack] @ self.left[self.d <= pack]) if self.sids else 0.0

    def _take(self, mask: np.ndarray, key: np.ndarray) -> bool:
        """One trial of the set with the largest ``key`` among ``mask`` (ties: the first)."""
        mask = mask & (self.left > 0)
        if not mask.any():
            return False
        i = int(np.argmax(np.where(mask, key, -np.inf)))
        self.left[i] -= 1
        self.taken[self.sids[i]] = self.taken.get(self.sids[i], 0) + 1
        return True

    def take_due(self, window: float) -> bool:
        """A trial that must start now to end by the end, the longest first."""
        return bool(self.sids) and self._take(self.give >= window, self.give)

    def take_fit(self, window: float) -> bool:
        """The longest trial of known length that ends by the end."""
        return bool(self.sids) and self._take(self.known & (self.d <= window), self.d)

    def take_any(self, unknown: bool) -> bool:
        """The longest trial of known length, else (``unknown``) the longest of the others."""
        if not self.sids:
            return False
        return self._take(self.known, self.d) or (unknown and self._take(~self.known, self.d))
