"""Device choice per rank from the launcher's environment, with the GPU count injected."""

import pytest

from hyppo_hep.device import local_rank, pick_device, threads_per_rank, visible_gpus
from hyppo_hep.executor.mpi import default_group_size, group_layout, rank_from_env, world_size_from_env


def test_no_gpu_is_cpu():
    assert pick_device({}, n_gpus=0) == "cpu"
    assert pick_device({"SLURM_LOCALID": "3"}, n_gpus=0) == "cpu"


@pytest.mark.parametrize("var", ["SLURM_LOCALID", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"])
def test_local_rank_modulo_gpus(var):
    assert [pick_device({var: str(r)}, n_gpus=4) for r in range(6)] == \
        ["cuda:0", "cuda:1", "cuda:2", "cuda:3", "cuda:0", "cuda:1"]


def test_slurm_wins_over_other_launchers_and_garbage_is_ignored():
    assert local_rank({"SLURM_LOCALID": "2", "MPI_LOCALRANKID": "5"}) == 2
    assert local_rank({"SLURM_LOCALID": "x", "MPI_LOCALRANKID": "5"}) == 5
    assert local_rank({}) == 0


def test_gpu_bind_narrows_to_one_gpu_per_rank():
    # srun --gpus-per-task=1: every rank sees only its own GPU, as cuda:0
    env = {"SLURM_LOCALID": "3", "CUDA_VISIBLE_DEVICES": "3"}
    assert visible_gpus(4, env) == 1
    assert pick_device(env, n_gpus=4) == "cuda:0"
    # two GPUs visible to local rank 3 -> 3 mod 2
    assert pick_device({"SLURM_LOCALID": "3", "CUDA_VISIBLE_DEVICES": "0,1"}, n_gpus=4) == "cuda:1"


@pytest.mark.parametrize("value", ["", "-1", "NoDevFiles", " "])
def test_hidden_gpus_mean_cpu(value):
    assert pick_device({"CUDA_VISIBLE_DEVICES": value, "SLURM_LOCALID": "1"}, n_gpus=4) == "cpu"


def test_cuda_stops_at_first_invalid_entry():
    assert visible_gpus(4, {"CUDA_VISIBLE_DEVICES": "2,3,-1,0"}) == 2
    assert visible_gpus(8, {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}) == 4
    assert visible_gpus(2, {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}) == 2  # torch's count is the truth


def test_real_machine_without_gpu_is_cpu():
    assert pick_device() == "cpu"  # this machine has no GPU (and CI neither)


def test_threads_per_rank():
    assert threads_per_rank({"SLURM_CPUS_PER_TASK": "8", "MPI_LOCALNRANKS": "4"}, n_cpus=64) == 8
    assert threads_per_rank({"MPI_LOCALNRANKS": "4"}, n_cpus=64) == 16
    assert threads_per_rank({"MPI_LOCALNRANKS": "9"}, n_cpus=2) == 1
    assert threads_per_rank({}, n_cpus=6) == 6


def test_launch_detection_from_env():
    assert world_size_from_env({}) == 1 and rank_from_env({}) == 0
    assert world_size_from_env({"PMI_SIZE": "9", "PMI_RANK": "4"}) == 9
    assert rank_from_env({"PMI_SIZE": "9", "PMI_RANK": "4"}) == 4
    assert world_size_from_env({"OMPI_COMM_WORLD_SIZE": "80"}) == 80
    # a batch script's own shell has SLURM_NTASKS but is one process
    assert world_size_from_env({"SLURM_NTASKS": "80"}) == 1


def test_group_layout():
    assert group_layout(9, 4) == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert group_layout(8, 3) == [[1, 2, 3], [4, 5, 6], [7]]
    assert group_layout(81, 5) == [list(range(1 + 5 * g, 6 + 5 * g)) for g in range(16)]
    assert group_layout(2, 5) == [[1]]
    assert default_group_size(81, trials=5) == 5
    assert default_group_size(3, trials=5) == 2  # capped by the 2 workers
    assert default_group_size(81, trials=5, group_size=8) == 8


@pytest.mark.slow
def test_plain_run_never_loads_mpi4py(tmp_path):
    """Launch detection reads environment variables only: a one-process run imports no MPI."""
    import os
    import subprocess
    import sys

    code = ("import sys; from hyppo_hep.run import main; "
            f"assert main(['--out', {str(tmp_path / 'o')!r}, '--quiet', '--budget', '2']) == 0; "
            "assert 'mpi4py' not in sys.modules, 'mpi4py was imported'")
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE",
                                                             "SLURM_STEP_NUM_TASKS")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert proc.returncode == 0, proc.stderr
