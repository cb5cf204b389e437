"""The bookkeeping made incremental for 8000 simulated workers (issue 16) decides exactly as
the plain scans it replaced: the race ranked on arrays, History's kept encodings and
scores. Seeded simulated campaigns are compared event by event against a Search whose race
is ranked as it was (an Estimate per set). (The end rule's own scan is durations.py's,
tested in test_durations.py and test_last_round.py.)"""

import numpy as np
import pytest

from hyppo_hep.config import DEFAULT_CONFIG, load_config
from hyppo_hep.driver import Driver
from hyppo_hep.history import FAILED, History, SetRecord, TrialRecord
from hyppo_hep.racing import Racing
from hyppo_hep.search import Search
from hyppo_hep.simulate import DurationModel, SimulatedExecutor
from hyppo_hep.strategy import build

# set factors vary (sigma_set) and so do trials of a set (sigma_trial): the per-set mean
# spans and the tail means of the end rule both matter
DURATIONS = DurationModel(base=1200.0, sigma_set=0.3, sigma_trial=0.05, size_param="gen_layersize", size_ref=512.0,
                          size_power=0.5)


class ScanRacing(Racing):
    """The race ranked as before it was done on arrays: an Estimate per set (the path the
    kg order and a tiny alpha still take)."""

    def _rank(self, history):
        return self._rank_estimates([r for r in history.sets.values() if r.state != FAILED and r.trials])


class ScanSearch(Search):
    """The race ranked as before it was done on arrays (an Estimate per set)."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        if self.racing is not None:
            self.racing = ScanRacing(self.racing.k_std, self.racing.space)


class Log(list):
    def write(self, event):
        self.append(event)
        return event


def _campaign(cls, strategy, n_groups, budget, confirm, trial_level=True, min_trials=None):
    cfg = load_config(DEFAULT_CONFIG)
    ex = SimulatedExecutor(cfg.objective, n_groups, 5, DURATIONS, charge_proposals=False, trial_level=trial_level)
    log = Log()
    search = cls(cfg.space, build(strategy, {}, cfg.space, budget), budget=budget, trials=5, seed=3, confirm=confirm,
                 min_trials=min_trials, journal=log, clock=ex.clock,
                 last_round=False)  # the tail left long: confirmation trials run, the race is asked
    Driver(search, ex).run()
    return log, search


@pytest.mark.parametrize("strategy,n_groups,budget,confirm,trial_level,min_trials", [
    ("random", 16, 100, 3, True, None),
    ("random", 40, 250, 10, True, None),
    ("random", 40, 250, 10, False, None),
    ("rbf", 16, 100, 5, True, None),
    # adaptive repeats: top-ups put a set's regular trials out at different times
    ("random", 16, 100, 3, True, 2),
])
def test_race_on_arrays_gives_the_same_campaign(strategy, n_groups, budget, confirm, trial_level, min_trials):
    """The same events, in the same order, at the same virtual times, as with the race
    ranked per Estimate; confirmation trials ran."""
    ref, _ = _campaign(ScanSearch, strategy, n_groups, budget, confirm, trial_level, min_trials)
    got, search = _campaign(Search, strategy, n_groups, budget, confirm, trial_level, min_trials)
    assert got == ref
    assert any(e["event"] == "trials_added" and e.get("purpose") == "confirm" for e in got)
    assert not search._out  # nothing left out at the end


def test_history_encodings_follow_added_and_replaced_sets():
    cfg = load_config(DEFAULT_CONFIG)
    space = cfg.space
    rng = np.random.default_rng(0)
    h = History()
    params = [space.decode(u) for u in space.sample(rng, 150)]
    for i, p in enumerate(params[:100]):
        h.add_set(SetRecord(i, p, [i]))
    np.testing.assert_array_equal(h.X_all(space), space.encode_many(params[:100]))
    for i, p in enumerate(params[100:140]):  # appended after a first use: grows the kept rows
        h.add_set(SetRecord(100 + i, p, [i]))
    np.testing.assert_array_equal(h.X_all(space), space.encode_many(params[:140]))
    recs = [h.sets[i] for i in (139, 3, 77)]
    np.testing.assert_array_equal(h.X_of(space, recs), space.encode_many([r.params for r in recs]))
    h.add_set(SetRecord(3, params[145], [0]))  # a set replaced: its row follows
    expect = params[:140]
    expect[3] = params[145]
    np.testing.assert_array_equal(h.X_all(space), space.encode_many(expect))
    X = h.X_all(space)
    X[:] = -1.0  # a copy: the caller may scribble on it
    np.testing.assert_array_equal(h.X_all(space), space.encode_many(expect))
    assert h.X_of(space, []).shape == (0, space.dim)


def test_scores_follow_added_trials():
    rec = SetRecord(0, {}, [1, 2, 3])
    assert rec.scores == []
    rec.trials[2] = TrialRecord(2, 3, 5.0)
    assert rec.scores == [5.0]
    rec.trials[0] = TrialRecord(0, 1, 1.0)
    rec.trials[1] = TrialRecord(1, 2, None, error="boom")
    got = rec.scores
    assert got == [1.0, 5.0]
    got.append(9.0)  # a fresh list each time
    assert rec.scores == [1.0, 5.0] and rec.mean == 3.0


def test_slots_idle_count_kept_matches_a_recount():
    """Slots.n_idle, kept as workers start, finish and groups retire, equals a recount; the
    single trials still go to the lowest idle workers of partly busy groups."""
    from random import Random

    from hyppo_hep.executor.slots import Slots
    from hyppo_hep.trial import TrialSpec

    slots = Slots([[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10]])
    rnd, sid, placed = Random(4), 0, []
    for step in range(300):
        if rnd.random() < 0.5:
            k = rnd.choice((1, 1, 2, 3))
            slots.submit(TrialSpec(sid, {}, tuple(range(k)), tuple(range(k))))
            sid += 1
            for spec, workers in slots.place():
                placed += [(spec.set_id, t) for t in spec.trials]
        elif placed:
            key = placed.pop(rnd.randrange(len(placed)))
            if step >= 150 and not slots.retired and key in slots.where:
                head, _, moved = slots.lose(slots.where[key][0])
                placed = [k for k in placed if k != head]
            elif key in slots.where:
                slots.done(key)
            for spec, _ in slots.place():
                placed += [(spec.set_id, t) for t in spec.trials]
        recount = len(slots._partial) + sum(len(slots.layout[g]) for g in slots._whole)
        assert slots.n_idle == recount == len(slots.idle())
    assert slots.retired


@pytest.mark.parametrize("k_std,min_ok", [(0.0, 1), (0.5, 1), (0.0, 2)])
def test_race_ranked_on_arrays_as_from_estimates(k_std, min_ok):
    """Racing._rank on arrays gives the Estimate path's order and probabilities exactly, on
    histories with ties, one-trial sets, a failed trial and a failed set, 10 to 400 sets."""
    cfg = load_config(DEFAULT_CONFIG)
    rng = np.random.default_rng(7)
    races = 0
    for n in (10, 60, 400):
        h = History()
        for sid, u in enumerate(cfg.space.sample(rng, n)):
            k = int(rng.integers(1, 4))
            rec = SetRecord(sid, cfg.space.decode(u), list(range(k)))
            h.add_set(rec)
            base = round(float(rng.normal(0, 0.1)), 2)  # close and rounded: challengers and ties
            for t in range(k):
                score = None if (sid % 17 == 3 and t == 0) else base + round(float(rng.normal(0, 0.3)), 2)
                h.add_trial(sid, TrialRecord(t, t, score))
            h.complete(sid, min_ok=min_ok)
        fast, scan = Racing(k_std, cfg.space), ScanRacing(k_std, cfg.space)
        got, ref = fast._rank(h), scan._rank(h)
        assert got == ref and fast._unmeasured == scan._unmeasured
        races += len(ref) > 2
    assert races  # a race with challengers, not just an incumbent
