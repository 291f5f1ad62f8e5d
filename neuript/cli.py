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
def version() -> None:
    """Print the neuript version."""
    from neuript import __version__

    typer.echo(__version__)


def main() -> None:
    app()
