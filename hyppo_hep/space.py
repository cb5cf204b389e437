"""Search spaces in the form physicists already write (Table 1 of the Hyppo GAN study).

Every free parameter owns one coordinate of the unit cube [0, 1]^d, where the numerics
(designs, surrogates, candidate perturbations) live. ``decode`` always lands on a valid
value: integer-lattice and categorical parameters are snapped to the nearest level, so a
decoded set is exactly one point of the finite lattice the user wrote down.

Parameter kinds, as dicts in the YAML ``space`` section:

- ``{lower: 1, upper: 200, scaling: 5.0e-5}``: integer index in [lower, upper] times a
  scaling factor (5e-5 ... 1e-2 on a lattice of 200 values). Without ``scaling`` a plain int.
  ``log: true`` keeps the values (index x scaling) but encodes the index on a log scale, so
  the search treats 1e-4 -> 2e-4 as large a step as 5e-3 -> 1e-2 (learning rates).
- ``{low: 0.0, high: 0.5}`` a float; ``log: true`` for a log-uniform scale.
- ``{choices: [relu, tanh, gelu]}`` a categorical.
- a bare scalar or list (``epochs: 20``) or ``{value: ...}``: a fixed value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from hyppo_hep.errors import ConfigError


@dataclass(frozen=True)
class IntParam:
    """Integer index ``lower..upper`` times ``scaling``; value = index * scaling."""

    name: str
    lower: int
    upper: int
    scaling: float | int = 1
    log: bool = False  # encode the index on a log scale (lower >= 1)

    @property
    def n_levels(self) -> int:
        return self.upper - self.lower + 1

    def to_unit(self, index):
        """Index (scalar or array) -> unit-cube coordinate."""
        if self.upper == self.lower:
            return np.full(np.shape(index), 0.5) if np.ndim(index) else 0.5
        if self.log:
            lo, hi = math.log(self.lower), math.log(self.upper)
            return (np.log(index) - lo) / (hi - lo)
        return (np.asarray(index) - self.lower) / (self.upper - self.lower)

    def from_unit(self, u):
        """Unit-cube coordinate (scalar or array) -> nearest index on the lattice."""
        u = np.clip(u, 0.0, 1.0)
        if self.log:
            lo, hi = math.log(self.lower), math.log(self.upper)
            idx = np.rint(np.exp(lo + u * (hi - lo)))
        else:
            idx = np.rint(self.lower + u * (self.upper - self.lower))
        return np.clip(idx, self.lower, self.upper)

    def index_of(self, value: Any) -> int:
        index = value / self.scaling
        rounded = int(round(index))
        if not math.isclose(index, rounded, rel_tol=1e-9, abs_tol=1e-9) or not self.lower <= rounded <= self.upper:
            raise ValueError(f"{self.name}={value!r} is not on the lattice {self.lower}..{self.upper} x {self.scaling}")
        return rounded

    def value_of(self, index: int) -> int | float:
        if isinstance(self.scaling, int):
            return int(index) * self.scaling
        # Round away binary noise so that 7 * 5e-5 prints and compares as 3.5e-4.
        return float(f"{index * self.scaling:.12g}")


@dataclass(frozen=True)
class FloatParam:
    name: str
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class CategoricalParam:
    name: str
    choices: tuple

    @property
    def n_levels(self) -> int:
        return len(self.choices)


@dataclass(frozen=True)
class FixedParam:
    name: str
    value: Any


Param = IntParam | FloatParam | CategoricalParam | FixedParam
FREE_KINDS = (IntParam, FloatParam, CategoricalParam)


def _is_number(x: Any) -> bool:
    """A finite int or float: a bound or scaling of .nan or .inf would pass every check and
    then break the search."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def parse_param(name: str, spec: Any, path: str) -> Param:
    """Build one parameter from its YAML form; errors name ``path`` (e.g. ``space.lr_gen``)."""
    if not isinstance(spec, dict):
        return FixedParam(name, spec)
    keys = set(spec)
    if keys == {"value"}:
        return FixedParam(name, spec["value"])
    if "choices" in keys:
        _no_extra(keys, {"choices"}, path)
        choices = spec["choices"]
        if not isinstance(choices, list):
            raise ConfigError(f"{path}.choices", f"must be a list, got {type(choices).__name__}")
        if not choices:
            raise ConfigError(f"{path}.choices", "is empty")
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"{path}.choices", "has duplicate entries")
        return CategoricalParam(name, tuple(choices))
    if "lower" in keys or "upper" in keys or "scaling" in keys:
        _no_extra(keys, {"lower", "upper", "scaling", "log"}, path)
        lower, upper = _required(spec, ("lower", "upper"), _is_int, "an integer index", path)
        if upper < lower:
            raise ConfigError(f"{path}.upper", f"({upper}) is below lower ({lower})")
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(f"{path}.log", f"must be true or false, got {log!r}")
        if log and lower < 1:
            raise ConfigError(f"{path}.lower", f"({lower}) must be >= 1 with log: true (the index is taken on a log scale)")
        scaling = spec.get("scaling", 1)
        if not _is_number(scaling):
            raise ConfigError(f"{path}.scaling", f"must be a number (finite), got {scaling!r}")
        if scaling <= 0:
            raise ConfigError(f"{path}.scaling", f"({scaling}) must be > 0")
        return IntParam(name, lower, upper, scaling, log)
    if "low" in keys or "high" in keys:
        _no_extra(keys, {"low", "high", "log"}, path)
        low, high = map(float, _required(spec, ("low", "high"), _is_number, "a number (finite)", path))
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ConfigError(f"{path}.log", f"must be true or false, got {log!r}")
        if high < low:
            raise ConfigError(f"{path}.high", f"({high:g}) is below low ({low:g})")
        if log and low <= 0:
            raise ConfigError(f"{path}.low", f"({low:g}) must be > 0 on a log scale")
        return FloatParam(name, low, high, log)
    raise ConfigError(path, f"has keys {sorted(keys)}: expected {{lower, upper[, scaling]}}, {{low, high[, log]}}, {{choices}} or {{value}}")


def _required(spec: dict, keys: tuple, check, what: str, path: str) -> list:
    """The values of ``keys``, each present and passing ``check`` (else a ConfigError)."""
    for key in keys:
        if key not in spec:
            raise ConfigError(f"{path}.{key}", "is missing")
        if not check(spec[key]):
            raise ConfigError(f"{path}.{key}", f"must be {what}, got {spec[key]!r}")
    return [spec[key] for key in keys]


def _no_extra(keys: set, allowed: set, path: str) -> None:
    extra = sorted(keys - allowed)
    if extra:
        raise ConfigError(f"{path}.{extra[0]}", f"is not a known key here (expected {', '.join(sorted(allowed))})")


class Space:
    """An ordered set of parameters with a unit-cube encoding of the free ones.

    ``dim`` is the number of free parameters; ``encode``/``decode`` map a params dict to
    and from a point of [0, 1]^dim.
    """

    def __init__(self, params: Sequence[Param]):
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            raise ValueError("duplicate parameter names")
        self.params: tuple[Param, ...] = tuple(params)
        self.free: tuple[Param, ...] = tuple(p for p in params if isinstance(p, FREE_KINDS))
        self.fixed: dict[str, Any] = {p.name: p.value for p in params if isinstance(p, FixedParam)}

    @classmethod
    def from_dict(cls, spec: dict, path: str = "space") -> "Space":
        if not isinstance(spec, dict):
            raise ConfigError(path, f"must be a mapping of parameter names, got {type(spec).__name__}")
        if not spec:
            raise ConfigError(path, "is empty")
        params = []
        for name, pspec in spec.items():
            if not isinstance(name, str):
                raise ConfigError(f"{path}.{name}", "parameter names must be strings")
            params.append(parse_param(name, pspec, f"{path}.{name}"))
        return cls(params)

    def to_dict(self) -> dict:
        """The YAML form, for the journal header and for comparing spaces on resume."""
        out: dict[str, Any] = {}
        for p in self.params:
            if isinstance(p, IntParam):
                out[p.name] = {"lower": p.lower, "upper": p.upper, "scaling": p.scaling}
                if p.log:  # only when set, so the journals of linear lattices read as before
                    out[p.name]["log"] = True
            elif isinstance(p, FloatParam):
                out[p.name] = {"low": p.low, "high": p.high, "log": p.log}
            elif isinstance(p, CategoricalParam):
                out[p.name] = {"choices": list(p.choices)}
            else:
                out[p.name] = {"value": p.value}
        return out

    @property
    def dim(self) -> int:
        return len(self.free)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.free]

    def n_levels(self) -> np.ndarray:
        """Levels per free coordinate (``inf`` for floats), shape ``(dim,)``."""
        return np.array([getattr(p, "n_levels", np.inf) for p in self.free], dtype=float)

    def size(self) -> float:
        """Number of distinct sets (``inf`` when a float parameter is free)."""
        return float(np.prod(self.n_levels())) if self.dim else 1.0

    # --- unit cube ------------------------------------------------------------------------
    def snap(self, U: np.ndarray) -> np.ndarray:
        """Snap points ``U`` (``n x dim`` or ``dim``) to the lattice; floats are only clipped."""
        U = U0 = np.clip(np.asarray(U, dtype=float), 0.0, 1.0)
        levels = self.n_levels()
        disc = np.isfinite(levels)
        if disc.any():
            k = np.maximum(levels[disc] - 1, 1)
            snapped = np.round(U[..., disc] * k) / k
            # A single level encodes as 0.5 (the middle of the cube) so distances ignore it.
            snapped = np.where(levels[disc] == 1, 0.5, snapped)
            U = U.copy()
            U[..., disc] = snapped
            # log lattices are not evenly spaced in the cube: snap through their indices
            for i, p in enumerate(self.free):
                if isinstance(p, IntParam) and p.log:
                    U[..., i] = p.to_unit(p.from_unit(np.clip(np.asarray(U0)[..., i], 0.0, 1.0)))
        return U

    def features(self, U: np.ndarray) -> np.ndarray:
        """Surrogate features of unit-cube points ``U`` (``n x dim``) -> ``n x n_features``.

        Integer and float coordinates pass through (already in [0, 1]). A categorical with
        k >= 2 choices becomes k one-hot columns scaled by 1/sqrt(2), so two different choices
        are at distance 1 (the width of an ordered coordinate) and no choice is 'between'
        two others, as an ordinal code would pretend."""
        U = np.atleast_2d(np.asarray(U, dtype=float))
        cols = []
        for i, p in enumerate(self.free):
            if isinstance(p, CategoricalParam) and p.n_levels > 1:
                level = np.rint(np.clip(U[:, i], 0.0, 1.0) * (p.n_levels - 1)).astype(int)
                cols.append(np.eye(p.n_levels)[level] / math.sqrt(2.0))
            else:
                cols.append(U[:, i:i + 1])
        return np.hstack(cols) if cols else np.empty((len(U), 0))

    def decode(self, u: np.ndarray) -> dict:
        """Point ``u`` of shape ``(dim,)`` -> params dict (fixed values included), always valid."""
        u = self.snap(np.asarray(u, dtype=float).reshape(self.dim))
        out: dict[str, Any] = {}
        for p in self.params:
            if isinstance(p, FixedParam):
                out[p.name] = p.value
                continue
            x = float(u[self.free.index(p)])
            if isinstance(p, IntParam):
                out[p.name] = p.value_of(int(p.from_unit(x)) if p.log else p.lower + _level(x, p.n_levels))
            elif isinstance(p, CategoricalParam):
                out[p.name] = p.choices[_level(x, p.n_levels)]
            elif p.log:
                # exp(log(low)) can land an ulp outside [low, high]: clip, a value must be in range
                v = math.exp(math.log(p.low) + x * (math.log(p.high) - math.log(p.low)))
                out[p.name] = float(min(max(v, p.low), p.high))
            else:
                out[p.name] = float(p.low + x * (p.high - p.low))
        return out

    def encode(self, params: dict) -> np.ndarray:
        """Params dict -> point of shape ``(dim,)``. Raises ValueError off the lattice or range."""
        # Memoised: a surrogate strategy encodes every set of the history at each proposal
        # (thousands of dicts), which would otherwise dominate its latency.
        memo = self.__dict__.setdefault("_memo", {})
        try:
            # the type is part of the key: 1, 1.0 and True are equal as dict keys but may be
            # different choices of a categorical
            memo_key = tuple((type(v), v) for v in (params[p.name] for p in self.free))
            hit = memo.get(memo_key)
        except (KeyError, TypeError):  # a missing parameter (error below) or an unhashable value
            memo_key = hit = None
        if hit is not None:
            return hit[0].copy()
        u = self._encode(params)
        if memo_key is not None and len(memo) < 1_000_000:
            memo[memo_key] = (u.copy(), tuple(np.round(u, 9)))
        return u

    def _encode(self, params: dict) -> np.ndarray:
        u = np.empty(self.dim)
        for i, p in enumerate(self.free):
            if p.name not in params:
                raise ValueError(f"parameter '{p.name}' is missing")
            v = params[p.name]
            if isinstance(p, IntParam):
                u[i] = p.to_unit(p.index_of(v)) if p.log else _unit(p.index_of(v) - p.lower, p.n_levels)
            elif isinstance(p, CategoricalParam):
                try:
                    j = p.choices.index(v)
                except ValueError:
                    raise ValueError(f"{p.name}={v!r} is not one of {list(p.choices)}") from None
                u[i] = _unit(j, p.n_levels)
            else:
                if not _is_number(v) or not (p.low - 1e-12 <= v <= p.high + 1e-12):
                    raise ValueError(f"{p.name}={v!r} is outside [{p.low}, {p.high}]")
                if p.high == p.low:
                    u[i] = 0.5
                elif p.log:
                    u[i] = (math.log(v) - math.log(p.low)) / (math.log(p.high) - math.log(p.low))
                else:
                    u[i] = (v - p.low) / (p.high - p.low)
        return np.clip(u, 0.0, 1.0)

    def encode_many(self, sets: Sequence[dict]) -> np.ndarray:
        """``n`` params dicts -> array ``n x dim``."""
        if not sets:
            return np.empty((0, self.dim))
        return np.vstack([self.encode(s) for s in sets])

    def key(self, params: dict) -> tuple:
        """A hashable identity of a set (its lattice point), for duplicate checks."""
        if not self.dim:
            return ()
        u = self.encode(params)  # fills the memo (which holds the key too) when it can
        hit = None
        if type(self).encode is Space.encode:  # a subclass with its own encode has its own keys
            try:
                hit = self.__dict__.get("_memo", {}).get(
                    tuple((type(v), v) for v in (params[p.name] for p in self.free)))
            except TypeError:
                hit = None
        return hit[1] if hit is not None else tuple(np.round(u, 9))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniform random lattice points, ``n x dim``."""
        return self.snap(rng.random((n, self.dim)))

    def grid(self, points_per_float: int = 5) -> np.ndarray:
        """All lattice points (floats on ``points_per_float`` levels), ``n x dim``, C order."""
        axes = []
        for p in self.free:
            k = getattr(p, "n_levels", points_per_float)
            if isinstance(p, IntParam) and p.log and k > 1:
                axes.append(p.to_unit(np.arange(p.lower, p.upper + 1, dtype=float)))
                continue
            axes.append(np.array([0.5]) if k == 1 else np.linspace(0.0, 1.0, k))
        if not axes:
            return np.empty((1, 0))
        mesh = np.meshgrid(*axes, indexing="ij")
        return np.stack([m.ravel() for m in mesh], axis=1)


def _level(x: float, n_levels: int) -> int:
    return 0 if n_levels == 1 else int(round(x * (n_levels - 1)))


def _unit(level: int, n_levels: int) -> float:
    return 0.5 if n_levels == 1 else level / (n_levels - 1)
