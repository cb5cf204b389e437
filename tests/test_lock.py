"""One run per output directory (issue 13.3), with real concurrent processes.

A second run, ``--resume`` or ``--overwrite`` into a directory in use exits 2 with one line
naming the holder's host and pid (and deletes nothing); a lock left by a killed run is
taken over; simultaneous starts let exactly one run write the journal.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hyppo_hep.errors import UserError
from hyppo_hep.journal import read_events, replay
from hyppo_hep.lock import LOCK_NAME, OutDirLock, _take_without_locks

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SPACE = {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}}
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
HOLD = "import sys, time; from hyppo_hep.lock import OutDirLock; l = OutDirLock(sys.argv[1]).acquire(); " \
       "print('held', flush=True); time.sleep(60)"


def hold_in_another_process(out):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], env=ENV, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_lock_held_by_another_process_is_refused_naming_host_and_pid(tmp_path):
    out = tmp_path / "out"
    holder = hold_in_another_process(out)
    try:
        with pytest.raises(UserError) as err:
            OutDirLock(out).acquire()
        msg = str(err.value)
        assert f"host {socket.gethostname()}, pid {holder.pid}," in msg and "in use by another run" in msg
        assert "\n" not in msg
    finally:
        holder.kill()
        holder.wait()
    # killed with SIGKILL: its lock file is left behind, but the lock went with the process
    assert (out / LOCK_NAME).exists()
    with OutDirLock(out):
        assert (out / LOCK_NAME).read_text().split()[:2] == [socket.gethostname(), str(os.getpid())]
        for reentrant in (False, True):  # exclusive within one process too (AskTell vs minimize)
            with pytest.raises(UserError, match=f"pid {os.getpid()},"):
                OutDirLock(out, reentrant=reentrant).acquire()
    assert not (out / LOCK_NAME).exists() and out.is_dir()


def test_reentrant_holds_share_and_release_removes_what_the_lock_made(tmp_path):
    out = tmp_path / "new" / "out"
    with OutDirLock(out, reentrant=True):
        with OutDirLock(out, reentrant=True):
            assert (out / LOCK_NAME).exists()
        assert (out / LOCK_NAME).exists(), "the outer hold still holds"
    assert not out.exists(), "a directory the lock created and nobody wrote to is removed again"
    out.mkdir(parents=True)
    (out / "mine.txt").write_text("x")
    with OutDirLock(out):
        pass
    assert (out / "mine.txt").read_text() == "x" and sorted(p.name for p in out.iterdir()) == ["mine.txt"]


def test_without_record_locks_the_file_is_the_lock(tmp_path):
    """The fallback for file systems without fcntl locks (Lustre without flock): O_EXCL
    create; a dead pid of this host is stale and taken over, another host's never."""
    path = tmp_path / LOCK_NAME
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path.write_text(f"{socket.gethostname()} {dead.pid} 0\n")
    fd = _take_without_locks(path)
    assert path.read_text().split()[:2] == [socket.gethostname(), str(os.getpid())]
    with pytest.raises(UserError, match=f"pid {os.getpid()}"):  # a live holder (this process)
        _take_without_locks(path)
    os.close(fd)
    path.write_text("node042 1234 0\n")
    with pytest.raises(UserError) as err:
        _take_without_locks(path)
    assert "host node042, pid 1234" in str(err.value) and f"remove {path}" in str(err.value)
    assert path.read_text() == "node042 1234 0\n"


def write_cfg(tmp_path, name="c.yaml", **kw):
    cfg = {"objective": {"name": "branin", "sleep": 0.25}, "space": SPACE, "trials": 2, "budget": 6,
           "strategy": "random", "seed": 3, "out": str(tmp_path / "out"), **kw}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def run(cfg, *args, **kw):
    return subprocess.Popen([sys.executable, "-m", "hyppo_hep.run", str(cfg), "--quiet", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)


def events(out):
    return list(read_events(out / "journal.jsonl"))


def check_once(out, budget, trials):
    evs = events(out)
    pairs = [(e["set_id"], e["trial"]) for e in evs if e["event"] == "trial_finished"]
    assert sorted(pairs) == [(s, t) for s in range(budget) for t in range(trials)], "every trial exactly once"
    assert sorted(e["set_id"] for e in evs if e["event"] == "set_finished") == list(range(budget))
    submitted = {}
    for e in evs:
        if e["event"] == "set_submitted":
            assert submitted.setdefault(e["set_id"], e["params"]) == e["params"], "one set_id, one set"


@pytest.mark.slow
def test_second_run_resume_and_overwrite_are_refused_while_a_run_holds_the_directory(tmp_path):
    # trials long enough (12 x 1 s) that the first run still holds the directory while three
    # more interpreters start on a loaded machine
    cfg = write_cfg(tmp_path, objective={"name": "branin", "sleep": 1.0})
    out = tmp_path / "out"
    first = run(cfg)
    end = time.time() + 30
    while time.time() < end and not ((out / "journal.jsonl").exists()
                                     and any(e["event"] == "trial_finished" for e in events(out))):
        time.sleep(0.05)
    others = [run(cfg), run(cfg, "--resume"), run(cfg, "--overwrite")]
    for proc in others:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, err
        assert err.count("\n") == 1 and "Traceback" not in err
        assert f"is in use by another run (host {socket.gethostname()}, pid {first.pid}," in err, err
    assert first.poll() is None, "the refused runs did not disturb the running one"
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    check_once(out, 6, 2)
    assert sum(e["event"] == "campaign" for e in events(out)) == 1
    assert not (out / LOCK_NAME).exists(), "a finished run leaves no lock file"


@pytest.mark.slow
def test_simultaneous_starts_and_resumes_let_exactly_one_run_write(tmp_path):
    cfg = write_cfg(tmp_path, budget=4)
    out = tmp_path / "out"
    procs = [run(cfg) for _ in range(4)]
    results = [(p.wait(timeout=90), p.stderr.read()) for p in procs]
    assert sorted(s for s, _ in results) == [0, 2, 2, 2], results
    for status, err in results:
        if status == 2:  # refused by the lock, or (started after the winner finished) by the journal
            assert "in use by another run" in err or "already exists" in err, err
    assert sum(e["event"] == "campaign" for e in events(out)) == 1
    check_once(out, 4, 2)
    # now interrupt it halfway and resume from three processes at once
    cfg = write_cfg(tmp_path, budget=8)
    first = run(cfg, "--overwrite")
    end = time.time() + 30
    while time.time() < end and not ((out / "journal.jsonl").exists()
                                     and sum(e["event"] == "set_finished" for e in events(out)) >= 2):
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    n_runs = sum(e["event"] == "campaign" for e in events(out))
    procs = [run(cfg, "--resume") for _ in range(3)]
    results = [(p.wait(timeout=90), p.stderr.read()) for p in procs]
    statuses = sorted(s for s, _ in results)
    assert statuses[0] == 0 and all(s in (0, 2) for s in statuses), results
    for status, err in results:
        assert status == 0 or "in use by another run" in err, err
    # a resume that started after the winner had finished resumes a finished journal (0, no work)
    check_once(out, 8, 2)
    assert sum(e["event"] == "campaign" for e in events(out)) == n_runs + statuses.count(0)
    assert replay(out / "journal.jsonl").sets.keys() == set(range(8))


def test_asktell_and_minimize_share_the_lock(tmp_path):
    from hyppo_hep.api import AskTell, minimize

    out = tmp_path / "at"
    at = AskTell(SPACE, trials=2, budget=3, out=str(out), strategy="random")
    try:
        holder = subprocess.run([sys.executable, "-c", HOLD, str(out)], env=ENV, capture_output=True, text=True,
                                timeout=60)
        assert holder.returncode == 1 and f"pid {os.getpid()}," in holder.stderr, holder.stderr
        with pytest.raises(UserError, match="in use by another run"):
            minimize(lambda p, t, s, d: 0.0, SPACE, budget=1, trials=1, out=str(out), overwrite=True)
        assert any(e["event"] == "campaign" for e in events(out)), "the refused overwrite deleted nothing"
    finally:
        at.close()
    assert not (out / LOCK_NAME).exists()
    minimize(lambda p, t, s, d: 0.0, SPACE, budget=1, trials=1, out=str(out), overwrite=True)


def test_a_refused_asktell_does_not_keep_the_lock(tmp_path):
    from hyppo_hep.api import AskTell

    out = tmp_path / "at"
    AskTell(SPACE, trials=1, budget=2, out=str(out), strategy="random").close()
    with pytest.raises(UserError, match="already exists"):
        AskTell(SPACE, trials=1, budget=2, out=str(out), strategy="random")
    at = AskTell(SPACE, trials=1, budget=2, out=str(out), strategy="random", overwrite=True)
    at.close()
    at.close()
    assert not (out / LOCK_NAME).exists()
