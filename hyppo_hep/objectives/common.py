"""Shared plumbing of the HEP objectives: hyperparameter defaults and checks, seeding,
user-data memoisation, splits. Imports torch lazily (only in the functions needing it)."""

from __future__ import annotations

import os
from typing import Callable

import numpy as np

from hyppo_hep.errors import UserError

_USER_DATA: dict = {}


def resolve_params(objective: str, params: dict, defaults: dict) -> dict:
    """``defaults`` updated by ``params``, with types coerced to the defaults' types.

    Unknown names raise UserError (a typo in a search space must not be silently
    ignored); an int default requires an integral value (e.g. 4 or 4.0).
    """
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise UserError(f"objective '{objective}': unknown hyperparameter(s) {unknown} (known: {', '.join(sorted(defaults))})")
    out = dict(defaults)
    for key, value in params.items():
        kind = type(defaults[key])
        try:
            if kind is bool:
                out[key] = bool(value)
            elif kind is int:
                if float(value) != int(float(value)):
                    raise ValueError
                out[key] = int(float(value))
            elif kind is float:
                out[key] = float(value)
            else:
                out[key] = str(value)
        except (TypeError, ValueError):
            raise UserError(f"objective '{objective}': hyperparameter {key}={value!r} is not a valid {kind.__name__}") from None
    return out


def require(objective: str, ok: bool, message: str) -> None:
    """Raise UserError ``objective '<name>': <message>`` unless ``ok``."""
    if not ok:
        raise UserError(f"objective '{objective}': {message}")


def check_names(objective: str, p: dict, keys: dict[str, str]) -> None:
    """Check named choices (``{hyperparameter: table}``, tables of :mod:`hyppo_hep.models.common`)
    before any training, so that a bad name fails as one line naming the hyperparameter."""
    from hyppo_hep.models import common

    for key, table_name in keys.items():
        table = getattr(common, table_name)
        if str(p[key]).lower() not in table:
            raise UserError(f"objective '{objective}': hyperparameter {key}={p[key]!r} is unknown (known: {', '.join(sorted(table))})")


def user_data(spec: dict, load: Callable[[], object]):
    """Memoise ``load()`` per process for a user data spec, invalidated when the file changes."""
    path = spec.get("path", "")
    try:
        stamp = os.stat(os.path.expanduser(path)).st_mtime_ns
    except OSError:
        stamp = None  # the loader reports the missing file
    key = (repr(sorted(spec.items())), stamp)
    if key not in _USER_DATA:
        _USER_DATA[key] = load()
    return _USER_DATA[key]


def split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays (train, test) of a seeded random split of ``n`` events."""
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction)))
    return order[n_test:], order[:n_test]


def seeded_generator(seed: int, device: str):
    """Seed torch's global RNG (weight initialisation) and return a generator on ``device``
    for shuffling and noise, so a fixed seed reproduces a trial on CPU."""
    import torch

    torch.manual_seed(seed)
    return torch.Generator(device=device).manual_seed(seed)


def to_device(array: np.ndarray, device: str, dtype=None):
    import torch

    return torch.as_tensor(np.ascontiguousarray(array), dtype=dtype or torch.float32, device=device)


def sync(device: str) -> None:
    """Wait for queued GPU work, so wall-clock timings measure it."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def shuffled_batches(indices, batch_size: int, generator, full_only: bool = False):
    """Yield the minibatches of one epoch: ``indices`` (a 1-D tensor on the training device)
    in a fresh random order drawn from ``generator``, cut into ``batch_size`` slices.
    ``full_only`` drops a short last batch (BatchNorm needs more than one event)."""
    import torch

    n = len(indices)
    perm = indices[torch.randperm(n, device=indices.device, generator=generator)]
    stop = n - batch_size + 1 if full_only else n
    for start in range(0, stop, batch_size):
        yield perm[start:start + batch_size]
