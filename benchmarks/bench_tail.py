"""What ends a campaign at 80 simulated workers, and how far 95% is reachable (issue 16).

    python benchmarks/bench_tail.py --seeds 1-10 --models batch [NAME=VALUE ...]
    python benchmarks/bench_tail.py --calibration DIR/*.jsonl --workers 800   # saved campaigns
    python benchmarks/bench_tail.py --projection DIR/x.jsonl --workers 8000 --at 0.8,1.0,1.2,1.4

Per duration model x strategy x seed (confirm 10 + end phase, as bench_end_phase.py): the
utilisation (useful confirmation trials counted), the wall, and the campaign's lower bound
on the wall, max(regular work / workers, its longest regular trial): no placement of the
same trials ends sooner, so useful work / (workers x that bound) is the utilisation this
campaign's sets could reach at best. Then the set whose trial ends last: how it started
(whole, probe, owed trials after a probe), when it was asked, its trial's length against
the duration model's median for it then, and for a probed set when its owed trials went out.
``--calibration``: for campaigns saved by bench_scaling.py --save-events, how often the
end phase's sets ran past the high quantile they were chosen by (their journalled
``expected_end``), against the 1 - q that quantile promises (q = 1 - 5 / workers, at most
MAX_QUANTILE), whole sets and probes apart.
``--projection``: for one saved rbf campaign (default config, its --seed), the end phase's
projected end rebuilt at the given hours (a Search replayed from the events up to then, its
own terms: the running trials' expected rest, the owed work, the sets left at the
candidates' median trial) beside what the campaign then really ran (the same three terms
from the events that followed).
NAME=VALUE overrides a constant of hyppo_hep.end_phase (as bench_end_phase.py). ``--oracle``:
the Search's duration model is replaced by the simulator's own (every set's hidden factor
known before it starts, the trial spread 0.02 left): what the same rules reach when nothing
about a duration is unknown, an upper reference for any duration model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from statistics import NormalDist

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_end_phase as E  # noqa: E402
import bench_scaling as B  # noqa: E402

import hyppo_hep.end_phase as EP  # noqa: E402
import hyppo_hep.search as S  # noqa: E402
from hyppo_hep.durations import TrialDurations  # noqa: E402
from hyppo_hep.journal import read_events  # noqa: E402


class OracleDurations(TrialDurations):
    """The simulator's duration law for every set (its hidden factor included): log-normal
    around the set's true duration with the trial factor's spread only."""

    def log_normal(self, params, set_id=None):
        if params is None:
            return super().log_normal(params, set_id)
        model = B.DURATIONS
        sigma = max(model.sigma_trial, 1e-3)
        set_only = type(model)(base=model.base, sigma_set=model.sigma_set, sigma_trial=0.0,
                               size_param=model.size_param, size_ref=model.size_ref, size_power=model.size_power)
        return float(np.log(set_only(params, 0, 0)) - sigma * sigma / 2.0), sigma

    def log_normals(self, set_ids, params):
        if not set_ids:
            return np.zeros(0), max(B.DURATIONS.sigma_trial, 1e-3)
        lns = [self.log_normal(p) for p in params]
        return np.array([mu for mu, _ in lns]), lns[0][1]


def campaign(model, strategy, seed, workers=80):
    """(utilisation as bench_end_phase counts it, the events)."""
    r, log, cfg = E.simulate(model, strategy, seed, E.RULES["confirm-end"], workers)
    busy = E.useful_busy(r, log, cfg.space)
    return busy / (r.n_workers * r.wall), busy, log


def lower_bound(log, workers):
    """(regular work / workers, longest regular trial), virtual seconds."""
    keys = B._confirm_keys(log)
    d = [e["finished"] - e["started"] for e in log
         if e["event"] == "trial_finished" and (e["set_id"], e["trial"]) not in keys]
    return sum(d) / workers, max(d)


def last_set(log):
    """How the set of the last regular trial started, and its timeline (minutes)."""
    keys = B._confirm_keys(log)
    t0 = min(e["time"] for e in log if e["event"] == "set_submitted")
    last = max((e for e in log if e["event"] == "trial_finished" and (e["set_id"], e["trial"]) not in keys),
               key=lambda e: e["finished"])
    subs = [e for e in log if e["event"] == "set_submitted" and e["set_id"] == last["set_id"]]
    first = subs[0]
    how = "probe" if first.get("probe") else ("whole" if len(subs) == 1 else "resubmitted")
    text = (f"set {last['set_id']} {how}, asked {(first['time'] - t0) / 60:.0f} min, trial "
            f"{(last['finished'] - last['started']) / 60:.0f} min, ends {(last['finished'] - t0) / 60:.0f} min")
    if first.get("expected_end") is not None:
        text += f" (its high quantile: {(first['expected_end'] - t0) / 60:.0f} min)"
    owed = [e for e in subs[1:] if e.get("owed")]
    if owed:
        text += ", owed out at " + "/".join(f"{(e['time'] - t0) / 60:.0f}" for e in owed) + " min"
    return text


def calibration(paths, workers):
    """How often end-phase sets outran the high quantile they were chosen by."""
    q = min(EP.MAX_QUANTILE, max(EP.END_QUANTILE, 1.0 - B.TRIALS / workers))
    print(f"high quantile {q:.5f}: a set outruns it with probability {1 - q:.4%}")
    for path in paths:
        events = list(read_events(path))
        first, longest = {}, {}
        for e in events:
            if e["event"] == "set_submitted" and e["set_id"] not in first:
                first[e["set_id"]] = e
            elif e["event"] == "trial_finished" and e["trial"] < B.TRIALS:
                longest[e["set_id"]] = max(longest.get(e["set_id"], 0.0), e["finished"] - e["started"])
        for kind, probe in (("whole sets", False), ("probes", True)):
            ratio = np.array([longest[sid] / (e["expected_end"] - e["time"]) for sid, e in first.items()
                              if e.get("expected_end") is not None and bool(e.get("probe")) == probe
                              and sid in longest])
            if len(ratio):
                print(f"{Path(path).stem} {kind}: {len(ratio)}, past their high quantile {(ratio > 1).sum()} "
                      f"({(ratio > 1).mean():.2%}); trial / high quantile: median {np.median(ratio):.3f} "
                      f"(calibrated: {np.exp(-NormalDist().inv_cdf(q) * 0.3):.3f} for sigma 0.3), "
                      f"max {ratio.max():.2f}", flush=True)


def projection(path, workers, hours, seed):
    """The projected end's terms (predicted) against the work that was left (measured)."""
    import math

    from hyppo_hep.config import DEFAULT_CONFIG, load_config
    from hyppo_hep.seeding import strategy_rng
    from hyppo_hep.strategy import build

    events = list(read_events(path))
    t0 = min(e["time"] for e in events if e["event"] == "set_submitted")
    first = {}
    for e in events:
        if e["event"] == "set_submitted":
            first.setdefault(e["set_id"], e)
    keys = B._confirm_keys(events)
    trials = [e for e in events if e["event"] == "trial_finished" and (e["set_id"], e["trial"]) not in keys]
    cfg = load_config(DEFAULT_CONFIG)
    print("| at (h) | sets left | running rest / W, predicted / measured (h) | owed / W (h) | sets left / W (h) | "
          "their mean trial, predicted (candidates' median) / measured (min) | projected end / work ran out (h) |")
    print("|---|---|---|---|---|---|---|")
    for at in hours:
        now = t0 + at * 3600
        search = S.Search(cfg.space, build("rbf", {}, cfg.space, 10 ** 9), budget=len(first), trials=B.TRIALS,
                          seed=seed, clock=lambda: now, probes=True, confirm=10)
        for e in events:
            if e.get("time", 0.0) > now:
                break
            search.apply(e)
        phase = search._end_phase(1)
        ends = np.array(phase[1])
        owed = EP._Owed(search._held, *search._held_work(now, search._high_quantile(phase[2])))
        _, lns, end = search._end_candidates(1, strategy_rng(seed, search.history.next_id()), phase, owed.work())
        mean = float(np.median([math.exp(mu + s * s / 2.0) for mu, s in lns]))
        running = sum(e["finished"] - now for e in trials if e["started"] <= now < e["finished"])
        held = sum(e["finished"] - e["started"] for e in trials if first[e["set_id"]]["time"] <= now < e["started"])
        later = [e["finished"] - e["started"] for e in trials if first[e["set_id"]]["time"] > now]
        h = workers * 3600.0
        print(f"| {at:.2f} | {search.budget_left} | {(ends - now).sum() / h:.3f} / {running / h:.3f} | "
              f"{owed.work() / h:.3f} / {held / h:.3f} | "
              f"{search.budget_left * B.TRIALS * mean / h:.3f} / {sum(later) / h:.3f} | "
              f"{mean / 60:.1f} / {np.mean(later) / 60:.1f} | {(end - t0) / 3600:.3f} / "
              f"{at + (running + held + sum(later)) / h:.3f} |", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=B.parse_seeds, default=list(range(1, 11)))
    p.add_argument("--models", default="batch")
    p.add_argument("--strategies", default="rbf,random")
    p.add_argument("--workers", type=int, default=80)
    p.add_argument("--oracle", action="store_true", help="the Search knows every set's duration law exactly")
    p.add_argument("--calibration", nargs="+", metavar="JSONL", help="saved campaigns to check (with --workers)")
    p.add_argument("--projection", metavar="JSONL", help="a saved rbf campaign: its projected end against the "
                   "work that was left (with --workers, --at, --seed)")
    p.add_argument("--at", default="0.8,1.0,1.2,1.4", help="--projection: hours since the start")
    p.add_argument("--seed", type=int, default=1, help="--projection: the campaign's seed")
    p.add_argument("constants", nargs="*", type=E._constant, metavar="NAME=VALUE")
    args = p.parse_args(argv)
    if args.calibration:
        return calibration(args.calibration, args.workers)
    if args.projection:
        return projection(args.projection, args.workers, [float(h) for h in args.at.split(",")], args.seed)
    if args.oracle:
        S.TrialDurations = OracleDurations
    for name, value in args.constants:
        setattr(EP, name, value)
    print(" ".join(f"{name}={getattr(EP, name)}" for name in E.CONSTANTS), flush=True)
    for model in args.models.split(","):
        for strategy in args.strategies.split(","):
            utils, bounds = [], []
            for seed in args.seeds:
                util, busy, log = campaign(model, strategy, seed, args.workers)
                work, longest = lower_bound(log, args.workers)
                wall = max(e["finished"] for e in log if e["event"] == "trial_finished") - \
                    min(e["time"] for e in log if e["event"] == "set_submitted")
                best = min(1.0, busy / (args.workers * max(work, longest)))
                utils.append(util)
                bounds.append(best)
                print(f"{model} {strategy} seed {seed}: {100 * util:.1f}% wall {wall / 60:.0f} min | bound "
                      f"max(work/workers {work / 60:.0f}, longest trial {longest / 60:.0f}) min -> at best "
                      f"{100 * best:.1f}% | last: {last_set(log)}", flush=True)
            print(f"{model} {strategy} median {100 * statistics.median(utils):.1f}% (at best "
                  f"{100 * statistics.median(bounds):.1f}%; seeds whose bound allows 95%: "
                  f"{sum(b >= 0.95 for b in bounds)} of {len(bounds)})", flush=True)


if __name__ == "__main__":
    main()
