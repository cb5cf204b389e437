"""A campaign handed to Optuna (journal file) and MLflow, checked with the real libraries."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
objective: {name: curve, base: branin, epochs: 4}
space:
  x1: {low: -5.0, high: 10.0}
  x2: {lower: 0, upper: 15, scaling: 1}
  kind: {choices: [a, b]}
  epochs: 4
trials: 3
budget: 8
strategy: random
executor: serial
"""


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("interop")
    cfg = tmp / "c.yaml"
    cfg.write_text(CONFIG)
    out = tmp / "run"
    proc = subprocess.run([sys.executable, "-m", "hyppo_hep.run", str(cfg), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    sets = {}
    for line in (out / "journal.jsonl").read_text().splitlines():
        ev = json.loads(line)
        if ev.get("event") == "trial_finished" and ev.get("score") is not None:
            sets.setdefault(ev["set_id"], []).append(ev["score"])
    return out, sets


def interop(*args):
    return subprocess.run([sys.executable, "-m", "hyppo_hep.interop", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)


@pytest.mark.slow
def test_optuna_journal_opens_in_optuna_with_every_set_and_trial(campaign, tmp_path):
    optuna = pytest.importorskip("optuna")
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    out, sets = campaign
    log = tmp_path / "o.log"
    proc = interop("optuna", out, "--file", log, "--study", "mine")
    assert proc.returncode == 0, proc.stderr
    study = optuna.load_study(study_name="mine", storage=JournalStorage(JournalFileBackend(str(log))))
    trials = study.get_trials()
    assert len(trials) == 8
    for t in trials:
        scores = sets[t.user_attrs["set_id"]]
        assert sorted(t.user_attrs["trial_scores"]) == pytest.approx(sorted(scores))
        assert t.value == pytest.approx(np.mean(scores))
        assert t.user_attrs["std"] == pytest.approx(np.std(scores, ddof=1))
        assert set(t.params) == {"x1", "x2", "kind"}  # the fixed epochs is a user attribute
        assert t.user_attrs["fixed.epochs"] == 4
        assert len(t.intermediate_values) == 4  # the per-epoch means of the curve objective
    assert study.best_value == pytest.approx(min(np.mean(s) for s in sets.values()))
    # optuna's own visualisation reads it
    from optuna.visualization import plot_param_importances

    plot_param_importances(study)
    # a second export into the same file under the same name is refused in one line, nothing lost
    again = interop("optuna", out, "--file", log, "--study", "mine")
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "already holds a study 'mine'" in again.stderr


@pytest.mark.slow
def test_mlflow_gets_a_parent_run_and_one_nested_run_per_set(campaign, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    out, sets = campaign
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = interop("mlflow", out, "--tracking-uri", uri, "--experiment", "exp")
    assert proc.returncode == 0, proc.stderr
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("exp")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(runs) == 9 and len(children) == 8
    best = [r for r in children if r.data.tags.get("hyppo_hep.best") == "true"]
    assert len(best) == 1
    best_scores = sets[int(best[0].data.tags["hyppo_hep.set_id"])]
    assert best[0].data.metrics["mean"] == pytest.approx(min(np.mean(s) for s in sets.values()))
    history = client.get_metric_history(best[0].info.run_id, "trial_score")
    assert sorted(m.value for m in history) == pytest.approx(sorted(best_scores))
    assert set(best[0].data.params) == {"x1", "x2", "kind", "epochs"}


def test_a_bad_directory_or_store_is_one_line_and_exit_2(tmp_path):
    proc = interop("optuna", tmp_path / "nothing")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "does not exist" in proc.stderr
