"""Run one campaign from a validated config: output directory, journal, executor, driver.

The CLI (run.py) and the Python API (api.py) both come through here, so a search started
either way writes the same journal and results.csv.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from hyppo_hep import strategy as strategies
from hyppo_hep.config import CampaignConfig
from hyppo_hep.console import progress_line
from hyppo_hep.driver import Driver, RunSummary
from hyppo_hep.errors import UserError
from hyppo_hep.journal import JOURNAL_NAME, RESULTS_NAME, Journal, campaign_header, read_events, replay, write_results_csv


def make_executor(cfg: CampaignConfig, objective_ref):
    """The executor the config asks for (``auto``: serial on a single process)."""
    kind = cfg.executor.kind
    if kind == "pool":
        from hyppo_hep.executor.pool import PoolExecutor

        return PoolExecutor(objective_ref, cfg.executor.workers)
    if kind == "mpi":
        raise UserError("executor 'mpi' needs the run launched under mpiexec/srun with more than one rank")
    from hyppo_hep.executor.serial import SerialExecutor

    return SerialExecutor(objective_ref)


def prepare_out_dir(out: str | os.PathLike, resume: bool, overwrite: bool) -> Path:
    """Check the output directory before anything is written; the journal path in it."""
    out = Path(out)
    journal = out / JOURNAL_NAME
    if out.exists() and not out.is_dir():
        raise UserError(f"output directory {out} exists and is not a directory")
    if resume:
        if not journal.exists():
            raise UserError(f"--resume: {journal} does not exist (nothing to resume)")
    elif journal.exists():
        if not overwrite:
            raise UserError(f"{journal} already exists: pass --resume to continue it or --overwrite to start over")
        journal.unlink()
        (out / RESULTS_NAME).unlink(missing_ok=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"output directory {out} is not writable: {exc.strerror}") from None
    return journal


def check_resume_header(header: dict | None, cfg: CampaignConfig, force: bool) -> None:
    """Refuse to resume a journal that was started with another space or objective."""
    if header is None or force:
        return
    now = cfg.header()
    for key in ("objective", "space", "trials"):
        if header.get(key) != now[key]:
            raise UserError(f"--resume: the config's {key} differs from the journal's "
                            f"({header.get(key)!r} vs {now[key]!r}); pass --force-resume to continue anyway")


def run_campaign(cfg: CampaignConfig, *, resume: bool = False, overwrite: bool = False, force_resume: bool = False,
                 objective_ref=None, executor=None, quiet: bool = False,
                 print_fn: Callable[[str], None] = print) -> RunSummary:
    """Run (or resume) the campaign ``cfg`` writing to ``cfg.out``; returns the summary."""
    journal_path = prepare_out_dir(cfg.out, resume, overwrite)
    objective_ref = objective_ref or cfg.objective
    history = None
    if resume:
        events = list(read_events(journal_path))
        check_resume_header(campaign_header(events), cfg, force_resume)
        history = replay(events)
    strategy = strategies.build(cfg.strategy.name, cfg.strategy.options, cfg.space, cfg.budget)
    own_executor = executor is None
    executor = executor or make_executor(cfg, objective_ref)
    journal = Journal(journal_path)
    journal.append("campaign", resumed=resume, argv=sys.argv[1:], **cfg.header())
    results_csv = Path(cfg.out) / RESULTS_NAME

    def on_set_finished(rec, hist):
        write_results_csv(hist, results_csv)
        if not quiet:
            print_fn(progress_line(rec, hist, cfg.budget))

    driver = Driver(cfg.space, strategy, executor, journal, budget=cfg.budget, trials=cfg.trials, seed=cfg.seed,
                    min_ok_trials=cfg.min_ok_trials, history=history, on_set_finished=on_set_finished,
                    early_stopping=cfg.early_stopping)
    try:
        summary = driver.run()
        journal.append("run_finished", reason=summary.reason, n_finished=summary.n_finished)
    finally:
        if own_executor:
            executor.close()
        journal.close()
    write_results_csv(driver.history, results_csv)
    return summary
