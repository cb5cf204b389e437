"""Local process pool: ``workers`` processes (one per core by default), one slot each.

Each trial is its own task, so the trials of a set spread over idle processes (the local
form of nested parallelism) while up to ``workers`` sets are in flight. Processes are
started with 'spawn' (safe with torch and threads) and build the objective once each.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os

from hyppo_hep.device import pick_device
from hyppo_hep.executor.base import TrialResult, TrialSpec, run_trial, worker_name

_worker_state: dict = {}


def _init_worker(objective_ref, threads_per_worker: int) -> None:
    # Keep each process to its share of the cores: n workers x all-cores threads thrash.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads_per_worker))
    _worker_state["ref"] = objective_ref


def _run(params: dict, set_id: int, trial: int, seed: int, fidelity=None) -> TrialResult:
    if "objective" not in _worker_state:
        _worker_state["objective"] = _worker_state["ref"].build()
        _worker_state["device"] = pick_device()
        try:  # torch picks up OMP_NUM_THREADS only at import; say it again if it is loaded
            import sys

            if "torch" in sys.modules:
                sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        except (KeyError, ValueError):
            pass
    return run_trial(_worker_state["objective"], params, set_id, trial, seed, _worker_state["device"],
                     worker_name(mp.current_process().name), fidelity=fidelity)


class PoolExecutor:
    def __init__(self, objective_ref, workers: int | None = None):
        self.n_slots = workers or os.cpu_count() or 1
        threads = max(1, (os.cpu_count() or 1) // self.n_slots)
        self._pool = cf.ProcessPoolExecutor(self.n_slots, mp_context=mp.get_context("spawn"),
                                            initializer=_init_worker, initargs=(objective_ref, threads))
        self._futures: set[cf.Future] = set()

    def submit(self, spec: TrialSpec) -> None:
        for trial, seed in zip(spec.trials, spec.seeds):
            self._futures.add(self._pool.submit(_run, spec.params, spec.set_id, trial, seed, spec.fidelity))

    def poll(self, timeout: float | None = None) -> list[TrialResult]:
        """Block until at least one trial finishes (or ``timeout`` s pass); return all finished."""
        if not self._futures:
            return []
        done, self._futures = cf.wait(self._futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return [f.result() for f in done]

    def close(self) -> None:
        for f in self._futures:
            f.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
