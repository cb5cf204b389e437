import json

import pytest

from hyppo_hep.errors import UserError
from hyppo_hep.journal import Journal, read_events, replay, write_results_csv


def write_events(path):
    j = Journal(path, clock=iter(range(100)).__next__)
    j.append("campaign", trials=2)
    j.append("set_submitted", set_id=0, params={"a": 1}, seeds=[11, 12], trials=[0, 1])
    j.append("set_submitted", set_id=1, params={"a": 2}, seeds=[21, 22], trials=[0, 1])
    j.append("trial_finished", set_id=1, trial=1, seed=22, score=4.0, error=None, started=2.0, finished=5.0)
    j.append("trial_finished", set_id=0, trial=0, seed=11, score=1.0, error=None, started=1.0, finished=2.0)
    j.append("trial_finished", set_id=0, trial=1, seed=12, score=float("nan"), error="non-finite", started=1, finished=3)
    j.append("set_finished", set_id=0, state="done", mean=1.0, std=0.0, n_ok=1)
    j.close()


def test_replay_rebuilds_history(tmp_path):
    path = tmp_path / "j.jsonl"
    write_events(path)
    h = replay(path)
    assert list(h.sets) == [0, 1]
    s0, s1 = h.sets[0], h.sets[1]
    assert s0.state == "done" and s0.scores == [1.0] and s0.n_ok == 1 and s0.trials[1].error == "non-finite"
    assert s1.state == "pending" and s1.missing_trials == [0] and s1.scores == [4.0]
    assert s0.wall_time == pytest.approx(3.0)


def test_every_line_is_strict_json(tmp_path):
    path = tmp_path / "j.jsonl"
    write_events(path)
    for line in path.read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_torn_last_line_is_skipped_and_cut_before_appending(tmp_path):
    path = tmp_path / "j.jsonl"
    write_events(path)
    with open(path, "a") as fh:
        fh.write('{"event": "trial_finished", "set_id": 1, "tri')
    assert len(list(read_events(path))) == 7
    j = Journal(path)
    j.append("run_finished", reason="x")
    j.close()
    events = list(read_events(path))
    assert len(events) == 8 and events[-1]["event"] == "run_finished"


def test_corrupt_middle_line_is_an_error(tmp_path):
    path = tmp_path / "j.jsonl"
    write_events(path)
    lines = path.read_text().splitlines()
    lines[2] = "garbage"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match="line 3 is not valid JSON"):
        list(read_events(path))


def test_resubmitted_set_and_duplicate_trial_count_once(tmp_path):
    path = tmp_path / "j.jsonl"
    write_events(path)
    j = Journal(path)
    j.append("set_submitted", set_id=1, params={"a": 2}, seeds=[21, 22], trials=[0])  # after a resume
    j.append("trial_finished", set_id=1, trial=1, seed=22, score=99.0, error=None)  # a duplicate must not count
    j.append("trial_finished", set_id=1, trial=0, seed=21, score=6.0, error=None)
    j.close()
    s1 = replay(path).sets[1]
    assert sorted(s1.scores) == [4.0, 6.0] and s1.mean == 5.0


def test_results_csv(tmp_path):
    path = tmp_path / "j.jsonl"
    write_events(path)
    write_results_csv(replay(path), tmp_path / "r.csv")
    rows = (tmp_path / "r.csv").read_text().splitlines()
    assert rows[0].startswith("set_id,a,mean,std,n_trials,n_ok,state")
    assert rows[1].startswith("0,1,1,0,2,1,done") and rows[2].startswith("1,2,4,0,2,1,pending")
