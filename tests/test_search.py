"""The Search core: ask/tell, trial-level asks, one apply for live and replayed events, and
journals written before the core (tests/fixtures/pre_core) still resume and analyse."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hyppo_hep.driver import Driver
from hyppo_hep.executor.serial import SerialExecutor
from hyppo_hep.history import DONE, PENDING, SetState
from hyppo_hep.journal import Journal, iter_lines, read_events, replay
from hyppo_hep.objectives.registry import CallableRef
from hyppo_hep.run import main
from hyppo_hep.search import Search, StopReason
from hyppo_hep.seeding import trial_seeds
from hyppo_hep.space import Space
from hyppo_hep.strategy import build
from hyppo_hep.trial import Proposal, TrialResult

SPACE = {"x1": {"low": -5.0, "high": 10.0}, "x2": {"low": 0.0, "high": 15.0}}
PRE = Path(__file__).parent / "fixtures" / "pre_core"


def quad(params, trial, seed, device):
    return (params["x1"] - 1.0) ** 2 + params["x2"] + 0.1 * trial


def result(spec, i, score):
    return TrialResult(spec.set_id, spec.trials[i], spec.seeds[i], score)


def test_ask_tell_by_hand_journals_what_the_history_holds(tmp_path):
    space = Space.from_dict(SPACE)
    journal = Journal(tmp_path / "j.jsonl")
    search = Search(space, build("random", {}, space, 4), budget=4, trials=2, seed=7, journal=journal)
    specs = search.ask(3)
    assert [s.set_id for s in specs] == [0, 1, 2] and all(s.trials == (0, 1) for s in specs)
    assert list(specs[1].seeds) == trial_seeds(7, 1, 2)
    assert search.budget_left == 1 and len(search.history.pending) == 3
    assert search.tell(result(specs[1], 0, 1.0)) is None  # one trial of two: still pending
    rec = search.tell(result(specs[1], 1, 3.0))
    assert rec.set_id == 1 and rec.state == DONE and (rec.mean, rec.std) == (2.0, pytest.approx(np.sqrt(2)))
    assert len(search.ask(5)) == 1 and search.ask(5) == []  # the budget counts sets
    journal.close()
    assert_replay_equals(search, tmp_path / "j.jsonl")


def assert_replay_equals(search, path):
    again = replay(path)
    assert list(again.sets) == list(search.history.sets)
    for sid, rec in search.history.sets.items():
        other = again.sets[sid]
        assert (other.params, other.seeds, other.state, sorted(other.trials)) == \
               (rec.params, rec.seeds, rec.state, sorted(rec.trials))
        assert other.mean == pytest.approx(rec.mean, nan_ok=True)


def test_extra_trials_of_a_finished_set_continue_its_seeds_and_replay(tmp_path):
    space = Space.from_dict(SPACE)
    journal = Journal(tmp_path / "j.jsonl")
    search = Search(space, build("random", {}, space, 2), budget=2, trials=2, seed=3, journal=journal)
    spec = search.ask(1)[0]
    for i in range(2):
        search.tell(result(spec, i, float(i)))
    assert search.history.sets[0].state == DONE and search.history.n_finished == 1
    more = search.extend(0, 3)
    assert more.trials == (2, 3, 4) and list(more.seeds) == trial_seeds(3, 0, 5)[2:]
    assert search.history.sets[0].state == PENDING and search.history.n_finished == 0
    assert search.budget_left == 1  # extra trials are not a new set
    for i in range(3):
        rec = search.tell(result(more, i, 10.0))
    assert rec.state == DONE and rec.n_ok == 5 and rec.mean == pytest.approx(6.2)
    journal.close()
    assert_replay_equals(search, tmp_path / "j.jsonl")
    kinds = [e["event"] for e in read_events(tmp_path / "j.jsonl")]
    assert kinds.count("trials_added") == 1 and kinds.count("set_finished") == 2


class RepeatTheBest:
    """A strategy that proposes new sets, then asks for 2 more trials of the best one."""

    def __init__(self, space):
        self.inner = build("random", {}, space, 100)
        self.extended = False

    def propose(self, history, n, rng):
        if len(history.done) >= 3 and not self.extended:
            self.extended = True
            return [Proposal.more_trials(history.best().set_id, 2)]
        return self.inner.propose(history, n, rng)


def test_a_strategy_can_ask_for_more_trials_of_a_set_through_the_pump():
    space = Space.from_dict(SPACE)
    search = Search(space, RepeatTheBest(space), budget=5, trials=2, seed=1)
    summary = Driver(search, SerialExecutor(CallableRef(quad))).run()
    assert summary.reason == StopReason.BUDGET and len(summary.history.sets) == 5
    counts = sorted(r.n_trials for r in summary.history.sets.values())
    assert counts == [2, 2, 2, 2, 4] and all(r.state == DONE for r in summary.history.sets.values())


def test_replayed_search_has_the_live_failure_streak_and_counts():
    space = Space.from_dict(SPACE)
    events = []

    class Capture:
        def write(self, ev):
            events.append(json.loads(json.dumps(ev)))

    live = Search(space, build("random", {}, space, 3), budget=3, trials=2, journal=Capture(),
                  max_consecutive_failures=3)
    for spec in live.ask(2):
        for i in range(2):
            live.tell(TrialResult(spec.set_id, spec.trials[i], spec.seeds[i], None, "boom"))
    assert live.stop_reason == StopReason.TOO_MANY_FAILURES and "boom" in live.failure_message
    again = Search(space, build("random", {}, space, 3), budget=3, trials=2, max_consecutive_failures=3)
    again.replay(enumerate(events, 1))
    assert (again.consecutive_failures, again.n_started, again.history.n_finished) == (4, 2, 2)
    assert again.stop_reason == live.stop_reason
    again.start({"resumed": True})  # a new run: the streak starts again
    assert again.stop_reason is None


def test_set_state_and_stop_reason_are_enums_that_journal_as_words(tmp_path):
    assert SetState("done") is DONE and f"{DONE}" == "done" and f"{StopReason.BUDGET}" == "budget"
    space = Space.from_dict(SPACE)
    journal = Journal(tmp_path / "j.jsonl")
    search = Search(space, build("random", {}, space, 1), budget=1, trials=1, journal=journal)
    Driver(search, SerialExecutor(CallableRef(quad))).run()
    search.end(StopReason.BUDGET)
    journal.close()
    evs = list(read_events(tmp_path / "j.jsonl"))
    assert evs[-2]["state"] == "done" and evs[-1]["reason"] == "budget" and evs[-1]["n_finished"] == 1


# --- journals written before the Search core ------------------------------------------------

def test_pre_core_hyperband_journal_reads_old_names():
    h = replay(PRE / "hyperband" / "journal.jsonl")
    mf = [r for r in h.sets.values()]
    assert len(mf) == 9 + 3 + 1 + 5 + 1 + 3 and all(r.resource == r.params["epochs"] for r in mf)
    promoted = [r for r in mf if r.rung]
    assert promoted and all(r.config_id in h.sets and h.sets[r.config_id].rung == 0 for r in promoted)
    assert all(r.budget == r.resource and r.config == r.config_id for r in mf)  # the old names still read


@pytest.mark.parametrize("name,cut", [("hyperband", 40), ("plain", 20)])
def test_pre_core_journal_resumes_to_the_same_sets(tmp_path, name, cut):
    """A journal of the old code, cut mid-run, resumes with today's code: the sets it had are
    kept, the missing trials run with their seeds, and the run completes its budget."""
    out = tmp_path / name
    out.mkdir()
    lines = (PRE / name / "journal.jsonl").read_text().splitlines(keepends=True)
    (out / "journal.jsonl").write_text("".join(lines[:cut]))
    before = replay(out / "journal.jsonl")
    assert main([str(PRE / f"{name}.yaml"), "--out", str(out), "--resume", "--quiet"]) == 0
    after = replay(out / "journal.jsonl")
    whole = replay(PRE / name / "journal.jsonl")
    assert len(after.sets) == len(whole.sets) and after.n_finished == len(whole.sets)
    for sid, rec in before.sets.items():
        assert after.sets[sid].params == rec.params and after.sets[sid].seeds == rec.seeds
        if rec.state != PENDING:
            assert after.sets[sid].mean == pytest.approx(rec.mean)
    pending = [sid for sid, r in before.sets.items() if r.state == PENDING]
    for sid in pending:  # the same seeds give the same scores as the uninterrupted old run
        assert after.sets[sid].mean == pytest.approx(whole.sets[sid].mean)


@pytest.mark.slow
def test_pre_core_journals_analyse(tmp_path, capsys):
    from hyppo_hep.analyze import main as analyze

    for name in ("plain", "hyperband", "asktell"):
        shutil.copytree(PRE / name, tmp_path / name)
        assert analyze([str(tmp_path / name), "--out", str(tmp_path / f"report_{name}")]) == 0, name
        assert (tmp_path / f"report_{name}" / "report.html").exists()


def test_results_csv_is_rewritten_at_most_every_interval_and_on_flush(tmp_path):
    from hyppo_hep.history import History, SetRecord
    from hyppo_hep.journal import ResultsWriter

    now = [100.0]
    writer = ResultsWriter(tmp_path / "results.csv", interval=5.0, clock=lambda: now[0])
    h = History()
    h.add_set(SetRecord(0, {"x": 1}, [1]))
    assert writer.maybe_write(h)  # the first set: written at once
    h.add_set(SetRecord(1, {"x": 2}, [2]))
    now[0] += 4.9
    assert not writer.maybe_write(h) and len((tmp_path / "results.csv").read_text().splitlines()) == 2
    now[0] += 0.2
    assert writer.maybe_write(h) and len((tmp_path / "results.csv").read_text().splitlines()) == 3
    h.add_set(SetRecord(2, {"x": 3}, [3]))
    writer.flush(h)  # the end of a run
    assert len((tmp_path / "results.csv").read_text().splitlines()) == 4


def test_the_campaign_event_records_the_initial_design_size(tmp_path):
    from hyppo_hep.campaign import run_campaign
    from hyppo_hep.config import parse_config

    raw = {"objective": "branin", "space": SPACE, "trials": 1, "budget": 3, "strategy": {"name": "rbf", "initial": 2},
           "out": str(tmp_path / "o")}
    run_campaign(parse_config(raw), quiet=True)
    header = next(read_events(tmp_path / "o" / "journal.jsonl"))
    assert header["event"] == "campaign" and header["initial_design"] == 2


def test_best_is_kept_up_to_date_as_sets_finish_and_reopen():
    """History.best is incremental (it is asked after every set); it must always be the head
    of the full ranking, also when a finished set gets more trials and its mean changes."""
    space = Space.from_dict(SPACE)
    search = Search(space, build("random", {}, space, 30), budget=30, trials=2, seed=2)
    rng = np.random.default_rng(0)
    for step in range(60):
        if rng.random() < 0.2 and search.history.done:
            spec = search.extend(int(rng.choice([r.set_id for r in search.history.done])), 1)
        else:
            specs = search.ask(1)
            if not specs:
                break
            spec = specs[0]
        for i in range(len(spec.trials)):
            search.tell(result(spec, i, float(rng.normal())))
        for k in (0.0, 1.0):
            ranked = search.history.ranked(k)
            assert search.history.best(k) is (ranked[0] if ranked else None)


@pytest.mark.parametrize("name", sorted(__import__("hyppo_hep.strategy.base", fromlist=["STRATEGIES"]).STRATEGIES))
def test_every_strategy_live_equals_replay_and_a_cut_journal_resumes(tmp_path, name):
    """The contract of the core for each registered strategy: the History a run leaves is
    the replay of its journal, and the journal cut after half its events resumes to the
    budget with the sets it had."""
    space = Space.from_dict({**SPACE, "epochs": 9})

    def curve(params, trial, seed, device):
        return (params["x1"] - 1.0) ** 2 + params["x2"] + 10.0 / params["epochs"] + 0.01 * seed % 1

    def search(journal):
        return Search(space, build(name, {}, space, 10), budget=10, trials=2, seed=4, journal=journal)

    journal = Journal(tmp_path / "j.jsonl")
    live = search(journal)
    Driver(live, SerialExecutor(CallableRef(curve))).run()
    journal.close()
    assert len(live.history.sets) == 10 and live.history.n_finished == 10
    assert_replay_equals(live, tmp_path / "j.jsonl")
    lines = (tmp_path / "j.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "cut.jsonl").write_text("".join(lines[:len(lines) // 2]))
    resumed = search(None)
    resumed.replay(iter_lines(tmp_path / "cut.jsonl"))
    kept = {sid: (r.params, r.seeds) for sid, r in resumed.history.sets.items()}
    resumed.journal = Journal(tmp_path / "cut.jsonl")
    Driver(resumed, SerialExecutor(CallableRef(curve))).run()
    resumed.journal.close()
    assert resumed.history.n_finished == 10
    assert all((resumed.history.sets[sid].params, resumed.history.sets[sid].seeds) == v for sid, v in kept.items())
    assert_replay_equals(resumed, tmp_path / "cut.jsonl")
