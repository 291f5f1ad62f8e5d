"""The pipeline a user would write instead of ``eegcorpus build``: LaBraM's ``dataset_maker``.

One process, one file after the other: ``mne.io.read_raw_edf(preload=True)``, EEG channels,
0.1-30 Hz band-pass and 50 Hz notch (MNE's FIR defaults), resampling to 64 Hz, microvolts as
float32 into one HDF5 file, one dataset per recording with chunks of (channels, sfreq).

As a command (the cost-curve benchmark runs it as a whole process)::

    python bench/mne_loop.py OUT.h5 RAW_FOLDER    # every *.edf under the folder, sorted
"""

from __future__ import annotations

import sys
from pathlib import Path


def run(files: list[str], out_h5: Path) -> dict:
    """Process ``files`` into ``out_h5``; the hours of EEG and the bytes written."""
    import h5py
    import mne

    mne.set_log_level("ERROR")
    hours = 0.0
    with h5py.File(out_h5, "w") as h5:
        for i, f in enumerate(files):
            raw = mne.io.read_raw_edf(f, preload=True)
            raw.pick("eeg")
            raw.filter(0.1, 30.0, fir_design="firwin")
            raw.notch_filter(50.0, method="fir", fir_design="firwin")
            raw.resample(64.0)
            data = raw.get_data(units="uV").astype("float32")
            dset = h5.create_dataset(f"rec{i:04d}", data=data, chunks=(data.shape[0], 64))
            dset.attrs["chOrder"] = [c.upper() for c in raw.ch_names]
            hours += raw.times[-1] / 3600
    return {"hours": hours, "bytes": Path(out_h5).stat().st_size}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python bench/mne_loop.py OUT.h5 RAW_FOLDER")
    run(sorted(str(p) for p in Path(sys.argv[2]).rglob("*.edf")), Path(sys.argv[1]))
