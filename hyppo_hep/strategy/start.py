"""Sets the user already knows, evaluated first: ``strategy: {name: rbf, start: [...]}``.

A physicist rarely starts from nothing: the trainer's defaults, a hand-tuned set, the best
set of last month's campaign. SMAC puts the default configuration in its initial design and
Optuna has ``enqueue_trial`` for the same reason: a search that starts from the known sets is
never worse than them, and its surrogate learns from a good point at once instead of
waiting for the design to hit the good region by chance (the dimuon focus search of
benchmarks/RESULTS_physics.md, ninth pass: one unlucky design kept rbf at low learning rates).

``start: [defaults]`` is the objective's own defaults (the built-in GANs, VAE and classifier
have them; a callable may carry a ``defaults()``), and a set that leaves parameters out takes
them from there (:func:`with_defaults`).

The ``start`` sets are proposed first, in order, each once (a resumed search skips those
already in its journal); then the strategy proposes as usual, seeing them as sets of its
history. For the surrogate strategies they take the place of initial-design points (the
design of ``initial`` sets counts them), as in SMAC. Only strategies that propose plain sets
take them: multi-fidelity strategies give every set a rung, and a grid its own order.
"""

from __future__ import annotations

from typing import Any, Callable

from hyppo_hep.errors import ConfigError
from hyppo_hep.history import PENDING, History, SetRecord

# strategies whose proposals are plain sets (no rung, no order of their own)
TAKES_START = ("random", "lhs", "rbf", "gp", "multiobjective")
DEFAULTS = "defaults"  # a start item: the objective's own defaults on the space's free parameters


def with_defaults(options: dict, space, defaults: Callable[[], dict | None], path: str = "strategy") -> dict:
    """``options`` with the ``start`` item ``defaults`` replaced by the objective's default
    hyperparameters, and sets that leave parameters out completed from them: ``start:
    [defaults, {lr_gen: 4.0e-4}]`` starts from the trainer's defaults, then from them with
    another generator rate. ``defaults()`` (asked only when an item needs it) gives the
    objective's defaults, or None for an objective without them; then ``defaults`` is refused
    and a partial set is reported by :func:`read_start`."""
    start = options.get("start")
    if not isinstance(start, list):
        return options
    wanting = [i for i, item in enumerate(start)
               if item == DEFAULTS or (isinstance(item, dict) and any(p.name not in item for p in space.free))]
    if not wanting:
        return options
    values = defaults()
    if values is None:
        if DEFAULTS in start:
            raise ConfigError(f"{path}.start[{start.index(DEFAULTS)}]",
                              "'defaults': the objective has no default hyperparameters; give the set")
        return options
    base = {p.name: values[p.name] for p in space.free if p.name in values}
    return {**options, "start": [{**base, **({} if item == DEFAULTS else item)} if i in wanting else item
                                 for i, item in enumerate(start)]}


def read_start(value: Any, space, path: str = "strategy.start") -> list[dict]:
    """The ``start`` option: a list of sets, each a mapping that gives every free parameter
    of the space a value the space allows (fixed parameters may be repeated with their fixed
    value). Returns each set with the fixed values added."""
    if not isinstance(value, list) or not value:
        raise ConfigError(path, f"must be a non-empty list of sets (mappings of parameter: value), got {value!r}")
    out, keys = [], set()
    for i, params in enumerate(value):
        where = f"{path}[{i}]"
        if not isinstance(params, dict):
            raise ConfigError(where, f"must be a mapping of parameter: value, got {params!r}")
        for name, v in params.items():
            if name in space.fixed:
                if v != space.fixed[name]:
                    raise ConfigError(f"{where}.{name}", f"is fixed to {space.fixed[name]!r} in the space, got {v!r}")
            elif name not in space.names:
                raise ConfigError(f"{where}.{name}", f"is not a parameter of the space ({', '.join(space.names)})")
        missing = [p.name for p in space.free if p.name not in params]
        if missing:
            raise ConfigError(where, f"gives no value to {', '.join(missing)}")
        full = {**space.fixed, **params}
        try:
            key = space.key(full)
        except ValueError as exc:  # off the range or the lattice of a parameter
            raise ConfigError(where, f"is not a set of the space: {exc}") from None
        if key in keys:
            raise ConfigError(where, "repeats an earlier start set")
        keys.add(key)
        out.append(full)
    return out


class StartFirst:
    """``inner`` strategy, with ``sets`` proposed before anything it proposes."""

    def __init__(self, inner, space, sets: list[dict]):
        self.inner, self.space, self.sets = inner, space, sets
        # a history only grows: once every start set is in it, no later proposal needs to
        # look (history.keys copies every set's key, on the hot path of a 10,000-set search)
        self._all_started = False

    def unstarted(self, history) -> list[dict]:
        """The start sets not in ``history`` yet (the search's end phase leaves them as they are)."""
        if self._all_started:
            return []
        taken = history.keys(self.space)
        left = [dict(p) for p in self.sets if self.space.key(p) not in taken]
        self._all_started = not left
        return left

    def propose(self, history, n: int, rng) -> list[dict]:
        first = self.unstarted(history)[:max(n, 0)]
        if len(first) >= n:
            return first
        # the inner strategy sees this call's start sets as pending sets of its history
        seen = History()
        for rec in history.sets.values():
            seen.add_set(rec)
        for i, p in enumerate(first):
            seen.add_set(SetRecord(history.next_id() + i, p, [], state=PENDING))
        return first + self.inner.propose(seen, n - len(first), rng)

    def __getattr__(self, name: str):
        # everything else (a surrogate's options, candidates for the end phase) is the inner
        # strategy's; "inner" itself is looked up here only while unpickling, before it is set
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)
