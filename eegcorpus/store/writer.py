"""Writing one processed recording into a store, published atomically.

A recording is written in full under ``STORE/.staging/`` and then renamed into
``STORE/recordings/<id>``: a reader lists only ``recordings/``, so it sees a recording whole or
not at all. Each recording is one zarr group that plain xarray opens as a ``[channel, time]``
dataset with channel coordinates. The whole array is written in one call, so every shard is
written whole (partial-shard writes are read-modify-write and have lost data under
concurrency before).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import struct
from pathlib import Path

import numpy as np

from eegcorpus._faults import fault_point
from eegcorpus.pipeline.process import ProcessedRecording
from eegcorpus.pipeline.profiles import Profile

#: Layout version of the store; bump when readers must change.
STORE_FORMAT_VERSION = 1
#: Version of the processing code: part of the cache key, so that a change in how signals are
#: computed rebuilds recordings made by the old code.
PIPELINE_VERSION = "2"

RECORDINGS = "recordings"
#: Group metadata file of a recording; written last, it marks the recording complete.
GROUP_METADATA = "zarr.json"
#: Attribute holding {relative file path: sha256} for every other file of the recording.
MANIFEST = "manifest"
#: Attribute holding the sha256 of the group metadata itself (see :func:`metadata_digest`).
METADATA_DIGEST = "metadata_sha256"
TABLES = "tables"

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_INT16_MAX = 32767
_QUANTUM_STEPS = (1, 2, 5)


def check_recording_id(recording_id: str) -> str:
    """Recording ids become folder names: letters, digits, ``_ . -``, not starting with a dot."""
    if not _ID.match(recording_id) or ".." in recording_id:
        raise ValueError(
            f"Invalid value for the 'recording_id' parameter: {recording_id!r} (allowed: letters, digits, '_', '.', '-'; must start with a letter or digit)."
        )
    return recording_id


def choose_quantum(data: np.ndarray, quantum_uv: float) -> float:
    """The storage step: ``quantum_uv`` if the signal fits int16 with it, else the smallest
    1-2-5 multiple of it that fits (a recording is never clipped)."""
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    if peak / quantum_uv <= _INT16_MAX:
        return quantum_uv
    decade = 1.0
    while True:
        for step in _QUANTUM_STEPS:
            candidate = quantum_uv * step * decade
            if candidate > quantum_uv and peak / candidate <= _INT16_MAX:
                return candidate
        decade *= 10.0


def chunk_samples(sfreq: float, window_s: float = 4.0) -> int:
    """Time extent of a chunk: about one training window (4 s), rounded to a power of two."""
    return int(2 ** round(math.log2(max(window_s * sfreq, 16))))


def _group_document(attributes: dict | None = None) -> bytes:
    return json.dumps({"zarr_format": 3, "node_type": "group", "attributes": attributes or {}}, indent=2).encode()


def init_store(store) -> None:
    """Create the store's root group (with the format marker) and ``recordings/`` group if they
    are missing; ``store`` is a folder, a URL or a :class:`~eegcorpus.storage.Storage`."""
    from eegcorpus.storage import storage_for

    storage = storage_for(store)
    storage.create()
    # The format marker in the same write as the group: a crash cannot leave a root without it.
    if not storage.exists(GROUP_METADATA):
        storage.write_bytes(GROUP_METADATA, _group_document({"eegcorpus_store_format": STORE_FORMAT_VERSION}))
    if not storage.exists(f"{RECORDINGS}/{GROUP_METADATA}"):
        storage.write_bytes(f"{RECORDINGS}/{GROUP_METADATA}", _group_document())


def _codec():
    from zarr.codecs import BloscCodec

    # Chosen by measurement on real processed EEG (docs/store.md): blosc zstd with byte
    # shuffle stores int16 at about a third of float32; higher levels or a delta filter gain a
    # few percent for half the write speed.
    return BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=2)


#: Channel coordinates stored beside the signal, in the order xarray lists them.
COORDINATES = ("ch_name", "ch_name_orig", "ch_type", "x", "y", "z", "lobe")


def _json_safe(obj):
    """Attributes as plain JSON types (numpy scalars and arrays become numbers and lists)."""
    return json.loads(json.dumps(obj, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def metadata_digest(document: dict) -> str:
    """sha256 of a group metadata document in canonical JSON, leaving out its own digest."""
    document = {**document, "attributes": {k: v for k, v in document.get("attributes", {}).items() if k != METADATA_DIGEST}}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def write_group(path: Path, processed: ProcessedRecording, attrs: dict, profile: Profile) -> None:
    """Write one recording as a zarr v3 group in the layout xarray reads as a Dataset.

    zarr is called directly rather than through ``xarray.Dataset.to_zarr``, which costs twice
    the time per recording; the metadata is the same: ``dimension_names`` for the dimensions,
    CF ``scale_factor``/``_FillValue`` on the int16 signal (xarray decodes it to microvolts),
    and ``coordinates`` naming the channel coordinates.

    The group is assembled in a zarr ``MemoryStore`` over a dict we own, then each key is
    written as the file a ``LocalStore`` would have written. Writing through ``LocalStore``
    directly costs another 20 ms per recording in thread hand-offs (every array call goes
    through zarr's event loop and then its I/O thread pool), more than compressing the signal.
    """
    import zarr
    from zarr.storage import MemoryStore

    _tune_zarr(zarr)
    keys: dict = {}
    group = zarr.open_group(MemoryStore(keys), mode="w", zarr_format=3, attributes=_json_safe(attrs))
    _fill_group(group, processed, attrs, profile)
    blobs = {key: buffer.to_bytes() for key, buffer in keys.items() if key != GROUP_METADATA}
    # The manifest (sha256 of every other file) goes into the group's own metadata, which is
    # written last: a group whose zarr.json has a manifest is complete, and `verify` can find
    # any byte that changed afterwards.
    group.attrs.update({MANIFEST: {key: hashlib.sha256(blob).hexdigest() for key, blob in sorted(blobs.items())}})
    # ... and a digest of that metadata: a changed attribute value (a flipped digit) still
    # parses, so only the digest tells it apart.
    group.attrs.update({METADATA_DIGEST: metadata_digest(json.loads(keys[GROUP_METADATA].to_bytes()))})
    path = Path(path)
    path.mkdir(parents=True, exist_ok=False)
    for folder in sorted({str(Path(key).parent) for key in blobs} - {"."}):
        (path / folder).mkdir(parents=True, exist_ok=True)
    for i, (key, blob) in enumerate(blobs.items()):
        if i == len(blobs) // 2:
            fault_point("mid-write")
        _write_file(path / key, blob)
    _write_file(path / GROUP_METADATA, keys[GROUP_METADATA].to_bytes())


def _write_file(path: Path, blob: bytes) -> None:
    """Write one file of a recording (the single place the writer puts bytes on disk, so a
    test can make it fail as a full disk would)."""
    path.write_bytes(blob)


_ZARR_BATCH_SIZE = 8


def _tune_zarr(zarr) -> None:
    """Let zarr's codec pipeline encode a shard's inner chunks in batches of 8.

    With the default batch of one, the per-chunk scheduling costs more than compressing the
    chunk (12 ms against 8 ms for a 125-s recording's 32 chunks, measured), and it all runs on
    zarr's single event-loop thread, which the build's worker threads share. Only a default
    setting is raised; a value the user chose is left alone.
    """
    if zarr.config.get("codec_pipeline.batch_size") == 1:
        zarr.config.set({"codec_pipeline.batch_size": _ZARR_BATCH_SIZE})


def _fill_group(group, processed: ProcessedRecording, attrs: dict, profile: Profile) -> None:
    data = processed.data
    n_ch, n_t = data.shape
    chunk = min(chunk_samples(processed.sfreq), max(n_t, 1))
    # One shard holds up to 64 chunks (about 4 min at 64 Hz): few files, whole-shard writes.
    shard = chunk * max(1, min(64, math.ceil(n_t / chunk)))
    signal_attrs = {"units": "uV", "long_name": "EEG signal", "coordinates": " ".join(COORDINATES)}
    if profile.storage == "int16":
        quantum = float(attrs["quantum_uv"])
        values = np.round(data / quantum)
        np.clip(values, -_INT16_MAX, _INT16_MAX, out=values)  # choose_quantum guarantees no clipping
        values = values.astype(np.int16)
        signal_attrs.update({"scale_factor": quantum, "_FillValue": -32768})
        fill = -32768
    else:
        values, fill = data.astype(np.float32), float("nan")
        # xarray reads a float _FillValue in zarr v3 as the base64 of a little-endian double
        # (its FillValueCoder); the plain string "NaN" made every float32 store unreadable.
        signal_attrs["_FillValue"] = base64.standard_b64encode(struct.pack("<d", fill)).decode()
    signal = group.create_array(
        "signal",
        shape=values.shape,
        dtype=values.dtype,
        chunks=(n_ch, chunk),
        shards=(n_ch, shard),
        compressors=[_codec()],
        fill_value=fill,
        dimension_names=["channel", "time"],
        attributes=signal_attrs,
    )
    # The whole array in one call: every shard is written whole, never read-modify-written.
    signal[:] = values
    columns = {
        "ch_name": np.array(processed.canonical, dtype=object),
        "ch_name_orig": np.array(processed.ch_names, dtype=object),
        "ch_type": np.array(processed.ch_types, dtype=object),
        "x": processed.positions[:, 0].astype(np.float64),
        "y": processed.positions[:, 1].astype(np.float64),
        "z": processed.positions[:, 2].astype(np.float64),
        "lobe": np.array(processed.lobes, dtype=object),
    }
    for name in COORDINATES:
        column = columns[name]
        text = column.dtype == object
        array = group.create_array(
            name,
            shape=column.shape,
            dtype=str if text else column.dtype,
            chunks=column.shape,
            compressors=None,
            fill_value="" if text else float("nan"),
            dimension_names=["channel"],
        )
        array[:] = column


def write_recording(store, recording_id: str, processed: ProcessedRecording, attrs: dict, profile: Profile) -> str:
    """Write one recording and publish it under ``recordings/``; returns its key.

    ``store`` is a folder, a URL or a :class:`~eegcorpus.storage.Storage`. A recording already
    present under that id is replaced so that a reader sees the old version, then the new one,
    and never a half-written one (:meth:`eegcorpus.storage.Storage.publish`).
    """
    from eegcorpus.storage import storage_for

    check_recording_id(recording_id)
    key = f"{RECORDINGS}/{recording_id}"
    storage_for(store).publish(key, lambda folder: write_group(folder, processed, attrs, profile), commit=GROUP_METADATA)
    return key
