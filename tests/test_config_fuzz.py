"""Malformed configs, generated: exit status 2 and one line, never a traceback, nothing
written (benchmarks/reliability_soak.py runs these with more examples)."""

import os
import subprocess
import sys

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import ROOT, assert_one_line_exit_2, env, run_main


GOOD = {"objective": "branin", "space": {"x1": {"lower": -5, "upper": 10}, "x2": {"low": 0.0, "high": 15.0}},
        "trials": 2, "budget": 2, "strategy": "random", "seed": 1}


junk = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True)
                    | st.text(max_size=8), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                    max_leaves=6)


not_int = junk.filter(lambda v: isinstance(v, bool) or not isinstance(v, int))


not_str = junk.filter(lambda v: not isinstance(v, (str, dict)))


unknown_name = st.sampled_from([".:f", "..a:b", "os:sep", ":f", "a:", "x.:y", "a b:c", "json", "no_such_mod:fn"]) | st.text(min_size=1, max_size=12).filter(lambda s: s.strip() and s not in ("branin", "failing", "fault", "hartmann6", "rastrigin", "gan_landscape", "random", "lhs", "grid"))


bad_param = st.one_of(
    st.fixed_dictionaries({"lower": st.integers(1, 50), "upper": st.integers(-50, 0)}),
    st.fixed_dictionaries({"lower": st.integers(0, 5), "upper": st.integers(6, 9), "scaling": st.integers(-5, 0) | st.text(max_size=3)}),
    st.fixed_dictionaries({"low": st.floats(1, 2), "high": st.floats(-2, 0.5)}),
    st.fixed_dictionaries({"low": st.floats(-1, 0), "high": st.floats(1, 2), "log": st.just(True)}),
    st.fixed_dictionaries({"choices": st.just([]) | st.text(max_size=4) | st.integers()}),
    st.dictionaries(st.sampled_from(["min", "max", "step", "values", "range"]), junk, min_size=1, max_size=2),
    st.lists(junk, max_size=3),
)


MUTATIONS = {
    "trials": not_int | st.integers(-5, 0), "budget": not_int | st.integers(-5, 0),
    "seed": not_int | st.integers(-10**6, -1),
    "objective": not_str | st.just("") | unknown_name | st.builds(lambda o: {"epochs": o}, junk)
                 | st.builds(lambda m: {"name": "fault", "mode": m}, st.text(max_size=6).filter(lambda m: m not in ("raise", "nan", "inf", "hang", "abort", "sigkill", "segfault", "exit")))
                 | st.builds(lambda k: {"name": "branin", k: 1}, st.text(min_size=1, max_size=6).filter(lambda k: k not in ("noise", "sleep", "name"))),
    "space": junk.filter(lambda v: not isinstance(v, dict)) | st.just({}) | st.builds(lambda p: {"x": p}, bad_param),
    "strategy": not_str | unknown_name | st.builds(lambda k: {"name": "grid", k: 1}, st.text(min_size=1, max_size=6).filter(lambda k: k not in ("points_per_float", "shuffle", "name"))),
    "executor": unknown_name.filter(lambda s: s not in ("auto", "serial", "pool")) | st.builds(lambda w: {"kind": "pool", "workers": w}, st.integers(-3, 0) | st.text(max_size=3)),
    "min_ok_trials": st.integers(3, 9) | st.integers(-3, 0),
    "trial_timeout": st.integers(-5, 0) | st.text(max_size=4) | st.lists(junk, max_size=2) | st.just(float("inf")),
    "isolation": unknown_name.filter(lambda s: s not in ("none", "process", "fresh")) | st.integers() | st.lists(junk, max_size=2),
    "max_consecutive_failures": st.integers(-5, -1) | st.text(max_size=3) | st.floats(0.5, 3),
    "out": st.integers() | st.just("") | st.lists(junk, min_size=1, max_size=2),
    "repeat": not_int | st.integers(-3, 0),
    "stages": junk.filter(lambda v: not isinstance(v, list)) | st.just([])
              | st.builds(lambda k: [{"name": "a", k: 1}], st.text(min_size=1, max_size=6).filter(lambda k: k not in ("name", "budget", "trials", "strategy", "fixed", "ranges", "quantile", "threshold", "margin", "scan", "at")))
              | st.builds(lambda b: [{"name": "a", "budget": b}], not_int | st.integers(-3, 0))
              | st.builds(lambda n: [{"name": n}, {"name": n}], st.sampled_from(["broad", "x"]))
              | st.builds(lambda p: [{"name": "s", "scan": {"param": p}}], st.text(min_size=1, max_size=5).filter(lambda p: p not in ("x1", "x2"))),
}


mutated = st.dictionaries(st.sampled_from(sorted(MUTATIONS)), st.none(), min_size=1, max_size=3).flatmap(
    lambda keys: st.fixed_dictionaries({k: MUTATIONS[k] for k in keys}))


extra_key = st.text(min_size=1, max_size=10).filter(lambda k: k not in GOOD and k not in MUTATIONS)


garbage_text = st.one_of(
    st.text(max_size=80).filter(lambda t: not t.strip().startswith("#")),  # anything at all
    st.sampled_from(["objective: [", "{{", "space: {x: {lower: 1, upper: 2}}\n  bad indent: 3", "- 1\n- 2",
                     "objective: !!python/object/apply:os.system ['true']", "\t\tobjective: branin", "42", "null"]),
)


FUZZ_EXAMPLES = int(os.environ.get("HYPPO_FUZZ_EXAMPLES", "250"))  # benchmarks/reliability_soak.py raises it


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(changes=mutated, extra=st.none() | extra_key)
@pytest.mark.slow
def test_fuzz_malformed_configs_exit_2_one_line(tmp_path, capsys, changes, extra):
    cfg = {**GOOD, **changes, **({extra: 1} if extra else {})}
    cfg.setdefault("out", str(tmp_path / "never"))
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    status, err = run_main([str(path), "--quiet"], capsys)
    assert_one_line_exit_2(status, err, cfg)
    assert not (tmp_path / "never").exists()


@settings(max_examples=FUZZ_EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=garbage_text)
def test_fuzz_garbage_yaml_exit_2_one_line(tmp_path, capsys, text):
    path = tmp_path / "garbage.yaml"
    path.write_bytes(text.encode("utf-8", "replace"))
    status, err = run_main([str(path), "--quiet", "--out", str(tmp_path / "never")], capsys)
    assert_one_line_exit_2(status, err, text)


@pytest.mark.slow
def test_malformed_configs_as_subprocesses(tmp_path):
    """A handful end to end: the real interpreter's stderr holds one line and no traceback."""
    cases = [{**GOOD, "trials": "many"}, {**GOOD, "objective": "no_such:thing"}, {**GOOD, "isolation": "vm"},
             {**GOOD, "space": {"x": {"lower": 3, "upper": 1}}}, {**GOOD, "trial_timeout": -1}]
    for i, cfg in enumerate(cases):
        path = tmp_path / f"bad{i}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        proc = subprocess.run([sys.executable, "-m", "hyppo_hep.run", str(path), "--out", str(tmp_path / "o")],
                              cwd=ROOT, env=env(), capture_output=True, text=True, timeout=60)
        assert_one_line_exit_2(proc.returncode, proc.stderr, cfg)
        assert "Traceback" not in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "hyppo_hep.run", str(tmp_path / "missing.yaml")], cwd=ROOT,
                          env=env(), capture_output=True, text=True, timeout=60)
    assert_one_line_exit_2(proc.returncode, proc.stderr, "missing file")
