"""Cache of generated data sets: in memory per process, and on disk as ``.npz``.

Objectives are rebuilt on every worker and called once per trial; generating a data set
(e.g. thousands of showers) must happen once per process and once per machine, not once
per trial. Files go to ``cache_dir`` (option), else ``$HYPPO_HEP_CACHE``, else
``~/.cache/hyppo_hep``; the file name is the generator name plus a hash of its arguments,
so changing any argument (size, seed, grid, ...) makes a new file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from hyppo_hep.errors import UserError

_MEMORY: dict[str, dict[str, np.ndarray]] = {}


def cache_dir(option: str | os.PathLike | None = None) -> Path:
    """The cache directory: ``option``, else ``$HYPPO_HEP_CACHE``, else ``~/.cache/hyppo_hep``."""
    if option:
        return Path(option).expanduser()
    env = os.environ.get("HYPPO_HEP_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hyppo_hep"


def cache_key(name: str, args: dict) -> str:
    """``name-<hash>``: a stable file stem for a generator and its (JSON-able) arguments."""
    blob = json.dumps(args, sort_keys=True, default=repr).encode()
    return f"{name}-{hashlib.sha1(blob).hexdigest()[:12]}"


def cached(name: str, args: dict, build: Callable[[], dict], directory=None) -> dict[str, np.ndarray]:
    """Return ``build()``'s arrays, memoised in this process and in ``directory`` as .npz.

    ``build`` must be deterministic given ``args`` (generators take their seed in ``args``).
    """
    key = cache_key(name, args)
    if key in _MEMORY:
        return _MEMORY[key]
    folder = cache_dir(directory)
    path = folder / f"{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    else:
        arrays = build()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # Write to a temporary file and rename: several ranks may build the same set at once.
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz")
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except OSError as exc:
            raise UserError(f"cannot write the data cache in '{folder}' ({exc}); set cache_dir or HYPPO_HEP_CACHE") from None
    _MEMORY[key] = arrays
    return arrays


def clear_memory() -> None:
    """Forget the in-process copies (tests use it to exercise the disk cache)."""
    _MEMORY.clear()
