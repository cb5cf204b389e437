"""Python API for people who tune their own code.

``minimize`` runs a whole search on a callable; ``AskTell`` lets the user drive the loop and
run the repeated trials however they like. Both accept the space as the same dict as the
YAML ``space`` section, and both write the same journal as the CLI when given ``out``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from hyppo_hep.config import CampaignConfig, ExecutorConfig, StrategyConfig
from hyppo_hep.driver import Driver
from hyppo_hep.errors import SearchFailed, UserError
from hyppo_hep.history import History
from hyppo_hep.objectives.registry import CallableRef, ObjectiveRef
from hyppo_hep.space import Space
from hyppo_hep.trial import TrialResult


def _space(space) -> Space:
    return space if isinstance(space, Space) else Space.from_dict(space)


def _strategy_config(strategy) -> StrategyConfig:
    if isinstance(strategy, StrategyConfig):
        return strategy
    if isinstance(strategy, str):
        return StrategyConfig(strategy, {})
    if isinstance(strategy, dict):
        opts = dict(strategy)
        return StrategyConfig(opts.pop("name"), opts)
    raise TypeError("strategy must be a name, {name: ..., options...} or a StrategyConfig")


@dataclass
class SearchResult:
    """The outcome of a search: ``ranked`` sets best first by the noise-aware estimate of
    their true mean (hyppo_hep.recommend), each a dict with set_id, params, ``estimate`` ±
    ``estimate_std``, the raw mean, std, n_ok and trial scores; ``history`` holds everything."""

    history: History
    k_std: float = 0.0
    # what a multi-objective campaign minimised (strategy option ``objectives``); None for a
    # single-objective search, whose ``pareto`` is then the front of (mean, std)
    objectives: tuple | list | None = None
    # the search space: the estimates' neighbourhoods use its encoding (log lattices,
    # categoricals); None: the params min-max scaled
    space: Space | None = None

    @property
    def pareto(self) -> list[dict]:
        """The Pareto front of the finished sets: one dict per set (set_id, params, n_ok and
        each objective's value), sorted by the first objective."""
        from hyppo_hep.strategy.multiobjective import DEFAULT_OBJECTIVES, front_rows

        return front_rows(self.history, self.objectives or DEFAULT_OBJECTIVES)

    @property
    def hypervolume(self) -> float:
        """Hypervolume of that front against the worst values plus 10% of their range."""
        from hyppo_hep.strategy.multiobjective import DEFAULT_OBJECTIVES, front_hypervolume

        return front_hypervolume(self.history, self.objectives or DEFAULT_OBJECTIVES)

    @property
    def ranked(self) -> list[dict]:
        from hyppo_hep.recommend import recommend

        sets = self.history.sets
        return [{"set_id": e.set_id, "params": sets[e.set_id].params, "estimate": e.value(self.k_std),
                 "estimate_std": e.mean_std, "mean": e.raw_mean, "std": e.raw_std, "n_ok": e.n_ok,
                 "scores": sets[e.set_id].scores} for e in recommend(self.history, self.k_std, self.space)[0]]

    @property
    def best(self) -> dict | None:
        ranked = self.ranked
        return ranked[0] if ranked else None

    def __repr__(self) -> str:
        from hyppo_hep.console import ranked_table

        return ranked_table(self.history, k_std=self.k_std, space=self.space)


def _repeats(trials, budget) -> dict:
    """CampaignConfig fields of ``trials`` (5, or {"min": 2, "max": 5, "confirm": 0}) and
    ``budget`` (50 sets, or {"sets": 50} / {"trainings": 250}), checked as the config's are."""
    from hyppo_hep.config import repeats_kw

    return repeats_kw(trials, budget)


def minimize(objective: Callable | str, space: dict | Space | None = None, *, budget: int | dict = 50,
             trials: int | dict = 5,
             strategy: Any = "rbf", seed: int = 0, out: str | None = None, executor: str = "serial",
             workers: int | None = None, min_ok_trials: int = 1, overwrite: bool = False,
             quiet: bool = False, early_stopping: Any = None, trial_timeout: float | None = None,
             isolation: str = "none", max_consecutive_failures: int = 20) -> SearchResult:
    """Minimise ``objective(params, trial, seed, device) -> float`` over ``space``.

    ``objective`` is a callable or the name of a registered objective (``"gan_dimuon"``,
    ``"mypkg.mod:train"``). Each of ``budget`` sets is trained ``trials`` times with
    different seeds; sets rank by the noise-aware estimate of their mean. Adaptive repeats:
    ``trials={"min": 2, "max": 5}`` (a new set gets 2 trials, sets that could still be the
    best get more, up to 5) and ``budget={"trainings": 250}`` (trials, top-ups included). With ``out`` the journal and
    results.csv are written there, exactly as the CLI does. ``executor="pool"`` runs trials
    in ``workers`` processes (the callable must then be a module-level function).
    ``trial_timeout`` (s), ``isolation`` and ``max_consecutive_failures`` are the config keys
    of the same names (README, Reliability).
    ``space=None``: the objective defines its space (a :class:`hyppo_hep.tuner.DefineByRun`).
    ``early_stopping="median"`` (or ``{"rule": "median", "min_epochs": 3}``) stops trials whose
    reported epochs fall behind the median of finished trials (see fidelity.py).
    Progress (a line per trial and per set, elapsed time, ETA; a bar on a terminal) is
    printed unless ``quiet=True``.
    """
    from hyppo_hep.config import parse_early_stopping
    from hyppo_hep.objectives.registry import objective_defaults
    from hyppo_hep.strategy.start import with_defaults

    ref = ObjectiveRef(objective) if isinstance(objective, str) else CallableRef(objective)
    if space is None:
        if not hasattr(ref.build(), "space"):
            raise UserError("minimize: no space given and the objective does not define one (see hyppo_hep.DefineByRun)")
        space = ref.build().space()
    space = _space(space)
    early = parse_early_stopping(early_stopping)
    strategy = _strategy_config(strategy)
    strategy = StrategyConfig(strategy.name, with_defaults(strategy.options, space, lambda: objective_defaults(ref)))
    cfg = CampaignConfig(objective=ref if isinstance(ref, ObjectiveRef) else ObjectiveRef(ref.name), space=space,
                         **_repeats(trials, budget), strategy=strategy, seed=seed,
                         out=out or "", executor=ExecutorConfig(executor, workers), min_ok_trials=min_ok_trials,
                         trial_timeout=trial_timeout, isolation=isolation,
                         max_consecutive_failures=max_consecutive_failures, early_stopping=early)
    if out:
        from hyppo_hep.campaign import run_campaign

        summary = run_campaign(cfg, overwrite=overwrite, objective_ref=ref, quiet=quiet)
    else:
        summary = _run_in_memory(cfg, ref, quiet)
    return _checked(SearchResult(summary.history, cfg.k_std, campaign_objectives(cfg), cfg.space))


def campaign_objectives(cfg: CampaignConfig) -> tuple | None:
    """The objectives of a multi-objective campaign (its strategy's), None otherwise."""
    from hyppo_hep.config import MULTI_OBJECTIVE
    from hyppo_hep.strategy.multiobjective import DEFAULT_OBJECTIVES

    if cfg.strategy.name != MULTI_OBJECTIVE:
        return None
    return tuple(cfg.strategy.options.get("objectives") or DEFAULT_OBJECTIVES)


def _run_in_memory(cfg: CampaignConfig, ref, quiet: bool = False):
    """A search without an output directory: no journal, nothing written."""
    from contextlib import nullcontext

    from hyppo_hep.campaign import build_strategy, make_executor, make_search
    from hyppo_hep.progress import CampaignProgress

    search = make_search(cfg, build_strategy(cfg))
    ex = make_executor(cfg, ref)
    progress = None if quiet else CampaignProgress(cfg.progress_sets, cfg.trials, ex.n_slots, cfg.k_std,
                                                   total=cfg.max_trainings, space=cfg.space)
    try:
        with progress or nullcontext():
            return Driver(search, ex, on_set_finished=progress.set_finished if progress else None,
                          on_trial_finished=progress.trial_finished if progress else None).run()
    finally:
        ex.close()


def _checked(result: SearchResult) -> SearchResult:
    """A search in which every trial failed has no answer: raise, quoting the last error
    (as the CLI exits with status 3), rather than hand back a result without a best set."""
    trials = [t for r in result.history.sets.values() for t in r.trials.values()]
    if trials and not any(t.ok for t in trials):
        last = max(trials, key=lambda t: t.finished or 0.0)
        lines = (last.error or "").strip().splitlines()
        raise SearchFailed(f"every trial failed ({len(trials)} trials); last error: {lines[-1] if lines else '?'}"
                           + (f"\n{last.error}" if last.error else ""))
    return result


class Asked(dict):
    """What :meth:`AskTell.ask` hands out: the params of a set (a dict, as before) that also
    says which trials to run: ``set_id``, ``trials`` (trial indices), ``seeds`` (one per
    trial) and ``purpose`` (None: a new set; ``race``: a top-up of an earlier set by the
    adaptive repeats; ``confirm``: a confirmation trial)."""

    def __init__(self, params: dict, set_id: int, trials, seeds, purpose: str | None = None):
        super().__init__(params)
        self.set_id, self.trials, self.seeds, self.purpose = set_id, tuple(trials), tuple(seeds), purpose

    @property
    def top_up(self) -> bool:
        """True when these are more trials of a set asked (and told) before."""
        return self.purpose is not None

    def __repr__(self) -> str:
        return f"Asked({dict.__repr__(self)}, set_id={self.set_id}, trials={list(self.trials)})"


class AskTell:
    """A search driven by the user::

        at = AskTell({"lr": {"lower": 1, "upper": 100, "scaling": 1e-4}}, trials=3)
        for _ in range(20):
            params = at.ask()
            at.tell(params, [train(params, seed=s) for s in at.seeds(params)])
        print(at.best)

    ``tell`` takes one score per asked trial (None or NaN for a failed trial). Several sets
    may be asked before any is told: each ``ask`` knows the sets still pending. With
    ``out`` the journal is written there as the CLI writes it, and results.csv on
    :meth:`close`.

    Adaptive repeats (``trials={"min": 2, "max": 5}``, ``budget={"trainings": 250}``): an
    ask may be a top-up of an earlier set; the :class:`Asked` it returns says which set
    (``set_id``, the same params as before) and which trials (``trials``, ``seeds``), and
    ``tell`` takes that many scores. The loop above works unchanged.
    """

    def __init__(self, space: dict | Space, *, strategy: Any = "rbf", trials: int | dict = 5, seed: int = 0,
                 budget: int | dict = 100, out: str | None = None, overwrite: bool = False, min_ok_trials: int = 1):
        from hyppo_hep.campaign import build_strategy, make_search

        self.space = _space(space)
        cfg = CampaignConfig(objective=ObjectiveRef("ask-tell"), space=self.space, **_repeats(trials, budget),
                             strategy=_strategy_config(strategy), seed=seed, out=out or "",
                             min_ok_trials=min_ok_trials, max_consecutive_failures=0)
        self.trials = cfg.trials
        self.k_std = cfg.k_std
        self._search = make_search(cfg, build_strategy(cfg))  # the strategy is checked before the disk is touched
        self._asked: dict[int, Asked] = {}  # set_id -> its request not told yet
        self._results = None
        self._lock = None
        if out:
            from hyppo_hep.campaign import SetAside, prepare_out_dir
            from hyppo_hep.journal import RESULTS_NAME, Journal, ResultsWriter
            from hyppo_hep.lock import OutDirLock

            self._lock = OutDirLock(out).acquire()  # one search per output directory (issue 13.3)
            try:
                journal_path = prepare_out_dir(out, resume=False, overwrite=overwrite)
            except BaseException:
                self._lock.release()
                raise
            SetAside(journal_path.parent).drop()
            self._search.journal = Journal(journal_path)
            self._results = ResultsWriter(journal_path.parent / RESULTS_NAME)
            self._search.start({"resumed": False, **cfg.header()})

    @property
    def history(self) -> History:
        return self._search.history

    def ask(self) -> Asked:
        """The next request: a new set (never one already asked), or more trials of an
        earlier set (adaptive repeats). A dict of params with ``set_id``, ``trials``, ``seeds``."""
        from hyppo_hep.journal import CONFIRM

        search = self._search
        specs = search.ask(1) if search.may_ask() else []
        if not specs:
            if search.budget_left == 0 and (search.racing is None or not self.history.pending):
                what = (f"{search.budget_trainings} trainings" if search.budget_trainings is not None
                        and search.trainings_left == 0 else f"{search.budget} sets")
                raise UserError(f"the budget of {what} is spent")
            if self.history.pending:
                raise UserError("nothing to ask until a pending set is told (the race waits for its scores)")
            raise UserError("the search space is exhausted: every set has been asked")
        spec = specs[0]
        rec = self.history.sets[spec.set_id]
        purpose = None if spec.trials[0] == 0 else (CONFIRM if spec.trials[0] in rec.confirm_trials else "race")
        asked = Asked(spec.params, spec.set_id, spec.trials, spec.seeds, purpose)
        self._asked[spec.set_id] = asked
        return asked

    @property
    def done(self) -> bool:
        """True when the search is over: nothing pending, and no new set nor top-up left to
        ask (``while not at.done: ...`` runs a whole search)."""
        return self._search.over()

    def _request(self, params: dict) -> Asked:
        if isinstance(params, Asked) and self._asked.get(params.set_id) is not None:
            asked = self._asked[params.set_id]
            if asked.trials != params.trials:
                raise ValueError(f"trials {list(params.trials)} of set {params.set_id} were not asked, or were told already")
            return asked
        key = self.space.key(params)
        for asked in self._asked.values():
            if self.space.key(asked) == key:
                return asked
        raise ValueError(f"{dict(params)} was not asked, or was told already")

    def seeds(self, params: dict) -> list[int]:
        """The seeds hyppo_hep assigns to the asked trials of a pending set (use them or not)."""
        return list(self._request(params).seeds)

    def tell(self, params: dict, scores) -> None:
        """The scores of the trials ``ask`` asked for ``params`` (the Asked, or the same params
        as a plain dict): one per trial, None or NaN for a failed trial."""
        asked = self._request(params)
        scores = list(np.atleast_1d(np.asarray(scores, dtype=object)))
        if len(scores) != len(asked.trials):
            raise ValueError(f"tell needs {len(asked.trials)} scores (one per trial), got {len(scores)}")
        del self._asked[asked.set_id]
        for t, seed, s in zip(asked.trials, asked.seeds, scores):
            ok = s is not None and np.isfinite(float(s))
            self._search.tell(TrialResult(asked.set_id, t, seed, float(s) if ok else None,
                                          None if ok else f"told as {s!r}", "user", "user"))
        if self._results is not None:
            self._results.maybe_write(self.history)

    def result(self, k_std: float | None = None) -> SearchResult:
        """The sets so far, ranked by mean + k_std * std (default: the strategy's k_std)."""
        return SearchResult(self.history, self.k_std if k_std is None else k_std, space=self.space)

    @property
    def best(self) -> dict | None:
        return self.result().best

    def close(self) -> None:
        journal = self._search.journal
        if journal is not None:
            journal.close()
            if self.history.sets:
                self._results.flush(self.history)
        if self._lock is not None:
            self._lock.release()
            self._lock = None
