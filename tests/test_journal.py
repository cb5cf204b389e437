import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyppo_hep.errors import OutputError, UserError
from hyppo_hep.journal import Journal, read_events, replay, write_results_csv
from hyppo_hep.run import main
from tests.helpers import GOOD, check_complete, finished, one_line, run, run_main, write, write_cfg


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


# --- damaged journals: --resume and analyze end in exit 2 and one line, or repair a torn tail ----

def test_torn_last_line_and_garbage_journal(tmp_path, capsys):
    cfg = write_cfg(tmp_path, budget=3)
    assert main([str(cfg), "--quiet"]) == 0
    jp = tmp_path / "out" / "journal.jsonl"
    good = jp.read_text()
    jp.write_text(good + '{"event": "trial_fini')  # killed mid-write: tolerated
    assert main([str(cfg), "--quiet", "--resume", "--budget", "4"]) == 0
    check_complete(tmp_path / "out", 4, 2)
    jp.write_text("not json\n" + good)  # damaged elsewhere: refused, naming the line
    status, err = run_main([str(cfg), "--quiet", "--resume"], capsys)
    assert status == 2 and "line 1 is not valid JSON" in err and err.count("\n") == 1


def _tamper(lines, how):
    """Journal lines (strings without newlines) with one fault put in after the first set."""
    sub = next(i for i, l in enumerate(lines) if '"set_submitted"' in l)
    ev = json.loads(lines[sub])
    bad = {
        "wrong schema": {**ev, "set_id": "seven"},
        "unknown set": {"event": "trial_finished", "time": 1.0, "set_id": 99, "trial": 0, "seed": 1, "score": 1.0},
        "params not a mapping": {**ev, "set_id": 50, "params": [1, 2]},
        "off the lattice": {**ev, "set_id": 50, "params": {**ev["params"], "x1": 3.5}},
        "trial beyond the set": {"event": "trial_finished", "time": 1.0, "set_id": ev["set_id"], "trial": 2,
                                 "seed": 1, "score": 1.0},
        "bad state": {"event": "set_finished", "time": 1.0, "set_id": ev["set_id"], "state": "great"},
        "seeds not integers": {**ev, "set_id": 50, "seeds": ["a", None]},
        "not an event": [1, 2, 3],
    }[how]
    return lines[:sub + 1] + [json.dumps(bad)] + lines[sub + 1:]


CASES = ["wrong schema", "unknown set", "params not a mapping", "off the lattice", "trial beyond the set",
         "bad state", "seeds not integers", "not an event"]


@pytest.mark.parametrize("how", CASES)
def test_malformed_journal_resume_and_analyze_exit_2_one_line(tmp_path, capsys, finished, how):
    from hyppo_hep.analyze import main as analyze

    out, _ = finished
    path = out / "journal.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(_tamper(lines, how)) + "\n")
    before = path.read_bytes()
    cfg = write(tmp_path, {**GOOD, "budget": 6, "out": str(out)}, "more.yaml")
    status, err = run([cfg, "--resume", "--quiet"], capsys)
    one_line(status, err, what=how)
    assert "journal" in err and "line" in err, err
    assert path.read_bytes() == before  # refused, not repaired behind the user's back
    if how == "off the lattice":
        return  # a journal's params are checked against the space it resumes with; analyze draws them as they are
    status = analyze([str(out), "--out", str(tmp_path / "report")])
    one_line(status, capsys.readouterr().err, what=how)


def test_invalid_utf8_inside_a_journal_exit_2(tmp_path, capsys, finished):
    out, _ = finished
    path = out / "journal.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2] + [b'{"event": "x\xff\xfe"}\n'] + lines[2:]))
    status, err = run([write(tmp_path, {**GOOD, "budget": 6, "out": str(out)}), "--resume", "--quiet"], capsys)
    one_line(status, err)
    assert "line 3 is not valid UTF-8" in err


def test_torn_last_line_that_ends_in_a_newline_is_repaired_and_resumes_twice(tmp_path, capsys, finished):
    out, _ = finished
    path = out / "journal.jsonl"
    good = path.read_text()
    path.write_text(good + '{"event": "trial_fini\n')
    cfg = write(tmp_path, {**GOOD, "budget": 5, "out": str(out)}, "more.yaml")
    assert main([str(cfg), "--resume", "--quiet"]) == 0
    assert path.read_text().startswith(good) and '"trial_fini\n' not in path.read_text()
    cfg = write(tmp_path, {**GOOD, "budget": 6, "out": str(out)}, "more.yaml")
    assert main([str(cfg), "--resume", "--quiet"]) == 0
    assert replay(path).n_finished == 6


def test_staged_resume_of_a_stage_journal_without_a_space_exit_2(tmp_path, capsys):
    out = tmp_path / "out"
    staged = {**GOOD, "out": str(out), "stages": [{"name": "a"}, {"name": "b", "budget": 2}]}
    cfg = write(tmp_path, staged)
    assert main([str(cfg), "--quiet"]) == 0
    path = out / "1_b" / "journal.jsonl"
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    del header["space"]
    path.write_text("\n".join([json.dumps(header)] + lines[1:4]) + "\n")
    status, err = run([cfg, "--resume", "--quiet"], capsys)
    one_line(status, err)
    assert "has no campaign event with a space" in err


junk = st.recursive(st.none() | st.booleans() | st.integers(-3, 10**12) | st.floats(allow_nan=True)
                    | st.text(max_size=6), lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c,
                                                                                               max_size=3),
                    max_leaves=5)


@pytest.mark.slow
@settings(max_examples=int(os.environ.get("HYPPO_FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_hand_edited_journals_resume_or_exit_2_one_line(tmp_path_factory, capsys, data):
    """Any field of any event of a good journal replaced by junk: --resume either carries on
    (exit 0) or refuses with exit 2 and one line; never a traceback."""
    tmp = tmp_path_factory.mktemp("jfuzz")
    out = tmp / "out"
    cfg = write(tmp, {**GOOD, "out": str(out)})
    assert main([str(cfg), "--quiet"]) == 0
    capsys.readouterr()
    path = out / "journal.jsonl"
    events = [json.loads(l) for l in path.read_text().splitlines()]
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(events) - 1))
        key = data.draw(st.sampled_from(sorted(events[i])))
        events[i][key] = data.draw(junk)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    status, err = run([write(tmp, {**GOOD, "budget": 4, "out": str(out)}, "more.yaml"), "--resume", "--quiet",
                       "--force-resume"], capsys)
    if status != 0:
        one_line(status, err, what=events)


# --- a full disk ---------------------------------------------------------------------------------

def test_results_csv_on_a_full_disk_raises_and_leaves_no_temporary(tmp_path, finished):
    out, _ = finished
    tmp = out / "results.csv.tmp"
    tmp.symlink_to("/dev/full")  # every write to it fails with ENOSPC
    with pytest.raises(OutputError, match="No space left on device"):
        write_results_csv(replay(out / "journal.jsonl"), out / "results.csv")
    assert not tmp.exists() and not tmp.is_symlink()


def test_journal_on_a_full_disk_raises_output_error(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.symlink_to("/dev/full")
    journal = Journal(path)
    with pytest.raises(OutputError, match=f"cannot write journal {path}: No space left on device"):
        journal.append("campaign")
    journal.close()
