import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyppo_hep.errors import ConfigError
from hyppo_hep.space import CategoricalParam, FixedParam, FloatParam, IntParam, Space
from hyppo_hep.strategy import build

from tests.conftest import MIXED, TABLE1_BROAD


def test_table1_lattice_values(table1_space):
    lr = [p for p in table1_space.free if p.name == "lr_gen"][0]
    assert lr.n_levels == 200
    assert table1_space.decode(np.zeros(6))["lr_gen"] == 5e-5
    assert table1_space.decode(np.ones(6))["lr_gen"] == pytest.approx(1e-2)
    assert table1_space.decode(np.ones(6))["noise_dim"] == 400
    assert table1_space.decode(np.zeros(6))["batch_size"] == 256
    # every decoded value is an exact lattice point: index * scaling
    rng = np.random.default_rng(0)
    for u in rng.random((200, 6)):
        p = table1_space.decode(u)
        assert isinstance(p["noise_dim"], int) and p["noise_dim"] % 4 == 0
        idx = p["lr_gen"] / 5e-5
        assert abs(idx - round(idx)) < 1e-9 and 1 <= round(idx) <= 200
    assert table1_space.size() == 100 * 57 * 200 * 200 * 121 * 121


def test_kinds_parsed(mixed_space):
    kinds = {p.name: type(p) for p in mixed_space.params}
    assert kinds == {"noise_dim": IntParam, "lr_gen": IntParam, "activation": CategoricalParam,
                     "dropout": FloatParam, "weight_decay": FloatParam, "layers": IntParam, "epochs": FixedParam}
    assert mixed_space.dim == 6
    assert mixed_space.decode(np.full(6, 0.5))["epochs"] == 20


def test_log_float_is_log_uniform(mixed_space):
    i = mixed_space.names.index("weight_decay")
    u = np.full(6, 0.5)
    assert mixed_space.decode(u)["weight_decay"] == pytest.approx(1e-4)
    u[i] = 0.0
    assert mixed_space.decode(u)["weight_decay"] == pytest.approx(1e-6)


def test_categorical_levels(mixed_space):
    i = mixed_space.names.index("activation")
    seen = set()
    for x in np.linspace(0, 1, 31):
        u = np.full(6, 0.5)
        u[i] = x
        seen.add(mixed_space.decode(u)["activation"])
    assert seen == {"relu", "tanh", "gelu"}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=6, max_size=6))
def test_decode_encode_decode_is_identity_on_lattice(u):
    space = Space.from_dict(MIXED)
    params = space.decode(np.array(u))
    again = space.decode(space.encode(params))
    for name, value in params.items():
        if isinstance(value, float):
            assert again[name] == pytest.approx(value, rel=1e-12, abs=1e-15)
        else:
            assert again[name] == value


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_encode_decode_roundtrip_of_lattice_points(data):
    space = Space.from_dict(TABLE1_BROAD)
    params = {}
    for p in space.free:
        i = data.draw(st.integers(p.lower, p.upper))
        params[p.name] = p.value_of(i)
    assert space.decode(space.encode(params)) == params


def test_encode_rejects_off_lattice(table1_space):
    params = table1_space.decode(np.zeros(6))
    params["noise_dim"] = 6  # not a multiple of 4
    with pytest.raises(ValueError, match="noise_dim"):
        table1_space.encode(params)
    params["noise_dim"] = 404  # index 101 > upper
    with pytest.raises(ValueError):
        table1_space.encode(params)


def test_snap_lands_on_levels(table1_space):
    U = table1_space.snap(np.random.default_rng(1).random((50, 6)))
    levels = table1_space.n_levels()
    assert np.allclose(U * (levels - 1), np.round(U * (levels - 1)))


def test_grid_counts():
    space = Space.from_dict({"a": {"lower": 1, "upper": 3}, "b": {"choices": ["x", "y"]}, "c": {"low": 0.0, "high": 1.0}})
    assert space.grid(points_per_float=4).shape == (3 * 2 * 4, 3)


def test_single_level_param_encodes_to_middle():
    space = Space.from_dict({"a": {"lower": 5, "upper": 5}, "b": {"lower": 0, "upper": 9}})
    assert space.encode({"a": 5, "b": 0})[0] == 0.5
    assert space.decode(np.array([0.0, 0.0]))["a"] == 5


def test_to_dict_roundtrip(mixed_space):
    again = Space.from_dict(mixed_space.to_dict())
    assert again.to_dict() == mixed_space.to_dict()


@pytest.mark.parametrize("spec, path", [
    ({"lower": 3, "upper": 1}, "space.p.upper"),
    ({"lower": 1, "upper": 3, "scaling": 0}, "space.p.scaling"),
    ({"choices": []}, "space.p.choices"),
    ({"low": 1.0, "high": 0.5}, "space.p.high"),
    ({"low": 0.0, "high": 1.0, "log": True}, "space.p.low"),
    ({"lower": 1.5, "upper": 3}, "space.p.lower"),
    ({"lower": 1, "upper": 3, "step": 2}, "space.p.step"),
])
def test_bad_params_name_the_key(spec, path):
    with pytest.raises(ConfigError) as exc:
        Space.from_dict({"p": spec})
    assert exc.value.path == path


def test_float_scaling_values_print_cleanly(table1_space):
    lr = [p for p in table1_space.free if p.name == "lr_gen"][0]
    assert lr.value_of(7) == 3.5e-4
    assert math.isclose(lr.value_of(200), 1e-2)


def test_log_float_decodes_inside_its_range():
    # exp(log(1e-5)) is 9.999999999999997e-06: the decoded value must still be >= low
    space = Space.from_dict({"lr": {"low": 1e-5, "high": 1e-2, "log": True}})
    assert space.decode([0.0])["lr"] == 1e-5 and space.decode([1.0])["lr"] == 1e-2


# --- ``log: true`` on an integer lattice: values stay index x scaling, the encoding is logarithmic ---

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
