"""Malformed configs: exit status 2 and one line naming the key path, never a traceback."""

import subprocess
import sys
import textwrap

import pytest
import yaml

from hyppo_hep.config import load_config, parse_config
from hyppo_hep.run import main

GOOD = {
    "objective": "branin",
    "space": {"x1": {"lower": -5, "upper": 10}, "x2": {"low": 0.0, "high": 15.0}},
    "trials": 3,
    "budget": 4,
    "strategy": "random",
    "seed": 1,
}


def with_(**changes):
    cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in GOOD.items()}
    for key, value in changes.items():
        if value is DROP:
            cfg.pop(key)
        else:
            cfg[key] = value
    return cfg


DROP = object()

BAD = [
    (with_(objective=DROP), "objective is missing"),
    (with_(space=DROP), "space is missing"),
    (with_(colour="red"), "colour is not a known key"),
    (with_(trials="five"), "trials must be an integer"),
    (with_(trials=0), "trials (0) must be >= 1"),
    (with_(budget=-3), "budget (-3) must be >= 1"),
    (with_(budget=2.5), "budget must be an integer"),
    (with_(seed=True), "seed must be an integer"),
    (with_(space={"lr_gen": {"lower": 1, "upper": 0, "scaling": 5e-5}}), "space.lr_gen.upper (0) is below lower (1)"),
    (with_(space={"lr_gen": {"lower": 1, "upper": 200, "scaling": 0}}), "space.lr_gen.scaling (0) must be > 0"),
    (with_(space={"lr_gen": {"lower": 1, "upper": 200, "scaling": -1e-5}}), "space.lr_gen.scaling"),
    (with_(space={"lr_gen": {"lower": 1, "upper": 200, "scaling": "big"}}), "space.lr_gen.scaling must be a number"),
    (with_(space={"act": {"choices": []}}), "space.act.choices is empty"),
    (with_(space={"act": {"choices": "relu"}}), "space.act.choices must be a list"),
    (with_(space={"d": {"low": 0.5, "high": 0.1}}), "space.d.high"),
    (with_(space={"wd": {"low": 0.0, "high": 1.0, "log": True}}), "space.wd.low"),
    (with_(space={"wd": {"low": 1e-6, "high": 1.0, "log": "yes"}}), "space.wd.log must be true or false"),
    (with_(space={"n": {"lower": 1}}), "space.n.upper is missing"),
    (with_(space={"n": {"lower": 1, "upper": 4, "step": 2}}), "space.n.step is not a known key"),
    (with_(space={"n": {"min": 1, "max": 4}}), "space.n has keys"),
    (with_(space={}), "space is empty"),
    (with_(space=[1, 2]), "space must be a mapping"),
    (with_(strategy="simulated_annealing"), "strategy 'simulated_annealing' is not a known strategy"),
    (with_(strategy={"name": "grid", "bogus": 1}), "strategy.bogus is not an option"),
    (with_(strategy={"points_per_float": 3}), "strategy.name is missing"),
    (with_(objective={"epochs": 3}), "objective.name is missing"),
    (with_(objective=""), "objective must be a non-empty string"),
    (with_(executor="gpu_cloud"), "executor"),
    (with_(executor={"kind": "pool", "workers": 0}), "executor.workers (0) must be >= 1"),
    (with_(executor={"kind": "mpi", "last_round": "no"}), "executor.last_round must be true or false"),
    (with_(min_ok_trials=5), "min_ok_trials (5) is more than trials (3)"),
    (with_(out=7), "out must be a non-empty string"),
]


def write(tmp_path, cfg, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg) if not isinstance(cfg, str) else cfg)
    return path


def test_good_config_parses(tmp_path):
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.trials == 3 and cfg.budget == 4 and cfg.space.dim == 2
    assert cfg.out.endswith("c")


@pytest.mark.parametrize("cfg, expected", BAD, ids=[e for _, e in BAD])
def test_bad_config_exit_2_one_line(tmp_path, capsys, cfg, expected):
    path = write(tmp_path, {**cfg, "out": str(tmp_path / "out")} if "out" not in cfg else cfg)
    assert main([str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("config error: ")
    assert expected in err
    assert not (tmp_path / "out").exists(), "no partial output for a config error"


@pytest.mark.parametrize("text, expected", [
    ("objective: branin\nspace: {x1: {lower: 1, upper: 3}\n", "is not valid YAML at line"),
    ("", "the config is empty"),
    ("- a\n- b\n", "(top level) must be a mapping"),
])
def test_unparseable_yaml(tmp_path, capsys, text, expected):
    assert main([str(write(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1


def test_missing_config_file(tmp_path, capsys):
    assert main([str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_objective_is_exit_2(tmp_path, capsys):
    path = write(tmp_path, with_(objective="no_such_thing", out=str(tmp_path / "o")))
    assert main([str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "objective 'no_such_thing' is not registered" in err and err.count("\n") == 1


def test_unimportable_user_objective_is_exit_2(tmp_path, capsys):
    path = write(tmp_path, with_(objective="not_a_module_xyz:train", out=str(tmp_path / "o")))
    assert main([str(path), "--quiet"]) == 2
    assert "cannot import module 'not_a_module_xyz'" in capsys.readouterr().err


def test_yaml_never_evaluates_tags(tmp_path, capsys):
    text = "objective: !!python/object/apply:os.system ['echo pwned']\nspace: {x: {lower: 1, upper: 2}}\n"
    assert main([str(write(tmp_path, text))]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_subprocess_prints_no_traceback(tmp_path):
    path = write(tmp_path, with_(space={"lr_gen": {"lower": 1, "upper": 0, "scaling": 5e-5}}))
    proc = subprocess.run([sys.executable, "-m", "hyppo_hep.run", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr == "config error: space.lr_gen.upper (0) is below lower (1)\n"
    assert "Traceback" not in proc.stdout + proc.stderr


def test_parse_config_rejects_non_mapping():
    from hyppo_hep.errors import ConfigError

    with pytest.raises(ConfigError):
        parse_config(["objective"])
