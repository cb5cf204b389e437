"""Multi-objective search: Pareto arithmetic, option checks, proposals, a search end to end."""

import itertools
import math

import numpy as np
import pytest

import hyppo_hep
from hyppo_hep.errors import ConfigError, UserError
from hyppo_hep.simulate import DurationModel, simulate
from hyppo_hep.history import History, SetRecord, TrialRecord
from hyppo_hep.objectives.registry import ObjectiveRef
from hyppo_hep.space import Space
from hyppo_hep.strategy import build
from hyppo_hep.strategy import hypervolume as hv
from hyppo_hep.strategy.multiobjective import (MultiObjectiveStrategy, check_options, front_hypervolume,
                                              front_rows, hypervolume_progress, objective_matrix, pareto_front,
                                              parse_objectives)

# --- hypervolume and sorting -----------------------------------------------------------------


def test_hypervolume_2d_by_hand():
    # three steps of a staircase below (4, 4): 3x1 + 2x1 + 1x1
    assert hv.hypervolume(np.array([[1, 3], [2, 2], [3, 1]]), np.array([4, 4])) == pytest.approx(6.0)
    # a dominated point and one beyond the reference add nothing
    assert hv.hypervolume(np.array([[1, 3], [2, 2], [3, 1], [3, 3], [0, 5]]), np.array([4, 4])) == pytest.approx(6.0)
    assert hv.hypervolume(np.empty((0, 2)), np.array([1, 1])) == 0.0


def test_hypervolume_3d_by_hand():
    assert hv.hypervolume(np.array([[1, 2, 3]]), np.array([4, 4, 4])) == pytest.approx(6.0)
    # boxes 3x3x1 and 1x1x3 overlapping in the unit cube [2,3]^3: 9 + 3 - 1
    assert hv.hypervolume(np.array([[0, 0, 2], [2, 2, 0]]), np.array([3, 3, 3])) == pytest.approx(11.0)


def _lattice_count(P: np.ndarray, ref: np.ndarray) -> int:
    """Unit cells [c, c + 1) below ``ref`` whose corner c some integer point of P dominates."""
    lo = P.min(axis=0)
    count = 0
    for c in itertools.product(*[range(int(a), int(r)) for a, r in zip(lo, ref)]):
        count += bool(np.any(np.all(P <= np.array(c), axis=1)))
    return count


@pytest.mark.parametrize("k", [2, 3, 4])
def test_hypervolume_matches_cell_counting(k):
    rng = np.random.default_rng(k)
    ref = np.full(k, 7)
    for _ in range(5):
        P = rng.integers(0, 8, size=(rng.integers(1, 9), k))  # some beyond ref, some duplicates
        inside = P[np.all(P < ref, axis=1)]
        expected = _lattice_count(inside, ref) if len(inside) else 0
        assert hv.hypervolume(P, ref) == pytest.approx(expected)


def test_hypervolume_improvement_is_the_difference_of_hypervolumes():
    rng = np.random.default_rng(0)
    for k in (2, 3, 4):
        front = rng.random((6, k))
        V = rng.random((20, k))
        ref = np.full(k, 1.1)
        gain = hv.hypervolume_improvement(front, V, ref)
        expected = [hv.hypervolume(np.vstack([front, v]), ref) - hv.hypervolume(front, ref) for v in V]
        np.testing.assert_allclose(gain, expected, atol=1e-12)
        dominated = np.array([np.any(np.all(front <= v, axis=1)) for v in V])
        assert np.all(gain[dominated] == 0) and np.all(gain[~dominated] > 0)


def test_non_dominated_sort_by_hand():
    F = np.array([[1, 4], [2, 2], [4, 1], [3, 3], [2, 2], [5, 5], [4, 4], [np.nan, 0]])
    np.testing.assert_array_equal(hv.non_dominated_sort(F), [0, 0, 0, 1, 0, 3, 2, 4])
    np.testing.assert_array_equal(hv.pareto_mask(F), [1, 1, 1, 0, 1, 0, 0, 0])


def test_non_dominated_sort_ranks_are_layers():
    F = np.random.default_rng(1).random((60, 3))
    ranks = hv.non_dominated_sort(F)
    for i, j in itertools.permutations(range(len(F)), 2):
        if hv.dominates(F[i], F[j]):
            assert ranks[i] < ranks[j]
    for i in np.flatnonzero(ranks > 0):  # every later layer is dominated by the one before
        assert any(hv.dominates(F[j], F[i]) for j in np.flatnonzero(ranks == ranks[i] - 1))


def test_additive_epsilon_by_hand():
    front = np.array([[1.0, 1.0], [0.0, 3.0]])
    eps = hv.additive_epsilon(front, np.array([[2.0, 3.0], [0.5, 0.5], [1.0, 1.0]]))
    # (2, 3): (1, 1) beats it by min(1, 2) = 1 and (0, 3) by min(2, 0) = 0; a new point: 0;
    # a copy of a front point sits on the front: 0
    np.testing.assert_allclose(eps, [1.0, 0.0, 0.0])


def test_chebyshev_minimisers_cover_a_concave_front():
    t = np.linspace(0, 1, 101)
    front = np.stack([t, 1 - t**2], axis=1)  # concave: weighted sums find only the two ends
    picks = {int(np.argmin(hv.chebyshev(front, np.array([w, 1 - w])))) for w in np.linspace(0.05, 0.95, 7)}
    assert len(picks) == 7


# --- options and objective values -------------------------------------------------------------


@pytest.mark.parametrize("options, path", [
    ({"objectives": ["mean"]}, "strategy.objectives"),
    ({"objectives": []}, "strategy.objectives"),
    ({"objectives": "mean"}, "strategy.objectives"),
    ({"objectives": ["mean", "size"]}, "strategy.objectives[1]"),
    ({"objectives": ["mean", "mean"]}, "strategy.objectives[1]"),
    ({"objectives": ["mean", {"name": "n_params", "log": "yes"}]}, "strategy.objectives[1].log"),
    ({"objectives": ["mean", {"log": True}]}, "strategy.objectives[1].name"),
    ({"objectives": ["mean", {"name": "std", "scale": 2}]}, "strategy.objectives[1].scale"),
    ({"objectives": ["mean", "info."]}, "strategy.objectives[1]"),
    ({"objectives": ["mean", "std"], "surrogate": "tree"}, "strategy.surrogate"),
    ({"objectives": ["mean", "std"], "acquisition": "ehvi"}, "strategy.acquisition"),
    ({"objectives": ["mean", "std"], "initial": 0}, "strategy.initial"),
    ({"objectives": ["mean", "std"], "weights": [0.5, 2]}, "strategy.weights"),
    ({"objectives": ["mean", "std"], "beta": -1}, "strategy.beta"),
    ({"objectives": ["mean", "std"], "k_std": 1}, "strategy.k_std"),
])
def test_bad_options_name_their_key(options, path):
    with pytest.raises(ConfigError) as err:
        check_options(options)
    assert err.value.path == path and "\n" not in str(err.value)
    with pytest.raises(ConfigError) as err:  # the registry's build checks the same way
        build("multiobjective", options, Space.from_dict(SPACE), 20)
    assert err.value.path == path


def test_default_objectives_are_mean_and_std():
    check_options({})
    strat = build("multiobjective", {}, Space.from_dict(SPACE), 20)
    assert [o.label for o in strat.objectives] == ["mean", "std"]


def test_good_options_build():
    opts = {"objectives": ["mean", "std", {"name": "n_params", "log": True}, "info.gen_time"],
            "surrogate": "gp", "acquisition": "chebyshev", "initial": 5, "weights": [0.5, 1]}
    check_options(opts)
    strat = build("multiobjective", opts, Space.from_dict(SPACE), 20)
    assert [o.label for o in strat.objectives] == ["mean", "std", "log(n_params)", "info.gen_time"]


SPACE = {"x": {"lower": 0, "upper": 30}, "y": {"lower": 0, "upper": 30}}


def _record(history, params, scores, info=None, state="done"):
    rec = SetRecord(history.next_id(), params, list(range(len(scores))))
    history.add_set(rec)
    for t, s in enumerate(scores):
        history.add_trial(rec.set_id, TrialRecord(t, t, s, info=dict(info or {})))
    if state != "pending":
        history.complete(rec.set_id)
    return rec


def test_objective_values_and_their_noise():
    h = History()
    rec = _record(h, {"x": 1, "y": 2}, [1.0, 2.0, 3.0], {"n_params": 100.0, "t": 2.0})
    objectives = parse_objectives(["mean", "std", {"name": "n_params", "log": True}, "info.t"])
    Y, V = objective_matrix([rec], objectives)
    np.testing.assert_allclose(Y[0], [2.0, 1.0, math.log(100.0), 2.0])
    np.testing.assert_allclose(V[0], [1.0 / 3, 1.0 / 4, 0.0, 0.0])
    Y, _ = objective_matrix([rec], parse_objectives(["info.missing", {"name": "mean", "log": True}]))
    assert math.isnan(Y[0, 0]) and Y[0, 1] == pytest.approx(math.log(2.0))


def test_pareto_front_and_its_hypervolume():
    h = History()
    a = _record(h, {"x": 0, "y": 0}, [1.0, 1.0])          # mean 1, std 0
    b = _record(h, {"x": 1, "y": 0}, [0.0, 1.0])          # mean 0.5, std 0.71
    _record(h, {"x": 2, "y": 0}, [1.0, 2.0])              # mean 1.5, std 0.71: dominated
    _record(h, {"x": 3, "y": 0}, [0.0, 0.0], state="pending")
    assert [r.set_id for r in pareto_front(h, ["mean", "std"])] == [b.set_id, a.set_id]
    s = math.sqrt(0.5)
    # (0.5, s) and (1, 0) below (2, 1): (2 - 0.5)(1 - s) + (2 - 1)(s - 0)
    assert front_hypervolume(h, ["mean", "std"], ref=[2, 1]) == pytest.approx(1.5 * (1 - s) + s)
    rows = front_rows(h, ["mean", {"name": "std", "log": False}])
    assert [(r["set_id"], r["mean"], r["std"]) for r in rows] == [(b.set_id, 0.5, pytest.approx(s)),
                                                                   (a.set_id, 1.0, 0.0)]
    # completion order a, b, dominated: the front grows at b only
    n, values = hypervolume_progress(h, ["mean", "std"], ref=[2, 1])
    np.testing.assert_allclose(values, [1.0, 1.5 * (1 - s) + s, 1.5 * (1 - s) + s])
    assert list(n) == [1, 2, 3]


# --- proposals ---------------------------------------------------------------------------------


def _toy(params, seed):
    """Two objectives on SPACE: the score falls with x while the trial spread grows with it."""
    x, y = params["x"] / 30, params["y"] / 30
    g = 1 + 4 * abs(y - 0.4)
    z = np.random.default_rng(seed).standard_normal()
    return g * (1 - math.sqrt(x / g)) + (0.02 + 0.3 * x) * z


@pytest.mark.slow
def test_proposals_are_new_lattice_points_away_from_pending():
    space = Space.from_dict(SPACE)
    strat = build("multiobjective", {"objectives": ["mean", "std", "n_params"], "initial": 5}, space, 60)
    rng = np.random.default_rng(0)
    h = History()
    for step in range(14):
        props = strat.propose(h, 3, rng)
        assert len(props) == 3
        keys = [space.key(p) for p in props]
        assert len(set(keys)) == 3 and not set(keys) & h.keys(space)
        for p in props:
            assert space.decode(space.encode(p)) == p and all(float(v).is_integer() for v in p.values())
        # the first of each batch finishes, the others stay pending for the next proposal
        for i, p in enumerate(props):
            info = {"n_params": 10.0 + p["x"] + p["y"]}
            _record(h, p, [_toy(p, s) for s in range(3)], info, state="done" if i == 0 else "pending")
    assert len(h.pending) == 28 and len(h.keys(space)) == 42


def test_pending_sets_count_as_reaching_their_prediction():
    strat = MultiObjectiveStrategy(Space.from_dict(SPACE), 40, objectives=["mean", "std"])
    front = np.array([[0.0, 1.0], [1.0, 0.0]])
    v = np.array([[0.4, 0.4], [0.5, 0.5]])
    alone = strat.acquisition_value(front, v, np.random.default_rng(0))
    assert np.all(alone < 0)  # both would add hypervolume
    # a pending set predicted at (0.4, 0.4) takes that gain: the second candidate, which it
    # dominates, now only ranks by its distance to the front
    liar = strat.acquisition_value(np.vstack([front, v[:1]]), v, np.random.default_rng(0))
    assert liar[0] == 0.0 and liar[1] == pytest.approx(0.1)


@pytest.mark.slow
def test_pending_sets_steer_the_next_proposal():
    # The same search state asked twice with the same random stream: first with nothing in
    # flight, then with that first proposal pending. Knowing the pending set's predicted
    # vector, the second proposal aims at another part of the front instead of the lattice
    # cell next door (measured: median move 7 lattice steps; 1 step when the pending set's
    # prediction is hidden from the strategy).
    space = Space.from_dict(SPACE)
    opts = {"objectives": ["mean", "std"], "initial": 8}
    moves = []
    for seed in range(8):
        h = History()
        rng = np.random.default_rng(seed)
        strat = build("multiobjective", opts, space, 40)
        for _ in range(14):
            (p,) = strat.propose(h, 1, rng)
            _record(h, p, [_toy(p, s) for s in range(4)])
        first = build("multiobjective", opts, space, 40).propose(h, 1, np.random.default_rng(9))[0]
        _record(h, first, [0.0], state="pending")
        second = build("multiobjective", opts, space, 40).propose(h, 1, np.random.default_rng(9))[0]
        moves.append(abs(first["x"] - second["x"]) + abs(first["y"] - second["y"]))
    assert min(moves) >= 1 and np.median(moves) >= 5, moves


def test_missing_info_objective_is_a_user_error():
    space = Space.from_dict(SPACE)
    strat = build("multiobjective", {"objectives": ["mean", "n_params"], "initial": 3}, space, 20)
    h = History()
    rng = np.random.default_rng(0)
    for _ in range(3):  # the initial design needs no values
        (p,) = strat.propose(h, 1, rng)
        _record(h, p, [_toy(p, s) for s in range(2)])
    with pytest.raises(UserError, match="n_params"):
        strat.propose(h, 1, rng)


def test_failed_sets_are_kept_away_from():
    space = Space.from_dict(SPACE)
    strat = build("multiobjective", {"objectives": ["mean", "std"], "initial": 6}, space, 30)
    h = History()
    rng = np.random.default_rng(2)
    for i in range(6):
        (p,) = strat.propose(h, 1, rng)
        _record(h, p, [_toy(p, s) for s in range(3)])
    bad = _record(h, {"x": 15, "y": 15}, [None, None])
    assert bad.state == "failed"
    props = strat.propose(h, 4, rng)
    assert {"x": 15, "y": 15} not in props and len(props) == 4


# --- end to end ----------------------------------------------------------------------------------


SPACE3 = {"x": {"lower": 0, "upper": 30}, "y": {"lower": 0, "upper": 30}, "w": {"lower": 0, "upper": 30}}


def _true3(params):
    """(mean, spread) of a ZDT1-like problem on SPACE3: the score falls with x, the trials'
    spread grows with it, y and w have interior optima."""
    x, y, w = params["x"] / 30, params["y"] / 30, params["w"] / 30
    g = 1 + 3 * (abs(y - 0.4) + abs(w - 0.7))
    return [g * (1 - math.sqrt(x / g)), 0.02 + 0.3 * x]


def _objective3(params, trial, seed, device):
    mean, spread = _true3(params)
    return mean + spread * np.random.default_rng(seed).standard_normal()


@pytest.mark.slow
def test_minimize_finds_a_better_front_than_random():
    def true_hv(result):  # of the evaluated sets' true (mean, spread), against a fixed reference
        return hv.hypervolume(np.array([_true3(r.params) for r in result.history.done]), np.array([1.1, 0.35]))

    mo = {"name": "multiobjective", "objectives": ["mean", "std"]}
    got = {name: [true_hv(hyppo_hep.minimize(_objective3, SPACE3, budget=30, trials=3, strategy=s, seed=seed))
                  for seed in range(3)]
           for name, s in (("mo", mo), ("random", "random"))}
    # measured: mo 0.23, 0.14, 0.18 against random 0.09, 0.14, 0.11
    assert np.median(got["mo"]) > 1.25 * np.median(got["random"]), got
    assert sum(a > b for a, b in zip(got["mo"], got["random"])) >= 2, got


@pytest.mark.slow
def test_runs_asynchronously_on_the_simulated_cluster():
    space = Space.from_dict({"noise_dim": {"lower": 1, "upper": 100, "scaling": 4},
                             "batch_size": {"lower": 8, "upper": 64, "scaling": 32},
                             "lr_gen": {"lower": 1, "upper": 200, "scaling": 5.0e-5},
                             "lr_disc": {"lower": 1, "upper": 200, "scaling": 5.0e-5},
                             "gen_layersize": {"lower": 8, "upper": 128, "scaling": 8},
                             "disc_layersize": {"lower": 8, "upper": 128, "scaling": 8}})
    strat = build("multiobjective", {"objectives": ["mean", "std", {"name": "n_params", "log": True}]}, space, 30)
    r = simulate("nested_async", space, strat, ObjectiveRef("gan_landscape", {"info": True}), budget=30, trials=2,
                 n_groups=4, group_size=2, durations=DurationModel(base=10.0, sigma_set=0.5), seed=3)
    done = r.history.done
    assert len(done) == 30 and len({space.key(x.params) for x in done}) == 30
    front = pareto_front(r.history, ["mean", "std", {"name": "n_params", "log": True}])
    assert 1 <= len(front) <= 30 and all(x.state == "done" for x in front)


def _mixed_objective(params, trial, seed, device):
    noise = np.random.default_rng(seed).standard_normal() * 0.1 * params["layers"]
    score = (params["lr_gen"] * 1e3 - 3) ** 2 + params["dropout"] + (params["activation"] == "tanh") + noise
    return {"score": score, "n_params": params["layers"] * params["noise_dim"]}


@pytest.mark.slow
def test_mixed_space_with_categorical_float_and_fixed_parameters(mixed_space):
    objectives = ["mean", "std", {"name": "n_params", "log": True}]
    res = hyppo_hep.minimize(_mixed_objective, mixed_space, budget=14, trials=2, seed=0,
                             strategy={"name": "multiobjective", "objectives": objectives, "initial": 6})
    sets = [r.params for r in res.history.done]
    assert len(sets) == 14 and len({mixed_space.key(p) for p in sets}) == 14
    for p in sets:
        assert p["activation"] in ("relu", "tanh", "gelu") and 0.0 <= p["dropout"] <= 0.5
        assert 1e-6 <= p["weight_decay"] <= 1e-2 and p["epochs"] == 20
        assert mixed_space.decode(mixed_space.encode(p)) == p
    rows = front_rows(res.history, objectives)
    assert rows and all(set(r) >= {"set_id", "mean", "std", "log(n_params)"} for r in rows)


# --- the top-level `objectives:` key and result.pareto (integration) --------------------------

def test_top_level_objectives_pick_the_multiobjective_strategy_and_the_result_has_a_front():
    from hyppo_hep.config import parse_config
    import hyppo_hep

    raw = {"objective": "branin", "space": {"x1": {"low": -5.0, "high": 10.0}, "x2": {"low": 0.0, "high": 15.0}},
           "objectives": ["mean", "std"], "budget": 6}
    cfg = parse_config(raw)
    assert cfg.strategy.name == "multiobjective" and cfg.strategy.options == {"objectives": ["mean", "std"]}
    assert parse_config({**raw, "objectives": ["mean"]}).strategy.name == "rbf"  # one objective: today's search
    res = hyppo_hep.minimize("branin", raw["space"], budget=10, trials=3, quiet=True,
                             strategy={"name": "multiobjective", "objectives": ["mean", "std"]})
    front = res.pareto
    assert front and set(front[0]) == {"set_id", "params", "n_ok", "mean", "std"}
    means = [r["mean"] for r in front]
    assert means == sorted(means)
    stds = [r["std"] for r in front]
    assert all(a > b for a, b in zip(stds, stds[1:]))  # along a 2-D front, better mean costs spread
    assert res.hypervolume > 0


@pytest.mark.parametrize("extra, message", [
    ({"objectives": ["mean", "std"], "strategy": "rbf"}, "strategy must be 'multiobjective'"),
    ({"objectives": "mean"}, "must be a list"),
    ({"objectives": ["mean", "bogus"]}, r"objectives\[1\]"),
])
def test_bad_objectives_are_refused_at_parse_time(extra, message):
    from hyppo_hep.config import parse_config
    from hyppo_hep.errors import ConfigError

    raw = {"objective": "branin", "space": {"x1": {"low": -5.0, "high": 10.0}}, **extra}
    with pytest.raises(ConfigError, match=message):
        parse_config(raw)
