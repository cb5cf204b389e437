"""An AutoML baseline beside the tuned classifier (seed 003 compares its tuned DNN with one):
scikit-learn's HistGradientBoostingClassifier with the event weights, itself tuned by a
small seeded random search, on the SAME events, split, class-balanced weights and metrics
as the ``classifier`` objective (weighted BCE on the validation events, weighted AUC, the
training loss on the same probe sample and the gap between them). Like the DNN's search,
the baseline's configuration is chosen on the validation loss, so the two are compared
under one protocol.
"""

from __future__ import annotations

import time

import numpy as np

from hyppo_hep.metrics.classification import weighted_auc, weighted_bce
from hyppo_hep.objectives.classifier import balanced_weights
from hyppo_hep.objectives.common import split


def _configs(n: int, seed: int) -> list[dict]:
    """``n`` seeded random configurations of the booster (log-uniform rates and penalties)."""
    rng = np.random.default_rng(seed)
    return [{"learning_rate": float(10 ** rng.uniform(-2, -0.5)),
             "max_leaf_nodes": int(rng.integers(8, 65)),
             "min_samples_leaf": int(rng.integers(10, 201)),
             "l2_regularization": float(10 ** rng.uniform(-4, 0)),
             "max_iter": int(rng.choice([100, 200, 400]))} for _ in range(n)]


def _scores(model, X, y, w, idx) -> tuple[float, np.ndarray]:
    p = model.predict_proba(X[idx])[:, 1]
    return weighted_bce(y[idx], p, w[idx]), p


def hgb_baseline(X: np.ndarray, y: np.ndarray, w: np.ndarray, val_fraction: float = 0.25, data_seed: int = 0,
                 n_configs: int = 12, seed: int = 0) -> dict:
    """Tune and evaluate the booster. ``X`` (n, d), ``y`` (n,) in {0, 1}, ``w`` (n,) physical
    weights. Returns the best configuration's ``val_loss``, ``auc``, ``train_loss``, ``gap``,
    its ``params``, ``fit_seconds`` over the whole search and every ``trials`` row."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    tr, va = split(len(y), val_fraction, data_seed)
    wb = balanced_weights(y, w)
    probe = np.sort(np.random.default_rng(data_seed + 1).choice(tr, size=min(len(tr), len(va)), replace=False))
    rows, best, t0 = [], None, time.perf_counter()
    for params in _configs(n_configs, seed):
        model = HistGradientBoostingClassifier(**params, early_stopping=False, random_state=seed)
        model.fit(X[tr], y[tr], sample_weight=wb[tr])
        val_loss, p_val = _scores(model, X, y, wb, va)
        train_loss, _ = _scores(model, X, y, wb, probe)
        row = {**params, "val_loss": val_loss, "train_loss": train_loss, "gap": val_loss - train_loss,
               "auc": weighted_auc(y[va], p_val, wb[va])}
        rows.append(row)
        if best is None or val_loss < best["val_loss"]:
            best = row
    out = {k: best[k] for k in ("val_loss", "auc", "train_loss", "gap")}
    return {**out, "params": {k: best[k] for k in _configs(1, 0)[0]}, "fit_seconds": time.perf_counter() - t0,
            "n_configs": n_configs, "trials": rows}


def compare_with_campaign(header: dict, best_trials: list[dict], n_configs: int = 12) -> dict | None:
    """The baseline on a ``classifier`` campaign's own data beside its best set.

    ``header`` is the journal's campaign event (the objective's name and options rebuild the
    very events and split); ``best_trials`` the info dicts of the best set's successful
    trials. None when the campaign did not tune the built-in classifier."""
    objective = header.get("objective") or {}
    if objective.get("name") != "classifier":
        return None
    from hyppo_hep.objectives.classifier import classifier

    obj = classifier(**(objective.get("options") or {}))
    X, y, w = obj.arrays()
    base = hgb_baseline(X, y, w, float(obj.val_fraction), int(obj.data_seed), n_configs)
    dnn = {}
    for key in ("val_loss", "auc", "train_loss", "gap"):
        vals = [float(t[key]) for t in best_trials if isinstance(t.get(key), (int, float))]
        dnn[key] = (float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0) if vals else None
    return {"baseline": base, "dnn": dnn, "n_events": len(y)}
