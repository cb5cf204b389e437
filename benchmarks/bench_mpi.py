"""Real MPI on this machine: `mpiexec -n 9 python -m hyppo_hep.run` with sleeping trials.

    python benchmarks/bench_mpi.py             # about 1-2 minutes
    python benchmarks/bench_mpi.py --repeats 1

Master + 8 worker ranks (2 groups of 4, or 4 groups of 2), trials that sleep (so 9 ranks on
2 cores measure the scheduling, not the CPU). Reported from the journal: the search's wall
time (first submission to last result), the ideal wall time (busy trial-seconds / 8 workers),
speedup over running the same trials one after another, worker utilization
(busy / (8 x wall)), the master's CPU over the whole run, and the worst rank's CPU seconds
per second spent waiting for a message (HYPPO_MPI_STATS). Median of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hyppo_hep.journal import read_events  # noqa: E402

SLEEPY = '''
import time

def train(params, trial, seed, device):
    # heterogeneous sets: 0.2 ... 1.0 s, growing with x1 (the "network size")
    time.sleep(0.2 + 0.8 * params["x1"] / 15)
    return params["x1"] + params["x2"]
'''

CASES = [
    # name, objective, trials, group_size, budget
    ("constant 0.5 s trials, 2 groups of 4", {"name": "branin", "sleep": 0.5, "noise": 0.0}, 4, 4, 20),
    ("constant 0.5 s trials, 4 groups of 2", {"name": "branin", "sleep": 0.5, "noise": 0.0}, 2, 2, 40),
    ("heterogeneous 0.2-1.0 s sets, 4 groups of 2", "sleepy:train", 2, 2, 40),
]


def mpiexec() -> str:
    exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if exe is None:
        sys.exit("no mpiexec: pip install '.[mpi]'")
    return exe


def run_case(tmp: Path, objective, trials, group_size, budget, n=9):
    import yaml

    out = tmp / "out"
    cfg = {"objective": objective, "trials": trials, "budget": budget, "strategy": "random", "seed": 1,
           "space": {"x1": {"lower": 0, "upper": 15}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}},
           "executor": {"kind": "mpi", "group_size": group_size}, "out": str(out)}
    (tmp / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    (tmp / "sleepy.py").write_text(SLEEPY)
    stats = tmp / "stats"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp)]), HYPPO_MPI_STATS=str(stats))
    t0 = time.perf_counter()
    proc = subprocess.run([mpiexec(), "-n", str(n), sys.executable, "-m", "hyppo_hep.run", str(tmp / "cfg.yaml"),
                           "--quiet", "--overwrite"], capture_output=True, text=True, env=env, timeout=600)
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"mpiexec failed ({proc.returncode}):\n{proc.stderr}")
    events = list(read_events(out / "journal.jsonl"))
    trials_ev = [e for e in events if e["event"] == "trial_finished"]
    first = min(e["time"] for e in events if e["event"] == "set_submitted")
    last = max(e["time"] for e in trials_ev)
    wall = last - first
    busy = sum(e["finished"] - e["started"] for e in trials_ev)
    workers = n - 1
    ranks = [json.loads(p.read_text()) for p in stats.glob("rank*.json")]
    master = next(r for r in ranks if r["role"] == "master")
    # CPU spent while waiting for a message, per second waited (the cost of not spinning)
    idle_cpu = max(r["wait_cpu"] / r["wait_wall"] for r in ranks if r["wait_wall"] > 0)
    return {"wall": wall, "ideal": busy / workers, "serial": busy, "util": busy / (workers * wall), "total": total,
            "master_cpu": master["cpu"] / master["wall"], "worker_idle_cpu": idle_cpu, "n_trials": len(trials_ev)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-sleep", type=float, help="HYPPO_MPI_MAX_SLEEP for the ranks (default 0.02 s)")
    args = p.parse_args(argv)
    if args.max_sleep is not None:
        os.environ["HYPPO_MPI_MAX_SLEEP"] = str(args.max_sleep)
    print(f"## Real MPI on this machine (bench_mpi.py): mpiexec -n 9, {os.cpu_count()} cores, median of "
          f"{args.repeats}, longest nap {os.environ.get('HYPPO_MPI_MAX_SLEEP', '0.02')} s\n")
    print("| case | sets x trials | wall of the search (s) | ideal = busy / 8 (s) | speedup vs one after another "
          "| utilization | process wall incl. MPI start (s) | master CPU (% of a core) | worst rank's CPU while waiting (% of a core) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, objective, trials, group_size, budget in CASES:
        runs = []
        for _ in range(args.repeats):
            with tempfile.TemporaryDirectory() as tmp:
                runs.append(run_case(Path(tmp), objective, trials, group_size, budget))
        m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"| {name} | {budget} x {trials} | {m['wall']:.2f} | {m['ideal']:.2f} | {m['serial'] / m['wall']:.2f}x "
              f"| {m['util']:.1%} | {m['total']:.1f} | {m['master_cpu']:.1%} | {m['worker_idle_cpu']:.2%} |",
              flush=True)


if __name__ == "__main__":
    main()
