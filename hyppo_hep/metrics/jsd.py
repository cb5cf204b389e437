"""Jensen-Shannon divergence per observable and the weighted JSD fidelity score.

JSD is computed from histograms with binning fixed by the truth; it is the *square* of
scipy's ``jensenshannon`` (which returns the distance) in base 2, so it lies in [0, 1].
The fidelity score of the BIB-AE group divides each observable's JSD by that observable's
mean over the compared models, then averages (optionally weighted) over observables.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon


def histogram_jsd(truth: np.ndarray, gen: np.ndarray, bins=50, truth_weights=None, gen_weights=None) -> float:
    """JSD (base 2) of one observable: samples ``truth`` (n,) and ``gen`` (m,), bins from the truth.

    Generated values outside the truth's range go to the edge bins, so missed tails still count.
    """
    edges = np.histogram_bin_edges(truth, bins=bins)
    g = np.clip(gen, edges[0], edges[-1])
    h_t, _ = np.histogram(truth, edges, weights=truth_weights)
    h_g, _ = np.histogram(g, edges, weights=gen_weights)
    if h_g.sum() <= 0 or h_t.sum() <= 0:
        return 1.0
    return float(jensenshannon(h_t, h_g, base=2) ** 2)


def jsd_per_observable(truth: np.ndarray, gen: np.ndarray, bins=50, truth_weights=None, gen_weights=None) -> np.ndarray:
    """JSD (d,) for each column of ``truth`` (n, d) against ``gen`` (m, d)."""
    return np.array([histogram_jsd(truth[:, j], gen[:, j], bins, truth_weights, gen_weights) for j in range(truth.shape[1])])


def fidelity_score(jsd_table: np.ndarray, observable_weights=None) -> np.ndarray:
    """Fidelity score (n_models,) from a JSD table (n_models, n_observables); lower is better.

    Each column is divided by its mean over the models (so every observable counts alike
    whatever its typical JSD), then rows are averaged with ``observable_weights``.
    """
    jsd_table = np.asarray(jsd_table, dtype=float)
    mean = jsd_table.mean(axis=0)
    rel = jsd_table / np.where(mean > 0, mean, 1.0)
    return np.average(rel, axis=1, weights=observable_weights)
