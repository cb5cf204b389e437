"""The hyppo-hep command line: subcommands, --set overrides, status, validate, objectives,
--version and a closed pipe (issue 15, item 4)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hyppo_hep.errors import UserError
from hyppo_hep.overrides import apply_overrides

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "hyppo_hep.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=kw.pop("cwd", ROOT), **kw)


def test_set_overrides_nested_keys_lists_and_objective_names():
    raw = {"objective": "gan_dimuon", "trials": 5, "stages": [{"name": "broad"}, {"name": "focus", "strategy": "rbf"}]}
    out = apply_overrides(raw, ["objective.epochs=20", "trials=3", "stages[0].budget=7", "strategy.k_std=1.5",
                                "out=runs/x", "space.lr={low: 1.0e-5, high: 1.0e-2, log: true}"])
    assert out["objective"] == {"name": "gan_dimuon", "epochs": 20}
    assert out["trials"] == 3 and out["stages"][0]["budget"] == 7 and out["strategy"] == {"k_std": 1.5}
    assert out["space"]["lr"] == {"low": 1e-5, "high": 1e-2, "log": True}
    assert raw["objective"] == "gan_dimuon" and raw["trials"] == 5  # the original is untouched


@pytest.mark.parametrize("item, message", [
    ("trials", "expected key.path=value"),
    ("stages[5].budget=1", r"stages has 2 entries, no \[5\]"),
    ("trials.x=1", "trials is not a mapping"),
    ("a..b=1", "'' is not a key"),
])
def test_bad_overrides_say_what_and_where(item, message):
    with pytest.raises(UserError, match=message):
        apply_overrides({"trials": 5, "stages": [{}, {}]}, [item])


@pytest.mark.slow
def test_run_takes_set_overrides_and_they_are_validated(tmp_path):
    out = tmp_path / "o"
    proc = subprocess.run([sys.executable, "-m", "hyppo_hep.run", "--out", str(out), "--quiet", "--set", "trials=2",
                           "--set", "budget=4", "--set", "objective.noise=0"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    header = json.loads((out / "journal.jsonl").read_text().splitlines()[0])
    assert header["trials"] == 2 and header["budget"] == 4 and header["objective"]["options"] == {"noise": 0}
    bad = subprocess.run([sys.executable, "-m", "hyppo_hep.run", "--out", str(tmp_path / "b"), "--set", "trials=0"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "trials" in bad.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.slow
def test_hyppo_hep_run_and_status_of_a_finished_campaign(tmp_path):
    out = tmp_path / "c"
    proc = cli("run", "--out", out, "--budget", "6", "--quiet")
    assert proc.returncode == 0, proc.stderr
    st = cli("status", out)
    assert st.returncode == 0, st.stderr
    assert "finished (budget): 6/6 sets done, 0 failed, 0 in flight, 30 trials" in st.stdout
    assert "best so far: set " in st.stdout and "utilisation" in st.stdout


@pytest.mark.slow
def test_status_of_a_running_campaign_has_an_eta(tmp_path):
    from hyppo_hep.status import campaign_status, format_status

    out = tmp_path / "r"
    assert cli("run", "--out", out, "--budget", "6", "--quiet").returncode == 0
    journal = out / "journal.jsonl"
    lines = journal.read_text().splitlines()
    # cut the journal after the third finished set: a campaign still running
    n_sets, cut = 0, len(lines)
    for i, line in enumerate(lines):
        if json.loads(line)["event"] == "set_finished":
            n_sets += 1
            if n_sets == 3:
                cut = i + 1
                break
    journal.write_text("\n".join(lines[:cut]) + "\n")
    (s,) = campaign_status(out)
    assert s.finished is None and s.n_done == 3 and s.budget == 6 and s.eta is not None
    assert format_status(s).startswith("running: 3/6 sets done")


@pytest.mark.slow
def test_status_and_validate_errors_are_one_line(tmp_path):
    for proc in (cli("status", tmp_path / "none"), cli("validate", tmp_path / "missing.yaml")):
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


@pytest.mark.slow
def test_validate_describes_the_campaign_and_writes_nothing(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"objective: branin\nspace: {{x1: {{low: -5, high: 10}}, x2: {{lower: 0, upper: 15}}}}\n"
                   f"budget: 20\ntrials: 3\nout: {tmp_path / 'out'}\n")
    proc = cli("validate", cfg, "--set", "budget=30", "--probe", "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert "budget 30 sets x 3 trials = 90 trainings" in proc.stdout
    assert "space: 2 free parameter(s)" in proc.stdout and "probe: one trial of" in proc.stdout
    assert "/ 2 parallel trial(s)" in proc.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_objectives_lists_every_builtin_with_options_and_hyperparameters():
    from hyppo_hep.objectives.registry import available

    proc = cli("objectives")
    assert proc.returncode == 0
    for name in available():
        assert name in proc.stdout
    one = cli("objectives", "classifier")
    assert "hyperparameters (defaults): hidden_layers=2" in one.stdout and "overfit_penalty=1.0" in one.stdout
    assert cli("objectives", "nope").returncode == 2


@pytest.mark.slow
def test_version_help_and_a_closed_pipe():
    assert cli("--version").stdout.startswith("hyppo_hep ")
    helptext = cli("--help").stdout
    for sub in ("run", "analyze", "status", "validate", "objectives", "interop"):
        assert sub in helptext
    assert "Examples" in helptext or "hyppo-hep run config.yaml" in helptext
    # `hyppo-hep objectives | head -1`: the reader leaves early, no BrokenPipeError traceback
    proc = subprocess.run(f"{sys.executable} -m hyppo_hep.cli objectives | head -1", shell=True, capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("command", ["-m hyppo_hep.run", "-m hyppo_hep.cli run"])
def test_a_run_piped_to_head_ends_quietly_with_a_resumable_journal(tmp_path, command):
    out = tmp_path / "p"
    proc = subprocess.run(f"{sys.executable} {command} --out {out} --budget 30 | head -1; echo status=${{PIPESTATUS[0]}}",
                          shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert "status=141" in proc.stdout or "status=0" in proc.stdout
    resumed = subprocess.run([sys.executable, "-m", "hyppo_hep.run", "--out", str(out), "--budget", "30", "--resume",
                              "--quiet"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr
