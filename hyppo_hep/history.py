"""What the search knows: every set, its trials, their scores, and which sets are in flight.

A set's score is the mean over its successful trials and its variability their standard
deviation (``ddof=1``: the unbiased trial-to-trial spread; 0 for a single trial); this
module is the one home of those statistics (:func:`set_stats`). The History is rebuilt
from the journal (``journal.replay``), never pickled.

Words: a *set* is one hyperparameter configuration trained ``n_trials`` times; a campaign's
``budget`` counts sets. The *resource* of a multi-fidelity evaluation is the epochs it
trains; ``config_id`` is the set id of a configuration's rung-0 evaluation.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Sequence

import numpy as np

from hyppo_hep.trial import PreCoreNames


class SetState(str, Enum):
    """A set's state; a str, so that it compares equal to (and is journalled as) its value."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"

    __str__ = str.__str__  # "done", not "SetState.DONE", in f-strings and tables
    __format__ = str.__format__


PENDING, DONE, FAILED = SetState.PENDING, SetState.DONE, SetState.FAILED


def set_stats(scores: Sequence[float]) -> tuple[float, float]:
    """Mean and standard deviation (ddof=1; 0 for one score) of a set's trial scores;
    NaN and 0 for none. Plain Python (fsum, exactly rounded): a set has a handful of
    scores, for which numpy's call overhead is a hundred times the arithmetic."""
    n = len(scores)
    if not n:
        return math.nan, 0.0
    mean = math.fsum(scores) / n
    if n == 1:
        return mean, 0.0
    return mean, math.sqrt(math.fsum((x - mean) ** 2 for x in scores) / (n - 1))


def stats_arrays(records) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, std (ddof=1, 0 for one trial) and number of successful trials of each record,
    as arrays of ``len(records)``: :func:`set_stats` of every record in one vectorised
    pass (per-record numpy calls dominated the proposal time at a thousand sets)."""
    scores = [r.scores for r in records]
    n = np.array([len(s) for s in scores], dtype=float)
    mean = np.full(len(scores), np.nan)
    std = np.zeros(len(scores))
    ok = n > 0
    if ok.any():
        flat = np.fromiter((x for s in scores for x in s), dtype=float, count=int(n.sum()))
        starts = np.concatenate([[0], np.cumsum(n[ok])[:-1]]).astype(int)
        mean[ok] = np.add.reduceat(flat, starts) / n[ok]
        dev2 = (flat - np.repeat(mean[ok], n[ok].astype(int))) ** 2
        ss = np.add.reduceat(dev2, starts)
        std[ok] = np.where(n[ok] > 1, np.sqrt(ss / np.maximum(n[ok] - 1, 1)), 0.0)
    return mean, std, n


@dataclass
class TrialRecord:
    trial: int
    seed: int
    score: float | None  # None when the trial failed
    error: str | None = None
    worker: Any = None
    device: str | None = None
    started: float | None = None
    finished: float | None = None
    info: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.score is not None


@dataclass
class SetRecord(PreCoreNames):
    set_id: int
    params: dict
    seeds: list[int]  # one per trial index 0..n_trials-1
    submitted: float | None = None
    finished: float | None = None
    state: SetState = PENDING
    trials: dict[int, TrialRecord] = field(default_factory=dict)
    stage: str | None = None
    # Multi-fidelity (strategy/hyperband.py, asha.py): the epochs this evaluation trains
    # (``resource``), its rung and bracket, and ``config_id``, the set_id of the
    # configuration's first (rung 0) evaluation, shared by all its promotions. None for
    # ordinary strategies.
    resource: int | None = None
    rung: int | None = None
    bracket: int | None = None
    config_id: int | None = None
    # trial indices added as confirmation trials (``trials_added`` with purpose confirm):
    # they count in the set's statistics but not against a budget in trainings
    confirm_trials: list[int] = field(default_factory=list)
    # (number of trials, mean, std) when last computed: the ranking asks for every set's
    # mean after each finished set, and trials are only ever added
    _stats: tuple = field(default=(-1, math.nan, 0.0), init=False, repr=False, compare=False)
    # (number of trials, successful scores) when last listed: every proposal lists the scores
    # of every finished set (stats_arrays), 40% of its CPU at 10,000 sets before this cache
    _scores: tuple = field(default=(-1, ()), init=False, repr=False, compare=False)

    @property
    def lineage(self) -> int:
        """The configuration this set evaluates: ``config_id``, or its own id."""
        return self.set_id if self.config_id is None else self.config_id

    @property
    def n_trials(self) -> int:
        return len(self.seeds)

    @property
    def n_confirm(self) -> int:
        return len(self.confirm_trials)

    @property
    def scores(self) -> list[float]:
        if self._scores[0] != len(self.trials):  # trials are only ever added (History.add_trial)
            self._scores = (len(self.trials), tuple(self.trials[t].score for t in sorted(self.trials)
                                                    if self.trials[t].ok))
        return list(self._scores[1])

    @property
    def n_ok(self) -> int:
        return len(self.scores)

    def _mean_std(self) -> tuple[float, float]:
        if self._stats[0] != len(self.trials):
            self._stats = (len(self.trials), *set_stats(self.scores))
        return self._stats[1], self._stats[2]

    @property
    def mean(self) -> float:
        return self._mean_std()[0]

    @property
    def std(self) -> float:
        return self._mean_std()[1]

    @property
    def missing_trials(self) -> list[int]:
        return [t for t in range(self.n_trials) if t not in self.trials]

    @property
    def wall_time(self) -> float:
        """Sum of the trials' wall times in seconds (the compute the set cost)."""
        return float(sum((r.finished or 0.0) - (r.started or 0.0) for r in self.trials.values()))

    def objective_value(self, k_std: float = 0.0) -> float:
        """The value the search ranks by: mean + k·std (k = 0: the mean)."""
        return self.mean + k_std * self.std


class History:
    """All sets of one search, keyed by ``set_id`` in submission order."""

    def __init__(self) -> None:
        self.sets: dict[int, SetRecord] = {}
        # keys() of the space last asked: every proposal asks, and recomputing n keys each
        # time made a search of n sets O(n^2) Space.key calls (minutes at 10,000 sets).
        self._key_space = None
        self._key_set: set = set()
        self._max_id = -1  # next_id() in O(1): max() over all sets per proposal was O(n^2)
        self._n_pending = 0  # n_finished in O(1): it is asked after every set
        # k_std -> best done set, kept up to date as sets finish: best() is asked after every
        # set, and a scan of all sets each time made a search of n sets O(n^2) (minutes at 4,000)
        self._best: dict[float, SetRecord | None] = {}
        # every set's encoding for the space last asked (rows in submission order, appended
        # as sets come): a proposal encodes the whole history two or three times, which was
        # a third of an rbf proposal's CPU at 10,000 sets even with Space.encode's memo
        self._enc_space = None
        self._enc_X = np.empty((0, 0))
        self._enc_row: dict[int, int] = {}

    # --- updates (the driver and journal replay call these) --------------------------------
    def add_set(self, rec: SetRecord) -> None:
        if rec.set_id in self.sets or rec.state == DONE:
            self._best.clear()
        if rec.set_id in self.sets:
            self._key_space = None  # a replaced set: rebuild the key cache on next use
            self._enc_space = None  # and the encodings
            self._n_pending -= self.sets[rec.set_id].state == PENDING
        self.sets[rec.set_id] = rec
        self._n_pending += rec.state == PENDING
        self._max_id = max(self._max_id, rec.set_id)
        if self._key_space is not None:
            self._key_set.add(self._key_space.key(rec.params))

    def add_trial(self, set_id: int, rec: TrialRecord) -> None:
        # A trial index is kept once: a re-run after resume must not count twice.
        self.sets[set_id].trials.setdefault(rec.trial, rec)

    def complete(self, set_id: int, min_ok: int = 1, finished: float | None = None) -> SetRecord:
        rec = self.sets[set_id]
        self.set_state(rec, DONE if rec.n_ok >= min_ok else FAILED)
        rec.finished = finished
        return rec

    def set_state(self, rec: SetRecord, state: SetState) -> None:
        """Change a set's state (pending again when trials are added to it). States change
        only here (and in complete), so that the counts and the best set stay right."""
        self._n_pending += (state == PENDING) - (rec.state == PENDING)
        if rec.state == DONE:  # its mean may change now: find the best afresh when asked
            self._best.clear()
        rec.state = SetState(state)
        if rec.state == DONE:
            for k_std, best in self._best.items():
                if best is None or _rank_key(rec, k_std) < _rank_key(best, k_std):
                    self._best[k_std] = rec

    # --- queries ----------------------------------------------------------------------------
    def next_id(self) -> int:
        return self._max_id + 1

    def by_state(self, state: str) -> list[SetRecord]:
        return [r for r in self.sets.values() if r.state == state]

    @property
    def done(self) -> list[SetRecord]:
        return self.by_state(DONE)

    @property
    def pending(self) -> list[SetRecord]:
        return self.by_state(PENDING)

    @property
    def failed(self) -> list[SetRecord]:
        return self.by_state(FAILED)

    @property
    def n_finished(self) -> int:
        """Sets no longer pending (done or failed): the one count of finished sets."""
        return len(self.sets) - self._n_pending

    def __len__(self) -> int:
        return len(self.sets)

    def arrays(self, space) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Finished sets as arrays: X (``n x dim`` unit cube), mean, std, n_ok (each ``n``)."""
        done = self.done
        X = space.encode_many([r.params for r in done])
        mean = np.array([r.mean for r in done], dtype=float)
        std = np.array([r.std for r in done], dtype=float)
        n_ok = np.array([r.n_ok for r in done], dtype=float)
        return X, mean, std, n_ok

    def X_pending(self, space) -> np.ndarray:
        """Sets in flight, ``n_pending x dim``: every proposal must keep away from them."""
        return space.encode_many([r.params for r in self.pending])

    def X_all(self, space) -> np.ndarray:
        """Every set ever proposed (done, failed, pending), ``n x dim``."""
        self._encode_new(space)
        return self._enc_X[:len(self.sets)].copy()

    def X_of(self, space, records) -> np.ndarray:
        """``space.encode_many`` of these records' params (records of this history), from the
        encodings kept for the space last asked."""
        if not records:
            return np.empty((0, space.dim))
        self._encode_new(space)
        return self._enc_X[[self._enc_row[r.set_id] for r in records]]

    def _encode_new(self, space) -> None:
        """Bring the kept encodings up to date: all of them for a new space, else the sets
        added since the last call (they come last in ``sets``)."""
        if self._enc_space is not space:
            self._enc_space, self._enc_row = space, {}
            self._enc_X = np.empty((0, space.dim))
        n_old = len(self._enc_row)
        if n_old == len(self.sets):
            return
        new = list(itertools.islice(self.sets.values(), n_old, None))
        X = space.encode_many([r.params for r in new])  # raises for a set off the space, as before
        if n_old + len(new) > len(self._enc_X):  # grow by doubling: appends stay O(1) amortised
            grown = np.empty((max(2 * len(self._enc_X), n_old + len(new), 64), X.shape[1]))
            grown[:n_old] = self._enc_X[:n_old]
            self._enc_X = grown
        self._enc_X[n_old:n_old + len(new)] = X
        self._enc_row.update((r.set_id, n_old + i) for i, r in enumerate(new))

    def keys(self, space) -> set:
        """Lattice identities of every set ever proposed: none may be proposed again.
        (A fresh set each call; kept up to date incrementally for the last space asked.)"""
        if self._key_space is not space:
            self._key_set = {space.key(r.params) for r in self.sets.values()}
            self._key_space = space
        return set(self._key_set)

    def ranked(self, k_std: float = 0.0) -> list[SetRecord]:
        """Finished sets, best first by mean + k·std (ties by set id).

        Multi-fidelity searches (sets with a ``resource``): the sets trained with the most
        epochs come first, a 1-epoch score is not a model one would keep; within a budget,
        by mean + k·std."""
        return sorted(self.done, key=lambda r: _rank_key(r, k_std))

    def best(self, k_std: float = 0.0) -> SetRecord | None:
        """The first of :meth:`ranked`; O(1) after the first call (see ``_best``)."""
        if k_std not in self._best:
            self._best[k_std] = min(self.done, key=lambda r: _rank_key(r, k_std), default=None)
        return self._best[k_std]


def _rank_key(rec: SetRecord, k_std: float) -> tuple:
    return -(rec.resource or 0), rec.objective_value(k_std), rec.set_id
