"""The best model as a result: reload the best set's trained generators and draw the ensemble.

    python -m hyppo_hep.export DIR [--set ID] [--events N] [--figure PATH]

DIR is a campaign's output directory whose GAN objective had the option ``save_dir``
(``objective: {name: gan_dimuon, save_dir: runs/dimuon/models}``; a relative path is
taken from the current directory, as the objective took it). The best set is the one
with the lowest mean score over its trials (or ``--set``): the set the search picked. Each
trial saved its best epoch's generator, so what is reloaded is the model whose W1 is the
trial's ``best_w1``; the trial's score (by default the best epoch's W1 blended with the end
of its training, see hyppo_hep/objectives/gan.py) chose the set, not the epoch. Each of its trials' generators
(weights and configuration, see :mod:`hyppo_hep.models.checkpoint`) is reloaded and
generates ``N`` events, conditioned on the test set's conditions in turn for a
conditional GAN; the figure (the Hyppo study's Figures 7 and 11) shows per feature the
held-out truth and the ensemble's mean histogram with its spread (one standard deviation
over trials). Printed: the files reloaded and each trial's W1 of the regenerated sample.
A directory without saved generators is an error: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from hyppo_hep.errors import UserError


def best_set(out_dir: str, set_id: int | None = None):
    """(set record, objective options from the journal header) of the best finished set."""
    from hyppo_hep.analysis.load import load_runs

    runs = load_runs([out_dir])
    pairs = [(rec, run.header) for run in runs for rec in run.done if rec.n_ok]
    if set_id is not None:
        pairs = [p for p in pairs if p[0].set_id == set_id]
        if not pairs:
            raise UserError(f"--set {set_id}: no finished set with that id in {out_dir}")
    rec, header = min(pairs, key=lambda p: p[0].mean)
    return rec, (header.get("objective") or {}).get("options") or {}


def load_set(save_dir: str, rec) -> list[tuple]:
    """[(generator, config)] of the set's trials that saved one, in trial order."""
    from hyppo_hep.models.checkpoint import load_generator, trial_path

    found = [trial_path(save_dir, rec.params, t) for t in sorted(rec.trials) if rec.trials[t].ok]
    found = [p for p in found if p.exists()]
    if not found:
        raise UserError(f"no saved generators of set {rec.set_id} under {save_dir} "
                        f"(expected {trial_path(save_dir, rec.params, 0).parent}/trial<k>.pt)")
    return [(*load_generator(p), p) for p in found]


def ensemble(models: list[tuple], n_events: int, seed: int = 0):
    """Truth (n_test, d) and generated samples (trials, n_events, d) in physical units,
    with the per-trial W1 on the [-1, 1] scale, for the objective the models were trained on."""
    import torch

    from hyppo_hep.metrics.wasserstein import from_unit, w1_torch
    from hyppo_hep.objectives.gan import GanData, GanObjective

    options = models[0][1]["objective"]
    obj = GanObjective(**options)
    data = GanData.build(*obj.arrays(), obj.test_fraction, obj.data_seed, "cpu")
    g = torch.Generator().manual_seed(seed)
    cond = None if data.c_test is None else data.c_test[torch.arange(n_events) % len(data.c_test)]
    samples, scores = [], []
    with torch.inference_mode():
        for G, cfg, _ in models:
            unit = G.unit(torch.randn(n_events, cfg["noise_dim"], generator=g), cond)
            scores.append(float(w1_torch(data.x_test, unit, data.w_test).mean()))
            samples.append(from_unit(unit.numpy(), data.lo, data.hi))
    truth = from_unit(data.x_test.numpy(), data.lo, data.hi)
    return truth, np.stack(samples), scores, obj


def feature_names(obj, d: int) -> list[str]:
    if obj.data is not None and obj.data.get("columns"):
        return list(obj.data["columns"])
    if obj.workload == "dimuon":
        from hyppo_hep.data.dimuon import FEATURES

        return list(FEATURES)
    return ["theta", "phi"] if d == 2 else [f"x{j}" for j in range(d)]


def draw(truth: np.ndarray, samples: np.ndarray, names: list[str], path: str, title: str) -> None:
    """Per feature: truth histogram (black) and the ensemble's mean (red) +- std band over trials."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = truth.shape[1]
    cols = min(d, 3)
    rows = -(-d // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    for j in range(d):
        ax = axes.flat[j]
        edges = np.linspace(*np.quantile(truth[:, j], [0.001, 0.999]), 41)
        h_true, _ = np.histogram(truth[:, j], edges, density=True)
        h_gen = np.stack([np.histogram(s[:, j], edges, density=True)[0] for s in samples])
        mean, std = h_gen.mean(axis=0), h_gen.std(axis=0)
        ax.stairs(h_true, edges, color="black", label="truth (test)")
        ax.stairs(mean, edges, color="C3", label=f"GAN, {len(samples)} trials")
        ax.fill_between(edges[:-1], mean - std, mean + std, step="post", color="C3", alpha=0.3)
        ax.set(xlabel=names[j], ylabel="density")
    for ax in axes.flat[d:]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hyppo_hep.export", description=__doc__.splitlines()[0])
    parser.add_argument("dir", help="the campaign's output directory")
    parser.add_argument("--set", type=int, default=None, help="export this set id instead of the best")
    parser.add_argument("--events", type=int, default=20000, help="events generated per trial")
    parser.add_argument("--figure", default=None, help="figure path (default DIR/export_best_set.png)")
    args = parser.parse_args(argv)
    try:
        rec, options = best_set(args.dir, args.set)
        if not options.get("save_dir"):
            raise UserError(f"{args.dir}: the objective had no save_dir option, so no generator was saved "
                            "(set objective: {name: ..., save_dir: DIR} and rerun)")
        models = load_set(options["save_dir"], rec)
        truth, samples, scores, obj = ensemble(models, args.events)
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    path = args.figure or str(Path(args.dir) / "export_best_set.png")
    draw(truth, samples, feature_names(obj, truth.shape[1]), path,
         f"set {rec.set_id}: score {rec.mean:.4g} +- {rec.std:.2g} over {rec.n_ok} trials")
    for (_, cfg, p), s in zip(models, scores):
        # best_w1: the saved (best) epoch's W1; files saved before the blended score hold it as score
        trained = cfg.get("best_w1", cfg["score"])
        print(f"{p}: trained W1 {trained:.4g} (epoch {cfg['best_epoch']}, trial score {cfg['score']:.4g}), "
              f"regenerated W1 {s:.4g}")
    print(f"figure: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
