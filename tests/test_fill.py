"""Filling the end of a campaign with confirmation trials (issue 16, RESULTS_mpi.md section
12b): a confirmation trial may end by the median of the LAST regular trial's end (the
maximum of the running sets' uncertain ends), not only by the latest expected end; the
decisions are a function of the journal."""

import math
from statistics import NormalDist

import pytest

import hyppo_hep.end_phase as EP
from hyppo_hep.config import DEFAULT_CONFIG, load_config
from hyppo_hep.driver import Driver
from hyppo_hep.search import Search
from hyppo_hep.simulate import DurationModel, SimulatedExecutor
from hyppo_hep.strategy import build
from hyppo_hep.trial import TrialResult
from tests.helpers import Events, RecordingSearch, cut_journal

# set A's five trials: a spread, so that the duration model (the intercept alone: too few
# trials for the features) has a sigma of ~0.26 and set A a mean of 600 s
A_DURATIONS = [500.0, 700.0, 600.0, 800.0, 400.0]


def _two_sets_out(confirm=2):
    """Set A finished (trials back at known durations), then at t = 1000 s the last two
    sets B and C asked: the budget is spent, B and C run with no trial back."""
    cfg = load_config(DEFAULT_CONFIG)
    now = [0.0]
    search = Search(cfg.space, build("random", {}, cfg.space, 3), budget=3, trials=5, seed=1, confirm=confirm,
                    clock=lambda: now[0], last_round=False)
    (a,) = search.ask(1)
    for t, seed, d in zip(a.trials, a.seeds, A_DURATIONS):
        search.tell(TrialResult(a.set_id, t, seed, score=0.1 + 0.001 * t, started=0.0, finished=d))
    now[0] = 1000.0
    b, c = search.ask(2)
    assert search.budget_left == 0 and {b.set_id, c.set_id} == {1, 2}
    return search, now


def test_the_last_end_is_the_median_of_the_maximum_of_the_running_sets():
    """Two sets started together with the same log-normal duration: their maximum is below
    T with probability G(T)^2, so its median is where G = sqrt(1/2): the model's own mu and
    sigma at the quantile 0.7071, exactly, not the expected end of either."""
    search, _ = _two_sets_out()
    mu, sigma = search.durations.log_normal(search.history.sets[1].params, 1)
    assert sigma == pytest.approx(0.26, abs=0.02)
    median_of_max = 1000.0 + math.exp(mu + sigma * NormalDist().inv_cdf(math.sqrt(0.5)))
    assert search._last_end(1000.0, 0.5) == pytest.approx(median_of_max, abs=1e-3)
    expected_end = 1000.0 + math.exp(mu + sigma * sigma / 2.0)
    assert max(search._regular_ends(1000.0)) == pytest.approx(expected_end, rel=1e-9)
    assert search._last_end(1000.0, 0.5) > expected_end + 50.0
    # 300 s in, both still running: the conditional law E[.. | D > 300] moves the median
    later = search._last_end(1300.0, 0.5)
    z = (math.log(300.0) - mu) / sigma
    f_e = NormalDist().cdf(z)
    g = math.sqrt(0.5) * (1.0 - f_e) + f_e  # P(D <= T - 1000) that gives G(T) = sqrt(1/2)
    assert later == pytest.approx(1000.0 + math.exp(mu + sigma * NormalDist().inv_cdf(g)), abs=1e-3)
    # running far longer than any duration seen: they may end any moment (durations.py's rule)
    assert search._last_end(1000.0 + 1e6, 0.5) == 1000.0 + 1e6


def test_a_confirmation_trial_that_ends_before_the_median_last_end_starts(monkeypatch):
    """30 s after B and C started, a trial of set A (600 s) would end at 1630 s: after the
    latest expected end of B and C (~1605 s: the rule before refuses it) but before the
    median of their maximum (~1660 s): A gets its confirmation trials now (2, its quota);
    with the quantile at 0 (the rule before) it gets none."""
    search, now = _two_sets_out(confirm=2)
    now[0] = 1030.0
    assert max(search._regular_ends(1030.0)) < 1630.0 < search._last_end(1030.0, 0.5)
    specs = search.ask(1)
    assert [(s.set_id, len(s.trials)) for s in specs] == [(0, 2)]
    assert search.history.sets[0].confirm_trials == [5, 6]
    monkeypatch.setattr(EP, "CONFIRM_END_QUANTILE", 0.0)
    before, now = _two_sets_out(confirm=2)
    now[0] = 1030.0
    assert before.ask(1) == []


def test_a_replayed_search_asks_the_same_confirmation_trials():
    """Every ask that started confirmation trials in a campaign with the end phase and
    confirm 10 (the bench's confirm-end rule), made again by a Search rebuilt from the
    journal up to it at the same virtual time, writes the same events."""
    cfg = load_config(DEFAULT_CONFIG)
    durations = DurationModel(base=1200.0, sigma_set=0.3, sigma_trial=0.02, size_param="gen_layersize",
                              size_ref=512.0, size_power=0.5)
    ex = SimulatedExecutor(cfg.objective, 16, 5, durations, charge_proposals=False)
    # probes off: with them this campaign's end is packed with owed trials, no confirmation fits
    opts = dict(budget=100, trials=5, seed=1, confirm=10, last_round=True, probes=False)
    live = RecordingSearch(cfg.space, build("rbf", {}, cfg.space, 100), journal=Events(), clock=ex.clock, **opts)
    Driver(live, ex).run()
    events = live.journal
    asked = [(n, now, a, b) for n, now, a, b in live.asks
             if any(e.get("purpose") == "confirm" for e in events[a:b])]
    assert len(asked) >= 3
    for n, now, a, b in asked:
        again = Search(cfg.space, build("rbf", {}, cfg.space, 100), journal=Events(), clock=lambda: now, **opts)
        again.replay(enumerate(events[:a]))
        again.ask(n)
        assert again.journal == events[a:b]


def test_resume_with_the_end_phase_and_confirmation_trials_in_flight_is_exact(tmp_path):
    """The bench's confirm-end campaign (random, 16 groups of 5, the size model), its
    journal cut just after the first confirmation trials were asked: the resumed run
    re-runs those trials with their seeds and scores, nothing twice, every set done, the
    quota kept, the 500 regular trials all there and the same sets as the live run."""
    from hyppo_hep.journal import Journal, iter_lines, read_events, replay

    cfg = load_config(DEFAULT_CONFIG)
    durations = DurationModel(base=1200.0, sigma_set=0.3, sigma_trial=0.02, size_param="gen_layersize",
                              size_ref=512.0, size_power=0.5)
    opts = dict(budget=100, trials=5, seed=1, confirm=10, last_round=True, probes=False)  # as above

    def run(journal):
        ex = SimulatedExecutor(cfg.objective, 16, 5, durations, charge_proposals=False)
        search = Search(cfg.space, build("random", {}, cfg.space, 100), journal=journal, clock=ex.clock, **opts)
        return search, ex

    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    live, ex = run(journal)
    Driver(live, ex).run()
    journal.close()
    lines, cut = cut_journal(path, '"purpose": "confirm"')
    asked = replay(path)
    journal = Journal(path)
    search, ex = run(journal)
    search.replay(iter_lines(path))
    Driver(search, ex).run()
    journal.close()
    after = replay(path)
    pairs = [(e["set_id"], e["trial"]) for e in read_events(path) if e["event"] == "trial_finished"]
    assert len(pairs) == len(set(pairs))
    assert len(after.sets) == 100 and all(r.state == "done" and r.n_confirm <= 10 for r in after.sets.values())
    assert sum(len(r.trials) - r.n_confirm for r in after.sets.values()) == 500
    assert all(after.sets[s].params == live.history.sets[s].params for s in after.sets)
    in_flight = [(s, t) for s, r in asked.sets.items() for t in r.confirm_trials]
    assert in_flight
    for s, t in in_flight:
        assert after.sets[s].trials[t].seed == live.history.sets[s].trials[t].seed
        assert after.sets[s].trials[t].score == pytest.approx(live.history.sets[s].trials[t].score, rel=1e-12)
