"""Weighted signal/background DNN objective: ``classifier``.

Training uses the event weights, rescaled per class so that signal and background carry
equal total weight (the physical weights would make a 1:16 signal fraction and a
classifier that never says "signal"); the rescaling is kept for validation. After every
epoch the weighted validation loss (binary cross-entropy + nothing else) is computed;
training stops early after ``patience`` epochs without improvement and the trial's
score is the best epoch's validation loss (``score: loss``, default), 1 - weighted ROC
AUC at that epoch (``score: auc``), or the overfitting-aware score (``score: overfit``):

    overfit score = val_loss + overfit_penalty * max(0, val_loss - train_loss)

where both losses are the weighted binary cross-entropy of the network in evaluation mode
(no dropout), with the class-balanced weights, the training loss on a fixed sample of the
training events as large as the validation set. A network that fits its training events
much better than unseen ones pays for the gap (seed 003 watches exactly this); with
``overfit_penalty: 0`` it is the validation loss. Under ``overfit`` the best epoch and early
stopping follow the overfit score. Every trial records ``val_loss``, ``train_loss``, ``gap``,
``overfit_score`` and ``auc`` at its best epoch, whatever the score.

Hyperparameters (defaults in ``DEFAULTS``): hidden_layers 2, width 64, activation relu,
dropout 0.1, lr 1e-3, l1 0, l2 0 (Keras-style kernel penalties), batch_size 256,
epochs (the maximum; overrides the option), patience 3.

Options: ``epochs`` (20), ``n_events`` (20000 generated events; with ``data``, a seeded
subsample of that many of the file's events, all of them when not given), ``n_features`` (5 or 50), ``val_fraction``
(0.25), ``score`` (loss | auc | overfit), ``overfit_penalty`` (1.0), ``data`` (user data ``{path, key, columns, label, weight}``;
``weight`` optional), ``cache_dir``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hyppo_hep.data import cache, classification, loaders
from hyppo_hep.errors import UserError
from hyppo_hep.objectives.common import check_names, require, resolve_params, seeded_generator, shuffled_batches, split, sync, to_device, user_data

SCORES = ("loss", "auc", "overfit")
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
    overfit_penalty: float = 1.0
    name: str = "classifier"

    def __post_init__(self):
        require(self.name, self.score in SCORES, f"score must be one of {', '.join(SCORES)}, got {self.score!r}")
        require(self.name, float(self.overfit_penalty) >= 0, f"overfit_penalty must be >= 0, got {self.overfit_penalty}")
        require(self.name, int(self.n_features) in (5, 50), f"n_features must be 5 or 50, got {self.n_features}")
        require(self.name, 0 < float(self.val_fraction) < 1, "val_fraction must be in (0, 1)")

    def defaults(self) -> dict:
        """The hyperparameters a trial takes where its set gives none (``start: [defaults]``)."""
        return dict(DEFAULTS, epochs=int(self.epochs))

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
        p = resolve_params(self.name, params, self.defaults())
        for key in ("hidden_layers", "width", "batch_size", "epochs", "patience"):
            require(self.name, p[key] >= 1, f"hyperparameter {key} must be >= 1, got {p[key]}")
        require(self.name, p["lr"] > 0 and p["l1"] >= 0 and p["l2"] >= 0, "lr must be > 0, l1 and l2 >= 0")
        require(self.name, 0 <= p["dropout"] < 1, f"hyperparameter dropout must be in [0, 1), got {p['dropout']}")
        check_names(self.name, p, {"activation": "ACTIVATIONS"})
        X, y, w = self.arrays()
        return train_classifier(p, X, y, w, self.val_fraction, self.score, self.data_seed, seed, device,
                                float(self.overfit_penalty))


def _epoch_score(score: str, val_loss: float, auc: float, train_loss: float, penalty: float) -> float:
    """The number a trial is ranked and early-stopped by (see the module docstring)."""
    if score == "auc":
        return 1.0 - auc
    if score == "overfit":
        return val_loss + penalty * max(0.0, val_loss - train_loss)
    return val_loss


def _tensors(X, y, w, val_fraction: float, data_seed: int, device: str) -> dict:
    """Standardised features, labels, balanced weights and the index tensors of the
    training, validation and training-loss-probe events, on ``device``."""
    import torch

    tr, va = split(len(y), val_fraction, data_seed)
    wb = balanced_weights(y, w)
    mu, sd = X[tr].mean(0), X[tr].std(0)
    sd = np.where(sd > 0, sd, 1.0)
    t = {"X": to_device((X - mu) / sd, device), "y": to_device(y, device), "w": to_device(wb, device),
         "tr": torch.as_tensor(tr, device=device), "va": torch.as_tensor(va, device=device)}
    # the training loss is measured on a fixed sample as large as the validation set, so
    # that the gap compares like with like and costs no more than the validation pass
    probe = np.random.default_rng(data_seed + 1).choice(tr, size=min(len(tr), len(va)), replace=False)
    t["probe"] = torch.as_tensor(np.sort(probe), device=device)
    return t


def _weighted_loss(model, t: dict, idx) -> tuple[float, object]:
    """Weighted BCE of ``model`` (eval mode) on the events ``idx`` and its logits."""
    import torch.nn.functional as F

    logits = model(t["X"][idx])
    w = t["w"][idx] / t["w"][idx].sum()
    return float((F.binary_cross_entropy_with_logits(logits, t["y"][idx], reduction="none") * w).sum()), logits


def _evaluate(model, t: dict) -> tuple[float, float, float]:
    """(validation loss, weighted validation AUC, training loss), network in eval mode."""
    import torch

    from hyppo_hep.metrics.classification import weighted_auc_torch

    model.eval()
    with torch.no_grad():
        val_loss, logits = _weighted_loss(model, t, t["va"])
        auc = weighted_auc_torch(t["y"][t["va"]], logits, t["w"][t["va"]])
        train_loss, _ = _weighted_loss(model, t, t["probe"])
    model.train()
    return val_loss, auc, train_loss


def train_classifier(p: dict, X, y, w, val_fraction: float, score: str, data_seed: int, seed: int, device: str,
                     overfit_penalty: float = 1.0) -> dict:
    import torch.nn.functional as F

    from hyppo_hep.fidelity import report as report_epoch
    from hyppo_hep.models.classifier import DNN
    from hyppo_hep.models.common import count_parameters, optimizer

    t = _tensors(X, y, w, val_fraction, data_seed, device)
    gen = seeded_generator(seed, device)
    model = DNN(X.shape[1], p["hidden_layers"], p["width"], p["activation"], p["dropout"]).to(device)
    opt = optimizer("adam", model.parameters(), p["lr"])

    t0 = time.perf_counter()
    untrained = _evaluate(model, t)
    metric_time, train_time = time.perf_counter() - t0, 0.0
    epochs, scores, best, since = [], [], float("inf"), 0
    bs = min(p["batch_size"], len(t["tr"]))
    for _ in range(p["epochs"]):
        sync(device)
        t0 = time.perf_counter()
        for idx in shuffled_batches(t["tr"], bs, gen):
            per_event = F.binary_cross_entropy_with_logits(model(t["X"][idx]), t["y"][idx], reduction="none")
            loss = (per_event * t["w"][idx]).mean() + model.penalty(p["l1"], p["l2"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sync(device)
        t1 = time.perf_counter()
        val_loss, auc, train_loss = _evaluate(model, t)
        train_time += t1 - t0
        metric_time += time.perf_counter() - t1
        epochs.append((val_loss if np.isfinite(val_loss) else float("inf"), auc, train_loss))
        scores.append(_epoch_score(score, *epochs[-1], overfit_penalty))
        if report_epoch(len(scores) - 1, scores[-1]):
            break  # multi-fidelity budget or median rule
        if scores[-1] < best:
            best, since = scores[-1], 0
        else:
            since += 1
            if since >= p["patience"]:
                break  # early stopping on the trial's own score
    k = int(np.argmin(scores))
    val_loss, auc, train_loss = epochs[k]
    return {
        "score": scores[k], "val_loss": val_loss, "auc": auc, "train_loss": train_loss, "gap": val_loss - train_loss,
        "overfit_score": _epoch_score("overfit", val_loss, auc, train_loss, overfit_penalty),
        "best_epoch": k + 1, "epochs_run": len(scores), "epoch_scores": scores,
        "untrained_score": _epoch_score(score, *untrained, overfit_penalty),
        "n_params": count_parameters(model), "wall_time_train": train_time, "wall_time_metric": metric_time,
        "events_per_second": len(t["tr"]) * len(scores) / max(train_time, 1e-9),
    }


def classifier(epochs: int = 20, n_events: int | None = None, n_features: int = 5, val_fraction: float = 0.25,
               score: str = "loss", data: dict | None = None, cache_dir: str | None = None,
               data_seed: int = 0, overfit_penalty: float = 1.0) -> ClassifierObjective:
    """Factory: the weighted signal/background DNN objective."""
    return ClassifierObjective(epochs, n_events, n_features, val_fraction, score, data, cache_dir, data_seed,
                               overfit_penalty)
