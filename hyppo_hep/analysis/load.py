"""Journals -> runs for the analysis: every ``journal.jsonl`` under the given output
directories (plain runs, stages ``<i>_<name>/``, repeats ``repeat_<r>/``), read tolerantly:
a run still in progress (pending sets, no ``run_finished``, a torn last line) is analysed
with what it has. An empty directory, or a journal that is not one, is a UserError (exit 2).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from hyppo_hep.errors import UserError
from hyppo_hep.history import History, SetRecord
from hyppo_hep.journal import JOURNAL_NAME, read_events, replay
from hyppo_hep.space import Space
from hyppo_hep.conditional_space import header_space


@dataclass
class Run:
    """One search (one journal)."""

    path: Path  # the journal
    root: Path  # the output directory given on the command line
    group: str  # comparison group: the strategy (or the directory name if strategies repeat)
    header: dict
    history: History
    space: Space
    events: list[dict] = field(repr=False, default_factory=list)
    stage: str | None = None
    stage_index: int = 0
    repeat: int = 0
    stage_event: dict | None = None
    finished: bool = False

    @property
    def strategy(self) -> str:
        """The strategy's name; for a journal without one (an ask/tell search written before
        its header named the strategy) the objective's name, e.g. "ask-tell"."""
        strat = self.header.get("strategy") or {}
        name = strat if isinstance(strat, str) else strat.get("name")
        if name:
            return str(name)
        return str((self.header.get("objective") or {}).get("name") or "unnamed search")

    @property
    def is_scan(self) -> bool:
        return bool(self.stage_event and self.stage_event.get("scan"))

    @property
    def done(self) -> list[SetRecord]:
        return self.history.done

    @property
    def label(self) -> str:
        parts = [self.group]
        if self.stage:
            parts.append(self.stage)
        return " / ".join(parts)


def find_journals(root: Path) -> list[Path]:
    if root.is_file() and root.name == JOURNAL_NAME:
        return [root]
    return sorted(p for p in root.rglob(JOURNAL_NAME) if p.is_file())


def load_run(path: Path, root: Path) -> Run:
    events = list(read_events(path))
    if not events:
        raise UserError(f"journal {path} is empty: nothing to analyse")
    header = next((e for e in events if e.get("event") == "campaign"), None)
    if header is None or not isinstance(header.get("space"), dict):
        raise UserError(f"journal {path} has no campaign event with a space: not a hyppo_hep journal")
    try:
        history = replay(events)
        space = header_space(header["space"], f"{path}: space")
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"journal {path} is corrupt ({type(exc).__name__}: {exc})") from None
    stage_event = next((e for e in events if e.get("event") == "stage_started"), None)
    return Run(path=path, root=root, group="", header=header, history=history, space=space, events=events,
               stage=header.get("stage"), stage_index=int(header.get("stage_index") or 0),
               repeat=int(header.get("repeat") or 0), stage_event=stage_event,
               finished=events[-1].get("event") == "run_finished")


def read_runs(dirs, what: str = "analyse") -> list[Run]:
    """All runs under ``dirs``, grouped: one group per directory, named by its strategy
    (the directory name where two directories ran the same strategy)."""
    runs: list[Run] = []
    per_dir: list[tuple[Path, list[Run]]] = []
    for d in dirs:
        root = Path(d)
        if not root.exists():
            raise UserError(f"{root} does not exist")
        journals = find_journals(root)
        if not journals:
            raise UserError(f"no {JOURNAL_NAME} under {root}: nothing to {what}")
        per_dir.append((root, [load_run(p, root) for p in journals]))
    names = []
    for root, rs in per_dir:
        strategies = Counter(r.strategy for r in rs if not r.is_scan)
        names.append(strategies.most_common(1)[0][0] if strategies else rs[0].strategy)
    dup = {n for n, c in Counter(names).items() if c > 1}
    for (root, rs), name in zip(per_dir, names):
        group = (root.resolve().name or str(root)) if name in dup else name
        for r in rs:
            r.group = group
        runs.extend(rs)
    return runs


def load_runs(dirs) -> list[Run]:
    """read_runs, for the report: at least one finished set is needed (else a UserError)."""
    runs = read_runs(dirs)
    if not any(r.done for r in runs):
        where = ", ".join(str(d) for d in dirs)
        raise UserError(f"no finished set in {where} yet: nothing to analyse")
    return runs


def search_runs(runs: list[Run]) -> dict[tuple[str, str | None], list[Run]]:
    """Non-scan runs keyed by (group, stage), repeats together, in stage order."""
    out: dict[tuple[str, str | None], list[Run]] = {}
    for r in sorted(runs, key=lambda r: (r.group, r.stage_index, r.repeat)):
        if not r.is_scan:
            out.setdefault((r.group, r.stage), []).append(r)
    return out


def sets_table(runs: list[Run]) -> tuple[list[str], list[dict]]:
    """Every finished set of ``runs`` as rows (run label, repeat, set, params, mean, std,
    n_ok), best first; and the parameter column names."""
    names: list[str] = []
    rows = []
    for r in runs:
        for rec in r.done:
            for n in rec.params:
                if n not in names:
                    names.append(n)
            rows.append({"run": r.label, "repeat": r.repeat, "set_id": rec.set_id, **rec.params,
                         "mean": rec.mean, "std": rec.std, "n_ok": rec.n_ok, "n_trials": rec.n_trials})
    rows.sort(key=lambda row: (row["mean"], row["run"], row["set_id"]))
    return names, rows


def numeric_values(space: Space, name: str, records) -> np.ndarray:
    """A parameter's values across records as floats (categoricals as their choice index);
    NaN where a set does not have the parameter (a conditional one of a define-by-run search)."""
    p = next((q for q in space.params if q.name == name), None)
    if p is not None and hasattr(p, "choices"):
        return np.array([list(p.choices).index(r.params[name]) if r.params.get(name, np.nan) in p.choices else np.nan
                         for r in records], dtype=float)
    return np.array([float(r.params[name]) if name in r.params else np.nan for r in records], dtype=float)


class Loaded(NamedTuple):
    """``hyppo_hep.load``'s answer: ``sets, trials = hyppo_hep.load(DIR)`` (pandas DataFrames)."""

    sets: Any
    trials: Any


# Columns of the frames themselves; a hyperparameter or info key of the same name is
# prefixed ("param." / "info.") rather than overwrite them.
SET_COLUMNS = ("run", "stage", "repeat", "journal", "set_id", "state", "mean", "std", "n_ok", "n_trials", "resource",
               "rung", "config_id", "submitted", "finished", "wall_time")
TRIAL_COLUMNS = ("run", "stage", "repeat", "journal", "set_id", "trial", "seed", "score", "ok", "error", "worker",
                 "device", "started", "finished", "wall_time")


def _scalar(v) -> bool:
    return isinstance(v, (int, float, str, bool, np.integer, np.floating)) or v is None


def _prefixed(d: dict, prefix: str, taken) -> dict:
    return {(f"{prefix}.{k}" if k in taken else k): v for k, v in d.items()}


def _set_row(r: Run, rec: SetRecord) -> dict:
    row = {"run": r.label, "stage": r.stage, "repeat": r.repeat, "journal": str(r.path), "set_id": rec.set_id,
           "state": getattr(rec.state, "value", rec.state),  # a plain str also where states are enums
           "mean": rec.mean, "std": rec.std, "n_ok": rec.n_ok, "n_trials": rec.n_trials,
           "resource": rec.resource,
           # the configuration's rung-0 set (its own id unless a promotion)
           "rung": rec.rung, "config_id": rec.lineage,
           "submitted": rec.submitted, "finished": rec.finished,
           "wall_time": rec.wall_time}
    return {**row, **_prefixed(rec.params, "param", SET_COLUMNS)}


def _trial_rows(r: Run, rec: SetRecord) -> list[dict]:
    params = _prefixed(rec.params, "param", TRIAL_COLUMNS)
    rows = []
    for t in sorted(rec.trials.values(), key=lambda t: t.trial):
        info = {k: v for k, v in (t.info if isinstance(t.info, dict) else {}).items() if _scalar(v)}
        wall = (t.finished - t.started) if t.finished is not None and t.started is not None else None
        row = {"run": r.label, "stage": r.stage, "repeat": r.repeat, "journal": str(r.path), "set_id": rec.set_id,
               "trial": t.trial, "seed": t.seed, "score": t.score, "ok": t.ok, "error": t.error,
               "worker": None if t.worker is None else str(t.worker), "device": t.device, "started": t.started,
               "finished": t.finished, "wall_time": wall}
        rows.append({**row, **params, **_prefixed(info, "info", set(TRIAL_COLUMNS) | set(params))})
    return rows


def load(*dirs) -> Loaded:
    """Every set and every trial under the output directories ``dirs`` (stages and repeats
    included; a run still in progress with what it has) as two pandas DataFrames:

    - ``sets``: one row per set (pending and failed ones too): run, stage, repeat, journal,
      set_id, state, mean, std (over successful trials, ddof=1), n_ok, n_trials, resource
      (the epochs a multi-fidelity evaluation trained), rung, config_id (the set id of the
      configuration's rung-0 evaluation: a promotion's ancestor, else the set itself),
      submitted, finished (Unix s), wall_time (summed trial seconds), then one column per
      hyperparameter;
    - ``trials``: one row per finished trial: run, stage, repeat, journal, set_id, trial,
      seed, score (NaN when failed), ok, error, worker, device, started, finished,
      wall_time (s), the set's hyperparameters, and every scalar the objective returned
      beside the score (JSD, FPD, KPD, best_epoch, n_params, untrained_score, ...).

    A hyperparameter or info key named like one of these columns gets a ``param.`` or
    ``info.`` prefix. ``sets, trials = hyppo_hep.load("out")``. Needs pandas."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("hyppo_hep.load needs pandas (pip install pandas, or the hyppo_hep[pandas] extra)") from None
    if not dirs:
        raise UserError("hyppo_hep.load: give at least one output directory")
    runs = read_runs(dirs, "load")
    sets = [_set_row(r, rec) for r in runs for rec in r.history.sets.values()]
    trials = [row for r in runs for rec in r.history.sets.values() for row in _trial_rows(r, rec)]
    return Loaded(pd.DataFrame(sets, columns=_columns(SET_COLUMNS, sets)),
                  pd.DataFrame(trials, columns=_columns(TRIAL_COLUMNS, trials)))


def _columns(first, rows) -> list[str]:
    """The fixed columns, then the others in the order they first appear."""
    return list(dict.fromkeys([*first, *(k for row in rows for k in row)]))
