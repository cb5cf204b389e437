"""In-process executor: one slot, trials run one by one inside poll(). Deterministic."""

from __future__ import annotations

from collections import deque

from hyppo_hep.device import pick_device
from hyppo_hep.executor.base import TrialResult, TrialSpec, run_trial, worker_name


class SerialExecutor:
    n_slots = 1

    def __init__(self, objective_ref, device: str | None = None):
        self.objective_ref = objective_ref
        self.device = device
        self._objective = None
        self._queue: deque[tuple[TrialSpec, int, int]] = deque()

    def submit(self, spec: TrialSpec) -> None:
        self._queue.extend((spec, t, s) for t, s in zip(spec.trials, spec.seeds))

    def poll(self, timeout: float | None = None) -> list[TrialResult]:
        """Run the next queued trial and return its result ([] when nothing is queued)."""
        if not self._queue:
            return []
        if self._objective is None:
            self._objective = self.objective_ref.build()
            self.device = self.device or pick_device()
        spec, trial, seed = self._queue.popleft()
        return [run_trial(self._objective, spec.params, spec.set_id, trial, seed, self.device, worker_name(0),
                          fidelity=spec.fidelity)]

    def close(self) -> None:
        self._queue.clear()
