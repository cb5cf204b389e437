"""Reliability: injected faults, kills and resumes, signals, malformed configs.

Every run here must finish its budget with the failures recorded, lose no finished trial
and duplicate none, and every bad input must end with exit status 2 and one line.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyppo_hep.journal import read_events, replay
from hyppo_hep.objectives.registry import ObjectiveRef
from hyppo_hep.run import main

ROOT = Path(__file__).resolve().parents[1]
SPACE = {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}}


def write_cfg(tmp_path, name="c.yaml", **kw):
    cfg = {"objective": "branin", "space": SPACE, "trials": 2, "budget": 4, "strategy": "random", "seed": 3,
           "out": str(tmp_path / "out"), **kw}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return path


def events(out):
    return list(read_events(Path(out) / "journal.jsonl"))


def check_complete(out, budget, trials):
    """Exactly ``budget`` finished sets, every (set, trial) exactly once; returns the history."""
    evs = events(out)
    finished = [e["set_id"] for e in evs if e["event"] == "set_finished"]
    assert sorted(finished) == list(range(budget)), "every set finished exactly once"
    pairs = [(e["set_id"], e["trial"]) for e in evs if e["event"] == "trial_finished"]
    assert len(pairs) == len(set(pairs)) == budget * trials, "every trial exactly once, none lost"
    history = replay(evs)
    assert all(r.state in ("done", "failed") for r in history.sets.values())
    return history


def env():
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def spawn(args):
    return subprocess.Popen([sys.executable, "-m", "hyppo_hep.run", *map(str, args)], cwd=ROOT, env=env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def children_of(pid):
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def wait_gone(pids, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        alive = [p for p in pids if Path(f"/proc/{p}").exists()
                 and " Z " not in Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1][:3]]
        if not alive:
            return []
        time.sleep(0.1)
    return alive


# --- 1. failure injection: every fault is a recorded failed trial, the budget completes ------

FAULTS = [  # (executor, isolation, mode)
    ("serial", "none", "raise"), ("serial", "none", "nan"), ("serial", "none", "inf"),
    ("serial", "none", "exit"), ("serial", "none", "hang"),
    ("serial", "process", "abort"), ("serial", "process", "sigkill"), ("serial", "process", "hang"),
    ("pool", "process", "segfault"), ("pool", "process", "sigkill"), ("pool", "fresh", "abort"),
    ("pool", "process", "hang"),
]
REASONS = {"raise": "RuntimeError: injected fault", "nan": "non-finite score: nan", "inf": "non-finite score: inf",
           "exit": "SystemExit: 3", "hang": "timed out after 0.5 s", "abort": "killed by signal SIGABRT",
           "sigkill": "killed by signal SIGKILL", "segfault": "killed by signal SIGSEGV"}


def check_faults(history, mode: str, rate: float = 0.5) -> list:
    """Every trial the ``fault`` objective made faulty failed with the mode's reason, every
    healthy one scored what a direct call scores; at least one fault was injected.
    Returns the set records for further checks."""
    fault = ObjectiveRef("fault", {"mode": mode, "rate": rate}).build()
    n_faulty = 0
    for rec in history.sets.values():
        for t, tr in rec.trials.items():
            if fault.is_faulty(rec.seeds[t]):
                n_faulty += 1
                assert not tr.ok and REASONS[mode] in tr.error, tr.error
            else:  # the healthy trials are untouched: the score of a direct call
                assert tr.ok and tr.score == pytest.approx(fault(rec.params, t, rec.seeds[t]), rel=1e-12)
    assert n_faulty > 0, "the seed must inject at least one fault"
    return list(history.sets.values())


@pytest.mark.parametrize("executor, isolation, mode", FAULTS, ids=["-".join(f) for f in FAULTS])
@pytest.mark.slow
def test_injected_faults_are_recorded_and_the_budget_completes(tmp_path, executor, isolation, mode):
    budget, trials = 4, 2
    path = write_cfg(tmp_path, objective={"name": "fault", "mode": mode, "rate": 0.5, "hang_s": 30},
                     budget=budget, trials=trials, trial_timeout=0.5, isolation=isolation,
                     executor={"kind": executor, "workers": 2} if executor == "pool" else executor)
    assert main([str(path), "--quiet"]) == 0
    history = check_complete(tmp_path / "out", budget, trials)
    for rec in check_faults(history, mode):
        assert rec.state == ("done" if rec.n_ok >= 1 else "failed")


def test_min_ok_trials_fails_the_set_and_failed_sets_stay_out_of_the_fit(tmp_path):
    path = write_cfg(tmp_path, objective={"name": "fault", "mode": "raise", "rate": 0.4}, budget=8, trials=3,
                     min_ok_trials=3)
    assert main([str(path), "--quiet"]) == 0
    history = check_complete(tmp_path / "out", 8, 3)
    from hyppo_hep.config import load_config

    space = load_config(path).space
    assert history.failed and history.done
    assert all(r.n_ok < 3 for r in history.failed) and all(r.n_ok == 3 for r in history.done)
    X, mean, std, n_ok = history.arrays(space)
    assert len(X) == len(history.done), "failed sets are not fitted"
    assert len(history.keys(space)) == 8, "failed sets are never proposed again"


def test_consecutive_failures_stop_the_run_with_a_message(tmp_path, capsys):
    path = write_cfg(tmp_path, objective={"name": "fault", "mode": "raise", "rate": 1.0}, budget=20, trials=2,
                     max_consecutive_failures=5)
    assert main([str(path), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "stopped after 5 failed trials in a row" in err and "RuntimeError: injected fault" in err
    assert "--resume" in err and err.count("\n") == 1
    evs = events(tmp_path / "out")
    assert evs[-1]["event"] == "run_finished" and evs[-1]["reason"] == "too many failures"
    assert sum(e["event"] == "trial_finished" for e in evs) == 5


@pytest.mark.slow
def test_objective_that_cannot_build_is_exit_2_and_leaves_no_journal(tmp_path, capsys):
    for i, (executor, isolation) in enumerate([("serial", "none"), ("serial", "process"), ("pool", "process")]):
        out = tmp_path / f"o{i}"
        path = write_cfg(tmp_path, objective={"name": "fault", "mode": "explode"}, out=str(out),
                         isolation=isolation, executor={"kind": executor, "workers": 2} if executor == "pool" else executor)
        assert main([str(path), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "mode 'explode' is not one of" in err and err.count("\n") == 1 and "Traceback" not in err
        assert not out.exists(), "no partial output a later run could mistake for results"


def test_isolated_run_gives_the_same_journal_as_in_process(tmp_path):
    from tests.test_run import strip_times

    a = write_cfg(tmp_path, "a.yaml", out=str(tmp_path / "a"))
    b = write_cfg(tmp_path, "b.yaml", out=str(tmp_path / "b"), isolation="process")
    assert main([str(a), "--quiet"]) == 0 and main([str(b), "--quiet"]) == 0
    strip = lambda p: [e for e in strip_times(p) if e["event"] != "campaign"]  # noqa: E731
    assert strip(tmp_path / "a" / "journal.jsonl") == strip(tmp_path / "b" / "journal.jsonl")


# --- 2. kills and signals ---------------------------------------------------------------------

@pytest.mark.slow
def test_sigkill_at_10_random_moments_then_resume_loses_nothing(tmp_path, capsys):
    budget, trials = 24, 3
    ref = write_cfg(tmp_path, "ref.yaml", budget=budget, trials=trials, out=str(tmp_path / "ref"))
    assert main([str(ref), "--quiet"]) == 0
    reference = replay(tmp_path / "ref" / "journal.jsonl")
    cfg = write_cfg(tmp_path, budget=budget, trials=trials, objective={"name": "branin", "sleep": 0.05})
    out = tmp_path / "out"
    jp = out / "journal.jsonl"
    rng = random.Random(7)
    kills = 0
    for _ in range(30):
        if kills == 10:
            break
        n_campaigns = sum(e["event"] == "campaign" for e in events(out)) if jp.exists() else 0
        proc = spawn([cfg, "--quiet"] + (["--resume"] if jp.exists() else []))
        # the moment is random within the run's working time (interpreter start-up takes from
        # 0.3 s to seconds on a loaded machine): count from the run's own first journal line
        end = time.time() + 60
        while time.time() < end and proc.poll() is None and not (
                jp.exists() and sum(e["event"] == "campaign" for e in events(out)) > n_campaigns):
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.4))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
        if events(out)[-1]["event"] == "run_finished":
            break
    assert kills == 10, f"only {kills} kills landed while the run was going"
    status, err = run_main([str(cfg), "--quiet", "--resume"], capsys)
    assert status == 0, err
    history = check_complete(out, budget, trials)
    for set_id, rec in history.sets.items():  # same sets, same seeds, same scores as uninterrupted
        assert rec.params == reference.sets[set_id].params
        assert rec.scores == reference.sets[set_id].scores
    assert sum(e["event"] == "campaign" for e in events(out)) >= 2


@pytest.mark.parametrize("executor, sig, status", [("serial", signal.SIGTERM, 143), ("pool", signal.SIGTERM, 143),
                                                   ("pool", signal.SIGINT, 130)])
@pytest.mark.slow
def test_signal_stops_cleanly_and_resumes(tmp_path, executor, sig, status):
    budget, trials = 6, 2
    cfg = write_cfg(tmp_path, budget=budget, trials=trials, objective={"name": "branin", "sleep": 0.15},
                    executor={"kind": "pool", "workers": 2} if executor == "pool" else "serial")
    out = tmp_path / "out"
    proc = spawn([cfg, "--quiet"])
    end = time.time() + 30
    while time.time() < end:  # wait for the first finished set: the run is in full swing
        if (out / "journal.jsonl").exists() and any(e["event"] == "set_finished" for e in events(out)):
            break
        time.sleep(0.05)
    kids = children_of(proc.pid)
    assert len(kids) >= (2 if executor == "pool" else 0)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == status, err
    assert err.count("\n") == 1 and "Traceback" not in err and "--resume" in err, err
    assert not wait_gone(kids), "the trial processes are stopped with the run"
    evs = events(out)
    assert evs[-1]["event"] == "run_finished" and evs[-1]["reason"] == "interrupted"
    assert evs[-1]["signal"] == signal.Signals(sig).name
    assert (out / "journal.jsonl").read_bytes().endswith(b"\n")
    assert main([str(cfg), "--quiet", "--resume"]) == 0
    check_complete(out, budget, trials)


@pytest.mark.slow
def test_sigkill_of_the_master_leaves_no_orphan_trial(tmp_path):
    cfg = write_cfg(tmp_path, objective={"name": "fault", "mode": "hang", "rate": 1.0}, isolation="process")
    proc = spawn([cfg, "--quiet"])
    end = time.time() + 30
    kids = []
    while time.time() < end and not kids:
        kids = [k for k in children_of(proc.pid) if "spawn_main" in Path(f"/proc/{k}/cmdline").read_text()]
        time.sleep(0.1)
    assert kids
    proc.kill()
    proc.wait()
    assert not wait_gone(kids), "an isolated child exits when its master dies"


# --- 3. malformed configs: exit 2, one line, never a traceback ---------------------------------

def run_main(args, capsys):
    status = main(args)
    captured = capsys.readouterr()
    return status, captured.err


def test_torn_last_line_and_garbage_journal(tmp_path, capsys):
    cfg = write_cfg(tmp_path, budget=3)
    assert main([str(cfg), "--quiet"]) == 0
    jp = tmp_path / "out" / "journal.jsonl"
    good = jp.read_text()
    jp.write_text(good + '{"event": "trial_fini')  # killed mid-write: tolerated
    assert main([str(cfg), "--quiet", "--resume", "--budget", "4"]) == 0
    check_complete(tmp_path / "out", 4, 2)
    jp.write_text("not json\n" + good)  # damaged elsewhere: refused, naming the line
    status, err = run_main([str(cfg), "--quiet", "--resume"], capsys)
    assert status == 2 and "line 1 is not valid JSON" in err and err.count("\n") == 1


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
# each mutation makes a valid config invalid; several may be combined
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


def assert_one_line_exit_2(status, err, what):
    assert status == 2, f"{what}: status {status}, stderr {err!r}"
    assert err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err, f"{what}: {err!r}"


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


@pytest.mark.slow
def test_slurm_requeue_script_stops_requeues_and_resumes(tmp_path):
    """jobs/slurm_requeue.sh with stand-ins for the three Slurm commands it calls (srun runs
    its command, scancel --signal=TERM signals it, scontrol writes down what it was asked):
    the script's own logic is real. Under a real Slurm: tests/executor/test_slurm.py."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(f'#!/bin/bash\necho $$ > {tmp_path}/run.pid\nexec "$@"\n')
    (bin_dir / "scancel").write_text(f'#!/bin/bash\nkill -TERM "$(cat {tmp_path}/run.pid)"\n')
    (bin_dir / "scontrol").write_text(f'#!/bin/bash\necho "$@" >> {tmp_path}/scontrol.log\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    budget, trials = 6, 2
    cfg = write_cfg(tmp_path, budget=budget, trials=trials, objective={"name": "branin", "sleep": 0.15})
    out = tmp_path / "out"
    run_env = {**env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "4242",
               "PYTHON": sys.executable}
    script = [str(ROOT / "jobs" / "slurm_requeue.sh"), str(cfg), "--quiet"]
    job = subprocess.Popen(["bash", *script], cwd=tmp_path, env=run_env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    end = time.time() + 30
    while time.time() < end and not ((out / "journal.jsonl").exists()
                                     and any(e["event"] == "set_finished" for e in events(out))):
        time.sleep(0.05)
    job.send_signal(signal.SIGUSR1)  # what --signal=B:USR1@120 does
    log, _ = job.communicate(timeout=60)
    assert job.returncode == 143, log
    assert "requeueing" in log and (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"
    assert events(out)[-1]["reason"] == "interrupted"
    # the requeued job: same script, finds the journal, resumes to the end, no requeue
    job = subprocess.run(["bash", *script], cwd=tmp_path, env=run_env, capture_output=True, text=True, timeout=120)
    assert job.returncode == 0, job.stdout + job.stderr
    assert "campaign finished" in job.stdout
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"
    check_complete(out, budget, trials)
    assert sum(e["event"] == "campaign" and e["resumed"] for e in events(out)) == 1


_CALLS = {"n": 0}


def term_on_call_7(params, trial, seed, device):
    """An objective that sends SIGTERM to its own (master) process on its 7th call: the
    moment Slurm's warning arrives in the middle of a staged campaign's first stage."""
    _CALLS["n"] += 1
    if _CALLS["n"] == 7:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted by the signal's exception
    return ObjectiveRef("branin", {}).build()(params, trial, seed, device)


def test_staged_campaign_interrupted_in_a_stage_resumes_that_stage(tmp_path, capsys):
    """Bug fixed: a stage journal ending in run_finished was taken as a finished stage even
    when the run had been interrupted; now only a spent budget counts as finished."""
    _CALLS["n"] = 0
    cfg = write_cfg(tmp_path, objective="tests.test_reliability:term_on_call_7", budget=4, trials=2,
                    stages=[{"name": "broad"}, {"name": "focus", "ranges": "auto", "budget": 3}])
    status, err = run_main([str(cfg), "--quiet"], capsys)
    assert status == 143 and "interrupted by SIGTERM" in err and err.count("\n") == 1
    broad = tmp_path / "out" / "0_broad"
    assert events(broad)[-1]["reason"] == "interrupted"
    assert not (tmp_path / "out" / "1_focus").exists()
    status, err = run_main([str(cfg), "--quiet", "--resume"], capsys)
    assert status == 0, err
    check_complete(broad, 4, 2)
    check_complete(tmp_path / "out" / "1_focus", 3, 2)


# --- 4. determinism and safe loading --------------------------------------------------------

def _train_tiny(seed):
    import torch

    from hyppo_hep.seeding import seed_everything

    seed_everything(seed)
    net = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Dropout(0.2), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(64, 4)
    y = x.sum(dim=1, keepdim=True) ** 2
    for _ in range(30):
        idx = torch.randint(0, 64, (16,))
        loss = ((net(x[idx]) - y[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [p.detach().clone() for p in net.parameters()], loss.item()


def test_seeded_training_is_reproducible_on_cpu():
    import torch

    (a, la), (b, lb), (c, lc) = _train_tiny(5), _train_tiny(5), _train_tiny(6)
    assert la == lb and all(torch.equal(p, q) for p, q in zip(a, b)), "same seed: bit-identical training"
    assert la != lc, "another seed trains differently"


def test_checkpoints_load_weights_only(tmp_path):
    import torch

    from hyppo_hep.errors import UserError
    from hyppo_hep.seeding import load_checkpoint, save_checkpoint

    save_checkpoint({"w": torch.arange(3.0)}, tmp_path / "ok.pt")
    assert torch.equal(load_checkpoint(tmp_path / "ok.pt")["w"], torch.arange(3.0))
    torch.save({"w": Path("/etc")}, tmp_path / "code.pt")  # an arbitrary object: needs full unpickling
    with pytest.raises(UserError, match="cannot be loaded safely"):
        load_checkpoint(tmp_path / "code.pt")
    with pytest.raises(UserError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def uses_a_subprocess(params, trial, seed, device):
    """An objective that starts a process of its own, as a DataLoader with workers does."""
    import multiprocessing as mp

    with mp.get_context("fork").Pool(1) as pool:
        return pool.apply(float, (params["x1"] ** 2 + params["x2"],))


@pytest.mark.slow
def test_isolated_trial_may_start_its_own_processes(tmp_path):
    # Bug fixed: children ignored SIGTERM (SIG_IGN), which the pool's worker inherited, so
    # Pool.terminate could wait forever. The time limit turns such a hang into a failure.
    cfg = write_cfg(tmp_path, objective="tests.test_reliability:uses_a_subprocess", budget=4, trials=1,
                    isolation="process", trial_timeout=30)
    assert main([str(cfg), "--quiet"]) == 0
    history = check_complete(tmp_path / "out", 4, 1)
    assert all(r.state == "done" for r in history.sets.values()), [t.error for r in history.sets.values() for t in r.trials.values()]


def hangs_when_x1_is_high(params, trial, seed, device):
    if params["x1"] > 5:
        time.sleep(30)
    return params["x1"] ** 2 + params["x2"]


@pytest.mark.slow
def test_api_minimize_with_a_time_limit_and_isolation():
    import hyppo_hep

    res = hyppo_hep.minimize(hangs_when_x1_is_high, SPACE, budget=5, trials=1, seed=2, trial_timeout=0.5,
                             isolation="process")
    recs = res.history.sets.values()
    assert len(recs) == 5 and any(r.state == "failed" for r in recs) and any(r.state == "done" for r in recs)
    for r in recs:
        assert (r.state == "failed") == (r.params["x1"] > 5)
        if r.state == "failed":
            assert "timed out after 0.5 s" in r.trials[0].error


# --- 5. bad data: exit 2, one line, no journal, in process and in an isolated child ----------

@pytest.fixture
def data_files(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    good = {c: rng.standard_normal(200) for c in ("pt", "eta", "phi")}
    np.savez(tmp_path / "nan.npz", **{**good, "eta": np.where(np.arange(200) == 17, np.nan, good["eta"])})
    np.savez(tmp_path / "flat.npz", table=rng.standard_normal(200))
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file")
    (tmp_path / "data.csv").write_text("pt,eta\n1,2\n")
    return tmp_path


BAD_DATA = [
    ({"path": "missing.npz", "columns": ["pt", "eta"]}, "does not exist"),
    ({"path": "nan.npz", "columns": ["pt", "eta", "phi"]}, "NaN/inf value(s)"),
    ({"path": "flat.npz", "key": "table"}, "expected (events, columns)"),
    ({"path": "junk.npz", "columns": ["pt"]}, "is not a readable .npz"),
    ({"path": "data.csv", "columns": ["pt"]}, "unknown format '.csv'"),
    ({"path": "nan.npz", "columns": ["pt", "mass"]}, "has no column(s) ['mass']"),
]


@pytest.mark.parametrize("spec, expected", BAD_DATA, ids=[e for _, e in BAD_DATA])
def test_bad_data_file_is_exit_2_one_line_and_no_journal(data_files, capsys, spec, expected):
    spec = {**spec, "path": str(data_files / spec["path"])}
    out = data_files / "out"
    cfg = write_cfg(data_files, objective={"name": "gan_dimuon", "epochs": 1, "data": spec}, out=str(out),
                    space={"lr_gen": {"lower": 1, "upper": 10, "scaling": 1e-4}})
    status, err = run_main([str(cfg), "--quiet"], capsys)
    assert_one_line_exit_2(status, err, spec)
    assert expected in err and str(data_files) in err
    assert not out.exists(), "no partial output a later run could mistake for results"


@pytest.mark.slow
def test_bad_data_in_an_isolated_child_is_exit_2_too(data_files, capsys):
    out = data_files / "out"
    cfg = write_cfg(data_files, objective={"name": "gan_dimuon", "epochs": 1,
                                           "data": {"path": str(data_files / "nan.npz"), "columns": ["pt", "eta"]}},
                    out=str(out), isolation="process", space={"lr_gen": {"lower": 1, "upper": 10, "scaling": 1e-4}})
    status, err = run_main([str(cfg), "--quiet"], capsys)
    assert_one_line_exit_2(status, err, "isolated")
    assert "NaN/inf value(s)" in err and not out.exists()


def starts_a_sleeper(params, trial, seed, device):
    """A trial that starts a process of its own and then hangs."""
    out = Path(os.environ["HYPPO_TEST_PIDFILE"])
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    out.write_text(str(proc.pid))
    time.sleep(60)
    return 0.0


@pytest.mark.slow
def test_timeout_kills_the_processes_a_trial_started(tmp_path, monkeypatch):
    pidfile = tmp_path / "pid"
    monkeypatch.setenv("HYPPO_TEST_PIDFILE", str(pidfile))
    cfg = write_cfg(tmp_path, objective="tests.test_reliability:starts_a_sleeper", budget=1, trials=1,
                    isolation="process", trial_timeout=1.0)
    assert main([str(cfg), "--quiet"]) == 0
    rec = check_complete(tmp_path / "out", 1, 1).sets[0]
    assert rec.state == "failed" and "timed out after 1 s" in rec.trials[0].error
    assert not wait_gone([int(pidfile.read_text())]), "the trial's own process is killed with it"
