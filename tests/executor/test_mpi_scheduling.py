"""Trial-level scheduling under real `mpiexec` (issue 16): a free rank runs any pending trial.

Groups stay the unit for a new set while a whole group is free; when none is, idle ranks of
partly busy groups take the trials of the next set one each, so a set's trials may finish
on different groups. The journal stays exact: every (set, trial) once, with the seeds the
Search gave it, and a resume re-runs exactly the missing trials.
"""

import subprocess

import pytest

from hyppo_hep.executor.mpi import group_layout
from hyppo_hep.journal import read_events, replay

from tests.executor.test_mpi import config, launch, rank_of  # noqa: E402 — the same real-mpiexec helpers

pytest.importorskip("mpi4py")
pytestmark = [pytest.mark.mpi, pytest.mark.slow]


def groups_of(evs, layout):
    return {g for e in evs for g, members in enumerate(layout) if rank_of(e["worker"]) in members}


def finished(journal):
    return [e for e in read_events(journal) if e["event"] == "trial_finished"]


UNEVEN = '''
import time

def train(params, trial, seed, device):
    # trial 0 of every set is short, trial 1 long: each group has a free rank long before
    # its set is done
    time.sleep(0.15 if trial == 0 else 1.0)
    return params["x1"] + params["x2"] + seed % 7
'''


def test_idle_ranks_of_busy_groups_run_a_set_split_across_groups_and_resume_is_exact(tmp_path):
    """-n 5, groups [1, 2] and [3, 4], 2 trials per set, trial 0 short and trial 1 long:
    the ranks that ran trial 0, one in each group, are free together and take the next
    set's trials at once instead of idling until their group is done."""
    layout = group_layout(5, 2)
    (tmp_path / "uneven.py").write_text(UNEVEN)
    cfg = config(tmp_path, objective="uneven:train", trials=2, budget=4, executor={"kind": "mpi", "group_size": 2},
                 space={"x1": {"lower": 0, "upper": 9}, "x2": {"lower": 0, "upper": 9}})
    # idle ranks taking trials, without prefetch: with it the next set is queued behind the
    # running trials instead (test_mpi_prefetch.py)
    no_prefetch = {"HYPPO_MPI_PREFETCH_BELOW": "0"}
    proc = launch(5, tmp_path, cfg, "--quiet", env=no_prefetch)
    assert proc.returncode == 0, proc.stderr
    journal = tmp_path / "out" / "journal.jsonl"
    evs = finished(journal)
    pairs = sorted((e["set_id"], e["trial"]) for e in evs)
    assert pairs == [(s, t) for s in range(4) for t in range(2)], "every (set, trial) exactly once"
    by_set = {}
    for e in evs:
        by_set.setdefault(e["set_id"], []).append(e)
    split = [s for s, es in by_set.items() if len(groups_of(es, layout)) > 1]
    assert split, f"some set ran on both groups: {[(e['set_id'], rank_of(e['worker'])) for e in evs]}"
    history = replay(journal)
    for rec in history.sets.values():  # seeds are the Search's, wherever a trial ran
        assert rec.state == "done" and rec.n_ok == 2
        for t, tr in rec.trials.items():
            assert tr.score == pytest.approx(rec.params["x1"] + rec.params["x2"] + rec.seeds[t] % 7, rel=1e-12)

    # cut the journal after the first result of a split set: resume runs exactly the rest
    s = split[0]
    lines = journal.read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if '"trial_finished"' in line and f'"set_id": {s},' in line)
    journal.write_text("\n".join(lines[: cut + 1]) + "\n")
    kept = sorted((e["set_id"], e["trial"]) for e in finished(journal))
    proc = launch(5, tmp_path, cfg, "--resume", "--quiet", env=no_prefetch)
    assert proc.returncode == 0, proc.stderr
    after = sorted((e["set_id"], e["trial"]) for e in finished(journal))
    assert after == sorted(set(after)) == [(s, t) for s in range(4) for t in range(2)]
    assert set(kept) <= set(after)
    resumed = replay(journal)
    assert all(r.state == "done" and r.n_ok == 2 for r in resumed.sets.values())
    for set_id in {k[0] for k in kept}:  # the sets begun before the cut: same seeds, same scores
        assert resumed.sets[set_id].seeds == history.sets[set_id].seeds
        assert resumed.sets[set_id].scores == pytest.approx(history.sets[set_id].scores, rel=1e-12)


EXTEND_SCRIPT = '''
import sys
from mpi4py import MPI
from hyppo_hep.config import parse_objective, parse_space
from hyppo_hep.driver import Driver
from hyppo_hep.executor.mpi import MPIExecutor, worker_loop
from hyppo_hep.journal import Journal
from hyppo_hep.search import Search
from hyppo_hep.trial import Proposal

comm = MPI.COMM_WORLD
objective = parse_objective({"name": "branin", "sleep": 0.4})
if comm.Get_rank() != 0:
    sys.exit(worker_loop(comm, 2, objective))


class Confirm:
    """New sets, and once set 0 is done one confirmation trial of it (a trial-level ask; the
    budget of 8 sets leaves asks after set 0 is done, even when idle ranks take sets early)."""

    def __init__(self, space):
        self.space, self.asked = space, False

    def propose(self, history, n, rng):
        if not self.asked and 0 in history.sets and history.sets[0].state == "done":
            self.asked = True
            return [Proposal.more_trials(0, 1)]
        return [self.space.decode(u) for u in self.space.sample(rng, n)]


space = parse_space({"x1": {"lower": -5, "upper": 10}, "x2": {"lower": 0, "upper": 15}}, objective)
executor = MPIExecutor(comm, 2)
search = Search(space, Confirm(space), budget=8, trials=2, seed=5, journal=Journal(sys.argv[1]))
try:
    Driver(search, executor).run()
finally:
    executor.close()
'''


def test_a_confirmation_trial_takes_one_rank_and_the_journal_stays_exact(tmp_path):
    """-n 5 with a strategy that asks for one more trial of set 0 (Search.extend): that
    trial runs on one rank, the journal records it as trial 2 of set 0 with the next seed of
    set 0's sequence, and every (set, trial) comes back exactly once."""
    import os
    import sys

    from tests.executor.test_mpi import ROOT, mpiexec

    (tmp_path / "drive.py").write_text(EXTEND_SCRIPT)
    journal = tmp_path / "journal.jsonl"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]))
    proc = subprocess.run([mpiexec(), "-n", "5", sys.executable, str(tmp_path / "drive.py"), str(journal)],
                          capture_output=True, text=True, timeout=90, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    evs = finished(journal)
    pairs = sorted((e["set_id"], e["trial"]) for e in evs)
    assert (0, 2) in pairs and pairs == sorted(set(pairs)), pairs
    history = replay(journal)
    assert len(history.sets) == 8 and history.sets[0].n_trials == 3
    assert all(r.state == "done" for r in history.sets.values())
    from hyppo_hep.objectives.analytic import branin
    from hyppo_hep.seeding import trial_seeds

    assert history.sets[0].seeds == trial_seeds(5, history.sets[0].lineage, 3)
    f = branin()
    rec = history.sets[0]
    assert rec.trials[2].score == pytest.approx(f(rec.params, 2, rec.seeds[2]), rel=1e-12)
