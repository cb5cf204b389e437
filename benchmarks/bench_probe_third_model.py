"""Learn then pack on a third duration model, never used while choosing the rule (RESULTS_mpi.md
section 13): trial time ~ disc_layersize^0.8, set sigma 0.45, trial sigma 0.1 (a probe says its
set's other trials to ~10%, not 2%). 80 simulated workers, confirm 10 + end phase, PROBES 0
(= main) and 1, rbf and random; one line each: median and mean utilisation (useful
confirmation trials counted, as bench_end_phase.py), per seed, median wall and final pick.

    python benchmarks/bench_probe_third_model.py [--seeds 1-10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_end_phase as E  # noqa: E402
import bench_scaling as B  # noqa: E402

import hyppo_hep.end_phase as EP  # noqa: E402
from hyppo_hep.simulate import DurationModel  # noqa: E402


def disc_model() -> DurationModel:
    return DurationModel(base=1200.0, sigma_set=0.45, sigma_trial=0.1, size_param="disc_layersize",
                         size_ref=512.0, size_power=0.8)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=B.parse_seeds, default=list(range(1, 11)))
    args = p.parse_args(argv)
    B.MODELS["disc"] = disc_model
    for strategy in ("rbf", "random"):
        for probes in (0, 1):
            EP.PROBES = probes
            res = [E.run("disc", strategy, s, E.RULES["confirm-end"]) for s in args.seeds]
            util = [100 * r[0] for r in res]
            print(f"disc {strategy:6s} PROBES={probes} median {statistics.median(util):.1f}% mean "
                  f"{statistics.mean(util):.1f}% | " + " ".join(f"{x:.1f}" for x in util)
                  + f" | wall {statistics.median(r[1] for r in res):.2f} h | pick "
                  f"{statistics.median(r[2] for r in res):.4f}", flush=True)


if __name__ == "__main__":
    main()
