"""Multi-objective selection: the Pareto front of (score, variability, model size).

The Hyppo study chose the focus-stage set with the lowest score and left choosing among
(score, 1σ, complexity) to future work; the non-dominated sets are that choice.
"""

from __future__ import annotations

import re

import numpy as np

LAYER_NAME = re.compile(r"layer_?size|hidden|units|width|neurons", re.IGNORECASE)


def pareto_mask(F: np.ndarray) -> np.ndarray:
    """Non-dominated rows of ``F`` (``n x k``, every column minimised): row i is dominated
    when some row is <= in every column and < in one. Returns a bool array of shape ``(n,)``;
    duplicate rows are all kept. O(n² k), fine for the thousands of sets a study has."""
    F = np.asarray(F, dtype=float)
    n = len(F)
    keep = np.ones(n, dtype=bool)
    for i in range(n):
        le = np.all(F <= F[i], axis=1)
        lt = np.any(F < F[i], axis=1)
        if np.any(le & lt):
            keep[i] = False
    return keep


def model_size(record) -> tuple[float | None, str]:
    """Trainable parameters of a set: the mean of its trials' ``info["n_params"]`` when the
    objective reports it (source "reported"), else an estimate from layer-size
    hyperparameters (sum of width² over parameters named like ``*layersize``, ``hidden``,
    ``units``, ``width``: two square hidden layers per network; source "estimated"), else
    (None, "unknown")."""
    reported = [t.info.get("n_params") for t in record.trials.values() if isinstance(t.info, dict)]
    reported = [float(v) for v in reported if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if reported:
        return float(np.mean(reported)), "reported"
    widths = [float(v) for k, v in record.params.items()
              if LAYER_NAME.search(k) and isinstance(v, (int, float)) and not isinstance(v, bool)]
    if widths:
        return float(sum(w * w for w in widths)), "estimated"
    return None, "unknown"
