"""A folder on a local (or mounted) filesystem."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import sys
import uuid
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from eegcorpus._faults import fault_point
from eegcorpus.storage.base import LockHeldError, Storage, lock_owner

#: The private work area: a folder being published is written here first (same filesystem, so
#: that publishing is a rename).
STAGING = ".staging"


class LocalStorage(Storage):
    """A folder; ``location`` is its :class:`~pathlib.Path`."""

    def __init__(self, root: str | Path):
        self.location = self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root / key if key else self.root

    # ------------------------------------------------------------------------------ reading
    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def is_dir(self, key: str = "") -> bool:
        return self._path(key).is_dir()

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def read_json(self, key: str, default):
        import json

        try:
            return json.loads(self._path(key).read_text())
        except (FileNotFoundError, NotADirectoryError):
            return default

    def stamp(self, key: str) -> list:
        try:
            st = self._path(key).stat()
        except OSError:
            return [None, None]
        return [st.st_size, st.st_mtime_ns]

    def sha256(self, key: str) -> str:
        with open(self._path(key), "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()

    def glob(self, pattern: str) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.glob(pattern) if p.is_file())

    def list_dirs(self, key: str = "") -> list[str]:
        folder = self._path(key)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir())

    def list_files(self, key: str) -> list[str]:
        folder = self._path(key)
        return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())

    # ------------------------------------------------------------------------------ writing
    def write_bytes(self, key: str, data: bytes) -> None:
        """Write to a temporary file beside ``key`` and rename it over ``key``."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a full disk leaves no partial file behind
            raise

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / STAGING).mkdir(exist_ok=True)

    def publish(self, key: str, write: Callable[[Path], None], commit: str) -> None:
        """Write into ``.staging/`` and rename into place; a folder already at ``key`` is
        swapped with the new one in one step (Linux ``renameat2(RENAME_EXCHANGE)``), so a
        reader sees the old version, then the new one. Where the filesystem cannot swap, the
        old one is moved aside first and a reader briefly sees none."""
        final = self._path(key)
        staging = self.root / STAGING / f"{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        final.parent.mkdir(parents=True, exist_ok=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            fault_point("staging")
            write(staging)
            fault_point("publish")
            if final.exists():
                if _exchange(staging, final):
                    # `staging` now holds the old version, which no reader lists.
                    shutil.rmtree(staging, ignore_errors=True)
                else:
                    aside = self.root / STAGING / f"{final.name}.replaced.{uuid.uuid4().hex[:8]}"
                    os.rename(final, aside)
                    os.rename(staging, final)
                    shutil.rmtree(aside, ignore_errors=True)
            else:
                os.rename(staging, final)
            fault_point("published")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def clear_staging(self) -> None:
        staging = self.root / STAGING
        if not staging.is_dir():
            return
        for entry in staging.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def staging_entries(self) -> list[str]:
        staging = self.root / STAGING
        return sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []

    @contextlib.contextmanager
    def lock(self, key: str):
        """An exclusive ``flock`` on the file ``key``: the kernel releases it when the holder
        exits, however it exits (SIGKILL included), so a crashed build never leaves a stale
        lock behind. The file names the holder for the next build's message."""
        import fcntl

        path = self._path(key)
        handle = open(path, "a+")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise LockHeldError(handle.read().strip() or "another process") from None
            handle.seek(0)
            handle.truncate()
            handle.write(lock_owner())
            handle.flush()
            yield
        finally:
            handle.close()

    # ------------------------------------------------------------------------------ raw input
    @contextlib.contextmanager
    def listing(self):
        yield self.root

    @contextlib.contextmanager
    def local_files(self, keys: list[str], stamps: dict[str, list] | None = None):
        yield self.root

    # ------------------------------------------------------------------------------ zarr
    def zarr_store(self, key: str = "", read_only: bool = True):
        from zarr.storage import LocalStore

        return LocalStore(self._path(key), read_only=read_only)


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or filesystem cannot, and the caller falls back to two renames.

    With the swap, a replaced recording is never missing from ``recordings/``, even for a
    moment, and a build killed while replacing it leaves the old or the new version in place.
    """
    libc = _libc()
    if libc is None:
        return False
    at_fdcwd = -100
    if libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    import ctypes

    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False  # no renameat2, or a filesystem without exchange (some network ones)
    raise OSError(err, os.strerror(err), str(b))


@lru_cache(maxsize=1)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # not glibc >= 2.28 (musl, old systems)
        return None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    return libc


__all__ = ["STAGING", "LocalStorage"]
