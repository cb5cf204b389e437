"""Kills and signals: SIGKILL at random moments then resume, SIGTERM/SIGINT stop cleanly,
jobs/slurm_requeue.sh with stand-in Slurm commands, a staged campaign interrupted mid-stage.

Every run must finish its budget, lose no finished trial and duplicate none."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from hyppo_hep.journal import replay
from hyppo_hep.objectives.registry import ObjectiveRef
from hyppo_hep.run import main
from tests.helpers import ROOT, check_complete, children_of, env, events, run_main, spawn, wait_gone, write_cfg


@pytest.mark.slow
def test_sigkill_at_10_random_moments_then_resume_loses_nothing(tmp_path, capsys):
    budget, trials = 24, 3
    ref = write_cfg(tmp_path, "ref.yaml", budget=budget, trials=trials, out=str(tmp_path / "ref"))
    assert main([str(ref), "--quiet"]) == 0
    reference = replay(tmp_path / "ref" / "journal.jsonl")
    cfg = write_cfg(tmp_path, budget=budget, trials=trials, objective={"name": "branin", "sleep": 0.05})
    out = tmp_path / "out"
    jp = out / "journal.jsonl"
    rng = random.Random(7)
    kills = 0
    for _ in range(30):
        if kills == 10:
            break
        n_campaigns = sum(e["event"] == "campaign" for e in events(out)) if jp.exists() else 0
        proc = spawn([cfg, "--quiet"] + (["--resume"] if jp.exists() else []))
        # the moment is random within the run's working time (interpreter start-up takes from
        # 0.3 s to seconds on a loaded machine): count from the run's own first journal line
        end = time.time() + 60
        while time.time() < end and proc.poll() is None and not (
                jp.exists() and sum(e["event"] == "campaign" for e in events(out)) > n_campaigns):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
        if events(out)[-1]["event"] == "run_finished":
            break
    assert kills == 10, f"only {kills} kills landed while the run was going"
    status, err = run_main([str(cfg), "--quiet", "--resume"], capsys)
    assert status == 0, err
    history = check_complete(out, budget, trials)
    for set_id, rec in history.sets.items():  # same sets, same seeds, same scores as uninterrupted
        assert rec.params == reference.sets[set_id].params
        assert rec.scores == reference.sets[set_id].scores
    assert sum(e["event"] == "campaign" for e in events(out)) >= 2


@pytest.mark.parametrize("executor, sig, status", [("serial", signal.SIGTERM, 143), ("pool", signal.SIGTERM, 143),
                                                   ("pool", signal.SIGINT, 130)])
@pytest.mark.slow
def test_signal_stops_cleanly_and_resumes(tmp_path, executor, sig, status):
    budget, trials = 6, 2
    cfg = write_cfg(tmp_path, budget=budget, trials=trials, objective={"name": "branin", "sleep": 0.15},
                    executor={"kind": "pool", "workers": 2} if executor == "pool" else "serial")
    out = tmp_path / "out"
    proc = spawn([cfg, "--quiet"])
    end = time.time() + 30
    while time.time() < end:  # wait for the first finished set: the run is in full swing
        if (out / "journal.jsonl").exists() and any(e["event"] == "set_finished" for e in events(out)):
            break
        time.sleep(0.05)
    kids = children_of(proc.pid)
    assert len(kids) >= (2 if executor == "pool" else 0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == status, err
    assert err.count("\n") == 1 and "Traceback" not in err and "--resume" in err, err
    assert not wait_gone(kids), "the trial processes are stopped with the run"
    evs = events(out)
    assert evs[-1]["event"] == "run_finished" and evs[-1]["reason"] == "interrupted"
    assert evs[-1]["signal"] == signal.Signals(sig).name
    assert (out / "journal.jsonl").read_bytes().endswith(b"\n")
    assert main([str(cfg), "--quiet", "--resume"]) == 0
    check_complete(out, budget, trials)


@pytest.mark.slow
def test_slurm_requeue_script_stops_requeues_and_resumes(tmp_path):
    """jobs/slurm_requeue.sh with stand-ins for the three Slurm commands it calls (srun runs
    its command, scancel --signal=TERM signals it, scontrol writes down what it was asked):
    the script's own logic is real. Under a real Slurm: tests/executor/test_slurm.py."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(f'#!/bin/bash\necho $$ > {tmp_path}/run.pid\nexec "$@"\n')
    (bin_dir / "scancel").write_text(f'#!/bin/bash\nkill -TERM "$(cat {tmp_path}/run.pid)"\n')
    (bin_dir / "scontrol").write_text(f'#!/bin/bash\necho "$@" >> {tmp_path}/scontrol.log\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    budget, trials = 6, 2
    cfg = write_cfg(tmp_path, budget=budget, trials=trials, objective={"name": "branin", "sleep": 0.15})
    out = tmp_path / "out"
    run_env = {**env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "4242",
               "PYTHON": sys.executable}
    script = [str(ROOT / "jobs" / "slurm_requeue.sh"), str(cfg), "--quiet"]
    job = subprocess.Popen(["bash", *script], cwd=tmp_path, env=run_env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    end = time.time() + 30
    while time.time() < end and not ((out / "journal.jsonl").exists()
                                     and any(e["event"] == "set_finished" for e in events(out))):
        time.sleep(0.05)
    job.send_signal(signal.SIGUSR1)  # what --signal=B:USR1@120 does
    log, _ = job.communicate(timeout=60)
    assert job.returncode == 143, log
    assert "requeueing" in log and (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"
    assert events(out)[-1]["reason"] == "interrupted"
    # the requeued job: same script, finds the journal, resumes to the end, no requeue
    job = subprocess.run(["bash", *script], cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=120)
    assert job.returncode == 0, job.stdout + job.stderr
    assert "campaign finished" in job.stdout
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"
    check_complete(out, budget, trials)
    assert sum(e["event"] == "campaign" and e["resumed"] for e in events(out)) == 1


_CALLS = {"n": 0}


def term_on_call_7(params, trial, seed, device):
    """An objective that sends SIGTERM to its own (master) process on its 7th call: the
    moment Slurm's warning arrives in the middle of a staged campaign's first stage."""
    _CALLS["n"] += 1
    if _CALLS["n"] == 7:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted by the signal's exception
    return ObjectiveRef("branin", {}).build()(params, trial, seed, device)


def test_staged_campaign_interrupted_in_a_stage_resumes_that_stage(tmp_path, capsys):
    """Bug fixed: a stage journal ending in run_finished was taken as a finished stage even
    when the run had been interrupted; now only a spent budget counts as finished."""
    _CALLS["n"] = 0
    cfg = write_cfg(tmp_path, objective="tests.test_signals:term_on_call_7", budget=4, trials=2,
                    stages=[{"name": "broad"}, {"name": "focus", "ranges": "auto", "budget": 3}])
    status, err = run_main([str(cfg), "--quiet"], capsys)
    assert status == 143 and "interrupted by SIGTERM" in err and err.count("\n") == 1
    broad = tmp_path / "out" / "0_broad"
    assert events(broad)[-1]["reason"] == "interrupted"
    assert not (tmp_path / "out" / "1_focus").exists()
    status, err = run_main([str(cfg), "--quiet", "--resume"], capsys)
    assert status == 0, err
    check_complete(broad, 4, 2)
    check_complete(tmp_path / "out" / "1_focus", 3, 2)
