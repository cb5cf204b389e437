"""Under a real single-node Slurm (tests/executor/slurm_cluster.py): srun launches, every job script
in jobs/ through sbatch, the requeue flow of jobs/slurm_requeue.sh across two requeues, and
scancel followed by a resubmission with --resume.

Trials sleep, so that 5-9 ranks fit on the 2-core machine. Every wait has a timeout (a hang
fails the test instead of stalling CI); the timeouts are generous because the machine is
shared.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hyppo_hep.journal import read_events, replay
from tests.executor.slurm_cluster import SlurmCluster, SlurmUnavailable, slurm_version

pytest.importorskip("mpi4py")
pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "jobs"
SPACE = {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}}
# One CPU node: what every job script's #SBATCH lines are overridden with.
ONE_NODE = ["--nodes=1", "--gpus-per-task=0", "--cpus-per-task=1"]
WAIT = 180  # s, the longest any single wait may take on the loaded shared machine


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    cluster = SlurmCluster(root)
    try:
        took = cluster.start()
    except SlurmUnavailable as exc:
        cluster.stop()
        if os.environ.get("CI"):  # .ci/run installs Slurm: a CI that cannot start it is broken
            pytest.fail(f"Slurm could not be started: {exc}")
        pytest.skip(f"Slurm could not be started here: {exc}")
    print(f"\nSlurm {slurm_version()} (munged, slurmctld, slurmd) started in {took:.2f} s")
    # the jobs run `python` and import hyppo_hep from this checkout, as a user's jobs would
    cluster.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    cluster.env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]
    yield cluster
    cluster.stop()


def write_cfg(tmp_path, budget=6, trials=4, sleep=0.4, **kw):
    cfg = {"objective": {"name": "branin", "sleep": sleep}, "space": SPACE, "trials": trials, "budget": budget,
           "strategy": "lhs", "seed": 3, "out": str(tmp_path / "out"), **kw}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def events(out):
    path = Path(out) / "journal.jsonl"
    return list(read_events(path)) if path.exists() else []


def check_complete(out, budget, trials):
    """Exactly ``budget`` finished sets and every (set, trial) exactly once."""
    evs = events(out)
    assert sorted(e["set_id"] for e in evs if e["event"] == "set_finished") == list(range(budget))
    pairs = [(e["set_id"], e["trial"]) for e in evs if e["event"] == "trial_finished"]
    assert len(pairs) == len(set(pairs)) == budget * trials, "every trial exactly once, none lost"
    assert evs[-1]["event"] == "run_finished" and evs[-1]["reason"] == "budget"
    return evs


def wait_for(cond, what, timeout=WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not after {timeout} s")


def n_trials_finished(out):
    return sum(e["event"] == "trial_finished" for e in events(out))


def worker_rank(ev):
    return int(ev["worker"].rsplit(":", 1)[1].split(">")[0])


# --- srun launches ----------------------------------------------------------------------------

def srun_campaign(slurm, tmp_path, n, mpi, budget=4, trials=4):
    cfg = write_cfg(tmp_path, budget=budget, trials=trials, executor={"kind": "mpi", "group_size": 4})
    return subprocess.run(["srun", "-n", str(n), f"--mpi={mpi}", "python", "-m", "hyppo_hep.run", str(cfg)],
                          cwd=tmp_path, env=slurm.env, capture_output=True, text=True, timeout=WAIT)


def test_srun_pmi2_runs_master_and_two_worker_groups(slurm, tmp_path):
    t0 = time.monotonic()
    proc = srun_campaign(slurm, tmp_path, 9, "pmi2")
    print(f"srun -n 9 --mpi=pmi2 campaign: {time.monotonic() - t0:.1f} s")
    assert proc.returncode == 0, proc.stderr
    assert "2 MPI worker groups of 4" in proc.stdout and "complete (4/4 sets)" in proc.stdout, proc.stdout
    evs = check_complete(tmp_path / "out", 4, 4)
    trials = [e for e in evs if e["event"] == "trial_finished"]
    ranks = {worker_rank(e) for e in trials}
    assert ranks <= set(range(1, 9)) and ranks & {1, 2, 3, 4} and ranks & {5, 6, 7, 8}, ranks
    assert all(e["device"] == "cpu" for e in trials)
    for set_id in range(4):  # the 4 trials of a set ran side by side on 4 ranks ...
        mine = sorted(worker_rank(e) for e in trials if e["set_id"] == set_id)
        assert len(set(mine)) == 4, (set_id, mine)
        if set_id < 2:  # ... the first two on the two whole groups (later ones may span groups:
            # an idle rank of a busy group takes a trial of the next set, trial-level scheduling)
            assert mine in ([1, 2, 3, 4], [5, 6, 7, 8]), (set_id, mine)


def test_srun_gives_each_rank_its_local_id_and_cpus(slurm, tmp_path):
    """What hyppo_hep.device reads under srun: SLURM_LOCALID for the rank on its node and
    SLURM_CPUS_PER_TASK for its threads (no GPU here: CUDA_VISIBLE_DEVICES is not set)."""
    code = ("import os; from hyppo_hep import device; "
            "print(os.environ['SLURM_PROCID'], device.local_rank(), device.threads_per_rank(), "
            "device.pick_device(n_gpus=4), device.pick_device())")
    proc = subprocess.run(["srun", "-n", "4", "--cpus-per-task=3", "python", "-c", code], env=slurm.env,
                          capture_output=True, text=True, timeout=WAIT, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = sorted(line.split() for line in proc.stdout.splitlines())
    # one node: the local rank is the global rank; with 4 GPUs visible rank i would take cuda:i
    assert rows == [[str(i), str(i), "3", f"cuda:{i}", "cpu"] for i in range(4)], rows


def test_srun_pmix_launch(slurm, tmp_path):
    """Debian's Slurm has mpi/pmix (with libpmix-dev installed); the mpich wheel's MPI
    speaks only PMI-1/PMI-2, so a campaign under --mpi=pmix needs a site MPI built with PMIx."""
    proc = subprocess.run(["srun", "-n", "2", "--mpi=pmix", "python", "-c",
                           "import os; print(os.environ['PMIX_RANK'], os.environ['PMIX_NAMESPACE'] != '')"],
                          env=slurm.env, capture_output=True, text=True, timeout=WAIT, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == ["0", "1", "True", "True"]
    proc = srun_campaign(slurm, tmp_path, 5, "pmix", budget=2)
    if "unsupported PMI version PMIx" in proc.stderr:
        pytest.skip("srun --mpi=pmix works, but this MPI (the mpich wheel) does not speak PMIx: use --mpi=pmi2")
    assert proc.returncode == 0, proc.stderr
    check_complete(tmp_path / "out", 2, 4)


def test_srun_without_a_pmi_exits_2_instead_of_running_the_search_on_every_rank(slurm, tmp_path):
    """Bug fixed: under `srun --mpi=none` every rank is an MPI world of one; each ran the whole
    search into the same journal (3 copies of the campaign, interleaved). Now every rank exits
    2, with one line (rank 0's) saying which --mpi to use, and no journal is written."""
    proc = srun_campaign(slurm, tmp_path, 3, "none")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("srun: ")]
    assert len(lines) == 1 and "--mpi=pmi2" in lines[0] and "3 processes" in lines[0], proc.stderr
    tasks = set()  # srun groups them as it pleases: "task 1: ...", "tasks 0,2: ..."
    for spec in re.findall(r"tasks? ([\d,-]+): Exited with exit code 2", proc.stderr):
        for part in spec.split(","):
            lo, _, hi = part.partition("-")
            tasks |= set(range(int(lo), int(hi or lo) + 1))
    assert tasks == {0, 1, 2}, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out" / "journal.jsonl").exists()


# --- every script in jobs/ through sbatch -------------------------------------------------------

def sbatch_script(slurm, tmp_path, script, *opts, args=(), cwd=None, env=None):
    log = tmp_path / "job.out"
    return slurm.sbatch(*ONE_NODE, f"--output={log}", "--open-mode=append", *opts, JOBS / script, *args,
                        cwd=cwd or tmp_path, env=env)


@pytest.mark.parametrize("script", ["slurm_cpu.sh", "slurm_gpu.sh", "slurm_requeue.sh", "mpiexec_local.sh"])
def test_every_job_script_runs_to_the_end_under_sbatch(slurm, tmp_path, script):
    budget, trials = 4, 4
    cfg = write_cfg(tmp_path, budget=budget, trials=trials)
    out = tmp_path / "out"
    env = dict(slurm.env, CONFIG=str(cfg))  # slurm_cpu/gpu.sh read the config's name from CONFIG
    t0 = time.monotonic()
    if script == "mpiexec_local.sh":  # its own config (jobs/mpi_local.yaml), from the repository root
        job = sbatch_script(slurm, tmp_path, script, "--ntasks=9", args=["--out", out, "--budget", budget],
                            cwd=ROOT, env=env)
    elif script == "slurm_requeue.sh":
        job = sbatch_script(slurm, tmp_path, script, "--ntasks-per-node=5", args=[cfg, "--quiet"], env=env)
    else:  # they choose runs/gan_*_JOBID; a later --out wins
        job = sbatch_script(slurm, tmp_path, script, "--ntasks-per-node=5", args=["--out", out], env=env)
    info = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}, timeout=WAIT)
    print(f"sbatch {script}: {time.monotonic() - t0:.1f} s")
    log = (tmp_path / "job.out").read_text()
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", log
    check_complete(out, budget, trials)
    if script == "slurm_requeue.sh":
        assert "campaign finished" in log and info["Restarts"] == "0"


# --- the requeue flow -------------------------------------------------------------------------

def warn_and_wait_requeued(slurm, job, out, restarts):
    """Slurm's pre-limit warning (--signal=B:USR1@120 sends SIGUSR1 to the batch shell only;
    scancel --batch is the same delivery, now): the run must stop cleanly and requeue."""
    slurm.run(["scancel", "--signal=USR1", "--batch", str(job)])
    info = slurm.wait_state(job, {"PENDING", "RUNNING", "COMPLETED", "FAILED"}, restarts=restarts)
    last = events(out)[-1]
    assert last["event"] == "run_finished" and last["reason"] == "interrupted" and last["signal"] == "SIGTERM", last
    return info


def test_requeue_flow_completes_the_budget_across_two_requeues(slurm, tmp_path):
    budget, trials = 12, 4
    cfg = write_cfg(tmp_path, budget=budget, trials=trials, sleep=0.6)
    out = tmp_path / "out"
    t0 = time.monotonic()
    job = sbatch_script(slurm, tmp_path, "slurm_requeue.sh", "--ntasks-per-node=5", args=[cfg, "--quiet"])
    stops = []
    for restarts in (1, 2):
        seen = n_trials_finished(out)
        wait_for(lambda: n_trials_finished(out) >= seen + 2, "trials finished in this run")
        warn_and_wait_requeued(slurm, job, out, restarts)
        stops.append(sum(e["event"] == "set_finished" for e in events(out)))
    info = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED"}, timeout=WAIT)
    print(f"requeue flow, 2 requeues: {time.monotonic() - t0:.1f} s; sets finished at the stops: {stops}")
    log = (tmp_path / "job.out").read_text()
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0" and info["Restarts"] == "2", log
    # the stop: the master journaled it and its status (143) reached the script, not srun's
    # SIGKILL (137); its ranks may have been ended 30 s later (see the script's comments)
    assert log.count("stopped before the time limit (status 143, journal: interrupted): requeueing") == 2, log
    assert "Killed" not in log or "still in MPI_Finalize: ending the step" in log, log
    assert "campaign finished" in log
    evs = check_complete(out, budget, trials)
    assert [e["resumed"] for e in evs if e["event"] == "campaign"] == [False, True, True]
    assert [e["reason"] for e in evs if e["event"] == "run_finished"] == ["interrupted", "interrupted", "budget"]
    assert stops[0] < budget and stops[1] < budget, "the budget was not spent before a requeue"
    # the resumed runs re-ran only the trials that were in flight: none finished twice
    assert all(r.state == "done" for r in replay(evs).sets.values())


# --- scancel, then resubmit with --resume -----------------------------------------------------

@pytest.mark.parametrize("script", ["slurm_cpu.sh", "slurm_requeue.sh"])
def test_scancel_stops_cleanly_and_a_resubmission_resumes(slurm, tmp_path, script):
    budget, trials = 8, 4
    cfg = write_cfg(tmp_path, budget=budget, trials=trials, sleep=0.6)
    out = tmp_path / "out"
    env = dict(slurm.env, CONFIG=str(cfg))
    args = [cfg, "--quiet"] if script == "slurm_requeue.sh" else ["--out", out, "--quiet"]
    job = sbatch_script(slurm, tmp_path, script, "--ntasks-per-node=5", args=args, env=env)
    wait_for(lambda: n_trials_finished(out) >= 2, "trials finished")
    slurm.run(["scancel", str(job)])  # SIGTERM to the batch shell, srun and every rank
    info = slurm.wait_state(job, {"CANCELLED"}, timeout=WAIT)
    wait_for(lambda: not slurm.run(["squeue", "-h", "-j", str(job)], check=False).stdout.strip(), "job gone")
    info = slurm.job(job)
    assert info["JobState"] == "CANCELLED" and info["Restarts"] == "0", info  # a scancel is never requeued
    last = events(out)[-1]
    # every rank got SIGTERM from Slurm; the master stopped the run before KillWait's SIGKILL
    assert last["event"] == "run_finished" and last["reason"] == "interrupted", last
    assert last["n_finished"] < budget
    if script == "slurm_requeue.sh":
        # the script's own "cancelled ...: not requeued" line is printed only when srun returns
        # within KillWait (10 s here); a rank slow in MPI_Finalize gets the batch shell killed
        # first. What matters: it never asked for a requeue.
        assert "requeueing" not in (tmp_path / "job.out").read_text()
    # resubmission: the requeue script finds the journal and resumes; the others take --resume
    args = [cfg, "--quiet"] if script == "slurm_requeue.sh" else ["--out", out, "--resume", "--quiet"]
    job2 = sbatch_script(slurm, tmp_path, script, "--ntasks-per-node=5", args=args, env=env)
    info = slurm.wait_state(job2, {"COMPLETED", "FAILED", "CANCELLED"}, timeout=WAIT)
    assert info["JobState"] == "COMPLETED" and info["ExitCode"] == "0:0", (tmp_path / "job.out").read_text()
    evs = check_complete(out, budget, trials)
    assert [e["resumed"] for e in evs if e["event"] == "campaign"] == [False, True]


def test_a_warning_before_the_run_gets_going_is_not_requeued_for_ever(slurm, tmp_path):
    """Bug fixed: the script requeued on status 143 alone, so a run warned before its ranks
    had started (with a 1-minute limit the warning came 17 s into every run) was requeued
    for ever, 20 times in 10 minutes. Now only a run that finished a trial is requeued."""
    cfg = write_cfg(tmp_path, budget=4, trials=4)
    slow = tmp_path / "slow_python"  # the ranks take 60 s to start; the script's own checks do not
    slow.write_text(f'#!/bin/bash\n[ "$1" = -m ] && sleep 60\nexec {sys.executable} "$@"\n')
    slow.chmod(0o755)
    env = dict(slurm.env, PYTHON=str(slow))
    job = sbatch_script(slurm, tmp_path, "slurm_requeue.sh", "--ntasks-per-node=5", args=[cfg, "--quiet"], env=env)
    wait_for(lambda: f"{job}.0" in slurm.run(["squeue", "-h", "-s", "-j", str(job), "-o", "%i"]).stdout,
             "the srun step started")
    slurm.run(["scancel", "--signal=USR1", "--batch", str(job)])
    info = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED"}, timeout=WAIT)
    log = (tmp_path / "job.out").read_text()
    assert info["Restarts"] == "0" and info["JobState"] == "FAILED" and info["ExitCode"] == "143:0", (info, log)
    assert "run ended with status 143 (journal: ): not requeued" in log, log
    assert events(tmp_path / "out") == []


def test_slurms_own_pre_limit_signal_requeues_until_the_budget_is_spent(slurm, tmp_path):
    """No stand-in for the warning: a 2-minute limit and --signal=B:USR1@30. Slurm checks
    the limits every 30 s, so the warning comes 30-60 s before the end, 60-90 s into each
    run: long enough for trials to finish even on the loaded machine, too short for the
    budget (~115 s of trials; 64 sets were done when a run was warned 78 s in), so the job
    stops, requeues and resumes at least once."""
    budget, trials = 110, 4
    cfg = write_cfg(tmp_path, budget=budget, trials=trials, sleep=1.0)
    t0 = time.monotonic()
    job = sbatch_script(slurm, tmp_path, "slurm_requeue.sh", "--ntasks-per-node=5", "--time=2",
                        "--signal=B:USR1@30", args=[cfg, "--quiet"])
    info = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"}, timeout=4 * WAIT)
    log = (tmp_path / "job.out").read_text()
    print(f"real time limit: {time.monotonic() - t0:.1f} s, {info.get('Restarts')} requeues")
    assert info["JobState"] == "COMPLETED" and int(info["Restarts"]) >= 1, (info, log)
    evs = check_complete(tmp_path / "out", budget, trials)
    reasons = [e["reason"] for e in evs if e["event"] == "run_finished"]
    assert reasons[0] == "interrupted" and reasons[-1] == "budget", reasons
    assert "time limit near" in log and "requeueing" in log, log


def test_requeue_flow_resumes_a_staged_campaign(slurm, tmp_path):
    """Bug fixed: the script looked for out/journal.jsonl only, so a staged campaign (one
    journal per stage, out/<i>_<stage>/) was restarted without --resume after a requeue and
    refused (exit 2: the stage journal exists). Now any journal under out means resume."""
    cfg = write_cfg(tmp_path, budget=6, trials=4, sleep=0.6,
                    stages=[{"name": "broad"}, {"name": "focus", "ranges": "auto", "budget": 3}])
    out = tmp_path / "out"
    job = sbatch_script(slurm, tmp_path, "slurm_requeue.sh", "--ntasks-per-node=5", args=[cfg, "--quiet"])
    wait_for(lambda: n_trials_finished(out / "0_broad") >= 2, "trials finished in the broad stage")
    slurm.run(["scancel", "--signal=USR1", "--batch", str(job)])
    info = slurm.wait_state(job, {"COMPLETED", "FAILED", "CANCELLED"}, timeout=WAIT)
    log = (tmp_path / "job.out").read_text()
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "1", (info, log)
    broad, focus = check_complete(out / "0_broad", 6, 4), check_complete(out / "1_focus", 3, 4)
    reasons = [e["reason"] for evs in (broad, focus) for e in evs if e["event"] == "run_finished"]
    assert reasons.count("interrupted") == 1 and "requeueing" in log and "campaign finished" in log, reasons
