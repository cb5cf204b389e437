"""Command line: ``python -m hyppo_hep.run [config.yaml] [--out DIR] [--seed N] [--budget N] [--resume]``.

Without a config, runs the embedded default campaign (hyppo_hep/configs/default.yaml).
Launched by mpiexec/srun on several ranks, rank 0 runs the campaign with the MPI executor
and the other ranks are its worker groups (hyppo_hep/executor/mpi.py).
Bad input exits with status 2 and one line saying what is wrong; no traceback.
"""

from __future__ import annotations

import argparse
import sys

from hyppo_hep.errors import RunInterrupted, UserError

# Exit statuses: 0 done; 2 bad input (one line, no traceback); 3 stopped after
# max_consecutive_failures failed trials in a row; 4 the output cannot be written (full
# disk, output directory deleted; the journal keeps what was written); 128+N stopped by
# signal N (143 SIGTERM, 130 SIGINT) with a resumable journal.
EXIT_TOO_MANY_FAILURES = 3


EXAMPLES = """examples:
  python -m hyppo_hep.run                                   # the built-in default campaign
  python -m hyppo_hep.run jobs/gan_dimuon.yaml --set objective.epochs=20 --set trials=3
  python -m hyppo_hep.run jobs/gan_dimuon.yaml --resume     # continue after a stop or a requeue
  mpiexec -n 9 python -m hyppo_hep.run jobs/gan_mpi.yaml    # rank 0 proposes, 8 ranks train
  srun -n 80 --mpi=pmi2 python -m hyppo_hep.run config.yaml
exit status: 0 done; 2 bad input (one line); 3 too many failed trials in a row; 4 output not
writable; 128+N stopped by signal N (143 SIGTERM, 130 SIGINT) with a resumable journal."""


def build_parser(prog: str = "python -m hyppo_hep.run") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0], epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="campaign YAML (default: the embedded default campaign)")
    p.add_argument("--out", help="output directory (overrides the config's out)")
    p.add_argument("--seed", type=int, help="campaign seed (overrides the config's seed)")
    p.add_argument("--budget", type=int, help="number of sets (overrides the config's budget)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override any config key, e.g. --set objective.epochs=20 --set trials=3 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the journal in the output directory")
    p.add_argument("--force-resume", action="store_true", help="resume even if the config's space or objective changed")
    p.add_argument("--overwrite", action="store_true", help="start over, deleting an existing journal in the output directory")
    p.add_argument("--quiet", action="store_true", help="no progress line per set")
    p.add_argument("--top", type=int, default=10, help="rows of the final ranked table (default 10)")
    return p


def main(argv: list[str] | None = None, prog: str = "python -m hyppo_hep.run") -> int:
    args = build_parser(prog).parse_args(argv)
    try:
        return _main(args)
    except UserError as exc:
        from hyppo_hep.executor.mpi import rank_from_env

        # Under MPI every rank parses the same config and fails the same way: one line will do.
        if rank_from_env() == 0:
            print(str(exc), file=sys.stderr)
        return getattr(exc, "exit_status", 2)
    except RunInterrupted as exc:
        print(f"interrupted by {exc.signame}: the journal holds every finished trial; continue with: "
              f"{_resume_command(args)}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print(f"interrupted: continue with: {_resume_command(args)}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `python -m hyppo_hep.run | head`: end quietly, the journal resumable
        from hyppo_hep.cli import closed_pipe

        return closed_pipe()


def _resume_command(args) -> str:
    cmd = ["python -m hyppo_hep.run"] + ([args.config] if args.config else [])
    if args.out:
        cmd += ["--out", args.out]
    return " ".join(cmd + ["--resume"])


def _main(args) -> int:
    from hyppo_hep.executor import mpi
    from hyppo_hep.overrides import load_config

    cfg = load_config(args.config, args.set)
    if args.budget is not None and args.budget < 1:
        raise UserError(f"--budget ({args.budget}) must be >= 1")
    if args.seed is not None and args.seed < 0:
        raise UserError(f"--seed ({args.seed}) must be >= 0")
    cfg = cfg.with_overrides(out=args.out, seed=args.seed, budget=args.budget)
    # Launched on several MPI ranks: rank 0 runs the campaign below with the MPI executor,
    # the other ranks are workers until it tells them to stop.
    status = mpi.run(cfg, lambda executor: _run(cfg, args, executor))
    return _run(cfg, args, None) if status is None else status


def _run(cfg, args, executor) -> int:
    from hyppo_hep.campaign import run_config
    from hyppo_hep.console import hms, ranked_table

    if not args.quiet:
        extra = (f", {len(cfg.stages)} stages" if cfg.stages else "") + (f", {cfg.repeat} repeats" if cfg.repeat > 1 else "")
        if executor is not None:
            extra += (f", {executor.n_slots} MPI worker groups of {executor.group_size} "
                      f"({sum(map(len, executor.layout))} worker ranks)")
        print(f"hyppo_hep: objective {cfg.objective.name}, {cfg.space.dim} free parameters, "
              f"budget {cfg.describe_budget()}, strategy {cfg.strategy.name}{extra}, out {cfg.out}")
    runs = run_config(cfg, resume=args.resume, overwrite=args.overwrite, force_resume=args.force_resume,
                      quiet=args.quiet, executor=executor)
    for label, scfg, summary in runs:
        print(f"\n{label + ': ' if label else ''}{summary.n_finished} sets finished ({summary.reason}) in "
              f"{hms(summary.wall_time)}; journal and results.csv in {scfg.out}")
    print()
    rank_cfg = runs[-1][1]
    if rank_cfg.k_std:
        print(f"ranked by mean + {rank_cfg.k_std:g} x std (strategy option k_std)")
    print(ranked_table(runs[-1][2].history, top=args.top, k_std=rank_cfg.k_std, space=rank_cfg.space))
    _print_front(rank_cfg, runs[-1][2].history)
    last = runs[-1][2]
    if last.reason == "too many failures":
        print(f"error: {last.message}; fix the objective and continue with: {_resume_command(args)}",
              file=sys.stderr)
        return EXIT_TOO_MANY_FAILURES
    return 0


def _print_front(cfg, history) -> None:
    """A multi-objective campaign ends with its Pareto front and its hypervolume."""
    from hyppo_hep.api import SearchResult, campaign_objectives
    from hyppo_hep.console import pareto_table
    from hyppo_hep.strategy.multiobjective import parse_objectives

    objectives = campaign_objectives(cfg)
    if objectives:
        result = SearchResult(history, cfg.k_std, objectives, cfg.space)
        labels = ", ".join(o.label for o in parse_objectives(list(objectives)))
        print(f"\nPareto front of {labels} "
              f"({len(result.pareto)} sets, hypervolume {result.hypervolume:.6g}):")
        print(pareto_table(result.pareto))


if __name__ == "__main__":
    sys.exit(main())
