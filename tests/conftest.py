import numpy as np
import pytest

from hyppo_hep.objectives.analytic import TABLE1_BROAD_SPACE
from hyppo_hep.space import Space

TABLE1_BROAD = TABLE1_BROAD_SPACE

MIXED = {
    "noise_dim": {"lower": 1, "upper": 100, "scaling": 4},
    "lr_gen": {"lower": 1, "upper": 200, "scaling": 5.0e-5},
    "activation": {"choices": ["relu", "tanh", "gelu"]},
    "dropout": {"low": 0.0, "high": 0.5},
    "weight_decay": {"low": 1.0e-6, "high": 1.0e-2, "log": True},
    "layers": {"lower": 1, "upper": 7},
    "epochs": 20,
}


@pytest.fixture
def table1_space():
    return Space.from_dict(TABLE1_BROAD)


@pytest.fixture
def mixed_space():
    return Space.from_dict(MIXED)


def pytest_configure(config):
    config.addinivalue_line("markers", "mpi: launches real mpiexec runs as subprocesses (needs the 'mpi' extra)")
    config.addinivalue_line("markers", "slurm: runs under a real single-node Slurm (tests/executor/slurm_cluster.py)")
    config.addinivalue_line("markers", "slow: seconds or more each; the inner loop runs -m 'not slow', CI runs all")


def pytest_collection_modifyitems(config, items):
    """Every test that launches a real mpiexec or Slurm is slow too: one rule here rather
    than a second marker to remember in each such file, so -m 'not slow' never starts one."""
    for item in items:
        if item.get_closest_marker("mpi") or item.get_closest_marker("slurm"):
            item.add_marker(pytest.mark.slow)


def drain(strategy, space, on_proposed, batch: int = 3, seed: int = 3) -> set:
    """Ask ``strategy`` for ``batch`` sets at a time until it has none left, asserting that
    no set is ever proposed twice; ``on_proposed(history, params, n_seen)`` records each
    one (pending, done, ...). Returns the lattice keys of all proposed sets."""
    from hyppo_hep.history import History

    rng = np.random.default_rng(seed)
    history = History()
    seen: set = set()
    while True:
        props = strategy.propose(history, batch, rng)
        if not props:
            return seen
        for p in props:
            key = space.key(p)
            assert key not in seen
            seen.add(key)
            on_proposed(history, p, len(seen))
