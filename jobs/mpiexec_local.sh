#!/bin/bash
# MPI on one machine, no Slurm: master + 8 worker ranks.
#
#   bash jobs/mpiexec_local.sh [extra hyppo_hep.run options]   (needs pip install -e ".[mpi]":
#                                                                mpiexec comes with it)
#   sbatch --ntasks=9 jobs/mpiexec_local.sh   (from the repository root: under sbatch the script
#        runs from a copy in Slurm's spool; the mpich wheel's mpiexec then starts its ranks
#        through srun inside the allocation)
#
# How ranks map to groups (group_size 4, jobs/mpi_local.yaml):
#   rank 0 = master, ranks 1-4 = group 0, ranks 5-8 = group 1: two sets in flight, the 4
#   trials of each side by side. Trials sleep, so 9 ranks fit on 2 cores; waiting ranks nap
#   instead of spinning (well under 1% of a core each).
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(dirname "$0")/..}"
mpiexec -n 9 python -m hyppo_hep.run jobs/mpi_local.yaml --overwrite "$@"
