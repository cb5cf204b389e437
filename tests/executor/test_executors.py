"""Every local executor runs the same search to the same journal content (contract test)."""

import pytest

from hyppo_hep.driver import Driver
from hyppo_hep.search import Search
from hyppo_hep.executor.base import TrialSpec, run_trial
from hyppo_hep.executor.pool import PoolExecutor
from hyppo_hep.executor.serial import SerialExecutor
from hyppo_hep.objectives.registry import ObjectiveRef
from hyppo_hep.space import Space
from hyppo_hep.strategy import build

SPACE = {"x1": {"lower": -5, "upper": 10}, "x2": {"lower": 0, "upper": 15}}


def run_search(executor, budget=8, trials=3):
    space = Space.from_dict(SPACE)
    strat = build("lhs", {}, space, budget)
    try:
        return Driver(Search(space, strat, budget=budget, trials=trials, seed=5), executor).run().history
    finally:
        executor.close()


@pytest.fixture(params=["serial", "pool", "simulated"])
def make_executor(request):
    def make(ref):
        if request.param == "simulated":  # the scaling studies' executor obeys the same contract
            from hyppo_hep.simulate import DurationModel, SimulatedExecutor

            return SimulatedExecutor(ref, 2, 2, DurationModel(base=1.0))
        return SerialExecutor(ref) if request.param == "serial" else PoolExecutor(ref, workers=2)
    return make


def test_executor_contract(make_executor):
    ref = ObjectiveRef("branin")
    h = run_search(make_executor(ref))
    assert len(h.sets) == 8 and all(r.state == "done" and r.n_ok == 3 for r in h.sets.values())
    # same seeds -> same scores as calling the objective directly
    obj = ref.build()
    for rec in h.sets.values():
        for t, trial in rec.trials.items():
            assert trial.score == pytest.approx(obj(rec.params, t, rec.seeds[t], "cpu"), rel=1e-12)


def test_failures_are_recorded_not_raised(make_executor):
    h = run_search(make_executor(ObjectiveRef("failing", {"fail_rate": 0.3, "nan_rate": 0.2})), budget=6, trials=4)
    trials = [t for r in h.sets.values() for t in r.trials.values()]
    assert len(trials) == 24
    failed = [t for t in trials if not t.ok]
    assert failed, "the injected failures must show up"
    assert any("injected failure" in (t.error or "") for t in failed)
    assert any("non-finite" in (t.error or "") for t in failed)
    for rec in h.sets.values():
        assert rec.state == ("done" if rec.n_ok >= 1 else "failed")


@pytest.mark.slow
def test_pool_runs_trials_concurrently():
    ex = PoolExecutor(ObjectiveRef("branin", {"sleep": 0.5}), workers=2)
    try:
        ex.submit(TrialSpec(0, {"x1": 0, "x2": 0}, (0, 1), (1, 2)))
        results = []
        while len(results) < 2:
            results += ex.poll()
    finally:
        ex.close()
    a, b = sorted(results, key=lambda r: r.started)
    assert b.started < a.finished, "the two trials of one set overlap in time"


def test_run_trial_dict_return_keeps_info():
    res = run_trial(lambda p, t, s, d: {"score": 1.5, "best_epoch": 3}, {}, 0, 0, 1, "cpu", "w")
    assert res.score == 1.5 and res.info == {"best_epoch": 3} and res.ok
