"""Per-epoch diagnostics of one GAN training (issue 12, the late drift of the defaults).

Trains with the objective's own pieces (``build_networks``, ``train_epoch``, ``Evaluator``)
and records after every epoch: the W1 per feature of the scored (EMA) generator and of the
raw generator, the discriminator's mean probability on training truth, test truth and
generated events (a gap train - test means the discriminator memorises the training
sample), both losses on those events, and the weight norms. One line per epoch; ``--json``
keeps them.

    python benchmarks/diag_gan.py --workload gan_hadronization --epochs 100 --seed 0 \
        --n-events 40000 --test-fraction 0.5 [--params '{"disc_norm": "spectral"}'] --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def probe(G, D, data, evaluate, p) -> dict:
    """The discriminator on 20000 training truth, the test truth and as many generated events."""
    import torch

    from hyppo_hep.models.gan_losses import discriminator_loss, generator_loss

    n = min(len(data.x_train), len(data.x_test), 20000)
    with torch.no_grad():
        G.eval()
        fake = G.unit(evaluate.noise[:n], None if data.c_test is None else data.c_test[:n])
        G.train()
        c_tr = None if data.c_train is None else data.c_train[:n]
        c_te = None if data.c_test is None else data.c_test[:n]
        # a batch-normalised discriminator needs real and fake in one batch: feed them as in training
        l_tr = D(torch.cat([data.x_train[:n], fake]), None if c_tr is None else torch.cat([c_tr, c_te]))
        l_te = D(torch.cat([data.x_test[:n], fake]), None if c_te is None else torch.cat([c_te, c_te]))
        out = {"d_train": float(torch.sigmoid(l_tr[:n]).mean()), "d_test": float(torch.sigmoid(l_te[:n]).mean()),
               "d_fake": float(torch.sigmoid(l_te[n:]).mean()),
               "d_loss_train": float(discriminator_loss(p["loss"], l_tr[:n], l_tr[n:])),
               "d_loss_test": float(discriminator_loss(p["loss"], l_te[:n], l_te[n:])),
               "g_loss": float(generator_loss(p["loss"], l_te[n:]))}
    out["g_norm"] = float(sum((q.detach() ** 2).sum() for q in G.parameters()) ** 0.5)
    out["d_norm"] = float(sum((q.detach() ** 2).sum() for q in D.parameters()) ** 0.5)
    return out


def per_feature(evaluate, G) -> list[float]:
    import torch

    from hyppo_hep.metrics.wasserstein import w1_torch

    G.eval()
    with torch.inference_mode():
        s = evaluate.to_metric(G.unit(evaluate.noise, evaluate.cond))
        w = w1_torch(evaluate.x_ref, s, evaluate.data.w_test)
    G.train()
    return [float(v) for v in w]


def run(workload: str, epochs: int, seed: int, options: dict, params: dict) -> list[dict]:
    from hyppo_hep.objectives import gan
    from hyppo_hep.objectives.common import resolve_params, seeded_generator
    from hyppo_hep.objectives.registry import resolve

    obj = resolve(workload, {"epochs": epochs, **options})
    p = resolve_params(obj.name, dict(params), dict(gan.defaults_for(obj.workload), epochs=epochs))
    gan.check_hyperparameters(obj.name, p)
    feats, cond, weights = obj.arrays()
    data = gan.GanData.build(feats, cond, weights, obj.test_fraction, obj.data_seed, "cpu")
    rng = seeded_generator(seed, "cpu")
    G, D, opts, ema = gan.build_networks(p, data, "cpu")
    evaluate = gan.Evaluator(data, p["noise_dim"], 4 * len(data.x_test), seed, "cpu")
    bs = min(p["batch_size"], len(data.x_train))
    scheds = gan.schedulers(opts, p, 0)
    rows = []
    for epoch in range(epochs):
        gan.train_epoch(G, D, opts, ema, data, p, bs, rng)
        for s in scheds:
            if s is not None:
                s.step()
        if ema is not None:
            ema.refresh_batchnorm(evaluate.noise, evaluate.cond)
        scored = G if ema is None else ema.module
        row = {"epoch": epoch + 1, "w1": per_feature(evaluate, scored), "w1_raw": per_feature(evaluate, G),
               **probe(G, D, data, evaluate, p), "lr_g": opts[0].param_groups[0]["lr"]}
        rows.append(row)
        print(f"{row['epoch']:3d} W1 {np.mean(row['w1']):.4f} {' '.join(f'{v:.4f}' for v in row['w1'])} | raw "
              f"{np.mean(row['w1_raw']):.4f} | D tr {row['d_train']:.3f} te {row['d_test']:.3f} fk {row['d_fake']:.3f} "
              f"| Ld tr {row['d_loss_train']:.3f} te {row['d_loss_test']:.3f} Lg {row['g_loss']:.3f} | "
              f"|G| {row['g_norm']:.1f} |D| {row['d_norm']:.1f}", flush=True)
    return rows


def main(argv=None) -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="gan_hadronization")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-events", type=int, default=None)
    ap.add_argument("--test-fraction", type=float, default=None)
    ap.add_argument("--params", type=json.loads, default={})
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    options = {k: v for k, v in (("n_events", a.n_events), ("test_fraction", a.test_fraction)) if v is not None}
    rows = run(a.workload, a.epochs, a.seed, options, a.params)
    if a.json:
        Path(a.json).write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
