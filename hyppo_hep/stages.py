"""Campaign stages: a broad search, then a focus search on narrowed ranges, then scans.

A campaign config may list ``stages``; each stage is one search (its own journal in
``out/<index>_<name>/``) over a space derived from the top-level ``space``:

- ``ranges``: absent (the top-level ranges), a mapping of parameter specs that replace the
  top-level ones, or ``auto``: narrowed to where the previous stage's good sets lie
  (:func:`derive_focus_space`; good = mean below ``threshold``, or the best ``quantile``);
- ``fixed``: parameters held at a value in this stage (``{epochs: 20}``); objectives read
  them from ``params`` like any other hyperparameter;
- ``budget``, ``trials``, ``strategy``: override the top-level values;
- ``scan``: a one-parameter scan (Figure 5 of the Hyppo study): ``param`` on a ``linear`` or
  ``log`` grid of ``points`` values in [``low``, ``high``] (default: its top-level range),
  for each of ``epochs`` (a list), every other parameter held at ``at`` (``best``: the best
  set of the previous stage; or a mapping of values). Runs as a grid over (param, epochs).

Derivation is a pure function of (space, history) so that a resumed campaign derives the
same ranges; they are also recorded in the stage journal's ``stage_started`` event.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hyppo_hep.errors import ConfigError
from hyppo_hep.parsing import (check_keys, parse_strategy, read_budget, read_int as _int, read_mapping as _mapping, read_number,
                               read_str as _str, read_trials)
from hyppo_hep.space import CategoricalParam, FixedParam, FloatParam, IntParam, Space, parse_param

STAGE_KEYS = ("name", "budget", "trials", "strategy", "fixed", "ranges", "quantile", "threshold", "margin",
              "scan", "at")
SCAN_KEYS = ("param", "values", "low", "high", "points", "epochs", "epochs_param")


@dataclass(frozen=True)
class ScanConfig:
    param: str
    log: bool = False
    low: float | None = None
    high: float | None = None
    points: int = 10
    epochs: tuple = ()
    epochs_param: str = "epochs"


@dataclass(frozen=True)
class StageConfig:
    """One stage; ``None`` means "the top-level value"."""

    name: str
    budget: int | None = None
    trials: int | None = None  # the max when adaptive (the top-level's meaning)
    min_trials: int | None = None  # adaptive repeats of this stage (when ``trials`` is given)
    confirm: int = 0
    budget_trainings: int | None = None
    strategy: Any = None  # StrategyConfig | None
    fixed: dict = field(default_factory=dict)
    ranges: Any = None  # None | "auto" | {name: spec}
    quantile: float | None = None
    threshold: float | None = None
    margin: float = 0.1
    scan: ScanConfig | None = None
    at: Any = "best"  # "best" | {name: value}


_number = read_number


def parse_scan(raw: Any, path: str) -> ScanConfig:
    raw = _mapping(raw, path)
    check_keys(raw, SCAN_KEYS, path)
    if "param" not in raw:
        raise ConfigError(f"{path}.param", "is missing")
    values = raw.get("values", "linear")
    if values not in ("linear", "log"):
        raise ConfigError(f"{path}.values", f"({values!r}) must be linear or log")
    low = _number(raw["low"], f"{path}.low") if "low" in raw else None
    high = _number(raw["high"], f"{path}.high") if "high" in raw else None
    if low is not None and high is not None and high <= low:
        raise ConfigError(f"{path}.high", f"({high:g}) must be above low ({low:g})")
    if values == "log" and low is not None and low <= 0:
        raise ConfigError(f"{path}.low", f"({low:g}) must be > 0 on a log grid")
    epochs = raw.get("epochs", [])
    if not isinstance(epochs, list):
        epochs = [epochs]
    for i, e in enumerate(epochs):
        _int(e, f"{path}.epochs[{i}]", 1)
    return ScanConfig(_str(raw["param"], f"{path}.param"), values == "log", low, high,
                      _int(raw.get("points", 10), f"{path}.points", 2), tuple(epochs),
                      _str(raw.get("epochs_param", "epochs"), f"{path}.epochs_param"))


def parse_stages(raw: Any, space: Space, path: str = "stages") -> tuple[StageConfig, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(path, "must be a non-empty list of stages")
    stages, names = [], set()
    for i, item in enumerate(raw):
        stage = _parse_stage(item, i, space, f"{path}[{i}]")
        if stage.name in names:
            raise ConfigError(f"{path}[{i}].name", f"({stage.name!r}) is used by an earlier stage")
        names.add(stage.name)
        stages.append(stage)
    return tuple(stages)


def _parse_stage(item: Any, i: int, space: Space, p: str) -> StageConfig:
    """Stage ``i`` (key path ``p``)."""
    item = _mapping(item, p)
    check_keys(item, STAGE_KEYS, p)
    name = _str(item.get("name", f"stage{i}"), f"{p}.name")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ConfigError(f"{p}.name", f"({name!r}) may hold only letters, digits, '_', '-' and '.'")
    kw: dict[str, Any] = {"name": name}
    if "trials" in item:
        kw["trials"], kw["min_trials"], kw["confirm"] = read_trials(item["trials"], f"{p}.trials")
    if "budget" in item:
        kw["budget"], kw["budget_trainings"] = read_budget(item["budget"], f"{p}.budget")
    if "strategy" in item:
        kw["strategy"] = parse_strategy(item["strategy"], f"{p}.strategy")
    if "fixed" in item:
        fixed = _mapping(item["fixed"], f"{p}.fixed")
        kw["fixed"] = {k: (v["value"] if isinstance(v, dict) and set(v) == {"value"} else v) for k, v in fixed.items()}
        for k, v in kw["fixed"].items():
            if isinstance(v, dict):
                raise ConfigError(f"{p}.fixed.{k}", "must be a value (a range belongs in ranges)")
    kw.update(_parse_ranges(item, i, space, p))
    if "scan" in item:
        kw.update(_parse_scan_stage(item, i, space, p, kw.get("ranges")))
    elif "at" in item:
        raise ConfigError(f"{p}.at", "only applies to a scan stage")
    return StageConfig(**kw)


def _parse_ranges(item: dict, i: int, space: Space, p: str) -> dict:
    """``ranges`` and the keys of its ``auto`` derivation (quantile, threshold, margin)."""
    kw: dict[str, Any] = {}
    ranges = item.get("ranges")
    if ranges == "auto":
        if i == 0:
            raise ConfigError(f"{p}.ranges", "auto needs a previous stage to derive the ranges from")
        kw["ranges"] = "auto"
    elif ranges is not None:
        ranges = _mapping(ranges, f"{p}.ranges")
        for k, spec in ranges.items():
            if k not in [q.name for q in space.params]:
                raise ConfigError(f"{p}.ranges.{k}", "is not a parameter of space")
            parse_param(k, spec, f"{p}.ranges.{k}")  # validated now, built later
        kw["ranges"] = dict(ranges)
    if "quantile" in item:
        q = _number(item["quantile"], f"{p}.quantile")
        if not 0 < q <= 1:
            raise ConfigError(f"{p}.quantile", f"({q:g}) must be in (0, 1]")
        kw["quantile"] = q
    if "threshold" in item:
        kw["threshold"] = _number(item["threshold"], f"{p}.threshold")
    if ("quantile" in item or "threshold" in item) and kw.get("ranges") != "auto":
        raise ConfigError(f"{p}.{'quantile' if 'quantile' in item else 'threshold'}", "only applies with ranges: auto")
    if "margin" in item:
        m = _number(item["margin"], f"{p}.margin")
        if not 0 <= m <= 1:
            raise ConfigError(f"{p}.margin", f"({m:g}) must be in [0, 1] (a fraction of the range)")
        kw["margin"] = m
    return kw


def _parse_scan_stage(item: dict, i: int, space: Space, p: str, ranges) -> dict:
    scan = parse_scan(item["scan"], f"{p}.scan")
    if scan.param not in space.names:
        raise ConfigError(f"{p}.scan.param", f"({scan.param!r}) is not a free parameter of space")
    if "strategy" in item or "budget" in item or ranges is not None:
        raise ConfigError(f"{p}.scan", "a scan stage sets its own grid: drop strategy, budget and ranges")
    at = item.get("at", "best")
    if at != "best":
        at = _mapping(at, f"{p}.at")
    elif i == 0:
        raise ConfigError(f"{p}.at", "best needs a previous stage: give the other parameters' values")
    return {"scan": scan, "at": at}


# --- range derivation (pure) ---------------------------------------------------------------

def good_mask(mean: np.ndarray, quantile: float | None = None, threshold: float | None = None) -> np.ndarray:
    """Which of ``n`` sets (means, lower is better) are good: ``mean <= threshold`` when a
    threshold is given, else the best ``ceil(quantile * n)`` (default quantile 0.1; at least
    one). Shape ``(n,)`` bool."""
    mean = np.asarray(mean, dtype=float)
    if threshold is not None:
        return mean <= threshold
    k = max(1, int(math.ceil((0.1 if quantile is None else quantile) * len(mean))))
    order = np.argsort(mean, kind="stable")
    mask = np.zeros(len(mean), dtype=bool)
    mask[order[:k]] = True
    return mask


def derive_focus_space(space: Space, history, *, quantile: float | None = None, threshold: float | None = None,
                       margin: float = 0.1) -> tuple[Space, dict]:
    """Narrow ``space`` to the bounding box of the good sets of ``history`` (done sets only).

    Each free parameter's range becomes [min, max] over the good sets, padded on each side
    by ``margin`` times the width of its range in ``space`` and clipped to it. Integer
    lattices are padded in index units and rounded outwards, so the new range is a
    sub-lattice with the same scaling; floats are padded on their own (log) scale;
    categoricals keep the choices the good sets used. Returns (new space, note) where the
    note records n_done, n_good, the rule, and per parameter the old and new range.
    """
    done = [r for r in history.done if _in_space(space, r.params)]
    if not done:
        raise ValueError("no finished set to derive focus ranges from")
    mean = np.array([r.mean for r in done])
    mask = good_mask(mean, quantile, threshold)
    if not mask.any():
        raise ValueError(f"no finished set has a mean below the threshold {threshold:g} (best {mean.min():.5g})")
    good = [r.params for r, m in zip(done, mask) if m]
    params, ranges = [], {}
    for p in space.params:
        vals = [g[p.name] for g in good]
        if isinstance(p, IntParam):
            idx = np.array([p.index_of(v) for v in vals])
            pad = margin * (p.upper - p.lower)
            lo = max(p.lower, int(math.floor(idx.min() - pad + 1e-9)))
            hi = min(p.upper, int(math.ceil(idx.max() + pad - 1e-9)))
            q = IntParam(p.name, lo, hi, p.scaling)
            ranges[p.name] = {"was": [p.value_of(p.lower), p.value_of(p.upper)], "now": [q.value_of(lo), q.value_of(hi)]}
        elif isinstance(p, FloatParam):
            t = (np.log if p.log else np.asarray)(np.array(vals, dtype=float))
            a, b = (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)
            lo, hi = max(a, t.min() - margin * (b - a)), min(b, t.max() + margin * (b - a))
            lo, hi = (math.exp(lo), math.exp(hi)) if p.log else (lo, hi)
            lo, hi = max(p.low, lo), min(p.high, hi)  # exp(log(x)) may overshoot by an ulp
            q = FloatParam(p.name, lo, hi, p.log)
            ranges[p.name] = {"was": [p.low, p.high], "now": [lo, hi]}
        elif isinstance(p, CategoricalParam):
            used = {repr(v) for v in vals}
            q = CategoricalParam(p.name, tuple(c for c in p.choices if repr(c) in used))
            ranges[p.name] = {"was": list(p.choices), "now": list(q.choices)}
        else:
            q = p
        params.append(q)
    rule = f"mean <= {threshold:g}" if threshold is not None else f"best {quantile if quantile is not None else 0.1:g} quantile"
    note = {"n_done": len(done), "n_good": int(mask.sum()), "rule": rule, "margin": margin, "ranges": ranges,
            "good_set_ids": [r.set_id for r, m in zip(done, mask) if m]}
    return Space(params), note


def _in_space(space: Space, params: dict) -> bool:
    try:
        space.encode(params)
        return True
    except ValueError:
        return False


def describe_ranges(note: dict) -> list[str]:
    """Human lines for the derived ranges (printed and kept in the report)."""
    lines = [f"focus ranges from {note['n_good']} of {note['n_done']} sets ({note['rule']}, margin {note['margin']:g}):"]
    for name, r in note["ranges"].items():
        was, now = r["was"], r["now"]
        if len(was) == 2 and not isinstance(was[0], str) and len(now) == 2:
            lines.append(f"  {name}: {now[0]:.6g} .. {now[1]:.6g}   (was {was[0]:.6g} .. {was[1]:.6g})")
        else:
            lines.append(f"  {name}: {now}   (was {was})")
    return lines


# --- a stage's space -------------------------------------------------------------------------

def with_fixed(space: Space, fixed: dict) -> Space:
    """``space`` with the parameters in ``fixed`` held at their values (added if new)."""
    params = [FixedParam(p.name, fixed[p.name]) if p.name in fixed else p for p in space.params]
    names = {p.name for p in space.params}
    params += [FixedParam(k, v) for k, v in fixed.items() if k not in names]
    return Space(params)


def scan_space(space: Space, scan: ScanConfig, at: dict) -> Space:
    """The space of a scan: ``scan.param`` free as a float on [low, high] (linear or log), the
    epochs (if any) a categorical of the listed counts, everything else fixed at ``at``."""
    target = next(p for p in space.free if p.name == scan.param)
    if isinstance(target, IntParam):
        low, high = target.value_of(target.lower), target.value_of(target.upper)
    elif isinstance(target, FloatParam):
        low, high = target.low, target.high
    else:
        raise ConfigError("scan.param", f"({scan.param!r}) is categorical: a scan needs a numeric parameter")
    low = scan.low if scan.low is not None else low
    high = scan.high if scan.high is not None else high
    if scan.log and low <= 0:
        raise ConfigError("scan.low", f"({low:g}) must be > 0 on a log grid")
    params = []
    for p in space.params:
        if p.name == scan.param:
            params.append(FloatParam(p.name, float(low), float(high), scan.log))
        elif p.name == scan.epochs_param and scan.epochs:
            continue
        elif isinstance(p, FixedParam):
            params.append(p)
        else:
            if p.name not in at:
                raise ConfigError("at", f"gives no value for '{p.name}'")
            params.append(FixedParam(p.name, at[p.name]))
    if scan.epochs:
        params.append(CategoricalParam(scan.epochs_param, tuple(scan.epochs)))
    return Space(params)


def stage_space(base: Space, stage: StageConfig, prev: tuple[Space, Any] | None) -> tuple[Space, dict | None]:
    """The space stage ``stage`` searches, given the top-level space and the previous stage's
    (space, history); plus the derivation note for ``ranges: auto`` (else None)."""
    note = None
    space = base
    if stage.scan is not None:
        if stage.at == "best":
            best = prev[1].best() if prev else None
            if best is None:
                raise ValueError("the previous stage has no finished set to centre the scan on")
            at = dict(best.params)
            note = {"at": at, "at_set_id": best.set_id}
        else:
            at = dict(stage.at)
        return with_fixed(scan_space(base, stage.scan, at), stage.fixed), note
    if stage.ranges == "auto":
        space, note = derive_focus_space(prev[0], prev[1], quantile=stage.quantile, threshold=stage.threshold,
                                         margin=stage.margin)
        # a parameter the previous stage only held fixed (its epochs) gets its top-level spec back
        derived = {q.name: q for q in space.params}
        space = Space([derived[p.name] if not isinstance(derived.get(p.name, p), FixedParam) else p
                       for p in base.params])
    elif isinstance(stage.ranges, dict):
        space = Space([parse_param(p.name, stage.ranges[p.name], f"ranges.{p.name}") if p.name in stage.ranges else p
                       for p in base.params])
    return with_fixed(space, stage.fixed), note


def validation_space(base: Space, stage: StageConfig) -> Space | None:
    """The space stage ``stage``'s strategy will search, as far as the config alone says
    (``ranges: auto`` narrows the ranges of ``base`` later, keeping their kinds): what its
    strategy options are checked against when the config is parsed. None for a scan stage,
    whose grid the campaign builds itself."""
    if stage.scan is not None:
        return None
    space = base
    if isinstance(stage.ranges, dict):
        space = Space([parse_param(p.name, stage.ranges[p.name], f"ranges.{p.name}") if p.name in stage.ranges else p
                       for p in base.params])
    return with_fixed(space, stage.fixed)
