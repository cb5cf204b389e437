"""The ask / submit / poll / tell loop.

Asynchronous from the start: whenever a slot is free, the strategy proposes with every
pending set known, the executor runs the set's trials, and results are recorded in the
order they complete. The journal is written before the history is updated, so that what
the history holds is always recoverable from the journal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from hyppo_hep.errors import UserError
from hyppo_hep.executor.base import TrialResult, TrialSpec
from hyppo_hep.fidelity import EarlyStopping, Fidelity
from hyppo_hep.history import History, SetRecord, TrialRecord


def trial_seeds(seed: int, set_id: int, n_trials: int) -> list[int]:
    """Seeds of a set's trials: a pure function of (campaign seed, set id, trial index), so a
    resumed or re-run set trains with exactly the seeds it had."""
    return [int(np.random.SeedSequence([seed, set_id, t]).generate_state(1)[0]) for t in range(n_trials)]


def strategy_rng(seed: int, set_id: int = 0) -> np.random.Generator:
    """The random stream of the proposal that starts at ``set_id``: a pure function of the
    campaign seed and the set id, so a resumed serial run proposes exactly what the
    uninterrupted run proposed (for strategies whose state is rebuilt from the history)."""
    return np.random.default_rng(np.random.SeedSequence([seed, 0x5EA2C4, set_id]))


@dataclass(frozen=True)
class Proposal:
    """A proposal of a multi-fidelity strategy: ``params`` to train for ``budget`` epochs.

    ``config`` is the set_id of the configuration's rung-0 evaluation when this is a
    promotion (None for a new configuration); its trials reuse that evaluation's seeds so
    that rungs compare like with like. Ordinary strategies return plain params dicts."""

    params: dict
    budget: int | None = None
    rung: int | None = None
    bracket: int | None = None
    config: int | None = None


@dataclass
class RunSummary:
    history: History
    n_finished: int
    reason: str  # budget, space exhausted, too many failures
    wall_time: float
    message: str = ""


class Driver:
    """Runs one search: ``budget`` sets of ``trials`` trials each.

    ``on_set_finished(record, history)`` is called after each set (the CLI prints its
    progress line there). ``history`` may come from a journal replay (resume): its pending
    sets are re-submitted with only their missing trials.

    Failures: a failed trial is recorded and the run goes on; after
    ``max_consecutive_failures`` failed trials in a row (0: never) the run stops proposing,
    drops what is in flight (it stays pending in the journal, to be re-run by a resume) and
    ends with reason "too many failures". A ``fatal`` result (a user error such as an
    objective that cannot be built) raises :class:`UserError` at once, unrecorded.
    """

    def __init__(self, space, strategy, executor, journal=None, *, budget: int, trials: int, seed: int = 0,
                 min_ok_trials: int = 1, max_consecutive_failures: int = 0, history: History | None = None, stage: str | None = None,
                 on_set_finished: Callable[[SetRecord, History], None] | None = None,
                 clock: Callable[[], float] = time.time, rng: np.random.Generator | None = None,
                 early_stopping: EarlyStopping | None = None,
                 stop_when: Callable[[History], bool] | None = None):
        self.space, self.strategy, self.executor, self.journal = space, strategy, executor, journal
        self.budget, self.trials, self.seed = budget, trials, seed
        self.min_ok_trials = min_ok_trials
        self.history = history if history is not None else History()
        self.stage = stage
        self.on_set_finished = on_set_finished
        self.clock = clock
        self.rng = rng  # None: a fresh stream per proposal, see strategy_rng
        self.max_consecutive_failures = max_consecutive_failures
        self.consecutive_failures = 0
        self._stop_message = ""
        self.stopper = early_stopping.stopper() if early_stopping is not None else None
        if self.stopper is not None:
            self.stopper.add_history(self.history)  # resume: the finished trials' curves
        self.stop_when = stop_when  # e.g. a total-epoch or wall-time limit (benchmarks)
        self._in_flight: set[int] = set()
        self._n_started: int | None = None  # counted once, then kept up to date (O(1) per set)

    # --- journal helpers ----------------------------------------------------------------
    def _log(self, event: str, **fields) -> None:
        if self.journal is not None:
            self.journal.append(event, **fields)

    def _submit(self, rec: SetRecord, trials: list[int]) -> None:
        mf = {k: getattr(rec, k) for k in ("budget", "rung", "bracket", "config") if getattr(rec, k) is not None}
        self._log("set_submitted", set_id=rec.set_id, params=rec.params, seeds=rec.seeds, trials=trials,
                  stage=rec.stage, **mf)
        self._in_flight.add(rec.set_id)
        self.executor.submit(TrialSpec(rec.set_id, rec.params, tuple(trials), tuple(rec.seeds[t] for t in trials),
                                       self._fidelity(rec)))

    def _fidelity(self, rec: SetRecord) -> Fidelity | None:
        if self.stopper is not None:
            return self.stopper.fidelity(rec.budget)
        return Fidelity(rec.budget) if rec.budget is not None else None

    def propose_and_submit(self, n: int) -> int:
        """Ask the strategy for up to ``n`` sets and submit them; returns how many."""
        rng = self.rng if self.rng is not None else strategy_rng(self.seed, self.history.next_id())
        proposals = self.strategy.propose(self.history, n, rng)[:n]
        for prop in proposals:
            if not isinstance(prop, Proposal):
                prop = Proposal(prop)
            set_id = self.history.next_id()
            config = prop.config if prop.config is not None else (set_id if prop.budget is not None else None)
            seeds = trial_seeds(self.seed, set_id if config is None else config, self.trials)
            rec = SetRecord(set_id, dict(prop.params), seeds, self.clock(), stage=self.stage, budget=prop.budget,
                            rung=prop.rung, bracket=prop.bracket, config=config)
            self.history.add_set(rec)
            if self._n_started is not None:
                self._n_started += 1
            self._submit(rec, list(range(self.trials)))
        return len(proposals)

    def record(self, res: TrialResult) -> None:
        """Journal one trial result, update the history, and finish its set if complete."""
        if res.fatal:
            raise UserError(res.error.removeprefix("error: ") if res.error else "the objective failed")
        self._log("trial_finished", set_id=res.set_id, trial=res.trial, seed=res.seed, score=res.score,
                  error=res.error, worker=res.worker, device=res.device, started=res.started,
                  finished=res.finished, wall_time=res.wall_time, info=res.info)
        self.history.add_trial(res.set_id, TrialRecord(res.trial, res.seed, res.score, res.error, res.worker,
                                                       res.device, res.started, res.finished, res.info))
        if self.stopper is not None:
            self.stopper.add(res.ok, res.info)
        rec = self.history.sets[res.set_id]
        if not rec.missing_trials:
            self._finish(rec)
        self.consecutive_failures = 0 if res.ok else self.consecutive_failures + 1
        if self.max_consecutive_failures and self.consecutive_failures >= self.max_consecutive_failures \
                and not self._stop_message:
            last = (res.error or "").strip().splitlines()
            self._stop_message = (f"stopped after {self.consecutive_failures} failed trials in a row "
                                  f"(max_consecutive_failures); last error: {last[-1] if last else '?'}")

    def _finish(self, rec: SetRecord) -> None:
        self.history.complete(rec.set_id, self.min_ok_trials, self.clock())
        self._in_flight.discard(rec.set_id)
        self._log("set_finished", set_id=rec.set_id, state=rec.state,
                  mean=rec.mean if rec.n_ok else None, std=rec.std if rec.n_ok else None, n_ok=rec.n_ok)
        if self.on_set_finished is not None:
            self.on_set_finished(rec, self.history)

    # --- the loop -----------------------------------------------------------------------
    def n_started(self) -> int:
        """Sets of this stage proposed so far (including those of a resumed history)."""
        if self._n_started is None:
            self._n_started = sum(1 for r in self.history.sets.values() if self.stage is None or r.stage == self.stage)
        return self._n_started

    def run(self) -> RunSummary:
        start = self.clock()
        # Resume: finish what was in flight with the same seeds, running only the trials
        # the journal does not have (executors queue sets beyond their slots).
        for rec in self.history.pending:
            if rec.missing_trials:
                self._submit(rec, rec.missing_trials)
            else:
                self._finish(rec)
        reason = "budget"
        while True:
            if self._stop_message:
                reason = "too many failures"
                break
            free = self.executor.n_slots - len(self._in_flight)
            wanted = min(free, self.budget - self.n_started())
            if self.stop_when is not None and self.stop_when(self.history):
                wanted, reason = 0, "stop condition"
            if wanted > 0 and self.propose_and_submit(wanted) == 0 and not self._in_flight:
                reason = "space exhausted"
                break
            if not self._in_flight:
                break
            for res in self.executor.poll(timeout=None):
                self.record(res)
        done = sum(1 for r in self.history.sets.values() if r.state != "pending")
        return RunSummary(self.history, done, reason, self.clock() - start, self._stop_message)
