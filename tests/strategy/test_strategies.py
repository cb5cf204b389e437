import numpy as np
import pytest

import hyppo_hep
from hyppo_hep.design import latin_hypercube, random_design
from hyppo_hep.driver import trial_seeds
from hyppo_hep.history import History, SetRecord
from hyppo_hep.space import Space
from hyppo_hep.strategy import build

from tests.conftest import drain


def history_with(space, params_list, state="done"):
    h = History()
    for i, p in enumerate(params_list):
        h.add_set(SetRecord(i, p, trial_seeds(0, i, 1), state=state))
    return h


def test_lhs_fills_every_stratum(table1_space):
    n = 10
    U = latin_hypercube(table1_space, n, np.random.default_rng(0))
    assert U.shape == (n, 6)
    for j in range(6):
        strata = np.minimum((U[:, j] * n).astype(int), n - 1)
        # snapping to a lattice of >= 57 levels moves a point by < half a stratum width at most
        assert len(set(strata)) >= n - 1


def test_designs_are_distinct_and_avoid_excluded():
    space = Space.from_dict({"a": {"lower": 0, "upper": 3}, "b": {"choices": ["x", "y"]}})  # 8 points
    rng = np.random.default_rng(0)
    U = random_design(space, 8, rng)
    assert len({tuple(u) for u in U}) == 8
    first = {tuple(np.round(u, 9)) for u in U[:3]}
    U2 = latin_hypercube(space, 8, rng, exclude=first)
    assert len(U2) == 5 and not first & {tuple(np.round(u, 9)) for u in U2}


@pytest.mark.parametrize("name", ["random", "lhs", "grid"])
def test_never_proposes_evaluated_or_pending(name):
    space = Space.from_dict({"a": {"lower": 0, "upper": 4}, "b": {"lower": 0, "upper": 3}})  # 20 points
    strat = build(name, {}, space, 20)

    def record(h, p, n_seen):  # alternate: some stay pending, some are done — both must be avoided
        h.add_set(SetRecord(h.next_id(), p, [0], state="pending" if n_seen % 2 else "done"))

    seen = drain(strat, space, record)
    assert len(seen) == 20


def test_grid_visits_whole_small_grid_in_order():
    space = Space.from_dict({"a": {"lower": 1, "upper": 3}, "b": {"choices": ["x", "y"]}})
    strat = build("grid", {}, space, 100)
    props = strat.propose(History(), 10, np.random.default_rng(0))
    assert [(p["a"], p["b"]) for p in props] == [(1, "x"), (1, "y"), (2, "x"), (2, "y"), (3, "x"), (3, "y")]


def test_grid_too_large_is_config_error(table1_space):
    from hyppo_hep.errors import ConfigError

    with pytest.raises(ConfigError, match="grid search over"):
        build("grid", {}, table1_space, 100)


@pytest.mark.parametrize("name", ["random", "lhs"])
def test_proposals_deterministic_for_seed(name, table1_space):
    a = build(name, {}, table1_space, 30).propose(History(), 5, np.random.default_rng(7))
    b = build(name, {}, table1_space, 30).propose(History(), 5, np.random.default_rng(7))
    assert a == b


def test_trial_seeds_are_stable_and_distinct():
    s = trial_seeds(1, 4, 5)
    assert s == trial_seeds(1, 4, 5)
    assert len(set(s)) == 5 and set(s).isdisjoint(trial_seeds(1, 5, 5)) and s != trial_seeds(2, 4, 5)


@pytest.mark.parametrize("strategy", ["random", "lhs", "grid", "rbf", "gp", "hyperband", "asha", "bohb"])
def test_a_space_of_fixed_values_only_runs_its_one_set(tmp_path, strategy):
    def f(params, trial, seed, device):
        return float(params["a"] + trial)

    res = hyppo_hep.minimize(f, {"a": 3, "b": "x", "epochs": 3}, budget=4, trials=2, strategy=strategy)
    assert [r["params"]["a"] for r in res.ranked][:1] == [3] and len(res.history.sets) >= 1
    assert all(r.state == "done" for r in res.history.sets.values())


def test_lhs_with_a_huge_budget_sizes_its_design_by_what_can_be_proposed():
    import numpy as np

    from hyppo_hep.design import MAX_DESIGN
    from hyppo_hep.history import History
    from hyppo_hep.space import Space
    from hyppo_hep.strategy import build

    lattice = Space.from_dict({"a": {"lower": 1, "upper": 10}, "b": {"lower": 1, "upper": 7}})
    strat = build("lhs", {}, lattice, 10**9)
    assert len(strat.propose(History(), 3, np.random.default_rng(0))) == 3
    assert strat._design.shape == (70, 2)  # the lattice has 70 points
    floats = Space.from_dict({"a": {"low": 0.0, "high": 1.0}, "b": {"low": 0.0, "high": 1.0}})
    strat = build("lhs", {}, floats, 10**9)
    assert len(strat.propose(History(), 3, np.random.default_rng(0))) == 3
    assert strat._design.shape == (MAX_DESIGN, 2)
