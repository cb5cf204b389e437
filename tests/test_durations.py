"""The trial-duration model of the end of a campaign (hyppo_hep/durations.py)."""

import math

import numpy as np
import pytest

from hyppo_hep.config import DEFAULT_CONFIG, load_config
from hyppo_hep.design import random_design
from hyppo_hep.durations import TrialDurations, conditional_mean

from tests.helpers import Events


def _space():
    return load_config(DEFAULT_CONFIG).space


def test_a_known_pattern_is_predicted_for_unseen_sets():
    """Durations 600 s x e^(1.5 u) in the generator's layer size u (unit cube), nothing
    else: the model predicts unseen sets within 8% (3% median) and learns a spread under 0.05; the plain
    mean over all trials (what the confirmation rule used before) is off by up to 50%."""
    space = _space()
    j = [p.name for p in space.free].index("gen_layersize")
    U = random_design(space, 60, np.random.default_rng(3))
    d = TrialDurations(space)

    def true(params):
        return 600.0 * math.exp(1.5 * space.encode(params)[j])

    for sid, u in enumerate(U[:40]):
        params = space.decode(u)
        for _ in range(3):
            d.add(sid, params, true(params))
    mu, sigma = d.log_normal(space.decode(U[0]))
    assert sigma < 0.05
    errors = [abs(d.expected(None, space.decode(u)) / true(space.decode(u)) - 1) for u in U[40:]]
    assert max(errors) < 0.08 and np.median(errors) < 0.03
    plain = np.mean([true(space.decode(u)) for u in U[:40]])
    assert max(abs(plain / true(space.decode(u)) - 1) for u in U[40:]) > 0.3
    assert d.quantile(space.decode(U[41]), 0.5) == pytest.approx(math.exp(d.log_normal(space.decode(U[41]))[0]))


def test_a_set_with_trials_back_takes_their_mean_and_elapsed_time_raises_the_estimate():
    space = _space()
    d = TrialDurations(space)
    assert d.expected(None, None) is None  # nothing back: nothing known
    params = space.decode(np.full(space.dim, 0.5))
    d.add(7, params, 100.0)
    d.add(7, params, 140.0)
    assert d.expected(7, params) == pytest.approx(120.0)
    assert d.set_mean(8) is None
    # an unknown set, intercept-only model (too few trials for the features)
    lo = d.expected(None, params, elapsed=0.0)
    late = d.expected(None, params, elapsed=400.0)
    assert late > 400.0 > lo  # a trial still out at 400 s is expected to end after 400 s


def test_log_normal_conditional_mean():
    mu, sigma = math.log(100.0), 0.5
    assert conditional_mean(mu, sigma, 0.0) == pytest.approx(100.0 * math.exp(0.125))
    # by simulation: E[D | D > 150]
    rng = np.random.default_rng(0)
    x = np.exp(rng.normal(mu, sigma, 2_000_000))
    tail = x[x > 150.0]
    assert conditional_mean(mu, sigma, 150.0) == pytest.approx(tail.mean(), rel=0.01)
    assert conditional_mean(mu, sigma, 1e6) == 1e6  # far beyond every duration: any moment now


def test_without_a_space_one_log_normal_over_every_trial():
    d = TrialDurations(None)
    for i, s in enumerate([50.0, 100.0, 200.0]):
        d.add(i, {"x": i}, s)
    mu, sigma = d.log_normal({"x": 9})
    assert mu == pytest.approx(math.log(100.0))
    assert sigma == pytest.approx(math.log(2.0))


def test_running_trials_enter_the_fit_as_right_censored():
    """Sets asked steadily for an hour, log-normal durations (median 1200 s, sigma 0.3):
    at the hour, the trials back are the short ones of the recent sets, so a fit of them
    alone under-predicts (mu 0.047 low here, sigma 0.29) and its 0.999 quantile is exceeded
    2.3x too often; with the running trials as censored (each known to last longer than it has run)
    mu and sigma come back within 0.02. Without them again: the first fit, exactly."""
    rng = np.random.default_rng(5)
    mu, sigma, now = math.log(1200.0), 0.3, 3600.0
    starts = rng.uniform(0.0, now, 3000)
    durations = np.exp(rng.normal(mu, sigma, 3000))
    d = TrialDurations(None)
    running = []
    for sid, (t0, dur) in enumerate(zip(starts, durations)):
        if t0 + dur <= now:
            d.add(sid, None, float(dur))
        else:
            running.append(sid)
    mu_back, sigma_back = d.log_normal(None)
    assert mu_back < mu - 0.04
    d.censor(running, [None] * len(running), now - starts[running], np.ones(len(running)))
    mu_all, sigma_all = d.log_normal(None)
    assert mu_all == pytest.approx(mu, abs=0.02) and sigma_all == pytest.approx(sigma, abs=0.02)
    assert d.quantile(None, 0.999) > 1.05 * math.exp(mu_back + 3.09 * sigma_back)
    d.censor()
    assert d.log_normal(None) == (mu_back, sigma_back)


def _search_with_sets_running(monkeypatch, censor: bool):
    """40 sets done (5 trials of 1200 s x a log-normal set factor, sigma 0.3), 30 asked
    3000 s ago and still running (none back), 5 left to start: the end phase."""
    from hyppo_hep import journal as J
    import hyppo_hep.end_phase as EP
    import hyppo_hep.search as S
    from hyppo_hep.seeding import trial_seeds
    from hyppo_hep.strategy import build

    monkeypatch.setattr(EP, "CENSOR_RUNNING", censor)
    space, now = _space(), 10_000.0
    events = Events()
    search = S.Search(space, build("random", {}, space, 80), budget=75, trials=5, seed=1, journal=events,
                      clock=lambda: now, last_round=True, probes=False)
    design = random_design(space, 70, np.random.default_rng(0))
    factors = np.exp(np.random.default_rng(1).normal(0.0, 0.3, 40))
    for sid, u in enumerate(design):
        params, seeds, t0 = space.decode(u), trial_seeds(1, sid, 5), 0.0 if sid < 40 else now - 3000.0
        search.apply({"event": J.SET_SUBMITTED, "time": t0, "set_id": sid, "params": params, "seeds": seeds,
                      "trials": list(range(5))})
        for t in range(5) if sid < 40 else ():
            search.apply({"event": J.TRIAL_FINISHED, "time": 1200.0, "set_id": sid, "trial": t, "seed": seeds[t],
                          "score": 0.1, "started": 0.0, "finished": 1200.0 * factors[sid]})
    return search, events, now


def test_the_end_phase_counts_the_trials_still_running(monkeypatch):
    """Sets running 3000 s whose like took 1200 s: they are long, and so is the law of a
    new set's duration (the end phase's high quantile, journalled as expected_end). Without
    the running trials in the fit it stays at what the short finished sets say (the rule
    before, CENSOR_RUNNING off); the next ask outside the end phase fits without them."""
    quantiles = {}
    for censor in (False, True):
        search, events, now = _search_with_sets_running(monkeypatch, censor)
        specs = search.ask(1)
        new = [e for e in events if e["event"] == "set_submitted"]
        assert len(specs) == 1 and len(new) == 1 and new[0]["deadline"] is not None
        quantiles[censor] = new[0]["expected_end"] - now
    assert quantiles[True] > 2.0 * quantiles[False]  # 5498 s against 1297 s
    assert search.durations._censored is not None
    search.ask(0)  # nothing asked: nothing fitted
    search.budget = search.n_started  # no new set: no end phase, the confirmation rule's fit
    search.ask(1)
    assert search.durations._censored is None
