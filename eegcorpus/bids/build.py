"""``eegcorpus build --bids ROOT``: a BIDS dataset into a store, like a catalog dataset."""

from __future__ import annotations

import time
from pathlib import Path

from eegcorpus.bids.adapter import UNREADABLE, BIDSAdapter, BIDSError, dataset_name, read_description, read_participants
from eegcorpus.errors import ReaderError


def build_bids(
    root: str | Path,
    out: str | Path,
    *,
    name: str | None = None,
    bad_channels: str = "drop",
    positions: str = "template",
    line_freq: float | None = None,
    profile="neuript",
    scheduler: str = "auto",
    workers: int | None = None,
    subjects=None,
    limit: int | None = None,
    strict: bool = False,
    progress: bool = True,
    storage_options: dict | None = None,
):
    """Build (or resume) the store of a BIDS dataset (EEG), read through mne-bids.

    Parameters
    ----------
    root : path-like
        The BIDS dataset's root (the folder with ``dataset_description.json``), on local disk.
    out : path-like | str
        The store (created if missing), a folder or an fsspec URL.
    name : str | None
        The dataset name recordings are stored under (ids ``<name>.sub-01_task-rest_run-1``);
        default: the dataset's ``Name``, lower case (see :func:`dataset_name`).
    bad_channels : "drop" | "keep"
        Channels with ``status=bad`` in ``channels.tsv``: dropped (default) or kept and listed in
        provenance.
    positions : "template" | "file"
        Where positions come from when ``electrodes.tsv`` states them (default: the template's
        for every electrode name it knows, the file's for the others; docs/bids.md).
    line_freq : float | None
        The mains frequency for recordings whose ``*_eeg.json`` does not state
        ``PowerLineFrequency`` (it is required by BIDS, so rarely needed).
    profile, scheduler, workers, subjects, limit, strict, progress, storage_options
        As for :func:`eegcorpus.build.build`; ``subjects`` are BIDS subject labels ("01", or 1).

    Returns
    -------
    BuildResult
        A malformed ``participants.tsv`` is a failure of its own (the recordings are still
        built, without participant rows).
    """
    from eegcorpus.build import BuildError, BuildPlan, _check_scheduler, _select, run_build
    from eegcorpus.pipeline.profiles import Profile, load_profile
    from eegcorpus.storage import storage_for

    started = time.perf_counter()
    _check_scheduler(scheduler)
    if "://" in str(root):
        raise BuildError(f"{root}: a BIDS dataset is read from a local folder (mne-bids reads files on disk); download or mount it first")
    root = Path(root)
    if not root.is_dir():
        raise BuildError(f"{root}: BIDS folder not found")
    try:
        description = read_description(root)
        name = dataset_name(root, description, name)
    except BIDSError as err:
        raise BuildError(str(err)) from None
    from eegcorpus.catalog import load_catalog

    if name in load_catalog():
        raise BuildError(f"{root}: the dataset name {name!r} is a catalog dataset's id; pass another one (--name)")
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    adapter = BIDSAdapter(name, bad_channels=bad_channels, positions=positions)
    preset = []
    try:
        participants = read_participants(root)
        if (root / "participants.tsv").exists():
            preset.append({"status": "checked", "file": "participants.tsv", "recording_id": None, "hours": 0.0})
    except ReaderError as err:
        participants = UNREADABLE
        preset.append({"status": "failed", "recording_id": None, "hours": 0.0, "failure": {"file": "participants.tsv", "stage": "find", "error": str(err)}})
    sources = _select(adapter.find(root, description, participants), subjects, limit)
    if not sources:
        raise BuildError(f"no EEG recordings under {root} (BIDS: sub-*/[ses-*/]eeg/*_eeg.edf|.bdf|.vhdr|.set)")
    plan = BuildPlan(name, prof, sources, line_freq, [], bids=tuple(sorted(adapter.policies.items())), preset=preset)
    return run_build(plan, storage_for(root), storage_for(out, storage_options), scheduler, workers, strict, progress, started, storage_options)
