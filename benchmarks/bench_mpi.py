"""Real MPI on this machine: `mpiexec -n 9 python -m hyppo_hep.run` with sleeping trials.

    python benchmarks/bench_mpi.py             # about 1-2 minutes
    python benchmarks/bench_mpi.py --repeats 1
    python benchmarks/bench_mpi.py --compare main   # this tree and git ref `main`, side by side

``--compare REF`` runs every case with this tree's hyppo_hep and with the one at git ``REF``
(exported with git archive), interleaved, so both see the same load on a shared machine.
Wake-ups are counted the same way for both: the voluntary context switches of every rank
(getrusage, written at exit by a sitecustomize hook), i.e. every nap and every other block.

Master + 8 worker ranks (2 groups of 4, or 4 groups of 2), trials that sleep (so 9 ranks on
2 cores measure the scheduling, not the CPU). Reported from the journal: the search's wall
time (first submission to last result), the ideal wall time (busy trial-seconds / 8 workers),
speedup over running the same trials one after another, worker utilization
(busy / (8 x wall)), the master's CPU over the whole run, and the worst worker rank's CPU seconds
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
    # short trials: the messages' latency is 5x larger a share of each set than above
    ("constant 0.1 s trials, 2 groups of 4", {"name": "branin", "sleep": 0.1, "noise": 0.0}, 4, 4, 40),
    # more trials than ranks in a group: a group's first rank runs two; trial-level
    # scheduling lets the other, idle ranks take trials of the next set meanwhile
    ("constant 0.5 s trials, 5 per set on 2 groups of 4", {"name": "branin", "sleep": 0.5, "noise": 0.0}, 5, 4, 16),
]


def mpiexec() -> str:
    exe = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
    if exe is None:
        sys.exit("no mpiexec: pip install '.[mpi]'")
    return exe


SITECUSTOMIZE = '''
import atexit, json, os, resource, time

_t0 = time.monotonic()


def _write():
    out = os.environ.get("HYPPO_BENCH_RUSAGE")
    rank = os.environ.get("PMI_RANK")
    if out and rank is not None:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        with open(os.path.join(out, "ru%s.json" % rank), "w") as fh:
            json.dump({"nvcsw": ru.ru_nvcsw, "wall": time.monotonic() - _t0}, fh)


atexit.register(_write)
'''


def export(ref: str, dest: Path) -> Path:
    """hyppo_hep as it is at git ``ref``, unpacked under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "hyppo_hep"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)
    return dest


def run_case(tmp: Path, objective, trials, group_size, budget, n=9, code: Path = ROOT, confirm: int = 0):
    import yaml

    out = tmp / "out"
    cfg = {"objective": objective, "trials": {"max": trials, "confirm": confirm} if confirm else trials, "budget": budget, "strategy": "random", "seed": 1,
           "space": {"x1": {"lower": 0, "upper": 15}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}},
           "executor": {"kind": "mpi", "group_size": group_size}, "out": str(out)}
    (tmp / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    (tmp / "sleepy.py").write_text(SLEEPY)
    (tmp / "sitecustomize.py").write_text(SITECUSTOMIZE)
    stats, rusage = tmp / "stats", tmp / "rusage"
    rusage.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(code), str(tmp)]), HYPPO_MPI_STATS=str(stats),
               HYPPO_BENCH_RUSAGE=str(rusage))
    t0 = time.perf_counter()
    # cwd: `python -m` puts the working directory first on sys.path, so run from a checkout's
    # root every version imported that checkout's hyppo_hep, not ``code``'s (--compare compared
    # a tree with itself)
    proc = subprocess.run([mpiexec(), "-n", str(n), sys.executable, "-m", "hyppo_hep.run", str(tmp / "cfg.yaml"),
                           "--quiet", "--overwrite"], capture_output=True, text=True, env=env, timeout=600, cwd=tmp)
    total = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"mpiexec failed ({proc.returncode}):\n{proc.stderr}")
    events = list(read_events(out / "journal.jsonl"))
    trials_ev = [e for e in events if e["event"] == "trial_finished"]
    first = min(e["time"] for e in events if e["event"] == "set_submitted")
    last = max(e["time"] for e in trials_ev)
    wall = last - first
    busy = sum(e["finished"] - e["started"] for e in trials_ev)
    confirm_keys = {(e["set_id"], t) for e in events if e["event"] == "trials_added" and e.get("purpose") == "confirm"
                    for t in e["trials"]}
    busy_regular = sum(e["finished"] - e["started"] for e in trials_ev if (e["set_id"], e["trial"]) not in confirm_keys)
    workers = n - 1
    ranks = [json.loads(p.read_text()) for p in stats.glob("rank*.json")]
    master = next(r for r in ranks if r["role"] == "master")
    # CPU spent while waiting for a message, per second waited (the cost of not spinning)
    idle_cpu = max(r["wait_cpu"] / r["wait_wall"] for r in ranks if r["wait_wall"] > 0 and r["role"] != "master")
    master_wait = master["wait_cpu"] / master["wait_wall"] if master["wait_wall"] > 0 else 0.0
    # a worker rank's wake-ups (naps ended) per wait: the price of each wait between two trials
    wakeups = statistics.mean(r["wakeups"] for r in ranks if r["role"] != "master")
    # the messages' latency, from the journal (one clock, one machine): a set's submission
    # to its first trial's start (master -> rank), a set's last trial's end to its result
    # being journalled (rank -> master); medians over sets
    submitted = {e["set_id"]: e["time"] for e in events if e["event"] == "set_submitted"}
    by_set = {}
    for e in trials_ev:
        by_set.setdefault(e["set_id"], []).append(e)
    to_rank = statistics.median(min(e["started"] for e in es) - submitted[s] for s, es in by_set.items())
    to_master = statistics.median(max(e["time"] - e["finished"] for e in es) for es in by_set.values())
    # per worker rank: the gaps between one trial's end and its next trial's start, and the
    # tail (the last trial's end - this rank's last end), the two losses left to a search
    by_rank = {}
    for e in trials_ev:
        by_rank.setdefault(e["worker"].rsplit(":", 1)[1], []).append((e["started"], e["finished"]))
    gaps = [b[0] - a[1] for ts in map(sorted, by_rank.values()) for a, b in zip(ts, ts[1:])]
    tail = sum(last - max(f for _, f in ts) for ts in by_rank.values())
    ru = [json.loads(p.read_text()) for p in rusage.glob("ru*.json")]
    # voluntary context switches of all ranks per second of the job: every nap is one
    switches = sum(r["nvcsw"] for r in ru) / max(r["wall"] for r in ru)
    return {"to_rank": to_rank, "to_master": to_master, "switches": switches, "wall": wall, "ideal": busy / workers, "serial": busy, "util": busy / (workers * wall), "total": total,
            "util_regular": busy_regular / (workers * wall), "n_confirm": len(confirm_keys),
            "master_cpu": master["cpu"] / master["wall"], "worker_idle_cpu": idle_cpu, "master_wait_cpu": master_wait,
            "rank_wakeups": wakeups, "n_trials": len(trials_ev), "gap": statistics.median(gaps) if gaps else 0.0,
            "gaps": sum(gaps), "tail": tail}


HEADER = ("| code | case | sets x trials | wall of the search (s) | ideal = busy / 8 (s) | speedup vs one after "
          "another | utilization | process wall incl. MPI start (s) | master CPU (% of a core) | worst worker rank's CPU "
          "while waiting (% of a core) | master's CPU while waiting | naps of a worker rank (mean) | wake-ups of all 9 ranks (voluntary switches / s) | set submitted -> "
          "first trial starts (ms) | last trial ends -> journalled (ms) | gap between a rank's trials, median (ms) | "
          "all gaps (rank-s) | tail: last end - each rank's last end (rank-s) |")


def idle_rank(seconds: float = 6.0) -> None:
    """Under mpiexec: rank 0 stays silent for ``seconds`` then says stop; every other rank
    waits as an idle worker rank does (executor/mpi.py's naps) and prints its CPU."""
    from mpi4py import MPI

    from hyppo_hep.executor import mpi as M

    comm = MPI.COMM_WORLD
    if comm.Get_rank() == 0:
        time.sleep(seconds)
        for r in range(1, comm.Get_size()):
            comm.send(None, dest=r, tag=M.TAG_STOP)
        return
    stats = M._RankStats(comm.Get_rank(), "idle")
    c0, w0 = time.process_time(), time.monotonic()
    stats.wait(comm, 0, MPI.ANY_TAG)
    cpu, wall = time.process_time() - c0, time.monotonic() - w0
    print(json.dumps({"rank": comm.Get_rank(), "wakeups": stats.wakeups, "wall": wall, "cpu": cpu}), flush=True)


def idle_table() -> None:
    """The CPU of a worker rank that waits with nothing to do (an idle group, the end of a
    campaign): `mpiexec -n 9`, 8 ranks waiting 6 s for the master."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([mpiexec(), "-n", "9", sys.executable, __file__, "--idle-rank"], capture_output=True,
                         text=True, timeout=120, env=env).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    print("| rank | wait (s) | wake-ups | CPU (ms) | CPU (% of a core) | CPU per wake-up (us) |")
    print("|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: r["rank"]):
        print(f"| {r['rank']} | {r['wall']:.1f} | {r['wakeups']} | {1000 * r['cpu']:.1f} | "
              f"{r['cpu'] / r['wall']:.2%} | {1e6 * r['cpu'] / max(1, r['wakeups']):.0f} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-sleep", type=float, help="HYPPO_MPI_MAX_SLEEP for the ranks (default 0.02 s)")
    p.add_argument("--compare", metavar="REF", help="also run hyppo_hep as at git REF, interleaved")
    p.add_argument("--cases", default="0,1,2,3,4", help="indices of CASES to run (default all)")
    p.add_argument("--confirm", type=int, default=0, help="confirmation trials per contending set (trials: "
                   "{max: T, confirm: K}); utilization then counts them, the regular trials' own is printed after")
    p.add_argument("--idle", action="store_true", help="only the CPU of ranks waiting with nothing to do")
    p.add_argument("--idle-rank", action="store_true", help=argparse.SUPPRESS)  # run by --idle under mpiexec
    args = p.parse_args(argv)
    if args.idle_rank:
        return idle_rank()
    if args.idle:
        return idle_table()
    if args.max_sleep is not None:
        os.environ["HYPPO_MPI_MAX_SLEEP"] = str(args.max_sleep)
    print(f"## Real MPI on this machine (bench_mpi.py): mpiexec -n 9, {os.cpu_count()} cores, median of "
          f"{args.repeats}, longest nap {os.environ.get('HYPPO_MPI_MAX_SLEEP', 'default')} s\n")
    print(HEADER)
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as codes:
        versions = [("this tree", ROOT)]
        if args.compare:
            versions.insert(0, (args.compare, export(args.compare, Path(codes) / "ref")))
        for idx in map(int, args.cases.split(",")):
            name, objective, trials, group_size, budget = CASES[idx]
            runs = {label: [] for label, _ in versions}
            for _ in range(args.repeats):
                for label, code in versions:  # interleaved: both see the same load
                    with tempfile.TemporaryDirectory() as tmp:
                        runs[label].append(run_case(Path(tmp), objective, trials, group_size, budget, code=code,
                                                    confirm=args.confirm))
            for label, _ in versions:
                m = {k: statistics.median(r[k] for r in runs[label]) for k in runs[label][0]}
                print(f"| {label} | {name} | {budget} x {trials} | {m['wall']:.2f} | {m['ideal']:.2f} | "
                      f"{m['serial'] / m['wall']:.2f}x | {m['util']:.1%} | {m['total']:.1f} | {m['master_cpu']:.1%} | "
                      f"{m['worker_idle_cpu']:.2%} | {m['master_wait_cpu']:.2%} | {m['rank_wakeups']:.0f} | "
                      f"{m['switches']:.0f} | {1000 * m['to_rank']:.1f} | {1000 * m['to_master']:.1f} | "
                      f"{1000 * m['gap']:.1f} | {m['gaps']:.2f} | {m['tail']:.2f} |"
                      + (f" regular trials only: {m['util_regular']:.1%}, {m['n_confirm']:.0f} confirmation trials |"
                         if args.confirm else ""), flush=True)


if __name__ == "__main__":
    main()
