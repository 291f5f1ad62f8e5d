"""The ``neuript`` command line. Commands arrive with the model."""

from __future__ import annotations

import typer

app = typer.Typer(help="NeurIPT: pretrain and evaluate from eegcorpus zarr stores.", no_args_is_help=True)


@app.command()
def version() -> None:
    """Print the neuript version."""
    from neuript import __version__

    typer.echo(__version__)


def main() -> None:
    app()
