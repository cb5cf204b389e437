"""Global sensitivity: Sobol indices of the score, computed on a surrogate of the search.

The study's sensitivity rows (Figures 4 and 9) look at one hyperparameter at a time. The
first-order index S1_i is the share of the score's variance over the space explained by
hyperparameter i alone, the total index ST_i includes all its interactions, and the
second-order S2_ij the share of the pair's interaction alone. The score is only known at
the evaluated sets, so the indices are taken of a surrogate fitted to (X in the unit cube,
mean score) and evaluated by Saltelli sampling (SALib, an optional dependency: the
``plots`` extra). For an additive function sum(S1) = 1 and S2 = 0.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


class MissingDependency(RuntimeError):
    """An optional analysis package is not installed (the report says so instead)."""


def sobol_indices(f: Callable[[np.ndarray], np.ndarray], names: list[str], n: int = 512, seed: int = 0) -> dict:
    """Sobol indices of ``f`` (``m x d`` unit-cube points -> ``m`` values) over [0, 1]^d.

    ``n`` is the Saltelli base sample (a power of 2; ``n (2d + 2)`` evaluations). Returns
    S1, S1_conf, ST, ST_conf (each ``(d,)``) and S2, S2_conf (``d x d``, upper triangle;
    NaN elsewhere), plus ``names``."""
    try:
        from SALib.analyze import sobol as analyze
        from SALib.sample import sobol as sample
    except ImportError:
        raise MissingDependency("SALib is not installed (pip install SALib, or the hyppo_hep[plots] extra)") from None
    d = len(names)
    if d < 2:
        raise ValueError("Sobol indices need at least two free hyperparameters")
    problem = {"num_vars": d, "names": list(names), "bounds": [[0.0, 1.0]] * d}
    X = sample.sample(problem, n, calc_second_order=True, seed=seed)
    Y = np.asarray(f(X), dtype=float).reshape(-1)
    S = analyze.analyze(problem, Y, calc_second_order=True, print_to_console=False, seed=seed)
    return {"names": list(names), **{k: np.asarray(S[k], dtype=float) for k in ("S1", "S1_conf", "ST", "ST_conf", "S2", "S2_conf")}}


def fit_predictor(X: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A smooth regression of y (``n``) on X (``n x d``, unit cube): the mean of a Gaussian
    process with an anisotropic Matérn-5/2 kernel and a white-noise term (the trial-to-trial
    spread), targets standardised. Returns the predictor ``m x d -> m``."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    d = X.shape[1]
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.full(d, 0.5), (1e-2, 1e2), nu=2.5) \
        + WhiteKernel(1e-2, (1e-8, 1.0))
    gp = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=1, random_state=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # bound warnings on tiny data sets say nothing actionable
        gp.fit(X, y)
    return lambda Z: gp.predict(np.asarray(Z, dtype=float))


def surrogate_sobol(X: np.ndarray, y: np.ndarray, names: list[str], n: int = 512, seed: int = 0) -> dict:
    """Sobol indices of a surrogate fitted to (X ``n x d`` unit cube, y ``n``)."""
    if len(y) < 2 * len(names) + 2:
        raise ValueError(f"{len(y)} finished sets are too few for a surrogate over {len(names)} hyperparameters")
    return sobol_indices(fit_predictor(X, y), names, n, seed)
