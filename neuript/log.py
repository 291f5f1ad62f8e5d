"""The ``neuript`` logger (``logging.getLogger("neuript")``), as MNE's: progress and notes are
log records, never bare prints; the command line sets the level (``-v`` / ``-q``)."""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger("neuript")


def _ensure_handler() -> None:
    # A library must not configure logging for its host; but a run asked for progress should show
    # it even when nobody configured logging. One stderr handler, added once, only then.
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


def say(progress: bool, text: str) -> None:
    """Log ``text`` at INFO when ``progress`` is on."""
    if progress:
        _ensure_handler()
        logger.info(text)


def set_level(verbose: bool = False, quiet: bool = False) -> None:
    """``verbose``: DEBUG; ``quiet``: WARNING; else INFO (the command line's ``-v`` / ``-q``)."""
    _ensure_handler()
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)


__all__ = ["logger", "say", "set_level"]
