"""CaloChallenge separation power of two histograms."""

from __future__ import annotations

import numpy as np


def separation_power(h: np.ndarray, g: np.ndarray) -> float:
    """``S = 1/2 sum (h_i - g_i)^2 / (h_i + g_i)`` of histograms normalised to unit sum; in [0, 1].

    Bins empty in both are skipped. 0: identical shapes; 1: no overlap.
    """
    h = np.asarray(h, dtype=float) / np.sum(h)
    g = np.asarray(g, dtype=float) / np.sum(g)
    s = h + g
    nz = s > 0
    return float(0.5 * np.sum((h[nz] - g[nz]) ** 2 / s[nz]))


def separation_power_samples(truth: np.ndarray, gen: np.ndarray, bins=50, truth_weights=None, gen_weights=None) -> float:
    """Separation power of samples ``truth`` (n,) and ``gen`` (m,) on bins fixed by the truth."""
    edges = np.histogram_bin_edges(truth, bins=bins)
    h, _ = np.histogram(truth, edges, weights=truth_weights)
    g, _ = np.histogram(np.clip(gen, edges[0], edges[-1]), edges, weights=gen_weights)
    return separation_power(h, g)
