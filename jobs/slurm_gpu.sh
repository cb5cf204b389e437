#!/bin/bash
# Hyperparameter search on a GPU cluster with 4 GPUs per node: one MPI rank per GPU.
#
#   sbatch jobs/slurm_gpu.sh [extra hyppo_hep.run options]   (from the repository root, in the env with .[mpi])
#   sbatch --export=ALL,CONFIG=jobs/gan_hadronization.yaml jobs/slurm_gpu.sh   (the study's GAN;
#        its executor is 'auto': MPI under srun, group_size = its 5 trials)
#
# How ranks map to groups (executor {kind: mpi, group_size: 5} in jobs/gan_mpi.yaml):
#   rank 0          the master: strategy, surrogates, journal (it trains nothing; its GPU idles)
#   ranks 1-5       group 0 - the 5 trials of one set side by side, one per rank/GPU
#   ranks 6-10      group 1
#   ...
#   ranks 71-75     group 14
#   ranks 76-79     group 15 (4 ranks: the 5th trial of its sets runs after the first)
# i.e. 16 sets in flight at once; a group gets its next set the moment its last trial ends.
# For 16 full groups of 5 ask for 81 tasks (21 nodes); for the paper's 10 groups of 8 set
# group_size: 8 and 81 tasks.
# Each rank picks cuda:0 - --gpus-per-task=1 binds one GPU per task and sets its
# CUDA_VISIBLE_DEVICES; without the binding, rank picks cuda:(SLURM_LOCALID mod 4).
#SBATCH --job-name=hyppo-gan
#SBATCH --nodes=20
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=8
#SBATCH --time=06:00:00
#SBATCH --output=hyppo-%j.out
set -euo pipefail
CONFIG=${CONFIG:-jobs/gan_mpi.yaml}

# module load cudatoolkit        # site-specific; a cluster MPI: see README "Running on a cluster (MPI)"
# source .venv/bin/activate

export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK}
# srun does not inherit --cpus-per-task from sbatch on recent Slurm: say it again, and the
# GPUs per task too (the job's, so that `sbatch --gpus-per-task=0` tries it on a CPU node).
# No -n: one rank per task of the allocation (80 here). Options after the script's name come
# last (a later --out wins).
srun --gpus-per-task="${SLURM_GPUS_PER_TASK:-1}" --cpus-per-task="${SLURM_CPUS_PER_TASK}" \
    python -m hyppo_hep.run "$CONFIG" --out "runs/gan_mpi_${SLURM_JOB_ID}" "$@"
# Resume after scancel, a time limit or a crash (the journal holds every finished trial):
#   sbatch jobs/slurm_gpu.sh --out runs/gan_mpi_<old job id> --resume
# For a campaign longer than the queue's limit, jobs/slurm_requeue.sh requeues itself.
