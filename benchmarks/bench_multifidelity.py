"""Time-to-quality of multi-fidelity strategies under one total epoch budget.

Every strategy searches the same workload with the serial executor until the same total
number of training epochs (summed over trials, promotions included, early-stopped epochs
NOT counted as they never ran) is used. After each finished set the incumbent is the set
with the best mean among those trained at the full ``max_epochs`` (a 1-epoch score is not
a model one would keep); its *quality* is the noise-free landscape value for the analytic
``curve`` workloads and the measured mean for real trainings. Reported per strategy, as the
median over seeded repeats: training time (sum of trial wall times) and epochs until the
incumbent reaches a target quality, and the final quality. Targets are the median and the
25th percentile of the final qualities of all runs of the workload ("what half / a quarter
of the runs reach"), so they are set by the data, not chosen per strategy.

    python benchmarks/bench_multifidelity.py                    # analytic curve workloads
    python benchmarks/bench_multifidelity.py --workloads gan_dimuon,classifier --repeats 3
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

UNIT = {"lower": 0, "upper": 100, "scaling": 0.01}
WORKLOADS = {
    # name: (objective name, options, space, max_epochs, trials, total epoch budget)
    "curve_hartmann6": ("curve", {"base": "hartmann6", "epochs": 27, "gap_scale": 1.5, "noise": 1.0, "sleep": 0.001},
                        {f"x{i}": UNIT for i in range(6)}, 27, 3, 2 * 3 * 423),
    "curve_branin": ("curve", {"base": "branin", "epochs": 27, "sleep": 0.001},
                     {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}},
                     27, 3, 2 * 3 * 423),
    # real trainings (issue 5's objectives), small enough for a laptop CPU: 3000 events,
    # at most 9 epochs; the budget is two Hyperband iterations (R = 9, eta = 3: 78 epochs per
    # trial each) of 2 trials per set
    "gan_dimuon": ("gan_dimuon", {"n_events": 3000},
                   {"noise_dim": {"lower": 1, "upper": 25, "scaling": 4},
                    "batch_size": {"lower": 2, "upper": 8, "scaling": 64},
                    "lr_gen": {"lower": 1, "upper": 200, "scaling": 5.0e-5},
                    "lr_disc": {"lower": 1, "upper": 200, "scaling": 5.0e-5},
                    "gen_layersize": {"lower": 2, "upper": 32, "scaling": 8},
                    "disc_layersize": {"lower": 2, "upper": 32, "scaling": 8}},
                   9, 2, 2 * 2 * 78),
    "classifier": ("classifier", {"n_events": 3000},
                   {"hidden_layers": {"lower": 1, "upper": 5}, "width": {"lower": 1, "upper": 32, "scaling": 8},
                    "lr": {"lower": 1, "upper": 100, "scaling": 1.0e-4},
                    "dropout": {"lower": 0, "upper": 5, "scaling": 0.1},
                    "batch_size": {"lower": 1, "upper": 8, "scaling": 64},
                    "patience": 100},  # no patience stop: the epoch budget is the strategy's to spend
                   9, 2, 2 * 2 * 78),
}
STRATEGIES = {
    "random": {"name": "random"},
    "rbf": {"name": "rbf"},
    "hyperband": {"name": "hyperband", "eta": 3},
    "asha": {"name": "asha", "eta": 3},
    "bohb": {"name": "bohb", "eta": 3},
    "asha_rbf": {"name": "asha", "eta": 3, "sampler": "rbf", "promote_k": 1.0},
}


def run_one(workload: str, strategy: dict, seed: int) -> list[tuple[float, float, float]]:
    """One search; the trace [(cumulative train seconds, cumulative epochs, quality)] after
    each finished set (quality inf until a full-budget set exists)."""
    from hyppo_hep import strategy as strategies
    from hyppo_hep.driver import Driver
    from hyppo_hep.executor.serial import SerialExecutor
    from hyppo_hep.search import Search
    from hyppo_hep.objectives.registry import ObjectiveRef
    from hyppo_hep.space import Space

    obj_name, options, space_dict, max_epochs, trials, epoch_budget = WORKLOADS[workload]
    space = Space.from_dict({**space_dict, "epochs": max_epochs})
    ref = ObjectiveRef(obj_name, options)
    quality_of = getattr(ref.build(), "true_value", None)
    opts = {k: v for k, v in strategy.items() if k != "name"}
    strat = strategies.build(strategy["name"], opts, space, 10_000)
    used = {"epochs": 0, "seconds": 0.0}
    trace: list = []
    best = {"mean": math.inf, "quality": math.inf}

    def on_set_finished(rec, history):
        for t in rec.trials.values():
            used["epochs"] += int(t.info.get("epochs_run", rec.resource or max_epochs))
            used["seconds"] += (t.finished or 0.0) - (t.started or 0.0)
        if rec.state == "done" and (rec.resource or max_epochs) >= max_epochs and rec.mean < best["mean"]:
            best["mean"] = rec.mean
            best["quality"] = quality_of(rec.params) if quality_of else rec.mean
        trace.append((used["seconds"], used["epochs"], best["quality"]))

    executor = SerialExecutor(ref, device="cpu")
    try:
        Driver(Search(space, strat, budget=10_000, trials=trials, seed=seed), executor,
               on_set_finished=on_set_finished, stop_when=lambda h: used["epochs"] >= epoch_budget).run()
    finally:
        executor.close()
    return trace


def time_to(trace, target: float) -> tuple[float, float]:
    for seconds, epochs, q in trace:
        if q <= target:
            return seconds, epochs
    return math.inf, math.inf


def fmt(x: float, digits: int = 3) -> str:
    return "not reached" if not math.isfinite(x) else f"{x:.{digits}g}"


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default="curve_hartmann6,curve_branin")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="append the markdown report to this file")
    args = p.parse_args(argv)
    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    from hyppo_hep.strategy.base import STRATEGIES as KNOWN

    needs = {"bohb": "rbf"}  # bohb's default sampler
    names = [s for s in args.strategies.split(",") if STRATEGIES[s]["name"] in KNOWN
             and STRATEGIES[s].get("sampler", needs.get(STRATEGIES[s]["name"], "random")) in ("random", *KNOWN)]
    skipped = [s for s in args.strategies.split(",") if s not in names]
    lines = [f"Command: `python benchmarks/bench_multifidelity.py --workloads {args.workloads} "
             f"--strategies {','.join(names)} --repeats {args.repeats}`", ""]
    if skipped:
        lines += [f"Skipped (strategy not available in this checkout): {', '.join(skipped)}", ""]
    for workload in args.workloads.split(","):
        obj, options, space, max_epochs, trials, budget = WORKLOADS[workload]
        t0 = time.time()
        traces = {s: [run_one(workload, STRATEGIES[s], seed) for seed in range(args.repeats)] for s in names}
        finals = [tr[-1][2] for runs in traces.values() for tr in runs if tr]
        targets = [float(np.percentile(finals, 50)), float(np.percentile(finals, 25))]
        n_free = sum(isinstance(v, dict) for v in space.values())
        lines += [f"### {workload}: `{obj}` {options}, {n_free} free parameters, max_epochs {max_epochs}, "
                  f"{trials} trials per set, total budget {budget} epochs, {args.repeats} seeds "
                  f"({time.time() - t0:.0f} s)", "",
                  f"Targets: quality <= {targets[0]:.4g} (median final) and <= {targets[1]:.4g} (25th percentile).", "",
                  "| strategy | sets | final quality (median) | time to median target [s] | epochs to it | reached | "
                  "time to p25 target [s] | epochs to it | reached |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for s in names:
            runs = traces[s]
            row = [s, f"{np.median([len(tr) for tr in runs]):.0f}", f"{np.median([tr[-1][2] for tr in runs]):.4g}"]
            for target in targets:
                hits = [time_to(tr, target) for tr in runs]
                row += [fmt(float(np.median([h[0] for h in hits]))), fmt(float(np.median([h[1] for h in hits])), 4),
                        f"{sum(math.isfinite(h[0]) for h in hits)}/{len(runs)}"]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    report = "\n".join(lines)
    print(report)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(report + "\n")
    return report


if __name__ == "__main__":
    main()
