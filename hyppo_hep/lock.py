"""One run at a time per output directory: an exclusive lock on ``out/.hyppo.lock``.

Two runs (or two ``--resume``) writing one journal would number different sets alike and
run trials twice. The first run to take the lock wins; the second exits with status 2 and
one line naming the holder::

    error: output directory out/ is in use by another run (host node17, pid 4242, since
    2026-12-01 16:04:32 UTC): wait for it or stop it; ...

How, and what is safe where:

- The lock is a POSIX record lock (``fcntl.lockf``) on the lock file, held for the run's
  life. The kernel (or the file server) drops it when the process ends however it ends,
  kill -9 included, so a lock is never left stale: the next run takes the file over. The
  file's text (host, pid, start time) only serves the message.
- Shared file systems: record locks are coherent across nodes on NFSv4 (and NFSv3 with
  lockd/NLM), GPFS/Spectrum Scale, BeeGFS, and Lustre mounted with ``-o flock``; there the
  lock excludes runs on different nodes too. Lustre mounted with ``-o localflock`` keeps
  locks per node: runs on two nodes would both get it, so start and resume a campaign
  from one node (or use a directory per job). Where record locks are not supported at all
  (Lustre without flock, some FUSE file systems: ENOLCK/ENOSYS/EOPNOTSUPP) the file itself
  is the lock, created with O_EXCL (atomic on NFSv3+, Lustre, GPFS): a lock naming this
  host and a dead pid is stale and taken over; one naming another host is never broken
  automatically (its process cannot be checked from here); the message says which file to
  remove once that run is known to be gone.
- ``flock`` is not used: on NFS it is emulated by record locks anyway, and on Lustre it
  has the same mount-option caveat.

Within one process a lock is exclusive too (an ``AskTell`` and a ``minimize`` on one
``out`` refuse each other), except between holders that both ask for ``reentrant`` (a
campaign locks its directory, then its single search locks it again). Only the process
that took a lock releases it; forked children do not inherit record locks.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from pathlib import Path

from hyppo_hep.errors import UserError

LOCK_NAME = ".hyppo.lock"
# errors that mean "record locks are not supported here" rather than "held by someone"
_NO_LOCKS = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}
_HELD: dict[str, "OutDirLock"] = {}  # real path of the lock file -> the lock this process holds


class OutDirLock:
    """Exclusive lock on output directory ``out`` (created if missing; removed again on
    release if this lock created it and it is empty then). Use as a context manager or
    ``acquire()`` / ``release()``. ``acquire`` raises UserError if another run holds it."""

    def __init__(self, out: str | os.PathLike, *, reentrant: bool = False):
        self.out = Path(out)
        self.reentrant = reentrant
        self.path = self.out / LOCK_NAME
        self._fd: int | None = None
        self._count = 0
        self._made_dir = False
        self._key: str | None = None

    def __enter__(self) -> "OutDirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> "OutDirLock":
        if self._count:
            self._count += 1
            return self
        self._made_dir = not self.out.exists()
        if not self._made_dir and not self.out.is_dir():
            raise UserError(f"output directory {self.out} exists and is not a directory")
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"output directory {self.out} is not writable: {exc.strerror}") from None
        key = os.path.realpath(self.path)
        held = _HELD.get(key)
        if held is not None:
            if not (self.reentrant and held.reentrant):
                raise _busy(self.path)
            held._count += 1  # a nested hold of this process (campaign -> its search)
            self._key, self._count = key, 1
            return self
        try:
            self._fd = _take(self.path)
        except BaseException:
            self._rmdir_if_made()
            raise
        self._key, self._count = key, 1
        _HELD[key] = self
        return self

    def release(self) -> None:
        if not self._count:
            return
        self._count -= 1
        if self._count:
            return
        owner = _HELD.get(self._key)
        if owner is not self:  # a shared hold: the owner releases
            if owner is not None:
                owner.release()
            return
        del _HELD[self._key]
        # unlink first, then unlock: a waiter that opened the old file finds it unlinked
        # after it gets the lock and starts over (see _take), so no two holders ever coexist
        try:
            if _same_file(self._fd, self.path):
                self.path.unlink()
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None
        self._rmdir_if_made()

    def _rmdir_if_made(self) -> None:
        if self._made_dir:
            try:
                self.out.rmdir()  # only if empty: nothing anyone wrote is removed
            except OSError:
                pass


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _describe() -> str:
    return f"{socket.gethostname()} {os.getpid()} {time.time():.0f}\n"


def _holder(path: Path) -> tuple[str, int | None, str]:
    """(host, pid, since) as the lock file says; '?' where it does not."""
    try:
        host, pid, since = path.read_text(encoding="utf-8", errors="replace").split()[:3]
        return host, int(pid), time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(since)))
    except (OSError, ValueError):
        return "?", None, "?"


def _busy(path: Path, extra: str = "") -> UserError:
    host, pid, since = _holder(path)
    return UserError(f"output directory {path.parent} is in use by another run (host {host}, pid {pid or '?'}, "
                     f"since {since}): wait for it to finish or stop it, or use another --out{extra}")


def _take(path: Path) -> int:
    """Open ``path`` and hold the lock on it; the fd. Raises UserError when it is held."""
    import fcntl

    for _ in range(100):  # start over when the holder released (and unlinked) meanwhile
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(f"output directory {path.parent} is not writable: {exc.strerror}") from None
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EACCES, errno.EAGAIN):
                raise _busy(path) from None
            if exc.errno in _NO_LOCKS:
                return _take_without_locks(path)
            raise UserError(f"cannot lock {path}: {exc.strerror}") from None
        if not _same_file(fd, path):
            os.close(fd)
            continue
        _write(fd, _describe())
        return fd
    raise UserError(f"cannot lock {path}: it keeps being replaced by other runs")


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)
    try:
        os.fsync(fd)
    except OSError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, someone else's
    return True


def _take_without_locks(path: Path) -> int:
    """The lock file itself is the lock (O_EXCL create) where record locks are unsupported;
    a file left by a dead process of this host is taken over, one of another host is not."""
    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except PermissionError as exc:
            raise UserError(f"output directory {path.parent} is not writable: {exc.strerror}") from None
        except FileExistsError:
            host, pid, _ = _holder(path)
            if host != socket.gethostname() or pid is None or _alive(pid):
                raise _busy(path, f"; if that run is gone (this file system has no record locks, so "
                                  f"this cannot be checked), remove {path}") from None
            # stale: rename it away (only one contender's rename succeeds), then create anew
            try:
                os.rename(path, f"{path}.stale.{socket.gethostname()}.{os.getpid()}")
                os.unlink(f"{path}.stale.{socket.gethostname()}.{os.getpid()}")
            except FileNotFoundError:
                pass
            continue
        _write(fd, _describe())
        return fd
    raise UserError(f"cannot lock {path}: it keeps being replaced by other runs")


def holding_out_dir_lock(run):
    """Decorator for ``run(cfg, ...)``: hold ``cfg.out``'s lock (re-entrant) while it runs."""
    import functools

    @functools.wraps(run)
    def locked(cfg, *args, **kwargs):
        with OutDirLock(cfg.out, reentrant=True):
            return run(cfg, *args, **kwargs)

    return locked
