"""Markdown tables of fine-tuning results (``neuript report``): one row per model, the baselines
first, the paper's numbers last; and a per-subject table of balanced accuracy."""

from __future__ import annotations


def _cell(metric: dict | float | None) -> str:
    if metric is None:
        return "-"
    if isinstance(metric, dict):
        if metric["mean"] != metric["mean"]:  # NaN
            return "-"
        return f"{metric['mean']:.2f} ± {metric['std']:.2f}"
    return f"{metric:.2f}"


def _minutes(seconds) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def model_label(result: dict) -> str:
    mode = "full fine-tuning" if result["mode"] == "full" else "linear probing"
    init = f"from {result['init']}" if result.get("init") else "from scratch"
    return f"neuript {result['model']['config']}, {mode}, {init}"


def _check_same(results: list[dict]) -> None:
    first = results[0]
    for other in results[1:]:
        if other["task"] != first["task"] or other["split"]["folds"] != first["split"]["folds"]:
            raise ValueError(f"Runs of different tasks or splits do not share a table ({first['task']} vs {other['task']}).")


def _baseline_rows(first: dict) -> list[tuple[str, str, dict, float | None]]:
    """(label, seeds, metrics, seconds) of the baselines the first run scored."""
    rows = []
    if first.get("baseline"):
        b = first["baseline"]
        rows.append((f"{b['name']} (baseline)", "deterministic", b["metrics"], b.get("seconds")))
    eegnet = first.get("eegnet")
    if eegnet and "skipped" not in eegnet:
        rows.append((f"{eegnet['name']} (baseline)", str(len(eegnet["per_seed"])), eegnet["metrics"], eegnet.get("seconds")))
    return rows


def markdown_table(results: list[dict]) -> str:
    """One table for runs of the same task and split: the baselines (from the first run), each
    run, and the paper's NeurIPT scores; with the wall time of each row."""
    if not results:
        return ""
    _check_same(results)
    first = results[0]
    names = list(first["metrics"]) or list(first.get("baseline", {}).get("metrics", {}))
    lines = [f"| model | seeds | {' | '.join(names)} | wall time |", "|---|---|" + "---|" * len(names) + "---|"]
    for label, seeds, metrics, seconds in _baseline_rows(first):
        lines.append(f"| {label} | {seeds} | " + " | ".join(_cell(metrics.get(n)) for n in names) + f" | {_minutes(seconds)} |")
    for result in results:
        seconds = result.get("seconds", {}).get("model")
        lines.append(
            f"| {model_label(result)} | {len(result['seeds'])} | " + " | ".join(_cell(result["metrics"].get(n)) for n in names) + f" | {_minutes(seconds)} |"
        )
    if first.get("paper"):
        lines.append("| NeurIPT, paper (its full dataset and split, test subjects) | - | " + " | ".join(_cell(first["paper"].get(n)) for n in names) + " | - |")
    split = first["split"]
    scored = first.get("scored_on", "test")
    notes = [
        f"Task `{first['task']}`, split `{split['name']}` ({split['n_folds']} fold(s)), scored on the **{scored}** subjects"
        + (" (they also chose each model's epoch and the baseline's C)" if scored == "validation" else "")
        + f"; windows {first['windows']['window_s']:g} s"
        + (f", model on {first['windows']['crop_s']:g}-s crops" if first["windows"].get("crop_s") else "")
        + f"; {first['windows']['montage']}. Mean ± sample std over seeds, in percent. Wall time: training and scoring every seed."
    ]
    eegnet = first.get("eegnet")
    if eegnet and "skipped" in eegnet:
        notes.append(f"EEGNet was not run: {eegnet['skipped']}.")
    for result in results:
        for warning in result.get("warnings", []):
            notes.append(f"**Warning ({model_label(result)}):** {warning}")
    return "\n".join(lines) + "\n\n" + "\n\n".join(notes) + "\n"


def subject_table(results: list[dict], metric: str = "balanced_accuracy") -> str:
    """One row per scored subject: ``metric`` of every baseline and run (mean ± std over seeds)."""
    if not results:
        return ""
    _check_same(results)
    first = results[0]
    columns = [
        (label, first[key]["per_subject"])
        for key, label in (("baseline", "band power"), ("eegnet", "EEGNet"))
        if first.get(key) and "per_subject" in first[key]
    ]
    columns += [(model_label(r).replace("neuript ", ""), r.get("per_subject", {})) for r in results]
    subjects = list(dict.fromkeys(s for _, table in columns for s in table))
    lines = [f"| subject | {' | '.join(label for label, _ in columns)} |", "|---|" + "---|" * len(columns)]
    for subject in subjects:
        lines.append(f"| {subject} | " + " | ".join(_cell(table.get(subject, {}).get(metric)) for _, table in columns) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["markdown_table", "model_label", "subject_table"]
