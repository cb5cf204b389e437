"""Radial basis function surrogate with a linear tail, aware of the spread of repeated trials.

``s(x) = sum_i lambda_i phi(||x - x_i||) + c_0 + c^T x`` with phi cubic (r^3, the default),
thin-plate (r^2 log r) or linear (r). The tail makes the interpolation system

    [Phi + eta I   P] [lambda]   [y]
    [P^T           0] [c     ] = [0]        P = [1, X T]  (n x (r + 1))

(T: a basis of the r directions the points span) uniquely solvable for distinct points (cubic and thin-plate are conditionally positive
definite of order 2). Inputs are min-max scaled and outputs standardised before the
solve, and ``eta`` regularises the diagonal, so the system stays well conditioned for
the lattice points a search produces.

The spread of the trials enters as an ensemble: with ``noise_var`` (the variance of each
y, e.g. std^2 / n_trials of a set's mean) ``n_ensemble`` extra right-hand sides
``y + sqrt(noise_var) * z`` (z standard normal, fixed seed) are solved with the same
factorisation. The interpolant is linear in y, so this costs one matrix product, and
the ensemble's standard deviation is the predicted uncertainty: how much the prediction
would move if the trials had come out differently. Without ``noise_var`` the predicted
std is 0 (an interpolant of exact data has no uncertainty of its own).

Several outputs (``y`` of shape ``n x k``, e.g. the mean and the std of the sets) share
one factorisation.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from scipy.spatial.distance import cdist

KERNELS = ("cubic", "thinplate", "linear")


def _phi(r: np.ndarray, kernel: str) -> np.ndarray:
    if kernel == "cubic":
        return r * r * r
    if kernel == "thinplate":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(r > 0, r**2 * np.log(np.where(r > 0, r, 1.0)), 0.0)
    return r


def _solve(A: np.ndarray, rhs: np.ndarray, underdetermined: bool) -> np.ndarray:
    """Solve the symmetric RBF system; least squares (minimum norm) when there are too few
    points for a unique linear tail or the system is singular."""
    if underdetermined:
        return np.linalg.lstsq(A, rhs, rcond=None)[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
            return scipy.linalg.solve(A, rhs, assume_a="sym", check_finite=False)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning):
        return np.linalg.lstsq(A, rhs, rcond=None)[0]


class RBFSurrogate:
    """``fit(X, y, noise_var=None) -> self``; ``predict(X) -> (mean, std)``.

    ``kernel``: cubic, thinplate or linear. ``eta``: diagonal regularisation (in units of
    the standardised outputs). ``n_ensemble``: members of the resampled ensemble that
    gives the predicted std (0: no ensemble). ``seed``: seed of the resampling, so that
    predictions are a pure function of the data.
    """

    def __init__(self, kernel: str = "cubic", eta: float = 1e-6, n_ensemble: int = 32, seed: int = 0,
                 smooth: float = 0.0):
        if kernel not in KERNELS:
            raise ValueError(f"unknown RBF kernel {kernel!r} (known: {', '.join(KERNELS)})")
        self.kernel, self.eta, self.n_ensemble, self.seed = kernel, float(eta), int(n_ensemble), seed
        self.smooth = float(smooth)

    def fit(self, X: np.ndarray, y: np.ndarray, noise_var: np.ndarray | None = None) -> "RBFSurrogate":
        """``X``: ``n x p`` points; ``y``: ``n`` or ``n x k`` values; ``noise_var``: the
        variance of each value, same shape as ``y`` (or None: exact data)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        y = np.asarray(y, dtype=float)
        self._vector = y.ndim == 1
        Y = y.reshape(len(X), -1)
        n, p = X.shape
        k = Y.shape[1]
        if n == 0:
            raise ValueError("cannot fit an RBF to no points")
        self._lo = X.min(axis=0)
        span = X.max(axis=0) - self._lo
        self._span = np.where(span > 0, span, 1.0)
        Xs = (X - self._lo) / self._span
        self._ymu = Y.mean(axis=0)
        ysd = Y.std(axis=0)
        self._ysd = np.where(ysd > 0, ysd, 1.0)
        Ys = (Y - self._ymu) / self._ysd

        rhs = [Ys]
        self._n_members = 0
        if noise_var is not None and self.n_ensemble > 0:
            V = np.asarray(noise_var, dtype=float).reshape(n, k) / self._ysd**2
            if np.any(V > 0):
                z = np.random.default_rng(self.seed).standard_normal((n, k, self.n_ensemble))
                rhs.append((np.sqrt(np.maximum(V, 0.0))[:, :, None] * z).reshape(n, k * self.n_ensemble))
                self._n_members = self.n_ensemble
        B = np.hstack(rhs)

        # The tail spans the directions the points actually vary in: one-hot columns sum to
        # a constant and a coordinate may not vary at all, either of which would make
        # [1, X] rank deficient and the system singular.
        _, sv, vt = np.linalg.svd(Xs - Xs.mean(axis=0), full_matrices=False)
        rank = int(np.sum(sv > 1e-9 * max(sv[0] if sv.size else 0.0, 1e-300)))
        self._tail = vt[:rank].T  # p x rank
        P = np.hstack([np.ones((n, 1)), Xs @ self._tail])
        m = rank + 1
        A = np.zeros((n + m, n + m))
        A[:n, :n] = _phi(cdist(Xs, Xs), self.kernel) + self.eta * np.eye(n)
        A[:n, n:] = P
        A[n:, :n] = P.T
        rhs_full = np.vstack([B, np.zeros((m, B.shape[1]))])
        if self.smooth > 0 and noise_var is not None and self.kernel != "linear":
            # A smoothing fit of the first output (the sets' mean): each point's diagonal grows
            # with that output's noise (std^2/n), so a set of scattered trials is not
            # interpolated exactly. Cubic and thin-plate are conditionally positive definite,
            # so this only smooths. The other outputs (the trial spread) keep the plain
            # system: smoothing them by the mean's noise would discount exactly the sets
            # whose spread is large, and predict a small spread where it is large.
            v0 = np.asarray(noise_var, dtype=float).reshape(n, k)[:, 0] / self._ysd[0] ** 2
            As = A.copy()
            As[np.arange(n), np.arange(n)] += self.smooth * np.maximum(v0, 0.0)
            first = np.r_[0, k + np.arange(self._n_members)]  # output 0 and its ensemble members
            others = np.setdiff1d(np.arange(B.shape[1]), first)
            sol = np.empty_like(rhs_full)
            sol[:, first] = _solve(As, rhs_full[:, first], n < m)
            if others.size:
                sol[:, others] = _solve(A, rhs_full[:, others], n < m)
        else:
            sol = _solve(A, rhs_full, n < m)
        self._X, self._k = Xs, k
        self._coef = sol  # (n + m) x (k + k * members)
        return self

    def _evaluate(self, X: np.ndarray) -> np.ndarray:
        Xs = (np.atleast_2d(np.asarray(X, dtype=float)) - self._lo) / self._span
        basis = np.hstack([_phi(cdist(Xs, self._X), self.kernel), np.ones((len(Xs), 1)), Xs @ self._tail])
        return basis @ self._coef

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Prediction at ``X`` (``m x p``): mean and std, each ``m`` (or ``m x k`` when the
        fit had ``k`` outputs), in the units of ``y``."""
        out = self._evaluate(X)
        k = self._k
        mean = out[:, :k] * self._ysd + self._ymu
        if self._n_members:
            members = out[:, k:].reshape(len(out), k, self._n_members)
            std = members.std(axis=2, ddof=1) * self._ysd
        else:
            std = np.zeros_like(mean)
        if self._vector:
            return mean[:, 0], std[:, 0]
        return mean, std
