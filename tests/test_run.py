"""End-to-end CLI runs: journal, results.csv, determinism, resume."""

import csv
import json
import subprocess
import sys

import pytest
import yaml

from hyppo_hep.journal import read_events, replay
from hyppo_hep.run import main


def strip_times(path):
    """Journal events with the fields that legitimately differ between runs removed."""
    out = []
    for ev in read_events(path):
        ev = {k: v for k, v in ev.items() if k not in ("time", "started", "finished", "wall_time", "worker", "argv")}
        out.append(ev)
    return out


@pytest.mark.slow
def test_default_cli_run(tmp_path):
    out = tmp_path / "default"
    proc = subprocess.run([sys.executable, "-m", "hyppo_hep.run", "--out", str(out)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "complete (40/40 sets)" in proc.stdout and "best so far" in proc.stdout
    assert "rank" in proc.stdout.splitlines()[-11]  # ranked table of the top 10 at the end
    events = list(read_events(out / "journal.jsonl"))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "campaign" and kinds[-1] == "run_finished"
    assert kinds.count("set_submitted") == 40 and kinds.count("set_finished") == 40
    assert kinds.count("trial_finished") == 200
    for e in events:
        if e["event"] == "trial_finished":
            assert e["device"] == "cpu" and e["worker"] and e["finished"] >= e["started"]
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 40
    assert set(rows[0]) >= {"set_id", "lr_gen", "mean", "std", "n_trials", "state", "wall_time_s"}
    # the csv agrees with the journal replay
    history = replay(out / "journal.jsonl")
    for row in rows:
        rec = history.sets[int(row["set_id"])]
        assert float(row["mean"]) == pytest.approx(rec.mean, rel=1e-9)
        assert float(row["std"]) == pytest.approx(rec.std, rel=1e-9)
        assert int(row["n_ok"]) == 5


def test_serial_runs_are_identical_for_a_seed(tmp_path):
    for name in ("a", "b"):
        assert main(["--out", str(tmp_path / name), "--quiet", "--budget", "12"]) == 0
    assert strip_times(tmp_path / "a" / "journal.jsonl") == strip_times(tmp_path / "b" / "journal.jsonl")
    assert main(["--out", str(tmp_path / "c"), "--quiet", "--budget", "12", "--seed", "2"]) == 0
    assert strip_times(tmp_path / "a" / "journal.jsonl") != strip_times(tmp_path / "c" / "journal.jsonl")


def test_existing_journal_needs_resume_or_overwrite(tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["--out", out, "--quiet", "--budget", "3"]) == 0
    assert main(["--out", out, "--quiet", "--budget", "3"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["--out", out, "--quiet", "--budget", "3", "--overwrite"]) == 0


def test_resume_runs_missing_trials_only_and_continues(tmp_path):
    out = tmp_path / "o"
    assert main(["--out", str(out), "--quiet", "--budget", "6"]) == 0
    before = replay(out / "journal.jsonl")
    lines = (out / "journal.jsonl").read_text().splitlines()
    # cut the journal in the middle of set 3: after its 2nd trial, then a torn line
    cut = [i for i, l in enumerate(lines) if '"trial_finished"' in l and '"set_id": 3' in l][1]
    (out / "journal.jsonl").write_text("\n".join(lines[: cut + 1]) + '\n{"event": "trial_fin')
    assert main(["--out", str(out), "--quiet", "--budget", "8", "--resume"]) == 0
    history = replay(out / "journal.jsonl")
    assert len(history.sets) == 8 and all(r.state == "done" for r in history.sets.values())
    trials = [(e["set_id"], e["trial"]) for e in read_events(out / "journal.jsonl") if e["event"] == "trial_finished"]
    assert len(trials) == len(set(trials)) == 40, "every trial exactly once"
    # the resumed set re-ran its missing trials with the same seeds: same scores as before the cut
    for set_id in range(4):  # sets 4 and 5 were not yet proposed at the cut
        assert history.sets[set_id].params == before.sets[set_id].params
        assert history.sets[set_id].scores == pytest.approx(before.sets[set_id].scores, rel=1e-12)


def test_resume_refuses_changed_space(tmp_path, capsys):
    cfg = {"objective": "branin", "space": {"x1": {"lower": -5, "upper": 10}, "x2": {"lower": 0, "upper": 15}},
           "budget": 3, "trials": 2, "out": str(tmp_path / "o")}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--quiet"]) == 0
    cfg["space"]["x2"]["upper"] = 14
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--quiet", "--resume"]) == 2
    assert "space differs" in capsys.readouterr().err
    assert main([str(path), "--quiet", "--resume", "--force-resume"]) == 0


def test_unwritable_out_is_exit_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["--out", str(blocker / "sub"), "--quiet"]) == 2
    assert "is not writable" in capsys.readouterr().err
    assert main(["--out", str(blocker), "--quiet"]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_space_smaller_than_budget_stops(tmp_path):
    cfg = {"objective": "branin", "space": {"x1": {"lower": 0, "upper": 2}, "x2": {"lower": 0, "upper": 1}},
           "budget": 50, "trials": 2, "strategy": "grid", "out": str(tmp_path / "o")}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main([str(path), "--quiet"]) == 0
    events = list(read_events(tmp_path / "o" / "journal.jsonl"))
    assert sum(e["event"] == "set_finished" for e in events) == 6
    assert events[-1]["reason"] == "space exhausted"
