"""Run one campaign from a validated config: output directory, journal, executor, driver.

The CLI (run.py) and the Python API (api.py) both come through here, so a search started
either way writes the same journal and results.csv.
"""

from __future__ import annotations


import os
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Callable

from hyppo_hep import strategy as strategies
from hyppo_hep.config import CampaignConfig
from hyppo_hep.progress import CampaignProgress
from hyppo_hep.driver import Driver, RunSummary
from hyppo_hep.errors import OutputError, RunInterrupted, UserError
from hyppo_hep.journal import (JOURNAL_NAME, RESULTS_NAME, Journal, ResultsWriter, campaign_header, iter_lines,
                               read_events, replay)
from hyppo_hep.checkpoints import DIR_NAME as CHECKPOINT_DIR
from hyppo_hep.lock import holding_out_dir_lock
from hyppo_hep.search import FINISHED_REASONS, Search, StopReason


def make_executor(cfg: CampaignConfig, objective_ref):
    """The local executor the config asks for. ``auto`` and ``mpi`` are serial here: an MPI
    run (several ranks) gets its executor from run.py, and one process is a local run."""
    kind = cfg.executor.kind
    if kind == "pool":
        from hyppo_hep.executor.pool import PoolExecutor

        # the pool's workers are child processes anyway: 'none' there means 'process'
        return PoolExecutor(objective_ref, cfg.executor.workers, timeout=cfg.trial_timeout,
                            isolation="fresh" if cfg.isolation == "fresh" else "process")
    from hyppo_hep.executor.serial import SerialExecutor

    return SerialExecutor(objective_ref, timeout=cfg.trial_timeout, isolation=cfg.isolation)


@contextmanager
def stop_on_signals(signums=(signal.SIGTERM, signal.SIGINT)):
    """Turn SIGTERM/SIGINT into :class:`RunInterrupted` in the main thread, so that the run
    unwinds through its ``finally`` blocks (children killed, journal closed). Further
    signals are ignored once the first arrived: the cleanup is what makes the journal
    resumable, and Slurm's SIGKILL follows anyway if it takes too long."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum, frame):
        for s in signums:
            signal.signal(s, signal.SIG_IGN)
        raise RunInterrupted(signum)

    old = {s: signal.signal(s, on_signal) for s in signums}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def build_strategy(cfg: CampaignConfig):
    """The strategy of ``cfg``; its options were checked when the config was parsed, and it
    is built before anything touches the disk (a bad option must not cost a journal)."""
    return strategies.build(cfg.strategy.name, cfg.strategy.options, cfg.space, cfg.budget)


def prepare_out_dir(out: str | os.PathLike, resume: bool, overwrite: bool) -> Path:
    """Check the output directory before anything is written; the journal path in it.
    With ``overwrite`` an existing journal and results.csv stay where they are: the caller
    sets them aside (:class:`SetAside`) and deletes or restores them."""
    out = Path(out)
    journal = out / JOURNAL_NAME
    try:
        if out.exists() and not out.is_dir():
            raise UserError(f"output directory {out} exists and is not a directory")
        if resume:
            if not journal.exists():
                raise UserError(f"--resume: {journal} does not exist (nothing to resume)")
        elif journal.exists() and not overwrite:
            raise UserError(f"{journal} already exists: pass --resume to continue it or --overwrite to start over")
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:  # also a name longer than the file system allows
        raise UserError(f"output directory {str(out)[:200]} is not writable: {exc.strerror or exc}") from None
    return journal


class SetAside:
    """``--overwrite``: the old journal and results.csv of ``out`` are renamed aside when the
    new run starts, and deleted only once it has a finished trial; a run that fails before
    (a mistake in the objective's options, a missing data file) puts them back."""

    SUFFIX = ".replaced"

    def __init__(self, out: Path, names=(JOURNAL_NAME, RESULTS_NAME)):
        self.moved: list[Path] = []
        for name in names:
            path = out / name
            if path.exists():
                os.replace(path, path.with_name(path.name + self.SUFFIX))
                self.moved.append(path)

    def restore(self) -> None:
        for path in self.moved:
            os.replace(path.with_name(path.name + self.SUFFIX), path)
        self.moved = []

    def drop(self) -> None:
        for path in self.moved:
            path.with_name(path.name + self.SUFFIX).unlink(missing_ok=True)
        self.moved = []


def check_resume_header(header: dict | None, cfg: CampaignConfig, force: bool) -> None:
    """Refuse to resume a journal that was started with another space or objective."""
    if header is None or force:
        return
    now = cfg.header()
    for key in ("objective", "space", "trials"):
        if header.get(key) != now[key]:
            raise UserError(f"--resume: the config's {key} differs from the journal's "
                            f"({header.get(key)!r} vs {now[key]!r}); pass --force-resume to continue anyway")


def make_search(cfg: CampaignConfig, strategy, stage: str | None = None, journal: Journal | None = None,
                clock=time.time) -> Search:
    """The one place a campaign builds its Search (CLI, API, stages and repeats alike)."""
    return Search(cfg.space, strategy, budget=cfg.budget, trials=cfg.trials, seed=cfg.seed, journal=journal,
                  min_trials=cfg.min_trials, budget_trainings=cfg.budget_trainings, confirm=cfg.confirm,
                  k_std=cfg.k_std, min_ok_trials=cfg.min_ok_trials, max_consecutive_failures=cfg.max_consecutive_failures,
                  early_stopping=cfg.early_stopping, stage=stage, clock=clock, last_round=cfg.executor.last_round,
                  probes=None if cfg.executor.probes else False,  # None: the Driver asks its executor
                  checkpoint_dir=str(Path(cfg.out) / CHECKPOINT_DIR) if cfg.out else None)


def _n_finished_trials(history) -> int:
    return sum(len(r.trials) for r in history.sets.values())


@holding_out_dir_lock  # one run per output directory (issue 13.3)
def run_campaign(cfg: CampaignConfig, *, resume: bool = False, overwrite: bool = False, force_resume: bool = False,
                 objective_ref=None, executor=None, quiet: bool = False,
                 print_fn: Callable[[str], None] = print, stage: str | None = None,
                 header_extra: dict | None = None, stage_event: dict | None = None) -> RunSummary:
    """Run (or resume) the single search ``cfg`` writing to ``cfg.out``; returns the summary.
    ``stage``/``header_extra``/``stage_event`` label one stage of a staged campaign (see
    :func:`run_config`): the sets carry the stage name, the campaign event the extra fields,
    and ``stage_started`` records the stage's space and how it was derived.

    Raises UserError for bad input; a fresh run that fails so before any trial finished
    leaves no journal behind (nothing a later run could take for results; under
    ``overwrite`` the old journal is put back). Raises OutputError when the journal or
    results.csv cannot be written, RunInterrupted on SIGTERM/SIGINT after writing
    ``run_finished`` (reason "interrupted").
    """
    objective_ref = objective_ref or cfg.objective
    objective_ref.check()  # an unknown objective is refused before anything is written
    search = make_search(cfg, build_strategy(cfg), stage)
    out_existed = Path(cfg.out).exists()
    journal_path = prepare_out_dir(cfg.out, resume, overwrite)
    if resume:
        numbered = list(iter_lines(journal_path))
        check_resume_header(campaign_header(ev for _, ev in numbered), cfg, force_resume)
        search.replay(numbered, f"journal {journal_path} line")
    aside = SetAside(Path(cfg.out)) if not resume else None
    results = ResultsWriter(Path(cfg.out) / RESULTS_NAME)
    try:
        search.journal = Journal(journal_path)
        summary = _run_search(search, cfg, executor, objective_ref, resume, quiet, print_fn, results,
                              dict(header_extra or {}), stage_event)
    except BaseException as exc:
        _close(search.journal)
        if isinstance(exc, UserError) and not resume and _n_finished_trials(search.history) == 0:
            _remove_fresh_run(journal_path, results.path, Path(cfg.out), out_existed)
            if aside is not None:
                aside.restore()
        else:
            _finish_files(search, results, aside, quiet_errors=True)
        raise
    _close(search.journal)
    _finish_files(search, results, aside)
    return summary


def _close(journal: Journal | None) -> None:
    if journal is not None:
        journal.close()


def _finish_files(search: Search, results: ResultsWriter, aside: SetAside | None, quiet_errors: bool = False) -> None:
    """The run has results: the replaced journal goes, results.csv is written a last time."""
    if aside is not None:
        aside.drop()
    if search.history.sets:
        try:
            results.flush(search.history)
        except OutputError:
            if not quiet_errors:
                raise  # else the error in flight already says what went wrong


def _remove_fresh_run(journal_path: Path, results_csv: Path, out: Path, out_existed: bool) -> None:
    for path in (journal_path, results_csv):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
    if not out_existed:
        try:
            out.rmdir()  # only if empty
        except OSError:
            pass


def _design_note(strategy) -> dict:
    """The size of the strategy's initial design, for the analysis to mark (it reads the
    journal and never rebuilds a strategy)."""
    initial = getattr(strategy, "initial", None)
    return {"initial_design": initial} if isinstance(initial, int) and not isinstance(initial, bool) else {}


def _run_search(search: Search, cfg: CampaignConfig, executor, objective_ref, resume: bool, quiet: bool,
                print_fn, results: ResultsWriter, header_extra: dict, stage_event: dict | None) -> RunSummary:
    """Pump ``search`` on the executor (the given one, or one made here and closed after)."""
    own_executor = executor is None
    try:
        with stop_on_signals():
            executor = executor or make_executor(cfg, objective_ref)
            search.start({"resumed": resume, "argv": sys.argv[1:], **cfg.header(), **_design_note(search.strategy),
                          **header_extra}, stage_event)

            progress = None if quiet else CampaignProgress(cfg.progress_sets, cfg.trials, executor.n_slots, cfg.k_std,
                                                           total=cfg.max_trainings, space=cfg.space,
                                                           print_fn=print_fn if print_fn is not print else None)

            def on_set_finished(rec, hist):
                results.maybe_write(hist)
                if progress is not None:
                    progress.set_finished(rec, hist)

            try:
                with progress or nullcontext():
                    summary = Driver(search, executor, on_set_finished=on_set_finished,
                                     on_trial_finished=progress.trial_finished if progress else None).run()
            except RunInterrupted as exc:
                # further signals are ignored now: stop the workers, then say so in the journal
                executor.close()
                search.end(StopReason.INTERRUPTED, signal=exc.signame)
                raise
            search.end(summary.reason, message=summary.message)
            return summary
    finally:
        if own_executor and executor is not None:
            executor.close()


# --- staged and repeated campaigns -------------------------------------------------------------

STAGE_SEED_STRIDE = 1000  # stage i searches with seed + 1000 i: stages never share a random stream


def stage_dir(out, index: int, name: str) -> Path:
    return Path(out) / f"{index}_{name}"


def repeat_dir(out, index: int) -> Path:
    return Path(out) / f"repeat_{index:03d}"



def _journal_finished(events: list[dict]) -> bool:
    """A journal whose last event is ``run_finished`` with its budget spent (or its space
    exhausted): that search is complete. One that was interrupted (signal) or stopped after
    too many failures is resumed, not skipped."""
    return bool(events) and events[-1].get("event") == "run_finished" \
        and events[-1].get("reason") in FINISHED_REASONS


def _planned_journals(cfg: CampaignConfig) -> list[Path]:
    outs = [repeat_dir(cfg.out, r) for r in range(cfg.repeat)] if cfg.repeat > 1 else [Path(cfg.out)]
    if not cfg.stages:
        return [o / JOURNAL_NAME for o in outs]
    return [stage_dir(o, i, st.name) / JOURNAL_NAME for o in outs for i, st in enumerate(cfg.stages)]


@holding_out_dir_lock
def run_config(cfg: CampaignConfig, *, resume: bool = False, overwrite: bool = False, force_resume: bool = False,
               quiet: bool = False, print_fn: Callable[[str], None] = print,
               executor=None) -> list[tuple[str, CampaignConfig, RunSummary]]:
    """Run everything ``cfg`` describes: its stages (each in ``out/<i>_<name>/``), ``repeat``
    times (``out/repeat_<r>/`` with seed + r). Repeats and stages run one after another
    through ONE executor, so they share the workers. Returns (label, stage config, summary)
    per search, in order.

    ``resume`` continues where the campaign stopped: finished stages are replayed from their
    journals (not re-run), the interrupted one is resumed, later ones start.
    """
    cfg.objective.check()  # an unknown objective is refused before anything is written
    if cfg.repeat == 1 and not cfg.stages:
        return [("", cfg, run_campaign(cfg, resume=resume, overwrite=overwrite, force_resume=force_resume,
                                       executor=executor, quiet=quiet, print_fn=print_fn))]
    planned = _planned_journals(cfg)
    existing = [p for p in planned if p.exists()]
    if resume and not existing:
        raise UserError(f"--resume: no journal of this campaign under {cfg.out} (nothing to resume)")
    if not resume and existing and not overwrite:
        raise UserError(f"{existing[0]} already exists: pass --resume to continue it or --overwrite to start over")
    asides = [SetAside(p.parent) for p in existing] if not resume else []
    try:
        out = _run_all(cfg, resume, force_resume, quiet, print_fn, executor)
    except UserError:
        if not any(p.exists() for p in planned):  # nothing of the new campaign was kept
            for aside in asides:
                aside.restore()
        raise
    finally:
        for aside in asides:
            aside.drop()
    return out


def _run_all(cfg: CampaignConfig, resume: bool, force_resume: bool, quiet: bool, print_fn,
             executor) -> list[tuple[str, CampaignConfig, RunSummary]]:
    """The searches of run_config, one after another on one executor."""
    own_executor = executor is None
    out: list[tuple[str, CampaignConfig, RunSummary]] = []
    try:
        with stop_on_signals():  # a signal between two stages also stops the campaign cleanly
            executor = executor or make_executor(cfg, cfg.objective)
            for r in range(cfg.repeat):
                if cfg.repeat > 1:
                    rcfg = replace(cfg, out=str(repeat_dir(cfg.out, r)), seed=cfg.seed + r, repeat=1)
                    label = f"repeat {r}"
                    if not quiet:
                        print_fn(f"--- repeat {r + 1}/{cfg.repeat} (seed {rcfg.seed}) in {rcfg.out}")
                else:
                    rcfg, label = cfg, ""
                extra = {"repeat": r} if cfg.repeat > 1 else {}
                if not rcfg.stages:
                    out.append((label, rcfg, _run_one(rcfg, resume, force_resume, executor, quiet, print_fn, None, extra, None)))
                    if out[-1][2].reason not in FINISHED_REASONS + (StopReason.FINISHED_EARLIER,):
                        return out  # stopped after too many failures: no later search starts
                    continue
                prev = None
                for i, st in enumerate(rcfg.stages):
                    scfg, event = _stage_config(rcfg, i, st, prev, resume)
                    if not quiet:
                        print_fn(f"--- stage {i} '{st.name}': {scfg.describe_budget()}, "
                                 f"strategy {scfg.strategy.name}, out {scfg.out}")
                    if event.get("derived"):  # printed even when quiet: the user must see what was narrowed
                        from hyppo_hep.stages import describe_ranges

                        print_fn(f"stage '{st.name}': " + "\n".join(describe_ranges(event["derived"])))
                    summary = _run_one(scfg, resume, force_resume, executor, quiet, print_fn, st.name,
                                       {**extra, "stage": st.name, "stage_index": i}, event)
                    out.append(((label + " " if label else "") + f"stage {st.name}", scfg, summary))
                    if summary.reason not in FINISHED_REASONS + (StopReason.FINISHED_EARLIER,):
                        return out  # stopped after too many failures: no later stage starts
                    prev = (scfg.space, summary.history)
    finally:
        if own_executor and executor is not None:
            executor.close()
    return out


def _run_one(cfg, resume, force_resume, executor, quiet, print_fn, stage, extra, event) -> RunSummary:
    journal = Path(cfg.out) / JOURNAL_NAME
    if resume and journal.exists():
        events = list(read_events(journal))
        if _journal_finished(events):
            check_resume_header(campaign_header(events), cfg, force_resume)
            history = replay(journal)
            if not quiet:
                print_fn(f"    (finished earlier: {len(history.sets)} sets replayed from {journal})")
            return RunSummary(history, history.n_finished, StopReason.FINISHED_EARLIER, 0.0)
        return run_campaign(cfg, resume=True, force_resume=force_resume, executor=executor, quiet=quiet,
                            print_fn=print_fn, stage=stage, header_extra=extra)
    return run_campaign(cfg, executor=executor, quiet=quiet, print_fn=print_fn, stage=stage, header_extra=extra,
                        stage_event=event)


def _stage_budget(cfg: CampaignConfig, st) -> dict:
    """The budget fields of a (non-scan) stage: its own budget, or the top-level one; a
    sets bound derived from trainings is derived again with the stage's min trials."""
    if st.budget is None and st.budget_trainings is None:
        kw = {}
        trainings, implied = cfg.budget_trainings, cfg.budget_implied
    else:
        kw = {"budget": st.budget, "budget_trainings": st.budget_trainings, "budget_implied": st.budget is None}
        trainings, implied = st.budget_trainings, st.budget is None
    if implied and trainings is not None:
        least = (st.min_trials or st.trials) if st.trials is not None else (cfg.min_trials or cfg.trials)
        kw["budget"] = max(1, trainings // least)
    return kw


def _stage_config(cfg: CampaignConfig, index: int, st, prev, resume: bool) -> tuple[CampaignConfig, dict]:
    """The single-search config of stage ``index`` and its ``stage_started`` event."""
    from hyppo_hep.config import StrategyConfig
    from hyppo_hep.space import Space
    from hyppo_hep.stages import stage_space

    out = stage_dir(cfg.out, index, st.name)
    journal = out / JOURNAL_NAME
    if resume and journal.exists():
        # The space this stage was started with is the one it continues with.
        header = campaign_header(read_events(journal))
        if header is None or not isinstance(header.get("space"), dict):
            raise UserError(f"--resume: {journal} has no campaign event with a space")
        space, note = Space.from_dict(header["space"], f"{journal}: space"), None
    else:
        try:
            space, note = stage_space(cfg.space, st, prev)
        except ValueError as exc:
            raise UserError(f"stage '{st.name}': {exc}") from None
    kw = dict(space=space, out=str(out), seed=cfg.seed + STAGE_SEED_STRIDE * index, stages=())
    if st.scan is not None:
        n = st.scan.points * max(1, len(st.scan.epochs))
        kw.update(budget=n, strategy=StrategyConfig("grid", {"points_per_float": st.scan.points}))
    else:
        kw.update(_stage_budget(cfg, st))
        if st.strategy is not None:
            kw["strategy"] = st.strategy
    if st.trials is not None:
        kw.update(trials=st.trials, min_trials=st.min_trials, confirm=st.confirm)
    if st.scan is not None:
        kw.update(min_trials=None, budget_trainings=None, budget_implied=False)  # a grid: every point once
    scfg = replace(cfg, **kw)
    event = {"stage": st.name, "index": index, "space": space.to_dict()}
    if note is not None:
        event["derived" if st.scan is None else "scan_at"] = note
    if st.scan is not None:
        event["scan"] = {"param": st.scan.param, "log": st.scan.log, "points": st.scan.points,
                         "epochs": list(st.scan.epochs), "epochs_param": st.scan.epochs_param}
    return scfg, event
