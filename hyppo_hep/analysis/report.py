"""Build every figure of a set of runs and the report around them: one function per section.

Data contracts with objectives (read from the trials' ``info`` in the journal):

- ``info["n_params"]``: trainable parameters of the trained model (int). Colours the
  focus-stage figure and is the third Pareto objective. Without it, the size is estimated
  from layer-size hyperparameters (see ``pareto.model_size``); without those, that figure
  is skipped and the report says why.
- ``info["histograms"]``: ``{feature: {"edges": [b+1 floats], "truth": [b], "generated":
  [b], "unit": "rad" (optional)}}``, the true and generated distributions of a trial's
  model on validation data (densities or counts, the same normalisation in every trial).
  The best set's trials are drawn as truth, mean generated and a ±1σ band over trials;
  without it the report says so.
- ``info["untrained_score"]``: the score of the model before training (the GAN, VAE and
  classifier objectives record it): a reference line in the convergence figure.

Each section reads the runs and adds figures, notes or tables to a :class:`Report`; the
HTML page is written by analysis/html.py. The analysis learns everything from the journal
(the initial design size included) and never builds a strategy or an objective.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hyppo_hep.analysis import figures as F
from hyppo_hep.analysis.baseline_section import section_classifier_baseline
from hyppo_hep.analysis.multiobjective_section import section_multiobjective
from hyppo_hep.analysis.load import Run, numeric_values, search_runs, sets_table
from hyppo_hep.space import CategoricalParam, FloatParam, IntParam

INITIAL_KEYS = ("initial", "n_initial", "n_init", "n_initial_points", "initial_points", "n_design")
# Strategies that start with a space-filling design of 2(d+1) sets unless `initial` is given
# (strategy/surrogate.py); the analysis keeps this here so that it never imports them.
DESIGN_STRATEGIES = ("rbf", "gp")
# A lattice whose values span this factor or more is drawn on log axes and colour scales.
DECADES = 100.0


@dataclass
class Item:
    title: str
    caption: str
    stem: str | None = None  # figure files (without suffix), None for a note only
    note: str | None = None
    clipped: list[str] = field(default_factory=list)  # text found outside the canvas


@dataclass
class Report:
    out: Path
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: dict = field(default_factory=dict)
    sobol: list[tuple[str, dict]] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    parallel: str = ""

    def figure(self, fig, name: str, title: str, caption: str, formats) -> None:
        stem = self.out / name
        clipped = F.text_outside(fig)
        F.save(fig, stem, formats)
        self.items.append(Item(title, caption, str(stem), clipped=clipped))

    def skip(self, title: str, why: str) -> None:
        self.items.append(Item(title, "", None, why))


@dataclass
class Context:
    """What every section reads: the runs, grouped, and the user's options."""

    runs: list[Run]
    out: Path
    color_by: str | None = None
    threshold: float | None = None
    formats: tuple = ("png", "pdf")
    sobol_n: int = 256
    groups: dict = field(default_factory=dict)  # (group, stage) -> runs (repeats), search stages only
    last: dict = field(default_factory=dict)  # group -> ((group, stage), runs) of its last search stage

    def __post_init__(self):
        self.groups = search_runs(self.runs)
        for key, rs in self.groups.items():
            self.last[key[0]] = (key, rs)


# --- choices made from the data ---------------------------------------------------------

def spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(y[ok]) == 0:
        return 0.0
    return float(abs(spearmanr(x[ok], y[ok]).statistic))


def default_color_by(run: Run) -> str | None:
    """The free hyperparameter whose value ranks with the score most strongly."""
    done = run.done
    if not run.space.free or not done:
        return None
    mean = np.array([r.mean for r in done])
    return max(run.space.names, key=lambda n: spearman(numeric_values(run.space, n, done), mean))


def initial_design_size(header: dict, space=None) -> int | None:
    """The number of sets of the initial design, from the journal's campaign header: the
    ``initial_design`` the campaign recorded; for journals written before it did, the
    strategy's ``initial`` option, else 2(d+1) for the strategies that start with a design
    (d: coordinates of the unit cube, a define-by-run search's "active" indicators
    included), capped at the budget; None for strategies without one (random, lhs, ...)."""
    recorded = header.get("initial_design")
    if isinstance(recorded, int) and not isinstance(recorded, bool):
        return recorded
    strat = header.get("strategy") or {}
    strat = {"name": strat} if isinstance(strat, str) else strat
    options = strat.get("options") or {}
    budget = header.get("budget") if isinstance(header.get("budget"), int) else math.inf
    for key in INITIAL_KEYS:
        v = options.get(key)
        if isinstance(v, int) and not isinstance(v, bool):
            return int(min(v, budget))
    if strat.get("name") not in DESIGN_STRATEGIES:
        return None
    spec = header.get("space") or {}
    if space is None:
        from hyppo_hep.conditional_space import header_space

        space = header_space(spec)
    d = space.dim
    if set(spec) == {"define-by-run"}:  # one "active" coordinate per conditional free parameter
        d += sum(1 for n, p in spec["define-by-run"].items() if isinstance(p, dict) and p.get("conditional")
                 and n in space.names)
    return int(min(2 * (d + 1), budget))


def finish_order(run: Run) -> np.ndarray:
    """Mean scores of the run's finished sets in the order they finished (NaN: failed)."""
    recs = [r for r in run.history.sets.values() if r.state != "pending"]
    recs.sort(key=lambda r: (r.finished if r.finished is not None else math.inf, r.set_id))
    return np.array([r.mean if r.state == "done" else np.nan for r in recs])


def untrained_score(runs: list[Run]) -> float | None:
    """The median over the runs' trials of ``info["untrained_score"]``; None when unknown."""
    vals = [t.info.get("untrained_score") for r in runs for rec in r.history.sets.values()
            for t in rec.trials.values() if isinstance(t.info, dict)]
    vals = [float(v) for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return float(np.median(vals)) if vals else None


def _param(run: Run, name: str):
    return next((p for p in run.space.params if p.name == name), None)


def is_log(run: Run, name: str) -> bool:
    """Draw ``name`` on a log scale: a log float, or a lattice of positive values spanning a
    factor of DECADES or more (the study's learning rates 5e-5 ... 1e-2)."""
    p = _param(run, name)
    if isinstance(p, FloatParam):
        return p.log
    if isinstance(p, IntParam):
        lo, hi = p.value_of(p.lower), p.value_of(p.upper)
        return lo > 0 and hi / lo >= DECADES
    return False


def _ticks(run: Run, name: str):
    p = _param(run, name)
    return [str(c) for c in p.choices] if isinstance(p, CategoricalParam) else None


def _label(key) -> str:
    group, stage = key
    return f"{group} / {stage}" if stage else group


def _slug(key) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "_", "_".join(str(k) for k in key if k)).strip("_") or "run"


def _records(rs: list[Run]):
    return [rec for r in rs for rec in r.done]


def _rank(rec) -> tuple:
    return -(rec.resource or 0), rec.mean


def best_set(ctx: Context):
    """(record, run) of the best set of the groups' last search stages: trained with the
    most epochs first (multi-fidelity), then lowest mean; (None, None) without one."""
    best, run = None, None
    for _, rs in ctx.last.values():
        for r in rs:
            cand = r.history.best()
            if cand is not None and (best is None or _rank(cand) < _rank(best)):
                best, run = cand, r
    return best, run


# --- the sections, in the order of the report ---------------------------------------------

def section_summary(ctx: Context, rep: Report) -> None:
    """The best set of the last search stage (most epochs first, then lowest mean), with
    its configuration and the campaign it came from: the top of the report."""
    best, run = best_set(ctx)
    if best is None:
        return
    info_keys = sorted({k for t in best.trials.values() if t.ok and isinstance(t.info, dict) for k, v in t.info.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)})
    ok = [t for t in best.trials.values() if t.ok]
    info = {k: float(np.mean([t.info[k] for t in ok if isinstance(t.info.get(k), (int, float))])) for k in info_keys}
    h = run.header
    rep.summary = {"set_id": best.set_id, "run": run.label, "journal": str(run.path), "mean": best.mean,
                   "std": best.std, "n_ok": best.n_ok, "n_trials": best.n_trials, "params": dict(best.params),
                   "budget": best.budget,
                   "info": info, "seeds": list(best.seeds), "objective": h.get("objective") or {},
                   "strategy": h.get("strategy") or {}, "trials": h.get("trials"), "seed": h.get("seed"),
                   "stages": list(dict.fromkeys(r.stage for r in ctx.runs if r.stage)) or None,
                   "directories": sorted({str(r.root) for r in ctx.runs})}


def section_notes(ctx: Context, rep: Report) -> None:
    """Stage summaries (derived focus ranges) and runs still in progress."""
    for r in ctx.runs:
        if r.stage_event and r.stage_event.get("derived"):
            from hyppo_hep.stages import describe_ranges

            rep.notes.append(f"{r.label} (repeat {r.repeat}): " + "\n".join(describe_ranges(r.stage_event["derived"])))
        if not r.finished:
            rep.notes.append(f"{r.path} is still in progress (or was interrupted): {len(r.history.pending)} sets "
                             f"pending, {len(r.done)} done")


def section_mean_std(ctx: Context, rep: Report) -> None:
    """Figures 2 and 8: mean score against trial spread, one panel per (group, stage)."""
    if not ctx.groups:
        return
    ref = next(iter(ctx.groups.values()))[0]
    color_by = ctx.color_by or default_color_by(ref)
    panels = []
    for key, rs in ctx.groups.items():
        recs = _records(rs)
        if not recs:
            continue
        color = None
        if color_by and all(color_by in rec.params for rec in recs):
            color = numeric_values(rs[0].space, color_by, recs)
        panels.append({"title": _label(key), "mean": [x.mean for x in recs], "std": [x.std for x in recs],
                       "color": color})
    if not panels:
        return
    log = is_log(ref, color_by or "")
    fig = F.fig_mean_std(panels, color_label=(color_by or "") + (" (log scale)" if log else ""), color_log=log,
                         color_ticks=_ticks(ref, color_by or ""))
    rep.figure(fig, "mean_vs_std", "Score against variability of every set",
               f"Each point is a hyperparameter set: mean score over its trials against their standard deviation, "
               f"coloured by {color_by}{' on a log scale' if log else ''}; the histograms count sets per score bin; "
               f"the best set is circled (cf. Figures 2 and 8 of the Hyppo study).", ctx.formats)


def section_convergence(ctx: Context, rep: Report) -> None:
    """Figure 3: best score so far against sets evaluated, one line per (group, stage)."""
    lines = []
    for key, rs in ctx.groups.items():
        curves = [c for c in (F.best_so_far(finish_order(r)) for r in rs) if len(c)]
        if curves:
            lines.append({"label": _label(key), "curves": curves, "untrained": untrained_score(rs),
                          "n_initial": initial_design_size(rs[0].header, rs[0].space)})
    if not lines:
        return
    n_runs = [len(ln["curves"]) for ln in lines]
    parts = ["Best mean score found so far against the number of sets evaluated (in the order they finished)"]
    if max(n_runs) == 1:
        parts.append("one run per line, so no band")
    else:
        parts.append("line: mean over repeated runs, band: ±1 standard deviation over them"
                     + (" (a line of one run has no band)" if min(n_runs) == 1 else ""))
    if any(ln["n_initial"] for ln in lines):
        parts.append("dashed: end of the initial design")
    if any(ln["untrained"] is not None for ln in lines):
        parts.append("dotted: the untrained model's score (median over trials)")
    rep.figure(F.fig_convergence(lines), "convergence", "Convergence", "; ".join(parts) + " (cf. Figure 3).",
               ctx.formats)


def section_sensitivity(ctx: Context, rep: Report) -> None:
    """Figures 4 and 9: each hyperparameter's samples and the score against it."""
    for key, rs in ctx.groups.items():
        recs = _records(rs)
        space = rs[0].space
        if not recs or not space.free:
            continue
        mean = np.array([x.mean for x in recs])
        std = np.array([x.std for x in recs])
        thr = ctx.threshold if ctx.threshold is not None else float(np.quantile(mean, 0.25))
        names = [n for n in space.names if all(n in x.params for x in recs)]
        cols = [{"name": n, "values": numeric_values(space, n, recs), "log": is_log(rs[0], n),
                 "ticks": _ticks(rs[0], n)} for n in names]
        logs = [c["name"] for c in cols if c["log"]]
        rep.figure(F.fig_sensitivity(cols, mean, std, thr), f"sensitivity_{_slug(key)}", f"Sensitivity: {_label(key)}",
                   f"Top: where each hyperparameter was sampled; middle: mean score ±1σ of every set against the "
                   f"hyperparameter; bottom: only sets with mean below {thr:.4g}"
                   f"{' (the 25% quantile; set --threshold)' if ctx.threshold is None else ''}"
                   f"{'; log axes for ' + ', '.join(logs) if logs else ''} (cf. Figures 4 and 9).", ctx.formats)


def _scan_lines(r: Run, param: str, epochs_param: str | None) -> list[dict]:
    by: dict = {}
    for rec in r.done:
        by.setdefault(rec.params.get(epochs_param) if epochs_param else None, []).append(rec)
    lines = []
    for e, recs in sorted(by.items(), key=lambda kv: (kv[0] is None, kv[0])):
        recs.sort(key=lambda x: x.params[param])
        lines.append({"label": f"{e} epochs" if e is not None else "score", "x": [x.params[param] for x in recs],
                      "mean": [x.mean for x in recs], "std": [x.std for x in recs]})
    return lines


def section_scans(ctx: Context, rep: Report) -> None:
    """Figure 5: one-parameter scans, one line per number of epochs."""
    scans = [r for r in ctx.runs if r.is_scan]
    for r in scans:
        scan = r.stage_event["scan"]
        param = scan["param"]
        lines = _scan_lines(r, param, scan.get("epochs_param", "epochs") if scan.get("epochs") else None)
        if not lines:
            continue
        at = (r.stage_event.get("scan_at") or {}).get("at_set_id")
        rep.figure(F.fig_scan(param, lines, bool(scan.get("log"))), f"scan_{_slug((r.group, r.stage))}_{r.repeat}",
                   f"Scan of {param}: {r.label}",
                   f"Mean score ±1σ over trials against {param} on a {'log' if scan.get('log') else 'linear'} grid, "
                   f"every other hyperparameter fixed"
                   f"{f' at the best set (id {at}) of the previous stage' if at is not None else ''}; one line per "
                   f"number of epochs (cf. Figure 5).", ctx.formats)
    if not scans:
        rep.skip("One-parameter scan", "No scan stage in these runs (add a stage with `scan:` to the config, "
                 "see the README's Campaigns section).")


def section_pareto(ctx: Context, rep: Report) -> None:
    """Figures 6 and 10: (score, 1σ, model size) of each group's last search stage."""
    from hyppo_hep.analysis.pareto import model_size, pareto_mask

    for key, rs in ctx.last.values():
        recs = _records(rs)
        sizes = [model_size(x) for x in recs]
        keep = [i for i, (s, _) in enumerate(sizes) if s is not None]
        if not keep:
            rep.skip(f"Model size and Pareto front: {_label(key)}",
                     "No model size: the objective reports no info['n_params'] and no hyperparameter looks like a "
                     "layer size, so the (score, variability, size) selection is skipped.")
            continue
        src = {sizes[i][1] for i in keep}
        mean, std = np.array([recs[i].mean for i in keep]), np.array([recs[i].std for i in keep])
        size = np.array([sizes[i][0] for i in keep])
        front = pareto_mask(np.c_[mean, std, size])
        label = "trainable parameters" + (" (estimated from layer sizes)" if "estimated" in src else "")
        rep.figure(F.fig_pareto(mean, std, size, front, label, title=_label(key)), f"pareto_{_slug(key)}",
                   f"Model size and Pareto front: {_label(key)}",
                   f"Sets of the {key[1] or 'search'} stage by mean score and 1σ, coloured by model size (log scale). "
                   f"Black rings: the {int(front.sum())} Pareto-optimal sets of (score, 1σ, size), those no other set "
                   f"beats in all three; grey staircase: the front of (score, 1σ) alone, every set above and right of "
                   f"it is beaten in both; red ring: lowest score (cf. Figures 6 and 10).", ctx.formats)
        rows = [{"set_id": recs[i].set_id, **recs[i].params, "mean": recs[i].mean, "std": recs[i].std,
                 "n_params": sizes[i][0]} for j, i in enumerate(keep) if front[j]]
        rep.tables[f"Pareto-optimal sets: {_label(key)}"] = sorted(rows, key=lambda r: r["mean"])


def section_distributions(ctx: Context, rep: Report) -> None:
    """Figures 7 and 11: generated against true distributions of the best set."""
    if not ctx.groups:
        return
    best, run = best_set(ctx)
    feats = best_distributions(best) if best is not None else {}
    if not feats:
        rep.skip("Generated against true distributions",
                 "The objective stored no info['histograms'] in its trials (contract: {feature: {edges, truth, "
                 "generated}} per trial), so the best set's distributions cannot be drawn.")
        return
    rep.figure(F.fig_distributions(feats, f"best set {best.set_id} of {run.label}: {best.mean:.4g} ± {best.std:.2g}"),
               "distributions_best", "Generated against true distributions of the best set",
               "Black: truth; red: mean over the best set's trials of the generated distribution; band: ±1σ over "
               "trials; densities as the objective normalised them (cf. Figures 7 and 11).", ctx.formats)


def section_timing(ctx: Context, rep: Report) -> None:
    """Workers' busy and idle time, one figure per output directory."""
    from hyppo_hep.analysis.timing import intervals, utilization

    for root in dict.fromkeys(r.root for r in ctx.runs):
        rs = [r for r in ctx.runs if r.root == root]
        busy, t0, t1 = intervals([r.events for r in rs])
        if not busy:
            rep.skip(f"Timing: {root}", "No trial has start and end times.")
            continue
        util = utilization(busy, t0, t1)
        rep.figure(F.fig_timing(busy, t0, t1, util, root.name), f"timing_{_slug((root.name, None))}", f"Timing: {root}",
                   f"Each row is a worker; bars: trials (busy), gaps: idle. Utilization {util:.1%} = busy "
                   f"worker-seconds / (workers × wall time {t1 - t0:.4g} s).", ctx.formats)
        rep.tables.setdefault("Timing", []).append({"directory": str(root), "workers": len(busy),
                                                    "wall_time_s": round(t1 - t0, 3), "utilization": round(util, 4)})


def section_sobol(ctx: Context, rep: Report) -> None:
    """Global sensitivity: Sobol indices of a surrogate fitted to each (group, stage)."""
    from hyppo_hep.analysis.sobol import MissingDependency, surrogate_sobol

    for key, rs in ctx.groups.items():
        same = [r for r in rs if r.space.to_dict() == rs[0].space.to_dict()]
        title = f"Sobol indices: {_label(key)}"
        try:  # ValueError also when sets lack parameters (conditional, define-by-run): no Sobol then
            arrays = [r.history.arrays(r.space) for r in same]  # X, mean, std, n_ok per run
            X = np.vstack([a[0] for a in arrays])
            y = np.concatenate([a[1] for a in arrays])
            noise_var = np.concatenate([a[2] ** 2 / np.maximum(a[3], 1) for a in arrays])
            S = surrogate_sobol(X, y, rs[0].space.names, n=ctx.sobol_n, noise_var=noise_var)
        except MissingDependency as exc:
            rep.skip(title, f"{exc}: global sensitivity is skipped.")
            return
        except ValueError as exc:
            rep.skip(title, str(exc))
            continue
        rep.sobol.append((_label(key), S))
        fig = F.fig_sobol(S, f"{_label(key)}: Sobol indices of a {S['surrogate']} surrogate")
        rep.figure(fig, f"sobol_{_slug(key)}", title,
                   f"Global sensitivity of the score, from a {S['surrogate']} surrogate fitted to the {len(y)} "
                   f"finished sets (unit-cube coordinates): S1 is the share of variance one hyperparameter explains "
                   f"alone, ST with all its interactions, S2 the share of a pair's interaction (Saltelli sampling, "
                   f"{ctx.sobol_n} base points).", ctx.formats)


def section_tables(ctx: Context, rep: Report) -> None:
    """The ranked table of every finished set (sets.csv, top 30 in the page) and the
    interactive parallel coordinates."""
    from hyppo_hep.analysis.html import parallel_html

    names, rows = sets_table(ctx.runs)
    with open(ctx.out / "sets.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["rank", "run", "repeat", "set_id", *names, "mean", "std", "n_ok", "n_trials"])
        w.writeheader()
        for i, row in enumerate(rows, 1):
            w.writerow({"rank": i, **row})
    rep.tables["Best sets"] = [{"rank": i, **row} for i, row in enumerate(rows[:30], 1)]
    rep.parallel = parallel_html(names, rows, ctx.out)


SECTIONS = (section_summary, section_notes, section_mean_std, section_convergence, section_sensitivity, section_scans,
            section_pareto, section_distributions, section_timing, section_sobol, section_multiobjective, section_classifier_baseline,
            section_tables)


def build_report(runs: list[Run], out: Path, *, color_by: str | None = None, threshold: float | None = None,
                 formats=("png", "pdf"), sobol_n: int = 256) -> Report:
    """Every section over ``runs``: figures (``formats``), sets.csv and report.html in ``out``."""
    from hyppo_hep.analysis.html import write_html

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = Context(runs, out, color_by, threshold, tuple(formats), sobol_n)
    rep = Report(out)
    for section in SECTIONS:
        section(ctx, rep)
    write_html(rep, runs)
    return rep


def best_distributions(record) -> dict:
    """The best set's per-feature truth, mean and ±1σ of the generated distributions over its
    successful trials (see the module docstring for the contract); {} when absent."""
    per: dict[str, list] = {}
    truth: dict[str, tuple] = {}
    for t in record.trials.values():
        hs = t.info.get("histograms") if t.ok and isinstance(t.info, dict) else None
        if not isinstance(hs, dict):
            continue
        for name, h in hs.items():
            try:
                edges, tr, gen = (np.asarray(h[k], float) for k in ("edges", "truth", "generated"))
            except (KeyError, TypeError, ValueError):
                continue
            if len(edges) != len(tr) + 1 or len(gen) != len(tr):
                continue
            if name not in truth:
                truth[name] = (edges, tr, h.get("unit") if isinstance(h.get("unit"), str) else UNITS.get(name))
            if len(gen) == len(truth[name][1]):
                per.setdefault(name, []).append(gen)
    out = {}
    for name, gens in per.items():
        G = np.vstack(gens)
        out[name] = {"edges": truth[name][0], "truth": truth[name][1], "mean": G.mean(axis=0), "unit": truth[name][2],
                     "std": G.std(axis=0, ddof=1) if len(G) > 1 else np.zeros(G.shape[1]), "n": len(G)}
    return out


# Units of the angles every detector uses, for histograms that do not name theirs.
UNITS = {"theta": "rad", "phi": "rad"}
