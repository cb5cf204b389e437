"""Learn then pack at 8000 simulated workers with the cheap `random` strategy (RESULTS_mpi.md
section 13): one campaign of 10,000 sets, the end phase without confirmation trials, size
model, seed 1; PROBES=0 (= main) or 1. About 7-9 min real on one free core.

    python benchmarks/bench_probe_8000_random.py 0     # then 1
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scaling as B  # noqa: E402

import hyppo_hep.end_phase as EP  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in ("0", "1"):
        print("bench_probe_8000_random.py: PROBES must be 0 or 1", file=sys.stderr)
        return 2
    EP.PROBES = int(argv[0])
    B.DURATIONS = B.MODELS["size"]()
    log = B.EventLog()
    t = time.perf_counter()
    r = B.one("nested_async", 1600, 10000, 1, strategy="random", journal=log, search_options={"last_round": True})
    b = B.idle_breakdown(log, 8000)
    cap = 8000 * b["wall"]
    print(f"PROBES={EP.PROBES} random 8000 end phase: util {r.utilization:.3f} speedup {r.busy / r.wall:.0f}x "
          f"wall {r.wall / 3600:.2f} h proposal {r.proposal_time:.1f} s ({1000 * r.proposal_time / 10000:.1f} ms/set) "
          f"last new set {b['last_new_set'] / 3600:.2f} h idle before {b['idle_before'] / cap:.1%} "
          f"tail {b['idle_after'] / cap:.1%} probes {sum(1 for e in log if e.get('probe'))} "
          f"real {time.perf_counter() - t:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
