"""What a run prints: a progress line per finished set and the ranked table at the end."""

from __future__ import annotations

import math


def hms(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600:02d}h {seconds % 3600 // 60:02d}m {seconds % 60:02d}s"


def fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.5g}"


def progress_line(rec, history, n_total: int | None, k_std: float = 0.0, space=None) -> str:
    """``Set 6 complete (7/40 sets) [00h 00m 03s]  score 0.0453 ± 0.0121 (5/5 trials)  best so far 0.0312 (set 2)``

    Every "set N" is a set_id (as in the journal and results.csv, from 0); the count of
    finished sets is given as such."""
    n_finished = history.n_finished
    if rec.state == "failed":
        what = f"FAILED ({rec.n_ok}/{rec.n_trials} trials ok)"
    else:
        what = f"score {fmt(rec.mean)} ± {fmt(rec.std)} ({rec.n_ok}/{rec.n_trials} trials)"
    from hyppo_hep.recommend import recommend

    best = recommend(history, k_std, space)[1]  # noise-aware: the raw best mean is biased low
    best_txt = (f"best so far {fmt(best.value(k_std))} ± {fmt(best.mean_std)} (set {best.set_id}; raw "
                f"{fmt(best.raw_mean)} ± {fmt(best.raw_std)}, {best.n_ok} trials)") if best else "no successful set yet"
    of = f"/{n_total}" if n_total else ""  # None: a budget in trainings (the progress counts those)
    return f"Set {rec.set_id} complete ({n_finished}{of} sets) [{hms(rec.wall_time)}]  {what}  {best_txt}"


def ranked_table(history, top: int = 10, k_std: float = 0.0, space=None) -> str:
    """Best first by the noise-aware estimate (hyppo_hep.recommend): ``estimate ± error``,
    then the raw mean and std of the trials."""
    from hyppo_hep.recommend import recommend

    ests = recommend(history, k_std, space)[0][:top]
    ranked = [history.sets[e.set_id] for e in ests]
    if not ranked:
        return "no set finished successfully"
    names = list(ranked[0].params)
    header = ["rank", "set", "estimate", "±", "mean", "std", "ok"] + names
    rows = [[str(i + 1), str(r.set_id), fmt(e.value(k_std)), fmt(e.mean_std), fmt(r.mean), fmt(r.std),
             f"{r.n_ok}/{r.n_trials}"]
            + [fmt(v) if isinstance(v, float) else str(v) for v in (r.params.get(n) for n in names)]
            for i, (r, e) in enumerate(zip(ranked, ests))]
    widths = [max(len(h), *(len(row[j]) for row in rows)) for j, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def pareto_table(rows: list[dict]) -> str:
    """The rows of ``SearchResult.pareto`` (set_id, params, n_ok, one column per objective)."""
    if not rows:
        return "no finished set has every objective yet"
    objectives = [k for k in rows[0] if k not in ("set_id", "params", "n_ok")]
    names = list(rows[0]["params"])
    header = ["set", *objectives, "ok", *names]
    body = [[str(r["set_id"]), *(fmt(r[o]) for o in objectives), str(r["n_ok"]),
             *(fmt(v) if isinstance(v, float) else str(v) for v in (r["params"].get(n) for n in names))] for r in rows]
    widths = [max(len(h), *(len(row[j]) for row in body)) for j, h in enumerate(header)]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in [header, *body])
