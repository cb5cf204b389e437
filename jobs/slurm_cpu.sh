#!/bin/bash
# Hyperparameter search on CPU-only nodes: 2 nodes x 32 ranks, 2 cores per rank.
#
#   sbatch jobs/slurm_cpu.sh [extra hyppo_hep.run options]     (CONFIG=... as in slurm_gpu.sh)
#
# Stopped by `scancel` or the time limit (every rank gets SIGTERM; the run stops cleanly with
# status 143 within KillWait), resume in the same directory with
#   sbatch jobs/slurm_cpu.sh --out runs/gan_cpu_<old job id> --resume
#
# How ranks map to groups (group_size 5, jobs/gan_mpi.yaml):
#   rank 0 = master; ranks 1-5 group 0, 6-10 group 1, ..., 56-60 group 11, 61-63 group 12
#   (3 ranks). 13 sets in flight. Every rank finds no GPU and trains on "cpu"; it uses
#   SLURM_CPUS_PER_TASK threads (OMP_NUM_THREADS below).
#SBATCH --job-name=hyppo-cpu
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=32
#SBATCH --cpus-per-task=2
#SBATCH --time=12:00:00
#SBATCH --output=hyppo-%j.out
set -euo pipefail
CONFIG=${CONFIG:-jobs/gan_mpi.yaml}

export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK}
# srun starts one rank per task of the allocation (64 here): no -n, so that a smaller
# allocation (sbatch --nodes=1 --ntasks-per-node=5 ...) needs no edit. Options after the
# script's name come last: a later --out wins.
srun --cpus-per-task="${SLURM_CPUS_PER_TASK}" \
    python -m hyppo_hep.run "$CONFIG" --out "runs/gan_cpu_${SLURM_JOB_ID}" "$@"
