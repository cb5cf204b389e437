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


# --- the trial score (issue 12, seventh pass): best epoch + rise * (end of training - best)

def test_trial_score_on_a_known_curve():
    from hyppo_hep.objectives.gan import trial_score

    curve = [0.5, 0.1, 0.3, 0.2, 0.4]
    assert trial_score(curve, 0.5, 0.2) == pytest.approx(0.1 + 0.5 * (0.4 - 0.1))  # tail: the last epoch
    assert trial_score(curve, 0.5, 0.4) == pytest.approx(0.1 + 0.5 * (0.3 - 0.1))  # the last 2: mean 0.3
    assert trial_score(curve, 0.0, 0.2) == pytest.approx(0.1)  # rise 0: the best epoch (the study's score)
    assert trial_score(curve, 1.0, 1.0) == pytest.approx(np.mean(curve))
    assert trial_score([0.4, 0.3, 0.2], 0.5, 0.2) == pytest.approx(0.2)  # ends at its best: no penalty
    # a training that ends non-finite: its end counts as the given value (the untrained W1)
    assert trial_score([0.3, 0.1, float("inf")], 0.5, 0.2, diverged_end=0.5) == pytest.approx(0.3)
    assert trial_score([float("nan")], 0.5, 0.2) == float("inf")


@pytest.mark.parametrize("spec, message", [
    ({"rise": 2}, r"objective.score.rise must be a number in \[0, 1\], got 2"),
    ({"tail": 0}, r"objective.score.tail must be a number in \(0, 1\], got 0"),
    ({"rise": True}, r"objective.score.rise must be a number"),
    ({"last": 0.1}, r"objective.score.last is unknown \(known: rise, tail\)"),
    (0.5, r"objective.score must be a mapping"),
])
def test_a_bad_score_option_is_a_user_error_naming_the_key(spec, message):
    from hyppo_hep.errors import UserError
    from hyppo_hep.objectives.registry import check

    with pytest.raises(UserError, match=message):
        gan_dimuon(n_events=500, score=spec)
    with pytest.raises(UserError, match=message):  # before a campaign builds anything
        check("gan_hadronization", {"score": spec})


def test_a_bad_score_option_stops_the_run_with_exit_2_and_one_line(tmp_path, capsys):
    import yaml

    from hyppo_hep.run import main as run_main

    cfg = {"objective": {"name": "gan_dimuon", "epochs": 1, "n_events": 300, "score": {"rise": 1.5}},
           "space": {"lr_gen": {"choices": [1e-4]}}, "trials": 1, "budget": 1, "out": str(tmp_path / "out")}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert run_main([str(tmp_path / "c.yaml"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "objective.score.rise" in err[0]
    assert not (tmp_path / "out").exists()


def test_the_objective_returns_the_blended_score_and_the_best_epoch_w1():
    assert gan_dimuon(n_events=500).score == {"rise": 0.5, "tail": 0.2}  # the default the seventh pass chose
    fast = dict(FAST, epochs=4)
    # rise 1 over the whole curve: the score is the curve's mean, apart from its minimum
    out = gan_dimuon(n_events=1000, score={"rise": 1, "tail": 1})(fast, 0, 1, "cpu")
    curve = out["epoch_scores"]
    assert len(curve) == 4 and out["best_w1"] == pytest.approx(min(curve)) and min(curve) < max(curve)
    assert out["best_epoch"] == int(np.argmin(curve)) + 1
    assert out["score"] == pytest.approx(np.mean(curve)) and out["score"] > out["best_w1"]
    # rise 0: the best epoch alone, the same training (same seed) otherwise
    alone = gan_dimuon(n_events=1000, score={"rise": 0})(fast, 0, 1, "cpu")
    assert alone["epoch_scores"] == pytest.approx(curve, rel=1e-6)
    assert alone["score"] == pytest.approx(min(curve))
