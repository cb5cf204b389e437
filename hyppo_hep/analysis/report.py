"""Build every figure of a set of runs and the offline HTML report around them.

Data contracts with objectives (read from the trials' ``info`` in the journal):

- ``info["n_params"]``: trainable parameters of the trained model (int). Colours the
  focus-stage figure and is the third Pareto objective. Without it, the size is estimated
  from layer-size hyperparameters (see ``pareto.model_size``); without those, that figure
  is skipped and the report says why.
- ``info["histograms"]``: ``{feature: {"edges": [b+1 floats], "truth": [b], "generated":
  [b]}}``, the true and generated distributions of a trial's model on validation data
  (densities or counts, the same normalisation in every trial). The best set's trials are
  drawn as truth, mean generated and a ±1σ band over trials; without it the report says so.

The report (``report.html``) embeds every figure as a PNG and the interactive parallel
coordinates (plotly, JavaScript inline) so that it opens offline; PNG and PDF of each
figure and ``sets.csv`` (all finished sets, best first) are written beside it.
"""

from __future__ import annotations

import base64
import csv
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hyppo_hep.analysis import figures as F
from hyppo_hep.analysis.load import Run, numeric_values, search_runs, sets_table
from hyppo_hep.space import CategoricalParam, FloatParam

INITIAL_KEYS = ("n_initial", "n_init", "initial", "n_initial_points", "initial_points", "n_design")


@dataclass
class Item:
    title: str
    caption: str
    stem: str | None = None  # figure files (without suffix), None for a note only
    note: str | None = None


@dataclass
class Report:
    out: Path
    items: list[Item] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: dict = field(default_factory=dict)
    sobol: list[tuple[str, dict]] = field(default_factory=list)

    def figure(self, fig, name: str, title: str, caption: str, formats) -> None:
        stem = self.out / name
        F.save(fig, stem, formats)
        self.items.append(Item(title, caption, str(stem)))

    def skip(self, title: str, why: str) -> None:
        self.items.append(Item(title, "", None, why))


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


def initial_design_size(header: dict) -> int | None:
    """The end of the initial design, from the strategy's options (or its default, if the
    strategy class exposes ``n_initial``); None for strategies without one."""
    strat = header.get("strategy") or {}
    options = strat.get("options") or {}
    for key in INITIAL_KEYS:
        if isinstance(options.get(key), int):
            return options[key]
    if strat.get("name") in ("random", "lhs", "grid", None):
        return None
    try:
        from hyppo_hep import strategy as strategies
        from hyppo_hep.space import Space

        obj = strategies.build(strat["name"], options, Space.from_dict(header["space"]), int(header.get("budget", 50)))
        for key in INITIAL_KEYS:
            v = getattr(obj, key, None) or getattr(obj, "_" + key, None)
            if isinstance(v, int):
                return v
    except Exception:  # noqa: BLE001 — the marker is optional; a strategy not importable here has none
        return None
    return None


def finish_order(run: Run) -> np.ndarray:
    """Mean scores of the run's finished sets in the order they finished (NaN: failed)."""
    recs = [r for r in run.history.sets.values() if r.state != "pending"]
    recs.sort(key=lambda r: (r.finished if r.finished is not None else math.inf, r.set_id))
    return np.array([r.mean if r.state == "done" else np.nan for r in recs])


def _param(run: Run, name: str):
    return next((p for p in run.space.params if p.name == name), None)


def _is_log(run: Run, name: str) -> bool:
    p = _param(run, name)
    return isinstance(p, FloatParam) and p.log


def _ticks(run: Run, name: str):
    p = _param(run, name)
    return [str(c) for c in p.choices] if isinstance(p, CategoricalParam) else None


def _label(key) -> str:
    group, stage = key
    return f"{group} / {stage}" if stage else group


# --- the report ---------------------------------------------------------------------------

def build_report(runs: list[Run], out: Path, *, color_by: str | None = None, threshold: float | None = None,
                 formats=("png", "pdf"), sobol_n: int = 256) -> Report:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(out)
    groups = search_runs(runs)
    first_key = next(iter(groups), None)
    first_stage = {}
    for (g, stage), rs in groups.items():
        first_stage.setdefault(g, (g, stage))

    # stage summaries and derived ranges
    for r in runs:
        if r.stage_event and r.stage_event.get("derived"):
            from hyppo_hep.stages import describe_ranges

            rep.notes.append(f"{r.label} (repeat {r.repeat}): " + "\n".join(describe_ranges(r.stage_event["derived"])))
        if not r.finished:
            rep.notes.append(f"{r.path} is still in progress (or was interrupted): {len(r.history.pending)} sets pending, "
                             f"{len(r.done)} done")

    # 1. mean vs std per (group, stage)
    if groups:
        ref = groups[first_key][0]
        color_by = color_by or default_color_by(ref)
        panels = []
        for key, rs in groups.items():
            recs = [rec for r in rs for rec in r.done]
            if not recs:
                continue
            color = None
            if color_by and all(color_by in rec.params for rec in recs):
                color = numeric_values(rs[0].space, color_by, recs)
            panels.append({"title": _label(key), "mean": [x.mean for x in recs], "std": [x.std for x in recs],
                           "color": color})
        if panels:
            fig = F.fig_mean_std(panels, color_label=color_by or "", color_log=_is_log(ref, color_by or ""),
                                 color_ticks=_ticks(ref, color_by or ""))
            rep.figure(fig, "mean_vs_std", "Score against variability of every set",
                       f"Each point is a hyperparameter set: mean score over its trials against their standard "
                       f"deviation, coloured by {color_by}; the histograms count sets per score bin; the best set "
                       f"is circled (cf. Figures 2 and 8 of the Hyppo study).", formats)

    # 2. convergence, one line per (group, stage)
    lines = []
    for key, rs in groups.items():
        curves = [F.best_so_far(finish_order(r)) for r in rs]
        curves = [c for c in curves if len(c)]
        if curves:
            lines.append({"label": _label(key), "curves": curves, "n_initial": initial_design_size(rs[0].header)})
    if lines:
        rep.figure(F.fig_convergence(lines), "convergence", "Convergence",
                   "Best mean score found so far against the number of sets evaluated (in the order they finished); "
                   "line: mean over repeated runs, band: ±1 standard deviation; dashed: end of the initial design "
                   "(cf. Figure 3).", formats)

    # 3. sensitivity per (group, stage)
    for key, rs in groups.items():
        recs = [rec for r in rs for rec in r.done]
        space = rs[0].space
        if not recs or not space.free:
            continue
        mean = np.array([x.mean for x in recs])
        std = np.array([x.std for x in recs])
        thr = threshold if threshold is not None else float(np.quantile(mean, 0.25))
        names = [n for n in space.names if all(n in x.params for x in recs)]
        cols = [{"name": n, "values": numeric_values(space, n, recs), "log": _is_log(rs[0], n),
                 "ticks": _ticks(rs[0], n)} for n in names]
        slug = _slug(key)
        rep.figure(F.fig_sensitivity(cols, mean, std, thr), f"sensitivity_{slug}", f"Sensitivity: {_label(key)}",
                   f"Top: where each hyperparameter was sampled; middle: mean score ±1σ of every set against the "
                   f"hyperparameter; bottom: only sets with mean below {thr:.4g}"
                   f"{' (the 25% quantile; set --threshold)' if threshold is None else ''} (cf. Figures 4 and 9).",
                   formats)

    # 4. scans
    scans = [r for r in runs if r.is_scan]
    for r in scans:
        scan = r.stage_event["scan"]
        param, ep = scan["param"], scan.get("epochs_param", "epochs")
        by: dict = {}
        for rec in r.done:
            by.setdefault(rec.params.get(ep) if scan.get("epochs") else None, []).append(rec)
        slines = []
        for e, recs in sorted(by.items(), key=lambda kv: (kv[0] is None, kv[0])):
            recs.sort(key=lambda x: x.params[param])
            slines.append({"label": f"{e} epochs" if e is not None else "score",
                           "x": [x.params[param] for x in recs], "mean": [x.mean for x in recs],
                           "std": [x.std for x in recs]})
        if slines:
            at = (r.stage_event.get("scan_at") or {}).get("at_set_id")
            rep.figure(F.fig_scan(param, slines, bool(scan.get("log"))), f"scan_{_slug((r.group, r.stage))}_{r.repeat}",
                       f"Scan of {param}: {r.label}",
                       f"Mean score ±1σ over trials against {param} on a {'log' if scan.get('log') else 'linear'} grid, "
                       f"every other hyperparameter fixed"
                       f"{f' at the best set (id {at}) of the previous stage' if at is not None else ''}; one line per "
                       f"number of epochs (cf. Figure 5).", formats)
    if not scans:
        rep.skip("One-parameter scan", "No scan stage in these runs (add a stage with `scan:` to the config, "
                 "see the README's Campaigns section).")

    # 5. Pareto front of the last search stage of each group
    from hyppo_hep.analysis.pareto import model_size, pareto_mask

    last: dict = {}
    for key, rs in groups.items():
        last[key[0]] = (key, rs)
    for g, (key, rs) in last.items():
        recs = [rec for r in rs for rec in r.done]
        sizes = [model_size(x) for x in recs]
        keep = [i for i, (s, _) in enumerate(sizes) if s is not None]
        if not keep:
            rep.skip(f"Model size and Pareto front: {_label(key)}",
                     "No model size: the objective reports no info['n_params'] and no hyperparameter looks like a "
                     "layer size, so the (score, variability, size) selection is skipped.")
            continue
        src = {sizes[i][1] for i in keep}
        mean = np.array([recs[i].mean for i in keep])
        std = np.array([recs[i].std for i in keep])
        size = np.array([sizes[i][0] for i in keep])
        front = pareto_mask(np.c_[mean, std, size])
        label = "trainable parameters" + (" (estimated from layer sizes)" if "estimated" in src else "")
        rep.figure(F.fig_pareto(mean, std, size, front, label, title=_label(key)), f"pareto_{_slug(key)}",
                   f"Model size and Pareto front: {_label(key)}",
                   f"Sets of the {key[1] or 'search'} stage by mean score and 1σ, coloured by model size; ringed: "
                   f"the {int(front.sum())} Pareto-optimal sets of (score, 1σ, size), i.e. those no other set beats "
                   f"in all three; red: lowest score (cf. Figures 6 and 10).", formats)
        rows = [{"set_id": recs[i].set_id, **recs[i].params, "mean": recs[i].mean, "std": recs[i].std,
                 "n_params": sizes[i][0]} for j, i in enumerate(keep) if front[j]]
        rep.tables[f"Pareto-optimal sets: {_label(key)}"] = sorted(rows, key=lambda r: r["mean"])

    # 6. distributions of the best set
    if groups:
        key, rs = list(last.values())[0] if len(last) == 1 else min(
            last.values(), key=lambda kr: min((x.mean for r in kr[1] for x in r.done), default=math.inf))
        best = min((x for r in rs for x in r.done), key=lambda x: x.mean, default=None)
        feats = best_distributions(best) if best is not None else {}
        if feats:
            rep.figure(F.fig_distributions(feats, f"best set {best.set_id} of {_label(key)}: {best.mean:.4g} ± {best.std:.2g}"),
                       "distributions_best", "Generated against true distributions of the best set",
                       "Black: truth; red: mean over the best set's trials of the generated distribution; band: ±1σ "
                       "over trials (cf. Figures 7 and 11).", formats)
        else:
            rep.skip("Generated against true distributions",
                     "The objective stored no info['histograms'] in its trials (contract: {feature: {edges, truth, "
                     "generated}} per trial), so the best set's distributions cannot be drawn.")

    # 7. timing per output directory
    from hyppo_hep.analysis.timing import intervals, utilization

    for root in dict.fromkeys(r.root for r in runs):
        rs = [r for r in runs if r.root == root]
        busy, t0, t1 = intervals([r.events for r in rs])
        if not busy:
            rep.skip(f"Timing: {root}", "No trial has start and end times.")
            continue
        util = utilization(busy, t0, t1)
        rep.figure(F.fig_timing(busy, t0, t1, util, root.name), f"timing_{_slug((root.name, None))}",
                   f"Timing: {root}",
                   f"Each row is a worker; bars: trials (busy), gaps: idle. Utilization {util:.1%} = busy "
                   f"worker-seconds / (workers × wall time {t1 - t0:.4g} s).", formats)
        rep.tables.setdefault("Timing", []).append({"directory": str(root), "workers": len(busy),
                                                    "wall_time_s": round(t1 - t0, 3), "utilization": round(util, 4)})

    # 8. Sobol indices on a surrogate
    from hyppo_hep.analysis.sobol import MissingDependency, surrogate_sobol

    for key, rs in groups.items():
        same = [r for r in rs if r.space.to_dict() == rs[0].space.to_dict()]
        title = f"Sobol indices: {_label(key)}"
        try:  # ValueError also when sets lack parameters (conditional, define-by-run): no Sobol then
            arrays = [r.history.arrays(r.space) for r in same]  # X, mean, std, n_ok per run
            X = np.vstack([a[0] for a in arrays])
            y = np.concatenate([a[1] for a in arrays])
            noise_var = np.concatenate([a[2] ** 2 / np.maximum(a[3], 1) for a in arrays])
            S = surrogate_sobol(X, y, rs[0].space.names, n=sobol_n, noise_var=noise_var)
        except MissingDependency as exc:
            rep.skip(title, f"{exc}: global sensitivity is skipped.")
            break
        except ValueError as exc:
            rep.skip(title, str(exc))
            continue
        rep.sobol.append((_label(key), S))
        rep.figure(F.fig_sobol(S, _label(key)), f"sobol_{_slug(key)}", title,
                   f"Global sensitivity of the score, from a Gaussian-process surrogate fitted to the {len(y)} "
                   f"finished sets (unit-cube coordinates): S1 is the share of variance one hyperparameter explains "
                   f"alone, ST with all its interactions, S2 the share of a pair's interaction (Saltelli sampling, "
                   f"{sobol_n} base points).", formats)

    # 9. the ranked table (CSV) and parallel coordinates
    names, rows = sets_table([r for r in runs])
    with open(out / "sets.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["rank", "run", "repeat", "set_id", *names, "mean", "std", "n_ok", "n_trials"])
        w.writeheader()
        for i, row in enumerate(rows, 1):
            w.writerow({"rank": i, **row})
    rep.tables["Best sets"] = [{"rank": i, **row} for i, row in enumerate(rows[:30], 1)]
    rep.parallel = parallel_html(names, rows)
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
                truth[name] = (edges, tr)
            if len(gen) == len(truth[name][1]):
                per.setdefault(name, []).append(gen)
    out = {}
    for name, gens in per.items():
        G = np.vstack(gens)
        out[name] = {"edges": truth[name][0], "truth": truth[name][1], "mean": G.mean(axis=0),
                     "std": G.std(axis=0, ddof=1) if len(G) > 1 else np.zeros(G.shape[1]), "n": len(G)}
    return out


def parallel_html(names: list[str], rows: list[dict]) -> str:
    """An interactive parallel-coordinates view of every set (plotly, its JavaScript inline
    so that the page works offline); a note when plotly is not installed."""
    try:
        import plotly.graph_objects as go
        import plotly.io as pio
    except ImportError:
        return "<p class='note'>plotly is not installed (pip install plotly, or the hyppo_hep[plots] extra): no " \
               "interactive parallel-coordinates view.</p>"
    if not rows:
        return ""
    dims = []
    runs = sorted({r["run"] for r in rows})
    if len(runs) > 1:
        dims.append({"label": "run", "values": [runs.index(r["run"]) for r in rows],
                     "tickvals": list(range(len(runs))), "ticktext": runs})
    for n in names:
        vals = [r.get(n) for r in rows]
        if len({repr(v) for v in vals}) <= 1:
            continue
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            dims.append({"label": n, "values": vals})
        else:
            levels = sorted({str(v) for v in vals})
            dims.append({"label": n, "values": [levels.index(str(v)) for v in vals],
                         "tickvals": list(range(len(levels))), "ticktext": levels})
    dims.append({"label": "std", "values": [r["std"] for r in rows]})
    dims.append({"label": "mean score", "values": [r["mean"] for r in rows]})
    fig = go.Figure(go.Parcoords(line={"color": [r["mean"] for r in rows], "colorscale": "Viridis_r",
                                       "showscale": True, "colorbar": {"title": "mean"}}, dimensions=dims))
    fig.update_layout(height=480, margin={"l": 60, "r": 60, "t": 50, "b": 30})
    return pio.to_html(fig, include_plotlyjs=True, full_html=False)


def _slug(key) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9]+", "_", "_".join(str(k) for k in key if k)).strip("_") or "run"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    return html.escape(str(v))


def _table(rows: list[dict]) -> str:
    if not rows:
        return "<p>none</p>"
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(r.get(c, ''))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_html(rep: Report, runs: list[Run]) -> Path:
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>hyppo_hep report</title><style>",
             "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
             "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;font-size:12px;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f2f2f2}"
             ".note{background:#fff6d6;padding:.5em 1em;border-left:4px solid #e0b000;white-space:pre-wrap}"
             "figcaption{font-size:13px;color:#444;margin:.3em 0 1.5em}",
             "</style></head><body><h1>hyppo_hep report</h1>"]
    summary = [{"journal": str(r.path), "group": r.group, "stage": r.stage or "", "repeat": r.repeat,
                "strategy": r.strategy, "sets": len(r.history), "done": len(r.done), "failed": len(r.history.failed),
                "pending": len(r.history.pending), "finished": "yes" if r.finished else "in progress"} for r in runs]
    parts.append("<h2>Runs</h2>" + _table(summary))
    for note in rep.notes:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    for item in rep.items:
        parts.append(f"<h2>{html.escape(item.title)}</h2>")
        if item.stem is None:
            parts.append(f"<p class='note'>{html.escape(item.note or '')}</p>")
            continue
        png = Path(item.stem + ".png")
        data = base64.b64encode(png.read_bytes()).decode() if png.exists() else ""
        links = " ".join(f"<a href='{html.escape(Path(item.stem).name)}.{ext}'>{ext.upper()}</a>"
                         for ext in ("png", "pdf") if Path(f"{item.stem}.{ext}").exists())
        parts.append(f"<figure><img alt='{html.escape(item.title)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(item.caption)} {links}</figcaption></figure>")
    for label, S in rep.sobol:
        rows = [{"hyperparameter": n, "S1": S["S1"][i], "S1 95%": S["S1_conf"][i], "ST": S["ST"][i],
                 "ST 95%": S["ST_conf"][i]} for i, n in enumerate(S["names"])]
        parts.append(f"<h3>Sobol indices: {html.escape(label)}</h3>" + _table(rows))
    parts.append("<h2>All sets: parallel coordinates</h2>" + getattr(rep, "parallel", ""))
    for title, rows in rep.tables.items():
        parts.append(f"<h2>{html.escape(title)}</h2>" + _table(rows))
    parts.append("<p>All finished sets, best first: <a href='sets.csv'>sets.csv</a></p></body></html>")
    path = rep.out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
