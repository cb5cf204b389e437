"""A real single-node Slurm for the tests: munged, slurmctld and slurmd on this machine.

Everything lives in one directory (config, state, spool, logs, the munge socket and key), so
it neither needs nor touches /etc/slurm or a system munged, and several can coexist with
different ports. The node declares more CPUs than the machine has
(``SlurmdParameters=config_overrides``) so that 9-rank jobs fit on 2 cores: the trials sleep.

    python tests/executor/slurm_cluster.py up DIR      # start; prints `export SLURM_CONF=...`
    python tests/executor/slurm_cluster.py down DIR    # stop

``ensure_installed()`` installs Debian's ``slurm-wlm`` and ``munge`` (and ``libpmix-dev`` for
``--mpi=pmix``) when they are missing and this is root on a Debian-like system.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# libpmix-dev, not only libpmix2: Slurm's mpi/pmix plugin dlopens .../pmix2/lib/libpmix.so
PACKAGES = ("slurm-wlm", "munge", "libpmix-dev")
DAEMONS = ("slurmctld", "slurmd", "munged")


class SlurmUnavailable(RuntimeError):
    """Slurm cannot be installed or started here; the message says why."""


def ensure_installed() -> None:
    """apt-get install the packages when a daemon is missing (root only; apt-get update once)."""
    if all(shutil.which(d) or os.path.exists(f"/usr/sbin/{d}") for d in DAEMONS) and _have_libpmix():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise SlurmUnavailable("slurmctld/slurmd/munged not installed and cannot apt-get install "
                               f"{' '.join(PACKAGES)} (not root or no apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *PACKAGES]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise SlurmUnavailable(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")


def _have_libpmix() -> bool:
    return any(Path("/usr/lib").glob("*/pmix2/lib/libpmix.so")) or Path("/usr/lib/pmix2/lib/libpmix.so").exists()


def _sbin(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def slurm_version() -> str:
    out = subprocess.run([_sbin("slurmctld"), "-V"], capture_output=True, text=True).stdout
    return out.split()[-1] if out else "?"


class SlurmCluster:
    """One partition ``debug`` with one node (this host) of ``cpus`` CPUs.

    ``env`` is os.environ plus SLURM_CONF: pass it to every Slurm command and to the
    processes that call one. Short timeouts keep requeues and cancellations quick.
    """

    def __init__(self, root: Path, cpus: int = 16):
        self.root = Path(root)
        self.cpus = cpus
        self.node = socket.gethostname()
        self.conf = self.root / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self.procs: dict[str, subprocess.Popen] = {}

    # --- start / stop -----------------------------------------------------------------------

    def write_config(self) -> None:
        for d in ("state", "spool", "log", "munge"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            key.chmod(0o400)
        r = self.root
        self.conf.write_text(f"""\
ClusterName=hyppotest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire is also how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket={r}/munge/munge.socket,cred_expire=10
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups in a container: processes are tracked by their process group
ProctrackType=proctrack/pgid
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmi2
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/builtin
# a requeued job becomes eligible when its begin time passes, which no event announces: only
# the periodic scheduling pass (default every 60 s) would start it
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobRequeue=1
# a SIGTERM reaches the tasks KillWait seconds before the SIGKILL of a scancel/time limit
KillWait=10
MinJobAge=600
InactiveLimit=0
MessageTimeout=10
SlurmdTimeout=60
SlurmctldTimeout=60
# job ids that no earlier cluster on this machine used: MPICH names its shared-memory segments
# after the PMI job id (jobid.stepid), and a segment that a killed run left in /dev/shm would
# make a later job with the same id fail in MPI_Init ("Out of memory")
FirstJobId={int(time.time() * 10) % 60_000_000 + 1000}
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
""")

    def start(self, timeout: float = 30) -> float:
        """Start the three daemons and wait for the node to be idle; returns the seconds taken."""
        ensure_installed()
        t0 = time.monotonic()
        self.write_config()
        r = self.root
        log = lambda name: open(r / "log" / f"{name}.out", "ab")  # noqa: E731
        self.procs["munged"] = subprocess.Popen(
            [_sbin("munged"), "-F", "--force", f"--socket={r}/munge/munge.socket", f"--key-file={r}/munge/munge.key",
             f"--pid-file={r}/munge/munged.pid", f"--log-file={r}/log/munged.log", f"--seed-file={r}/munge/seed"],
            stdout=log("munged"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait(lambda: (r / "munge" / "munge.socket").exists(), timeout, "munged")
        # -i: ignore state a previous cluster in this directory left behind
        self.procs["slurmctld"] = subprocess.Popen(
            [_sbin("slurmctld"), "-D", "-i", "-f", str(self.conf)], env=self.env,
            stdout=log("slurmctld"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait(lambda: self.run(["scontrol", "ping"], check=False).stdout.find("UP") >= 0, timeout,
                   "slurmctld")
        self.procs["slurmd"] = subprocess.Popen(
            [_sbin("slurmd"), "-D", "-N", self.node, "-f", str(self.conf)], env=self.env,
            stdout=log("slurmd"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait(lambda: self.node_state().startswith("IDLE"), timeout, "slurmd (node idle)")
        return time.monotonic() - t0

    def stop(self) -> None:
        """Cancel every job, then stop the daemons (slurmd first: it kills what still runs)."""
        self.cancel_all()
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def cancel_all(self, timeout: float = 30) -> None:
        """scancel every job and wait for them to be gone: a slurmd stopped under a running
        job leaves its slurmstepd and tasks behind."""
        if "slurmctld" not in self.procs:
            return
        self.run(["scancel", "--partition=debug"], check=False)
        end = time.monotonic() + timeout
        while time.monotonic() < end and self.run(["squeue", "-h"], check=False).stdout.strip():
            time.sleep(0.3)

    def _wait(self, ready, timeout, what) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if ready():
                return
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead:
                raise SlurmUnavailable(f"{dead[0]} exited with status {self.procs[dead[0]].returncode}: "
                                       f"{self.log_tail(dead[0])}")
            time.sleep(0.1)
        raise SlurmUnavailable(f"{what} not ready after {timeout} s: {self.log_tail(what.split()[0])}")

    def log_tail(self, name: str, n: int = 5) -> str:
        lines = []
        for path in (self.root / "log" / f"{name}.log", self.root / "log" / f"{name}.out"):
            if path.exists():
                lines += path.read_text(errors="replace").splitlines()
        return " | ".join(lines[-n:])

    # --- commands -----------------------------------------------------------------------------

    def run(self, cmd, check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        proc = subprocess.run(cmd, env=kw.pop("env", self.env), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, **kw)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, cmd))}: status {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def node_state(self) -> str:
        out = self.run(["sinfo", "-h", "-N", "-o", "%T"], check=False).stdout.strip()
        return out.upper()

    def sbatch(self, *args, cwd=None, env=None) -> int:
        """Submit; returns the job id."""
        proc = self.run(["sbatch", "--parsable", *map(str, args)], cwd=cwd, env=env or self.env)
        return int(proc.stdout.strip().split(";")[0])

    def job(self, job_id: int) -> dict:
        """scontrol show job as a dict (JobState, Restarts, ExitCode, ...); {} once forgotten."""
        out = self.run(["scontrol", "show", "job", "-o", str(job_id)], check=False).stdout
        return dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", out))

    def wait_state(self, job_id: int, states, timeout: float = 120, restarts: int | None = None) -> dict:
        """Wait until the job is in one of ``states`` (and has restarted ``restarts`` times)."""
        states = {states} if isinstance(states, str) else set(states)
        end = time.monotonic() + timeout
        info = {}
        while time.monotonic() < end:
            info = self.job(job_id)
            if info.get("JobState") in states and (restarts is None or int(info.get("Restarts", 0)) >= restarts):
                return info
            time.sleep(0.2)
        raise TimeoutError(f"job {job_id} not in {states} (restarts {restarts}) after {timeout} s: {info}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (its parent, the `up` command, is gone and nobody reaped it) is gone for us
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def main(argv) -> int:
    if len(argv) != 3 or argv[1] not in ("up", "down"):
        print("usage: python tests/executor/slurm_cluster.py up|down DIR", file=sys.stderr)
        return 2
    cluster = SlurmCluster(Path(argv[2]).resolve())
    if argv[1] == "up":
        cluster.root.mkdir(parents=True, exist_ok=True)
        try:
            took = cluster.start()
        except SlurmUnavailable as exc:
            print(f"slurm_cluster: {exc}", file=sys.stderr)
            return 1
        for name, proc in cluster.procs.items():
            (cluster.root / f"{name}.daemon-pid").write_text(str(proc.pid))
        print(f"Slurm {slurm_version()} up in {took:.1f} s\nexport SLURM_CONF={cluster.conf}")
        return 0
    if (cluster.root / "slurmctld.daemon-pid").exists():
        cluster.procs["slurmctld"] = None  # cancel_all() asks a running slurmctld only
        cluster.cancel_all()
    for name in ("slurmd", "slurmctld", "munged"):
        pid_file = cluster.root / f"{name}.daemon-pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        pid_file.unlink()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            end = time.monotonic() + 10
            while time.monotonic() < end and _alive(pid):
                time.sleep(0.1)
            if not _alive(pid):
                break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
