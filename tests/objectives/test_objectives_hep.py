"""HEP objectives: registry, short trainings that beat the untrained model, seeds, user data, errors."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from hyppo_hep.errors import UserError
from hyppo_hep.objectives.registry import resolve

# Tiny trainings share 2 cores with other jobs: one thread avoids thrashing.
torch.set_num_threads(1)

GAN_FAST = {"lr_gen": 1e-3, "lr_disc": 1e-3, "batch_size": 64, "noise_dim": 4, "gen_layersize": 32, "disc_layersize": 32}
VAE_FAST = {"latent_dim": 4, "enc_width": 64, "dec_width": 64, "width_ratio": 0.5, "batch_size": 16,
            "kernel_init": "glorot_uniform", "lr": 2e-3, "wkl": 1.0}
VAE_OPTS = {"n_events": 500, "val_events": 100, "grid": [12, 8, 8], "energy_range": [10, 100]}


@pytest.fixture
def cache(tmp_path_factory):
    return str(tmp_path_factory.getbasetemp() / "hep-cache")


def _check_best_epoch(out):
    # the GANs' score blends the best epoch with the end of the training (gan.trial_score):
    # their best epoch's W1 is best_w1; the other objectives' score is the best epoch's
    best = out.get("best_w1", out["score"])
    assert best == min(out["epoch_scores"]) and out["score"] >= best
    assert out["epoch_scores"][out["best_epoch"] - 1] == best
    assert out["n_params"] > 0 and out["wall_time_train"] > 0 and out["wall_time_metric"] > 0


@pytest.mark.slow
def test_registry_lookup_does_not_import_torch():
    code = ("import sys; from hyppo_hep.objectives.registry import resolve; "
            "[resolve(n, {'epochs': 1}) for n in ('gan_dimuon', 'gan_hadronization', 'vae_shower', 'classifier')]; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["gan_dimuon", "gan_hadronization"])
@pytest.mark.slow
def test_gan_short_training_beats_untrained_and_is_seeded(name, cache):
    obj = resolve(name, {"epochs": 3, "n_events": 1200, "cache_dir": cache})
    obj = pickle.loads(pickle.dumps(obj))  # objectives cross process boundaries
    out = obj(GAN_FAST, trial=0, seed=1, device="cpu")
    _check_best_epoch(out)
    assert out["score"] < 0.8 * out["untrained_score"]
    again = obj(GAN_FAST, trial=0, seed=1, device="cpu")
    assert again["epoch_scores"] == out["epoch_scores"]
    other = obj(GAN_FAST, trial=1, seed=2, device="cpu")
    assert other["epoch_scores"] != out["epoch_scores"]


@pytest.mark.slow
def test_vae_short_training_beats_untrained(cache):
    obj = resolve("vae_shower", dict(VAE_OPTS, epochs=5, cache_dir=cache))
    out = obj(VAE_FAST, trial=0, seed=0, device="cpu")
    _check_best_epoch(out)
    assert out["score"] < 0.8 * out["untrained_score"]
    assert set(out["components"]) == {"recon", "gauss", "e_total", "e_layer"}


@pytest.mark.parametrize("n_features, score", [(5, "loss"), (50, "auc")])
def test_classifier_short_training_beats_untrained(n_features, score, cache):
    obj = resolve("classifier", {"epochs": 3, "n_events": 3000, "n_features": n_features, "score": score, "cache_dir": cache})
    out = obj({"width": 32, "lr": 3e-3, "l2": 1e-5}, trial=0, seed=0, device="cpu")
    _check_best_epoch(out)
    assert out["score"] < 0.8 * out["untrained_score"]
    assert out["auc"] > 0.75


def test_classifier_early_stopping(cache):
    obj = resolve("classifier", {"epochs": 30, "n_events": 1000, "cache_dir": cache})
    # a large learning rate on a tiny set overfits quickly: validation loss stops improving
    out = obj({"lr": 0.05, "width": 128, "dropout": 0.0, "patience": 1, "batch_size": 32}, trial=0, seed=0, device="cpu")
    assert out["epochs_run"] < 30
    assert out["epochs_run"] == out["best_epoch"] + 1


def test_gan_on_user_data_conditional(tmp_path, cache):
    rng = np.random.default_rng(0)
    c = rng.uniform(-1, 1, 600)
    np.savez(tmp_path / "u.npz", x=2 * c + 0.1 * rng.normal(size=600), y=rng.normal(size=600), c=c)
    obj = resolve("gan_dimuon", {"epochs": 2, "data": {"path": str(tmp_path / "u.npz"), "columns": ["x", "y"],
                                                          "cond_columns": ["c"]}})
    out = obj(GAN_FAST, trial=0, seed=0, device="cpu")
    assert np.isfinite(out["score"]) and out["n_params"] > 0


@pytest.mark.parametrize("name, options, params, message", [
    ("gan_dimuon", {}, {"lr_gne": 1e-3}, "unknown hyperparameter(s) ['lr_gne']"),
    ("gan_dimuon", {}, {"activation": "relux", "epochs": 1}, "hyperparameter activation='relux' is unknown"),
    ("gan_dimuon", {}, {"noise_dim": 2.5}, "noise_dim=2.5 is not a valid int"),
    ("gan_dimuon", {"data": {"path": "/nonexistent.h5", "key": "e", "columns": ["a"]}}, {}, "does not exist"),
    ("vae_shower", {"grid": [12, 8, 8], "n_events": 20, "val_events": 5}, {"kernel_init": "orthogonal9", "epochs": 1},
     "hyperparameter kernel_init='orthogonal9' is unknown"),
    ("classifier", {"score": "f1"}, None, "score must be one of loss, auc, overfit"),
])
def test_bad_input_is_a_user_error(name, options, params, message, cache):
    with pytest.raises(UserError) as err:
        obj = resolve(name, dict(options, cache_dir=cache))
        obj(params, trial=0, seed=0, device="cpu")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_user_data_errors_name_the_problem(tmp_path):
    np.savez(tmp_path / "s.npz", showers=np.ones((10, 8, 8), dtype=np.float32), energy=np.ones(10))
    vae = resolve("vae_shower", {"data": {"path": str(tmp_path / "s.npz")}, "n_events": 10, "val_events": 2})
    with pytest.raises(UserError, match=r"shape \(10, 8, 8\), expected \(events, layers, alpha, r\)"):
        vae({"epochs": 1}, 0, 0, "cpu")
    np.savez(tmp_path / "c.npz", a=np.array([1.0, 2.0, np.nan]), lab=np.array([0.0, 1.0, 2.0]))
    clf = resolve("classifier", {"data": {"path": str(tmp_path / "c.npz"), "columns": ["a"], "label": "lab"}})
    with pytest.raises(UserError, match="NaN/inf"):
        clf({}, 0, 0, "cpu")
    np.savez(tmp_path / "c2.npz", a=np.array([1.0, 2.0, 3.0]), lab=np.array([0.0, 1.0, 2.0]))
    clf = resolve("classifier", {"data": {"path": str(tmp_path / "c2.npz"), "columns": ["a"], "label": "lab"}})
    with pytest.raises(UserError, match="must hold only 0 and 1"):
        clf({}, 0, 0, "cpu")


def test_gan_weighted_user_data_and_fidelity_metrics(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=800)
    np.savez(tmp_path / "w.npz", x=x, y=rng.normal(size=800), w=np.where(x > 0, 2.0, 0.5))
    obj = resolve("gan_dimuon", {"epochs": 2, "data": {"path": str(tmp_path / "w.npz"), "columns": ["x", "y"], "weight": "w"}})
    out = obj(GAN_FAST, trial=0, seed=0, device="cpu")
    assert np.isfinite(out["score"])
    for key in ("jsd", "separation_power", "fpd", "kpd"):
        assert np.isfinite(out[key])
    assert 0 <= out["jsd"] <= 1 and 0 <= out["separation_power"] <= 1


@pytest.mark.parametrize("job", ["gan_hadronization", "gan_hadronization_focus", "gan_dimuon", "gan_dimuon_focus",
                                 "vae_shower", "classifier"])
def test_job_configs_name_real_options_and_hyperparameters(job):
    """Every example config builds its objective and every space key is a hyperparameter it knows."""
    import importlib
    from pathlib import Path

    import yaml

    cfg = yaml.safe_load((Path(__file__).resolve().parents[2] / "jobs" / f"{job}.yaml").read_text())
    options = {k: v for k, v in cfg["objective"].items() if k != "name"}
    obj = resolve(cfg["objective"]["name"], options)
    defaults = importlib.import_module(type(obj).__module__).DEFAULTS
    assert set(cfg["space"]) <= set(defaults)
    from hyppo_hep.config import parse_config

    start = parse_config(cfg).strategy.options.get("start")  # `start: [defaults]` resolves in the space
    assert start is None or all(set(s) == set(cfg["space"]) - {"epochs"} for s in start)
    from hyppo_hep.models import common

    tables = {"activation": common.ACTIVATIONS, "out_activation": common.ACTIVATIONS,
              "kernel_init": common.INITIALIZERS, "bias_init": common.INITIALIZERS, "optimizer": common.OPTIMIZERS}
    for key, spec in cfg["space"].items():
        if isinstance(spec, dict) and "choices" in spec:
            assert set(spec["choices"]) <= set(tables[key]), key


def test_generator_maps_tanh_output_to_feature_range():
    from hyppo_hep.models.gan import Discriminator, Generator

    torch.manual_seed(0)
    lo, hi = [20.0, -2.4], [120.0, 2.4]
    G = Generator(noise_dim=3, out_dim=2, layersize=8, lo=lo, hi=hi, cond_dim=1)
    noise, cond = torch.randn(50, 3), torch.rand(50, 1)
    unit, phys = G.unit(noise, cond), G(noise, cond)
    assert unit.abs().max() <= 1.0
    torch.testing.assert_close(phys, (unit + 1) * 0.5 * torch.tensor([100.0, 4.8]) + torch.tensor(lo))
    p = Discriminator(2, 8, cond_dim=1).prob(unit, cond)
    assert p.shape == (50,) and ((p > 0) & (p < 1)).all()
