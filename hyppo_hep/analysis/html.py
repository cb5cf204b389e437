"""The report page: ``report.html`` beside its figures, offline.

The page links the figures (PNG, PDF beside them) and the plotly library (``plotly.min.js``,
written once into the report directory) instead of embedding them: the page stays a few
tens of kB, and the report directory, copied whole, opens offline. (Embedding both made a
5.4 MB page, 4.6 MB of it the plotly library.)
"""

from __future__ import annotations

import html
import json
from pathlib import Path

PLOTLY_JS = "plotly.min.js"

STYLE = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
         "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;font-size:12px;margin:1em 0}"
         "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}th{background:#f2f2f2}"
         ".note{background:#fff6d6;padding:.5em 1em;border-left:4px solid #e0b000;white-space:pre-wrap}"
         ".summary{background:#eef5ff;padding:.5em 1em;border-left:4px solid #3070c0}"
         "figcaption{font-size:13px;color:#444;margin:.3em 0 1.5em}")


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


def _named(d: dict) -> str:
    """``{"name": "rbf", "options": {...}}`` as ``rbf (k=v, ...)``."""
    name = d.get("name", "?")
    opts = d.get("options") or {}
    return name + (f" ({', '.join(f'{k}={json.dumps(v)}' for k, v in opts.items())})" if opts else "")


def summary_html(s: dict) -> str:
    """The top of the page: the best set, its configuration and the campaign it came from."""
    if not s:
        return ""
    epochs = f", trained {s['budget']} epochs" if s.get("budget") else ""
    lines = [f"<p><b>Best set</b>: id {s['set_id']} of {html.escape(s['run'])}: score {_fmt(s['mean'])} ± "
             f"{_fmt(s['std'])} (mean ± 1σ over {s['n_ok']} of {s['n_trials']} trials{epochs}).</p>",
             _table([{k: v for k, v in s["params"].items()}])]
    if s["info"]:
        lines.append("<p>Mean over its trials of what the objective recorded:</p>" + _table([s["info"]]))
    campaign = [("objective", _named(s["objective"])), ("strategy", _named(s["strategy"]) if s["strategy"] else "-"),
                ("trials per set", s.get("trials")), ("seed", s.get("seed")),
                ("stages", ", ".join(s["stages"]) if s.get("stages") else "-"),
                ("output", ", ".join(s["directories"])), ("journal of the best set", s["journal"]),
                ("trial seeds of the best set", ", ".join(map(str, s["seeds"])))]
    rows = "".join(f"<tr><th style='text-align:left'>{k}</th><td style='text-align:left'>{_fmt(v)}</td></tr>"
                   for k, v in campaign)
    return "<div class='summary'><h2>Summary</h2>" + "".join(lines) + f"<table>{rows}</table></div>"


def _numeric_dimension(name: str, vals: list) -> dict:
    """A parallel-coordinates axis; values spanning a factor of 100 or more (learning rates)
    on a log scale, which plotly's parcoords lacks: log10 values, ticks at the decades."""
    import math

    lo, hi = min(vals), max(vals)
    if lo <= 0 or hi / lo < 100:
        return {"label": name, "values": vals}
    decades = list(range(math.ceil(math.log10(lo)), math.floor(math.log10(hi)) + 1))
    return {"label": f"{name} (log scale)", "values": [math.log10(v) for v in vals],
            "tickvals": decades, "ticktext": [f"{10.0 ** k:g}" for k in decades]}


def parallel_html(names: list[str], rows: list[dict], out: Path) -> str:
    """An interactive parallel-coordinates view of every set (plotly; its library written
    once beside the page as plotly.min.js); a note when plotly is not installed."""
    try:
        import plotly.graph_objects as go
        import plotly.io as pio
        from plotly.offline import get_plotlyjs
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
            dims.append(_numeric_dimension(n, vals))
        else:
            levels = sorted({str(v) for v in vals})
            dims.append({"label": n, "values": [levels.index(str(v)) for v in vals],
                         "tickvals": list(range(len(levels))), "ticktext": levels})
    dims.append({"label": "std", "values": [r["std"] for r in rows]})
    dims.append({"label": "mean score", "values": [r["mean"] for r in rows]})
    fig = go.Figure(go.Parcoords(line={"color": [r["mean"] for r in rows], "colorscale": "Viridis_r",
                                       "showscale": True, "colorbar": {"title": "mean"}}, dimensions=dims))
    fig.update_layout(height=480, margin={"l": 60, "r": 60, "t": 50, "b": 30})
    js = get_plotlyjs()
    path = Path(out) / PLOTLY_JS
    if not path.exists() or path.stat().st_size != len(js.encode()):
        path.write_text(js, encoding="utf-8")
    return pio.to_html(fig, include_plotlyjs=PLOTLY_JS, full_html=False)


def _figure_html(item) -> str:
    name = Path(item.stem).name
    links = " ".join(f"<a href='{html.escape(name)}.{ext}'>{ext.upper()}</a>"
                     for ext in ("png", "pdf", "svg") if Path(f"{item.stem}.{ext}").exists())
    clipped = (f"<p class='note'>Text outside the figure: {html.escape('; '.join(item.clipped))}</p>"
               if item.clipped else "")
    return (f"<figure><img alt='{html.escape(item.title)}' src='{html.escape(name)}.png'>"
            f"<figcaption>{html.escape(item.caption)} {links}</figcaption></figure>{clipped}")


def write_html(rep, runs) -> Path:
    """``report.html`` in ``rep.out``: summary, runs, notes, every figure and note, Sobol
    tables, parallel coordinates and the tables of ``rep``."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hyppo_hep report</title><style>{STYLE}</style>"
             "</head><body><h1>hyppo_hep report</h1>", summary_html(rep.summary)]
    summary = [{"journal": str(r.path), "group": r.group, "stage": r.stage or "", "repeat": r.repeat,
                "strategy": r.strategy, "sets": len(r.history), "done": len(r.done), "failed": len(r.history.failed),
                "pending": len(r.history.pending), "finished": "yes" if r.finished else "in progress"} for r in runs]
    parts.append("<h2>Runs</h2>" + _table(summary))
    parts += [f"<p class='note'>{html.escape(note)}</p>" for note in rep.notes]
    for item in rep.items:
        parts.append(f"<h2>{html.escape(item.title)}</h2>")
        parts.append(_figure_html(item) if item.stem else f"<p class='note'>{html.escape(item.note or '')}</p>")
    for label, S in rep.sobol:
        rows = [{"hyperparameter": n, "S1": S["S1"][i], "S1 95%": S["S1_conf"][i], "ST": S["ST"][i],
                 "ST 95%": S["ST_conf"][i]} for i, n in enumerate(S["names"])]
        parts.append(f"<h3>Sobol indices: {html.escape(label)}</h3>" + _table(rows))
    parts.append("<h2>All sets: parallel coordinates</h2>" + rep.parallel)
    for title, rows in rep.tables.items():
        parts.append(f"<h2>{html.escape(title)}</h2>" + _table(rows))
    parts.append("<p>All finished sets, best first: <a href='sets.csv'>sets.csv</a></p></body></html>")
    path = rep.out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
