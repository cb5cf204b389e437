"""Live progress while sets train: a line per finished trial and per finished set, with
elapsed time and an ETA from the trial durations so far; epoch-level ticks for trials that
run in this process and report their epochs (``fidelity.report``).

On a terminal a tqdm bar counts trainings (its postfix holds the best so far and the
latest epoch) and the set lines are written above it; in a log file (Slurm's output, a
pipe) there is no bar, only plain lines, and epoch ticks at most every
``EPOCH_LINE_SECONDS`` so that a 1000-epoch training does not flood the log. Trials run in
pool or MPI workers are reported when they finish (their epochs are not sent back).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Callable

from hyppo_hep import fidelity
from hyppo_hep.console import fmt, hms, progress_line

EPOCH_LINE_SECONDS = 30.0  # plain-text epoch ticks: at most one per this many seconds


class CampaignProgress:
    """Progress of one search of ``n_sets`` sets x ``trials`` trials (or ``total``
    trainings; ``n_sets`` None: not counted in sets) on ``n_slots`` parallel slots.
    ``interactive`` (default: the stream is a terminal) chooses the tqdm bar."""

    def __init__(self, n_sets: int | None, trials: int, n_slots: int = 1, k_std: float = 0.0, *, total: int | None = None,
                 space=None, print_fn: Callable[[str], None] | None = None, stream=None, interactive: bool | None = None,
                 clock=time.monotonic):
        self.total = max(1, n_sets * trials if total is None else total)  # trainings (a trainings budget)
        self.n_sets, self.n_slots, self.k_std = n_sets, max(1, n_slots), k_std
        self.space = space  # for the noise-aware estimate of the best set (hyppo_hep.recommend)
        self.stream = stream or sys.stdout
        self.clock = clock
        self.start = clock()
        self.durations: list[float] = []
        self.done_trials = 0
        self._last_epoch_line = -EPOCH_LINE_SECONDS
        interactive = self.stream.isatty() if interactive is None and hasattr(self.stream, "isatty") else bool(interactive)
        self.bar = None
        if interactive:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total, unit="training", file=self.stream, dynamic_ncols=True, leave=True)
        self._print = print_fn or (lambda line: print(line, file=self.stream, flush=True))

    # --- what the campaign calls ------------------------------------------------------------
    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
        else:
            self._print(line)

    def eta(self) -> float | None:
        """Seconds to the last training at the median trial duration so far."""
        if not self.durations:
            return None
        left = max(0, self.total - self.done_trials)
        return statistics.median(self.durations) * left / self.n_slots

    def timing(self) -> str:
        eta = self.eta()
        return f"elapsed {hms(self.clock() - self.start)}" + (f", ETA {hms(eta)}" if eta is not None else "")

    def trial_finished(self, res, history) -> None:
        self.done_trials += 1
        if res.started is not None and res.finished is not None:
            self.durations.append(max(0.0, res.finished - res.started))
        if self.bar is not None:
            self.bar.update(1)  # its "best" is updated when a set finishes
            return
        what = f"score {fmt(res.score)}" if res.error is None and res.score is not None else "FAILED"
        took = f" in {hms(res.finished - res.started)}" if res.started is not None and res.finished is not None else ""
        where = f" [{res.worker}]" if res.worker is not None else ""
        self.write(f"  set {res.set_id} trial {res.trial}: {what}{took}{where}  "
                   f"({self.done_trials}/{self.total} trainings, {self.timing()})")

    def set_finished(self, rec, history) -> None:
        line = progress_line(rec, history, self.n_sets, self.k_std, self.space)
        if self.bar is not None:
            from hyppo_hep.recommend import recommend

            best = recommend(history, self.k_std, self.space)[1]  # noise-aware, as the set lines
            self.bar.set_postfix_str(f"best {fmt(best.value(self.k_std))} (set {best.set_id})" if best else "")
        self.write(line if self.bar is not None else f"{line}  {self.timing()}")

    def epoch(self, ctx, epoch: int, score: float) -> None:
        """A trial in this process finished an epoch (the fidelity listener)."""
        best = ctx.best_score()
        text = f"epoch {epoch + 1}: {fmt(score)} (best {fmt(best)})"
        if self.bar is not None:
            self.bar.set_postfix_str(text)
            return
        now = self.clock()
        if now - self._last_epoch_line >= EPOCH_LINE_SECONDS:
            self._last_epoch_line = now
            self.write(f"    {text}")

    def __enter__(self) -> "CampaignProgress":
        fidelity.add_listener(self.epoch)
        return self

    def __exit__(self, *exc) -> None:
        fidelity.remove_listener(self.epoch)
        if self.bar is not None:
            self.bar.close()
