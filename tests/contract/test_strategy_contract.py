"""The contract every registered strategy keeps (the pattern of Optuna's optuna/testing
sampler tests): whatever it does inside, ``propose(history, n, rng)``

- returns at most ``n`` proposals (exactly ``n`` at the start of a search);
- never proposes a set already evaluated, failed or pending (a multi-fidelity promotion is
  a new set: the same hyperparameters at a larger budget);
- proposes points of the lattice (decode(encode(params)) gives the params back) carrying
  every parameter of the space;
- keeps away from pending sets it has not heard back from (asynchronous workers);
- is deterministic for a seed;
- on a finite space, hands out every set exactly once and then nothing (ordinary strategies).

The history is fed as the driver feeds it: each proposal becomes a pending set, trials come
back later, some sets stay pending while the next proposals are asked.
"""

import dataclasses
import math

import numpy as np
import pytest

from hyppo_hep.history import History, SetRecord, TrialRecord
from hyppo_hep.space import Space
from hyppo_hep.strategy import base

# A mixed space: integer lattice, scaled lattice, categorical, float, fixed epochs (the
# resource that multi-fidelity strategies set).
MIXED = {"a": {"lower": 1, "upper": 6}, "lr": {"lower": 1, "upper": 200, "scaling": 5e-5},
         "act": {"choices": ["relu", "tanh", "gelu"]}, "drop": {"low": 0.0, "high": 0.5}, "epochs": 9}
FINITE = {"a": {"lower": 1, "upper": 2}, "b": {"lower": 1, "upper": 3, "scaling": 0.5},
          "act": {"choices": ["relu", "tanh"]}, "epochs": 9}
BUDGET = 30
# Options a strategy needs to be built at all (none today); everything else runs on defaults.
OPTIONS: dict[str, dict] = {}


def registered() -> list[str]:
    return sorted(base.STRATEGIES)


def make(name: str, spec: dict, budget: int = BUDGET):
    space = Space.from_dict(spec)
    return space, base.build(name, OPTIONS.get(name, {}), space, budget)


def unpack(prop) -> tuple[dict, int | None, int | None, int | None, int | None]:
    """(params, resource, rung, bracket, config_id) of a plain params dict or a Proposal."""
    if isinstance(prop, dict):
        return dict(prop), None, None, None, None
    assert isinstance(getattr(prop, "params", None), dict), f"not a params dict nor a Proposal: {prop!r}"
    return dict(prop.params), prop.resource, prop.rung, prop.bracket, prop.config_id


def identity(space: Space, prop) -> tuple:
    params, budget, *_ = unpack(prop)
    return space.key(params), budget


def submit(history: History, prop, trials: int = 2) -> SetRecord:
    """What the driver does with a proposal: a pending set with its seeds."""
    params, budget, rung, bracket, config = unpack(prop)
    sid = history.next_id()
    names = {f.name for f in dataclasses.fields(SetRecord)}
    mf = {"resource": budget, "config_id": config} if "resource" in names else {"budget": budget, "config": config}
    rec = SetRecord(sid, params, [1000 * sid + t for t in range(trials)], submitted=float(sid), rung=rung,
                    bracket=bracket, **mf)
    history.add_set(rec)
    return rec


def score(space: Space, params: dict, trial: int) -> float:
    """A smooth, deterministic landscape over the unit cube, more epochs slightly better."""
    u = space.encode(params)
    return float(np.sum((u - 0.3) ** 2) + 0.01 * trial - 0.01 * math.log(1 + float(params.get("epochs", 1))))


def finish(history: History, space: Space, rec: SetRecord, clock: list) -> None:
    for t, seed in enumerate(rec.seeds):
        history.add_trial(rec.set_id, TrialRecord(t, seed, score(space, rec.params, t)))
    clock[0] += 1.0
    history.complete(rec.set_id, 1, clock[0])


def run(name: str, spec: dict, limit: int, batch: int = 3, keep_pending: int = 2, seed: int = 7):
    """Ask ``batch`` at a time, as asynchronous workers would: after each ask, finish the
    oldest pending sets but ``keep_pending``. Returns (space, every proposal in order)."""
    space, strategy = make(name, spec)
    history, rng, clock = History(), np.random.default_rng(seed), [0.0]
    proposals: list = []
    for _ in range(10 * limit):
        if len(proposals) >= limit:
            break
        props = strategy.propose(history, batch, rng)
        assert len(props) <= batch
        if not props and not history.pending:
            break
        proposals += props
        for p in props:
            submit(history, p)
        pending = sorted(history.pending, key=lambda r: r.set_id)
        for rec in pending[:max(0, len(pending) - keep_pending) if props else len(pending)]:
            finish(history, space, rec, clock)
    return space, proposals


@pytest.fixture(params=registered())
def name(request):
    return request.param


def test_honours_n_at_the_start(name):
    for n in (1, 2, 4):
        space, strategy = make(name, MIXED)
        props = strategy.propose(History(), n, np.random.default_rng(0))
        assert len(props) == n
        assert len({identity(space, p) for p in props}) == n


def test_never_repeats_an_evaluated_failed_or_pending_set(name):
    space, props = run(name, MIXED, limit=BUDGET)
    assert len(props) >= 10
    ids = [identity(space, p) for p in props]
    assert len(ids) == len(set(ids)), "a set was proposed twice"


def test_proposals_are_lattice_points_with_every_parameter(name):
    space, props = run(name, MIXED, limit=15)
    for p in props:
        params, budget, *_ = unpack(p)
        assert set(params) == set(space.names) | set(space.fixed), params
        free = {n: params[n] for n in space.names}
        assert {n: v for n, v in space.decode(space.encode(params)).items() if n in free} == free
        for n, v in space.fixed.items():
            assert params[n] == (budget if budget is not None and n == "epochs" else v)


def test_keeps_away_from_pending_sets(name):
    space, strategy = make(name, MIXED)
    history, rng = History(), np.random.default_rng(3)
    first = strategy.propose(history, 4, rng)
    for p in first:
        submit(history, p)  # in flight, nothing heard back
    second = strategy.propose(history, 4, rng)
    assert second, "a strategy must not stall while sets are pending (workers would idle)"
    taken = {identity(space, p) for p in first}
    assert not taken & {identity(space, p) for p in second}


def test_failed_sets_are_not_proposed_again(name):
    space, strategy = make(name, MIXED)
    history, rng = History(), np.random.default_rng(5)
    failed = []
    for p in strategy.propose(history, 4, rng):
        rec = submit(history, p)
        for t, s in enumerate(rec.seeds):
            history.add_trial(rec.set_id, TrialRecord(t, s, None, error="diverged"))
        history.complete(rec.set_id, 1, 1.0)
        failed.append(identity(space, p))
    assert all(r.state == "failed" for r in history.sets.values())
    again = strategy.propose(history, 4, rng)
    assert again and not set(failed) & {identity(space, p) for p in again}


def test_deterministic_for_a_seed(name):
    _, a = run(name, MIXED, limit=12, seed=11)
    _, b = run(name, MIXED, limit=12, seed=11)
    assert [unpack(p) for p in a] == [unpack(p) for p in b]


def test_a_finite_space_is_handed_out_once(name):
    space, props = run(name, FINITE, limit=200, batch=4, keep_pending=1)
    assert space.size() == 12
    ids = [identity(space, p) for p in props]
    assert len(ids) == len(set(ids))
    plain = [p for p in props if unpack(p)[1] is None]
    if len(plain) == len(props):  # ordinary strategies: every set once, then nothing
        assert len(props) == 12
    else:  # multi-fidelity: at most the 12 configurations, each at a few budgets
        assert len({space.key(unpack(p)[0]) for p in props}) <= 12
