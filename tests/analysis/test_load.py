"""hyppo_hep.load: a campaign's sets and trials as pandas DataFrames, straight from the journals."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hyppo_hep
from hyppo_hep.errors import UserError

FIX = Path(__file__).parents[1] / "fixtures"


def test_staged_campaign_sets_and_trials():
    sets, trials = hyppo_hep.load(FIX / "staged")
    assert len(sets) == 20 + 8 + 8 and len(trials) == 3 * len(sets)
    assert sorted(sets["run"].unique()) == ["lhs / broad", "lhs / focus", "lhs / scan"]
    assert list(sets.columns[:6]) == ["run", "stage", "repeat", "journal", "set_id", "state"]
    assert sets.resource.isna().all() and (sets.config_id == sets.set_id).all()  # no multi-fidelity here
    for name in ("lr_gen", "noise_dim", "epochs"):
        assert name in sets.columns and name in trials.columns
    # mean and std of a set are those of its trials' scores (ddof=1)
    one = trials[(trials.stage == "focus") & (trials.set_id == 7)]
    row = sets[(sets.stage == "focus") & (sets.set_id == 7)].iloc[0]
    assert row["mean"] == pytest.approx(one.score.mean()) and row["std"] == pytest.approx(one.score.std(ddof=1))
    # every scalar of the trial info is a column; lists and dicts (histograms) are not
    assert "n_params" in trials.columns and "histograms" not in trials.columns
    assert trials.n_params.notna().all() and (trials.wall_time >= 0).all()
    assert trials.seed.is_unique and trials.ok.all()


def test_per_trial_metrics_and_failures(tmp_path):
    from hyppo_hep.api import minimize

    def objective(params, trial, seed, device):
        if trial == 1 and params["x"] > 0.5:
            raise RuntimeError("diverged")
        return {"score": params["x"] ** 2, "jsd": 0.1 * trial, "best_epoch": 3 + trial, "worker": "gpu-7",
                "curve": [1.0, 0.5], "note": "ok"}

    minimize(objective, {"x": {"low": 0.0, "high": 1.0}}, budget=6, trials=2, strategy="random", seed=2,
             out=str(tmp_path / "m"))
    sets, trials = hyppo_hep.load(str(tmp_path / "m"))
    assert len(sets) == 6 and len(trials) == 12
    assert {"jsd", "best_epoch", "note", "info.worker"} <= set(trials.columns)  # "worker" would clash: prefixed
    assert (trials["info.worker"].dropna() == "gpu-7").all() and (trials.worker != "gpu-7").all()
    assert "curve" not in trials.columns
    bad = trials[~trials.ok]
    assert len(bad) == int((sets.x > 0.5).sum()) and bad.score.isna().all()
    assert bad.error.str.contains("diverged").all()
    good = trials[trials.ok]
    assert np.allclose(good.jsd, 0.1 * good.trial) and (good.best_epoch == 3 + good.trial).all()
    assert np.allclose(good.score, good.x ** 2)


def test_a_running_campaign_loads_with_pending_sets(tmp_path):
    lines = (FIX / "random_repeat" / "repeat_000" / "journal.jsonl").read_text().splitlines(keepends=True)
    events = [json.loads(x) for x in lines]
    # the first set done, the second submitted with one trial back
    cut = [i for i, e in enumerate(events) if e["event"] == "set_submitted"][1] + 1
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "journal.jsonl").write_text("".join(lines[:cut + 1]) + '{"event": "trial_fin')
    sets, trials = hyppo_hep.load(tmp_path / "live")
    assert (sets.state == "done").sum() == 1 and (sets.state == "pending").sum() >= 1
    assert len(trials) == sum(e["event"] == "trial_finished" for e in events[:cut + 1])


def test_errors_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        hyppo_hep.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="nothing to load"):
        hyppo_hep.load(tmp_path / "empty")


def test_import_hyppo_hep_does_not_import_pandas():
    code = "import sys, hyppo_hep; f = hyppo_hep.load; print('pandas' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_multi_fidelity_columns(tmp_path):
    from hyppo_hep.api import minimize
    from hyppo_hep.objectives.analytic import TABLE1_BROAD_SPACE

    space = {**TABLE1_BROAD_SPACE, "epochs": 9}
    minimize("gan_landscape", space, budget=16, trials=1, strategy={"name": "hyperband", "max_epochs": 9}, seed=1,
             out=str(tmp_path / "hb"))
    sets, trials = hyppo_hep.load(tmp_path / "hb")
    assert (sets.resource == sets.epochs).all() and set(sets.resource) >= {1, 3}
    promoted = sets[sets.config_id != sets.set_id]
    assert len(promoted) and (promoted.rung > 0).all()
    first = sets.set_index("set_id").loc[promoted.config_id]
    assert (first.rung.values == 0).all() and (first.noise_dim.values == promoted.noise_dim.values).all()
