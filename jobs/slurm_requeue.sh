#!/bin/bash
# A campaign that outlives the queue's time limit: run, stop cleanly before the limit,
# requeue itself, resume where it stopped. Submit once:
#
#     sbatch jobs/slurm_requeue.sh my_campaign.yaml [extra hyppo_hep.run options]
#
# and it comes back as many times as needed until the budget is spent. Everything it needs
# to continue is in the journal (runs/<config name>/journal.jsonl by default). Set PYTHON
# to the interpreter of your environment if `python` is not it. On one CPU node, e.g.:
#
#     sbatch --nodes=1 --ntasks-per-node=5 --gpus-per-task=0 jobs/slurm_requeue.sh cfg.yaml
#
# Stop with `scancel JOBID`: the run stops cleanly (exit 143, journal closed) and is NOT
# requeued; submit the same command again to resume it.
#
#SBATCH --job-name=hyppo
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=4
#SBATCH --gpus-per-task=1
#SBATCH --time=12:00:00
#SBATCH --requeue
# Slurm's warning: SIGUSR1 to this batch shell only (B:) 120 s before the time limit (Slurm
# may send it up to a minute earlier than asked). USR1 rather than TERM, so that the script
# can tell the warning (requeue) from a `scancel` or the limit itself (SIGTERM: never requeue).
# 120 s is for the workers to be stopped and the journal to be closed; Slurm's own SIGTERM
# and SIGKILL at the limit come later.
#SBATCH --signal=B:USR1@120
#SBATCH --open-mode=append
#SBATCH --output=hyppo-%j.out

set -u
# How the stop reaches the ranks (tested under Slurm 22.05, tests/executor/test_slurm.py): the warning
# must NOT be passed on to srun. srun takes a SIGTERM as "terminate the step": it prints
# "forcing job termination" and Slurm kills every task before the master has written
# anything (status 137, no run_finished, no requeue). Instead the handler asks Slurm to send
# SIGTERM to the tasks of the job's steps: `scancel --signal=TERM JOBID` (without --batch or
# --full) signals every step but the batch step, so every rank gets it from its slurmstepd,
# as under mpiexec, while this shell and srun are left alone. The master journals
# `run_finished: interrupted`, stops the workers and exits 143; srun returns 143.
WARNED=0
CANCELLED=0
LAUNCHED=0
trap 'echo "time limit near: stopping the run"; WARNED=1
      [ "$LAUNCHED" = 1 ] && scancel --signal=TERM "$SLURM_JOB_ID"' USR1
# scancel and the time limit send SIGTERM to this shell, srun and the tasks at once; the ranks
# stop by themselves. Keep waiting for srun (a batch shell that exits ends the job, and the
# ranks' clean-up with it) and do not requeue.
trap 'CANCELLED=1' TERM INT

CONFIG=${1:?usage: sbatch jobs/slurm_requeue.sh CONFIG.yaml [extra hyppo_hep.run options]}
shift
# The output directory the run uses (the config's `out`, default runs/<config name>);
# pass --out DIR after the config to choose it, it is then used here as well.
OUT=$("${PYTHON:-python}" -c 'import sys; from hyppo_hep.config import load_config; print(load_config(sys.argv[1]).out)' "$CONFIG") || exit 2
for ((i = 1; i <= $#; i++)); do [ "${!i}" = "--out" ] && { j=$((i + 1)); OUT=${!j}; }; done

# The campaign's journals: out/journal.jsonl, or one per stage (out/<i>_<stage>/) and repeat
# (out/repeat_<r>/...). journal_state prints how many trials they hold (how far the campaign
# has got), whether every planned journal ends with its budget spent (the campaign is done),
# and the newest journal's last event (its reason when it is run_finished).
journal_state() {
    "${PYTHON:-python}" - "$CONFIG" "$OUT" <<'PY' 2>/dev/null
import sys
from pathlib import Path
from hyppo_hep.config import load_config
from hyppo_hep.journal import read_events
cfg = load_config(sys.argv[1])
journals = sorted(Path(sys.argv[2]).glob("**/journal.jsonl"), key=lambda p: p.stat().st_mtime)
evs = [list(read_events(p)) for p in journals]
n_trials = sum(e["event"] == "trial_finished" for j in evs for e in j)
planned = max(1, len(cfg.stages)) * max(1, cfg.repeat)
done = len(evs) == planned and all(j and j[-1].get("reason") in ("budget", "space exhausted") for j in evs)
print(n_trials, int(done), evs[-1][-1].get("reason", evs[-1][-1]["event"]) if evs and evs[-1] else "")
PY
}
read -r TRIALS_BEFORE _ _ < <(journal_state)
# The newest journal's last line is run_finished: the master has stopped the run.
master_stopped() {
    local newest
    newest=$(find "$OUT" -name journal.jsonl -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2-)
    [ -n "$newest" ] && tail -n 1 "$newest" | grep -q '"run_finished"'
}

# First start or a restart: continue the journal when there is one. --resume refuses (exit 2)
# if the config's objective, space or trials changed since the journal was started.
RESUME=()
[ -n "$(find "$OUT" -name journal.jsonl -size +0 2>/dev/null)" ] && RESUME=(--resume)

# Threads per task: the cores Slurm gave it.
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}

if [ "$WARNED" = 1 ] || [ "$CANCELLED" = 1 ]; then
    echo "signalled before the run started: not started, not requeued (is --time longer than 120 s?)"
    exit 1
fi
# MPICH keeps its shared memory in /dev/shm/mpich_shm_*; ranks that are killed (see the
# MPI_Finalize hang below) leave theirs behind. A requeued job keeps its job id, so its next
# step is named as the killed one was, and MPI_Init opened the stale segment and waited for
# ever (seen here on the third start of a job requeued twice). Remove this user's segments
# that no process maps any more: nothing can use them.
for seg in /dev/shm/mpich_shm_*; do
    [ -O "$seg" ] || continue
    grep -qsF "$seg" /proc/[0-9]*/maps || rm -f "$seg"
done
# srun in the background so that the shell can take the signal while it waits.
LAUNCHED=1
srun "${PYTHON:-python}" -m hyppo_hep.run "$CONFIG" ${RESUME[@]+"${RESUME[@]}"} "$@" &
RUN=$!
# Wait for the run's status. A trap ends `wait` early (status > 128): go round again. After
# the warning, poll instead: under srun --mpi=pmi2 with the mpich wheel, about one clean stop
# in five leaves the worker ranks blocked in MPI_Finalize (reading the PMI socket) after the
# master has journaled run_finished (sometimes the master too, after its "interrupted" line),
# and the step never ends (seen under Slurm 22.05). Thirty seconds after the journal's
# run_finished the script kills what is left of the step; the status is then the master's, 143.
STATUS=
STOPPED_AT=
while [ -z "$STATUS" ]; do
    if [ "$WARNED" = 1 ]; then
        if ! kill -0 "$RUN" 2>/dev/null; then
            wait "$RUN"
            STATUS=$?
        elif [ -z "$STOPPED_AT" ]; then
            master_stopped && STOPPED_AT=$SECONDS
            sleep 1
        elif ((SECONDS - STOPPED_AT >= 30)); then
            echo "the run stopped $((SECONDS - STOPPED_AT)) s ago but ranks are still in MPI_Finalize: ending the step"
            # the step, not the job: `scancel --signal=KILL JOBID` cancels the whole job
            for step in $(squeue -h -s -j "$SLURM_JOB_ID" -o %i | grep -v -e batch -e extern); do
                scancel --signal=KILL "$step"
            done
            wait "$RUN"
            STATUS=143
        else
            sleep 1
        fi
    else
        wait "$RUN"
        S=$?
        kill -0 "$RUN" 2>/dev/null || STATUS=$S
    fi
done

# Requeue only a run that Slurm's warning stopped (status 143: the master's clean stop) and
# that got somewhere (finished a trial): a run warned before it got going would otherwise be
# requeued for ever (seen with a 1-minute limit, where the warning came 17 s into each run),
# and so would a campaign whose trials are longer than the job's time limit.
# Never one that was cancelled, failed on bad input (2) or stopped after too many failed
# trials in a row (3). A campaign whose journals say it is done is done, whatever the status
# (a warning that comes while the ranks are exiting after the last set gives 143).
read -r TRIALS_AFTER DONE LAST < <(journal_state)
if [ "$CANCELLED" = 1 ]; then
    echo "cancelled (run status $STATUS, journal: $LAST): not requeued; submit the same command again to resume"
    exit "$STATUS"
fi
if [ "${DONE:-0}" = 1 ] && [ "$STATUS" != 2 ]; then
    echo "campaign finished: results in $OUT"
    exit 0
fi
case $STATUS in
    0)   echo "campaign finished: results in $OUT" ;;
    2)   echo "bad input (see the line above): not requeued" ;;
    3)   echo "stopped after too many failed trials in a row: not requeued; fix, then resubmit" ;;
    *)   if [ "$WARNED" = 1 ] && [ "$STATUS" = 143 ] && [ "${TRIALS_AFTER:-0}" -gt "${TRIALS_BEFORE:-0}" ]; then
             echo "stopped before the time limit (status $STATUS, journal: $LAST): requeueing to resume"
             scontrol requeue "$SLURM_JOB_ID"   # comes back with the same job id and this script
         else
             echo "run ended with status $STATUS (journal: $LAST): not requeued; resume by hand with --resume"
         fi ;;
esac
exit "$STATUS"
