"""The analysis figures: one function per figure, data in, matplotlib Figure out.

Figures are built on ``matplotlib.figure.Figure`` (no pyplot, no global state, no display
needed) and sized for a paper: about 3.3 inches per panel, 9-10 pt text. matplotlib is
imported when a figure is drawn, never by ``import hyppo_hep``. :func:`save` writes PNG
and PDF.

Scores are "lower is better" (the study's Wasserstein distance); ``score_label`` names it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

STYLE = {"font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "legend.fontsize": 8,
         "xtick.labelsize": 8, "ytick.labelsize": 8, "figure.dpi": 100, "savefig.dpi": 150,
         "axes.grid": True, "grid.alpha": 0.25}
BEST = "#d62728"
CMAP = "viridis"


def _figure(w: float, h: float, layout: str | None = "constrained"):
    import matplotlib

    with matplotlib.rc_context(STYLE):
        from matplotlib.figure import Figure

        return Figure(figsize=(w, h), layout=layout)


def _rc():
    import matplotlib

    return matplotlib.rc_context(STYLE)


def save(fig, path_stem: str | Path, formats=("png", "pdf")) -> list[Path]:
    """Write ``fig`` as ``path_stem.png`` and ``.pdf``; returns the paths."""
    out = []
    with _rc():
        for fmt in formats:
            p = Path(f"{path_stem}.{fmt}")
            fig.savefig(p, format=fmt)
            out.append(p)
    return out


def text_outside(fig, tol_px: float = 1.0) -> list[str]:
    """What of ``fig``'s text (titles, axis and tick labels, legends, colour bars, suptitle)
    runs past the canvas at its saved size and dpi: one description per offender, [] when
    everything is inside. Draws the figure once (Agg) to know where text lands."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with _rc():
        fig.set_dpi(STYLE["savefig.dpi"])  # where text lands depends on the dpi it is drawn at
        canvas = FigureCanvasAgg(fig)
        fig.draw_without_rendering()  # layout and text placement without painting pixels
        if fig.get_layout_engine() is not None:
            fig.draw_without_rendering()  # constrained layout settles on its second pass, which is what gets saved
        renderer = canvas.get_renderer()
        W, H = fig.bbox.width, fig.bbox.height
        parts = [(_axes_name(ax), ax.get_tightbbox(renderer)) for ax in fig.axes]
        parts += [(f"legend of {len(leg.get_texts())} entries", leg.get_window_extent(renderer)) for leg in fig.legends]
        parts += [(f"title '{t.get_text()}'", t.get_window_extent(renderer))
                  for t in (fig._suptitle, fig._supxlabel, fig._supylabel) if t is not None and t.get_text()]
        bad = []
        for name, bb in parts:
            if bb is None:
                continue
            over = {"left": -bb.x0, "right": bb.x1 - W, "bottom": -bb.y0, "top": bb.y1 - H}
            for side, px in over.items():
                if px > tol_px:
                    bad.append(f"{name}: {px:.0f} px past the {side} edge")
        return bad


def _axes_name(ax) -> str:
    if ax.get_label() == "<colorbar>":
        return f"colour bar '{ax.get_ylabel() or ax.get_xlabel()}'"
    return f"axes '{ax.get_title() or ax.get_xlabel() or ax.get_ylabel()}'"


def _int_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _norm(values: np.ndarray, log: bool):
    from matplotlib.colors import LogNorm, Normalize

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return Normalize(0, 1)
    if log and np.all(v > 0) and v.max() > v.min():
        return LogNorm(v.min(), v.max())
    return Normalize(v.min(), v.max() if v.max() > v.min() else v.min() + 1)


def log_ticks(axis, values) -> None:
    """Readable ticks on a log axis over ``values``: decades only when they span more than
    two, 1-3 steps over one to two, else 1-2-5 steps; plain numbers (20, 50, 100) between 0.01 and 10^4, powers of ten
    outside; no minor-tick labels (they crowd into each other on a narrow panel)."""
    from matplotlib.ticker import FuncFormatter, LogFormatterSciNotation, LogLocator, NullFormatter

    v = np.asarray(values, float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return
    decades = math.log10(v.max() / v.min()) if v.max() > v.min() else 0.0
    # ticks about a third of a decade apart at least: closer, their labels run into each other
    subs = (1.0,) if decades > 2 else ((1.0, 3.0) if decades > 1 else (1.0, 2.0, 5.0))
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=8))
    axis.set_minor_formatter(NullFormatter())
    if v.min() >= 1e-2 and v.max() <= 1e4:
        axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    else:
        axis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False))


def fig_mean_std(panels: list[dict], score_label: str = "score (mean over trials)", color_label: str = "",
                 color_log: bool = False, color_ticks: list[str] | None = None):
    """Figures 2 and 8: every set's mean score against its trial spread (1σ), coloured by a
    hyperparameter, with the histogram of mean scores on top; one column per panel.

    ``panels``: dicts with ``title``, ``mean`` and ``std`` (``n``), ``color`` (``n`` or None).
    The set with the lowest mean is circled. ``color_ticks`` names categorical levels."""
    with _rc():
        k = len(panels)
        # room for the colour bar and its tick labels (category names can be long)
        bar = 0.0 if all(p.get("color") is None for p in panels) else 0.9 + 0.065 * max(map(len, color_ticks or [""]))
        fig = _figure(3.4 * k + bar, 4.2)
        gs = fig.add_gridspec(2, k, height_ratios=[1, 3])
        colored = [np.asarray(p["color"], float) for p in panels if p.get("color") is not None]
        all_color = np.concatenate(colored or [np.array([])])
        norm = _norm(all_color, color_log)
        means = np.concatenate([np.asarray(p["mean"], float) for p in panels])
        bins = np.linspace(np.nanmin(means), np.nanmax(means), 31) if means.size and np.ptp(means) > 0 else 10
        sc = None
        ax0 = None
        for j, p in enumerate(panels):
            mean, std = np.asarray(p["mean"], float), np.asarray(p["std"], float)
            top = fig.add_subplot(gs[0, j])
            ax = fig.add_subplot(gs[1, j], sharex=top, sharey=ax0)
            ax0 = ax0 or ax
            top.hist(mean, bins=bins, color="0.45")
            top.yaxis.set_major_locator(_int_locator())
            top.set_ylabel("sets")
            top.set_title(f"{p['title']} ({len(mean)} sets)")
            top.tick_params(labelbottom=False)
            if p.get("color") is not None:
                sc = ax.scatter(mean, std, c=p["color"], cmap=CMAP, norm=norm, s=14, alpha=0.85, edgecolors="none",
                                label="sets")
            else:
                ax.scatter(mean, std, s=14, color="C0", alpha=0.85, label="sets")
            if len(mean):
                b = int(np.nanargmin(mean))
                ax.scatter([mean[b]], [std[b]], s=160, facecolors="none", edgecolors=BEST, linewidths=1.8,
                           label=f"best: {mean[b]:.4g} ± {std[b]:.2g}")
            ax.set_xlabel(score_label)
            if j == 0:
                ax.set_ylabel("trial spread 1σ (same units)")
            ax.legend(loc="best")  # scatter points count: the legend goes where it hides fewest
        if sc is not None:
            cb = fig.colorbar(sc, ax=fig.axes, shrink=0.8, pad=0.01)
            cb.set_label(color_label)
            if color_log:
                log_ticks(cb.ax.yaxis, all_color)
            if color_ticks:
                cb.set_ticks(range(len(color_ticks)))
                cb.set_ticklabels(color_ticks)
        return fig


def best_so_far(means_in_order: np.ndarray) -> np.ndarray:
    """Running minimum of the mean scores in the order the sets finished (NaN = a failed set,
    which keeps the previous best). Shape ``(n,)``; NaN before the first success."""
    m = np.asarray(means_in_order, dtype=float)
    out = np.full(len(m), np.nan)
    best = np.nan
    for i, v in enumerate(m):
        if np.isfinite(v) and not (v >= best):
            best = v
        out[i] = best
    return out


def band(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard deviation over repeated runs at each set index (runs of different
    lengths count where they have data): x (1..n), mean, std, number of runs."""
    n = max(len(c) for c in curves)
    M = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        M[i, :len(c)] = c
    count = np.sum(np.isfinite(M), axis=0)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = np.nanmean(M, axis=0)
            std = np.where(count > 1, np.nanstd(M, axis=0, ddof=1) if len(curves) > 1 else 0.0, 0.0)
    return np.arange(1, n + 1), mean, std, count


def fig_convergence(lines: list[dict], score_label: str = "best mean score so far"):
    """Figure 3: best score so far against the number of finished sets, mean (line) and ±1σ
    band over repeated runs, one line per strategy; the end of the initial design dashed.

    ``lines``: dicts with ``label``, ``curves`` (list of best-so-far arrays, one per run),
    ``n_initial`` (int or None) and optionally ``untrained`` (the untrained model's score,
    drawn as a dotted reference line: where the search started from). Lines that share a
    marker share one legend entry."""
    with _rc():
        fig = _figure(4.6, 3.4)
        ax = fig.add_subplot()
        ax.xaxis.set_major_locator(_int_locator())
        positive = True
        for i, ln in enumerate(lines):
            x, mean, std, count = band(ln["curves"])
            n = len(ln["curves"])
            # a running minimum changes in steps: a sloped segment would invent values in between
            ax.plot(x, mean, color=f"C{i}", lw=1.6, drawstyle="steps-post",
                    label=f"{ln['label']} ({n} run{'s' * (n > 1)})")
            if n > 1:
                ax.fill_between(x, mean - std, mean + std, color=f"C{i}", alpha=0.2, lw=0, step="post")
            positive &= bool(np.all(mean[np.isfinite(mean)] - std[np.isfinite(mean)] > 0))
        _markers(ax, lines, "n_initial", lambda ax, v, **kw: ax.axvline(v + 0.5, ls="--", lw=1, **kw),
                 "end of initial design")
        _markers(ax, lines, "untrained", lambda ax, v, **kw: ax.axhline(v, ls=":", lw=1.2, **kw), "untrained model")
        positive &= all(ln["untrained"] > 0 for ln in lines if _finite(ln.get("untrained")))
        if positive:
            ax.set_yscale("log")
        ax.set_xlabel("number of hyperparameter sets evaluated")
        ax.set_ylabel(score_label + (" (log scale)" if positive else ""))
        if len(ax.get_legend_handles_labels()[1]) > 4:  # a long legend would hide the curves
            fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=7)
        else:
            ax.legend(fontsize=7)
        return fig


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _markers(ax, lines: list[dict], key: str, draw, what: str) -> None:
    """One reference line per distinct value of ``key`` over ``lines``: black when all
    lines share it (named once), else in the colour of the lines it belongs to."""
    by: dict = {}
    for i, ln in enumerate(lines):
        if _finite(ln.get(key)) and (key != "n_initial" or ln[key]):
            by.setdefault(float(ln[key]), []).append(i)
    for v, idx in by.items():
        shared = len(idx) == len(lines)
        names = "" if shared else " (" + ", ".join(lines[i]["label"] for i in idx) + ")"
        draw(ax, v, color="k" if shared else f"C{idx[0]}", label=what + names)


def fig_sensitivity(columns: list[dict], mean: np.ndarray, std: np.ndarray, threshold: float,
                    score_label: str = "score"):
    """Figures 4 and 9: per hyperparameter (column), the histogram of where it was sampled
    (top), the mean score with 1σ error bars against its value (middle), and the same for
    the sets with mean below ``threshold`` (bottom).

    ``columns``: dicts with ``name``, ``values`` (``n``, numeric; categoricals as level
    index), ``log`` (bool: log x axis), ``ticks`` (category names or None)."""
    mean, std = np.asarray(mean, float), np.asarray(std, float)
    good = mean < threshold
    with _rc():
        k = len(columns)
        # a fixed layout: the constraint solver takes seconds on 3k axes and gains nothing here
        w = max(2.3 * k, 4.0)
        fig = _figure(w, 6.6, layout=None)
        fig.subplots_adjust(left=0.75 / w, right=1 - 0.15 / w, bottom=0.1, top=0.95, wspace=0.35, hspace=0.12)
        axes = fig.subplots(3, k, squeeze=False, sharex="col")
        for j, col in enumerate(columns):
            v = np.asarray(col["values"], float)
            top, mid, bot = axes[:, j]
            if col.get("log") and np.all(v > 0):
                top.hist(v, bins=np.geomspace(v.min(), v.max() * 1.0001, 21) if v.max() > v.min() else 10, color="0.45")
                top.set_xscale("log")
                log_ticks(top.xaxis, v)
            elif col.get("ticks"):
                top.hist(v, bins=np.arange(len(col["ticks"]) + 1) - 0.5, color="0.45", rwidth=0.8)
            else:
                top.hist(v, bins=20, color="0.45")
            top.set_title(col["name"])
            top.yaxis.set_major_locator(_int_locator())
            if not col.get("log") and not col.get("ticks"):
                from matplotlib.ticker import MaxNLocator

                bot.xaxis.set_major_locator(MaxNLocator(4))
                bot.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
            mid.errorbar(v, mean, yerr=std, fmt="o", ms=2.5, lw=0.6, color="C0", alpha=0.7, label="all sets")
            bot.errorbar(v[good], mean[good], yerr=std[good], fmt="o", ms=2.5, lw=0.6, color="C2", alpha=0.8,
                         label=f"mean < {threshold:.3g}")
            bot.set_xlabel(col["name"] + (" (log)" if col.get("log") else ""))
            if col.get("ticks"):
                bot.set_xticks(range(len(col["ticks"])))
                bot.set_xticklabels([str(t) for t in col["ticks"]], rotation=30, ha="right")
            for ax in (top, mid):
                ax.tick_params(labelbottom=False)
            if j == 0:
                top.set_ylabel("sets sampled")
                mid.set_ylabel(f"{score_label} ± 1σ")
                bot.set_ylabel(f"{score_label} ± 1σ")
                mid.legend(loc="upper right")
                bot.legend(loc="upper right")
            else:
                mid.tick_params(labelleft=True)
        _grow_to_fit(fig)
        return fig


def _grow_to_fit(fig, pad: float = 0.05) -> None:
    """Widen the margins of a fixed-layout figure (and the figure with them, axes keep their
    size) until its text fits on the canvas: long names, rotated category labels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(STYLE["savefig.dpi"])
    canvas = FigureCanvasAgg(fig)
    fig.draw_without_rendering()
    bb = fig.get_tightbbox(canvas.get_renderer())  # inches
    W, H = fig.get_size_inches()
    left, bottom = max(0.0, pad - bb.x0), max(0.0, pad - bb.y0)
    right, top = max(0.0, bb.x1 - W + pad), max(0.0, bb.y1 - H + pad)
    if left + right + bottom + top <= 2 * pad:
        return
    sp = fig.subplotpars
    w, h = W + left + right, H + bottom + top
    fig.set_size_inches(w, h)
    fig.subplots_adjust(left=(sp.left * W + left) / w, right=(sp.right * W + left) / w,
                        bottom=(sp.bottom * H + bottom) / h, top=(sp.top * H + bottom) / h)


def fig_scan(param: str, lines: list[dict], log: bool, score_label: str = "score (mean over trials)"):
    """Figure 5: the mean score ± 1σ over trials against one hyperparameter, the others
    fixed, one line per number of epochs. ``lines``: dicts with ``label``, ``x``, ``mean``,
    ``std`` (each ``n``, sorted by x)."""
    with _rc():
        fig = _figure(4.6, 3.4)
        ax = fig.add_subplot()
        for i, ln in enumerate(lines):
            x, m, s = (np.asarray(ln[k], float) for k in ("x", "mean", "std"))
            ax.errorbar(x, m, yerr=s, fmt="-o", ms=3, capsize=2, color=f"C{i}", label=ln["label"])
        if log:
            ax.set_xscale("log")
            log_ticks(ax.xaxis, np.concatenate([np.asarray(ln["x"], float) for ln in lines]))
        ax.set_xlabel(param + (" (log scale)" if log else ""))
        ax.set_ylabel(f"{score_label} ± 1σ")
        ax.legend(title="epochs" if any("epoch" in ln["label"] for ln in lines) else None)
        return fig


def fig_pareto(mean: np.ndarray, std: np.ndarray, size: np.ndarray, front: np.ndarray, size_label: str,
               score_label: str = "score (mean over trials)", title: str = ""):
    """Figures 6 and 10 with the selection the study left open: sets by mean score and 1σ,
    coloured by model size (log colour scale); black rings: the Pareto-optimal sets of
    (score, 1σ, size); the front of (score, 1σ) alone as a staircase drawn over the markers
    and out to the plot's edges (everything above and right of it is beaten in both); the
    lowest-score set circled red."""
    mean, std, size = (np.asarray(a, float) for a in (mean, std, size))
    front = np.asarray(front, bool)
    with _rc():
        fig = _figure(4.8, 4.4)
        ax = fig.add_subplot()
        sc = ax.scatter(mean, std, c=size, cmap="plasma", norm=_norm(size, True), s=22, edgecolors="none", zorder=2)
        ax.scatter(mean[front], std[front], s=70, facecolors="none", edgecolors="k", linewidths=1.0,
                   label=f"black ring: Pareto-optimal in (score, 1σ, size), {int(front.sum())} sets", zorder=3)
        b = int(np.nanargmin(mean))
        ax.scatter([mean[b]], [std[b]], s=180, facecolors="none", edgecolors=BEST, linewidths=1.8,
                   label=f"red ring: lowest score, {mean[b]:.4g} ± {std[b]:.2g}", zorder=4)
        ax.margins(0.08)
        _front_staircase(ax, mean, std)
        ax.set_xlabel(score_label)
        ax.set_ylabel("trial spread 1σ (same units)")
        if title:
            ax.set_title(title)
        cb = fig.colorbar(sc, ax=ax, pad=0.01)
        cb.set_label(size_label)
        log_ticks(cb.ax.yaxis, size)
        fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=1)
        return fig


def _front_staircase(ax, mean: np.ndarray, std: np.ndarray) -> None:
    """The non-dominated sets of (score, 1σ) joined as a staircase, from the top edge of the
    axes down to the right edge, above the markers (a front of one set is still a corner)."""
    from hyppo_hep.analysis.pareto import pareto_mask

    f2 = pareto_mask(np.c_[mean, std])
    order = np.argsort(mean[f2])
    x, y = mean[f2][order], std[f2][order]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    xs = np.r_[x[0], x, x1]
    ys = np.r_[y1, y, y[-1]]
    ax.step(xs, ys, where="post", color="0.35", lw=1.4, zorder=5, label="grey staircase: front of (score, 1σ) alone")
    # shade what the front beats in both score and 1σ, so that the corner reads at a glance
    ax.fill_between(xs, ys, y1, step="post", color="0.5", alpha=0.08, lw=0, zorder=0)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def fig_distributions(features: dict[str, dict], title: str = ""):
    """Figures 7 and 11: for the best set, each feature's true distribution (black) and the
    mean of its trials' generated distributions (red) with the spread over trials (±1σ band).
    ``features``: name -> dict(edges ``b+1``, truth ``b``, mean ``b``, std ``b``, n ``int``,
    optionally ``unit``, e.g. "rad" or "GeV", shown on the x axis)."""
    with _rc():
        k = len(features)
        fig = _figure(3.3 * k, 3.0)
        axes = fig.subplots(1, k, squeeze=False)[0]
        for ax, (name, f) in zip(axes, features.items()):
            e = np.asarray(f["edges"], float)
            truth, m, s = (np.asarray(f[x], float) for x in ("truth", "mean", "std"))
            ax.stairs(truth, e, color="k", lw=1.5, label="truth")
            ax.stairs(m, e, color=BEST, lw=1.5, label=f"generated (mean of {f['n']} trials)")
            ax.stairs(m + s, e, baseline=np.maximum(m - s, 0), fill=True, color=BEST, alpha=0.25, lw=0,
                      label="±1σ over trials")
            ax.set_xlabel(f"{name} [{f['unit']}]" if f.get("unit") else name)
            ax.set_ylabel("density")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
        if title:
            fig.suptitle(title)
        return fig


# Rows of the timing figure that get their own label; more workers share the panel's height.
TIMING_ROWS = 24


def fig_timing(busy: dict, t0: float, t1: float, util: float, title: str = ""):
    """Workers' busy (coloured; failed trials red) and idle (blank) time over the run, and
    the number of busy workers against time; utilization in the title. Past TIMING_ROWS
    workers the rows get thinner and only every k-th is labelled."""
    from hyppo_hep.analysis.timing import busy_curve

    workers = sorted(busy)
    span = max(t1 - t0, 1e-9)
    scale, unit = (1.0, "s") if span < 600 else ((60.0, "min") if span < 36000 else (3600.0, "h"))
    rows = min(len(workers), TIMING_ROWS)
    with _rc():
        fig = _figure(6.4, 1.6 + 0.22 * rows + 1.6)
        gs = fig.add_gridspec(2, 1, height_ratios=[max(1.0, 0.25 * rows), 1.2])
        ax = fig.add_subplot(gs[0])
        failed_shown = False
        for i, w in enumerate(workers):
            ok = [((s - t0) / scale, (e - s) / scale) for s, e, good in busy[w] if good]
            bad = [((s - t0) / scale, (e - s) / scale) for s, e, good in busy[w] if not good]
            ax.broken_barh(ok, (i - 0.4, 0.8), facecolors="C0", label="busy (trial)" if i == 0 else None)
            if bad:
                ax.broken_barh(bad, (i - 0.4, 0.8), facecolors=BEST, label=None if failed_shown else "failed trial")
                failed_shown = True
        step = math.ceil(len(workers) / TIMING_ROWS)
        ax.set_yticks(range(0, len(workers), step))
        ax.set_yticklabels([_short(w) for w in workers[::step]])
        ax.set_ylim(-0.6, len(workers) - 0.4)
        ax.set_ylabel("worker")
        ax.set_xlim(0, span / scale)
        ax.tick_params(labelbottom=False)
        ax.set_title((title + ": " if title else "") + f"utilization {util:.1%} of {len(workers)} worker(s) "
                     f"over {span / scale:.3g} {unit}")
        ax2 = fig.add_subplot(gs[1], sharex=ax)
        t, n = busy_curve(busy, t0)
        ax2.step(t / scale, n, where="post", color="C0", label="busy workers")
        ax2.axhline(len(workers), color="k", ls="--", lw=0.8, label="workers")
        ax2.set_xlabel(f"wall time since start [{unit}]")
        ax2.set_ylabel("busy workers")
        ax2.set_ylim(0, len(workers) * 1.15 + 0.1)
        handles, labels = [], []
        for a in (ax, ax2):
            h, lab = a.get_legend_handles_labels()
            handles, labels = handles + h, labels + lab
        fig.legend(handles, labels, loc="outside lower center", ncols=len(labels))
        return fig


def _short(worker: str) -> str:
    parts = str(worker).split(":")
    return ":".join(parts[-2:]) if len(parts) > 2 else str(worker)


def fig_sobol(S: dict, title: str = ""):
    """Sobol indices: first-order S1 and total ST per hyperparameter (bars with 95% intervals)
    and the second-order interactions S2 as a heat map."""
    names = S["names"]
    d = len(names)
    with _rc():
        fig = _figure(3.2 + 0.45 * d + 3.4, 3.4)
        ax, ax2 = fig.subplots(1, 2, width_ratios=[1.0 + 0.12 * d, 1.0])
        x = np.arange(d)
        ax.bar(x - 0.2, S["S1"], 0.4, yerr=S["S1_conf"], capsize=2, color="C0", label="first order S1")
        ax.bar(x + 0.2, S["ST"], 0.4, yerr=S["ST_conf"], capsize=2, color="C1", label="total ST")
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=35, ha="right")
        ax.set_ylabel("share of score variance")
        ax.set_title(f"sum S1 = {_two_places(np.nansum(S['S1']))}")
        ax.legend()
        M = np.array(S["S2"], float)
        M = np.where(np.isfinite(M), M, np.nan)
        full = np.where(np.isfinite(M), M, M.T)
        vmax = max(0.05, float(np.nanmax(np.abs(full))) if np.isfinite(full).any() else 0.05)
        im = ax2.imshow(full, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        for i in range(d):
            for j in range(d):
                if i != j and np.isfinite(full[i, j]):
                    ax2.text(j, i, _two_places(full[i, j]), ha="center", va="center", fontsize=7,
                             color="w" if abs(full[i, j]) > 0.6 * vmax else "k")  # legible on dark cells
        ax2.set_xticks(range(d))
        ax2.set_yticks(range(d))
        ax2.set_xticklabels(names, rotation=35, ha="right")
        ax2.set_yticklabels(names)
        ax2.set_title("second order S2 (interactions)")
        ax2.grid(False)
        cb = fig.colorbar(im, ax=ax2, shrink=0.85)
        cb.set_label("S2")
        if title:
            fig.suptitle(title)
        return fig


def _two_places(v: float) -> str:
    """``v`` to two decimals; a tiny negative estimate (Saltelli noise) prints 0.00, not -0.00."""
    return f"{round(float(v), 2) + 0.0:.2f}"


def fig_hypervolume(lines: list[dict], title: str = ""):
    """The Pareto front's hypervolume after each finished set, one line per run
    (``{"label", "n": sets (m,), "hv": hypervolumes (m,)}``): how a multi-objective search
    progressed toward its front."""
    fig = _figure(6.4, 4.0)
    with _rc():
        ax = fig.add_subplot()
        for line in lines:
            ax.step(line["n"], line["hv"], where="post", label=line["label"])
        ax.set_xlabel("finished sets")
        ax.set_ylabel("hypervolume of the front")
        ax.xaxis.set_major_locator(_int_locator())
        if title:
            ax.set_title(title)
        if len(lines) > 1:
            ax.legend(loc="lower right", fontsize="small")
    return fig
