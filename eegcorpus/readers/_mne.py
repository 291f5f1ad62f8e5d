"""Bridge from an ``mne.io.Raw`` to a :class:`Recording`, shared by the MNE-backed readers."""

from __future__ import annotations

import datetime as _dt
import warnings
from pathlib import Path

import numpy as np

from eegcorpus.errors import ReaderError
from eegcorpus.recording import Recording, make_annotations, sha256_file

# MNE FIFF unit codes -> our unit names (FIFF_UNIT_V = 107).
_FIFF_UNIT_V = 107


def recording_from_raw(raw, path: str | Path, fmt: str, extra: dict | None = None) -> Recording:
    """Convert a loaded MNE Raw into a Recording.

    Voltage channels (MNE unit V) are converted to microvolts; other channels keep their
    values and unit. Annotations keep MNE's onsets relative to the first sample.
    """
    path = Path(path)
    data = raw.get_data()  # float64, SI units
    units = []
    for i, ch in enumerate(raw.info["chs"]):
        if ch["unit"] == _FIFF_UNIT_V:
            data[i] *= 1e6
            units.append("uV")
        else:
            units.append("n/a")
    ch_types = raw.get_channel_types()
    ann = raw.annotations
    first = raw.first_time if hasattr(raw, "first_time") else 0.0
    onsets = np.asarray(ann.onset, dtype=np.float64) - (first if ann.orig_time is not None else 0.0)
    meas_date = raw.info.get("meas_date")
    if isinstance(meas_date, _dt.datetime) and meas_date.tzinfo is None:
        meas_date = meas_date.replace(tzinfo=_dt.UTC)
    if not np.all(np.isfinite(data)):
        bad = sorted({raw.ch_names[i] for i in np.where(~np.isfinite(data).all(axis=1))[0]})
        raise ReaderError(path, f"non-finite samples (NaN or Inf) in channel(s) {', '.join(bad[:5])}")
    return Recording(
        data=data.astype(np.float32),
        sfreq=float(raw.info["sfreq"]),
        ch_names=list(raw.ch_names),
        ch_types=list(ch_types),
        units=units,
        annotations=make_annotations(onsets, ann.duration, ann.description),
        meas_date=meas_date,
        source=str(path),
        sha256=sha256_file(path),
        format=fmt,
        extra=dict(extra or {}),
    )


def quiet_mne():
    """Context manager that keeps MNE's informational output and warnings off the console."""
    import contextlib

    import mne

    @contextlib.contextmanager
    def _ctx():
        with mne.utils.use_log_level("ERROR"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield

    return _ctx()
