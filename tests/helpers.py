"""Helpers shared by the tests that run whole campaigns: write a config, run it in this
process or as a subprocess, read its journal back and check it; watch the processes a run
starts. Not a test module: imported as ``tests.helpers``."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hyppo_hep.journal import read_events, replay
from hyppo_hep.objectives.registry import ObjectiveRef
from hyppo_hep.run import main
from hyppo_hep.search import Search

ROOT = Path(__file__).resolve().parents[1]


SPACE = {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}}


GOOD = {"objective": "branin", "space": {"x1": {"lower": -5, "upper": 10}, "x2": {"low": 0.0, "high": 15.0}},
        "trials": 2, "budget": 3, "strategy": "random", "seed": 1}


# --- runs in this process and as subprocesses ----------------------------------------------------


def write_cfg(tmp_path, name="c.yaml", **kw):
    cfg = {"objective": "branin", "space": SPACE, "trials": 2, "budget": 4, "strategy": "random", "seed": 3,
           "out": str(tmp_path / "out"), **kw}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def events(out):
    return list(read_events(Path(out) / "journal.jsonl"))


def check_complete(out, budget, trials):
    """Exactly ``budget`` finished sets, every (set, trial) exactly once; returns the history."""
    evs = events(out)
    finished = [e["set_id"] for e in evs if e["event"] == "set_finished"]
    assert sorted(finished) == list(range(budget)), "every set finished exactly once"
    pairs = [(e["set_id"], e["trial"]) for e in evs if e["event"] == "trial_finished"]
    assert len(pairs) == len(set(pairs)) == budget * trials, "every trial exactly once, none lost"
    history = replay(evs)
    assert all(r.state in ("done", "failed") for r in history.sets.values())
    return history


def env():
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def spawn(args):
    return subprocess.Popen([sys.executable, "-m", "hyppo_hep.run", *map(str, args)], cwd=ROOT, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def children_of(pid):
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def wait_gone(pids, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        alive = [p for p in pids if Path(f"/proc/{p}").exists()
                 and " Z " not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1][:3]]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


REASONS = {"raise": "RuntimeError: injected fault", "nan": "non-finite score: nan", "inf": "non-finite score: inf",
           "exit": "SystemExit: 3", "hang": "timed out after 0.5 s", "abort": "killed by signal SIGABRT",
           "sigkill": "killed by signal SIGKILL", "segfault": "killed by signal SIGSEGV"}


def check_faults(history, mode: str, rate: float = 0.5) -> list:
    """Every trial the ``fault`` objective made faulty failed with the mode's reason, every
    healthy one scored what a direct call scores; at least one fault was injected.
    Returns the set records for further checks."""
    fault = ObjectiveRef("fault", {"mode": mode, "rate": rate}).build()
    n_faulty = 0
    for rec in history.sets.values():
        for t, tr in rec.trials.items():
            if fault.is_faulty(rec.seeds[t]):
                n_faulty += 1
                assert not tr.ok and REASONS[mode] in tr.error, tr.error
            else:  # the healthy trials are untouched: the score of a direct call
                assert tr.ok and tr.score == pytest.approx(fault(rec.params, t, rec.seeds[t]), rel=1e-12)
    assert n_faulty > 0, "the seed must inject at least one fault"
    return list(history.sets.values())


def run_main(args, capsys):
    status = main(args)
    captured = capsys.readouterr()
    return status, captured.err


def assert_one_line_exit_2(status, err, what):
    assert status == 2, f"{what}: status {status}, stderr {err!r}"
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, f"{what}: {err!r}"


# --- a finished campaign and exit statuses with one line -----------------------------------------


def one_line(status, err, expected_status=2, what=""):
    assert status == expected_status, f"{what}: status {status}, stderr {err!r}"
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, f"{what}: {err!r}"


def run(args, capsys):
    status = main([str(a) for a in args])
    return status, capsys.readouterr().err


def write(tmp_path, cfg, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def finished(tmp_path, capsys):
    """A finished campaign in tmp/out: its config and the bytes of its journal and results."""
    out = tmp_path / "out"
    cfg = write(tmp_path, {**GOOD, "out": str(out)})
    assert main([str(cfg), "--quiet"]) == 0
    capsys.readouterr()
    return out, {p.name: p.read_bytes() for p in (out / "journal.jsonl", out / "results.csv")}


def intact(out, saved):
    return {name: (out / name).read_bytes() for name in saved} == saved


def cut_journal(path, after) -> tuple[list[str], int]:
    """Cut the journal at ``path`` after its first line that holds ``after`` (a str), or after
    line ``after`` (an int): a campaign killed right after that event. Returns (the whole
    journal's lines, the index of the last line kept)."""
    lines = Path(path).read_text().splitlines()
    cut = after if isinstance(after, int) else next(i for i, line in enumerate(lines) if after in line)
    Path(path).write_text("\n".join(lines[:cut + 1]) + "\n")
    return lines, cut


class Events(list):
    """A journal kept in memory: a Search writes its events here (``write``) instead of a file."""

    def write(self, record):
        self.append(record)
        return record


# --- a Search that records its asks --------------------------------------------------------------


class RecordingSearch(Search):
    """A Search that notes, for every ask, the slots asked for, the virtual time and the
    events it wrote (its journal is an Events list): the replay tests of the end phase and of
    confirmation trials ask again, from the journal up to each ask, and compare."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.asks = []

    def ask(self, n):
        first, now = len(self.journal), self.clock()
        specs = super().ask(n)
        self.asks.append((n, now, first, len(self.journal)))
        return specs
