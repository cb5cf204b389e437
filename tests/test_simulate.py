"""The simulated cluster: virtual clock, hand-computable schedules, the four modes."""

import math

import pytest

from hyppo_hep.driver import Driver
from hyppo_hep.search import Search
from hyppo_hep.simulate import DurationModel, SimulatedExecutor, simulate
from hyppo_hep.trial import TrialSpec
from hyppo_hep.history import History, SetRecord
from hyppo_hep.journal import Journal, read_events
from hyppo_hep.objectives.registry import ObjectiveRef
from hyppo_hep.space import Space
from hyppo_hep.strategy import build

SPACE = {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}}
CONST = DurationModel(base=10.0, sigma_set=0.0, sigma_trial=0.0)


def run(mode, budget, trials, n_groups, group_size, durations=CONST, **kw):
    space = Space.from_dict(SPACE)
    return simulate(mode, space, build("lhs", {}, space, budget), ObjectiveRef("branin"), budget=budget,
                    trials=trials, n_groups=n_groups, group_size=group_size, durations=durations, seed=1,
                    charge_proposals=False, **kw)


def test_hand_computed_nested_schedule():
    """2 groups of 2 workers, 3 sets of 3 trials of 10 s each. Round-robin puts two trials
    on a group's first worker: a set takes 20 s. Sets 0 and 1 run 0-20 s side by side, set 2
    runs 20-40 s on the group freed first. Busy 9 x 10 = 90 worker-s over 4 workers x 40 s."""
    r = run("nested_async", budget=3, trials=3, n_groups=2, group_size=2)
    assert r.wall == pytest.approx(40.0)
    assert r.busy == pytest.approx(90.0)
    assert r.utilization == pytest.approx(90.0 / (4 * 40.0))  # 0.5625
    assert r.n_sets == 3 and r.n_trials == 9 and r.proposal_time == 0.0
    spans = {s.set_id: (min(t.started for t in s.trials.values()), max(t.finished for t in s.trials.values()))
             for s in r.history.sets.values()}
    assert spans == {0: (0.0, 20.0), 1: (0.0, 20.0), 2: (20.0, 40.0)}
    workers = {(t.worker, t.started) for t in r.history.sets[0].trials.values()}
    assert workers == {("sim:0", 0.0), ("sim:1", 0.0), ("sim:0", 10.0)}


def test_serial_and_one_level_by_hand():
    serial = run("serial", budget=4, trials=3, n_groups=5, group_size=3)
    assert (serial.n_workers, serial.wall, serial.utilization) == (1, pytest.approx(120.0), pytest.approx(1.0))
    one = run("one_level", budget=4, trials=3, n_groups=5, group_size=3)
    assert (one.n_workers, one.wall, one.utilization) == (3, pytest.approx(40.0), pytest.approx(1.0))
    nested = run("nested_async", budget=4, trials=3, n_groups=5, group_size=3)
    assert nested.wall == pytest.approx(10.0)  # 4 sets on 4 of the 5 groups at once
    assert nested.utilization == pytest.approx(120.0 / (15 * 10.0))


@pytest.mark.slow
def test_async_beats_sync_with_heterogeneous_sets():
    """Set durations proportional to x2+1 (1...16 x 10 s): synchronous batches wait for the
    slowest set of each batch, the asynchronous master refills each group at once."""
    dm = DurationModel(base=10.0, sigma_set=0.0, sigma_trial=0.0, size_param="x2", size_ref=1.0)
    space = {"x1": {"lower": 0, "upper": 1}, "x2": {"lower": 1, "upper": 16}}
    res = {}
    for mode in ("nested_sync", "nested_async", "serial"):
        sp = Space.from_dict(space)
        # grid over all 32 points: every mode runs the same sets
        res[mode] = simulate(mode, sp, build("grid", {}, sp, 32), ObjectiveRef("branin"), budget=32, trials=2,
                             n_groups=4, group_size=2, durations=dm, seed=3, charge_proposals=False)
    assert res["nested_async"].busy == pytest.approx(res["nested_sync"].busy) == pytest.approx(res["serial"].busy)
    assert res["nested_async"].wall < res["nested_sync"].wall
    assert res["nested_async"].utilization > res["nested_sync"].utilization
    # serial wall is the total busy time; async is within the list-scheduling bound
    assert res["serial"].wall == pytest.approx(res["serial"].busy)
    longest = 16 * 10.0
    assert res["nested_async"].wall <= res["serial"].busy / 8 + longest + 1e-9


class SlowRandom:
    """Random search whose every proposal costs the master 20 ms (CPU, or sleeping)."""

    def __init__(self, space, burn_cpu):
        self.inner, self.burn_cpu = build("random", {}, space, 100), burn_cpu

    def propose(self, history, n, rng):
        import time

        if self.burn_cpu:
            t0 = time.process_time()
            while time.process_time() - t0 < 0.02:
                pass
        else:
            time.sleep(0.02)
        return self.inner.propose(history, n, rng)


@pytest.mark.parametrize("burn_cpu", [True, False])
def test_proposal_time_is_charged_to_the_virtual_clock(burn_cpu):
    import time

    space = Space.from_dict(SPACE)
    clock = time.process_time if burn_cpu else time.perf_counter  # sleeping costs wall time, not CPU
    ex = SimulatedExecutor(ObjectiveRef("branin"), 1, 1, CONST, proposal_scale=100.0, proposal_clock=clock)
    summary = Driver(Search(space, SlowRandom(space, burn_cpu), budget=5, trials=1, seed=0, clock=ex.clock), ex).run()
    # 5 proposals x >= 20 ms real x 100 = >= 10 virtual s on top of 5 x 10 s of trials
    assert ex.proposal_time >= 5 * 0.02 * 100
    # (proposal_time also holds the few microseconds before the driver's start)
    assert 50.0 + 5 * 0.02 * 100 <= summary.wall_time <= 50.0 + ex.proposal_time + 1e-9
    assert ex.utilization(summary.wall_time) == pytest.approx(50.0 / summary.wall_time)


def test_modelled_proposal_cost():
    r = run("serial", budget=5, trials=1, n_groups=1, group_size=1, proposal_cost=3.0)
    assert r.wall == pytest.approx(5 * 13.0) and r.proposal_time == pytest.approx(15.0)


def test_duration_model_is_deterministic_with_mean_base():
    dm = DurationModel(base=100.0, sigma_set=0.5, sigma_trial=0.1, size_param="n", size_ref=10.0, size_power=1.0)
    assert dm({"n": 10}, 0, 123) == dm({"n": 10}, 0, 123)
    assert dm({"n": 10}, 0, 123) != dm({"n": 10}, 1, 124)
    draws = [dm({"n": 10, "k": k}, 0, k) for k in range(4000)]
    assert sum(draws) / len(draws) == pytest.approx(100.0, rel=0.05)  # both factors have mean 1
    sized = DurationModel(base=100.0, sigma_set=0.0, sigma_trial=0.1, size_param="n", size_ref=10.0, size_power=1.5)
    assert sized({"n": 40}, 0, 5) / sized({"n": 10}, 0, 5) == pytest.approx(8.0)
    # the set factor is shared by the trials of a set: their spread is the trial sigma only
    same_set = [math.log(dm({"n": 10, "k": 7}, t, t)) for t in range(2000)]
    mean = sum(same_set) / len(same_set)
    sd = math.sqrt(sum((v - mean) ** 2 for v in same_set) / (len(same_set) - 1))
    assert sd == pytest.approx(0.1, rel=0.1)


def test_journal_with_virtual_times(tmp_path):
    space = Space.from_dict(SPACE)
    journal = Journal(tmp_path / "journal.jsonl")
    r = simulate("nested_async", space, build("random", {}, space, 6), ObjectiveRef("branin"), budget=6, trials=2,
                 n_groups=2, group_size=2, durations=CONST, seed=1, journal=journal, charge_proposals=False)
    journal.close()
    trials = [e for e in read_events(tmp_path / "journal.jsonl") if e["event"] == "trial_finished"]
    assert len(trials) == 12 and r.wall == pytest.approx(30.0)
    assert sorted({e["worker"] for e in trials}) == ["sim:0", "sim:1", "sim:2", "sim:3"]
    assert max(e["finished"] for e in trials) == pytest.approx(30.0) and all(e["time"] <= 30.0 for e in trials)


@pytest.mark.slow
def test_thousands_of_workers():
    space = Space.from_dict(SPACE)
    r = simulate("nested_async", space, build("random", {}, space, 2000), ObjectiveRef("branin"), budget=2000,
                 trials=5, n_groups=1600, group_size=5, durations=DurationModel(base=1200.0), seed=1,
                 charge_proposals=False)
    assert r.n_workers == 8000 and r.n_sets == 2000 and r.n_trials == 10000
    assert r.busy / 8000 < r.wall < r.busy / 8000 + 2 * 10 * 1200  # at most ~2 rounds of long sets
    assert 0 < r.utilization <= 1


def test_submit_queues_beyond_slots():
    ex = SimulatedExecutor(lambda p, t, s, d: 1.0, 1, 1, CONST, charge_proposals=False)
    for i in range(3):
        ex.submit(TrialSpec(i, {}, (0,), (i,)))
    got = [r.set_id for _ in range(3) for r in ex.poll()]
    assert got == [0, 1, 2] and ex.now == pytest.approx(30.0) and ex.poll() == []


def test_history_caches_stay_correct():
    """keys() and next_id() are kept incrementally (O(1) per set): they must agree with a
    recomputation after every kind of update."""
    space = Space.from_dict(SPACE)
    h = History()
    assert h.next_id() == 0 and h.keys(space) == set()
    h.add_set(SetRecord(0, {"x1": 1.0, "x2": 2.0}, [1]))
    assert h.keys(space) == {space.key({"x1": 1.0, "x2": 2.0})}
    h.add_set(SetRecord(5, {"x1": 3.0, "x2": 4.0}, [1]))
    assert h.next_id() == 6
    keys = h.keys(space)
    keys.add("junk")  # a caller's copy: the history is not changed
    assert h.keys(space) == {space.key(r.params) for r in h.sets.values()}
    h.add_set(SetRecord(5, {"x1": 0.5, "x2": 0.5}, [1]))  # replaced
    assert h.keys(space) == {space.key(r.params) for r in h.sets.values()}
    other = Space.from_dict({"x1": {"low": -5.0, "high": 10.0}, "x2": {"low": 0.0, "high": 15.0}})
    assert h.keys(other) == {other.key(r.params) for r in h.sets.values()}


# --- trial-level scheduling (slots.py, shared with the MPI executor) -----------------------

def test_trial_level_a_worker_that_finishes_early_starts_the_next_set_groups_only_waits():
    """1 group of 2 workers, sets of 2 trials: trial 0 takes 10 s, trial 1 takes 30 s
    (durations by seed). Groups only: set 1 starts at 30 s when its group is whole again.
    Trial level: worker 0 is free at 10 s and starts set 1's trial 0 there, and its trial 1
    at 20 s (worker 0 again, free before worker 1)."""
    class BySeed(DurationModel):
        def __call__(self, params, trial, seed):
            return 10.0 if trial == 0 else 30.0

    starts = {}
    for trial_level in (False, True):
        r = run("nested_async", budget=2, trials=2, n_groups=1, group_size=2, durations=BySeed(),
                trial_level=trial_level)
        starts[trial_level] = sorted(t.started for t in r.history.sets[1].trials.values())
    assert starts[False] == [30.0, 30.0]
    assert starts[True] == [10.0, 20.0]


class _ExtendsSetZero:
    """A strategy whose first set is followed by single extra trials of set 0 (as
    confirmation trials or adaptive top-ups are), until set 0 has four trials."""

    def __init__(self, space):
        self.space, self.calls = space, []

    def propose(self, history, n, rng):
        from hyppo_hep.trial import Proposal

        self.calls.append(n)
        if not history.sets:
            return [{"x1": 1.0, "x2": 2.0}]
        return [Proposal.more_trials(0, 1)] * max(0, min(n, 4 - history.sets[0].n_trials))


def test_the_driver_fills_every_idle_worker_with_single_extra_trials():
    """1 group of 4 workers, a set of 2 trials: the two workers left idle get the two extra
    trials of set 0 at time 0 (asked again while the Search hands out single trials), not
    one of them per result."""
    space = Space.from_dict(SPACE)
    strat = _ExtendsSetZero(space)
    ex = SimulatedExecutor(ObjectiveRef("branin"), 1, 4, CONST, charge_proposals=False)
    search = Search(space, strat, budget=2, trials=2, seed=1, clock=ex.clock)
    Driver(search, ex).run()
    rec = search.history.sets[0]
    assert sorted(rec.trials) == [0, 1, 2, 3]
    assert [t.started for t in rec.trials.values()] == [0.0] * 4


class _SlowFit:
    """``rbf`` whose every proposal costs ``cost`` seconds on the charged clock."""

    def __init__(self, inner, clock, cost):
        self.inner, self.clock, self.cost, self.calls = inner, clock, cost, 0

    def propose(self, history, n, rng):
        self.calls += 1
        self.clock.t += self.cost
        return self.inner.propose(history, n, rng)


def test_a_result_that_arrives_during_a_fit_waits_for_at_most_that_fit_and_free_groups_share_one():
    """A 50 s proposal on the virtual clock (trials take 100 s, 4 groups of 1): every result
    is journalled at most one fit after its trial ended, and each ask proposes for every
    free group at once (fewer fits than sets)."""
    class Clock:
        t = 0.0

        def __call__(self):
            return self.t

    clock = Clock()
    space = Space.from_dict(SPACE)
    strat = _SlowFit(build("rbf", {}, space, 24), clock, 50.0)
    ex = SimulatedExecutor(ObjectiveRef("branin"), 4, 1, DurationModel(base=100.0, sigma_set=0.3, sigma_trial=0.0),
                           proposal_clock=clock)
    search = Search(space, strat, budget=24, trials=1, seed=1, clock=ex.clock)
    Driver(search, ex).run()
    trials = [t for rec in search.history.sets.values() for t in rec.trials.values()]
    lags = [rec.finished - max(t.finished for t in rec.trials.values()) for rec in search.history.sets.values()]
    assert len(trials) == 24
    assert max(lags) <= 50.0 + 1e-6 and max(lags) > 0  # a fit did delay some result, by one fit at most
    assert strat.calls < 24
