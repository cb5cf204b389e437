import math

import numpy as np
import pytest

import hyppo_hep
from hyppo_hep.errors import SearchFailed
from hyppo_hep.journal import read_events
from tests.helpers import GOOD

SPACE = {"x": {"lower": 0, "upper": 100, "scaling": 0.1}, "act": {"choices": ["relu", "tanh"]}, "epochs": 3}


def quad(params, trial, seed, device):
    rng = np.random.default_rng(seed)
    penalty = 0.0 if params["act"] == "tanh" else 1.0
    return (params["x"] - 3.0) ** 2 + penalty + 0.1 * rng.standard_normal()


def test_minimize_finds_the_minimum_region():
    res = hyppo_hep.minimize(quad, SPACE, budget=60, trials=3, strategy="random", seed=0)
    best = res.best
    assert best["params"]["act"] == "tanh" and abs(best["params"]["x"] - 3.0) < 1.0
    assert best["params"]["epochs"] == 3 and len(best["scores"]) == 3
    # ranked by the noise-aware estimate of each set's true mean (hyppo_hep.recommend)
    assert [r["estimate"] for r in res.ranked] == sorted(r["estimate"] for r in res.ranked)


def test_minimize_with_out_writes_journal(tmp_path):
    hyppo_hep.minimize(quad, SPACE, budget=5, trials=2, out=str(tmp_path / "o"))
    kinds = [e["event"] for e in read_events(tmp_path / "o" / "journal.jsonl")]
    assert kinds.count("set_finished") == 5 and (tmp_path / "o" / "results.csv").exists()


@pytest.mark.slow
def test_minimize_by_registered_name_in_pool():
    res = hyppo_hep.minimize("branin", {"x1": {"low": -5.0, "high": 10.0}, "x2": {"low": 0.0, "high": 15.0}},
                             budget=6, trials=2, executor="pool", workers=2)
    assert len(res.ranked) == 6


def test_ask_tell_loop(tmp_path):
    at = hyppo_hep.AskTell(SPACE, trials=3, seed=1, out=str(tmp_path / "o"))
    a, b = at.ask(), at.ask()  # two pending at once: distinct
    assert a != b
    at.tell(b, [1.0, 2.0, 3.0])
    at.tell(a, [0.5, None, float("nan")])
    with pytest.raises(ValueError):
        at.tell(a, [1, 2, 3])  # already told
    assert at.best["params"] == a and at.best["mean"] == 0.5 and at.best["n_ok"] == 1
    recb = [r for r in at.result().ranked if r["params"] == b][0]
    assert recb["mean"] == 2.0 and math.isclose(recb["std"], 1.0)
    assert len(at.seeds(at.ask())) == 3
    at.close()
    events = list(read_events(tmp_path / "o" / "journal.jsonl"))
    assert sum(e["event"] == "trial_finished" for e in events) == 6


def test_ask_tell_wrong_score_count():
    at = hyppo_hep.AskTell(SPACE, trials=2)
    p = at.ask()
    with pytest.raises(ValueError, match="needs 2 scores"):
        at.tell(p, [1.0])


def test_minimize_raises_with_the_last_error_when_every_trial_fails():
    def broken(params, trial, seed, device):
        raise ValueError(f"placeholder objective, trial {trial}")

    with pytest.raises(SearchFailed, match=r"every trial failed \(6 trials\); last error: ValueError: placeholder"):
        hyppo_hep.minimize(broken, {"x": {"low": 0.0, "high": 1.0}}, budget=3, trials=2, strategy="random")


def test_minimize_with_some_failures_returns_the_best_set():
    def half(params, trial, seed, device):
        if trial == 0:
            raise ValueError("flaky")
        return params["x"]

    res = hyppo_hep.minimize(half, {"x": {"low": 0.0, "high": 1.0}}, budget=4, trials=2, strategy="random")
    assert res.best is not None and res.best["n_ok"] == 1


def test_ask_tell_with_out_writes_results_csv(tmp_path):
    at = hyppo_hep.AskTell(GOOD["space"], strategy="random", trials=2, budget=3, out=str(tmp_path / "o"))
    for _ in range(3):
        params = at.ask()
        at.tell(params, [params["x1"], params["x2"]])
    at.close()
    rows = (tmp_path / "o" / "results.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("set_id,x1,x2,mean")
    header = next(read_events(tmp_path / "o" / "journal.jsonl"))
    assert header["objective"]["name"] == "ask-tell" and header["strategy"]["name"] == "random"
