"""A BIDS dataset written with mne-bids from real recordings in ../shared/data, in the four
formats BIDS allows for EEG: EDF (EEGMMIDB S001 runs 3 and 4, copied as they are), BrainVision
(MentalArithmetic Subject00, both conditions), EEGLAB (MentalArithmetic Subject01, rest) and BDF
(the OpenBCI recording ``fixtures/bdf/multiple_annotation_chans.bdf``, copied, with its
non-EEG channels typed in channels.tsv)."""

from __future__ import annotations

from pathlib import Path

from helpers.shared_data import shared_path

#: (shared file, BIDS subject, task, run, format, line frequency)
EEGMMIDB_RUNS = [("S001R03.edf", "001", "motorexecution", 3), ("S001R04.edf", "001", "motorimagery", 4)]
MENTAL_ARITHMETIC_FILES = [
    ("Subject00_1.edf", "ma00", "rest", "BrainVision"),
    ("Subject00_2.edf", "ma00", "arithmetic", "BrainVision"),
    ("Subject01_1.edf", "ma01", "rest", "EEGLAB"),
]

#: The BDF recording's channels that are not EEG, as its channels.tsv types them.
BDF_CHANNEL_TYPES = {"EMG": "emg", "EOG": "eog", "Trigger": "stim", "ECG": "ecg", "acc1": "misc", "acc2": "misc", "acc3": "misc"}


def write_bids_dataset(root: Path, *, with_positions: bool = False) -> Path:
    """Write the dataset at ``root`` and return it. ``with_positions`` gives the BrainVision
    recordings an ``electrodes.tsv`` from MNE's standard_1005 montage (CapTrak, head frame)."""
    import mne
    from mne_bids import BIDSPath, make_dataset_description, write_raw_bids

    with mne.utils.use_log_level("ERROR"):
        for name, subject, task, run in EEGMMIDB_RUNS:
            raw = mne.io.read_raw_edf(shared_path("eegmmidb", "S001", name), verbose="error")
            raw.info["line_freq"] = 60.0
            write_raw_bids(raw, BIDSPath(subject=subject, task=task, run=run, root=root, datatype="eeg"), overwrite=True, verbose="error")
        for name, subject, task, fmt in MENTAL_ARITHMETIC_FILES:
            raw = mne.io.read_raw_edf(shared_path("eegmat", name), preload=True, verbose="error")
            raw.set_channel_types({"ECG ECG": "ecg"})
            raw.info["line_freq"] = 50.0
            montage = None
            if with_positions and fmt == "BrainVision":
                raw.rename_channels({n: n.removeprefix("EEG ") for n in raw.ch_names if n.startswith("EEG ") and "-" not in n})
                montage = mne.channels.make_standard_montage("standard_1005")
                raw.set_montage(montage, on_missing="ignore")
            bids_path = BIDSPath(subject=subject, task=task, root=root, datatype="eeg")
            write_raw_bids(raw, bids_path, format=fmt, allow_preload=True, overwrite=True, verbose="error")
        raw = mne.io.read_raw_bdf(shared_path("fixtures", "bdf", "multiple_annotation_chans.bdf"), verbose="error")
        raw.set_channel_types(BDF_CHANNEL_TYPES)
        raw.info["line_freq"] = 50.0
        write_raw_bids(raw, BIDSPath(subject="psg01", task="sleep", root=root, datatype="eeg"), overwrite=True, verbose="error")
        make_dataset_description(
            path=root,
            name="Real recordings in BIDS",
            authors=["Ada Lovelace", "Hans Berger"],
            data_license="ODC-By-1.0",
            doi="doi:10.13026/C28G6P",
            overwrite=True,
            verbose="error",
        )
    return Path(root)
