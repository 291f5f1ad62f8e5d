"""The ``neuript`` command line."""

from __future__ import annotations

import json
import logging
import os

import typer

from eegcorpus.log import add_logging_options

app = typer.Typer(help="NeurIPT: pretrain and evaluate from eegcorpus zarr stores.", no_args_is_help=True, add_completion=False)


add_logging_options(app, logging.getLogger("neuript"))


@app.command()
def info(
    config: str = typer.Option("slim", "--config", help="slim or base."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Model size: total and activated parameters (one token uses k of E experts), experts per layer."""
    from neuript.config import get_config
    from neuript.model import NeurIPT

    try:
        cfg = get_config(config)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    counts = NeurIPT(cfg, pretraining=True).parameter_counts()
    data = {
        "config": config,
        **counts,
        "experts_per_layer": list(cfg.experts_per_layer),
        "merge_factors": list(cfg.merge_factors),
        "d_model": cfg.d_model,
        "n_heads": cfg.n_heads,
        "d_ff": cfg.d_ff,
        "expert_hidden": cfg.expert_hidden,
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(
        f"neuript {config}: {counts['params_total'] / 1e6:.2f} M parameters, {counts['params_activated'] / 1e6:.2f} M "
        f"activated per token (+ {counts['params_decoder'] / 1e6:.2f} M pretraining decoder)\n"
        f"  d_model {cfg.d_model}, {cfg.n_heads} heads, d_ff {cfg.d_ff}, expert hidden {cfg.expert_hidden}\n"
        f"  experts per layer {list(cfg.experts_per_layer)}, token merging {list(cfg.merge_factors)}"
    )


@app.command()
def pretrain(
    store: list[str] = typer.Option(..., "--store", help="A store written by 'eegcorpus build' (repeat for several)."),
    out: str = typer.Option(..., "--out", help="Run folder: checkpoint.pt, log.jsonl, settings.json."),
    config: str = typer.Option("slim", "--config", help="slim or base."),
    steps: int = typer.Option(None, "--steps", help="Optimiser steps (default: the CPU recipe's, docs/model.md)."),
    batch_size: int = typer.Option(None, "--batch-size"),
    lr: float = typer.Option(None, "--lr", help="Peak learning rate of the OneCycle schedule."),
    window: float = typer.Option(None, "--window", help="Window length in seconds."),
    montage: str = typer.Option(None, "--montage", help="scalp_average (the recipe's), neuript (double banana), stored or average."),
    reject_uv: float = typer.Option(None, "--reject-uv", help="Drop windows with any |x| above this (0: keep all)."),
    dropout: float = typer.Option(None, "--dropout", help="Dropout while pretraining (the recipe: 0)."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes."),
    checkpoint_every: int = typer.Option(50, "--checkpoint-every"),
    seed: int = typer.Option(520, "--seed"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    config_set: list[str] = typer.Option([], "--config-set", help="Override one configuration field, KEY=VALUE (e.g. d_model=48; repeat)."),
    stop_at: int = typer.Option(0, "--stop-at", help="End this run at this step with a checkpoint, keeping the schedule of --steps (0: run to the end)."),
    record_windows: bool = typer.Option(False, "--record-windows", help="Each rank logs the windows of every step to RUN/windows/rank<r>.jsonl."),
    storage_option: list[str] = typer.Option([], "--storage-option", help="fsspec option for stores given as URLs, KEY=VALUE (repeat)."),
) -> None:
    """Amplitude-Aware Masked Pretraining from eegcorpus stores (CPU, or a GPU with bf16 when present).

    Under torchrun (torchrun --nproc_per_node N -m neuript pretrain ...) each process is one rank of
    a DistributedDataParallel job: gloo on CPUs, nccl on GPUs; rank 0 writes the log and checkpoints.
    """
    from eegcorpus.storage import parse_storage_options
    from neuript.pretrain import PretrainSettings
    from neuript.pretrain import pretrain as run

    try:
        overrides = _parse_overrides(config_set)
        options = parse_storage_options(storage_option)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    # Options not given keep the recipe's values (PretrainSettings); --reject-uv 0 keeps every window.
    given = {"steps": steps, "batch_size": batch_size, "lr": lr, "window_s": window, "montage": montage, "dropout": dropout}
    given = {k: v for k, v in given.items() if v is not None}
    if reject_uv is not None:
        given["reject_uv"] = reject_uv or None
    settings = PretrainSettings(
        stores=list(store),
        out=out,
        config=config,
        num_workers=workers,
        checkpoint_every=checkpoint_every,
        seed=seed,
        config_overrides=overrides,
        stop_at=stop_at or None,
        record_windows=record_windows,
        storage_options=options,
        **given,
    )
    last = run(settings, resume=resume, progress=progress)
    if os.environ.get("RANK", "0") != "0":  # one summary per job, from the rank that logs
        return
    if last:
        typer.echo(f"step {last['step']}: loss {last['loss']:.4f} (reconstruction {last['recon_loss']:.4f}, auxiliary {last['aux_loss']:.4f}) -> {out}")
    else:
        typer.echo(f"nothing to do: {out} already holds {settings.steps} steps")


def _parse_overrides(items: list[str]) -> dict:
    """``KEY=VALUE`` strings as configuration overrides; values are read as JSON when they parse."""
    from dataclasses import fields

    from neuript.config import NeurIPTConfig

    known = {f.name for f in fields(NeurIPTConfig)}
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise ValueError(f"Invalid value for the '--config-set' option: {item!r} (expected KEY=VALUE with KEY one of {', '.join(sorted(known))}).")
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        overrides[key] = tuple(parsed) if isinstance(parsed, list) else parsed
    return overrides


@app.command()
def tasks(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The downstream tasks: classes, windows, montage, paper split and metrics (from the catalog cards)."""
    from neuript.tasks import get_task, task_names

    data = [get_task(name).to_dict() for name in task_names()]
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    for task in data:
        typer.echo(
            f"{task['task']}: {task['description']}; classes {', '.join(task['classes'])}; {task['window_s']:g}-s windows, "
            f"{task['windows']}; {task['montage']}; {task['split']}; metrics {', '.join(task['metrics'])}"
        )


@app.command()
def finetune(
    task: str = typer.Option(..., "--task", help="A downstream task (neuript tasks)."),
    store: list[str] = typer.Option(..., "--store", help="A store of the task's dataset (repeat for several)."),
    out: str = typer.Option(..., "--out", help="Run folder: result.json, results.md, weights and logits per seed."),
    init: str = typer.Option(None, "--init", help="Pretraining checkpoint to start the encoder from (default: random weights)."),
    mode: str = typer.Option("full", "--mode", help="full (fine-tune everything) or linear (frozen encoder, train the linear layer)."),
    seeds: int = typer.Option(3, "--seeds", help="Number of seeds; results are mean and std over them."),
    split: str = typer.Option("paper", "--split", help="paper (the card's split), loso (leave one subject out) or a JSON file of subject ids."),
    config: str = typer.Option("slim", "--config", help="Model configuration without --init (with it, the checkpoint's)."),
    config_set: list[str] = typer.Option(
        [], "--config-set", help="Override one configuration field, KEY=VALUE (with --init only fields without weights, e.g. attention_dropout=0)."
    ),
    epochs: int = typer.Option(None, "--epochs", help="Most epochs (default: the mode's recipe, docs/finetune.md)."),
    patience: int = typer.Option(None, "--patience", help="Stop after this many epochs without a better validation score."),
    batch_size: int = typer.Option(None, "--batch-size"),
    lr: float = typer.Option(None, "--lr", help="Peak learning rate of the encoder (linear: of the head)."),
    head_lr: float = typer.Option(None, "--head-lr", help="Peak learning rate of the head (full fine-tuning)."),
    freeze_epochs: int = typer.Option(None, "--freeze-epochs", help="First epochs that train the head alone, encoder frozen."),
    dropout: float = typer.Option(None, "--dropout", help="Dropout of the model while fine-tuning (residual, feed-forward, head)."),
    label_smoothing: float = typer.Option(0.1, "--label-smoothing", help="Label smoothing of the Bal-BCE loss."),
    prior_scale: float = typer.Option(0.3, "--prior-scale", help="K of the Bal-BCE loss: how much of the log prior odds shifts the training logits."),
    aux_weight: float = typer.Option(0.8, "--aux-weight", help="Weight of the MoE auxiliary loss while the encoder trains."),
    crop: float = typer.Option(
        None,
        "--crop",
        help="Train on random crops of this many seconds; score a window by its crops' mean logits (default: the recipe's 1 s; 0: whole windows).",
    ),
    channel_rms: float = typer.Option(
        None,
        "--channel-rms",
        help="Scale every channel of every window to this RMS in microvolts before A-law (default: the recipe's 6.6; 0: unscaled).",
    ),
    subject: list[str] = typer.Option([], "--subject", help="Only this subject's windows (repeat)."),
    montage: str = typer.Option(None, "--montage", help="Override the task's montage (stored, average, neuript)."),
    allow_leakage: bool = typer.Option(
        False, "--allow-leakage", help="Fine-tune even when an evaluation recording was in the checkpoint's pretraining stores (the results carry a warning)."
    ),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Score the band-power baseline and EEGNet beside the model."),
    device: str = typer.Option("auto", "--device", help="auto (a GPU when present), cpu, cuda or cuda:N."),
    seed: int = typer.Option(520, "--seed", help="First seed."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Fine-tune (or linearly probe) NeurIPT on a downstream task, with the band-power baseline and EEGNet beside it."""
    from neuript.finetune import FinetuneSettings, markdown_table
    from neuript.finetune import finetune as run
    from neuript.leakage import LeakageError

    try:
        settings = FinetuneSettings(
            task=task,
            stores=list(store),
            out=out,
            init=init,
            mode=mode,
            seeds=seeds,
            split=split,
            config=config,
            config_overrides=_parse_overrides(config_set),
            epochs=epochs,
            patience=patience,
            batch_size=batch_size,
            lr=lr,
            head_lr=head_lr,
            freeze_epochs=freeze_epochs,
            dropout=dropout,
            label_smoothing=label_smoothing,
            prior_scale=prior_scale,
            aux_weight=aux_weight,
            crop_s=crop,
            channel_rms=channel_rms,
            subjects=list(subject) or None,
            montage=montage,
            allow_leakage=allow_leakage,
            baselines=baselines,
            device=device,
            seed=seed,
        )
        result = run(settings, progress=progress)
    except (ValueError, LeakageError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(markdown_table([result]))


@app.command()
def evaluate(
    run: str = typer.Option(..., "--run", help="A run folder written by 'neuript finetune'."),
    as_json: bool = typer.Option(False, "--json", help="Print the result JSON."),
    progress: bool = typer.Option(False, "--progress/--no-progress"),
    device: str | None = typer.Option(None, "--device", help="auto (a GPU when present), cpu, cuda or cuda:N; default: the run's own."),
) -> None:
    """Re-score a saved fine-tuning run from its saved weights (rewrites RUN/result.json and RUN/results.md)."""
    from neuript.finetune import evaluate_run, markdown_table

    try:
        result = evaluate_run(run, progress=progress, device=device)
    except (ValueError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result, indent=1) if as_json else markdown_table([result]))


@app.command()
def report(
    runs: list[str] = typer.Argument(..., help="Run folders of one task and split."),
    subjects: bool = typer.Option(False, "--subjects", help="Add a per-subject table of balanced accuracy."),
) -> None:
    """One markdown table for several fine-tuning runs of the same task and split (baselines, runs, paper)."""
    from neuript.finetune import read_result
    from neuript.report import markdown_table, subject_table

    try:
        results = [read_result(r) for r in runs]
        typer.echo(markdown_table(results))
        if subjects:
            typer.echo(subject_table(results))
    except (ValueError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None


@app.command()
def fingerprint(
    run: str = typer.Option(..., "--run", help="A pretraining run folder (checkpoint.pt, settings.json)."),
    out: str = typer.Option(None, "--out", help="Write the stamped checkpoint here (default: over the run's own)."),
    force: bool = typer.Option(False, "--force", help="Record even when a store was built after the run started."),
) -> None:
    """Record the pretraining stores' fingerprints in a checkpoint made before they were recorded."""
    from neuript.leakage import checkpoint_fingerprints, stamp_run

    try:
        path = stamp_run(run, out=out, force=force)
    except (RuntimeError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    record = checkpoint_fingerprints(path)
    typer.echo(f"{len(record['recordings'])} recording fingerprints of {', '.join(record['stores'])} -> {path}")


@app.command()
def version() -> None:
    """Print the neuript version."""
    from neuript import __version__

    typer.echo(__version__)


def main() -> None:
    from neuript._allocator import reexec_with_tuned_allocator

    reexec_with_tuned_allocator("neuript")  # training steps are 1.3-1.6x faster (neuript/_allocator.py)
    app()
