"""The storage interface: what the store, the build and the loader need of a location."""

from __future__ import annotations

import abc
import contextlib
import datetime as _dt
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path

from eegcorpus.errors import EEGCorpusError


class StorageAccessError(EEGCorpusError):
    """A location cannot be reached: missing or wrong credentials, an unknown endpoint."""


class LockHeldError(EEGCorpusError):
    """Another build holds the lock of this store."""


def lock_owner() -> str:
    """Who takes a lock, in the words its message shows to the next build."""
    return f"pid {os.getpid()} on {socket.gethostname()}, since {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}"


def json_default(value):
    """JSON for the numpy scalars and arrays that tables and attributes carry."""
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


class Storage(abc.ABC):
    """A folder-like location: a local folder or an fsspec URL.

    Keys are paths relative to the location, separated by ``/`` (``"tables/failures.json"``);
    ``""`` is the location itself. Callers never need to know which backend they hold.
    """

    #: The location as the user gave it: a :class:`~pathlib.Path` for a folder, the URL text
    #: otherwise. Messages name it.
    location: Path | str

    def __str__(self) -> str:
        return str(self.location)

    def name(self, key: str = "") -> str:
        """The full name of ``key`` for messages: a path or a URL."""
        base = str(self.location).rstrip("/")
        return f"{base}/{key}" if key else base

    # ------------------------------------------------------------------------------ reading
    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a file (object) exists at ``key``."""

    @abc.abstractmethod
    def is_dir(self, key: str = "") -> bool:
        """Whether ``key`` is a folder (a prefix with objects below it)."""

    @abc.abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The bytes at ``key``; :class:`FileNotFoundError` when there are none."""

    @abc.abstractmethod
    def stamp(self, key: str) -> list:
        """``[size, mtime_ns]`` of the file at ``key``, or ``[None, None]`` when it is missing.

        The cache key of a raw file: a build stores it with the recording and compares it
        before reading the file again.
        """

    @abc.abstractmethod
    def sha256(self, key: str) -> str:
        """Hex sha256 of the file at ``key``."""

    @abc.abstractmethod
    def glob(self, pattern: str) -> list[str]:
        """Keys of the files matching ``pattern`` (``*`` within one level), sorted; listings
        are never served from a cache (other processes add files)."""

    @abc.abstractmethod
    def list_dirs(self, key: str = "") -> list[str]:
        """Names of the folders directly under ``key``, sorted."""

    @abc.abstractmethod
    def list_files(self, key: str) -> list[str]:
        """Keys, relative to ``key``, of every file below it, sorted."""

    def read_json(self, key: str, default):
        """The JSON document at ``key``, or ``default`` when there is none."""
        try:
            return json.loads(self.read_bytes(key))
        except FileNotFoundError:
            return default

    # ------------------------------------------------------------------------------ writing
    @abc.abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Replace the file at ``key`` whole: a reader sees the old bytes or the new ones,
        never a part (folders are created as needed)."""

    def write_json(self, key: str, obj) -> None:
        """:meth:`write_bytes` of ``obj`` as indented JSON (numpy values as numbers)."""
        self.write_bytes(key, json.dumps(obj, indent=1, default=json_default).encode())

    @abc.abstractmethod
    def create(self) -> None:
        """Make the location itself exist (a folder; nothing on object storage)."""

    @abc.abstractmethod
    def publish(self, key: str, write: Callable[[Path], None], commit: str) -> None:
        """Make a folder appear at ``key`` whole, replacing what was there.

        ``write(folder)`` fills a new local folder (it must not exist yet); then its files are
        published under ``key`` so that a reader, who looks for ``key/<commit>`` first, sees
        the old version or the new one and never a mixture: locally the folder is renamed into
        place in one step; on object storage the old commit file is deleted first and the new
        one written last.
        """

    @abc.abstractmethod
    def clear_staging(self) -> None:
        """Remove what stopped builds left in the private work area (the build lock is held)."""

    @abc.abstractmethod
    def staging_entries(self) -> list[str]:
        """Names of what is in the private work area (stopped builds' leftovers)."""

    @abc.abstractmethod
    def lock(self, key: str) -> contextlib.AbstractContextManager[None]:
        """Hold the exclusive lock ``key`` for the block.

        Raises
        ------
        LockHeldError
            At once when another process holds it; the message names the holder.
        """

    # ------------------------------------------------------------------------------ raw input
    @abc.abstractmethod
    def listing(self) -> contextlib.AbstractContextManager[Path]:
        """A local folder with the location's files at the same relative paths, for dataset
        adapters that find files by name (the folder itself when it is local; empty stand-ins
        on object storage)."""

    @abc.abstractmethod
    def local_files(self, keys: list[str], stamps: dict[str, list] | None = None) -> contextlib.AbstractContextManager[Path]:
        """A local folder holding the files ``keys`` (those that exist) at their relative paths,
        with their modification times, for the readers; downloaded when the location is remote.
        ``stamps`` are the keys' :meth:`stamp` where the caller has taken them already.

        Raises
        ------
        OSError
            When a file changed while it was being downloaded.
        """

    # ------------------------------------------------------------------------------ zarr
    @abc.abstractmethod
    def zarr_store(self, key: str = "", read_only: bool = True):
        """A zarr v3 store rooted at ``key`` (``zarr.open_group(store=...)``, xarray's
        ``open_zarr``)."""


__all__ = ["LockHeldError", "Storage", "StorageAccessError", "json_default", "lock_owner"]
