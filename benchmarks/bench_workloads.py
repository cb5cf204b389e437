"""Training throughput and metric share of the HEP workloads on CPU.

For each workload, one trial with the objective's default options and hyperparameters
(plus the Hyppo study's best dimuon architecture) is run; reported are the training
throughput (training events per second, averaged over epochs), the mean time per epoch,
and the share of each epoch spent in the per-epoch metric evaluation
(``wall_time_metric / (wall_time_train + wall_time_metric)``, the untrained evaluation
included). Data generation is excluded: the data cache is warmed first.

    python benchmarks/bench_workloads.py [--threads 1] [--device cpu] [--out FILE] [--only gan]

``--compare REF`` measures the GAN rows' training throughput at the git commit REF
(extracted with ``git archive`` into a temporary directory) and with the working tree,
alternately, in fresh processes, ``--repeats`` times each, and reports the best of each
and their ratio: on a shared machine the load changes from one minute to the next, so
only interleaved best-of-N figures compare two versions fairly.

    python benchmarks/bench_workloads.py --compare 5edce6d --repeats 5 [--clock cpu|wall]

By default --compare counts CPU seconds of the training process (``time.process_time``
stands in for the objective's ``perf_counter``): with one torch thread that is events per
second per core, nearly independent of what else runs on the machine.
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
    parser.add_argument("--only", default=None, help="run only the workloads whose name contains this")
    parser.add_argument("--compare", default=None, metavar="REF", help="GAN throughput: git commit REF against the working tree")
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs per version for --compare")
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                        help="--compare: events per CPU-second of the process (robust to other jobs) or per wall second")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(args.compare, args.repeats, args.threads, args.out, args.clock)

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
        if args.only and args.only not in name:
            continue
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


# GAN rows of --compare: (label, workload, hyperparameters understood by both versions,
# hyperparameters only the working tree knows). The last row is today's defaults with the
# study's network and trainer restored (batch-normalised discriminator, no EMA, Adam's
# default betas), i.e. the same training as before, to separate speed from the new defaults.
STUDY_TRAINER = {"disc_norm": "batch", "ema": 0.0, "beta1": 0.9}
COMPARE = [
    ("defaults", "gan_dimuon", {}, {}),
    ("defaults", "gan_hadronization", {}, {}),
    ("defaults, the study's trainer", "gan_dimuon", {}, STUDY_TRAINER),
    ("the study's best dimuon architecture", "gan_dimuon", WORKLOADS[2][2], {}),
]
_ONE_RUN = """
import json, sys, time, torch
if {cpu_clock}:
    time.perf_counter = time.process_time  # the objective's timings become CPU seconds of this process
torch.set_num_threads({threads})
from hyppo_hep.objectives.registry import resolve
obj = resolve({name!r}, {{"epochs": {epochs}}})
obj.arrays()
out = obj({params!r}, trial=0, seed=0, device="cpu")
import hyppo_hep
print(json.dumps({{"eps": out["events_per_second"], "score": out["score"], "file": hyppo_hep.__file__}}))
"""


def _run_version(src_dir: str, name: str, params: dict, threads: int, cpu_clock: bool, epochs: int = 5) -> dict:
    import json
    import subprocess

    env = dict(os.environ, PYTHONPATH=src_dir)
    code = _ONE_RUN.format(threads=threads, name=name, params=params, epochs=epochs, cpu_clock=cpu_clock)
    # cwd too: ``python -c`` puts the working directory ahead of PYTHONPATH on sys.path
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=src_dir, capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(result["file"]).resolve().is_relative_to(Path(src_dir).resolve()), f"ran {result['file']}, not {src_dir}"
    return result


def compare(ref: str, repeats: int, threads: int, out_path: str | None, clock: str = "cpu") -> str:
    """Best-of-``repeats`` GAN training events/s at commit ``ref`` and in the working tree.
    ``clock="cpu"``: per second of the process's CPU time (with one thread: per core-second),
    which other jobs on the machine barely change; ``"wall"``: per wall-clock second."""
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parents[1]
    lines = [f"Commit {ref} against the working tree, {threads} thread(s), best of {repeats} alternating runs "
             f"of 5 epochs each, {clock} clock; load average at start {os.getloadavg()[0]:.2f}.", "",
             f"| row | workload | events/s at {ref} | events/s now | ratio | score at {ref} | score now |",
             "|---|---|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(root), "archive", ref, "hyppo_hep"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
        for label, name, both, new_only in COMPARE:
            best_old, best_new = {"eps": 0.0}, {"eps": 0.0}
            for _ in range(repeats):
                old = _run_version(tmp, name, both, threads, clock == "cpu")
                new = _run_version(str(root), name, {**both, **new_only}, threads, clock == "cpu")
                best_old = max(best_old, old, key=lambda r: r["eps"])
                best_new = max(best_new, new, key=lambda r: r["eps"])
            lines.append(f"| {label} | {name} | {best_old['eps']:,.0f} | {best_new['eps']:,.0f} | "
                         f"{best_new['eps'] / best_old['eps']:.2f}x | {best_old['score']:.4g} | {best_new['score']:.4g} |")
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n"
    if out_path:
        Path(out_path).write_text(text)
    return text


if __name__ == "__main__":
    print(main())
