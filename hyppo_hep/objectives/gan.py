"""GAN objectives of the Hyppo study: ``gan_hadronization`` (conditional) and ``gan_dimuon``.

Score of a trial: the average 1-D Wasserstein distance between generated and held-out true
features, both in [-1, 1] by the MinMax scaler fitted on the training truth, evaluated
after every epoch. The trial's score is the best epoch's W1 plus a share of how far the
curve rose after it (option ``score``, :func:`trial_score`): ``best + rise * (mean of the
last ``tail`` fraction of epochs - best)``, by default ``rise`` 0.5 and ``tail`` 0.2, i.e.
the mean of the best epoch and of the last fifth of the training. ``rise: 0`` is the best
epoch alone (the Hyppo study's score). ``best_w1`` (the best epoch's W1, the issue-12
figure), ``best_epoch``, ``epoch_scores``, the untrained model's score and ``w1_floor`` (the
score of a perfect generator: training truth against the test truth, same sample sizes)
are recorded; the saved generator is the best epoch's.

Why not the best epoch alone (benchmarks/RESULTS_physics.md, seventh pass, measured on the
saved curves of 148 sets x 2 trials): an unstable training peaks early (epochs 3-5) and
then diverges, and the best epoch rewards that peak; a search fed best-epoch scores saw a
landscape whose leave-one-out RBF prediction had rank correlation 0.27 with it (dimuon,
100 epochs) against 0.49 for the blend, trial-to-trial noise 1.4x larger relative to the
spread of the sets (SNR 3.5 against 5.0; hadronization 8.0 against 14.7), and the score
of one trial predicted the other trial's final W1 with rank correlation 0.40 against 0.77.
The blend keeps the best epoch in (it still predicts the other trial's best W1 with 0.52,
hadronization 0.81) because that epoch's generator is what is saved and exported. The generated sample holds ``n_generated`` events (default 4x the test set,
conditions taken from the test set in turn) drawn from noise that is fixed for the whole
trial, so epoch-to-epoch changes of the score are the model's, not the noise's.

Hyperparameters (defaults in ``DEFAULTS``, per workload ``WORKLOAD_DEFAULTS`` on top: dimuon's
rates, hadronization's schedule): noise_dim, batch_size, lr_gen, lr_disc,
gen_layersize, disc_layersize, epochs (overrides the option), activation (leaky_relu),
dropout (0), weight_decay (0, Adam's L2 term), and the training's own:

* ``loss``: ns (default; the study's BCE trainer), bce (minimax), wgan-gp, hinge, lsgan
  (see :mod:`hyppo_hep.models.gan_losses`); ``gp_weight`` (10) for wgan-gp;
  ``d_steps`` (1): discriminator updates per generator update; ``r1`` (0 = off): weight
  gamma of the R1 penalty ``gamma / 2 * E_real |grad_x D|^2`` (Mescheder et al. 2018) on the
  discriminator, with any loss (one more backward pass per discriminator step);
* ``beta1``, ``beta2``: Adam's (0.5, 0.999 as in DCGAN; 0.9 made the BCE game oscillate);
* ``label_smoothing`` (0): one-sided, the real label is ``1 - s``;
* ``gen_norm`` (batch, as the study; or layer, none), ``disc_norm`` (none; or batch,
  layer, spectral). A batch-normalised discriminator is always fed real and generated
  events in one batch (see :mod:`hyppo_hep.models.gan`);
* ``lr_schedule``: constant (dimuon) or linear (hadronization, see ``WORKLOAD_DEFAULTS``),
  cosine or exponential (per epoch, both networks, down to ``lr_final`` times the initial
  rates at the last epoch; ``lr_final`` 0.01);
* ``ema`` (0.9999): exponential moving average of the generator's weights per step (0 = off).
  Step t uses the decay ``min(ema, (1 + t) / (10 + t))``, so the average spans about the
  last tenth of the steps until it reaches the horizon ``1 / (1 - ema)`` steps: short
  trainings are not dominated by the initial weights. The scored (and saved) generator is
  the averaged one, with BatchNorm statistics recomputed for its own weights.

Why these defaults (measured on the dimuon and hadronization data, benchmarks/
RESULTS_physics.md): the GAN game oscillates (the dimuon phi features most); with Adam's
beta1 0.9 or without the EMA the per-epoch W1 jumped by 2-3x from epoch to epoch; with a
layer- or batch-normalised discriminator it drifted up after its best epoch (10-15); a
cosine learning-rate decay froze the generator in whatever state it had; a slower
discriminator only learned more slowly; without BatchNorm in the generator the dimuon
GAN ended twice as far (W1 0.07 against 0.035 after 100 epochs). The hadronization GAN
decays its rates (``WORKLOAD_DEFAULTS``, the fifth pass of RESULTS_physics.md): with a
constant rate it drifted from 1.9x to 3.7x the floor after its best epoch, with a spectrally
normalised discriminator or R1 it ended worse, and the dimuon GAN, still learning at epoch
100, is slowed down by the same decay.

Options: ``score`` (``{rise: 0.5, tail: 0.2}``, see above; ``rise`` in [0, 1], ``tail`` in
(0, 1]), ``epochs`` (5), ``n_events`` (20000 generated events; with ``data``, a seeded subsample of
that many of the file's events, all of them when not given), ``test_fraction`` (0.25; the test set is
the same for every trial, drawn with ``data_seed``), ``n_generated``, ``data`` (user data:
``{path, key, columns, cond_columns, weight}``: conditional when ``cond_columns`` is given;
with a ``weight`` column, real events are weighted in the discriminator's loss and in the
W1 score), ``cache_dir``, ``save_dir`` (when given, every trial saves its best epoch's
generator there, see :mod:`hyppo_hep.models.checkpoint`; ``python -m hyppo_hep.export``
reloads the best set's and draws the ensemble figure), ``preprocess`` (tail cuts and log or
Box-Cox scaling of skewed features before training, see :mod:`hyppo_hep.data.preprocess`;
also tunable as the hyperparameters ``pre_tail_cut`` and ``pre_transform``): a
preprocessed trial trains in the transformed scale, but every W1 and metric is computed
after the inverse transform, on the physical features' [-1, 1] MinMax scale, so scores
compare across preprocessing choices (``info.preprocess.w1_scale`` says so).

At the best epoch the trial also reports, in its info, the field's other fidelity
metrics on the same test sample: mean JSD and mean separation power over features
(50 bins) and FPD (extrapolated) and KPD, all on the [-1, 1]-scaled features.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from hyppo_hep.data import cache, dimuon, hadronization, loaders, preprocess
from hyppo_hep.objectives.common import check_names, require, resolve_params, seeded_generator, split, sync, to_device, user_data

GENERATED_EVENTS = 20000  # n_events of the generated sample when the config gives none
PREPROCESS_HYPERPARAMETERS = ("pre_tail_cut", "pre_transform")  # tunable preprocessing (data/preprocess.py)

DEFAULTS = {
    "noise_dim": 16, "batch_size": 256, "lr_gen": 2e-4, "lr_disc": 2e-4,
    "gen_layersize": 64, "disc_layersize": 64, "epochs": 5,
    "activation": "leaky_relu", "dropout": 0.0, "weight_decay": 0.0,
    "loss": "ns", "beta1": 0.5, "beta2": 0.999, "label_smoothing": 0.0,
    "gen_norm": "batch", "disc_norm": "none", "lr_schedule": "constant",
    "ema": 0.9999, "d_steps": 1, "gp_weight": 10.0, "lr_final": 0.01, "r1": 0.0,
}
# The hadronization GAN's own defaults, on top of DEFAULTS (benchmarks/RESULTS_physics.md, fifth
# pass): it is within 2x of the floor after 6-37 epochs; from then on the discriminator has next
# to nothing left to tell (D(real) - D(fake) 0.003-0.02, no gap between training and test
# events), Adam's steps keep their size, and the raw generator's W1 jumps by 25-40% from epoch
# to epoch: the averaged generator drifted from 0.008 up to 0.015 by epoch 100. A rate decaying
# linearly to 1% halves the raw generator's late W1; the last 10 epochs end at 1.4-2.9x the
# floor (constant: 2.5-3.8x) and the rule of issue 12 holds in 13 of 15 runs. A weaker
# discriminator (spectral norm, R1) or a slower generator ended worse. The dimuon GAN is still
# learning at epoch 100 and a decay stops it (last 10 epochs 0.045-0.062 against 0.017-0.048),
# so its default stays constant. It learns faster at three times the rates (RESULTS_physics.md,
# eleventh pass: 6e-4 both, 5 seeds x 4 event samples, two of them from other detector cuts and
# physics read as user files): the trial score after 100 epochs 1.7-1.9x lower by the median on
# every sample, the rule met in 20 of 20 runs, the same network (throughput unchanged); 4e-4 was
# between, 8e-4 worse again, and a discriminator two or three times wider did as well as 6e-4 at
# twice its cost per step. Hadronization, near its floor within a few epochs, was worse with them.
WORKLOAD_DEFAULTS = {"hadronization": {"lr_schedule": "linear", "lr_final": 0.01},
                     "dimuon": {"lr_gen": 6e-4, "lr_disc": 6e-4}}
CHOICES = {"loss": ("ns", "bce", "wgan-gp", "hinge", "lsgan"), "gen_norm": ("batch", "layer", "none"),
           "disc_norm": ("none", "batch", "layer", "spectral"),
           "lr_schedule": ("constant", "cosine", "linear", "exponential")}


SCORE_DEFAULTS = {"rise": 0.5, "tail": 0.2}  # the trial score's blend (module docstring, RESULTS_physics seventh pass)


def check_score(name: str, spec) -> dict:
    """The ``score`` option with its defaults filled in; a one-line UserError naming the key
    path (``objective.score.rise``) for anything else."""
    if spec is None:
        return dict(SCORE_DEFAULTS)
    require(name, isinstance(spec, dict), f"objective.score must be a mapping like {{rise: 0.5, tail: 0.2}}, got {spec!r}")
    for key in spec:
        require(name, key in SCORE_DEFAULTS, f"objective.score.{key} is unknown (known: {', '.join(SCORE_DEFAULTS)})")
    out = {**SCORE_DEFAULTS, **spec}
    for key, lo_open in (("rise", False), ("tail", True)):
        v = out[key]
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (0 < v <= 1 if lo_open else 0 <= v <= 1)
        require(name, ok, f"objective.score.{key} must be a number in {'(0' if lo_open else '[0'}, 1], got {v!r}")
    return {k: float(v) for k, v in out.items()}


def trial_score(scores, rise: float, tail: float, diverged_end: float = float("inf")) -> float:
    """``best + rise * (mean of the last max(1, round(tail * n)) epochs - best)`` of the
    per-epoch W1 ``scores`` (n epochs).

    The rise after the best epoch is what a physicist would not keep: a training that peaks
    at epoch 4 and ends 5x higher is worth less than one that ends at its best. A curve that
    ends non-finite (the weights became NaN; the training stops there) has its end counted as
    ``diverged_end`` (the objective passes the untrained generator's W1): worse than any
    trained end, finite, so the trial is still a result. All epochs non-finite: inf."""
    s = np.asarray(scores, dtype=float)
    finite = s[np.isfinite(s)]
    if finite.size == 0:
        return float("inf")
    best = float(finite.min())
    end = np.where(np.isfinite(s), s, max(diverged_end, best))[-max(1, int(round(tail * len(s)))):]
    return best + rise * (float(end.mean()) - best)


def defaults_for(workload: str) -> dict:
    """The hyperparameters a trial of ``gan_<workload>`` takes when its set does not give them."""
    return {**DEFAULTS, **WORKLOAD_DEFAULTS.get(workload, {})}


@dataclass
class GanObjective:
    """Picklable GAN objective; the data are built (or read from cache) on first call."""

    workload: str  # "hadronization" | "dimuon"
    epochs: int = 5
    n_events: int | None = None  # generated data: 20000; user data: all events unless given
    test_fraction: float = 0.25
    data: dict | None = None
    cache_dir: str | None = None
    data_seed: int = 0
    n_generated: int | None = None
    save_dir: str | None = None
    preprocess: dict | None = None  # tail cuts and log/Box-Cox scaling (hyppo_hep/data/preprocess.py)
    score: dict | None = None  # the trial score's blend {rise, tail} (check_score, trial_score)
    name: str = field(init=False)

    def __post_init__(self):
        self.name = f"gan_{self.workload}"
        require(self.name, int(self.epochs) >= 1, f"epochs must be >= 1, got {self.epochs}")
        require(self.name, self.n_events is None or int(self.n_events) >= 10, f"n_events must be >= 10, got {self.n_events}")
        require(self.name, 0 < float(self.test_fraction) < 1, f"test_fraction must be in (0, 1), got {self.test_fraction}")
        require(self.name, self.n_generated is None or int(self.n_generated) >= 10,
                f"n_generated must be >= 10, got {self.n_generated}")
        self.score = check_score(self.name, self.score)

    def defaults(self) -> dict:
        """The hyperparameters a trial takes where its set gives none (``start: [defaults]``)."""
        return dict(defaults_for(self.workload), epochs=int(self.epochs))

    def arrays(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(features (n, d), condition (n, c) or None, event weights (n,) or None), physical units."""
        if self.data is not None:
            spec = {**self.data, "n_events": self.data.get("n_events", self.n_events)}  # memo per subsample
            feats, extra = user_data(spec, lambda: loaders.table_from_spec(self.data, self.name, self.n_events))
            path = self.data.get("path")
            require(self.name, feats.shape[1] >= 1, f"data: no feature columns given in {self.data}")
            require(self.name, len(feats) >= 10, f"data: only {len(feats)} events in '{path}'")
            w = extra.get("weight")
            require(self.name, w is None or ((w >= 0).all() and w.sum() > 0), f"data: weights in '{path}' must be >= 0, not all 0")
            return feats, extra.get("cond"), w
        args = {"n_events": int(self.n_events or GENERATED_EVENTS), "seed": self.data_seed}
        if self.workload == "hadronization":
            d = cache.cached("hadronization", args, lambda: hadronization.generate(**args), self.cache_dir)
            return d["target"], d["cond"], None
        d = cache.cached("dimuon", args, lambda: dimuon.generate(**args), self.cache_dir)
        return d["features"], None, None

    def __call__(self, params: dict, trial: int, seed: int, device: str) -> dict:
        pre_params = {k: params[k] for k in PREPROCESS_HYPERPARAMETERS if k in params}
        p = resolve_params(self.name, {k: v for k, v in params.items() if k not in pre_params},
                           self.defaults())
        check_hyperparameters(self.name, p)
        feats, cond, weights = self.arrays()
        keep = [] if self.save_dir else None
        metric = None
        if self.preprocess is not None or pre_params:
            feats, cond, weights, metric = self.preprocessed(feats, cond, weights, pre_params)
        out = train_gan(p, feats, cond, weights, self.test_fraction, self.data_seed, seed, device, self.n_generated, keep,
                        metric)
        # the search's score; the best epoch's W1 stays in the info (and is the saved model's)
        out["best_w1"] = out["score"]
        out["score"] = trial_score(out["epoch_scores"], self.score["rise"], self.score["tail"], out["untrained_score"])
        if metric is not None:
            out["preprocess"] = metric.describe()
        if keep:
            from hyppo_hep.models.checkpoint import save_generator

            options = {k: getattr(self, k) for k in ("workload", "n_events", "test_fraction", "data", "data_seed", "n_generated",
                                                     "preprocess", "score")}
            # the weights are the best epoch's: best_w1 is their W1, score the trial's blended score
            out["model_path"] = save_generator(self.save_dir, params, trial, keep[0], dict(keep[1], objective=options,
                                               seed=seed, score=out["score"], best_w1=out["best_w1"],
                                               best_epoch=out["best_epoch"]))
        return out


    def feature_names(self, d: int) -> list[str]:
        if self.data is not None and self.data.get("columns"):
            return [str(c) for c in self.data["columns"]]
        if self.workload == "dimuon" and self.data is None:
            return list(dimuon.FEATURES)
        return [f"x{j}" for j in range(d)]

    def preprocessed(self, feats, cond, weights, pre_params: dict):
        """Tail cuts and transforms applied (the spec, then the ``pre_*`` hyperparameters):
        (features, condition, weights) of the kept events in the transformed scale, and the
        MetricSpace that maps generated events back to the features' own scale."""
        names = self.feature_names(feats.shape[1])
        spec = preprocess.with_hyperparameters(preprocess.check_spec(self.preprocess, names, "preprocess"),
                                               pre_params, feats, names)
        keep, z, pre = preprocess.prepare(feats, names, spec)
        physical = feats[keep]
        train_idx, _ = split(len(physical), self.test_fraction, self.data_seed)  # GanData.build's split
        return (z, None if cond is None else cond[keep], None if weights is None else weights[keep],
                MetricSpace(pre, physical, train_idx))


class MetricSpace:
    """Generated events back in the features' own scale: [-1, 1] of the transformed features
    -> transformed -> ``pre.inverse`` -> physical -> [-1, 1] by the physical training truth's
    MinMax. Every W1 and metric of a preprocessed trial is computed there, so it compares with
    untransformed trials (the journal says so in ``w1_scale``)."""

    def __init__(self, pre, physical: np.ndarray, train_idx: np.ndarray):
        from hyppo_hep.metrics.wasserstein import minmax_range

        self.pre = pre
        self.lo, self.hi = minmax_range(physical[train_idx])

    def __call__(self, unit, data: "GanData"):
        """``unit`` (n, d) tensor in the transformed [-1, 1] scale -> tensor in the metric scale."""
        from hyppo_hep.metrics.wasserstein import from_unit, to_unit

        z = from_unit(unit.detach().cpu().numpy().astype(np.float64), data.lo, data.hi)
        physical = self.pre.inverse(z)
        return to_device(np.nan_to_num(to_unit(physical, self.lo, self.hi), nan=0.0, posinf=1e6, neginf=-1e6),
                         unit.device)

    def describe(self) -> dict:
        return {"transforms": self.pre.describe(), "w1_scale": "[-1, 1] MinMax of the physical features (after tail cuts)"}


def check_hyperparameters(name: str, p: dict) -> None:
    """One-line UserErrors for hyperparameters out of range, before any training."""
    for key in ("noise_dim", "batch_size", "gen_layersize", "disc_layersize", "epochs", "d_steps"):
        require(name, p[key] >= 1, f"hyperparameter {key} must be >= 1, got {p[key]}")
    for key in ("lr_gen", "lr_disc"):
        require(name, p[key] > 0, f"hyperparameter {key} must be > 0, got {p[key]}")
    for key in ("dropout", "beta1", "beta2", "ema"):
        require(name, 0 <= p[key] < 1, f"hyperparameter {key} must be in [0, 1), got {p[key]}")
    require(name, 0 <= p["label_smoothing"] < 0.5, f"hyperparameter label_smoothing must be in [0, 0.5), got {p['label_smoothing']}")
    for key in ("gp_weight", "r1"):
        require(name, p[key] >= 0, f"hyperparameter {key} must be >= 0, got {p[key]}")
    require(name, 0 < p["lr_final"] <= 1, f"hyperparameter lr_final must be in (0, 1], got {p['lr_final']}")
    for key, known in CHOICES.items():
        require(name, p[key] in known, f"hyperparameter {key}={p[key]!r} is unknown (known: {', '.join(known)})")
    check_names(name, p, {"activation": "ACTIVATIONS"})


@dataclass
class GanData:
    """Tensors of one trial on its device, everything in [-1, 1]: training and test features
    (n, d), conditions (n, c) or None, real-event weights (n,) or None (training: mean 1)."""

    x_train: object
    x_test: object
    c_train: object = None
    c_test: object = None
    w_train: object = None
    w_test: object = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None

    @classmethod
    def build(cls, feats, cond, weights, test_fraction: float, data_seed: int, device: str) -> "GanData":
        from hyppo_hep.metrics.wasserstein import minmax_range, to_unit

        train_idx, test_idx = split(len(feats), test_fraction, data_seed)
        lo, hi = minmax_range(feats[train_idx])
        d = cls(to_device(to_unit(feats[train_idx], lo, hi), device), to_device(to_unit(feats[test_idx], lo, hi), device),
                lo=lo, hi=hi)
        if cond is not None:
            clo, chi = minmax_range(cond[train_idx])
            d.c_train = to_device(to_unit(cond[train_idx], clo, chi), device)
            d.c_test = to_device(to_unit(cond[test_idx], clo, chi), device)
        if weights is not None:  # mean 1 in training, so the loss scale does not depend on them
            d.w_train = to_device(weights[train_idx] / weights[train_idx].mean(), device)
            d.w_test = to_device(weights[test_idx], device)
        return d

    @property
    def cond_dim(self) -> int:
        return 0 if self.c_train is None else self.c_train.shape[1]


def build_networks(p: dict, data: GanData, device: str):
    """(generator, discriminator, their optimisers, EMA of the generator or None)."""
    import torch

    from hyppo_hep.models.gan import Discriminator, Generator

    d = data.x_train.shape[1]
    G = Generator(p["noise_dim"], d, p["gen_layersize"], data.lo, data.hi, data.cond_dim, p["activation"],
                  p["dropout"], p["gen_norm"]).to(device)
    D = Discriminator(d, p["disc_layersize"], data.cond_dim, p["activation"], p["dropout"], p["disc_norm"]).to(device)
    # fused Adam: one kernel per optimiser step instead of ~10 per parameter tensor; the
    # per-step Python overhead dominates these small networks (same update, same result up
    # to float rounding). Fused kernels exist on CPU and CUDA.
    opts = [torch.optim.Adam(net.parameters(), lr=p[lr], betas=(p["beta1"], p["beta2"]),
                             weight_decay=p["weight_decay"], fused=True)
            for net, lr in ((G, "lr_gen"), (D, "lr_disc"))]
    ema = Ema(G, p["ema"]) if p["ema"] > 0 else None
    return G, D, opts, ema


def schedulers(opts, p: dict, done: int) -> list:
    """The per-epoch lr schedulers of a training of ``p["epochs"]`` epochs, moved on past the
    ``done`` epochs restored from a checkpoint (a promotion follows the schedule of its own,
    longer, budget from where the lower rung stopped)."""
    import warnings

    for opt, lr in zip(opts, ("lr_gen", "lr_disc")):
        for group in opt.param_groups:  # a restored optimiser carries the lower rung's decayed rate
            group["lr"] = group["initial_lr"] = p[lr]
    scheds = [lr_scheduler(opt, p["lr_schedule"], p["epochs"], p["lr_final"]) for opt in opts]
    with warnings.catch_warnings():  # "step() before optimizer.step()": no step is skipped here
        warnings.simplefilter("ignore")
        for sched in scheds:
            for _ in range(done if sched is not None else 0):
                sched.step()
    return scheds


def training_state(G, D, opts, ema, gen, best_state, untrained: float) -> dict:
    """Everything that continues a training exactly where it stopped (tensors and plain
    types only, for ``torch.load(weights_only=True)``): the networks, the optimisers' moments,
    the EMA, both random streams (the training's and torch's global one, used by dropout),
    the best epoch's generator and the untrained score."""
    import torch

    return {"G": G.state_dict(), "D": D.state_dict(), "opt_g": opts[0].state_dict(), "opt_d": opts[1].state_dict(),
            "ema": None if ema is None else ema.module.state_dict(), "ema_t": 0 if ema is None else ema.t,
            "rng": gen.get_state(), "torch_rng": torch.get_rng_state(), "best": best_state,
            "untrained": float(untrained)}


def restore_training(state: dict, G, D, opts, ema, gen) -> tuple[dict | None, float]:
    """Load a :func:`training_state` into freshly built networks; returns (best generator
    state, untrained score)."""
    import torch

    G.load_state_dict(state["G"])
    D.load_state_dict(state["D"])
    opts[0].load_state_dict(state["opt_g"])
    opts[1].load_state_dict(state["opt_d"])
    if ema is not None and state.get("ema") is not None:
        ema.module.load_state_dict(state["ema"])
        ema.t = int(state["ema_t"])
    gen.set_state(state["rng"].to(gen.get_state().device))
    torch.set_rng_state(state["torch_rng"])
    return state.get("best"), float(state["untrained"])


class AdamKernel:
    """``step()`` of a fused torch Adam optimiser, calling its kernel directly.

    ``torch.optim.Adam.step`` spends most of its time around the kernel (hooks, state
    initialisation checks, regrouping every tensor by device and dtype on each call): for
    the default GAN about 0.3 ms of Python per step against 20 us of arithmetic, the
    largest single cost of a training step. Here the tensor lists are built once per epoch
    from the optimiser's own state (so checkpoints and lr schedulers see one optimiser) and
    each step is the same two calls torch's fused path makes: the same update, bit for bit.
    The first step of a fresh optimiser goes through ``opt.step()``, which creates the state.
    """

    def __init__(self, opt):
        self.opt = opt
        group = opt.param_groups[0]
        params = [q for q in group["params"]]
        self.ready = len(opt.param_groups) == 1 and group.get("fused") and not group["amsgrad"] \
            and not group["maximize"] and not group.get("decoupled_weight_decay", False) \
            and all(q in opt.state and "exp_avg" in opt.state[q] for q in params)
        if self.ready:
            st = [opt.state[q] for q in params]
            self.params, self.group = params, group
            self.lists = ([s["exp_avg"] for s in st], [s["exp_avg_sq"] for s in st], [s["step"] for s in st])

    def zero_grad(self) -> None:
        """``opt.zero_grad(set_to_none=True)`` without its per-call profiler hook and group loop."""
        for q in self.params if self.ready else ():
            q.grad = None
        if not self.ready:
            self.opt.zero_grad(set_to_none=True)

    def step(self) -> None:
        import torch

        if not self.ready:
            self.opt.step()
            self.__init__(self.opt)
            return
        g = self.group
        exp_avgs, exp_avg_sqs, steps = self.lists
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(self.params, [q.grad for q in self.params], exp_avgs, exp_avg_sqs, [], steps,
                           amsgrad=False, lr=g["lr"], beta1=g["betas"][0], beta2=g["betas"][1],
                           weight_decay=g["weight_decay"], eps=g["eps"], maximize=False, grad_scale=None,
                           found_inf=None)


def lr_scheduler(opt, kind: str, epochs: int, final: float = 0.01):
    """A torch scheduler stepped once per epoch that reaches ``final`` times the initial rate
    at the last epoch (cosine, linear, exponential), or None for a constant rate."""
    from torch.optim import lr_scheduler as ls

    n = max(epochs - 1, 1)
    if kind == "cosine":
        return ls.CosineAnnealingLR(opt, T_max=n, eta_min=final * opt.param_groups[0]["lr"])
    if kind == "linear":
        return ls.LinearLR(opt, start_factor=1.0, end_factor=final, total_iters=n)
    if kind == "exponential":
        return ls.ExponentialLR(opt, gamma=final ** (1.0 / n))
    return None


class Ema:
    """Exponential moving average of a module's parameters, updated after every generator
    step; ``module`` is the averaged copy to evaluate, after :meth:`refresh_batchnorm`.

    Not torch's ``AveragedModel``: its ``update_parameters`` regroups every tensor by device
    and dtype on each call, which cost about as much as the rest of a small GAN's step; here
    the tensor lists are built once and one ``_foreach_lerp_`` does the update.
    """

    def __init__(self, module, decay: float):
        import copy

        self.module = copy.deepcopy(module).eval().requires_grad_(False)
        self.decay, self.t = float(decay), 0
        self._avg = [a.detach() for a in self.module.parameters()]
        self._src = [b.detach() for b in module.parameters()]

    def update(self) -> None:
        import torch

        self.t += 1
        decay = min(self.decay, (1.0 + self.t) / (10.0 + self.t))
        with torch.no_grad():
            torch._foreach_lerp_(self._avg, self._src, 1.0 - decay)

    def refresh_batchnorm(self, noise, cond=None) -> None:
        """Recompute the BatchNorm statistics of the averaged generator on ``noise`` (N, k)
        (the SWA recipe, torch's ``update_bn``): the running statistics of the trained
        generator, or their average, belong to other weights; with them the averaged
        generator scored about 25% worse (hadronization: W1 0.017 against 0.013)."""
        import torch

        bns = [m for m in self.module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        if not bns:
            return
        momenta = [m.momentum for m in bns]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the passes below: here, one pass
        self.module.train()
        with torch.no_grad():
            self.module.unit(noise, cond)
        self.module.eval()
        for m, momentum in zip(bns, momenta):
            m.momentum = momentum


def train_gan(p: dict, feats: np.ndarray, cond: np.ndarray | None, weights: np.ndarray | None,
              test_fraction: float, data_seed: int, seed: int, device: str, n_generated: int | None = None,
              keep: list | None = None, metric=None) -> dict:
    """Train one GAN with hyperparameters ``p``; features (n, d), condition (n, c) or None,
    event weights (n,) or None. Returns the trial's score and info (see the module docstring).
    ``keep``: a list that receives the best epoch's generator (state dict on the CPU, the
    averaged one when ``ema`` > 0) and its configuration, for saving.

    In a multi-fidelity search the training continues from the lower rung's checkpoint of
    the same configuration and trial, when there is one (hyppo_hep/fidelity.py), and saves
    its own at the end: with a constant learning rate, 3 epochs and then 6 more give the
    scores of 9 epochs in one go."""
    from hyppo_hep import fidelity
    from hyppo_hep.models.common import count_parameters

    data = GanData.build(feats, cond, weights, test_fraction, data_seed, device)
    gen = seeded_generator(seed, device)
    G, D, opts, ema = build_networks(p, data, device)
    evaluate = Evaluator(data, p["noise_dim"], n_generated or 4 * len(data.x_test), seed, device, metric)
    bs = min(p["batch_size"], len(data.x_train))
    t_metric = time.perf_counter()
    state = fidelity.load_checkpoint()
    best_state, untrained = (None, evaluate(G)[0]) if state is None else restore_training(state, G, D, opts, ema, gen)
    metric_time = time.perf_counter() - t_metric
    resumed = 0 if state is None else fidelity.current().resumed_from
    scores = [] if state is None else list(fidelity.current().epoch_scores)
    track = keep is not None or fidelity.checkpoint_path() is not None  # the best generator is needed later
    scheds = schedulers(opts, p, len(scores))
    train_time, best_sample, steps = 0.0, None, 0
    scored = G if ema is None else ema.module
    diverged = bool(scores) and not np.isfinite(scores[-1])
    for epoch in range(len(scores), 0 if diverged else p["epochs"]):
        sync(device)
        t0 = time.perf_counter()
        steps += train_epoch(G, D, opts, ema, data, p, bs, gen)
        for sched in scheds:
            if sched is not None:
                sched.step()
        sync(device)
        t1 = time.perf_counter()
        if ema is not None:
            ema.refresh_batchnorm(evaluate.noise, evaluate.cond)
        score, sample = evaluate(scored)
        if not np.isfinite(score):
            score = float("inf")  # a diverged generator (NaN weights) scores worst, never best
        if not scores or score < min(scores):
            best_sample = sample
            if track:
                best_state = {k: v.detach().cpu().clone() for k, v in scored.state_dict().items()}
        scores.append(score)
        sync(device)
        train_time += t1 - t0
        metric_time += time.perf_counter() - t1
        # stop at the multi-fidelity budget or the median rule, or once the weights are NaN
        if fidelity.report(epoch, score) or not np.isfinite(score):
            break
    fidelity.save_checkpoint(training_state(G, D, opts, ema, gen, best_state, untrained))
    if keep is not None:
        keep[:] = [best_state, generator_config(p, data)]
    best = int(np.argmin(scores))
    finite = bool(np.isfinite(scores[best]))
    if finite and best_sample is None:  # the best epoch was a lower rung's: regenerate its sample
        best_sample = evaluate(load_into(scored, best_state))[1]
    t0 = time.perf_counter()
    extra = fidelity_metrics(evaluate.x_ref.cpu().numpy(), best_sample.cpu().numpy(),
                             None if data.w_test is None else data.w_test.cpu().numpy()) if finite else {}
    extra["wall_time_final_metrics"] = time.perf_counter() - t0
    return {
        **extra,
        "score": float(scores[best]) if finite else float("inf"),
        "best_epoch": best + 1,
        "epoch_scores": [float(s) for s in scores],
        "untrained_score": untrained,
        "w1_floor": evaluate.floor(),
        "n_params": count_parameters(G, D),
        "epochs_trained": len(scores) - resumed,  # by this trial (a promotion: after the lower rung's)
        "wall_time_train": train_time,
        "wall_time_metric": metric_time,
        "events_per_second": steps * bs / max(train_time, 1e-9),
    }


def load_into(module, state_dict: dict):
    """A copy of ``module`` holding ``state_dict`` (the best epoch's generator)."""
    import copy

    other = copy.deepcopy(module)
    other.load_state_dict(state_dict)
    return other


def generator_config(p: dict, data: GanData) -> dict:
    """What rebuilds the generator (plain JSON types): :func:`hyppo_hep.models.checkpoint.load_generator`."""
    return {"noise_dim": p["noise_dim"], "out_dim": int(data.x_train.shape[1]), "layersize": p["gen_layersize"],
            "lo": np.asarray(data.lo).tolist(), "hi": np.asarray(data.hi).tolist(), "cond_dim": data.cond_dim,
            "act": p["activation"], "dropout": p["dropout"], "norm": p["gen_norm"], "params": dict(p)}


def train_epoch(G, D, opts, ema, data: GanData, p: dict, bs: int, gen) -> int:
    """One pass over the training events in a fresh random order, full batches of ``bs``
    only (BatchNorm needs more than one event, equal sizes keep the step uniform); returns
    the number of steps. The epoch's permutation and noise are drawn up front, one call each,
    and batches are slices of the permuted tensors: per-batch indexing and RNG calls were a
    large share of a small GAN's step."""
    import torch

    from hyppo_hep.models.gan_losses import discriminator_loss, generator_loss, gradient_penalty, r1_penalty

    step_g, step_d = AdamKernel(opts[0]), AdamKernel(opts[1])
    n_steps = len(data.x_train) // bs
    device = data.x_train.device
    perm = torch.randperm(len(data.x_train), device=device, generator=gen)[:n_steps * bs]
    xs = data.x_train[perm]
    cs = None if data.c_train is None else data.c_train[perm]
    ws = None if data.w_train is None else data.w_train[perm]
    noise = torch.randn(n_steps, bs, p["noise_dim"], device=device, generator=gen)
    g_params = list(G.parameters())
    loss, smooth, gp = p["loss"], p["label_smoothing"], p["gp_weight"] if p["loss"] == "wgan-gp" else 0.0
    r1 = p["r1"]
    for i in range(n_steps):
        sl = slice(i * bs, (i + 1) * bs)
        real, c = xs[sl], (None if cs is None else cs[sl])
        w = None if ws is None else ws[sl]
        fake = G.unit(noise[i], c)
        # Real and generated events through the discriminator in one call: one pass instead
        # of two, and the shared batch a BatchNorm discriminator needs.
        if r1 > 0:  # the same pass, with the real events' input gradient kept for R1
            penalty, logits = r1_penalty(D, real, fake.detach(), c)
        else:
            logits = D(torch.cat([real, fake.detach()]), None if c is None else torch.cat([c, c]))
        d_loss = discriminator_loss(loss, logits[:bs], logits[bs:], w, smooth)
        if r1 > 0:
            d_loss = d_loss + 0.5 * r1 * penalty
        if gp > 0:
            d_loss = d_loss + gp * gradient_penalty(D, real, fake.detach(), c, gen)
        step_d.zero_grad()
        d_loss.backward()
        step_d.step()
        if (i + 1) % p["d_steps"]:
            continue
        if D.joint:
            g_logits = D(torch.cat([real, fake]), None if c is None else torch.cat([c, c]))[bs:]
        else:
            g_logits = D(fake, c)
        g_loss = generator_loss(loss, g_logits)
        step_g.zero_grad()
        # only the generator's gradients: the discriminator's weight gradients of this pass
        # would be discarded (its optimiser zeroes them before its next step)
        torch.autograd.backward(g_loss, inputs=g_params)
        step_g.step()
        if ema is not None:
            ema.update()
    return n_steps


class Evaluator:
    """``evaluator(G) -> (average W1, generated sample (n_generated, d) in [-1, 1])`` against
    the test truth. The noise is drawn once from its own seeded generator: the same noise
    every epoch (the score follows the model, not the draw) and the training's random
    stream is untouched by the evaluation's size. Conditions cycle through the test set."""

    def __init__(self, data: GanData, noise_dim: int, n_generated: int, seed: int, device: str, metric=None):
        import torch

        g = torch.Generator(device=device).manual_seed(seed + 7919)  # any fixed offset from the training seed
        self.data, self.n = data, int(n_generated)
        self.noise = torch.randn(self.n, noise_dim, device=device, generator=g)
        n_test = len(data.x_test)
        self.cond = None if data.c_test is None else data.c_test[torch.arange(self.n, device=device) % n_test]
        # where scores are computed: the training scale, or the features' own (preprocessing)
        self.to_metric = (lambda u: u) if metric is None else (lambda u: metric(u, data))
        self.x_ref = self.to_metric(data.x_test)

    def __call__(self, G) -> tuple[float, object]:
        import torch

        from hyppo_hep.metrics.wasserstein import w1_torch

        was_training = G.training
        G.eval()
        with torch.inference_mode():
            sample = self.to_metric(G.unit(self.noise, self.cond))
            score = float(w1_torch(self.x_ref, sample, self.data.w_test).mean())
        G.train(was_training)
        return score, sample

    def floor(self) -> float:
        """The score of a perfect generator: ``n_generated`` training events (at most all of
        them) against the test truth, i.e. the W1 of two finite samples of the same law."""
        import torch

        from hyppo_hep.metrics.wasserstein import w1_torch

        with torch.inference_mode():
            x = self.to_metric(self.data.x_train[:self.n])
            w = None if self.data.w_train is None else self.data.w_train[:self.n]
            return float((w1_torch(self.x_ref, x, self.data.w_test, w)).mean())

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


def gan_hadronization(epochs: int = 5, n_events: int | None = None, test_fraction: float = 0.25,
                      data: dict | None = None, cache_dir: str | None = None, data_seed: int = 0,
                      n_generated: int | None = None, save_dir: str | None = None,
                      preprocess: dict | None = None, score: dict | None = None) -> GanObjective:
    """Factory: conditional GAN on the hadronization toy (or user data with ``cond_columns``)."""
    return GanObjective("hadronization", epochs, n_events, test_fraction, data, cache_dir, data_seed, n_generated, save_dir,
                        preprocess, score)


def gan_dimuon(epochs: int = 5, n_events: int | None = None, test_fraction: float = 0.25,
               data: dict | None = None, cache_dir: str | None = None, data_seed: int = 0,
               n_generated: int | None = None, save_dir: str | None = None,
               preprocess: dict | None = None, score: dict | None = None) -> GanObjective:
    """Factory: unconditional GAN on Z -> mu mu events (or user data)."""
    return GanObjective("dimuon", epochs, n_events, test_fraction, data, cache_dir, data_seed, n_generated, save_dir,
                        preprocess, score)


def _check_options(name: str):
    """What the registry checks of a GAN's options before a campaign starts (registry.check)."""
    def check_options(score: dict | None = None, **_) -> None:
        check_score(name, score)
    return check_options


gan_hadronization.check_options = _check_options("gan_hadronization")
gan_dimuon.check_options = _check_options("gan_dimuon")
