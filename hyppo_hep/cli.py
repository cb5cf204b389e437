"""``hyppo-hep``: one command line with subcommands.

  hyppo-hep run config.yaml --set objective.epochs=20 --set trials=3
  hyppo-hep validate config.yaml --probe         # parse, show the campaign, time one trial
  hyppo-hep status runs/dimuon                   # a running or finished campaign
  hyppo-hep analyze runs/dimuon                  # figures, sets.csv, report.html
  hyppo-hep objectives                           # built-in objectives, options, defaults
  hyppo-hep interop optuna runs/dimuon           # to an Optuna journal file (or: mlflow)

``python -m hyppo_hep.run`` and ``python -m hyppo_hep.analyze`` keep working; under MPI use
``mpiexec -n 9 hyppo-hep run config.yaml`` or ``srun ... python -m hyppo_hep.run ...``.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys

from hyppo_hep.errors import UserError

# Subcommands that hand their arguments on to a module's own main(argv).
_DELEGATED = {
    "run": ("hyppo_hep.run", "run a campaign (a config, or the built-in default)"),
    "analyze": ("hyppo_hep.analyze", "figures, sets.csv and report.html of one or more campaigns"),
    "interop": ("hyppo_hep.interop.__main__", "export a campaign to Optuna or log it to MLflow"),
    "export": ("hyppo_hep.export", "the best set's trained models: weights, configuration, figure"),
}


def version() -> str:
    try:
        from importlib.metadata import version as dist_version

        return dist_version("hyppo_hep")
    except Exception:  # noqa: BLE001 — not installed as a distribution (a source checkout)
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hyppo-hep", description=__doc__.splitlines()[0],
                                epilog="\n".join(__doc__.splitlines()[2:]), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"hyppo_hep {version()}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in _DELEGATED.items():
        d = sub.add_parser(name, help=help_text, add_help=False)
        d.add_argument("args", nargs=argparse.REMAINDER)
    s = sub.add_parser("status", help="how a running or finished campaign stands", description=_doc("hyppo_hep.status"))
    s.add_argument("outdir", help="output directory of the campaign")
    v = sub.add_parser("validate", help="check a config and show what the campaign will do",
                       description="Parse and validate a config (nothing is written) and print the campaign: "
                                   "space size, stages, executor, what will be written; --probe times one trial.")
    v.add_argument("config", nargs="?", help="campaign YAML (default: the built-in default campaign)")
    v.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE", help="override a config key")
    v.add_argument("--probe", action="store_true", help="run one trial of the space's centre set and estimate the duration")
    v.add_argument("--workers", type=int, help="parallel trials to assume for the estimate (default: the executor's)")
    o = sub.add_parser("objectives", help="the built-in objectives, their options and defaults")
    o.add_argument("name", nargs="?", help="one objective: also its hyperparameters and their defaults")
    return p


def _doc(module: str) -> str:
    import importlib

    return (importlib.import_module(module).__doc__ or "").strip()


def objectives_text(name: str | None = None) -> str:
    """The registered objectives with their options (defaults) and, for one, its
    hyperparameters' defaults (the module's ``DEFAULTS``) and docstring."""
    import importlib

    from hyppo_hep.objectives import registry

    names = [name] if name else [n for n in registry.available()]
    lines = []
    for n in names:
        target = registry._REGISTRY.get(n)
        if target is None:
            raise UserError(f"objective '{n}' is not registered (known: {', '.join(registry.available())})")
        module_name, _, attr = target.partition(":") if isinstance(target, str) else (target.__module__, "", target.__name__)
        module = importlib.import_module(module_name)
        factory = getattr(module, attr) if isinstance(target, str) else target
        opts = ", ".join(f"{p.name}={p.default!r}" if p.default is not inspect.Parameter.empty else p.name
                         for p in inspect.signature(factory).parameters.values()
                         if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        summary = ((factory.__doc__ or module.__doc__ or "").strip().splitlines() or [""])[0]
        lines.append(f"{n:18s} {summary}\n{'':18s} options: {opts or '(none)'}")
        if name:
            defaults = getattr(module, "DEFAULTS", None)
            if defaults:
                lines.append(f"{'':18s} hyperparameters (defaults): " + ", ".join(f"{k}={v!r}" for k, v in defaults.items()))
            if module.__doc__:
                lines.append("\n" + module.__doc__.strip())
    return "\n".join(lines)


def _delegate(command: str, argv: list[str]) -> int:
    import importlib

    module = importlib.import_module(_DELEGATED[command][0])
    if "prog" in inspect.signature(module.main).parameters:  # its usage line names this command
        return int(module.main(argv, prog=f"hyppo-hep {command}") or 0)
    return int(module.main(argv) or 0)


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATED:  # everything after the subcommand is that command's own
        return _delegate(argv[0], argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "status":
            from hyppo_hep.status import campaign_status, format_status

            print("\n".join(format_status(s) for s in campaign_status(args.outdir)))
        elif args.command == "objectives":
            print(objectives_text(args.name))
        elif args.command == "validate":
            from hyppo_hep.validate import validate

            print(validate(args.config, args.set, probe=args.probe, workers=args.workers))
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: what a Unix tool killed by a closed pipe returns


def closed_pipe() -> int:
    """`hyppo-hep ... | head`: the reader left. Point stdout at /dev/null so that the final
    flush at exit cannot raise again, and end quietly (a run's journal stays resumable)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_CLOSED_PIPE


def main(argv: list[str] | None = None) -> int:
    try:
        status = _main(argv)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        return closed_pipe()


if __name__ == "__main__":
    sys.exit(main())
