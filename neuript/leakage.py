"""Leakage guard: no held-out (validation or test) recording of a task may have been seen in pretraining.

A pretraining checkpoint records the fingerprint of every recording of its stores (key
``fingerprints``, a JSON string, so ``torch.load(weights_only=True)`` still reads it):

- ``source_sha256``: sha256 of the raw file the recording was built from (the store index);
- ``signal_sha256``: sha256 of the stored samples (the int16 codes or float32 values, with
  their shape and scale factor), which also matches a copy of the same recording that reached
  another store under a different file (a re-export, a renamed copy) with the same profile.

Before fine-tuning from a checkpoint, :func:`check` fingerprints the recordings of the task's
validation and test subjects and refuses when any matches (:class:`LeakageError`); ``allow=True`` turns the
refusal into a warning that goes into the results. A checkpoint without fingerprints cannot be
checked and is refused the same way; :func:`stamp_run` adds them to a run made before they
existed, from the stores its ``settings.json`` names, when those stores have not been built
since the run started.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import warnings
from pathlib import Path

import numpy as np


class LeakageError(RuntimeError):
    """A held-out recording of the task was in the checkpoint's pretraining stores."""


def signal_sha256(store_path, recording_id: str) -> str:
    """sha256 of a stored recording's samples (as stored: int16 codes or float32), shape and scale."""
    from eegcorpus.store import open_recording_group

    signal = open_recording_group(str(store_path), recording_id)["signal"]  # a folder or a URL
    data = np.ascontiguousarray(signal[:])
    digest = hashlib.sha256()
    digest.update(f"{data.dtype.str}|{data.shape}|{signal.attrs.get('scale_factor')}|".encode())
    digest.update(data.tobytes())
    return digest.hexdigest()


def _metadata_sha256(store_path, recording_id: str) -> str | None:
    """The recording's metadata digest: it covers the manifest, which holds the sha256 of every
    stored file, so an unchanged digest means unchanged samples."""
    from eegcorpus.store import open_recording_group
    from eegcorpus.store.writer import METADATA_DIGEST

    return open_recording_group(str(store_path), recording_id).attrs.get(METADATA_DIGEST)


def recording_fingerprints(store, recording_ids=None, known: dict | None = None) -> list[dict]:
    """Fingerprints of a store's recordings (all, or ``recording_ids``).

    ``known``: ``(recording_id, metadata_sha256) -> signal_sha256`` from an earlier record of
    the same store; a recording whose metadata digest is unchanged is not read and hashed again.

    Returns
    -------
    list of dict
        ``recording_id``, ``dataset``, ``subject``, ``source_sha256``, ``signal_sha256``,
        ``metadata_sha256``.
    """
    from eegcorpus.store import Store, open_store

    store = store if isinstance(store, Store) else open_store(store)
    index = store.index
    if recording_ids is not None:
        index = index.loc[[r for r in recording_ids if r in index.index]]
    known = known or {}
    out = []
    for rid, row in index.iterrows():
        metadata = _metadata_sha256(store.path, rid)
        signal = known.get((rid, metadata)) if metadata else None
        out.append(
            {
                "recording_id": rid,
                "dataset": str(row["dataset"]),
                "subject": str(row["subject"]),
                "source_sha256": str(row["source_sha256"] or ""),
                "signal_sha256": signal or signal_sha256(store.path, rid),
                "metadata_sha256": metadata,
            }
        )
    return out


def pretraining_fingerprints(stores, previous: str | None = None, note: str | None = None) -> str:
    """The ``fingerprints`` entry of a pretraining checkpoint (a JSON string).

    ``previous``: the entry of the checkpoint a run resumes from; its recordings are kept, so a
    store rebuilt between two parts of a run adds to the record rather than replacing it, and
    recordings it holds unchanged (same metadata digest) are not hashed again.
    """
    stores = [str(s) for s in (stores if isinstance(stores, (list, tuple)) else [stores])]
    recordings = {}
    if previous:
        for fp in json.loads(previous).get("recordings", []):
            recordings[(fp["source_sha256"], fp["signal_sha256"])] = fp
    for path in stores:
        # a resumed run does not hash again what it hashed when it started
        known = {(fp["recording_id"], fp.get("metadata_sha256")): fp["signal_sha256"] for fp in recordings.values() if fp.get("store") == path}
        for fp in recording_fingerprints(path, known=known):
            recordings[(fp["source_sha256"], fp["signal_sha256"])] = {**fp, "store": path}
    record = {
        "stores": sorted(set(stores) | (set(json.loads(previous).get("stores", [])) if previous else set())),
        "recorded": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "recordings": sorted(recordings.values(), key=lambda fp: (fp.get("store", ""), fp["recording_id"])),
    }
    if note:
        record["note"] = note
    return json.dumps(record)


def checkpoint_fingerprints(checkpoint) -> dict | None:
    """The fingerprints recorded in a checkpoint (None when it has none)."""
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    entry = state.get("fingerprints")
    return json.loads(entry) if entry else None


def find_leaks(pretraining: dict, test: list[dict]) -> list[dict]:
    """Test recordings whose source or signal fingerprint is among the pretraining ones.

    Returns
    -------
    list of dict
        ``recording_id`` (the test recording), ``matched`` (the pretraining recording id),
        ``by`` (``"source sha256"`` and/or ``"signal hash"``).
    """
    by_source, by_signal = {}, {}
    for fp in pretraining.get("recordings", []):
        if fp.get("source_sha256"):
            by_source[fp["source_sha256"]] = fp["recording_id"]
        by_signal[fp["signal_sha256"]] = fp["recording_id"]
    leaks = []
    for fp in test:
        reasons, matched = [], None
        if fp.get("source_sha256") and fp["source_sha256"] in by_source:
            reasons.append("source sha256")
            matched = by_source[fp["source_sha256"]]
        if fp["signal_sha256"] in by_signal:
            reasons.append("signal hash")
            matched = matched or by_signal[fp["signal_sha256"]]
        if reasons:
            leaks.append({"recording_id": fp["recording_id"], "matched": matched, "by": " and ".join(reasons)})
    return leaks


def check(checkpoint, test_fingerprints: list[dict], task: str, allow: bool = False) -> list[str]:
    """Refuse to fine-tune from ``checkpoint`` when it saw a held-out recording of ``task``.

    Held out means validation or test: validation recordings choose the epoch and, when a split
    has no test subjects at hand, are the ones scored. Training recordings may have been
    pretrained on (without their labels).

    Parameters
    ----------
    checkpoint : path-like
        A pretraining checkpoint (``neuript pretrain``).
    test_fingerprints : list of dict
        :func:`recording_fingerprints` of the task's validation and test recordings (of every
        fold).
    task : str
        For the message.
    allow : bool
        Warn instead of raising.

    Returns
    -------
    list of str
        Warnings for the results (empty when the check passed).

    Raises
    ------
    LeakageError
        Without ``allow``, when a held-out recording was in pretraining or the checkpoint carries
        no fingerprints.
    """
    pretraining = checkpoint_fingerprints(checkpoint)
    if pretraining is None:
        message = (
            f"Checkpoint {checkpoint} records no pretraining fingerprints, so it cannot be checked for "
            f"{task} held-out recordings. Run 'neuript fingerprint --run RUN' on its pretraining run, or pass "
            f"--allow-leakage to fine-tune anyway (the results will say so)."
        )
    else:
        leaks = find_leaks(pretraining, test_fingerprints)
        if not leaks:
            return []
        shown = ", ".join(f"{leak['recording_id']} (= {leak['matched']}, by {leak['by']})" for leak in leaks[:5])
        more = f" and {len(leaks) - 5} more" if len(leaks) > 5 else ""
        message = (
            f"{len(leaks)} of the {len(test_fingerprints)} held-out (validation and test) recordings of {task} were in "
            f"the pretraining stores of {checkpoint} ({', '.join(pretraining.get('stores', []))}): {shown}{more}. "
            f"Scores from this checkpoint would be inflated. Pretrain without them, choose another split, or pass --allow-leakage "
            f"to fine-tune anyway (the results will carry a warning)."
        )
    if not allow:
        raise LeakageError(message)
    warning = "LEAKAGE GUARD OVERRIDDEN: " + message
    warnings.warn(warning, stacklevel=2)
    return [warning]


def stamp_run(run, out=None, force: bool = False) -> Path:
    """Record fingerprints in the checkpoint of a pretraining run made before they existed.

    The stores are those the run's ``settings.json`` names. Every build of each store must have
    finished before the run started (the time ``settings.json`` was written), so that the stores
    still hold exactly what the run read; ``force`` skips that check (and says so in the record).

    Parameters
    ----------
    run : path-like
        The pretraining run folder (``checkpoint.pt``, ``settings.json``).
    out : path-like | None
        Where to write the stamped checkpoint (default: over the run's own, atomically).

    Returns
    -------
    Path
        The stamped checkpoint.
    """
    import torch

    from eegcorpus.store import open_store

    run = Path(run)
    settings_path = run / "settings.json"
    checkpoint = run / "checkpoint.pt"
    for path in (settings_path, checkpoint):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; {run} is not a pretraining run folder.")
    stores = json.loads(settings_path.read_text())["stores"]
    started = dt.datetime.fromtimestamp(settings_path.stat().st_mtime, dt.UTC)
    late = []
    for path in stores:
        for entry in open_store(path).builds:
            finished = dt.datetime.fromisoformat(entry["finished"])
            if finished > started:
                late.append(f"{path} (build finished {entry['finished']})")
    if late and not force:
        raise RuntimeError(
            f"Store(s) {', '.join(late)} were built after the run started ({started.isoformat(timespec='seconds')}); "
            f"they may not hold what the run read, so their fingerprints would not describe it. Pass force=True "
            f"(--force) to record them anyway."
        )
    note = f"recorded after pretraining from the stores in settings.json; every build of them finished before the run started ({started.isoformat(timespec='seconds')})"
    if late:
        note = f"recorded after pretraining with --force; stores built after the run started: {', '.join(late)}"
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state["fingerprints"] = pretraining_fingerprints(stores, previous=state.get("fingerprints"), note=note)
    target = Path(out) if out else checkpoint
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    torch.save(state, tmp)
    tmp.replace(target)
    return target


__all__ = [
    "LeakageError",
    "check",
    "checkpoint_fingerprints",
    "find_leaks",
    "pretraining_fingerprints",
    "recording_fingerprints",
    "signal_sha256",
    "stamp_run",
]
