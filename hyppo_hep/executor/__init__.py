"""Executors run the trials of submitted sets on worker slots (see base.py)."""

from hyppo_hep.executor.base import Executor, TrialResult, TrialSpec, run_trial

__all__ = ["Executor", "TrialResult", "TrialSpec", "run_trial"]
