"""The inner loop (`-m "not slow"`) never starts a real mpiexec or Slurm: every test marked
`mpi` or `slurm` is `slow` too (the rule in tests/conftest.py). Before the rule,
executor/test_slurm.py and executor/test_mpi_workers.py ran in the inner loop."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def collect(expr):
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-m", expr, "tests"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    return proc, [l for l in proc.stdout.splitlines() if "::" in l]


@pytest.mark.slow
def test_no_mpi_or_slurm_test_is_in_the_inner_loop():
    proc, ids = collect("(mpi or slurm) and not slow")
    assert proc.returncode == 5 and ids == [], proc.stdout[-2000:]  # 5: pytest collected nothing
    proc, ids = collect("mpi or slurm")
    assert any(i.startswith("tests/executor/test_slurm.py::") for i in ids), proc.stdout[-2000:]
    assert any(i.startswith("tests/executor/test_mpi_workers.py::") for i in ids), proc.stdout[-2000:]
