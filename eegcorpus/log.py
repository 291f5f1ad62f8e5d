"""The ``eegcorpus`` logger (``logging.getLogger("eegcorpus")``), as MNE's: what a build has to
say while it runs is a log record, never a bare print; the command line sets the level
(``-v`` / ``-q``), and a program embedding the library configures ``logging`` as it likes."""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("eegcorpus")


class ProgressAwareHandler(logging.Handler):
    """Writes records to the current ``sys.stderr`` through ``tqdm.write``, so that a line
    printed while a progress bar runs appears above the bar instead of breaking it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:
            self.handleError(record)


def ensure_handler(target: logging.Logger) -> None:
    """Give ``target`` one stderr handler when nobody configured logging.

    A library must not configure logging for its host, but a command asked for progress should
    show it even when nothing was configured: only then is a handler added, once.
    """
    if not target.handlers and not logging.getLogger().handlers:
        handler = ProgressAwareHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        target.addHandler(handler)
        if target.level == logging.NOTSET:
            target.setLevel(logging.INFO)


def set_level(verbose: bool = False, quiet: bool = False, target: logging.Logger = logger) -> None:
    """The command line's ``-v`` (DEBUG) and ``-q`` (WARNING: problems only); INFO otherwise."""
    if verbose and quiet:
        raise ValueError("Invalid combination of the 'verbose' and 'quiet' parameters: choose one, but got both.")
    ensure_handler(target)
    target.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


def add_logging_options(app, target: logging.Logger) -> None:
    """Give a typer ``app`` the ``-v/--verbose`` and ``-q/--quiet`` options, setting ``target``."""
    import typer

    @app.callback()
    def _logging_options(
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Say more: debug messages too."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Say less: warnings and errors only."),
    ) -> None:
        if verbose and quiet:
            typer.echo("error: choose one of --verbose and --quiet, not both", err=True)
            raise typer.Exit(2)
        set_level(verbose=verbose, quiet=quiet, target=target)


__all__ = ["ProgressAwareHandler", "add_logging_options", "ensure_handler", "logger", "set_level"]
