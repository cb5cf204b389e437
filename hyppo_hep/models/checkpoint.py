"""Saved generators: one file per (hyperparameter set, trial), written atomically, loaded
with ``weights_only=True`` (tensors and plain types only: no pickled code is executed).

Layout: ``<save_dir>/<set key>/trial<k>.pt`` where the set key is a hash of the set's
hyperparameters as the search passed them (the same dict the journal records), so the
objective needs no set id and the export finds a set's files from the journal alone.
A file holds ``{"state_dict": ..., "config": {...}}``; the config rebuilds the network
(noise_dim, out_dim, layersize, lo, hi, cond_dim, act, dropout, norm) and records the
resolved hyperparameters, the objective's data options, the seed, the trial's score, and
the best epoch with its W1 (``best_w1``): the weights are that epoch's (the GAN's score blends
it with the end of the training, see hyppo_hep/objectives/gan.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def set_key(params: dict) -> str:
    """A stable 16-hex-digit key of a hyperparameter set (order and int/float spelling of
    JSON numbers as the journal writes them)."""
    text = json.dumps(params, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def trial_path(save_dir: str | os.PathLike, params: dict, trial: int) -> Path:
    return Path(save_dir).expanduser() / set_key(params) / f"trial{int(trial)}.pt"


def save_generator(save_dir: str | os.PathLike, params: dict, trial: int, state_dict: dict, config: dict) -> str:
    """Write one trial's generator; returns the path. Atomic: a reader sees the old file or
    the complete new one, never a torn one (temporary file in the same directory, then
    ``os.replace``)."""
    from hyppo_hep.seeding import save_checkpoint

    path = trial_path(save_dir, params, trial)
    save_checkpoint({"state_dict": state_dict, "config": json.loads(json.dumps(config, default=str))}, path)
    return str(path)


def load_generator(path: str | os.PathLike, device: str = "cpu"):
    """(Generator in eval mode on ``device``, its config dict) from a saved file."""
    import torch

    from hyppo_hep.models.gan import Generator

    blob = torch.load(path, map_location=device, weights_only=True)
    c = blob["config"]
    G = Generator(c["noise_dim"], c["out_dim"], c["layersize"], c["lo"], c["hi"], c["cond_dim"], c["act"],
                  c["dropout"], c["norm"])
    G.load_state_dict(blob["state_dict"])
    return G.to(device).eval(), c
