"""Learned input warping of the surrogate strategies (hyppo_hep/strategy/warping.py)."""

import numpy as np

from hyppo_hep.history import History
from hyppo_hep.space import Space
from hyppo_hep.strategy import build
from tests.strategy.test_surrogate import add


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
