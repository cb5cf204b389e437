"""Reliability under real MPI, second round (issue 13): unwritable trial values, a
KeyboardInterrupt raised by a trial, a frozen worker rank, the output-directory lock.

Every run has a timeout; trials are short so that oversubscribed ranks finish quickly.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hyppo_hep.journal import read_events, replay
from test_mpi import ROOT, config, mpiexec

pytest.importorskip("mpi4py")
pytestmark = pytest.mark.mpi

TESTS = Path(__file__).resolve().parent


def env(**extra):
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]), **extra)


def launch(n, tmp_path, cfg, *args, timeout=120, **extra_env):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.run([mpiexec(), "-n", str(n), sys.executable, "-m", "hyppo_hep.run", str(path), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=env(**extra_env))


def events(out):
    return list(read_events(Path(out) / "journal.jsonl"))


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_unwritable_values_and_own_interrupts_under_mpi(tmp_path, isolation):
    from test_trial_returns import check_odd_info

    cfg = config(tmp_path, objective={"name": "test_trial_returns:odd_info", "bad": "object"}, trials=2, budget=3,
                 isolation=isolation, executor={"kind": "mpi", "group_size": 2})
    proc = launch(3, tmp_path, cfg, "--quiet")
    assert proc.returncode == 0, proc.stderr
    check_odd_info(tmp_path / "out", 3)
    cfg = config(tmp_path, objective="test_trial_returns:interrupts_itself", trials=2, budget=2,
                 isolation=isolation, executor={"kind": "mpi", "group_size": 2}, out=str(tmp_path / "out2"))
    proc = launch(3, tmp_path, cfg, "--quiet")
    assert proc.returncode == 0, proc.stderr
    evs = events(tmp_path / "out2")
    assert evs[-1]["event"] == "run_finished" and evs[-1]["reason"] == "budget"
    failed = [e for e in evs if e["event"] == "trial_finished" and e["score"] is None]
    assert [e["trial"] for e in failed] == [1, 1] and all("KeyboardInterrupt: raised by the trial" in e["error"]
                                                          for e in failed)
