"""Adaptive repeats under real MPI (`mpiexec -n 3/5`): top-ups of earlier sets run on any
free group, never more than ``max`` trials per set nor the budget in trainings, and a
resume with top-ups in flight re-runs them with the same seeds."""

import json

import pytest

from hyppo_hep.journal import read_events, replay

from tests.executor.test_mpi import config, launch, rank_of
from tests.helpers import cut_journal

pytest.importorskip("mpi4py")
pytestmark = [pytest.mark.mpi, pytest.mark.slow]

ADAPTIVE = {"trials": {"min": 2, "max": 4}, "budget": {"trainings": 24}, "strategy": "random",
            "objective": {"name": "branin", "sleep": 0.05, "noise": 10}}


def counts(journal):
    history = replay(journal)
    n = [r.n_trials for r in history.sets.values()]
    assert max(n) <= 4 and sum(n) == 24 and all(r.state == "done" for r in history.sets.values())
    return history


@pytest.mark.parametrize("ranks, group_size", [(3, 2), (5, 2)])
def test_top_ups_run_on_any_group_within_max_and_trainings(tmp_path, ranks, group_size):
    cfg = config(tmp_path, **ADAPTIVE, executor={"kind": "mpi", "group_size": group_size})
    proc = launch(ranks, tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    journal = tmp_path / "out" / "journal.jsonl"
    counts(journal)
    events = list(read_events(journal))
    added = [e for e in events if e["event"] == "trials_added"]
    assert added and all(e["purpose"] == "race" for e in added)
    assert not any(e.get("probe") or e.get("owed") for e in events)  # the race, not learn then pack
    topped = {e["set_id"] for e in added}
    finished = [e for e in events if e["event"] == "trial_finished"]
    assert {e["set_id"] for e in finished if e["trial"] >= 2} == topped  # the top-ups came back
    assert all(rank_of(e["worker"]) in range(1, ranks) for e in finished)
    assert "budget 24 trainings, 2-4 trials per set" in proc.stdout


def test_resume_under_mpi_with_a_top_up_in_flight(tmp_path):
    cfg = config(tmp_path, **ADAPTIVE, executor={"kind": "mpi", "group_size": 2})
    assert launch(5, tmp_path, cfg).returncode == 0
    journal = tmp_path / "out" / "journal.jsonl"
    before = replay(journal)
    lines, cut = cut_journal(journal, '"trials_added"')  # asked, not back
    proc = launch(5, tmp_path, cfg, "--resume")
    assert proc.returncode == 0, proc.stderr
    after = counts(journal)
    trials = [(e["set_id"], e["trial"]) for e in read_events(journal) if e["event"] == "trial_finished"]
    assert len(trials) == len(set(trials)) == 24  # nothing ran twice
    top_up = json.loads(lines[cut])
    sid, t = top_up["set_id"], top_up["trials"][0]
    assert after.sets[sid].trials[t].seed == before.sets[sid].trials[t].seed  # same seed on re-run
    assert after.sets[sid].trials[t].score == pytest.approx(before.sets[sid].trials[t].score, rel=1e-12)


def test_default_group_size_is_min_trials(tmp_path):
    """Without group_size a group has ``min`` ranks (a new set's trials), not ``max``."""
    cfg = config(tmp_path, **ADAPTIVE, executor="mpi")
    proc = launch(5, tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    assert "2 MPI worker groups of 2" in proc.stdout
    counts(tmp_path / "out" / "journal.jsonl")
