"""kill -9 of the master leaves no process a trial started (issue 13.4), local executors.

The isolated child runs in its own process group with a watchdog that SIGKILLs the group
when the master dies; the MPI cases are in test_mpi_workers.py.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parent
SPACE = {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}}


def starts_a_sleeper(params, trial, seed, device):
    """A trial that starts a long process of its own (a simulation binary), notes its pid in
    $HYPPO_TEST_PIDDIR and waits for it."""
    proc = subprocess.Popen(["sleep", "300"])
    (Path(os.environ["HYPPO_TEST_PIDDIR"]) / f"{proc.pid}").write_text(str(os.getpid()))
    proc.wait()
    return 0.0


def alive(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end and any(alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


@pytest.mark.slow
@pytest.mark.parametrize("executor, isolation", [("serial", "process"), ("serial", "fresh"), ("pool", "process")])
def test_sigkill_of_the_master_kills_what_the_trials_started(tmp_path, executor, isolation):
    piddir = tmp_path / "pids"
    piddir.mkdir()
    cfg = {"objective": "tests.executor.test_orphans:starts_a_sleeper", "space": SPACE, "trials": 2, "budget": 2,
           "strategy": "random", "out": str(tmp_path / "out"), "isolation": isolation,
           "executor": {"kind": "pool", "workers": 2} if executor == "pool" else executor}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]), HYPPO_TEST_PIDDIR=str(piddir))
    master = subprocess.Popen([sys.executable, "-m", "hyppo_hep.run", str(path), "--quiet"], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    n = 2 if executor == "pool" else 1
    try:
        end = time.time() + 60
        while time.time() < end and len(list(piddir.iterdir())) < n:
            time.sleep(0.1)
        sleepers = [int(p.name) for p in piddir.iterdir()]
        children = [int(p.read_text()) for p in piddir.iterdir()]  # the isolated children that started them
        assert len(sleepers) == n and all(alive(p) for p in sleepers + children)
        master.kill()
        master.wait()
        assert not wait_gone(sleepers + children, timeout=10), "a kill -9 of the master leaves nothing running"
    finally:
        if master.poll() is None:
            master.kill()
        for p in piddir.iterdir():
            if alive(int(p.name)):
                os.kill(int(p.name), signal.SIGKILL)
