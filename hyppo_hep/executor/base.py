"""What crosses executor (and MPI) boundaries, and the one function that runs a trial.

The unit of work is a set: a :class:`TrialSpec` names the trials of ONE set that one worker
group must run (all of them, or the missing ones after a resume). Results come back one
:class:`TrialResult` per trial, in completion order. A slot is one worker group; it is free
again once every trial of its set has come back.
"""

from __future__ import annotations

import math
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Protocol

from hyppo_hep.errors import UserError
from hyppo_hep.fidelity import Fidelity, StopTrial, trial_context


@dataclass(frozen=True)
class TrialSpec:
    """The trials ``trials`` (with their ``seeds``) of set ``set_id`` with ``params``."""

    set_id: int
    params: dict
    trials: tuple[int, ...]
    seeds: tuple[int, ...]
    # Epoch budget and median-rule curve of these trials (multi-fidelity / early stopping);
    # None: the objective trains as it likes. Decided at submission, so workers need no
    # further message to stop a trial.
    fidelity: Fidelity | None = None


@dataclass(frozen=True)
class TrialResult:
    set_id: int
    trial: int
    seed: int
    score: float | None  # None when the trial failed; then ``error`` says why
    error: str | None = None
    worker: Any = None
    device: str = "cpu"
    started: float = 0.0
    finished: float = 0.0
    info: dict = field(default_factory=dict)
    # A user error (objective that cannot be built, missing data file): it would fail every
    # trial alike, so the driver stops the run with exit status 2 instead of recording it.
    fatal: bool = False

    @property
    def ok(self) -> bool:
        return self.score is not None

    @property
    def wall_time(self) -> float:
        return self.finished - self.started


class Executor(Protocol):
    n_slots: int

    def submit(self, spec: TrialSpec) -> None: ...

    def poll(self, timeout: float | None = None) -> list[TrialResult]: ...

    def close(self) -> None: ...


def worker_name(rank: int | str = 0) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{rank}"


def run_trial(objective, params: dict, set_id: int, trial: int, seed: int, device: str, worker: Any,
              clock=time.time, fidelity: Fidelity | None = None) -> TrialResult:
    """Call the objective for one trial and turn whatever happens into a TrialResult.

    A raised exception (also ``sys.exit`` in user code), or a score that is not a finite
    number, is a failed trial (the traceback or the value is kept in ``error``); the caller
    carries on either way. A :class:`UserError` is returned as a ``fatal`` result (see
    TrialResult). KeyboardInterrupt and the run's own interrupts (BaseExceptions) propagate.
    The trial runs inside a fidelity context (see fidelity.py): epochs reported by the
    objective are recorded in ``info`` and the trial can be stopped at its ``fidelity``
    budget or by the median rule; a training stopped by :class:`StopTrial` scores its best
    reported epoch.
    """
    started = clock()
    info: dict = {}
    with trial_context(fidelity) as ctx:
        try:
            try:
                out = objective(params, trial, seed, device)
            except StopTrial:
                out = ctx.best_score()
            if isinstance(out, dict):
                info = {k: v for k, v in out.items() if k != "score"}
                out = out.get("score")
            if ctx.epoch_scores:
                info = {**ctx.info(), **info}
            score = float(out)
            if not math.isfinite(score):
                return TrialResult(set_id, trial, seed, None, f"non-finite score: {score!r}", worker, device,
                                   started, clock(), info)
        except UserError as exc:
            return TrialResult(set_id, trial, seed, None, str(exc), worker, device, started, clock(), info,
                               fatal=True)
        except (Exception, SystemExit):  # noqa: BLE001 — any error of user code is the trial's, not the run's
            if ctx.epoch_scores:
                info = {**ctx.info(), **info}
            return TrialResult(set_id, trial, seed, None, traceback.format_exc(limit=20), worker, device,
                               started, clock(), info)
    return TrialResult(set_id, trial, seed, score, None, worker, device, started, clock(), info)
