"""Search-quality pieces of the surrogate strategies: noise-aware incumbents, cross-validated
smoothing of noisy means, the smoothing RBF, and statistics that follow new trials."""

import numpy as np
import pytest

from hyppo_hep.history import DONE, History, SetRecord, TrialRecord
from hyppo_hep.space import Space
from hyppo_hep.strategy import build
from hyppo_hep.surrogate.rbf import RBFSurrogate

SPACE = Space.from_dict({"x": {"lower": 0, "upper": 40}, "y": {"lower": 0, "upper": 40}})


def add(h, params, scores):
    sid = h.next_id()
    rec = SetRecord(sid, dict(params), seeds=list(range(len(scores))), state=DONE, finished=float(sid))
    for t, s in enumerate(scores):
        rec.trials[t] = TrialRecord(t, t, float(s))
    h.add_set(rec)
    return rec


def bowl(x, y):
    return 1.0 + 0.002 * ((x - 20) ** 2 + (y - 20) ** 2)


def exact_trials(rng, mu, sd, n):
    z = rng.standard_normal(n)
    return mu + sd * (z - z.mean()) / z.std(ddof=1)


def noisy_history(seed=0, lucky=True):
    rng = np.random.default_rng(seed)
    h = History()
    for x in range(0, 41, 8):
        for y in range(0, 41, 8):
            add(h, {"x": x, "y": y}, bowl(x, y) + 0.1 * rng.standard_normal(5))
    solid = add(h, {"x": 20, "y": 20}, exact_trials(rng, 0.98, 0.1, 25))
    luck = add(h, {"x": 36, "y": 4}, [0.55, 1.25]) if lucky else None
    return h, solid, luck


def test_candidates_centre_on_the_estimated_best_not_the_lucky_set():
    h, solid, luck = noisy_history()
    assert h.best().set_id == luck.set_id  # raw best mean: two lucky trials far from the bowl's bottom
    for center, expected in (("estimate", solid), ("mean", luck)):
        strat = build("rbf", {"center": center}, SPACE, 100)
        values = strat.incumbent_values(h.done)
        assert h.done[int(np.argmin(values))].set_id == expected.set_id
        C = strat.candidates(h, np.random.default_rng(0), [])
        centre = SPACE.encode(expected.params)
        # DYCORS candidates perturb the chosen centre: most stay within 0.3 of it
        assert np.median(np.abs(C - centre).max(axis=1)) < 0.3


def test_cross_validated_smoothing_is_zero_for_exact_data_and_positive_for_noisy():
    rng = np.random.default_rng(1)
    strat = build("rbf", {"smooth": "auto"}, SPACE, 100)
    exact, noisy = History(), History()
    for _ in range(40):
        x, y = (int(v) for v in rng.integers(0, 41, 2))
        if SPACE.key({"x": x, "y": y}) in exact.keys(SPACE):
            continue
        add(exact, {"x": x, "y": y}, [bowl(x, y)] * 3)
        add(noisy, {"x": x, "y": y}, bowl(x, y) + 0.3 * rng.standard_normal(3))
    assert strat.cross_validated_smoothing(exact) == 0.0
    assert strat.cross_validated_smoothing(noisy) > 0.0


def test_smoothing_rbf_is_closer_to_the_truth_on_noisy_means():
    rng = np.random.default_rng(2)
    X = rng.random((60, 2))
    truth = ((X - 0.5) ** 2).sum(axis=1)
    noise_var = np.full(60, 0.02**2)
    y = truth + rng.standard_normal(60) * 0.02
    Xt = rng.random((500, 2))
    err = {}
    for smooth in (0.0, 1.0):
        model = RBFSurrogate("cubic", smooth=smooth).fit(X, y, noise_var)
        err[smooth] = np.sqrt(np.mean((model.predict(Xt)[0] - ((Xt - 0.5) ** 2).sum(axis=1)) ** 2))
        at_points = model.predict(X)[0]
        if smooth == 0.0:
            np.testing.assert_allclose(at_points, y, atol=1e-3)  # interpolates the noise
        else:
            assert np.max(np.abs(at_points - y)) > 0.005  # does not
    assert err[1.0] < 0.8 * err[0.0]


def test_statistics_follow_trials_added_to_a_known_set():
    """The per-proposal statistics memo must see a trial added to an existing set (top-up
    trials of adaptive repeats) instead of serving the old mean."""
    h, solid, _ = noisy_history(lucky=False)
    strat = build("rbf", {}, SPACE, 100)
    before = strat.stats(h.done)[0][-1]
    h.add_trial(solid.set_id, TrialRecord(99, 99, 50.0))
    after = strat.stats(h.done)[0][-1]
    assert after == pytest.approx((before * 25 + 50.0) / 26)


@pytest.mark.parametrize("smooth", [-1, "always", True])
def test_bad_smooth_option_is_a_config_error(smooth):
    from hyppo_hep.errors import ConfigError

    with pytest.raises(ConfigError, match="strategy.smooth"):
        build("rbf", {"smooth": smooth}, SPACE, 10)


def test_bad_center_option_is_a_config_error():
    from hyppo_hep.errors import ConfigError

    with pytest.raises(ConfigError, match="strategy.center"):
        build("rbf", {"center": "best"}, SPACE, 10)


def test_ard_weights_stretch_the_trust_region_along_irrelevant_coordinates():
    from hyppo_hep.strategy.candidates import ard_weights

    rng = np.random.default_rng(3)
    F = rng.random((40, 4))
    y = np.sin(6 * F[:, 0]) + 0.5 * np.sin(2 * F[:, 1]) + 0.01 * rng.standard_normal(40)
    w = ard_weights(F, y, np.full(40, 1e-4))
    assert np.exp(np.mean(np.log(w))) == pytest.approx(1.0)
    assert w[0] < w[1] < min(w[2], w[3])  # x0 matters most, x2 and x3 not at all


def test_dycors_per_coordinate_radius():
    from hyppo_hep.strategy.candidates import dycors_candidates

    levels = np.full(3, np.inf)
    C = dycors_candidates(np.full(3, 0.5), 4000, np.array([0.01, 0.1, 0.0]), 1.0, levels,
                          np.zeros(3, dtype=bool), np.random.default_rng(0))
    spread = np.std(C - 0.5, axis=0)
    assert spread[0] == pytest.approx(0.01, rel=0.1) and spread[1] == pytest.approx(0.1, rel=0.1)
    assert spread[2] == 0.0


def test_ard_trust_region_option_proposes_new_lattice_points():
    h, _, _ = noisy_history()
    strat = build("rbf", {"trust_region": "ard"}, SPACE, 100)
    props = strat.propose(h, 3, np.random.default_rng(0))
    keys = {SPACE.key(p) for p in props}
    assert len(keys) == 3 and not keys & h.keys(SPACE)
    from hyppo_hep.errors import ConfigError

    with pytest.raises(ConfigError, match="strategy.trust_region"):
        build("rbf", {"trust_region": "box"}, SPACE, 10)


def test_learned_warp_stretches_a_coordinate_that_acts_on_a_log_scale():
    """A learning rate on a linear lattice (1..200 x 5e-5) whose response is linear in
    log10(lr): the low end gets the log-like warp, a plain coordinate stays linear."""
    from hyppo_hep.strategy.warping import WARPS

    space = Space.from_dict({"lr": {"lower": 1, "upper": 200, "scaling": 5.0e-5}, "w": {"lower": 0, "upper": 40}})
    rng = np.random.default_rng(5)
    h = History()
    for _ in range(60):
        p = space.decode(space.sample(rng, 1)[0])
        if space.key(p) in h.keys(space):
            continue
        f = np.log10(p["lr"]) + 0.02 * (p["w"] - 20) ** 2 / 40
        add(h, p, f + 0.01 * rng.standard_normal(3))
    strat = build("rbf", {"warp": "auto"}, space, 100)
    strat.fit(h)
    assert strat._warps.get(0) in [w for w in WARPS if w[0] > 0 and not w[1]]
    assert 1 not in strat._warps
    # the warped fit predicts held-out sets better than the linear one
    test = [space.decode(u) for u in space.sample(np.random.default_rng(6), 200)]
    truth = np.array([np.log10(p["lr"]) + 0.02 * (p["w"] - 20) ** 2 / 40 for p in test])
    good = truth <= np.median(truth)  # where the search looks (the fits cap the bad half)
    plain = build("rbf", {}, space, 100)
    err = {name: np.sqrt(np.mean((s.predict(h, test)["mean"] - truth)[good] ** 2)) for name, s in
           (("warp", strat), ("plain", plain))}
    assert err["warp"] < 0.7 * err["plain"]
