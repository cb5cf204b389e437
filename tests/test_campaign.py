"""The output directory of a campaign (hyppo_hep/campaign.py): nothing on disk is touched by
a config mistake, --overwrite puts the old journal back when the new run fails at once, and a
full disk or a deleted output directory ends in exit 4 and one line."""

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyppo_hep.journal import read_events
from hyppo_hep.run import main
from tests.helpers import GOOD, ROOT, finished, intact, one_line, run, write


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


@pytest.mark.slow
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


@pytest.mark.slow
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
