"""Per-epoch reports, budgets and the median stopping rule actually stop training."""

import math

import numpy as np
import pytest

from hyppo_hep import fidelity
from hyppo_hep.config import parse_config
from hyppo_hep.errors import ConfigError
from hyppo_hep.executor.base import run_trial
from hyppo_hep.fidelity import EarlyStopping, Fidelity, median_stop_curve
from hyppo_hep.journal import read_events
from hyppo_hep.objectives.analytic import LearningCurve
from hyppo_hep.run import main


class Counting:
    """Trains up to 10 epochs; counts the epochs it really ran. ``obey``: break when told."""

    def __init__(self, obey=True, scores=None):
        self.obey, self.ran = obey, 0
        self.scores = scores or [10.0 - e for e in range(10)]

    def __call__(self, params, trial, seed, device):
        for epoch in range(10):
            self.ran += 1
            if fidelity.report(epoch, self.scores[epoch]) and self.obey:
                break
        return min(self.scores[:self.ran])


def test_report_outside_a_trial_is_a_no_op():
    assert fidelity.report(0, 1.0) is False and fidelity.current() is None
    assert fidelity.epochs(7) == 7


def test_budget_stops_the_training():
    obj = Counting()
    res = run_trial(obj, {}, 0, 0, 1, "cpu", "w", fidelity=Fidelity(budget=3))
    assert obj.ran == 3 and res.ok and res.score == 8.0
    assert res.info == {"epochs_run": 3, "stopped": "budget", "epoch_scores": [10.0, 9.0, 8.0]}
    obj = Counting()  # no fidelity: runs everything, still records its epochs
    res = run_trial(obj, {}, 0, 0, 1, "cpu", "w")
    assert obj.ran == 10 and res.info["epochs_run"] == 10 and res.info["stopped"] is None


def test_a_training_that_ignores_the_signal_is_stopped_anyway():
    obj = Counting(obey=False)
    res = run_trial(obj, {}, 0, 0, 1, "cpu", "w", fidelity=Fidelity(budget=3))
    # it trained a 4th epoch before reporting it; the report raised StopTrial
    assert obj.ran == 4 and res.ok and res.score == 8.0 and res.info["epochs_run"] == 3


def test_objective_info_wins_and_errors_keep_the_epochs():
    def failing(params, trial, seed, device):
        fidelity.report(0, 1.0)
        raise RuntimeError("boom")

    res = run_trial(failing, {}, 0, 0, 1, "cpu", "w")
    assert not res.ok and "boom" in res.error and res.info["epoch_scores"] == [1.0]
    obj = LearningCurve("branin", epochs=5)
    res = run_trial(obj, {"x1": 3.0, "x2": 2.0}, 0, 0, 1, "cpu", "w", fidelity=Fidelity(budget=2))
    assert res.info["epochs_run"] == 2 and len(res.info["epoch_scores"]) == 2
    assert res.score == min(res.info["epoch_scores"])


def test_median_curve_numbers():
    curve = median_stop_curve([[3, 1], [1, 1], [2, 2, 2]], min_curves=3)
    # running means [3, 2], [1, 1], [2, 2, 2] -> medians 2, 2; epoch 2 has one curve only
    assert curve[0] == 2.0 and curve[1] == 2.0 and math.isinf(curve[2])
    assert median_stop_curve([[1.0], [2.0]], min_curves=3) is None
    assert median_stop_curve([[1, float("nan")], [1], [2], [3]], min_curves=3).tolist() == [2.0]


def test_median_rule_stops_a_trial_that_falls_behind():
    curve = (5.0, 4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    bad = Counting(scores=[9.0] * 10)
    res = run_trial(bad, {}, 0, 0, 1, "cpu", "w", fidelity=Fidelity(stop_curve=curve, min_epochs=3))
    assert bad.ran == 3 and res.info["stopped"] == "median"
    good = Counting(scores=[0.5] * 10)
    res = run_trial(good, {}, 0, 0, 1, "cpu", "w", fidelity=Fidelity(stop_curve=curve, min_epochs=3))
    assert good.ran == 10 and res.info["stopped"] is None


def test_median_rule_from_yaml_stops_trials_and_journals_it(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("objective: {name: curve, epochs: 12}\n"
                   "space: {x1: {lower: -50, upper: 100, scaling: 0.1}, x2: {lower: 0, upper: 150, scaling: 0.1}}\n"
                   "trials: 2\nbudget: 16\nstrategy: random\nseed: 3\n"
                   "early_stopping: {rule: median, min_epochs: 2, min_trials: 4}\n")
    assert main([str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    trials = [e for e in read_events(tmp_path / "o" / "journal.jsonl") if e["event"] == "trial_finished"]
    runs = [e["info"]["epochs_run"] for e in trials]
    stopped = [e for e in trials if e["info"]["stopped"] == "median"]
    assert len(trials) == 32 and stopped and all(e["info"]["epochs_run"] < 12 for e in stopped)
    assert sum(runs) < 32 * 12
    assert all(e["score"] == pytest.approx(min(e["info"]["epoch_scores"])) for e in trials)
    header = next(read_events(tmp_path / "o" / "journal.jsonl"))
    assert header["early_stopping"] == {"rule": "median", "min_epochs": 2, "min_trials": 4}


def test_early_stopping_config_errors():
    base = {"objective": "branin", "space": {"x1": {"lower": 0, "upper": 3}, "x2": {"lower": 0, "upper": 3}}}
    assert parse_config({**base, "early_stopping": "median"}).early_stopping == EarlyStopping()
    assert parse_config({**base, "early_stopping": None}).early_stopping is None
    with pytest.raises(ConfigError, match="early_stopping.rule"):
        parse_config({**base, "early_stopping": {"rule": "mean"}})
    with pytest.raises(ConfigError, match="early_stopping.min_epochs"):
        parse_config({**base, "early_stopping": {"min_epochs": 0}})
    with pytest.raises(ConfigError, match="early_stopping.patience"):
        parse_config({**base, "early_stopping": {"patience": 3}})


def test_stop_curve_is_built_from_finished_trials():
    from hyppo_hep.history import History, SetRecord, TrialRecord

    h = History()
    rec = SetRecord(0, {}, [1, 2, 3, 4])
    for t, c in enumerate([[4.0, 2.0], [2.0, 2.0], [3.0, 3.0], [0.0]]):
        info = {"epoch_scores": c, "stopped": "median" if t == 3 else None}  # a stopped curve is no reference
        rec.trials[t] = TrialRecord(t, t, min(c), info=info)
    h.add_set(rec)
    stopper = EarlyStopping(min_epochs=1, min_trials=3).stopper()
    stopper.add_history(h)
    fid = stopper.fidelity(budget=5)
    assert fid.budget == 5 and fid.min_epochs == 1
    np.testing.assert_allclose(fid.stop_curve, [3.0, 3.0])  # running means [4,3] [2,2] [3,3]
    stopper.add(False, {"epoch_scores": [9.0, 9.0]})  # failed trials are no reference either
    assert stopper.fidelity().stop_curve == fid.stop_curve
    stopper.add(True, {"epoch_scores": [9.0, 9.0]})
    np.testing.assert_allclose(stopper.fidelity().stop_curve, [3.5, 3.0])  # medians of 4 curves
    lazy = EarlyStopping(min_trials=4).stopper()
    lazy.add_history(h)
    assert lazy.fidelity().stop_curve is None


@pytest.mark.slow
@pytest.mark.parametrize("name,options,params", [
    ("gan_dimuon", {"epochs": 6, "n_events": 1200},
     {"lr_gen": 1e-3, "lr_disc": 1e-3, "batch_size": 64, "noise_dim": 4, "gen_layersize": 32, "disc_layersize": 32}),
    ("classifier", {"epochs": 6, "n_events": 1000}, {"patience": 100}),
    ("vae_shower", {"epochs": 6, "n_events": 200, "val_events": 50, "grid": [12, 8, 8], "energy_range": [10, 100]},
     {"latent_dim": 4, "enc_width": 64, "dec_width": 64, "batch_size": 32}),
])
def test_hep_objectives_stop_at_the_trial_budget(name, options, params, tmp_path_factory):
    import torch

    from hyppo_hep.objectives.registry import resolve

    torch.set_num_threads(1)
    cache = str(tmp_path_factory.getbasetemp() / "hep-cache")  # shared with test_objectives_hep
    obj = resolve(name, {**options, "cache_dir": cache})
    res = run_trial(obj, params, 0, 0, 1, "cpu", "w", fidelity=Fidelity(budget=2))
    assert res.ok, res.error
    assert res.info["epochs_run"] == 2 and len(res.info["epoch_scores"]) == 2 and res.info["stopped"] == "budget"
    # the GAN's score blends its best epoch with the end (gan.trial_score); best_w1 is the best epoch's
    assert res.info.get("best_w1", res.score) == pytest.approx(min(res.info["epoch_scores"]))


@pytest.mark.slow
def test_budgets_and_median_rule_cross_mpi(tmp_path):
    """ASHA + median rule under real mpiexec (master + 2 groups of 1): every trial trained
    exactly its rung's budget or was stopped by the median rule, as the journal says."""
    pytest.importorskip("mpi4py")
    from tests.executor.test_mpi import launch

    cfg = {"objective": {"name": "curve", "epochs": 9, "sleep": 0.01},
           "space": {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1},
                     "epochs": 9},
           "trials": 1, "budget": 16, "strategy": {"name": "asha"}, "seed": 3, "out": str(tmp_path / "out"),
           "executor": {"kind": "mpi", "group_size": 1},
           "early_stopping": {"rule": "median", "min_epochs": 1, "min_trials": 3}}
    proc = launch(3, tmp_path, cfg, "--quiet")
    assert proc.returncode == 0, proc.stderr
    events = list(read_events(tmp_path / "out" / "journal.jsonl"))
    budget = {e["set_id"]: e["resource"] for e in events if e["event"] == "set_submitted"}
    trials = [e for e in events if e["event"] == "trial_finished"]
    assert len(trials) == 16 and any(budget[e["set_id"]] > 1 for e in trials)
    for e in trials:
        info = e["info"]
        assert info["stopped"] in ("budget", "median")
        if info["stopped"] == "budget":
            assert info["epochs_run"] == budget[e["set_id"]]
        else:
            assert info["epochs_run"] < budget[e["set_id"]]
