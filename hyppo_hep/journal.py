"""The append-only JSONL journal: the single source of truth of a search.

One JSON object per line, each with ``event`` and ``time`` (Unix seconds):

- ``campaign``: the config (objective, space, trials, budget, strategy, seed) at the start
  of a run or of a resume;
- ``set_submitted``: set_id, params, seeds (one per trial), trials, stage; for multi-fidelity
  strategies also budget (epochs), rung, bracket and config (set_id of the rung-0 evaluation);
- ``trial_finished``: set_id, trial, seed, score (null on failure), error, worker, device,
  started, finished, info;
- ``set_finished``: set_id, state (done/failed), mean, std, n_ok;
- ``run_finished``: reason.

History, resume, results.csv and every plot are rebuilt from these lines.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path
from typing import Iterator

from hyppo_hep.errors import UserError
from hyppo_hep.history import History, SetRecord, TrialRecord

JOURNAL_NAME = "journal.jsonl"
RESULTS_NAME = "results.csv"


def _clean(value):
    """JSON has no NaN/inf: store them as strings so that the line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    # issue 13.2: arrays and tensors have .item too, which fails above one element; tolist
    # serves numpy scalars, arrays and tensors alike (isolation.journal_safe converts first)
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and not isinstance(value, type):
        try:
            return _clean(tolist())
        except Exception:  # noqa: BLE001 — a foreign tolist (or one returning itself)
            return _unwritable(value)
    return value


def _unwritable(value):
    """json.dumps' last resort for a value nothing converted (issue 13.2): its repr, marked,
    rather than an exception that would stop the run."""
    return f"<not JSON: {type(value).__name__}> {value!r}"[:1000]


class Journal:
    """Appends events to ``path``; every line is flushed so that a kill loses at most one."""

    def __init__(self, path: str | os.PathLike, clock=time.time):
        self.path = Path(path)
        self.clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _drop_torn_tail(self.path)
        self._fh = open(self.path, "a", encoding="utf-8")

    def append(self, event: str, **fields) -> dict:
        record = {"event": event, "time": self.clock(), **fields}
        self._fh.write(json.dumps(_clean(record), sort_keys=False, default=_unwritable) + "\n")
        self._fh.flush()
        return record

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line that a kill left without its newline: appending after it would glue
    the next event onto the torn one and corrupt both."""
    if not path.exists():
        return
    with open(path, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        fh.seek(max(0, size - (1 << 20)))
        tail = fh.read()
        cut = tail.rfind(b"\n")
        fh.truncate(size - len(tail) + cut + 1 if cut >= 0 else max(0, size - len(tail)))


def read_events(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the events of a journal. A torn LAST line (killed mid-write) is skipped;
    a malformed line elsewhere is an error naming its line number."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"cannot read journal {path}: {exc.strerror}") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            if lineno == len(lines):
                return
            raise UserError(f"journal {path} line {lineno} is not valid JSON") from None
        if not isinstance(event, dict) or "event" not in event:
            raise UserError(f"journal {path} line {lineno} is not a journal event")
        yield event


def replay(events) -> History:
    """Rebuild the History from journal events (an iterable of dicts, or a path)."""
    if isinstance(events, (str, os.PathLike)):
        events = read_events(events)
    history = History()
    for ev in events:
        kind = ev["event"]
        if kind == "set_submitted":
            if ev["set_id"] in history.sets:  # re-submitted after resume: same set, same seeds
                continue
            history.add_set(
                SetRecord(set_id=ev["set_id"], params=ev["params"], seeds=list(ev["seeds"]),
                          submitted=ev["time"], stage=ev.get("stage"), budget=ev.get("budget"),
                          rung=ev.get("rung"), bracket=ev.get("bracket"), config=ev.get("config"))
            )
        elif kind == "trial_finished":
            score = ev.get("score")
            history.add_trial(
                ev["set_id"],
                TrialRecord(trial=ev["trial"], seed=ev["seed"], score=score if isinstance(score, (int, float)) else None,
                            error=ev.get("error"), worker=ev.get("worker"), device=ev.get("device"),
                            started=ev.get("started"), finished=ev.get("finished"), info=ev.get("info") or {}),
            )
        elif kind == "set_finished":
            rec = history.sets[ev["set_id"]]
            rec.state = ev["state"]
            rec.finished = ev["time"]
    return history


def campaign_header(events) -> dict | None:
    """The first ``campaign`` event of a journal (what the run was started with)."""
    for ev in events:
        if ev["event"] == "campaign":
            return ev
    return None


def write_results_csv(history: History, path: str | os.PathLike, k_std: float = 0.0) -> None:
    """One row per set, in set order: params, mean, std, n_trials, n_ok, state, wall time.
    Written to a temporary file and renamed, so a reader never sees half a table."""
    path = Path(path)
    names: list[str] = []
    for rec in history.sets.values():
        for name in rec.params:
            if name not in names:
                names.append(name)
    # multi-fidelity searches add the budget (epochs), rung and config (first evaluation's set_id)
    mf = ["budget", "rung", "config"] if any(r.budget is not None for r in history.sets.values()) else []
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["set_id", *names, "mean", "std", "n_trials", "n_ok", "state", "wall_time_s", "stage", *mf])
        for rec in history.sets.values():
            writer.writerow([
                rec.set_id, *[rec.params.get(n, "") for n in names],
                "" if rec.n_ok == 0 else f"{rec.mean:.10g}", "" if rec.n_ok == 0 else f"{rec.std:.10g}",
                rec.n_trials, rec.n_ok, rec.state, f"{rec.wall_time:.3f}", rec.stage or "",
                *["" if getattr(rec, k) is None else getattr(rec, k) for k in mf],
            ])
    os.replace(tmp, path)
