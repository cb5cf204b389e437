"""The ask/tell core: one search over one History.

A :class:`Search` decides everything about a search that is not running trials: which sets
to train (asking its strategy, with every pending set known), the seeds of their trials, the
failure policy, early stopping, and every journal event. State changes only through
:meth:`Search.apply`, the same function for the events it writes now and for the events it
reads back from a journal (Optuna's journal storage pattern: the live state is the replay),
so a resumed search is the search that was interrupted.

    search = Search(space, strategy, budget=40, trials=5, journal=journal)
    specs = search.ask(n_free)         # TrialSpecs: new sets, or more trials of a set
    rec = search.tell(trial_result)    # the set, when this result finished it

Whoever runs the trials (the driver's pump and an executor, AskTell's user, the simulator)
only moves TrialSpecs out and TrialResults back.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from enum import Enum
from statistics import NormalDist
from typing import Callable, Iterable

import numpy as np

from hyppo_hep import journal as J
from hyppo_hep.checkpoints import CheckpointStore
from hyppo_hep.design import random_design
from hyppo_hep.durations import TrialDurations, conditional_law, last_end_quantile
from hyppo_hep.errors import UserError
from hyppo_hep.fidelity import EarlyStopping, Fidelity
from hyppo_hep.history import DONE, FAILED, PENDING, History, SetRecord
from hyppo_hep.racing import SHARE, Racing
from hyppo_hep.seeding import strategy_rng, trial_seeds
from hyppo_hep.strategy.base import new_points
from hyppo_hep.trial import Proposal, TrialResult, TrialSpec


class StopReason(str, Enum):
    """Why a search ended (the ``reason`` of ``run_finished``)."""

    BUDGET = "budget"
    SPACE_EXHAUSTED = "space exhausted"
    TOO_MANY_FAILURES = "too many failures"
    STOP_CONDITION = "stop condition"
    INTERRUPTED = "interrupted"
    FINISHED_EARLIER = "finished earlier"

    __str__ = str.__str__
    __format__ = str.__format__


# The end phase (Search._end_phase, _propose_for_the_end; benchmarks/RESULTS_mpi.md section
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
# Learn then pack (Search._learn_then_pack; RESULTS_mpi.md section 13). A set's trials share
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

# A search that ended so is complete: a resumed campaign replays it instead of re-running it.
FINISHED_REASONS = (StopReason.BUDGET, StopReason.SPACE_EXHAUSTED)


class Search:
    """``budget`` sets of ``trials`` trials each over ``space``, proposed by ``strategy``.

    Failures: a failed trial is recorded and the search goes on; after
    ``max_consecutive_failures`` failed trials in a row (0: never) :attr:`stop_reason` is
    TOO_MANY_FAILURES and :attr:`failure_message` quotes the last error. A ``fatal`` result
    (a user error, e.g. an objective that cannot be built) raises :class:`UserError` at once,
    unrecorded. ``rng``: one random stream for every proposal (None: a stream per proposal
    from the seed and the next set id, so a resumed search proposes what the uninterrupted
    one would have). ``clock`` stamps the events (the simulator's is virtual).
    """

    def __init__(self, space, strategy, *, budget: int, trials: int, seed: int = 0, journal: J.Journal | None = None,
                 min_trials: int | None = None, budget_trainings: int | None = None, confirm: int = 0,
                 k_std: float = 0.0, min_ok_trials: int = 1, max_consecutive_failures: int = 0,
                 early_stopping: EarlyStopping | None = None, stage: str | None = None,
                 clock: Callable[[], float] = time.time, rng: np.random.Generator | None = None,
                 checkpoint_dir: str | None = None, confirm_end_rule: bool = True, last_round: bool = True,
                 probes: bool | None = None):
        self.space, self.strategy, self.journal = space, strategy, journal
        self.budget, self.trials, self.seed = budget, trials, seed
        # adaptive repeats (racing.py): a new set gets min_trials, top-ups up to ``trials``
        self.min_trials = min_trials if min_trials is not None and min_trials < trials else trials
        self.budget_trainings, self.confirm = budget_trainings, confirm
        adaptive = self.min_trials < trials
        self.racing = Racing(k_std, space) if adaptive or confirm else None
        self.top_up_share = SHARE
        # False: confirmation trials start whenever a regular trial is out, and the run waits
        # for them (the rule before the end rule; kept to measure against, bench_scaling.py)
        self.confirm_end_rule = confirm_end_rule
        # the end phase (_end_phase): the last rounds of new sets are steered toward
        # candidates expected to end before the running work does
        self.last_round = last_round
        # learn then pack (PROBES): None until a Driver says whether its executor runs
        # single trials anywhere (trial level); off for AskTell and groups-only executors
        self.probes = probes
        self._held: dict[int, list[int]] = {}  # set id -> its owed trials (held back, not out)
        self._probe_start: dict[int, float] = {}  # set id with owed trials -> when its probe was asked
        self._rungs = False  # a set with a resource was submitted: a multi-fidelity search
        self.min_ok_trials, self.max_consecutive_failures = min_ok_trials, max_consecutive_failures
        self.stage, self.clock, self.rng = stage, clock, rng
        self.history = History()
        self.stopper = early_stopping.stopper() if early_stopping is not None else None
        self.consecutive_failures = 0
        self.failure_message = ""
        self.n_started = 0  # sets of this stage submitted so far (a resumed history's included)
        self.n_trainings = 0  # trials of this stage started (top-ups included, confirmation trials not)
        self.n_top_ups = 0  # of which top-ups (trials_added that are not confirmation trials)
        self.n_confirm = 0  # confirmation trials started
        self.version = 0  # changes with every result: the racing rule's cache key
        # trials out (asked, not back) -> the time they were asked, and the durations of the
        # trials back (durations.py): the end of the campaign (_confirm_fits, _end_phase) is
        # read from them; both are rebuilt by a replay
        self._out: dict[tuple[int, int], float] = {}
        self.durations = TrialDurations(space)
        self._quantile = END_QUANTILE  # of the end phase's last choice (journalled as expected_end)
        # multi-fidelity promotions continue from their lower rung's checkpoints (checkpoints.py)
        self.checkpoints = CheckpointStore(checkpoint_dir) if checkpoint_dir else None

    # --- events: the one way the state changes -------------------------------------------------
    def _emit(self, kind: str, **fields) -> SetRecord | None:
        """Write one event to the journal (first: the journal is the truth), then apply it."""
        event = {"event": kind, "time": self.clock(), **fields}
        if self.journal is not None:
            self.journal.write(event)
        return self.apply(event)

    def apply(self, event: dict) -> SetRecord | None:
        """Apply one event, live or replayed: the History (journal.apply) and the search's own
        bookkeeping (sets started, the failure streak, the early-stopping curves)."""
        kind = event.get("event")
        if kind == J.CAMPAIGN:  # a (re)start: the failure streak begins again
            self.consecutive_failures, self.failure_message = 0, ""
        repeat = kind == J.TRIAL_FINISHED and self._has_trial(event)
        rec = J.apply(self.history, event)
        if kind in (J.TRIAL_FINISHED, J.SET_FINISHED):
            self.version += 1  # what the race is decided from changed
        ours = rec is not None and (self.stage is None or rec.stage == self.stage)
        if kind == J.SET_SUBMITTED and rec is not None and rec.resource is not None:
            self._rungs = True
        if kind == J.SET_SUBMITTED and ours:
            self.n_started += 1
            self.n_trainings += rec.n_trials
        elif kind == J.TRIALS_ADDED and ours:
            added = len(event["seeds"])
            if event.get("purpose") == J.CONFIRM:
                self.n_confirm += added
            else:
                self.n_trainings += added
                self.n_top_ups += added
        elif kind == J.TRIAL_FINISHED and not repeat:
            self._count_trial(rec.trials[event["trial"]])
        self._track_out(kind, event)
        return rec

    def _track_out(self, kind: str, event: dict) -> None:
        """Keep :attr:`_out` and the duration totals (called after journal.apply checked
        the event, so its fields are sound)."""
        if kind in (J.SET_SUBMITTED, J.TRIALS_ADDED):
            trials = event.get("trials")
            if trials is None:  # journals before trial indices: the set's first len(seeds)
                trials = range(self.history.sets[event["set_id"]].n_trials - len(event["seeds"]),
                               self.history.sets[event["set_id"]].n_trials)
            for t in trials:
                self._out[(event["set_id"], t)] = float(event.get("time") or 0.0)
            self._track_held(kind, event, trials)
        elif kind == J.TRIAL_FINISHED:
            if self._out.pop((event["set_id"], event["trial"]), None) is not None:
                started, finished = event.get("started"), event.get("finished")
                # a trial told without times (or of 0 s: AskTell by hand) says nothing of durations
                if isinstance(started, (int, float)) and isinstance(finished, (int, float)) and finished > started:
                    rec = self.history.sets[event["set_id"]]
                    self.durations.add(rec.set_id, rec.params, finished - started)

    def _track_held(self, kind: str, event: dict, trials) -> None:
        """A probe (set_submitted with ``probe``) holds the set's trials it does not list; a
        later set_submitted of the set (owed trials released, or a resume) lists those it
        sends out."""
        sid = event["set_id"]
        if kind == J.SET_SUBMITTED and event.get("probe"):
            held = [t for t in range(len(event["seeds"])) if t not in set(trials)]
            if held:
                self._held[sid] = held
                self._probe_start[sid] = float(event.get("time") or 0.0)
        elif sid in self._held:
            left = [t for t in self._held[sid] if t not in set(trials)]
            if left:
                self._held[sid] = left
            else:
                del self._held[sid]
                self._probe_start.pop(sid, None)

    def _has_trial(self, event: dict) -> bool:
        set_id, trial = event.get("set_id"), event.get("trial")
        if not isinstance(set_id, int) or not isinstance(trial, int):
            return False  # journal.apply says what is wrong with it
        rec = self.history.sets.get(set_id)
        return rec is not None and trial in rec.trials

    def _count_trial(self, trial) -> None:
        if self.stopper is not None:
            self.stopper.add(trial.ok, trial.info)
        self.consecutive_failures = 0 if trial.ok else self.consecutive_failures + 1
        if self.max_consecutive_failures and self.consecutive_failures >= self.max_consecutive_failures \
                and not self.failure_message:
            last = (trial.error or "").strip().splitlines()
            self.failure_message = (f"stopped after {self.consecutive_failures} failed trials in a row "
                                    f"(max_consecutive_failures); last error: {last[-1] if last else '?'}")

    def replay(self, numbered: Iterable[tuple[int, dict]], where: str = "journal event") -> None:
        """Apply the events of a journal (``(line number, event)`` pairs, see
        journal.iter_lines); a bad event or a set whose params are not a point of the space
        is a JournalError naming ``where`` and the line."""
        for n, ev in numbered:
            try:
                rec = self.apply(ev)
            except J.EventError as exc:
                raise J.JournalError(f"{where} {n}: {exc}") from None
            if ev.get("event") == J.SET_SUBMITTED and rec is not None:
                try:
                    self.space.encode(rec.params)
                except (ValueError, TypeError) as exc:
                    raise J.JournalError(f"{where} {n}: set {rec.set_id} is not a point of the space ({exc})") from None

    # --- the run's own events ------------------------------------------------------------------
    def start(self, header: dict, stage_event: dict | None = None) -> None:
        """Journal the start (or resume) of a run: ``campaign`` with ``header``, and a
        staged campaign's ``stage_started``."""
        if self.checkpoints is not None and not header.get("resumed"):
            self.checkpoints.clear()  # an earlier run's files in this directory are not this run's
        self._emit(J.CAMPAIGN, **header)
        if stage_event is not None:
            self._emit(J.STAGE_STARTED, **stage_event)

    def end(self, reason: StopReason, **fields) -> None:
        if self.checkpoints is not None and StopReason(reason) in FINISHED_REASONS:
            self.checkpoints.clear()  # nothing is promoted any more (an interrupted run keeps them)
        self._emit(J.RUN_FINISHED, reason=StopReason(reason), n_finished=self.history.n_finished, **fields)

    # --- ask ------------------------------------------------------------------------------------
    @property
    def trainings_left(self) -> float:
        """Trials the budget in trainings still allows (inf without one)."""
        return math.inf if self.budget_trainings is None else max(0, self.budget_trainings - self.n_trainings)

    @property
    def budget_left(self) -> int:
        """New sets the budget still allows (0 once the trainings are spent too)."""
        return max(0, self.budget - self.n_started) if self.trainings_left > 0 else 0

    def may_ask(self) -> bool:
        """Whether :meth:`ask` can hand out anything: a new set, or (adaptive repeats,
        confirmation trials) more trials of an earlier set."""
        return self.budget_left > 0 or bool(self._held) or \
            (self.racing is not None and (self.confirm > 0 or self.trainings_left > 0))

    @property
    def stop_reason(self) -> StopReason | None:
        """TOO_MANY_FAILURES once the failure policy says stop; None while the search may go on."""
        return StopReason.TOO_MANY_FAILURES if self.failure_message else None

    def ask(self, n: int) -> list[TrialSpec]:
        """Up to ``n`` TrialSpecs: top-ups of sets in the race (adaptive repeats, one trial
        each), then one per proposal of the strategy: a new set with its trials (``min``
        with adaptive repeats, fewer if the trainings left are fewer), or more trials of an
        earlier set (a Proposal with ``set_id``); in the end phase with single-trial
        placement, probes and owed trials too (:meth:`_learn_then_pack`: a spec per trial, up
        to ``min_trials`` per slot); then confirmation trials when no new set may start, no
        trial is owed and regular trials are still running (several per contender, each
        expected to end before the regular work does: :meth:`_confirmations`). Fewer, or
        none, when there is nothing to do now."""
        if n <= 0:
            return []
        self.durations.censor()  # the running trials count in this ask's fit only if _end_phase says so
        specs = [self.extend(sid, 1, J.RACE) for sid in self._top_ups(n)]
        n_new = min(n - len(specs), self.budget_left)
        if self.budget_trainings is not None:  # each new set takes min trials (the last one fewer)
            n_new = min(n_new, math.ceil(self.trainings_left / self.min_trials))
        if n_new > 0 or self._held:
            rng = self.rng if self.rng is not None else strategy_rng(self.seed, self.history.next_id())
            # not for multi-fidelity searches or early stopping: their trials' durations are
            # set by rungs and stops, not by the parameters alone
            steer = self.last_round and not self._rungs and self.stopper is None
            phase = self._end_phase(n - len(specs)) if steer else None
            if phase is not None and self._probing():
                # a new set may take one place of a slot (a probe): up to min_trials per slot
                n_new = min((n - len(specs)) * self.min_trials, self.budget_left,
                            math.ceil(min(self.trainings_left, 1e12) / self.min_trials))
                specs += self._learn_then_pack(n - len(specs), n_new, rng, phase)
            else:
                specs += self._new_sets(n_new, rng, phase)
                specs += self._release_all(n - len(specs))  # held, and no end phase to place them
        if len(specs) < n and self.confirm and self.budget_left == 0 and not self._held:
            specs += self._confirmations(n - len(specs))
        return specs

    def _probing(self) -> bool:
        """Learn then pack is on: single trials can run anywhere, the end phase is on, and
        a set has more than one trial to learn from its first. Not with adaptive repeats:
        there the race gives a set its further trials from its results, and probes (each
        taking a new set's trainings at once) spent a budget in trainings before any set
        was back to race (a real mpiexec campaign: 8 probes, 0-2 top-ups instead of 6-9)."""
        return bool(PROBES and self.probes and self.last_round and 1 < self.min_trials == self.trials)

    def _new_sets(self, n_new: int, rng, phase) -> list[TrialSpec]:
        """``n_new`` new sets (or extensions) as the strategy proposes them, or as the end
        phase chooses them (``phase``: :meth:`_end_phase`'s)."""
        if n_new <= 0:
            return []
        end = None
        if phase is None:
            props = self.strategy.propose(self.history, n_new, rng)[:n_new]
        else:
            props, end = self._propose_for_the_end(n_new, rng, phase)
        return [self._submit_proposal(prop, end) for prop in props]

    def _submit_proposal(self, prop, end: float | None, probe: bool = False) -> TrialSpec:
        if not isinstance(prop, Proposal):
            prop = Proposal(prop)
        return self.extend(prop.set_id, prop.n_trials) if prop.extends else self._new_set(prop, end, probe)

    def _confirmations(self, n: int) -> list[TrialSpec]:
        """Confirmation trials for ``n`` free slots (a slot holds a set of ``min_trials``), at
        most ``confirm`` per set, several per contender at once, each one only when it is
        expected to end before the regular trials still out do (so the campaign ends with
        its last regular trial, not with a confirmation trial started at the last moment).
        Specs of at most ``min_trials`` trials, so that they fit where a new set would."""
        fits = self._confirm_fits()
        if fits is None:
            return []
        if not self.confirm_end_rule:
            fits = None
        per = max(1, self.min_trials)
        out = []
        for sid, k in self.racing.confirmations(self.history, self.version, self.confirm, n * per, fits):
            for first in range(0, k, per):
                out.append(self.extend(sid, min(per, k - first), J.CONFIRM))
        return out

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
        """The end phase: once the sets left to start fill at most ``END_ROUNDS`` rounds of
        the slots (the ``n`` free ones and those the trials out hold; a slot is
        ``min_trials`` trials, as the executors count them), returns (now, the projected end
        of every regular trial out, the workers: ``n`` slots' worth plus the trials out);
        else None (also while no duration is known or nothing runs)."""
        per = max(1, self.min_trials)
        # cheap: no scan far from the end; held trials exist only in the end phase, which
        # then stays on (probes out are single trials: fewer trials out, not fewer slots)
        if not self._held and self.budget_left > END_ROUNDS * (n + len(self._out) // per):
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

    def _resubmit(self, rec: SetRecord, trials: list[int], **fields) -> TrialSpec:
        """Send out ``trials`` of an existing set (owed trials, a resume's missing ones): a
        set_submitted of the set that lists them, with its seeds and multi-fidelity fields."""
        mf = {f: getattr(rec, f) for f in ("resource", "rung", "bracket", "config_id") if getattr(rec, f) is not None}
        self._emit(J.SET_SUBMITTED, set_id=rec.set_id, params=rec.params, seeds=rec.seeds, trials=trials,
                   stage=rec.stage, **fields, **mf)
        return self._spec(rec, trials)

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

    def over(self) -> bool:
        """Nothing in flight, and nothing left to ask (no new set, no top-up)."""
        return not self.history.pending and self.budget_left == 0 and not self._top_ups(1)

    def _top_ups(self, n: int) -> list[int]:
        """The sets the race tops up now (racing.py), within ``n``, the trainings left, and
        the share of trainings top-ups may take while new sets can still start."""
        if self.racing is None or self.min_trials >= self.trials:
            return []
        allow = min(n, self.trainings_left)
        if self.budget_left > 0:  # balance against exploration
            allow = min(allow, math.floor(self._share() * (self.n_trainings + n)) - self.n_top_ups)
        if allow <= 0:
            return []
        return self.racing.top_ups(self.history, self.version, self.trials)[:int(allow)]

    def _share(self) -> float:
        """The share of the trainings top-ups may take so far: ``top_up_share``, or with
        "ramp" and a budget in trainings the fraction of that budget spent (explore first,
        race as the budget runs out: top-ups take every trial once half of it is spent)."""
        if self.top_up_share != "ramp":
            return self.top_up_share
        if self.budget_trainings is None:
            return SHARE
        return min(1.0, self.n_trainings / self.budget_trainings)

    def _new_set(self, prop: Proposal, deadline: float | None = None, probe: bool = False) -> TrialSpec:
        """Submit a new set; ``deadline``: the end phase's projected end it was chosen for,
        journalled with the end expected of it (for the record and the benchmarks: the
        set's params are what a resume needs). ``probe``: send out its first trial only, the
        others are held (owed, :meth:`_release`)."""
        set_id = self.history.next_id()
        # a multi-fidelity evaluation belongs to a configuration; its rung-0 set id names it
        config_id = prop.config_id if prop.config_id is not None else (set_id if prop.resource is not None else None)
        n_trials = int(min(self.min_trials, self.trainings_left))  # the last set may get fewer
        seeds = trial_seeds(self.seed, set_id if config_id is None else config_id, n_trials)
        mf = {"resource": prop.resource, "rung": prop.rung, "bracket": prop.bracket, "config_id": config_id}
        trials = list(range(1 if probe else n_trials))
        rec = self._emit(J.SET_SUBMITTED, set_id=set_id, params=dict(prop.params), seeds=seeds, trials=trials,
                         stage=self.stage, **{k: v for k, v in mf.items() if v is not None},
                         **({"probe": True} if probe and n_trials > 1 else {}),
                         **(self._end_fields(prop.params, deadline) if deadline is not None else {}))
        return self._spec(rec, trials)

    def _end_fields(self, params: dict, deadline: float) -> dict:
        d = self.durations.quantile(params, self._quantile)
        return {"deadline": deadline, **({"expected_end": self.clock() + d} if d is not None else {})}

    def extend(self, set_id: int, n_trials: int, purpose: str | None = None) -> TrialSpec:
        """Ask for ``n_trials`` more trials of set ``set_id`` (adaptive repeats, confirmation
        trials): they take the next trial indices and continue the set's seed sequence; the
        set is pending until they are back. Does not count against the budget of sets;
        counts against a budget in trainings unless ``purpose`` is confirm."""
        if set_id not in self.history.sets:
            raise ValueError(f"set {set_id} does not exist")
        if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
            raise ValueError(f"n_trials must be an integer >= 1, got {n_trials!r}")
        rec = self.history.sets[set_id]
        first = rec.n_trials
        seeds = trial_seeds(self.seed, rec.lineage, n_trials, first)
        trials = list(range(first, first + n_trials))
        self._emit(J.TRIALS_ADDED, set_id=set_id, seeds=seeds, trials=trials,
                   **({"purpose": purpose} if purpose else {}))
        return self._spec(rec, trials)

    def _spec(self, rec: SetRecord, trials: list[int]) -> TrialSpec:
        if self.stopper is not None:
            fidelity = self.stopper.fidelity(rec.resource)
        else:
            fidelity = Fidelity(rec.resource) if rec.resource is not None else None
        if self.checkpoints is not None and rec.config_id is not None:
            fidelity = replace(fidelity or Fidelity(), checkpoint=self.checkpoints.config_dir(rec.config_id))
        return TrialSpec(rec.set_id, rec.params, tuple(trials), tuple(rec.seeds[t] for t in trials), fidelity)

    def resume(self) -> list[TrialSpec]:
        """After a replay: the missing trials of every pending set, with the seeds they had
        (a pending set whose trials are all back is finished now). Owed trials (learn then
        pack) stay held when this run places them too, else they go out with the others."""
        specs = []
        if not self._probing():
            self._held.clear()
        for rec in self.history.pending:
            held = set(self._held.get(rec.set_id, ()))
            missing = [t for t in rec.missing_trials if t not in held]
            if held and not missing:
                continue
            if missing:
                specs.append(self._resubmit(rec, missing))
            else:
                self._finish(rec)
        return specs

    # --- tell -----------------------------------------------------------------------------------
    def tell(self, res: TrialResult) -> SetRecord | None:
        """Record one trial's result; returns its set if this result finished it."""
        if res.fatal:
            raise UserError(res.error.removeprefix("error: ") if res.error else "the objective failed")
        rec = self._emit(J.TRIAL_FINISHED, set_id=res.set_id, trial=res.trial, seed=res.seed, score=res.score,
                         error=res.error, worker=res.worker, device=res.device, started=res.started,
                         finished=res.finished, wall_time=res.wall_time, info=res.info)
        if rec.state == PENDING and not rec.missing_trials:
            self._finish(rec)
            return rec
        return None

    def _finish(self, rec: SetRecord) -> None:
        state = DONE if rec.n_ok >= self.min_ok_trials else FAILED
        self._emit(J.SET_FINISHED, set_id=rec.set_id, state=state, mean=rec.mean if rec.n_ok else None,
                   std=rec.std if rec.n_ok else None, n_ok=rec.n_ok)
        if self.checkpoints is not None:
            self.checkpoints.prune(self.history, self.strategy)


class _Owed:
    """The owed trials of one ask (:meth:`Search._learn_then_pack`): per set with trials
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
