"""Weighted signal/background DNN objective: ``classifier``.

Training uses the event weights, rescaled per class so that signal and background carry
equal total weight (the physical weights would make a 1:16 signal fraction and a
classifier that never says "signal"); the rescaling is kept for validation. After every
epoch the weighted validation loss (binary cross-entropy + nothing else) is computed;
training stops early after ``patience`` epochs without improvement and the trial's
score is the best epoch's validation loss (``score: loss``, default) or 1 - weighted ROC
AUC at that epoch (``score: auc``). Both are reported.

Hyperparameters (defaults in ``DEFAULTS``): hidden_layers 2, width 64, activation relu,
dropout 0.1, lr 1e-3, l1 0, l2 0 (Keras-style kernel penalties), batch_size 256,
epochs (the maximum; overrides the option), patience 3.

Options: ``epochs`` (20), ``n_events`` (20000 generated events; with ``data``, a seeded
subsample of that many of the file's events, all of them when not given), ``n_features`` (5 or 50), ``val_fraction``
(0.25), ``score`` (loss | auc), ``data`` (user data ``{path, key, columns, label, weight}``;
``weight`` optional), ``cache_dir``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hyppo_hep.data import cache, classification, loaders
from hyppo_hep.errors import UserError
from hyppo_hep.objectives.common import check_names, require, resolve_params, seeded_generator, shuffled_batches, split, sync, to_device, user_data

GENERATED_EVENTS = 20000  # n_events of the generated sample when the config gives none

DEFAULTS = {"hidden_layers": 2, "width": 64, "activation": "relu", "dropout": 0.1, "lr": 1e-3,
            "l1": 0.0, "l2": 0.0, "batch_size": 256, "epochs": 20, "patience": 3}


def balanced_weights(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weights rescaled so each class sums to half the number of events (mean weight 1)."""
    out = np.asarray(w, dtype=np.float64).copy()
    for label in (0.0, 1.0):
        sel = y == label
        out[sel] *= 0.5 * len(y) / out[sel].sum()
    return out


@dataclass
class ClassifierObjective:
    epochs: int = 20
    n_events: int | None = None  # generated data: 20000; user data: all events unless given
    n_features: int = 5
    val_fraction: float = 0.25
    score: str = "loss"
    data: dict | None = None
    cache_dir: str | None = None
    data_seed: int = 0
    name: str = "classifier"

    def __post_init__(self):
        require(self.name, self.score in ("loss", "auc"), f"score must be 'loss' or 'auc', got {self.score!r}")
        require(self.name, int(self.n_features) in (5, 50), f"n_features must be 5 or 50, got {self.n_features}")
        require(self.name, 0 < float(self.val_fraction) < 1, "val_fraction must be in (0, 1)")

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features (n, d), labels (n,) in {0, 1} and event weights (n,)."""
        if self.data is not None:
            spec = self.data

            def load():
                require(self.name, isinstance(spec, dict) and spec.get("label"), "data needs 'label' (the label column)")
                X, extra = loaders.table_from_spec(spec, self.name, self.n_events)
                y = extra["label"]
                w = extra.get("weight", np.ones(len(y)))
                if not np.isin(y, (0.0, 1.0)).all():
                    raise UserError(f"objective '{self.name}': label column '{spec['label']}' in '{spec['path']}' must hold only 0 and 1")
                require(self.name, 0 < y.sum() < len(y), f"data: '{spec['path']}' needs events of both classes")
                require(self.name, (w >= 0).all(), f"data: negative weights in '{spec['path']}' are not supported")
                return X, y, w

            return user_data({**spec, "n_events": spec.get("n_events", self.n_events)}, load)  # memo per subsample
        args = {"n_events": int(self.n_events or GENERATED_EVENTS), "seed": self.data_seed, "n_features": int(self.n_features)}
        d = cache.cached("classification", args, lambda: classification.generate(**args), self.cache_dir)
        return d["X"], d["y"], d["w"]

    def __call__(self, params: dict, trial: int, seed: int, device: str) -> dict:
        p = resolve_params(self.name, params, dict(DEFAULTS, epochs=int(self.epochs)))
        for key in ("hidden_layers", "width", "batch_size", "epochs", "patience"):
            require(self.name, p[key] >= 1, f"hyperparameter {key} must be >= 1, got {p[key]}")
        require(self.name, p["lr"] > 0 and p["l1"] >= 0 and p["l2"] >= 0, "lr must be > 0, l1 and l2 >= 0")
        require(self.name, 0 <= p["dropout"] < 1, f"hyperparameter dropout must be in [0, 1), got {p['dropout']}")
        check_names(self.name, p, {"activation": "ACTIVATIONS"})
        X, y, w = self.arrays()
        return train_classifier(p, X, y, w, self.val_fraction, self.score, self.data_seed, seed, device)


def train_classifier(p: dict, X, y, w, val_fraction: float, score: str, data_seed: int, seed: int, device: str) -> dict:
    import torch
    import torch.nn.functional as F

    from hyppo_hep.metrics.classification import weighted_auc_torch
    from hyppo_hep.fidelity import report as report_epoch
    from hyppo_hep.models.classifier import DNN
    from hyppo_hep.models.common import count_parameters, optimizer

    tr, va = split(len(y), val_fraction, data_seed)
    wb = balanced_weights(y, w)
    mu, sd = X[tr].mean(0), X[tr].std(0)
    sd = np.where(sd > 0, sd, 1.0)
    Xt = to_device((X - mu) / sd, device)
    yt, wt = to_device(y, device), to_device(wb, device)
    tr_t, va_t = torch.as_tensor(tr, device=device), torch.as_tensor(va, device=device)
    w_val = wt[va_t] / wt[va_t].sum()

    gen = seeded_generator(seed, device)
    model = DNN(X.shape[1], p["hidden_layers"], p["width"], p["activation"], p["dropout"]).to(device)
    opt = optimizer("adam", model.parameters(), p["lr"])

    def evaluate() -> tuple[float, float]:
        model.eval()
        with torch.no_grad():
            logits = model(Xt[va_t])
            loss = float((F.binary_cross_entropy_with_logits(logits, yt[va_t], reduction="none") * w_val).sum())
            auc = weighted_auc_torch(yt[va_t], logits, wt[va_t])
        model.train()
        return loss, auc

    t0 = time.perf_counter()
    untrained_loss, untrained_auc = evaluate()
    metric_time, train_time = time.perf_counter() - t0, 0.0
    losses, aucs, best, best_state, since = [], [], float("inf"), None, 0
    bs = min(p["batch_size"], len(tr))
    for _ in range(p["epochs"]):
        sync(device)
        t0 = time.perf_counter()
        for idx in shuffled_batches(tr_t, bs, gen):
            per_event = F.binary_cross_entropy_with_logits(model(Xt[idx]), yt[idx], reduction="none")
            loss = (per_event * wt[idx]).mean() + model.penalty(p["l1"], p["l2"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        t1 = time.perf_counter()
        val_loss, auc = evaluate()
        train_time += t1 - t0
        metric_time += time.perf_counter() - t1
        losses.append(val_loss if np.isfinite(val_loss) else float("inf"))
        aucs.append(auc)
        if report_epoch(len(losses) - 1, losses[-1] if score == "loss" else 1.0 - auc):
            break  # multi-fidelity budget or median rule
        if losses[-1] < best:
            best, since = losses[-1], 0
        else:
            since += 1
            if since >= p["patience"]:
                break  # early stopping on the validation loss
    k = int(np.argmin(losses))
    return {
        "score": losses[k] if score == "loss" else 1.0 - aucs[k],
        "val_loss": losses[k], "auc": aucs[k], "best_epoch": k + 1, "epochs_run": len(losses),
        "epoch_scores": losses if score == "loss" else [1.0 - a for a in aucs],
        "untrained_score": untrained_loss if score == "loss" else 1.0 - untrained_auc,
        "n_params": count_parameters(model), "wall_time_train": train_time, "wall_time_metric": metric_time,
        "events_per_second": len(tr) * len(losses) / max(train_time, 1e-9),
    }


def classifier(epochs: int = 20, n_events: int | None = None, n_features: int = 5, val_fraction: float = 0.25,
               score: str = "loss", data: dict | None = None, cache_dir: str | None = None,
               data_seed: int = 0) -> ClassifierObjective:
    """Factory: the weighted signal/background DNN objective."""
    return ClassifierObjective(epochs, n_events, n_features, val_fraction, score, data, cache_dir, data_seed)
