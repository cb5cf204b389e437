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


# The surrogate fit_predictor fits, as figure titles and captions name it.
SURROGATE = "Gaussian-process (Matérn-5/2)"


def fit_predictor(X: np.ndarray, y: np.ndarray, noise_var: np.ndarray | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """The posterior mean of the search's own GP surrogate (hyppo_hep.surrogate.gp: Matérn-5/2,
    ARD) fitted to y (``n``) on X (``n x d``, unit cube), with ``noise_var`` (``n``, the
    sets' std²/n_trials) as known per-point noise. Returns the predictor ``m x d -> m``."""
    from hyppo_hep.surrogate.gp import GPSurrogate

    gp = GPSurrogate(seed=0).fit(np.asarray(X, dtype=float), np.asarray(y, dtype=float), noise_var)
    return lambda Z: gp.predict(np.asarray(Z, dtype=float))[0]


def surrogate_sobol(X: np.ndarray, y: np.ndarray, names: list[str], n: int = 512, seed: int = 0,
                    noise_var: np.ndarray | None = None) -> dict:
    """Sobol indices of a surrogate fitted to (X ``n x d`` unit cube, y ``n``, optional
    per-set noise variance ``n``); ``S["surrogate"]`` names the surrogate."""
    if len(y) < 2 * len(names) + 2:
        raise ValueError(f"{len(y)} finished sets are too few for a surrogate over {len(names)} hyperparameters")
    S = sobol_indices(fit_predictor(X, y, noise_var), names, n, seed)
    return {**S, "surrogate": SURROGATE}
