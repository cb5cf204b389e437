"""Asynchronous nested parallelism on MPI: rank 0 is the master, the other ranks form groups.

    mpiexec -n 9 python -m hyppo_hep.run config.yaml      # master + 8 workers
    srun -n 81 python -m hyppo_hep.run config.yaml        # master + 16 groups of 5

Rank 0 runs the strategy, the surrogates and the journal (the same Driver as every other
executor; :class:`MPIExecutor` is its executor). Ranks 1..N-1 are cut into worker groups of
``group_size`` consecutive ranks (the last group holds the remainder when N-1 is not a
multiple). The master sends every rank its trials itself (no hop through a group leader):

- level 1: different sets run on different groups at the same time;
- level 2: a new set goes to a fully idle group, trial i to its rank i mod size, and every
  rank runs its trials on its own device and sends each result straight to the master;
- asynchronous: the master proposes and sends a new set the moment a group is free, never
  waiting for the other groups;
- trial level: when no whole group is free, idle ranks of partly busy groups take pending
  trials one each (the next set's, an extra trial of an earlier set, trials moved off a
  frozen rank), so a set's trials may run on several groups; the Search and the journal see
  the same TrialSpecs and TrialResults as ever. The rule is :class:`~hyppo_hep.executor.
  slots.Slots`, shared with the simulator (``trial_level=False``: whole groups only).

- prefetch (on by default; HYPPO_MPI_PREFETCH_BELOW=0 turns it off): while trials are
  short (under PREFETCH_BELOW_S), a busy rank is also sent the
  trial it will run next, so it starts it the moment it sends the current result, with no
  round trip to the master in between. When a rank idles with nothing left to start, the
  master takes back a trial still queued behind a running one (TAG_RECALL, answered by a
  watcher thread of the rank that a UDP doorbell wakes at once; see _Trials) and places it
  on the idle rank. The master knows which queued trials have started: a rank starts its
  next trial right after sending the previous result, and MPI keeps the order of one
  sender's messages.

Idle ranks do not spin. MPICH's blocking receive busy-polls a core at 100%; every wait
here is a non-blocking probe followed by a sleep of at most ``MAX_SLEEP`` (20 ms). Naps
double from 0.5 ms while nothing is expected, and shrink around the moment a message is
likely (the master: when a rank's trial should end, from the durations of the trials back;
a worker: when the master usually answers its result), so a message is seen within a few
ms for about as many wake-ups as a plain 20 ms timer (benchmarks/RESULTS_mpi.md).

This is the only module that imports mpi4py, and only inside functions: launch detection
(:func:`world_size_from_env`) reads the launcher's environment variables, so a plain
``python -m hyppo_hep.run`` never loads MPI.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import resource
import select
import signal
import socket
import statistics
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import fields, replace

from hyppo_hep.errors import UserError
from hyppo_hep.executor.slots import Slots
from hyppo_hep.trial import TrialResult, TrialSpec

TAG_WORK = 11  # master -> a worker rank: a TrialSpec of the trials it runs, in order
TAG_RESULT = 13  # any worker -> master: one TrialResult
TAG_FATAL = 14  # worker -> master: the objective cannot be built there (message)
TAG_STOP = 15  # master -> every worker rank: stop now, abandoning a trial in flight (None)
TAG_RECALL = 16  # master -> a worker rank: give back this queued trial if not started (set_id, trial, token)
TAG_RETURNED = 17  # worker -> master: the answer (set_id, trial, token, True: never runs it / False: runs or ran it)
TAG_HELLO = 18  # worker -> master, on its first work: (host, port) of its doorbell, a UDP socket
TAG_BYE = 19  # worker -> master, its last message: the master has received all it sent (None)

FIRST_SLEEP = 0.0005  # s
# s: the longest nap of a waiting rank, i.e. the worst latency it adds to a message. Lower
# it (env HYPPO_MPI_MAX_SLEEP) for very short trials, at the price of more wake-ups.
MAX_SLEEP = float(os.environ.get("HYPPO_MPI_MAX_SLEEP", "0.02"))
# s: the nap of the master around the moment a result is expected (see _wait_message)
NEAR_SLEEP = 0.001
# s: a rank is sent its next trial while it runs the current one (prefetch, so that no round
# trip to the master separates them) while the recent trials take less than this; longer
# trials gain under 0.1% from it (a round trip is 5-30 ms here), and a strategy that proposes
# a round ahead sees fewer results. 0 turns prefetch and recalls off (the protocol before:
# no watcher thread, no doorbell). It was off by default while a campaign with prefetch
# ended with exit 9 in about 1 run of 4: a late answer to a recall left unreceived at
# MPI_Finalize (MPIExecutor._await_byes, benchmarks/RESULTS_mpi.md section 12).
PREFETCH_BELOW_S = float(os.environ.get("HYPPO_MPI_PREFETCH_BELOW", "30"))
# s: a rank running a trial sees a recall of the trial queued behind it at once when the
# master rings its doorbell (a UDP datagram: MPICH's blocking calls spin, a socket does not);
# it also looks this often, in case the datagram was lost or cannot reach it
RECALL_POLL_S = float(os.environ.get("HYPPO_MPI_RECALL_POLL", "2"))
# s: a queued trial whose rank should start it sooner than this is not recalled (the round
# trip of a recall and of new work to the idle rank, a few naps)
RECALL_MIN_S = 0.05

# Launchers' names for the world size and this process's rank (Hydra/MPICH and Intel MPI,
# PMI-2/PMIx under srun, Open MPI). SLURM_NTASKS alone is not enough: a batch script's own
# shell has it too, and `python ...` there without srun is one process.
WORLD_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS")
RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")


def _env_int(names, env=None) -> int | None:
    env = os.environ if env is None else env
    for var in names:
        value = env.get(var, "").strip()
        if value.isdigit():
            return int(value)
    return None


def world_size_from_env(env=None) -> int:
    """Number of ranks the launcher started (1 when not launched by mpiexec/srun)."""
    return _env_int(WORLD_SIZE_VARS, env) or 1


def rank_from_env(env=None) -> int:
    """This process's rank as the launcher says (0 when not launched by one)."""
    return _env_int(RANK_VARS, env) or 0


def world(kind: str = "auto"):
    """COMM_WORLD when this run is an MPI run with more than one rank, else None.

    ``kind`` is the config's executor kind. auto/mpi on one process (or no launcher) is a
    local run. Several ranks without mpi4py, or with a local executor asked for, are
    errors: otherwise every rank would run the whole search into the same directory.
    """
    n = world_size_from_env()
    if n <= 1:
        return None
    if kind in ("serial", "pool"):
        raise UserError(f"executor '{kind}' runs in one process, but this run was launched on {n} MPI ranks: "
                        "use executor 'mpi' (or 'auto'), or launch a single process")
    try:
        from mpi4py import MPI
    except ImportError:
        raise UserError(f"launched on {n} MPI ranks but mpi4py is not installed: pip install 'hyppo_hep[mpi]' "
                        "(or mpi4py built against the cluster's MPI, see the README)") from None
    comm = MPI.COMM_WORLD
    if comm.Get_size() == 1:
        # srun --mpi=none (or a PMI the MPI library does not speak): n processes, none wired
        # together, and each would run the whole search into the same journal
        raise UserError(f"the launcher started {n} processes but MPI sees each as a world of 1 rank: launch with "
                        "a PMI this MPI speaks (the mpich wheel: srun --mpi=pmi2)")
    return comm


def group_layout(world_size: int, group_size: int) -> list[list[int]]:
    """World ranks of each worker group: ranks 1..world_size-1 in consecutive chunks of
    ``group_size`` (the last chunk is smaller when they do not divide evenly).

    >>> group_layout(8, 3)
    [[1, 2, 3], [4, 5, 6], [7]]
    """
    if world_size < 2:
        raise ValueError("an MPI run needs a master and at least one worker rank")
    if group_size < 1:
        raise ValueError("group_size must be >= 1")
    workers = list(range(1, world_size))
    return [workers[i:i + group_size] for i in range(0, len(workers), group_size)]


def default_group_size(world_size: int, trials: int, group_size: int | None = None) -> int:
    """The config's group_size, else the number of trials per set; capped by the workers."""
    return max(1, min(group_size or trials, world_size - 1))


# --- waiting without spinning ---------------------------------------------------------------

def _wait_message(comm, source, tag, timeout: float | None = None, stats=None, expect: list[float] | None = None,
                  patient: bool = False):
    """Receive the next message from ``source`` with ``tag`` (wildcards allowed) without
    busy-waiting; returns (obj, source, tag), or None after ``timeout`` seconds. Each nap
    is counted in ``stats.wakeups`` (the price of not spinning).

    ``expect``: when (time.monotonic, sorted) a message is likely to arrive. Each nap is
    then a third of the distance to the nearest such moment (at least NEAR_SLEEP), before
    and after it, so a
    message that arrives about when expected is seen within a third of its error instead of
    up to MAX_SLEEP, for a few more wake-ups; no nap is ever longer than MAX_SLEEP, so a
    wrong guess costs no latency. A guess that errs early is cheaper than a late one.

    ``patient``: past the expected moment naps double (a nap as long as the lateness so
    far) instead of growing by a third. For a worker waiting for its next work: the guess
    is the master's shortest answer, and the work is often later by a sibling's trial
    (a set waits for its whole group) or by the end of the campaign, where a third of the
    lateness per nap took 10-15 wake-ups of ~100 us of CPU each."""
    from mpi4py import MPI

    status = MPI.Status()
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = FIRST_SLEEP
    while True:
        msg = comm.improbe(source=source, tag=tag, status=status)
        if msg is not None:
            if stats is not None and expect:
                stats.guess_errors.append(_nearest(expect, time.monotonic()))
            return msg.recv(), status.Get_source(), status.Get_tag()
        nap = delay
        if expect:
            # s from the expected moment: naps shrink towards it and grow again past it, so
            # a message that comes about when expected is seen within a fraction of its lateness
            off = _nearest(expect, time.monotonic())
            nap = min(MAX_SLEEP, max(NEAR_SLEEP, off if patient and off > 0 else abs(off) / 3))
        delay = min(2 * delay, MAX_SLEEP)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            nap = min(nap, left)
        time.sleep(nap)
        if stats is not None:
            stats.wakeups += 1


# Work and results travel as plain tuples of the dataclasses' fields: a rank decodes one
# message per trial, and unpickling a dataclass costs 3-4x a tuple's (15-17 us against 4-7
# hot, some 100 us for a TrialSpec on a rank just woken from a nap: most of what a short wait
# between two trials cost, benchmarks/RESULTS_mpi.md section 8).
_SPEC_FIELDS = tuple(f.name for f in fields(TrialSpec))
_RESULT_FIELDS = tuple(f.name for f in fields(TrialResult))


def _pack(obj) -> tuple:
    return tuple(getattr(obj, name) for name in (_SPEC_FIELDS if isinstance(obj, TrialSpec) else _RESULT_FIELDS))


def _nearest(moments: list[float], now: float) -> float:
    """now - the moment of sorted ``moments`` nearest to now (> 0: that moment has passed)."""
    i = bisect.bisect(moments, now)
    return min((now - m for m in moments[max(0, i - 1):i + 1]), key=abs)


def _try_message(comm, source, tag):
    """The next matching message if one has arrived, else None (never waits)."""
    from mpi4py import MPI

    status = MPI.Status()
    msg = comm.improbe(source=source, tag=tag, status=status)
    if msg is None:
        return None
    return msg.recv(), status.Get_source(), status.Get_tag()


class _Outbox:
    """Non-blocking sends whose requests are kept until complete (a blocking send of a
    message above the eager limit would spin until the receiver matches it)."""

    def __init__(self):
        self._requests: list = []

    def send(self, comm, obj, dest: int, tag: int) -> None:
        self._requests.append(comm.isend(obj, dest=dest, tag=tag))
        self._requests = [r for r in self._requests if not r.Test()]

    def drain(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = FIRST_SLEEP
        while True:
            self._requests = [r for r in self._requests if not r.Test()]
            if not self._requests:
                return True
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(delay)
            delay = min(2 * delay, MAX_SLEEP)


class _RankStats:
    """CPU and wall time of a rank's loop, and of its waits for messages (the non-spinning
    check): written as JSON to $HYPPO_MPI_STATS/rank<r>.json when that directory is set."""

    def __init__(self, rank: int, role: str):
        self.rank, self.role = rank, role
        self.wall0 = time.monotonic()
        self.cpu0 = self._cpu()
        self.busy = 0.0  # s spent inside trials
        self.n_trials = 0
        self.wait_wall = 0.0  # s spent waiting for a message ...
        self.wait_cpu = 0.0  # ... and the CPU seconds that waiting cost
        self.wakeups = 0  # naps ended while waiting (each a wake-up of an idle process)
        self.guess_errors: list[float] = []  # s: message seen - expected moment (late > 0)

    def wait(self, *args, **kw):
        """_wait_message(*args, **kw), timed."""
        c0, w0 = time.process_time(), time.monotonic()
        try:
            return _wait_message(*args, stats=self, **kw)
        finally:
            self.wait_cpu += time.process_time() - c0
            self.wait_wall += time.monotonic() - w0

    @staticmethod
    def _cpu() -> float:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime

    def write(self, **extra) -> None:
        out = os.environ.get("HYPPO_MPI_STATS")
        if not out:
            return
        os.makedirs(out, exist_ok=True)
        data = {"rank": self.rank, "role": self.role, "wall": time.monotonic() - self.wall0,
                "cpu": self._cpu() - self.cpu0, "busy": self.busy, "n_trials": self.n_trials,
                "wait_wall": self.wait_wall, "wait_cpu": self.wait_cpu, "wakeups": self.wakeups,
                "guess_error_median": statistics.median(self.guess_errors) if self.guess_errors else None,
                "guesses": len(self.guess_errors), **extra}
        with open(os.path.join(out, f"rank{self.rank}.json"), "w", encoding="utf-8") as fh:
            json.dump(data, fh)


# --- master side ----------------------------------------------------------------------------

# s on top of trial_timeout before the master gives up on a rank (see MPIExecutor): covers
# sending the result, a slow file system, a checkpoint written at the end of a training
UNRESPONSIVE_GRACE_S = float(os.environ.get("HYPPO_MPI_GRACE", "60"))
# s more for a rank's first result (it builds the objective: imports, data loading) and, with
# isolation, for every result (the trial's child may be new); default isolation.STARTUP_GRACE_S
STARTUP_ALLOWANCE_ENV = "HYPPO_MPI_STARTUP_GRACE"


class MPIExecutor:
    """The master's executor (world rank 0): groups of ranks, trials placed by slots.py.

    ``submit`` sends a set's trials to idle ranks or queues them; ``poll`` returns trial
    results as they arrive, one per trial. ``close`` tells every rank to stop. Constructed on
    rank 0 while every other rank enters :func:`worker_loop`.

    Unresponsive ranks (a SIGSTOPped process, a hung driver, a node that stopped answering):
    with a ``timeout`` (the config's trial_timeout) the master applies the limit itself. A
    rank runs its trials of a set one after the other, so each of its trials must come back
    within ``timeout`` + ``grace`` of the previous one (or of the set's dispatch), plus a
    start-up allowance for the rank's first result and for every isolated trial (a new
    child builds the objective). When one does not, its trial is returned as
    failed ("worker unresponsive ..."), the rank's other trials go back to the queue for
    other ranks, its group is retired (its other ranks finish what they hold, then get no
    more work), and anything the rank sends later is dropped, so no trial is ever recorded
    twice. Without ``timeout`` the master
    cannot tell a long training from a frozen rank and waits (README, Reliability).
    """

    def __init__(self, comm, group_size: int, *, timeout: float | None = None, isolation: str = "none",
                 grace: float | None = None, trial_level: bool = True):
        from hyppo_hep.executor.isolation import STARTUP_GRACE_S

        if comm.Get_rank() != 0:
            raise RuntimeError("MPIExecutor runs on rank 0; the other ranks run worker_loop")
        self.comm = comm
        self.layout = group_layout(comm.Get_size(), group_size)
        self.group_size = group_size
        self.n_groups = len(self.layout)
        self.grace = UNRESPONSIVE_GRACE_S if grace is None else grace
        # s a rank may stay silent while it owes a result; None: no limit (no trial_timeout)
        self.limit = None if not timeout else timeout + self.grace
        self.startup = float(os.environ.get(STARTUP_ALLOWANCE_ENV, STARTUP_GRACE_S))
        self.isolated = isolation != "none"
        self._ever_answered: set[int] = set()
        self._worker_of: dict[int, str] = {}  # rank -> its worker name (host:pid:rank) as last seen
        self.lost_ranks: list[int] = []  # declared unresponsive, in that order
        self.slots = Slots(self.layout, trial_level=trial_level)  # queue and placement (slots.py)
        from mpi4py import MPI

        # recalls need a worker thread that answers during a trial (_Trials); so does prefetch
        self.recalls = self.prefetch = PREFETCH_BELOW_S > 0 and MPI.Query_thread() == MPI.THREAD_MULTIPLE
        self._token = int.from_bytes(os.urandom(4), "little")  # tells this executor's recalls from a former one's
        self._recalling: dict[tuple, int] = {}  # queued trial asked back -> its rank
        self.n_recalled = 0  # trials given back and placed again (the end of a campaign)
        self._bells: dict[int, tuple] = {}  # rank -> (host, port) of its doorbell
        self._bell = None  # the UDP socket that rings them
        self._recheck: float | None = None  # monotonic: look at the recalls again (see _recall)
        self._recent: deque[float] = deque(maxlen=32)  # s: durations of the last trials back
        self._set_durations: dict[int, list[float]] = {}  # set_id -> durations of its trials back
        self._since: dict[int, float] = {}  # rank -> since when it owes its next result (monotonic)
        self._outbox = _Outbox()
        self._closed = False
        self._stats = _RankStats(0, "master")
        self._byes: set[int] = set()  # ranks whose TAG_BYE came (see _await_byes)
        self.n_late = 0  # messages received after the campaign, before the ranks' byes

    @property
    def n_slots(self) -> int:
        """Sets in flight plus free capacity in sets (Slots.n_slots); never 0."""
        return self.slots.n_slots

    @property
    def trial_level(self) -> bool:
        """Whether a free rank may run any pending trial (the Search may then start a set
        with one trial and hold the rest: end_phase.py, learn then pack)."""
        return self.slots.trial_level

    def submit(self, spec: TrialSpec) -> None:
        self.slots.submit(spec)
        self._dispatch()

    def _dispatch(self) -> None:
        """Send the trials the scheduler places (slots.py: groups for whole sets, idle ranks
        of busy groups for the rest, then one queued trial behind a running one) to their
        ranks; then ask back queued trials that an idle rank could start sooner."""
        ends = self._expected_ends(running=True)
        # prefetch while trials are short enough for a round trip to matter (PREFETCH_BELOW_S)
        self.slots.depth = 2 if self.prefetch and self._recent and statistics.median(self._recent) < PREFETCH_BELOW_S else 1
        self.slots.prefetch_key = lambda rank: ends.get(rank, 0.0)
        for part, ranks in self.slots.place():
            self._send_work(part, ranks)
        self._recall(ends)

    def _recall(self, ends: dict[int, float]) -> None:
        """Nothing queued and a rank idle: ask back the queued trials behind the running
        trials expected to end last, one per idle rank (also a rank's second trial of a set
        larger than its group). One whose rank should start it within RECALL_MIN_S (before
        or past its expected end) is left alone, and looked at again then (``_recheck``,
        poll's wait). The rank answers (TAG_RETURNED) whether it gave it back; only then is
        it placed again, so no trial runs twice or is lost (see _Trials)."""
        slots = self.slots
        where = slots.where
        self._recheck = None
        self._recalling = {k: r for k, r in self._recalling.items() if where.get(k, (None,))[0] == r}
        wanted = slots.n_idle - len(self._recalling)
        if slots.queue or wanted <= 0 or not self.recalls:
            return
        now = time.monotonic()

        def left(rank):  # s until its trial should end; once past, as long again as it overran
            end = ends.get(rank)
            return math.inf if end is None else abs(end - now)

        queued = [(left(r), r, key) for r, todo in slots.todo.items()
                  if len(todo) > 1 for key in list(todo)[1:] if key not in self._recalling]
        for wait, rank, key in sorted(queued, reverse=True)[:wanted]:
            if wait < RECALL_MIN_S:
                self._recheck = ends[rank] + RECALL_MIN_S  # overrun enough then, unless its result came
                break
            self._send_recall(key, rank)

    def _recall_retired(self, group: int) -> None:
        """Ask back the trials queued on the live ranks of a retired group (a rank that is
        between trials refuses and runs the one it was about to start)."""
        for rank in self.layout[group]:
            for key in list(self.slots.todo[rank])[1:]:
                if key not in self._recalling:
                    self._send_recall(key, rank)

    def _send_recall(self, key: tuple, rank: int) -> None:
        """Ask ``rank`` to give back its queued trial ``key``, and ring its doorbell so that
        its watcher thread sees the recall at once (after the send: it then finds it)."""
        self._recalling[key] = rank
        self._outbox.send(self.comm, (key[0], key[1], self._token), rank, TAG_RECALL)
        if rank not in self._bells:
            return
        try:
            if self._bell is None:
                self._bell = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._bell.sendto(b"r", self._bells[rank])
        except OSError:
            self._bells.pop(rank)  # the rank still looks every RECALL_POLL_S

    def _returned(self, obj, source: int) -> None:
        """A rank's answer to a recall: given back, the trial goes to the front of the queue
        (_dispatch places it); not (it had started it), it stays that rank's."""
        set_id, trial, token, given_back = obj
        key = (set_id, trial)
        if token != self._token or self._recalling.pop(key, None) != source:
            return  # a former executor's on the same communicator, or stale
        if given_back and self.slots.where.get(key, (None,))[0] == source:
            self.slots.take_back(key)
            self.n_recalled += 1

    def _send_work(self, spec: TrialSpec, ranks: list[int]) -> None:
        """Send each rank its trials of ``spec`` (trial i runs on ranks[i]) straight from the
        master: no hop through a group leader, whose nap would add to every set's latency."""
        now = time.monotonic()
        shares: dict[int, list[int]] = {}
        for i, rank in enumerate(ranks):
            if rank not in shares and len(self.slots.todo[rank]) == ranks.count(rank):
                self._since[rank] = now  # it was idle: it owes a result from now on
            shares.setdefault(rank, []).append(i)
        for rank, idx in shares.items():
            part = replace(spec, trials=tuple(spec.trials[i] for i in idx), seeds=tuple(spec.seeds[i] for i in idx))
            self._outbox.send(self.comm, (self._token, _pack(part)), rank, TAG_WORK)

    def _take(self, message) -> TrialResult | None:
        obj, source, tag = message
        if tag == TAG_FATAL:
            raise UserError(f"worker rank {source}: {obj}")
        if tag == TAG_RETURNED:
            self._returned(obj, source)
            return None
        if tag == TAG_HELLO:
            if obj is not None:
                self._bells[source] = tuple(obj)
            return None
        if tag == TAG_BYE:  # only after a stop: close() waits for it
            self._byes.add(source)
            return None
        obj = TrialResult(*obj)
        key = (obj.set_id, obj.trial)
        entry = self.slots.where.get(key)
        if entry is None or entry[0] != source:
            return None  # from a rank given up on: its trial was failed or moved already
        self._note_duration(obj.set_id, obj.wall_time)
        rank = self.slots.done(key)
        self._since[rank] = time.monotonic()
        self._ever_answered.add(rank)
        self._worker_of[rank] = str(obj.worker).split(">")[0]
        return obj

    # --- when the next result is likely (the master's naps) --------------------------------
    def _note_duration(self, set_id: int, seconds: float) -> None:
        """``seconds`` the trial took on its rank (its own clock): without the messages'
        latencies, so a guess from it errs early, never by the master's own lateness."""
        self._recent.append(seconds)
        if self.slots.outstanding.get(set_id, 0) > 1:
            self._set_durations.setdefault(set_id, []).append(seconds)
        else:  # its last trial: nothing more to guess for this set
            self._set_durations.pop(set_id, None)

    def _expected_ends(self, running: bool = False) -> dict[int, float]:
        """rank -> when (monotonic) its current trial is likely to end and its result to
        arrive: its start plus the median duration of the trials of its set already back
        (the same network trains as long), else of the last trials of any set. {} when
        nothing can be guessed yet.

        ``running``: a trial of a set with none back is expected to take the median of the
        last trials that ran longer than it has so far (twice its time so far when none
        did), not to end at a moment already past: which rank frees first, for prefetch
        and recalls. (The naps keep the plain guess, whose errors are measured.)"""
        if not self._recent:
            return {}
        overall = statistics.median(self._recent)
        typical = {set_id: statistics.median(d) for set_id, d in self._set_durations.items()}  # once per set
        recent, now = sorted(self._recent), time.monotonic()
        ends = {}
        for rank, todo in self.slots.todo.items():
            if not todo:
                continue
            since = self._since[rank]
            took = typical.get(todo[0][0])
            if took is None and running:
                longer = recent[bisect.bisect(recent, now - since):]
                took = statistics.median(longer) if longer else 2 * (now - since)
            ends[rank] = since + (overall if took is None else took)
        return ends

    def _expected_arrivals(self) -> list[float] | None:
        """The moments of _expected_ends, sorted (the master's naps); None when unknown."""
        return sorted(self._expected_ends().values()) or None

    # --- ranks that stopped answering -----------------------------------------------------
    def _owing(self) -> list[int]:
        return [r for r, todo in self.slots.todo.items() if todo]

    def _limit(self, rank: int) -> float:
        new = self.isolated or rank not in self._ever_answered
        return self.limit + (self.startup if new else 0.0)

    def _until_overdue(self) -> float | None:
        """Seconds until the next rank that owes a result is overdue (None: no limit)."""
        if self.limit is None:
            return None
        owing = self._owing()
        if not owing:
            return None
        return max(0.0, min(self._since[r] + self._limit(r) for r in owing) - time.monotonic()) + 0.01

    def _give_up_overdue(self) -> list[TrialResult]:
        if self.limit is None:
            return []
        now = time.monotonic()
        failed = []
        for rank in self._owing():
            if now - self._since[rank] > self._limit(rank):
                failed.append(self._give_up(rank, now))
        return failed

    def _give_up(self, rank: int, now: float) -> TrialResult:
        """Fail the trial ``rank`` owes, move its other trials to the queue, retire its group
        (its other ranks finish what they hold, then are never sent work again)."""
        group = self.slots.group_of[rank]
        silent = now - self._since[rank]
        self.lost_ranks.append(rank)
        head, seed, moved = self.slots.lose(rank)
        self._recall_retired(group)
        n_groups = len(self.layout)
        live = n_groups - len(self.slots.retired)
        why = (f"worker unresponsive: MPI rank {rank} (group {group}) sent nothing for {silent:.0f} s, more than "
               f"trial_timeout + {self.grace:g} s grace{' + start-up' if self._limit(rank) > self.limit else ''}: "
               f"trial failed, {len(moved)} trial(s) of its set moved "
               f"to another group, group {group} retired ({live} of {n_groups} groups left)")
        print(f"hyppo_hep: {why}", file=sys.stderr, flush=True)
        wall = time.time()
        worker = self._worker_of.get(rank, f"?:?:{rank}")
        return TrialResult(head[0], head[1], seed, None, why, worker, "?", wall - silent, wall)

    def poll(self, timeout: float | None = None) -> list[TrialResult]:
        """Wait (without spinning) until at least one trial result arrives or ``timeout``
        seconds pass; return every result that has arrived, in arrival order (trials of
        ranks given up on included, as failed)."""
        from mpi4py import MPI

        slots = self.slots
        if not slots.outstanding:
            return []
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            if slots.queue and not slots.where and len(slots.retired) == len(self.layout):
                raise UserError(f"every MPI worker group has an unresponsive rank (ranks "
                                f"{', '.join(map(str, self.lost_ranks))}): nothing can run the remaining trials; "
                                "the journal keeps every finished trial: resume the run on healthy nodes")
            wait = self._until_overdue()
            for until in (end, self._recheck):
                if until is not None:
                    wait = min(x for x in (wait, until - time.monotonic()) if x is not None)
            first = self._stats.wait(self.comm, MPI.ANY_SOURCE, MPI.ANY_TAG, None if wait is None else max(0.0, wait),
                                     expect=self._expected_arrivals())
            results = [] if first is None else [self._take(first)]
            while (more := _try_message(self.comm, MPI.ANY_SOURCE, MPI.ANY_TAG)) is not None:
                results.append(self._take(more))
            results = [r for r in results if r is not None] + self._give_up_overdue()
            self._dispatch()  # freed groups take queued sets before the driver proposes more
            if results or (end is not None and time.monotonic() >= end):
                return results

    def close(self) -> None:
        """Tell every group to stop. A trial still in flight (the run was interrupted, or
        stopped after too many failures) is abandoned: an isolated one is killed at once, an
        in-process one when its rank had a SIGTERM/SIGINT too (srun and mpiexec send it to
        every rank), else it runs to its end (see _StopWatch)."""
        if self._closed:
            return
        self._closed = True
        for members in self.layout:
            for rank in members:
                self._outbox.send(self.comm, None, rank, TAG_STOP)
        self._outbox.drain(timeout=60)
        self._await_byes()
        if self._bell is not None:
            self._bell.close()
        self._stats.write(n_groups=self.n_groups, group_size=self.group_size, recalled=self.n_recalled,
                          late=self.n_late)

    def _await_byes(self) -> None:
        """Receive what every rank still sends until its TAG_BYE, its last message: an
        answer to a recall that crossed the last result (prefetch), a result of a trial the
        stop abandoned. MPICH 5's MPI_Finalize fails on a message left unreceived; rank 0
        then exits without finalizing and the launcher SIGKILLs every other rank (exit 9,
        benchmarks/RESULTS_mpi.md section 12). Naps, no spin: MPI_Finalize waits for every
        rank anyway. Ranks given up on are not waited for (_abort_at_exit ends the job)."""
        from mpi4py import MPI

        waiting = {r for members in self.layout for r in members} - set(self.lost_ranks) - self._byes
        while waiting:
            _, source, tag = self._stats.wait(self.comm, MPI.ANY_SOURCE, MPI.ANY_TAG)
            if tag == TAG_BYE:
                waiting.discard(source)
            else:
                self.n_late += 1


# --- worker side ----------------------------------------------------------------------------

class _StopWorker(BaseException):
    """Raised in a worker rank's main thread when the master said stop during a trial."""


class _StopWatch:
    """A worker rank's view of the master's stop (TAG_STOP, sent by ``MPIExecutor.close``).

    SIGTERM/SIGINT do not stop a worker rank by themselves: srun and mpiexec forward them to
    every rank, and the master decides (it journals what it has, then sends TAG_STOP). A
    rank that dies on the signal could make the launcher tear the master down before its
    journal is closed. So the rank only notes the signal and, from then on (MPI permitting
    threads), a watcher thread waits for TAG_STOP and interrupts the main thread with a real
    signal, which also cuts an in-process trial short (its result would not be journalled
    any more). Without a signal the stop is seen between trials and, for isolated trials,
    every STOP_POLL_S while they run. (Python handlers, not SIG_IGN: an ignored signal is
    inherited by an isolated trial's processes, a handled one is reset at their exec.)
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, comm):
        from mpi4py import MPI

        self.comm = comm
        self.stopped = False
        self.signalled = None  # the first signal's name
        self._threads = MPI.Query_thread() == MPI.THREAD_MULTIPLE
        self._watcher = None
        self._looping = True  # False once the worker left its loop: then no _StopWorker
        self._old = {}
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._on_signal) for s in self.SIGNALS}

    def _on_signal(self, signum, frame):
        if self.stopped and self._looping:
            raise _StopWorker()
        self.signalled = self.signalled or signal.Signals(signum).name
        if self._watcher is None and self._threads:
            self._watcher = threading.Thread(target=self._watch, name="hyppo-stop-watch", daemon=True)
            self._watcher.start()

    def _watch(self) -> None:
        main = threading.main_thread().ident
        delay = FIRST_SLEEP
        while not self.stopped:
            if self.comm.iprobe(source=0, tag=TAG_STOP):
                self.stopped = True
                signal.pthread_kill(main, signal.SIGINT)  # -> _on_signal -> _StopWorker
                return
            time.sleep(delay)
            delay = min(2 * delay, MAX_SLEEP)

    def check(self) -> bool:
        """Has the master said stop? (main thread; never waits) The stop is only looked at,
        not received: _Trials.drain receives it in order with what the master sent before it."""
        if not self.stopped and self.comm.iprobe(source=0, tag=TAG_STOP):
            self.stopped = True
        return self.stopped

    def restore(self) -> None:
        self._looping = False
        self.stopped = True  # ends the watcher
        if self._watcher is not None:
            self._watcher.join()  # its signal, if any, lands on the handler above, now harmless
        for s, handler in self._old.items():
            signal.signal(s, handler)


def worker_loop(comm, group_size: int, objective_ref, isolation: str = "none",
                timeout: float | None = None) -> int:
    """Run on every rank but 0 until the master says stop; returns the exit status 0.

    The master sends this rank its trials directly (TAG_WORK: a TrialSpec, run in order,
    each result sent back as it finishes; the next may come while one runs, see _Trials).
    Trials run through :class:`TrialRunner`: in this
    process, or with ``isolation`` process/fresh in a child process (a crash of native code,
    an OOM kill fails the trial, not the rank), with the per-trial wall-time limit
    ``timeout`` (s) either way. In-process, the objective is built once per rank up front;
    if that fails the master is told (it stops the run with the error) and this rank's
    trials come back failed with the same message. Isolated, the child builds it; a user
    error there is reported the same way.
    """
    rank = comm.Get_rank()
    layout = group_layout(comm.Get_size(), group_size)
    group = next(g for g, members in enumerate(layout) if rank in members)
    outbox = _Outbox()
    watch = _StopWatch(comm)
    runner, device = _make_runner(comm, objective_ref, isolation, timeout, outbox)
    stats = _RankStats(rank, "leader" if rank == layout[group][0] else "member")  # counts the loop only
    trials = _Trials(comm, outbox, stats, watch)
    try:
        while (item := trials.next()) is not None:
            spec, trial, seed = item
            # fidelity: the epoch budget / median-rule curve decided at submission (fidelity.py)
            res = runner.run(spec.params, spec.set_id, trial, seed, spec.fidelity, stop=watch.check)
            if res is None:  # the master said stop during an isolated trial
                break
            stats.busy += res.wall_time
            stats.n_trials += 1
            # a user error building the objective in an isolated child stops the run
            trials.finished(*((f"{res.error}", TAG_FATAL) if res.fatal else (_pack(res), TAG_RESULT)))
            if watch.stopped:
                break
    except _StopWorker:
        pass  # the master stopped the run during an in-process trial; it journalled what it had
    finally:
        trials.close()
        watch.restore()
        runner.close()
    trials.drain()
    # after everything else this rank sent (MPI keeps one sender's order): the master
    # receives up to it before it finalizes (MPIExecutor._await_byes)
    outbox.send(comm, None, 0, TAG_BYE)
    outbox.drain(timeout=60)
    stats.write(group=group, device=device, signal=watch.signalled, recall_polls=trials.polls,
                given_back=trials.given_back, queued_starts=trials.queued_starts)
    return 0


def _make_runner(comm, objective_ref, isolation, timeout, outbox):
    """This rank's TrialRunner and device; an in-process objective is built here, once."""
    from hyppo_hep.device import pick_device, threads_per_rank
    from hyppo_hep.executor.isolation import TrialRunner

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads_per_rank()))
    device = pick_device()
    objective = None
    if isolation == "none":
        try:
            objective = objective_ref.build()
        except Exception as exc:  # noqa: BLE001 — reported to the master, which stops the run
            message = str(exc) if isinstance(exc, UserError) else traceback.format_exc(limit=5)
            outbox.send(comm, message, 0, TAG_FATAL)

            def objective(params, trial, seed, device, _message=message):
                raise RuntimeError(_message)
    runner = TrialRunner(objective_ref, isolation=isolation, timeout=timeout, device=device, name=comm.Get_rank(),
                         objective=objective)
    return runner, device


class _ReplyClock:
    """When a rank's next work is likely to arrive: its last result's send time plus the
    shortest of its recent waits from a result to the next work (the master's answer time).
    The shortest, not the median: a wait includes this rank's own lateness in seeing the
    work, which a median would feed back into the guess."""

    def __init__(self):
        self.sent: float | None = None
        self.waits: deque[float] = deque(maxlen=16)

    def expect(self) -> float | None:
        if self.sent is None or not self.waits:
            return None
        return self.sent + min(self.waits)

    def got_work(self) -> None:
        if self.sent is not None:
            self.waits.append(time.monotonic() - self.sent)
        self.sent = None


class _Trials:
    """A worker rank's trials, in the order the master sent them, and the master's recalls
    of those it has not started (prefetch: MPIExecutor._dispatch and _recall).

    The main thread runs them: :meth:`next` receives every message of the master in the
    order sent (any tag: a receive for one tag would overtake a stop, the hang of section 5
    of benchmarks/RESULTS_mpi.md) and returns the next trial at once when one is queued, so
    a rank with a trial queued never waits between two. While a trial runs, a watcher
    thread looks for recalls (TAG_RECALL only) every RECALL_POLL_S and gives back a trial
    not started: queued here, or not received yet (its work is dropped when it arrives,
    MPI keeping the master's order). A recall seen between trials is refused: this rank
    starts the trial now, sooner than an idle one would get it. One lock orders the two
    threads, so a trial given back never runs here and a refused one always does. The
    watcher sleeps on an event while no trial runs (no wake-ups when idle); without
    MPI_THREAD_MULTIPLE, or with prefetch off (HYPPO_MPI_PREFETCH_BELOW=0), there is none
    and the master neither prefetches nor recalls.
    """

    def __init__(self, comm, outbox, stats, watch):
        from mpi4py import MPI

        self.comm, self.outbox, self.stats, self.watch = comm, outbox, stats, watch
        self.clock = _ReplyClock()
        self.lock = threading.Lock()
        self.pending: deque = deque()  # (spec, trial, seed) received, not started
        self.seen: set = set()  # (set_id, trial) received
        self.cancelled: set = set()  # given back before their work arrived
        self.current = None  # (set_id, trial) running
        self.token = None  # the master executor's (from its work): a former executor's recall is refused
        self.stop_received = False
        self.polls = self.given_back = 0
        self.queued_starts = 0  # trials started right after the previous one, without a nap
        self._naps_at_end = None  # the rank's naps when its last trial ended (None: no trial yet)
        self.n_answered = 0  # recalls answered, by either thread (the watcher waits for as many as rung)
        self._running, self._quit = threading.Event(), threading.Event()
        self._watcher = self._bell = None
        # no prefetch (PREFETCH_BELOW_S 0): no recalls to answer, the protocol before
        if PREFETCH_BELOW_S > 0 and MPI.Query_thread() == MPI.THREAD_MULTIPLE:
            self._bell = _doorbell()
            self._wake = os.pipe()  # close() wakes the watcher through it
            self._watcher = threading.Thread(target=self._watch, name="hyppo-recall", daemon=True)
            self._watcher.start()
        # sent with the first work (not at start-up: a master that stops before any work
        # would leave it unmatched, and MPICH fails MPI_Finalize on unmatched messages)
        self._hello = None if self._bell is None else (_host_address(), self._bell.getsockname()[1])

    def next(self):
        """The next trial (spec, trial, seed), or None once the master said stop."""
        from mpi4py import MPI

        while True:
            while (msg := _try_message(self.comm, 0, MPI.ANY_TAG)) is not None:
                if self._handle(msg):
                    return None
            with self.lock:
                if self.pending:
                    spec, trial, seed = item = self.pending.popleft()
                    self.current = (spec.set_id, trial)
                    self._running.set()
                    self.queued_starts += self._naps_at_end == self.stats.wakeups
                    return item
            if self.watch.stopped:
                return None
            self._running.clear()  # idle: the watcher blocks until the next trial
            when = self.clock.expect()
            msg = self.stats.wait(self.comm, 0, MPI.ANY_TAG, expect=None if when is None else [when], patient=True)
            if self._handle(msg):
                return None

    def drain(self, timeout: float = 10.0) -> None:
        """Receive, in order, what the master sent up to its stop when the loop ended on a
        stop seen out of order (_StopWatch: a signal, an isolated trial): work queued here
        and recalls are dropped (the master journalled what it had), none is left for the
        next executor on this communicator, nor unmatched at MPI_Finalize (MPICH fails it)."""
        from mpi4py import MPI

        deadline, delay = time.monotonic() + timeout, FIRST_SLEEP
        while not self.stop_received and time.monotonic() < deadline:
            msg = _try_message(self.comm, 0, MPI.ANY_TAG)
            if msg is None:
                time.sleep(delay)
                delay = min(2 * delay, MAX_SLEEP)
            elif msg[2] == TAG_STOP:
                self.stop_received = True

    def finished(self, obj, tag: int) -> None:
        """The current trial is over: send its result (or fatal message) to the master."""
        with self.lock:
            self.current = None
            self.outbox.send(self.comm, obj, 0, tag)
        self.clock.sent = time.monotonic()
        self._naps_at_end = self.stats.wakeups

    def _handle(self, msg) -> bool:
        """Apply one message of the master; True when it says stop."""
        obj, _, tag = msg
        if tag == TAG_STOP:
            self.watch.stopped = self.stop_received = True
            return True
        if tag == TAG_RECALL:
            self._answer(obj)
        elif tag == TAG_WORK:
            token, packed = obj
            spec = TrialSpec(*packed)
            with self.lock:
                if self.token is None and self._hello is not None:
                    self.outbox.send(self.comm, self._hello, 0, TAG_HELLO)
                self.token = token
                for trial, seed in zip(spec.trials, spec.seeds):
                    key = (spec.set_id, trial)
                    if key in self.cancelled:  # given back before it arrived
                        self.cancelled.discard(key)
                        continue
                    self.seen.add(key)
                    self.pending.append((spec, trial, seed))
            self.clock.got_work()
        return False

    def _answer(self, obj) -> None:
        """Give back a recalled trial if a trial runs and this one has not started; tell the
        master either way (TAG_RETURNED)."""
        set_id, trial, token = obj
        key = (set_id, trial)
        with self.lock:
            give = False
            if self.current is not None and token == self.token:
                queued = [item for item in self.pending if (item[0].set_id, item[1]) == key]
                if queued:
                    self.pending.remove(queued[0])
                    give = True
                elif key not in self.seen:
                    self.cancelled.add(key)
                    give = True
            self.given_back += give
            self.n_answered += 1
            self.outbox.send(self.comm, (set_id, trial, token, give), 0, TAG_RETURNED)

    def _watch(self) -> None:
        """While a trial runs: block on the doorbell (no wake-ups), at most RECALL_POLL_S,
        then answer every recall that has arrived. A ring comes right after its recall was
        sent, which MPI may deliver a little later: look until as many were answered as rung."""
        # SIGTERM/SIGINT go to the main thread: one delivered here would leave the main
        # thread's sleep (a hung trial's too) uninterrupted and its handler late (_StopWatch)
        signal.pthread_sigmask(signal.SIG_BLOCK, _StopWatch.SIGNALS)
        bell, wake = self._bell, self._wake[0]
        rung = 0
        while True:
            self._running.wait()
            if self._quit.is_set():
                return
            ready = select.select([bell, wake] if bell is not None else [wake], [], [], RECALL_POLL_S)[0]
            if self._quit.is_set():
                return
            self.polls += 1
            if bell in ready:
                try:
                    while True:
                        rung += len(bell.recv(64))
                except BlockingIOError:
                    pass
            deadline, delay = time.monotonic() + 1.0, FIRST_SLEEP
            while True:
                while (msg := _try_message(self.comm, 0, TAG_RECALL)) is not None:
                    self._answer(msg[0])
                if self.n_answered >= rung or time.monotonic() > deadline:
                    break
                time.sleep(delay)
                delay = min(2 * delay, MAX_SLEEP)

    def close(self) -> None:
        self._quit.set()
        self._running.set()
        if self._watcher is not None:
            os.write(self._wake[1], b"q")
            self._watcher.join()
            for fd in self._wake:
                os.close(fd)
            if self._bell is not None:
                self._bell.close()


def _doorbell():
    """A non-blocking UDP socket on any free port of this host, or None."""
    try:
        bell = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        bell.bind(("", 0))
        bell.setblocking(False)
        return bell
    except OSError:
        return None


def _host_address() -> str:
    """This host's address as the master should reach it (its name's, else loopback)."""
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def run(cfg, run_master) -> int:
    """Run ``cfg`` on the MPI world if launched on several ranks; None if not an MPI run.

    ``run_master(executor)`` runs the campaign on rank 0 with the MPI executor (the same
    run_campaign/Driver path as a local run) and returns the exit status.
    """
    comm = world(cfg.executor.kind)
    if comm is None:
        return None
    # adaptive repeats: a new set has min trials and a top-up one, so groups of max would idle
    group_size = default_group_size(comm.Get_size(), cfg.min_trials or cfg.trials, cfg.executor.group_size)
    if comm.Get_rank() != 0:
        try:
            return worker_loop(comm, group_size, cfg.objective, cfg.isolation, cfg.trial_timeout)
        except BaseException:  # a bug here would leave the master waiting forever
            traceback.print_exc()
            sys.stderr.flush()
            comm.Abort(1)
    executor = MPIExecutor(comm, group_size, timeout=cfg.trial_timeout, isolation=cfg.isolation)
    status = 1
    try:
        status = run_master(executor)
        return status
    except UserError:
        status = 2
        raise
    except KeyboardInterrupt as exc:  # RunInterrupted: 128 + signal
        status = getattr(exc, "exit_status", 130)
        raise
    finally:
        executor.close()
        if executor.lost_ranks:
            _abort_at_exit(comm, executor.lost_ranks, status)


ABORT_GRACE_S = 0.5  # s between the last words and MPI_Abort (_abort_at_exit)


def _abort_at_exit(comm, ranks: list[int], status: int) -> None:
    """A frozen rank never exits, and the launcher waits for every rank: once this process
    has said everything (atexit, before mpi4py's MPI_Finalize), end the job with MPI_Abort
    and the run's exit status."""
    import atexit

    def abort():
        print(f"hyppo_hep: MPI rank(s) {', '.join(map(str, ranks))} never answered: ending the MPI job with "
              f"MPI_Abort (exit status {status}) so that the launcher does not wait for them", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        # the launcher's proxy forwards what is in the pipe asynchronously, and MPI_Abort tears
        # it down: in one CI run of 900 tests the run's one-line error (printed just before)
        # never reached mpiexec's stderr. A moment for the proxy to read it; only this path waits.
        time.sleep(ABORT_GRACE_S)
        comm.Abort(status)

    atexit.register(abort)
