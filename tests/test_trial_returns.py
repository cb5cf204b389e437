"""What a trial returns or raises must never end the run (issue 13, items 2 and 10).

- A returned dict holding values JSON cannot write: arrays, tensors and numpy scalars are
  converted; sets, bytes and arbitrary objects make the trial fail with the reason; in every
  executor (serial in-process and isolated, pool, MPI) and on ``--resume``.
- A trial that raises KeyboardInterrupt itself is a failed trial with its traceback (in the
  run's own process and isolated); a real Ctrl-C still stops the run with 130.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from hyppo_hep.executor.isolation import jsonable_info
from hyppo_hep.journal import Journal, read_events
from hyppo_hep.run import main

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SPACE = {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}}


class Opaque:
    def __repr__(self):
        return "<Opaque>"


UNWRITABLE = {"set": lambda: {1, 2}, "bytes": lambda: b"\x00\x01", "object": Opaque,
              "tuple-key": lambda: {(1, 2): 3}}


def odd_info(params, trial, seed, device, bad="set"):
    """Trial 0 returns convertible values (array, tensor, numpy scalars, nested); trial 1
    also holds a value of kind ``bad`` that JSON cannot write."""
    import torch

    info = {"score": np.float32(params["x1"]) ** 2 / 100, "curve": np.arange(3, dtype=np.float64) / 2,
            "weights": torch.tensor([[1.0, 2.0]], requires_grad=True), "n": np.int64(7), "ok": np.bool_(True),
            "nested": {"a": (np.float64(0.5), [np.int32(1)])}}
    if trial == 1:
        info["blob"] = UNWRITABLE[bad]()
    return info


def write_cfg(tmp_path, **kw):
    cfg = {"objective": "branin", "space": SPACE, "trials": 2, "budget": 3, "strategy": "random", "seed": 5,
           "out": str(tmp_path / "out"), **kw}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def events(out):
    return list(read_events(Path(out) / "journal.jsonl"))


def check_odd_info(out, budget, bad="set"):
    evs = events(out)
    assert evs[-1]["event"] == "run_finished" and evs[-1]["reason"] == "budget"
    trials = [e for e in evs if e["event"] == "trial_finished"]
    assert sorted((e["set_id"], e["trial"]) for e in trials) == [(s, t) for s in range(budget) for t in (0, 1)]
    for e in trials:
        if e["trial"] == 0:
            assert e["error"] is None and e["score"] is not None
            assert e["info"]["curve"] == [0.0, 0.5, 1.0] and e["info"]["weights"] == [[1.0, 2.0]]
            assert e["info"]["n"] == 7 and e["info"]["ok"] is True and e["info"]["nested"] == {"a": [0.5, [1]]}
        else:
            assert e["score"] is None, "a value the journal cannot hold fails the trial"
            assert "info['blob']" in e["error"] and "cannot be written to the journal" in e["error"], e["error"]
            assert e["info"]["curve"] == [0.0, 0.5, 1.0], "the writable part of info is kept"
    return evs


def test_jsonable_info_converts_and_names_what_it_cannot():
    import torch

    info, problems = jsonable_info({"a": np.ones((2, 2), np.float32), "t": torch.arange(3), "s": np.float16(1.5),
                                    "l": [np.int8(2), (3, np.nan)], "k": {1: "x"}})
    assert problems == []
    assert info == {"a": [[1.0, 1.0], [1.0, 1.0]], "t": [0, 1, 2], "s": 1.5, "l": [2, [3, info["l"][1][1]]],
                    "k": {1: "x"}}
    assert np.isnan(info["l"][1][1])
    json.dumps(info)
    for kind, make in UNWRITABLE.items():
        info, problems = jsonable_info({"good": 1, "bad": {"deep": [make()]}})
        assert info == {"good": 1} and len(problems) == 1 and "info['bad']['deep'][0]" in problems[0], (kind, problems)
    loop: list = []
    loop.append(loop)
    info, problems = jsonable_info({"loop": loop})
    assert info == {} and "info['loop']" in problems[0]


def test_journal_writes_a_value_that_slipped_through(tmp_path):
    path = tmp_path / "j.jsonl"
    j = Journal(path)
    j.append("trial_finished", info={"a": np.arange(3), "s": {1}, "b": b"x", "o": Opaque(), "n": np.float32(2)})
    j.close()
    (ev,) = read_events(path)
    assert ev["info"]["a"] == [0, 1, 2] and ev["info"]["n"] == 2.0
    assert all(isinstance(ev["info"][k], str) for k in ("s", "b", "o"))


@pytest.mark.slow
@pytest.mark.parametrize("executor, isolation, bad", [
    ("serial", "none", "set"), ("serial", "none", "object"), ("serial", "process", "bytes"),
    ("serial", "process", "object"), ("pool", "process", "set"), ("pool", "fresh", "tuple-key")])
def test_unwritable_trial_values_fail_the_trial_not_the_run(tmp_path, capsys, executor, isolation, bad):
    cfg = write_cfg(tmp_path, objective={"name": "tests.test_trial_returns:odd_info", "bad": bad}, isolation=isolation,
                    executor={"kind": "pool", "workers": 2} if executor == "pool" else executor, budget=2)
    assert main([str(cfg), "--quiet"]) == 0, capsys.readouterr().err
    check_odd_info(tmp_path / "out", 2, bad)


def test_resume_of_a_set_with_unwritable_values_completes(tmp_path, capsys):
    """A journal that stopped in the middle of such a set (as the crash used to leave it)
    resumes to the budget."""
    cfg = write_cfg(tmp_path, objective={"name": "tests.test_trial_returns:odd_info", "bad": "set"}, budget=2)
    assert main([str(cfg), "--quiet"]) == 0
    path = tmp_path / "out" / "journal.jsonl"
    lines = path.read_text().splitlines()
    # cut after set 1 was submitted: its trials are in flight, as at the crash
    cut = next(i for i, line in enumerate(lines) if '"set_submitted"' in line and '"set_id": 1' in line)
    path.write_text("\n".join(lines[:cut + 1]) + "\n")
    assert main([str(cfg), "--quiet", "--resume"]) == 0, capsys.readouterr().err
    check_odd_info(tmp_path / "out", 2)


# --- KeyboardInterrupt raised by a trial --------------------------------------------------------

def interrupts_itself(params, trial, seed, device):
    """Trial 1 raises KeyboardInterrupt (a library's own Ctrl-C handling, a test harness)."""
    if trial == 1:
        raise KeyboardInterrupt("raised by the trial")
    return params["x1"] ** 2


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ["none", "process"])
def test_a_trials_own_keyboard_interrupt_is_a_failed_trial(tmp_path, capsys, isolation):
    cfg = write_cfg(tmp_path, objective="tests.test_trial_returns:interrupts_itself", isolation=isolation)
    assert main([str(cfg), "--quiet"]) == 0, capsys.readouterr().err
    evs = events(tmp_path / "out")
    assert evs[-1]["event"] == "run_finished" and evs[-1]["reason"] == "budget"
    failed = [e for e in evs if e["event"] == "trial_finished" and e["trial"] == 1]
    assert len(failed) == 3
    for e in failed:
        assert e["score"] is None
        assert "Traceback" in e["error"] and "KeyboardInterrupt: raised by the trial" in e["error"], e["error"]
        assert "interrupts_itself" in e["error"], "the traceback reaches into the trial's code"


def sleeps(params, trial, seed, device):
    time.sleep(0.3)
    return params["x1"] ** 2


@pytest.mark.slow
def test_a_real_ctrl_c_still_stops_the_run_with_130(tmp_path):
    cfg = write_cfg(tmp_path, objective="tests.test_trial_returns:sleeps", budget=50)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    proc = subprocess.Popen([sys.executable, "-m", "hyppo_hep.run", str(cfg), "--quiet"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    out = tmp_path / "out"
    end = time.time() + 30
    while time.time() < end and not ((out / "journal.jsonl").exists()
                                     and any(e["event"] == "trial_finished" for e in events(out))):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    last = events(out)[-1]
    assert last["event"] == "run_finished" and last["reason"] == "interrupted" and last["signal"] == "SIGINT"
    assert not any(e["event"] == "trial_finished" and e["score"] is None for e in events(out)), \
        "the user's Ctrl-C is not recorded as a failed trial"
