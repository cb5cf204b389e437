"""Prefetch on MPI (issue 16): a rank is sent its next trial while it runs the current one,
and a queued trial that an idle rank could start sooner is taken back.

The protocol on a fake communicator (no MPI job): the worker side (_Trials) gives back a
queued trial only while another trial runs, also one whose work has not arrived yet, and
refuses between trials; the master side (MPIExecutor) queues behind running trials, recalls
when a rank idles with nothing to do, places a trial only once its rank said it gave it
back, and ignores a former executor's answers. Then the same under real `mpiexec` (slow).
"""

import json
import os
import subprocess
import sys
from collections import deque

import pytest

from hyppo_hep.executor import mpi
from hyppo_hep.journal import read_events, replay
from hyppo_hep.trial import TrialResult, TrialSpec

pytest.importorskip("mpi4py")


class FakeComm:
    """Messages from rank 0 matched in the order sent (any tag, or the first of a tag, as
    MPI does); sends recorded."""

    def __init__(self, rank=1, size=3):
        self.rank, self.size = rank, size
        self.inbox: deque = deque()  # (obj, source, tag)
        self.sent: list = []  # (dest, tag, obj)

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size

    def improbe(self, source, tag, status):
        from mpi4py import MPI

        for i, (obj, src, t) in enumerate(self.inbox):
            if tag in (MPI.ANY_TAG, t) and source in (MPI.ANY_SOURCE, src):
                del self.inbox[i]
                status.Set_source(src)
                status.Set_tag(t)

                class Msg:
                    def recv(self_inner, _obj=obj):
                        return _obj
                return Msg()
        return None

    def iprobe(self, source, tag):  # looks, never receives (_StopWatch)
        return any(t == tag and src == source for _, src, t in self.inbox)

    def isend(self, obj, dest, tag):
        self.sent.append((dest, tag, obj))

        class Done:
            def Test(self_inner):
                return True
        return Done()

    def sent_with(self, tag):
        return [(dest, obj) for dest, t, obj in self.sent if t == tag]


class Watch:
    stopped = False


TOKEN = 77


def work(set_id, trials, token=TOKEN):
    spec = TrialSpec(set_id, {"x": set_id}, tuple(trials), tuple(100 * set_id + t for t in trials))
    return (token, mpi._pack(spec)), 0, mpi.TAG_WORK


@pytest.fixture
def trials(monkeypatch):
    monkeypatch.setattr(mpi, "RECALL_POLL_S", 600.0)  # the watcher thread stays out of the way
    monkeypatch.setattr(mpi, "PREFETCH_BELOW_S", 30.0)  # the default, whatever the environment says
    comm = FakeComm()
    t = mpi._Trials(comm, mpi._Outbox(), mpi._RankStats(1, "member"), Watch())
    yield t, comm
    t.close()


def answers(comm):
    return [obj for _, obj in comm.sent_with(mpi.TAG_RETURNED)]


def test_worker_says_hello_with_its_doorbell_on_its_first_work(trials):
    t, comm = trials
    assert not comm.sent_with(mpi.TAG_HELLO)  # a master that stops before any work reads nothing
    comm.inbox.extend([work(0, [0]), work(1, [0])])
    t.next()
    (dest, address), = comm.sent_with(mpi.TAG_HELLO)
    assert dest == 0 and address[1] == t._bell.getsockname()[1]


def test_worker_gives_back_a_queued_trial_only_while_another_runs(trials):
    t, comm = trials
    comm.inbox.extend([work(0, [0]), work(1, [0])])
    spec, trial, seed = t.next()
    assert (spec.set_id, trial, seed) == (0, 0, 0)  # set 1's trial is queued behind it
    t._answer((1, 0, TOKEN))  # the watcher, during set 0's trial
    assert answers(comm) == [(1, 0, TOKEN, True)]
    t.finished("result", mpi.TAG_RESULT)
    comm.inbox.extend([work(2, [0]), ((2, 0, TOKEN), 0, mpi.TAG_RECALL)])
    spec, trial, _ = t.next()  # between trials: the recall of set 2 is refused, set 2 runs
    assert (spec.set_id, trial) == (2, 0) and answers(comm)[-1] == (2, 0, TOKEN, False)
    t.finished("result", mpi.TAG_RESULT)
    t._answer((2, 0, TOKEN))  # already run: refused
    assert answers(comm)[-1] == (2, 0, TOKEN, False) and t.given_back == 1


def test_worker_drops_a_trial_given_back_before_its_work_arrived(trials):
    t, comm = trials
    comm.inbox.append(work(0, [0]))
    t.next()
    t._answer((3, 1, TOKEN))  # its work is still on the way (MPI keeps the master's order)
    assert answers(comm) == [(3, 1, TOKEN, True)]
    t.finished("result", mpi.TAG_RESULT)
    comm.inbox.extend([work(3, [0, 1]), work(4, [0])])
    got = []
    for _ in range(2):
        spec, trial, _ = t.next()
        got.append((spec.set_id, trial))
        t.finished("result", mpi.TAG_RESULT)
    assert got == [(3, 0), (4, 0)] and not t.pending and not t.cancelled
    comm.inbox.append(work(3, [1]))  # the master placed it again, here: it runs
    spec, trial, seed = t.next()
    assert (spec.set_id, trial, seed) == (3, 1, 301)


def test_worker_refuses_a_former_executors_recall(trials):
    t, comm = trials
    comm.inbox.extend([work(0, [0]), work(1, [0])])
    t.next()
    t._answer((1, 0, TOKEN + 1))
    assert answers(comm) == [(1, 0, TOKEN + 1, False)] and len(t.pending) == 1


def result(set_id, trial, seconds):
    return TrialResult(set_id, trial, 100 * set_id + trial, 1.0, None, "w", "cpu", 0.0, seconds)


def master(monkeypatch, size=3):
    comm = FakeComm(rank=0, size=size)
    monkeypatch.setattr(mpi._RankStats, "wait", lambda self, *a, **k: None)
    monkeypatch.setattr(mpi, "PREFETCH_BELOW_S", 30.0)  # the default, whatever the environment says
    ex = mpi.MPIExecutor(comm, 1)
    assert ex.prefetch and ex.recalls
    return ex, comm


def sent_work(comm, dest):
    return [(obj[0], TrialSpec(*obj[1]).set_id) for d, obj in comm.sent_with(mpi.TAG_WORK) if d == dest]


def test_master_queues_behind_a_running_trial_and_recalls_it_for_an_idle_rank(monkeypatch):
    ex, comm = master(monkeypatch)
    for i in range(2):
        ex.submit(TrialSpec(i, {"x": i}, (0,), (100 * i,)))
    assert ex.slots.where == {(0, 0): (1, 0), (1, 0): (2, 100)}
    assert ex.n_slots == 2  # no trial back yet: no duration known, no prefetch
    ex._take((mpi._pack(result(1, 0, 10.0)), 2, mpi.TAG_RESULT))  # rank 2 idle; trials take ~10 s
    ex._dispatch()  # as poll does after taking results
    assert ex.n_slots == 3
    ex.submit(TrialSpec(2, {"x": 2}, (0,), (200,)))  # to idle rank 2
    ex.submit(TrialSpec(3, {"x": 3}, (0,), (300,)))
    ex._dispatch()
    assert ex.slots.todo[1] == deque([(0, 0), (3, 0)]), "queued behind set 0 on rank 1"
    assert sent_work(comm, 1) == [(ex._token, 0), (ex._token, 3)] and ex.slots.depth == 2
    assert not comm.sent_with(mpi.TAG_RECALL)  # nobody idles
    ex._take((mpi._pack(result(2, 0, 10.0)), 2, mpi.TAG_RESULT))  # rank 2 idle, nothing queued
    ex._dispatch()
    assert comm.sent_with(mpi.TAG_RECALL) == [(1, (3, 0, ex._token))]
    ex._take(((3, 0, ex._token + 1, True), 1, mpi.TAG_RETURNED))  # a former executor's: ignored
    assert ex.slots.where[(3, 0)] == (1, 300)
    ex._take(((3, 0, ex._token, True), 1, mpi.TAG_RETURNED))
    ex._dispatch()
    assert ex.slots.where[(3, 0)] == (2, 300) and ex.slots.todo[1] == deque([(0, 0)])
    assert sent_work(comm, 2)[-1] == (ex._token, 3) and ex.n_recalled == 1
    assert len(comm.sent_with(mpi.TAG_RECALL)) == 1  # not asked twice


def test_master_keeps_a_trial_its_rank_refused(monkeypatch):
    ex, comm = master(monkeypatch)
    for i in range(2):
        ex.submit(TrialSpec(i, {"x": i}, (0,), (100 * i,)))
    ex._take((mpi._pack(result(1, 0, 10.0)), 2, mpi.TAG_RESULT))
    for i in (2, 3):
        ex.submit(TrialSpec(i, {"x": i}, (0,), (100 * i,)))
    ex._take((mpi._pack(result(2, 0, 10.0)), 2, mpi.TAG_RESULT))
    ex._dispatch()
    assert comm.sent_with(mpi.TAG_RECALL) == [(1, (3, 0, ex._token))]
    # rank 1 had finished set 0 and started set 3 when the recall came: its result first
    ex._take((mpi._pack(result(0, 0, 10.0)), 1, mpi.TAG_RESULT))
    ex._take(((3, 0, ex._token, False), 1, mpi.TAG_RETURNED))
    ex._dispatch()
    assert ex.slots.where == {(3, 0): (1, 300)} and not ex.slots.queue and ex.n_recalled == 0
    assert [r.set_id for r in [ex._take((mpi._pack(result(3, 0, 10.0)), 1, mpi.TAG_RESULT))]] == [3]


# --- the end of a run: nothing left unreceived at MPI_Finalize -----------------------------

def test_worker_says_bye_after_everything_else_it_sent(monkeypatch):
    """A rank's last message is TAG_BYE, after everything else it sent (MPI keeps one
    sender's order, so the master that has its bye has everything else)."""
    from hyppo_hep.config import parse_objective

    monkeypatch.setattr(mpi, "PREFETCH_BELOW_S", 30.0)
    monkeypatch.setattr(mpi, "RECALL_POLL_S", 600.0)
    comm = FakeComm()
    comm.inbox.extend([work(0, [0]), work(1, [0]), ((1, 0, TOKEN), 0, mpi.TAG_RECALL), (None, 0, mpi.TAG_STOP)])
    assert mpi.worker_loop(comm, 1, parse_objective("branin")) == 0
    # the stop came with the work, before any trial started: the rank answers the recall
    # it received first (refused: no trial runs), runs nothing, and says bye last
    assert [t for _, t, _ in comm.sent] == [mpi.TAG_HELLO, mpi.TAG_RETURNED, mpi.TAG_BYE]
    assert comm.sent[-1] == (0, mpi.TAG_BYE, None)
    assert not comm.inbox


def test_master_receives_late_answers_until_every_ranks_bye(monkeypatch):
    """The exit 9 (benchmarks/RESULTS_mpi.md section 12): a rank answered a recall after
    its last result had ended the campaign, the answer stayed unreceived, MPICH's
    MPI_Finalize failed on rank 0 and the launcher killed the other ranks. close() now
    receives everything up to each rank's bye, and does not wait for a rank given up on."""
    monkeypatch.setattr(mpi, "PREFETCH_BELOW_S", 30.0)
    comm = FakeComm(rank=0, size=4)
    ex = mpi.MPIExecutor(comm, 1)
    ex.lost_ranks.append(3)  # frozen: it will never say bye
    comm.inbox.extend([((0, 1, ex._token, False), 1, mpi.TAG_RETURNED), (None, 1, mpi.TAG_BYE),
                       (("hyppo", 4000), 2, mpi.TAG_HELLO), (None, 2, mpi.TAG_BYE)])
    ex.close()
    assert not comm.inbox, "a message left for MPI_Finalize"
    assert ex.n_late == 2 and sorted(d for d, _ in comm.sent_with(mpi.TAG_STOP)) == [1, 2, 3]


# --- under real mpiexec --------------------------------------------------------------------

from tests.executor.test_mpi import ROOT, config, launch, mpiexec, rank_of  # noqa: E402

PREFETCH = {"HYPPO_MPI_PREFETCH_BELOW": "30"}  # the default, whatever the environment says


def stats_of(path):
    return {d["rank"]: d for d in (json.loads(p.read_text()) for p in path.glob("rank*.json"))}


@pytest.mark.mpi
@pytest.mark.slow
def test_ranks_start_queued_trials_every_trial_once_and_resume_exact(tmp_path):
    """-n 5, 2 groups of 2, 0.3 s trials: ranks get their next trial while running one (the
    stats count trials started without waiting), every (set, trial) is journalled once with
    the Search's seeds, and a journal cut in the middle resumes to exactly the rest."""
    cfg = config(tmp_path, objective={"name": "branin", "sleep": 0.3}, trials=2, budget=16, strategy="random",
                 executor={"kind": "mpi", "group_size": 2})
    stats = tmp_path / "stats"
    proc = launch(5, tmp_path, cfg, "--quiet", env={"HYPPO_MPI_STATS": str(stats), **PREFETCH})
    assert proc.returncode == 0, proc.stderr
    ranks = stats_of(stats)
    assert sum(r["queued_starts"] for r in ranks.values() if r["role"] != "master") >= 8, ranks
    journal = tmp_path / "out" / "journal.jsonl"
    pairs = sorted((e["set_id"], e["trial"]) for e in read_events(journal) if e["event"] == "trial_finished")
    assert pairs == [(s, t) for s in range(16) for t in range(2)], "every (set, trial) exactly once"
    history = replay(journal)
    from hyppo_hep.objectives.analytic import branin

    f = branin()
    for rec in history.sets.values():
        assert rec.state == "done"
        for t, tr in rec.trials.items():
            assert tr.score == pytest.approx(f(rec.params, t, rec.seeds[t]), rel=1e-12)
    lines = journal.read_text().splitlines()
    done = [i for i, line in enumerate(lines) if '"trial_finished"' in line]
    journal.write_text("\n".join(lines[: done[len(done) // 2] + 1]) + "\n")
    kept = {(e["set_id"], e["trial"]) for e in read_events(journal) if e["event"] == "trial_finished"}
    begun = {e["set_id"] for e in read_events(journal) if e["event"] == "set_submitted"}
    proc = launch(5, tmp_path, cfg, "--resume", "--quiet", env=PREFETCH)
    assert proc.returncode == 0, proc.stderr
    after = sorted((e["set_id"], e["trial"]) for e in read_events(journal) if e["event"] == "trial_finished")
    assert after == sorted(set(after)) == pairs and kept <= set(after)
    resumed = replay(journal)
    assert all(r.state == "done" for r in resumed.sets.values())
    for set_id, rec in history.sets.items():
        if set_id not in begun:
            continue  # proposed again after the cut: the strategy's draw, not the journal's
        assert resumed.sets[set_id].seeds == rec.seeds and resumed.sets[set_id].params == rec.params
        assert resumed.sets[set_id].scores == pytest.approx(rec.scores, rel=1e-12)


TAKE_BACK_SCRIPT = '''
import sys
from mpi4py import MPI
from hyppo_hep.config import parse_objective, parse_space
from hyppo_hep.driver import Driver
from hyppo_hep.executor.mpi import MPIExecutor, worker_loop
from hyppo_hep.journal import Journal
from hyppo_hep.search import Search

comm = MPI.COMM_WORLD
objective = parse_objective("slowfirst:train")
if comm.Get_rank() != 0:
    sys.exit(worker_loop(comm, 1, objective))


class InOrder:
    """Set i has x1 = i: set 0 is the long one."""

    def propose(self, history, n, rng):
        k = len(history.sets)
        return [{"x1": float(k + i)} for i in range(n)]


space = parse_space({"x1": {"lower": 0, "upper": 100}}, objective)
executor = MPIExecutor(comm, 1)
search = Search(space, InOrder(), budget=int(sys.argv[2]), trials=1, seed=5, journal=Journal(sys.argv[1]))
try:
    Driver(search, executor).run()
finally:
    executor.close()
'''

SLOW_FIRST = '''
import time

def train(params, trial, seed, device):
    time.sleep(6.0 if params["x1"] == 0 else 0.3)
    return params["x1"]
'''


@pytest.mark.mpi
@pytest.mark.slow
def test_a_trial_queued_behind_a_long_one_runs_on_an_idle_rank(tmp_path):
    """-n 4, 3 groups of 1: set 0 takes 6 s, the 11 others 0.3 s. Once durations are known,
    ranks get a second trial queued, the one on set 0's rank behind its 6 s trial; when the
    other two ranks run out of work, the master takes it back (the doorbell wakes the rank's
    watcher at once) and an idle rank runs it: every other set finishes long before set 0,
    and nothing runs twice."""
    (tmp_path / "drive.py").write_text(TAKE_BACK_SCRIPT)
    (tmp_path / "slowfirst.py").write_text(SLOW_FIRST)
    journal = tmp_path / "journal.jsonl"
    stats = tmp_path / "stats"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]), HYPPO_MPI_STATS=str(stats),
               **PREFETCH)
    proc = subprocess.run([mpiexec(), "-n", "4", sys.executable, str(tmp_path / "drive.py"), str(journal), "12"],
                          capture_output=True, text=True, timeout=90, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    evs = [e for e in read_events(journal) if e["event"] == "trial_finished"]
    assert sorted(e["set_id"] for e in evs) == list(range(12)), "every set once"
    by_set = {e["set_id"]: e for e in evs}
    long_rank = rank_of(by_set[0]["worker"])
    ranks = stats_of(stats)
    assert ranks[long_rank]["given_back"] >= 1 and ranks[0]["recalled"] >= 1, ranks
    assert ranks[long_rank]["n_trials"] == 1, "nothing ran behind the long trial on its rank"
    end_long = by_set[0]["finished"]
    assert max(e["finished"] for s, e in by_set.items() if s) < end_long - 3.0


@pytest.mark.mpi
@pytest.mark.slow
def test_a_failing_campaign_with_prefetch_exits_0_every_time(tmp_path):
    """The exit 9 of benchmarks/RESULTS_mpi.md section 12, under real mpiexec: -n 7, 3
    groups of 2, 2 sets of 4 trials, 40% failing at once. The idle group makes the master
    recall queued trials to the end, and a rank's answer could cross the last result; left
    unreceived, it failed MPI_Finalize on rank 0 and the launcher killed every rank (exit 9)
    in about 1 run in 4 before the byes, so 8 runs all passed then with probability ~10%."""
    late = 0
    for i in range(8):
        run = tmp_path / str(i)
        run.mkdir()
        cfg = config(run, objective={"name": "failing", "fail_rate": 0.4, "sleep": 1.0}, trials=4, budget=2,
                     executor={"kind": "mpi", "group_size": 2})
        proc = launch(7, run, cfg, "--quiet", env={"HYPPO_MPI_STATS": str(run / "stats"), **PREFETCH})
        assert proc.returncode == 0, f"run {i}: {proc.stderr[-2000:]}"
        ranks = stats_of(run / "stats")
        assert sorted(ranks) == list(range(7)), f"run {i}: every rank left its loop"
        late += ranks[0].get("late", 0)
    print(f"answers received after the campaign, before the byes: {late} in 8 runs")
