"""``hyppo-hep validate config.yaml [--set k=v] [--probe]``: parse and validate a campaign
without writing anything, and say what it will do; ``--probe`` trains one trial of the
space's centre set here to estimate the campaign's duration on the current resources."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hyppo_hep.errors import UserError


def _space_lines(space) -> list[str]:
    levels = space.n_levels() if space.dim else np.zeros(0)
    size = float(np.prod(levels)) if len(levels) else 1.0
    size_text = "continuous" if not np.isfinite(size) else f"{size:.3g} lattice points"
    lines = [f"space: {space.dim} free parameter(s), {len(space.fixed)} fixed; {size_text}"]
    for name, spec in space.to_dict().items():
        lines.append(f"  {name}: {spec}")
    return lines


def _writes(out: str) -> str:
    journal = Path(out) / "journal.jsonl"
    if journal.exists():
        return (f"writes: {out}/ (journal.jsonl, results.csv): a journal is already there; "
                f"run with --resume to continue it or --overwrite to start over")
    return f"writes: {out}/ (journal.jsonl, results.csv)"


def _executor_line(cfg) -> str:
    ex = cfg.executor
    workers = getattr(ex, "workers", None)
    local = f"{ex.kind}" + (f" with {workers} workers" if workers else "")
    return (f"executor: {local}; isolation {cfg.isolation}; trial timeout "
            f"{'none' if cfg.trial_timeout is None else f'{cfg.trial_timeout:g} s'}"
            f" (under mpiexec/srun: rank 0 proposes, the other ranks train)")


def describe(cfg) -> list[str]:
    strategy = f"{cfg.strategy.name}" + (f" {cfg.strategy.options}" if cfg.strategy.options else "")
    lines = [f"objective: {cfg.objective.name}" + (f" {cfg.objective.options}" if cfg.objective.options else ""),
             *_space_lines(cfg.space),
             f"search: strategy {strategy}, budget {cfg.describe_budget()} "
             f"= {'at most ' if cfg.min_trials or cfg.budget_trainings else ''}{cfg.max_trainings} trainings, seed {cfg.seed}" + (f", {cfg.repeat} repeats" if cfg.repeat > 1 else "")]
    for i, st in enumerate(cfg.stages):
        lines.append(f"  stage {i}: {getattr(st, 'name', '')} {_stage_summary(st)}")
    lines += [_executor_line(cfg), _writes(cfg.out)]
    return lines


def _stage_summary(st) -> str:
    keys = ("strategy", "budget", "trials", "epochs", "narrow", "scan")
    parts = [f"{k} {getattr(st, k)}" for k in keys if getattr(st, k, None) not in (None, (), {})]
    return ", ".join(str(p) for p in parts)


def probe_campaign(cfg, workers: int | None) -> list[str]:
    """Train one trial of the space's centre set and extrapolate to the whole campaign."""
    from hyppo_hep.device import pick_device

    params = cfg.space.decode(np.full(cfg.space.dim, 0.5))
    objective = cfg.objective.build()
    device = pick_device()
    t0 = time.perf_counter()
    try:
        out = objective(params, 0, 0, device)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 — the probe reports what the campaign would meet
        raise UserError(f"probe: one trial of {params} failed: {type(exc).__name__}: {exc}".replace("\n", " ")) from None
    seconds = time.perf_counter() - t0
    score = out.get("score") if isinstance(out, dict) else out
    n = workers or getattr(cfg.executor, "workers", None) or 1
    total = seconds * cfg.max_trainings * max(1, cfg.repeat) / n
    from hyppo_hep.console import hms

    return [f"probe: one trial of {params} on {device} took {seconds:.3g} s (score {score})",
            f"estimate: {cfg.max_trainings} trainings x {seconds:.3g} s / {n} parallel trial(s) "
            f"= about {hms(total)} (centre set; trial times vary with the hyperparameters)"]


def validate(config: str | None, overrides: list[str] | None = None, *, probe: bool = False,
             workers: int | None = None) -> str:
    """The text ``hyppo-hep validate`` prints (UserError for an invalid config)."""
    from hyppo_hep.overrides import load_config

    cfg = load_config(config, overrides)
    cfg.objective.check()
    lines = [f"config: {config or 'built-in default'}: valid", *describe(cfg)]
    if probe:
        lines += probe_campaign(cfg, workers)
    return "\n".join(lines)

