"""Example define-by-run model for `jobs/define_by_run.yaml` (see the README section
"Tuning your own PyTorch model"): a signal/background MLP on the package's toy single-top
sample (unweighted loss, for brevity) whose number of layers decides how many per-layer
widths exist."""

import numpy as np

from hyppo_hep import fidelity


def build(hp):
    from torch import nn

    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}[hp.Choice("activation", ["relu", "tanh", "gelu"])]
    layers, width = [], 5
    for i in range(hp.Int("hidden_layers", 1, 5)):
        units = hp.Int(f"units_{i}", 16, 256, step=16)
        layers += [nn.Linear(width, units), act()]
        width = units
    if hp.Boolean("use_dropout"):
        layers.append(nn.Dropout(hp.Float("dropout", 0.1, 0.5, step=0.1)))
    hp.Float("lr", 1e-4, 1e-2, log=True)
    hp.Choice("batch_size", [64, 128, 256, 512])
    hp.Fixed("epochs", 27)
    return nn.Sequential(*layers, nn.Linear(width, 1))


def train(hp, model, trial, seed, device, n_events=20000):
    import torch
    import torch.nn.functional as F

    from hyppo_hep.data.classification import generate

    data = generate(n_events, seed=0, n_features=5)  # the same toy single-top sample for every trial
    X = ((data["X"] - data["X"].mean(0)) / data["X"].std(0)).astype(np.float32)
    y = data["y"].astype(np.float32)
    Xt, yt = torch.tensor(X, device=device), torch.tensor(y, device=device)
    n_val = n_events // 4
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=hp["lr"])
    gen = torch.Generator(device=device).manual_seed(seed)
    best = float("inf")
    for epoch in range(fidelity.epochs(hp["epochs"])):
        model.train()
        perm = n_val + torch.randperm(n_events - n_val, device=device, generator=gen)
        for start in range(0, len(perm), hp["batch_size"]):
            idx = perm[start:start + hp["batch_size"]]
            loss = F.binary_cross_entropy_with_logits(model(Xt[idx]).squeeze(1), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = F.binary_cross_entropy_with_logits(model(Xt[:n_val]).squeeze(1), yt[:n_val]).item()
        best = min(best, val)
        if fidelity.report(epoch, val):
            break
    return best
