"""bench_scaling's account of where a campaign's worker-time went (--idle-from)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_scaling  # noqa: E402


def test_idle_breakdown_splits_at_the_last_new_set():
    """3 workers: set 0 (two 10 s trials from 0), set 1 asked at 4 s (one trial 4-20 s) and
    a confirmation trial of set 0 (10-16 s). The last new set is asked at 4 s: before it
    12 worker-s of capacity, 8 busy; after it 48, of which 12 + 16 + 6 busy."""
    ev = [
        {"event": "set_submitted", "time": 0.0, "set_id": 0},
        {"event": "set_submitted", "time": 4.0, "set_id": 1},
        {"event": "trial_finished", "set_id": 0, "trial": 0, "started": 0.0, "finished": 10.0},
        {"event": "trial_finished", "set_id": 0, "trial": 1, "started": 0.0, "finished": 10.0},
        {"event": "trials_added", "set_id": 0, "trials": [2], "purpose": "confirm"},
        {"event": "trial_finished", "set_id": 0, "trial": 2, "started": 10.0, "finished": 16.0},
        {"event": "trial_finished", "set_id": 1, "trial": 0, "started": 4.0, "finished": 20.0},
    ]
    b = bench_scaling.idle_breakdown(ev, 3)
    assert b["wall"] == 20.0 and b["last_new_set"] == 4.0
    assert b["busy_regular"] == 36.0 and b["busy_confirm"] == 6.0
    assert b["idle_before"] == pytest.approx(4.0)
    assert b["idle_after"] == pytest.approx(48 - (12 + 16 + 6))
    assert b["busy_before"] + b["busy_after"] == b["busy_regular"] + b["busy_confirm"]


def test_seed_lists_and_their_medians(capsys):
    """--seed 1-3 / 1,4: the seeds in order; anything else exits 2 naming --seed. The
    median table has one row per (workers, strategy, rule), per-seed figures in seed order
    and their medians; time-to-quality over the seeds that reached it."""
    assert bench_scaling.parse_seeds("1-3") == [1, 2, 3]
    assert bench_scaling.parse_seeds("1,4") == [1, 4]
    with pytest.raises(SystemExit) as exc:
        bench_scaling.main(["--issue16", "80", "--seed", "1-x"])
    assert exc.value.code == 2 and "--seed" in capsys.readouterr().err
    rows = [{"strategy": "rbf", "rule": "end", "workers": 80, "seed": s, "wall": 3600.0 * w, "speedup": 70.0 + s,
             "util": u, "ttq": t, "pick": p, "useful": None, "run": None}
            for s, w, u, t, p in ((1, 2.0, 0.90, 1800.0, 0.02), (2, 1.0, 0.80, None, 0.01), (3, 3.0, 0.95, 3600.0, 0.03))]
    bench_scaling._median_table(rows, [1, 2, 3])
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("| 80 |")]
    assert line == ["| 80 | rbf | end | 90.0 / 80.0 / 95.0 | **90.0%** | 71.0 / 72.0 / 73.0 | **72.0x** | 2.00 | "
                    "0.75 (2 of 3) | 0.0200 / 0.0100 / 0.0300 | 0.0200 | - |"]
