"""Saved generators of a real campaign reload (weights only), regenerate the trial's own
score exactly, and the export draws the ensemble figure; a campaign without saved models
is a one-line error."""

import numpy as np
import pytest
import torch
import yaml

from hyppo_hep import export
from hyppo_hep.models.checkpoint import load_generator, set_key, trial_path
from hyppo_hep.objectives import gan
from hyppo_hep.run import main as run_main

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    cfg = {"objective": {"name": "gan_hadronization", "epochs": 2, "n_events": 800, "save_dir": str(tmp / "models"),
                         "cache_dir": str(tmp / "cache")},
           "space": {"lr_gen": {"choices": [5e-4, 1e-3]}, "batch_size": 64, "gen_layersize": 16, "disc_layersize": 16},
           "trials": 2, "budget": 2, "strategy": "grid", "seed": 1, "out": str(tmp / "out")}
    (tmp / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert run_main([str(tmp / "c.yaml"), "--quiet"]) == 0
    return tmp


def test_saved_generators_reload_and_reproduce_their_score(campaign):
    rec, options = export.best_set(str(campaign / "out"))
    assert options["save_dir"] == str(campaign / "models")
    models = export.load_set(options["save_dir"], rec)
    assert len(models) == 2 and all(p.parent.name == set_key(rec.params) for *_, p in models)
    for t, (G, cfg, path) in enumerate(models):
        assert path == trial_path(options["save_dir"], rec.params, t)
        assert cfg["score"] == pytest.approx(rec.trials[t].score) and cfg["params"]["lr_gen"] == rec.params["lr_gen"]
        # the saved weights are the best epoch's: their W1 is best_w1, the curve's minimum
        curve = rec.trials[t].info["epoch_scores"]
        assert cfg["best_w1"] == pytest.approx(min(curve)) and cfg["best_epoch"] == int(np.argmin(curve)) + 1
        assert cfg["score"] == pytest.approx(gan.trial_score(curve, 0.5, 0.2, rec.trials[t].info["untrained_score"]))
        # the evaluation of that epoch, redone with the reloaded weights, gives its W1 again
        obj = gan.GanObjective(**cfg["objective"])
        data = gan.GanData.build(*obj.arrays(), obj.test_fraction, obj.data_seed, "cpu")
        ev = gan.Evaluator(data, cfg["noise_dim"], 4 * len(data.x_test), cfg["seed"], "cpu")
        assert ev(G)[0] == pytest.approx(cfg["best_w1"], rel=1e-6)
    G, cfg = load_generator(models[0][2])
    x = G(torch.randn(50, cfg["noise_dim"]), torch.zeros(50, cfg["cond_dim"]))
    assert x.shape == (50, 2) and torch.isfinite(x).all()
    assert (x >= torch.tensor(cfg["lo"]) - 1e-5).all() and (x <= torch.tensor(cfg["hi"]) + 1e-5).all()


def test_export_cli_draws_the_ensemble_figure(campaign, capsys):
    fig = campaign / "fig.png"
    assert export.main([str(campaign / "out"), "--events", "500", "--figure", str(fig)]) == 0
    assert fig.stat().st_size > 10_000
    lines = capsys.readouterr().out.splitlines()
    assert len([ln for ln in lines if "regenerated W1" in ln]) == 2
    scores = [float(ln.rsplit(" ", 1)[1]) for ln in lines if "regenerated W1" in ln]
    assert all(0 < s < 0.5 for s in scores) and np.all(np.isfinite(scores))


def test_export_without_saved_generators_is_one_line(tmp_path, capsys):
    cfg = {"objective": {"name": "gan_dimuon", "epochs": 1, "n_events": 300, "cache_dir": str(tmp_path / "cache")},
           "space": {"lr_gen": {"choices": [5e-4]}, "batch_size": 64, "gen_layersize": 8, "disc_layersize": 8},
           "trials": 1, "budget": 1, "strategy": "grid", "seed": 1, "out": str(tmp_path / "out")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert run_main([str(tmp_path / "c.yaml"), "--quiet"]) == 0
    capsys.readouterr()
    assert export.main([str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no save_dir option" in err and "\n" not in err
    assert export.main([str(tmp_path / "nowhere")]) == 2
