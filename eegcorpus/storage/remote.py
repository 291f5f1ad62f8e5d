"""A location on object storage or any other fsspec filesystem (``s3://``, ``gs://``, ...).

Publication without rename. Object stores have no atomic rename of a folder, but a single
object appears whole. A folder is published by writing its objects under its own prefix while
that prefix has no commit object: readers only list what has one (a recording's ``zarr.json``
with its manifest), so until then the prefix is an invisible work area. Writing the commit
object, last and in one request, publishes it. Replacing first deletes the old commit object
(the folder disappears for readers), then its other objects, then writes the new version. A
build killed part-way leaves prefixes without a commit object; the next build clears each one
before writing it again.

The build lock is an object created with a conditional write (``If-None-Match: *``: only one
of two simultaneous creators succeeds). Its holder rewrites it every
:data:`HEARTBEAT_SECONDS` (``If-Match`` its own version); a lock whose heartbeat is older than
:data:`STALE_AFTER_SECONDS` belongs to a build that died, and the next build takes it over,
again conditionally, so that of two builds taking over only one wins; a holder that ran on the
same machine and has exited (a killed build) is taken over at once. Staleness compares the
holder's clock with the taker's: machines in one cluster keep them within seconds (NTP), far
inside the margin. Backends without conditional writes (``memory://``) fall back to
check-then-write, which is only safe for one process.

Raw files are read by the worker that processes them: it downloads the file and its companion
files (event tables, label files) into a temporary folder, with their object modification times,
and processes them there. Adapters discover files by name only, so a listing of the raw prefix
materialised as empty files in a temporary folder serves their ``find`` unchanged.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from eegcorpus._faults import fault_point
from eegcorpus.storage.base import LockHeldError, Storage, StorageAccessError

#: The holder of a lock rewrites it this often.
HEARTBEAT_SECONDS = 30.0
#: A lock not rewritten for this long belongs to a build that died; the next build takes it.
STALE_AFTER_SECONDS = 300.0


def _join(root: str, *parts: str) -> str:
    """``root/part/...`` with forward slashes (object keys)."""
    return "/".join([root.rstrip("/"), *(str(p).strip("/") for p in parts if str(p).strip("/"))])


def _access_error(url: str, err: BaseException) -> StorageAccessError | None:
    """The one-line error for missing or refused credentials and unreachable endpoints, or
    None when ``err`` is something else (a missing object, a full disk...)."""
    names = {type(e).__name__ for e in _chain(err)}
    text = " ".join(" ".join(str(e).split()) for e in _chain(err))
    if names & {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}:
        reason = "no credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or --storage-option key=... secret=...)"
    elif isinstance(err, PermissionError) or any(code in text for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden")):
        reason = f"access refused: the credentials are wrong or lack permission ({' '.join(str(err).split())[:160]})"
    elif names & {"EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError"}:
        reason = f"cannot connect to the endpoint ({' '.join(str(err).split())[:160]})"
    else:
        return None
    return StorageAccessError(f"{url}: {reason}")


def _chain(err: BaseException):
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


class FsspecStorage(Storage):
    """An fsspec URL; ``location`` is the URL text (without a trailing ``/``)."""

    def __init__(self, url: str, storage_options: dict | None = None):
        self.location = self.url = str(url).rstrip("/")
        self.storage_options = dict(storage_options or {})
        self._fs = None

    def __repr__(self) -> str:
        return f"FsspecStorage({self.url!r})"

    def __getstate__(self):  # filesystems hold sessions and event loops: reopen after unpickling
        return {"url": self.url, "storage_options": self.storage_options}

    def __setstate__(self, state):
        self.__init__(state["url"], state["storage_options"])

    @property
    def fs(self):
        if self._fs is None:
            from fsspec.core import url_to_fs

            self._fs, root = url_to_fs(self.url, **self.storage_options)
            self.root = root.rstrip("/")
        return self._fs

    def _key(self, key: str = "") -> str:
        self.fs  # noqa: B018 - sets self.root
        return _join(self.root, key)

    @contextlib.contextmanager
    def _access(self):
        """Credentials and endpoint problems as one line naming the URL."""
        try:
            yield
        except StorageAccessError:
            raise
        except Exception as err:
            access = _access_error(self.url, err)
            if access is not None:
                raise access from None
            raise

    # ------------------------------------------------------------------------------ reading
    def exists(self, key: str) -> bool:
        with self._access():
            try:
                return self.fs.info(self._key(key)).get("type") != "directory"
            except FileNotFoundError:
                return False

    def is_dir(self, key: str = "") -> bool:
        with self._access():
            return bool(self.fs.isdir(self._key(key)))

    def read_bytes(self, key: str) -> bytes:
        with self._access():
            return self.fs.cat_file(self._key(key))

    def stamp(self, key: str) -> list:
        path = self._key(key)
        with self._access():
            try:
                info = self.fs.info(path)
            except FileNotFoundError:
                return [None, None]
        if info.get("type") == "directory":
            return [None, None]
        return [int(info["size"]), self._mtime_ns(path, info)]

    def _mtime_ns(self, path: str, info: dict) -> int | None:
        """Modification time in integer nanoseconds (exact: no float round trip)."""
        for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
            value = info.get(key)
            if value is None:
                continue
            if hasattr(value, "timestamp"):
                return int(value.timestamp()) * 10**9 + value.microsecond * 1000
            if isinstance(value, (int, float)):
                return int(round(float(value) * 1e9))
        try:
            value = self.fs.modified(path)
        except (NotImplementedError, OSError):
            return None
        return int(value.timestamp()) * 10**9 + value.microsecond * 1000

    def sha256(self, key: str) -> str:
        import hashlib

        digest = hashlib.sha256()
        with self._access(), self.fs.open(self._key(key), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def _relative(self, keys, base: str) -> list[str]:
        prefix = base.rstrip("/") + "/"
        return sorted({k[len(prefix) :] for k in keys if k.startswith(prefix)})

    def glob(self, pattern: str) -> list[str]:
        with self._access():
            self.fs.invalidate_cache()  # listings are cached; other processes add objects
            return self._relative(self.fs.glob(self._key(pattern)), self._key())

    def list_dirs(self, key: str = "") -> list[str]:
        base = self._key(key)
        with self._access():
            self.fs.invalidate_cache(base)
            try:
                entries = self.fs.ls(base, detail=True)
            except FileNotFoundError:
                return []
        return sorted(PurePosixPath(e["name"]).name for e in entries if e.get("type") == "directory")

    def list_files(self, key: str) -> list[str]:
        base = self._key(key)
        with self._access():
            self.fs.invalidate_cache(base)
            return self._relative(self.fs.find(base), base)

    # ------------------------------------------------------------------------------ writing
    def write_bytes(self, key: str, data: bytes) -> None:
        """One request: an object store replaces an object whole, so readers see old or new."""
        with self._access():
            self.fs.pipe_file(self._key(key), data)

    def create(self) -> None:
        pass  # prefixes exist as soon as an object is written under them

    def publish(self, key: str, write: Callable[[Path], None], commit: str) -> None:
        prefix = self._key(key)
        commit_key = _join(prefix, commit)
        with tempfile.TemporaryDirectory(prefix="eegcorpus-publish-") as tmp:
            folder = Path(tmp) / PurePosixPath(key).name
            fault_point("staging")
            write(folder)
            fault_point("publish")
            with self._access():
                fs = self.fs
                fs.invalidate_cache(prefix)  # a listing cached before another process wrote here would hide objects
                if fs.exists(commit_key):
                    fs.rm_file(commit_key)
                leftovers = [k for k in fs.find(prefix) if k != commit_key]
                if leftovers:
                    fs.rm(leftovers)
                files = sorted(p for p in folder.rglob("*") if p.is_file())
                data = {_join(prefix, p.relative_to(folder).as_posix()): p.read_bytes() for p in files if p != folder / commit}
                if data:
                    fs.pipe(data)
                fs.pipe_file(commit_key, (folder / commit).read_bytes())
            fault_point("published")

    def clear_staging(self) -> None:
        pass  # uncommitted prefixes are cleared by the next publish to them

    def staging_entries(self) -> list[str]:
        return []

    @contextlib.contextmanager
    def lock(self, key: str):
        """The build lock as an object; see the module's description."""
        lock = _ObjectLock(self, self._key(key))
        lock.acquire()
        try:
            yield
        finally:
            lock.release()

    # ------------------------------------------------------------------------------ raw input
    @contextlib.contextmanager
    def listing(self):
        """A temporary folder with an empty file for every object below the location."""
        with tempfile.TemporaryDirectory(prefix="eegcorpus-listing-") as tmp:
            base = Path(tmp)
            with self._access():
                self.fs.invalidate_cache()
                keys = self._relative(self.fs.find(self._key()), self._key())
            for rel in keys:
                if rel.startswith("/") or ".." in PurePosixPath(rel).parts:
                    continue
                target = base / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
            yield base

    @contextlib.contextmanager
    def local_files(self, keys: list[str], stamps: dict[str, list] | None = None):
        with tempfile.TemporaryDirectory(prefix="eegcorpus-raw-") as tmp:
            base = Path(tmp)
            for rel in keys:
                before = (stamps or {}).get(rel) or self.stamp(rel)
                if before[0] is not None:
                    self._fetch(rel, base, before)
            yield base

    def _fetch(self, rel: str, dest: Path, before: list) -> Path:
        """Download ``rel`` to ``dest/rel`` with the object's modification time; ``before`` is
        its stamp taken before (the caller usually has it already).

        Raises
        ------
        OSError
            When the object changed during the download: the bytes could mix two versions, and
            the stamps stored with the recording would describe neither.
        """
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        source = self._key(rel)
        with self._access():
            self.fs.get_file(source, str(target))
        if self.stamp(rel) != before:
            raise OSError(f"{self.name(rel)}: the object changed while it was being downloaded; build again to store its new version")
        if before[1] is not None:
            os.utime(target, ns=(before[1], before[1]))
        return target

    # ------------------------------------------------------------------------------ zarr
    def zarr_store(self, key: str = "", read_only: bool = True):
        from zarr.storage import FsspecStore

        return FsspecStore.from_url(_join(self.url, key), storage_options=self.storage_options or None, read_only=read_only)


def _dead_here(held: dict) -> bool:
    """Whether the lock's holder ran on this machine and has exited (its lock can be taken at
    once instead of after :data:`STALE_AFTER_SECONDS`)."""
    if held.get("host") != socket.gethostname() or not isinstance(held.get("pid"), int):
        return False
    try:
        os.kill(held["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, under another user
    return False


class _ObjectLock:
    """A lock object with an owner and a heartbeat (see the module's description)."""

    def __init__(self, storage: FsspecStorage, key: str):
        self.storage, self.key = storage, key
        self.owner = f"pid {os.getpid()} on {socket.gethostname()}, since {_dt.datetime.now(_dt.UTC).isoformat(timespec='seconds')}"
        self.version: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        return json.dumps({"owner": self.owner, "host": socket.gethostname(), "pid": os.getpid(), "heartbeat": time.time()}).encode()

    def _write(self, **conditions) -> str | None:
        """Write the lock object under ``conditions``; its new version (ETag), or None where the
        backend does not report one."""
        fs = self.storage.fs
        try:
            out = fs.pipe_file(self.key, self._body(), **conditions)
        except TypeError:  # a backend without conditional writes: check, then write
            if conditions.get("mode") == "create" and fs.exists(self.key):
                raise FileExistsError(self.key) from None
            out = fs.pipe_file(self.key, self._body())
        if isinstance(out, dict) and out.get("ETag"):
            return out["ETag"]
        fs.invalidate_cache(self.key)
        return fs.info(self.key).get("ETag")

    def _held_by(self) -> tuple[dict, str | None]:
        fs = self.storage.fs
        fs.invalidate_cache(self.key)
        try:
            info = fs.info(self.key)
            held = json.loads(fs.cat_file(self.key))
        except FileNotFoundError:
            return {}, None
        except (json.JSONDecodeError, UnicodeDecodeError):
            held = {}
        return held, info.get("ETag")

    def acquire(self) -> None:
        with self.storage._access():
            try:
                self.version = self._write(mode="create")
            except FileExistsError:
                held, version = self._held_by()
                age = time.time() - float(held.get("heartbeat", 0.0))
                if version is not None and age <= STALE_AFTER_SECONDS and not _dead_here(held):
                    raise LockHeldError(f"{held.get('owner', 'another process')}; last heartbeat {age:.0f} s ago") from None
                # A dead holder's lock: take it over, only if nobody else did in between.
                try:
                    self.version = self._write(IfMatch=version) if version else self._write(mode="create")
                except (FileExistsError, OSError):
                    held, _ = self._held_by()
                    raise LockHeldError(f"{held.get('owner', 'another process')} (it took over a stale lock)") from None
        self._thread = threading.Thread(target=self._heartbeat, name="eegcorpus-lock-heartbeat", daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                with self.storage._access():
                    self.version = self._write(IfMatch=self.version) if self.version else self._write()
            except Exception as err:  # the lock was taken over or the store became unreachable
                from eegcorpus.log import logger

                self.lost = True
                logger.error(f"{self.storage.name()}: the build lock could not be renewed ({' '.join(str(err).split())[:200]}); another build may take it over")
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(Exception), self.storage._access():
            held, version = self._held_by()
            if held.get("owner") == self.owner and (self.version is None or version == self.version):
                self.storage.fs.rm_file(self.key)


__all__ = ["HEARTBEAT_SECONDS", "STALE_AFTER_SECONDS", "FsspecStorage"]
