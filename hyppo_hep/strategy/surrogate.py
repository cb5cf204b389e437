"""Surrogate strategies: RBF (``rbf``, the default) and GP (``gp``) over both moments.

Each proposal:

1. Initial design: a Latin hypercube of ``initial`` sets (default d+1, as HEBO starts: the
   smoothing RBF with a linear tail can be fitted from d+1 sets, and every set beyond them
   is better spent where the model points; 2(d+1) left a 10-D search nearly all random at
   25 sets), handed out first.
2. Surrogates of the sets' mean score and, when ``k_std`` > 0, of their trial std, fitted
   on every finished set (failed sets count as the worst observed set, so the search
   keeps away from where trainings break); above ``max_fit_points`` finished sets (RBF,
   default 1000) on the best half of that many and the sets nearest the search's centre,
   so that a proposal at 10,000 sets costs a fraction of a second (``fit_subset``). The trial spread is information: the mean's
   surrogate gets each set's std^2/n as its noise (an ensemble for the RBF, per-point
   noise for the GP).
3. Candidates: DYCORS perturbations of the best sets (a shrinking subset of coordinates,
   an adaptive radius, optionally stretched per coordinate by a local GP's length scales
   as TuRBO shapes its trust region) plus uniform ones, snapped to the lattice, none
   already taken. "Best" is the noise-aware estimate of hyppo_hep.recommend: with noisy
   means the centre must come from a posterior, not the raw best (TuRBO's authors make the
   same point about their noise-free release). The RBF smooths noisy means by the
   cross-validated multiple of std^2/n on its diagonal (``smooth: auto``).
4. Selection: the weighted merit of the predicted objective (mean + k_std * predicted std)
   and the distance to every evaluated and pending set, with weights cycling from
   exploration to exploitation; for the GP also expected improvement or a lower
   confidence bound, pending sets conditioned on as 'kriging believers'. A batch of n
   proposals is spread out: each pick counts as pending for the next.

All state that matters (the radius, the weight cycle, the perturbation probability) is
recomputed from the history at each proposal, so a resumed search, whose new strategy
object sees the replayed history, proposes as the original one would have.
"""

from __future__ import annotations

import numpy as np

from hyppo_hep.design import latin_hypercube, random_design
from hyppo_hep.errors import ConfigError
from hyppo_hep.history import stats_arrays
from hyppo_hep.space import CategoricalParam
from hyppo_hep.strategy import candidates as cand
from hyppo_hep.strategy.base import new_points

DEFAULT_WEIGHTS = (0.3, 0.5, 0.8, 0.95)
# design_extension draws at least this many uniform points per point it must return
DESIGN_POOL_PER_POINT = 4


def _one_blas_thread():
    """BLAS on one thread while proposing: the matrices are small enough that threads cost
    more than they give, and the cores belong to the trainings running beside us."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1)


def _pooled_single(mean, std, n):
    """A one-trial set has no std of its own (0): it takes the median of the measured sets'
    (adaptive repeats with min 1), or its noise std^2/n would be 0 and the fit interpolate it."""
    single, measured = n == 1, n > 1
    if single.any() and measured.any():
        std = np.where(single, np.median(std[measured]), std)
    return mean, std, n


def propose_frame(strategy, history, n: int, rng: np.random.Generator, fit) -> list[dict]:
    """The proposal both surrogate strategies make (this module's and the multi-objective
    one): the initial design's points first, then ``fit(k, out)`` for ``k`` model-based points
    once enough sets have finished (``out``: those chosen so far), then, while the model cannot
    be fitted yet (design sets still running or failed), more space-filling design points
    (:func:`design_extension`), or random points where the model ran out of candidates. ``strategy`` has ``space``, ``initial`` and ``_design`` (None until drawn)."""
    space = strategy.space
    out: list[dict] = []
    n_design = max(0, min(n, strategy.initial - len(history)))
    if n_design:
        if strategy._design is None:  # drawn only when needed: rng use is a function of the history
            strategy._design = latin_hypercube(space, strategy.initial, rng)
        out += new_points(space, strategy._design, history, n_design)
    n_fit = len(history.done) + len(history.failed)
    can_fit = len(history.done) >= 2 and n_fit >= min(space.dim + 2, strategy.initial)
    if len(out) < n and can_fit:
        out += fit(n - len(out), out)
    if len(out) < n:
        chosen = {space.key(p) for p in out}
        if can_fit:  # the model ran out of candidates: the lattice is nearly full
            U = random_design(space, n - len(out), rng, exclude=history.keys(space) | chosen)
        else:
            U = design_extension(space, history, n - len(out), rng, out)
        out += new_points(space, U, history, n - len(out), also_taken=chosen)
    return out


def design_extension(space, history, n: int, rng: np.random.Generator, chosen: list[dict]) -> np.ndarray:
    """``n`` more design points (``n x dim``) while the design's sets are still running (or
    failed) and the model cannot be fitted yet: of many uniform lattice points, greedily the
    farthest from every set proposed so far (``chosen``: this proposal's), so the design
    goes on filling the space. Not a plain uniform draw: the search's per-set generator is
    the one random search gets for the same set, and a surrogate search would then hand out
    random search's very sets (with 2 workers and 2 trials per set, its 5th set was random
    search's 5th)."""
    taken = [r.params for r in history.sets.values()] + list(chosen)
    exclude = history.keys(space) | {space.key(p) for p in chosen}
    # a pool of several per point asked: with a fixed pool, a first ask for 1600 groups got
    # ~300 sets and the other groups idled until the first trials came back (8000 workers)
    U = random_design(space, max(200, 50 * space.dim, DESIGN_POOL_PER_POINT * n), rng, exclude=exclude)
    if len(U) == 0 or not taken:
        return U[:n]
    dist = cand.min_distance(U, space.encode_many(taken))
    return U[cand.weighted_merit_select(U, np.zeros(len(U)), dist, (0.0,), n)]


class SurrogateStrategy:
    """Shared orchestration; subclasses build the surrogate and may add acquisitions."""

    acquisitions: tuple[str, ...] = ("merit",)

    def __init__(self, space, budget: int, initial: int | None = None, k_std: float = 0.0,
                 n_candidates: int | None = None, weights=None, uniform_fraction: float = 0.0,
                 acquisition: str = "merit", centers: int = 1, cap: bool = True, center: str = "estimate",
                 trust_region: str = "round", warp: str = "none"):
        d = space.dim
        self.space, self.budget = space, int(budget)
        if initial is None:
            initial = d + 1
        if isinstance(initial, bool) or not isinstance(initial, int) or initial < 1:
            raise ConfigError("strategy.initial", f"must be an integer >= 1, got {initial!r}")
        self.initial = min(initial, self.budget)
        if isinstance(k_std, bool) or not isinstance(k_std, (int, float)) or k_std < 0:
            raise ConfigError("strategy.k_std", f"must be a number >= 0, got {k_std!r}")
        self.k_std = float(k_std)
        if n_candidates is None:
            n_candidates = int(min(max(100 * d, 500), 2000))
        if isinstance(n_candidates, bool) or not isinstance(n_candidates, int) or n_candidates < 10:
            raise ConfigError("strategy.n_candidates", f"must be an integer >= 10, got {n_candidates!r}")
        self.n_candidates = n_candidates
        weights = DEFAULT_WEIGHTS if weights is None else weights
        if (not isinstance(weights, (list, tuple)) or not weights
                or not all(isinstance(w, (int, float)) and 0 <= w <= 1 for w in weights)):
            raise ConfigError("strategy.weights", f"must be a list of numbers in [0, 1], got {weights!r}")
        self.weights = tuple(float(w) for w in weights)
        if not isinstance(uniform_fraction, (int, float)) or not 0 <= uniform_fraction <= 1:
            raise ConfigError("strategy.uniform_fraction", f"must be in [0, 1], got {uniform_fraction!r}")
        self.uniform_fraction = float(uniform_fraction)
        if acquisition not in self.acquisitions:
            raise ConfigError("strategy.acquisition",
                              f"({acquisition!r}) is not one of {', '.join(self.acquisitions)} for this strategy")
        self.acquisition = acquisition
        if isinstance(centers, bool) or not isinstance(centers, int) or centers < 1:
            raise ConfigError("strategy.centers", f"must be an integer >= 1, got {centers!r}")
        if not isinstance(cap, bool) and cap not in ("soft", "auto"):
            raise ConfigError("strategy.cap", f"must be true, false, soft or auto, got {cap!r}")
        self._cap_mode: bool | str = True  # what cap: auto chose at the last fit
        self.centers, self.cap = centers, cap
        if center not in ("estimate", "mean"):
            raise ConfigError("strategy.center", f"({center!r}) is not one of estimate, mean")
        self.center = center
        if trust_region not in ("round", "ard"):
            raise ConfigError("strategy.trust_region", f"({trust_region!r}) is not one of round, ard")
        self.trust_region = trust_region
        if warp not in ("none", "auto"):
            raise ConfigError("strategy.warp", f"({warp!r}) is not one of none, auto")
        self.warp, self._warps = warp, {}
        # the feature column of each ordered coordinate (categoricals take several columns)
        cols, j = [], 0
        for p, lev in zip(space.free, space.n_levels()):
            if not isinstance(p, CategoricalParam) and lev >= 3:
                cols.append(j)
            j += p.n_levels if isinstance(p, CategoricalParam) and p.n_levels > 1 else 1
        self._ordered_columns = cols
        self.levels = space.n_levels()
        # log lattices are unevenly spaced in the cube: candidates treat them as continuous
        # and space.snap puts them on their lattice afterwards
        self.levels[[bool(getattr(p, "log", False)) and hasattr(p, "lower") for p in space.free]] = np.inf
        self.categorical = np.array([isinstance(p, CategoricalParam) for p in space.free], dtype=bool)
        self._design: np.ndarray | None = None
        self._stats_memo = None
        self.fit_cap: int | None = None  # most sets a fit uses (fit_subset); the RBF sets it

    def features(self, X: np.ndarray) -> np.ndarray:
        """Surrogate features of unit-cube points ``X`` (``n x dim``): the space's features
        with the learned input warps (``warp: auto``) applied."""
        from hyppo_hep.strategy.warping import apply_warps

        return apply_warps(self.space.features(X), self._warps)

    def learn_warps(self, history, max_points: int = 100) -> dict:
        """Input warps per ordered coordinate (strategy/warping.py), chosen by the LOO error
        of the smoothing RBF over the better half of the ``max_points`` best sets."""
        from hyppo_hep.strategy.warping import choose_warps

        done = history.done
        mean, std, n_ok = self.stats(done)
        if len(done) < self.space.dim + 4:
            return {}
        capped = self.capped(mean)
        top = np.argsort(mean, kind="stable")[:max_points]
        y = capped[top]
        F = self.space.features(self.space.encode_many([done[i].params for i in top]))
        scale = float(np.var(capped)) or 1.0
        noise = 1e-8 + getattr(self, "_gamma", 0.0) * std[top] ** 2 / n_ok[top] / scale
        return choose_warps(F, y, noise, self._ordered_columns, y <= np.median(y))

    def capped(self, y: np.ndarray, mode: bool | str | None = None) -> np.ndarray:
        """The objective values the surrogate is fitted to. ``cap: true`` (median capping,
        as pySOT offers): values above the median are set to it, so that a few very bad
        sets do not flatten the surrogate where the good ones are. ``cap: soft``: values
        above the median are compressed logarithmically instead (in units of the good
        half's spread), so the bad half still tells the model which way is downhill, which
        a flat cap hides in high dimensions where few sets are near the best. ``cap: auto``:
        the one of the three chosen by cross-validation at each fit (``_cap_mode``)."""
        y = np.asarray(y, dtype=float)
        mode = (self._cap_mode if self.cap == "auto" else self.cap) if mode is None else mode
        if not mode or len(y) <= 2:
            return y
        med = np.median(y)
        if mode is True:
            return np.minimum(y, med)
        scale = med - np.min(y)
        if scale <= 0:
            return np.minimum(y, med)
        return np.where(y > med, med + scale * np.log1p(np.maximum(y - med, 0.0) / scale), y)

    def stats(self, done) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``stats_arrays(done)`` for the finished sets, computed once per proposal: the fit, the
        smoothing and the incumbents all need it, and at a thousand sets each pass costs
        tens of milliseconds."""
        if self._stats_memo is None:  # outside a proposal: nothing to share
            return _pooled_single(*stats_arrays(done))
        # which records: their trials cannot change within a proposal (the memo ends with it),
        # and ids are a C-speed key (set ids and trial counts cost 2-3 ms at 10,000 sets)
        key = tuple(map(id, done))
        if self._stats_memo.get("key") != key:
            self._stats_memo.update(key=key, stats=_pooled_single(*stats_arrays(done)))
        return self._stats_memo["stats"]

    # --- to be provided by subclasses ---------------------------------------------------------
    def make_surrogate(self):
        raise NotImplementedError

    # --- data ---------------------------------------------------------------------------------
    def training_data(self, history, with_std: bool):
        """Surrogate training data from the finished sets: features ``n x p``, targets
        ``n x k`` (mean, and std when ``with_std``) and their noise variances ``n x k``.
        Failed sets enter as the worst finished set, with no noise."""
        space = self.space
        done = history.done
        failed = history.failed
        mean, std, n_ok = self.stats(done)
        var_mean = std**2 / n_ok
        # the sample std of n normal trials has variance about std^2 / (2 (n - 1))
        var_std = np.where(n_ok > 1, std**2 / (2 * np.maximum(n_ok - 1, 1)), 0.0)
        if failed and len(done):
            mean = np.concatenate([mean, np.full(len(failed), mean.max())])
            std = np.concatenate([std, np.full(len(failed), std.max())])
            var_mean = np.concatenate([var_mean, np.zeros(len(failed))])
            var_std = np.concatenate([var_std, np.zeros(len(failed))])
            recs = done + failed
        else:
            recs = done
        X = history.X_of(space, recs)  # kept by the history: encoding 10,000 sets per proposal was slow
        Y = np.stack([mean, std], axis=1) if with_std else mean[:, None]
        V = np.stack([var_mean, var_std], axis=1) if with_std else var_mean[:, None]
        return self.features(X), X, Y, V

    def fit(self, history, with_std: bool | None = None):
        """The fitted surrogate of the finished sets (outputs: mean[, std])."""
        with_std = self.k_std > 0 if with_std is None else with_std
        if self.warp == "auto":
            self._warps = self.learn_warps(history)
        F, _, Y, V = self.training_data(history, with_std)
        if self.cap and len(Y) > 2:
            Y = Y.copy()
            Y[:, 0] = self.capped(Y[:, 0])
        keep = self.fit_subset(history, F, Y[:, 0])
        if keep is not None:
            F, Y, V = F[keep], Y[keep], V[keep]
        return self.make_surrogate().fit(F, Y, V)

    def fit_subset(self, history, F: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """Rows (of the ``n`` training sets, features ``F``, objective ``y``) a capped fit
        uses, or None for all of them (``fit_cap`` unset or not exceeded).

        A dense fit costs n^3: at 10,000 sets it would take seconds per proposal. The
        candidates lie around the centres (the best sets by the noise-aware estimate), so
        what the model must get right is the landscape there: the half of the cap with the
        best values (where the search may go next) and the other half nearest to the
        centres (the local shape the candidates are ranked by). Below the cap every set
        is used, so searches of up to ``fit_cap`` sets are unchanged."""
        cap = self.fit_cap
        if cap is None or len(y) <= cap:
            return None
        best = np.argsort(y, kind="stable")[:cap // 2]
        done = history.done
        centres = np.argsort(self.incumbent_values(done), kind="stable")[:self.centers]
        C = self.features(self.space.encode_many([done[i].params for i in centres]))
        dist = cand.min_distance(F, C)
        dist[best] = np.inf
        near = np.argsort(dist, kind="stable")[:cap - len(best)]
        return np.sort(np.concatenate([best, near]))

    def predict(self, history, sets: list[dict]) -> dict[str, np.ndarray]:
        """What the surrogates expect of ``sets`` (params dicts) given the finished sets:
        ``mean`` (predicted mean score), ``mean_std`` (its uncertainty) and ``spread``
        (predicted trial-to-trial std), each of length ``len(sets)``."""
        model = self.fit(history, with_std=True)
        mu, sd = model.predict(self.features(self.space.encode_many(sets)))
        return {"mean": mu[:, 0], "mean_std": sd[:, 0], "spread": np.maximum(mu[:, 1], 0.0)}

    def objective_prediction(self, model, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predicted objective (mean + k * predicted std) and its uncertainty at features ``F``."""
        mu, sd = model.predict(F)
        if mu.shape[1] == 1:
            return mu[:, 0], sd[:, 0]
        return mu[:, 0] + self.k_std * np.maximum(mu[:, 1], 0.0), np.hypot(sd[:, 0], self.k_std * sd[:, 1])

    # --- proposal -----------------------------------------------------------------------------
    def propose(self, history, n: int, rng: np.random.Generator) -> list[dict]:
        def fit(k: int, out: list[dict]) -> list[dict]:
            self._stats_memo = {}
            try:
                with _one_blas_thread():
                    return self._propose_adaptive(history, k, rng, out)
            finally:
                self._stats_memo = None  # the trials of these sets may change before the next call

        return propose_frame(self, history, n, rng, fit)

    def search_state(self, history) -> tuple[float, float, int]:
        """(radius, perturbation probability, number of adaptive proposals so far), all
        recomputed from the history: the radius from the objective values of the finished
        sets in completion order (failed sets count as the worst)."""
        done, failed = history.done, history.failed
        mean, std, _ = self.stats(done)  # shared with the fit within a proposal
        values = mean + self.k_std * std
        values = np.concatenate([values, np.full(len(failed), values.max() if len(done) else 0.0)])
        when = [(r.finished if r.finished is not None else np.inf, r.set_id) for r in done + failed]
        order = sorted(range(len(when)), key=when.__getitem__)
        radius = cand.radius_schedule(values[order], self.initial, self.space.dim)
        n_adaptive = max(0, len(history) - self.initial)
        prob = cand.perturb_probability(self.space.dim, n_adaptive, max(self.budget - self.initial, 1))
        return radius, prob, n_adaptive

    def candidates(self, history, rng: np.random.Generator, also_taken: list[dict]) -> np.ndarray:
        """Candidate lattice points (``m x dim``), none evaluated, failed, pending or chosen."""
        radius, prob, _ = self.search_state(history)
        done = history.done
        best = np.lexsort((np.array([r.set_id for r in done]), self.incumbent_values(done)))[:self.centers]
        centers = self.space.encode_many([done[i].params for i in best])
        n_uniform = int(round(self.uniform_fraction * self.n_candidates))
        n_pert = self.n_candidates - n_uniform
        # two thirds around the incumbent, the rest around the runners-up
        counts = [n_pert] if len(centers) == 1 else [n_pert * 2 // 3] + [
            (n_pert - n_pert * 2 // 3) // (len(centers) - 1)] * (len(centers) - 1)
        if self.trust_region == "ard" and len(done) >= self.space.dim + 2:
            radius = radius * self.ard_weights(done)
        parts = [cand.dycors_candidates(c, k, radius, prob, self.levels, self.categorical, rng)
                 for c, k in zip(centers, counts)]
        parts.append(cand.uniform_candidates(n_uniform, self.levels, rng))
        taken = history.keys(self.space) | {self.space.key(p) for p in also_taken}
        return cand.unique_new(self.space.snap(np.vstack(parts)), taken)

    def ard_weights(self, done, max_points: int = 64) -> np.ndarray:
        """Trust-region weights per coordinate (``dim``, geometric mean 1; candidates.ard_weights)
        from a GP fitted on the ``max_points`` best finished sets: a local model, as TuRBO
        fits where its trust region is, so the shape follows the landscape near the best.
        Categorical coordinates keep weight 1 (they jump between choices anyway)."""
        mean, std, n_ok = self.stats(done)
        top = np.argsort(mean, kind="stable")[:max_points]
        X = self.space.encode_many([done[i].params for i in top])
        w = cand.ard_weights(X, mean[top], std[top] ** 2 / n_ok[top])
        return np.where(self.categorical, 1.0, w)

    def incumbent_values(self, done) -> np.ndarray:
        """What the candidates' centres are chosen by, one value per finished set: the
        noise-aware estimate of mean + k std (``center: estimate``, hyppo_hep.recommend:
        a lucky set of scattered trials does not pull the search to itself) or the raw
        mean + k std (``center: mean``), ``len(done)``."""
        if self.center == "estimate":
            from hyppo_hep.recommend import estimate_values

            memo = self._stats_memo if self._stats_memo is not None else {}
            key = tuple(map(id, done))  # as in stats(): a memo of one proposal
            if memo.get("incumbent_key") != key:  # the candidates and a capped fit both need them
                mean, std, n_ok = self.stats(done)
                est, _, spread = estimate_values(done, mean, std, n_ok, self.k_std, self.space)
                memo.update(incumbent_key=key, incumbent=est + self.k_std * spread)  # = Estimate.value
            return memo["incumbent"]
        mean, std, _ = self.stats(done)
        return mean + self.k_std * std

    def _propose_adaptive(self, history, n: int, rng: np.random.Generator, chosen: list[dict]) -> list[dict]:
        space = self.space
        C = self.candidates(history, rng, chosen)
        if len(C) == 0:
            return []
        model = self.fit(history)  # first: it learns the input warps the features use
        FC = self.features(C)
        X_known = np.vstack([history.X_all(space), space.encode_many(chosen)])
        idx = self.select(model, FC, self.features(X_known), history, n)
        return new_points(space, C[idx], history, n, also_taken={space.key(p) for p in chosen})

    def select(self, model, FC: np.ndarray, F_known: np.ndarray, history, n: int) -> list[int]:
        """Indices of the candidates to propose (merit selection, weights cycling with the
        number of adaptive proposals made so far)."""
        value, _ = self.objective_prediction(model, FC)
        dist = cand.min_distance(FC, F_known)
        start = max(0, len(history) - self.initial)
        weights = [self.weights[(start + i) % len(self.weights)] for i in range(len(self.weights))]
        # one or two spares in case a pick decodes onto a taken set (float round trips)
        return cand.weighted_merit_select(FC, value, dist, weights, n + 2)


class RBFStrategy(SurrogateStrategy):
    """``{name: rbf, initial: 14, kernel: cubic, k_std: 0.0, n_candidates: 600,
    weights: [0.3, 0.5, 0.8, 0.95], uniform_fraction: 0.1, ensemble: 32, smooth: auto,
    center: estimate, trust_region: round, max_fit_points: 1000, cap: false}``

    No median capping by default (``cap: false``, as pySOT's DYCORS): on the optimizer
    benchmark (benchmarks/RESULTS_optimizers.md, 12 problems, 10 seeds) the uncapped fit
    was better at 50 and 100 sets on 9 and 8 of the 9 problems the strategy is tuned on;
    the flat cap hid which way is downhill in 10-20 dimensions (levy20, gan20) and early
    on hartmann6 and branin2. ``cap: true``, ``soft`` and ``auto`` remain options."""

    def __init__(self, space, budget: int, initial: int | None = None, kernel: str = "cubic", k_std: float = 0.0,
                 n_candidates: int | None = None, weights=None, uniform_fraction: float = 0.0, centers: int = 1,
                 cap: bool | str = False, ensemble: int = 32, eta: float = 1e-6, smooth: float | str = "auto",
                 center: str = "estimate", trust_region: str = "round", warp: str = "none",
                 max_fit_points: int = 1000):
        from hyppo_hep.surrogate.rbf import KERNELS

        super().__init__(space, budget, initial, k_std, n_candidates, weights, uniform_fraction, "merit", centers, cap,
                         center, trust_region, warp)
        if smooth != "auto" and (isinstance(smooth, bool) or not isinstance(smooth, (int, float)) or smooth < 0):
            raise ConfigError("strategy.smooth", f"must be 'auto' or a number >= 0, got {smooth!r}")
        self.smooth = smooth if smooth == "auto" else float(smooth)
        self._gamma = 0.0
        if kernel not in KERNELS:
            raise ConfigError("strategy.kernel", f"({kernel!r}) is not one of {', '.join(KERNELS)}")
        if isinstance(ensemble, bool) or not isinstance(ensemble, int) or ensemble < 0:
            raise ConfigError("strategy.ensemble", f"must be an integer >= 0, got {ensemble!r}")
        if not isinstance(eta, (int, float)) or eta < 0:
            raise ConfigError("strategy.eta", f"must be a number >= 0, got {eta!r}")
        self.kernel, self.ensemble, self.eta = kernel, ensemble, float(eta)
        if isinstance(max_fit_points, bool) or not isinstance(max_fit_points, int) or max_fit_points < 10:
            raise ConfigError("strategy.max_fit_points", f"must be an integer >= 10, got {max_fit_points!r}")
        # 1000: a dense fit of 1000 sets takes some 30 ms, and no benchmark budget reaches it
        self.fit_cap = max_fit_points

    def make_surrogate(self):
        from hyppo_hep.surrogate.rbf import RBFSurrogate

        return RBFSurrogate(self.kernel, self.eta, self.ensemble,
                            smooth=self._gamma if self.smooth == "auto" else self.smooth)

    def fit(self, history, with_std: bool | None = None):
        if self.smooth == "auto" or self.cap == "auto":
            gamma, self._cap_mode = self.cross_validate(history)
            if self.smooth == "auto":
                self._gamma = gamma
        return super().fit(history, with_std)

    def cross_validated_smoothing(self, history) -> float:
        """The smoothing ``cross_validate`` chooses."""
        return self.cross_validate(history)[0]

    def cross_validate(self, history, max_points: int = 100) -> tuple[float, bool | str]:
        """(smoothing, capping) whose leave-one-out error over the better half of the
        ``max_points`` best sets is lowest. The smoothing (multiplier of each set's std^2/n
        on the RBF diagonal, in units of the capped means' variance): noisy means are
        smoothed as much as the data say they should be, exact ones interpolated
        (hyppo_hep.recommend.smoothed_loo). The capping, with ``cap: auto``: median capping,
        the soft cap or none, whichever predicts the good sets best (they are the same
        numbers under all three, so the errors compare): a flat cap keeps a few awful sets
        from bending the model, but hides which way is downhill where the landscape is a
        broad bowl; which matters is a property of the problem, so the data decide."""
        from hyppo_hep.recommend import smoothed_loo

        done = history.done
        mean, std, n_ok = self.stats(done)
        modes = (True, "soft", False) if self.cap == "auto" else (self.cap,)
        fixed = None if self.smooth == "auto" else (self.smooth,)
        if len(done) < self.space.dim + 4 or not np.any(std > 0):
            return 0.0, modes[0]
        top = np.argsort(mean, kind="stable")[:max_points]
        F = self.space.features(self.space.encode_many([done[i].params for i in top]))
        best = (np.inf, 0.0, modes[0])
        for mode in modes:
            capped = self.capped(mean, mode)
            y = capped[top]
            good = y <= np.median(y)
            # the full fit standardises by the variance of all capped means: choose on that scale
            loo, gamma = smoothed_loo(F, y[:, None], std[top] ** 2 / n_ok[top], good,
                                      scale=float(np.var(capped)) or None, grid=fixed)
            if loo is None:
                continue
            err = float(np.mean((y[good] - loo[good, 0]) ** 2))
            if err < best[0]:
                best = (err, gamma, mode)
        return best[1], best[2]


class GPStrategy(SurrogateStrategy):
    """``{name: gp, initial: 14, k_std: 0.0, acquisition: merit|ei|lcb, beta: 2.0, nu: 2.5}``"""

    acquisitions = ("merit", "ei", "lcb")

    def __init__(self, space, budget: int, initial: int | None = None, k_std: float = 0.0,
                 acquisition: str = "merit", beta: float = 2.0, nu: float = 2.5, n_candidates: int | None = None,
                 weights=None, uniform_fraction: float = 0.0, centers: int = 1, cap: bool = True,
                 max_fit_points: int = 128, center: str = "estimate", trust_region: str = "round",
                 warp: str = "none"):
        super().__init__(space, budget, initial, k_std, n_candidates, weights, uniform_fraction, acquisition,
                         centers, cap, center, trust_region, warp)
        if not isinstance(beta, (int, float)) or beta < 0:
            raise ConfigError("strategy.beta", f"must be a number >= 0, got {beta!r}")
        if nu not in (0.5, 1.5, 2.5):
            raise ConfigError("strategy.nu", f"({nu!r}) must be 0.5, 1.5 or 2.5")
        if isinstance(max_fit_points, bool) or not isinstance(max_fit_points, int) or max_fit_points < 10:
            raise ConfigError("strategy.max_fit_points", f"must be an integer >= 10, got {max_fit_points!r}")
        self.beta, self.nu, self.max_fit_points = float(beta), nu, max_fit_points

    def make_surrogate(self):
        from hyppo_hep.surrogate.gp import GPSurrogate

        return GPSurrogate(nu=self.nu, max_fit_points=self.max_fit_points)

    def select(self, model, FC, F_known, history, n):
        if self.acquisition == "merit":
            return super().select(model, FC, F_known, history, n)
        # Pending sets (and each pick of this batch) are conditioned on at their predicted
        # value: the posterior std collapses there, so the next pick looks elsewhere.
        F_pending = self.features(history.X_pending(self.space))
        if len(F_pending):
            model = model.condition(F_pending, model.predict(F_pending)[0])
        incumbent = float(np.min(self.objective_prediction(model, self.features(
            self.space.encode_many([r.params for r in history.done])))[0]))
        chosen: list[int] = []
        for _ in range(min(n + 2, len(FC))):
            mu, sd = self.objective_prediction(model, FC)
            if self.acquisition == "ei":
                score = -cand.expected_improvement(mu, sd, incumbent)
            else:
                score = cand.lower_confidence_bound(mu, sd, self.beta)
            score[chosen] = np.inf
            j = int(np.argmin(score))
            chosen.append(j)
            if len(chosen) < n:
                model = model.condition(FC[j:j + 1], model.predict(FC[j:j + 1])[0])
        return chosen
