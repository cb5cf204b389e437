"""A simulated cluster with a virtual clock: the real Search and strategy, modelled trial times.

Scaling questions (how fast is a search on 80, 800 or 8000 GPUs? what does the master's
proposal time cost?) are answered without the hardware: :class:`SimulatedExecutor` has the
MPI executor's shape (``n_groups`` groups of ``group_size`` workers, trials of a set
round-robin on its group, a new set the moment a group is free) but its trials take the
time a :class:`DurationModel` says, on a virtual clock. The objective is still evaluated
(for real, instantly), so the strategy sees real scores.

The master's own work is real: every second the driver and strategy spend between two
calls into the executor (proposing, journalling) is charged to the virtual clock, so a
slow proposal shows up as idle groups, as it would on a cluster. It is measured as the
process's CPU time by default (``proposal_clock``; ``time.perf_counter`` for wall time),
so that other programs on a shared machine do not inflate it; a master that waits on I/O
or uses several BLAS threads is better measured with wall time. The executor's own
bookkeeping is not charged. Pass ``executor.clock`` to the Search so that set and trial
times are virtual seconds.

Modes (see :func:`simulate`): serial (1 group of 1), one level (1 group of ``trials``
workers: trials in parallel, sets one after another), nested synchronous (all groups, but
results released only when every group is done: batches), nested asynchronous (the MPI
executor's behaviour).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import random
import time
from dataclasses import dataclass, replace

from hyppo_hep.driver import Driver
from hyppo_hep.executor.base import run_trial
from hyppo_hep.executor.slots import Slots
from hyppo_hep.search import Search
from hyppo_hep.trial import TrialResult, TrialSpec


@dataclass(frozen=True)
class DurationModel:
    """Trial duration in virtual seconds::

        base * (params[size_param] / size_ref) ** size_power * S * T

    with S ~ LogNormal(-sigma_set²/2, sigma_set) drawn once per set (from its params: the
    trials of a set train the same network for the same epochs) and T ~ LogNormal(
    -sigma_trial²/2, sigma_trial) per trial (from its seed). Both factors have mean 1, so
    ``base`` is the mean duration of a set of reference size. Deterministic.
    """

    base: float = 1200.0
    sigma_set: float = 0.3
    sigma_trial: float = 0.05
    size_param: str | None = None
    size_ref: float = 1.0
    size_power: float = 1.0

    def __call__(self, params: dict, trial: int, seed: int) -> float:
        d = self.base
        if self.size_param is not None:
            d *= (float(params[self.size_param]) / self.size_ref) ** self.size_power
        # random.Random: seeding it costs microseconds, a numpy Generator tens of them,
        # and a simulation at 8000 workers draws a hundred thousand of these.
        if self.sigma_set:
            digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).digest()
            z = random.Random(digest).gauss(0.0, 1.0)
            d *= math.exp(self.sigma_set * z - self.sigma_set**2 / 2)
        if self.sigma_trial:
            z = random.Random(seed * 0x9E3779B1 + 0xD0A7).gauss(0.0, 1.0)
            d *= math.exp(self.sigma_trial * z - self.sigma_trial**2 / 2)
        return d


class SimulatedExecutor:
    """``n_groups`` worker groups of ``group_size`` workers on a virtual clock (seconds).

    ``objective`` is an ObjectiveRef (built once) or a callable. ``charge_proposals``:
    charge the master's real time between executor calls to the virtual clock, scaled by
    ``proposal_scale`` (e.g. 10 for a master 10x slower than this machine).
    ``proposal_cost``: extra virtual seconds per submitted set (a model of a surrogate fit
    too slow to run here). ``proposal_clock``: how the master's time is measured.
    ``synchronous``: release results only when every busy group is done (batch-synchronous
    nesting, for comparison). ``trial_level``: the MPI executor's placement rule (slots.py,
    shared with it); False places whole specs on whole groups only (the rule before issue 16).
    """

    def __init__(self, objective, n_groups: int, group_size: int, durations: DurationModel | None = None, *,
                 synchronous: bool = False, charge_proposals: bool = True, proposal_scale: float = 1.0,
                 proposal_cost: float = 0.0, proposal_clock=time.process_time, trial_level: bool = True):
        self.objective = objective.build() if hasattr(objective, "build") else objective
        self.n_groups, self.group_size = int(n_groups), int(group_size)
        self.n_workers = self.n_groups * self.group_size
        workers = list(range(self.n_workers))
        self.slots = Slots([workers[i:i + self.group_size] for i in range(0, self.n_workers, self.group_size)],
                           trial_level=trial_level)
        self.durations = durations or DurationModel()
        self.synchronous = synchronous
        self.charge_proposals, self.proposal_scale, self.proposal_cost = charge_proposals, proposal_scale, proposal_cost
        self.now = 0.0  # virtual seconds
        self.busy = 0.0  # worker-seconds spent in trials
        self.proposal_time = 0.0  # virtual seconds charged for the master's work
        self.n_trials = 0
        self._events: list = []  # heap of (finish time, seq, TrialResult)
        self._seq = 0
        self._real = proposal_clock
        self._mark = self._real()

    @property
    def n_slots(self) -> int:
        """Sets in flight plus free capacity in sets (Slots.n_slots)."""
        return self.slots.n_slots

    @property
    def trial_level(self) -> bool:
        """Whether a free worker may run any pending trial (Slots.trial_level)."""
        return self.slots.trial_level

    # --- the virtual clock ------------------------------------------------------------------
    def _charge(self) -> None:
        """Advance the virtual clock by the master's real time since the executor last ran."""
        t = self._real()
        if self.charge_proposals:
            dt = (t - self._mark) * self.proposal_scale
            self.now += dt
            self.proposal_time += dt
        self._mark = t

    def clock(self) -> float:
        """Virtual now (seconds); pass this to the Search."""
        self._charge()
        return self.now

    # --- Executor protocol ------------------------------------------------------------------
    def submit(self, spec: TrialSpec) -> None:
        self._charge()
        self.now += self.proposal_cost
        self.proposal_time += self.proposal_cost
        self.slots.submit(spec)
        self._dispatch()
        self._mark = self._real()

    def _dispatch(self) -> None:
        """Start the trials the scheduler places; a worker runs its share back to back."""
        for spec, workers in self.slots.place():
            cursor: dict[int, float] = {}
            for trial, seed, w in zip(spec.trials, spec.seeds, workers):
                duration = self.durations(spec.params, trial, seed)
                started = cursor.get(w, self.now)
                cursor[w] = finished = started + duration
                res = run_trial(self.objective, spec.params, spec.set_id, trial, seed, "sim", f"sim:{w}",
                                fidelity=spec.fidelity)
                res = replace(res, started=started, finished=finished)
                self.busy += duration
                self.n_trials += 1
                heapq.heappush(self._events, (finished, self._seq, res))
                self._seq += 1

    def poll(self, timeout: float | None = None) -> list[TrialResult]:
        """Advance the virtual clock to the next trial completion; return every trial
        finished by then (synchronous: every trial in flight)."""
        self._charge()
        if not self._events:
            self._mark = self._real()
            return []
        until = max(self._events)[0] if self.synchronous else self._events[0][0]
        self.now = max(self.now, until)
        out = []
        while self._events and self._events[0][0] <= self.now:
            res = heapq.heappop(self._events)[2]
            self.slots.done((res.set_id, res.trial))
            out.append(res)
        self._dispatch()
        self._mark = self._real()
        return out

    def close(self) -> None:
        self.slots.queue.clear()

    # --- figures ------------------------------------------------------------------------
    def utilization(self, wall: float, n_workers: int | None = None) -> float:
        """busy worker-seconds / (workers x wall seconds)."""
        return self.busy / ((n_workers or self.n_workers) * wall) if wall > 0 else 0.0


@dataclass
class SimResult:
    mode: str
    n_groups: int
    group_size: int
    n_sets: int
    n_trials: int
    wall: float  # virtual seconds from the first proposal to the last result
    busy: float  # worker-seconds in trials
    utilization: float  # busy / (n_workers x wall)
    proposal_time: float  # virtual seconds charged for the master's work (real, scaled)
    real_time: float  # s this simulation took on this machine
    history: object = None

    @property
    def n_workers(self) -> int:
        return self.n_groups * self.group_size


MODES = ("serial", "one_level", "nested_sync", "nested_async")


def simulate(mode: str, space, strategy, objective, *, budget: int, trials: int, n_groups: int, group_size: int,
             durations: DurationModel | None = None, seed: int = 0, journal=None, search_options: dict | None = None,
             **executor_options) -> SimResult:
    """Run a whole search on a simulated cluster; ``mode`` is one of :data:`MODES`.

    serial: 1 worker; one_level: 1 group of ``group_size`` (trials of a set in parallel, sets
    one after another); nested_sync / nested_async: ``n_groups`` groups of ``group_size``.
    ``search_options``: more keyword arguments of the Search (e.g. adaptive repeats'
    ``confirm``); the rest go to :class:`SimulatedExecutor`.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r} is not one of {MODES}")
    shape = {"serial": (1, 1), "one_level": (1, group_size)}.get(mode, (n_groups, group_size))
    ex = SimulatedExecutor(objective, *shape, durations, synchronous=(mode == "nested_sync"), **executor_options)
    real0 = time.perf_counter()
    search = Search(space, strategy, budget=budget, trials=trials, seed=seed, journal=journal, clock=ex.clock,
                    **(search_options or {}))
    summary = Driver(search, ex).run()
    real = time.perf_counter() - real0
    wall = summary.wall_time
    return SimResult(mode, shape[0], shape[1], summary.n_finished, ex.n_trials, wall, ex.busy, ex.utilization(wall),
                     ex.proposal_time, real, summary.history)
