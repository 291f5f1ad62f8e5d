"""eNTERFACE'06 EMOBRAIN: Biosemi BDF files, A1..B32 labels mapped to 10-20 names.

Files are ``PART{participant}_IAPS_SES{session}_EEG_fNIRS_{ddmmyyyy}.bdf``; the participant is
the subject. The 64 EEG channels are labelled ``A1``..``A32``, ``B1``..``B32`` in the file;
:data:`BIOSEMI64_MAP` renames them to the 10-20 names of the Biosemi 64 cap, in the order of
MNE's ``biosemi64`` montage (A1 = Fp1 ... B32 = O2).

Only those 64 electrodes are EEG. Every other voltage channel of the file (GSR, respiration,
plethysmograph, the eight EXG externals) is typed ``misc`` on reading, so it is dropped however
it is labelled; the card's ``drop_channels`` patterns name the ones known. The Status channel
stays ``stim``.

Events come from the Status channel (the card: it marks stimulus onsets): the low 16 bits carry
the trigger code (the high 8 bits are Biosemi status flags such as CMS-in-range and battery),
and every change to a non-zero code is an event whose description is the code. The
``.bdf.mrk`` marker lists beside the files are not read. The IAPS categories are not labelled.

The helpers here serve every Biosemi-based dataset (the Trujillo recordings use them too).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from eegcorpus.channels import canonical_name, is_known_electrode
from eegcorpus.datasets.base import DatasetAdapter, Source, _num
from eegcorpus.recording import Recording, make_annotations

#: The Biosemi 64 cap in A1..A32, B1..B32 order (MNE ``biosemi64`` montage).
BIOSEMI64_NAMES: tuple[str, ...] = (
    "Fp1", "AF7", "AF3", "F1", "F3", "F5", "F7", "FT7", "FC5", "FC3", "FC1", "C1", "C3", "C5", "T7", "TP7",
    "CP5", "CP3", "CP1", "P1", "P3", "P5", "P7", "P9", "PO7", "PO3", "O1", "Iz", "Oz", "POz", "Pz", "CPz",
    "Fpz", "Fp2", "AF8", "AF4", "AFz", "Fz", "F2", "F4", "F6", "F8", "FT8", "FC6", "FC4", "FC2", "FCz", "Cz",
    "C2", "C4", "C6", "T8", "TP8", "CP6", "CP4", "CP2", "P2", "P4", "P6", "P8", "P10", "PO8", "PO4", "O2",
)  # fmt: skip

#: Biosemi ``A1``..``B32`` -> 10-20 name.
BIOSEMI64_MAP: dict[str, str] = {f"{bank}{i + 1}": BIOSEMI64_NAMES[offset + i] for bank, offset in (("A", 0), ("B", 32)) for i in range(32)}

#: Trigger bits of the Biosemi Status channel.
STATUS_TRIGGER_MASK = 0xFFFF

#: Known electrodes that are references rather than scalp signal.
_REFERENCE_ELECTRODES = frozenset({"M1", "M2"})


def keep_scalp_channels(rec: Recording, channel_map: dict[str, str] | None = None) -> list[str]:
    """Retype as ``misc``, in place, every EEG-typed channel that is not a scalp electrode.

    A scalp electrode is a channel whose name, after ``channel_map``, is a known 10-05 electrode
    other than the mastoids M1/M2. Returns the retyped names (for ``rec.extra``).
    """
    retyped = []
    for i, (name, kind) in enumerate(zip(rec.ch_names, rec.ch_types)):
        if kind != "eeg":
            continue
        mapped = (channel_map or {}).get(name, name)
        if not is_known_electrode(mapped) or canonical_name(mapped) in _REFERENCE_ELECTRODES:
            rec.ch_types[i] = "misc"
            retyped.append(name)
    return retyped


def status_annotations(rec: Recording, mask: int = STATUS_TRIGGER_MASK) -> pd.DataFrame:
    """One annotation per change of the Status channel to a non-zero trigger code.

    Empty when the recording has no stim channel named ``Status``.
    """
    index = next(
        (i for i, (n, t) in enumerate(zip(rec.ch_names, rec.ch_types)) if t == "stim" and n.strip().upper() == "STATUS"),
        None,
    )
    if index is None:
        return make_annotations([], [], [])
    # Status values are 24-bit integers, exact in float32.
    codes = rec.data[index].astype(np.int64) & mask
    previous = np.concatenate(([0], codes[:-1]))
    onsets = np.flatnonzero((codes != previous) & (codes != 0))
    return make_annotations(onsets / rec.sfreq, np.zeros(len(onsets)), [str(int(codes[i])) for i in onsets])


def read_biosemi(path: Path, channel_map: dict[str, str] | None = None) -> Recording:
    """Read a BDF/EDF file, keep only scalp electrodes as EEG and add the Status events."""
    from eegcorpus.readers import read_recording

    rec = read_recording(path)
    rec.extra["retyped_misc"] = keep_scalp_channels(rec, channel_map)
    status = status_annotations(rec)
    if len(status):
        both = pd.concat([rec.annotations, status], ignore_index=True)
        rec.annotations = make_annotations(both["onset"], both["duration"], both["description"])
    return rec


class EmobrainAdapter(DatasetAdapter):
    channel_map = BIOSEMI64_MAP

    def describe(self, rel, fields) -> Source | None:
        source = super().describe(rel, fields)
        source.subject = _num(fields.get("participant")) or source.subject
        source.task = "iaps_emotion"
        return source

    def read(self, raw_root: Path, source: Source) -> Recording:
        return read_biosemi(Path(raw_root) / source.path, self.channel_map)


ADAPTER = EmobrainAdapter
