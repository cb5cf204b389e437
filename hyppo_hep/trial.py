"""What a search hands out and gets back: plain data, the ground floor of the package.

- :class:`Proposal`: what a strategy proposes, a new set (its params, and for multi-fidelity
  strategies the epochs to train it) or more trials of a set already run;
- :class:`TrialSpec`: what the Search asks an executor to run, the trials ``[i..j]`` of ONE
  set with their seeds (all of a new set's trials, the missing ones after a resume, or the
  extra trials a Proposal asked for);
- :class:`TrialResult`: what comes back, one per trial, in completion order.

These cross process and MPI boundaries, so they hold only plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hyppo_hep.fidelity import Fidelity


class PreCoreNames:
    """The names before the Search core, still read by users' code: ``budget`` (epochs, now
    ``resource``) and ``config`` (the rung-0 set id, now ``config_id``)."""

    @property
    def budget(self) -> int | None:
        return self.resource

    @property
    def config(self) -> int | None:
        return self.config_id


@dataclass(frozen=True)
class Proposal(PreCoreNames):
    """A strategy's proposal.

    A new set: ``params``, and for multi-fidelity strategies ``resource`` (epochs of
    training of this evaluation), its ``rung`` and ``bracket``, and ``config_id``, the set id
    of the configuration's rung-0 evaluation when this is a promotion (its trials reuse
    that evaluation's seeds so that rungs compare like with like).

    More trials of an earlier set (adaptive repeats, confirmation trials): ``set_id`` names
    the set and ``n_trials`` how many trials to add; ``params`` is then ignored (pass {}).
    Ordinary strategies may return plain params dicts instead of Proposals.
    """

    params: dict
    resource: int | None = None
    rung: int | None = None
    bracket: int | None = None
    config_id: int | None = None
    set_id: int | None = None
    n_trials: int = 0

    @classmethod
    def more_trials(cls, set_id: int, n_trials: int) -> "Proposal":
        return cls({}, set_id=set_id, n_trials=n_trials)

    @property
    def extends(self) -> bool:
        """True when this asks for more trials of set ``set_id`` rather than a new set."""
        return self.set_id is not None



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
    # trial alike, so the search stops the run with exit status 2 instead of recording it.
    fatal: bool = False

    @property
    def ok(self) -> bool:
        return self.score is not None

    @property
    def wall_time(self) -> float:
        return self.finished - self.started
