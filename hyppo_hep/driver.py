"""The pump between a Search and an executor.

Asynchronous from the start: whenever a slot is free, the Search is asked (its strategy
proposes with every pending set known), the executor runs the TrialSpecs, and results are
told back in the order they complete. Everything else (seeds, the journal, failures, early
stopping) is the Search's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from hyppo_hep.history import History, SetRecord
from hyppo_hep.search import Search, StopReason
from hyppo_hep.seeding import strategy_rng, trial_seeds  # noqa: F401 — their home before seeding.py
from hyppo_hep.trial import Proposal  # noqa: F401 — its home before trial.py


@dataclass
class RunSummary:
    history: History
    n_finished: int
    reason: StopReason
    wall_time: float
    message: str = ""


class Driver:
    """Runs ``search`` on ``executor`` until the budget is spent, the space is exhausted,
    the failure policy stops it, or ``stop_when(history)`` (e.g. a total-epoch or wall-time
    limit) is true; what is in flight when it stops stays pending in the journal, to be
    re-run by a resume. ``on_trial_finished(result, history)`` and ``on_set_finished(record,
    history)`` are called after each trial and each set (the live progress). A search
    replayed from a journal first re-runs the missing trials of its pending sets.
    Confirmation trials (search.py) are asked only while regular trials run, and only those
    expected to end before the last regular trial does; the run still waits for any in
    flight when the last regular trial is back (an estimate can be short; the journal ends
    with no set pending)."""

    def __init__(self, search: Search, executor, *, on_set_finished: Callable[[SetRecord, History], None] | None = None,
                 stop_when: Callable[[History], bool] | None = None,
                 on_trial_finished: Callable[[object, History], None] | None = None):
        self.search, self.executor = search, executor
        self.on_set_finished, self.stop_when = on_set_finished, stop_when
        self.on_trial_finished = on_trial_finished
        self._in_flight: dict[int, int] = {}  # set_id -> trials not back yet
        if search.probes is None:  # the Search's end phase may start sets one trial at a time
            # only where a free worker can take any single trial (end_phase.py, learn then pack)
            search.probes = bool(getattr(executor, "trial_level", False))

    @property
    def history(self) -> History:
        return self.search.history

    def _submit(self, specs) -> None:
        for spec in specs:
            self._in_flight[spec.set_id] = self._in_flight.get(spec.set_id, 0) + len(spec.trials)
            self.executor.submit(spec)

    def _receive(self, res) -> None:
        left = self._in_flight.get(res.set_id, 0) - 1
        if left > 0:
            self._in_flight[res.set_id] = left
        else:
            self._in_flight.pop(res.set_id, None)
        rec = self.search.tell(res)
        if self.on_trial_finished is not None:
            self.on_trial_finished(res, self.history)
        if rec is not None and self.on_set_finished is not None:
            self.on_set_finished(rec, self.history)

    def _ask(self, free: int) -> int:
        """Ask the Search for ``free`` specs at once (one strategy call, so one surrogate fit,
        for every free slot) and submit them; returns how many. When it handed out all that
        was asked and the executor still has idle workers (specs smaller than a group: more
        trials of earlier sets, as adaptive repeats and confirmation trials ask for), ask
        again: with sets the size of a group, as by default, one ask fills every free slot
        and a result that arrives meanwhile waits for one fit at most."""
        total = 0
        # rounds: each fills about a group's share of the idle workers (n_slots counts a slot
        # per group's worth begun), so 64 fill thousands; the cap stops a strategy that keeps
        # proposing trials of sets in flight, which a set-counting executor never sees fill up
        for _ in range(64):
            if free <= 0 or not self.search.may_ask():
                break
            specs = self.search.ask(free)
            self._submit(specs)
            total += len(specs)
            if len(specs) < free:
                break  # the strategy has no more for now
            free = self.executor.n_slots - len(self._in_flight)
        return total

    def run(self) -> RunSummary:
        search = self.search
        start = search.clock()
        self._submit(search.resume())
        reason = StopReason.BUDGET
        while True:
            if search.stop_reason is not None:
                reason = search.stop_reason
                break
            free = self.executor.n_slots - len(self._in_flight)
            if self.stop_when is not None and self.stop_when(self.history):
                free, reason = 0, StopReason.STOP_CONDITION
            if free > 0 and search.may_ask() and not self._ask(free) and not self._in_flight:
                # nothing left to ask: the new sets are spent (adaptive repeats: and no set
                # is in the race any more), or the strategy has no set left to propose
                reason = StopReason.BUDGET if search.budget_left == 0 else StopReason.SPACE_EXHAUSTED
                break
            if not self._in_flight:
                break
            for res in self.executor.poll(timeout=None):
                self._receive(res)
        return RunSummary(self.history, self.history.n_finished, reason, search.clock() - start,
                          search.failure_message)
