"""Weighted ROC AUC and weighted binary cross-entropy for signal/background classifiers."""

from __future__ import annotations

import numpy as np


def weighted_auc(y: np.ndarray, score: np.ndarray, w: np.ndarray | None = None) -> float:
    """ROC AUC with event weights: P(score_S > score_B) + P(tie)/2 over weighted pairs.

    ``y`` (n,) in {0, 1}, ``score`` (n,), ``w`` (n,) >= 0. Sorting once gives, for each
    signal event, the background weight below it and tied with it.
    """
    y = np.asarray(y).astype(bool)
    score = np.asarray(score, dtype=float)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=float)
    wb = np.where(~y, w, 0.0)
    uniq, inv = np.unique(score, return_inverse=True)
    bkg_at = np.bincount(inv, weights=wb, minlength=len(uniq))
    below = np.concatenate([[0.0], np.cumsum(bkg_at)[:-1]])
    ws = np.where(y, w, 0.0)
    total = ws.sum() * wb.sum()
    if total <= 0:
        raise ValueError("weighted_auc needs positive weight in both classes")
    return float(np.sum(ws * (below[inv] + 0.5 * bkg_at[inv])) / total)


def weighted_auc_torch(y, score, w=None) -> float:
    """:func:`weighted_auc` for tensors on any device (no copy to the host but the result)."""
    import torch

    y = y.bool()
    w = torch.ones_like(score, dtype=torch.float64) if w is None else w.double()
    wb = torch.where(y, torch.zeros_like(w), w)
    ws = torch.where(y, w, torch.zeros_like(w))
    uniq, inv = torch.unique(score, return_inverse=True)
    bkg_at = torch.zeros(len(uniq), dtype=w.dtype, device=w.device).index_add_(0, inv, wb)
    below = torch.cumsum(bkg_at, 0) - bkg_at
    total = ws.sum() * wb.sum()
    if float(total) <= 0:
        raise ValueError("weighted_auc needs positive weight in both classes")
    return float((ws * (below[inv] + 0.5 * bkg_at[inv])).sum() / total)


def weighted_bce(y: np.ndarray, p: np.ndarray, w: np.ndarray | None = None, eps: float = 1e-7) -> float:
    """Weighted mean binary cross-entropy ``-sum w (y ln p + (1-y) ln(1-p)) / sum w``."""
    p = np.clip(np.asarray(p, dtype=float), eps, 1 - eps)
    w = np.ones(len(p)) if w is None else np.asarray(w, dtype=float)
    return float(-np.sum(w * (y * np.log(p) + (1 - y) * np.log(1 - p))) / np.sum(w))
