"""The ``neuript`` command line."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="NeurIPT: pretrain and evaluate from eegcorpus zarr stores.", no_args_is_help=True, add_completion=False)


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
        raise typer.Exit(1)
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
    steps: int = typer.Option(100, "--steps"),
    batch_size: int = typer.Option(32, "--batch-size"),
    lr: float = typer.Option(3e-4, "--lr", help="Peak learning rate of the OneCycle schedule."),
    window: float = typer.Option(4.0, "--window", help="Window length in seconds."),
    montage: str = typer.Option("neuript", "--montage", help="neuript (double banana), stored or average."),
    reject_uv: float = typer.Option(100.0, "--reject-uv", help="Drop windows with any |x| above this (0: keep all)."),
    workers: int = typer.Option(0, "--workers", help="DataLoader worker processes."),
    checkpoint_every: int = typer.Option(50, "--checkpoint-every"),
    seed: int = typer.Option(520, "--seed"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its checkpoint."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Amplitude-Aware Masked Pretraining from eegcorpus stores (CPU, or a GPU with bf16 when present)."""
    from neuript.pretrain import PretrainSettings
    from neuript.pretrain import pretrain as run

    settings = PretrainSettings(
        stores=list(store), out=out, config=config, steps=steps, batch_size=batch_size, lr=lr, window_s=window,
        montage=montage, reject_uv=reject_uv or None, num_workers=workers, checkpoint_every=checkpoint_every, seed=seed,
    )
    last = run(settings, resume=resume, progress=progress)
    if last:
        typer.echo(f"step {last['step']}: loss {last['loss']:.4f} (reconstruction {last['recon_loss']:.4f}, auxiliary {last['aux_loss']:.4f}) -> {out}")
    else:
        typer.echo(f"nothing to do: {out} already holds {steps} steps")


@app.command()
def version() -> None:
    """Print the neuript version."""
    from neuript import __version__

    typer.echo(__version__)


def main() -> None:
    app()
