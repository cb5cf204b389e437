"""A campaign as an Optuna journal file, so that ``optuna-dashboard`` and
``optuna.visualization`` open it.

Each hyperparameter set becomes one Optuna trial: its value is the set's mean over its
repeated trials (what the campaign ranked by, ``mean + k_std * std`` when ``k_std`` is
given), its state COMPLETE, FAIL or RUNNING; the repeated trials go into user attributes
(``trial_scores``, ``trial_seeds``, ``std``, ``n_ok``, ``set_id``) together with every scalar
the trials' ``info`` holds (averaged over the set's successful trials, as ``info.<key>``),
and per-epoch scores (the mean over the trials at each epoch) are its intermediate values.
Optuna is imported only here (``pip install optuna``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from hyppo_hep.errors import UserError
from hyppo_hep.space import CategoricalParam, FloatParam, IntParam, Space


def distributions(space: Space) -> dict:
    """Optuna distributions of the free parameters (fixed ones become user attributes)."""
    import optuna.distributions as od

    out = {}
    for p in space.free:
        if isinstance(p, IntParam):
            lo, hi = p.value_of(p.lower), p.value_of(p.upper)
            log = bool(getattr(p, "log", False)) and lo > 0
            if isinstance(p.scaling, int):
                out[p.name] = od.IntDistribution(int(lo), int(hi), log=log, step=1 if log else int(p.scaling))
            else:  # a float lattice: Optuna's float step must divide the range exactly, so none
                out[p.name] = od.FloatDistribution(float(lo), float(hi), log=log)
        elif isinstance(p, FloatParam):
            out[p.name] = od.FloatDistribution(float(p.low), float(p.high), log=bool(p.log))
        elif isinstance(p, CategoricalParam):
            out[p.name] = od.CategoricalDistribution(list(p.choices))
    return out


def _info_scalars(rec) -> dict:
    """Mean over the set's successful trials of every numeric scalar in their info."""
    values: dict[str, list[float]] = {}
    for t in rec.trials.values():
        if not t.ok:
            continue
        for key, v in (t.info or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v)):
                values.setdefault(key, []).append(float(v))
    return {f"info.{k}": float(np.mean(v)) for k, v in values.items()}


def _intermediate(rec) -> dict[int, float]:
    """Epoch -> mean score over the trials that reported that epoch."""
    curves = [t.info.get("epoch_scores") for t in rec.trials.values() if t.ok and isinstance(t.info, dict)]
    curves = [c for c in curves if isinstance(c, list)]
    if not curves:
        return {}
    out = {}
    for epoch in range(max(len(c) for c in curves)):
        vals = [float(c[epoch]) for c in curves if epoch < len(c) and isinstance(c[epoch], (int, float))]
        vals = [v for v in vals if math.isfinite(v)]
        if vals:
            out[epoch] = float(np.mean(vals))
    return out


def frozen_trial(rec, space: Space, dists: dict, k_std: float):
    """The Optuna FrozenTrial of one hyperparameter set."""
    import optuna
    from optuna.trial import TrialState

    params = {n: rec.params[n] for n in dists if n in rec.params}
    state = {"done": TrialState.COMPLETE, "failed": TrialState.FAIL}.get(str(getattr(rec.state, "value", rec.state)), TrialState.RUNNING)
    value = rec.objective_value(k_std) if state == TrialState.COMPLETE else None
    attrs = {"set_id": rec.set_id, "n_trials": rec.n_trials, "n_ok": rec.n_ok,
             "mean": None if rec.n_ok == 0 else rec.mean, "std": rec.std,
             "trial_scores": [t.score for _, t in sorted(rec.trials.items())],
             "trial_seeds": list(rec.seeds),
             "trial_errors": [t.error for _, t in sorted(rec.trials.items()) if t.error],
             **{f"fixed.{k}": v for k, v in space.fixed.items()}, **_info_scalars(rec)}
    for key in ("stage", "budget", "rung", "bracket"):
        if getattr(rec, key, None) is not None:
            attrs[key] = getattr(rec, key)
    return optuna.trial.create_trial(state=state, value=value, params=params, distributions=dists,
                                     user_attrs=attrs, intermediate_values=_intermediate(rec) if state == TrialState.COMPLETE else None)


def export_optuna(run, path: str | Path, study_name: str | None = None, k_std: float = 0.0) -> str:
    """Write the sets of ``run`` (an analysis ``Run``: history, space, header) as one Optuna
    study into the journal file ``path`` (appended to if it exists). Returns the study name."""
    try:
        import optuna
        from optuna.storages.journal import JournalFileBackend, JournalStorage
    except ImportError:
        raise UserError("exporting to Optuna needs optuna: pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = study_name or _study_name(run)
    storage = JournalStorage(JournalFileBackend(str(path)))
    if name in [s.study_name for s in optuna.get_all_study_summaries(storage)]:
        raise UserError(f"optuna journal '{path}' already holds a study '{name}': choose another --study name or file")
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize")
    study.set_user_attr("hyppo_hep", {"journal": str(run.path), "strategy": run.strategy, "k_std": k_std,
                                       "objective": str((run.header or {}).get("objective"))})
    dists = distributions(run.space)
    for rec in sorted(run.history.sets.values(), key=lambda r: r.set_id):
        study.add_trial(frozen_trial(rec, run.space, dists, k_std))
    return name


def _study_name(run) -> str:
    parts = [Path(run.root).resolve().name or "campaign"]
    if run.stage:
        parts.append(str(run.stage))
    if run.repeat:
        parts.append(f"repeat{run.repeat}")
    return "/".join(parts)
