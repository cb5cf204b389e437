"""Seeds: the one home of every seed hyppo_hep decides, and seeding what a training draws from.

The search's seeds are pure functions of the campaign seed (:func:`trial_seeds`,
:func:`strategy_rng`), so a resumed or re-run search trains and proposes exactly what the
uninterrupted one did. Objectives call :func:`seed_everything` with their trial's seed.

Objectives call ``seed_everything(seed)`` at the start of a trial with the seed hyppo_hep
gives it; with ``deterministic=True`` a training on CPU is then bit-for-bit the same from run
to run (tests/test_seeding.py checks it). On a GPU, set ``CUBLAS_WORKSPACE_CONFIG``
before CUDA starts (done here if CUDA is not yet initialised); some CUDA kernels have no
deterministic version and only warn.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

from hyppo_hep.errors import UserError


def trial_seed(seed: int, set_id: int, trial: int) -> int:
    """The seed of trial ``trial`` of set ``set_id`` (for a promotion, of its rung-0 set):
    a pure function of (campaign seed, set id, trial index), a 32-bit integer."""
    return int(np.random.SeedSequence([seed, set_id, trial]).generate_state(1)[0])


def trial_seeds(seed: int, set_id: int, n_trials: int, first: int = 0) -> list[int]:
    """Seeds of trials ``first .. first + n_trials - 1`` of a set (see :func:`trial_seed`):
    a set's extra trials, asked later, continue the same sequence."""
    return [trial_seed(seed, set_id, t) for t in range(first, first + n_trials)]


def strategy_rng(seed: int, set_id: int = 0) -> np.random.Generator:
    """The random stream of the proposal that starts at ``set_id``: a pure function of the
    campaign seed and the set id, so a resumed serial run proposes exactly what the
    uninterrupted run proposed (for strategies whose state is rebuilt from the history)."""
    return np.random.default_rng(np.random.SeedSequence([seed, 0x5EA2C4, set_id]))


def seed_everything(seed: int, deterministic: bool = True) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's global state and torch (CPU and every CUDA device);
    returns a NumPy Generator on the same seed for code that takes one. torch is seeded
    only if it is installed; importing it here costs nothing for an objective that uses it."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:
        return np.random.default_rng(seed)
    if deterministic and not torch.cuda.is_initialized():
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)


def load_checkpoint(path: str | os.PathLike, map_location="cpu"):
    """``torch.load`` with ``weights_only=True`` (tensors and plain containers only: a
    checkpoint cannot run code when loaded); a missing or unreadable file is a UserError."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 — unpickling refused, truncated file, wrong format
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"checkpoint {path} cannot be loaded safely: {first}") from None


def save_checkpoint(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file renamed into place: a kill never leaves half a
    checkpoint under the real name (the temporary name is unique, so two writers of the
    same path do not mix their bytes; it is removed if the save fails)."""
    import tempfile

    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(obj, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["trial_seed", "trial_seeds", "strategy_rng", "seed_everything", "load_checkpoint", "save_checkpoint"]
