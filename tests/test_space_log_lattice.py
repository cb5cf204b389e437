"""``log: true`` on an integer lattice: values stay index x scaling, the encoding is logarithmic."""

import math

import numpy as np
import pytest

from hyppo_hep.errors import ConfigError
from hyppo_hep.space import Space
from hyppo_hep.strategy import build

SPEC = {"lr": {"lower": 1, "upper": 200, "scaling": 5.0e-5, "log": True}, "layers": {"lower": 1, "upper": 8}}


def test_values_unchanged_encoding_logarithmic():
    space = Space.from_dict(SPEC)
    # equal ratios are equal steps in the cube: 1e-4 -> 2e-4 as 5e-3 -> 1e-2
    u = [space.encode({"lr": v, "layers": 2})[0] for v in (1e-4, 2e-4, 5e-3, 1e-2)]
    assert u[1] - u[0] == pytest.approx(u[3] - u[2])
    assert u[1] - u[0] == pytest.approx(math.log(2) / math.log(200))
    for index in (1, 2, 3, 17, 199, 200):
        params = {"lr": float(f"{index * 5e-5:.12g}"), "layers": 3}
        assert space.decode(space.encode(params)) == params


def test_every_decoded_point_is_on_the_lattice_and_snap_is_idempotent():
    space = Space.from_dict(SPEC)
    rng = np.random.default_rng(0)
    U = space.sample(rng, 500)
    np.testing.assert_allclose(space.snap(U), U)
    for u in U[:100]:
        p = space.decode(u)
        assert space.params[0].index_of(p["lr"]) in range(1, 201)
    # log sampling: about half the points below index 14 (sqrt(200)), not 7 % as on a linear scale
    lows = np.mean([space.decode(u)["lr"] < 14 * 5e-5 for u in U])
    assert 0.4 < lows < 0.6


def test_grid_has_every_level_once():
    space = Space.from_dict({"lr": {"lower": 1, "upper": 20, "log": True}})
    values = sorted(space.decode(u)["lr"] for u in space.grid())
    assert values == list(range(1, 21))


def test_journal_form_of_linear_lattices_unchanged():
    assert Space.from_dict({"a": {"lower": 0, "upper": 3}}).to_dict() == {"a": {"lower": 0, "upper": 3, "scaling": 1}}
    assert Space.from_dict(SPEC).to_dict()["lr"]["log"] is True
    assert Space.from_dict(Space.from_dict(SPEC).to_dict()).to_dict() == Space.from_dict(SPEC).to_dict()


@pytest.mark.parametrize("spec, where", [
    ({"lower": 0, "upper": 10, "log": True}, "space.x.lower"),
    ({"lower": 1, "upper": 10, "log": "yes"}, "space.x.log"),
])
def test_bad_log_lattices_are_rejected(spec, where):
    with pytest.raises(ConfigError) as err:
        Space.from_dict({"x": spec})
    assert where in str(err.value)


def test_rbf_proposes_distinct_lattice_points_on_a_log_lattice():
    space = Space.from_dict(SPEC)
    strat = build("rbf", {}, space, 30)
    from hyppo_hep.history import History, SetRecord, TrialRecord

    h = History()
    rng = np.random.default_rng(1)
    for _ in range(30):
        (p,) = strat.propose(h, 1, rng)
        sid = h.next_id()
        h.add_set(SetRecord(sid, p, [0, 1]))
        for t in range(2):
            h.add_trial(sid, TrialRecord(t, t, (math.log10(p["lr"]) + 3.5) ** 2 + 0.01 * p["layers"] + 0.01 * t))
        h.complete(sid, finished=float(sid))
    keys = [space.key(r.params) for r in h.sets.values()]
    assert len(set(keys)) == 30
    # the search finds the low-rate optimum region (lr near 3e-4, index about 6)
    assert min(r.params["lr"] for r in h.ranked()[:3]) < 1e-3
