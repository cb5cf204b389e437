"""Real MPI runs: `mpiexec -n 3/5/7 python -m hyppo_hep.run cfg.yaml` as subprocesses.

Every run has a timeout (a hang fails the test instead of stalling CI). Trials sleep a few
tenths of a second so that 7 ranks on 2 oversubscribed cores still finish quickly.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hyppo_hep.executor.mpi import group_layout
from hyppo_hep.journal import read_events, replay

pytest.importorskip("mpi4py")
pytestmark = [pytest.mark.mpi, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SPACE = {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}}
TIMEOUT = 90  # s per mpiexec run; the runs themselves take a few seconds


def mpiexec() -> str:
    """The mpiexec next to this interpreter (the mpich wheel's, in a venv) before any on PATH."""
    exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec found (pip install '.[mpi]')")
    return exe


def launch(n, tmp_path, cfg, *args, env=None):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]), **(env or {}))
    return subprocess.run([mpiexec(), "-n", str(n), sys.executable, "-m", "hyppo_hep.run", str(path), *args],
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path, env=full_env)


def config(tmp_path, **kw):
    cfg = {"objective": {"name": "branin", "sleep": 0.2}, "space": SPACE, "trials": 3, "budget": 4,
           "strategy": "lhs", "seed": 3, "out": str(tmp_path / "out")}
    cfg.update(kw)
    return cfg


def trials_by_set(journal):
    out = {}
    for ev in read_events(journal):
        if ev["event"] == "trial_finished":
            out.setdefault(ev["set_id"], []).append(ev)
    return out


def rank_of(worker: str) -> int:
    return int(worker.rsplit(":", 1)[1])


def test_three_ranks_one_group_round_robin(tmp_path):
    """-n 3: master + one group of 2 ranks (default group size = trials = 3, capped at 2)."""
    # round-robin as sent: without recalls (an idle rank may take rank 1's trial 2 at the end
    # of the campaign when trial 0 runs late, test_mpi_prefetch.py)
    proc = launch(3, tmp_path, config(tmp_path), env={"HYPPO_MPI_PREFETCH_BELOW": "0"})
    assert proc.returncode == 0, proc.stderr
    assert "1 MPI worker groups of 2" in proc.stdout and "complete (4/4 sets)" in proc.stdout
    journal = tmp_path / "out" / "journal.jsonl"
    history = replay(journal)
    assert len(history.sets) == 4 and all(r.state == "done" and r.n_ok == 3 for r in history.sets.values())
    for set_id, evs in trials_by_set(journal).items():
        assert sorted(e["trial"] for e in evs) == [0, 1, 2]
        ranks = {e["trial"]: rank_of(e["worker"]) for e in evs}
        assert ranks == {0: 1, 1: 2, 2: 1}, "round-robin: trial i on group rank i mod 2"
        assert all(e["device"] == "cpu" for e in evs)
    # the same seeds give the same scores as calling the objective here
    from hyppo_hep.objectives.analytic import branin

    f = branin()
    for rec in history.sets.values():
        for t, tr in rec.trials.items():
            assert tr.score == pytest.approx(f(rec.params, t, rec.seeds[t]), rel=1e-12)


OBJECTIVE_MODULE = '''
import time

def train(params, trial, seed, device):
    # sets with x1 >= 5 are slow: an asynchronous master keeps the other group busy meanwhile
    time.sleep(1.2 if params["x1"] >= 5 else 0.15)
    return params["x1"] ** 2 + params["x2"]
'''


def test_five_ranks_groups_run_concurrently_and_asynchronously(tmp_path):
    """-n 5, group_size 2: two groups; sets overlap in time across groups, and a group with
    short sets takes new ones while the other group is still busy with a long one."""
    (tmp_path / "slowfast.py").write_text(OBJECTIVE_MODULE)
    cfg = config(tmp_path, objective="slowfast:train", trials=2, budget=10, strategy="grid",
                 executor={"kind": "mpi", "group_size": 2, "last_round": False},
                 space={"x1": {"lower": 0, "upper": 9}, "x2": {"lower": 0, "upper": 1}})
    # the placement of whole sets on groups, checked without prefetch (which may queue a set's
    # second trial behind its first on one rank: test_mpi_prefetch.py) and without the end
    # phase (whose probes run a set's first trial apart from the others: test_mpi_probe.py)
    proc = launch(5, tmp_path, cfg, env={"HYPPO_MPI_STATS": str(tmp_path / "stats"), "HYPPO_MPI_PREFETCH_BELOW": "0"})
    assert proc.returncode == 0, proc.stderr
    journal = tmp_path / "out" / "journal.jsonl"
    layout = group_layout(5, 2)
    assert layout == [[1, 2], [3, 4]]
    sets = trials_by_set(journal)
    assert len(sets) == 10 and all(sorted(e["trial"] for e in evs) == [0, 1] for evs in sets.values())
    span, group = {}, {}
    for set_id, evs in sets.items():
        span[set_id] = (min(e["started"] for e in evs), max(e["finished"] for e in evs))
        groups = {g for e in evs for g, members in enumerate(layout) if rank_of(e["worker"]) in members}
        assert len(groups) == 1, "all trials of a set run in one group"
        group[set_id] = groups.pop()
        assert {rank_of(e["worker"]) for e in evs} == set(layout[group[set_id]]), "level 2: side by side"
    assert set(group.values()) == {0, 1}
    overlaps = [(a, b) for a in span for b in span if group[a] < group[b]
                and span[a][0] < span[b][1] and span[b][0] < span[a][1]]
    assert overlaps, "level 1: sets ran on both groups at the same time"
    # asynchronous: some set of one group started and finished inside one set of the other
    nested = [(a, b) for a in span for b in span if group[a] != group[b]
              and span[b][0] <= span[a][0] and span[a][1] <= span[b][1]]
    assert nested, "a group took a new set while the other group was still busy"
    # the master and the workers exited and wrote their CPU figures
    stats = [json.loads(p.read_text()) for p in sorted((tmp_path / "stats").glob("rank*.json"))]
    assert sorted(s["rank"] for s in stats) == [0, 1, 2, 3, 4]
    assert sum(s["n_trials"] for s in stats) == 20


def test_seven_ranks_failures_small_budget_idle_ranks_do_not_spin(tmp_path):
    """-n 7, group_size 2: three groups but only two sets. Failing trials come back with
    their traceback, the run finishes, every rank exits 0, and the idle group's ranks used
    well under 5% of a core while waiting."""
    cfg = config(tmp_path, objective={"name": "failing", "fail_rate": 0.4, "sleep": 1.0}, trials=4, budget=2,
                 executor={"kind": "mpi", "group_size": 2})
    proc = launch(7, tmp_path, cfg, env={"HYPPO_MPI_STATS": str(tmp_path / "stats")})
    assert proc.returncode == 0, proc.stderr
    assert "3 MPI worker groups of 2" in proc.stdout
    events = list(read_events(tmp_path / "out" / "journal.jsonl"))
    assert events[-1]["event"] == "run_finished" and events[-1]["n_finished"] == 2
    trials = [e for e in events if e["event"] == "trial_finished"]
    assert len(trials) == 8
    failed = [e for e in trials if e["score"] is None]
    assert failed, "fail_rate 0.4 over 8 seeded trials injects failures"
    assert all("Traceback" in e["error"] and "injected failure" in e["error"] for e in failed)
    stats = {s["rank"]: s for s in (json.loads(p.read_text()) for p in (tmp_path / "stats").glob("rank*.json"))}
    assert sorted(stats) == list(range(7)), "every rank left its loop"
    idle = [s for s in stats.values() if s["role"] != "master" and s["n_trials"] == 0]
    assert len(idle) == 2 and {s["group"] for s in idle} == {2}
    for s in idle:  # failed trials return at once, the others sleep 1 s: the run lasts > 1 s
        assert s["wall"] > 0.8
        assert s["cpu"] / s["wall"] < 0.05, s
    # the master and the idle ranks wait most of the run; a busy rank may run its trials back
    # to back (trial-level placement) and wait only a few ms, too little to measure a ratio
    for s in [stats[0], *idle]:
        assert s["wait_wall"] > 0.1, s
    for s in stats.values():  # every rank that waited measurably, master included, did not spin
        if s["wait_wall"] > 0.1:
            assert s["wait_cpu"] / s["wait_wall"] < 0.05, s


def test_errors_exit_2_on_all_ranks_without_hanging(tmp_path):
    # a config error: every rank parses the config itself; one line is printed, not three
    bad = config(tmp_path, trials=0)
    proc = launch(3, tmp_path, bad)
    assert proc.returncode == 2
    assert proc.stderr.count("config error: trials") == 1, proc.stderr
    # an objective that does not resolve is refused before anything starts (campaign.py
    # checks the reference first), on every rank alike, with one line
    proc = launch(3, tmp_path, config(tmp_path, objective="no_such_module_xyz:train"))
    assert proc.returncode == 2 and proc.stderr.count("no_such_module_xyz") >= 1
    assert "Traceback" not in proc.stderr
    # an objective the workers cannot build: the master reports it and stops every rank
    proc = launch(3, tmp_path, config(tmp_path, objective={"name": "fault", "mode": "explode"}))
    assert proc.returncode == 2
    assert "worker rank" in proc.stderr and "mode 'explode'" in proc.stderr
    # a master-side error after the workers started (journal exists): workers stop cleanly
    assert launch(3, tmp_path, config(tmp_path, budget=1), "--overwrite").returncode == 0
    proc = launch(3, tmp_path, config(tmp_path, budget=1))
    assert proc.returncode == 2 and "--resume" in proc.stderr
    # a local executor on several ranks would run the search N times: refused
    proc = launch(3, tmp_path, config(tmp_path, executor="pool"))
    assert proc.returncode == 2 and proc.stderr.count("launched on 3 MPI ranks") == 1


def test_resume_under_mpi_runs_only_missing_trials(tmp_path):
    cfg = config(tmp_path, budget=3, trials=2, objective={"name": "branin", "sleep": 0.1},
                 executor={"kind": "mpi", "group_size": 2})
    assert launch(3, tmp_path, cfg).returncode == 0
    journal = tmp_path / "out" / "journal.jsonl"
    before = replay(journal)
    lines = journal.read_text().splitlines()
    # cut after the first trial of set 2: its other trial and the run's end are lost
    cut = next(i for i, l in enumerate(lines) if '"trial_finished"' in l and '"set_id": 2' in l)
    journal.write_text("\n".join(lines[: cut + 1]) + "\n")
    proc = launch(3, tmp_path, cfg, "--resume")
    assert proc.returncode == 0, proc.stderr
    trials = [(e["set_id"], e["trial"]) for e in read_events(journal) if e["event"] == "trial_finished"]
    assert sorted(trials) == sorted(set(trials)) == [(s, t) for s in range(3) for t in range(2)]
    after = replay(journal)
    assert all(r.state == "done" for r in after.sets.values())
    assert after.sets[2].scores == pytest.approx(before.sets[2].scores, rel=1e-12)  # same seeds
