"""Exception types. Every error about a file names the file and the reason in one line."""

from __future__ import annotations

from pathlib import Path


class EEGCorpusError(Exception):
    """Base class of the errors this package raises on purpose."""


class ReaderError(EEGCorpusError):
    """A file cannot be read: damaged, truncated, unsupported or inconsistent.

    The message is one line: ``<path>: <reason>``.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = " ".join(str(reason).split())  # one line, whatever the cause said
        super().__init__(f"{self.path}: {self.reason}")


class UnsupportedFormatError(ReaderError):
    """No reader handles this file."""


class ChannelError(EEGCorpusError):
    """A channel name or position problem (unknown position, duplicate name, ...)."""
