"""hyppo_hep's multi-objective strategy against Optuna's NSGA-II, multi-objective TPE (and
GPSampler) on noisy two- and three-objective problems over integer lattices.

    nice -n 10 python benchmarks/bench_multiobjective.py --seeds 10   # writes benchmarks/RESULTS_multiobjective.md

Every set is trained 5 times (trials); a trial returns a noisy score and, for some
problems, noisy or exact info values (model size, a second metric, a generation time).
The objectives are set-level: the mean score, the trials' spread (std, ddof=1), the mean
of an info value, some on a log scale. hyppo_hep sees every trial (through ``minimize``,
as a user would run it); the Optuna samplers get the set-level values (the same numbers
hyppo_hep computes from the trials). A trial's noise is a pure function of (seed, set,
trial index), so every tool sees the same observation of the same set.

What is reported: the hypervolume of the TRUE (noise-free) objective vectors of the first
50 and 100 sets a tool evaluated, against a fixed reference point per problem (higher is
better), median over seeds. Sets a sampler asks twice count twice (each is a training).
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

from hyppo_hep.objectives.analytic import TABLE1_BROAD_SPACE, GanLandscape  # noqa: E402
from hyppo_hep.strategy.hypervolume import hypervolume  # noqa: E402

TRIALS = 5
CHECKPOINTS = (50, 100)


class Problem:
    """Noisy multi-objective problem on a lattice (value = index * scaling).

    ``trial_fn(x, rng) -> {"score": ..., info...}`` and ``true_fn(x) -> k`` true objective
    values (log ones already logged), with ``x`` the parameter values in ``names`` order."""

    def __init__(self, name, space, objectives, trial_fn, true_fn, ref, note):
        self.name, self.space, self.objectives = name, space, objectives
        self.trial_fn, self.true_fn, self.ref, self.note = trial_fn, true_fn, np.asarray(ref, float), note
        self.names = list(space)
        self.lower = [space[n]["lower"] for n in self.names]
        self.upper = [space[n]["upper"] for n in self.names]
        self.scaling = [space[n].get("scaling", 1) for n in self.names]

    def params(self, idx) -> dict:
        return {n: (int(i) * s if isinstance(s, int) else float(f"{int(i) * s:.12g}"))
                for n, i, s in zip(self.names, idx, self.scaling)}

    def index(self, params) -> tuple:
        return tuple(int(round(params[n] / s)) for n, s in zip(self.names, self.scaling))

    def x(self, params) -> np.ndarray:
        return np.array([float(params[n]) for n in self.names])

    def trial(self, params, t: int, seed: int) -> dict:
        ss = np.random.SeedSequence([seed, *[i + 10**6 for i in self.index(params)], t])
        return self.trial_fn(self.x(params), np.random.default_rng(ss))

    def observe(self, params, seed: int) -> list[float]:
        """The set-level objective values of 5 trials, as hyppo_hep computes them."""
        outs = [self.trial(params, t, seed) for t in range(TRIALS)]
        scores = np.array([o["score"] for o in outs])
        vals = []
        for spec in self.objectives:
            name, log = (spec["name"], spec["log"]) if isinstance(spec, dict) else (spec, False)
            if name == "mean":
                v = scores.mean()
            elif name == "std":
                v = scores.std(ddof=1)
            else:
                v = np.mean([o[name.removeprefix("info.")] for o in outs])
            vals.append(math.log(v) if log else float(v))
        return vals

    def true(self, params) -> np.ndarray:
        return np.asarray(self.true_fn(self.x(params)), dtype=float)


# --- the problems ------------------------------------------------------------------------------

def _zdt(x, centres, concave: bool, a: float):
    """ZDT1/ZDT2-like: f1 = x0 in [0, 1]; the rest sit at interior optima ``centres``
    (ZDT's a = 9 leaves a random search of 8 dims no set near the front: a = 3 there)."""
    g = 1.0 + a * np.mean(np.abs(x[1:] - centres))
    return g * (1.0 - (x[0] / g) ** 2) if concave else g * (1.0 - math.sqrt(x[0] / g))


def zdt_spread(name, dim, levels, concave, s0, s1, a):
    """Objectives (mean, std): the mean score is ZDT-like and falls with x0 (a learning
    rate, say), while the trials' spread s0 + s1 * x0 grows with it."""
    centres = np.round(np.linspace(0.2, 0.7, dim - 1) * levels) / levels
    space = {f"x{i}": {"lower": 0, "upper": levels, "scaling": 1.0 / levels} for i in range(dim)}

    def trial(x, rng):
        return {"score": _zdt(x, centres, concave, a) + (s0 + s1 * x[0]) * rng.standard_normal()}

    def true(x):
        return [_zdt(x, centres, concave, a), s0 + s1 * x[0]]

    ref = [1.1, s0 + 1.1 * s1]
    kind = "concave (ZDT2-like)" if concave else "convex (ZDT1-like)"
    return Problem(name, space, ["mean", "std"], trial, true, ref,
                   f"{dim} dims x {levels + 1} levels; objectives mean, std; {kind} front, g = 1 + {a:g} mean|x - c|; "
                   f"spread {s0} + {s1} x0")


def mlp_size():
    """Objectives (mean, log n_params) of an MLP: width 8..512, depth 1..6, lr 1e-4..1e-2.
    Capacity (depth * width) lowers the score, the parameter count grows as depth * width^2."""
    space = {"width": {"lower": 1, "upper": 64, "scaling": 8}, "depth": {"lower": 1, "upper": 6},
             "lr": {"lower": 1, "upper": 100, "scaling": 1.0e-4}}

    def mean(x):
        width, depth, lr = x
        return 0.05 + 0.5 / (1.0 + depth * width / 96.0) + 0.3 * (math.log10(lr) + 2.6) ** 2

    def n_params(x):
        width, depth, _ = x
        return 10 * width + (depth - 1) * width * (width + 1) + width + 1

    def trial(x, rng):
        spread = 0.01 + 0.03 * (math.log10(x[2]) + 4.0)
        return {"score": mean(x) + spread * rng.standard_normal(), "n_params": n_params(x)}

    return Problem("mlp_size3", space, ["mean", {"name": "n_params", "log": True}], trial,
                   lambda x: [mean(x), math.log(n_params(x))], [0.4, 13.0],
                   "3 dims (width 64 levels, depth 6, lr 100); objectives mean, log n_params (exact)")


def gan_landscape():
    """The GanLandscape objective over the Table 1 broad space: (mean, std, log n_params)."""
    g = GanLandscape()

    def trial(x, rng):
        return {"score": g.mean(x) + g.spread(x) * rng.standard_normal(), "n_params": g.n_params(x)}

    return Problem("gan6", TABLE1_BROAD_SPACE, ["mean", "std", {"name": "n_params", "log": True}], trial,
                   lambda x: [g.mean(x), g.spread(x), math.log(g.n_params(x))], [0.08, 0.03, 15.0],
                   "Table 1 broad space (6 dims); objectives mean, std, log n_params (exact)")


def dtlz2_time():
    """DTLZ2-like with three noisy outputs: the score, a second metric (info.w1_pt) and a
    generation time (info.gen_time, 5% multiplicative noise); 6 dims, 2 of them position."""
    levels = 20
    centres = np.array([0.3, 0.45, 0.6, 0.75])
    space = {f"x{i}": {"lower": 0, "upper": levels, "scaling": 1.0 / levels} for i in range(6)}

    def f(x):
        g = float(np.sum((x[2:] - centres) ** 2)) * 4.0
        a, b = x[0] * math.pi / 2, x[1] * math.pi / 2
        return [(1 + g) * math.cos(a) * math.cos(b), (1 + g) * math.cos(a) * math.sin(b), (1 + g) * math.sin(a)]

    def trial(x, rng):
        f1, f2, f3 = f(x)
        z = rng.standard_normal(3)
        return {"score": f1 + 0.05 * z[0], "w1_pt": f2 + 0.05 * z[1], "gen_time": f3 * (1 + 0.05 * z[2])}

    return Problem("dtlz2_time6", space, ["mean", "info.w1_pt", "info.gen_time"], trial, f, [1.1, 1.1, 1.1],
                   "6 dims x 21 levels; objectives mean, info.w1_pt, info.gen_time (all noisy); spherical front")


def problems() -> dict[str, Problem]:
    probs = [zdt_spread("zdt1_spread4", 4, 20, False, 0.03, 0.3, 9.0),
             zdt_spread("zdt2_spread8", 8, 30, True, 0.05, 0.2, 3.0),
             mlp_size(), gan_landscape(), dtlz2_time()]
    return {p.name: p for p in probs}


# --- the tools: each returns the list of sets (params dicts) it evaluated, in order ------------

def run_hyppo(strategy):
    def run(prob: Problem, budget: int, seed: int):
        import hyppo_hep

        strat = dict(strategy)
        if strat["name"] != "random":
            strat["objectives"] = prob.objectives

        def objective(params, trial, _seed, device):
            return prob.trial(params, trial, seed)

        res = hyppo_hep.minimize(objective, prob.space, budget=budget, trials=TRIALS, strategy=strat, seed=seed, quiet=True)
        return [r.params for r in sorted(res.history.sets.values(), key=lambda r: r.set_id)]
    return run


def run_optuna(kind):
    def run(prob: Problem, budget: int, seed: int):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = {"nsga2": lambda: optuna.samplers.NSGAIISampler(seed=seed),
                   "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
                   "gp": lambda: optuna.samplers.GPSampler(seed=seed)}[kind]()
        study = optuna.create_study(directions=["minimize"] * len(prob.objectives), sampler=sampler)
        seen = []

        def f(trial):
            idx = [trial.suggest_int(n, lo, hi) for n, lo, hi in zip(prob.names, prob.lower, prob.upper)]
            p = prob.params(idx)
            seen.append(p)
            return prob.observe(p, seed)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study.optimize(f, n_trials=budget)
        return seen
    return run


TOOLS = {
    "hyppo multiobjective (default: hvi, gp)": run_hyppo({"name": "multiobjective"}),
    "hyppo multiobjective (hvi, rbf)": run_hyppo({"name": "multiobjective", "surrogate": "rbf"}),
    "hyppo multiobjective (chebyshev, gp)": run_hyppo({"name": "multiobjective", "acquisition": "chebyshev"}),
    # the first full run's settings, before the GP's default weight became 1 (see the results)
    "hyppo multiobjective (hvi, gp, weights cycling)": run_hyppo(
        {"name": "multiobjective", "weights": [0.3, 0.5, 0.8, 0.95]}),
    "hyppo multiobjective (chebyshev, gp, weights cycling)": run_hyppo(
        {"name": "multiobjective", "acquisition": "chebyshev", "weights": [0.3, 0.5, 0.8, 0.95]}),
    "hyppo random": run_hyppo({"name": "random"}),
    "optuna nsga2": run_optuna("nsga2"),
    "optuna tpe": run_optuna("tpe"),
    "optuna gp": run_optuna("gp"),
}
DEFAULT = "hyppo multiobjective (default: hvi, gp)"
PEERS = ("optuna nsga2", "optuna tpe")
# fewer seeds: optuna gp costs about a second or more per proposal (a torch GP fit and an
# acquisition optimisation); the Chebyshev variant is a side comparison
SLOW = ("optuna gp", "hyppo multiobjective (chebyshev, gp)", "hyppo multiobjective (chebyshev, gp, weights cycling)")


def one_run(task):
    pname, tname, seed, budget = task
    prob = problems()[pname]
    t0 = time.process_time()
    seen = TOOLS[tname](prob, budget, seed)
    true = np.array([prob.true(p) for p in seen])
    hvs = {k: hypervolume(true[:k], prob.ref) for k in CHECKPOINTS if len(true) >= k}
    return task, hvs, time.process_time() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--slow-seeds", type=int, default=3, help=f"seeds for the slow tools ({', '.join(SLOW)})")
    ap.add_argument("--budget", type=int, default=max(CHECKPOINTS))
    ap.add_argument("--problems", nargs="*", default=None, help="subset of: " + ", ".join(problems()))
    ap.add_argument("--tools", nargs="*", default=None, help="subset of the tool names (substring match)")
    ap.add_argument("--merge", action="store_true", help="keep the other tools' results from --raw")
    ap.add_argument("--out", default=str(Path(__file__).parent / "RESULTS_multiobjective.md"))
    ap.add_argument("--raw", default=str(Path(__file__).parent / "results_multiobjective.json"))
    args = ap.parse_args(argv)
    probs = {k: v for k, v in problems().items() if not args.problems or k in args.problems}
    tools = [t for t in TOOLS if not args.tools or any(s in t for s in args.tools)]
    command = "python benchmarks/bench_multiobjective.py " + " ".join(sys.argv[1:] if argv is None else argv)
    raw: dict = {}
    commands = []
    if args.merge and Path(args.raw).exists():
        old = json.loads(Path(args.raw).read_text())
        commands = old.pop("_commands", [])
        raw = {k: v for k, v in old.items() if not (k.split("|")[0] in probs and k.split("|")[1] in tools)}
    commands.append(command.strip())
    tasks = [(p, t, s, args.budget) for p in probs for t in tools
             for s in range(args.first_seed, args.first_seed + (args.slow_seeds if t in SLOW else args.seeds))]
    for task in tasks:
        (pname, tname, seed, _), hvs, cpu = one_run(task)
        entry = raw.setdefault(f"{pname}|{tname}", {"hv": [], "cpu_s": []})
        entry["hv"].append({str(k): v for k, v in hvs.items()})
        entry["cpu_s"].append(cpu)
        print(f"{pname:13s} {tname:38s} seed {seed}: " + "  ".join(f"{k}:{v:.4g}" for k, v in hvs.items())
              + f"  ({cpu:.1f} s)", flush=True)
        Path(args.raw).write_text(json.dumps({"_commands": commands, **raw}, indent=1))
        Path(args.out).write_text(report(raw, commands))
    print(f"wrote {args.out}")


NOTES = """## How the default came about, and what to keep in mind

- The first full run used the GP with the merit weights cycling from exploration to
  exploitation (0.3, 0.5, 0.8, 0.95), as the single-objective RBF strategy does: those are
  the rows marked "weights cycling". It missed TPE at 100 sets on zdt2_spread8. A 4-seed
  check on zdt1_spread4 and zdt2_spread8 then gave a weight of 1 (the acquisition alone,
  as the single-objective GP strategy's EI and LCB pick) a higher median hypervolume at
  100 sets (0.221 against 0.206 and 0.034 against 0.016). The reason it should: the GP's
  optimistic vector (mean - beta std) already explores, and the distance term spent a
  quarter of the proposals on space filling. So the default with the GP became weight 1
  (the RBF keeps the cycle, its std does not explore) and the default row was rerun on all
  problems and 10 seeds. The check used two of the five problems: the other three and
  the 50-set column were not looked at before the choice.
- dtlz2_time6 is a miss at both budgets: TPE's median is well above the default's (and the
  RBF variant's). Not investigated for lack of time. A likely cause, untested: the
  acquisition's reference point is 1.1 times the observed range of each objective, and
  here the initial design spans values up to about 6 while the front lies within [0, 1],
  so hypervolume improvement rewards the extremes of the observed range, far outside the
  benchmark's reference box; a reference at the observed front's nadir plus a margin
  (as BoTorch's infer_reference_point sets it) would aim at the front instead.
- Reference points were fixed before any tool ran, from 5,000 random lattice points per
  problem (3% to 7% of them fall inside the reference box on the ZDT and DTLZ problems,
  48% on gan6, 73% on mlp_size3, where every tool's hypervolume is close to the others').
- NSGA-II runs with Optuna's default population of 50: at 50 sets it has only its random
  first generation. That is how Optuna ships it; a smaller population was not tried.
- Optuna's GPSampler (multi-objective: log expected hypervolume improvement) costs about
  a second or more of CPU per proposal (40 to 110 s a run here, alone on the machine), so
  it ran on fewer seeds (see the seeds column): on the shared machine of this session
  (load about 17 on 2 cores) only the single seed of a first trial run, on the two
  problems that run reached. Its rows are not a measurement of its median.
- For the same reason the runs were split over processes by problem and tool (the
  commands above); each row's seeds are complete unless its seeds column says otherwise.
  The rows marked "weights cycling" have no dtlz2_time6 entry: that run was stopped there.
"""


def report(raw: dict, commands: list[str]) -> str:
    probs = problems()
    cmds = " then ".join(f"`nice -n 10 {c}`" for c in commands)
    lines = ["# Multi-objective search: hypervolume on noisy problems", "",
             f"Commands, in the order run: {cmds} (`--merge` reruns only the named tools/problems and keeps the "
             "rest). `python benchmarks/bench_multiobjective.py --seeds 10 --slow-seeds 3` reruns every row with "
             "the current code.", "",
             f"Each set is {TRIALS} noisy trials; the objectives are set-level (mean score, trial spread, mean info "
             "value, some logged). hyppo_hep sees the trials through `minimize`; Optuna's samplers get the same "
             "set-level values. The table gives the hypervolume of the TRUE (noise-free) objective vectors of the "
             "first k sets a tool evaluated, against the fixed reference point shown, median over the seeds "
             "(in brackets the 25th-75th percentile). Higher is better. CPU: the tool's total over its seeds "
             "(objective included, negligible).", ""]
    verdicts = []
    for pname, prob in probs.items():
        rows = {k.split("|")[1]: v for k, v in raw.items() if k.split("|")[0] == pname}
        if not rows:
            continue
        lines += [f"## {pname}", "", f"{prob.note}; reference point {[float(r) for r in prob.ref]}.", "",
                  "| tool | seeds | 50 sets | 100 sets | CPU s |", "|---|---|---|---|---|"]
        med = {}
        for tname in TOOLS:
            if tname not in rows:
                continue
            cells = []
            for k in CHECKPOINTS:
                vals = [h[str(k)] for h in rows[tname]["hv"] if str(k) in h]
                med[(tname, k)] = float(np.median(vals)) if vals else math.nan
                q = np.percentile(vals, [25, 75]) if vals else (math.nan, math.nan)
                cells.append(f"{med[(tname, k)]:.4g} [{q[0]:.4g}, {q[1]:.4g}]")
            lines.append(f"| {tname} | {len(rows[tname]['hv'])} | {' | '.join(cells)} "
                         f"| {np.sum(rows[tname]['cpu_s']):.0f} |")
        lines.append("")
        if DEFAULT in rows and all(p in rows for p in PEERS):
            verdicts.append((pname, len(rows[DEFAULT]["hv"]),
                             [all(med[(DEFAULT, k)] > med[(p, k)] for p in PEERS) for k in CHECKPOINTS]))
    lines += [NOTES]
    if verdicts:
        lines += ["## Target: default strategy's median above NSGA-II's and TPE's", "",
                  "| problem | default's seeds | " + " | ".join(f"{k} sets" for k in CHECKPOINTS) + " |",
                  "|---|---|" + "---|" * len(CHECKPOINTS)]
        for pname, n_seeds, ok in verdicts:
            lines.append(f"| {pname} | {n_seeds} | " + " | ".join("met" if v else "**MISSED**" for v in ok) + " |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
