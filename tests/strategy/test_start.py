"""strategy/start.py: known sets (``strategy: {..., start: [...]}``) are evaluated first."""

import pickle

import numpy as np
import pytest
import yaml

import hyppo_hep
from hyppo_hep.errors import ConfigError
from hyppo_hep.history import DONE, History, SetRecord, TrialRecord
from hyppo_hep.run import main
from hyppo_hep.space import Space
from hyppo_hep.strategy.base import build

SPACE = {"x": {"low": 0.0, "high": 1.0}, "n": {"lower": 1, "upper": 4, "scaling": 16}, "epochs": 5}


def parabola(params, trial, seed, device):
    return (params["x"] - 0.3) ** 2 + params["n"] / 1000 + 0.001 * np.random.default_rng(seed).normal()


def test_start_sets_come_first_in_order_then_the_strategy():
    start = [{"x": 0.31, "n": 32}, {"x": 0.9, "n": 64, "epochs": 5}]
    res = hyppo_hep.minimize(parabola, SPACE, budget=6, trials=2, quiet=True,
                             strategy={"name": "rbf", "initial": 3, "start": start})
    params = [r.params for r in sorted(res.history.sets.values(), key=lambda r: r.set_id)]
    assert params[0] == {"x": 0.31, "n": 32, "epochs": 5} and params[1] == {"x": 0.9, "n": 64, "epochs": 5}
    assert len({(p["x"], p["n"]) for p in params}) == 6  # the strategy does not propose them again


def test_the_start_sets_take_the_place_of_design_points():
    """initial 3 with 2 start sets: one design point, then the surrogate (as SMAC's default
    configuration in its initial design)."""
    space = Space.from_dict(SPACE)
    plain = build("rbf", {"initial": 3}, space, 10)
    started = build("rbf", {"initial": 3, "start": [{"x": 0.5, "n": 16}, {"x": 0.1, "n": 48}]}, space, 10)
    rng = np.random.default_rng(0)
    first = started.propose(History(), 3, rng)
    assert first[:2] == [{"x": 0.5, "n": 16, "epochs": 5}, {"x": 0.1, "n": 48, "epochs": 5}]
    assert len(first) == 3 and first[2] in plain.propose(History(), 3, np.random.default_rng(0))
    assert started.initial == 3  # the inner strategy's options are still there


def test_a_resumed_search_does_not_evaluate_a_start_set_twice():
    space = Space.from_dict(SPACE)
    strat = build("random", {"start": [{"x": 0.5, "n": 16}, {"x": 0.1, "n": 48}]}, space, 10)
    h = History()
    rec = SetRecord(0, {"x": 0.5, "n": 16, "epochs": 5}, [1], state=DONE)
    rec.trials[0] = TrialRecord(0, 1, 0.2)
    h.add_set(rec)
    out = strat.propose(h, 2, np.random.default_rng(1))
    assert out[0] == {"x": 0.1, "n": 48, "epochs": 5} and out[1] != out[0] and space.key(out[1]) not in h.keys(space)
    assert pickle.loads(pickle.dumps(strat)).sets == strat.sets


@pytest.mark.parametrize("start, where, message", [
    ({"x": 0.5, "n": 16}, "strategy.start", "must be a non-empty list"),
    ([], "strategy.start", "must be a non-empty list"),
    (["defaults"], "strategy.start[0]", "must be a mapping"),
    ([{"x": 0.5}], "strategy.start[0]", "gives no value to n"),
    ([{"x": 1.5, "n": 16}], "strategy.start[0]", "x=1.5 is outside [0.0, 1.0]"),
    ([{"x": 0.5, "n": 20}], "strategy.start[0]", "is not a set of the space"),
    ([{"x": 0.5, "n": 16, "lr": 1}], "strategy.start[0].lr", "is not a parameter of the space"),
    ([{"x": 0.5, "n": 16, "epochs": 9}], "strategy.start[0].epochs", "is fixed to 5"),
    ([{"x": 0.5, "n": 16}, {"x": 0.5, "n": 16}], "strategy.start[1]", "repeats an earlier start set"),
])
def test_bad_start_sets_name_the_key(start, where, message):
    with pytest.raises(ConfigError) as err:
        build("rbf", {"start": start}, Space.from_dict(SPACE), 10)
    assert err.value.path == where and message in err.value.message


def test_multi_fidelity_strategies_refuse_start_sets():
    with pytest.raises(ConfigError, match="is not an option of strategy 'asha'"):
        build("asha", {"start": [{"x": 0.5, "n": 16}]}, Space.from_dict(SPACE), 10)


def test_a_bad_start_set_in_a_config_exits_2_with_one_line(tmp_path, capsys):
    cfg = {"objective": "branin", "space": {"x1": {"low": -5.0, "high": 10.0}, "x2": {"low": 0.0, "high": 15.0}},
           "trials": 2, "budget": 3, "out": str(tmp_path / "out"),
           "strategy": {"name": "rbf", "start": [{"x1": 3.1, "x2": 20.0}]}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "strategy.start[0]" in err and "x2=20.0 is outside [0.0, 15.0]" in err
    assert not (tmp_path / "out").exists()
    cfg["strategy"]["start"] = [{"x1": 3.1, "x2": 2.3}]
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--quiet"]) == 0
    first = next(line for line in (tmp_path / "out" / "results.csv").read_text().splitlines()[1:])
    assert "3.1" in first and "2.3" in first


GAN_SPACE = {"lr_gen": {"low": 1e-5, "high": 1e-3, "log": True}, "lr_disc": {"low": 1e-5, "high": 1e-3, "log": True},
             "batch_size": {"lower": 1, "upper": 8, "scaling": 64}, "epochs": 3}


def test_start_from_the_objectives_defaults_in_a_config():
    """``start: [defaults, {lr_gen: ...}]``: the built-in GAN's own defaults on the space's
    free parameters, then a set that changes one of them and takes the rest from there."""
    from hyppo_hep.config import parse_config
    from hyppo_hep.objectives.gan import defaults_for

    raw = {"objective": "gan_dimuon", "space": GAN_SPACE, "trials": 2, "budget": 4,
           "strategy": {"name": "rbf", "start": ["defaults", {"lr_gen": 4.0e-4}]}}
    start = parse_config(raw).strategy.options["start"]
    d = defaults_for("dimuon")
    assert start == [{"lr_gen": d["lr_gen"], "lr_disc": d["lr_disc"], "batch_size": d["batch_size"]},
                     {"lr_gen": 4.0e-4, "lr_disc": d["lr_disc"], "batch_size": d["batch_size"]}]
    raw["stages"] = [{"name": "focus", "strategy": {"name": "random", "start": ["defaults"]}}]
    assert parse_config(raw).stages[0].strategy.options["start"] == start[:1]


def test_defaults_for_an_objective_without_them_is_one_line_exit_2(tmp_path, capsys):
    cfg = {"objective": "branin", "space": {"x1": {"low": -5.0, "high": 10.0}, "x2": {"low": 0.0, "high": 15.0}},
           "trials": 2, "budget": 3, "out": str(tmp_path / "out"), "strategy": {"name": "rbf", "start": ["defaults"]}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "strategy.start[0]" in err and "has no default hyperparameters" in err
    cfg["strategy"]["start"] = [{"x1": 1.0}]  # partial, and no defaults to complete it
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--quiet"]) == 2
    assert "strategy.start[0] gives no value to x2" in capsys.readouterr().err


def test_defaults_out_of_the_space_are_named():
    from hyppo_hep.config import parse_config

    raw = {"objective": "gan_dimuon", "space": {**GAN_SPACE, "lr_gen": {"low": 1e-5, "high": 1e-4, "log": True}},
           "strategy": {"name": "rbf", "start": ["defaults"]}}
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert err.value.path == "strategy.start[0]" and "lr_gen=0.0006 is outside" in err.value.message


def with_defaults(params, trial, seed, device):
    return parabola(params, trial, seed, device)


with_defaults.defaults = lambda: {"x": 0.25, "n": 48, "unused": 1}


def test_a_callable_with_defaults_starts_from_them():
    res = hyppo_hep.minimize(with_defaults, SPACE, budget=3, trials=1, quiet=True,
                             strategy={"name": "random", "start": ["defaults", {"n": 16}]})
    first = [r.params for r in sorted(res.history.sets.values(), key=lambda r: r.set_id)][:2]
    assert first == [{"x": 0.25, "n": 48, "epochs": 5}, {"x": 0.25, "n": 16, "epochs": 5}]


def test_the_end_phase_does_not_trade_start_sets_for_shorter_ones():
    """In the end phase a search picks, among the strategy's candidates, those expected to end
    in time; the user's start sets are run as given while any is left."""
    from hyppo_hep.search import Search

    space = Space.from_dict(SPACE)
    search = Search(space, build("random", {"start": [{"x": 0.5, "n": 16}, {"x": 0.1, "n": 48}]}, space, 10),
                    budget=10, trials=1)

    def steered(n, rng, phase):
        return [{"x": 0.9, "n": 64, "epochs": 5}][:n], 1.0

    search._propose_for_the_end = steered
    phase = (0.0, [1.0], 1)
    first = search._new_sets(2, np.random.default_rng(0), phase)
    assert [s.params for s in first] == [{"x": 0.5, "n": 16, "epochs": 5}, {"x": 0.1, "n": 48, "epochs": 5}]
    assert [s.params for s in search._new_sets(1, np.random.default_rng(0), phase)] == [{"x": 0.9, "n": 64, "epochs": 5}]
