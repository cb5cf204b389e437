"""Objective registry.

An objective is a callable ``objective(params, trial, seed, device) -> float`` (lower is
better) that runs on a worker. It may instead return a dict with at least ``"score"``;
the other keys (``best_epoch``, ``n_params``, ...) are recorded in the journal as the
trial's ``info``.

Registered names map to ``"module:factory"`` strings so that heavy modules (torch) are
imported only on the worker that needs them. A factory takes the options given in the
config (``objective: {name: gan_dimuon, epochs: 20}`` -> ``factory(epochs=20)``) and
returns the objective callable. User code is referenced as ``mypkg.mymod:train``: a
plain function with the objective signature (options, if any, are passed as keyword
arguments on every call).

What crosses process and MPI boundaries is an :class:`ObjectiveRef` (name + options), never
a live callable: every worker builds its own objective once and reuses it.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from hyppo_hep.errors import UserError
from hyppo_hep.registry import Registry, import_target

Objective = Callable[..., Any]

# name -> "module:factory". Built-ins are listed here, not registered at import time of
# their modules, so that looking a name up never imports torch.
_REGISTRY = Registry("objective", {
    "branin": "hyppo_hep.objectives.analytic:branin",
    "hartmann6": "hyppo_hep.objectives.analytic:hartmann6",
    "rastrigin": "hyppo_hep.objectives.analytic:rastrigin",
    "gan_landscape": "hyppo_hep.objectives.analytic:gan_landscape",
    "failing": "hyppo_hep.objectives.analytic:failing",
    "fault": "hyppo_hep.objectives.analytic:fault",
    "gan_hadronization": "hyppo_hep.objectives.gan:gan_hadronization",
    "gan_dimuon": "hyppo_hep.objectives.gan:gan_dimuon",
    "vae_shower": "hyppo_hep.objectives.vae:vae_shower",
    "classifier": "hyppo_hep.objectives.classifier:classifier",
    "curve": "hyppo_hep.objectives.analytic:curve",
    "define_by_run": "hyppo_hep.tuner:define_by_run",
})


def register(name: str, target: str | Callable) -> None:
    """Register ``name`` as a factory: a ``"module:factory"`` string or a factory callable."""
    _REGISTRY.register(name, target)


def available() -> list[str]:
    return _REGISTRY.names()


@dataclass(frozen=True)
class ObjectiveRef:
    """A picklable reference to an objective: a registered name or ``module:function``."""

    name: str
    options: dict = field(default_factory=dict)
    # The config file's directory: ``module:function`` (and a define-by-run's build/train)
    # is found there too, after the installed modules, in every process that builds it.
    search_path: str | None = None

    def build(self) -> Objective:
        add_search_path(self.search_path)
        return resolve(self.name, self.options)

    def check(self) -> None:
        """Raise UserError if the name does not resolve or the options do not fit the
        factory, without building the objective (no data is loaded, no torch needed)."""
        add_search_path(self.search_path)
        check(self.name, self.options)

    def __hash__(self) -> int:  # options is a dict; identity by name and sorted items
        return hash((self.name, tuple(sorted((k, repr(v)) for k, v in self.options.items()))))


def add_search_path(path: str | None) -> None:
    """Let imports find modules in ``path`` as well (appended: installed modules win)."""
    if path and path not in sys.path:
        sys.path.append(path)


def _import_target(target: str, what: str) -> Any:
    return import_target(target, what, available())


def _factory(name: str, options: dict) -> Callable:
    factory = _REGISTRY.load(name)
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise UserError(f"objective '{name}': bad options {sorted(options)} ({exc})") from None
    return factory


def check(name: str, options: dict | None = None) -> None:
    """What ``resolve`` checks before it builds anything (see ObjectiveRef.check)."""
    options = dict(options or {})
    if name in _REGISTRY:
        factory = _factory(name, options)
        # a factory may check its options' values without building (no data, no torch):
        # a bad value then stops the campaign before it starts, as one line with exit 2
        check_options = getattr(factory, "check_options", None)
        if check_options is not None:
            check_options(**options)
        return
    if ":" not in name:
        raise UserError(f"objective '{name}' is not registered (known: {', '.join(available())}; user code is 'module:function')")
    if not callable(_import_target(name, "objective")):
        raise UserError(f"objective '{name}' is not callable")


def resolve(name: str, options: dict | None = None) -> Objective:
    """Build the objective callable for ``name`` with ``options`` (raises UserError)."""
    options = dict(options or {})
    check(name, options)
    if name in _REGISTRY:
        return _factory(name, options)(**options)
    func = _import_target(name, "objective")
    if options:
        return _WithOptions(func, options)
    return func


def objective_defaults(ref) -> dict | None:
    """The default hyperparameters of the objective ``ref`` builds (its ``defaults()``: the
    built-in GANs, VAE and classifier have one), or None when it has none."""
    get = getattr(ref.build(), "defaults", None)
    return dict(get()) if callable(get) else None


class _WithOptions:
    """A user function called with the config's options as keyword arguments."""

    def __init__(self, func: Objective, options: dict):
        self.func, self.options = func, options

    def __call__(self, params, trial, seed, device):
        return self.func(params, trial, seed, device, **self.options)


@dataclass(frozen=True)
class CallableRef:
    """Wraps a live objective callable (Python API). Crosses process boundaries only if the
    callable pickles (a module-level function does; a lambda does not)."""

    func: Callable

    @property
    def name(self) -> str:
        return f"{getattr(self.func, '__module__', '?')}:{getattr(self.func, '__qualname__', type(self.func).__name__)}"

    @property
    def options(self) -> dict:
        return {}

    def build(self) -> Objective:
        return self.func

    def check(self) -> None:
        if not callable(self.func):
            raise UserError(f"objective {self.func!r} is not callable")
