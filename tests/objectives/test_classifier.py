"""The classifier's overfitting-aware score and the AutoML baseline beside it (issue 17.3)."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from hyppo_hep.objectives.classifier import _epoch_score, classifier
from hyppo_hep.objectives.classifier_baseline import compare_with_campaign, hgb_baseline

PARAMS = {"hidden_layers": 2, "width": 64, "dropout": 0.0, "lr": 3e-3, "batch_size": 64, "patience": 50}


def test_overfit_score_definition():
    assert _epoch_score("overfit", 0.5, 0.8, 0.3, 1.0) == pytest.approx(0.7)
    assert _epoch_score("overfit", 0.5, 0.8, 0.3, 0.0) == pytest.approx(0.5)
    assert _epoch_score("overfit", 0.5, 0.8, 0.6, 2.0) == pytest.approx(0.5)  # no bonus for a negative gap
    assert _epoch_score("loss", 0.5, 0.8, 0.3, 1.0) == 0.5
    assert _epoch_score("auc", 0.5, 0.8, 0.3, 1.0) == pytest.approx(0.2)


def test_an_overfitting_network_shows_a_gap_and_the_overfit_score_picks_an_earlier_epoch():
    # few events, a wide network, no dropout and many epochs: it memorises its training events
    obj = classifier(epochs=25, n_events=400, score="overfit", overfit_penalty=2.0)
    out = obj(PARAMS, 0, 1, "cpu")
    assert out["gap"] == pytest.approx(out["val_loss"] - out["train_loss"])
    assert out["overfit_score"] == pytest.approx(out["val_loss"] + 2.0 * max(0.0, out["gap"]))
    assert out["score"] == pytest.approx(out["overfit_score"])
    plain = classifier(epochs=25, n_events=400)(PARAMS, 0, 1, "cpu")
    # the last epochs of the plain run fit the training events ever better
    assert plain["gap"] > 0
    assert out["best_epoch"] <= plain["best_epoch"]


def test_the_plain_loss_score_is_unchanged_by_the_new_bookkeeping():
    a = classifier(epochs=3, n_events=400)(PARAMS, 0, 7, "cpu")
    b = classifier(epochs=3, n_events=400, overfit_penalty=5.0)(PARAMS, 0, 7, "cpu")
    assert a["score"] == b["score"] == a["val_loss"]
    assert {"train_loss", "gap", "overfit_score"} <= set(a)


@pytest.mark.slow
def test_hgb_baseline_is_tuned_and_weighted():
    obj = classifier(n_events=1500)
    X, y, w = obj.arrays()
    with threadpool_limits(1):  # OpenMP threads fighting other jobs for two cores cost minutes
        out = hgb_baseline(X, y, w, n_configs=2)
        again = hgb_baseline(X, y, w, n_configs=2)
    assert len(out["trials"]) == 2
    assert out["val_loss"] == min(r["val_loss"] for r in out["trials"])
    assert 0.6 < out["auc"] <= 1.0
    assert out["gap"] == pytest.approx(out["val_loss"] - out["train_loss"])
    assert again["val_loss"] == out["val_loss"]  # seeded


def test_compare_with_a_classifier_campaign_and_not_with_others():
    header = {"objective": {"name": "classifier", "options": {"n_events": 2000, "epochs": 2}}}
    trials = [{"val_loss": 0.5, "auc": 0.8, "train_loss": 0.45, "gap": 0.05},
              {"val_loss": 0.52, "auc": 0.79, "train_loss": 0.46, "gap": 0.06}]
    with threadpool_limits(1):
        cmp = compare_with_campaign(header, trials, n_configs=1)
    assert cmp["n_events"] == 2000
    assert cmp["dnn"]["val_loss"] == pytest.approx((0.51, np.std([0.5, 0.52], ddof=1)))
    assert set(cmp["baseline"]) >= {"val_loss", "auc", "gap", "params"}
    assert compare_with_campaign({"objective": {"name": "gan_dimuon"}}, trials) is None


def test_the_report_section_puts_dnn_and_baseline_side_by_side():
    from hyppo_hep.analysis.baseline_section import baseline_rows

    cmp = {"dnn": {"val_loss": (0.5, 0.01), "auc": (0.8, 0.002), "train_loss": (0.45, 0.01), "gap": (0.05, 0.001)},
           "baseline": {"val_loss": 0.48, "auc": 0.82, "train_loss": 0.4, "gap": 0.08, "n_configs": 12}}
    rows = baseline_rows(cmp, 7)
    assert rows[0]["model"].startswith("tuned DNN (best set 7")
    assert rows[0]["val_loss"] == "0.50000 ± 0.01000" and rows[1]["auc"] == "0.82000"
    assert rows[1]["model"] == "HistGradientBoosting (12 configurations tried)"


@pytest.mark.slow
def test_a_classifier_campaign_report_shows_the_baseline_beside_the_tuned_dnn(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("objective: {name: classifier, epochs: 2, n_events: 1200, score: overfit}\n"
                   "space: {width: {lower: 2, upper: 8, scaling: 8}, lr: {low: 1.0e-3, high: 1.0e-2, log: true}}\n"
                   f"budget: 3\ntrials: 2\nstrategy: random\nout: {tmp_path / 'run'}\n")
    env = {"OMP_NUM_THREADS": "1", **__import__("os").environ}
    run = subprocess.run([sys.executable, "-m", "hyppo_hep.run", str(cfg), "--quiet"], cwd=root, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rep = subprocess.run([sys.executable, "-m", "hyppo_hep.analyze", str(tmp_path / "run"), "--formats", "png"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert rep.returncode == 0, rep.stderr
    html = (tmp_path / "run" / "report" / "report.html").read_text()
    assert "Classifier against an AutoML baseline" in html
    assert "HistGradientBoosting (12 configurations tried)" in html and "tuned DNN (best set" in html
