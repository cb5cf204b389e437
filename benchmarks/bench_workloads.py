"""Training throughput and metric share of the HEP workloads on CPU.

For each workload, one trial with the objective's default options and hyperparameters
(plus the Hyppo study's best dimuon architecture) is run; reported are the training
throughput (training events per second, averaged over epochs), the mean time per epoch,
and the share of each epoch spent in the per-epoch metric evaluation
(``wall_time_metric / (wall_time_train + wall_time_metric)``, the untrained evaluation
included). Data generation is excluded: the data cache is warmed first.

    python benchmarks/bench_workloads.py [--threads 1] [--device cpu] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

# Runnable from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORKLOADS = [
    ("gan_hadronization", {}, {}),
    ("gan_dimuon", {}, {}),
    # the Hyppo study's best dimuon architecture (focus search)
    ("gan_dimuon", {}, {"noise_dim": 96, "batch_size": 512, "lr_gen": 9.5e-5, "lr_disc": 5e-6,
                        "gen_layersize": 960, "disc_layersize": 104}),
    ("vae_shower", {}, {}),
    ("vae_shower", {"grid": [30, 30, 30], "energy_range": [10, 100]}, {}),
    ("classifier", {}, {}),
    ("classifier", {"n_features": 50}, {}),
]


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one rank per core: 1)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    args = parser.parse_args(argv)

    import torch

    from hyppo_hep.objectives.registry import resolve

    torch.set_num_threads(args.threads)
    lines = [
        f"Device {args.device}, torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}; load average at start {os.getloadavg()[0]:.2f}.",
        "",
        "| workload | options | hyperparameters | params | epochs | train events/s | s/epoch (train) | metric share of epoch | score (untrained -> best) |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, options, params in WORKLOADS:
        obj = resolve(name, options)
        obj.arrays()  # warm the data cache: generation is not training
        t0 = time.perf_counter()
        out = obj(params, trial=0, seed=0, device=args.device)
        wall = time.perf_counter() - t0
        epochs = len(out["epoch_scores"])
        share = out["wall_time_metric"] / (out["wall_time_train"] + out["wall_time_metric"])
        hp = ", ".join(f"{k}={v}" for k, v in params.items()) or "defaults"
        opt = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
        lines.append(f"| {name} | {opt} | {hp} | {out['n_params']:,} | {epochs} | {out['events_per_second']:,.0f} | "
                     f"{out['wall_time_train'] / epochs:.2f} | {100 * share:.1f}% | "
                     f"{out['untrained_score']:.4g} -> {out['score']:.4g} |")
        print(lines[-1], f"(trial wall time {wall:.1f} s)", flush=True)
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    return text


if __name__ == "__main__":
    print(main())
