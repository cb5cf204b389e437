"""Per-epoch reports from a training, and telling it to stop early.

An objective that trains for epochs calls :func:`report` after each epoch::

    from hyppo_hep import fidelity

    for epoch in range(fidelity.epochs(params["epochs"])):
        ...train one epoch...
        if fidelity.report(epoch, val_score):   # True: this was the last epoch to run
            break

``run_trial`` (executor/base.py) opens a :class:`TrialContext` around every trial, so this
works the same under the serial, pool and MPI executors: what the worker must know to stop
(the epoch budget of a multi-fidelity rung, the median-rule curve) travels inside the
:class:`Fidelity` of the TrialSpec, decided when the set was submitted, so stopping needs no
message while the trial runs. The epochs run and the per-epoch scores end up in the
trial's ``info`` (``epochs_run``, ``epoch_scores``, ``stopped``) and thus in the journal.

An objective that ignores the return value is stopped anyway: the next ``report`` after a
stop raises :class:`StopTrial`, which ``run_trial`` turns into a successful trial whose score
is the best reported epoch score. Objectives that never call ``report`` still work (they just
cannot be stopped early). Outside a trial ``report`` records nothing and returns False.

Scores are lower-is-better, as everywhere in hyppo_hep.

Checkpoint continuation (multi-fidelity promotions): when the Search gives the trial a
checkpoint directory (``Fidelity.checkpoint``, one per configuration; see
:mod:`hyppo_hep.checkpoints`), an objective may continue the training of the same trial of
the configuration's lower rung instead of starting again::

    state = fidelity.load_checkpoint()          # None: train from scratch
    start = 0 if state is None else restore(state)   # the objective's own state
    for epoch in range(start, fidelity.epochs(params["epochs"])):
        ...train one epoch...
        if fidelity.report(epoch, score):
            break
    fidelity.save_checkpoint(my_state())         # a no-op when there is nowhere to save

``load_checkpoint`` also hands the context the earlier epochs' scores, so the budget counts
all epochs of the configuration (rung 0 trains 3, the promotion to 9 trains 6 more) and the
trial's ``epoch_scores`` is the whole curve. Objectives that never call these train from
scratch at every rung, as before.
"""

from __future__ import annotations

import contextvars
import math
import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass(frozen=True)
class Fidelity:
    """What a worker needs to stop a trial early; plain data (it crosses MPI).

    ``budget``: epochs the trial may run (a multi-fidelity rung), None = no limit.
    ``stop_curve``: median rule; the trial stops after epoch ``e >= min_epochs - 1`` when its
    best score so far is worse than ``stop_curve[e]`` (shape ``(n_epochs,)``).
    """

    budget: int | None = None
    stop_curve: tuple[float, ...] | None = None
    min_epochs: int = 1
    # directory of this configuration's checkpoints (one file per trial), None = no checkpoints
    checkpoint: str | None = None


class StopTrial(Exception):
    """Raised by ``report`` when a training keeps going after it was told to stop."""


@dataclass
class TrialContext:
    fidelity: Fidelity = field(default_factory=Fidelity)
    epoch_scores: list = field(default_factory=list)
    stopped: str | None = None  # None, "budget" or "median"
    trial: int | None = None  # the trial index and seed (checkpoint file name and its check)
    seed: int | None = None
    resumed_from: int = 0  # epochs restored from a lower rung's checkpoint

    def report(self, epoch: int, score: float) -> bool:
        if self.stopped is not None:
            raise StopTrial(f"reported epoch {epoch} after being stopped ({self.stopped})")
        self.epoch_scores.append(float(score))
        for listener in tuple(_LISTENERS):
            listener(self, epoch, float(score))
        n = len(self.epoch_scores)
        fid = self.fidelity
        if fid.budget is not None and n >= fid.budget:
            self.stopped = "budget"
        elif fid.stop_curve is not None and n >= max(fid.min_epochs, 1) and n <= len(fid.stop_curve):
            best = min((s for s in self.epoch_scores if math.isfinite(s)), default=math.inf)
            if best > fid.stop_curve[n - 1]:
                self.stopped = "median"
        return self.stopped is not None

    def best_score(self) -> float | None:
        finite = [s for s in self.epoch_scores if math.isfinite(s)]
        return min(finite) if finite else None

    def info(self) -> dict:
        """What the journal records about the epochs of this trial (``epochs_run`` counts the
        restored epochs too; ``resumed_from`` says how many of them were restored)."""
        out = {"epochs_run": len(self.epoch_scores), "stopped": self.stopped, "epoch_scores": list(self.epoch_scores)}
        if self.resumed_from:
            out["resumed_from"] = self.resumed_from
        return out

    def checkpoint_path(self) -> str | None:
        if self.fidelity.checkpoint is None or self.trial is None:
            return None
        return os.path.join(self.fidelity.checkpoint, f"trial{int(self.trial)}.pt")

    def resume(self, epoch_scores) -> None:
        """Epochs trained before (restored from a checkpoint): they count against the budget."""
        self.epoch_scores = [float(s) for s in epoch_scores]
        self.resumed_from = len(self.epoch_scores)
        if self.fidelity.budget is not None and self.resumed_from >= self.fidelity.budget:
            self.stopped = "budget"


_current: contextvars.ContextVar[TrialContext | None] = contextvars.ContextVar("hyppo_hep_trial", default=None)

# Callables ``listener(ctx, epoch, score)`` told of every epoch reported in this process
# (the live progress of a campaign whose trials run here); a listener must not raise.
_LISTENERS: list = []


def add_listener(listener) -> None:
    _LISTENERS.append(listener)


def remove_listener(listener) -> None:
    if listener in _LISTENERS:
        _LISTENERS.remove(listener)


def report(epoch: int, score: float) -> bool:
    """Record the validation score (lower is better) of the epoch just trained.

    Returns True when training should stop now (the budget is used up, or the median rule
    says this trial will not catch up). ``epoch`` is the 0-based index of the epoch; it is
    only a label, the count of calls is what the budget counts."""
    ctx = _current.get()
    return False if ctx is None else ctx.report(epoch, score)


def epochs(default: int) -> int:
    """How many epochs to train: the trial's budget if it has one, else ``default``."""
    ctx = _current.get()
    if ctx is None or ctx.fidelity.budget is None:
        return int(default)
    return int(min(ctx.fidelity.budget, default)) if default else int(ctx.fidelity.budget)


def current() -> TrialContext | None:
    return _current.get()


def checkpoint_path() -> str | None:
    """Where this trial's checkpoint lives (None: nowhere, e.g. outside a multi-fidelity search)."""
    ctx = _current.get()
    return None if ctx is None else ctx.checkpoint_path()


def load_checkpoint(map_location: str = "cpu") -> dict | None:
    """The state this trial's lower rung saved with :func:`save_checkpoint`, or None (no
    checkpoint, one of another seed or one that cannot be read: a stale file is never continued). Loaded with
    ``weights_only=True``: tensors and plain types only, no pickled code runs. Tells the
    context the restored epochs' scores (see the module docstring)."""
    ctx = _current.get()
    path = None if ctx is None else ctx.checkpoint_path()
    if path is None or not os.path.exists(path):
        return None
    from hyppo_hep.errors import UserError
    from hyppo_hep.seeding import load_checkpoint as load

    try:
        blob = load(path, map_location)
    except UserError:  # not a checkpoint this code wrote: the training starts again
        return None
    if not isinstance(blob, dict) or blob.get("seed") != ctx.seed or "state" not in blob:
        return None
    ctx.resume(blob.get("epoch_scores") or [])
    return blob["state"]


def save_checkpoint(state: dict) -> str | None:
    """Save ``state`` (tensors and plain types: state dicts, RNG states, numbers, lists) as
    this trial's checkpoint, with the epoch scores reported so far; atomic (a reader sees
    the old file or the whole new one). Returns the path, or None when there is nowhere to save."""
    ctx = _current.get()
    path = None if ctx is None else ctx.checkpoint_path()
    if path is None:
        return None
    from hyppo_hep.seeding import save_checkpoint as save

    save({"seed": ctx.seed, "epoch_scores": list(ctx.epoch_scores), "state": state}, path)
    return path


class trial_context:
    """``with trial_context(fidelity, trial, seed) as ctx:`` — the context ``run_trial`` opens per trial."""

    def __init__(self, fidelity: Fidelity | None = None, trial: int | None = None, seed: int | None = None):
        self.ctx = TrialContext(fidelity or Fidelity(), trial=trial, seed=seed)

    def __enter__(self) -> TrialContext:
        self._token = _current.set(self.ctx)
        return self.ctx

    def __exit__(self, *exc) -> None:
        _current.reset(self._token)


# --- the median stopping rule, as pure array functions ---------------------------------------

def median_stop_curve(curves: Sequence[Sequence[float]], min_curves: int = 3) -> np.ndarray | None:
    """Median over finished trials of the running mean of their per-epoch scores.

    ``curves``: the epoch scores of finished trials (ragged). Entry ``e`` of the result is the
    median, over the curves with more than ``e`` epochs, of ``mean(curve[:e+1])`` (Vizier's
    median stopping rule); ``inf`` where fewer than ``min_curves`` curves reach epoch ``e``
    (never stop on too little evidence). None when fewer than ``min_curves`` curves exist.
    """
    curves = [np.asarray(c, dtype=float) for c in curves if len(c)]
    curves = [c for c in curves if np.all(np.isfinite(c))]
    if len(curves) < min_curves:
        return None
    n = max(len(c) for c in curves)
    out = np.full(n, np.inf)
    running = [np.cumsum(c) / np.arange(1, len(c) + 1) for c in curves]
    for e in range(n):
        vals = [r[e] for r in running if len(r) > e]
        if len(vals) >= min_curves:
            out[e] = float(np.median(vals))
    return out


@dataclass(frozen=True)
class EarlyStopping:
    """Config ``early_stopping: {rule: median, min_epochs: 3, min_trials: 5}``: a trial stops
    once, after ``min_epochs`` epochs, its best score is worse than the median running mean
    of the finished trials (at least ``min_trials`` of them) at the same epoch."""

    rule: str = "median"
    min_epochs: int = 3
    min_trials: int = 5

    def stopper(self) -> "MedianStopper":
        return MedianStopper(self)


class MedianStopper:
    """The driver's side of the median rule: collects the epoch curves of finished trials
    (``add``) and hands each new trial its Fidelity. The median curve is recomputed only when
    the number of curves grew by 2 % (or below 100 curves), so a search of 10,000 sets does
    not redo an O(n) median per submission."""

    def __init__(self, rule: EarlyStopping):
        self.rule = rule
        self.curves: list[list[float]] = []
        self._curve: tuple[float, ...] | None = None
        self._n_at_curve = -1

    def add(self, ok: bool, info: dict) -> None:
        """Record a finished trial (its ``info``); median-stopped trials are not reference curves."""
        scores = info.get("epoch_scores") if isinstance(info, dict) else None
        if ok and scores and info.get("stopped") != "median":
            self.curves.append(list(scores))

    def add_history(self, history) -> None:
        for rec in history.sets.values():
            for t in rec.trials.values():
                self.add(t.ok, t.info)

    def fidelity(self, budget: int | None = None) -> Fidelity:
        n = len(self.curves)
        if n != self._n_at_curve and (n < 100 or n >= 1.02 * self._n_at_curve):
            curve = median_stop_curve(self.curves, self.rule.min_trials)
            self._curve = tuple(float(v) for v in curve) if curve is not None else None
            self._n_at_curve = n
        return Fidelity(budget, self._curve, self.rule.min_epochs)
