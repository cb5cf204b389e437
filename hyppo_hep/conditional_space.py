"""A space whose parameters exist only when the user's ``build(hp)`` asks them.

Decoding a point of the unit cube re-runs ``build`` with that point's values and keeps only
the parameters it asked, so a set never carries ``units_3`` when ``n_layers`` is 2.

How surrogates see an absent parameter: NOT as a value. Each conditional free parameter has
two coordinates: its value (0.5, the middle of its range, when absent) and an "active"
indicator (1 present, 0 absent). Two sets that differ only in whether ``units_3`` exists
are thus apart by the indicator, and sets where it is absent all agree on its value
coordinate, so no fake width is ever learnt from. ``Space.key`` follows the same encoding,
so sets that decode alike are the same set.

The journal records such a space as ``{"define-by-run": {...}}`` (``to_dict``);
:func:`header_space` reads it back without the user's build function (the analysis).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hyppo_hep.errors import UserError
from hyppo_hep.hp import HP
from hyppo_hep.space import CategoricalParam, FixedParam, Space


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


def header_space(spec: dict, path: str = "space") -> Space:
    """The Space recorded in a journal header: a plain one, or for a define-by-run search
    (``{"define-by-run": {...}}``) the flat space of every discovered parameter (conditional
    ones included; sets may lack them), for analysis without the user's build function."""
    if isinstance(spec, dict) and set(spec) == {"define-by-run"}:
        flat = {name: {k: v for k, v in p.items() if k != "conditional"} for name, p in spec["define-by-run"].items()}
        return Space.from_dict(flat, f"{path}.define-by-run")
    return Space.from_dict(spec, path)
