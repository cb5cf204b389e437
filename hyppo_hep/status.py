"""``hyppo-hep status DIR``: how a running or finished campaign stands, read from its journals
only (safe while the campaign writes them; nothing is locked or changed).

For each journal under DIR: sets finished of the budget, failed and in flight, trials
finished, the best set so far (mean ± std, ranked as the campaign ranks), elapsed wall
time and an ETA from the pace so far, and the utilisation of the workers (their summed
trial time over elapsed time x workers seen).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from hyppo_hep.errors import UserError


@dataclass
class Status:
    journal: Path
    label: str
    budget: int | None  # sets (None: a budget in trainings only, or unknown)
    n_done: int
    n_failed: int
    n_pending: int
    n_trials: int
    best: object | None  # the recommended set's hyppo_hep.recommend.Estimate
    k_std: float
    started: float | None
    last: float | None
    finished: str | None  # the run_finished reason, None while running
    workers: int
    busy: float  # summed trial wall time, seconds
    history: object = None
    budget_trainings: int | None = None  # ``budget: {trainings: N}``
    n_confirm: int = 0  # confirmation trials among n_trials (finished ones)
    trials_per_set: str = ""  # e.g. "2-5" with adaptive repeats, from the header

    @property
    def elapsed(self) -> float:
        end = self.last if self.finished else time.time()
        return max(0.0, (end or 0.0) - (self.started or end or 0.0))

    @property
    def eta(self) -> float | None:
        """Seconds to the budget at the pace of the sets finished so far (None if unknown)."""
        if self.finished:
            return None
        if self.budget_trainings:  # at the pace of the trainings (sets vary in trials)
            n = self.n_trials - self.n_confirm
            return self.elapsed / n * max(0, self.budget_trainings - n) if n else None
        n = self.n_done + self.n_failed
        if not self.budget or n == 0:
            return None
        return self.elapsed / n * max(0, self.budget - n)

    @property
    def utilisation(self) -> float | None:
        if not self.workers or self.elapsed <= 0:
            return None
        return min(1.0, self.busy / (self.elapsed * self.workers))


def _space(header: dict):
    """The campaign's space from its journal header (for the estimates' neighbourhoods), or
    None for a header without a readable one (the estimates then scale the params min-max)."""
    from hyppo_hep.conditional_space import header_space

    try:
        return header_space(header["space"])
    except Exception:  # noqa: BLE001 - an old or foreign header: status still reports
        return None


def journal_status(path: Path, root: Path) -> Status:
    from hyppo_hep.journal import read_events, replay
    from hyppo_hep.recommend import recommend

    events = list(read_events(path))
    header = next((e for e in events if e.get("event") == "campaign"), None)
    if header is None:
        raise UserError(f"{path}: no campaign event: not a hyppo_hep journal")
    try:
        history = replay(events)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"journal {path} is corrupt ({type(exc).__name__}: {exc})") from None
    strategy = header.get("strategy") or {}
    k_std = float((strategy.get("options") or {}).get("k_std", 0.0) or 0.0) if isinstance(strategy, dict) else 0.0
    trials = [t for rec in history.sets.values() for t in rec.trials.values()]
    end = next((e for e in reversed(events) if e.get("event") == "run_finished"), None)
    times = [e["time"] for e in events if isinstance(e.get("time"), (int, float))]
    budget, trainings = _budget(header.get("budget"))
    per = header.get("trials")
    per = f"{per.get('min')}-{per.get('max')}" if isinstance(per, dict) else ""
    n_confirm = sum(1 for rec in history.sets.values() for t in rec.confirm_trials if t in rec.trials)
    return Status(
        journal=path, budget_trainings=trainings, n_confirm=n_confirm, trials_per_set=per, label=str(path.parent.relative_to(root)) if path.parent != root else "",
        budget=budget, n_done=len(history.done), n_failed=len(history.failed),
        n_pending=len(history.pending), n_trials=len(trials), best=recommend(history, k_std, _space(header))[1], k_std=k_std,
        started=min(times) if times else None, last=max(times) if times else None,
        finished=end.get("reason") if end and events[-1] is end else None,
        workers=len({t.worker for t in trials if t.worker is not None}),
        busy=sum((t.finished or 0.0) - (t.started or 0.0) for t in trials if t.started and t.finished),
        history=history)


def _budget(value) -> tuple[int | None, int | None]:
    """(sets, trainings) of a journal header's budget: an int (sets), or the adaptive form
    ``{trainings: N}`` / ``{sets: S, trainings: N}`` (sets left out when only implied)."""
    if isinstance(value, dict):
        sets, trainings = value.get("sets"), value.get("trainings")
        return (sets if isinstance(sets, int) else None), (trainings if isinstance(trainings, int) else None)
    return (value if isinstance(value, int) and not isinstance(value, bool) else None), None


def format_status(s: Status) -> str:
    from hyppo_hep.console import hms

    head = f"{s.label}: " if s.label else ""
    state = f"finished ({s.finished})" if s.finished else "running"
    budget = f"/{s.budget}" if s.budget else ""
    trials = f"{s.n_trials - s.n_confirm}" + (f"/{s.budget_trainings}" if s.budget_trainings else "") + " trials"
    if s.trials_per_set:
        trials += f" ({s.trials_per_set} per set)"
    if s.n_confirm:
        trials += f" + {s.n_confirm} confirmation"
    lines = [f"{head}{state}: {s.n_done}{budget} sets done, {s.n_failed} failed, {s.n_pending} in flight, "
             f"{trials}; elapsed {hms(s.elapsed)}" + (f", ETA {hms(s.eta)}" if s.eta is not None else "")]
    if s.best is not None:
        e, rec = s.best, s.history.sets[s.best.set_id]
        rank = f", ranked by mean + {s.k_std:g} std" if s.k_std else ""
        lines.append(f"  best so far: set {e.set_id}  {e.value(s.k_std):.6g} ± {e.mean_std:.6g} (noise-aware estimate{rank}; "
                     f"raw {e.raw_mean:.6g} ± {e.raw_std:.6g}, {e.n_ok}/{rec.n_trials} trials)  {rec.params}")
    if s.utilisation is not None:
        lines.append(f"  workers seen: {s.workers}, utilisation {100 * s.utilisation:.1f}%")
    return "\n".join(lines)


def campaign_status(directory) -> list[Status]:
    """The status of every journal under ``directory`` (stages and repeats in order)."""
    from hyppo_hep.journal import JOURNAL_NAME

    root = Path(directory)
    if not root.exists():
        raise UserError(f"{root} does not exist")
    journals = [root] if root.is_file() else sorted(p for p in root.rglob(JOURNAL_NAME) if p.is_file())
    if not journals:
        raise UserError(f"no {JOURNAL_NAME} under {root}: no campaign there yet")
    base = root.parent if root.is_file() else root
    return [journal_status(p, base) for p in journals]

