"""The executor protocol and the one function that runs a trial.

The unit of work is a :class:`~hyppo_hep.trial.TrialSpec`: trials of ONE set that one worker
group must run. Results come back one :class:`~hyppo_hep.trial.TrialResult` per trial, in
completion order. A slot is one worker group; it is free again once every trial of its
spec has come back. (TrialSpec and TrialResult live in trial.py; they are re-exported here
for code written before the move.)
"""

from __future__ import annotations

import math
import os
import socket
import time
import traceback
from typing import Any, Protocol

from hyppo_hep.errors import UserError
from hyppo_hep.fidelity import Fidelity, StopTrial, trial_context
from hyppo_hep.trial import TrialResult, TrialSpec

__all__ = ["Executor", "TrialResult", "TrialSpec", "run_trial", "worker_name"]


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
    with trial_context(fidelity, trial, seed) as ctx:
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
