"""Which device a worker rank trains on, and how many CPU threads it may use.

Each rank picks its own: ``cuda:N`` with N the node-local rank modulo the GPUs it can see,
or ``cpu`` when it sees none (no GPU, no CUDA build of torch, torch not installed, or
CUDA_VISIBLE_DEVICES empty). ``srun --gpus-per-task=1`` / ``--gpu-bind`` narrow
CUDA_VISIBLE_DEVICES to the rank's own GPU, so N is then 0 on every rank; with four ranks
on a node that sees four GPUs, local ranks 0..3 take cuda:0..3.
"""

from __future__ import annotations

import os
import sys

# Launchers' names for the rank of a process on its node, in the order we trust them.
LOCAL_RANK_VARS = ("SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK", "LOCAL_RANK")
# ... and for the number of ranks on the node.
LOCAL_SIZE_VARS = ("SLURM_NTASKS_PER_NODE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE",
                   "LOCAL_WORLD_SIZE")


def _env_int(env, names) -> int | None:
    for var in names:
        value = env.get(var)
        if value is not None and value.strip().isdigit():
            return int(value)
    return None


def local_rank(env: dict | None = None) -> int:
    """The node-local rank the launcher gave this process (0 when not launched by one)."""
    value = _env_int(os.environ if env is None else env, LOCAL_RANK_VARS)
    return 0 if value is None else value


def visible_gpus(n_gpus: int, env: dict | None = None) -> int:
    """How many of the node's ``n_gpus`` this process may use, given CUDA_VISIBLE_DEVICES.

    CUDA enumerates the listed devices up to the first invalid entry; an empty list, ``-1``
    or Slurm's ``NoDevFiles`` hide every GPU. torch's own count already respects the
    variable, so this is a no-op on its answer and the right narrowing of a node total.
    """
    env = os.environ if env is None else env
    value = env.get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return max(0, n_gpus)
    listed = 0
    for entry in value.split(","):
        entry = entry.strip()
        if not entry or entry == "NoDevFiles" or entry.lstrip("-").isdigit() and int(entry) < 0:
            break
        listed += 1
    return max(0, min(n_gpus, listed))


def pick_device(env: dict | None = None, n_gpus: int | None = None) -> str:
    """``cuda:<local rank mod visible GPUs>`` or ``cpu``.

    ``n_gpus`` defaults to what torch sees (``torch.cuda.device_count()``); torch is asked
    only when a GPU driver is present or torch is already loaded (the analytic objectives
    need no torch, and importing it costs a second per rank).
    """
    env = os.environ if env is None else env
    if n_gpus is None:
        n_gpus = 0
        if "torch" not in sys.modules and not _gpu_driver_present():
            return "cpu"
        try:
            import torch

            if torch.cuda.is_available():
                n_gpus = torch.cuda.device_count()
        except ImportError:
            pass
    n = visible_gpus(n_gpus, env)
    if n <= 0:
        return "cpu"
    return f"cuda:{local_rank(env) % n}"


def threads_per_rank(env: dict | None = None, n_cpus: int | None = None) -> int:
    """CPU threads one rank should use: SLURM_CPUS_PER_TASK if set, else the node's cores
    shared among the ranks on the node (n ranks x all-cores threads thrash)."""
    env = os.environ if env is None else env
    per_task = _env_int(env, ("SLURM_CPUS_PER_TASK",))
    if per_task:
        return per_task
    n_cpus = n_cpus or os.cpu_count() or 1
    local = _env_int(env, LOCAL_SIZE_VARS) or 1
    return max(1, n_cpus // max(1, local))


def _gpu_driver_present() -> bool:
    return os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/kfd")
