"""Gaussian-process surrogate (scikit-learn, Matern kernel) with known per-point noise.

The spread of a set's repeated trials is the noise of its mean: ``noise_var = std^2 / n``
enters the GP as per-point noise (scikit-learn's ``alpha``, BoTorch's ``train_Yvar``), so
a set whose trials scattered is trusted less than a reproducible one, and the posterior
std at a data point is about the standard error of its mean instead of zero.

Kernel: ``C * Matern(nu, ARD length scales)`` on standardised outputs. The kernel
hyperparameters are fitted by maximum likelihood on at most ``max_fit_points`` points (a
seeded subset, the best half of them always kept), then the posterior is conditioned on
all points with those hyperparameters fixed: the likelihood fit is the part that grows as
n^3 per optimiser step, the conditioning only once.
"""

from __future__ import annotations

import warnings

import numpy as np


class GPSurrogate:
    """``fit(X, y, noise_var=None) -> self``; ``predict(X) -> (mean, std)``;
    ``condition(X, y) -> GPSurrogate`` (same hyperparameters, extra exact points).

    ``y`` of shape ``n x k`` fits ``k`` independent GPs (e.g. the mean and the std of the
    sets)."""

    def __init__(self, nu: float = 2.5, ard: bool = True, max_fit_points: int = 128, n_restarts: int = 0,
                 jitter: float = 1e-6, seed: int = 0):
        if nu not in (0.5, 1.5, 2.5):
            raise ValueError(f"Matern nu must be 0.5, 1.5 or 2.5, got {nu!r}")
        self.nu, self.ard, self.max_fit_points = nu, ard, int(max_fit_points)
        self.n_restarts, self.jitter, self.seed = int(n_restarts), float(jitter), seed

    def _kernel(self, p: int):
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern

        ls = np.full(p, 0.5) if self.ard else 0.5
        return ConstantKernel(1.0, (1e-3, 1e3)) * Matern(ls, (1e-2, 1e2), nu=self.nu)

    def fit(self, X: np.ndarray, y: np.ndarray, noise_var: np.ndarray | None = None) -> "GPSurrogate":
        """``X``: ``n x p``; ``y``: ``n`` or ``n x k``; ``noise_var``: variance of each y
        (same shape as ``y``), or None for exact data (a small jitter is always added)."""
        from sklearn.gaussian_process import GaussianProcessRegressor

        X = np.atleast_2d(np.asarray(X, dtype=float))
        y = np.asarray(y, dtype=float)
        self._vector = y.ndim == 1
        Y = y.reshape(len(X), -1)
        V = np.zeros_like(Y) if noise_var is None else np.asarray(noise_var, dtype=float).reshape(Y.shape)
        n = len(X)
        self._ymu = Y.mean(axis=0)
        ysd = Y.std(axis=0)
        self._ysd = np.where(ysd > 0, ysd, 1.0)
        Ys = (Y - self._ymu) / self._ysd
        Vs = np.maximum(V, 0.0) / self._ysd**2 + self.jitter
        rng = np.random.default_rng(self.seed)
        self._gps = []
        for j in range(Y.shape[1]):
            idx = np.arange(n)
            if n > self.max_fit_points:
                # keep the best half of the subset (where the search looks) plus a random rest
                order = np.argsort(Ys[:, j])
                best = order[: self.max_fit_points // 2]
                rest = rng.choice(order[self.max_fit_points // 2:], self.max_fit_points - len(best), replace=False)
                idx = np.sort(np.concatenate([best, rest]))
            gp = GaussianProcessRegressor(self._kernel(X.shape[1]), alpha=Vs[idx, j], normalize_y=False,
                                          n_restarts_optimizer=self.n_restarts,
                                          random_state=int(rng.integers(2**31)))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # convergence chatter at the length-scale bounds
                gp.fit(X[idx], Ys[idx, j])
            if len(idx) < n:
                gp = GaussianProcessRegressor(gp.kernel_, alpha=Vs[:, j], optimizer=None).fit(X, Ys[:, j])
            self._gps.append(gp)
        self._X, self._Ys, self._Vs = X, Ys, Vs
        return self

    def condition(self, X_new: np.ndarray, y_new: np.ndarray) -> "GPSurrogate":
        """A copy conditioned also on the exact points ``X_new`` (``q x p``) with values
        ``y_new`` (``q`` or ``q x k``), hyperparameters unchanged. Used for pending sets
        (y_new = the predicted mean, the 'kriging believer'): the posterior std collapses
        there, so acquisitions move away from sets that are already being trained."""
        from sklearn.gaussian_process import GaussianProcessRegressor

        X_new = np.atleast_2d(np.asarray(X_new, dtype=float))
        Yn = (np.asarray(y_new, dtype=float).reshape(len(X_new), -1) - self._ymu) / self._ysd
        out = object.__new__(GPSurrogate)
        out.__dict__.update(self.__dict__)
        out._X = np.vstack([self._X, X_new])
        out._Ys = np.vstack([self._Ys, Yn])
        out._Vs = np.vstack([self._Vs, np.full((len(X_new), Yn.shape[1]), self.jitter)])
        out._gps = [GaussianProcessRegressor(gp.kernel_, alpha=out._Vs[:, j], optimizer=None).fit(out._X, out._Ys[:, j])
                    for j, gp in enumerate(self._gps)]
        return out

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std at ``X`` (``m x p``): each ``m`` (or ``m x k``), in y units.
        The std is that of the latent function (the mean score), not of one trial."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        means, stds = [], []
        for gp in self._gps:
            m, s = gp.predict(X, return_std=True)
            means.append(m)
            stds.append(s)
        mean = np.stack(means, axis=1) * self._ysd + self._ymu
        std = np.stack(stds, axis=1) * self._ysd
        if self._vector:
            return mean[:, 0], std[:, 0]
        return mean, std
