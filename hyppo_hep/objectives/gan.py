"""GAN objectives of the Hyppo study: ``gan_hadronization`` (conditional) and ``gan_dimuon``.

Score of a trial: the average 1-D Wasserstein distance between generated and held-out true
features, both in [-1, 1] by the MinMax scaler fitted on the training truth, evaluated
after every epoch; the trial's score is the best epoch's (the GAN does not minimise it),
and ``best_epoch``, ``epoch_scores`` and the untrained model's score are recorded.

Hyperparameters (defaults in ``DEFAULTS``): noise_dim, batch_size, lr_gen, lr_disc,
gen_layersize, disc_layersize, epochs (overrides the option), and the optional
activation (leaky_relu), dropout (0) and weight_decay (0, Adam's L2 term).

Options: ``epochs`` (5), ``n_events`` (20000), ``test_fraction`` (0.25; the test set is
the same for every trial, drawn with ``data_seed``), ``data`` (user data:
``{path, key, columns, cond_columns, weight}``: conditional when ``cond_columns`` is given;
with a ``weight`` column, real events are weighted in the discriminator's loss and in the
W1 score), ``cache_dir``.

At the best epoch the trial also reports, in its info, the field's other fidelity
metrics on the same test sample: mean JSD and mean separation power over features
(50 bins) and FPD (extrapolated) and KPD, all on the [-1, 1]-scaled features.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from hyppo_hep.data import cache, dimuon, hadronization, loaders
from hyppo_hep.objectives.common import check_names, require, resolve_params, seeded_generator, shuffled_batches, split, sync, to_device, user_data

DEFAULTS = {
    "noise_dim": 16, "batch_size": 256, "lr_gen": 2e-4, "lr_disc": 2e-4,
    "gen_layersize": 64, "disc_layersize": 64, "epochs": 5,
    "activation": "leaky_relu", "dropout": 0.0, "weight_decay": 0.0,
}


@dataclass
class GanObjective:
    """Picklable GAN objective; the data are built (or read from cache) on first call."""

    workload: str  # "hadronization" | "dimuon"
    epochs: int = 5
    n_events: int = 20000
    test_fraction: float = 0.25
    data: dict | None = None
    cache_dir: str | None = None
    data_seed: int = 0
    name: str = field(init=False)

    def __post_init__(self):
        self.name = f"gan_{self.workload}"
        require(self.name, int(self.epochs) >= 1, f"epochs must be >= 1, got {self.epochs}")
        require(self.name, int(self.n_events) >= 10, f"n_events must be >= 10, got {self.n_events}")
        require(self.name, 0 < float(self.test_fraction) < 1, f"test_fraction must be in (0, 1), got {self.test_fraction}")

    def arrays(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(features (n, d), condition (n, c) or None, event weights (n,) or None), physical units."""
        if self.data is not None:
            feats, extra = user_data(self.data, lambda: loaders.table_from_spec(self.data, self.name))
            path = self.data.get("path")
            require(self.name, feats.shape[1] >= 1, f"data: no feature columns given in {self.data}")
            require(self.name, len(feats) >= 10, f"data: only {len(feats)} events in '{path}'")
            w = extra.get("weight")
            require(self.name, w is None or ((w >= 0).all() and w.sum() > 0), f"data: weights in '{path}' must be >= 0, not all 0")
            return feats, extra.get("cond"), w
        args = {"n_events": int(self.n_events), "seed": self.data_seed}
        if self.workload == "hadronization":
            d = cache.cached("hadronization", args, lambda: hadronization.generate(**args), self.cache_dir)
            return d["target"], d["cond"], None
        d = cache.cached("dimuon", args, lambda: dimuon.generate(**args), self.cache_dir)
        return d["features"], None, None

    def __call__(self, params: dict, trial: int, seed: int, device: str) -> dict:
        p = resolve_params(self.name, params, dict(DEFAULTS, epochs=int(self.epochs)))
        for key in ("noise_dim", "batch_size", "gen_layersize", "disc_layersize", "epochs"):
            require(self.name, p[key] >= 1, f"hyperparameter {key} must be >= 1, got {p[key]}")
        for key in ("lr_gen", "lr_disc"):
            require(self.name, p[key] > 0, f"hyperparameter {key} must be > 0, got {p[key]}")
        require(self.name, 0 <= p["dropout"] < 1, f"hyperparameter dropout must be in [0, 1), got {p['dropout']}")
        check_names(self.name, p, {"activation": "ACTIVATIONS"})
        feats, cond, weights = self.arrays()
        return train_gan(p, feats, cond, weights, self.test_fraction, self.data_seed, seed, device)


def train_gan(p: dict, feats: np.ndarray, cond: np.ndarray | None, weights: np.ndarray | None,
              test_fraction: float, data_seed: int, seed: int, device: str) -> dict:
    """Train one GAN with hyperparameters ``p``; features (n, d), condition (n, c) or None,
    event weights (n,) or None."""
    import torch
    import torch.nn.functional as F

    from hyppo_hep.metrics.wasserstein import minmax_range, to_unit, w1_torch
    from hyppo_hep.models.common import count_parameters, optimizer
    from hyppo_hep.fidelity import report as report_epoch
    from hyppo_hep.models.gan import Discriminator, Generator

    train_idx, test_idx = split(len(feats), test_fraction, data_seed)
    lo, hi = minmax_range(feats[train_idx])
    x_train = to_device(to_unit(feats[train_idx], lo, hi), device)
    x_test = to_device(to_unit(feats[test_idx], lo, hi), device)
    c_train = c_test = None
    if cond is not None:
        clo, chi = minmax_range(cond[train_idx])
        c_train = to_device(to_unit(cond[train_idx], clo, chi), device)
        c_test = to_device(to_unit(cond[test_idx], clo, chi), device)
    cond_dim = 0 if cond is None else cond.shape[1]
    w_train = w_test = None
    if weights is not None:  # mean 1 in training, so the loss scale does not depend on them
        w_train = to_device(weights[train_idx] / weights[train_idx].mean(), device)
        w_test = to_device(weights[test_idx], device)

    gen = seeded_generator(seed, device)
    G = Generator(p["noise_dim"], feats.shape[1], p["gen_layersize"], lo, hi, cond_dim, p["activation"], p["dropout"]).to(device)
    D = Discriminator(feats.shape[1], p["disc_layersize"], cond_dim, p["activation"], p["dropout"]).to(device)
    opt_g = optimizer("adam", G.parameters(), p["lr_gen"], p["weight_decay"])
    opt_d = optimizer("adam", D.parameters(), p["lr_disc"], p["weight_decay"])

    def evaluate():
        """(average W1, generated test sample in [-1, 1]) of the current generator."""
        G.eval()
        with torch.no_grad():
            noise = torch.randn(len(x_test), p["noise_dim"], device=device, generator=gen)
            sample = G.unit(noise, c_test)
            score = float(w1_torch(x_test, sample, w_test).mean())
        G.train()
        return score, sample

    n = len(x_train)
    bs = min(p["batch_size"], n)
    ones, zeros = torch.ones(bs, device=device), torch.zeros(bs, device=device)
    t_metric = time.perf_counter()
    untrained, _ = evaluate()
    metric_time = time.perf_counter() - t_metric
    scores, train_time, best_sample = [], 0.0, None
    all_events = torch.arange(n, device=device)
    for _ in range(p["epochs"]):
        sync(device)
        t0 = time.perf_counter()
        # Full batches only: BatchNorm needs more than one event, and equal sizes keep the
        # label tensors fixed.
        for idx in shuffled_batches(all_events, bs, gen, full_only=True):
            real, c = x_train[idx], (None if c_train is None else c_train[idx])
            w = None if w_train is None else w_train[idx]
            fake = G.unit(torch.randn(bs, p["noise_dim"], device=device, generator=gen), c)
            d_loss = (F.binary_cross_entropy_with_logits(D(real, c), ones, weight=w)
                      + F.binary_cross_entropy_with_logits(D(fake.detach(), c), zeros))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            g_loss = F.binary_cross_entropy_with_logits(D(fake, c), ones)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
        sync(device)
        t1 = time.perf_counter()
        score, sample = evaluate()
        if not scores or score < min(scores):
            best_sample = sample
        scores.append(score)
        sync(device)
        train_time += t1 - t0
        metric_time += time.perf_counter() - t1
        if report_epoch(len(scores) - 1, score):  # multi-fidelity budget or median rule: stop here
            break
    best = int(np.argmin(scores))
    finite = np.isfinite(scores[best])
    t0 = time.perf_counter()
    extra = fidelity_metrics(x_test.cpu().numpy(), best_sample.cpu().numpy(),
                             None if w_test is None else w_test.cpu().numpy()) if finite else {}
    extra["wall_time_final_metrics"] = time.perf_counter() - t0
    return {
        **extra,
        "score": float(scores[best]) if finite else float("inf"),
        "best_epoch": best + 1,
        "epoch_scores": [float(s) for s in scores],
        "untrained_score": untrained,
        "n_params": count_parameters(G, D),
        "wall_time_train": train_time,
        "wall_time_metric": metric_time,
        "events_per_second": (n // bs) * bs * len(scores) / max(train_time, 1e-9),
    }


def fidelity_metrics(truth: np.ndarray, gen: np.ndarray, weights: np.ndarray | None = None) -> dict:
    """Mean JSD, mean separation power, FPD and KPD of samples (n, d) in [-1, 1]."""
    from hyppo_hep.metrics.frechet import fpd, kpd
    from hyppo_hep.metrics.jsd import jsd_per_observable
    from hyppo_hep.metrics.separation import separation_power_samples

    d = truth.shape[1]
    n = min(len(truth), len(gen))
    fpd_value, fpd_err = fpd(truth, gen, min_samples=min(2000, max(n // 4, 4 * d)), max_samples=n, num_batches=5, num_points=5)
    kpd_value, _ = kpd(truth, gen, num_batches=5, batch_size=min(1000, n))
    return {
        "jsd": float(np.mean(jsd_per_observable(truth, gen, 50, weights))),
        "separation_power": float(np.mean([separation_power_samples(truth[:, j], gen[:, j], 50, weights) for j in range(d)])),
        "fpd": fpd_value, "fpd_err": fpd_err, "kpd": kpd_value,
    }


def gan_hadronization(epochs: int = 5, n_events: int = 20000, test_fraction: float = 0.25,
                      data: dict | None = None, cache_dir: str | None = None, data_seed: int = 0) -> GanObjective:
    """Factory: conditional GAN on the hadronization toy (or user data with ``cond_columns``)."""
    return GanObjective("hadronization", epochs, n_events, test_fraction, data, cache_dir, data_seed)


def gan_dimuon(epochs: int = 5, n_events: int = 20000, test_fraction: float = 0.25,
               data: dict | None = None, cache_dir: str | None = None, data_seed: int = 0) -> GanObjective:
    """Factory: unconditional GAN on Z -> mu mu events (or user data)."""
    return GanObjective("dimuon", epochs, n_events, test_fraction, data, cache_dir, data_seed)
