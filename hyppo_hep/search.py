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
from typing import Callable, Iterable

import numpy as np

from hyppo_hep import journal as J
from hyppo_hep.checkpoints import CheckpointStore
from hyppo_hep.durations import TrialDurations
from hyppo_hep.end_phase import END_QUANTILE, EndPhase
from hyppo_hep.errors import UserError
from hyppo_hep.fidelity import EarlyStopping, Fidelity
from hyppo_hep.history import DONE, FAILED, PENDING, History, SetRecord
from hyppo_hep.racing import SHARE, Racing
from hyppo_hep.seeding import strategy_rng, trial_seeds
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


# A search that ended so is complete: a resumed campaign replays it instead of re-running it.
FINISHED_REASONS = (StopReason.BUDGET, StopReason.SPACE_EXHAUSTED)


class Search(EndPhase):
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

    def _new_sets(self, n_new: int, rng, phase) -> list[TrialSpec]:
        """``n_new`` new sets (or extensions) as the strategy proposes them, or as the end
        phase chooses them (``phase``: :meth:`_end_phase`'s)."""
        if n_new <= 0:
            return []
        unstarted = getattr(self.strategy, "unstarted", None)  # strategy/start.py: the user's known sets
        if phase is not None and unstarted is not None and unstarted(self.history):
            phase = None  # they run as given: the end phase must not trade them for shorter candidates
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

    def _resubmit(self, rec: SetRecord, trials: list[int], **fields) -> TrialSpec:
        """Send out ``trials`` of an existing set (owed trials, a resume's missing ones): a
        set_submitted of the set that lists them, with its seeds and multi-fidelity fields."""
        mf = {f: getattr(rec, f) for f in ("resource", "rung", "bracket", "config_id") if getattr(rec, f) is not None}
        self._emit(J.SET_SUBMITTED, set_id=rec.set_id, params=rec.params, seeds=rec.seeds, trials=trials,
                   stage=rec.stage, **fields, **mf)
        return self._spec(rec, trials)

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
