"""Live progress while sets train (issue 15, item 1): trial and set lines with elapsed time
and ETA in logs, a tqdm bar on a terminal, epoch ticks for in-process trials."""

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hyppo_hep
from hyppo_hep import progress as P
from hyppo_hep.history import History, SetRecord
from hyppo_hep.trial import TrialResult

ROOT = Path(__file__).resolve().parents[1]
SPACE = {"x1": {"low": -5.0, "high": 10.0}, "x2": {"low": 0.0, "high": 15.0}}


@pytest.mark.slow
def test_a_logged_run_prints_every_trial_with_elapsed_time_and_eta(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hyppo_hep.run", "--out", str(tmp_path / "o"), "--budget", "4"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    trial_lines = [ln for ln in proc.stdout.splitlines() if re.match(r"  set \d+ trial \d: ", ln)]
    assert len(trial_lines) == 4 * 5
    assert trial_lines[-1].endswith(")") and "(20/20 trainings, elapsed " in trial_lines[-1]
    assert "ETA" in trial_lines[0]
    set_lines = [ln for ln in proc.stdout.splitlines() if " complete (" in ln]
    assert [int(re.search(r"\((\d+)/4 sets\)", ln).group(1)) for ln in set_lines] == [1, 2, 3, 4]
    assert all("elapsed" in ln for ln in set_lines)


def test_eta_is_the_median_trial_time_times_what_is_left_over_the_slots():
    clock = iter(range(1000)).__next__
    prog = P.CampaignProgress(10, 2, n_slots=4, stream=io.StringIO(), interactive=False, clock=clock)
    history = History()
    history.add_set(SetRecord(0, {"x": 1}, [1, 2]))
    for dur in (3.0, 5.0, 100.0):
        prog.trial_finished(TrialResult(0, 0, 1, 0.5, started=0.0, finished=dur), history)
    assert prog.eta() == pytest.approx(5.0 * (20 - 3) / 4)


def test_a_terminal_gets_a_bar_and_the_set_lines_above_it():
    out = io.StringIO()
    res = hyppo_hep.minimize("branin", SPACE, budget=3, trials=2, strategy="random", quiet=True)
    prog = P.CampaignProgress(3, 2, stream=out, interactive=True)
    with prog:
        for rec in res.history.sets.values():
            for t in rec.trials.values():
                prog.trial_finished(TrialResult(rec.set_id, t.trial, t.seed, t.score, started=0.0, finished=1.0),
                                    res.history)
            prog.set_finished(rec, res.history)
    text = out.getvalue()
    assert "6/6" in text and "training" in text  # the tqdm bar
    assert text.count("complete (") == 3


def test_epoch_ticks_of_trials_running_here(monkeypatch, capsys):
    monkeypatch.setattr(P, "EPOCH_LINE_SECONDS", 0.0)
    hyppo_hep.minimize("curve", {"x1": SPACE["x1"], "x2": SPACE["x2"], "epochs": 3}, budget=2, trials=1,
                       strategy="random")
    out = capsys.readouterr().out
    assert len(re.findall(r"    epoch \d: ", out)) == 2 * 3
    assert "epoch 3: " in out


def test_minimize_is_quiet_only_when_told(capsys):
    hyppo_hep.minimize("branin", SPACE, budget=2, trials=2, strategy="random")
    assert "complete (2/2 sets)" in capsys.readouterr().out
    hyppo_hep.minimize("branin", SPACE, budget=2, trials=2, strategy="random", quiet=True)
    assert capsys.readouterr().out == ""
