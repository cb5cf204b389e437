"""Running one trial so that nothing it does can take the run down with it.

Every executor runs its trials through this module (the serial executor and MPI worker
ranks through :class:`TrialRunner`, the pool through :class:`IsolatedWorker` directly), so
a failure is handled, and described, the same everywhere:

- an exception, ``sys.exit`` or a non-finite score: a failed trial with the traceback or
  the value (``run_trial``); so is a KeyboardInterrupt the trial raised itself, while a
  real Ctrl-C (SIGINT) of the run still stops the run (see :func:`_guarded`);
- a returned dict whose values the journal (JSON) cannot hold: arrays, tensors and numpy
  scalars are converted to lists and numbers, anything else (a set, bytes, an object) fails
  the trial naming the value (:func:`jsonable_info`), so that neither the pipe, MPI nor the
  journal ever meets a value it cannot write;
- the per-trial wall-time limit ``trial_timeout``: a failed trial "timed out after N s";
- with isolation, a segfault, ``abort()``, the kernel's OOM killer or any signal that kills
  the trial's process: a failed trial "killed by signal SIGKILL ...", and the process is
  replaced before the next trial.

Isolation modes (config ``isolation``):

``none``
    The trial runs in the worker's own process. The time limit is enforced with SIGALRM,
    which interrupts Python code (a ``time.sleep``, a training loop between two batches)
    but not a single C call that never returns; a trial that ran over without being
    interrupted (alarm unavailable off the main thread) is still recorded as timed out.
    A segfault kills the worker.
``process``
    One persistent child process per worker runs the trials one after the other. It is
    spawned once and builds the objective once (imports, data loading, the CUDA context),
    which a training of minutes amortises, and it is replaced only when it dies or is
    killed at the time limit. GPU memory is returned with ``torch.cuda.empty_cache()``
    after every trial.
``fresh``
    A new child process for every trial: the strongest isolation (everything the trial
    leaked, host or GPU memory, goes with the process) at the cost of a process start and
    an objective build per trial (about 1-2 s with torch).

Children are started with 'spawn' (safe with torch, CUDA and threads), each in its own
process group (a Ctrl-C reaches only the master, which decides when the run stops and
kills them with what they started), and a watchdog process in that group kills the group
when the master disappears (a SIGKILLed master leaves no orphan training on a GPU, and no
process a trial started; see _guard_group).
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import signal
import sys
import threading
import time
import traceback
import weakref
from contextlib import contextmanager

from hyppo_hep.device import pick_device
from hyppo_hep.errors import RunInterrupted, UserError
from hyppo_hep.executor.base import run_trial, worker_name
from hyppo_hep.trial import TrialResult

ISOLATION_MODES = ("none", "process", "fresh")
STARTED = "started"
# Starting a child and building the objective (imports, data loading) is not the trial's
# time; it gets this much on top of the trial's limit before the child is declared hung.
STARTUP_GRACE_S = 120.0
STOP_POLL_S = 0.2  # s: how often TrialRunner.run asks its ``stop`` callable during an isolated trial


class TrialTimeout(BaseException):
    """Raised in the trial's thread by SIGALRM. A BaseException, so that the user's own
    ``except Exception`` around a training step does not swallow it."""


def release_memory() -> None:
    """Give freed GPU memory back after a trial (so the next trial, or another process on
    the GPU, can have it). Only if torch is already loaded and CUDA in use: never import it
    for this, and skip the collection (16-90 ms) for trials that never touched a GPU."""
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                gc.collect()  # tensors held only by reference cycles (a dead trainer) first
                torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 — a broken CUDA state is the next trial's problem
            pass


def timeout_message(seconds: float) -> str:
    return f"timed out after {seconds:g} s (trial_timeout)"


def death_message(exitcode: int | None) -> str:
    """Why a trial's process ended without a result, from its exit code."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = {"SIGKILL": " (out of memory: the kernel's OOM killer? or an external kill)",
                "SIGSEGV": " (segmentation fault in native code)",
                "SIGABRT": " (abort: a failed assertion in native code?)",
                "SIGBUS": " (bus error in native code)"}.get(name, "")
        return f"trial process killed by signal {name}{hint}"
    return f"trial process exited with status {exitcode} without a result"


@contextmanager
def _alarm(seconds: float | None):
    """Raise TrialTimeout in this thread after ``seconds``; yields whether it is armed
    (only the main thread of a process can receive SIGALRM)."""
    if not seconds or not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield False
        return

    def on_alarm(signum, frame):
        raise TrialTimeout()

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:
            signal.signal(signal.SIGALRM, old)


class _NotJSON(Exception):
    pass


def _to_json(value, where: str, depth: int = 0):
    """``value`` as plain JSON data (str, int, float, bool, None, list, dict); arrays, tensors
    and numpy scalars through their ``tolist``. Raises _NotJSON naming ``where`` otherwise."""
    if depth > 100:
        raise _NotJSON(f"{where} is nested more than 100 deep (or contains itself)")
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k is not None and not isinstance(k, (str, bool, int, float)):
                raise _NotJSON(f"{where} has a key {k!r} of type {type(k).__name__} (JSON keys are strings)")
            out[k] = _to_json(v, f"{where}[{k!r}]", depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_to_json(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, torch tensors
    if callable(tolist) and not isinstance(value, type):
        try:
            plain = tolist()
        except Exception as exc:  # noqa: BLE001 — a foreign tolist; the value is then not writable
            raise _NotJSON(f"{where} ({type(value).__name__}) failed to convert: {exc}") from None
        if plain is not value:
            return _to_json(plain, where, depth + 1)
    raise _NotJSON(f"{where} is a {type(value).__name__}")


def jsonable_info(info: dict) -> tuple[dict, list[str]]:
    """The entries of a trial's ``info`` the journal can hold (converted), and one line per
    entry it cannot (``info['blob'] is a set``)."""
    out, problems = {}, []
    for key, value in info.items():
        try:
            if key is not None and not isinstance(key, (str, bool, int, float)):
                raise _NotJSON(f"info has a key {key!r} of type {type(key).__name__} (JSON keys are strings)")
            out[key] = _to_json(value, f"info[{key!r}]")
        except _NotJSON as exc:
            problems.append(str(exc))
    return out, problems


def journal_safe(result: TrialResult) -> TrialResult:
    """``result`` with an ``info`` the journal, a pipe and MPI can carry; a trial whose info
    holds something JSON cannot write fails with the reason (its writable entries kept)."""
    if not result.info:
        return result
    info, problems = jsonable_info(result.info)
    if not problems:
        return dataclasses.replace(result, info=info)
    error = ("the trial's result cannot be written to the journal (JSON): " + "; ".join(problems)
             + ". Return numbers, strings, lists and dicts (arrays and tensors are converted)")
    if result.error:
        error = result.error + "\n" + error
    return dataclasses.replace(result, score=None, error=error, info=info)


@contextmanager
def _sigint_noted():
    """Notes whether a real SIGINT arrived while the block ran (yields a dict with 'got'),
    passing it on to the handler in place. Only then is a KeyboardInterrupt the user's
    Ctrl-C; without a signal it is the trial's own. (With SIG_DFL or SIG_IGN in place a real
    SIGINT never becomes a KeyboardInterrupt here, so there is nothing to note.)"""
    seen = {"got": False}
    old = signal.getsignal(signal.SIGINT)
    if not callable(old) or threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def on_sigint(signum, frame):
        seen["got"] = True
        old(signum, frame)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield seen
    finally:
        if signal.getsignal(signal.SIGINT) is on_sigint:  # the run's handler may have moved on (SIG_IGN)
            signal.signal(signal.SIGINT, old)


def _guarded(objective, params: dict, set_id: int, trial: int, seed: int, device: str, worker,
             fidelity=None) -> TrialResult:
    """``run_trial`` plus what it lets through that is still the trial's doing: a
    KeyboardInterrupt the trial raised itself (failed trial, with its traceback) and an info
    the journal cannot hold (see journal_safe). The run's own interrupts propagate."""
    started = time.time()
    with _sigint_noted() as sigint:
        try:
            result = run_trial(objective, params, set_id, trial, seed, device, worker, fidelity=fidelity)
        except RunInterrupted:
            raise
        except KeyboardInterrupt:
            if sigint["got"]:
                raise  # a real Ctrl-C of the user: the run stops
            return TrialResult(set_id, trial, seed, None, "the trial raised KeyboardInterrupt itself (no Ctrl-C "
                               "reached the run):\n" + traceback.format_exc(limit=20), worker, device, started,
                               time.time())
    return journal_safe(result)


def run_trial_in_process(objective, params: dict, set_id: int, trial: int, seed: int, device: str, worker,
                         timeout: float | None = None, fidelity=None) -> TrialResult:
    """``run_trial`` with the time limit enforced by SIGALRM where possible, checked after
    the fact otherwise, and GPU memory released afterwards."""
    started = time.time()
    result = None
    try:
        with _alarm(timeout):
            result = _guarded(objective, params, set_id, trial, seed, device, worker, fidelity=fidelity)
    except TrialTimeout:
        pass  # the alarm may also fire just after the result was in: keep the result then
    finally:
        release_memory()
    if result is None:
        return TrialResult(set_id, trial, seed, None, timeout_message(timeout), worker, device, started, time.time())
    if timeout and result.ok and result.wall_time > timeout:
        return TrialResult(set_id, trial, seed, None, timeout_message(timeout) + " (detected when it returned)",
                           worker, device, result.started, result.finished, result.info)
    return result


# --- the child process -------------------------------------------------------------------------

def _kill_group_and_exit(pgid: int | None) -> None:
    """SIGKILL process group ``pgid`` (the trial's child, what it started, the watchdog),
    or, without a group of its own (None), end just this process."""
    try:
        if pgid is not None:
            os.killpg(pgid, signal.SIGKILL)
    finally:
        os._exit(1)


def _watch_parent(parent_pid: int, pgid: int | None) -> None:
    """Fallback guard (a thread) where no watchdog process can be forked: poll the parent."""
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:
            _kill_group_and_exit(pgid)


def _only_fds(keep: set[int]) -> None:
    """Close every descriptor but ``keep``, and point 0-2 at /dev/null: a watchdog must not
    hold the launcher's output pipes open (mpiexec waits for their EOF)."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    keep = keep | {0, 1, 2}
    try:
        fds = [int(f) for f in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _watchdog(parent_pid: int, child_pid: int, pidfds: list[int]) -> None:  # child_pid is the group id
    """Body of the watchdog process: block until the master (``parent_pid``) or the trial's
    process (``child_pid``) ends, then SIGKILL the process group, itself included."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # a trial's killpg(0, SIGTERM) must not end it
        signal.signal(s, signal.SIG_IGN)
    _only_fds(set(pidfds))
    if len(pidfds) == 2:
        import select

        poller = select.poll()
        for fd in pidfds:
            poller.register(fd, select.POLLIN)
        while not poller.poll():
            pass
    else:  # no pidfds (not Linux >= 5.3): poll both pids
        while True:
            time.sleep(0.5)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
            if os.getppid() != child_pid:
                break
    _kill_group_and_exit(child_pid)


def _guard_group(parent_pid: int) -> None:
    """Make this child's process group die with its parent (issue 13.4): a kill -9 of the
    master must not leave the trial, nor what it started (a simulation binary, DataLoader
    workers), running. PR_SET_PDEATHSIG is not enough: it kills one process, not its group,
    and fires when the parent's spawning *thread* ends. So a tiny watchdog process is forked
    into the group (before the objective is built: cheap, single-threaded) that waits on
    pidfds of the master and of this child and SIGKILLs the whole group when either ends.
    Where fork is unavailable, a thread polls the parent instead."""
    child_pid = os.getpid()
    if not hasattr(os, "getpgid") or os.getpgid(0) != child_pid:
        # no group of our own (setsid failed): never kill a group, the master's could be it
        threading.Thread(target=_watch_parent, args=(parent_pid, None), daemon=True).start()
        return
    pidfds = []
    if hasattr(os, "pidfd_open"):
        try:
            pidfds = [os.pidfd_open(parent_pid), os.pidfd_open(os.getpid())]
        except OSError:
            pidfds = []
    if os.getppid() != parent_pid:  # the master died before we could watch it
        _kill_group_and_exit(child_pid)
    try:
        pid = os.fork() if hasattr(os, "fork") else -1
    except OSError:
        pid = -1
    if pid == 0:
        try:
            _watchdog(parent_pid, child_pid, pidfds)
        finally:
            os._exit(1)
    for fd in pidfds:
        os.close(fd)
    if pid < 0:
        threading.Thread(target=_watch_parent, args=(parent_pid, child_pid), daemon=True).start()


def _child_main(conn, objective_ref, env: dict, name: str, parent_pid: int) -> None:
    """Loop of an isolated child: receive (params, set_id, trial, seed), send a TrialResult."""
    # Its own session and process group: a time-out or close kills the trial together with
    # any process it started (a DataLoader's workers, a simulation binary), and a Ctrl-C or a
    # signal to the run's process group reaches the master only, which decides. (Not
    # SIG_IGN for SIGTERM here: that is inherited, and multiprocessing.Pool.terminate, run
    # by a trial's own pool, would then wait forever for its workers.)
    try:
        os.setsid()
    except OSError:
        pass
    _guard_group(parent_pid)
    os.environ.update(env)
    objective, device = None, "cpu"
    worker = worker_name(name)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        params, set_id, trial, seed, fidelity = msg
        if objective is None:
            started = time.time()
            try:
                objective = objective_ref.build()
                device = pick_device()
                _limit_torch_threads()
            except UserError as exc:
                conn.send(TrialResult(set_id, trial, seed, None, str(exc), worker, device, started, time.time(),
                                      fatal=True))
                continue
            except (Exception, SystemExit):  # noqa: BLE001
                conn.send(TrialResult(set_id, trial, seed, None, "building the objective failed:\n"
                                      + traceback.format_exc(limit=20), worker, device, started, time.time()))
                continue
        conn.send(STARTED)  # the time limit runs from here: process start and build excluded
        result = _guarded(objective, params, set_id, trial, seed, device, worker, fidelity=fidelity)
        release_memory()
        conn.send(result)


def _limit_torch_threads() -> None:
    # torch reads OMP_NUM_THREADS only at import; say it again if the build imported it
    torch = sys.modules.get("torch")
    if torch is not None and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def _kill_group(proc) -> None:
    """SIGKILL the child's process group (the child and everything it started)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, AttributeError):  # already gone, or no process groups here
        if proc.is_alive():
            proc.kill()


class IsolatedWorker:
    """A child process that runs one trial at a time, replaced when it dies or times out.

    Non-blocking, so that one thread can drive many (the pool): ``start`` a trial, wait on
    ``handles`` (``multiprocessing.connection.wait``) until ``deadline``, then ``collect``.
    """

    def __init__(self, objective_ref, *, name: str = "0", timeout: float | None = None, fresh: bool = False,
                 env: dict | None = None):
        self.objective_ref, self.name, self.timeout, self.fresh = objective_ref, name, timeout, fresh
        self.env = dict(env or {})
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._conn = None
        self._task = None  # (params, set_id, trial, seed, started)
        self.deadline: float | None = None

    @property
    def busy(self) -> bool:
        return self._task is not None

    @property
    def handles(self) -> list:
        return [self._conn, self._proc.sentinel] if self.busy else []

    def _spawn(self) -> None:
        _at_exit_kill(self)
        parent, child = self._ctx.Pipe()
        # not a daemon: a trial may start processes of its own (a DataLoader's workers), which
        # a daemonic process may not; close() and the parent watchdog end it instead
        self._proc = self._ctx.Process(target=_child_main, name=f"hyppo-trial-{self.name}", daemon=False,
                                       args=(child, self.objective_ref, self.env, self.name, os.getpid()))
        self._proc.start()
        child.close()
        self._conn = parent

    def _stop(self, kill: bool) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if proc is None:
            return
        if kill:
            _kill_group(proc)
        else:
            try:
                conn.send(None)
            except OSError:
                proc.kill()
        proc.join(timeout=5)
        if proc.is_alive():
            proc.kill()
            proc.join()
        _kill_group(proc)  # what the trial started and left running
        conn.close()

    def start(self, params: dict, set_id: int, trial: int, seed: int, fidelity=None) -> None:
        assert not self.busy, "one trial at a time"
        if self._proc is None or not self._proc.is_alive():
            if self._proc is not None:
                self._stop(kill=True)
            self._spawn()
        self._task = (params, set_id, trial, seed, time.time())
        self.deadline = self._task[-1] + self.timeout + STARTUP_GRACE_S if self.timeout else None
        self._conn.send((params, set_id, trial, seed, fidelity))

    def collect(self, now: float | None = None) -> TrialResult | None:
        """The trial's result once it finished, died or ran out of time; None while it runs."""
        if not self.busy:
            return None
        params, set_id, trial, seed, started = self._task
        result = None
        try:
            while result is None and self._conn.poll():
                msg = self._conn.recv()
                if msg == STARTED:
                    started = time.time()
                    self._task = (params, set_id, trial, seed, started)
                    self.deadline = started + self.timeout if self.timeout else None
                else:
                    result = msg
        except (EOFError, OSError):
            pass  # the child died: its exit code below says how
        if result is None:
            now = time.time() if now is None else now
            if not self._proc.is_alive():
                self._proc.join()
                result = self._failed(death_message(self._proc.exitcode), started)
                self._stop(kill=True)
            elif self.deadline is not None and now >= self.deadline:
                self._stop(kill=True)
                result = self._failed(timeout_message(self.timeout), started)
            else:
                return None
        self._task, self.deadline = None, None
        if self.fresh and self._proc is not None:
            self._stop(kill=False)
        return result

    def _failed(self, error: str, started: float) -> TrialResult:
        params, set_id, trial, seed, _ = self._task
        worker = worker_name(self.name) if self._proc is None else f"{worker_name(self.name)}>{self._proc.pid}"
        return TrialResult(set_id, trial, seed, None, error, worker, "?", started, time.time())

    def close(self) -> None:
        """Stop the child: politely when idle, killed when a trial is running."""
        self._stop(kill=self.busy)
        self._task, self.deadline = None, None


_LIVE: "weakref.WeakSet[IsolatedWorker]" = weakref.WeakSet()
_EXIT_HOOK = []


def _at_exit_kill(worker: IsolatedWorker) -> None:
    """Children are not daemons (see _spawn), so multiprocessing would wait for them at exit;
    an executor that was never closed must not hang the interpreter: kill them first. The
    hook is registered after multiprocessing's own, so it runs before it (atexit is LIFO)."""
    _LIVE.add(worker)
    if not _EXIT_HOOK:
        _EXIT_HOOK.append(atexit.register(lambda: [w.close() for w in list(_LIVE)]))


def wait_any(workers: list[IsolatedWorker], timeout: float | None = None) -> list[TrialResult]:
    """Block until at least one busy worker has a result (or ``timeout`` s pass; None: no
    limit); return every result that is in. Time limits are enforced while waiting."""
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        busy = [w for w in workers if w.busy]
        if not busy:
            return []
        results = [r for r in (w.collect() for w in busy) if r is not None]
        if results:
            return results
        waits = [w.deadline - time.time() for w in busy if w.deadline is not None]
        if end is not None:
            left = end - time.monotonic()
            if left <= 0:
                return []
            waits.append(left)
        mpc.wait([h for w in busy for h in w.handles], timeout=max(0.0, min(waits)) + 0.01 if waits else None)


class TrialRunner:
    """Runs the trials of one worker one at a time (serial executor, an MPI worker rank),
    in process or isolated as configured; ``run`` blocks and always returns a TrialResult."""

    def __init__(self, objective_ref, *, isolation: str = "none", timeout: float | None = None,
                 device: str | None = None, name: str | int = 0, env: dict | None = None, objective=None):
        """``objective``: the already built objective for in-process trials (an MPI worker
        builds it up front to report a broken setup at once), else built at the first trial."""
        if isolation not in ISOLATION_MODES:
            raise ValueError(f"isolation must be one of {ISOLATION_MODES}, got {isolation!r}")
        self.objective_ref, self.isolation, self.timeout = objective_ref, isolation, timeout
        self.device, self.name = device, str(name)
        self._objective = objective
        self._child = None if isolation == "none" else IsolatedWorker(
            objective_ref, name=self.name, timeout=timeout, fresh=isolation == "fresh", env=env)

    def run(self, params: dict, set_id: int, trial: int, seed: int, fidelity=None,
            stop=None) -> TrialResult | None:
        """The trial's result. ``stop``: a callable asked every STOP_POLL_S while an isolated
        trial runs; when it says True the child is killed and None returned (in-process trials
        cannot be abandoned this way). Any BaseException while waiting kills the child too."""
        if self._child is not None:
            self._child.start(params, set_id, trial, seed, fidelity)
            try:
                while True:
                    results = wait_any([self._child], timeout=None if stop is None else STOP_POLL_S)
                    if results:
                        return results[0]
                    if stop is not None and stop():
                        self._child.close()
                        return None
            except BaseException:
                self._child.close()
                raise
        if self._objective is None:
            started = time.time()
            try:
                self._objective = self.objective_ref.build()
            except UserError as exc:
                return TrialResult(set_id, trial, seed, None, str(exc), worker_name(self.name), "cpu", started,
                                   time.time(), fatal=True)
            except Exception:  # noqa: BLE001 — retried at the next trial; repeated failures stop the run
                return TrialResult(set_id, trial, seed, None, "building the objective failed:\n"
                                   + traceback.format_exc(limit=20), worker_name(self.name), "cpu", started,
                                   time.time())
            self.device = self.device or pick_device()
        return run_trial_in_process(self._objective, params, set_id, trial, seed, self.device,
                                    worker_name(self.name), self.timeout, fidelity)

    def close(self) -> None:
        if self._child is not None:
            self._child.close()
