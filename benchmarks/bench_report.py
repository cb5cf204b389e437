"""Size and build time of the analysis report on the stored example campaigns.

    python benchmarks/bench_report.py            # prints a Markdown table

For each case (tests/fixtures: a three-stage campaign, and two strategies over two repeats
each), ``python -m hyppo_hep.analyze`` is run into a temporary directory with PNG and PDF
figures; the table gives the CPU and wall time, the size of report.html, of the plotly library
written beside it, and of the whole report directory, and whether any figure's text ran
off its canvas.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {"staged (broad, focus, scan)": ["staged", "--threshold", "0.05"],
         "lhs vs random, 2 repeats each": ["lhs_repeat", "random_repeat"]}


def measure(args: list[str]) -> dict:
    fix = ROOT / "tests" / "fixtures"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "hyppo_hep.analyze",
               *[str(fix / a) if (fix / a).exists() else a for a in args], "--out", tmp]
        t0, cpu0 = time.perf_counter(), _children_cpu()
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, check=True)  # cwd: PYTHONPATH decides
        wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
        out = Path(tmp)
        js = out / "plotly.min.js"
        return {"wall_s": wall, "cpu_s": cpu, "html_kB": (out / "report.html").stat().st_size / 1e3,
                "plotly_kB": js.stat().st_size / 1e3 if js.exists() else 0.0,
                "dir_kB": sum(p.stat().st_size for p in out.iterdir()) / 1e3,
                "figures": len(list(out.glob("*.png"))), "clipped": res.stdout.count("text outside the figure")}


def _children_cpu() -> float:
    """CPU seconds of finished child processes: steadier than wall time on a shared machine."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> int:
    print("| case | figures | report.html kB | plotly.min.js kB | directory kB | text off canvas | CPU s | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, args in CASES.items():
        m = measure(args)
        print(f"| {name} | {m['figures']} | {m['html_kB']:.1f} | {m['plotly_kB']:.0f} | {m['dir_kB']:.0f} | "
              f"{m['clipped']} | {m['cpu_s']:.1f} | {m['wall_s']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
