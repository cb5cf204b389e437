"""Adaptive repeats (issue 11.4) against the peers' 100-set (500-training) quality.

    python benchmarks/bench_adaptive.py --seeds 10     # writes benchmarks/RESULTS_adaptive.md

On the problems of benchmarks/bench_optimizers.py (imported, same lattices, same trial
noise: the noise of trial t of a set is a pure function of (seed, set, t), so a top-up's
trial 3 is the same observation a peer's 4th trial of that set would be), hyppo_hep's
default ``rbf`` runs through ``AskTell`` with every trial told:

- ``adaptive``: ``trials={"min": 2, "max": 5}``, ``budget={"trainings": 250}``;
- ``plain``: ``trials=5``, 50 sets (250 trainings), as the peers spend them.

The quality is the TRUE (noise-free) value of ``result.best`` (the noise-aware pick) after
100, 150, 200 and 250 trainings, median over the seeds. The bar is the best peer's median
at 100 sets x 5 trials (500 trainings), read from the peers' stored results in
benchmarks/raw/ (RESULTS_optimizers.md says how they were produced; hyppo's own entries
are left out). Target: adaptive at 250 trainings at least as good as that bar on at least
3/4 of the problems.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_optimizers as bo  # noqa: E402  (sets the BLAS threads to 1 on import)

CHECKS = (100, 150, 200, 250)
# every stored peer run of bench_optimizers (the three problems added later included)
PEER_FILES = tuple(sorted(f.name for pattern in ("peers*.json", "smac*.json", "hebo*.json")
                          for f in (HERE / "raw").glob(pattern)))
CONFIGS = {"adaptive": ({"min": 2, "max": 5}, {"trainings": 250}), "plain": (5, 50), "plain500": (5, 100)}


def held_out() -> dict:
    """Problems the adaptive rule was NOT tuned on (variants of bench_optimizers' objectives:
    other noise levels and dimensions). No peer ran them: their bar is hyppo_hep's own
    plain ``trials: 5`` after 100 sets (500 trainings), the ``plain500`` configuration."""
    from hyppo_hep.objectives.analytic import GanLandscape, Hartmann6, Rastrigin

    lat = bo._lattice
    return {"gan6_loud": bo.Problem("gan6_loud", GanLandscape(noise=2.0), bo.TABLE1_BROAD_SPACE),
            "clf8_loud": bo.Problem("clf8_loud", bo.Classifier8(noise=2.0), bo.CLF8_SPACE),
            "hartmann6_quiet": bo.Problem("hartmann6_quiet", Hartmann6(noise=0.3), lat([f"x{i}" for i in range(6)], 0, 100, 0.01)),
            "rastrigin6_loud": bo.Problem("rastrigin6_loud", Rastrigin(6, noise=3.0), lat([f"x{i}" for i in range(6)], -50, 50, 0.1)),
            "levy10": bo.Problem("levy10", bo.Levy(10), lat([f"x{i}" for i in range(10)], -100, 100, 0.1))}


def all_problems() -> dict:
    return {**bo.problems(), **held_out()}


def own_bar(results: dict, names) -> dict[str, tuple[float, str, int]]:
    """Per held-out problem: hyppo_hep plain trials 5 after 500 trainings (median)."""
    out = {}
    for p in names:
        vals = [v[500] for v, _ in results.get((p, "plain500"), []) if 500 in v]
        out[p] = (float(np.median(vals)) if vals else float("nan"), "hyppo plain 5", len(vals))
    return out


def run(prob, seed: int, trials, budget, alpha=None, share=None, strategy_sets=None, order=None) -> tuple[dict, dict]:
    """One AskTell search; the true value of its pick at each checkpoint, and its counts.
    ``alpha``, ``share``: the racing rule's constants (racing.py), for the ablation."""
    from hyppo_hep.api import AskTell
    from hyppo_hep.recommend import recommend

    at = AskTell(prob.space, strategy="rbf", trials=trials, budget=budget, seed=seed)
    search = at._search  # the constants are not config keys: set them for the ablation only
    if alpha is not None and search.racing is not None:
        search.racing.alpha = alpha
    if order is not None and search.racing is not None:
        search.racing.order = order
    if strategy_sets is not None and search.racing is not None:  # the sets the strategy plans for
        from hyppo_hep.strategy import build
        search.strategy = build("rbf", {}, at.space, strategy_sets)
    if share is not None:
        search.top_up_share = share if share == "ramp" else float(share)
    told, out, checks = 0, {}, list(CHECKS) + ([500] if budget == 100 else [])
    while not at.done:
        asked = at.ask()
        at.tell(asked, [prob.trial(dict(asked), t, seed) for t in asked.trials])
        told += len(asked.trials)
        while checks and told >= checks[0] and not at.history.pending:
            best = recommend(at.history, space=at.space)[1]
            out[checks.pop(0)] = prob.true(at.history.sets[best.set_id].params)
    hist = at.history
    n = [r.n_trials for r in hist.sets.values()]
    return out, {"sets": len(n), "trainings": int(sum(n)), "max_trials": max(n),
                 "per_set": {k: n.count(k) for k in sorted(set(n))}}


def peer_bar(names) -> dict[str, tuple[float, str, int]]:
    """Per problem: (the best peer median at 100 sets, which peer, its seeds)."""
    raw = {}
    for f in PEER_FILES:
        r, _ = bo.load_raw(HERE / "raw" / f)
        for key, entry in r.items():
            if not key[1].startswith("hyppo"):
                raw.setdefault(key, []).extend(v[100] for v in entry["values"] if 100 in v)
    out = {}
    for p in names:
        meds = {t: (float(np.median(v)), len(v)) for (q, t), v in raw.items() if q == p and v}
        tool = min(meds, key=lambda t: meds[t][0])
        out[p] = (meds[tool][0], tool, meds[tool][1])
    return out


def bars(results: dict, names) -> dict[str, tuple[float, str, int]]:
    """The bar of each problem: the best peer's (bench_optimizers' problems) or own_bar."""
    seen = [n for n in names if n in bo.problems()]
    both = {**peer_bar(seen), **own_bar(results, [n for n in names if n not in seen])}
    return {n: both[n] for n in names}


def report(results: dict, bar: dict, commands: list[str]) -> str:
    lines = ["# Adaptive repeats against the best peer's 500-training quality (issue 11.4)", "",
             "Command: `" + "` then `".join(commands) + "`", "",
             "True value of hyppo_hep's pick (`result.best`, noise-aware) after k trainings, median over the seeds "
             "(lower is better); bar: the best peer's median after 100 sets x 5 trials = 500 trainings "
             "(benchmarks/raw/, peers only). **met** when adaptive at 250 trainings <= bar.", "",
             "| problem | bar (peer, seeds) | adaptive @100 | @150 | @200 | @250 | plain 5 @250 | target |",
             "|---|---|---|---|---|---|---|---|"]
    met = 0
    for p, (b, tool, ns) in bar.items():
        ad, pl = results.get((p, "adaptive"), []), results.get((p, "plain"), [])
        med = {k: float(np.median([v[k] for v, _ in ad if k in v])) for k in CHECKS if any(k in v for v, _ in ad)}
        plain = float(np.median([v[250] for v, _ in pl if 250 in v])) if pl else float("nan")
        ok = 250 in med and med[250] <= b
        met += ok
        lines.append(f"| {p} | {b:.5g} ({tool}, {ns}) | " + " | ".join(f"{med.get(k, float('nan')):.5g}" for k in CHECKS)
                     + f" | {plain:.5g} | {'met' if ok else '**missed**'} |")
    n_seeds = max((len(v) for v in results.values()), default=0)
    lines += ["", f"Target (>= 3/4 of the problems): {met}/{len(bar)} " + ("met" if met * 4 >= 3 * len(bar) else "**missed**")
              + f"; {n_seeds} seeds.", "", "Trainings and trials per set of the adaptive runs (all seeds):", ""]
    for p in bar:
        ad = results.get((p, "adaptive"), [])
        if ad:
            per: dict = {}
            for _, c in ad:
                for k, v in c["per_set"].items():
                    per[int(k)] = per.get(int(k), 0) + v
            lines.append(f"- {p}: {np.mean([c['sets'] for _, c in ad]):.1f} sets per run, trainings "
                         f"{max(c['trainings'] for _, c in ad)} at most, max trials per set {max(c['max_trials'] for _, c in ad)}; "
                         f"sets by trials: {dict(sorted(per.items()))}")
    return "\n".join(lines) + "\n"


def load(paths) -> tuple[dict, list[str]]:
    """The results of earlier runs (their --raw files, e.g. seeds run in parallel), merged."""
    results: dict = {}
    commands: list[str] = []
    for path in paths:
        d = json.loads(Path(path).read_text())
        commands += d.pop("_commands", [])
        for key, runs in d.items():
            p, c = key.split("|")
            results.setdefault((p, c), []).extend(({int(k): v for k, v in vals.items()}, counts) for vals, counts in runs)
    return results, commands


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--problems", nargs="*", default=None)
    ap.add_argument("--configs", nargs="*", default=list(CONFIGS))
    ap.add_argument("--alpha", type=float, default=None, help="racing threshold (ablation; default racing.ALPHA)")
    ap.add_argument("--share", default=None, help="top-up share, a number or 'ramp' (ablation; default racing.SHARE)")
    ap.add_argument("--min", type=int, default=None, help="adaptive: trials of a new set (default 2)")
    ap.add_argument("--max", type=int, default=None, help="adaptive: most trials of a set (default 5)")
    ap.add_argument("--strategy-sets", type=int, default=None, help="adaptive: the budget in sets the strategy plans for")
    ap.add_argument("--order", choices=("beat", "kg"), default=None, help="adaptive: which contender is topped up first")
    ap.add_argument("--held-out", action="store_true", help="the problems of held_out() (run with --configs adaptive plain500)")
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--raw", default=str(HERE / "raw" / "adaptive.json"))
    ap.add_argument("--out", default=str(HERE / "RESULTS_adaptive.md"))
    ap.add_argument("--merge", nargs="*", default=None, help="only write the report of these --raw files")
    args = ap.parse_args(argv)
    if args.merge:
        results, commands = load(args.merge)
        names = list(dict.fromkeys(p for p, _ in results))
        Path(args.out).write_text(report(results, bars(results, names), commands))
        return print(report(results, bars(results, names), commands))
    names = args.problems or list(held_out() if args.held_out else bo.problems())
    if args.min is not None or args.max is not None:
        trials = dict(CONFIGS["adaptive"][0])
        trials.update({k: v for k, v in (("min", args.min), ("max", args.max)) if v is not None})
        CONFIGS["adaptive"] = (trials, CONFIGS["adaptive"][1])
    results: dict = {}
    commands = ["python benchmarks/bench_adaptive.py " + " ".join(sys.argv[1:] if argv is None else argv)]
    for seed in range(args.first_seed, args.first_seed + args.seeds):  # seed-major: an interrupted run has every problem
        for p in names:
            prob = all_problems()[p]
            for c in args.configs:
                t0 = time.process_time()
                vals, counts = run(prob, seed, *CONFIGS[c], args.alpha, args.share, args.strategy_sets, args.order)
                results.setdefault((p, c), []).append((vals, {**counts, "cpu_s": time.process_time() - t0}))
                print(f"seed {seed} {p:14s} {c:8s} " + " ".join(f"{k}:{v:.4g}" for k, v in vals.items())
                      + f"  {counts['sets']} sets cpu {time.process_time() - t0:.1f}s", flush=True)
        Path(args.raw).write_text(json.dumps({"_commands": commands, **{f"{p}|{c}": v for (p, c), v in results.items()}},
                                             indent=1))
        Path(args.out).write_text(report(results, bars(results, names), commands))
    print(report(results, bars(results, names), commands))


if __name__ == "__main__":
    main()
