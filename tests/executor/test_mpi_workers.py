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
from tests.executor.test_mpi import ROOT, config, mpiexec
from tests.executor.test_orphans import alive, wait_gone

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
    from tests.test_trial_returns import check_odd_info

    cfg = config(tmp_path, objective={"name": "tests.test_trial_returns:odd_info", "bad": "object"}, trials=2, budget=3,
                 isolation=isolation, executor={"kind": "mpi", "group_size": 2})
    proc = launch(3, tmp_path, cfg, "--quiet")
    assert proc.returncode == 0, proc.stderr
    check_odd_info(tmp_path / "out", 3)
    cfg = config(tmp_path, objective="tests.test_trial_returns:interrupts_itself", trials=2, budget=2,
                 isolation=isolation, executor={"kind": "mpi", "group_size": 2}, out=str(tmp_path / "out2"))
    proc = launch(3, tmp_path, cfg, "--quiet")
    assert proc.returncode == 0, proc.stderr
    evs = events(tmp_path / "out2")
    assert evs[-1]["event"] == "run_finished" and evs[-1]["reason"] == "budget"
    failed = [e for e in evs if e["event"] == "trial_finished" and e["score"] is None]
    assert [e["trial"] for e in failed] == [1, 1] and all("KeyboardInterrupt: raised by the trial" in e["error"]
                                                          for e in failed)


# --- kill -9 of the master leaves nothing a trial started (13.4) --------------------------------

def rank_pids(root_pid, rank):
    """Pids of the processes below ``root_pid`` whose environment says PMI_RANK=rank."""
    found, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for kid in map(int, kids):
            try:
                environ = Path(f"/proc/{kid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"PMI_RANK={rank}".encode() in environ and b"hyppo_hep.run" in Path(f"/proc/{kid}/cmdline").read_bytes():
                found.append(kid)
            else:
                todo.append(kid)
    return found


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_sigkill_of_the_mpi_master_leaves_no_process_a_trial_started(tmp_path, isolation):
    piddir = tmp_path / "pids"
    piddir.mkdir()
    cfg = config(tmp_path, objective="tests.executor.test_orphans:starts_a_sleeper", trials=2, budget=2, isolation=isolation,
                 executor={"kind": "mpi", "group_size": 2})
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    job = subprocess.Popen([mpiexec(), "-n", "3", sys.executable, "-m", "hyppo_hep.run", str(path), "--quiet"],
                           cwd=tmp_path, env=env(HYPPO_TEST_PIDDIR=str(piddir)), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + 60
        while time.time() < end and len(list(piddir.iterdir())) < 2:
            time.sleep(0.1)
        sleepers = [int(p.name) for p in piddir.iterdir()]
        assert len(sleepers) == 2 and all(alive(p) for p in sleepers)
        (master,) = rank_pids(job.pid, 0)
        os.kill(master, signal.SIGKILL)
        job.communicate(timeout=60)
        assert not wait_gone(sleepers), "the sleeps the trials started die with the run"
    finally:
        if job.poll() is None:
            job.kill()
        for p in piddir.iterdir():
            if alive(int(p.name)):
                os.kill(int(p.name), signal.SIGKILL)


# --- a frozen worker rank does not stall the campaign (13.5) ------------------------------------

# give up on a silent rank after trial_timeout + 1 s (+ 2 s start-up) instead of + 60 (+ 120) s
FAST_GIVE_UP = {"HYPPO_MPI_GRACE": "1", "HYPPO_MPI_STARTUP_GRACE": "2"}


def freeze_rank_after_first_result(job, out, rank):
    """SIGSTOP world rank ``rank`` of ``job`` once the journal has a finished trial; its pid."""
    end = time.time() + 60
    while time.time() < end and not ((out / "journal.jsonl").exists()
                                     and any(e["event"] == "trial_finished" for e in events(out))):
        time.sleep(0.05)
    (pid,) = rank_pids(job.pid, rank)
    os.kill(pid, signal.SIGSTOP)
    return pid


@pytest.mark.parametrize("isolation", ["none", "process"])
def test_a_frozen_worker_rank_is_given_up_and_its_trials_move(tmp_path, isolation):
    """-n 3, groups of 1: rank 2 is SIGSTOPped mid-run. The master fails the trial it owed
    ('worker unresponsive') after trial_timeout + grace, moves its other trials to rank 1,
    never uses it again, completes the budget and ends the job (MPI_Abort, status 0)."""
    budget, trials = 4, 3
    cfg = config(tmp_path, objective={"name": "branin", "sleep": 0.4}, trials=trials, budget=budget,
                 trial_timeout=1.0, isolation=isolation, executor={"kind": "mpi", "group_size": 1})
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    job = subprocess.Popen([mpiexec(), "-n", "3", sys.executable, "-m", "hyppo_hep.run", str(path), "--quiet"],
                           cwd=tmp_path, env=env(**FAST_GIVE_UP), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    frozen = None
    try:
        frozen = freeze_rank_after_first_result(job, out, 2)
        t0 = time.time()
        stdout, err = job.communicate(timeout=90)
    finally:
        if job.poll() is None:
            job.kill()
        if frozen is not None and alive(frozen):
            os.kill(frozen, signal.SIGKILL)
    assert job.returncode == 0, err
    assert time.time() - t0 < 60
    assert "worker unresponsive: MPI rank 2 (group 1)" in err and "group 1 retired (1 of 2 groups left)" in err, err
    assert "MPI_Abort (exit status 0)" in err and "Traceback" not in err, err
    evs = events(out)
    assert evs[-1]["event"] == "run_finished" and evs[-1]["reason"] == "budget"
    pairs = [(e["set_id"], e["trial"]) for e in evs if e["event"] == "trial_finished"]
    assert sorted(pairs) == [(s, t) for s in range(budget) for t in range(trials)], "every trial exactly once"
    lost = [e for e in evs if e["event"] == "trial_finished" and e["score"] is None]
    assert len(lost) == 1 and lost[0]["error"].startswith("worker unresponsive: MPI rank 2"), lost
    assert lost[0]["worker"].split(":")[2] == "2", "named like any worker (host:pid:rank)"
    after = [e for e in evs if e["event"] == "trial_finished" and e["time"] > lost[0]["time"]]
    assert after and all(e["worker"].split(":")[2].split(">")[0] == "1" for e in after), \
        "after the freeze every trial runs on rank 1"
    history = replay(evs)
    assert all(r.state == "done" for r in history.sets.values())


# --- the output-directory lock under MPI (13.3) -------------------------------------------------

def test_a_second_mpi_job_into_the_same_out_is_refused(tmp_path):
    import socket

    cfg = config(tmp_path, objective={"name": "branin", "sleep": 0.5}, trials=2, budget=60,
                 executor={"kind": "mpi", "group_size": 2})
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    first = subprocess.Popen([mpiexec(), "-n", "3", sys.executable, "-m", "hyppo_hep.run", str(path), "--quiet"],
                             cwd=tmp_path, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + 60
        while time.time() < end and not ((out / "journal.jsonl").exists()
                                         and any(e["event"] == "trial_finished" for e in events(out))):
            time.sleep(0.05)
        (master,) = rank_pids(first.pid, 0)
        for extra in ((), ("--resume",), ("--overwrite",)):
            second = launch(3, tmp_path, cfg, "--quiet", *extra, timeout=90)
            assert second.returncode == 2, second.stderr
            assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr, second.stderr
            assert f"in use by another run (host {socket.gethostname()}, pid {master}," in second.stderr
        assert first.poll() is None, "the first job ran on undisturbed"
        first.send_signal(signal.SIGTERM)  # enough: stop it cleanly instead of waiting 30 s
        _, err = first.communicate(timeout=90)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 143, err
    evs = events(out)
    assert sum(e["event"] == "campaign" for e in evs) == 1 and evs[-1]["reason"] == "interrupted"
    pairs = [(e["set_id"], e["trial"]) for e in evs if e["event"] == "trial_finished"]
    assert len(pairs) == len(set(pairs)) > 0


def freezes_on_rank(params, trial, seed, device, rank=1, sleep=0.3):
    """Stops its own rank (SIGSTOP, as a hung driver would freeze it) at the first trial it
    runs on world rank ``rank``; a 0.3 s training elsewhere."""
    marker = Path(os.environ["HYPPO_TEST_PIDDIR"]) / "frozen"
    if os.environ.get("PMI_RANK") == str(rank) and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGSTOP)
    time.sleep(sleep)
    return params["x1"] ** 2


def run_with_a_freeze(tmp_path, n, group_size, budget, trials):
    piddir = tmp_path / "pids"
    piddir.mkdir()
    cfg = config(tmp_path, objective="tests.executor.test_mpi_workers:freezes_on_rank", trials=trials, budget=budget,
                 trial_timeout=1.0, executor={"kind": "mpi", "group_size": group_size})
    try:
        proc = launch(n, tmp_path, cfg, "--quiet", timeout=90, HYPPO_TEST_PIDDIR=str(piddir), **FAST_GIVE_UP)
    finally:
        marker = piddir / "frozen"
        if marker.exists() and alive(int(marker.read_text())):
            os.kill(int(marker.read_text()), signal.SIGKILL)
    return proc, events(tmp_path / "out")


def test_a_frozen_group_leader_retires_its_group_and_the_other_group_finishes(tmp_path):
    """-n 4, groups [1, 2] and [3]: leader 1 freezes in its first trial. Its trial fails,
    group 0 is retired (healthy rank 2 finishes what it holds, at most two trials with
    prefetch, then idles), group 1 runs the
    rest. (24 sets: with trial-level scheduling ranks 2 and 3 share the work until the
    give-up, so 8 sets were all done before it.)"""
    proc, evs = run_with_a_freeze(tmp_path, 4, 2, budget=24, trials=2)
    assert proc.returncode == 0, proc.stderr
    assert "worker unresponsive: MPI rank 1 (group 0)" in proc.stderr and "(1 of 2 groups left)" in proc.stderr
    pairs = [(e["set_id"], e["trial"]) for e in evs if e["event"] == "trial_finished"]
    assert sorted(pairs) == [(s, t) for s in range(24) for t in range(2)], "every trial exactly once"
    lost = [e for e in evs if e["event"] == "trial_finished" and e["score"] is None]
    assert len(lost) == 1 and "MPI rank 1" in lost[0]["error"]
    later = [e["worker"].split(":")[2] for e in evs if e["event"] == "trial_finished" and e["time"] > lost[0]["time"]]
    # rank 2 gets no work after the give-up and finishes what it holds: its running trial and,
    # with prefetch, one queued behind it whose recall came just as it started it (refused)
    assert later and set(later) <= {"2", "3"} and later.count("2") <= 2, later
    started_after = [e for e in evs if e["event"] == "trial_finished" and e["worker"].endswith(":2")
                     and e["started"] > lost[0]["time"]]
    assert len(started_after) <= 1, started_after
    assert evs[-1]["event"] == "run_finished" and evs[-1]["reason"] == "budget"


def test_when_every_group_is_frozen_the_run_stops_with_one_line_and_keeps_its_journal(tmp_path):
    proc, evs = run_with_a_freeze(tmp_path, 2, 1, budget=3, trials=2)
    assert proc.returncode == 2, proc.stderr
    assert "error: every MPI worker group has an unresponsive rank (ranks 1)" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    finished = [e for e in evs if e["event"] == "trial_finished"]
    assert len(finished) == 1 and finished[0]["error"].startswith("worker unresponsive: MPI rank 1")
    assert any(e["event"] == "set_submitted" for e in evs), "the journal is kept, to be resumed"
