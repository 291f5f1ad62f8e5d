"""The ``neuript`` logger (``logging.getLogger("neuript")``), as MNE's: progress and notes are
log records, never bare prints; the command line sets the level (``-v`` / ``-q``)."""

from __future__ import annotations

import functools
import logging

from eegcorpus.log import ensure_handler
from eegcorpus.log import set_level as _set_level

logger = logging.getLogger("neuript")

set_level = functools.partial(_set_level, target=logger)
set_level.__doc__ = "The command line's ``-v`` (DEBUG) and ``-q`` (WARNING: problems only); INFO otherwise."


def say(progress: bool, text: str) -> None:
    """Log ``text`` at INFO when ``progress`` is on."""
    if progress:
        ensure_handler(logger)
        logger.info(text)


__all__ = ["logger", "say", "set_level"]
