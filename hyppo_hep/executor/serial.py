"""In-process executor: one slot, trials run one by one inside poll(). Deterministic.

With ``isolation`` other than ``none`` each trial runs in a child process instead (see
executor/isolation.py); ``timeout`` is the per-trial wall-time limit in seconds.
"""

from __future__ import annotations

from collections import deque

from hyppo_hep.trial import TrialResult, TrialSpec
from hyppo_hep.executor.isolation import TrialRunner


class SerialExecutor:
    n_slots = 1

    def __init__(self, objective_ref, device: str | None = None, *, timeout: float | None = None,
                 isolation: str = "none"):
        self.objective_ref = objective_ref
        self._runner = TrialRunner(objective_ref, isolation=isolation, timeout=timeout, device=device)
        self._queue: deque[tuple[TrialSpec, int, int]] = deque()

    def submit(self, spec: TrialSpec) -> None:
        self._queue.extend((spec, t, s) for t, s in zip(spec.trials, spec.seeds))

    def poll(self, timeout: float | None = None) -> list[TrialResult]:
        """Run the next queued trial and return its result ([] when nothing is queued)."""
        if not self._queue:
            return []
        spec, trial, seed = self._queue.popleft()
        return [self._runner.run(spec.params, spec.set_id, trial, seed, spec.fidelity)]

    def close(self) -> None:
        self._queue.clear()
        self._runner.close()
