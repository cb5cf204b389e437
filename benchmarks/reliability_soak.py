"""Reliability soak: inject faults, kill and signal runs, fuzz configs; count what was lost.

    python benchmarks/reliability_soak.py [--kills 50] [--terms 10] [--fuzz 2000]
        [--returns 1] [--orphans 5] [--concurrent 10] [--frozen 5] [--out /tmp/soak]

Prints one line per part and the totals that the README's reliability section quotes:
faults injected (each must be a failed trial with its reason), SIGKILLs survived (each
followed by a resume), SIGTERMs (each must exit 143 with a clean journal), configs fuzzed
(each must exit 2 with one line), and results lost (finished trials missing or duplicated
after all of it, or healthy trials whose score changed) — which must be 0.

Second round (issue 13): trials returning values JSON cannot hold or raising
KeyboardInterrupt, in every executor (each must be a failed trial, never a crash); kill -9
of the master while trials run processes of their own (none may survive); simultaneous
starts and simultaneous resumes into one output directory (exactly one may write); a
worker rank frozen with SIGSTOP under mpiexec (the run must finish, nothing lost).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hyppo_hep.journal import read_events, replay  # noqa: E402
from hyppo_hep.objectives.registry import ObjectiveRef  # noqa: E402
from hyppo_hep.run import main  # noqa: E402

SPACE = {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}}
HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")])}


def write_cfg(path: Path, **kw) -> Path:
    cfg = {"objective": "branin", "space": SPACE, "trials": 3, "budget": 10, "strategy": "random", "seed": 11,
           "out": str(path.parent / (path.stem + "_out")), **kw}
    path.write_text(yaml.safe_dump(cfg))
    return path


def events(out: Path) -> list[dict]:
    return list(read_events(out / "journal.jsonl"))


def lost(out: Path, budget: int, trials: int) -> int:
    """Finished trials missing or duplicated, plus sets finished other than once."""
    evs = events(out)
    pairs = [(e["set_id"], e["trial"]) for e in evs if e["event"] == "trial_finished"]
    sets = [e["set_id"] for e in evs if e["event"] == "set_finished"]
    missing = budget * trials - len(set(pairs))
    return missing + (len(pairs) - len(set(pairs))) + abs(len(sets) - budget) + (len(sets) - len(set(sets)))


def faults(base: Path) -> tuple[int, int]:
    combos = [("serial", "none", m) for m in ("raise", "nan", "inf", "exit", "hang")] + \
             [("serial", "process", m) for m in ("abort", "sigkill", "segfault", "hang")] + \
             [("pool", "process", m) for m in ("raise", "abort", "sigkill", "segfault", "hang")] + \
             [("pool", "fresh", m) for m in ("abort", "sigkill")]
    injected = bad = 0
    for i, (ex, iso, mode) in enumerate(combos):
        cfg = write_cfg(base / f"fault{i}.yaml", objective={"name": "fault", "mode": mode, "rate": 0.3},
                        trial_timeout=1.0, isolation=iso,
                        executor={"kind": "pool", "workers": 2} if ex == "pool" else ex)
        with contextlib.redirect_stdout(io.StringIO()):
            assert main([str(cfg), "--quiet"]) == 0
        out = base / f"fault{i}_out"
        fault = ObjectiveRef("fault", {"mode": mode, "rate": 0.3}).build()
        h = replay(out / "journal.jsonl")
        for rec in h.sets.values():
            for t, tr in rec.trials.items():
                if fault.is_faulty(rec.seeds[t]):
                    injected += 1
                    bad += tr.ok
                else:
                    bad += (not tr.ok) or tr.score != fault(rec.params, t, rec.seeds[t])
        bad += lost(out, 10, 3)
        print(f"  faults {ex}/{iso}/{mode}: {sum(fault.is_faulty(r.seeds[t]) for r in h.sets.values() for t in r.trials)} injected")
    return injected, bad


def spawn(args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hyppo_hep.run", *map(str, args)], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(pred, timeout=60.0):
    end = time.time() + timeout
    while time.time() < end and not pred():
        time.sleep(0.01)


def kills(base: Path, n: int, sig: int, executor: str) -> tuple[int, int]:
    """Signal a run at ``n`` random moments, resuming each time; returns (landed, lost)."""
    budget, trials = 40, 3
    ref = write_cfg(base / f"ref_{executor}_{sig}.yaml", budget=budget)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([str(ref), "--quiet"]) == 0
    reference = replay(base / f"ref_{executor}_{sig}_out" / "journal.jsonl")
    cfg = write_cfg(base / f"kill_{executor}_{sig}.yaml", budget=budget,
                    objective={"name": "branin", "sleep": 0.05},
                    executor={"kind": "pool", "workers": 2} if executor == "pool" else executor)
    out = base / f"kill_{executor}_{sig}_out"
    jp = out / "journal.jsonl"
    rng = random.Random(sig * 100 + n)
    landed = n_lost = 0

    def check() -> int:
        bad = lost(out, budget, trials)
        for sid, rec in replay(jp).sets.items():
            if executor == "serial":  # same proposals and scores as the uninterrupted run
                bad += rec.params != reference.sets[sid].params or rec.scores != reference.sets[sid].scores
        return bad

    while landed < n:
        if jp.exists() and events(out)[-1].get("reason") == "budget":
            n_lost += check()  # finished before all the kills landed: check it, start again
            shutil.rmtree(out)
        n_runs = sum(e["event"] == "campaign" for e in events(out)) if jp.exists() else 0
        proc = spawn([cfg, "--quiet"] + (["--resume"] if jp.exists() else []))
        wait_for(lambda: proc.poll() is not None or (jp.exists() and sum(e["event"] == "campaign" for e in events(out)) > n_runs))
        time.sleep(rng.uniform(0.0, 0.6))
        if proc.poll() is None:
            proc.send_signal(sig)
            landed += 1
        _, err = proc.communicate(timeout=60)
        if sig == signal.SIGTERM and proc.returncode not in (0, 143):
            n_lost += 1
        if sig == signal.SIGTERM and proc.returncode == 143:
            last = events(out)[-1]
            n_lost += not (last["event"] == "run_finished" and last["reason"] == "interrupted"
                           and err.count("\n") == 1 and "Traceback" not in err)
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([str(cfg), "--quiet", "--resume"]) == 0
    return landed, n_lost + check()


def fuzz(n: int) -> int:
    env = {**ENV, "HYPPO_FUZZ_EXAMPLES": str(n)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_config_fuzz.py", "-k", "fuzz"], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:])
        raise SystemExit("fuzz found a failure")
    return n


# --- second round (issue 13) ------------------------------------------------------------------

def odd_returns(params, trial, seed, device, kind="unwritable"):
    """Every trial returns arrays and numpy scalars (converted); a third of them (by seed)
    also a set (``unwritable``) or raise KeyboardInterrupt themselves (``interrupt``)."""
    import numpy as np

    if seed % 3 == 0:
        if kind == "interrupt":
            raise KeyboardInterrupt("raised by the trial")
        return {"score": float(params["x1"]), "curve": np.arange(3.0), "bad": {1, 2}}
    return {"score": np.float32(params["x1"]), "curve": np.arange(3.0), "n": np.int64(seed % 7)}


def sleeper(params, trial, seed, device):
    """A trial that runs a process of its own (a simulation binary) for 0.3 s."""
    proc = subprocess.Popen(["sleep", "300"])
    (Path(os.environ["SOAK_PIDDIR"]) / str(proc.pid)).write_text("")
    time.sleep(0.3)
    proc.kill()
    proc.wait()
    return float(params["x1"])


def mpiexec() -> str:
    return shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec") or "mpiexec"


def launch(cfg: Path, *args, n: int = 0, env=None, **kw) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "hyppo_hep.run", str(cfg), "--quiet", *args]
    return subprocess.Popen(([mpiexec(), "-n", str(n)] if n else []) + cmd, cwd=ROOT, env={**ENV, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)


def returns(base: Path, rounds: int) -> tuple[int, int]:
    """(faulty trials, wrongly recorded) over every executor, MPI included."""
    combos = [("serial", "none"), ("serial", "process"), ("pool", "process"), ("mpi", "none"), ("mpi", "process")]
    injected = bad = 0
    for r in range(rounds):
        for kind in ("unwritable", "interrupt"):
            for ex, iso in combos:
                name = f"ret{r}_{kind}_{ex}_{iso}"
                cfg = write_cfg(base / f"{name}.yaml", objective={"name": "reliability_soak:odd_returns", "kind": kind},
                                isolation=iso, seed=r, budget=4,
                                executor={"kind": "pool", "workers": 2} if ex == "pool" else
                                {"kind": "mpi", "group_size": 2} if ex == "mpi" else ex)
                proc = launch(cfg, n=3 if ex == "mpi" else 0)
                _, err = proc.communicate(timeout=300)
                out = base / f"{name}_out"
                if proc.returncode != 0 or not (out / "journal.jsonl").exists():
                    bad += 1
                    print(f"  {name}: exit {proc.returncode}: {err.strip()[-300:]}")
                    continue
                bad += lost(out, 4, 3)
                for rec in replay(out / "journal.jsonl").sets.values():
                    for t, tr in rec.trials.items():
                        faulty = rec.seeds[t] % 3 == 0
                        injected += faulty
                        want = "KeyboardInterrupt: raised by the trial" if kind == "interrupt" else "info['bad'] is a set"
                        bad += (tr.ok or want not in tr.error) if faulty else \
                            (not tr.ok or tr.info.get("curve") != [0.0, 1.0, 2.0])
    return injected, bad


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def rank_pid(root: int, rank: int) -> int | None:
    """The pid of world rank ``rank`` below process ``root`` (an mpiexec)."""
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            kids = [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            try:
                env = Path(f"/proc/{kid}/environ").read_bytes().split(b"\0")
                cmd = Path(f"/proc/{kid}/cmdline").read_bytes()
            except OSError:
                continue
            if f"PMI_RANK={rank}".encode() in env and b"hyppo_hep.run" in cmd:
                return kid
            todo.append(kid)
    return None


def orphans(base: Path, n: int) -> tuple[int, int]:
    """kill -9 of the master at random moments while trials run `sleep` processes: (kills,
    sleep processes that survived their run)."""
    combos = [("serial", "process"), ("pool", "process"), ("mpi", "none"), ("mpi", "process")]
    rng = random.Random(13)
    kills = survivors = 0
    for i in range(n):
        for ex, iso in combos:
            piddir = base / f"orph{i}_{ex}_{iso}_pids"
            piddir.mkdir()
            cfg = write_cfg(base / f"orph{i}_{ex}_{iso}.yaml", objective="reliability_soak:sleeper", isolation=iso,
                            budget=20, executor={"kind": "pool", "workers": 2} if ex == "pool" else
                            {"kind": "mpi", "group_size": 2} if ex == "mpi" else ex)
            proc = launch(cfg, n=3 if ex == "mpi" else 0, env={"SOAK_PIDDIR": str(piddir)})
            wait_for(lambda: proc.poll() is not None or any(piddir.iterdir()), 60)
            time.sleep(rng.uniform(0.0, 1.0))
            master = rank_pid(proc.pid, 0) if ex == "mpi" else proc.pid
            if master is None or proc.poll() is not None:
                continue
            os.kill(master, signal.SIGKILL)
            kills += 1
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                survivors += 1  # the launcher hung: a survivor held its pipes
            pids = [int(p.name) for p in piddir.iterdir()]
            wait_for(lambda: not any(_alive(p) for p in pids), 10)
            left = [p for p in pids if _alive(p)]
            survivors += len(left)
            for p in left:
                os.kill(p, signal.SIGKILL)
    return kills, survivors


def overlapping_writers(out: Path, since: int = 0) -> int:
    """Runs that opened the journal (``campaign``) while another run had it open (no
    ``run_finished`` yet), from event ``since`` on: two writers at once."""
    n, is_open = 0, False
    for e in events(out)[since:]:
        if e["event"] == "campaign":
            n += is_open
            is_open = True
        elif e["event"] == "run_finished":
            is_open = False
    return n


def concurrent(base: Path, n: int, k: int = 3) -> tuple[int, int, int]:
    """``n`` rounds of ``k`` simultaneous starts into one fresh directory, then a kill -9 and
    ``k`` simultaneous resumes. (runs refused, runs whose exit was wrong, results lost)"""
    refused = wrong = n_lost = 0
    rng = random.Random(7)
    for i in range(n):
        cfg = write_cfg(base / f"conc{i}.yaml", objective={"name": "branin", "sleep": 0.05}, budget=12)
        out = base / f"conc{i}_out"
        procs = [launch(cfg) for _ in range(k)]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
        statuses = sorted(s for s, _ in results)
        wrong += statuses != [0] + [2] * (k - 1)
        refused += sum("in use by another run" in e for _, e in results)
        wrong += sum(s == 2 and "in use by another run" not in e and "already exists" not in e for s, e in results)
        n_lost += lost(out, 12, 3) + overlapping_writers(out)
        # kill -9 in the middle, then k resumes at once: one resumes, the others are refused
        # (or, started after it finished, resume a finished journal: exit 0, no trial)
        first = launch(cfg, "--overwrite")
        wait_for(lambda: first.poll() is not None or ((out / "journal.jsonl").exists() and
                                                      any(e["event"] == "set_finished" for e in events(out))), 60)
        time.sleep(rng.uniform(0.0, 0.5))
        first.kill()
        first.wait()
        since = len(events(out))
        procs = [launch(cfg, "--resume") for _ in range(k)]
        results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
        refused += sum("in use by another run" in e for _, e in results)
        wrong += sum(s not in (0, 2) or (s == 2 and "in use by another run" not in e) for s, e in results)
        wrong += all(s != 0 for s, _ in results)
        n_lost += lost(out, 12, 3) + overlapping_writers(out, since)
    return refused, wrong, n_lost


def frozen(base: Path, n: int) -> tuple[int, int, int]:
    """``n`` runs under mpiexec -n 3 (groups of 1) with a worker rank SIGSTOPped at a random
    moment. (ranks frozen, runs that stalled or failed, results lost)"""
    rng = random.Random(5)
    froze = stalled = n_lost = 0
    env = {"HYPPO_MPI_GRACE": "1", "HYPPO_MPI_STARTUP_GRACE": "2"}
    for i in range(n):
        cfg = write_cfg(base / f"frozen{i}.yaml", objective={"name": "branin", "sleep": 0.2}, budget=12,
                        trial_timeout=1.0, executor={"kind": "mpi", "group_size": 1})
        out = base / f"frozen{i}_out"
        proc = launch(cfg, n=3, env=env)
        wait_for(lambda: proc.poll() is not None or ((out / "journal.jsonl").exists() and
                                                     any(e["event"] == "trial_finished" for e in events(out))), 60)
        time.sleep(rng.uniform(0.0, 1.5))
        victim = rank_pid(proc.pid, rng.choice([1, 2]))
        if victim is None or proc.poll() is not None:
            continue
        os.kill(victim, signal.SIGSTOP)
        froze += 1
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            stalled += 1
            continue
        finally:
            if _alive(victim):
                os.kill(victim, signal.SIGKILL)
        stalled += proc.returncode != 0
        n_lost += lost(out, 12, 3)
        unresponsive = [e for e in events(out) if e["event"] == "trial_finished"
                        and (e.get("error") or "").startswith("worker unresponsive")]
        n_lost += len(unresponsive) > 1
    return froze, stalled, n_lost


def main_(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--kills", type=int, default=50)
    p.add_argument("--terms", type=int, default=10)
    p.add_argument("--fuzz", type=int, default=2000)
    p.add_argument("--returns", type=int, default=1, help="rounds of unwritable returns / own interrupts")
    p.add_argument("--orphans", type=int, default=5, help="kill -9 rounds per executor with trial subprocesses")
    p.add_argument("--concurrent", type=int, default=10, help="rounds of simultaneous starts and resumes")
    p.add_argument("--frozen", type=int, default=5, help="MPI runs with a SIGSTOPped worker rank")
    p.add_argument("--round2-only", action="store_true", help="only the second-round parts (issue 13)")
    p.add_argument("--out", default="/tmp/hyppo_soak")
    args = p.parse_args(argv)
    base = Path(args.out)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    t0 = time.time()
    if args.round2_only:
        total_lost = second_round(base, args)
        print(f"results lost or wrong: {total_lost}   ({time.time() - t0:.0f} s)")
        return 1 if total_lost else 0
    injected, lost_f = faults(base)
    print(f"faults injected: {injected} (recorded wrongly or lost: {lost_f})")
    k_serial, lost_ks = kills(base, args.kills, signal.SIGKILL, "serial")
    k_pool, lost_kp = kills(base, max(1, args.kills // 5), signal.SIGKILL, "pool")
    print(f"SIGKILLs survived: {k_serial} serial + {k_pool} pool (lost: {lost_ks + lost_kp})")
    t_serial, lost_ts = kills(base, args.terms, signal.SIGTERM, "serial")
    t_pool, lost_tp = kills(base, args.terms, signal.SIGTERM, "pool")
    print(f"SIGTERMs with a clean exit 143: {t_serial} serial + {t_pool} pool (unclean or lost: {lost_ts + lost_tp})")
    fuzzed = fuzz(args.fuzz) if args.fuzz else 0
    print(f"configs fuzzed: {fuzzed} malformed configs + {fuzzed // 2} garbage YAML documents, all exit 2 with one line")
    total_lost = lost_f + lost_ks + lost_kp + lost_ts + lost_tp + second_round(base, args)
    print(f"results lost: {total_lost}   ({time.time() - t0:.0f} s)")
    return 1 if total_lost else 0


def second_round(base: Path, args) -> int:
    t0 = time.time()
    odd, bad_r = returns(base, args.returns)
    print(f"unwritable returns and own KeyboardInterrupts: {odd} faulty trials in serial, process, pool and MPI "
          f"runs (recorded wrongly or lost: {bad_r}) ({time.time() - t0:.0f} s)")
    t0 = time.time()
    n_kills, survivors = orphans(base, args.orphans)
    print(f"kill -9 of the master while trials run processes: {n_kills} (processes left running: {survivors}) "
          f"({time.time() - t0:.0f} s)")
    t0 = time.time()
    refused, wrong, lost_c = concurrent(base, args.concurrent)
    print(f"simultaneous starts/resumes: {args.concurrent} x (3 starts + 3 resumes), {refused} refused by the lock "
          f"(wrong exits: {wrong}, lost or written by two runs at once: {lost_c}) ({time.time() - t0:.0f} s)")
    t0 = time.time()
    froze, stalled, lost_z = frozen(base, args.frozen)
    print(f"frozen worker ranks (SIGSTOP under mpiexec -n 3): {froze} (stalled or failed runs: {stalled}, "
          f"lost: {lost_z}) ({time.time() - t0:.0f} s)")
    return bad_r + survivors + wrong + lost_c + stalled + lost_z


if __name__ == "__main__":
    sys.exit(main_())
