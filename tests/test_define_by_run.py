"""Define-by-run spaces: hp.* mapping, conditional sampling/decoding (property tests), YAML."""

import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import hyppo_hep
from hyppo_hep.errors import ConfigError, UserError
from hyppo_hep.journal import read_events
from hyppo_hep.run import main
from hyppo_hep.space import CategoricalParam, FloatParam, IntParam
from hyppo_hep.tuner import HP, ConditionalSpace, DefineByRun, discover, make_param


def build(hp):
    """The VAE study's encoder/decoder shape: layer counts decide how many widths exist."""
    spec = {"latent": hp.Int("latent_dim", 10, 150, step=10)}
    for part in ("enc", "dec"):
        spec[part] = [hp.Int(f"intdim_{part}{i}", 50, 1000, step=50) for i in range(hp.Int(f"{part}_layers", 1, 5))]
    spec["act"] = hp.Choice("activ", ["relu", "gelu", "softsign"])
    if hp.Choice("opt", ["adam", "sgd"]) == "sgd":
        spec["momentum"] = hp.Float("momentum", 0.0, 0.9)
    spec["lr"] = hp.Float("lr", 1e-5, 1e-2, log=True)
    spec["wkl"] = hp.Float("wkl", 0.005, 0.5, step=0.005)
    hp.Fixed("epochs", 9)
    return spec


@pytest.fixture(scope="module")
def space():
    return discover(build, n_random=16)


def expected_keys(params):
    keys = {"latent_dim", "enc_layers", "dec_layers", "activ", "opt", "lr", "wkl", "epochs"}
    keys |= {f"intdim_enc{i}" for i in range(params["enc_layers"])}
    keys |= {f"intdim_dec{i}" for i in range(params["dec_layers"])}
    return keys | ({"momentum"} if params["opt"] == "sgd" else set())


def test_discovery_finds_every_parameter_and_which_are_conditional(space):
    assert isinstance(space, ConditionalSpace)
    names = [p.name for p in space.real_free]
    assert set(names) == {"latent_dim", "enc_layers", "dec_layers", "activ", "opt", "momentum", "lr", "wkl"} | \
        {f"intdim_{p}{i}" for p in ("enc", "dec") for i in range(5)}
    assert set(space.conditional) == {"momentum"} | {f"intdim_{p}{i}" for p in ("enc", "dec") for i in range(1, 5)}
    assert space.dim == len(names) + 9 and space.fixed == {"epochs": 9}
    assert space.to_dict()["define-by-run"]["intdim_enc3"]["conditional"] is True
    assert discover(build, n_random=16).to_dict() == space.to_dict()  # deterministic (resume compares it)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=27, max_size=27))
def test_decode_gives_exactly_the_parameters_that_exist(space, u):
    params = space.decode(np.array(u))
    assert set(params) == expected_keys(params)
    hp = HP(params)  # the worker replays build with these values and asks exactly these
    build(hp)
    assert hp.values == params
    enc = space.encode(params)
    np.testing.assert_allclose(space.snap(np.array(u)), enc, atol=1e-12)  # a snapped point is an encoded set
    assert space.decode(enc) == params
    for j, name in enumerate(space.conditional):  # absent: neutral value, indicator 0
        i = [p.name for p in space.real_free].index(name)
        assert enc[len(space.real_free) + j] == (1.0 if name in params else 0.0)
        if name not in params:
            assert enc[i] == 0.5
    assert params["wkl"] in [round(0.005 * k, 12) for k in range(1, 101)]
    assert 1e-5 <= params["lr"] <= 1e-2 and params["latent_dim"] % 10 == 0


def test_sampling_covers_conditional_structure_and_keys_ignore_inactive_values(space):
    X = space.sample(np.random.default_rng(0), 200)
    sets = [space.decode(x) for x in X]
    assert {s["enc_layers"] for s in sets} == {1, 2, 3, 4, 5} and {s["opt"] for s in sets} == {"adam", "sgd"}
    a = space.decode(X[0])
    b_u = X[0].copy()
    idx = [p.name for p in space.real_free].index("intdim_enc4")
    if "intdim_enc4" not in a:  # changing an inactive coordinate changes nothing
        b_u[idx] = 1.0 - b_u[idx]
        assert space.decode(b_u) == a and space.key(space.decode(b_u)) == space.key(a)
    from hyppo_hep.design import latin_hypercube

    U = latin_hypercube(space, 20, np.random.default_rng(1))
    assert len({space.key(space.decode(u)) for u in U}) == 20


def test_hp_forms_map_to_lattice_parameters():
    assert make_param("Int", "n", 32, 512, step=32) == IntParam("n", 1, 16, 32)
    assert make_param("Int", "n", 1, 7) == IntParam("n", 1, 7, 1)
    assert make_param("Int", "n", 3, 11, step=4) == CategoricalParam("n", (3, 7, 11))
    assert make_param("Float", "d", 0.1, 0.5, step=0.1) == IntParam("d", 1, 5, 0.1)
    assert make_param("Float", "lr", 1e-4, 1e-1, step=10, log=True) == CategoricalParam("lr", (1e-4, 1e-3, 1e-2, 1e-1))
    assert make_param("Float", "lr", 1e-4, 1e-1, log=True) == FloatParam("lr", 1e-4, 1e-1, True)
    for args, kw, msg in [((5, 1), {}, "below"), ((1, 5), {"log": True}, "log=True"), ((1.5, 5), {}, "integers")]:
        with pytest.raises(UserError, match=msg):
            make_param("Int", "n", *args, **kw)
    with pytest.raises(UserError, match="> 0"):
        make_param("Float", "x", 0.0, 1.0, log=True)
    hp = HP({"a": 3})
    assert hp.Int("a", 1, 5) == 3 and hp["a"] == 3
    with pytest.raises(UserError, match="does not have"):
        hp.Int("b", 1, 5)
    with pytest.raises(UserError, match="was not asked"):
        hp.get("zzz")


def test_undiscoverable_or_inconsistent_builds_are_clear_errors():
    def dependent(hp):
        n = hp.Int("n", 1, 4)
        hp.Int("m", 0, n)  # range depends on another value

    with pytest.raises(UserError, match="different definitions"):
        discover(dependent, n_random=4)
    with pytest.raises(UserError, match="asked no hyperparameters"):
        discover(lambda hp: None)

    def broken(hp):
        hp.Int("n", 1, 3)
        raise ValueError("bad model")

    with pytest.raises(UserError, match="bad model"):
        discover(broken)


MODULE = textwrap.dedent('''
    import torch
    from torch import nn
    from hyppo_hep import fidelity

    def build(hp):
        width_in, layers = 2, []
        for i in range(hp.Int("n_layers", 1, 3)):
            layers += [nn.Linear(width_in, hp.Int(f"units_{i}", 4, 16, step=4)), nn.Tanh()]
            width_in = layers[-2].out_features
        hp.Float("lr", 1e-3, 1e-1, log=True)
        hp.Fixed("epochs", 3)
        return nn.Sequential(*layers, nn.Linear(width_in, 1))

    def train(hp, model, trial, seed, device, n=64):
        torch.set_num_threads(1)
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(n, 2, generator=g) * 2 - 1
        y = (x[:, :1] * x[:, 1:] > 0).float()
        opt = torch.optim.Adam(model.to(device).parameters(), lr=hp["lr"])
        best = float("inf")
        for epoch in range(fidelity.epochs(hp["epochs"])):
            opt.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(model(x), y)
            loss.backward()
            opt.step()
            best = min(best, loss.item())
            if fidelity.report(epoch, loss.item()):
                break
        return {"score": best, "n_params": sum(p.numel() for p in model.parameters())}
''')


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "dbr_user_model.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "dbr_user_model"
    sys.modules.pop("dbr_user_model", None)


@pytest.mark.slow
def test_define_by_run_campaign_from_yaml(tmp_path, user_module):
    cfg = tmp_path / "dbr.yaml"
    cfg.write_text(f"objective: {{name: define_by_run, build: '{user_module}:build', train: '{user_module}:train'}}\n"
                   "space: define-by-run\ntrials: 2\nbudget: 10\nstrategy: {name: asha, eta: 3}\nseed: 1\n")
    assert main([str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    events = list(read_events(tmp_path / "o" / "journal.jsonl"))
    assert "define-by-run" in events[0]["space"]
    subs = [e for e in events if e["event"] == "set_submitted"]
    assert len(subs) == 10 and any(e["rung"] == 1 for e in subs)
    for e in subs:
        p = e["params"]
        assert set(p) == {"n_layers", "lr", "epochs"} | {f"units_{i}" for i in range(p["n_layers"])}
        assert p["epochs"] == e["resource"]
    trials = [e for e in events if e["event"] == "trial_finished"]
    assert all(e["error"] is None and e["info"]["epochs_run"] == e["info"].get("epochs_run") for e in trials)
    assert all(e["info"]["n_params"] > 0 for e in trials)
    # the analysis reads a define-by-run journal without the user's code (flat space, NaN = absent)
    from hyppo_hep.analyze import main as analyze

    assert analyze([str(tmp_path / "o"), "--out", str(tmp_path / "rep"), "--formats", "png"]) == 0
    assert (tmp_path / "rep" / "report.html").exists()


def test_space_given_with_define_by_run_is_a_config_error(tmp_path, user_module):
    from hyppo_hep.config import parse_config

    obj = {"name": "define_by_run", "build": f"{user_module}:build", "train": f"{user_module}:train"}
    assert parse_config({"objective": obj}).space.dim == 5 + 2
    with pytest.raises(ConfigError, match="space must be 'define-by-run'"):
        parse_config({"objective": obj, "space": {"x": {"lower": 1, "upper": 2}}})
    with pytest.raises(ConfigError, match="does not define its space"):
        parse_config({"objective": "branin", "space": "define-by-run"})
    with pytest.raises(ConfigError, match="stages are not supported"):
        parse_config({"objective": obj, "stages": [{"name": "broad", "budget": 2}]})
    with pytest.raises(UserError, match="needs both"):
        parse_config({"objective": {"name": "define_by_run", "build": f"{user_module}:build"}})


@pytest.mark.slow
def test_python_api_define_by_run(user_module):
    import importlib

    mod = importlib.import_module(user_module)
    result = hyppo_hep.minimize(DefineByRun(mod.build, mod.train), budget=4, trials=2, strategy="lhs", seed=2)
    assert len(result.history.sets) == 4 and result.best["n_ok"] == 2
    assert set(result.best["params"]) >= {"n_layers", "units_0", "lr", "epochs"}
