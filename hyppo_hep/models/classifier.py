"""A dense signal/background classifier (the weighted single-top study's DNN)."""

from __future__ import annotations

import torch
import torch.nn as nn

from hyppo_hep.models.common import activation


class DNN(nn.Module):
    """Features (N, d), standardised -> logits (N,); ``hidden_layers`` x (Linear, act, Dropout)."""

    def __init__(self, n_features: int, hidden_layers: int, width: int, act: str = "relu", dropout: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        n = n_features
        for _ in range(hidden_layers):
            layers += [nn.Linear(n, width), activation(act)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            n = width
        layers.append(nn.Linear(n, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x).squeeze(1)

    def penalty(self, l1: float, l2: float):
        """``l1 sum|W| + l2 sum W^2`` over weight matrices (not biases), as Keras kernel regularisers."""
        total = torch.zeros((), device=self.net[0].weight.device)
        for m in self.net:
            if isinstance(m, nn.Linear):
                if l1:
                    total = total + l1 * m.weight.abs().sum()
                if l2:
                    total = total + l2 * (m.weight**2).sum()
        return total
