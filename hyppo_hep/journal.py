"""The append-only JSONL journal: the single source of truth of a search.

This module is the one home of the journal's event vocabulary. Every event is a JSON object
on its own line with ``event`` (one of :data:`EVENTS`) and ``time`` (Unix seconds, or the
simulator's virtual seconds):

- ``campaign``: the config (objective, space, trials, budget, strategy, seed, ...) at the
  start of a run or of a resume;
- ``stage_started``: a stage's space and how it was derived (staged campaigns);
- ``set_submitted``: set_id, params, seeds (one per trial), trials, stage; for multi-fidelity
  strategies also resource (epochs), rung, bracket and config_id (set_id of the rung-0
  evaluation). Journals written before the Search core say ``budget`` and ``config`` for
  the last two; both spellings are read;
- ``trials_added``: set_id, seeds, trials: more trials for a set already submitted (they
  take the next trial indices; the set is pending again until they are back); ``purpose``
  says why: ``race`` (adaptive repeats, counted in a budget of trainings) or ``confirm``
  (confirmation trials on idle slots, counted apart); journals before it have none;
- ``trial_finished``: set_id, trial, seed, score (null on failure), error, worker, device,
  started, finished, info;
- ``set_finished``: set_id, state (done/failed), mean, std, n_ok;
- ``run_finished``: reason.

:func:`apply` is the one function that turns an event into History state: the Search calls
it for the events it writes (live), and :func:`replay` for the events it reads, so the live
state IS the replay. A journal whose events do not fit (wrong schema, unknown set, a trial
index beyond the set's trials, invalid UTF-8) is a :class:`JournalError` naming the line.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from hyppo_hep.errors import OutputError, UserError
from hyppo_hep.history import DONE, FAILED, PENDING, History, SetRecord, SetState, TrialRecord

JOURNAL_NAME = "journal.jsonl"
RESULTS_NAME = "results.csv"

CAMPAIGN = "campaign"
STAGE_STARTED = "stage_started"
SET_SUBMITTED = "set_submitted"
TRIALS_ADDED = "trials_added"
TRIAL_FINISHED = "trial_finished"
SET_FINISHED = "set_finished"
RUN_FINISHED = "run_finished"
EVENTS = (CAMPAIGN, STAGE_STARTED, SET_SUBMITTED, TRIALS_ADDED, TRIAL_FINISHED, SET_FINISHED, RUN_FINISHED)

# multi-fidelity fields of set_submitted: today's name, and the name journals used before
MF_FIELDS = (("resource", "budget"), ("rung", "rung"), ("bracket", "bracket"), ("config_id", "config"))


class JournalError(UserError):
    """A journal that cannot be read as one (exit status 2, one line naming the line)."""


class EventError(ValueError):
    """An event that does not fit the vocabulary or the history it is applied to."""


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
    """Appends events to ``path``; every line is flushed so that a kill loses at most one.

    A write that fails (full disk, output directory deleted) raises :class:`OutputError`:
    the lines written before stay as they were, and a torn line is cut on the next open."""

    def __init__(self, path: str | os.PathLike, clock=time.time):
        self.path = Path(path)
        self.clock = clock
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _drop_torn_tail(self.path)
            self._fh = open(self.path, "a", encoding="utf-8")
        except OSError as exc:
            raise OutputError(f"cannot open journal {self.path}: {exc.strerror or exc}") from None

    def write(self, record: dict) -> dict:
        """Append one event (a dict with ``event`` and ``time``)."""
        try:
            self._fh.write(json.dumps(_clean(record), default=_unwritable) + "\n")
            self._fh.flush()
        except OSError as exc:
            raise OutputError(f"cannot write journal {self.path}: {exc.strerror or exc}") from None
        return record

    def append(self, event: str, **fields) -> dict:
        return self.write({"event": event, "time": self.clock(), **fields})

    def close(self) -> None:
        if self._fh.closed:
            return
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError:
            pass  # the disk is full or gone: what was flushed is what the journal holds
        finally:
            try:
                self._fh.close()
            except OSError:
                pass


def _line_ok(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line.decode("utf-8")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


def _drop_torn_tail(path: Path) -> None:
    """Cut a torn last line: one that a kill left without its newline (appending after it
    would glue the next event onto the torn one and corrupt both), or one that ends in a
    newline but is not an event (appending after it would make it an inner bad line, and
    the journal unreadable for good)."""
    if not path.exists():
        return
    with open(path, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        start = max(0, size - (1 << 20))
        fh.seek(start)
        tail = fh.read()
        if tail.endswith(b"\n"):
            cut = tail.rfind(b"\n", 0, len(tail) - 1)
            if _line_ok(tail[cut + 1:]) or (cut < 0 and start > 0):
                return
        else:
            cut = tail.rfind(b"\n")
        fh.truncate(start + cut + 1 if cut >= 0 else start)


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, event)`` of a journal. A torn LAST line (killed mid-write) is
    skipped; a malformed line elsewhere is a JournalError naming its line number."""
    path = Path(path)
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise JournalError(f"cannot read journal {path}: {exc.strerror or exc}") from None
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            event = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if lineno == len(lines):
                return
            what = "valid UTF-8" if isinstance(exc, UnicodeDecodeError) else "valid JSON"
            raise JournalError(f"journal {path} line {lineno} is not {what}") from None
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            raise JournalError(f"journal {path} line {lineno} is not a journal event")
        yield lineno, event


def read_events(path: str | os.PathLike) -> Iterator[dict]:
    """The events of a journal (see :func:`iter_lines`)."""
    return (event for _, event in iter_lines(path))


# --- the vocabulary applied: the one place an event changes a History ---------------------

def _int(ev: dict, key: str, optional: bool = False) -> int | None:
    value = ev.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise EventError(f"{ev['event']} has {key} {value!r} (a non-negative integer expected)")
    return value


def _seeds(ev: dict) -> list[int]:
    seeds = ev.get("seeds")
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise EventError(f"{ev['event']} of set {ev.get('set_id')!r} has seeds {seeds!r} (a list of integers expected)")
    return seeds


def _known(history: History, ev: dict) -> SetRecord:
    set_id = _int(ev, "set_id")
    if set_id not in history.sets:
        raise EventError(f"{ev['event']} names set {set_id}, which was never submitted")
    return history.sets[set_id]


def _time(ev: dict) -> float | None:
    t = ev.get("time")
    return float(t) if isinstance(t, (int, float)) and not isinstance(t, bool) else None


def _set_submitted(history: History, ev: dict) -> SetRecord | None:
    set_id = _int(ev, "set_id")
    if set_id in history.sets:  # re-submitted after a resume: same set, same seeds
        return None
    params = ev.get("params")
    if not isinstance(params, dict):
        raise EventError(f"set_submitted of set {set_id} has params {params!r} (a mapping expected)")
    stage = ev.get("stage")
    if stage is not None and not isinstance(stage, str):
        raise EventError(f"set_submitted of set {set_id} has stage {stage!r} (a name expected)")
    mf = {}
    for key, old in MF_FIELDS:
        mf[key] = _int(ev, key if key in ev else old, optional=True)
    rec = SetRecord(set_id=set_id, params=params, seeds=list(_seeds(ev)), submitted=_time(ev), stage=stage, **mf)
    history.add_set(rec)
    return rec


CONFIRM = "confirm"  # the purpose of confirmation trials (trials_added)
RACE = "race"  # the purpose of adaptive repeats' top-ups


def _trials_added(history: History, ev: dict) -> SetRecord:
    rec = _known(history, ev)
    seeds = _seeds(ev)
    if ev.get("purpose") == CONFIRM:
        rec.confirm_trials.extend(range(rec.n_trials, rec.n_trials + len(seeds)))
    rec.seeds.extend(seeds)
    history.set_state(rec, PENDING)
    return rec


def _trial_finished(history: History, ev: dict) -> SetRecord:
    rec = _known(history, ev)
    trial = _int(ev, "trial")
    if trial >= rec.n_trials:
        raise EventError(f"trial_finished names trial {trial} of set {rec.set_id}, which has {rec.n_trials} trials")
    score, error, info = _number(ev.get("score")), ev.get("error"), ev.get("info")
    history.add_trial(rec.set_id, TrialRecord(
        trial=trial, seed=ev.get("seed"), score=score, error=None if error is None else str(error),
        worker=ev.get("worker"), device=ev.get("device"), started=_number(ev.get("started")),
        finished=_number(ev.get("finished")), info=info if isinstance(info, dict) else {}))
    return rec


def _number(value) -> float | None:
    """A finite number as float, else None (a failed trial's score is null; a hand-edited
    journal may hold anything, which must not break the sums done with it later)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _set_finished(history: History, ev: dict) -> SetRecord:
    rec = _known(history, ev)
    state = ev.get("state")
    if state not in (DONE, FAILED):
        raise EventError(f"set_finished of set {rec.set_id} has state {state!r} (done or failed expected)")
    history.set_state(rec, SetState(state))
    rec.finished = _time(ev)
    return rec


_APPLY = {SET_SUBMITTED: _set_submitted, TRIALS_ADDED: _trials_added, TRIAL_FINISHED: _trial_finished,
          SET_FINISHED: _set_finished}


def apply(history: History, event: dict) -> SetRecord | None:
    """Apply one journal event to ``history``; returns the set it touched (None for events
    about the run: campaign, stage_started, run_finished, and kinds this version does not
    know, which are kept in the journal but change nothing). Raises EventError."""
    handler = _APPLY.get(event.get("event"))
    return handler(history, event) if handler is not None else None


def replay(events: Iterable[dict] | str | os.PathLike) -> History:
    """Rebuild the History from journal events (an iterable of dicts, or a path)."""
    history = History()
    if isinstance(events, (str, os.PathLike)):
        numbered: Iterable[tuple[Any, dict]] = iter_lines(events)
        where = f"journal {events} line"
    else:
        numbered, where = enumerate(events, 1), "journal event"
    for n, ev in numbered:
        try:
            apply(history, ev)
        except EventError as exc:
            raise JournalError(f"{where} {n}: {exc}") from None
    return history


def campaign_header(events: Iterable[dict]) -> dict | None:
    """The first ``campaign`` event of a journal (what the run was started with)."""
    for ev in events:
        if ev.get("event") == CAMPAIGN:
            return ev
    return None


# --- results.csv ------------------------------------------------------------------------------

def write_results_csv(history: History, path: str | os.PathLike, k_std: float = 0.0) -> None:
    """One row per set, in set order: params, mean, std, n_trials, n_ok, state, wall time
    (multi-fidelity searches add resource, rung and config_id; confirmation trials n_confirm). Written to a temporary file
    and renamed, so a reader never sees half a table; on a failed write (full disk, the
    directory deleted) the temporary file is removed and OutputError raised."""
    path = Path(path)
    names: list[str] = []
    for rec in history.sets.values():
        for name in rec.params:
            if name not in names:
                names.append(name)
    mf = ["resource", "rung", "config_id"] if any(r.resource is not None for r in history.sets.values()) else []
    # confirmation trials (counted in n_trials) get their own column, only when there are any
    mf += ["n_confirm"] if any(r.confirm_trials for r in history.sets.values()) else []
    tmp = path.with_suffix(".csv.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["set_id", *names, "mean", "std", "n_trials", "n_ok", "state", "wall_time_s", "stage", *mf])
            for rec in history.sets.values():
                writer.writerow([
                    rec.set_id, *[rec.params.get(n, "") for n in names],
                    "" if rec.n_ok == 0 else f"{rec.mean:.10g}", "" if rec.n_ok == 0 else f"{rec.std:.10g}",
                    rec.n_trials, rec.n_ok, str(rec.state), f"{rec.wall_time:.3f}", rec.stage or "",
                    *["" if getattr(rec, k) is None else getattr(rec, k) for k in mf],
                ])
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


class ResultsWriter:
    """Rewrites results.csv at most every ``interval`` seconds (a rewrite of 10,000 sets
    takes half a second), and always on :meth:`flush`."""

    def __init__(self, path: str | os.PathLike, interval: float = 5.0, clock=time.monotonic):
        self.path, self.interval, self.clock = Path(path), interval, clock
        self._last = -math.inf

    def maybe_write(self, history: History) -> bool:
        if self.clock() - self._last < self.interval:
            return False
        self.flush(history)
        return True

    def flush(self, history: History) -> None:
        write_results_csv(history, self.path)
        self._last = self.clock()
