"""``eegcorpus verify``: re-check a store's integrity and name what is damaged.

Every recording carries, in its group metadata, the sha256 of each of its other files, taken
when it was written, and a digest of that metadata itself. Verification recomputes them, so a
flipped byte anywhere in a chunk, shard index, array or group metadata is found and the
recording named; it also decodes every signal (``decode=True``) and checks the index table
against the recordings on disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from eegcorpus.storage import Storage, storage_for
from eegcorpus.store import INDEX_COLUMNS, LATER_INDEX_COLUMNS
from eegcorpus.store.writer import GROUP_METADATA, MANIFEST, METADATA_DIGEST, RECORDINGS, TABLES, metadata_digest


@dataclass
class VerifyReport:
    store: str
    checked: int = 0
    damaged: dict[str, list[str]] = field(default_factory=dict)  # recording id -> problems
    index_problems: list[str] = field(default_factory=list)
    stale_staging: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.index_problems

    def to_dict(self) -> dict:
        return {
            "store": self.store,
            "checked": self.checked,
            "ok": self.ok,
            "damaged": self.damaged,
            "index_problems": self.index_problems,
            "stale_staging": self.stale_staging,
        }


def _one_bit_apart(a: str, b: str) -> bool:
    """Whether two names differ in exactly one bit of their UTF-8 bytes."""
    x, y = a.encode(), b.encode()
    return len(x) == len(y) and sum(bin(p ^ q).count("1") for p, q in zip(x, y)) == 1


def verify_recording(storage: Storage | Path | str, recording_id: str | None = None, decode: bool = True) -> list[str]:
    """Problems found in one published recording (an empty list when it is intact).

    ``storage`` holds the store and ``recording_id`` names the recording; a recording's folder
    alone (``verify_recording(folder)``) is accepted too.
    """
    if recording_id is None:
        folder = Path(storage)
        storage, recording_id, prefix = storage_for(folder.parent), folder.name, folder.name
    else:
        storage, prefix = storage_for(storage), f"{RECORDINGS}/{recording_id}"
    try:
        meta = json.loads(storage.read_bytes(f"{prefix}/{GROUP_METADATA}"))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return [f"{GROUP_METADATA} missing"]
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return [f"{GROUP_METADATA} is not valid JSON ({err})"]
    attrs = meta.get("attributes", {}) if isinstance(meta, dict) else {}
    manifest = attrs.get(MANIFEST)
    if not isinstance(manifest, dict):
        return ["no manifest in the group metadata (incomplete or not written by eegcorpus)"]
    problems = []
    # Recordings written before the digest existed have none; their files are still checked. The
    # digest covers every attribute but itself, so damage to its own key is looked for apart.
    if METADATA_DIGEST in attrs and attrs[METADATA_DIGEST] != metadata_digest(meta):
        problems.append(f"{GROUP_METADATA}: attributes differ from the ones written (damaged)")
    elif METADATA_DIGEST not in attrs and any(_one_bit_apart(key, METADATA_DIGEST) for key in attrs):
        problems.append(f"{GROUP_METADATA}: the key of the metadata digest is damaged")
    if attrs.get("recording_id") != recording_id:
        problems.append(f"recording_id attribute {attrs.get('recording_id')!r} differs from the folder name")
    present = set(storage.list_files(prefix))
    for rel, expected in sorted(manifest.items()):
        if rel not in present:
            problems.append(f"{rel}: missing")
        elif storage.sha256(f"{prefix}/{rel}") != expected:
            problems.append(f"{rel}: sha256 differs from the one recorded at write time (damaged)")
    for rel in sorted(present - set(manifest) - {GROUP_METADATA}):
        problems.append(f"{rel}: unexpected file")
    if decode and not problems:
        try:
            import zarr

            signal = zarr.open_array(store=storage.zarr_store(f"{prefix}/signal"), mode="r", zarr_format=3)
            values = signal[:]
            if values.shape != (attrs.get("n_channels"), attrs.get("n_samples")):
                problems.append(f"signal shape {values.shape} differs from the attributes")
        except Exception as err:  # any decode failure is damage to report, not to raise
            problems.append(f"signal does not decode: {' '.join(str(err).split())}")
    return problems


def verify_store(path: str | Path | Storage, decode: bool = True, storage_options: dict | None = None) -> VerifyReport:
    """Check every recording of a store, on disk or on object storage, and its index table."""
    storage = storage_for(path, storage_options)
    if not storage.is_dir(RECORDINGS):
        raise FileNotFoundError(f"{storage.name()}: not an eegcorpus store (no recordings/ folder)")
    report = VerifyReport(store=storage.name())
    on_disk = storage.list_dirs(RECORDINGS)
    for rid in on_disk:
        report.checked += 1
        problems = verify_recording(storage, rid, decode=decode)
        if problems:
            report.damaged[rid] = problems
    rows = storage.read_json(f"{TABLES}/recordings.json", [])
    listed = {row.get("recording_id") for row in rows}
    for rid in sorted(listed - set(on_disk)):
        report.index_problems.append(f"{rid}: in tables/recordings.json but not in recordings/")
    for row in rows:
        missing = [c for c in INDEX_COLUMNS if c not in row and c not in LATER_INDEX_COLUMNS]
        if missing:
            report.index_problems.append(f"{row.get('recording_id')}: index row lacks {', '.join(missing)}")
    report.stale_staging = storage.staging_entries()
    return report
