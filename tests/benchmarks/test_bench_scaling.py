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
