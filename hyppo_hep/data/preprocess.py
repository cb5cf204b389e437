"""Preprocessing of event features before a generative model trains on them, with the
inverse applied to generated events before any physics metric or figure (seed 004 cuts
tails and rescales skewed features such as transverse momenta before its GAN).

A spec, given as the objective option ``preprocess`` (all keys optional)::

    preprocess:
      tail_cut: 0.001                 # drop events beyond the 0.1% / 99.9% quantiles of any feature
      # tail_cut: {pt1: [0, 500], eta1: [-2.4, 2.4]}   # or value limits per feature
      transform: {pt1: log, pt2: boxcox}                # per feature: none | log | boxcox

Tail cuts REMOVE events (from the training and the reference sample alike); transforms are
invertible maps fitted on the training events: ``log`` is log(x - min + 1) on the feature's
own offset so that it accepts zeros, ``boxcox`` is scipy's Box-Cox with its lambda fitted by
maximum likelihood on x - min + 1. The same can be tuned as hyperparameters: ``pre_tail_cut``
(a quantile, 0 for none) and ``pre_transform`` (none, log or boxcox, applied to every feature
named in the spec's ``skewed`` list, default: the features whose skewness exceeds 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import special, stats

from hyppo_hep.errors import UserError

TRANSFORMS = ("none", "log", "boxcox")
SKEWNESS_THRESHOLD = 1.0  # features more skewed than this are "skewed" unless the spec names them


def _where(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def check_spec(spec, names: list[str], path: str = "preprocess") -> dict:
    """The validated spec (a new dict), or UserError naming the key path."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise UserError(f"{path}: must be a mapping (tail_cut, transform, skewed), got {type(spec).__name__}")
    unknown = set(spec) - {"tail_cut", "transform", "skewed"}
    if unknown:
        raise UserError(f"{path}: unknown key(s) {sorted(unknown)} (known: skewed, tail_cut, transform)")
    out = dict(spec)
    cut = spec.get("tail_cut")
    if isinstance(cut, dict):
        for name, lim in cut.items():
            _check_name(name, names, _where(path, f"tail_cut.{name}"))
            if not (isinstance(lim, (list, tuple)) and len(lim) == 2 and all(_number(v) for v in lim) and lim[0] < lim[1]):
                raise UserError(f"{_where(path, f'tail_cut.{name}')}: must be [low, high] with low < high, got {lim!r}")
    elif cut is not None and not (_number(cut) and 0 <= cut < 0.5):
        raise UserError(f"{_where(path, 'tail_cut')}: a quantile in [0, 0.5) or a mapping feature: [low, high], got {cut!r}")
    for name, kind in (spec.get("transform") or {}).items():
        _check_name(name, names, _where(path, f"transform.{name}"))
        if kind not in TRANSFORMS:
            raise UserError(f"{_where(path, f'transform.{name}')}: must be one of {', '.join(TRANSFORMS)}, got {kind!r}")
    for name in spec.get("skewed") or []:
        _check_name(name, names, _where(path, "skewed"))
    return out


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _check_name(name, names, where):
    if name not in names:
        raise UserError(f"{where}: no feature '{name}' (features: {', '.join(names)})")


def with_hyperparameters(spec: dict, params: dict, features: np.ndarray, names: list[str]) -> dict:
    """``spec`` with the tunable ``pre_tail_cut`` and ``pre_transform`` of ``params`` applied."""
    out = dict(spec)
    if "pre_tail_cut" in params:
        q = float(params["pre_tail_cut"])
        if not 0 <= q < 0.5:
            raise UserError(f"hyperparameter pre_tail_cut={q} must be a quantile in [0, 0.5)")
        out["tail_cut"] = q
    if "pre_transform" in params:
        kind = str(params["pre_transform"])
        if kind not in TRANSFORMS:
            raise UserError(f"hyperparameter pre_transform={kind!r} must be one of {', '.join(TRANSFORMS)}")
        skewed = spec.get("skewed") or skewed_features(features, names)
        out["transform"] = {**(spec.get("transform") or {}), **{n: kind for n in skewed}}
    return out


def skewed_features(features: np.ndarray, names: list[str]) -> list[str]:
    """The features whose sample skewness exceeds SKEWNESS_THRESHOLD (e.g. transverse momenta)."""
    skew = stats.skew(features, axis=0)
    return [n for n, s in zip(names, skew) if np.isfinite(s) and abs(s) > SKEWNESS_THRESHOLD]


def tail_mask(features: np.ndarray, names: list[str], tail_cut) -> np.ndarray:
    """Boolean (n,) mask of the events kept by the tail cut (all when there is none)."""
    keep = np.ones(len(features), dtype=bool)
    if isinstance(tail_cut, dict):
        for name, (lo, hi) in tail_cut.items():
            col = features[:, names.index(name)]
            keep &= (col >= lo) & (col <= hi)
    elif tail_cut:
        lo, hi = np.quantile(features, [tail_cut, 1 - tail_cut], axis=0)
        keep &= ((features >= lo) & (features <= hi)).all(axis=1)
    return keep


@dataclass
class Preprocessor:
    """Per-feature invertible transforms, fitted on training events (n, d)."""

    names: list[str]
    kinds: list[str]
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lambdas: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @classmethod
    def fit(cls, features: np.ndarray, names: list[str], transform: dict | None) -> "Preprocessor":
        kinds = [(transform or {}).get(n, "none") for n in names]
        # shift each transformed feature to start at 1: log and Box-Cox need positive input
        offsets = 1.0 - features.min(axis=0)
        lambdas = np.zeros(len(names))
        for j, kind in enumerate(kinds):
            if kind == "boxcox":
                _, lambdas[j] = stats.boxcox(features[:, j] + offsets[j])
        return cls(list(names), kinds, offsets, lambdas)

    def transform(self, features: np.ndarray) -> np.ndarray:
        out = np.array(features, dtype=np.float64, copy=True)
        for j, kind in enumerate(self.kinds):
            shifted = np.maximum(out[:, j] + self.offsets[j], 1e-12)  # generated events may undershoot
            if kind == "log":
                out[:, j] = np.log(shifted)
            elif kind == "boxcox":
                out[:, j] = special.boxcox(shifted, self.lambdas[j])
        return out

    def inverse(self, transformed: np.ndarray) -> np.ndarray:
        out = np.array(transformed, dtype=np.float64, copy=True)
        for j, kind in enumerate(self.kinds):
            if kind == "log":
                out[:, j] = np.exp(out[:, j]) - self.offsets[j]
            elif kind == "boxcox":
                out[:, j] = special.inv_boxcox(out[:, j], self.lambdas[j]) - self.offsets[j]
        return out

    def describe(self) -> dict:
        """What was applied, for the trial's info in the journal."""
        return {n: (k if k != "boxcox" else f"boxcox(lambda={lam:.4g})")
                for n, k, lam in zip(self.names, self.kinds, self.lambdas) if k != "none"}


def prepare(features: np.ndarray, names: list[str], spec: dict) -> tuple[np.ndarray, np.ndarray, Preprocessor]:
    """Tail-cut mask (n,), transformed kept events and the fitted Preprocessor."""
    keep = tail_mask(features, names, spec.get("tail_cut"))
    if keep.sum() < 10:
        raise UserError(f"preprocess.tail_cut {spec.get('tail_cut')!r} keeps only {int(keep.sum())} events")
    pre = Preprocessor.fit(features[keep], names, spec.get("transform"))
    return keep, pre.transform(features[keep]), pre
