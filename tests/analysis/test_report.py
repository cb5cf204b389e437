"""The report as a physicist reads it: every figure's text on its canvas, log scales where
parameters span decades, captions true to what is drawn, the summary on top, a small page,
the initial design size read from the journal alone."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hyppo_hep.analysis import figures as F
from hyppo_hep.analysis.load import load_runs, read_runs
from hyppo_hep.analysis.report import Context, Report, build_report, initial_design_size, is_log

FIX = Path(__file__).parents[1] / "fixtures"
FAST = {"formats": ("png",), "sobol_n": 32}
# long names and a categorical with long levels: the labels most likely to run off a canvas
LONG_SPACE = {
    "learning_rate_of_the_generator": {"low": 1e-5, "high": 1e-1, "log": True},
    "number_of_hidden_units": {"lower": 1, "upper": 16, "scaling": 16},
    "activation_function": {"choices": ["leaky_relu", "tanh", "gelu_approximate"]},
    "dropout": {"low": 0.0, "high": 0.5},
}


def long_objective(params, trial, seed, device):
    rng = np.random.default_rng(seed)
    lr = params["learning_rate_of_the_generator"]
    score = (np.log10(lr) + 3) ** 2 + 0.01 * params["number_of_hidden_units"] ** 0.5 + params["dropout"]
    return {"score": float(score + 0.05 * rng.standard_normal()), "untrained_score": 9.0,
            "n_params": int(params["number_of_hidden_units"]) ** 2, "best_epoch": int(seed % 7)}


def sections(dirs, out, *names, **options):
    """Only the named report sections (the fast way to test one of them)."""
    from hyppo_hep.analysis import report

    ctx, rep = Context(load_runs(dirs), Path(out), formats=("png",), sobol_n=32, **options), Report(Path(out))
    for name in names:
        getattr(report, f"section_{name}")(ctx, rep)
    return rep


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    out = tmp_path_factory.mktemp("staged")
    return build_report(load_runs([FIX / "staged"]), out, threshold=0.05, **FAST), out


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    from hyppo_hep.api import minimize

    d = tmp_path_factory.mktemp("long") / "rbf"
    minimize(long_objective, LONG_SPACE, budget=14, trials=2, strategy="rbf", seed=3, out=str(d))
    return d


@pytest.fixture(scope="module")
def long_report(long_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("long_report")
    return build_report(load_runs([long_run]), out, **FAST), out


def test_text_outside_finds_a_label_past_the_edge():
    fig = F._figure(3.0, 2.0, layout=None)  # a fixed layout: nothing makes room for long text
    fig.subplots_adjust(left=0.25, bottom=0.25)
    ax = fig.add_subplot()
    ax.set_xlabel("short")
    assert F.text_outside(fig) == []
    ax.set_xlabel("a label far too long for a figure only three inches wide, by far")
    sides = " ".join(F.text_outside(fig))
    assert "left edge" in sides and "right edge" in sides and "axes 'a label far too long" in sides


@pytest.mark.slow
@pytest.mark.parametrize("which", ["staged", "long_report"])
def test_every_figure_keeps_its_text_on_the_canvas(which, request):
    rep, out = request.getfixturevalue(which)
    figures = [i for i in rep.items if i.stem]
    assert len(figures) >= 5
    assert {i.title: i.clipped for i in figures if i.clipped} == {}
    for i in figures:
        assert Path(i.stem + ".png").stat().st_size > 10_000


@pytest.mark.slow
def test_comparison_of_repeats_keeps_text_on_canvas(tmp_path):
    # the figures with a panel or a line per strategy (sensitivity and Sobol: see the staged report)
    rep = sections([FIX / "lhs_repeat", FIX / "random_repeat"], tmp_path, "mean_std", "convergence", "pareto",
                   "timing")
    assert len([i for i in rep.items if i.stem]) == 6 and {i.title: i.clipped for i in rep.items if i.clipped} == {}
    caption = next(i.caption for i in rep.items if i.title == "Convergence")
    assert "band: ±1 standard deviation" in caption and "no band" not in caption


@pytest.mark.slow
def test_log_scale_for_parameters_spanning_decades():
    runs = load_runs([FIX / "staged"])
    r = runs[0]
    # lr lattices 5e-5 .. 1e-2 (x200) and noise_dim 4 .. 400 (x100): log; batch 256 .. 2048 (x8): linear
    assert is_log(r, "lr_gen") and is_log(r, "noise_dim") and not is_log(r, "batch_size")
    cols = [{"name": n, "values": [x.params[n] for x in r.done], "log": is_log(r, n), "ticks": None}
            for n in ("lr_gen", "batch_size")]
    fig = F.fig_sensitivity(cols, [x.mean for x in r.done], [x.std for x in r.done], 0.05)
    scales = [ax.get_xscale() for ax in fig.axes]
    assert scales == ["log", "linear"] * 3  # the three rows share each column's axis


@pytest.mark.slow
def test_log_float_colours_on_a_log_norm(long_run, tmp_path):
    from matplotlib.colors import LogNorm

    runs = load_runs([FIX / "staged"])
    recs = runs[0].done
    panels = [{"title": "t", "mean": [x.mean for x in recs], "std": [x.std for x in recs],
               "color": [x.params["lr_gen"] for x in recs]}]
    fig = F.fig_mean_std(panels, color_label="lr_gen", color_log=is_log(runs[0], "lr_gen"))
    assert isinstance(fig.axes[1].collections[0].norm, LogNorm)
    rep = sections([long_run], tmp_path, "sensitivity")
    caption = next(i.caption for i in rep.items if i.title.startswith("Sensitivity"))
    assert "log axes for learning_rate_of_the_generator" in caption


def test_convergence_caption_promises_no_band_for_one_run(tmp_path):
    rep = sections([FIX / "staged"], tmp_path, "convergence")
    caption = next(i.caption for i in rep.items if i.title == "Convergence")
    assert "no band" in caption and "band: ±1" not in caption


def test_initial_design_from_the_journal_without_building_a_strategy(long_run):
    header = json.loads((long_run / "journal.jsonl").read_text().splitlines()[0])
    assert initial_design_size(header) == header["initial_design"] == 4 + 1  # recorded by the campaign: rbf's d+1
    header.pop("initial_design", None)  # a journal written before the campaign recorded it
    assert initial_design_size(header) == 2 * (4 + 1)
    assert initial_design_size({**header, "strategy": {"name": "gp", "options": {"initial": 6}}}) == 6
    assert initial_design_size({**header, "budget": 7}) == 7  # capped at the budget
    assert initial_design_size({**header, "strategy": {"name": "lhs", "options": {}}}) is None
    assert initial_design_size({**header, "strategy": "gp"}) == 10  # a strategy written as its name alone
    assert initial_design_size({**header, "initial_design": 5}) == 5  # what the campaign recorded comes first
    dbr = {"strategy": {"name": "rbf"}, "budget": 50, "space": {"define-by-run": {
        "n": {"lower": 1, "upper": 3}, "u_2": {"lower": 1, "upper": 8, "conditional": True}, "e": {"value": 3}}}}
    assert initial_design_size(dbr) == 2 * (2 + 1 + 1)  # one "active" coordinate for u_2
    # the whole analysis of an rbf campaign never imports a strategy (the journal is enough)
    code = ("import sys; from hyppo_hep.analysis.load import load_runs; from hyppo_hep.analysis.report import "
            "initial_design_size as f; r = load_runs([sys.argv[1]])[0]; n = f(r.header, r.space); "
            "print(n, any(m.startswith('hyppo_hep.strategy') for m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code, str(long_run)], capture_output=True, text=True)
    assert res.stdout.split() == ["5", "False"], res.stderr


@pytest.mark.slow
def test_untrained_score_is_a_reference_line(long_run, tmp_path):
    rep = sections([long_run], tmp_path, "convergence")
    caption = next(i.caption for i in rep.items if i.title == "Convergence")
    assert "dashed: end of the initial design" in caption and "dotted: the untrained model" in caption
    fig = F.fig_convergence([{"label": "rbf", "curves": [np.array([5.0, 3.0, 3.0, 1.0])], "n_initial": 2,
                              "untrained": 9.0}])
    ax = fig.axes[0]
    flat = [ln for ln in ax.lines if len(set(ln.get_ydata())) == 1 and ln.get_ydata()[0] == 9.0]
    assert len(flat) == 1 and ax.get_ylim()[1] >= 9.0


def test_pareto_front_over_markers_and_rings_in_the_legend():
    rng = np.random.default_rng(0)
    mean, std, size = rng.random(30), rng.random(30), rng.integers(100, 10_000, 30)
    from hyppo_hep.analysis.pareto import pareto_mask

    fig = F.fig_pareto(mean, std, size, pareto_mask(np.c_[mean, std, size]), "trainable parameters")
    ax = fig.axes[0]
    stair = next(ln for ln in ax.lines if "staircase" in ln.get_label())
    assert stair.get_zorder() > max(c.get_zorder() for c in ax.collections)
    x, y = stair.get_xdata(), stair.get_ydata()
    assert y[0] == pytest.approx(ax.get_ylim()[1]) and x[-1] == pytest.approx(ax.get_xlim()[1])  # edge to edge
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(lab.startswith("black ring: Pareto-optimal") for lab in labels)
    assert any(lab.startswith("red ring: lowest score") for lab in labels)


@pytest.mark.slow
def test_sobol_names_its_surrogate_and_never_prints_minus_zero(tmp_path):
    rep = sections([FIX / "staged"], tmp_path, "sobol")
    item = next(i for i in rep.items if i.title.startswith("Sobol") and i.stem)
    assert "Gaussian-process" in item.caption
    S = {"names": ["a", "b", "c"], "S1": np.array([0.5, -0.001, 0.3]), "S1_conf": np.full(3, 0.1),
         "ST": np.array([0.6, 0.0, 0.4]), "ST_conf": np.full(3, 0.1),
         "S2": np.array([[np.nan, -0.004, 0.1], [np.nan, np.nan, -0.0001], [np.nan] * 3])}
    fig = F.fig_sobol(S, "x: Sobol indices of a Gaussian-process surrogate")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts and "-0.00" not in texts and "0.00" in texts
    assert "Gaussian-process" in fig.get_suptitle()


def test_timing_legend_is_off_the_bars():
    busy = {"w0": [(0.0, 5.0, True), (5.5, 9.0, False)], "w1": [(0.2, 9.5, True)]}
    fig = F.fig_timing(busy, 0.0, 10.0, 0.9)
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    r = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else None
    if r is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg(fig).draw()
        r = fig.canvas.get_renderer()
    else:
        fig.canvas.draw()
    leg = fig.legends[0].get_window_extent(r)
    assert not any(leg.overlaps(ax.get_window_extent(r)) for ax in fig.axes)


def test_distributions_units_and_title_clear_of_the_y_label():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from hyppo_hep.analysis.report import best_distributions

    best = min((x for r in load_runs([FIX / "staged"]) for x in r.done), key=lambda x: x.mean)
    fig = F.fig_distributions(best_distributions(best), "best set 7 of lhs / focus: 0.02486 ± 0.004")
    assert [ax.get_xlabel() for ax in fig.axes] == ["theta [rad]", "phi [rad]"]
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    r = canvas.get_renderer()
    title = fig._suptitle.get_window_extent(r)
    assert not any(title.overlaps(ax.yaxis.label.get_window_extent(r)) for ax in fig.axes)


@pytest.mark.slow
def test_summary_on_top_and_a_small_offline_page(tmp_path):
    from hyppo_hep.analysis.html import write_html

    rep = sections([FIX / "staged"], tmp_path, "summary", "scans", "tables")
    out = write_html(rep, load_runs([FIX / "staged"])).parent
    assert [i.title for i in rep.items if i.stem] == ["Scan of lr_gen: lhs / scan"]
    html = (out / "report.html").read_text()
    assert html.index("<h2>Summary</h2>") < html.index("<h2>Runs</h2>")
    summary = html[html.index("<h2>Summary</h2>"):html.index("<h2>Runs</h2>")]
    assert "id 7 of lhs / focus" in summary and "gan_landscape" in summary and "broad, focus, scan" in summary
    assert "lr_gen" in summary and "n_params" in summary
    assert (out / "report.html").stat().st_size < 200_000  # was 5.4 MB with plotly and PNGs inline
    for src in re.findall(r"""src=["']([^"']+)["']""", html):
        assert "://" not in src and (out / src).exists(), src


def test_ask_tell_campaign_is_named(tmp_path):
    from hyppo_hep.api import AskTell

    at = AskTell({"x": {"low": 0.0, "high": 1.0}, "y": {"low": 0.0, "high": 1.0}}, trials=2, strategy="random",
                 out=str(tmp_path / "at"), budget=4)
    for _ in range(4):
        p = at.ask()
        at.tell(p, [p["x"] + p["y"], p["x"] + p["y"] + 0.1])
    runs = read_runs([tmp_path / "at"])
    assert runs[0].strategy != "?" and runs[0].label in ("ask-tell", "random")


def test_parallel_coordinates_put_decades_on_a_log_axis():
    from hyppo_hep.analysis.html import _numeric_dimension

    lr = _numeric_dimension("lr_gen", [5e-5, 1e-3, 1e-2])
    assert lr["label"] == "lr_gen (log scale)" and lr["values"] == pytest.approx([np.log10(5e-5), -3, -2])
    assert lr["tickvals"] == [-4, -3, -2] and lr["ticktext"] == ["0.0001", "0.001", "0.01"]
    assert _numeric_dimension("batch", [32, 2048]) == {"label": "batch", "values": [32, 2048]}  # x64: linear


def test_timing_of_many_workers_with_failures_fits():
    # before: one "failed trial" legend entry per worker with a failure, a legend 30 times
    # wider than the figure, and a figure 0.22 inches taller per worker
    rng = np.random.default_rng(0)
    busy = {f"node{i // 8}:{1000 + i}:{i}": [(s, s + rng.uniform(5, 20), rng.random() > 0.1)
                                             for s in np.cumsum(rng.uniform(5, 25, 12))] for i in range(64)}
    t1 = max(e for v in busy.values() for _, e, _ in v)
    fig = F.fig_timing(busy, 0.0, t1, 0.8)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["busy (trial)", "failed trial", "busy workers",
                                                                  "workers"]
    assert F.text_outside(fig) == [] and fig.get_size_inches()[1] < 10
    assert len(fig.axes[0].get_yticklabels()) == 22  # every third of 64 rows labelled


def test_convergence_of_four_strategies_names_shared_markers_once():
    rng = np.random.default_rng(1)
    lines = [{"label": g, "curves": [F.best_so_far(rng.random(30) + 0.1) for _ in range(2)],
              "n_initial": 14 if g in ("rbf", "gp") else None, "untrained": 2.0} for g in ("rbf", "gp", "random", "asha")]
    fig = F.fig_convergence(lines)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]  # six entries: below the axes, not over the curves
    assert labels == ["rbf (2 runs)", "gp (2 runs)", "random (2 runs)", "asha (2 runs)",
                      "end of initial design (rbf, gp)", "untrained model"]
    assert fig.axes[0].get_legend() is None and F.text_outside(fig) == []


def test_best_set_of_a_multi_fidelity_search_is_one_trained_longest(tmp_path):
    # a 1-epoch score is not a model one would keep: the summary and the distributions take
    # the best of the sets trained with the most epochs, even when a 1-epoch set scored lower
    from hyppo_hep.analysis.load import Run
    from hyppo_hep.analysis.report import best_set
    from hyppo_hep.history import History, SetRecord, TrialRecord
    from hyppo_hep.space import Space

    space = Space.from_dict({"x": {"low": 0.0, "high": 1.0}, "epochs": 9})
    h = History()
    import dataclasses

    word = "resource" if "resource" in {f.name for f in dataclasses.fields(SetRecord)} else "budget"  # core's rename
    for sid, (x, budget, score) in enumerate([(0.1, 1, 0.01), (0.2, 9, 0.05), (0.3, 9, 0.04), (0.4, 3, 0.02)]):
        h.add_set(SetRecord(sid, {"x": x, "epochs": budget}, [sid], **{word: budget}))
        h.add_trial(sid, TrialRecord(0, sid, score))
        h.complete(sid)
    header = {"strategy": {"name": "hyperband"}, "space": space.to_dict(), "budget": 4}
    run = Run(tmp_path / "journal.jsonl", tmp_path, "hyperband", header, h, space)
    best, r = best_set(Context([run], tmp_path))
    assert r is run and (best.set_id, best.budget, best.mean) == (2, 9, 0.04)
