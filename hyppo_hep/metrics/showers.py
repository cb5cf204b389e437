"""Shower observables for calorimeter showers voxelised as (events, layers, alpha, r).

Computed in torch so that they run on the training device; numpy arrays are accepted and
converted. Positions are in units of the grid's transverse coordinates (R_M for the
GFlash generator: pass ``Geometry.xy_centres()``).
"""

from __future__ import annotations


def shower_observables(showers, x, y, threshold: float = 0.0) -> dict:
    """Observables of showers (N, L, A, R) in GeV given voxel centres ``x``, ``y`` (A, R).

    Returns tensors: ``e_total`` (N,), ``e_layer`` (N, L), ``centre_x``/``centre_y`` (N, L)
    (energy-weighted mean position), ``width_x``/``width_y`` (N, L)
    (``sqrt(max(<x^2> - <x>^2, 0))``), ``sparsity`` (N, L) (share of voxels above
    threshold) and ``n_hits`` (N,). Empty layers get centre and width 0.
    """
    import torch

    s = torch.as_tensor(showers)
    x = torch.as_tensor(x, dtype=s.dtype, device=s.device)
    y = torch.as_tensor(y, dtype=s.dtype, device=s.device)
    e_layer = s.sum(dim=(2, 3))
    safe = torch.where(e_layer > 0, e_layer, torch.ones_like(e_layer))
    out = {"e_total": e_layer.sum(dim=1), "e_layer": e_layer}
    for name, pos in (("x", x), ("y", y)):
        m1 = (s * pos).sum(dim=(2, 3)) / safe
        m2 = (s * pos * pos).sum(dim=(2, 3)) / safe
        out[f"centre_{name}"] = m1
        out[f"width_{name}"] = torch.sqrt(torch.clamp(m2 - m1 * m1, min=0.0))
    hits = s > threshold
    out["sparsity"] = hits.float().mean(dim=(2, 3))
    out["n_hits"] = hits.sum(dim=(1, 2, 3))
    return out


def shower_observables_np(showers, x, y, threshold: float = 0.0) -> dict:
    """:func:`shower_observables` on numpy arrays, returning numpy arrays."""
    import numpy as np
    import torch

    out = shower_observables(torch.from_numpy(np.asarray(showers)), x, y, threshold)
    return {k: v.cpu().numpy() for k, v in out.items()}
