"""Loaders for the user's own data: ``.npz`` (numpy), HDF5 (h5py) and ROOT trees (uproot).

A data spec is the mapping given in the config, e.g.
``{path: my.h5, key: events, columns: [pt1, eta1, ...]}``:

* ``.npz``: each column is a 1-D array of that name in the file; or ``key`` names a 2-D array
  and ``columns`` (optional) are integer column indices or names, looked up in a 1-D string
  array ``columns`` (or ``<key>_columns``) stored beside it in the same file.
* ``.h5``/``.hdf5``: ``key`` names a dataset with named fields (compound dtype), a group of
  1-D datasets named like the columns, or a plain 2-D dataset (integer ``columns``, or names
  from the dataset's ``columns`` attribute).
* ``.root``: ``key`` names a TTree; columns are its branch names.

``n_events`` in the spec keeps a seeded random subsample of that many events (refused when
the file holds fewer); :func:`summary` is the one line announcing what was loaded.

Every problem (missing file or library, unknown key or column, wrong shape, NaN/inf) raises
:class:`UserError` naming the file and what is wrong.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from hyppo_hep.errors import UserError

_H5 = (".h5", ".hdf5", ".hdf")


def _fmt(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".npz" or suffix in _H5 or suffix == ".root":
        return suffix if suffix not in _H5 else ".h5"
    raise UserError(f"data file '{path}': unknown format '{suffix}' (use .npz, .h5/.hdf5 or .root)")


def _existing(path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"data file '{path}' does not exist")
    return path


def _import(module: str, path: Path):
    try:
        return __import__(module)
    except ImportError:
        raise UserError(f"data file '{path}' needs the '{module}' package: pip install 'hyppo_hep[io]'") from None


def _pick(path: Path, where: str, table: np.ndarray, columns, names=None) -> np.ndarray:
    """Columns of a 2-D array by integer index or, when the file stores the column ``names``
    (a 1-D string array), by name (all columns when ``columns`` is None)."""
    if table.ndim != 2:
        raise UserError(f"data file '{path}': {where} has shape {table.shape}, expected (events, columns)")
    if columns is None:
        return table
    idx = [_column_index(path, where, c, names) for c in columns]
    bad = [i for i in idx if not -table.shape[1] <= i < table.shape[1]]
    if bad:
        raise UserError(f"data file '{path}': column indices {bad} out of range for {where} with {table.shape[1]} columns")
    return table[:, idx]


def _column_index(path: Path, where: str, column, names) -> int:
    if isinstance(column, (int, np.integer)) and not isinstance(column, bool):
        return int(column)
    if names is not None:
        names = [str(n) for n in names]
        if str(column) in names:
            return names.index(str(column))
        raise UserError(f"data file '{path}': {where} has no column '{column}' (has: {', '.join(names)})")
    try:
        return int(column)
    except (TypeError, ValueError):
        raise UserError(f"data file '{path}': {where} is a plain 2-D array without stored column names; "
                        f"give integer indices or store a 'columns' array of names beside it (got {column!r})") from None


def _stored_names(path: Path, names) -> list | None:
    """Column names stored beside a 2-D array, or None; refuses anything but a 1-D string array."""
    if names is None:
        return None
    names = np.asarray(names)
    if names.ndim != 1 or names.dtype.kind not in "USO":
        raise UserError(f"data file '{path}': the stored column names must be a 1-D array of strings (got shape {names.shape}, dtype {names.dtype})")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _read_npz(path: Path, key, columns) -> np.ndarray:
    try:
        f = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UserError(f"data file '{path}' is not a readable .npz ({exc})") from None
    with f:
        if key is not None:
            if key not in f.files:
                raise UserError(f"data file '{path}' has no array '{key}' (has: {', '.join(f.files)})")
            name_array = next((n for n in (f"{key}_columns", "columns") if n in f.files and n != key), None)
            names = _stored_names(path, f[name_array]) if name_array else None
            return _pick(path, f"array '{key}'", f[key], columns, names)
        if not columns:
            raise UserError(f"data file '{path}': give 'columns' (array names) or 'key' (a 2-D array)")
        missing = [c for c in columns if c not in f.files]
        if missing:
            raise UserError(f"data file '{path}' has no column(s) {missing} (has: {', '.join(f.files)})")
        return _stack(path, [f[c] for c in columns], columns)


def _read_h5(path: Path, key, columns) -> np.ndarray:
    h5py = _import("h5py", path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise UserError(f"data file '{path}' is not a readable HDF5 file ({exc})") from None
    with f:
        if key is None or key not in f:
            raise UserError(f"data file '{path}': HDF5 key '{key}' not found (has: {', '.join(f.keys())})")
        node = f[key]
        if isinstance(node, h5py.Group):
            missing = [c for c in (columns or []) if c not in node]
            if not columns or missing:
                raise UserError(f"data file '{path}': group '{key}' lacks column(s) {missing or 'list'} (has: {', '.join(node.keys())})")
            return _stack(path, [node[c][()] for c in columns], columns)
        data = node[()]
        if data.dtype.names:
            missing = [c for c in (columns or []) if c not in data.dtype.names]
            if not columns or missing:
                raise UserError(f"data file '{path}': dataset '{key}' lacks field(s) {missing or 'list'} (has: {', '.join(data.dtype.names)})")
            return _stack(path, [data[c] for c in columns], columns)
        names = _stored_names(path, node.attrs["columns"]) if "columns" in node.attrs else None
        return _pick(path, f"dataset '{key}'", data, columns, names)


def _read_root(path: Path, key, columns) -> np.ndarray:
    uproot = _import("uproot", path)
    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises many types for a bad file
        raise UserError(f"data file '{path}' is not a readable ROOT file ({exc})") from None
    with f:
        if key is None or key not in f:
            raise UserError(f"data file '{path}': ROOT tree '{key}' not found (has: {', '.join(f.keys())})")
        tree = f[key]
        missing = [c for c in (columns or []) if c not in tree.keys()]
        if not columns or missing:
            raise UserError(f"data file '{path}': tree '{key}' lacks branch(es) {missing or 'list'} (has: {', '.join(tree.keys())})")
        arrays = tree.arrays(list(columns), library="np")
        return _stack(path, [arrays[c] for c in columns], columns)


def _stack(path: Path, arrays: list, names) -> np.ndarray:
    for name, a in zip(names, arrays):
        a = np.asarray(a)
        if a.ndim != 1 or a.dtype == object:
            raise UserError(f"data file '{path}': column '{name}' is not a flat numeric column (shape {a.shape}, dtype {a.dtype})")
    lengths = {len(a) for a in arrays}
    if len(lengths) != 1:
        raise UserError(f"data file '{path}': columns {list(names)} have different lengths {sorted(lengths)}")
    return np.column_stack(arrays)


def read_table(path, key=None, columns: Sequence | None = None) -> np.ndarray:
    """The named columns of a user file as a float64 array (events, columns), checked finite."""
    path = _existing(path)
    reader = {".npz": _read_npz, ".h5": _read_h5, ".root": _read_root}[_fmt(path)]
    table = reader(path, key, list(columns) if columns is not None else None)
    try:
        table = np.asarray(table, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"data file '{path}': columns {columns} are not numeric") from None
    return check_finite(table, f"data file '{path}'")


def read_array(path, key: str) -> np.ndarray:
    """An N-D numeric array (e.g. showers (events, layers, alpha, r)) from .npz or HDF5, checked finite."""
    path = _existing(path)
    fmt = _fmt(path)
    if fmt == ".root":
        raise UserError(f"data file '{path}': arrays of images are read from .npz or HDF5, not ROOT")
    if fmt == ".npz":
        with np.load(path, allow_pickle=False) as f:
            if key not in f.files:
                raise UserError(f"data file '{path}' has no array '{key}' (has: {', '.join(f.files)})")
            data = f[key]
    else:
        h5py = _import("h5py", path)
        with h5py.File(path, "r") as f:
            if key not in f or not isinstance(f[key], h5py.Dataset):
                raise UserError(f"data file '{path}': HDF5 dataset '{key}' not found (has: {', '.join(f.keys())})")
            data = f[key][()]
    if data.dtype.names or not np.issubdtype(data.dtype, np.number):
        raise UserError(f"data file '{path}': '{key}' is not a numeric array (dtype {data.dtype})")
    return check_finite(data.astype(np.float32), f"data file '{path}' ('{key}')")


def check_finite(array: np.ndarray, where: str) -> np.ndarray:
    """``array`` unchanged, or a UserError naming the first non-finite entry and ``where``."""
    if array.size == 0:
        raise UserError(f"{where}: no events")
    bad = ~np.isfinite(array)
    if bad.any():
        first = np.argwhere(bad)[0]
        raise UserError(f"{where}: {int(bad.sum())} NaN/inf value(s), first at index {tuple(int(i) for i in first)}")
    return array


_SPEC_KEYS = {"path", "key", "columns", "cond_columns", "label", "weight", "energy_key", "showers_key", "n_events", "seed"}


def table_from_spec(spec: dict, name: str, n_events: int | None = None) -> tuple[np.ndarray, dict]:
    """Read ``spec["columns"]`` and the optional single columns named by ``spec`` keys ``name``.

    Returns the feature table and a dict of extra 1-D columns (e.g. ``label``, ``weight``),
    so one read serves an objective; ``name`` is the objective for error messages.
    ``n_events`` (or ``spec["n_events"]``, which wins) keeps a seeded subsample of that many
    events (``spec["seed"]``, default 0), the same for every trial and rank.
    """
    if not isinstance(spec, dict) or "path" not in spec:
        raise UserError(f"objective '{name}': 'data' must be a mapping with at least 'path' (got {spec!r})")
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise UserError(f"objective '{name}': unknown data option(s) {sorted(unknown)} (known: {', '.join(sorted(_SPEC_KEYS))})")
    extras = {k: spec[k] for k in ("label", "weight") if spec.get(k) is not None}
    cond = list(spec.get("cond_columns") or [])
    cols = list(spec.get("columns") or []) if spec.get("columns") is not None else None
    all_cols = None if cols is None else cols + cond + list(extras.values())
    table = read_table(spec["path"], spec.get("key"), all_cols)
    n_file = len(table)
    table = subsample(table, spec.get("n_events", n_events), spec.get("seed", 0), f"objective '{name}': data file '{spec['path']}'")
    n = table.shape[1] - len(cond) - len(extras)
    out = {"cond": table[:, n:n + len(cond)]} if cond else {}
    for i, k in enumerate(extras):
        out[k] = table[:, n + len(cond) + i]
    feature_names = cols if cols is not None else [str(i) for i in range(n)]
    announce(summary(spec["path"], table[:, :n], feature_names, out.get("weight"), n_file))
    return table[:, :n], out


def subsample(table: np.ndarray, n_events, seed, where: str) -> np.ndarray:
    """``table`` itself, or a seeded random subsample of ``n_events`` of its rows (in file order)."""
    if n_events is None:
        return table
    try:
        n_events = int(n_events)
        if n_events < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise UserError(f"{where}: n_events must be a positive integer, got {n_events!r}") from None
    if n_events > len(table):
        raise UserError(f"{where}: n_events={n_events} but the file holds only {len(table)} events "
                        f"(lower n_events or leave it out to use them all)")
    if n_events == len(table):
        return table
    keep = np.sort(np.random.default_rng(int(seed)).choice(len(table), n_events, replace=False))
    return table[keep]


def summary(path, features: np.ndarray, names, weights=None, n_file: int | None = None) -> str:
    """One line saying what was loaded: events (of how many in the file), features with
    their ranges, and the weights' sum, e.g. for the campaign's log."""
    n = len(features)
    events = f"{n} events" if n_file in (None, n) else f"{n} of {n_file} events (seeded subsample)"
    ranges = ", ".join(f"{c} [{lo:.4g}, {hi:.4g}]" for c, lo, hi in zip(names, features.min(0), features.max(0)))
    weight = "" if weights is None else f"; weights: sum {weights.sum():.4g}, range [{weights.min():.4g}, {weights.max():.4g}]"
    return f"data: {path}: {events}, {features.shape[1]} features: {ranges}{weight}"


_ANNOUNCED: set = set()


def announce(line: str) -> None:
    """Print ``line`` to stderr once per process, and under MPI only on the first worker rank
    (every rank loads the data; one line in the log is enough)."""
    rank = next((os.environ[v] for v in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK") if v in os.environ), None)
    if line in _ANNOUNCED or (rank is not None and rank not in ("0", "1")):
        return
    _ANNOUNCED.add(line)
    print(line, file=sys.stderr, flush=True)
