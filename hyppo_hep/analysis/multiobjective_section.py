"""The report's part for multi-objective campaigns (strategy ``multiobjective``): the
front's hypervolume after each finished set and the front itself as a table."""

from __future__ import annotations

MULTI_OBJECTIVE = "multiobjective"


def campaign_objectives(header: dict) -> list | None:
    """The objectives a journal's campaign minimised, None for a single-objective one."""
    from hyppo_hep.strategy.multiobjective import DEFAULT_OBJECTIVES

    strategy = header.get("strategy") or {}
    if not isinstance(strategy, dict) or strategy.get("name") != MULTI_OBJECTIVE:
        return None
    options = strategy.get("options") or {}
    return list(options.get("objectives") or DEFAULT_OBJECTIVES) if isinstance(options, dict) else list(DEFAULT_OBJECTIVES)


def section_multiobjective(ctx, rep) -> None:
    """Figure: hypervolume against finished sets (one line per repeat); table: the front."""
    from hyppo_hep.analysis import figures as F
    from hyppo_hep.strategy.multiobjective import front_rows, hypervolume_progress, parse_objectives

    for key, runs in ctx.groups.items():
        objectives = campaign_objectives(runs[0].header)
        if objectives is None or not runs[0].done:
            continue
        labels = ", ".join(o.label for o in parse_objectives(objectives))
        lines = []
        for run in runs:
            n, hv = hypervolume_progress(run.history, objectives)
            lines.append({"label": f"repeat {run.repeat}", "n": n, "hv": hv})
        name = "_".join(str(k) for k in key if k) or "run"
        rep.figure(F.fig_hypervolume(lines, f"{runs[0].label}: front of {labels}"), f"hypervolume_{name}",
                   f"Hypervolume: {runs[0].label}",
                   f"Hypervolume of the Pareto front of ({labels}) after each finished set, against each run's worst "
                   f"values plus 10% of their range (so a run's curve ends at its final front's hypervolume).", ctx.formats)
        for run in runs:
            rows = front_rows(run.history, objectives)
            rep.tables[f"Pareto front: {run.label} (repeat {run.repeat}; {labels})"] = [
                {"set_id": r["set_id"], **{k: v for k, v in r.items() if k not in ("set_id", "params")}, **r["params"]}
                for r in rows]
