"""The user's own data: column names stored beside a 2-D array, n_events subsampling and
the one-line summary (issue 15, item 3)."""

import numpy as np
import pytest

from hyppo_hep.data import loaders
from hyppo_hep.errors import UserError

NAMES = ["pt1", "eta1", "phi1", "pt2", "eta2", "phi2"]


@pytest.fixture
def muons(tmp_path):
    rng = np.random.default_rng(1)
    table = rng.normal(size=(500, 6))
    path = tmp_path / "muons.npz"
    np.savez(path, muons=table, columns=np.array(NAMES))
    return path, table


def test_npz_columns_by_name_through_a_stored_names_array(muons):
    path, table = muons
    got = loaders.read_table(path, key="muons", columns=["pt2", "eta1"])
    np.testing.assert_array_equal(got, table[:, [3, 1]])
    # integer indices still work beside names
    np.testing.assert_array_equal(loaders.read_table(path, key="muons", columns=[0, "phi2"]), table[:, [0, 5]])


def test_npz_per_key_names_array_wins(tmp_path):
    table = np.arange(12.0).reshape(4, 3)
    path = tmp_path / "t.npz"
    np.savez(path, t=table, t_columns=np.array(["a", "b", "c"]), columns=np.array(["x", "y", "z"]))
    np.testing.assert_array_equal(loaders.read_table(path, key="t", columns=["c"]), table[:, [2]])


def test_unknown_name_lists_the_stored_names(muons):
    path, _ = muons
    with pytest.raises(UserError, match=r"no column 'pt3' \(has: pt1, eta1"):
        loaders.read_table(path, key="muons", columns=["pt3"])


def test_names_without_a_names_array_say_how_to_fix_it(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, muons=np.zeros((5, 2)))
    with pytest.raises(UserError, match="store a 'columns' array"):
        loaders.read_table(path, key="muons", columns=["pt1"])


def test_hdf5_plain_dataset_names_from_its_columns_attribute(tmp_path):
    h5py = pytest.importorskip("h5py")
    table = np.random.default_rng(0).normal(size=(20, 3))
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("events", data=table).attrs["columns"] = ["a", "b", "c"]
    np.testing.assert_array_equal(loaders.read_table(path, "events", ["c", "a"]), table[:, [2, 0]])


def test_n_events_subsamples_seeded_and_consistently_with_extras(tmp_path, capsys):
    rng = np.random.default_rng(2)
    n = 1000
    path = tmp_path / "cls.npz"
    np.savez(path, f0=rng.normal(size=n), f1=np.arange(n, dtype=float), label=(np.arange(n) % 2).astype(float),
             weight=np.arange(n, dtype=float) + 1)
    spec = {"path": str(path), "columns": ["f0", "f1"], "label": "label", "weight": "weight"}
    X, extra = loaders.table_from_spec(spec, "classifier", n_events=100)
    assert X.shape == (100, 2)
    # the label and weight rows are those of the same events: f1 is the event index
    idx = X[:, 1].astype(int)
    np.testing.assert_array_equal(extra["label"], idx % 2)
    np.testing.assert_array_equal(extra["weight"], idx + 1)
    X2, _ = loaders.table_from_spec(spec, "classifier", n_events=100)
    np.testing.assert_array_equal(X, X2)  # seeded: the same subsample on every rank
    X3, _ = loaders.table_from_spec(dict(spec, seed=5), "classifier", n_events=100)
    assert not np.array_equal(X, X3)
    X4, _ = loaders.table_from_spec(dict(spec, n_events=10), "classifier", n_events=100)
    assert len(X4) == 10  # the data spec's own n_events wins
    err = capsys.readouterr().err
    assert "100 of 1000 events (seeded subsample), 2 features: f0 [" in err
    assert "weights: sum" in err


def test_n_events_beyond_the_file_is_refused(muons):
    path, _ = muons
    with pytest.raises(UserError, match=r"n_events=600 but the file holds only 500 events"):
        loaders.table_from_spec({"path": str(path), "key": "muons", "columns": NAMES}, "gan_dimuon", n_events=600)
    with pytest.raises(UserError, match="n_events must be a positive integer"):
        loaders.table_from_spec({"path": str(path), "key": "muons", "n_events": "many"}, "gan_dimuon")


def test_without_n_events_every_event_is_used(muons):
    path, table = muons
    X, _ = loaders.table_from_spec({"path": str(path), "key": "muons", "columns": NAMES}, "gan_dimuon")
    np.testing.assert_array_equal(X, table)


def test_classifier_objective_subsamples_user_data(tmp_path):
    from hyppo_hep.objectives.classifier import classifier

    rng = np.random.default_rng(3)
    n = 400
    path = tmp_path / "cls.npz"
    np.savez(path, f0=rng.normal(size=n), f1=rng.normal(size=n), label=(np.arange(n) % 2).astype(float))
    data = {"path": str(path), "columns": ["f0", "f1"], "label": "label"}
    X, y, w = classifier(n_events=120, data=data).arrays()
    assert X.shape == (120, 2) and len(y) == len(w) == 120
    X, _, _ = classifier(data=data).arrays()
    assert len(X) == n  # no n_events: the whole file
