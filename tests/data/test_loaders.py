"""User-data loaders: npz, HDF5, ROOT, and one-line UserErrors for bad input."""

import numpy as np
import pytest

from hyppo_hep.data import loaders
from hyppo_hep.errors import UserError
from tests.helpers import assert_one_line_exit_2, run_main, write_cfg

COLS = ["pt1", "eta1"]


@pytest.fixture
def columns():
    rng = np.random.default_rng(0)
    return {"pt1": rng.random(20) * 50, "eta1": rng.normal(size=20), "label": (rng.random(20) > 0.5) * 1.0}


def test_npz_named_columns_and_2d_key(tmp_path, columns):
    path = tmp_path / "d.npz"
    np.savez(path, **columns, table=np.column_stack([columns["pt1"], columns["eta1"]]))
    t = loaders.read_table(path, columns=COLS)
    np.testing.assert_array_equal(t, np.column_stack([columns["pt1"], columns["eta1"]]))
    np.testing.assert_array_equal(loaders.read_table(path, key="table", columns=[1]), columns["eta1"][:, None])
    feats, extra = loaders.table_from_spec({"path": str(path), "columns": COLS, "label": "label"}, "classifier")
    assert feats.shape == (20, 2)
    np.testing.assert_array_equal(extra["label"], columns["label"])


@pytest.mark.parametrize("spec, message", [
    ({"path": "nope.npz", "columns": COLS}, "does not exist"),
    ({"path": "{d}", "columns": ["pt1", "missing"]}, "no column(s) ['missing']"),
    ({"path": "{d}", "key": "zzz"}, "has no array 'zzz'"),
    ({"path": "{nan}", "columns": COLS}, "NaN/inf"),
    ({"path": "{txt}", "columns": COLS}, "unknown format"),
])
def test_bad_input_raises_one_line_user_error(tmp_path, columns, spec, message):
    np.savez(tmp_path / "d.npz", **columns)
    bad = dict(columns, pt1=np.where(np.arange(20) == 7, np.nan, columns["pt1"]))
    np.savez(tmp_path / "nan.npz", **bad)
    (tmp_path / "d.txt").write_text("1 2\n")
    spec = {k: (v.format(d=tmp_path / "d.npz", nan=tmp_path / "nan.npz", txt=tmp_path / "d.txt")
                if isinstance(v, str) else v) for k, v in spec.items()}
    with pytest.raises(UserError) as err:
        loaders.read_table(spec["path"], spec.get("key"), spec.get("columns"))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_nan_error_names_the_entry(tmp_path, columns):
    np.savez(tmp_path / "nan.npz", pt1=np.where(np.arange(20) == 7, np.nan, columns["pt1"]), eta1=columns["eta1"])
    with pytest.raises(UserError, match=r"1 NaN/inf value\(s\), first at index \(7, 0\)"):
        loaders.read_table(tmp_path / "nan.npz", columns=COLS)


def test_hdf5_compound_group_and_plain(tmp_path, columns):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "d.h5"
    rec = np.zeros(20, dtype=[("pt1", "f8"), ("eta1", "f8")])
    rec["pt1"], rec["eta1"] = columns["pt1"], columns["eta1"]
    with h5py.File(path, "w") as f:
        f["events"] = rec
        g = f.create_group("grp")
        g["pt1"], g["eta1"] = columns["pt1"], columns["eta1"]
        f["plain"] = np.column_stack([columns["pt1"], columns["eta1"]])
        f["showers"] = np.ones((4, 3, 2, 2), dtype=np.float32)
    want = np.column_stack([columns["pt1"], columns["eta1"]])
    np.testing.assert_array_equal(loaders.read_table(path, "events", COLS), want)
    np.testing.assert_array_equal(loaders.read_table(path, "grp", COLS), want)
    np.testing.assert_array_equal(loaders.read_table(path, "plain", [0, 1]), want)
    assert loaders.read_array(path, "showers").shape == (4, 3, 2, 2)
    with pytest.raises(UserError, match="lacks field"):
        loaders.read_table(path, "events", ["pt1", "phi9"])
    with pytest.raises(UserError, match="key 'nokey' not found"):
        loaders.read_table(path, "nokey", COLS)


def test_root_tree(tmp_path, columns):
    uproot = pytest.importorskip("uproot")
    path = tmp_path / "d.root"
    with uproot.recreate(path) as f:
        f["Events"] = {"pt1": columns["pt1"], "eta1": columns["eta1"]}
    np.testing.assert_array_equal(loaders.read_table(path, "Events", COLS),
                                  np.column_stack([columns["pt1"], columns["eta1"]]))
    with pytest.raises(UserError, match=r"lacks branch\(es\) \['phi1'\]"):
        loaders.read_table(path, "Events", ["phi1"])


# --- bad data through a run: exit 2, one line, no journal, in process and in an isolated child ---

@pytest.fixture
def data_files(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    good = {c: rng.standard_normal(200) for c in ("pt", "eta", "phi")}
    np.savez(tmp_path / "nan.npz", **{**good, "eta": np.where(np.arange(200) == 17, np.nan, good["eta"])})
    np.savez(tmp_path / "flat.npz", table=rng.standard_normal(200))
    (tmp_path / "junk.npz").write_bytes(b"this is not a zip file")
    (tmp_path / "data.csv").write_text("pt,eta\n1,2\n")
    return tmp_path


BAD_DATA = [
    ({"path": "missing.npz", "columns": ["pt", "eta"]}, "does not exist"),
    ({"path": "nan.npz", "columns": ["pt", "eta", "phi"]}, "NaN/inf value(s)"),
    ({"path": "flat.npz", "key": "table"}, "expected (events, columns)"),
    ({"path": "junk.npz", "columns": ["pt"]}, "is not a readable .npz"),
    ({"path": "data.csv", "columns": ["pt"]}, "unknown format '.csv'"),
    ({"path": "nan.npz", "columns": ["pt", "mass"]}, "has no column(s) ['mass']"),
]


@pytest.mark.parametrize("spec, expected", BAD_DATA, ids=[e for _, e in BAD_DATA])
def test_bad_data_file_is_exit_2_one_line_and_no_journal(data_files, capsys, spec, expected):
    spec = {**spec, "path": str(data_files / spec["path"])}
    out = data_files / "out"
    cfg = write_cfg(data_files, objective={"name": "gan_dimuon", "epochs": 1, "data": spec}, out=str(out),
                    space={"lr_gen": {"lower": 1, "upper": 10, "scaling": 1e-4}})
    status, err = run_main([str(cfg), "--quiet"], capsys)
    assert_one_line_exit_2(status, err, spec)
    assert expected in err and str(data_files) in err
    assert not out.exists(), "no partial output a later run could mistake for results"


@pytest.mark.slow
def test_bad_data_in_an_isolated_child_is_exit_2_too(data_files, capsys):
    out = data_files / "out"
    cfg = write_cfg(data_files, objective={"name": "gan_dimuon", "epochs": 1,
                                           "data": {"path": str(data_files / "nan.npz"), "columns": ["pt", "eta"]}},
                    out=str(out), isolation="process", space={"lr_gen": {"lower": 1, "upper": 10, "scaling": 1e-4}})
    status, err = run_main([str(cfg), "--quiet"], capsys)
    assert_one_line_exit_2(status, err, "isolated")
    assert "NaN/inf value(s)" in err and not out.exists()
