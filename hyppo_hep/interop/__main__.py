"""Command line: export a campaign to an Optuna journal file or log it to MLflow.

Examples:
  python -m hyppo_hep.interop optuna runs/dimuon --file dimuon.optuna.log
      then: optuna-dashboard dimuon.optuna.log
  python -m hyppo_hep.interop mlflow runs/dimuon --tracking-uri sqlite:///mlflow.db
      then: mlflow ui --backend-store-uri sqlite:///mlflow.db
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hyppo_hep.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hyppo_hep.interop", description=__doc__.splitlines()[0],
                                epilog="\n".join(__doc__.splitlines()[2:]), formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="tool", required=True)
    o = sub.add_parser("optuna", help="write an Optuna journal file (one study per journal)")
    o.add_argument("outdir", help="output directory of a campaign")
    o.add_argument("--file", help="Optuna journal file (default: OUTDIR/optuna_journal.log)")
    o.add_argument("--study", help="study name (default: the directory name, with stage and repeat)")
    m = sub.add_parser("mlflow", help="log to an MLflow tracking store (one parent run per journal)")
    m.add_argument("outdir", help="output directory of a campaign")
    m.add_argument("--tracking-uri", default="sqlite:///mlflow.db", help="MLflow tracking URI (default sqlite:///mlflow.db)")
    m.add_argument("--experiment", help="experiment name (default: the directory name)")
    for sp in (o, m):
        sp.add_argument("--k-std", type=float, default=None,
                        help="rank by mean + k*std (default: the campaign's own k_std)")
    return p


def _k_std(run, given: float | None) -> float:
    if given is not None:
        return given
    strategy = (run.header or {}).get("strategy") or {}
    return float(strategy.get("k_std", 0.0) or 0.0) if isinstance(strategy, dict) else 0.0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from hyppo_hep.analysis.load import load_runs

        runs = load_runs([args.outdir])
        for run in runs:
            k = _k_std(run, args.k_std)
            if args.tool == "optuna":
                from hyppo_hep.interop.optuna_journal import export_optuna

                path = Path(args.file) if args.file else Path(args.outdir) / "optuna_journal.log"
                name = export_optuna(run, path, args.study if len(runs) == 1 else None, k)
                print(f"{run.path}: {len(run.history)} sets -> optuna study '{name}' in {path}")
            else:
                from hyppo_hep.interop.mlflow_log import log_mlflow

                run_id = log_mlflow(run, args.tracking_uri, args.experiment, k)
                print(f"{run.path}: {len(run.history)} sets -> mlflow run {run_id} at {args.tracking_uri}")
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
