"""The duration-aware last round (issue 16): when the sets left to start fit into the slots
that free before the running work ends, the Search steers them toward candidates expected
to end by then, and a journal of such a campaign resumes exactly."""

import pytest

from hyppo_hep import journal as J
from hyppo_hep.config import DEFAULT_CONFIG, load_config
from hyppo_hep.driver import Driver
from hyppo_hep.journal import Journal, iter_lines, read_events, replay
from hyppo_hep.end_phase import END_ROUNDS, end_rounds
from hyppo_hep.search import Search
from hyppo_hep.seeding import trial_seeds
from hyppo_hep.simulate import DurationModel, SimulatedExecutor
from hyppo_hep.strategy import build
from tests.helpers import Events, RecordingSearch, cut_journal

# exact per-set durations, a function of the layer size only (no hidden set factor, no
# seed spread): what the finished sets say of a new one is then (almost) the truth
EXACT = DurationModel(base=1200.0, sigma_set=0.0, sigma_trial=0.0, size_param="gen_layersize", size_ref=512.0,
                      size_power=0.5)


def model(sigma_set=0.3):
    """bench_scaling's size model: a hidden per-set factor the parameters do not predict."""
    return DurationModel(base=1200.0, sigma_set=sigma_set, sigma_trial=0.02, size_param="gen_layersize",
                         size_ref=512.0, size_power=0.5)


def _run(last_round, journal=None, durations=EXACT, strategy="random", groups=16, budget=100):
    """The end phase's own rule: whole sets, no probes (learn then pack: test_probe.py)."""
    cfg = load_config(DEFAULT_CONFIG)
    ex = SimulatedExecutor(cfg.objective, groups, 5, durations, charge_proposals=False)
    search = Search(cfg.space, build(strategy, {}, cfg.space, budget), budget=budget, trials=5, seed=1, journal=journal,
                    clock=ex.clock, last_round=last_round, probes=False)
    summary = Driver(search, ex).run()
    return search, summary


def _set_ends(history):
    return {r.set_id: max(t.finished for t in r.trials.values()) for r in history.sets.values()}


def _worker_ends(history):
    """Worker -> the end of the last trial it ran."""
    last = {}
    for r in history.sets.values():
        for t in r.trials.values():
            last[t.worker] = max(last.get(t.worker, 0.0), t.finished)
    return last


def _busy(history):
    return sum(t.finished - t.started for r in history.sets.values() for t in r.trials.values())


def test_the_end_phase_spans_more_rounds_with_more_slots():
    """END_ROUNDS rounds up to 16 slots; beyond, more (sqrt(ln slots)): the last of many
    uncertain ends lies further out, so more of the late sets are steered (8000 workers:
    86.5% utilisation with 4 rounds, RESULTS_mpi.md section 17)."""
    assert end_rounds(1) == end_rounds(16) == END_ROUNDS
    assert end_rounds(160) == pytest.approx(END_ROUNDS * 1.3529, abs=1e-3)
    assert end_rounds(1600) == pytest.approx(END_ROUNDS * 1.6312, abs=1e-3)
    events = Events()
    _run(True, events, groups=64, budget=400)
    steered = [e["set_id"] for e in events if e["event"] == J.SET_SUBMITTED and "deadline" in e]
    # the end phase starts at the first ask with at most end_rounds(64) x 64 = 313 sets left
    # (4 rounds would be 256); asks are of a few slots each, so it starts a few sets later
    assert END_ROUNDS * 64 + 16 < len(steered) <= end_rounds(64) * 64
    assert steered == list(range(400 - len(steered), 400))


def test_the_end_phase_ends_every_workers_last_work_by_the_projected_end():
    """Exact durations: the end phase steers the last rounds of sets (about END_ROUNDS
    rounds of the 16 slots, the last ones), each chosen for a projected end of
    the campaign, and every worker's last trial ends within a few minutes of the campaign's
    end (short sets last); the campaign ends sooner than without the rule, its ranks busier."""
    events = Events()
    search, summary = _run(True, events)
    steered = [e for e in events if e["event"] == J.SET_SUBMITTED and "deadline" in e]
    assert 16 <= len(steered) <= END_ROUNDS * 16 + 16
    assert min(e["set_id"] for e in steered) == 100 - len(steered)
    set_ends = _set_ends(search.history)
    # each set that fitted (a high quantile of its duration ended in time) ends by the
    # projected end it was chosen for; the others were the shortest at hand
    fitting = [e for e in steered if e["expected_end"] <= e["deadline"]]
    assert len(fitting) >= len(steered) // 2
    for e in fitting:
        assert set_ends[e["set_id"]] <= e["deadline"]
    ends = _worker_ends(search.history)
    assert len(ends) == 80
    # every worker is busy until shortly before the end: its last work is short (the last
    # round's rule before this: 11.8 min at most, 7.6 min on average; now 10.9 and 5.8)
    idle_tail = [max(ends.values()) - e for e in ends.values()]
    assert max(idle_tail) < 11 * 60 and sum(idle_tail) / 80 < 6.5 * 60
    before, off = _run(False)
    assert summary.wall_time < 0.9 * off.wall_time  # 1.96 h vs 2.21 h
    assert _busy(search.history) / (80 * summary.wall_time) > _busy(before.history) / (80 * off.wall_time) + 0.03


class _LongOnly:
    """Random sets; after its first 40 (a design the duration model learns from), all with
    the largest generator (the longest trials): a strategy whose candidates near the end
    never include a short set, as a surrogate's around a long incumbent."""

    def __init__(self, space):
        self.inner = build("random", {}, space, 100)

    def propose(self, history, n, rng):
        props = self.inner.propose(history, n, rng)
        return props if len(history) < 40 else [{**p, "gen_layersize": 1024} for p in props]


def test_filler_candidates_make_the_last_sets_short(monkeypatch):
    """When every candidate of the strategy is long, the end phase takes random points of
    the space (fillers) as the last sets: shorter ones, so the workers' last work ends
    closer together than without fillers."""
    import hyppo_hep.end_phase as EP

    cfg = load_config(DEFAULT_CONFIG)

    def tail(fillers):
        monkeypatch.setattr(EP, "FILLERS", fillers)
        ex = SimulatedExecutor(cfg.objective, 16, 5, EXACT, charge_proposals=False)
        events = Events()
        search = Search(cfg.space, _LongOnly(cfg.space), budget=100, trials=5, seed=1, journal=events,
                        clock=ex.clock, last_round=True, probes=False)  # whole sets: the end phase alone
        Driver(search, ex).run()
        ends = _worker_ends(search.history)
        return events, [max(ends.values()) - e for e in ends.values()]

    events, with_fillers = tail(16)
    steered = [e for e in events if e["event"] == J.SET_SUBMITTED and "deadline" in e]
    before = [e for e in events if e["event"] == J.SET_SUBMITTED and "deadline" not in e and not e.get("owed")]
    assert all(e["params"]["gen_layersize"] == 1024 for e in before[40:])
    short = [e for e in steered if e["params"]["gen_layersize"] <= 256]  # at most half as long
    assert len(short) >= 8
    _, without = tail(0)
    assert sum(with_fillers) < 0.8 * sum(without) and max(with_fillers) < max(without)


def test_without_duration_information_nothing_is_steered():
    """Results told without times (AskTell's user): no duration is known, the strategy's
    proposals are taken as they come."""
    cfg = load_config(DEFAULT_CONFIG)
    events = Events()
    search = Search(cfg.space, build("random", {}, cfg.space, 20), budget=20, trials=2, seed=1, journal=events)
    from hyppo_hep.trial import TrialResult

    objective = cfg.objective.build()
    specs = search.ask(16)
    for spec in specs[:12]:
        for t, s in zip(spec.trials, spec.seeds):
            search.tell(TrialResult(spec.set_id, t, s, objective(spec.params, t, s)))
    assert len(search.ask(4)) == 4
    assert not any("deadline" in e for e in events)


def test_resume_with_the_rule_is_exact(tmp_path):
    """A journal cut just after the first steered set resumes to the same campaign state
    (the duration model rebuilt from the journal predicts what the live one did), runs the
    missing trials with their seeds, nothing twice, and every set is finished."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    live, _ = _run(True, journal)
    journal.close()
    lines, cut = cut_journal(path, '"deadline"')
    cfg = load_config(DEFAULT_CONFIG)
    ex = SimulatedExecutor(cfg.objective, 16, 5, EXACT, charge_proposals=False)
    journal = Journal(path)
    search = Search(cfg.space, build("random", {}, cfg.space, 100), budget=100, trials=5, seed=1, journal=journal,
                    clock=ex.clock, last_round=True, probes=False)
    search.replay(iter_lines(path))
    # the replayed model is the live one as it stood at the cut: same trials, same fit
    prefix = Search(cfg.space, build("random", {}, cfg.space, 100), budget=100, trials=5, seed=1)
    prefix.replay(iter_lines(path))
    probe = live.history.sets[99].params
    assert search.durations.n == prefix.durations.n > 0
    assert search.durations.log_normal(probe) == pytest.approx(prefix.durations.log_normal(probe), rel=1e-12)
    assert set(search._out) == {k for k in prefix._out}
    Driver(search, ex).run()
    journal.close()
    after = replay(path)
    pairs = [(e["set_id"], e["trial"]) for e in read_events(path) if e["event"] == "trial_finished"]
    assert len(pairs) == len(set(pairs)) == 500
    assert len(after.sets) == 100 and all(r.state == "done" for r in after.sets.values())
    for rec in after.sets.values():
        assert rec.seeds == trial_seeds(1, rec.lineage, rec.n_trials)
    # the sets started before the cut are the live run's
    n_before = sum(1 for line in lines[:cut + 1] if '"set_submitted"' in line)
    for sid in range(n_before):
        assert after.sets[sid].params == live.history.sets[sid].params


def test_the_config_turns_the_last_round_off(tmp_path):
    """``executor: {last_round: false}`` reaches the campaign's Search; the default is on;
    anything but a boolean is a config error naming the key."""
    from hyppo_hep.campaign import make_search
    from hyppo_hep.config import ConfigError, parse_config

    raw = {"objective": "gan_landscape", "space": {"lr": {"low": 1e-5, "high": 1e-2, "log": True}}, "budget": 4,
           "trials": 2, "out": str(tmp_path)}
    on = parse_config(raw)
    off = parse_config({**raw, "executor": {"kind": "serial", "last_round": False}})
    assert on.executor.last_round and not off.executor.last_round
    assert make_search(on, build("random", {}, on.space, 4)).last_round
    assert not make_search(off, build("random", {}, off.space, 4)).last_round
    with pytest.raises(ConfigError, match=r"executor\.last_round.*true or false"):
        parse_config({**raw, "executor": {"last_round": "no"}})


@pytest.mark.parametrize("strategy", ["random", "rbf"])
def test_a_replayed_search_makes_the_end_phases_decisions_again(strategy):
    """Every ask of the end phase, made again by a Search rebuilt from the journal up to
    it (same slots, same virtual time), writes the same events: the same sets, seeds,
    projected end and expected end (the duration model, the trials out and the filler
    candidates' random stream are all functions of the journal)."""
    cfg = load_config(DEFAULT_CONFIG)
    ex = SimulatedExecutor(cfg.objective, 16, 5, model(), charge_proposals=False)
    live = RecordingSearch(cfg.space, build(strategy, {}, cfg.space, 100), budget=100, trials=5, seed=3,
                      journal=Events(), clock=ex.clock, last_round=True)
    Driver(live, ex).run()
    events = live.journal
    steered = [(n, now, a, b) for n, now, a, b in live.asks if any("deadline" in e for e in events[a:b])]
    assert len(steered) >= 10
    for n, now, a, b in steered:
        again = Search(cfg.space, build(strategy, {}, cfg.space, 100), budget=100, trials=5, seed=3,
                       journal=Events(), clock=lambda: now, last_round=True, probes=live.probes)
        again.replay(enumerate(events[:a]))
        again.ask(n)
        assert again.journal == events[a:b]
