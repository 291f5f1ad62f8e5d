"""Where a store or a raw folder lives: one interface, one class per backend.

:class:`Storage` is what the rest of the package sees of a location: reading and writing keys
(paths relative to the location, with ``/``), listing them, stamping raw files, publishing a
recording so that readers never see it half-written, zarr stores for reading, and the build
lock. :class:`LocalStorage` implements it on a folder, :class:`FsspecStorage` on an fsspec URL
(``s3://``, ``gs://``, ``memory://``, ...). :func:`storage_for` picks one; it is the only place
that asks whether a location is a URL, so callers never branch on where data lives.

Credentials and endpoints for URLs come the standard way: the provider's environment variables
(for S3: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_PROFILE``,
...) or fsspec storage options (``--storage-option key=value`` on the command lines).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from eegcorpus.storage.base import LockHeldError, Storage, StorageAccessError

_LOCAL_PROTOCOLS = ("file://", "local://")


def is_url(location) -> bool:
    """True for an fsspec URL with a protocol other than the local filesystem."""
    if not isinstance(location, str) or "://" not in location:
        return False
    return not location.startswith(_LOCAL_PROTOCOLS)


def storage_for(location: str | Path | Storage, storage_options: dict | None = None) -> Storage:
    """The storage of a folder or an fsspec URL (a :class:`Storage` is returned as it is).

    Parameters
    ----------
    location : path-like | str | Storage
        A local folder (it need not exist yet), ``file://`` URL, or any fsspec URL.
    storage_options : dict | None
        fsspec options for a URL (``endpoint_url``, ``anon``, ...); ignored for folders.
    """
    if isinstance(location, Storage):
        return location
    if is_url(location):
        from eegcorpus.storage.remote import FsspecStorage

        return FsspecStorage(str(location), storage_options)
    from eegcorpus.storage.local import LocalStorage

    text = str(location)
    for prefix in _LOCAL_PROTOCOLS:
        if text.startswith(prefix):
            return LocalStorage(Path(text[len(prefix) :]))
    return LocalStorage(Path(location))


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


@contextlib.contextmanager
def storage_defaults(locations, storage_options: dict | None):
    """Make ``storage_options`` fsspec's defaults for the protocols of ``locations`` in this block.

    For code that opens a URL without taking options (helpers of other packages, plain xarray);
    fsspec's own configuration (``fsspec.config.conf``, ``FSSPEC_S3_ENDPOINT_URL``, ...) is
    restored on exit.
    """
    protocols = {str(u).split("://", 1)[0] for u in locations if is_url(u)}
    if not storage_options or not protocols:
        yield
        return
    import fsspec.config

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


__all__ = ["LockHeldError", "Storage", "StorageAccessError", "is_url", "parse_storage_options", "storage_defaults", "storage_for"]
