"""`module:function` next to the config file is found without PYTHONPATH (issue 15, item 6),
in the run's own process and in pool workers, and for a define-by-run build/train."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

MODULE = '''
def train(params, trial, seed, device):
    return (params["x"] - 0.3) ** 2 + 0.001 * trial
'''


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["serial", "{kind: pool, workers: 2}"])
def test_a_user_module_beside_the_config_is_found(tmp_path, executor):
    cfg_dir = tmp_path / "campaign"
    cfg_dir.mkdir()
    (cfg_dir / "my_objective_beside.py").write_text(MODULE)
    (cfg_dir / "c.yaml").write_text(f"objective: my_objective_beside:train\nspace: {{x: {{low: 0.0, high: 1.0}}}}\n"
                                    f"budget: 3\ntrials: 2\nstrategy: random\nexecutor: {executor}\nout: {tmp_path / 'o'}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)  # the package itself, not the config's directory
    proc = subprocess.run([sys.executable, "-m", "hyppo_hep.run", str(cfg_dir / "c.yaml"), "--quiet"], cwd=elsewhere,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "3 sets finished" in proc.stdout


@pytest.mark.slow
def test_the_define_by_run_example_runs_without_pythonpath(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "hyppo_hep.cli", "validate", str(ROOT / "jobs" / "define_by_run.yaml")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "objective: define_by_run" in proc.stdout
