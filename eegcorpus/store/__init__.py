"""Zarr v3 stores of processed recordings, readable by plain xarray.

Layout::

    STORE/
      zarr.json                 root group (attribute eegcorpus_store_format)
      recordings/<id>/          one xarray dataset per recording: signal [channel, time] with
                                coordinates ch_name, ch_name_orig, ch_type, x, y, z, lobe and
                                attributes sfreq, units, dataset, subject, ..., provenance
      recordings/<id>/zarr.json the recording's attributes, with a sha256 manifest of its
                                other files; written last
      tables/recordings.json    the recordings index (a cache of the recordings' attributes)
      tables/failures.json      file, stage, error for every input that could not be stored
      tables/builds.json        one entry per build run (profile, versions, counts)
      .staging/                 recordings being written (never read)

``xarray.open_zarr(STORE, group="recordings/<id>", consolidated=False)`` opens one recording
(values in microvolts). Metadata is not consolidated: xarray looks for it at the store root,
which would change with every recording a build adds.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from eegcorpus.storage import Storage, storage_for
from eegcorpus.storage.local import STAGING, LocalStorage
from eegcorpus.store.writer import GROUP_METADATA, MANIFEST, METADATA_DIGEST, RECORDINGS, TABLES, init_store, write_recording

#: Index columns, in order (the recording id is the index).
INDEX_COLUMNS = (
    "dataset",
    "subject",
    "session",
    "run",
    "task",
    "acquisition",
    "label",
    "source_path",
    "source_sha256",
    "source_size",
    "source_mtime_ns",
    "source_format",
    "sfreq",
    "n_channels",
    "n_samples",
    "duration_s",
    "quantum_uv",
    "profile",
    "profile_digest",
    "pipeline_version",
    "participant",
)
#: Index columns added after the first stores were written: rows of older stores lack them.
LATER_INDEX_COLUMNS = ("acquisition", "participant")


def read_json(path: Path, default):
    """The JSON document in a local file, or ``default`` when there is none."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        return default


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON to a temporary file and rename it over ``path`` (never a half-written file)."""
    path = Path(path)
    LocalStorage(path.parent).write_json(path.name, obj)


def recording_attrs(store: Path | str | Storage, recording_id: str) -> dict | None:
    """A published recording's attributes, or None when it is absent or incomplete."""
    try:
        document = json.loads(storage_for(store).read_bytes(f"{RECORDINGS}/{recording_id}/{GROUP_METADATA}"))
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    attrs = document.get("attributes", {}) if isinstance(document, dict) else {}
    return attrs if MANIFEST in attrs else None


def index_row(attrs: dict) -> dict:
    return {"recording_id": attrs["recording_id"], **{c: attrs.get(c) for c in INDEX_COLUMNS}}


def published_ids(store: Path | str | Storage) -> list[str]:
    """Recordings whose group metadata exists (published), sorted."""
    return sorted({key.split("/")[1] for key in storage_for(store).glob(f"{RECORDINGS}/*/{GROUP_METADATA}")})


def rebuild_index_rows(store: Path | str | Storage, cached_rows: list[dict] | None = None) -> list[dict]:
    """Index rows for every published recording: cached rows where they are still valid, the
    recording's own attributes otherwise (after a build was killed before saving its table)."""
    storage = storage_for(store)
    cached = {row["recording_id"]: row for row in (cached_rows or [])}
    rows = []
    for rid in published_ids(storage):
        row = cached.get(rid)
        if row is None:
            attrs = recording_attrs(storage, rid)
            if attrs is None:
                continue
            row = index_row(attrs)
        rows.append(row)
    return rows


def open_recording_group(store: Path | str | Storage, recording_id: str, storage_options: dict | None = None):
    """The zarr group of one recording, read-only, wherever the store lives."""
    import zarr

    return zarr.open_group(store=storage_for(store, storage_options).zarr_store(f"{RECORDINGS}/{recording_id}"), mode="r", zarr_format=3)


class Store:
    """A store, on disk or on object storage: its recordings index, recordings, events and
    failures.

    Use :func:`open_store`. ``path`` is where it lives: a :class:`~pathlib.Path` for a folder,
    the URL for object storage; ``storage`` is its :class:`eegcorpus.storage.Storage`.
    """

    def __init__(self, path: str | Path | Storage, storage_options: dict | None = None):
        self.storage = storage_for(path, storage_options)
        self.path = self.storage.location
        self.storage_options = dict(getattr(self.storage, "storage_options", {}) or {})
        if not self.storage.exists(GROUP_METADATA) or not self.storage.exists(f"{RECORDINGS}/{GROUP_METADATA}"):
            raise FileNotFoundError(f"{self.path}: not an eegcorpus store (no zarr.json and recordings/)")

    def __repr__(self) -> str:
        return f"<Store {self.path} | {len(self.index)} recordings>"

    @cached_property
    def index(self) -> pd.DataFrame:
        """One row per recording, indexed by recording id (see :data:`INDEX_COLUMNS`).

        The ``participant`` column holds the recording's row of a BIDS ``participants.tsv``
        (a dict, or None); each of its fields is also a column of its own, ``participant_<field>``
        (``participant_age``, ``participant_sex``...).
        """
        rows = rebuild_index_rows(self.storage, self.storage.read_json(f"{TABLES}/recordings.json", []))
        frame = pd.DataFrame(rows, columns=("recording_id",) + INDEX_COLUMNS)
        fields = sorted({key for row in rows for key in (row.get("participant") or {})})
        for key in fields:
            frame[f"participant_{key}"] = [(row.get("participant") or {}).get(key) for row in rows]
        return frame.set_index("recording_id").sort_index()

    def refresh(self) -> Store:
        """Forget cached tables (after a build added recordings)."""
        self.__dict__.pop("index", None)
        return self

    def attrs(self, recording_id: str) -> dict:
        """All attributes of one recording (provenance, profile parameters, versions, events)."""
        attrs = recording_attrs(self.storage, recording_id)
        if attrs is None:
            raise KeyError(f"recording {recording_id!r} is not in {self.path}")
        attrs.pop(MANIFEST, None)
        attrs.pop(METADATA_DIGEST, None)
        return attrs

    def dataset(self, recording_id: str):
        """One recording as a lazy xarray Dataset (``signal`` plus channel coordinates)."""
        import xarray as xr

        if recording_attrs(self.storage, recording_id) is None:
            raise KeyError(f"recording {recording_id!r} is not in {self.path}")
        return xr.open_zarr(self.storage.zarr_store(), group=f"{RECORDINGS}/{recording_id}", consolidated=False, zarr_format=3)

    def group(self, recording_id: str):
        """One recording's zarr group, read-only."""
        return open_recording_group(self.storage, recording_id)

    def recording(self, recording_id: str):
        """One recording as an in-memory ``xarray.DataArray`` ``[channel, time]`` in microvolts."""
        ds = self.dataset(recording_id)
        signal = ds["signal"].load().astype(np.float32)
        signal.attrs.update(ds.attrs)
        for key in ("events", MANIFEST, METADATA_DIGEST):
            signal.attrs.pop(key, None)
        return signal

    def to_mne(self, recording_id: str, verbose: bool | str | None = False):
        """One recording as an ``mne.io.RawArray``, to look at it with the tools of MNE.

        Parameters
        ----------
        recording_id : str
            A recording of :attr:`index`.
        verbose : bool | str | None
            MNE's verbosity while the object is made.

        Returns
        -------
        raw : mne.io.RawArray
            The processed signal in volts (MNE's unit; the store holds microvolts), channels
            named by their canonical names with their types, the positions as a montage in the
            head frame (channels without one are left unplaced), the stored events as
            annotations (description as in the source file; ``extras["label"]`` holds the
            card's label where there is one), and the measurement date.
        """
        import datetime as dt

        import mne

        ds = self.dataset(recording_id)
        attrs = self.attrs(recording_id)
        names = [str(n) for n in ds["ch_name"].values]
        types = [str(t) for t in ds["ch_type"].values]
        info = mne.create_info(names, float(attrs["sfreq"]), types, verbose=verbose)
        raw = mne.io.RawArray(ds["signal"].values.astype(np.float64) * 1e-6, info, verbose=verbose)
        xyz = np.stack([ds[c].values.astype(float) for c in ("x", "y", "z")], axis=1)
        placed = {n: pos for n, pos, t in zip(names, xyz, types) if t == "eeg" and np.all(np.isfinite(pos))}
        if placed:
            raw.set_montage(mne.channels.make_dig_montage(ch_pos=placed, coord_frame="head"), on_missing="ignore", verbose=verbose)
        meas_date = dt.datetime.fromisoformat(attrs["meas_date"]) if attrs.get("meas_date") else None
        if meas_date is not None:
            raw.set_meas_date(meas_date if meas_date.tzinfo else meas_date.replace(tzinfo=dt.UTC))
        events = attrs.get("events") or {}
        if events.get("onset"):
            labels = events.get("label") or [None] * len(events["onset"])
            raw.set_annotations(
                mne.Annotations(
                    events["onset"],
                    events["duration"],
                    events["description"],
                    orig_time=raw.info["meas_date"],
                    extras=[{"label": label} if label else {} for label in labels],
                )
            )
        return raw

    def events(self, recording_id: str | None = None) -> pd.DataFrame:
        """Events and labels (onset and duration in seconds), for one recording or all."""
        ids = [recording_id] if recording_id else list(self.index.index)
        frames = []
        for rid in ids:
            ev = self.attrs(rid).get("events") or {}
            frame = pd.DataFrame({k: ev.get(k, []) for k in ("onset", "duration", "description", "label")})
            frame.insert(0, "recording_id", rid)
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["recording_id", "onset", "duration", "description", "label"])
        return pd.concat(frames, ignore_index=True)

    @property
    def failures(self) -> pd.DataFrame:
        """Inputs that could not be stored: file, stage, error."""
        return pd.DataFrame(self.storage.read_json(f"{TABLES}/failures.json", []), columns=["file", "stage", "error"])

    @property
    def builds(self) -> list[dict]:
        return self.storage.read_json(f"{TABLES}/builds.json", [])


def open_store(path: str | Path, storage_options: dict | None = None) -> Store:
    """Open a store written by ``eegcorpus build``, on disk or at an fsspec URL.

    Parameters
    ----------
    path : path-like | str
        The store's folder, or a URL (``s3://bucket/stores/tuep``).
    storage_options : dict | None
        fsspec options for a URL (credentials usually come from the environment).

    Examples
    --------
    >>> store = open_store("stores/eegmmidb")          # doctest: +SKIP
    >>> store.index[["subject", "run", "duration_s"]]  # doctest: +SKIP
    >>> store.recording("eegmmidb.S001R03")            # doctest: +SKIP
    """
    return Store(path, storage_options)


__all__ = ["INDEX_COLUMNS", "STAGING", "Store", "init_store", "open_recording_group", "open_store", "write_recording"]
