#!/bin/bash
# A campaign that outlives the queue's time limit: run, stop cleanly before the limit,
# requeue itself, resume where it stopped. Submit once:
#
#     sbatch jobs/slurm_requeue.sh my_campaign.yaml
#
# and it comes back as many times as needed until the budget is spent. Everything it needs
# to continue is in the journal (runs/<config name>/journal.jsonl by default). Set PYTHON
# to the interpreter of your environment if `python` is not it.
#
#SBATCH --job-name=hyppo
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-task=1
#SBATCH --time=12:00:00
#SBATCH --requeue
# Send SIGTERM to this batch shell (B:) 120 s before the time limit; the trap below passes
# it on to the run, whose master writes what it has, stops the workers and exits 143.
# 120 s is for the workers to be stopped and the journal to be closed; Slurm's own SIGTERM
# and SIGKILL at the limit come later.
#SBATCH --signal=B:TERM@120
#SBATCH --open-mode=append
#SBATCH --output=hyppo-%j.out

set -u
CONFIG=${1:?usage: sbatch jobs/slurm_requeue.sh CONFIG.yaml [extra hyppo_hep.run options]}
shift
# The output directory the run uses (the config's `out`, default runs/<config name>);
# pass --out DIR after the config to choose it, it is then used here as well.
OUT=$("${PYTHON:-python}" -c 'import sys; from hyppo_hep.config import load_config; print(load_config(sys.argv[1]).out)' "$CONFIG") || exit 2
for ((i = 1; i <= $#; i++)); do [ "${!i}" = "--out" ] && { j=$((i + 1)); OUT=${!j}; }; done

# First start or a restart: continue the journal when there is one. --resume refuses (exit 2)
# if the config's objective, space or trials changed since the journal was started.
RESUME=()
[ -s "$OUT/journal.jsonl" ] && RESUME=(--resume)

# Threads per task: the cores Slurm gave it.
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}

# srun in the background so that the shell can take the signal while it waits; srun
# forwards the SIGTERM it gets to the tasks it controls.
INTERRUPTED=0
srun "${PYTHON:-python}" -m hyppo_hep.run "$CONFIG" ${RESUME[@]+"${RESUME[@]}"} "$@" &
RUN=$!
trap 'echo "time limit near: stopping the run"; INTERRUPTED=1; kill -TERM "$RUN" 2>/dev/null' TERM
wait "$RUN"
STATUS=$?
# wait returns early (status > 128) when the trap ran: wait again for the run's real status.
while kill -0 "$RUN" 2>/dev/null; do
    wait "$RUN"
    STATUS=$?
done

# Requeue only a run that was stopped for the time limit (status 143, or the trap ran and
# the journal's last event says "interrupted"); never one that failed on bad input (2) or
# stopped after too many failed trials in a row (3): that would loop.
LAST=$("${PYTHON:-python}" -c 'import sys
from hyppo_hep.journal import read_events
evs = list(read_events(sys.argv[1]))
print(evs[-1].get("reason", evs[-1]["event"]) if evs else "")' "$OUT/journal.jsonl" 2>/dev/null)
case $STATUS in
    0)   echo "campaign finished: results in $OUT" ;;
    2)   echo "bad input (see the line above): not requeued" ;;
    3)   echo "stopped after too many failed trials in a row: not requeued; fix, then resubmit" ;;
    *)   if [ "$STATUS" = 143 ] || { [ "$INTERRUPTED" = 1 ] && [ "$LAST" = interrupted ]; }; then
             echo "stopped before the time limit (journal: $LAST): requeueing to resume"
             scontrol requeue "$SLURM_JOB_ID"   # comes back with the same job id and this script
         else
             echo "run ended with status $STATUS (journal: $LAST): not requeued; resume by hand with --resume"
         fi ;;
esac
exit "$STATUS"
