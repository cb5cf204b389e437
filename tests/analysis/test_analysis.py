"""`python -m hyppo_hep.analyze` on stored journals (tests/fixtures, made by make_fixtures.sh)."""

import csv
import shutil

import numpy as np
import pytest

from hyppo_hep.analysis import figures as F
from hyppo_hep.analysis.load import load_runs
from hyppo_hep.analysis.pareto import model_size, pareto_mask
from hyppo_hep.analysis.timing import busy_curve, intervals, utilization
from hyppo_hep.analyze import main
from hyppo_hep.journal import replay

FIX = __import__("pathlib").Path(__file__).parents[1] / "fixtures"
FAST = ["--formats", "png", "--sobol-samples", "32"]


@pytest.fixture(scope="module")
def staged_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("staged_report")
    assert main([str(FIX / "staged"), "--out", str(out), "--threshold", "0.05", *FAST]) == 0
    return out


@pytest.mark.slow
def test_staged_report_has_every_figure(staged_report):
    for name in ("mean_vs_std", "convergence", "sensitivity_lhs_broad", "sensitivity_lhs_focus", "scan_lhs_scan_0",
                 "pareto_lhs_focus", "distributions_best", "timing_staged", "sobol_lhs_broad"):
        png = staged_report / f"{name}.png"
        assert png.exists() and png.stat().st_size > 10_000, name
    html = (staged_report / "report.html").read_text()
    assert html.count("<img alt=") == 9
    assert "focus ranges from 5 of 20 sets" in html  # the derived ranges are in the report
    assert "8 finished sets are too few" in html  # focus-stage Sobol skipped with the reason
    # offline: the plotly library is a file beside the page, nothing is loaded from the network
    import re

    srcs = re.findall(r"""src=["']([^"']+)["']""", html)
    offline = ("Plotly" in html and "plotly.min.js" in srcs and (staged_report / "plotly.min.js").exists()
               and all("://" not in s and (staged_report / s).exists() for s in srcs))
    assert offline  # (a plain bool: pytest would print the whole page on failure)
    rows = list(csv.DictReader(open(staged_report / "sets.csv")))
    assert len(rows) == 20 + 8 + 8
    means = [float(r["mean"]) for r in rows]
    assert means == sorted(means) and rows[0]["rank"] == "1"


@pytest.mark.slow
def test_convergence_compares_strategies_over_repeats(tmp_path):
    from hyppo_hep.analysis.report import finish_order

    runs = load_runs([FIX / "lhs_repeat", FIX / "random_repeat"])
    assert sorted({r.group for r in runs}) == ["lhs", "random"]
    lines = [{"label": g, "curves": [F.best_so_far(finish_order(r)) for r in runs if r.group == g], "n_initial": 8}
             for g in ("lhs", "random")]
    fig = F.fig_convergence(lines)
    ax = fig.axes[0]
    assert len(ax.lines) == 3  # a mean line per strategy, one initial-design marker for both (both 8)
    assert len(ax.collections) == 2  # one band per strategy (2 repeats each)
    y = ax.lines[0].get_ydata()
    assert len(y) == 16 and np.all(np.diff(y) <= 0)
    assert ax.get_yscale() == "log" and "number of hyperparameter sets" in ax.get_xlabel()
    paths = F.save(fig, tmp_path / "conv")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 5000 for p in paths)
    assert paths[1].read_bytes()[:4] == b"%PDF"


def test_mean_std_figure_points_and_panels():
    runs = load_runs([FIX / "lhs_repeat", FIX / "random_repeat"])
    panels = []
    for g in ("lhs", "random"):
        recs = [x for r in runs if r.group == g for x in r.done]
        panels.append({"title": g, "mean": [x.mean for x in recs], "std": [x.std for x in recs],
                       "color": [x.params["lr_gen"] for x in recs]})
    fig = F.fig_mean_std(panels, color_label="lr_gen")
    scatter_axes = [ax for ax in fig.axes if ax.get_ylabel().startswith("trial spread") or ax.collections]
    counts = sorted(len(ax.collections[0].get_offsets()) for ax in fig.axes if ax.collections and not ax.patches
                    and ax.get_label() != "<colorbar>")
    assert counts == [32, 32]  # 2 repeats x 16 sets per strategy
    assert scatter_axes


def test_best_so_far_and_band():
    c = F.best_so_far(np.array([np.nan, 3.0, 4.0, 2.0, np.nan, 1.0]))
    assert np.allclose(c[1:], [3, 3, 2, 2, 1]) and np.isnan(c[0])
    x, mean, std, count = F.band([np.array([3.0, 2.0, 1.0]), np.array([5.0, 2.0])])
    assert x.tolist() == [1, 2, 3] and mean.tolist() == [4.0, 2.0, 1.0]
    assert std[0] == pytest.approx(np.sqrt(2)) and std[2] == 0 and count.tolist() == [2, 2, 1]


def test_pareto_mask():
    F3 = np.array([[1, 5, 5], [2, 1, 5], [3, 3, 1], [3, 3, 2], [1, 5, 5], [4, 4, 4]])
    assert pareto_mask(F3).tolist() == [True, True, True, False, True, False]


def test_model_size_reported_estimated_unknown():
    runs = load_runs([FIX / "staged"])
    rec = runs[0].done[0]
    size, src = model_size(rec)
    from hyppo_hep.objectives.analytic import GanLandscape

    x = [rec.params[n] for n in GanLandscape.names]
    assert src == "reported" and size == GanLandscape.n_params(x)
    from hyppo_hep.history import SetRecord

    assert model_size(SetRecord(0, {"gen_layersize": 10, "disc_layersize": 20}, [0])) == (500.0, "estimated")
    assert model_size(SetRecord(0, {"x1": 1.0}, [0])) == (None, "unknown")


def test_timing_utilization_exact():
    events = [{"event": "campaign", "time": 100.0},
              {"event": "trial_finished", "time": 104, "worker": "a", "started": 100.0, "finished": 104.0, "score": 1},
              {"event": "trial_finished", "time": 106, "worker": "b", "started": 101.0, "finished": 103.0, "score": None},
              {"event": "trial_finished", "time": 110, "worker": "b", "started": 106.0, "finished": 110.0, "score": 1},
              {"event": "run_finished", "time": 110.0}]
    busy, t0, t1 = intervals([events])
    assert (t0, t1) == (100.0, 110.0) and sorted(busy) == ["a", "b"]
    assert utilization(busy, t0, t1) == pytest.approx(10.0 / 20.0)
    t, n = busy_curve(busy, t0)
    assert n.max() == 2 and n[-1] == 0
    fig = F.fig_timing(busy, t0, t1, 0.5)
    assert "utilization 50.0% of 2 worker(s)" in fig.axes[0].get_title()


def test_pool_fixture_has_two_busy_workers():
    runs = load_runs([FIX / "lhs_repeat"])
    busy, t0, t1 = intervals([r.events for r in runs])
    assert len(busy) == 2 and 0 < utilization(busy, t0, t1) <= 1


@pytest.mark.slow
def test_sobol_additive_function_sums_to_one():
    from hyppo_hep.analysis.sobol import sobol_indices, surrogate_sobol

    def f(X):
        return X[:, 0] + 2 * X[:, 1] ** 2 + 0.5 * np.sin(3 * X[:, 2])

    S = sobol_indices(f, ["a", "b", "c"], n=512)
    assert S["S1"].sum() == pytest.approx(1.0, abs=0.05)
    assert np.nanmax(np.abs(S["S2"])) < 0.05
    assert np.argmax(S["S1"]) == 1
    # the same on a surrogate fitted to 60 noisy-free samples of it
    X = np.random.default_rng(0).random((60, 3))
    Ss = surrogate_sobol(X, f(X), ["a", "b", "c"], n=256)
    assert Ss["S1"].sum() == pytest.approx(1.0, abs=0.1)
    assert np.nanmax(np.abs(Ss["S2"])) < 0.1
    # an interaction shows up in S2
    Si = sobol_indices(lambda X: X[:, 0] * X[:, 1] * 4 + 0.1 * X[:, 2], ["a", "b", "c"], n=512)
    assert Si["S2"][0, 1] > 0.05 and Si["S1"].sum() < 0.95


def test_distributions_of_best_set():
    from hyppo_hep.analysis.report import best_distributions

    runs = load_runs([FIX / "staged"])
    best = min((x for r in runs for x in r.done), key=lambda x: x.mean)
    feats = best_distributions(best)
    assert set(feats) == {"theta", "phi"}
    f = feats["theta"]
    gens = np.array([t.info["histograms"]["theta"]["generated"] for t in best.trials.values()])
    assert f["n"] == 3 and np.allclose(f["mean"], gens.mean(0)) and np.allclose(f["std"], gens.std(0, ddof=1))


@pytest.mark.slow
def test_run_in_progress_and_without_info(tmp_path, capsys):
    # branin: no n_params, no layer sizes, no histograms -> the report says so
    from hyppo_hep.api import minimize

    minimize("branin", {"x1": {"low": -5.0, "high": 10.0}, "x2": {"low": 0.0, "high": 15.0}}, budget=8, trials=2,
             out=str(tmp_path / "br"))
    assert main([str(tmp_path / "br"), *FAST]) == 0
    html = (tmp_path / "br" / "report" / "report.html").read_text()
    assert "No model size" in html and "stored no info[&#x27;histograms&#x27;]" in html
    assert "skipped Model size" in capsys.readouterr().out
    # a torn, unfinished copy of the journal: analysed with what it has
    src = (tmp_path / "br" / "journal.jsonl").read_text().splitlines(keepends=True)
    (tmp_path / "live").mkdir()
    (tmp_path / "live" / "journal.jsonl").write_text("".join(src[:len(src) // 2]) + '{"event": "trial_fin')
    assert main([str(tmp_path / "live"), *FAST]) == 0
    html = (tmp_path / "live" / "report" / "report.html").read_text()
    assert "still in progress" in html


@pytest.mark.parametrize("setup, expected", [
    ("empty", "no journal.jsonl under"),
    ("missing", "does not exist"),
    ("corrupt", "line 2 is not valid JSON"),
    ("no_header", "has no campaign event"),
    ("nothing_done", "no finished set"),
])
def test_bad_output_dirs_exit_2(tmp_path, capsys, setup, expected):
    d = tmp_path / "o"
    if setup != "missing":
        d.mkdir()
    lines = (FIX / "random_repeat" / "repeat_000" / "journal.jsonl").read_text().splitlines(keepends=True)
    if setup == "corrupt":
        (d / "journal.jsonl").write_text(lines[0] + "garbage\n" + "".join(lines[1:]))
    elif setup == "no_header":
        (d / "journal.jsonl").write_text("".join(lines[1:]))
    elif setup == "nothing_done":
        (d / "journal.jsonl").write_text("".join(lines[:2]))
    assert main([str(d)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err


def test_bad_color_by(capsys):
    assert main([str(FIX / "random_repeat"), "--color-by", "nope"]) == 2
    assert "--color-by nope" in capsys.readouterr().err


def test_fixture_journals_replay():
    h = replay(FIX / "staged" / "2_scan" / "journal.jsonl")
    assert len(h.done) == 8 and {r.stage for r in h.sets.values()} == {"scan"}


def test_import_stays_light():
    import subprocess
    import sys

    code = "import sys, hyppo_hep, hyppo_hep.analysis, hyppo_hep.stages; print('matplotlib' in sys.modules, 'SALib' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False False"
