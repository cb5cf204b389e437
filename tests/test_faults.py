"""Injected faults (the ``fault`` objective): every fault is a recorded failed trial and the
budget completes; min_ok_trials, consecutive failures and an objective that cannot build."""

import pytest

from hyppo_hep.run import main
from tests.helpers import check_complete, check_faults, events, write_cfg


FAULTS = [  # (executor, isolation, mode)
    ("serial", "none", "raise"), ("serial", "none", "nan"), ("serial", "none", "inf"),
    ("serial", "none", "exit"), ("serial", "none", "hang"),
    ("serial", "process", "abort"), ("serial", "process", "sigkill"), ("serial", "process", "hang"),
    ("pool", "process", "segfault"), ("pool", "process", "sigkill"), ("pool", "fresh", "abort"),
    ("pool", "process", "hang"),
]


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
