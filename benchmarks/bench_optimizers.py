"""hyppo_hep (rbf, gp, random) against Optuna (TPE, GPSampler), pySOT (DYCORS) and
scikit-optimize (gp_minimize) on the same noisy integer-lattice problems.

    pip install -e ".[bench]"
    python benchmarks/bench_optimizers.py --seeds 10            # writes benchmarks/RESULTS_optimizers.md

Every problem is in the broad-search form of the Hyppo study's Table 1: each parameter is
an integer index in [lower, upper] times a scaling. Every tool sees the same lattice (the
peers get the integer indices) and every set it asks for is scored as the mean of 5 noisy
trials. The noise of a trial is a pure function of (seed, set, trial index), so all tools
see the same observation for the same set. After 20, 25, 50 and 100 sets, each tool's
pick is the set with the best observed mean so far; what is reported is that set's TRUE
(noise-free) value, median over seeds. Sets a peer asks for twice count twice (each is
a training).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hyppo_hep.objectives.analytic import TABLE1_BROAD_SPACE, Branin, GanLandscape, Hartmann6, Rastrigin  # noqa: E402

TRIALS = 5
CHECKPOINTS = (20, 25, 50, 100)


class Problem:
    """A noisy analytic objective over an integer lattice: value = index * scaling."""

    def __init__(self, name, objective, space):
        self.name, self.objective, self.space = name, objective, space
        self.names = list(space)
        self.lower = np.array([space[n]["lower"] for n in self.names])
        self.upper = np.array([space[n]["upper"] for n in self.names])
        self.scaling = [space[n]["scaling"] for n in self.names]

    @property
    def dim(self):
        return len(self.names)

    def params(self, idx) -> dict:
        idx = [int(round(float(i))) for i in idx]
        out = {}
        for n, i, s in zip(self.names, idx, self.scaling):
            out[n] = i * s if isinstance(s, int) else float(f"{i * s:.12g}")
        return out

    def index(self, params) -> tuple:
        return tuple(int(round(params[n] / s)) for n, s in zip(self.names, self.scaling))

    def trial(self, params, t, seed) -> float:
        noise_seed = int(np.random.SeedSequence([seed, *[i + 10**6 for i in self.index(params)], t]).generate_state(1)[0])
        return self.objective(params, t, noise_seed)

    def observe(self, params, seed) -> float:
        """The score of a set: the mean of its 5 noisy trials."""
        return float(np.mean([self.trial(params, t, seed) for t in range(TRIALS)]))

    def true(self, params) -> float:
        return self.objective.true_value(params)


def problems() -> dict[str, Problem]:
    return {
        "gan6": Problem("gan6", GanLandscape(), TABLE1_BROAD_SPACE),
        "hartmann6": Problem("hartmann6", Hartmann6(), {f"x{i}": {"lower": 0, "upper": 100, "scaling": 0.01}
                                                        for i in range(6)}),
        "rastrigin10": Problem("rastrigin10", Rastrigin(10), {f"x{i}": {"lower": -50, "upper": 50, "scaling": 0.1}
                                                              for i in range(10)}),
        "branin2": Problem("branin2", Branin(), {"x1": {"lower": -50, "upper": 100, "scaling": 0.1},
                                                 "x2": {"lower": 0, "upper": 150, "scaling": 0.1}}),
    }


# --- the tools: each returns the list of sets (params dicts) it evaluated, in order ---------

def run_hyppo(strategy):
    def run(prob: Problem, budget: int, seed: int):
        import hyppo_hep

        def objective(params, trial, _seed, device):
            return prob.trial(params, trial, seed)

        res = hyppo_hep.minimize(objective, prob.space, budget=budget, trials=TRIALS, strategy=strategy, seed=seed)
        return [r.params for r in sorted(res.history.sets.values(), key=lambda r: r.set_id)]
    return run


def run_optuna(kind):
    def run(prob: Problem, budget: int, seed: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=seed) if kind == "tpe" else optuna.samplers.GPSampler(seed=seed)
        study = optuna.create_study(sampler=sampler)
        seen = []

        def f(trial):
            idx = [trial.suggest_int(n, int(lo), int(hi)) for n, lo, hi in zip(prob.names, prob.lower, prob.upper)]
            p = prob.params(idx)
            seen.append(p)
            return prob.observe(p, seed)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study.optimize(f, n_trials=budget)
        return seen
    return run


def run_pysot(prob: Problem, budget: int, seed: int):
    from poap.controller import SerialController
    from pySOT.experimental_design import SymmetricLatinHypercube
    from pySOT.optimization_problems import OptimizationProblem
    from pySOT.strategy import DYCORSStrategy
    from pySOT.surrogate import CubicKernel, LinearTail, RBFInterpolant

    np.random.seed(seed)  # pySOT draws from numpy's global generator
    seen = []

    class Lattice(OptimizationProblem):
        def __init__(self):
            self.dim = prob.dim
            self.lb = prob.lower.astype(float)
            self.ub = prob.upper.astype(float)
            self.int_var = np.arange(prob.dim)
            self.cont_var = np.array([], dtype=int)

        def eval(self, x):
            p = prob.params(x)
            seen.append(p)
            return prob.observe(p, seed)

    opt = Lattice()
    rbf = RBFInterpolant(dim=opt.dim, lb=opt.lb, ub=opt.ub, kernel=CubicKernel(), tail=LinearTail(opt.dim))
    design = SymmetricLatinHypercube(dim=opt.dim, num_pts=2 * (opt.dim + 1))
    controller = SerialController(opt.eval)
    controller.strategy = DYCORSStrategy(max_evals=budget, opt_prob=opt, exp_design=design, surrogate=rbf,
                                         asynchronous=True, batch_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        controller.run()
    return seen[:budget]


def run_skopt(prob: Problem, budget: int, seed: int):
    from skopt import gp_minimize
    from skopt.space import Integer

    seen = []

    def f(x):
        p = prob.params(x)
        seen.append(p)
        return prob.observe(p, seed)

    dims = [Integer(int(lo), int(hi)) for lo, hi in zip(prob.lower, prob.upper)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gp_minimize(f, dims, n_calls=budget, n_initial_points=2 * (prob.dim + 1), random_state=seed,
                    acq_optimizer="sampling", n_points=2000)
    return seen


TOOLS = {
    "hyppo rbf (default)": run_hyppo("rbf"),
    "hyppo gp": run_hyppo("gp"),
    "hyppo gp ei": run_hyppo({"name": "gp", "acquisition": "ei"}),
    "hyppo random": run_hyppo("random"),
    "optuna tpe": run_optuna("tpe"),
    "optuna gp": run_optuna("gp"),
    "pysot dycors": run_pysot,
    "skopt gp_minimize": run_skopt,
}


# Peers whose proposals cost about a second each (a GP refit per set): run on fewer seeds
# so that the whole comparison stays within about half an hour of CPU on a shared machine.
SLOW = ("optuna gp", "skopt gp_minimize", "hyppo gp ei")
# run unless named with --tools (hyppo gp ei costs as much as the slow peers)
OPTIONAL = ("hyppo gp ei",)


def one_run(task):
    pname, tname, seed, budget = task
    prob = problems()[pname]
    t0 = time.process_time()
    try:
        seen = TOOLS[tname](prob, budget, seed)
    except ImportError as exc:
        return task, None, str(exc), 0.0
    return task, picks(prob, seen, seed), None, time.process_time() - t0


def picks(prob: Problem, seen: list[dict], seed: int) -> dict[int, float]:
    """True value of the best-observed set after each checkpoint."""
    obs = [prob.observe(p, seed) for p in seen]
    out = {}
    for k in CHECKPOINTS:
        if len(obs) >= k:
            j = int(np.argmin(obs[:k]))
            out[k] = prob.true(seen[j])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--slow-seeds", type=int, default=2, help=f"seeds for the slow tools ({', '.join(SLOW)})")
    ap.add_argument("--jobs", type=int, default=1, help="runs in parallel processes")
    ap.add_argument("--budget", type=int, default=100)
    ap.add_argument("--problems", nargs="*", default=None, help="subset of: " + ", ".join(problems()))
    ap.add_argument("--tools", nargs="*", default=None, help="subset of the tool names (substring match)")
    ap.add_argument("--merge", action="store_true",
                    help="keep the other tools' results from --raw and rerun only the selected ones")
    ap.add_argument("--out", default=str(Path(__file__).parent / "RESULTS_optimizers.md"))
    ap.add_argument("--raw", default=str(Path(__file__).parent / "results_optimizers.json"))
    args = ap.parse_args(argv)
    probs = problems()
    if args.problems:
        probs = {k: v for k, v in probs.items() if k in args.problems}
    tools = {k: v for k, v in TOOLS.items()
             if (any(t in k for t in args.tools) if args.tools else k not in OPTIONAL)}
    tasks = [(p, t, seed, args.budget) for p in probs for t in tools
             for seed in range(args.slow_seeds if t in SLOW else args.seeds)]
    commands = ["python benchmarks/bench_optimizers.py " + " ".join(sys.argv[1:])]
    base: dict = {}
    if args.merge and Path(args.raw).exists():
        old = json.loads(Path(args.raw).read_text())
        commands = old.pop("_commands", []) + commands
        base = {tuple(k.split("|")): {"values": [{int(c): x for c, x in v.items()} for v in e["values"]],
                                       "cpu_s": e["cpu_s"]}
                for k, e in old.items() if k.split("|")[1] not in tools}
        probs = {**probs, **{k.split("|")[0]: problems()[k.split("|")[0]] for k in old}}
        probs = {k: probs[k] for k in problems() if k in probs}
    run_tools = set(tools)
    all_tools = {k: TOOLS[k] for k in TOOLS if k in run_tools or any(t == k for _, t in base)}

    def save(results):
        """Results so far (written after every run, so an interrupted benchmark keeps them)."""
        raw = {k: {"values": list(v["values"]), "cpu_s": list(v["cpu_s"])} for k, v in base.items()}
        missing = {}
        for (pname, tname, seed, _), vals, err, secs in results:
            if err:
                missing[tname] = err
                continue
            entry = raw.setdefault((pname, tname), {"values": [], "cpu_s": []})
            entry["values"].append(vals)
            entry["cpu_s"].append(secs)
        Path(args.raw).write_text(json.dumps({"_commands": commands,
                                              **{f"{p}|{t}": v for (p, t), v in raw.items()}}, indent=1))
        Path(args.out).write_text(report(raw, probs, all_tools, missing, commands))
        return raw

    results = []
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs) as pool:
            for res in pool.map(one_run, tasks):
                results.append(res)
                save(results)
    else:
        for t in tasks:
            results.append(one_run(t))
            save(results)
    raw = save(results)
    for (pname, tname), entry in raw.items():
        if tname not in run_tools:
            continue
        med = {k: float(np.median([v[k] for v in entry["values"] if k in v])) for k in CHECKPOINTS}
        print(f"{pname:12s} {tname:22s} " + "  ".join(f"{k}:{med[k]:.5g}" for k in CHECKPOINTS)
              + f"   cpu {np.sum(entry['cpu_s']):.1f}s  seeds {len(entry['values'])}", flush=True)
    print(f"wrote {args.out}")


def report(raw, probs, tools, missing, commands) -> str:
    cmds = " then ".join(f"`{c.strip()}`" for c in commands)
    lines = ["# Optimizer comparison on noisy integer-lattice problems", "",
             f"Command: {cmds} (peers: optuna, pysot, scikit-optimize from `pip install -e .[bench]`; "
             "`--merge` reruns only the named tools and keeps the others' results).", "",
             f"Each set is the mean of {TRIALS} noisy trials; the table gives the TRUE (noise-free) value of the set "
             "with the best observed mean after k sets, median over the seeds in the 'seeds' column (fewer for "
             f"{', '.join(SLOW)}: about a second of CPU per proposal each, too costly for 10 seeds on the shared "
             "machine) "
             "(in brackets: 25th-75th percentile at 100 sets). Lower is better. CPU is the tool's total CPU time "
             "over all seeds (objective included, which is negligible).", ""]
    if missing:
        lines += ["Not run (could not be imported here): " + "; ".join(f"{t}: {m}" for t, m in missing.items()), ""]
    summary = []
    for pname in probs:
        lines += [f"## {pname}", "", "| tool | seeds | 20 sets | 25 sets | 50 sets | 100 sets | CPU s |",
                  "|---|---|---|---|---|---|---|"]
        meds = {}
        for tname in tools:
            if (pname, tname) not in raw:
                continue
            vals = raw[(pname, tname)]["values"]
            med = {k: float(np.median([v[k] for v in vals if k in v])) for k in CHECKPOINTS}
            q = np.percentile([v[100] for v in vals if 100 in v], [25, 75]) if all(100 in v for v in vals) else None
            meds[tname] = med
            iqr = f" [{q[0]:.4g}, {q[1]:.4g}]" if q is not None else ""
            lines.append(f"| {tname} | {len(vals)} | {med[20]:.5g} | {med[25]:.5g} | {med[50]:.5g} | {med[100]:.5g}{iqr} "
                         f"| {np.sum(raw[(pname, tname)]['cpu_s']):.0f} |")
        lines.append("")
        default = "hyppo rbf (default)"
        if default in meds:
            best50 = min(meds, key=lambda t: meds[t][50])
            best100 = min(meds, key=lambda t: meds[t][100])
            within20 = ("hyppo random" in meds and meds[default][20] <= meds["hyppo random"][100])
            summary.append((pname, best50 == default, best100 == default, within20, best50, best100))
    if summary:
        lines += ["## Targets", "", "| problem | default best at 50 | default best at 100 | "
                  "default at 20 sets <= random at 100 | best at 50 | best at 100 |", "|---|---|---|---|---|---|"]
        for p, b50, b100, w20, t50, t100 in summary:
            lines.append(f"| {p} | {'yes' if b50 else 'no'} | {'yes' if b100 else 'no'} | {'yes' if w20 else 'no'} "
                         f"| {t50} | {t100} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
