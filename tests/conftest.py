import pytest

from hyppo_hep.space import Space

TABLE1_BROAD = {
    "noise_dim": {"lower": 1, "upper": 100, "scaling": 4},
    "batch_size": {"lower": 8, "upper": 64, "scaling": 32},
    "lr_gen": {"lower": 1, "upper": 200, "scaling": 5.0e-5},
    "lr_disc": {"lower": 1, "upper": 200, "scaling": 5.0e-5},
    "gen_layersize": {"lower": 8, "upper": 128, "scaling": 8},
    "disc_layersize": {"lower": 8, "upper": 128, "scaling": 8},
}

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
