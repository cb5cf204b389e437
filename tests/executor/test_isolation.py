"""Trials in a child process (``isolation``): the same journal as in process, no orphan
when the master is killed, trials that start processes of their own, time limits."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hyppo_hep.run import main
from tests.helpers import SPACE, check_complete, children_of, spawn, wait_gone, write_cfg


def test_isolated_run_gives_the_same_journal_as_in_process(tmp_path):
    from tests.test_run import strip_times

    a = write_cfg(tmp_path, "a.yaml", out=str(tmp_path / "a"))
    b = write_cfg(tmp_path, "b.yaml", out=str(tmp_path / "b"), isolation="process")
    assert main([str(a), "--quiet"]) == 0 and main([str(b), "--quiet"]) == 0
    strip = lambda p: [e for e in strip_times(p) if e["event"] != "campaign"]  # noqa: E731
    assert strip(tmp_path / "a" / "journal.jsonl") == strip(tmp_path / "b" / "journal.jsonl")


@pytest.mark.slow
def test_sigkill_of_the_master_leaves_no_orphan_trial(tmp_path):
    cfg = write_cfg(tmp_path, objective={"name": "fault", "mode": "hang", "rate": 1.0}, isolation="process")
    proc = spawn([cfg, "--quiet"])
    end = time.time() + 30
    kids = []
    while time.time() < end and not kids:
        kids = [k for k in children_of(proc.pid) if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
        time.sleep(0.1)
    assert kids
    proc.kill()
    proc.wait()
    assert not wait_gone(kids), "an isolated child exits when its master dies"


def uses_a_subprocess(params, trial, seed, device):
    """An objective that starts a process of its own, as a DataLoader with workers does."""
    import multiprocessing as mp

    with mp.get_context("fork").Pool(1) as pool:
        return pool.apply(float, (params["x1"] ** 2 + params["x2"],))


@pytest.mark.slow
def test_isolated_trial_may_start_its_own_processes(tmp_path):
    # Bug fixed: children ignored SIGTERM (SIG_IGN), which the pool's worker inherited, so
    # Pool.terminate could wait forever. The time limit turns such a hang into a failure.
    cfg = write_cfg(tmp_path, objective="tests.executor.test_isolation:uses_a_subprocess", budget=4, trials=1,
                    isolation="process", trial_timeout=30)
    assert main([str(cfg), "--quiet"]) == 0
    history = check_complete(tmp_path / "out", 4, 1)
    assert all(r.state == "done" for r in history.sets.values()), [t.error for r in history.sets.values() for t in r.trials.values()]


def hangs_when_x1_is_high(params, trial, seed, device):
    if params["x1"] > 5:
        time.sleep(30)
    return params["x1"] ** 2 + params["x2"]


@pytest.mark.slow
def test_api_minimize_with_a_time_limit_and_isolation():
    import hyppo_hep

    res = hyppo_hep.minimize(hangs_when_x1_is_high, SPACE, budget=5, trials=1, seed=2, trial_timeout=0.5,
                             isolation="process")
    recs = res.history.sets.values()
    assert len(recs) == 5 and any(r.state == "failed" for r in recs) and any(r.state == "done" for r in recs)
    for r in recs:
        assert (r.state == "failed") == (r.params["x1"] > 5)
        if r.state == "failed":
            assert "timed out after 0.5 s" in r.trials[0].error


def starts_a_sleeper(params, trial, seed, device):
    """A trial that starts a process of its own and then hangs."""
    out = Path(os.environ["HYPPO_TEST_PIDFILE"])
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    out.write_text(str(proc.pid))
    time.sleep(60)
    return 0.0


@pytest.mark.slow
def test_timeout_kills_the_processes_a_trial_started(tmp_path, monkeypatch):
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("HYPPO_TEST_PIDFILE", str(pidfile))
    cfg = write_cfg(tmp_path, objective="tests.executor.test_isolation:starts_a_sleeper", budget=1, trials=1,
                    isolation="process", trial_timeout=1.0)
    assert main([str(cfg), "--quiet"]) == 0
    rec = check_complete(tmp_path / "out", 1, 1).sets[0]
    assert rec.state == "failed" and "timed out after 1 s" in rec.trials[0].error
    assert not wait_gone([int(pidfile.read_text())]), "the trial's own process is killed with it"
