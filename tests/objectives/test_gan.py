"""A GAN campaign with a log-scaled pT runs end to end, and its W1 is in the features' own
scale (issue 17, item 4)."""

import numpy as np
import pytest

from hyppo_hep.objectives.gan import gan_dimuon

FAST = {"epochs": 2, "batch_size": 256, "noise_dim": 8, "gen_layersize": 32, "disc_layersize": 32}


def test_a_log_scaled_pt_trains_and_scores_in_the_physical_scale():
    obj = gan_dimuon(n_events=2000, preprocess={"transform": {"pt1": "log", "pt2": "log"}, "tail_cut": 0.001})
    out = obj(FAST, 0, 1, "cpu")
    assert np.isfinite(out["score"]) and 0 < out["score"] < 1.0
    assert out["preprocess"]["transforms"] == {"pt1": "log", "pt2": "log"}
    assert "physical" in out["preprocess"]["w1_scale"]
    assert 0 < out["w1_floor"] < out["untrained_score"]


@pytest.mark.slow
def test_the_pre_hyperparameters_are_tunable_and_none_means_untransformed():
    obj = gan_dimuon(n_events=2000)
    plain = obj(FAST, 0, 1, "cpu")
    same = obj({**FAST, "pre_transform": "none", "pre_tail_cut": 0.0}, 0, 1, "cpu")
    # no transform and no cut: the metric scale equals the training scale, the same training
    assert same["score"] == pytest.approx(plain["score"], rel=1e-6)
    # the generated dimuon pT is not skewed (|skewness| < 0.4): name the features to transform
    named = gan_dimuon(n_events=2000, preprocess={"skewed": ["pt1", "pt2"]})
    boxcox = named({**FAST, "pre_transform": "boxcox"}, 0, 1, "cpu")
    assert set(boxcox["preprocess"]["transforms"]) == {"pt1", "pt2"}
    assert all(v.startswith("boxcox(lambda=") for v in boxcox["preprocess"]["transforms"].values())


def test_a_bad_preprocess_spec_is_a_user_error():
    from hyppo_hep.errors import UserError

    with pytest.raises(UserError, match=r"preprocess.transform.ptx: no feature 'ptx'"):
        gan_dimuon(n_events=500, preprocess={"transform": {"ptx": "log"}})(FAST, 0, 1, "cpu")


@pytest.mark.slow
def test_a_campaign_with_a_log_scaled_pt_runs_end_to_end(tmp_path):
    import hyppo_hep

    res = hyppo_hep.minimize("gan_dimuon", {"pre_transform": {"choices": ["none", "log"]}, "lr_gen": {"lower": 1, "upper": 10, "scaling": 1e-4},
                                            **{k: v for k, v in FAST.items()}},
                             budget=3, trials=2, strategy="random", quiet=True, out=str(tmp_path / "o"))
    assert res.best is not None and np.isfinite(res.best["mean"])
