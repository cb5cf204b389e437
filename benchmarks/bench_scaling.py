"""Scaling of an HPO run on a simulated cluster (the Hyppo paper's Figure 12, and beyond).

    python benchmarks/bench_scaling.py            # about 3 minutes on one core
    python benchmarks/bench_scaling.py --quick    # 80 workers only, seconds
    python benchmarks/bench_scaling.py --tail     # only where the utilization goes at scale
    python benchmarks/bench_scaling.py --rbf 80,800   # the real rbf strategy, proposal time charged
    python benchmarks/bench_scaling.py --issue16 8000 --rules trial --strategies rbf --save-events DIR
                                                  # ~15-20 CPU-min per rule (8,400 rbf proposals)
    python benchmarks/bench_scaling.py --idle-from DIR/*.jsonl --workers 8000   # where the time went

The real Driver and strategy run on :class:`SimulatedExecutor`'s virtual clock; trial
durations come from a model (20 min mean, log-normal across sets, growing with the
generator's layer size, a small seed-to-seed spread within a set). The master's real time
(proposals, journal-free bookkeeping) is measured and charged to the virtual clock.
Prints Markdown tables: wall time, speedup over serial, worker utilization
(busy worker-seconds / (workers x wall)), and the proposal time charged.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hyppo_hep.config import load_config  # noqa: E402
from hyppo_hep.config import DEFAULT_CONFIG  # noqa: E402
from hyppo_hep.simulate import DurationModel, simulate  # noqa: E402
from hyppo_hep.strategy import build  # noqa: E402

TRIALS, GROUP = 5, 5


def model(sigma_trial: float = 0.02, sigma_set: float = 0.3) -> DurationModel:
    # gen_layersize runs 64..1024 on the Table 1 lattice; cost ~ sqrt(size) around 512
    return DurationModel(base=1200.0, sigma_set=sigma_set, sigma_trial=sigma_trial, size_param="gen_layersize",
                         size_ref=512.0, size_power=0.5)


def batch_model() -> DurationModel:
    """A second model, so that an end-of-campaign rule is not fitted to the first: the
    duration falls with the batch size (256..2048 on the lattice: more steps per epoch with
    small batches, x 2.6 at 256, x 0.6 at 2048 around 1024) and the set factor spreads twice
    as wide (sigma 0.6: most of a set's duration is not predictable from its parameters)."""
    return DurationModel(base=1200.0, sigma_set=0.6, sigma_trial=0.02, size_param="batch_size", size_ref=1024.0,
                         size_power=-0.7)


MODELS = {"size": model, "batch": batch_model}
DURATIONS = None  # --durations: the model of --issue16 (None: model())


class Progress:
    """Wraps a strategy to print, every 50 proposals, the sets so far and its CPU time
    (``--progress``: to size runs too long to finish here)."""

    def __init__(self, inner):
        self.inner, self.n, self.cpu, self.t0 = inner, 0, 0.0, time.perf_counter()

    def propose(self, history, n, rng):
        c0 = time.process_time()
        out = self.inner.propose(history, n, rng)
        self.cpu += time.process_time() - c0
        self.n += 1
        if self.n % 50 == 0:
            print(f"    {time.perf_counter() - self.t0:6.0f} s real: {len(history)} sets, {self.n} proposals "
                  f"(last for {n}), {self.cpu:.0f} s CPU in propose", file=sys.stderr, flush=True)
        return out


PROGRESS = False


def one(mode, n_groups, budget, seed, durations=None, strategy="random", search_options=None, **kw):
    cfg = load_config(DEFAULT_CONFIG)

    strat = build(strategy, {}, cfg.space, budget)
    if PROGRESS and strategy != "random":
        strat = Progress(strat)
    return simulate(mode, cfg.space, strat, cfg.objective, budget=budget, trials=TRIALS, n_groups=n_groups,
                    group_size=GROUP, durations=durations or DURATIONS or model(), seed=seed,
                    search_options=search_options, **kw)


def med(xs):
    return statistics.median(xs)


def figure12(seeds, budget=100, n_groups=16, durations=None):
    workers = n_groups * GROUP
    rows = []
    print(f"\n### {budget} sets x {TRIALS} trials, {workers} workers ({n_groups} groups of {GROUP}); "
          f"median of {len(seeds)} seeds\n")
    print("| mode | workers used | wall (h) | speedup vs serial | utilization (own workers) | "
          f"utilization of all {workers} | proposal time charged (s) | proposal / wall |")
    print("|---|---|---|---|---|---|---|---|")
    for mode in ("serial", "one_level", "nested_sync", "nested_async"):
        rs = [one(mode, n_groups, budget, s, durations) for s in seeds]
        wall = med([r.wall for r in rs])
        speed = med([rs_s.wall / r.wall for rs_s, r in zip(rs_serial, rs)]) if mode != "serial" else 1.0
        util = med([r.utilization for r in rs])
        util_all = med([r.busy / (workers * r.wall) for r in rs])
        prop = med([r.proposal_time for r in rs])
        rows.append((mode, rs))
        print(f"| {mode} | {rs[0].n_workers} | {wall / 3600:.2f} | {speed:.1f}x | {util:.1%} | {util_all:.1%} | "
              f"{prop:.3f} | {prop / wall:.2e} |")
        if mode == "serial":
            rs_serial = rs
    return rows


def scaling(seeds_small, seed_big, sets_per_group=6.25, proposal_costs=(0.0,)):
    print(f"\n### Asynchronous nested parallelism at scale ({sets_per_group:g} sets per group, groups of {GROUP})\n")
    print("| workers | groups | sets | modelled extra proposal cost (s/set) | wall (h) | speedup vs serial "
          "| utilization | ideal speedup (= workers) | proposal time charged (s) | real time of the simulation (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for workers in (80, 800, 8000):
        n_groups = workers // GROUP
        budget = int(round(sets_per_group * n_groups))
        seeds = seeds_small if workers < 8000 else [seed_big]
        for cost in proposal_costs:
            rs = [one("nested_async", n_groups, budget, s, proposal_cost=cost) for s in seeds]
            wall = med([r.wall for r in rs])
            speed = med([r.busy / r.wall for r in rs])  # serial wall = total busy time
            print(f"| {workers} | {n_groups} | {budget} | {cost:g} | {wall / 3600:.2f} | {speed:.0f}x | "
                  f"{med([r.utilization for r in rs]):.1%} | {workers} | {med([r.proposal_time for r in rs]):.1f} | "
                  f"{med([r.real_time for r in rs]):.1f} |", flush=True)


def tail_table(seed=1):
    """Where utilization goes at scale: the end-of-budget tail vs the longest set."""
    print("\n### Where the utilization goes (asynchronous nesting, seed 1)\n")
    print("| durations | workers | sets | wall (h) | speedup | utilization | tail = wall - busy/workers (h) "
          "| longest set (h) |")
    print("|---|---|---|---|---|---|---|---|")
    cases = [("equal (no spread, no size)", DurationModel(base=1200.0, sigma_set=0.0, sigma_trial=0.0)),
             ("set sigma 0.3, trial sigma 0.02", DurationModel(base=1200.0, sigma_set=0.3, sigma_trial=0.02)),
             ("full model (+ size)", model())]
    for name, dm in cases:
        for n_groups, budget in ((16, 100), (1600, 10000), (1600, 16000)):
            r = one("nested_async", n_groups, budget, seed, dm)
            longest = max(max(t.finished for t in s.trials.values()) - min(t.started for t in s.trials.values())
                          for s in r.history.sets.values())
            print(f"| {name} | {r.n_workers} | {budget} | {r.wall / 3600:.2f} | {r.busy / r.wall:.0f}x | "
                  f"{r.utilization:.1%} | {(r.wall - r.busy / r.n_workers) / 3600:.2f} | {longest / 3600:.2f} |",
                  flush=True)


def rbf_table(workers_list, seed=1):
    """The real ``rbf`` strategy (surrogate fit + candidates every proposal) on the simulated
    cluster: its master time is measured (process CPU) and charged to the virtual clock, so
    a slow proposal shows up as idle groups. Beside it ``random`` on the same cluster."""
    print(f"\n### rbf vs random, asynchronous nesting, {6.25:g} sets per group, seed {seed}\n")
    print("| strategy | workers | groups | sets | wall (h) | speedup vs serial | utilization | proposal time "
          "charged (s) | per set (ms) | real time of the simulation (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for workers in workers_list:
        n_groups = workers // GROUP
        budget = int(round(6.25 * n_groups))
        for strategy in ("random", "rbf"):
            r = one("nested_async", n_groups, budget, seed, strategy=strategy)
            print(f"| {strategy} | {workers} | {n_groups} | {budget} | {r.wall / 3600:.2f} | {r.busy / r.wall:.0f}x | "
                  f"{r.utilization:.1%} | {r.proposal_time:.1f} | {1000 * r.proposal_time / budget:.1f} | "
                  f"{r.real_time:.1f} |", flush=True)


class EventLog(list):
    """The Search's journal events kept in memory (virtual times), to replay the campaign's
    pick as it stood at any moment."""

    def write(self, record: dict) -> dict:
        self.append(record)
        return record


def picks_over_time(events, space, objective, n_points=40):
    """(virtual time, true value of the pick then) at ``n_points`` moments spread over the
    set completions: the pick is recommend.py's noise-aware recommendation from the sets
    finished by then, its value the landscape's noise-free mean (true_value)."""
    from hyppo_hep import journal as J
    from hyppo_hep.history import History
    from hyppo_hep.recommend import recommend

    done_times = [e["time"] for e in events if e["event"] == J.SET_FINISHED]
    if not done_times:
        return []
    marks = sorted({done_times[min(len(done_times) - 1, round(i * (len(done_times) - 1) / (n_points - 1)))]
                    for i in range(n_points)})
    history, out, i = History(), [], 0
    for t in marks:
        while i < len(events) and events[i]["time"] <= t:
            J.apply(history, events[i])
            i += 1
        _, pick = recommend(history, space=space)
        if pick is not None:
            out.append((t, objective.true_value(history.sets[pick.set_id].params)))
    return out


def time_to(picks, target):
    """Virtual seconds until the pick's true value is at most ``target`` (None: never)."""
    return next((t for t, v in picks if v <= target + 1e-12), None)


def _pick_id(history, space):
    from hyppo_hep.recommend import recommend

    _, pick = recommend(history, space=space)
    return None if pick is None else pick.set_id


def useful_confirmations(events, space) -> tuple[float, int, int]:
    """Worker-seconds of confirmation trials that changed or confirmed the recommendation,
    how many did, and how many ran. A confirmation trial (trials_added with purpose confirm)
    *changed* it when the pick just before it was asked differs from the pick once its set
    finished again, and *confirmed* it when its set is the campaign's final pick; the others
    (a challenger's trial that left the pick as it was) count as idle time."""
    from hyppo_hep import journal as J
    from hyppo_hep.history import History

    history, asked_pick, waiting, useful = History(), {}, {}, set()
    durations = {}
    for e in events:
        kind = e["event"]
        if kind == J.TRIALS_ADDED and e.get("purpose") == "confirm":
            before = _pick_id(history, space)
            for t in e["trials"]:
                asked_pick[(e["set_id"], t)] = before
                waiting.setdefault(e["set_id"], []).append(t)
        J.apply(history, e)
        if kind == J.TRIAL_FINISHED and (e["set_id"], e["trial"]) in asked_pick:
            durations[(e["set_id"], e["trial"])] = e["finished"] - e["started"]
        if kind == J.SET_FINISHED and waiting.get(e["set_id"]):
            after = _pick_id(history, space)
            useful |= {(e["set_id"], t) for t in waiting.pop(e["set_id"]) if asked_pick[(e["set_id"], t)] != after}
    final = _pick_id(history, space)
    useful |= {k for k in durations if k[0] == final}
    return sum(durations[k] for k in useful if k in durations), len(useful & durations.keys()), len(durations)


def _confirm_supported() -> bool:
    import inspect

    from hyppo_hep.search import Search

    return "confirm" in inspect.signature(Search).parameters


def _rules(only, confirm):
    """(label, trial_level, search options) of the --rules asked for, in a fixed order."""
    off = {"last_round": False}
    rules = [r for r in (("groups only", False, off), ("trial level", True, off))
             if ("groups" if not r[1] else "trial") in only]
    if "end" in only:
        rules.append(("trial level + end phase", True, {"last_round": True}))
    if confirm and "confirm" in only and _confirm_supported():
        rules.append((f"trial level + confirmation trials (confirm {confirm})", True, {"confirm": confirm, **off}))
    if confirm and "confirm-wait" in only and _confirm_supported():
        rules.append((f"trial level + confirmation trials (confirm {confirm}) started whenever a regular trial "
                      "is out, waited for", True, {"confirm": confirm, "confirm_end_rule": False, **off}))
    if confirm and "confirm-end" in only:
        rules.append((f"trial level + confirm {confirm} + end phase", True, {"confirm": confirm, "last_round": True}))
    return rules


def issue16_table(workers_list, seed=1, strategies=("random", "rbf"), confirm=3, only=("groups", "trial", "confirm"),
                  save_events=None):
    """Trial-level scheduling against groups only, the real strategy, proposal time charged:
    utilization, speedup, proposal time and time-to-quality (virtual hours until the pick
    is as good as random search's final pick on the same cluster and budget). With a
    Search that has confirmation trials (adaptive repeats' ``confirm``), a third rule: trial
    level with up to ``confirm`` confirmation trials per contending set; utilization and
    speedup then count only the useful ones (useful_confirmations). ``seed``: one seed or a
    list; with several, a table per seed and then one of the medians. Returns the rows."""
    seeds = [seed] if isinstance(seed, int) else list(seed)
    cfg = load_config(DEFAULT_CONFIG)
    objective = cfg.objective.build()
    rows = []
    for s in seeds:
        print(f"\n### Issue 16: scheduling rules with the real strategy, {6.25:g} sets per group, seed {s}\n")
        print("| strategy | rule | workers | sets | wall (h) | speedup (busy / wall) | utilization | proposal time "
              "charged (s) | per set (ms) | time-to-quality (h) | true value of the final pick | real time (s) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for workers in workers_list:
            rows += _issue16_rows(workers, s, strategies, _rules(only, confirm), cfg, objective, save_events)
    if len(seeds) > 1:
        _median_table(rows, seeds)
    return rows


def _issue16_rows(workers, seed, strategies, rules, cfg, objective, save_events):
    n_groups = workers // GROUP
    budget = int(round(6.25 * n_groups))
    ref = EventLog()  # the quality target: random search's final pick without any end rule
    one("nested_async", n_groups, budget, seed, strategy="random", journal=ref, search_options={"last_round": False})
    target = picks_over_time(ref, cfg.space, objective)[-1][1]
    rows = []
    for strategy in strategies:
        for rule, trial_level, search_options in rules:
            log = EventLog()
            r = one("nested_async", n_groups, budget, seed, strategy=strategy, journal=log,
                    trial_level=trial_level, search_options=search_options)
            if save_events:  # the campaign's journal (virtual times), for a look at where the time went
                label = ("conf" if search_options.get("confirm") else "trial" if trial_level else "groups") \
                    + ("_end" if search_options.get("last_round") else "")
                _save(log, save_events, f"{strategy}_{workers}_{label}_s{seed}")
            picks = picks_over_time(log, cfg.space, objective)
            ttq = time_to(picks, target)
            busy, confirm_note, n_useful, n_run = r.busy, "", None, None
            if search_options.get("confirm"):  # only the confirmation trials that changed or confirmed the pick count
                useful, n_useful, n_run = useful_confirmations(log, cfg.space)
                keys = _confirm_keys(log)  # once: per event it made the table quadratic in the events
                confirmed = sum(e["finished"] - e["started"] for e in log if e["event"] == "trial_finished"
                                and (e["set_id"], e["trial"]) in keys)
                busy = r.busy - confirmed + useful
                cap = r.n_workers * r.wall
                confirm_note = (f" ({n_useful} of {n_run} confirmation trials useful; utilization of the "
                                f"regular trials {(r.busy - confirmed) / cap:.1%}, of all {r.busy / cap:.1%})")
            print(f"| {strategy} | {rule}{confirm_note} | {workers} | {budget} | {r.wall / 3600:.2f} | "
                  f"{busy / r.wall:.1f}x | {busy / (r.n_workers * r.wall):.1%} | {r.proposal_time:.1f} | "
                  f"{1000 * r.proposal_time / budget:.1f} | {'never' if ttq is None else f'{ttq / 3600:.2f}'} | "
                  f"{picks[-1][1]:.4f} | {r.real_time:.1f} |", flush=True)
            rows.append({"strategy": strategy, "rule": rule, "workers": workers, "seed": seed, "wall": r.wall,
                         "speedup": busy / r.wall, "util": busy / (r.n_workers * r.wall), "ttq": ttq,
                         "pick": picks[-1][1], "useful": n_useful, "run": n_run})
    return rows


def _median_table(rows, seeds) -> None:
    """Per seed, then the median, of each (workers, strategy, rule) over ``seeds``
    (time-to-quality: the median of the seeds that reached it, and how many did)."""
    print(f"\n### Medians over seeds {', '.join(map(str, seeds))}\n")
    print("| workers | strategy | rule | utilization per seed | median | speedup per seed | median | wall (h) | "
          "time-to-quality (h) | final pick (true value) per seed | median | useful / run confirmation trials |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    keys = list(dict.fromkeys((r["workers"], r["strategy"], r["rule"]) for r in rows))
    for key in keys:
        rs = [r for r in rows if (r["workers"], r["strategy"], r["rule"]) == key]
        ttqs = [r["ttq"] for r in rs if r["ttq"] is not None]
        ttq = f"{med(ttqs) / 3600:.2f}" + ("" if len(ttqs) == len(rs) else f" ({len(ttqs)} of {len(rs)})") \
            if ttqs else "never"
        conf = ", ".join(f"{r['useful']}/{r['run']}" for r in rs) if rs[0]["run"] is not None else "-"
        utils = " / ".join(f"{100 * r['util']:.1f}" for r in rs)
        speeds = " / ".join(f"{r['speedup']:.1f}" for r in rs)
        picks = " / ".join(f"{r['pick']:.4f}" for r in rs)
        print(f"| {key[0]} | {key[1]} | {key[2]} | {utils} | **{100 * med([r['util'] for r in rs]):.1f}%** | {speeds} | "
              f"**{med([r['speedup'] for r in rs]):.1f}x** | {med([r['wall'] for r in rs]) / 3600:.2f} | {ttq} | "
              f"{picks} | {med([r['pick'] for r in rs]):.4f} | {conf} |",
              flush=True)


def parse_seeds(text: str) -> list[int]:
    """``1``, ``1-5`` or ``1,3,5`` (argparse's type: a bad list exits 2 naming --seed)."""
    try:
        out = []
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
        if not out:
            raise ValueError
        return out
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 1, 1-5 or 1,3,5, got {text!r}") from None


def _save(events, directory, name) -> None:
    import json

    Path(directory).mkdir(parents=True, exist_ok=True)
    with open(Path(directory) / f"{name}.jsonl", "w", encoding="utf-8") as fh:
        for e in events:
            fh.write(json.dumps(e, default=str) + "\n")


def idle_breakdown(events, n_workers: int) -> dict:
    """Where a campaign's worker-time went (virtual seconds, from its events): busy in
    regular and in confirmation trials, idle before the last new set was asked (the master
    and the placement: proposals charged, a set waiting for a group) and idle after it (the
    end-of-campaign tail, when nothing new may start)."""
    confirm = _confirm_keys(events)
    t0 = min(e["time"] for e in events if e["event"] == "set_submitted")
    # owed trials sent out (learn then pack) are not new sets
    last_new = max(e["time"] for e in events if e["event"] == "set_submitted" and not e.get("owed"))
    trials = [e for e in events if e["event"] == "trial_finished"]
    end = max(e["finished"] for e in trials)
    out = {"wall": end - t0, "last_new_set": last_new - t0, "busy_regular": 0.0, "busy_confirm": 0.0,
           "busy_before": 0.0, "busy_after": 0.0}
    for e in trials:
        d = e["finished"] - e["started"]
        out["busy_confirm" if (e["set_id"], e["trial"]) in confirm else "busy_regular"] += d
        before = max(0.0, min(e["finished"], last_new) - max(e["started"], t0))
        out["busy_before"] += before
        out["busy_after"] += d - before
    out["idle_before"] = n_workers * (last_new - t0) - out["busy_before"]
    out["idle_after"] = n_workers * (end - last_new) - out["busy_after"]
    return out


def idle_table(paths, n_workers: int) -> None:
    """``--idle-from``: idle_breakdown of saved campaigns (--save-events), in worker-hours."""
    from hyppo_hep.journal import read_events

    print("| campaign | wall (h) | last new set asked at (h) | utilisation (all trials) | idle before it "
          "(worker-h, % of capacity) | idle after it: the tail (worker-h, % of capacity) | confirmation trials (worker-h) |")
    print("|---|---|---|---|---|---|---|")
    for path in paths:
        events = list(read_events(path))
        b = idle_breakdown(events, n_workers)
        cap = n_workers * b["wall"]
        print(f"| {Path(path).stem} | {b['wall'] / 3600:.2f} | {b['last_new_set'] / 3600:.2f} | "
              f"{(b['busy_regular'] + b['busy_confirm']) / cap:.1%} | {b['idle_before'] / 3600:.0f} "
              f"({b['idle_before'] / cap:.1%}) | {b['idle_after'] / 3600:.0f} ({b['idle_after'] / cap:.1%}) | "
              f"{b['busy_confirm'] / 3600:.0f} |")


def _confirm_keys(events) -> set:
    return {(e["set_id"], t) for e in events if e["event"] == "trials_added" and e.get("purpose") == "confirm"
            for t in e["trials"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="80 workers only")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--tail", action="store_true", help="only the table of where the utilization goes at scale")
    p.add_argument("--rbf", metavar="WORKERS", help="only the rbf table, e.g. 80,800")
    p.add_argument("--issue16", metavar="WORKERS", help="only the scheduling-rule table (rbf, time-to-quality), "
                   "e.g. 80,800")
    p.add_argument("--seed", type=parse_seeds, default=[1], help="the seed(s) of --issue16: 1, 1-5 or 1,3,5 (several: a table per "
                   "seed, then the medians)")
    p.add_argument("--rules", default="groups,trial,end,confirm,confirm-end",
                   help="--issue16: which rules of groups, trial, end, confirm, confirm-wait, confirm-end")
    p.add_argument("--strategies", default="random,rbf", help="--issue16: which strategies (default random,rbf)")
    p.add_argument("--save-events", metavar="DIR", help="--issue16: write each campaign's journal events there")
    p.add_argument("--progress", action="store_true", help="print the strategy's progress every 50 proposals")
    p.add_argument("--durations", choices=sorted(MODELS), default="size",
                   help="--issue16: the duration model (size: sqrt(gen_layersize), set sigma 0.3; batch: "
                   "batch_size^-0.7, set sigma 0.6)")
    p.add_argument("--confirm", type=int, default=3, help="confirmation trials per contending set (--issue16; "
                   "when the Search has them)")
    p.add_argument("--idle-from", nargs="+", metavar="JSONL", help="where the time went in campaigns saved "
                   "by --save-events (give --workers)")
    p.add_argument("--workers", type=int, default=8000, help="--idle-from: the workers of those campaigns")
    args = p.parse_args(argv)
    if args.idle_from:
        return idle_table(args.idle_from, args.workers)
    if args.issue16:
        global PROGRESS, DURATIONS
        PROGRESS, DURATIONS = args.progress, MODELS[args.durations]()
        return issue16_table([int(w) for w in args.issue16.split(",")], seed=args.seed, confirm=args.confirm,
                             only=args.rules.split(","), strategies=tuple(args.strategies.split(",")),
                             save_events=args.save_events)
    if args.rbf:
        return rbf_table([int(w) for w in args.rbf.split(",")])
    if args.tail:
        return tail_table()
    t0 = time.perf_counter()
    seeds = list(range(1, args.seeds + 1))
    print("## Simulated cluster (bench_scaling.py)\n")
    print("Duration model: mean 20 min per trial at gen_layersize 512, x sqrt(gen_layersize/512), "
          "log-normal set factor (sigma 0.3), log-normal trial factor within a set (sigma 0.02); "
          "strategy random over the Table 1 broad space, objective gan_landscape.")
    figure12(seeds)
    if not args.quick:
        print("\nThe same with a larger seed-to-seed spread of trial durations within a set (sigma 0.1): "
              "a group waits for its slowest trial.")
        figure12(seeds, durations=model(sigma_trial=0.1))
        print("\nA long run: 1600 sets on the same 80 workers (100 sets per group), steady state dominates.")
        figure12(seeds[:3], budget=1600)
        scaling(seeds[:3], seeds[0], proposal_costs=(0.0, 1.0, 10.0))
        tail_table()
    print(f"\n(total real time {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
