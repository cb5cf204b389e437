"""benchmarks/bench_physics.py: the floor beside every figure and the random / rbf ratios."""

import numpy as np
import pytest

from hyppo_hep.history import History
from hyppo_hep.objectives.registry import resolve
from hyppo_hep.space import Space
from hyppo_hep.strategy.base import build
from hyppo_hep.strategy.start import with_defaults
from tests.benchmarks import load_benchmark


def bench():
    return load_benchmark("bench_physics")


def run(strategy: str, seed: int, means: list[float], floor: float) -> dict:
    sets = [{"set_id": i, "params": {}, "mean": m, "std": 0.0, "n_ok": 2, "curves": [[m + 0.01, m]] * 2,
             "floor": floor, "untrained": 0.4} for i, m in enumerate(means)]
    return {"workload": "gan_hadronization", "strategy": strategy, "seed": seed, "sets": sets, "wall": 1.0}


def test_ratios_on_w1_and_on_the_excess_over_the_floor():
    b = bench()
    # random's best 0.010, rbf's best 0.007, floor 0.004: 1.43 on W1, 2.0 on W1 - floor
    rat, rat_x = b.ratios(run("rbf", 1, [0.02, 0.007], 0.004), run("random", 1, [0.010, 0.03], 0.004))
    assert rat == pytest.approx(10 / 7)
    assert rat_x == pytest.approx(2.0)


def test_summary_pairs_searches_by_seed_and_reports_the_floor():
    b = bench()
    runs = [run("rbf", 1, [0.008], 0.004), run("random", 1, [0.012], 0.004),
            run("rbf", 2, [0.006], 0.004), run("random", 2, [0.010], 0.004)]
    lines = b.summary(runs)
    rbf = next(line for line in lines if "| rbf |" in line)
    # mean +- std over the two seeds, the floor, the excess, the target, then per-seed ratios
    assert "| 2 | 0.0070 +- 0.0010 | 0.0040 | 0.0030 | <= 0.015: met |" in rbf
    assert "1.58 (1.50 1.67)" in rbf  # W1: 12/8, 10/6
    assert "2.50 (2.00 3.00)" in rbf  # W1 - floor: 8/4, 6/2
    report = "\n".join(b.search_report(runs, None))
    assert report.count("### gan_hadronization, seed") == 2


def test_the_floor_falls_with_the_test_sample():
    """w1_floor (a perfect generator: training truth against test truth) falls about as
    1/sqrt(events) -- why bench_physics offers --n-events / --test-fraction."""
    floors = []
    for n in (2000, 8000):
        obj = resolve("gan_hadronization", {"epochs": 1, "n_events": n, "test_fraction": 0.5})
        out = obj({"batch_size": 256, "gen_layersize": 16, "disc_layersize": 16}, trial=0, seed=0, device="cpu")
        floors.append(out["w1_floor"])
    # sqrt(4) = 2 asymptotically; measured 3.7 at these small samples (seeded data, deterministic)
    assert 1.4 < floors[0] / floors[1] < 4.5
    assert np.all(np.isfinite(floors))


def test_defaults_rule_takes_the_data_options_and_candidate_params():
    """--defaults-rule trains on the sample --n-events / --test-fraction give (the floor it
    prints is that sample's) and with --params in place of the defaults."""
    b = bench()
    small = {"n_events": 2000, "test_fraction": 0.5}
    plain = b.defaults_rule(["gan_hadronization"], 5, [0], small)[-1].split("|")
    same_floor = resolve("gan_hadronization", {"epochs": 1, **small})(
        {"batch_size": 256, "gen_layersize": 16, "disc_layersize": 16}, trial=0, seed=0, device="cpu")["w1_floor"]
    assert float(plain[8]) == pytest.approx(same_floor, abs=5e-5)
    # the hadronization default decays its rates: a constant rate is another candidate
    constant = b.defaults_rule(["gan_hadronization"], 5, [0], small, {"lr_schedule": "constant"})[-1].split("|")
    assert plain[3:8] != constant[3:8]  # the same seed, another schedule: another curve
    other = b.defaults_rule(["gan_hadronization"], 5, [0], dict(small, data_seed=1))[-1].split("|")
    assert plain[3] != other[3] and plain[8] != other[8]  # --data-seed: another sample, its own floor


def test_good_region_counts_sets_near_the_joint_best(tmp_path):
    b = bench()
    runs = [run("rbf", 1, [0.008, 0.009, 0.03], 0.004), run("random", 1, [0.012, 0.0095, 0.05, 0.015], 0.004)]
    lines = b.good_region(runs)
    # joint best 0.008: within 1.25x (0.010) rbf 2 sets, random 1; within 2x (0.016) rbf 2, random 3
    assert "| gan_hadronization | 1 | rbf | 3 | 2.00 | 2 | 2 | 0.0090 |" in lines
    assert "| gan_hadronization | 1 | random | 4 | 2.38 | 1 | 3 | 0.0135 |" in lines
    path = tmp_path / "runs.json"
    path.write_text(__import__("json").dumps(runs))
    assert "| gan_hadronization | 1 | random | 4 |" in b.main(["--report", str(path)])


def test_the_report_gives_the_picked_sets_best_epoch_w1_beside_its_score():
    """The search picks by its score (seventh pass: best epoch blended with the end of the
    training); the issue's figure is the picked set's best-epoch W1, from its curves."""
    b = bench()
    early_peak = {"set_id": 0, "params": {"lr_gen": 1e-4}, "mean": 0.030, "std": 0.001, "n_ok": 2,
                  "curves": [[0.006, 0.05], [0.008, 0.06]], "floor": 0.004, "untrained": 0.4}
    stable = {"set_id": 1, "params": {"lr_gen": 4e-4}, "mean": 0.012, "std": 0.001, "n_ok": 2,
              "curves": [[0.02, 0.009], [0.02, 0.011]], "floor": 0.004, "untrained": 0.4}
    rbf = {"workload": "gan_dimuon", "strategy": "rbf", "seed": 1, "sets": [early_peak, stable], "wall": 1.0}
    rand = run("random", 1, [0.02], 0.004) | {"workload": "gan_dimuon"}
    assert b.best_set(rbf["sets"]) is stable  # by the score, not by the lowest epoch
    assert b.set_w1(stable) == pytest.approx((0.010, np.std([0.009, 0.011], ddof=1)))
    assert b.best_so_far(rbf["sets"]) == pytest.approx([0.007, 0.010])  # the W1 of the set picked then
    assert b.ratios(rbf, rand)[0] == pytest.approx(0.02 / 0.010)
    report = "\n".join(b.search_report([rbf, rand], None))
    assert "| rbf | 0.0100 +- 0.0014 | 0.0120 +- 0.0010 | 2 | [2, 2] |" in report
    assert "| gan_dimuon | rbf | 1 | 0.0100 +- 0.0000 |" in report


def test_report_rescores_saved_searches_from_their_curves(tmp_path):
    """--report with --score-rise: every set's score recomputed from the saved curves."""
    b = bench()
    early_peak = {"set_id": 0, "params": {}, "mean": 0.006, "std": 0.0, "n_ok": 2,
                  "curves": [[0.3, 0.006, 0.05, 0.05, 0.05]] * 2, "floor": 0.004, "untrained": 0.4}
    stable = {"set_id": 1, "params": {}, "mean": 0.009, "std": 0.0, "n_ok": 2,
              "curves": [[0.3, 0.02, 0.015, 0.010, 0.009]] * 2, "floor": 0.004, "untrained": 0.4}
    runs = [{"workload": "gan_dimuon", "strategy": "random", "seed": 1, "sets": [early_peak, stable], "wall": 1.0}]
    assert b.best_set(runs[0]["sets"]) is early_peak  # saved with the best-epoch score
    again = b.rescored(runs, 0.5, 0.2)[0]["sets"]  # tail: the last epoch of 5
    assert again[0]["mean"] == pytest.approx(0.006 + 0.5 * (0.05 - 0.006))
    assert again[1]["mean"] == pytest.approx(0.009)
    assert b.best_set(again)["set_id"] == 1
    path = tmp_path / "runs.json"
    path.write_text(__import__("json").dumps(runs))
    assert "| random | 0.0090 +- 0.0000 | 0.0090 +- 0.0000 |" in b.main(["--report", str(path), "--score-rise", "0.5"])


def test_another_dimuon_sample_is_read_through_the_user_data_path(tmp_path):
    """--dimuon-sample: the generator's other cuts hold in the file, and the objective reads
    it as a user's file (all its events, the features in the generator's order)."""
    spec = bench().dimuon_sample({"seed": 3, "pt_min": 25.0, "eta_max": 2.1}, 500, str(tmp_path))
    obj = resolve("gan_dimuon", {"data": spec, "cache_dir": str(tmp_path / "cache")})
    feats, cond, _ = obj.arrays()
    assert feats.shape == (500, 6) and cond is None
    assert feats[:, [0, 3]].min() > 25.0 and np.abs(feats[:, [1, 4]]).max() < 2.1
    default = resolve("gan_dimuon", {"n_events": 500, "cache_dir": str(tmp_path / "cache")}).arrays()[0]
    assert default[:, [0, 3]].min() < 25.0  # the project's own sample has the 20 GeV cut


def test_another_dimuon_sample_is_refused_for_the_hadronization_gan(capsys):
    with pytest.raises(SystemExit) as err:
        bench().main(["--defaults-rule", "--dimuon-sample", '{"seed": 1}'])  # both workloads by default
    assert err.value.code == 2 and "--dimuon-sample goes with --workloads gan_dimuon" in capsys.readouterr().err


def test_a_search_runs_on_another_dimuon_sample(tmp_path):
    """--dimuon-sample with a search: the sets train on the other sample (its own floor)."""
    args = ["--workloads", "gan_dimuon", "--strategies", "random", "--budget", "1", "--trials", "1", "--epochs", "1",
            "--workers", "1", "--n-events", "600", "--json", str(tmp_path / "runs.json")]
    other = search_floor(bench().main(args + ["--dimuon-sample", '{"seed": 3, "pt_min": 25.0}']), tmp_path)
    own = search_floor(bench().main(args), tmp_path)
    assert other != own


def search_floor(report: str, tmp_path) -> float:
    """The floor of the one set of a one-search report (from its --json)."""
    assert "### gan_dimuon, seed 1" in report
    runs = __import__("json").loads((tmp_path / "runs.json").read_text())
    return runs[0]["sets"][0]["floor"]


def test_asha_gets_as_many_epochs_as_the_full_trainings():
    """asha_rbf / asha run at the epoch budget of ``budget`` full trainings: 12 sets of 100
    epochs are 1200 epochs per trial; rungs 11, 33, 100 cost 11 + 22/3 + 67/9 = 25.8 epochs
    and 1 + 1/3 + 1/9 evaluations per new configuration: 46.5 configurations, 67 evaluations."""
    b = bench()
    rungs, evals = b.asha_rungs_budget(12, 100, 11, 3)
    assert rungs == [11, 33, 100] and evals == 67
    strat, budget = b.strategy_config("asha_rbf", 12, 100, 7, 11, 3)
    assert budget == 67 and strat == {"name": "asha", "min_epochs": 11, "eta": 3, "sampler": "rbf",
                                      "sampler_options": {"initial": 7}}
    assert b.strategy_config("asha", 12, 100, 7, 11, 3)[0] == {"name": "asha", "min_epochs": 11, "eta": 3}
    assert b.strategy_config("rbf", 12, 100, 4, 11, 3) == ({"name": "rbf", "initial": 4}, 12)


def test_a_multi_fidelity_search_picks_from_its_top_rung():
    """A set stopped at the lowest rung may score lower than every set trained to the end
    (11 epochs of a GAN can sit below 100 epochs' blended score); the pick, the best-so-far
    curve and the ratio against random search use the sets trained longest."""
    b = bench()
    low = {"set_id": 0, "params": {}, "mean": 0.008, "std": 0.0, "n_ok": 2, "curves": [[0.02, 0.008]] * 2,
           "floor": 0.004, "untrained": 0.4, "resource": 11, "epochs_trained": 22}
    top = {"set_id": 1, "params": {}, "mean": 0.012, "std": 0.0, "n_ok": 2, "curves": [[0.02, 0.01]] * 2,
           "floor": 0.004, "untrained": 0.4, "resource": 100, "epochs_trained": 178}
    asha = {"workload": "gan_dimuon", "strategy": "asha_rbf", "seed": 1, "sets": [low, top], "wall": 1.0}
    rand = run("random", 1, [0.02], 0.004) | {"workload": "gan_dimuon"}
    assert b.best_set(asha["sets"]) is top
    assert b.best_so_far(asha["sets"]) == pytest.approx([0.008, 0.010])
    assert b.epochs_trained(asha) == 200
    report = "\n".join(b.search_report([asha, rand], None))
    assert "- asha_rbf: target W1 <= 0.02: met (0.0100); random / asha_rbf = 2.00 (target >= 2: met)" in report
    assert "| gan_dimuon | asha_rbf | 1 | 0.0100 +- 0.0000 |" in report and "2.00 (2.00)" in report


def test_asha_search_continues_promotions_within_the_epoch_budget():
    """A real (tiny) surrogate-guided ASHA search: the promoted configuration continues from
    its checkpoint, so the search trains fewer epochs than its sets' budgets add up to, and
    no more than the full trainings it stands in for."""
    b = bench()
    r = b.search("gan_dimuon", "asha_rbf", 2, 1, 9, 1, 0, 2, {"n_events": 1000}, min_epochs=3, eta=3)
    resources = [s["resource"] for s in r["sets"]]
    # 2 x 9 / (3 + 6/3) x 4/3 = 4 evaluations: three at 3 epochs, the best of them promoted to 9
    assert sorted(resources) == [3, 3, 3, 9]
    promoted = next(s for s in r["sets"] if s["resource"] == 9)
    assert promoted["epochs_trained"] == 6 and len(promoted["curves"][0]) == 9  # 3 restored + 6 trained
    assert b.epochs_trained(r) == 3 * 3 + 6 <= 2 * 9


def test_rbf_start_begins_from_the_objectives_defaults():
    b = bench()
    strat, budget = b.strategy_config("rbf_start", 12, 100, 4, 11, 3)
    assert budget == 12 and strat == {"name": "rbf", "initial": 4, "start": ["defaults"]}
    # the dimuon defaults on the focus parameters, a set of its lattice: the search's first proposal
    space = Space.from_dict(dict(b.FOCUS, epochs=100))
    options = with_defaults({k: v for k, v in strat.items() if k != "name"}, space, resolve("gan_dimuon").defaults)
    assert options["start"] == [{"noise_dim": 16, "batch_size": 256, "lr_gen": 6e-4, "lr_disc": 6e-4,
                                 "gen_layersize": 64, "disc_layersize": 64}]
    first = build("rbf", options, space, 12).propose(History(), 1, np.random.default_rng(0))
    assert first == [dict(options["start"][0], epochs=100)]
