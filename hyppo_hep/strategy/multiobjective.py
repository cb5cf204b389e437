"""Multi-objective surrogate search: toward the Pareto front of score, spread, size, ...

``strategy: {name: multiobjective, objectives: [mean, std, {name: n_params, log: true}]}``

Objectives (all minimised; default ``[mean, std]``), named as:

- ``mean``: the set's mean score over its trials; ``std``: the trials' spread (ddof=1);
- ``n_params``: the model size the objective reports in each trial's info;
- ``info.<key>``: any other scalar the objective returns in its info (e.g. generation
  time), averaged over the set's successful trials;
- ``{name: ..., log: true}``: the same on a log scale (values must be > 0).

Each proposal (after an initial Latin hypercube, as the single-objective strategies):

1. One surrogate per objective (the project's GP, the default, or RBF; one fit with ``k``
   outputs) on the
   finished sets' objective vectors, normalised to [0, 1] by the observed range. The
   trials' spread is the noise of each value (std^2/n for the mean, std^2/(2(n-1)) for
   the std, the trials' variance/n for info values). Failed sets, and values a set did
   not report, count as the worst observed, so the search keeps away from them.
2. Candidates: DYCORS perturbations (candidates.py) of the observed front's sets at
   several radii, plus uniform lattice points; none evaluated, pending or chosen.
3. Acquisition, per pick:
   - ``hvi`` (default): the hypervolume the candidate's optimistic predicted vector
     (mean - beta * std of the prediction) would add to the observed front (SMS-EGO,
     Ponweiser et al. 2008). The GP is the default because its std is the model's own
     uncertainty, which is what makes the optimism explore; the RBF's std is only the
     spread of its noise ensemble (surrogate/rbf.py), so with ``rbf`` the exploration
     comes from the distance term alone; a candidate that adds nothing ranks by its additive epsilon
     distance to the front, so there is always an order;
   - ``chebyshev``: the augmented Chebyshev scalarisation of the predicted vector under
     a new random weight vector per pick (ParEGO's scalarisation, Knowles 2006, on
     per-objective surrogates rather than on one surrogate of the scalarised values).
   The acquisition is combined with the distance to every evaluated and pending set by
   the weighted merit of candidates.py. With the GP the default weight is 1 (the
   acquisition alone: the GP's optimism already explores, as the single-objective GP
   strategy's EI and LCB do; a 4-seed check on two benchmark problems agreed, see
   benchmarks/RESULTS_multiobjective.md); with the RBF, whose std does not explore, the
   weights cycle from exploration to exploitation as in the single-objective strategy.
4. Pending sets: besides the distance, each pending set's predicted vector joins the front
   the candidates are measured against (a constant liar), and so does each pick of a
   batch: a proposal does not aim where a running training already aims.

All state is recomputed from the history, so the strategy runs unchanged under every
executor and after a resume. ``pareto_front`` and ``front_hypervolume`` serve the API and
the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hyppo_hep.errors import ConfigError, UserError
from hyppo_hep.space import CategoricalParam
from hyppo_hep.strategy import candidates as cand
from hyppo_hep.strategy import hypervolume as hv
from hyppo_hep.strategy.base import new_points

BUILTIN = ("mean", "std", "n_params")
MAX_OBJECTIVES = 4  # exact hypervolume stays cheap up to here
REF_NORMALISED = 1.1  # the acquisition's reference point, in units of the observed range
RADII = (0.2, 0.1, 0.05, 0.025)
DEFAULT_WEIGHTS = (0.3, 0.5, 0.8, 0.95)  # the RBF's cycle, as in the single-objective strategy
GP_WEIGHTS = (1.0,)
# the two every search has, with no info from the objective: the study's score and variability
DEFAULT_OBJECTIVES = ("mean", "std")


@dataclass(frozen=True)
class ObjectiveSpec:
    """One objective: ``name`` is mean, std, n_params or info.<key>; ``log``: minimise its log."""

    name: str
    log: bool = False

    @property
    def info_key(self) -> str | None:
        if self.name == "n_params":
            return "n_params"
        return self.name[5:] if self.name.startswith("info.") else None

    @property
    def label(self) -> str:
        return f"log({self.name})" if self.log else self.name


def parse_objective(spec, path: str) -> ObjectiveSpec:
    """``spec``: a name, or ``{name: ..., log: bool}``; errors name ``path``."""
    log = False
    if isinstance(spec, dict):
        extra = sorted(set(spec) - {"name", "log"})
        if extra:
            raise ConfigError(f"{path}.{extra[0]}", "is not a key of an objective (keys: name, log)")
        if "name" not in spec:
            raise ConfigError(f"{path}.name", "is missing")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(f"{path}.log", f"must be true or false, got {log!r}")
        spec, path = spec["name"], f"{path}.name"
    if not isinstance(spec, str):
        raise ConfigError(path, f"must be a name or {{name: ..., log: true}}, got {spec!r}")
    if spec not in BUILTIN and not (spec.startswith("info.") and len(spec) > 5):
        raise ConfigError(path, f"({spec!r}) is not an objective: use mean, std, n_params or info.<key>")
    return ObjectiveSpec(spec, log)


def parse_objectives(specs, path: str = "strategy.objectives") -> tuple[ObjectiveSpec, ...]:
    if specs is None:
        specs = list(DEFAULT_OBJECTIVES)
    if not isinstance(specs, (list, tuple)):
        raise ConfigError(path, f"must be a list such as [mean, std], got {specs!r}")
    if not 2 <= len(specs) <= MAX_OBJECTIVES:
        raise ConfigError(path, f"must name 2 to {MAX_OBJECTIVES} objectives, got {len(specs)} "
                          "(for the mean score alone use the rbf or gp strategy)")
    out = tuple(parse_objective(s, f"{path}[{i}]") for i, s in enumerate(specs))
    names = [o.name for o in out]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{path}[{i}]", f"({name!r}) is named twice")
    return out


def _check_int(value, minimum: int, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(path, f"must be an integer >= {minimum}, got {value!r}")


def _check_number(value, lo: float, hi: float, path: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise ConfigError(path, f"must be a number in [{lo:g}, {hi:g}], got {value!r}")


def check_options(options: dict, path: str = "strategy") -> None:
    """Validate the options of this strategy (without a space), raising ConfigError with
    the key path of the first bad one: usable when a config is parsed."""
    allowed = ("objectives", "surrogate", "acquisition", "initial", "n_candidates", "weights",
               "uniform_fraction", "beta")
    for key in options:
        if key not in allowed:
            raise ConfigError(f"{path}.{key}", f"is not an option of this strategy (options: {', '.join(allowed)})")
    parse_objectives(options.get("objectives"), f"{path}.objectives")
    if options.get("surrogate", "gp") not in ("rbf", "gp"):
        raise ConfigError(f"{path}.surrogate", f"({options['surrogate']!r}) is not one of rbf, gp")
    if options.get("acquisition", "hvi") not in ("hvi", "chebyshev"):
        raise ConfigError(f"{path}.acquisition", f"({options['acquisition']!r}) is not one of hvi, chebyshev")
    if options.get("initial") is not None:
        _check_int(options["initial"], 1, f"{path}.initial")
    if options.get("n_candidates") is not None:
        _check_int(options["n_candidates"], 10, f"{path}.n_candidates")
    weights = options.get("weights")
    weights = DEFAULT_WEIGHTS if weights is None else weights
    if (not isinstance(weights, (list, tuple)) or not weights or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) and 0 <= w <= 1 for w in weights)):
        raise ConfigError(f"{path}.weights", f"must be a list of numbers in [0, 1], got {weights!r}")
    _check_number(options.get("uniform_fraction", 0.2), 0.0, 1.0, f"{path}.uniform_fraction")
    _check_number(options.get("beta", 1.0), 0.0, math.inf, f"{path}.beta")


# --- objective values of sets ---------------------------------------------------------------

def _info_values(rec, key: str) -> list[float]:
    vals = [t.info.get(key) for t in rec.trials.values() if t.ok and isinstance(t.info, dict)]
    return [float(v) for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]


def set_value(rec, objective: ObjectiveSpec) -> tuple[float, float]:
    """A finished set's value of ``objective`` and that value's noise variance (how much it
    would move if the trials were repeated); (nan, 0) when the set has no such value."""
    scores = rec.scores
    n = len(scores)
    if objective.info_key is not None:
        vals = _info_values(rec, objective.info_key)
        if not vals:
            return math.nan, 0.0
        value = float(np.mean(vals))
        var = float(np.var(vals, ddof=1)) / len(vals) if len(vals) > 1 else 0.0
    elif n == 0:
        return math.nan, 0.0
    elif objective.name == "mean":
        value, var = rec.mean, rec.std**2 / n
    else:
        # the sample std of n normal trials has variance about std^2 / (2 (n - 1))
        value, var = rec.std, rec.std**2 / (2 * (n - 1)) if n > 1 else 0.0
    if objective.log:
        if not value > 0:
            return math.nan, 0.0
        value, var = math.log(value), var / value**2  # delta method
    return value, var


def objective_matrix(records, objectives) -> tuple[np.ndarray, np.ndarray]:
    """Values ``n x k`` (NaN where a set has none) and their noise variances ``n x k``."""
    out = np.array([[set_value(r, o) for o in objectives] for r in records], dtype=float).reshape(
        len(records), len(objectives), 2)
    return out[:, :, 0], out[:, :, 1]


def pareto_front(history, objectives) -> list:
    """The finished sets no other finished set dominates in ``objectives`` (names, dicts or
    ObjectiveSpecs), sorted by the first objective. Sets lacking a value are left out."""
    objectives = _as_specs(objectives)
    done = history.done
    Y, _ = objective_matrix(done, objectives)
    ok = np.all(np.isfinite(Y), axis=1)
    recs = [r for r, keep in zip(done, ok) if keep]
    Y = Y[ok]
    mask = hv.pareto_mask(Y)
    front = [(Y[i, 0], r.set_id, r) for i, r in enumerate(recs) if mask[i]]
    return [r for _, _, r in sorted(front, key=lambda t: (t[0], t[1]))]


def front_rows(history, objectives) -> list[dict]:
    """The Pareto front as table rows (for ``result.pareto`` and the report): set_id,
    params, n_ok and each objective's value under its label (log ones logged)."""
    objectives = _as_specs(objectives)
    front = pareto_front(history, objectives)
    Y, _ = objective_matrix(front, objectives)
    return [{"set_id": r.set_id, "params": dict(r.params), "n_ok": r.n_ok,
             **{o.label: float(v) for o, v in zip(objectives, y)}} for r, y in zip(front, Y)]


def hypervolume_progress(history, objectives, ref=None) -> tuple[np.ndarray, np.ndarray]:
    """The front's hypervolume after each finished set, in completion order (for the
    report's progress figure): set counts ``m`` (1..m) and hypervolumes ``m``, against
    ``ref`` (default: ``reference_point`` of all finished sets, so the curve ends at
    ``front_hypervolume``)."""
    objectives = _as_specs(objectives)
    done = sorted(history.done, key=lambda r: (r.finished if r.finished is not None else math.inf, r.set_id))
    Y, _ = objective_matrix(done, objectives)
    ok = np.all(np.isfinite(Y), axis=1)
    if not ok.any():
        return np.arange(1, len(done) + 1), np.zeros(len(done))
    ref = reference_point(Y[ok]) if ref is None else np.asarray(ref, dtype=float)
    values = [hv.hypervolume(Y[: i + 1][ok[: i + 1]], ref) for i in range(len(done))]
    return np.arange(1, len(done) + 1), np.array(values)


def reference_point(Y: np.ndarray, margin: float = 0.1) -> np.ndarray:
    """A reference point for ``Y`` (``n x k``): the worst value of each objective plus
    ``margin`` of its range (of 1 where the range is 0)."""
    Y = np.asarray(Y, dtype=float)
    Y = Y[np.all(np.isfinite(Y), axis=1)]
    hi, lo = Y.max(axis=0), Y.min(axis=0)
    return hi + margin * np.where(hi > lo, hi - lo, 1.0)


def front_hypervolume(history, objectives, ref=None) -> float:
    """Hypervolume of the finished sets in ``objectives`` (log ones on their log scale)
    against ``ref`` (``k``; default: ``reference_point`` of those sets)."""
    objectives = _as_specs(objectives)
    Y, _ = objective_matrix(history.done, objectives)
    Y = Y[np.all(np.isfinite(Y), axis=1)]
    if len(Y) == 0:
        return 0.0
    return hv.hypervolume(Y, reference_point(Y) if ref is None else np.asarray(ref, dtype=float))


def _as_specs(objectives) -> tuple[ObjectiveSpec, ...]:
    if all(isinstance(o, ObjectiveSpec) for o in objectives):
        return tuple(objectives)
    return parse_objectives(list(objectives), "objectives")


# --- the strategy ---------------------------------------------------------------------------

class MultiObjectiveStrategy:
    """``{name: multiobjective, objectives: [mean, std, {name: n_params, log: true}],
    surrogate: gp|rbf, acquisition: hvi|chebyshev, initial: 14, n_candidates: 600,
    weights: [1.0] (gp) or [0.3, 0.5, 0.8, 0.95] (rbf), uniform_fraction: 0.2, beta: 1.0}``"""

    def __init__(self, space, budget: int, objectives=None, surrogate: str = "gp", acquisition: str = "hvi",
                 initial: int | None = None, n_candidates: int | None = None, weights=None,
                 uniform_fraction: float = 0.2, beta: float = 1.0):
        check_options({"objectives": objectives, "surrogate": surrogate, "acquisition": acquisition,
                       "initial": initial, "n_candidates": n_candidates, "weights": weights,
                       "uniform_fraction": uniform_fraction, "beta": beta})
        d = space.dim
        self.space, self.budget = space, int(budget)
        self.objectives = parse_objectives(objectives)
        self.surrogate, self.acquisition = surrogate, acquisition
        self.initial = min(2 * (d + 1) if initial is None else initial, self.budget)
        self.n_candidates = n_candidates or int(min(max(100 * d, 500), 2000))
        if weights is None:
            weights = GP_WEIGHTS if surrogate == "gp" else DEFAULT_WEIGHTS
        self.weights = tuple(float(w) for w in weights)
        self.uniform_fraction, self.beta = float(uniform_fraction), float(beta)
        self.levels = space.n_levels()
        self.categorical = np.array([isinstance(p, CategoricalParam) for p in space.free], dtype=bool)
        self._design: np.ndarray | None = None

    def make_surrogate(self):
        if self.surrogate == "gp":
            from hyppo_hep.surrogate.gp import GPSurrogate

            return GPSurrogate()
        from hyppo_hep.surrogate.rbf import RBFSurrogate

        return RBFSurrogate()

    def propose(self, history, n: int, rng: np.random.Generator) -> list[dict]:
        from hyppo_hep.strategy.surrogate import _one_blas_thread, propose_frame

        def fit(k: int, out: list[dict]) -> list[dict]:
            with _one_blas_thread():
                return self._propose_adaptive(history, k, rng, out)

        return propose_frame(self, history, n, rng, fit)

    def normalised_data(self, history) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Features of the finished sets (done, then failed), their objective vectors and
        noise variances normalised to the observed range (``n x k`` each; failed sets and
        missing values at the worst observed, 1), and the done sets' normalised vectors
        with every value present (the observed front's candidates)."""
        done, failed = history.done, history.failed
        Y, V = objective_matrix(done, self.objectives)
        present = np.isfinite(Y)
        for j, o in enumerate(self.objectives):
            if not present[:, j].any():
                raise UserError(f"objective {o.label!r} has no value in any finished set"
                                + (f" (the objective must return info['{o.info_key}'])" if o.info_key else
                                   " (log needs values > 0)" if o.log else ""))
        lo = np.nanmin(Y, axis=0)
        span = np.nanmax(Y, axis=0) - lo
        span = np.where(span > 0, span, 1.0)
        Yn = np.where(present, (Y - lo) / span, 1.0)
        Vn = np.where(present, V / span**2, 0.0)
        Yn = np.vstack([Yn, np.ones((len(failed), Yn.shape[1]))])
        Vn = np.vstack([Vn, np.zeros((len(failed), Vn.shape[1]))])
        F = self.space.features(self.space.encode_many([r.params for r in done + failed]))
        observed = Yn[: len(done)][present.all(axis=1)]
        return F, Yn, Vn, observed

    def candidates(self, history, front_X: np.ndarray, rng: np.random.Generator, chosen: list[dict]) -> np.ndarray:
        """Candidate lattice points (``m x dim``) around the front's sets ``front_X``
        (unit cube) at several radii, and uniform ones; none taken."""
        n_adaptive = max(0, len(history) - self.initial)
        prob = cand.perturb_probability(self.space.dim, n_adaptive, max(self.budget - self.initial, 1))
        n_uniform = int(round(self.uniform_fraction * self.n_candidates))
        centres = front_X[rng.permutation(len(front_X))[:8]]
        n_each = max(1, (self.n_candidates - n_uniform) // (len(centres) * len(RADII)))
        parts = [cand.dycors_candidates(c, n_each, r, prob, self.levels, self.categorical, rng)
                 for c in centres for r in RADII]
        parts.append(cand.uniform_candidates(n_uniform, self.levels, rng))
        taken = history.keys(self.space) | {self.space.key(p) for p in chosen}
        return cand.unique_new(np.vstack(parts), taken)

    def _propose_adaptive(self, history, n: int, rng: np.random.Generator, chosen: list[dict]) -> list[dict]:
        space = self.space
        F, Yn, Vn, observed = self.normalised_data(history)
        done = history.done
        Y_done = Yn[: len(done)]
        front_rows = np.flatnonzero(hv.pareto_mask(Y_done))
        front_X = space.encode_many([done[i].params for i in front_rows])
        C = self.candidates(history, front_X, rng, chosen)
        if len(C) == 0:
            return []
        FC = space.features(C)
        model = self.make_surrogate().fit(F, Yn, Vn)
        mu, sd = model.predict(FC)
        optimistic = mu - self.beta * sd
        front = observed[hv.pareto_mask(observed)]
        F_pending = space.features(history.X_pending(space))
        if len(F_pending):  # the constant liar: pending sets count as reaching their prediction
            front = np.vstack([front, model.predict(F_pending)[0]])
        X_known = np.vstack([history.X_all(space), space.encode_many(chosen)])
        dist = cand.min_distance(FC, space.features(X_known))
        picks = self.select(FC, optimistic, mu, front, dist, history, n, rng)
        return new_points(space, C[picks], history, n, also_taken={space.key(p) for p in chosen})

    def select(self, FC, optimistic, mu, front, dist, history, n: int, rng) -> list[int]:
        """Indices of the candidates to propose, one pick at a time: each pick's predicted
        vector joins the front and its point the known sets before the next pick."""
        start = max(0, len(history) - self.initial)
        dist = dist.copy()
        picks: list[int] = []
        for i in range(min(n + 2, len(FC))):  # spares in case a pick decodes onto a taken set
            if i < n:  # the spares reuse the last pick's values
                value = self.acquisition_value(front, optimistic, rng)
            w = self.weights[(start + i) % len(self.weights)]
            # dist is 0 at every pick so far: weighted_merit_select never picks those again
            got = cand.weighted_merit_select(FC, value, dist, [w], 1)
            if not got:
                break
            j = got[0]
            picks.append(j)
            front = np.vstack([front, mu[j]])
            dist = np.minimum(dist, np.linalg.norm(FC - FC[j], axis=1))
        return picks

    def acquisition_value(self, front: np.ndarray, V: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Lower is better, ``m``: minus the hypervolume improvement (as a length, its k-th
        root) or, for candidates adding nothing, their epsilon distance to the front; or a
        random Chebyshev scalarisation."""
        k = V.shape[1]
        if self.acquisition == "chebyshev":
            ideal = np.minimum(V.min(axis=0), front.min(axis=0) if len(front) else 0.0)
            return hv.chebyshev(V - ideal, hv.simplex_weights(k, rng))
        ref = np.full(k, REF_NORMALISED)
        gain = hv.hypervolume_improvement(front, V, ref)
        return np.where(gain > 0, -gain ** (1.0 / k), hv.additive_epsilon(front, np.minimum(V, ref)))
