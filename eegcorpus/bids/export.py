"""``eegcorpus export STORE --bids OUT``: a store's processed recordings as a BIDS dataset.

Each recording goes through :meth:`eegcorpus.store.Store.to_mne` (volts, positions as a head
frame montage, events as annotations, measurement date) and :func:`mne_bids.write_raw_bids`.
BIDS entities come from the index (subject, session, task, run, acquisition); the positions are
written as ``electrodes.tsv`` in CapTrak (the template's fiducials define the head frame, so
the stored coordinates are written unchanged); ``participants.tsv`` gets the stored participant
rows; ``scans.tsv`` names each file's recording id. The dataset is a BIDS derivative: its
``dataset_description.json`` says what made it (profile, versions) and from what.
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from eegcorpus._validate import check_option
from eegcorpus.errors import EEGCorpusError
from eegcorpus.log import logger

#: Formats mne-bids writes from data in memory. BrainVision (the default) stores float32
#: microvolts, so the stored int16 steps come back exactly; EDF stores 16-bit integers scaled
#: to each channel's range, which loses precision below about range/65535.
EXPORT_FORMATS = ("BrainVision", "EDF", "EEGLAB")


class ExportError(EEGCorpusError):
    """A store cannot be exported (the output exists, no recording matches)."""


@dataclass
class ExportResult:
    out: Path
    #: recording id -> the data file written, relative to ``out``
    written: dict[str, str] = field(default_factory=dict)


def _label(text) -> str:
    """A BIDS label: letters and digits only."""
    return re.sub(r"[^A-Za-z0-9]", "", str(text))


@cache
def _template_fiducials():
    """Nasion, LPA and RPA of the electrode template, in the head frame (metres)."""
    from eegcorpus.channels._make_position_table import standard_head_montage

    positions = standard_head_montage().get_positions()
    return positions["nasion"], positions["lpa"], positions["rpa"]


def _with_fiducials(raw) -> None:
    """Add the template's fiducials to the montage, so mne-bids can write CapTrak positions."""
    import mne

    montage = raw.get_montage()
    if montage is None:
        return
    placed = montage.get_positions()["ch_pos"]
    nasion, lpa, rpa = _template_fiducials()
    raw.set_montage(mne.channels.make_dig_montage(ch_pos=placed, nasion=nasion, lpa=lpa, rpa=rpa, coord_frame="head"), on_missing="ignore", verbose="error")


def _entities(attrs: dict, several_datasets: bool) -> dict:
    subject = _label(attrs.get("subject") or "unknown")
    if several_datasets:
        subject = _label(attrs["dataset"]) + subject
    entities = {"subject": subject, "task": _label(attrs.get("task") or attrs["dataset"]) or "unknown"}
    if attrs.get("session"):
        entities["session"] = _label(attrs["session"])
    if attrs.get("acquisition"):
        entities["acquisition"] = _label(attrs["acquisition"])
    run = str(attrs.get("run") or "")
    if run.isdigit():
        entities["run"] = run
    return entities


def export_bids(store, out: str | Path, *, fmt: str = "BrainVision", recordings=None, overwrite: bool = False, verbose=None) -> ExportResult:
    """Write a store's processed recordings as a BIDS dataset (EEG), with mne-bids.

    Parameters
    ----------
    store : Store | path-like | str
        The store (see :func:`eegcorpus.store.open_store`).
    out : path-like
        The BIDS root to create; it must not exist unless ``overwrite``.
    fmt : "BrainVision" | "EDF" | "EEGLAB"
        Data format (see :data:`EXPORT_FORMATS`).
    recordings : list of str | None
        Only these recording ids (default: all).
    overwrite : bool
        Write into an existing folder, replacing files of the same names.

    Returns
    -------
    ExportResult
        Where each recording went.
    """
    from mne_bids import BIDSPath, make_dataset_description, write_raw_bids

    from eegcorpus.store import Store, open_store

    check_option("fmt", fmt, EXPORT_FORMATS)
    store = store if isinstance(store, Store) else open_store(store)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"{out}: exists and is not empty; choose a new folder or pass overwrite")
    index = store.index
    ids = list(index.index) if recordings is None else list(recordings)
    missing = [rid for rid in ids if rid not in index.index]
    if missing:
        raise ExportError(f"{store.path}: no recording {missing[0]!r} in the store")
    if not ids:
        raise ExportError(f"{store.path}: no recording to export")
    several = index.loc[ids, "dataset"].nunique() > 1
    result, used, participants, sources = ExportResult(out=out), {}, {}, {}
    for rid in ids:
        attrs = store.attrs(rid)
        entities = _entities(attrs, several)
        while BIDSPath(**entities, datatype="eeg").basename in used:  # two recordings, one name
            entities["run"] = str(int(entities.get("run", "0")) + 1)
        bids_path = BIDSPath(root=out, datatype="eeg", **entities)
        used[bids_path.basename] = rid
        raw = store.to_mne(rid)
        line_freq = (attrs.get("provenance") or {}).get("notch", {}).get("line_freq")
        raw.info["line_freq"] = float(line_freq) if line_freq else None
        _with_fiducials(raw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            written = write_raw_bids(raw, bids_path, format=fmt, allow_preload=True, overwrite=True, verbose=verbose if verbose is not None else "error")
        result.written[rid] = Path(written.fpath).relative_to(out).as_posix()
        if attrs.get("participant"):
            participants[f"sub-{entities['subject']}"] = attrs["participant"]
        if attrs.get("source_dataset"):
            sources[json.dumps(attrs["source_dataset"], sort_keys=True)] = attrs["source_dataset"]
        logger.info(f"{rid} -> {result.written[rid]}")
    _fill_participants(out, participants)
    _name_recordings(out, result.written)
    profiles = sorted(set(index.loc[ids, "profile"].dropna()))
    versions = store.attrs(ids[0]).get("versions", {})
    make_dataset_description(
        path=out,
        name=f"{', '.join(sorted(set(index.loc[ids, 'dataset'])))} processed by eegcorpus (profile {', '.join(profiles)})",
        dataset_type="derivative",
        generated_by=[{"Name": "eegcorpus", "Version": versions.get("eegcorpus", "unknown"), "Description": f"profile {', '.join(profiles)}"}],
        source_datasets=[{"DOI": s["doi"]} for s in sources.values() if s.get("doi")] or None,
        authors=sorted({a for s in sources.values() for a in s.get("authors", [])}) or None,
        overwrite=True,
        verbose="error",
    )
    return result


def _fill_participants(out: Path, participants: dict[str, dict]) -> None:
    """Put the stored participant rows into the participants.tsv that mne-bids wrote."""
    import pandas as pd

    path = out / "participants.tsv"
    if not participants or not path.exists():
        return
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False).set_index("participant_id")
    for subject, row in participants.items():
        for column, value in row.items():
            if column not in table.columns:
                table[column] = "n/a"
            table.loc[subject, column] = "n/a" if value is None else str(value)
    table.reset_index().to_csv(path, sep="\t", index=False)


def _name_recordings(out: Path, written: dict[str, str]) -> None:
    """Add each data file's recording id to its scans.tsv (column ``eegcorpus_recording_id``)."""
    import pandas as pd

    by_file = {rel: rid for rid, rel in written.items()}
    for scans in out.glob("sub-*/**/*_scans.tsv"):
        table = pd.read_csv(scans, sep="\t", dtype=str, keep_default_na=False)
        prefix = scans.parent.relative_to(out).as_posix()
        table["eegcorpus_recording_id"] = [by_file.get(f"{prefix}/{name}", "n/a") for name in table["filename"]]
        table.to_csv(scans, sep="\t", index=False)
        sidecar = scans.with_suffix(".json")
        described = json.loads(sidecar.read_text()) if sidecar.exists() else {}
        described["eegcorpus_recording_id"] = {"Description": "The recording's id in the eegcorpus store it was exported from."}
        sidecar.write_text(json.dumps(described, indent=2))
