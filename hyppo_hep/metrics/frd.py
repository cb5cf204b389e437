"""Fréchet Regression Distance (FRD) for showers.

A small 3-D convolutional network is trained to regress ln(incident energy) from true
showers; the FRD is the Fréchet distance (:func:`frechet.gaussian_frechet`) between the
Gaussian fits of its penultimate-layer activations on true and on generated showers. The
study behind PHYSICS.md found it only partly reliable: report it next to other metrics.
"""

from __future__ import annotations

from hyppo_hep.metrics.frechet import gaussian_frechet


def make_regressor(width: int = 8, features: int = 16):
    """The regressor: two strided Conv3d blocks, global pooling, a ``features``-wide layer, a linear head."""
    import torch.nn as nn

    class EnergyRegressor(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv3d(1, width, 3, stride=2, padding=1), nn.ReLU(),
                nn.Conv3d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
                nn.AdaptiveAvgPool3d(2), nn.Flatten(),
                nn.Linear(16 * width, features), nn.ReLU(),
            )
            self.head = nn.Linear(features, 1)

        def embed(self, showers):
            """Penultimate activations (N, features) of showers (N, L, A, R) in GeV."""
            import torch

            return self.body(torch.log1p(showers * 1000.0).unsqueeze(1))

        def forward(self, showers):
            return self.head(self.embed(showers)).squeeze(1)

    return EnergyRegressor()


def train_regressor(showers, energies, epochs: int = 5, batch_size: int = 64, lr: float = 3e-3, seed: int = 0):
    """Train :func:`make_regressor` on tensors showers (N, L, A, R) GeV and energies (N,) GeV.

    Trains on the tensors' device; returns the model in eval mode and its final-epoch MSE
    on ln E (normalised by the variance of ln E).
    """
    import torch

    torch.manual_seed(seed)
    model = make_regressor().to(showers.device)
    target = torch.log(energies)
    mu, sd = target.mean(), target.std().clamp(min=1e-3)
    target = (target - mu) / sd
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator(device=showers.device).manual_seed(seed)
    loss_sum = torch.zeros((), device=showers.device)
    for _ in range(epochs):
        perm = torch.randperm(len(showers), device=showers.device, generator=gen)
        loss_sum = torch.zeros((), device=showers.device)
        for start in range(0, len(showers), batch_size):
            idx = perm[start:start + batch_size]
            loss = ((model(showers[idx]) - target[idx]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * len(idx)
    model.eval()
    return model, float(loss_sum) / len(showers)


def frd(model, real, gen, batch_size: int = 512) -> float:
    """FRD between shower tensors ``real`` and ``gen`` (N, L, A, R) using ``model.embed``."""
    import torch

    def embed(s):
        with torch.no_grad():
            return torch.cat([model.embed(s[i:i + batch_size]) for i in range(0, len(s), batch_size)]).double().cpu().numpy()

    return gaussian_frechet(embed(real), embed(gen))
