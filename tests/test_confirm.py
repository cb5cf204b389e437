"""Confirmation trials in the idle tail of a campaign (issue 16, item 1): several per
contending set at once, never more than ``confirm`` per set, started only when expected to
end before the last regular trial, and a journal that resumes exactly."""

import pytest

from hyppo_hep import journal as J
from hyppo_hep.config import DEFAULT_CONFIG, load_config
from hyppo_hep.driver import Driver
from hyppo_hep.history import History, SetRecord, TrialRecord
from hyppo_hep.journal import Journal, iter_lines, read_events, replay
from hyppo_hep.racing import Racing
from hyppo_hep.search import Search
from hyppo_hep.seeding import trial_seeds
from hyppo_hep.simulate import DurationModel, SimulatedExecutor
from hyppo_hep.strategy import build

from tests.helpers import cut_journal

# per-set durations vary (sigma_set), trials of a set do not: a set's finished trials say
# exactly how long its next one takes, so the end rule can be checked to the second
DURATIONS = DurationModel(base=1200.0, sigma_set=0.3, sigma_trial=0.0, size_param="gen_layersize", size_ref=512.0,
                          size_power=0.5)
K = 3


def _search(cfg, journal=None, clock=None, confirm=K):
    # the confirmation rule alone: the end phase (test_last_round.py) leaves
    # this campaign's tail to regular sets
    kw = {"clock": clock, "last_round": False} if clock is not None else {"last_round": False}
    return Search(cfg.space, build("random", {}, cfg.space, 100), budget=100, trials=5, seed=1, confirm=confirm,
                  journal=journal, **kw)


def _executor(cfg):
    return SimulatedExecutor(cfg.objective, 16, 5, DURATIONS, charge_proposals=False)


def _run(journal=None):
    cfg = load_config(DEFAULT_CONFIG)
    ex = _executor(cfg)
    search = _search(cfg, journal, ex.clock)
    Driver(search, ex).run()
    return search, ex


def _racing_history(ps):
    """Finished sets 0..n-1 with 2 trials each whose means make the given contenders."""
    h = History()
    for sid, mean in enumerate(ps):
        rec = SetRecord(sid, {"x": float(sid)}, [sid * 10, sid * 10 + 1], state="done")
        rec.trials = {0: TrialRecord(0, sid * 10, mean - 0.5), 1: TrialRecord(1, sid * 10 + 1, mean + 0.5)}
        h.add_set(rec)
    return h


def test_confirmations_spread_by_probability_within_the_quota():
    """Three close sets and a far one: many free slots go to the three, the incumbent (p 0.5)
    and its closest challenger most, none beyond ``confirm`` (counting those in flight),
    the far set none; a set with a regular trial out gets none."""
    h = _racing_history([1.0, 1.02, 1.1, 5.0])
    racing = Racing()
    got = dict(racing.confirmations(h, 0, 4, 100))
    assert got == {0: 4, 1: 4, 2: 4}  # quota binding: 4 each, the far set out of the race
    order = [sid for sid, _ in racing.contenders(h, 0)]  # the incumbent, then by falling p
    few = dict(racing.confirmations(h, 0, 4, 5))
    assert sum(few.values()) == 5 and [few[s] for s in order] == [2, 2, 1]  # D'Hondt on p
    h.sets[0].seeds.append(99)
    h.sets[0].confirm_trials.append(2)  # one confirmation trial of set 0 in flight
    assert dict(racing.confirmations(h, 0, 4, 100))[0] == 3
    h.sets[1].seeds.append(98)  # a regular trial of set 1 out (a top-up): not confirmed now
    h.sets[1].state = "pending"
    assert 1 not in dict(racing.confirmations(h, 0, 4, 100))


def test_the_tail_gets_several_confirmations_per_set_and_ends_with_the_last_regular_trial():
    search, ex = _run()
    h = search.history
    confirm = {(r.set_id, t) for r in h.sets.values() for t in r.confirm_trials}
    assert confirm and all(r.n_confirm <= K for r in h.sets.values())
    assert all(r.state == "done" and not r.missing_trials for r in h.sets.values())
    trials = [(r.set_id, t) for r in h.sets.values() for t in r.trials.values()]
    last_regular = max(t.finished for sid, t in trials if (sid, t.trial) not in confirm)
    last = max(t.finished for _, t in trials)
    assert last == pytest.approx(last_regular, abs=1e-6)  # no confirmation trial outlives the regular work
    # several confirmation trials of one set running at the same time
    spans = {}
    for sid, t in trials:
        if (sid, t.trial) in confirm:
            spans.setdefault(sid, []).append((t.started, t.finished))
    assert any(len(s) >= 2 and max(a for a, _ in s) < min(b for _, b in s) for s in spans.values())
    assert sum(len(r.trials) - r.n_confirm for r in h.sets.values()) == 500


def test_asked_by_hand_confirmations_only_while_a_regular_trial_is_out():
    """Results told by hand (AskTell's user: no times, so trials take 0 s): a contender is
    confirmed, several trials at once, while a regular trial is out, and not once none is."""
    cfg = load_config(DEFAULT_CONFIG)
    search = _search(cfg)
    specs = search.ask(100)
    objective = cfg.objective.build()
    from hyppo_hep.trial import TrialResult

    def tell(spec):
        for t, seed in zip(spec.trials, spec.seeds):
            search.tell(TrialResult(spec.set_id, t, seed, objective(spec.params, t, seed)))

    for spec in specs[:-1]:
        tell(spec)
    extra = search.ask(4)
    assert extra and all(len(s.trials) <= 5 for s in extra) and sum(len(s.trials) for s in extra) > len(extra)
    assert max(r.n_confirm for r in search.history.sets.values()) <= K
    for spec in [specs[-1], *extra]:
        tell(spec)
    assert search.ask(4) == []  # no regular trial out: none


def test_resume_with_confirmation_trials_in_flight_is_exact(tmp_path):
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    before, _ = _run(journal)
    journal.close()
    lines, cut = cut_journal(path, '"purpose": "confirm"')
    asked = J.replay(path)
    cfg = load_config(DEFAULT_CONFIG)
    ex = _executor(cfg)
    journal = Journal(path)
    search = _search(cfg, journal, ex.clock)
    search.replay(iter_lines(path))
    Driver(search, ex).run()
    journal.close()
    after = replay(path)
    pairs = [(e["set_id"], e["trial"]) for e in read_events(path) if e["event"] == "trial_finished"]
    assert len(pairs) == len(set(pairs))  # nothing ran twice
    assert all(r.state == "done" and r.n_confirm <= K for r in after.sets.values())
    assert sum(len(r.trials) - r.n_confirm for r in after.sets.values()) == 500
    for rec in after.sets.values():
        assert rec.seeds == trial_seeds(1, rec.lineage, rec.n_trials)  # one seed sequence per set
    sid = next(s for s, r in asked.sets.items() if r.confirm_trials)
    for t in asked.sets[sid].confirm_trials:  # the confirmation trials in flight at the cut re-ran as they were
        assert t in after.sets[sid].confirm_trials
        assert after.sets[sid].trials[t].score == pytest.approx(before.history.sets[sid].trials[t].score, rel=1e-12)
