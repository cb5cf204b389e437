"""A campaign logged to MLflow (the optional ``mlflow`` extra: ``pip install mlflow-skinny``).

One parent MLflow run per journal (tags: strategy, objective, the hyppo_hep journal; params:
the search space; metrics: the best set's mean and std), and one nested run per
hyperparameter set: its params, ``mean``, ``std``, ``n_ok``, every repeated trial's score as
the metric ``trial_score`` (step = trial index), the per-epoch means as ``epoch_score``
(step = epoch) and the set-mean of every scalar of the trials' info as ``info.<key>``.
The best set's run carries the tag ``hyppo_hep.best = true``.
"""

from __future__ import annotations

import math
from pathlib import Path

from hyppo_hep.errors import UserError
from hyppo_hep.interop.optuna_journal import _info_scalars, _intermediate

# MLflow refuses a batch of more than 1000 metrics or 100 params; stay well inside.
_METRIC_BATCH = 900


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


def _set_metrics(rec, Metric, now: int) -> list:
    metrics = [Metric("n_ok", float(rec.n_ok), now, 0)]
    if rec.n_ok:
        metrics += [Metric("mean", rec.mean, now, 0), Metric("std", rec.std, now, 0)]
    metrics += [Metric("trial_score", float(t.score), now, i) for i, t in sorted(rec.trials.items()) if t.ok and _finite(t.score)]
    metrics += [Metric("epoch_score", v, now, e) for e, v in _intermediate(rec).items()]
    metrics += [Metric(k, v, now, 0) for k, v in _info_scalars(rec).items()]
    return metrics


def log_mlflow(run, tracking_uri: str, experiment: str | None = None, k_std: float = 0.0) -> str:
    """Log ``run`` (an analysis ``Run``) to the MLflow tracking store at ``tracking_uri``
    (e.g. ``sqlite:///mlflow.db``; MLflow 3 refuses plain ``./mlruns`` directories unless
    ``MLFLOW_ALLOW_FILE_STORE=true``). Returns the parent run's id."""
    try:
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError("logging to MLflow needs mlflow: pip install 'hyppo_hep[mlflow]' (mlflow-skinny)") from None
    try:
        return _log(run, MlflowClient(tracking_uri=tracking_uri), experiment, k_std, Metric, Param)
    except Exception as exc:  # noqa: BLE001 — MlflowException and store errors: one line, not a traceback
        if isinstance(exc, UserError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"mlflow at '{tracking_uri}': {first}") from None


def _log(run, client, experiment, k_std, Metric, Param) -> str:
    import time

    name = experiment or (Path(run.root).resolve().name or "hyppo_hep")
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name)
    now = int(time.time() * 1000)
    best = run.history.best(k_std)
    parent = client.create_run(exp_id, run_name=run.label or name, tags={
        "hyppo_hep.journal": str(run.path), "hyppo_hep.strategy": run.strategy,
        "hyppo_hep.objective": str((run.header or {}).get("objective"))})
    pid = parent.info.run_id
    space = run.space.to_dict()
    client.log_batch(pid, params=[Param(f"space.{k}", str(v)[:500]) for k, v in list(space.items())[:100]],
                     metrics=[Metric("best_mean", best.mean, now, 0), Metric("best_std", best.std, now, 0),
                              Metric("n_sets", float(len(run.history)), now, 0)] if best else [])
    for rec in sorted(run.history.sets.values(), key=lambda r: r.set_id):
        tags = {"mlflow.parentRunId": pid, "hyppo_hep.set_id": str(rec.set_id),
                "hyppo_hep.state": str(getattr(rec.state, "value", rec.state))}
        if best is not None and rec.set_id == best.set_id:
            tags["hyppo_hep.best"] = "true"
        child = client.create_run(exp_id, run_name=f"set {rec.set_id}", tags=tags)
        params = [Param(k, str(v)[:500]) for k, v in list(rec.params.items())[:100]]
        metrics = _set_metrics(rec, Metric, now)
        for i in range(0, max(len(metrics), 1), _METRIC_BATCH):
            client.log_batch(child.info.run_id, metrics=metrics[i:i + _METRIC_BATCH], params=params if i == 0 else [])
        client.set_terminated(child.info.run_id, "FINISHED" if rec.n_ok else "FAILED")
    client.set_terminated(pid, "FINISHED" if run.finished else "KILLED")
    return pid
