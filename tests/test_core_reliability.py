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


# --- 13.6: malformed journals: --resume and analyze end in exit 2 and one line -----------------

def _tamper(lines, how):
    """Journal lines (strings without newlines) with one fault put in after the first set."""
    sub = next(i for i, l in enumerate(lines) if '"set_submitted"' in l)
    ev = json.loads(lines[sub])
    bad = {
        "wrong schema": {**ev, "set_id": "seven"},
        "unknown set": {"event": "trial_finished", "time": 1.0, "set_id": 99, "trial": 0, "seed": 1, "score": 1.0},
        "params not a mapping": {**ev, "set_id": 50, "params": [1, 2]},
        "off the lattice": {**ev, "set_id": 50, "params": {**ev["params"], "x1": 3.5}},
        "trial beyond the set": {"event": "trial_finished", "time": 1.0, "set_id": ev["set_id"], "trial": 2,
                                 "seed": 1, "score": 1.0},
        "bad state": {"event": "set_finished", "time": 1.0, "set_id": ev["set_id"], "state": "great"},
        "seeds not integers": {**ev, "set_id": 50, "seeds": ["a", None]},
        "not an event": [1, 2, 3],
    }[how]
    return lines[:sub + 1] + [json.dumps(bad)] + lines[sub + 1:]


CASES = ["wrong schema", "unknown set", "params not a mapping", "off the lattice", "trial beyond the set",
         "bad state", "seeds not integers", "not an event"]


@pytest.mark.parametrize("how", CASES)
def test_malformed_journal_resume_and_analyze_exit_2_one_line(tmp_path, capsys, finished, how):
    from hyppo_hep.analyze import main as analyze

    out, _ = finished
    path = out / "journal.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(_tamper(lines, how)) + "\n")
    before = path.read_bytes()
    cfg = write(tmp_path, {**GOOD, "budget": 6, "out": str(out)}, "more.yaml")
    status, err = run([cfg, "--resume", "--quiet"], capsys)
    one_line(status, err, what=how)
    assert "journal" in err and "line" in err, err
    assert path.read_bytes() == before  # refused, not repaired behind the user's back
    if how == "off the lattice":
        return  # a journal's params are checked against the space it resumes with; analyze draws them as they are
    status = analyze([str(out), "--out", str(tmp_path / "report")])
    one_line(status, capsys.readouterr().err, what=how)


def test_invalid_utf8_inside_a_journal_exit_2(tmp_path, capsys, finished):
    out, _ = finished
    path = out / "journal.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2] + [b'{"event": "x\xff\xfe"}\n'] + lines[2:]))
    status, err = run([write(tmp_path, {**GOOD, "budget": 6, "out": str(out)}), "--resume", "--quiet"], capsys)
    one_line(status, err)
    assert "line 3 is not valid UTF-8" in err


def test_torn_last_line_that_ends_in_a_newline_is_repaired_and_resumes_twice(tmp_path, capsys, finished):
    out, _ = finished
    path = out / "journal.jsonl"
    good = path.read_text()
    path.write_text(good + '{"event": "trial_fini\n')
    cfg = write(tmp_path, {**GOOD, "budget": 5, "out": str(out)}, "more.yaml")
    assert main([str(cfg), "--resume", "--quiet"]) == 0
    assert path.read_text().startswith(good) and '"trial_fini\n' not in path.read_text()
    cfg = write(tmp_path, {**GOOD, "budget": 6, "out": str(out)}, "more.yaml")
    assert main([str(cfg), "--resume", "--quiet"]) == 0
    assert replay(path).n_finished == 6


# --- 13.7: config hardening -----------------------------------------------------------------------

@pytest.mark.parametrize("space,key", [
    ({"x": {"low": 0.0, "high": float("inf")}}, "space.x.high"),
    ({"x": {"low": float("nan"), "high": 1.0}}, "space.x.low"),
    ({"x": {"lower": 1, "upper": 5, "scaling": float("nan")}}, "space.x.scaling"),
    ({"x": {"lower": 1, "upper": 5, "scaling": float("inf")}}, "space.x.scaling"),
])
def test_non_finite_bounds_or_scaling_exit_2_and_write_nothing(tmp_path, capsys, space, key):
    cfg = write(tmp_path, {**GOOD, "objective": "failing", "space": space, "out": str(tmp_path / "never")})
    status, err = run([cfg, "--quiet"], capsys)
    one_line(status, err)
    assert key in err and not (tmp_path / "never").exists()


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


def test_an_out_name_longer_than_the_file_system_allows_exit_2(tmp_path, capsys):
    cfg = write(tmp_path, GOOD)
    status, err = run([cfg, "--quiet", "--out", str(tmp_path / ("x" * 300))], capsys)
    one_line(status, err)
    assert "--out" in err and "255" in err
    cfg = write(tmp_path, {**GOOD, "out": str(tmp_path / ("y" * 300) / "z")}, "long.yaml")
    status, err = run([cfg, "--quiet"], capsys)
    one_line(status, err)
    assert err.startswith("config error: out ")


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path, capsys):
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        levels.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, "
                      f"*{prev}, *{prev}, *{prev}, *{prev}]")
    path = tmp_path / "bomb.yaml"  # 9^9 values once expanded
    path.write_text("objective:\n  name: branin\n  bomb:\n" + "".join(f"    {l}\n" for l in levels)
                    + "space: {x: {low: 0.0, high: 1.0}}\n")
    start = time.perf_counter()
    status, err = run([path, "--quiet", "--out", str(tmp_path / "never")], capsys)
    one_line(status, err)
    assert "aliases" in err and time.perf_counter() - start < 30  # generous: it takes milliseconds


def test_a_huge_config_file_is_refused_without_parsing(tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    with open(path, "w") as fh:
        fh.write("objective: branin\nspace: {x: {low: 0.0, high: 1.0}}\npad: [")
        fh.write("1, " * 600_000 + "1]\n")
    status, err = run([path, "--quiet"], capsys)
    one_line(status, err)
    assert "larger than 1 MiB" in err


# --- 13.8: full disk, output directory deleted ------------------------------------------------------

def test_results_csv_on_a_full_disk_raises_and_leaves_no_temporary(tmp_path, finished):
    out, _ = finished
    tmp = out / "results.csv.tmp"
    tmp.symlink_to("/dev/full")  # every write to it fails with ENOSPC
    with pytest.raises(OutputError, match="No space left on device"):
        write_results_csv(replay(out / "journal.jsonl"), out / "results.csv")
    assert not tmp.exists() and not tmp.is_symlink()


def test_journal_on_a_full_disk_raises_output_error(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.symlink_to("/dev/full")
    journal = Journal(path)
    with pytest.raises(OutputError, match=f"cannot write journal {path}: No space left on device"):
        journal.append("campaign")
    journal.close()


def test_run_on_a_full_disk_exits_4_with_one_line_and_the_journal_intact(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.csv.tmp").symlink_to("/dev/full")
    status, err = run([write(tmp_path, {**GOOD, "out": str(out)}), "--quiet"], capsys)
    one_line(status, err, 4)
    assert "results.csv" in err and "No space left on device" in err
    assert not (out / "results.csv.tmp").is_symlink() and not (out / "results.csv.tmp").exists()
    events = list(read_events(out / "journal.jsonl"))
    assert [e["event"] for e in events].count("trial_finished") >= 2


def test_output_directory_deleted_during_a_run_exit_4_one_line(tmp_path):
    out = tmp_path / "out"
    (tmp_path / "deleter.py").write_text(
        "import os, shutil\n"
        "def f(params, trial, seed, device):\n"
        "    if trial == 1:\n"
        "        shutil.rmtree(os.environ['HYPPO_TEST_OUT'], ignore_errors=True)\n"
        "    return 1.0\n")
    cfg = write(tmp_path, {**GOOD, "objective": "deleter:f", "out": str(out)})
    env = {**os.environ, "HYPPO_TEST_OUT": str(out), "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    proc = subprocess.run([sys.executable, "-m", "hyppo_hep.run", str(cfg), "--quiet"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    one_line(proc.returncode, proc.stderr, 4)
    assert "No such file or directory" in proc.stderr and "Traceback" not in proc.stdout


# --- 13.9: minimize raises when every trial fails -------------------------------------------------

def test_minimize_raises_with_the_last_error_when_every_trial_fails():
    def broken(params, trial, seed, device):
        raise ValueError(f"placeholder objective, trial {trial}")

    with pytest.raises(SearchFailed, match=r"every trial failed \(6 trials\); last error: ValueError: placeholder"):
        hyppo_hep.minimize(broken, {"x": {"low": 0.0, "high": 1.0}}, budget=3, trials=2, strategy="random")


def test_minimize_with_some_failures_returns_the_best_set():
    def half(params, trial, seed, device):
        if trial == 0:
            raise ValueError("flaky")
        return params["x"]

    res = hyppo_hep.minimize(half, {"x": {"low": 0.0, "high": 1.0}}, budget=4, trials=2, strategy="random")
    assert res.best is not None and res.best["n_ok"] == 1


def test_staged_overwrite_that_fails_at_once_restores_every_stage(tmp_path, capsys):
    out = tmp_path / "out"
    staged = {**GOOD, "out": str(out), "stages": [{"name": "a"}, {"name": "b", "budget": 2}]}
    assert main([str(write(tmp_path, staged)), "--quiet"]) == 0
    journals = sorted(out.rglob("journal.jsonl"))
    saved = {p: p.read_bytes() for p in journals}
    assert len(journals) == 2
    (tmp_path / "badmod2.py").write_text("raise ImportError('no such data')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        status, err = run([write(tmp_path, {**staged, "objective": "badmod2:f"}, "bad.yaml"), "--overwrite", "--quiet"],
                          capsys)
    finally:
        sys.path.remove(str(tmp_path))
    one_line(status, err)
    assert {p: p.read_bytes() for p in journals} == saved and not list(out.rglob("*.replaced"))


def test_ask_tell_with_out_writes_results_csv(tmp_path):
    at = hyppo_hep.AskTell(GOOD["space"], strategy="random", trials=2, budget=3, out=str(tmp_path / "o"))
    for _ in range(3):
        params = at.ask()
        at.tell(params, [params["x1"], params["x2"]])
    at.close()
    rows = (tmp_path / "o" / "results.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("set_id,x1,x2,mean")
    header = next(read_events(tmp_path / "o" / "journal.jsonl"))
    assert header["objective"]["name"] == "ask-tell" and header["strategy"]["name"] == "random"


def test_staged_resume_of_a_stage_journal_without_a_space_exit_2(tmp_path, capsys):
    out = tmp_path / "out"
    staged = {**GOOD, "out": str(out), "stages": [{"name": "a"}, {"name": "b", "budget": 2}]}
    cfg = write(tmp_path, staged)
    assert main([str(cfg), "--quiet"]) == 0
    path = out / "1_b" / "journal.jsonl"
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    del header["space"]
    path.write_text("\n".join([json.dumps(header)] + lines[1:4]) + "\n")
    status, err = run([cfg, "--resume", "--quiet"], capsys)
    one_line(status, err)
    assert "has no campaign event with a space" in err


junk = st.recursive(st.none() | st.booleans() | st.integers(-3, 10**12) | st.floats(allow_nan=True)
                    | st.text(max_size=6), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c,
                                                                                               max_size=3),
                    max_leaves=5)


@settings(max_examples=int(os.environ.get("HYPPO_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_hand_edited_journals_resume_or_exit_2_one_line(tmp_path_factory, capsys, data):
    """Any field of any event of a good journal replaced by junk: --resume either carries on
    (exit 0) or refuses with exit 2 and one line; never a traceback."""
    tmp = tmp_path_factory.mktemp("jfuzz")
    out = tmp / "out"
    cfg = write(tmp, {**GOOD, "out": str(out)})
    assert main([str(cfg), "--quiet"]) == 0
    capsys.readouterr()
    path = out / "journal.jsonl"
    events = [json.loads(l) for l in path.read_text().splitlines()]
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(events) - 1))
        key = data.draw(st.sampled_from(sorted(events[i])))
        events[i][key] = data.draw(junk)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    status, err = run([write(tmp, {**GOOD, "budget": 4, "out": str(out)}, "more.yaml"), "--resume", "--quiet",
                       "--force-resume"], capsys)
    if status != 0:
        one_line(status, err, what=events)
