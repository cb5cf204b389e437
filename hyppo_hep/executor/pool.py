"""Local process pool: ``workers`` child processes (one per core by default), one slot each.

Each trial is its own task, so the trials of a set spread over idle processes (the local
form of nested parallelism) while up to ``workers`` sets are in flight. Every worker is an
:class:`~hyppo_hep.executor.isolation.IsolatedWorker`: a 'spawn'ed child that builds the
objective once and is replaced when a trial kills it (segfault, abort, OOM killer) or runs
past ``timeout`` seconds, so the pool is always isolated (``isolation: fresh`` replaces the
child after every trial). The master drives the children from its own thread by waiting on
their pipes: no ProcessPoolExecutor, whose whole pool breaks when one process dies.
"""

from __future__ import annotations

import os
from collections import deque

from hyppo_hep.trial import TrialResult, TrialSpec
from hyppo_hep.executor.isolation import IsolatedWorker, wait_any


class PoolExecutor:
    def __init__(self, objective_ref, workers: int | None = None, *, timeout: float | None = None,
                 isolation: str = "process"):
        self.n_slots = workers or os.cpu_count() or 1
        # Keep each process to its share of the cores: n workers x all-cores threads thrash.
        threads = str(max(1, (os.cpu_count() or 1) // self.n_slots))
        env = {var: os.environ.get(var, threads) for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        self._workers = [IsolatedWorker(objective_ref, name=f"pool-{i}", timeout=timeout, fresh=isolation == "fresh",
                                        env=env) for i in range(self.n_slots)]
        self._queue: deque[tuple[TrialSpec, int, int]] = deque()

    def submit(self, spec: TrialSpec) -> None:
        self._queue.extend((spec, t, s) for t, s in zip(spec.trials, spec.seeds))
        self._dispatch()

    def _dispatch(self) -> None:
        for w in self._workers:
            if not self._queue:
                return
            if not w.busy:
                spec, trial, seed = self._queue.popleft()
                w.start(spec.params, spec.set_id, trial, seed, spec.fidelity)

    def poll(self, timeout: float | None = None) -> list[TrialResult]:
        """Block until at least one trial finishes (or ``timeout`` s pass); return all finished."""
        self._dispatch()
        results = wait_any(self._workers, timeout)
        self._dispatch()
        return results

    def close(self) -> None:
        self._queue.clear()
        for w in self._workers:
            w.close()
