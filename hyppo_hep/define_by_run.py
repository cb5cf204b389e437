"""Define-by-run searches for your own models (the Keras Tuner / Optuna way of writing).

You write ``build(hp)``, which asks for its hyperparameters while it builds the model, and
``train(hp, model, trial, seed, device)``, which trains it and returns the validation score
(lower is better; a float or a dict with ``"score"``)::

    def build(hp):
        layers = []
        width_in = 16
        for i in range(hp.Int("n_layers", 1, 5)):              # decides how many widths exist
            width = hp.Int(f"units_{i}", 32, 512, step=32)
            layers += [nn.Linear(width_in, width), nn.ReLU()]
            width_in = width
        hp.Float("lr", 1e-5, 1e-2, log=True)
        hp.Choice("activation", ["relu", "tanh", "gelu"])
        hp.Float("dropout", 0.1, 0.5, step=0.1)
        hp.Fixed("epochs", 30)
        return nn.Sequential(*layers, nn.Linear(width_in, 1))

    def train(hp, model, trial, seed, device):
        opt = torch.optim.Adam(model.parameters(), lr=hp["lr"])
        for epoch in range(fidelity.epochs(hp["epochs"])):
            ...
            if fidelity.report(epoch, val_loss):
                break
        return val_loss

    result = hyppo_hep.minimize(DefineByRun(build, train), budget=50, trials=3, strategy="asha")

or from YAML: ``objective: {name: define_by_run, build: mypkg.model:build, train: mypkg.model:train}``
with ``space: define-by-run`` (or no ``space`` at all).

How the space is known. Before a search, ``build`` is run (without training) in a
recording mode, many times, with minimal, maximal, per-choice and random answers; every
parameter ever asked joins the space, and a parameter not asked in every run is
*conditional*. Decoding a point of the unit cube re-runs ``build`` with that point's values
and keeps only the parameters it asked, so a set never carries ``units_3`` when
``n_layers`` is 2. All hyperparameters must therefore be asked in ``build`` (``train`` reads
them with ``hp[name]``), ranges must not depend on other values, and ``build`` should stay
cheap on the CPU (create the model there; ``train`` moves it to ``device``).

How surrogates see an absent parameter: see hyppo_hep/conditional_space.py.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from hyppo_hep.conditional_space import ConditionalSpace
from hyppo_hep.discovery import discover
from hyppo_hep.errors import UserError
from hyppo_hep.hp import HP


class DefineByRun:
    """The objective of a define-by-run search: builds with ``build(hp)`` and trains with
    ``train(hp, model, trial, seed, device, **options)``. ``space()`` discovers the space
    (``discovery_runs`` random runs on top of the systematic ones). Picklable when ``build``
    and ``train`` are module-level functions (pool and MPI workers)."""

    def __init__(self, build: Callable, train: Callable, discovery_runs: int = 32, **options):
        self.build, self.train = build, train
        self.discovery_runs, self.options = int(discovery_runs), options
        self._space: ConditionalSpace | None = None

    def space(self) -> ConditionalSpace:
        if self._space is None:
            self._space = discover(self.build, self.discovery_runs)
        return self._space

    def __getstate__(self):
        return {**self.__dict__, "_space": None}

    def __call__(self, params: dict, trial: int, seed: int, device: str):
        import sys

        if "torch" in sys.modules:  # weights initialised by build() follow the trial's seed
            sys.modules["torch"].manual_seed(seed)
        np.random.seed(seed % 2**32)
        hp = HP(dict(params))
        model = self.build(hp)
        return self.train(hp, model, trial, seed, device, **self.options)


def _function(ref, what: str) -> Callable:
    if callable(ref):
        return ref
    from hyppo_hep.objectives.registry import _import_target

    if not isinstance(ref, str) or ":" not in ref:
        raise UserError(f"objective define_by_run: {what} must be 'module:function', got {ref!r}")
    func = _import_target(ref, f"define_by_run {what}")
    if not callable(func):
        raise UserError(f"objective define_by_run: {what} '{ref}' is not callable")
    return func


def define_by_run(build=None, train=None, discovery_runs: int = 32, **options) -> DefineByRun:
    """Registry factory: ``objective: {name: define_by_run, build: mod:build, train: mod:train}``;
    further options are passed to ``train`` as keyword arguments."""
    if build is None or train is None:
        raise UserError("objective define_by_run needs both 'build: module:function' and 'train: module:function'")
    return DefineByRun(_function(build, "build"), _function(train, "train"), discovery_runs, **options)
