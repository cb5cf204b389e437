"""Built-in analytic objectives: noisy test functions with heteroscedastic trial spread.

They stand in for a training where a real one is too slow (the default job, CI, benchmarks,
scaling studies): every trial returns ``f(x) + sigma(x) * z`` with z drawn from the trial's
seed, so repeated trials of one set scatter the way repeated trainings do, and some regions
of the space are more variable than others. ``true_value(params)`` gives the noise-free f.

Each factory takes ``noise`` (a multiplier of the spread; 0 gives the noise-free function)
and ``sleep`` (seconds a trial pretends to train, for executor and MPI tests).
"""

from __future__ import annotations

import math
import time

import numpy as np

from hyppo_hep.errors import UserError


# The broad-search ranges of the Hyppo study's Table 1 (integer index x scaling), the space
# that GanLandscape is shaped over; tests and benchmarks use it as the realistic lattice.
TABLE1_BROAD_SPACE = {
    "noise_dim": {"lower": 1, "upper": 100, "scaling": 4},
    "batch_size": {"lower": 8, "upper": 64, "scaling": 32},
    "lr_gen": {"lower": 1, "upper": 200, "scaling": 5.0e-5},
    "lr_disc": {"lower": 1, "upper": 200, "scaling": 5.0e-5},
    "gen_layersize": {"lower": 8, "upper": 128, "scaling": 8},
    "disc_layersize": {"lower": 8, "upper": 128, "scaling": 8},
}


class AnalyticObjective:
    """Base: subclasses define ``names`` (params read), ``mean(x)`` and ``spread(x)``."""

    names: tuple[str, ...] = ()

    def __init__(self, noise: float = 1.0, sleep: float = 0.0):
        self.noise = float(noise)
        self.sleep = float(sleep)

    def _x(self, params: dict) -> np.ndarray:
        missing = [n for n in self.names if n not in params]
        if missing:
            raise UserError(f"objective {type(self).__name__} needs parameters {list(self.names)}; missing {missing}")
        return np.array([float(params[n]) for n in self.names])

    def true_value(self, params: dict) -> float:
        return float(self.mean(self._x(params)))

    def true_spread(self, params: dict) -> float:
        return float(self.noise * self.spread(self._x(params)))

    def __call__(self, params: dict, trial: int, seed: int, device: str = "cpu") -> float:
        x = self._x(params)
        if self.sleep:
            time.sleep(self.sleep)
        z = np.random.default_rng(seed).standard_normal()
        return float(self.mean(x) + self.noise * self.spread(x) * z)

    def mean(self, x: np.ndarray) -> float:
        raise NotImplementedError

    def spread(self, x: np.ndarray) -> float:
        raise NotImplementedError


class Branin(AnalyticObjective):
    """Branin on x1 in [-5, 10], x2 in [0, 15]; minimum 0.397887 at three points.
    Spread grows with x1 (0.2 at x1=-5 to 2.0 at x1=10)."""

    names = ("x1", "x2")

    def mean(self, x):
        x1, x2 = x
        b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
        return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10

    def spread(self, x):
        return 0.2 + 1.8 * (x[0] + 5) / 15


class Hartmann6(AnalyticObjective):
    """Hartmann 6-D on x0..x5 in [0, 1]; minimum -3.32237. Spread 0.05 + 0.25 * x0."""

    names = tuple(f"x{i}" for i in range(6))
    _A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                   [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
    _P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                          [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
    _alpha = np.array([1.0, 1.2, 3.0, 3.2])

    def mean(self, x):
        return float(-self._alpha @ np.exp(-(self._A * (x - self._P) ** 2).sum(axis=1)))

    def spread(self, x):
        return 0.05 + 0.25 * x[0]


class Rastrigin(AnalyticObjective):
    """Rastrigin on x0..x{d-1} in [-5.12, 5.12] (multimodal); minimum 0 at the origin.
    Spread 0.5 + 0.1 * sum(|x_i|): larger away from the optimum."""

    def __init__(self, dim: int = 10, noise: float = 1.0, sleep: float = 0.0):
        super().__init__(noise, sleep)
        self.names = tuple(f"x{i}" for i in range(int(dim)))

    def mean(self, x):
        return float(10 * len(x) + np.sum(x**2 - 10 * np.cos(2 * np.pi * x)))

    def spread(self, x):
        return 0.5 + 0.1 * float(np.abs(x).sum())


class GanLandscape(AnalyticObjective):
    """A GAN-like landscape over the Hyppo study's six hyperparameters (Table 1 names).

    Shaped after what the study found: the generator learning rate dominates, with the best
    values at the low end of the broad range (optimum near 1e-4); large learning rates are
    both worse and much more variable from trial to trial. Layer sizes, batch size, noise
    dimension and the discriminator rate matter less. Values are on the scale of the study's
    average Wasserstein distance (best about 0.013).
    """

    names = ("noise_dim", "batch_size", "lr_gen", "lr_disc", "gen_layersize", "disc_layersize")

    def __init__(self, noise: float = 1.0, sleep: float = 0.0, info: bool = False):
        super().__init__(noise, sleep)
        self.info = bool(info)

    def __call__(self, params: dict, trial: int, seed: int, device: str = "cpu"):
        score = super().__call__(params, trial, seed, device)
        if not self.info:
            return score
        x = self._x(params)
        return {"score": score, "n_params": self.n_params(x), "histograms": self.histograms(x, seed)}

    @staticmethod
    def n_params(x) -> int:
        """Trainable parameters of the two-hidden-layer MLP generator (noise -> 2 outputs)
        and discriminator (2 inputs -> 1) of this size: what the study colours Figure 6 by."""
        noise_dim, _, _, _, gen, disc = (int(round(v)) for v in x)
        g = (noise_dim + 1) * gen + (gen + 1) * gen + (gen + 1) * 2
        d = 3 * disc + (disc + 1) * disc + (disc + 1)
        return g + d

    def histograms(self, x, seed: int, bins: int = 16) -> dict:
        """Per-trial truth and generated densities of two toy observables (the contract of
        hyppo_hep.analysis: {feature: {edges, truth, generated}}). The generated shape is
        shifted and widened in proportion to how far the set is from the optimum, with a
        seed-dependent wobble, so a worse or more variable set looks worse."""
        from scipy.stats import norm

        rng = np.random.default_rng([seed, 11])
        badness = (self.mean(x) - 0.013) * 10.0
        out = {}
        for name, (mu, sigma, lo, hi) in {"theta": (1.2, 0.5, 0.0, math.pi), "phi": (0.0, 1.2, -math.pi, math.pi)}.items():
            edges = np.linspace(lo, hi, bins + 1)
            truth = np.diff(norm.cdf(edges, mu, sigma))
            shift = sigma * (badness + self.noise * self.spread(x) * 10 * rng.standard_normal())
            gen = np.diff(norm.cdf(edges, mu + shift, sigma * (1 + abs(badness))))
            width = np.diff(edges)
            out[name] = {"edges": [round(float(e), 6) for e in edges],
                         "truth": [round(float(v), 6) for v in truth / truth.sum() / width],
                         "generated": [round(float(v), 6) for v in gen / max(gen.sum(), 1e-12) / width]}
        return out

    def mean(self, x):
        noise_dim, batch, lr_g, lr_d, gen, disc = x
        lg, ld = math.log10(lr_g), math.log10(lr_d)
        return (0.013
                + 0.020 * (lg + 4.0) ** 2
                + 0.004 * (ld + 3.3) ** 2
                + 0.0015 * (math.log2(gen) - 8.5) ** 2
                + 0.0010 * (math.log2(disc) - 8.0) ** 2
                + 0.0008 * (math.log2(batch) - 9.0) ** 2
                + 0.0004 * (math.log2(noise_dim) - 5.0) ** 2
                # the two rates interact: a discriminator much faster than the generator hurts
                + 0.003 * max(0.0, ld - lg - 1.0) ** 2)

    def spread(self, x):
        lg = math.log10(x[2])
        return 0.002 + 0.012 * max(0.0, lg + 4.0) ** 1.5


class Failing(AnalyticObjective):
    """Branin whose trials fail: ``fail_rate`` of trials raise; ``nan_rate`` return NaN.
    Which trials fail is decided by the seed, so a run is reproducible."""

    names = ("x1", "x2")
    mean, spread = Branin.mean, Branin.spread

    def __init__(self, fail_rate: float = 0.2, nan_rate: float = 0.0, noise: float = 1.0, sleep: float = 0.0):
        super().__init__(noise, sleep)
        self.fail_rate, self.nan_rate = float(fail_rate), float(nan_rate)

    def __call__(self, params, trial, seed, device="cpu"):
        u = np.random.default_rng([seed, 7]).random()
        if u < self.fail_rate:
            raise RuntimeError(f"injected failure (trial {trial}, seed {seed})")
        if u < self.fail_rate + self.nan_rate:
            return float("nan")
        return super().__call__(params, trial, seed, device)


FAULT_MODES = ("raise", "nan", "inf", "hang", "abort", "sigkill", "segfault", "exit")


class Fault(AnalyticObjective):
    """Branin with injected faults, for reliability tests: a ``rate`` fraction of trials
    (chosen by the seed, so a run is reproducible) does ``mode``:

    raise (RuntimeError), nan / inf (non-finite score), hang (sleeps ``hang_s`` seconds,
    past any trial_timeout), abort (``os.abort()``: SIGABRT, like a failed C assertion),
    sigkill (SIGKILL to its own process, like the OOM killer), segfault (reads address 0),
    exit (``sys.exit(3)``). abort, sigkill and segfault kill the process they run in: use
    them with ``isolation: process`` or the pool.
    """

    names = ("x1", "x2")
    mean, spread = Branin.mean, Branin.spread

    def __init__(self, mode: str = "raise", rate: float = 0.3, hang_s: float = 3600.0, noise: float = 1.0,
                 sleep: float = 0.0):
        if mode not in FAULT_MODES:
            raise UserError(f"objective fault: mode {mode!r} is not one of {', '.join(FAULT_MODES)}")
        super().__init__(noise, sleep)
        self.mode, self.rate, self.hang_s = mode, float(rate), float(hang_s)

    def is_faulty(self, seed: int) -> bool:
        return bool(np.random.default_rng([seed, 11]).random() < self.rate)

    def __call__(self, params, trial, seed, device="cpu"):
        if not self.is_faulty(seed):
            return super().__call__(params, trial, seed, device)
        import os
        import signal
        import sys

        if self.mode == "raise":
            raise RuntimeError(f"injected fault (trial {trial}, seed {seed})")
        if self.mode in ("nan", "inf"):
            return float(self.mode)
        if self.mode == "hang":
            time.sleep(self.hang_s)
            return 0.0
        if self.mode == "abort":
            os.abort()
        if self.mode == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.mode == "segfault":
            import ctypes

            ctypes.string_at(0)
        sys.exit(3)


def branin(noise: float = 1.0, sleep: float = 0.0) -> Branin:
    return Branin(noise, sleep)


def hartmann6(noise: float = 1.0, sleep: float = 0.0) -> Hartmann6:
    return Hartmann6(noise, sleep)


def rastrigin(dim: int = 10, noise: float = 1.0, sleep: float = 0.0) -> Rastrigin:
    return Rastrigin(dim, noise, sleep)


def gan_landscape(noise: float = 1.0, sleep: float = 0.0, info: bool = False) -> GanLandscape:
    """``info=True``: trials return a dict with ``n_params`` and ``histograms`` as well (for
    the analysis figures: model size, generated vs true distributions)."""
    return GanLandscape(noise, sleep, info)


def failing(fail_rate: float = 0.2, nan_rate: float = 0.0, noise: float = 1.0, sleep: float = 0.0) -> Failing:
    return Failing(fail_rate, nan_rate, noise, sleep)


def fault(mode: str = "raise", rate: float = 0.3, hang_s: float = 3600.0, noise: float = 1.0,
          sleep: float = 0.0) -> Fault:
    return Fault(mode, rate, hang_s, noise, sleep)


class LearningCurve:
    """An analytic landscape trained epoch by epoch (for multi-fidelity tests and benchmarks).

    After epoch ``e`` (1-based) a trial scores ``f(x) + gap(x) * e^-0.7 + spread(x) * z``:
    it converges to the landscape ``f`` of ``base`` (branin, hartmann6, rastrigin,
    gan_landscape) at a speed that depends on the parameters (``gap`` is between 1x and 3x
    ``gap_scale`` and not aligned with f, so early rankings are informative but imperfect),
    with the trial's seed-driven spread. It trains ``params['epochs']`` epochs (or
    ``epochs``), reports each through ``fidelity.report`` and stops when told; it returns the
    best epoch's score with ``best_epoch`` and ``epoch_scores``. ``sleep`` is seconds per epoch.
    """

    def __init__(self, base: str = "branin", epochs: int = 27, gap_scale: float | None = None, noise: float = 1.0,
                 sleep: float = 0.0, **base_options):
        from hyppo_hep.objectives.registry import resolve

        self.base = resolve(base, {"noise": 0.0, **base_options})
        self.epochs, self.noise, self.sleep = int(epochs), float(noise), float(sleep)
        self.gap_scale = gap_scale

    def true_value(self, params: dict) -> float:
        return self.base.true_value(params)

    def _gap(self, params: dict, x: np.ndarray) -> float:
        scale = self.gap_scale if self.gap_scale is not None else 1.0 + abs(self.base.true_value(params))
        return float(scale * (2.0 + math.sin(3.0 * float(np.sum(x * np.arange(1, len(x) + 1))))))

    def __call__(self, params: dict, trial: int, seed: int, device: str = "cpu") -> dict:
        from hyppo_hep import fidelity

        x = self.base._x(params)
        f, gap = self.base.mean(x), self._gap(params, x)
        spread = self.noise * self.base.spread(x) if self.noise else 0.0
        rng = np.random.default_rng(seed)
        z = rng.standard_normal()
        scores = []
        for epoch in range(fidelity.epochs(int(params.get("epochs", self.epochs)))):
            if self.sleep:
                time.sleep(self.sleep)
            score = float(f + gap * (epoch + 1) ** -0.7 + spread * (z + 0.1 * rng.standard_normal()))
            scores.append(score)
            if fidelity.report(epoch, score):
                break
        best = int(np.argmin(scores))
        return {"score": scores[best], "best_epoch": best, "epoch_scores": scores}


def curve(base: str = "branin", epochs: int = 27, gap_scale: float | None = None, noise: float = 1.0,
          sleep: float = 0.0, **base_options) -> LearningCurve:
    return LearningCurve(base, epochs, gap_scale, noise, sleep, **base_options)
