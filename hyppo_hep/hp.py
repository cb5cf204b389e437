"""The hp API of define-by-run searches: what ``build(hp)`` asks (Keras Tuner names).

``make_param`` turns one ``hp.Int/Float/Choice/Boolean/Fixed`` call into a parameter of
hyppo_hep.space; :class:`HP` answers the calls, with a set's values (training), values
decoded from the unit cube (:class:`hyppo_hep.conditional_space.ConditionalSpace`) or by a
recording policy (:func:`hyppo_hep.discovery.discover`). The user's guide to writing
``build`` and ``train`` is in hyppo_hep/define_by_run.py.
"""

from __future__ import annotations

import math
from typing import Any

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
