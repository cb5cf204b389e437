"""How the workers spent a run, from the journal's timestamps (Unix seconds).

Each trial_finished event has a worker, a start and an end: a worker is busy in
[started, finished] and idle otherwise. Utilization = busy worker-seconds / (workers ×
wall time of the run), wall time running from the first campaign event to the last event.
"""

from __future__ import annotations

import numpy as np


def intervals(events_lists) -> tuple[dict[str, list[tuple[float, float, bool]]], float, float]:
    """Busy intervals per worker over one or more journals' events (stages and repeats of
    one output directory share the workers): ({worker: [(start, end, ok), ...]}, t0, t1)."""
    busy: dict[str, list[tuple[float, float, bool]]] = {}
    t0, t1 = np.inf, -np.inf
    for events in events_lists:
        for ev in events:
            t = ev.get("time")
            if isinstance(t, (int, float)):
                if ev.get("event") == "campaign":
                    t0 = min(t0, t)
                t1 = max(t1, t)
            if ev.get("event") != "trial_finished":
                continue
            s, e = ev.get("started"), ev.get("finished")
            if not isinstance(s, (int, float)) or not isinstance(e, (int, float)) or e < s:
                continue
            busy.setdefault(str(ev.get("worker")), []).append((float(s), float(e), ev.get("score") is not None))
            t0, t1 = min(t0, s), max(t1, e)
    return busy, float(t0), float(t1)


def utilization(busy: dict, t0: float, t1: float) -> float:
    """Fraction of the workers' time spent in trials, in [0, 1] (nan without workers)."""
    if not busy or not t1 > t0:
        return float("nan")
    total = sum(e - s for ivs in busy.values() for s, e, _ in ivs)
    return float(min(1.0, total / (len(busy) * (t1 - t0))))


def busy_curve(busy: dict, t0: float) -> tuple[np.ndarray, np.ndarray]:
    """Step function of the number of busy workers: times (seconds since t0) and counts,
    each of shape ``(2m + 1,)`` for m intervals."""
    edges = [(s - t0, +1) for ivs in busy.values() for s, _, _ in ivs]
    edges += [(e - t0, -1) for ivs in busy.values() for _, e, _ in ivs]
    edges.sort()
    t = np.array([0.0] + [x for x, _ in edges])
    n = np.concatenate([[0], np.cumsum([d for _, d in edges])])
    return t, n
