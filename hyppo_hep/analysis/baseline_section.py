"""The report's comparison of a tuned ``classifier`` with the AutoML baseline (seed 003):
the best set's DNN (mean ± std over its trials) beside a HistGradientBoostingClassifier
tuned on the same weighted events, split and metrics
(hyppo_hep/objectives/classifier_baseline.py). Only campaigns of the built-in classifier."""

from __future__ import annotations

BASELINE_CONFIGS = 12  # booster configurations the baseline's own search tries


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return f"{value[0]:.5f} ± {value[1]:.5f}"
    return f"{value:.5f}"


def baseline_rows(comparison: dict, set_id: int) -> list[dict]:
    """Table rows (one per model) of a ``compare_with_campaign`` result."""
    dnn, base = comparison["dnn"], comparison["baseline"]
    rows = [{"model": f"tuned DNN (best set {set_id}, mean ± std over trials)",
             **{k: _fmt(dnn.get(k)) for k in ("val_loss", "auc", "train_loss", "gap")}},
            {"model": f"HistGradientBoosting ({base['n_configs']} configurations tried)",
             **{k: _fmt(base[k]) for k in ("val_loss", "auc", "train_loss", "gap")}}]
    return rows


def section_classifier_baseline(ctx, rep) -> None:
    """Adds the table 'Classifier against an AutoML baseline' for classifier campaigns."""
    from hyppo_hep.errors import UserError
    from hyppo_hep.objectives.classifier_baseline import compare_with_campaign

    for (group, stage), runs in ctx.last.values():
        run = runs[0]
        best = run.history.best()
        if best is None or (run.header.get("objective") or {}).get("name") != "classifier":
            continue
        trials = [t.info for t in best.trials.values() if t.ok and isinstance(t.info, dict)]
        try:
            comparison = compare_with_campaign(run.header, trials, BASELINE_CONFIGS)
        except UserError as exc:  # e.g. the user's data file moved since the campaign ran
            rep.skip(f"Classifier against an AutoML baseline ({run.label})", str(exc))
            continue
        rep.tables[f"Classifier against an AutoML baseline ({run.label}; weighted validation loss, "
                   f"weighted AUC, training loss and the gap, {comparison['n_events']} events)"] = baseline_rows(comparison, best.set_id)
