"""benchmarks/diag_gan.py: the diagnostics train the objective's own GAN, epoch for epoch."""

import numpy as np
import pytest

from hyppo_hep.objectives.registry import resolve
from tests.benchmarks import load_benchmark


def diag():
    return load_benchmark("diag_gan")


def test_the_diagnostics_reproduce_the_objectives_epoch_scores(tmp_path):
    """Same seed, same defaults (the hadronization GAN's own, with its decaying rate): the
    mean of the per-feature W1 it prints is the objective's score of that epoch, and the
    discriminator's probabilities are probabilities."""
    options = {"n_events": 800, "test_fraction": 0.5, "cache_dir": str(tmp_path)}
    small = {"batch_size": 64, "gen_layersize": 16, "disc_layersize": 16}
    rows = diag().run("gan_hadronization", 3, 1, options, small)
    out = resolve("gan_hadronization", {"epochs": 3, **options})(small, trial=0, seed=1, device="cpu")
    assert [np.mean(r["w1"]) for r in rows] == pytest.approx(out["epoch_scores"], rel=1e-5)
    assert all(len(r["w1"]) == 2 and 0 < r["d_train"] < 1 and 0 < r["d_fake"] < 1 for r in rows)
    assert rows[-1]["lr_g"] == pytest.approx(2e-4 * 0.01)  # the linear decay reached its floor
