"""Learn then pack (issue 16, RESULTS_mpi.md section 13): in the end phase, with an executor
that runs single trials anywhere, a new set may start with one trial (a probe) and hold its
other trials back (owed); once the probe is back their length is known, and freeing slots
pack the end with them. The owed trials are the set's regular trials (same indices, same
seeds), the set stays pending until they are back, a journal cut with trials held resumes
exactly, and without trial-level placement or without the end phase nothing changes."""

import math
from statistics import NormalDist

import numpy as np
import pytest

from hyppo_hep import journal as J
from hyppo_hep.config import DEFAULT_CONFIG, load_config
from hyppo_hep.driver import Driver
from hyppo_hep.durations import conditional_law, conditional_mean
from hyppo_hep.journal import Journal, iter_lines, read_events, replay
from hyppo_hep.search import Search
from hyppo_hep.seeding import trial_seeds
from hyppo_hep.simulate import DurationModel, SimulatedExecutor
from hyppo_hep.strategy import build

from tests.helpers import Events

# a hidden set factor (the parameters do not predict it) but no seed spread: once one trial
# of a set is back, its other trials' length is known exactly
HIDDEN = DurationModel(base=1200.0, sigma_set=0.3, sigma_trial=0.0, size_param="gen_layersize", size_ref=512.0,
                       size_power=0.5)


def _run(journal=None, probes=None, last_round=True, trial_level=True, seed=1, durations=HIDDEN):
    cfg = load_config(DEFAULT_CONFIG)
    ex = SimulatedExecutor(cfg.objective, 16, 5, durations, charge_proposals=False, trial_level=trial_level)
    search = Search(cfg.space, build("random", {}, cfg.space, 100), budget=100, trials=5, seed=seed,
                    journal=journal, clock=ex.clock, last_round=last_round, probes=probes)
    summary = Driver(search, ex).run()
    return search, summary, ex


def _owed(events):
    """(set, trial) -> when it was sent out, for the owed trials."""
    return {(e["set_id"], t): e["time"] for e in events if e["event"] == J.SET_SUBMITTED and e.get("owed")
            for t in e["trials"]}


def test_the_end_is_packed_with_owed_trials_of_known_length():
    """Every worker's last trial: most are owed trials sent out after their probe was back
    (their length known); the campaign ends within 3% of the ideal (busy time / workers),
    its workers busier than without probes (the sets differ: the wall is not compared)."""
    events = Events()
    search, summary, ex = _run(events)
    assert search.probes  # the driver turned them on: the simulator places single trials
    probes = {e["set_id"]: e["time"] for e in events if e["event"] == J.SET_SUBMITTED and e.get("probe")}
    owed = _owed(events)
    assert len(probes) >= 10 and len(owed) == 4 * len(probes)
    back = {e["set_id"]: e["time"] for e in reversed(events) if e["event"] == J.TRIAL_FINISHED and e["trial"] == 0}
    last = {}
    for e in events:
        if e["event"] == J.TRIAL_FINISHED and e["finished"] >= last.get(e["worker"], (0.0, None))[0]:
            last[e["worker"]] = (e["finished"], (e["set_id"], e["trial"]))
    assert len(last) == 80
    known = [key for _, key in last.values() if key in owed and back[key[0]] <= owed[key]]
    assert len(known) >= 60  # 80 measured
    # the ideal: the busy time spread evenly; 2.1% over it (without probes 6.4%)
    assert summary.wall_time <= 1.03 * ex.busy / 80
    _, off, ex_off = _run(probes=False)
    assert ex.busy / (80 * summary.wall_time) > ex_off.busy / (80 * off.wall_time) + 0.02  # 98.0% vs 94.0%


def test_owed_trials_are_the_sets_own_trials_and_the_set_waits_for_them():
    """A probe's set is submitted with all its seeds; its owed trials go out later with
    the indices and seeds they would have had; the set finishes once, after its last trial;
    the budget counts it once (100 sets, 500 trainings)."""
    events = Events()
    search, _, _ = _run(events)
    probes = [e for e in events if e["event"] == J.SET_SUBMITTED and e.get("probe")]
    assert probes
    for p in probes:
        sid = p["set_id"]
        assert p["trials"] == [0] and p["seeds"] == trial_seeds(1, sid, 5)
        mine = [(i, e) for i, e in enumerate(events) if e.get("set_id") == sid]
        sent = [t for _, e in mine if e["event"] == J.SET_SUBMITTED for t in e["trials"]]
        assert sorted(sent) == [0, 1, 2, 3, 4]
        done = [(i, e) for i, e in mine if e["event"] == J.TRIAL_FINISHED]
        assert {e["trial"]: e["seed"] for _, e in done} == dict(enumerate(trial_seeds(1, sid, 5)))
        finished = [i for i, e in mine if e["event"] == J.SET_FINISHED]
        assert len(finished) == 1 and finished[0] > max(i for i, _ in done)
    assert search.n_started == 100 and search.n_trainings == 500
    rec = search.history.sets[probes[0]["set_id"]]
    assert rec.state == "done" and len(rec.trials) == 5


def test_resume_with_trials_held_at_the_cut_is_exact(tmp_path):
    """The journal cut where the most trials are held (probes out and back, owed trials not
    sent): the replayed Search holds the same trials; the resume sends out only the trials
    that were out; the resumed campaign runs every trial once with the live run's seeds and
    scores, the sets started before the cut are the live run's, and all 100 finish."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    live, _, _ = _run(journal)
    journal.close()
    lines = path.read_text().splitlines()
    counter = Search(load_config(DEFAULT_CONFIG).space, None, budget=100, trials=5, seed=1)
    held_after = []
    for n, ev in iter_lines(path):
        counter.apply(ev)
        held_after.append(sum(map(len, counter._held.values())))
    cut = max(range(len(held_after)), key=lambda i: held_after[i])
    assert held_after[cut] >= 8
    path.write_text("\n".join(lines[:cut + 1]) + "\n")
    cfg = load_config(DEFAULT_CONFIG)
    ex = SimulatedExecutor(cfg.objective, 16, 5, HIDDEN, charge_proposals=False)
    journal = Journal(path)
    search = Search(cfg.space, build("random", {}, cfg.space, 100), budget=100, trials=5, seed=1, journal=journal,
                    clock=ex.clock, last_round=True)
    search.replay(iter_lines(path))
    held = {s: list(t) for s, t in search._held.items()}
    assert sum(map(len, held.values())) == held_after[cut]
    Driver(search, ex).run()
    journal.close()
    evs = list(read_events(path))
    resumed = [e for e in evs[cut + 1:] if e["event"] == J.SET_SUBMITTED and e["set_id"] in held]
    first = [e for e in resumed if not e.get("owed")]  # the resume's own submissions
    assert all(not set(e["trials"]) & set(held[e["set_id"]]) for e in first)
    pairs = [(e["set_id"], e["trial"]) for e in evs if e["event"] == J.TRIAL_FINISHED]
    assert len(pairs) == len(set(pairs)) == 500
    after = replay(path)
    assert len(after.sets) == 100 and all(r.state == "done" for r in after.sets.values())
    n_before = len({e["set_id"] for e in evs[:cut + 1] if e["event"] == J.SET_SUBMITTED})
    for sid in range(n_before):
        a, b = after.sets[sid], live.history.sets[sid]
        assert a.params == b.params and a.seeds == b.seeds
        for t in range(5):
            assert a.trials[t].seed == b.trials[t].seed
            assert a.trials[t].score == pytest.approx(b.trials[t].score, rel=1e-12)


@pytest.mark.parametrize("how", ["no end phase", "groups only"])
def test_without_trial_level_or_the_end_phase_nothing_changes(how):
    """``executor: {last_round: false}`` (no end phase) and a groups-only executor: no
    probe, and the journal is the one written with probes forced off."""
    kw = {"last_round": False} if how == "no end phase" else {"trial_level": False}
    on, off = Events(), Events()
    search, _, _ = _run(on, **kw)
    _run(off, probes=False, **kw)
    assert not any(e.get("probe") or e.get("owed") for e in on)
    assert on == off
    assert search.probes is (how == "no end phase")  # the driver says what the executor can do


def test_conditional_law():
    """E[D | D > e] and the q quantile of D given D > e, for a log-normal D, element-wise:
    e = 0 gives the plain quantile; with e at the median, the conditional median is the plain
    0.75 quantile; the mean is durations.conditional_mean's; a job far past every duration
    may end any moment (both are e)."""
    z = NormalDist().inv_cdf
    mu, elapsed = np.array([1.0, 1.0, 7.0, 0.0]), np.array([0.0, math.exp(1.0), 900.0, 50.0])
    mean, q = conditional_law(mu, 0.5, elapsed, 0.5)
    assert q[0] == pytest.approx(math.exp(1.0)) and q[1] == pytest.approx(math.exp(1.0 + 0.5 * z(0.75)))
    assert list(mean) == pytest.approx([conditional_mean(m, 0.5, e) for m, e in zip(mu, elapsed)], rel=1e-12)
    assert mean[3] == q[3] == 50.0
    _, q9 = conditional_law(mu[:1], 0.5, elapsed[:1], 0.9)
    assert q9[0] == pytest.approx(math.exp(1.0 + 0.5 * z(0.9)))


def test_new_sets_that_fit_nowhere_go_before_owed_trials_that_fit():
    """Near the end, with sets left to start that fit nowhere and owed trials that fit: the
    new sets (unknown length) start first, as probes, and the owed trials (known, short) wait
    for the end. (The brief's order, owed trials first, left every new set to the very end at
    8000 workers: RESULTS_mpi.md section 13.)"""
    cfg = load_config(DEFAULT_CONFIG)
    now = 10_000.0
    search = Search(cfg.space, build("random", {}, cfg.space, 60), budget=53, trials=5, seed=1, journal=Events(),
                    clock=lambda: now, last_round=True, probes=True)
    objective = cfg.objective.build()
    design = build("random", {}, cfg.space, 60).propose(search.history, 51, np.random.default_rng(0))
    for sid, params in enumerate(design):
        params = getattr(params, "params", params)
        seeds = trial_seeds(1, sid, 5)
        probe = sid == 50
        # 20 done; 30 running, their length known from a first trial: they end in 50 s
        t0 = 0.0 if sid < 20 else now - 1150.0
        search.apply({"event": J.SET_SUBMITTED, "time": t0, "set_id": sid, "params": params, "seeds": seeds,
                      "trials": [0] if probe else list(range(5)), **({"probe": True} if probe else {})})
        for t in ([0] if probe or sid >= 20 else range(5)):
            d = 60.0 if probe else 1200.0 if sid >= 20 else HIDDEN(params, t, seeds[t])
            search.apply({"event": J.TRIAL_FINISHED, "time": t0 + d, "set_id": sid, "trial": t, "seed": seeds[t],
                          "score": objective(params, t, seeds[t]), "started": t0, "finished": t0 + d})
    assert search._held == {50: [1, 2, 3, 4]} and search.budget_left == 2
    specs = search.ask(1)  # 5 places: both sets left first, as probes, then 3 owed trials
    new = [s for s in specs if s.set_id > 50]
    assert len(new) == 2 and all(s.trials == (0,) for s in new)
    assert search._held[50] == [4] and all(search._held[s.set_id] == [1, 2, 3, 4] for s in new)


def test_the_config_turns_probes_off(tmp_path):
    """``executor: {probes: false}`` reaches the campaign's Search and a Driver on a
    trial-level executor leaves it off (no probe in the journal); by default the Driver
    decides; anything but a boolean is a config error naming the key."""
    from hyppo_hep.campaign import make_search
    from hyppo_hep.config import ConfigError, parse_config

    raw = {"objective": "gan_landscape", "space": {"lr": {"low": 1e-5, "high": 1e-2, "log": True}}, "budget": 4,
           "trials": 2, "out": str(tmp_path)}
    on = parse_config(raw)
    off = parse_config({**raw, "executor": {"kind": "mpi", "probes": False}})
    assert on.executor.probes and not off.executor.probes and off.executor.last_round
    assert make_search(on, build("random", {}, on.space, 4)).probes is None
    cfg = load_config(DEFAULT_CONFIG)
    ex = SimulatedExecutor(cfg.objective, 16, 5, HIDDEN, charge_proposals=False)
    search = make_search(off, build("random", {}, cfg.space, 100))
    assert search.probes is False
    Driver(search, ex)
    assert search.probes is False
    with pytest.raises(ConfigError, match=r"executor\.probes.*true or false"):
        parse_config({**raw, "executor": {"probes": "no"}})


def test_no_probes_with_adaptive_repeats():
    """Adaptive repeats (trials {min: 2, max: 4}): the race gives sets their further trials,
    so the end phase starts whole sets even on a trial-level executor; fixed sets probe."""
    cfg = load_config(DEFAULT_CONFIG)
    ex = SimulatedExecutor(cfg.objective, 2, 2, HIDDEN, charge_proposals=False)
    adaptive = Search(cfg.space, build("random", {}, cfg.space, 100), budget=100, trials=4, min_trials=2,
                      budget_trainings=24, seed=1, clock=ex.clock)
    fixed = Search(cfg.space, build("random", {}, cfg.space, 100), budget=12, trials=2, seed=1, clock=ex.clock)
    Driver(adaptive, ex), Driver(fixed, ex)
    assert adaptive.probes and fixed.probes  # the executor can place single trials
    assert not adaptive._probing() and fixed._probing()
