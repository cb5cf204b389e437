"""ASHA: rung budgets, promotions when completions arrive out of order (constructed and real)."""

import numpy as np
import pytest

from hyppo_hep.driver import Driver
from hyppo_hep.search import Search
from hyppo_hep.trial import Proposal
from hyppo_hep.executor.pool import PoolExecutor
from hyppo_hep.history import DONE, FAILED, PENDING, History, SetRecord, TrialRecord
from hyppo_hep.journal import read_events
from hyppo_hep.objectives.registry import ObjectiveRef
from hyppo_hep.space import Space
from hyppo_hep.strategy import build
from hyppo_hep.strategy.asha import asha_promotion, asha_rungs

SPACE = {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1},
         "epochs": 9}


def test_rung_budgets():
    assert asha_rungs(27, 3) == [1, 3, 9, 27]
    assert asha_rungs(81, 3, min_budget=3) == [3, 9, 27, 81]
    assert asha_rungs(1, 3) == [1]
    # each rung eta times the one below, counted from the top: no rung 27 under 30, no 99 under 100
    assert asha_rungs(30, 3) == [1, 3, 10, 30]
    assert asha_rungs(100, 3, min_budget=11) == [11, 33, 100]
    assert asha_rungs(100, 2, min_budget=10) == [12, 25, 50, 100]


def _rung0(h: History, set_id: int) -> SetRecord:
    rec = SetRecord(set_id, {"x1": float(set_id), "x2": 0.0, "epochs": 1}, [set_id], resource=1, rung=0,
                    config_id=set_id)
    h.add_set(rec)
    return rec


def _finish(rec: SetRecord, score) -> None:
    rec.trials[0] = TrialRecord(0, rec.seeds[0], score)
    rec.state = DONE if score is not None else FAILED


def _rungs(h):
    out = {}
    for r in h.sets.values():
        out.setdefault(r.rung, []).append(r)
    return out


def test_promotions_follow_out_of_order_completions():
    h = History()
    recs = [_rung0(h, i) for i in range(7)]
    # completions arrive in the order 3, 1, 4, ... (not submission order)
    _finish(recs[3], 2.0)
    _finish(recs[1], 5.0)
    assert asha_promotion(_rungs(h), 3, eta=3) is None  # 2 finished: top floor(2/3) = none
    _finish(recs[4], 1.0)
    rec, to = asha_promotion(_rungs(h), 3, eta=3)  # 3 finished: the best one goes up
    assert (rec.set_id, to) == (4, 1)
    h.add_set(SetRecord(7, {**rec.params, "epochs": 3}, rec.seeds, resource=3, rung=1, config_id=4))
    assert asha_promotion(_rungs(h), 3, eta=3) is None  # 4 is promoted (still running above)
    _finish(recs[6], None)  # a failed set counts as finished but is never promoted
    assert asha_promotion(_rungs(h), 3, eta=3) is None  # 4 finished: top 1 = {4}, up already
    _finish(recs[0], 0.5)  # 5 finished: top 1 is now 0, better than 4 (4 stays promoted)
    rec, to = asha_promotion(_rungs(h), 3, eta=3)
    assert (rec.set_id, to) == (0, 1)
    # the strategy returns that promotion first, then new configurations at rung 0
    strat = build("asha", {}, Space.from_dict(SPACE), 100)
    props = strat.propose(h, 3, np.random.default_rng(0))
    assert isinstance(props[0], Proposal) and (props[0].config, props[0].rung, props[0].budget) == (0, 1, 3)
    assert props[0].params == {"x1": 0.0, "x2": 0.0, "epochs": 3}
    assert all(p.rung == 0 and p.budget == 1 and p.config is None and p.params["epochs"] == 1 for p in props[1:])
    h.add_set(SetRecord(8, props[0].params, rec.seeds, resource=3, rung=1, config_id=0))
    _finish(recs[2], 3.0)  # 6 finished: top 2 = {0, 4}, both up; recs[5] still pending
    assert asha_promotion(_rungs(h), 3, eta=3) is None
    assert recs[5].state == PENDING


def test_higher_rungs_promote_first():
    h = History()
    for i in range(3):
        _finish(_rung0(h, i), float(i))
    for j, (cfg, score) in enumerate([(0, 0.1), (1, 0.2), (2, 0.3)]):
        rec = SetRecord(10 + j, {"x1": float(cfg), "x2": 0.0, "epochs": 3}, [cfg], resource=3, rung=1, config_id=cfg)
        h.add_set(rec)
        _finish(rec, score)
    rec, to = asha_promotion(_rungs(h), 3, eta=3)
    assert (rec.config_id, to) == (0, 2)


@pytest.mark.slow
def test_asynchronous_pool_run_promotes_only_the_top_of_what_had_finished(tmp_path):
    """Two processes, one trial per set, budgets of different lengths: sets finish out of
    submission order. At each promotion's submission (journal order), its configuration was
    in the top 1/eta of the sets of that rung finished so far."""
    from hyppo_hep.journal import Journal

    space = Space.from_dict(SPACE)
    strat = build("asha", {}, space, 40)
    journal = Journal(tmp_path / "j.jsonl")
    ex = PoolExecutor(ObjectiveRef("curve", {"sleep": 0.01}), workers=2)
    try:
        Driver(Search(space, strat, budget=40, trials=1, seed=4, journal=journal), ex).run()
    finally:
        ex.close()
        journal.close()
    finished: dict[int, list] = {}  # rung -> [(config, mean)]
    sub = {}
    order_submitted, order_finished = [], []
    n_promotions = 0
    for ev in read_events(tmp_path / "j.jsonl"):
        if ev["event"] == "set_submitted":
            sub[ev["set_id"]] = ev
            order_submitted.append(ev["set_id"])
            if ev["rung"] > 0:
                n_promotions += 1
                below = sorted(finished.get(ev["rung"] - 1, []), key=lambda cm: cm[1])
                top = {c for c, _ in below[:len(below) // 3]}
                assert ev["config_id"] in top
                assert ev["resource"] == [1, 3, 9][ev["rung"]] == ev["params"]["epochs"]
        elif ev["event"] == "set_finished":
            order_finished.append(ev["set_id"])
            s = sub[ev["set_id"]]
            if ev["state"] == "done":
                finished.setdefault(s["rung"], []).append((s["config_id"], ev["mean"]))
        elif ev["event"] == "trial_finished":
            assert ev["info"]["epochs_run"] == sub[ev["set_id"]]["resource"]  # the budget crossed the process
    assert n_promotions >= 5
    assert order_finished != sorted(order_finished)  # completions really were out of order
