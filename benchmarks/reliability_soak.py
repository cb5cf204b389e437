"""Reliability soak: inject faults, kill and signal runs, fuzz configs; count what was lost.

    python benchmarks/reliability_soak.py [--kills 50] [--terms 10] [--fuzz 2000] [--out /tmp/soak]

Prints one line per part and the totals that the README's reliability section quotes:
faults injected (each must be a failed trial with its reason), SIGKILLs survived (each
followed by a resume), SIGTERMs (each must exit 143 with a clean journal), configs fuzzed
(each must exit 2 with one line), and results lost (finished trials missing or duplicated
after all of it, or healthy trials whose score changed) — which must be 0.
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
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


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
                           "tests/test_reliability.py", "-k", "fuzz"], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:])
        raise SystemExit("fuzz found a failure")
    return n


def main_(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--kills", type=int, default=50)
    p.add_argument("--terms", type=int, default=10)
    p.add_argument("--fuzz", type=int, default=2000)
    p.add_argument("--out", default="/tmp/hyppo_soak")
    args = p.parse_args(argv)
    base = Path(args.out)
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    t0 = time.time()
    injected, lost_f = faults(base)
    print(f"faults injected: {injected} (recorded wrongly or lost: {lost_f})")
    k_serial, lost_ks = kills(base, args.kills, signal.SIGKILL, "serial")
    k_pool, lost_kp = kills(base, max(1, args.kills // 5), signal.SIGKILL, "pool")
    print(f"SIGKILLs survived: {k_serial} serial + {k_pool} pool (lost: {lost_ks + lost_kp})")
    t_serial, lost_ts = kills(base, args.terms, signal.SIGTERM, "serial")
    t_pool, lost_tp = kills(base, args.terms, signal.SIGTERM, "pool")
    print(f"SIGTERMs with a clean exit 143: {t_serial} serial + {t_pool} pool (unclean or lost: {lost_ts + lost_tp})")
    fuzzed = fuzz(args.fuzz)
    print(f"configs fuzzed: {fuzzed} malformed configs + {fuzzed // 2} garbage YAML documents, all exit 2 with one line")
    total_lost = lost_f + lost_ks + lost_kp + lost_ts + lost_tp
    print(f"results lost: {total_lost}   ({time.time() - t0:.0f} s)")
    return 1 if total_lost else 0


if __name__ == "__main__":
    sys.exit(main_())
