"""Typed readers of config values, shared by config.py and stages.py.

Each takes the raw YAML value and the key path it came from (``stages[1].strategy.k_std``)
and returns the typed value or raises :class:`ConfigError` naming that path.
:func:`parse_strategy` validates every option of a strategy, values included, by building
it for the space and budget it will run with: nothing may be found wrong later, after the
output directory has been touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hyppo_hep.errors import ConfigError

DEFAULT_STRATEGY = "rbf"


@dataclass(frozen=True)
class StrategyConfig:
    name: str = DEFAULT_STRATEGY
    options: dict = field(default_factory=dict)


def check_keys(mapping: dict, known, path: str) -> None:
    """A ConfigError naming the first key of ``mapping`` that is not in ``known``."""
    for key in mapping:
        if key not in known:
            raise ConfigError(f"{path}.{key}", f"is not a known key (expected {', '.join(known)})")


def read_int(value: Any, path: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(path, f"({value}) must be >= {minimum}")
    return value


TRIALS_KEYS = ("min", "max", "confirm")
BUDGET_KEYS = ("sets", "trainings")


def read_trials(value: Any, path: str = "trials") -> tuple[int, int | None, int]:
    """``trials: 5`` (every set gets 5 trials) or ``trials: {min: 2, max: 5, confirm: 3}``
    (adaptive repeats: a new set gets ``min``, the racing rule tops up contenders to at most
    ``max``; ``confirm``: extra trials per set that idle slots may run at the end, see
    search.py). Returns (max, min or None when there are no adaptive repeats, confirm)."""
    if not isinstance(value, dict):
        return read_int(value, path, 1), None, 0
    value = read_mapping(value, path)
    check_keys(value, TRIALS_KEYS, path)
    if "max" not in value:
        raise ConfigError(f"{path}.max", "is missing (trials: {min: 2, max: 5})")
    most = read_int(value["max"], f"{path}.max", 1)
    least = read_int(value.get("min", most), f"{path}.min", 1)
    if least > most:
        raise ConfigError(f"{path}.min", f"({least}) is more than max ({most})")
    confirm = read_int(value.get("confirm", 0), f"{path}.confirm", 0)
    return most, (least if least < most else None), confirm


def read_budget(value: Any, path: str = "budget") -> tuple[int | None, int | None]:
    """``budget: 40`` or ``{sets: 40}`` (sets started) or ``{trainings: 500}`` (trials
    started, top-ups included, confirmation trials not) or both (whichever is spent first).
    Returns (sets or None, trainings or None)."""
    if not isinstance(value, dict):
        return read_int(value, path, 1), None
    value = read_mapping(value, path)
    check_keys(value, BUDGET_KEYS, path)
    if not value:
        raise ConfigError(path, "is empty (give sets, trainings or both)")
    sets = read_int(value["sets"], f"{path}.sets", 1) if "sets" in value else None
    trainings = read_int(value["trainings"], f"{path}.trainings", 1) if "trainings" in value else None
    return sets, trainings


def read_number(value: Any, path: str) -> float:
    """A finite number (``.nan`` and ``.inf`` are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(path, f"must be a finite number, got {value!r}")
    return float(value)


def read_seconds(value: Any, path: str) -> float | None:
    """A positive number of seconds, or null for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(path, f"must be a number of seconds (or null), got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(path, f"({value}) must be > 0 seconds")
    return float(value)


def read_str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"must be a non-empty string, got {value!r}")
    return value


def read_mapping(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(path, f"must be a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(f"{path}.{key}", "keys must be strings")
    return value


def read_named(value: Any, path: str) -> tuple[str, dict]:
    """``name`` or ``{name: ..., option: ...}`` -> (name, options)."""
    if isinstance(value, str):
        return read_str(value, path), {}
    value = dict(read_mapping(value, path))
    if "name" not in value:
        raise ConfigError(f"{path}.name", "is missing")
    name = read_str(value.pop("name"), f"{path}.name")
    return name, value


def parse_strategy(value: Any, path: str = "strategy", space=None, budget: int | None = None) -> StrategyConfig:
    """``name`` or ``{name: rbf, k_std: 1}``. With ``space`` and ``budget`` every option's
    value is checked too, by building the strategy (constructors are cheap: designs and
    surrogates are made at the first proposal)."""
    from hyppo_hep.strategy.base import check_options

    name, options = read_named(value, path)
    check_options(name, options, path)
    cfg = StrategyConfig(name, options)
    if space is not None and budget is not None:
        check_strategy(cfg, space, budget, path)
    return cfg


def check_strategy(cfg: StrategyConfig, space, budget: int, path: str = "strategy") -> None:
    """Build the strategy once; its errors are re-addressed to ``path``. No option of any
    strategy takes .nan or .inf (a NaN passes every ``x < 0`` check), so they are refused
    here for all of them."""
    from hyppo_hep.strategy.base import build

    _refuse_non_finite(cfg.options, path)
    try:
        build(cfg.name, cfg.options, space, budget)
    except ConfigError as exc:
        where = exc.path
        if where == "strategy" or where.startswith("strategy."):
            where = path + where[len("strategy"):]
        raise ConfigError(where, exc.message) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ConfigError(path, f"has an option of the wrong kind for strategy '{cfg.name}' ({exc})") from None


def _refuse_non_finite(value: Any, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(path, f"must be a finite number, got {value!r}")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_non_finite(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_non_finite(item, f"{path}[{i}]")
