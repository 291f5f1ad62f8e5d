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

from eegcorpus.recording import sha256_file
from eegcorpus.store import INDEX_COLUMNS, read_json
from eegcorpus.store.writer import GROUP_METADATA, MANIFEST, METADATA_DIGEST, RECORDINGS, STAGING, TABLES, metadata_digest


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


def verify_recording(folder: Path, decode: bool = True) -> list[str]:
    """Problems found in one published recording (an empty list when it is intact)."""
    try:
        meta = json.loads((folder / GROUP_METADATA).read_text())
    except FileNotFoundError:
        return [f"{GROUP_METADATA} missing"]
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        return [f"{GROUP_METADATA} is not valid JSON ({err})"]
    attrs = meta.get("attributes", {})
    manifest = attrs.get(MANIFEST)
    if not isinstance(manifest, dict):
        return ["no manifest in the group metadata (incomplete or not written by eegcorpus)"]
    problems = []
    # Recordings written before the digest existed have none; their files are still checked.
    if METADATA_DIGEST in attrs and attrs[METADATA_DIGEST] != metadata_digest(meta):
        problems.append(f"{GROUP_METADATA}: attributes differ from the ones written (damaged)")
    if attrs.get("recording_id") != folder.name:
        problems.append(f"recording_id attribute {attrs.get('recording_id')!r} differs from the folder name")
    for rel, expected in sorted(manifest.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif sha256_file(path) != expected:
            problems.append(f"{rel}: sha256 differs from the one recorded at write time (damaged)")
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    for rel in sorted(present - set(manifest) - {GROUP_METADATA}):
        problems.append(f"{rel}: unexpected file")
    if decode and not problems:
        try:
            import zarr

            signal = zarr.open_array(str(folder / "signal"), mode="r", zarr_format=3)
            values = signal[:]
            if values.shape != (attrs.get("n_channels"), attrs.get("n_samples")):
                problems.append(f"signal shape {values.shape} differs from the attributes")
        except Exception as err:  # any decode failure is damage to report, not to raise
            problems.append(f"signal does not decode: {' '.join(str(err).split())}")
    return problems


def verify_store(path: str | Path, decode: bool = True) -> VerifyReport:
    """Check every recording of a store and its index table."""
    root = Path(path)
    if not (root / RECORDINGS).is_dir():
        raise FileNotFoundError(f"{root}: not an eegcorpus store (no recordings/ folder)")
    report = VerifyReport(store=str(root))
    on_disk = sorted(p for p in (root / RECORDINGS).iterdir() if p.is_dir())
    for folder in on_disk:
        report.checked += 1
        problems = verify_recording(folder, decode=decode)
        if problems:
            report.damaged[folder.name] = problems
    rows = read_json(root / TABLES / "recordings.json", [])
    listed = {row.get("recording_id") for row in rows}
    names = {f.name for f in on_disk}
    for rid in sorted(listed - names):
        report.index_problems.append(f"{rid}: in tables/recordings.json but not in recordings/")
    for row in rows:
        missing = [c for c in INDEX_COLUMNS if c not in row]
        if missing:
            report.index_problems.append(f"{row.get('recording_id')}: index row lacks {', '.join(missing)}")
    staging = root / STAGING
    if staging.is_dir():
        report.stale_staging = sorted(p.name for p in staging.iterdir())
    return report
