"""Campaign configs: YAML -> frozen dataclasses, validated once.

Every error is a :class:`ConfigError` that names the key path (``space.lr_gen.upper``);
the CLI prints it as one line and exits 2. YAML is read with ``yaml.safe_load`` only.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hyppo_hep.errors import ConfigError
from hyppo_hep.fidelity import EarlyStopping
from hyppo_hep.objectives.registry import ObjectiveRef
from hyppo_hep.space import Space

EXECUTOR_KINDS = ("auto", "serial", "pool", "mpi")


@dataclass(frozen=True)
class ExecutorConfig:
    """``kind``: auto (MPI when launched on several ranks, else serial), serial, pool or mpi.
    ``workers``: pool processes (default: one per core). ``group_size``: MPI ranks per
    worker group (default: the number of trials, capped by the ranks available)."""

    kind: str = "auto"
    workers: int | None = None
    group_size: int | None = None


@dataclass(frozen=True)
class StrategyConfig:
    name: str = "random"
    options: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CampaignConfig:
    objective: ObjectiveRef
    space: Space
    trials: int = 5
    budget: int = 50
    strategy: StrategyConfig = StrategyConfig()
    seed: int = 0
    out: str = "runs/campaign"
    executor: ExecutorConfig = ExecutorConfig()
    min_ok_trials: int = 1
    trial_timeout: float | None = None  # seconds of wall time per trial; None: no limit
    isolation: str = "none"  # none, process, fresh (executor/isolation.py)
    max_consecutive_failures: int = 20  # failed trials in a row that stop the run; 0: never
    early_stopping: EarlyStopping | None = None
    stages: tuple = ()  # of stages.StageConfig; empty: one search over ``space``
    repeat: int = 1  # whole searches with seeds seed, seed+1, ... in out/repeat_000, ...

    def header(self) -> dict:
        """What the journal records about the campaign (and what resume compares)."""
        return {
            "objective": {"name": self.objective.name, "options": self.objective.options},
            "space": self.space.to_dict(),
            "trials": self.trials,
            "budget": self.budget,
            "strategy": {"name": self.strategy.name, "options": self.strategy.options},
            "seed": self.seed,
            "min_ok_trials": self.min_ok_trials,
            "trial_timeout": self.trial_timeout,
            "isolation": self.isolation,
            "max_consecutive_failures": self.max_consecutive_failures,
            **({"early_stopping": vars(self.early_stopping)} if self.early_stopping else {}),
        }

    @property
    def k_std(self) -> float:
        """Sets rank by mean + k_std * std: the strategy option ``k_std`` (surrogate
        strategies optimise the same quantity), 0 (the mean) otherwise."""
        return float(self.strategy.options.get("k_std", 0.0))

    def with_overrides(self, **kw) -> "CampaignConfig":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


# --- small typed readers ---------------------------------------------------------------------

def _int(value: Any, path: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(path, f"must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(path, f"({value}) must be >= {minimum}")
    return value


def _seconds(value: Any, path: str) -> float | None:
    """A positive number of seconds, or null for no limit."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(path, f"must be a number of seconds (or null), got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(path, f"({value}) must be > 0 seconds")
    return float(value)


def parse_isolation(value: Any, path: str = "isolation") -> str:
    """``none``, ``process``, ``fresh``; ``true`` means process, ``false`` none."""
    from hyppo_hep.executor.isolation import ISOLATION_MODES

    if isinstance(value, bool):
        return "process" if value else "none"
    if value not in ISOLATION_MODES:
        raise ConfigError(path, f"({value!r}) is not one of {', '.join(ISOLATION_MODES)} (or true/false)")
    return value


def _str(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(path, f"must be a non-empty string, got {value!r}")
    return value


def _mapping(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(path, f"must be a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(f"{path}.{key}", "keys must be strings")
    return value


def _named(value: Any, path: str) -> tuple[str, dict]:
    """``name`` or ``{name: ..., option: ...}`` -> (name, options)."""
    if isinstance(value, str):
        return _str(value, path), {}
    value = dict(_mapping(value, path))
    if "name" not in value:
        raise ConfigError(f"{path}.name", "is missing")
    name = _str(value.pop("name"), f"{path}.name")
    return name, value


def parse_objective(value: Any, path: str = "objective") -> ObjectiveRef:
    name, options = _named(value, path)
    return ObjectiveRef(name, options)


DEFINE_BY_RUN = "define-by-run"


def parse_space(value: Any, objective: ObjectiveRef, path: str = "space") -> Space:
    """A space mapping, or ``define-by-run``: the space the objective's ``build(hp)`` asks
    (discovered on this process by running build without training, see tuner.py)."""
    if value is None and objective.name != "define_by_run":
        raise ConfigError(path, "is missing")
    if value is None or value == DEFINE_BY_RUN:
        obj = objective.build()
        if not hasattr(obj, "space"):
            raise ConfigError(path, f"is '{DEFINE_BY_RUN}' but objective '{objective.name}' does not define its "
                              f"space (use objective: {{name: define_by_run, build: mod:build, train: mod:train}})")
        return obj.space()
    if objective.name == "define_by_run":
        raise ConfigError(path, f"must be '{DEFINE_BY_RUN}' (or left out) with objective define_by_run: the space is "
                          "what build(hp) asks")
    return Space.from_dict(value, path)


def parse_strategy(value: Any, path: str = "strategy") -> StrategyConfig:
    from hyppo_hep.strategy.base import check_options

    name, options = _named(value, path)
    check_options(name, options, path)
    return StrategyConfig(name, options)


def parse_executor(value: Any, path: str = "executor") -> ExecutorConfig:
    """``serial`` or ``{kind: pool, workers: 2}`` or ``{kind: mpi, group_size: 5}``."""
    options = {"kind": value} if isinstance(value, str) else dict(_mapping(value, path))
    for key in options:
        if key not in ("kind", "workers", "group_size"):
            raise ConfigError(f"{path}.{key}", "is not a known key (expected kind, workers, group_size)")
    kind = options.get("kind", "auto")
    if kind not in EXECUTOR_KINDS:
        where = path if isinstance(value, str) else f"{path}.kind"
        raise ConfigError(where, f"({kind!r}) is not one of {', '.join(EXECUTOR_KINDS)}")
    workers = options.get("workers")
    group = options.get("group_size")
    return ExecutorConfig(
        kind,
        _int(workers, f"{path}.workers", 1) if workers is not None else None,
        _int(group, f"{path}.group_size", 1) if group is not None else None,
    )


def parse_early_stopping(value: Any, path: str = "early_stopping") -> EarlyStopping | None:
    """``median`` or ``{rule: median, min_epochs: 3, min_trials: 5}``; ``none``/null: off."""
    if value is None or value == "none":
        return None
    options = {"rule": value} if isinstance(value, str) else dict(_mapping(value, path))
    for key in options:
        if key not in ("rule", "min_epochs", "min_trials"):
            raise ConfigError(f"{path}.{key}", "is not a known key (expected rule, min_epochs, min_trials)")
    rule = options.get("rule", "median")
    if rule != "median":
        raise ConfigError(path if isinstance(value, str) else f"{path}.rule", f"({rule!r}) is not a known rule (median)")
    kw = {k: _int(options[k], f"{path}.{k}", 1) for k in ("min_epochs", "min_trials") if k in options}
    return EarlyStopping(rule, **kw)


TOP_LEVEL_KEYS = ("objective", "space", "trials", "budget", "strategy", "seed", "out", "executor", "min_ok_trials",
                  "trial_timeout", "isolation", "max_consecutive_failures", "early_stopping", "stages", "repeat")


# Top-level keys read by one function each (the value in, the typed value out); the
# objective, space, out, stages and repeat need more than their own value and are read
# in parse_config itself.
_SCALAR_READERS = {
    "trials": lambda v: _int(v, "trials", 1),
    "budget": lambda v: _int(v, "budget", 1),
    "strategy": parse_strategy,
    "seed": lambda v: _int(v, "seed", 0),
    "executor": parse_executor,
    "min_ok_trials": lambda v: _int(v, "min_ok_trials", 1),
    "trial_timeout": lambda v: _seconds(v, "trial_timeout"),
    "isolation": parse_isolation,
    "max_consecutive_failures": lambda v: _int(v, "max_consecutive_failures", 0),
    "early_stopping": parse_early_stopping,
}


def parse_config(raw: Any, source: str | None = None) -> CampaignConfig:
    """Validate a loaded YAML document and build the CampaignConfig."""
    if raw is None:
        raise ConfigError("", "the config is empty")
    raw = _mapping(raw, "(top level)")
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(key, f"is not a known key (expected one of {', '.join(TOP_LEVEL_KEYS)})")
    if "objective" not in raw:
        raise ConfigError("objective", "is missing")
    objective = parse_objective(raw["objective"])
    kw: dict[str, Any] = {"objective": objective, "space": parse_space(raw.get("space"), objective)}
    for key, read in _SCALAR_READERS.items():
        if key in raw:
            kw[key] = read(raw[key])
    trials = kw.get("trials", 5)
    if kw.get("min_ok_trials", 1) > trials:
        raise ConfigError("min_ok_trials", f"({kw['min_ok_trials']}) is more than trials ({trials})")
    if "stages" in raw:
        from hyppo_hep.stages import parse_stages

        if not type(kw["space"]) is Space:  # narrowing ranges would drop the conditional structure
            raise ConfigError("stages", "are not supported with a define-by-run space (run each stage as its own "
                              "campaign, narrowing the ranges in build)")

        kw["stages"] = parse_stages(raw["stages"], kw["space"])
        for i, st in enumerate(kw["stages"]):
            if kw.get("min_ok_trials", 1) > (st.trials or trials):
                raise ConfigError(f"stages[{i}].trials", f"({st.trials}) is below min_ok_trials ({kw['min_ok_trials']})")
    if "repeat" in raw:
        kw["repeat"] = _int(raw["repeat"], "repeat", 1)
    if "out" in raw:
        kw["out"] = _str(raw["out"], "out")
    elif source:
        kw["out"] = os.path.join("runs", Path(source).stem)
    return CampaignConfig(**kw)


def load_yaml(path: str | os.PathLike) -> Any:
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"cannot read config file {path}: {exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError("", f"{path} is not valid YAML{where}: {problem}") from None


def load_config(path: str | os.PathLike) -> CampaignConfig:
    return parse_config(load_yaml(path), source=str(path))


DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.yaml"
