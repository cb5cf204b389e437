"""Reliability under real MPI (mpiexec -n 3): injected faults and SIGTERM to every rank.

Reuses the launch helpers of test_mpi.py and the checks of tests/helpers.py.
"""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from hyppo_hep.journal import read_events, replay
from tests.executor.test_mpi import ROOT, config, launch, mpiexec
from tests.helpers import check_complete, check_faults, events

pytest.importorskip("mpi4py")
pytestmark = [pytest.mark.mpi, pytest.mark.slow]

FAULTS = [("none", "raise"), ("none", "nan"), ("process", "abort"), ("none", "hang")]


@pytest.mark.parametrize("isolation, mode", FAULTS, ids=[f"{m}-{i}" for i, m in FAULTS])
def test_injected_faults_under_mpi_are_recorded_and_the_budget_completes(tmp_path, isolation, mode):
    budget, trials = 3, 2
    cfg = config(tmp_path, objective={"name": "fault", "mode": mode, "rate": 0.5, "hang_s": 30}, budget=budget,
                 trials=trials, trial_timeout=0.5, isolation=isolation, executor={"kind": "mpi", "group_size": 2})
    proc = launch(3, tmp_path, cfg, "--quiet")
    assert proc.returncode == 0, proc.stderr
    history = check_complete(tmp_path / "out", budget, trials)
    for rec in check_faults(history, mode):
        for tr in rec.trials.values():
            if tr.ok:  # healthy trials ran on a worker rank
                assert tr.worker.split(":")[2].split(">")[0] in ("1", "2")


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_sigterm_to_every_rank_stops_cleanly_and_resumes(tmp_path, isolation):
    """What Slurm does before the time limit (srun forwards SIGTERM to every rank; so does
    mpiexec): the master journals what it has and exits 143, the workers abandon their
    trials (in-process ones too) and exit, nothing hangs; --resume then completes the budget
    with every (set, trial) exactly once."""
    budget, trials = 8, 2
    # trials of 0.2 s, half of them hang for 60 s (no trial_timeout): within a second or two
    # both worker ranks are stuck in a hung trial, which only an abandoning stop can end
    cfg = config(tmp_path, objective={"name": "fault", "mode": "hang", "rate": 0.5, "hang_s": 60, "sleep": 0.2},
                 budget=budget, trials=trials, isolation=isolation, executor={"kind": "mpi", "group_size": 2})
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    job = subprocess.Popen([mpiexec(), "-n", "3", sys.executable, "-m", "hyppo_hep.run", str(path), "--quiet"],
                           cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    out = tmp_path / "out"
    end = time.time() + 30
    while time.time() < end:  # wait for a finished trial: workers busy, journal open
        if (out / "journal.jsonl").exists() and any(e["event"] == "trial_finished" for e in events(out)):
            break
        time.sleep(0.05)
    time.sleep(1.5)
    t0 = time.time()
    job.send_signal(signal.SIGTERM)  # mpiexec forwards it to every rank
    try:
        _, err = job.communicate(timeout=30)  # well before the hung trials' 60 s
    finally:
        if job.poll() is None:
            job.kill()  # a hang fails the test instead of stalling CI
    assert time.time() - t0 < 30, "the workers abandoned their hung trials instead of finishing them"
    assert job.returncode == 143, err  # mpiexec returns the master's status
    assert "interrupted by SIGTERM" in err and "--resume" in err and "Traceback" not in err, err
    evs = events(out)
    assert evs[-1]["event"] == "run_finished" and evs[-1]["reason"] == "interrupted", evs[-1]
    assert evs[-1]["signal"] == "SIGTERM" and evs[-1]["n_finished"] < budget
    assert any(r.state == "pending" for r in replay(evs).sets.values()), "trials were in flight"
    # resume with healthy trials (the config check compares the space, objective name and
    # trials only) so that the resumed run cannot hang
    cfg["objective"] = {"name": "fault", "mode": "hang", "rate": 0.0, "sleep": 0.05}
    proc = launch(3, tmp_path, cfg, "--quiet", "--resume", "--force-resume")
    assert proc.returncode == 0, proc.stderr
    check_complete(out, budget, trials)
    assert [e["event"] for e in read_events(out / "journal.jsonl")].count("campaign") == 2
