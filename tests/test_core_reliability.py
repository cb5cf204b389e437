"""Reliability of the core (issue 13, items 1, 6, 7, 8, 9): nothing on disk is touched by a
config mistake; malformed journals and configs end in exit 2 and one line; a full disk or a
deleted output directory ends in exit 4 and one line; minimize raises when every trial fails."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hyppo_hep
from hyppo_hep.errors import OutputError, SearchFailed
from hyppo_hep.journal import Journal, read_events, replay, write_results_csv
from hyppo_hep.run import main

ROOT = Path(__file__).resolve().parents[1]
GOOD = {"objective": "branin", "space": {"x1": {"lower": -5, "upper": 10}, "x2": {"low": 0.0, "high": 15.0}},
        "trials": 2, "budget": 3, "strategy": "random", "seed": 1}


def one_line(status, err, expected_status=2, what=""):
    assert status == expected_status, f"{what}: status {status}, stderr {err!r}"
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, f"{what}: {err!r}"


def run(args, capsys):
    status = main([str(a) for a in args])
    return status, capsys.readouterr().err


def write(tmp_path, cfg, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def finished(tmp_path, capsys):
    """A finished campaign in tmp/out: its config and the bytes of its journal and results."""
    out = tmp_path / "out"
    cfg = write(tmp_path, {**GOOD, "out": str(out)})
    assert main([str(cfg), "--quiet"]) == 0
    capsys.readouterr()
    return out, {p.name: p.read_bytes() for p in (out / "journal.jsonl", out / "results.csv")}


def intact(out, saved):
    return {name: (out / name).read_bytes() for name in saved} == saved


# --- 13.1: --overwrite with a bad strategy option leaves the old results alone ---------------

@pytest.mark.parametrize("changes,path", [
    ({"strategy": {"name": "rbf", "k_std": -1}}, "strategy.k_std"),
    ({"stages": [{"name": "a"}, {"name": "b", "strategy": {"name": "rbf", "k_std": -1}}]}, "stages[1].strategy.k_std"),
    ({"stages": [{"name": "a", "strategy": {"name": "hyperband", "eta": 1}, "fixed": {"epochs": 9}}]},
     "stages[0].strategy.eta"),
    ({"strategy": {"name": "grid", "points_per_float": "many"}}, "strategy.points_per_float"),
])
def test_overwrite_with_a_bad_strategy_option_keeps_journal_and_results(tmp_path, capsys, finished, changes, path):
    out, saved = finished
    cfg = write(tmp_path, {**GOOD, **changes, "out": str(out)}, "bad.yaml")
    status, err = run([cfg, "--overwrite", "--quiet"], capsys)
    one_line(status, err)
    assert path in err
    assert intact(out, saved)


def test_overwrite_whose_objective_fails_at_once_puts_the_old_journal_back(tmp_path, capsys, finished):
    """A mistake found only when the first trial runs (here: the objective's module does not
    import on the worker) must not cost the results of the previous run either."""
    out, saved = finished
    mod = tmp_path / "badmod.py"
    mod.write_text("raise ImportError('no such data')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        cfg = write(tmp_path, {**GOOD, "objective": "badmod:f", "out": str(out)}, "bad.yaml")
        status, err = run([cfg, "--overwrite", "--quiet"], capsys)
    finally:
        sys.path.remove(str(tmp_path))
    one_line(status, err)
    assert intact(out, saved) and not list(out.glob("*.replaced"))


def test_overwrite_that_runs_replaces_the_old_journal(tmp_path, capsys, finished):
    out, saved = finished
    cfg = write(tmp_path, {**GOOD, "seed": 5, "out": str(out)}, "new.yaml")
    assert main([str(cfg), "--overwrite", "--quiet"]) == 0
    assert not intact(out, saved) and not list(out.glob("*.replaced"))
    assert [e["seed"] for e in read_events(out / "journal.jsonl") if e["event"] == "campaign"] == [5]


not_number = st.text(max_size=4) | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=1)
not_int = not_number | st.floats(0.1, 9.9) | st.booleans()
non_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])
negative = st.integers(-10**6, -1) | st.floats(-1e6, -1e-6)
BAD = {  # option -> values it must refuse
    "k_std": negative | not_number | non_finite, "promote_k": negative | not_number | non_finite,
    "initial": st.integers(-5, 0) | not_int, "size": st.integers(-5, 0) | not_int,
    "n_candidates": st.integers(-5, 9) | not_int, "centers": st.integers(-5, 0) | not_int,
    "weights": st.text(max_size=3) | st.just([]) | st.lists(st.floats(1.5, 9), min_size=1, max_size=2),
    "uniform_fraction": st.floats(1.01, 9) | negative | not_number | non_finite,
    "cap": st.integers() | st.text(max_size=3), "shuffle": st.integers() | st.text(max_size=3),
    "acquisition": st.text(max_size=6).filter(lambda a: a not in ("merit", "ei", "lcb")),
    "points_per_float": st.integers(-5, 0) | not_int,
    "eta": st.integers(-5, 1) | not_int, "min_epochs": st.integers(-5, 0) | st.integers(10, 99) | not_int,
    "max_epochs": st.integers(-5, 0) | not_int, "iterations": st.integers(-5, 0) | not_int,
    "resource": st.integers() | st.just("") | st.lists(st.text(max_size=2), max_size=2),
    "sampler_options": st.integers() | st.text(max_size=3) | st.lists(st.integers(), max_size=2),
    "sampler": st.integers() | st.sampled_from(["hyperband", "asha", "nope", ""]),
}
BAD_OPTIONS = {  # strategy -> the options the fuzzer spoils
    "rbf": ["k_std", "initial", "n_candidates", "weights", "uniform_fraction", "centers", "cap"],
    "gp": ["k_std", "initial", "acquisition"],
    "grid": ["points_per_float", "shuffle"],
    "lhs": ["size"],
    "hyperband": ["eta", "min_epochs", "max_epochs", "promote_k", "iterations", "resource", "sampler_options"],
    "asha": ["eta", "min_epochs", "max_epochs", "promote_k", "sampler"],
}


@settings(max_examples=int(os.environ.get("HYPPO_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(BAD_OPTIONS)), data=st.data(), stage=st.booleans())
def test_fuzz_bad_strategy_option_values_exit_2_and_touch_nothing(tmp_path_factory, capsys, name, data, stage):
    tmp = tmp_path_factory.mktemp("fuzz")
    out = tmp / "out"
    out.mkdir()
    (out / "journal.jsonl").write_text('{"event": "campaign", "time": 0}\n')
    (out / "results.csv").write_text("set_id\n")
    key = data.draw(st.sampled_from(BAD_OPTIONS[name]))
    value = data.draw(BAD[key])
    strategy = {"name": name, key: value}
    space = dict(GOOD["space"])
    if name in ("hyperband", "asha"):
        space["epochs"] = 9
    if stage:
        cfg = {**GOOD, "space": space, "stages": [{"name": "a"}, {"name": "b", "strategy": strategy}]}
        where = "stages[1].strategy"
    else:
        cfg, where = {**GOOD, "space": space, "strategy": strategy}, "strategy"
    status, err = run([write(tmp, {**cfg, "out": str(out)}), "--overwrite", "--quiet"], capsys)
    one_line(status, err, what=strategy)
    assert where in err, (strategy, err)
    assert (out / "journal.jsonl").read_text() == '{"event": "campaign", "time": 0}\n'
    assert (out / "results.csv").read_text() == "set_id\n"
