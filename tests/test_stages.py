"""Campaign stages (broad -> focus with derived ranges -> scan), repeats, resume."""

import math

import numpy as np
import pytest
import yaml

from hyppo_hep.config import parse_config
from hyppo_hep.errors import ConfigError
from hyppo_hep.journal import read_events, replay
from hyppo_hep.run import main
from hyppo_hep.space import Space
from hyppo_hep.stages import derive_focus_space, good_mask

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"

BRANIN = {"x1": {"lower": -50, "upper": 100, "scaling": 0.1}, "x2": {"lower": 0, "upper": 150, "scaling": 0.1}}


def staged_cfg(out, **over):
    cfg = {"objective": "branin", "space": BRANIN, "trials": 2, "budget": 12, "strategy": "lhs", "seed": 1,
           "executor": "serial", "out": str(out),
           "stages": [{"name": "broad", "fixed": {"epochs": 20}},
                      {"name": "focus", "budget": 6, "fixed": {"epochs": 1000}, "ranges": "auto", "quantile": 0.25,
                       "margin": 0.05, "strategy": "random"},
                      {"name": "scan", "scan": {"param": "x1", "values": "linear", "points": 3, "epochs": [20, 50]},
                       "trials": 2}]}
    cfg.update(over)
    return cfg


def write(tmp_path, cfg):
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return str(p)


@pytest.mark.parametrize("stages, expected", [
    ([], "stages must be a non-empty list"),
    ([{"name": "a", "ranges": "auto"}], "stages[0].ranges auto needs a previous stage"),
    ([{"name": "a"}, {"name": "a"}], "stages[1].name ('a') is used by an earlier stage"),
    ([{"name": "a b"}], "stages[0].name"),
    ([{"name": "a", "epochs": 3}], "stages[0].epochs is not a known key"),
    ([{"name": "a"}, {"name": "b", "ranges": "auto", "quantile": 1.5}], "stages[1].quantile (1.5) must be in (0, 1]"),
    ([{"name": "a", "quantile": 0.2}], "stages[0].quantile only applies with ranges: auto"),
    ([{"name": "a", "ranges": {"x9": {"lower": 1, "upper": 2}}}], "stages[0].ranges.x9 is not a parameter"),
    ([{"name": "a", "ranges": {"x1": {"lower": 5, "upper": 2}}}], "stages[0].ranges.x1.upper (2) is below lower (5)"),
    ([{"name": "a", "fixed": {"x1": {"lower": 1, "upper": 2}}}], "stages[0].fixed.x1 must be a value"),
    ([{"name": "a", "strategy": "nope"}], "stages[0].strategy 'nope' is not a known strategy"),
    ([{"name": "a", "trials": 0}], "stages[0].trials (0) must be >= 1"),
    ([{"name": "a"}, {"name": "s", "scan": {"param": "zz"}}], "stages[1].scan.param ('zz') is not a free parameter"),
    ([{"name": "a"}, {"name": "s", "scan": {"param": "x1", "values": "cubic"}}], "stages[1].scan.values"),
    ([{"name": "s", "scan": {"param": "x1"}}], "stages[0].at best needs a previous stage"),
    ([{"name": "a"}, {"name": "s", "scan": {"param": "x1"}, "budget": 3}], "stages[1].scan a scan stage sets its own grid"),
    ([{"name": "a"}, {"name": "s", "scan": {"param": "x1", "values": "log", "low": 0}}], "stages[1].scan.low"),
])
def test_bad_stages_name_the_key_path(tmp_path, capsys, stages, expected):
    assert main([write(tmp_path, staged_cfg(tmp_path / "o", stages=stages)), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("config error: ") and expected in err and err.count("\n") == 1, err
    assert not (tmp_path / "o").exists()


def test_bad_repeat(tmp_path, capsys):
    assert main([write(tmp_path, staged_cfg(tmp_path / "o", repeat=0)), "--quiet"]) == 2
    assert "repeat (0) must be >= 1" in capsys.readouterr().err


def test_derived_ranges_of_a_known_journal():
    """The focus ranges of the stored staged campaign: recomputed from the broad journal by
    hand (best 25% of 20 sets = 5 sets, index range padded by 10% of the broad width,
    clipped), equal to what derive_focus_space gives and to what the run recorded."""
    events = list(read_events(FIXTURES / "staged" / "0_broad" / "journal.jsonl"))
    header = next(e for e in events if e["event"] == "campaign")
    space = Space.from_dict(header["space"])
    history = replay(events)
    new, note = derive_focus_space(space, history, quantile=0.25, margin=0.1)
    done = sorted(history.done, key=lambda r: r.mean)
    good = done[:5]
    assert note["n_good"] == 5 and note["n_done"] == 20
    assert sorted(note["good_set_ids"]) == sorted(r.set_id for r in good)
    for p in space.free:
        idx = [p.index_of(r.params[p.name]) for r in good]
        pad = 0.1 * (p.upper - p.lower)
        lo, hi = max(p.lower, math.floor(min(idx) - pad)), min(p.upper, math.ceil(max(idx) + pad))
        q = next(x for x in new.free if x.name == p.name)
        assert (q.lower, q.upper, q.scaling) == (lo, hi, p.scaling), p.name
    assert new.fixed == {"epochs": 20}
    # the same ranges were recorded (and used) by the run
    focus = list(read_events(FIXTURES / "staged" / "1_focus" / "journal.jsonl"))
    started = next(e for e in focus if e["event"] == "stage_started")
    recorded = Space.from_dict(started["space"])
    for q in new.free:
        r = next(x for x in recorded.free if x.name == q.name)
        assert (r.lower, r.upper) == (q.lower, q.upper)
    assert recorded.fixed == {"epochs": 1000}
    assert started["derived"]["n_good"] == 5
    # every focus set lies in the derived ranges
    for rec in replay(focus).sets.values():
        recorded.encode(rec.params)


def test_good_mask_threshold_and_quantile():
    m = np.array([0.5, 0.1, 0.3, 0.2, 0.9])
    assert good_mask(m, threshold=0.25).tolist() == [False, True, False, True, False]
    assert good_mask(m, quantile=0.4).tolist() == [False, True, False, True, False]
    assert good_mask(m, quantile=0.01).sum() == 1


def test_float_and_categorical_ranges():
    from hyppo_hep.history import History, SetRecord, TrialRecord

    space = Space.from_dict({"lr": {"low": 1e-6, "high": 1e-2, "log": True}, "act": {"choices": ["relu", "tanh", "gelu"]}})
    h = History()
    for i, (lr, act, y) in enumerate([(1e-5, "tanh", 0.1), (1e-4, "relu", 0.2), (1e-2, "gelu", 0.9), (1e-3, "gelu", 0.8)]):
        h.add_set(SetRecord(i, {"lr": lr, "act": act}, [0]))
        h.add_trial(i, TrialRecord(0, 0, y))
        h.complete(i)
    new, _ = derive_focus_space(space, h, quantile=0.5, margin=0.25)
    lr = new.free[0]
    assert lr.log and lr.low == pytest.approx(10 ** -6) and lr.high == pytest.approx(10 ** -3)  # 1e-5..1e-4 ± 1 decade
    assert new.free[1].choices == ("relu", "tanh")


def test_staged_campaign_end_to_end_and_resume(tmp_path, capsys):
    out = tmp_path / "camp"
    path = write(tmp_path, staged_cfg(out))
    assert main([path, "--quiet"]) == 0
    stdout = capsys.readouterr().out
    assert "focus ranges from 3 of 12 sets" in stdout  # printed
    broad, focus, scan = (list(read_events(out / d / "journal.jsonl")) for d in ("0_broad", "1_focus", "2_scan"))
    hb, hf, hs = replay(broad), replay(focus), replay(scan)
    assert len(hb) == 12 and len(hf) == 6 and len(hs) == 6
    assert all(r.params["epochs"] == 20 for r in hb.sets.values())
    assert all(r.params["epochs"] == 1000 for r in hf.sets.values())
    assert {e["stage"] for e in focus if e["event"] == "set_submitted"} == {"focus"}
    # the scan: x1 on 3 linear points of its full range, epochs 20 and 50, x2 at the focus stage's best
    best = hf.best()
    assert sorted({r.params["x1"] for r in hs.sets.values()}) == pytest.approx([-5.0, 2.5, 10.0])
    assert sorted({r.params["epochs"] for r in hs.sets.values()}) == [20, 50]
    assert {r.params["x2"] for r in hs.sets.values()} == {best.params["x2"]}
    # resume after a kill in the focus stage: the broad stage is not re-run
    broad_bytes = (out / "0_broad" / "journal.jsonl").read_bytes()
    lines = (out / "1_focus" / "journal.jsonl").read_text().splitlines(keepends=True)
    cut = max(i for i, l in enumerate(lines) if '"set_submitted"' in l)  # kill before the last set finished
    (out / "1_focus" / "journal.jsonl").write_text("".join(lines[:cut + 2]))
    import shutil

    shutil.rmtree(out / "2_scan")
    assert main([path, "--quiet"]) == 2  # no silent overwrite
    assert main([path, "--quiet", "--resume"]) == 0
    assert (out / "0_broad" / "journal.jsonl").read_bytes() == broad_bytes
    hf2 = replay(out / "1_focus" / "journal.jsonl")
    assert len(hf2) == 6 and not hf2.pending
    assert {k: r.params for k, r in hf2.sets.items()} == {k: r.params for k, r in hf.sets.items()}
    assert len(replay(out / "2_scan" / "journal.jsonl")) == 6


def test_repeat_runs_share_one_executor(tmp_path):
    from hyppo_hep.campaign import run_config
    from hyppo_hep.config import load_config
    from hyppo_hep.executor.serial import SerialExecutor

    cfg = staged_cfg(tmp_path / "rep", repeat=3, budget=5)
    del cfg["stages"]
    cfg = load_config(write(tmp_path, cfg))
    ex = SerialExecutor(cfg.objective)
    runs = run_config(cfg, quiet=True, executor=ex)
    ex.close()
    assert [label for label, _, _ in runs] == ["repeat 0", "repeat 1", "repeat 2"]
    seeds = []
    for r in range(3):
        events = list(read_events(tmp_path / "rep" / f"repeat_{r:03d}" / "journal.jsonl"))
        head = events[0]
        assert head["seed"] == 1 + r and head["repeat"] == r
        seeds.append(tuple(e["seed"] for e in events if e["event"] == "trial_finished"))
        assert len({e["worker"] for e in events if e["event"] == "trial_finished"}) == 1
    assert len(set(seeds)) == 3  # different seeds, different trials


def test_stage_parse_defaults():
    cfg = parse_config(staged_cfg("o"))
    assert [s.name for s in cfg.stages] == ["broad", "focus", "scan"]
    assert cfg.stages[1].ranges == "auto" and cfg.stages[1].quantile == 0.25
    assert cfg.stages[2].scan.points == 3 and cfg.stages[2].scan.epochs == (20, 50)
    with pytest.raises(ConfigError):
        parse_config(staged_cfg("o", stages=[{"name": "a", "margin": 2}]))
