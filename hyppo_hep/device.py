"""Which device a worker rank trains on.

Each rank picks its own: ``cuda:N`` with N the node-local rank modulo the GPUs it can see
(``srun --gpu-bind`` / ``--gpus-per-task=1`` already narrows CUDA_VISIBLE_DEVICES to one GPU,
so N is then 0), or ``cpu`` when torch sees no GPU or is not installed.
"""

from __future__ import annotations

import os
import sys

# Launchers' names for the rank of a process on its node, in the order we trust them.
LOCAL_RANK_VARS = ("SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK", "LOCAL_RANK")


def local_rank(env: dict | None = None) -> int:
    env = os.environ if env is None else env
    for var in LOCAL_RANK_VARS:
        value = env.get(var)
        if value is not None and value.strip().isdigit():
            return int(value)
    return 0


def pick_device(env: dict | None = None, n_gpus: int | None = None) -> str:
    """``cuda:<local rank mod n_gpus>`` or ``cpu``. ``n_gpus`` defaults to what torch sees;
    torch is asked only if it is importable (the analytic objectives need no torch)."""
    if n_gpus is None:
        n_gpus = 0
        if "torch" not in sys.modules and not _gpu_driver_present():
            return "cpu"  # no NVIDIA/ROCm driver: skip the cost of importing torch
        try:
            import torch

            if torch.cuda.is_available():
                n_gpus = torch.cuda.device_count()
        except ImportError:
            pass
    if n_gpus <= 0:
        return "cpu"
    return f"cuda:{local_rank(env) % n_gpus}"


def _gpu_driver_present() -> bool:
    return os.path.exists("/proc/driver/nvidia") or os.path.exists("/dev/kfd")
