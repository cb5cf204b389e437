"""Cost of the search loop itself at many sets: a CLI campaign of N sets of one trial each
on an instant objective (branin), random strategy, serial executor. What it measures is the
core's bookkeeping: proposing, journalling, results.csv, the progress line.

    nice -n 10 python benchmarks/bench_core.py --sets 1000,4000

Run it with PYTHONPATH pointing at another checkout to compare versions. Writes a table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = """objective: branin
space:
  x1: {low: -5.0, high: 10.0}
  x2: {low: 0.0, high: 15.0}
trials: 1
strategy: random
seed: 0
executor: serial
"""


def run(n_sets: int, workdir: Path) -> tuple[float, int]:
    cfg = workdir / "bench.yaml"
    cfg.write_text(CONFIG)
    out = workdir / f"out_{n_sets}"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hyppo_hep.run", str(cfg), "--budget", str(n_sets), "--out",
                           str(out), "--overwrite"], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    rows = len((out / "results.csv").read_text().splitlines()) - 1
    return wall, rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="1000,4000", help="comma-separated campaign sizes")
    args = p.parse_args()
    print(f"PYTHONPATH={os.environ.get('PYTHONPATH', '')}")
    print("| sets | wall s | sets/s | results.csv rows |")
    print("| ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sets.split(",")):
            wall, rows = run(n, Path(tmp))
            print(f"| {n} | {wall:.1f} | {n / wall:.0f} | {rows} |", flush=True)


if __name__ == "__main__":
    main()
