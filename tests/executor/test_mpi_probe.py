"""Learn then pack under real MPI (`mpiexec -n 7`, 3 groups of 2): the end phase starts
sets as probes (one trial) and sends their owed trials out later, on whatever rank is free;
a journal cut where trials are held resumes with `python -m hyppo_hep.run --resume` to the
same sets, seeds and scores, nothing run twice."""

import pytest

from hyppo_hep.journal import iter_lines, read_events, replay
from hyppo_hep.search import Search

from tests.executor.test_mpi import config, launch
from tests.helpers import cut_journal

pytest.importorskip("mpi4py")
pytestmark = [pytest.mark.mpi, pytest.mark.slow]

# sets differ in length (a hidden factor the parameters do not say: the seed-free hash of
# x2), as trainings do; a set's trials take the same time
OBJECTIVE = '''
import time


def f(params, trial, seed, device):
    time.sleep(0.15 + 0.6 * (int(params["x2"] * 1000) % 7) / 7)
    x1, x2 = params["x1"], params["x2"]
    return (x2 - 0.129 * x1 ** 2 + 1.59 * x1 - 6) ** 2 + 10
'''
PROBE = {"trials": 3, "budget": 30, "strategy": "random", "seed": 5,
         "space": {"x1": {"low": -5.0, "high": 10.0}, "x2": {"low": 0.0, "high": 15.0}},
         "objective": "probeobj:f", "executor": {"kind": "mpi", "group_size": 2}}


def _held_counts(journal, space):
    """How many trials are held after each event of the journal (a replayed Search's)."""
    search = Search(space, None, budget=30, trials=3, seed=5)
    counts = []
    for _, ev in iter_lines(journal):
        search.apply(ev)
        counts.append(sum(map(len, search._held.values())))
    return counts


def test_probes_and_owed_trials_under_mpi_resume_exactly(tmp_path):
    from hyppo_hep.config import parse_config

    (tmp_path / "probeobj.py").write_text(OBJECTIVE)
    cfg = config(tmp_path, **PROBE)
    proc = launch(7, tmp_path, cfg)
    assert proc.returncode == 0, proc.stderr
    journal = tmp_path / "out" / "journal.jsonl"
    live = replay(journal)
    events = list(read_events(journal))
    assert any(e.get("probe") for e in events) and any(e.get("owed") for e in events)
    counts = _held_counts(journal, parse_config({**cfg, "out": str(tmp_path / "x")}).space)
    cut = max(range(len(counts)), key=counts.__getitem__)
    assert counts[cut] > 0
    cut_journal(journal, cut)
    proc = launch(7, tmp_path, cfg, "--resume")
    assert proc.returncode == 0, proc.stderr
    after = replay(journal)
    pairs = [(e["set_id"], e["trial"]) for e in read_events(journal) if e["event"] == "trial_finished"]
    assert len(pairs) == len(set(pairs)) == 90  # every trial once
    assert len(after.sets) == 30 and all(r.state == "done" for r in after.sets.values())
    n_before = len({e["set_id"] for e in events[:cut + 1] if e["event"] == "set_submitted"})
    for sid in range(n_before):
        a, b = after.sets[sid], live.sets[sid]
        assert a.params == b.params and a.seeds == b.seeds
        for t in range(3):
            assert a.trials[t].seed == b.trials[t].seed and a.trials[t].score == pytest.approx(b.trials[t].score)
