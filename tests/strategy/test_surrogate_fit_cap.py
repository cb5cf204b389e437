"""The RBF strategy's fit cap (``max_fit_points``): a proposal at thousands of finished sets
fits a capped subset, and its proposals stay valid, new and where the good sets are."""

import numpy as np
import pytest

from hyppo_hep.errors import ConfigError
from hyppo_hep.history import History, SetRecord, TrialRecord
from hyppo_hep.space import Space
from hyppo_hep.strategy import build

SPACE = Space.from_dict({"x": {"lower": 0, "upper": 60}, "y": {"lower": 0, "upper": 60},
                         "z": {"choices": ["a", "b", "c"]}})


def bowl(p):
    return 0.002 * ((p["x"] - 45) ** 2 + (p["y"] - 12) ** 2) + (0.0 if p["z"] == "b" else 0.3)


def history(n, n_pending=0, seed=0):
    rng = np.random.default_rng(seed)
    h = History()
    for u in SPACE.sample(rng, 3 * (n + n_pending)):
        p = SPACE.decode(u)
        if SPACE.key(p) in h.keys(SPACE):
            continue
        sid = h.next_id()
        h.add_set(SetRecord(sid, p, [0, 1, 2]))
        if sid < n:
            for t in range(3):
                h.add_trial(sid, TrialRecord(t, t, bowl(p) + 0.05 * rng.standard_normal()))
            h.complete(sid, finished=float(sid))
        if len(h) == n + n_pending:
            return h
    raise AssertionError("space too small for the history asked for")


def test_capped_fit_uses_the_best_and_the_nearest_to_the_centre():
    h = history(300)
    strat = build("rbf", {"max_fit_points": 40}, SPACE, 1000)
    strat._stats_memo = {}
    F, _, Y, _ = strat.training_data(h, False)
    keep = strat.fit_subset(h, F, Y[:, 0])
    assert len(keep) == 40 and len(set(keep)) == 40
    best = set(np.argsort(Y[:, 0], kind="stable")[:20])
    assert best <= set(keep)
    centre = F[int(np.argmin(strat.incumbent_values(h.done)))]
    dist = np.linalg.norm(F - centre, axis=1)
    rest = np.array(sorted(set(keep) - best))
    others = np.array(sorted(set(range(len(F))) - set(keep)))
    # the other half is the nearest to the centre among the sets not already kept
    assert dist[rest].max() <= dist[others].min() + 1e-12
    # under the cap nothing is dropped
    assert build("rbf", {"max_fit_points": 300}, SPACE, 1000).fit_subset(h, F, Y[:, 0]) is None


@pytest.mark.parametrize("cap", [10, 50, 1000])
def test_capped_proposals_are_valid_new_and_distinct(cap):
    h = history(400, n_pending=6, seed=1)
    strat = build("rbf", {"max_fit_points": cap}, SPACE, 1000)
    taken = h.keys(SPACE)
    for seed in range(3):
        props = strat.propose(h, 8, np.random.default_rng(seed))
        keys = [SPACE.key(p) for p in props]
        assert len(props) == 8 and len(set(keys)) == 8
        assert not set(keys) & taken
        for p in props:  # on the lattice and in range
            assert SPACE.decode(SPACE.encode(p)) == p


def test_capped_fit_is_as_accurate_as_the_full_fit_where_the_search_is():
    h = history(400, seed=2)
    pts = [{"x": x, "y": y, "z": "b"} for x in range(37, 54, 2) for y in range(4, 21, 2)]
    truth = np.array([bowl(p) for p in pts])
    rmse = {}
    for cap in (40, 1000):
        strat = build("rbf", {"max_fit_points": cap}, SPACE, 1000)
        mu, _ = strat.fit(h).predict(strat.features(SPACE.encode_many(pts)))
        rmse[cap] = float(np.sqrt(np.mean((np.ravel(mu) - truth) ** 2)))
    # around the minimum (45, 12, b) 40 well-chosen sets of 400 model the bowl as well as all
    # 400 (the trial noise is 0.05; a fit on the worst and farthest sets is off by ~2)
    assert rmse[40] < 1.5 * rmse[1000] + 0.01
    assert rmse[40] < 0.05


def test_max_fit_points_is_validated():
    with pytest.raises(ConfigError, match="strategy.max_fit_points"):
        build("rbf", {"max_fit_points": 5}, SPACE, 100)
