"""The duration-aware last round (issue 16): when the sets left to start fit into the slots
that free before the running work ends, the Search steers them toward candidates expected
to end by then, and a journal of such a campaign resumes exactly."""

import pytest

from hyppo_hep import journal as J
from hyppo_hep.config import DEFAULT_CONFIG, load_config
from hyppo_hep.driver import Driver
from hyppo_hep.journal import Journal, iter_lines, read_events, replay
from hyppo_hep.search import Search
from hyppo_hep.seeding import trial_seeds
from hyppo_hep.simulate import DurationModel, SimulatedExecutor
from hyppo_hep.strategy import build

# exact per-set durations, a function of the layer size only (no hidden set factor, no
# seed spread): what the finished sets say of a new one is then (almost) the truth
EXACT = DurationModel(base=1200.0, sigma_set=0.0, sigma_trial=0.0, size_param="gen_layersize", size_ref=512.0,
                      size_power=0.5)


class Events(list):
    """A journal kept in memory."""

    def write(self, record):
        self.append(record)
        return record


def _run(last_round, journal=None, durations=EXACT, strategy="random"):
    cfg = load_config(DEFAULT_CONFIG)
    ex = SimulatedExecutor(cfg.objective, 16, 5, durations, charge_proposals=False)
    search = Search(cfg.space, build(strategy, {}, cfg.space, 100), budget=100, trials=5, seed=1, journal=journal,
                    clock=ex.clock, last_round=last_round)
    summary = Driver(search, ex).run()
    return search, summary


def _set_ends(history):
    return {r.set_id: max(t.finished for t in r.trials.values()) for r in history.sets.values()}


def test_the_last_sets_end_by_the_running_works_projected_end():
    events = Events()
    search, summary = _run(True, events)
    ends = _set_ends(search.history)
    steered = [e for e in events if e["event"] == J.SET_SUBMITTED and "deadline" in e]
    # only the last round: at most one set per group, all after the last unsteered one
    assert 5 <= len(steered) <= 16
    assert min(e["set_id"] for e in steered) == 100 - len(steered)
    # among the strategy's 16 candidates per set one fitted for most (a short window may
    # have none: the shortest is taken, and the deadline of the next moves with it)
    fitting = [e for e in steered if e["expected_end"] <= e["deadline"]]
    assert len(fitting) >= len(steered) // 2
    for e in fitting:  # each ends by the projected end of the work running when it was chosen
        assert ends[e["set_id"]] <= e["deadline"] + 0.05 * (e["deadline"] - e["time"])
    # and the campaign ends earlier than without the rule, its ranks busier
    before, off = _run(False)
    assert summary.wall_time < 0.95 * off.wall_time  # 2.02 h vs 2.21 h
    busy = sum(t.finished - t.started for r in search.history.sets.values() for t in r.trials.values())
    busy_off = sum(t.finished - t.started for r in before.history.sets.values() for t in r.trials.values())
    assert busy / (80 * summary.wall_time) > busy_off / (80 * off.wall_time) + 0.01  # 93.8% vs 91.4%


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
    lines = path.read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if '"deadline"' in line)
    path.write_text("\n".join(lines[:cut + 1]) + "\n")
    cfg = load_config(DEFAULT_CONFIG)
    ex = SimulatedExecutor(cfg.objective, 16, 5, EXACT, charge_proposals=False)
    journal = Journal(path)
    search = Search(cfg.space, build("random", {}, cfg.space, 100), budget=100, trials=5, seed=1, journal=journal,
                    clock=ex.clock, last_round=True)
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
