"""Which trial score should a GAN search minimise? Candidates compared offline on saved curves.

Reads bench_physics ``--json`` files (every trial's per-epoch W1 is in them) and, for each
candidate score computed from a trial's curve, measures on the sets that have 2 trials:

* held out: rank correlation between one trial's score and the OTHER trial's best-epoch W1
  (the issue-12 figure) and its final W1 (mean of the last 10% of epochs: what a training
  ends at); no noise is shared between the two;
* SNR: variance of the sets' mean log-score over the variance within a set (trial noise);
* regret: per search, the set picked by trial k's score, its other trial's best-epoch W1
  over the lowest of that search;
* surrogate: leave-one-set-out prediction of the log-score from the 6 focus hyperparameters
  (unit cube, learning rates log) by a smoothed thin-plate RBF, its rank correlation with
  the score, and the mean best-epoch W1 of the 5 sets it predicts best over the lowest
  (how well a search could learn where the good sets are).

Candidates: the blend ``best + rise * (mean of the last tail fraction - best)`` of
hyppo_hep.objectives.gan.trial_score over a grid of (rise, tail) -- rise 0 is the best
epoch -- and the best of a running mean over 5 and 10 epochs.

    python benchmarks/bench_gan_score.py "dimuon 100 ep" /tmp/p5/dimuon100.json /tmp/p5/dimuon100s2.json \\
        -- "dimuon 30 ep" /tmp/p4/dimuon.json -- "hadronization 20 ep" /tmp/p4/had.json /tmp/p4/had2.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_physics import FOCUS  # noqa: E402
from hyppo_hep.objectives.gan import trial_score  # noqa: E402


def candidates() -> dict:
    out = {f"blend rise {w} tail {f}": (lambda w, f: lambda c: trial_score(c, w, f))(w, f)
           for w in (0.0, 0.25, 0.5, 0.75, 1.0) for f in (0.1, 0.2)}
    for k in (5, 10):
        out[f"best running mean over {k}"] = (lambda k: lambda c: np.convolve(c, np.ones(min(k, len(c))) / min(k, len(c)),
                                                                            mode="valid").min())(k)
    return out


def unit(params: dict) -> list[float]:
    """The focus hyperparameters on [0, 1] (learning rates on a log scale)."""
    out = []
    for k, r in FOCUS.items():
        if "low" in r:
            out.append((np.log(params[k]) - np.log(r["low"])) / (np.log(r["high"]) - np.log(r["low"])))
        else:
            out.append((params[k] / r["scaling"] - r["lower"]) / (r["upper"] - r["lower"]))
    return out


def load(paths: list[str]) -> list[dict]:
    """Sets with 2 finished trials of equal length: their search, curves and unit params."""
    sets = []
    for p in paths:
        for r in json.loads(Path(p).read_text()):
            for s in r["sets"]:
                cs = [np.where(np.isfinite(c), c, 10.0) for c in map(np.asarray, s["curves"]) if len(c)]
                if len(cs) == 2 and len(cs[0]) == len(cs[1]):
                    sets.append({"run": f"{p}:{r['strategy']}:{r.get('seed')}", "curves": cs, "x": unit(s["params"])})
    return sets


def held_out(sets: list[dict], f) -> tuple[float, float, float, float]:
    from scipy.stats import spearmanr

    a = np.array([[f(c) for c in s["curves"]] for s in sets])
    best = np.array([[c.min() for c in s["curves"]] for s in sets])
    fin = np.array([[c[-max(1, int(round(0.1 * len(c)))):].mean() for c in s["curves"]] for s in sets])
    x = np.concatenate([a[:, 0], a[:, 1]])
    rho_best = spearmanr(x, np.concatenate([best[:, 1], best[:, 0]]))[0]
    rho_fin = spearmanr(x, np.concatenate([fin[:, 1], fin[:, 0]]))[0]
    la = np.log(a)
    snr = np.var(la.mean(1)) / np.mean((la[:, 0] - la[:, 1]) ** 2 / 2)
    regret = []
    for run in dict.fromkeys(s["run"] for s in sets):
        idx = [i for i, s in enumerate(sets) if s["run"] == run]
        for k in (0, 1):
            regret.append(best[idx[int(np.argmin(a[idx, k]))], 1 - k] / best[idx, 1 - k].min())
    return rho_best, rho_fin, snr, float(np.mean(regret))


def surrogate(sets: list[dict], f) -> tuple[float, float]:
    from scipy.interpolate import RBFInterpolator
    from scipy.stats import spearmanr

    X = np.array([s["x"] for s in sets])
    y = np.log([np.mean([f(c) for c in s["curves"]]) for s in sets])
    w1 = np.array([np.mean([c.min() for c in s["curves"]]) for s in sets])
    pred = np.array([RBFInterpolator(np.delete(X, i, 0), np.delete(y, i), kernel="thin_plate_spline", smoothing=1.0)(X[i:i + 1])[0]
                     for i in range(len(X))])
    return spearmanr(pred, y)[0], float(w1[np.argsort(pred)[:5]].mean() / w1.min())


def main(argv: list[str]) -> str:
    groups, cur = [], []
    for a in argv + ["--"]:
        if a == "--":
            if cur:
                groups.append((cur[0], cur[1:]))
            cur = []
        else:
            cur.append(a)
    lines = []
    for name, paths in groups:
        sets = load(paths)
        lines += [f"### {name}: {len(sets)} sets x 2 trials", "",
                  "| score | rho(score, other trial's best W1) | rho(score, other trial's final W1) | SNR | "
                  "regret (other trial's best W1) | surrogate LOO rho | surrogate top-5 best W1 / lowest |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for label, f in candidates().items():
            rb, rf, snr, reg = held_out(sets, f)
            rho, top = surrogate(sets, f)
            lines.append(f"| {label} | {rb:.2f} | {rf:.2f} | {snr:.1f} | {reg:.2f} | {rho:.2f} | {top:.2f} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(sys.argv[1:]))
