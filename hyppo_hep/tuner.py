"""Define-by-run search spaces for your own models (the Keras Tuner / Optuna way of writing).

You write ``build(hp)``, which asks for its hyperparameters while it builds the model, and
``train(hp, model, trial, seed, device)``, which trains it and returns the validation score
(lower is better; a float or a dict with ``"score"``)::

    def build(hp):
        layers = []
        width_in = 16
        for i in range(hp.Int("n_layers", 1, 5)):              # decides how many widths exist
            width = hp.Int(f"units_{i}", 32, 512, step=32)
            layers += [nn.Linear(width_in, width), nn.ReLU()]
            width_in = width
        hp.Float("lr", 1e-5, 1e-2, log=True)
        hp.Choice("activation", ["relu", "tanh", "gelu"])
        hp.Float("dropout", 0.1, 0.5, step=0.1)
        hp.Fixed("epochs", 30)
        return nn.Sequential(*layers, nn.Linear(width_in, 1))

    def train(hp, model, trial, seed, device):
        opt = torch.optim.Adam(model.parameters(), lr=hp["lr"])
        for epoch in range(fidelity.epochs(hp["epochs"])):
            ...
            if fidelity.report(epoch, val_loss):
                break
        return val_loss

    result = hyppo_hep.minimize(DefineByRun(build, train), budget=50, trials=3, strategy="asha")

or from YAML: ``objective: {name: define_by_run, build: mypkg.model:build, train: mypkg.model:train}``
with ``space: define-by-run`` (or no ``space`` at all).

How the space is known. Before a search, ``build`` is run (without training) in a
recording mode, many times, with minimal, maximal, per-choice and random answers; every
parameter ever asked joins the space, and a parameter not asked in every run is
*conditional*. Decoding a point of the unit cube re-runs ``build`` with that point's values
and keeps only the parameters it asked, so a set never carries ``units_3`` when
``n_layers`` is 2. All hyperparameters must therefore be asked in ``build`` (``train`` reads
them with ``hp[name]``), ranges must not depend on other values, and ``build`` should stay
cheap on the CPU (create the model there; ``train`` moves it to ``device``).

How surrogates see an absent parameter: NOT as a value. Each conditional free parameter has
two coordinates: its value (0.5, the middle of its range, when absent) and an "active"
indicator (1 present, 0 absent). Two sets that differ only in whether ``units_3`` exists
are thus apart by the indicator, and sets where it is absent all agree on its value
coordinate, so no fake width is ever learnt from. ``Space.key`` follows the same encoding,
so sets that decode alike are the same set.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from hyppo_hep.errors import UserError
from hyppo_hep.space import CategoricalParam, FixedParam, FloatParam, IntParam, Space


def _isint(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def make_param(kind: str, name: str, *args, **kw):
    """The space parameter of one ``hp.<kind>(name, ...)`` call (raises UserError)."""
    where = f"hp.{kind}('{name}')"
    if kind == "Fixed":
        return FixedParam(name, args[0])
    if kind == "Choice":
        values = tuple(args[0])
        if not values:
            raise UserError(f"{where}: no values")
        if len(set(map(repr, values))) != len(values):
            raise UserError(f"{where}: duplicate values")
        return CategoricalParam(name, values)
    lo, hi = args
    step, log = kw.get("step"), bool(kw.get("log", False))
    if hi < lo:
        raise UserError(f"{where}: max_value {hi} is below min_value {lo}")
    if kind == "Int":
        if not (_isint(lo) and _isint(hi)):
            raise UserError(f"{where}: min_value and max_value must be integers")
        step = 1 if step is None else step
        if not _isint(step) or step < 1:
            raise UserError(f"{where}: step must be an integer >= 1")
        if log:
            raise UserError(f"{where}: log=True is not supported for integers; use hp.Choice of the values")
        if lo % step == 0:  # the Table-1 lattice form: index x scaling
            return IntParam(name, int(lo) // step, int(hi) // step, int(step))
        return CategoricalParam(name, tuple(range(int(lo), int(hi) + 1, int(step))))
    lo, hi = float(lo), float(hi)
    if log and lo <= 0:
        raise UserError(f"{where}: min_value must be > 0 with log=True")
    if step is None:
        return FloatParam(name, lo, hi, log)
    if step <= 0 or (log and step <= 1):
        raise UserError(f"{where}: step must be > 0 (> 1 with log=True: a factor)")
    if log:  # multiplicative steps: lo, lo*step, lo*step^2, ... <= hi
        n = int(math.floor(math.log(hi / lo) / math.log(step) + 1e-9))
        return CategoricalParam(name, tuple(float(f"{lo * step ** k:.12g}") for k in range(n + 1)))
    n = int(math.floor((hi - lo) / step + 1e-9))
    index = lo / step
    if abs(index - round(index)) < 1e-9:  # lo on the step lattice: IntParam keeps the YAML form
        return IntParam(name, int(round(index)), int(round(index)) + n, float(step))
    return CategoricalParam(name, tuple(float(f"{lo + k * step:.12g}") for k in range(n + 1)))


class HP:
    """What ``build(hp)`` asks. ``hp.Int/Float/Choice/Boolean/Fixed`` return the value of
    the current set; ``hp[name]`` / ``hp.get(name)`` read an asked value; ``hp.values`` is
    the dict of everything asked so far, in order.

    Modes: ``fixed`` (a set's params: training on a worker), ``decode`` (values from a point
    of a ConditionalSpace), ``discover`` (recording: answers by a policy)."""

    def __init__(self, values: dict | None = None, *, decode=None, policy: str | None = None,
                 forced: dict | None = None, rng: np.random.Generator | None = None):
        self._given = values
        self._decode = decode  # callable(param) -> value
        self._policy, self._forced, self._rng = policy, forced or {}, rng
        self.values: dict[str, Any] = {}
        self.params: dict[str, Any] = {}  # name -> space parameter, in asking order

    # --- the asking API (Keras Tuner names; Optuna users: Int ~ suggest_int, ...) ----------
    def Int(self, name: str, min_value: int, max_value: int, step: int | None = None, log: bool = False,
            default: int | None = None) -> int:
        return self._ask(make_param("Int", name, min_value, max_value, step=step, log=log), default)

    def Float(self, name: str, min_value: float, max_value: float, step: float | None = None, log: bool = False,
              default: float | None = None) -> float:
        return self._ask(make_param("Float", name, min_value, max_value, step=step, log=log), default)

    def Choice(self, name: str, values, default=None):
        return self._ask(make_param("Choice", name, values), default)

    def Boolean(self, name: str, default: bool = False) -> bool:
        return self._ask(make_param("Choice", name, (False, True)), default)

    def Fixed(self, name: str, value):
        return self._ask(make_param("Fixed", name, value), None)

    def get(self, name: str):
        if name not in self.values:
            raise UserError(f"hyperparameter '{name}' was not asked (asked: {', '.join(self.values) or 'none'})")
        return self.values[name]

    __getitem__ = get

    def __contains__(self, name: str) -> bool:
        return name in self.values

    # --- internals ---------------------------------------------------------------------------
    def _ask(self, param, default):
        name = param.name
        if name in self.params:
            if self.params[name] != param:
                raise UserError(f"hyperparameter '{name}' asked twice with different definitions")
            return self.values[name]
        if self._given is not None:
            if name not in self._given:
                raise UserError(f"build asked '{name}', which this set does not have: is build(hp) deterministic "
                                f"(the same values must ask the same parameters)?")
            value = self._given[name]
        elif self._decode is not None:
            value = self._decode(param)
        else:
            value = self._discover_value(param, default)
        self.params[name] = param
        self.values[name] = value
        return value

    def _discover_value(self, param, default):
        if isinstance(param, FixedParam):
            return param.value
        if param.name in self._forced:
            return Space([param]).decode(np.array([self._forced[param.name]]))[param.name]
        if self._policy == "default" and default is not None:
            return default
        x = {"min": 0.0, "max": 1.0}.get(self._policy)
        if x is None:
            x = float(self._rng.random())
        return Space([param]).decode(np.array([x]))[param.name]


def _levels(param) -> list[float]:
    """Unit-cube positions of every level of a discrete parameter (for forced discovery)."""
    n = getattr(param, "n_levels", 0)
    return [0.5] if n == 1 else [k / (n - 1) for k in range(n)]


def discover(build: Callable, n_random: int = 32, seed: int = 0, max_forced_levels: int = 16) -> "ConditionalSpace":
    """Run ``build(hp)`` in recording mode and return the space it asks (see module doc).

    Runs: all-minimum, all-maximum, defaults, then, for every discrete parameter with at
    most ``max_forced_levels`` levels, one run per level (others random), repeated while new
    parameters appear, then ``n_random`` random runs. Deterministic for a ``seed``."""
    rng = np.random.default_rng(seed)
    order: dict[str, Any] = {}
    runs: list[set] = []

    def run(policy: str, forced: dict | None = None) -> None:
        hp = HP(policy=policy, forced=forced, rng=rng)
        try:
            build(hp)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001 — the user's build failing is the user's to fix
            raise UserError(f"build(hp) failed while discovering the space ({type(exc).__name__}: {exc})") from None
        for name, p in hp.params.items():
            if name in order and order[name] != p:
                raise UserError(f"hyperparameter '{name}' is asked with different definitions in different runs "
                                f"({order[name]} vs {p}); ranges must not depend on other values")
            order.setdefault(name, p)
        runs.append(set(hp.params))

    for policy in ("max", "min", "default"):
        run(policy)
    forced_done: set = set()
    for _ in range(5):
        todo = [p for p in order.values() if p.name not in forced_done and not isinstance(p, (FixedParam, FloatParam))
                and p.n_levels <= max_forced_levels]
        if not todo:
            break
        for p in todo:
            forced_done.add(p.name)
            for x in _levels(p):
                run("random", {p.name: x})
    for _ in range(n_random):
        run("random")
    if not order:
        raise UserError("build(hp) asked no hyperparameters")
    conditional = [n for n in order if not all(n in r for r in runs)]
    return ConditionalSpace(list(order.values()), conditional, build)


class ConditionalSpace(Space):
    """A Space whose parameters exist only when ``build`` asks them.

    ``free`` = the free parameters followed by one "active" indicator per conditional free
    parameter (a two-level categorical named ``<name>?``), so ``dim``, ``n_levels``, designs
    and surrogates work unchanged. ``decode`` runs ``build``; ``encode`` puts 0.5 and
    indicator 0 for an absent parameter; ``snap`` canonicalises points (inactive coordinates
    to 0.5, indicators to what the values imply), so a snapped point is an encoded set."""

    def __init__(self, params, conditional, build: Callable):
        super().__init__(params)
        self.build = build
        self.conditional = tuple(n for n in conditional if n in {p.name for p in self.free})
        self.conditional_fixed = tuple(n for n in conditional if n in self.fixed)
        self.fixed = {k: v for k, v in self.fixed.items() if k not in conditional}  # always-present only
        self.real_free = self.free
        self.free = self.real_free + tuple(CategoricalParam(f"{n}?", (False, True)) for n in self.conditional)
        self._flat = Space(list(self.real_free)) if self.real_free else None
        self._one = {p.name: Space([p]) for p in self.real_free}
        self._index = {p.name: i for i, p in enumerate(self.real_free)}
        self._cache: dict[tuple, np.ndarray] = {}

    def to_dict(self) -> dict:
        out = {}
        for p in self.params:
            d = Space([p]).to_dict()[p.name]
            if p.name in self.conditional or p.name in self.conditional_fixed:
                d = {**d, "conditional": True}
            out[p.name] = d
        return {"define-by-run": out}

    def decode(self, u: np.ndarray) -> dict:
        u = Space.snap(self, np.asarray(u, dtype=float).reshape(self.dim))

        def value(param):
            if isinstance(param, FixedParam):
                return param.value
            if param.name not in self._index:
                raise UserError(f"build asked '{param.name}', which the space discovery never saw: raise "
                                f"discovery runs or make the parameter reachable from min/max/choices")
            if param != self.real_free[self._index[param.name]]:
                raise UserError(f"hyperparameter '{param.name}' is asked with a range that differs from the "
                                f"discovered one; ranges must not depend on other values")
            return self._one[param.name].decode(u[self._index[param.name]:self._index[param.name] + 1])[param.name]

        hp = HP(decode=value)
        try:
            self.build(hp)
        except UserError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise UserError(f"build(hp) failed while decoding a set ({type(exc).__name__}: {exc})") from None
        return dict(hp.values)

    def encode(self, params: dict) -> np.ndarray:
        n_real = len(self.real_free)
        u = np.full(self.dim, 0.5)
        if n_real:
            present = {p.name: params[p.name] for p in self.real_free if p.name in params}
            missing = [p.name for p in self.real_free if p.name not in params and p.name not in self.conditional]
            if missing:
                raise ValueError(f"parameter '{missing[0]}' is missing")
            for name, v in present.items():
                u[self._index[name]] = self._one[name].encode({name: v})[0]
        for j, name in enumerate(self.conditional):
            u[n_real + j] = 1.0 if name in params else 0.0
        return u

    def snap(self, U: np.ndarray) -> np.ndarray:
        U = np.asarray(U, dtype=float)
        flat = U.reshape(-1, self.dim)
        out = np.empty_like(flat)
        for i, u in enumerate(Space.snap(self, flat)):
            k = tuple(np.round(u[:len(self.real_free)], 9))
            if k not in self._cache:
                if len(self._cache) > 200_000:
                    self._cache.clear()
                self._cache[k] = self.encode(self.decode(u))
            out[i] = self._cache[k]
        return out.reshape(U.shape)

    def features(self, U: np.ndarray) -> np.ndarray:
        """Surrogate features (Space.features) with the columns of absent conditional
        parameters set to 0: an absent categorical must not look like its middle choice's
        one-hot code. The indicator columns tell present from absent."""
        F = np.array(Space.features(self, U), dtype=float)
        U = np.atleast_2d(np.asarray(U, dtype=float))
        widths = [Space([p]).features(np.full((1, 1), 0.5)).shape[1] for p in self.free]
        starts = np.concatenate([[0], np.cumsum(widths)])
        n_real = len(self.real_free)
        for j, name in enumerate(self.conditional):
            i = self._index[name]
            absent = U[:, n_real + j] < 0.5
            F[absent, starts[i]:starts[i + 1]] = 0.0
        return F

    def size(self) -> float:
        return Space(list(self.real_free)).size() if self.real_free else 1.0


class DefineByRun:
    """The objective of a define-by-run search: builds with ``build(hp)`` and trains with
    ``train(hp, model, trial, seed, device, **options)``. ``space()`` discovers the space
    (``discovery_runs`` random runs on top of the systematic ones). Picklable when ``build``
    and ``train`` are module-level functions (pool and MPI workers)."""

    def __init__(self, build: Callable, train: Callable, discovery_runs: int = 32, **options):
        self.build, self.train = build, train
        self.discovery_runs, self.options = int(discovery_runs), options
        self._space: ConditionalSpace | None = None

    def space(self) -> ConditionalSpace:
        if self._space is None:
            self._space = discover(self.build, self.discovery_runs)
        return self._space

    def __getstate__(self):
        return {**self.__dict__, "_space": None}

    def __call__(self, params: dict, trial: int, seed: int, device: str):
        import sys

        if "torch" in sys.modules:  # weights initialised by build() follow the trial's seed
            sys.modules["torch"].manual_seed(seed)
        np.random.seed(seed % 2**32)
        hp = HP(dict(params))
        model = self.build(hp)
        return self.train(hp, model, trial, seed, device, **self.options)


def _function(ref, what: str) -> Callable:
    if callable(ref):
        return ref
    from hyppo_hep.objectives.registry import _import_target

    if not isinstance(ref, str) or ":" not in ref:
        raise UserError(f"objective define_by_run: {what} must be 'module:function', got {ref!r}")
    func = _import_target(ref, f"define_by_run {what}")
    if not callable(func):
        raise UserError(f"objective define_by_run: {what} '{ref}' is not callable")
    return func


def define_by_run(build=None, train=None, discovery_runs: int = 32, **options) -> DefineByRun:
    """Registry factory: ``objective: {name: define_by_run, build: mod:build, train: mod:train}``;
    further options are passed to ``train`` as keyword arguments."""
    if build is None or train is None:
        raise UserError("objective define_by_run needs both 'build: module:function' and 'train: module:function'")
    return DefineByRun(_function(build, "build"), _function(train, "train"), discovery_runs, **options)


def header_space(spec: dict, path: str = "space") -> Space:
    """The Space recorded in a journal header: a plain one, or for a define-by-run search
    (``{"define-by-run": {...}}``) the flat space of every discovered parameter (conditional
    ones included; sets may lack them), for analysis without the user's build function."""
    if isinstance(spec, dict) and set(spec) == {"define-by-run"}:
        flat = {name: {k: v for k, v in p.items() if k != "conditional"} for name, p in spec["define-by-run"].items()}
        return Space.from_dict(flat, f"{path}.define-by-run")
    return Space.from_dict(spec, path)
