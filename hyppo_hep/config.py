"""Campaign configs: YAML -> frozen dataclasses, validated once.

Every error is a :class:`ConfigError` that names the key path (``space.lr_gen.upper``);
the CLI prints it as one line and exits 2. YAML is read with ``yaml.safe_load`` only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hyppo_hep.errors import ConfigError
from hyppo_hep.fidelity import EarlyStopping
from hyppo_hep.objectives.registry import ObjectiveRef
from hyppo_hep.parsing import (StrategyConfig, check_keys, check_strategy, parse_strategy, read_budget, read_int, read_mapping,
                               read_named, read_seconds, read_str, read_trials)
from hyppo_hep.space import Space
from hyppo_hep.stages import parse_stages, validation_space

EXECUTOR_KINDS = ("auto", "serial", "pool", "mpi")


@dataclass(frozen=True)
class ExecutorConfig:
    """``kind``: auto (MPI when launched on several ranks, else serial), serial, pool or mpi.
    ``workers``: pool processes (default: one per core). ``group_size``: MPI ranks per
    worker group (default: the number of trials, capped by the ranks available).
    ``last_round``: the Search's end phase steers the last four rounds of new sets so that
    every rank's last work is short and ends near the campaign's projected end (end_phase.py,
    durations.py; README "The end of a campaign"). ``probes``: in that end phase, with an
    executor that places single trials, a new set may start with one trial and run the
    others once its length is known (learn then pack, end_phase.py); false: whole sets only."""

    kind: str = "auto"
    workers: int | None = None
    group_size: int | None = None
    last_round: bool = True
    probes: bool = True


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
    # adaptive repeats (``trials: {min, max, confirm}``): ``trials`` is then the max; a new
    # set gets ``min_trials`` (None: every set gets ``trials``); ``confirm`` extra trials per
    # set may run on idle slots at the end (search.py; their end rule: end_phase.py)
    min_trials: int | None = None
    confirm: int = 0
    # ``budget: {trainings: N}``: trials started, top-ups included. ``budget`` (sets) is then
    # the given sets, or N // min trials (``budget_implied``): at most that many sets can start
    budget_trainings: int | None = None
    budget_implied: bool = False

    def header(self) -> dict:
        """What the journal records about the campaign (and what resume compares)."""
        return {
            "objective": {"name": self.objective.name, "options": self.objective.options},
            "space": self.space.to_dict(),
            "trials": self.trials_header(),
            "budget": self.budget_header(),
            "strategy": {"name": self.strategy.name, "options": self.strategy.options},
            "seed": self.seed,
            "min_ok_trials": self.min_ok_trials,
            "trial_timeout": self.trial_timeout,
            "isolation": self.isolation,
            "max_consecutive_failures": self.max_consecutive_failures,
            **({"early_stopping": vars(self.early_stopping)} if self.early_stopping else {}),
        }

    def trials_header(self) -> int | dict:
        """``trials`` as the journal records it: the plain int unless adaptive/confirm."""
        if self.min_trials is None and not self.confirm:
            return self.trials
        out = {"min": self.min_trials or self.trials, "max": self.trials}
        return {**out, "confirm": self.confirm} if self.confirm else out

    def budget_header(self) -> int | dict:
        if self.budget_trainings is None:
            return self.budget
        return {"trainings": self.budget_trainings, **({} if self.budget_implied else {"sets": self.budget})}

    @property
    def max_trainings(self) -> int:
        """Most trainings the search may start (confirmation trials aside)."""
        most = self.budget * self.trials
        return most if self.budget_trainings is None else min(most, self.budget_trainings)

    @property
    def progress_sets(self) -> int | None:
        """The sets the progress counts to (None when only trainings were budgeted)."""
        return None if self.budget_implied else self.budget

    def describe_budget(self) -> str:
        """``40 sets x 5 trials`` or ``500 trainings, 2-5 trials per set`` (+ confirmation)."""
        per = f"{self.min_trials}-{self.trials}" if self.min_trials else f"{self.trials}"
        sets = "" if self.budget_implied else f"{self.budget} sets"
        text = (f"{self.budget} sets x {per} trials" if self.budget_trainings is None else
                f"{self.budget_trainings} trainings{', ' + sets if sets else ''}, {per} trials per set")
        return text + (f", up to {self.confirm} confirmation trials per set" if self.confirm else "")

    @property
    def k_std(self) -> float:
        """Sets rank by mean + k_std * std: the strategy option ``k_std`` (surrogate
        strategies optimise the same quantity), 0 (the mean) otherwise."""
        return float(self.strategy.options.get("k_std", 0.0))

    def with_overrides(self, **kw) -> "CampaignConfig":
        if kw.get("out") is not None:
            check_out(kw["out"], "--out")
        if kw.get("budget") is not None:  # --budget N: N sets (with a trainings budget, both apply)
            kw["budget_implied"] = False
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


# --- readers (shared with stages.py: parsing.py) ---------------------------------------------

_int, _seconds, _str, _mapping, _named = read_int, read_seconds, read_str, read_mapping, read_named


def parse_isolation(value: Any, path: str = "isolation") -> str:
    """``none``, ``process``, ``fresh``; ``true`` means process, ``false`` none."""
    from hyppo_hep.executor.isolation import ISOLATION_MODES

    if isinstance(value, bool):
        return "process" if value else "none"
    if value not in ISOLATION_MODES:
        raise ConfigError(path, f"({value!r}) is not one of {', '.join(ISOLATION_MODES)} (or true/false)")
    return value


_str, _mapping, _named = read_str, read_mapping, read_named  # the shared readers (parsing.py)


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


def parse_executor(value: Any, path: str = "executor") -> ExecutorConfig:
    """``serial`` or ``{kind: pool, workers: 2}`` or ``{kind: mpi, group_size: 5, last_round: false}``."""
    options = {"kind": value} if isinstance(value, str) else dict(_mapping(value, path))
    check_keys(options, ("kind", "workers", "group_size", "last_round", "probes"), path)
    kind = options.get("kind", "auto")
    if kind not in EXECUTOR_KINDS:
        where = path if isinstance(value, str) else f"{path}.kind"
        raise ConfigError(where, f"({kind!r}) is not one of {', '.join(EXECUTOR_KINDS)}")
    workers = options.get("workers")
    group = options.get("group_size")
    switches = {key: options.get(key, True) for key in ("last_round", "probes")}
    for key, on in switches.items():
        if not isinstance(on, bool):
            raise ConfigError(f"{path}.{key}", f"must be true or false, got {on!r}")
    return ExecutorConfig(
        kind,
        _int(workers, f"{path}.workers", 1) if workers is not None else None,
        _int(group, f"{path}.group_size", 1) if group is not None else None,
        **switches,
    )


def parse_early_stopping(value: Any, path: str = "early_stopping") -> EarlyStopping | None:
    """``median`` or ``{rule: median, min_epochs: 3, min_trials: 5}``; ``none``/null: off."""
    if value is None or value == "none":
        return None
    options = {"rule": value} if isinstance(value, str) else dict(_mapping(value, path))
    check_keys(options, ("rule", "min_epochs", "min_trials"), path)
    rule = options.get("rule", "median")
    if rule != "median":
        raise ConfigError(path if isinstance(value, str) else f"{path}.rule", f"({rule!r}) is not a known rule (median)")
    kw = {k: _int(options[k], f"{path}.{k}", 1) for k in ("min_epochs", "min_trials") if k in options}
    return EarlyStopping(rule, **kw)


TOP_LEVEL_KEYS = ("objective", "space", "trials", "budget", "strategy", "seed", "out", "executor", "min_ok_trials",
                  "trial_timeout", "isolation", "max_consecutive_failures", "early_stopping", "stages", "repeat", "objectives")


# Top-level keys read by one function each (the value in, the typed value out); the
# objective, space, out, stages and repeat need more than their own value and are read
# in parse_config itself.
_SCALAR_READERS = {
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
    check_size(raw, "the config")
    raw = _mapping(raw, "(top level)")
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(key, f"is not a known key (expected one of {', '.join(TOP_LEVEL_KEYS)})")
    if "objective" not in raw:
        raise ConfigError("objective", "is missing")
    objective = parse_objective(raw["objective"])
    if source:  # `module:function` next to the config file is found without PYTHONPATH
        objective = replace(objective, search_path=str(Path(source).resolve().parent))
    kw: dict[str, Any] = {"objective": objective, "space": parse_space(raw.get("space"), objective)}
    for key, read in _SCALAR_READERS.items():
        if key in raw:
            kw[key] = read(raw[key])
    if "objectives" in raw:
        kw["strategy"] = _with_objectives(raw["objectives"], kw.get("strategy"), "strategy" in raw)
    kw.update(repeats_kw(raw.get("trials", 5), raw.get("budget", 50)))
    trials = kw.get("min_trials") or kw["trials"]
    if kw.get("min_ok_trials", 1) > trials:
        raise ConfigError("min_ok_trials", f"({kw['min_ok_trials']}) is more than trials ({trials})")
    if "stages" in raw:
        if not type(kw["space"]) is Space:  # narrowing ranges would drop the conditional structure
            raise ConfigError("stages", "are not supported with a define-by-run space (run each stage as its own "
                              "campaign, narrowing the ranges in build)")

        kw["stages"] = parse_stages(raw["stages"], kw["space"])
        for i, st in enumerate(kw["stages"]):
            if kw.get("min_ok_trials", 1) > ((st.min_trials or st.trials) if st.trials else trials):
                raise ConfigError(f"stages[{i}].trials", f"({st.min_trials or st.trials}) is below min_ok_trials "
                                  f"({kw['min_ok_trials']})")
    _start_from_defaults(kw)
    _check_strategies(kw)
    if "repeat" in raw:
        kw["repeat"] = _int(raw["repeat"], "repeat", 1)
    if "out" in raw:
        kw["out"] = check_out(_str(raw["out"], "out"))
    elif source:
        kw["out"] = os.path.join("runs", Path(source).stem)
    return CampaignConfig(**kw)


MULTI_OBJECTIVE = "multiobjective"


def _with_objectives(value: Any, strategy: StrategyConfig | None, given: bool) -> StrategyConfig:
    """``objectives: [mean, std, n_params]``: what the search minimises. One objective (the
    mean) is today's search; several need the multi-objective strategy, which is the default
    then and receives them as its ``objectives`` option (the strategy checks their names)."""
    if not isinstance(value, list) or not value:
        raise ConfigError("objectives", f"must be a list of objectives to minimise, e.g. [mean, std, n_params], got {value!r}")
    if len(value) == 1 and value[0] == "mean":
        return strategy or StrategyConfig()
    if not given:
        return StrategyConfig(MULTI_OBJECTIVE, {"objectives": value})
    if strategy.name != MULTI_OBJECTIVE:
        raise ConfigError("objectives", f"has {len(value)} objectives: strategy must be '{MULTI_OBJECTIVE}' "
                          f"(or left out), not '{strategy.name}'")
    if "objectives" in strategy.options and strategy.options["objectives"] != value:
        raise ConfigError("strategy.objectives", "differs from the top-level objectives: give them once")
    return StrategyConfig(MULTI_OBJECTIVE, {**strategy.options, "objectives": value})


def repeats_kw(trials, budget, path: str = "") -> dict:
    """CampaignConfig fields of the ``trials`` and ``budget`` values (plain ints or their
    adaptive forms, parsing.read_trials / read_budget); ``path`` prefixes the key paths."""
    most, least, confirm = read_trials(trials, f"{path}trials")
    sets, trainings = read_budget(budget, f"{path}budget")
    kw: dict[str, Any] = {"trials": most, "min_trials": least, "confirm": confirm, "budget_trainings": trainings,
                          "budget_implied": sets is None}
    kw["budget"] = sets if sets is not None else max(1, trainings // (least or most))
    return kw


# Strategies whose own rule decides which configurations get more training: adaptive
# repeats (min < max) would race against it, so the combination is refused (README).
NO_ADAPTIVE_REPEATS = ("hyperband", "bohb", "asha", "multiobjective")


def _check_adaptive(strategy: StrategyConfig, adaptive: bool, path: str) -> None:
    if adaptive and strategy.name in NO_ADAPTIVE_REPEATS:
        why = ("its Pareto front is not a race for one best mean" if strategy.name == MULTI_OBJECTIVE else
               "its rungs already decide which configurations get more training")
        raise ConfigError(path, f"has min < max (adaptive repeats), which strategy '{strategy.name}' does not "
                          f"support: {why}; give a plain number of trials")


def _start_from_defaults(kw: dict) -> None:
    """Every strategy's ``start`` with the objective's defaults filled in (strategy/start.py);
    the objective is built only if an item needs them."""
    from hyppo_hep.objectives.registry import objective_defaults
    from hyppo_hep.strategy.start import with_defaults

    built: list = []  # the objective's defaults, built once for the strategy and every stage

    def defaults():
        if not built:
            built.append(objective_defaults(kw["objective"]))
        return built[0]

    if "strategy" in kw:
        st = kw["strategy"]
        kw["strategy"] = StrategyConfig(st.name, with_defaults(st.options, kw["space"], defaults))
    if kw.get("stages"):
        kw["stages"] = tuple(stage if stage.strategy is None else replace(stage, strategy=StrategyConfig(
            stage.strategy.name, with_defaults(stage.strategy.options, kw["space"], defaults, f"stages[{i}].strategy")))
            for i, stage in enumerate(kw["stages"]))


def _check_strategies(kw: dict) -> None:
    """Every option value of every strategy the campaign will build, checked now with the
    space and budget it will run with (the key path names the stage)."""
    strategy, budget = kw.get("strategy", StrategyConfig()), kw.get("budget", 50)
    if not kw.get("stages"):
        _check_adaptive(strategy, kw.get("min_trials") is not None, "trials")
        check_strategy(strategy, kw["space"], budget, "strategy")
        return
    for i, st in enumerate(kw["stages"]):
        space = validation_space(kw["space"], st)
        if space is not None:
            path = f"stages[{i}].strategy" if st.strategy is not None else "strategy"
            adaptive = st.min_trials is not None if st.trials is not None else kw.get("min_trials") is not None
            _check_adaptive(st.strategy or strategy, adaptive, f"stages[{i}].trials" if st.trials else "trials")
            check_strategy(st.strategy or strategy, space, st.budget or budget, path)


MAX_CONFIG_BYTES = 1 << 20  # a campaign config is a page or two; 1 MiB is far beyond any real one
MAX_CONFIG_VALUES = 100_000  # values of the config with YAML aliases expanded


def load_yaml(path: str | os.PathLike) -> Any:
    """Read a YAML file with ``yaml.safe_load``: at most MAX_CONFIG_BYTES, and at most
    MAX_CONFIG_VALUES values once aliases are expanded (an alias bomb is refused before
    anything walks it)."""
    import yaml

    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError("", f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError("", f"cannot read config file {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError("", f"config file {path} is larger than {MAX_CONFIG_BYTES >> 20} MiB: not a campaign config")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"cannot read config file {path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError("", f"{path} is not valid YAML{where}: {problem}") from None
    check_size(raw, str(path))
    return raw


def check_size(raw: Any, what: str, limit: int = MAX_CONFIG_VALUES) -> None:
    """Count the values of a loaded document as if its aliases were expanded (a shared list
    counts once per reference), stopping at ``limit``: YAML aliases let a few lines stand
    for billions of values, which json, repr and every later walk would expand."""
    count, stack = 0, [raw]
    while stack:
        value = stack.pop()
        count += 1
        if count > limit:
            raise ConfigError("", f"{what} expands to more than {limit:,} values (YAML aliases?): not a campaign config")
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def check_out(out: str, path: str = "out") -> str:
    """An output directory name the file system can hold (one line, not an OSError later)."""
    parts = [p for p in str(out).split(os.sep) if p]
    too_long = next((p for p in parts if len(p.encode("utf-8", "surrogateescape")) > 255), None)
    if too_long is not None:
        raise ConfigError(path, f"has a path component of {len(too_long.encode('utf-8', 'surrogateescape'))} bytes "
                          f"({too_long[:40]}...); file systems allow 255")
    if len(str(out).encode("utf-8", "surrogateescape")) > 4000:
        raise ConfigError(path, "is longer than 4000 bytes")
    return out


def load_config(path: str | os.PathLike) -> CampaignConfig:
    return parse_config(load_yaml(path), source=str(path))


DEFAULT_CONFIG = Path(__file__).parent / "configs" / "default.yaml"
