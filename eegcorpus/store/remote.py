"""Stores and raw folders on object storage, through fsspec URLs (``s3://``, ``gs://``, ...).

A store on object storage has the layout of a local one (docs/store.md) and plain xarray opens
its recordings (``xr.open_zarr(URL, group="recordings/<id>", storage_options=...)``).
Credentials and endpoints come the standard way: the provider's environment variables (for S3:
``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_PROFILE``, ...) or
fsspec storage options (``--storage-option key=value`` on the command lines).

Publication without rename. Object stores have no atomic rename of a folder, but a single
object appears whole. A recording's objects are written under its own prefix
(``recordings/<id>/``) while that prefix has no group metadata: readers only list recordings
whose ``zarr.json`` exists (and holds the manifest), so until then the prefix is an invisible
work area. Writing the group metadata, last and in one request, commits the recording.
Replacing a recording first deletes its metadata (it disappears for readers), then its other
objects, then writes the new version. A build killed part-way leaves prefixes without metadata;
the next build clears each one before writing it again. The index table is written by the
client after the run, as for local stores, and ``open_store`` completes it from the committed
recordings.

Raw files are read by the worker that processes them: it downloads the file and its companion
files (event tables, label files) into a temporary folder, with their object modification times,
and processes them there. Adapters discover files by name only, so a listing of the raw prefix
materialised as empty files in a temporary folder serves their ``find`` unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from functools import cached_property
from pathlib import Path, PurePosixPath

from eegcorpus.store.writer import GROUP_METADATA, MANIFEST, RECORDINGS, STORE_FORMAT_VERSION, TABLES


def is_url(path) -> bool:
    """True for an fsspec URL with a protocol other than the local filesystem."""
    if not isinstance(path, str) or "://" not in path:
        return False
    return not path.startswith(("file://", "local://"))


def parse_storage_options(items) -> dict:
    """``["key=value", ...]`` as fsspec storage options; values are read as JSON when they
    parse (``anon=true``, ``client_kwargs={"region_name": "eu-west-1"}``), else kept as text.

    Raises
    ------
    ValueError
        When an item has no ``=``.
    """
    options = {}
    for item in items or ():
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise ValueError(f"Invalid value for the 'storage_option' parameter: {item!r} (expected KEY=VALUE, e.g. endpoint_url=http://host:9000).")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def filesystem(url: str, storage_options: dict | None = None):
    """(fsspec filesystem, path without protocol) of ``url``."""
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(url, **(storage_options or {}))
    return fs, path.rstrip("/")


@contextlib.contextmanager
def storage_defaults(urls, storage_options: dict | None):
    """Make ``storage_options`` fsspec's defaults for the protocols of ``urls`` in this block.

    For code that opens a URL without taking options (helpers of other packages, plain xarray);
    fsspec's own configuration (``fsspec.config.conf``, ``FSSPEC_S3_ENDPOINT_URL``, ...) is
    restored on exit.
    """
    import fsspec.config

    protocols = {str(u).split("://", 1)[0] for u in urls if is_url(u)}
    if not storage_options or not protocols:
        yield
        return
    conf = fsspec.config.conf
    saved = {p: dict(conf[p]) if p in conf else None for p in protocols}
    for protocol in protocols:
        conf[protocol] = {**conf.get(protocol, {}), **storage_options}
    try:
        yield
    finally:
        for protocol, value in saved.items():
            if value is None:
                conf.pop(protocol, None)
            else:
                conf[protocol] = value


def join(root: str, *parts: str) -> str:
    """``root/part/...`` with forward slashes (object keys, URLs)."""
    return "/".join([root.rstrip("/"), *(str(p).strip("/") for p in parts)])


def _mtime_ns(fs, path: str, info: dict) -> int | None:
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
        value = fs.modified(path)
    except (NotImplementedError, OSError):
        return None
    return int(value.timestamp()) * 10**9 + value.microsecond * 1000


def stamp(fs, path: str) -> list:
    """``[size, mtime_ns]`` of an object, or ``[None, None]`` when it is missing (as the local
    builder stamps files)."""
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return [None, None]
    if info.get("type") == "directory":
        return [None, None]
    return [int(info["size"]), _mtime_ns(fs, path, info)]


# ----------------------------------------------------------------------------- raw folders
@contextlib.contextmanager
def listing_tree(fs, root: str):
    """A temporary folder with an empty file for every object under ``root`` (same relative
    paths), for adapters' ``find``; removed on exit."""
    with tempfile.TemporaryDirectory(prefix="eegcorpus-listing-") as tmp:
        base = Path(tmp)
        prefix = root.rstrip("/") + "/"
        for key in fs.find(root):
            rel = key[len(prefix) :] if key.startswith(prefix) else None
            if not rel or rel.startswith("/") or ".." in PurePosixPath(rel).parts:
                continue
            target = base / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
        yield base


def fetch(fs, root: str, rel: str, dest: Path) -> Path:
    """Download ``root/rel`` to ``dest/rel`` with the object's modification time; returns it.

    Raises
    ------
    OSError
        When the object changed during the download: the bytes could mix two versions, and the
        stamps stored with the recording would describe neither.
    """
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    source = join(root, rel)
    before = stamp(fs, source)
    fs.get_file(source, str(target))
    if stamp(fs, source) != before:
        raise OSError(f"{source}: the object changed while it was being downloaded; build again to store its new version")
    if before[1] is not None:
        os.utime(target, ns=(before[1], before[1]))
    return target


# ----------------------------------------------------------------------------- stores
def _group_document(attributes: dict | None = None) -> bytes:
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attributes or {}}, indent=2).encode()


def init_remote_store(url: str, storage_options: dict | None = None) -> None:
    """Create the root group (with the format marker) and ``recordings/`` if missing."""
    fs, root = filesystem(url, storage_options)
    if not fs.exists(join(root, GROUP_METADATA)):
        fs.pipe_file(join(root, GROUP_METADATA), _group_document({"eegcorpus_store_format": STORE_FORMAT_VERSION}))
    if not fs.exists(join(root, RECORDINGS, GROUP_METADATA)):
        fs.pipe_file(join(root, RECORDINGS, GROUP_METADATA), _group_document())


def remote_recording_attrs(fs, root: str, recording_id: str) -> dict | None:
    """A committed recording's attributes, or None when it is absent or not committed."""
    try:
        document = json.loads(fs.cat_file(join(root, RECORDINGS, recording_id, GROUP_METADATA)))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    attrs = document.get("attributes", {})
    return attrs if MANIFEST in attrs else None


def committed_ids(fs, root: str) -> list[str]:
    """Recordings whose group metadata exists (committed), sorted."""
    prefix = join(root, RECORDINGS) + "/"
    fs.invalidate_cache(join(root, RECORDINGS))  # listings are cached; other processes add recordings
    ids = []
    for key in fs.glob(join(root, RECORDINGS, "*", GROUP_METADATA)):
        rel = key[len(prefix) :] if key.startswith(prefix) else key.split(f"/{RECORDINGS}/", 1)[-1]
        ids.append(rel.split("/", 1)[0])
    return sorted(set(ids))


def publish(fs, root: str, recording_id: str, folder: Path) -> str:
    """Upload a recording written locally (``folder``, a recording group) and commit it.

    Order: the old metadata (if any) is deleted, then every other old object, then the new data
    objects are written, then the new metadata last (the commit). Returns the recording's prefix.
    """
    prefix = join(root, RECORDINGS, recording_id)
    metadata = join(prefix, GROUP_METADATA)
    fs.invalidate_cache(prefix)  # a listing cached before another process wrote here would hide objects
    if fs.exists(metadata):
        fs.rm_file(metadata)
    leftovers = [key for key in fs.find(prefix) if key != metadata]
    if leftovers:
        fs.rm(leftovers)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    data = {join(prefix, p.relative_to(folder).as_posix()): p.read_bytes() for p in files if p.name != GROUP_METADATA or p.parent != folder}
    if data:
        fs.pipe(data)
    fs.pipe_file(metadata, (folder / GROUP_METADATA).read_bytes())
    return prefix


def read_json_remote(fs, path: str, default):
    try:
        return json.loads(fs.cat_file(path))
    except FileNotFoundError:
        return default


def write_json_remote(fs, path: str, obj) -> None:
    """One request: an object store replaces an object whole, so readers see old or new."""
    from eegcorpus.store import _json_default

    fs.pipe_file(path, json.dumps(obj, indent=1, default=_json_default).encode())


def index_rows(fs, root: str, cached_rows: list[dict] | None = None) -> list[dict]:
    """Index rows of every committed recording: cached rows where present, the recording's own
    attributes otherwise (a build killed before writing the table)."""
    from eegcorpus.store import index_row

    cached = {row["recording_id"]: row for row in (cached_rows or [])}
    rows = []
    for rid in committed_ids(fs, root):
        row = cached.get(rid)
        if row is None:
            attrs = remote_recording_attrs(fs, root, rid)
            if attrs is None:
                continue
            row = index_row(attrs)
        rows.append(row)
    return rows


def open_recording_group(store_path: str, recording_id: str, storage_options: dict | None = None):
    """The zarr group of one recording, read-only, on local disk or object storage."""
    import zarr

    if not is_url(store_path):
        return zarr.open_group(str(Path(store_path) / RECORDINGS / recording_id), mode="r", zarr_format=3)
    from zarr.storage import FsspecStore

    store = FsspecStore.from_url(join(store_path, RECORDINGS, recording_id), storage_options=storage_options or None, read_only=True)
    return zarr.open_group(store=store, mode="r", zarr_format=3)


def _store_base():
    from eegcorpus.store import Store

    return Store


class RemoteStore(_store_base()):
    """A store on object storage; the same interface as :class:`eegcorpus.store.Store`.

    Use :func:`eegcorpus.open_store` with a URL.
    """

    def __init__(self, url: str, storage_options: dict | None = None):
        self.path = url.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self.fs, self.root = filesystem(self.path, self.storage_options)
        if not self.fs.exists(join(self.root, GROUP_METADATA)):
            raise FileNotFoundError(f"{self.path}: not an eegcorpus store (no zarr.json)")

    def __getstate__(self):  # filesystems hold sessions and event loops: reopen after unpickling
        return {"path": self.path, "storage_options": self.storage_options}

    def __setstate__(self, state):
        self.__init__(state["path"], state["storage_options"])

    @cached_property
    def index(self):
        import pandas as pd

        from eegcorpus.store import INDEX_COLUMNS

        rows = index_rows(self.fs, self.root, read_json_remote(self.fs, join(self.root, TABLES, "recordings.json"), []))
        frame = pd.DataFrame(rows, columns=("recording_id",) + INDEX_COLUMNS)
        return frame.set_index("recording_id").sort_index()

    def refresh(self) -> RemoteStore:
        self.fs.invalidate_cache()
        return super().refresh()

    def attrs(self, recording_id: str) -> dict:
        attrs = remote_recording_attrs(self.fs, self.root, recording_id)
        if attrs is None:
            raise KeyError(f"recording {recording_id!r} is not in {self.path}")
        for key in (MANIFEST, "metadata_sha256"):
            attrs.pop(key, None)
        return attrs

    def dataset(self, recording_id: str):
        import xarray as xr

        if remote_recording_attrs(self.fs, self.root, recording_id) is None:
            raise KeyError(f"recording {recording_id!r} is not in {self.path}")
        return xr.open_zarr(self.path, group=f"{RECORDINGS}/{recording_id}", consolidated=False, zarr_format=3, storage_options=self.storage_options or None)

    @property
    def failures(self):
        import pandas as pd

        return pd.DataFrame(read_json_remote(self.fs, join(self.root, TABLES, "failures.json"), []), columns=["file", "stage", "error"])

    @property
    def builds(self) -> list[dict]:
        return read_json_remote(self.fs, join(self.root, TABLES, "builds.json"), [])


__all__ = [
    "RemoteStore",
    "committed_ids",
    "fetch",
    "filesystem",
    "init_remote_store",
    "is_url",
    "listing_tree",
    "open_recording_group",
    "parse_storage_options",
    "publish",
    "stamp",
    "storage_defaults",
]
