"""The end phase's constants (hyppo_hep/end_phase.py) on many seeds at 80 simulated workers.

    python benchmarks/bench_end_phase.py --seeds 1-10                       # the defaults
    python benchmarks/bench_end_phase.py --seeds 1-10 FILLERS=0 END_QUANTILE=0.9 MAX_QUANTILE=0.9

One line per duration model x strategy x rule: the median utilisation (useful confirmation
trials only, as bench_scaling counts them), each seed's, the median wall and final pick's
true value and each seed's pick. NAME=VALUE overrides a constant of hyppo_hep.end_phase for
the run (END_ROUNDS, FILLERS, OVERSAMPLE, END_QUANTILE, MAX_QUANTILE, CONFIRM_END_QUANTILE, PROBES: 0 or 1,
OWED_FILL, DUE_QUANTILE, END_ROUNDS_GROUPS, SHORTEST_FIRST: 0 or 1, CENSOR_RUNNING: 0 or 1).
About 1 min per model and strategy for 10 seeds on one free core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scaling as B  # noqa: E402

import hyppo_hep.end_phase as EP  # noqa: E402
from hyppo_hep.config import DEFAULT_CONFIG, load_config  # noqa: E402

RULES = {"trial": {"last_round": False}, "end": {"last_round": True},
         "confirm-end": {"last_round": True, "confirm": 10}, "confirm": {"last_round": False, "confirm": 10}}
CONSTANTS = ("END_ROUNDS", "FILLERS", "OVERSAMPLE", "END_QUANTILE", "MAX_QUANTILE", "CONFIRM_END_QUANTILE", "PROBES",
             "OWED_FILL", "DUE_QUANTILE", "END_ROUNDS_GROUPS",
             "SHORTEST_FIRST", "CENSOR_RUNNING")


def simulate(model, strategy, seed, options, workers=80):
    """One campaign of 6.25 sets per group: (bench_scaling's result, its events, the config)."""
    B.DURATIONS = B.MODELS[model]()
    cfg = load_config(DEFAULT_CONFIG)
    log = B.EventLog()
    n_groups = workers // B.GROUP
    r = B.one("nested_async", n_groups, int(round(6.25 * n_groups)), seed, strategy=strategy, journal=log,
              search_options=options)
    return r, log, cfg


def useful_busy(r, log, space) -> float:
    """Busy worker-seconds counting only the useful confirmation trials (as bench_scaling)."""
    useful, _, _ = B.useful_confirmations(log, space)
    keys = B._confirm_keys(log)
    return r.busy + useful - sum(e["finished"] - e["started"] for e in log
                                 if e["event"] == "trial_finished" and (e["set_id"], e["trial"]) in keys)


def run(model, strategy, seed, options, workers=80):
    """(utilisation counting useful confirmation trials, wall in hours, final pick's true value)."""
    r, log, cfg = simulate(model, strategy, seed, options, workers)
    busy = useful_busy(r, log, cfg.space) if options.get("confirm") else r.busy
    pick = B.picks_over_time(log, cfg.space, cfg.objective.build(), n_points=2)[-1][1]
    return busy / (r.n_workers * r.wall), r.wall / 3600, pick


def _constant(text: str):
    name, _, value = text.partition("=")
    if name not in CONSTANTS or not value:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(CONSTANTS)}=VALUE, got {text!r}")
    try:
        integer = ("END_ROUNDS", "END_ROUNDS_GROUPS", "FILLERS", "OVERSAMPLE", "PROBES", "SHORTEST_FIRST", "CENSOR_RUNNING")
        return name, (int(value) if name in integer else float(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} must be a number, got {value!r}") from None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=B.parse_seeds, default=list(range(1, 11)))
    p.add_argument("--rules", default="confirm-end", help="of trial, end, confirm, confirm-end")
    p.add_argument("--models", default="size,batch")
    p.add_argument("--strategies", default="rbf,random")
    p.add_argument("--workers", type=int, default=80)
    p.add_argument("constants", nargs="*", type=_constant, metavar="NAME=VALUE")
    args = p.parse_args(argv)
    for name, value in args.constants:
        setattr(EP, name, value)
    print(" ".join(f"{name}={getattr(EP, name)}" for name in CONSTANTS), flush=True)
    for model in args.models.split(","):
        for strategy in args.strategies.split(","):
            for rule in args.rules.split(","):
                res = [run(model, strategy, s, RULES[rule], args.workers) for s in args.seeds]
                print(f"{model:5s} {strategy:6s} {rule:12s} median {100 * statistics.median(r[0] for r in res):5.1f}% | "
                      + " ".join(f"{100 * r[0]:5.1f}" for r in res)
                      + f" | wall {statistics.median(r[1] for r in res):.2f} h | pick "
                      f"{statistics.median(r[2] for r in res):.4f} [" + " ".join(f"{r[2]:.4f}" for r in res) + "]",
                      flush=True)


if __name__ == "__main__":
    main()
