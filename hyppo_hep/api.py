"""Python API for people who tune their own code.

``minimize`` runs a whole search on a callable; ``AskTell`` lets the user drive the loop and
run the repeated trials however they like. Both accept the space as the same dict as the
YAML ``space`` section, and both write the same journal as the CLI when given ``out``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from hyppo_hep import strategy as strategies
from hyppo_hep.config import CampaignConfig, ExecutorConfig, StrategyConfig
from hyppo_hep.driver import Driver
from hyppo_hep.errors import UserError
from hyppo_hep.executor.base import TrialResult, TrialSpec
from hyppo_hep.history import History, SetRecord
from hyppo_hep.objectives.registry import CallableRef, ObjectiveRef
from hyppo_hep.space import Space


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

    @property
    def ranked(self) -> list[dict]:
        from hyppo_hep.recommend import recommend

        sets = self.history.sets
        return [{"set_id": e.set_id, "params": sets[e.set_id].params, "estimate": e.value(self.k_std),
                 "estimate_std": e.mean_std, "mean": e.raw_mean, "std": e.raw_std, "n_ok": e.n_ok,
                 "scores": sets[e.set_id].scores} for e in recommend(self.history, self.k_std)[0]]

    @property
    def best(self) -> dict | None:
        ranked = self.ranked
        return ranked[0] if ranked else None

    def __repr__(self) -> str:
        from hyppo_hep.console import ranked_table

        return ranked_table(self.history, k_std=self.k_std)


def minimize(objective: Callable | str, space: dict | Space | None = None, *, budget: int = 50, trials: int = 5,
             strategy: Any = "rbf", seed: int = 0, out: str | None = None, executor: str = "serial",
             workers: int | None = None, min_ok_trials: int = 1, overwrite: bool = False,
             quiet: bool = True, early_stopping: Any = None, trial_timeout: float | None = None,
             isolation: str = "none", max_consecutive_failures: int = 20) -> SearchResult:
    """Minimise ``objective(params, trial, seed, device) -> float`` over ``space``.

    ``objective`` is a callable or the name of a registered objective (``"gan_dimuon"``,
    ``"mypkg.mod:train"``). Each of ``budget`` sets is trained ``trials`` times with
    different seeds; sets rank by the mean over trials. With ``out`` the journal and
    results.csv are written there, exactly as the CLI does. ``executor="pool"`` runs trials
    in ``workers`` processes (the callable must then be a module-level function).
    ``trial_timeout`` (s), ``isolation`` and ``max_consecutive_failures`` are the config keys
    of the same names (README, Reliability).
    ``space=None``: the objective defines its space (a :class:`hyppo_hep.tuner.DefineByRun`).
    ``early_stopping="median"`` (or ``{"rule": "median", "min_epochs": 3}``) stops trials whose
    reported epochs fall behind the median of finished trials (see fidelity.py).
    """
    from hyppo_hep.config import parse_early_stopping

    ref = ObjectiveRef(objective) if isinstance(objective, str) else CallableRef(objective)
    if space is None:
        if not hasattr(ref.build(), "space"):
            raise UserError("minimize: no space given and the objective does not define one (see hyppo_hep.DefineByRun)")
        space = ref.build().space()
    space = _space(space)
    early = parse_early_stopping(early_stopping)
    cfg = CampaignConfig(objective=ref if isinstance(ref, ObjectiveRef) else ObjectiveRef(ref.name), space=space,
                         trials=trials, budget=budget, strategy=_strategy_config(strategy), seed=seed,
                         out=out or "", executor=ExecutorConfig(executor, workers), min_ok_trials=min_ok_trials,
                         trial_timeout=trial_timeout, isolation=isolation,
                         max_consecutive_failures=max_consecutive_failures, early_stopping=early)
    if out:
        from hyppo_hep.campaign import run_campaign

        summary = run_campaign(cfg, overwrite=overwrite, objective_ref=ref, quiet=quiet)
        return SearchResult(summary.history, cfg.k_std)
    from hyppo_hep.campaign import make_executor

    ex = make_executor(cfg, ref)
    strat = strategies.build(cfg.strategy.name, cfg.strategy.options, space, budget)
    try:
        summary = Driver(space, strat, ex, None, budget=budget, trials=trials, seed=seed,
                         min_ok_trials=min_ok_trials, max_consecutive_failures=max_consecutive_failures,
                         early_stopping=early).run()
    finally:
        ex.close()
    return SearchResult(summary.history, cfg.k_std)


class _Handout:
    """The 'executor' of an ask/tell loop: it just keeps what the driver submits."""

    n_slots = 1

    def __init__(self) -> None:
        self.submitted: list[TrialSpec] = []

    def submit(self, spec: TrialSpec) -> None:
        self.submitted.append(spec)


class AskTell:
    """A search driven by the user::

        at = AskTell({"lr": {"lower": 1, "upper": 100, "scaling": 1e-4}}, trials=3)
        for _ in range(20):
            params = at.ask()
            at.tell(params, [train(params, seed=s) for s in at.seeds(params)])
        print(at.best)

    ``tell`` takes one score per trial (None or NaN for a failed trial). Several sets may be
    asked before any is told: each ``ask`` knows the sets still pending.
    """

    def __init__(self, space: dict | Space, *, strategy: Any = "rbf", trials: int = 5, seed: int = 0,
                 budget: int = 100, out: str | None = None, overwrite: bool = False, min_ok_trials: int = 1):
        self.space = _space(space)
        self.trials = trials
        self._handout = _Handout()
        journal = None
        if out:
            from hyppo_hep.campaign import prepare_out_dir
            from hyppo_hep.journal import Journal

            journal = Journal(prepare_out_dir(out, resume=False, overwrite=overwrite))
            journal.append("campaign", objective={"name": "ask-tell", "options": {}}, space=self.space.to_dict(),
                           trials=trials, budget=budget, seed=seed)
        self._journal = journal
        cfg = _strategy_config(strategy)
        self.k_std = float(cfg.options.get("k_std", 0.0))
        strat = strategies.build(cfg.name, cfg.options, self.space, budget)
        self._driver = Driver(self.space, strat, self._handout, journal, budget=budget, trials=trials, seed=seed,
                              min_ok_trials=min_ok_trials)

    @property
    def history(self) -> History:
        return self._driver.history

    def ask(self) -> dict:
        """A new set (params dict), never one already asked."""
        if self._driver.propose_and_submit(1) == 0:
            raise UserError("the search space is exhausted: every set has been asked")
        return dict(self._handout.submitted[-1].params)

    def _pending(self, params: dict) -> SetRecord:
        key = self.space.key(params)
        for rec in self.history.pending:
            if self.space.key(rec.params) == key:
                return rec
        raise ValueError(f"{params} was not asked, or was told already")

    def seeds(self, params: dict) -> list[int]:
        """The seeds hyppo_hep assigns to the trials of a pending set (use them or not)."""
        return list(self._pending(params).seeds)

    def tell(self, params: dict, scores) -> None:
        rec = self._pending(params)
        scores = list(np.atleast_1d(np.asarray(scores, dtype=object)))
        if len(scores) != rec.n_trials:
            raise ValueError(f"tell needs {rec.n_trials} scores (one per trial), got {len(scores)}")
        for t, s in enumerate(scores):
            ok = s is not None and np.isfinite(float(s))
            self._driver.record(TrialResult(rec.set_id, t, rec.seeds[t], float(s) if ok else None,
                                            None if ok else f"told as {s!r}", "user", "user"))

    def result(self, k_std: float | None = None) -> SearchResult:
        """The sets so far, ranked by mean + k_std * std (default: the strategy's k_std)."""
        return SearchResult(self.history, self.k_std if k_std is None else k_std)

    @property
    def best(self) -> dict | None:
        return self.result().best

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
