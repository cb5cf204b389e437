"""VAE objective for calorimeter showers: ``vae_shower``.

Score of a trial: the AutoML-for-VAE study's combined score
(:mod:`hyppo_hep.metrics.vae_score`: 1 - reconstruction SSIM + latent Gaussianity +
total-energy and per-layer-energy agreement of showers generated from z ~ N(0, 1)) on a
held-out validation set after every epoch; the best epoch's score counts.

Hyperparameters (defaults in ``DEFAULTS``; the study's names in brackets):
latent_dim [latdim] 10, enc_layers 2, dec_layers 2, enc_width [intdim_enc0] 500,
dec_width [intdim_dec0] 500, width_ratio 0.4 (each further layer is this fraction of the
previous one: 500 -> 200 as in the study's fixed model; the decoder mirrors it, widening
towards the output), enc_width_<i> / dec_width_<i> override layer i (0-based),
activation [activ] relu, out_activation [outActiv] sigmoid, kernel_init [ki]
random_normal, bias_init [bi] zeros, wkl 0.5, optimizer [opt] adam, lr 1e-3,
batch_size 100, epochs.

Options: ``epochs`` (3), ``n_events`` (1100 generated showers; with ``data``, a seeded
subsample of that many of the file's showers, all of them when not given), ``val_events`` (100; the per-epoch evaluation
costs about val_events/n_events of an epoch's training, so keep it near 10%), ``energy`` (60 GeV) or
``energy_range`` ([10, 100]: conditional on the incident energy), ``grid`` ([24, 24, 24];
also [30, 30, 30]), ``data`` (user showers: ``{path, showers_key, energy_key}`` from .npz
or HDF5, (N, layers, alpha, r) in GeV; the voxel centres assume the GFlash geometry's
4 R_M radius), ``cache_dir``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hyppo_hep.data import cache, loaders, showers
from hyppo_hep.objectives.common import check_names, require, resolve_params, seeded_generator, shuffled_batches, sync, to_device, user_data

MAX_LAYERS = 8
GENERATED_EVENTS = 1100  # n_events of the generated sample when the config gives none
DEFAULTS = {
    "latent_dim": 10, "enc_layers": 2, "dec_layers": 2, "enc_width": 500, "dec_width": 500,
    "width_ratio": 0.4, "activation": "relu", "out_activation": "sigmoid",
    "kernel_init": "random_normal", "bias_init": "zeros", "wkl": 0.5, "optimizer": "adam",
    "lr": 1e-3, "batch_size": 100, "epochs": 3,
    **{f"enc_width_{i}": 0 for i in range(MAX_LAYERS)}, **{f"dec_width_{i}": 0 for i in range(MAX_LAYERS)},
}


def layer_widths(p: dict, part: str) -> list[int]:
    """Hidden widths of the encoder (shrinking) or decoder (widening towards the output)."""
    n, first = p[f"{part}_layers"], p[f"{part}_width"]
    widths = [max(1, int(round(first * p["width_ratio"] ** i))) for i in range(n)]
    widths = [p[f"{part}_width_{i}"] or w for i, w in enumerate(widths)]
    return widths if part == "enc" else widths[::-1]


@dataclass
class VaeObjective:
    epochs: int = 3
    n_events: int | None = None  # generated data: 1100; user data: all events unless given
    val_events: int = 100
    energy: float = 60.0
    energy_range: tuple | None = None
    grid: tuple = (24, 24, 24)
    data: dict | None = None
    cache_dir: str | None = None
    data_seed: int = 0
    name: str = "vae_shower"

    def __post_init__(self):
        self.grid = tuple(int(g) for g in self.grid)
        require(self.name, len(self.grid) == 3 and min(self.grid) >= 7, f"grid must be 3 sizes >= 7, got {self.grid}")
        require(self.name, 2 <= int(self.val_events) < int(self.n_events or GENERATED_EVENTS), "need 2 <= val_events < n_events")
        if self.energy_range is not None:
            self.energy_range = tuple(float(e) for e in self.energy_range)
            require(self.name, len(self.energy_range) == 2 and 0 < self.energy_range[0] < self.energy_range[1],
                    f"energy_range must be [low, high] GeV, got {self.energy_range}")

    def defaults(self) -> dict:
        """The hyperparameters a trial takes where its set gives none (``start: [defaults]``)."""
        return dict(DEFAULTS, epochs=int(self.epochs))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Showers (N, layers, alpha, r) GeV float32 and incident energies (N,) GeV."""
        if self.data is not None:
            spec = self.data
            require(self.name, isinstance(spec, dict) and "path" in spec, f"data must be a mapping with 'path', got {spec!r}")

            def load():
                s = loaders.read_array(spec["path"], spec.get("showers_key", "showers"))
                e = loaders.read_array(spec["path"], spec.get("energy_key", "energy")).reshape(-1)
                require(self.name, s.ndim == 4, f"data: showers in '{spec['path']}' have shape {s.shape}, expected (events, layers, alpha, r)")
                require(self.name, len(e) == len(s), f"data: {len(e)} energies for {len(s)} showers in '{spec['path']}'")
                require(self.name, (e > 0).all() and (s >= 0).all(), f"data: energies must be > 0 and voxels >= 0 in '{spec['path']}'")
                n_file = len(s)
                keep = loaders.subsample(np.arange(n_file), spec.get("n_events", self.n_events), spec.get("seed", 0), f"objective '{self.name}': data file '{spec['path']}'")
                s, e = s[keep], e[keep]
                loaders.announce(f"data: {spec['path']}: {len(s)} of {n_file} showers of shape {s.shape[1:]}, "
                                 f"incident energy [{e.min():.4g}, {e.max():.4g}] GeV, total deposit up to {s.sum((1, 2, 3)).max():.4g} GeV")
                return s, e

            return user_data({**spec, "n_events": spec.get("n_events", self.n_events)}, load)  # memo per subsample
        args = {"n_events": int(self.n_events or GENERATED_EVENTS), "seed": self.data_seed, "energy": float(self.energy),
                "energy_range": self.energy_range, "grid": list(self.grid)}
        d = cache.cached("showers", args, lambda: showers.generate(**args), self.cache_dir)
        return d["showers"], d["energy"]

    def __call__(self, params: dict, trial: int, seed: int, device: str) -> dict:
        p = resolve_params(self.name, params, self.defaults())
        for key in ("latent_dim", "enc_layers", "dec_layers", "enc_width", "dec_width", "batch_size", "epochs"):
            require(self.name, p[key] >= 1, f"hyperparameter {key} must be >= 1, got {p[key]}")
        require(self.name, p["enc_layers"] <= MAX_LAYERS and p["dec_layers"] <= MAX_LAYERS, f"at most {MAX_LAYERS} layers")
        require(self.name, p["lr"] > 0 and p["wkl"] >= 0, "lr must be > 0 and wkl >= 0")
        check_names(self.name, p, {"activation": "ACTIVATIONS", "out_activation": "ACTIVATIONS",
                                "kernel_init": "INITIALIZERS", "bias_init": "INITIALIZERS", "optimizer": "OPTIMIZERS"})
        s, e = self.arrays()
        return train_vae(p, s, e, int(self.val_events), self.data_seed, seed, device)


def _train_epoch(model, opt, x, c, batches, gen, wkl: float) -> None:
    """One pass over the training showers, a batch (index tensor) at a time."""
    for idx in batches:
        recon, mu, logvar, _ = model(x[idx], c[idx], generator=gen)
        loss = model.loss(x[idx], recon, mu, logvar, wkl)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def train_vae(p: dict, s: np.ndarray, e: np.ndarray, val_events: int, data_seed: int, seed: int, device: str) -> dict:
    import torch

    from hyppo_hep.metrics.ssim import log_images
    from hyppo_hep.metrics.vae_score import combined_score
    from hyppo_hep.models.common import count_parameters, optimizer
    from hyppo_hep.fidelity import load_checkpoint, save_checkpoint
    from hyppo_hep.fidelity import report as report_epoch
    from hyppo_hep.models.vae import ShowerVAE

    order = np.random.default_rng(data_seed).permutation(len(s))
    val, train = order[:val_events], order[val_events:]
    shape = s.shape[1:]
    n_vox = int(np.prod(shape))
    showers_t = to_device(s, device)
    energy_t = to_device(e, device)
    log_max = float(torch.log1p(showers_t[train].max() * 1000.0))  # MeV
    x = torch.log1p(showers_t * 1000.0).reshape(len(s), n_vox) / log_max
    log_e = torch.log(energy_t)
    span = float(log_e.max() - log_e.min())
    c = ((log_e - log_e.mean()) / (span if span > 0 else 1.0)).unsqueeze(1)
    train_t, val_t = torch.as_tensor(train, device=device), torch.as_tensor(val, device=device)
    xy = [torch.as_tensor(a, dtype=torch.float32, device=device) for a in showers.Geometry(*shape).xy_centres()]
    data_range = float(log_images(showers_t[val_t]).max()) or 1.0

    def to_showers(v):
        """Preprocessed (N, V) back to GeV (N, layers, alpha, r)."""
        return (torch.expm1(v.clamp(0.0, 1.0) * log_max) / 1000.0).reshape((-1,) + shape)

    gen = seeded_generator(seed, device)
    model = ShowerVAE(n_vox, p["latent_dim"], layer_widths(p, "enc"), layer_widths(p, "dec"), p["activation"],
                      p["out_activation"], p["kernel_init"], p["bias_init"]).to(device)
    opt = optimizer(p["optimizer"], model.parameters(), p["lr"])

    def evaluate() -> dict:
        model.eval()
        with torch.no_grad():
            xv, cv = x[val_t], c[val_t]
            recon, mu, _, _ = model(xv, cv, generator=gen)
            prior = torch.randn(len(val_t), p["latent_dim"], device=device, generator=gen)
            generated = model.decode(prior, cv)
            ev = energy_t[val_t]
            out = combined_score(showers_t[val_t], to_showers(recon), to_showers(generated), mu, ev, ev,
                                 xy[0], xy[1], data_range)
        model.train()
        return out

    # a multi-fidelity promotion continues the lower rung's training (hyppo_hep/fidelity.py)
    t0 = time.perf_counter()
    state = load_checkpoint()
    if state is None:
        untrained, history = evaluate(), []
    else:
        untrained, history = restore_vae(state, model, opt, gen)
    metric_time, train_time, resumed = time.perf_counter() - t0, 0.0, len(history)
    bs = min(p["batch_size"], len(train))
    diverged = bool(history) and not np.isfinite(history[-1]["score"])
    for _ in range(len(history), 0 if diverged else p["epochs"]):
        sync(device)
        t0 = time.perf_counter()
        _train_epoch(model, opt, x, c, shuffled_batches(train_t, bs, gen), gen, p["wkl"])
        sync(device)
        t1 = time.perf_counter()
        history.append(evaluate())
        train_time += t1 - t0
        metric_time += time.perf_counter() - t1
        if report_epoch(len(history) - 1, history[-1]["score"]):  # multi-fidelity budget or median rule
            break
    save_checkpoint({"model": model.state_dict(), "opt": opt.state_dict(), "rng": gen.get_state(),
                     "torch_rng": torch.get_rng_state(), "history": history, "untrained": untrained})
    scores = [h["score"] if np.isfinite(h["score"]) else float("inf") for h in history]
    best = int(np.argmin(scores))
    return {
        "score": scores[best], "best_epoch": best + 1, "epoch_scores": scores,
        "components": {k: v for k, v in history[best].items() if k != "score"},
        "untrained_score": untrained["score"], "n_params": count_parameters(model),
        "epochs_trained": len(history) - resumed,
        "wall_time_train": train_time, "wall_time_metric": metric_time,
        "events_per_second": len(train) * (len(history) - resumed) / max(train_time, 1e-9),
    }


def restore_vae(state: dict, model, opt, gen) -> tuple[dict, list]:
    """Load a checkpoint of :func:`train_vae` (model, optimiser, both random streams: the
    training's also draws the evaluation's noise); returns (untrained scores, per-epoch scores)."""
    import torch

    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    gen.set_state(state["rng"].to(gen.get_state().device))
    torch.set_rng_state(state["torch_rng"])
    return state["untrained"], [dict(h) for h in state["history"]]


def vae_shower(epochs: int = 3, n_events: int | None = None, val_events: int = 100, energy: float = 60.0,
               energy_range=None, grid=(24, 24, 24), data: dict | None = None, cache_dir: str | None = None,
               data_seed: int = 0) -> VaeObjective:
    """Factory: the shower VAE objective (see module docstring for options)."""
    return VaeObjective(epochs, n_events, val_events, energy, energy_range, grid, data, cache_dir, data_seed)
