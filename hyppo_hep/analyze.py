"""Command line: ``python -m hyppo_hep.analyze OUTDIR [OUTDIR ...] [--color-by P] [--threshold X] [--out DIR]``.

Reads every journal under the output directories (a finished or a running search, stages,
repeats; several directories to compare strategies) and writes the figures (PNG and PDF),
``sets.csv`` and ``report.html`` (opens offline) to ``--out`` (default: OUTDIR/report).
An empty or corrupt output directory is an error: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hyppo_hep.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hyppo_hep.analyze", description=__doc__.splitlines()[0])
    p.add_argument("outdirs", nargs="+", metavar="OUTDIR", help="output directories of runs (each holding journal.jsonl files)")
    p.add_argument("--color-by", help="hyperparameter that colours the score-vs-variability plot "
                                      "(default: the one that ranks with the score most strongly)")
    p.add_argument("--threshold", type=float, help="score threshold of the sensitivity plots' bottom row "
                                                   "(default: the 25%% quantile of the scores)")
    p.add_argument("--out", help="report directory (default: OUTDIR/report of the first OUTDIR)")
    p.add_argument("--formats", default="png,pdf", help="figure formats, comma-separated (default png,pdf)")
    p.add_argument("--sobol-samples", type=int, default=256, help="Saltelli base sample size, a power of 2 (default 256)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except UserError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except BrokenPipeError:
        from hyppo_hep.cli import closed_pipe

        return closed_pipe()


def _main(args) -> int:
    from hyppo_hep.analysis.load import load_runs
    from hyppo_hep.analysis.report import build_report

    runs = load_runs(args.outdirs)
    names = {n for r in runs for n in r.space.names}
    if args.color_by and args.color_by not in names:
        raise UserError(f"--color-by {args.color_by}: not a hyperparameter of these runs ({', '.join(sorted(names))})")
    formats = tuple(f.strip().lower() for f in args.formats.split(",") if f.strip())
    if "png" not in formats:
        formats = ("png", *formats)  # the HTML report embeds the PNGs
    for f in formats:
        if f not in ("png", "pdf", "svg"):
            raise UserError(f"--formats: {f!r} is not one of png, pdf, svg")
    if args.sobol_samples < 8 or args.sobol_samples & (args.sobol_samples - 1):
        raise UserError(f"--sobol-samples ({args.sobol_samples}) must be a power of 2, at least 8")
    out = Path(args.out) if args.out else Path(args.outdirs[0]) / "report"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"report directory {out} cannot be created: {exc.strerror}") from None
    rep = build_report(runs, out, color_by=args.color_by, threshold=args.threshold, formats=formats,
                       sobol_n=args.sobol_samples)
    n_fig = sum(1 for i in rep.items if i.stem)
    print(f"{len(runs)} journal(s), {sum(len(r.done) for r in runs)} finished sets: {n_fig} figures, "
          f"sets.csv and report.html in {out}")
    for item in rep.items:
        if item.stem is None:
            print(f"  skipped {item.title}: {item.note}")
        elif item.clipped:  # still written: a long parameter name should not cost the figure
            print(f"  text outside the figure {item.title}: {'; '.join(item.clipped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
