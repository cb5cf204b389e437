"""Asynchronous nested parallelism on MPI: rank 0 is the master, the other ranks form groups.

    mpiexec -n 9 python -m hyppo_hep.run config.yaml      # master + 8 workers
    srun -n 81 python -m hyppo_hep.run config.yaml        # master + 16 groups of 5

Rank 0 runs the strategy, the surrogates and the journal (the same Driver as every other
executor; :class:`MPIExecutor` is its executor). Ranks 1..N-1 are cut into worker groups of
``group_size`` consecutive ranks (the last group holds the remainder when N-1 is not a
multiple), one communicator per group (``Comm.Split``). One slot = one group:

- level 1: different sets run on different groups at the same time;
- level 2: the group leader hands the trials of its set to the ranks of its group
  (round-robin: trial i to group rank i mod size), and every rank runs its trials on its
  own device and sends each result straight to the master as it finishes;
- asynchronous: the master proposes and sends a new set to a group the moment the last
  trial of that group's set has come back, never waiting for the other groups.

Idle ranks do not spin. MPICH's blocking receive busy-polls a core at 100%; every wait
here is a non-blocking probe followed by a sleep that doubles from 0.5 ms up to
``MAX_SLEEP`` (20 ms), i.e. at most ~50 wake-ups a second: a fraction of a percent of a core,
for at most 20 ms of added latency per message (negligible next to a training).

This is the only module that imports mpi4py, and only inside functions: launch detection
(:func:`world_size_from_env`) reads the launcher's environment variables, so a plain
``python -m hyppo_hep.run`` never loads MPI.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import replace

from hyppo_hep.errors import UserError
from hyppo_hep.trial import TrialResult, TrialSpec

TAG_SET = 11  # master -> group leader: a TrialSpec
TAG_TRIALS = 12  # leader -> group rank: (set_id, params, [(trial, seed), ...], fidelity)
TAG_RESULT = 13  # any worker -> master: one TrialResult
TAG_FATAL = 14  # worker -> master: the objective cannot be built there (message)
TAG_STOP = 15  # master -> every worker rank: stop now, abandoning a trial in flight (None)

FIRST_SLEEP = 0.0005  # s
# s: the longest nap of a waiting rank, i.e. the worst latency it adds to a message. Lower
# it (env HYPPO_MPI_MAX_SLEEP) for very short trials, at the price of more wake-ups.
MAX_SLEEP = float(os.environ.get("HYPPO_MPI_MAX_SLEEP", "0.02"))

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

def _wait_message(comm, source, tag, timeout: float | None = None):
    """Receive the next message from ``source`` with ``tag`` (wildcards allowed) without
    busy-waiting; returns (obj, source, tag), or None after ``timeout`` seconds."""
    from mpi4py import MPI

    status = MPI.Status()
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = FIRST_SLEEP
    while True:
        msg = comm.improbe(source=source, tag=tag, status=status)
        if msg is not None:
            return msg.recv(), status.Get_source(), status.Get_tag()
        nap = delay
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            nap = min(nap, left)
        time.sleep(nap)
        delay = min(2 * delay, MAX_SLEEP)


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

    def wait(self, *args, **kw):
        """_wait_message(*args, **kw), timed."""
        c0, w0 = time.process_time(), time.monotonic()
        try:
            return _wait_message(*args, **kw)
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
                "wait_wall": self.wait_wall, "wait_cpu": self.wait_cpu, **extra}
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
    """The master's executor (world rank 0): one slot per worker group.

    ``submit`` sends a set to a free group or queues it; ``poll`` returns trial results as
    they arrive, one per trial. ``close`` tells every group to stop. Must be constructed
    on rank 0 while every other rank enters :func:`worker_loop` (both split the world
    communicator into groups, a collective call).

    Unresponsive ranks (a SIGSTOPped process, a hung driver, a node that stopped answering):
    with a ``timeout`` (the config's trial_timeout) the master applies the limit itself. A
    rank runs its trials of a set one after the other, so each of its trials must come back
    within ``timeout`` + ``grace`` of the previous one (or of the set's dispatch), plus a
    start-up allowance for the rank's first result and for every isolated trial (a new
    child builds the objective). When one does not, its trial is returned as
    failed ("worker unresponsive ..."), the rank's other trials of the set go back to the
    queue for another group, its group is retired (never sent a set again), and anything
    the rank sends later is dropped, so no trial is ever recorded twice. If the frozen rank
    is a group leader that had not yet answered for the set, the other members' trials of
    it are moved too (they may never have been handed out). Without ``timeout`` the master
    cannot tell a long training from a frozen rank and waits (README, Reliability).
    """

    def __init__(self, comm, group_size: int, *, timeout: float | None = None, isolation: str = "none",
                 grace: float | None = None):
        from mpi4py import MPI

        from hyppo_hep.executor.isolation import STARTUP_GRACE_S

        if comm.Get_rank() != 0:
            raise RuntimeError("MPIExecutor runs on rank 0; the other ranks run worker_loop")
        self.comm = comm
        self.layout = group_layout(comm.Get_size(), group_size)
        self.group_size = group_size
        self._n_groups = len(self.layout)
        comm.Split(MPI.UNDEFINED, 0)  # the master belongs to no group
        self.grace = UNRESPONSIVE_GRACE_S if grace is None else grace
        # s a rank may stay silent while it owes a result; None: no limit (no trial_timeout)
        self.limit = None if not timeout else timeout + self.grace
        self.startup = float(os.environ.get(STARTUP_ALLOWANCE_ENV, STARTUP_GRACE_S))
        self.isolated = isolation != "none"
        self._ever_answered: set[int] = set()
        self._worker_of: dict[int, str] = {}  # rank -> its worker name (host:pid:rank) as last seen
        self.lost_ranks: list[int] = []  # declared unresponsive, in that order
        self._retired: set[int] = set()  # groups never sent a set again
        self._free: deque[int] = deque(range(self._n_groups))
        self._queue: deque[TrialSpec] = deque()
        self._load: dict[int, int] = {}  # group -> trials sent to it not yet back
        self._expect: dict[tuple[int, int], tuple[int, int, int]] = {}  # (set, trial) -> (group, rank, seed)
        self._todo: dict[int, deque] = {}  # rank -> its (set, trial) in the order it runs them
        self._since: dict[int, float] = {}  # rank -> since when it owes its next result (monotonic)
        self._answered: set[int] = set()  # ranks that sent a result since they were last given work
        self._specs: dict[int, TrialSpec] = {}  # set_id -> its spec (to move trials elsewhere)
        self._outbox = _Outbox()
        self._closed = False
        self._stats = _RankStats(0, "master")

    @property
    def n_slots(self) -> int:
        # never 0, so that the driver still submits and poll() can say that nothing runs any more
        return max(1, self._n_groups - len(self._retired))

    def submit(self, spec: TrialSpec) -> None:
        self._queue.append(spec)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._free and self._queue:
            spec = self._queue.popleft()
            if not spec.trials:
                continue
            group = self._free.popleft()
            members, now = self.layout[group], time.monotonic()
            self._load[group] = len(spec.trials)
            self._specs[spec.set_id] = spec
            for i, (trial, seed) in enumerate(zip(spec.trials, spec.seeds)):
                rank = members[i % len(members)]  # the leader's round-robin (worker_loop)
                self._expect[(spec.set_id, trial)] = (group, rank, seed)
                todo = self._todo.setdefault(rank, deque())
                if not todo:
                    self._since[rank] = now
                    self._answered.discard(rank)
                todo.append((spec.set_id, trial))
            self._outbox.send(self.comm, spec, members[0], TAG_SET)

    def _group_done(self, group: int, n: int = 1) -> None:
        self._load[group] -= n
        if self._load[group] <= 0:
            del self._load[group]
            if group not in self._retired:
                self._free.append(group)

    def _take(self, message) -> TrialResult | None:
        obj, source, tag = message
        if tag == TAG_FATAL:
            raise UserError(f"worker rank {source}: {obj}")
        key = (obj.set_id, obj.trial)
        entry = self._expect.get(key)
        if entry is None or entry[1] != source:
            return None  # from a rank given up on: its trial was failed or moved already
        del self._expect[key]
        group, rank, _ = entry
        self._todo[rank].remove(key)
        self._since[rank] = time.monotonic()
        self._answered.add(rank)
        self._ever_answered.add(rank)
        self._worker_of[rank] = str(obj.worker).split(">")[0]
        self._group_done(group)
        return obj

    # --- ranks that stopped answering -----------------------------------------------------
    def _owing(self) -> list[int]:
        return [r for r, todo in self._todo.items() if todo]

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
            if self._todo.get(rank) and now - self._since[rank] > self._limit(rank):
                failed.append(self._give_up(rank, now))
        return failed

    def _give_up(self, rank: int, now: float) -> TrialResult:
        """Fail the trial ``rank`` owes, move its other trials (and, for a leader that never
        answered, its group's unstarted ones), retire its group."""
        group = next(g for g, members in enumerate(self.layout) if rank in members)
        silent = now - self._since[rank]
        self.lost_ranks.append(rank)
        todo = self._todo.pop(rank)
        head = todo.popleft()
        _, _, seed = self._expect.pop(head)
        moved = list(todo)
        if rank == self.layout[group][0] and rank not in self._answered:
            # a leader frozen before it handed the set out: the members may never have had theirs
            for member in self.layout[group][1:]:
                if member not in self._answered and self._todo.get(member):
                    moved += list(self._todo.pop(member))
        self._requeue(moved)
        self._group_done(group, 1 + len(moved))
        self._retired.add(group)
        if group in self._free:
            self._free.remove(group)
        live = self._n_groups - len(self._retired)
        why = (f"worker unresponsive: MPI rank {rank} (group {group}) sent nothing for {silent:.0f} s, more than "
               f"trial_timeout + {self.grace:g} s grace{' + start-up' if self._limit(rank) > self.limit else ''}: "
               f"trial failed, {len(moved)} trial(s) of its set moved "
               f"to another group, group {group} retired ({live} of {self._n_groups} groups left)")
        print(f"hyppo_hep: {why}", file=sys.stderr, flush=True)
        wall = time.time()
        worker = self._worker_of.get(rank, f"?:?:{rank}")
        return TrialResult(head[0], head[1], seed, None, why, worker, "?", wall - silent, wall)

    def _requeue(self, keys: list[tuple[int, int]]) -> None:
        """Put trials back at the front of the queue, one spec per set, seeds unchanged."""
        by_set: dict[int, list[tuple[int, int]]] = {}
        for key in keys:
            _, _, seed = self._expect.pop(key)
            by_set.setdefault(key[0], []).append((key[1], seed))
        for set_id, pairs in reversed(list(by_set.items())):
            spec = self._specs[set_id]
            self._queue.appendleft(replace(spec, trials=tuple(t for t, _ in pairs), seeds=tuple(s for _, s in pairs)))

    def poll(self, timeout: float | None = None) -> list[TrialResult]:
        """Wait (without spinning) until at least one trial result arrives or ``timeout``
        seconds pass; return every result that has arrived, in arrival order (trials of
        ranks given up on included, as failed)."""
        from mpi4py import MPI

        if not self._expect and not self._queue:
            return []
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._queue and not self._expect and len(self._retired) == self._n_groups:
                raise UserError(f"every MPI worker group has an unresponsive rank (ranks "
                                f"{', '.join(map(str, self.lost_ranks))}): nothing can run the remaining trials; "
                                "the journal keeps every finished trial: resume the run on healthy nodes")
            wait = self._until_overdue()
            if end is not None:
                wait = min(x for x in (wait, end - time.monotonic()) if x is not None)
            first = self._stats.wait(self.comm, MPI.ANY_SOURCE, MPI.ANY_TAG, None if wait is None else max(0.0, wait))
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
        self._stats.write(n_groups=self.n_slots, group_size=self.group_size)


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
            if _try_message(self.comm, 0, TAG_STOP) is not None:
                self.stopped = True
                signal.pthread_kill(main, signal.SIGINT)  # -> _on_signal -> _StopWorker
                return
            time.sleep(delay)
            delay = min(2 * delay, MAX_SLEEP)

    def check(self) -> bool:
        """Has the master said stop? (main thread; never waits)"""
        if not self.stopped and _try_message(self.comm, 0, TAG_STOP) is not None:
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

    Trials run through :class:`TrialRunner`: in this process, or with ``isolation``
    process/fresh in a child process (a crash of native code, an OOM kill fails the trial,
    not the rank), with the per-trial wall-time limit ``timeout`` (s) either way. In-process,
    the objective is built once per rank up front; if that fails the master is told (it
    stops the run with the error) and this rank's trials come back failed with the same
    message. Isolated, the child builds it; a user error there is reported the same way.
    """
    from hyppo_hep.executor.isolation import TrialRunner

    rank = comm.Get_rank()
    layout = group_layout(comm.Get_size(), group_size)
    group = next(g for g, members in enumerate(layout) if rank in members)
    gcomm = comm.Split(group, rank)  # group rank 0 = the leader = lowest world rank
    leader, gsize = gcomm.Get_rank() == 0, gcomm.Get_size()
    outbox = _Outbox()
    watch = _StopWatch(comm)

    from hyppo_hep.device import pick_device, threads_per_rank

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
    runner = TrialRunner(objective_ref, isolation=isolation, timeout=timeout, device=device, name=rank,
                         objective=objective)

    def wait(source_comm, tag):
        """The next message on (source_comm, 0, tag), or None once the master said stop."""
        while not watch.check():
            got = stats.wait(source_comm, 0, tag, timeout=1.0)
            if got is not None:
                return got
        return None

    stats = _RankStats(rank, "leader" if leader else "member")  # counts the loop only
    try:
        while True:
            if leader:
                got = wait(comm, TAG_SET)
                if got is None:
                    break
                spec = got[0]
                shares: list[list[tuple[int, int]]] = [[] for _ in range(gsize)]
                for i, (trial, seed) in enumerate(zip(spec.trials, spec.seeds)):
                    shares[i % gsize].append((trial, seed))
                for member in range(1, gsize):
                    if shares[member]:
                        outbox.send(gcomm, (spec.set_id, spec.params, shares[member], spec.fidelity), member,
                                    TAG_TRIALS)
                set_id, params, mine, fid = spec.set_id, spec.params, shares[0], spec.fidelity
            else:
                got = wait(gcomm, TAG_TRIALS)
                if got is None:
                    break
                set_id, params, mine, fid = got[0]
            for trial, seed in mine:
                if watch.check():
                    break
                # fid: the epoch budget / median-rule curve decided at submission (fidelity.py)
                res = runner.run(params, set_id, trial, seed, fid, stop=watch.check)
                if res is None:  # the master said stop during an isolated trial
                    break
                stats.busy += res.wall_time
                stats.n_trials += 1
                if res.fatal:  # a user error building the objective in an isolated child
                    outbox.send(comm, f"{res.error}", 0, TAG_FATAL)
                else:
                    outbox.send(comm, res, 0, TAG_RESULT)
            if watch.stopped:
                break
    except _StopWorker:
        pass  # the master stopped the run during an in-process trial; it journalled what it had
    finally:
        watch.restore()
        runner.close()
    outbox.drain(timeout=60)
    stats.write(group=group, device=device, signal=watch.signalled)
    gcomm.Free()
    return 0


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
        comm.Abort(status)

    atexit.register(abort)
