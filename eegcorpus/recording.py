"""The one recording type every reader returns."""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported where a table is made: `eegcorpus inspect` of an EDF file needs no table,
# and pandas is the largest import of the command (about 0.4 s).

#: Multiplier that converts a value in the given physical unit to microvolts.
UNIT_TO_UV: dict[str, float] = {
    "uV": 1.0,
    "µV": 1.0,
    "μV": 1.0,  # Greek mu, distinct code point from the micro sign
    "mV": 1e3,
    "V": 1e6,
    "nV": 1e-3,
}


def unit_scale_to_uv(unit: str) -> float | None:
    """Return the factor that turns ``unit`` into microvolts, or None if it is not a voltage.

    Case is respected except for the common all-caps spellings (``UV``, ``MV``) that some
    clinical exporters write; ``MV`` is read as millivolts because no EEG system records in
    megavolts.
    """
    unit = unit.strip()
    if unit in UNIT_TO_UV:
        return UNIT_TO_UV[unit]
    upper = unit.upper()
    return {"UV": 1.0, "MV": 1e3, "NV": 1e-3, "V": 1e6, "MICROVOLT": 1.0}.get(upper)


def sha256_file(path: str | Path, block_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block_size):
            digest.update(chunk)
    return digest.hexdigest()


def empty_annotations() -> pd.DataFrame:
    """An annotations table with the standard columns and no rows."""
    import pandas as pd

    return pd.DataFrame(
        {
            "onset": np.zeros(0, dtype=np.float64),
            "duration": np.zeros(0, dtype=np.float64),
            "description": np.zeros(0, dtype=object),
        }
    )


def make_annotations(onset, duration, description) -> pd.DataFrame:
    """Build an annotations table (onset and duration in seconds from the recording start)."""
    onset = np.asarray(onset, dtype=np.float64).reshape(-1)
    duration = np.asarray(duration, dtype=np.float64).reshape(-1)
    description = np.asarray([str(d) for d in description], dtype=object).reshape(-1)
    if not (len(onset) == len(duration) == len(description)):
        raise ValueError(f"Annotation columns differ in length: onset {len(onset)}, duration {len(duration)}, description {len(description)}.")
    import pandas as pd

    table = pd.DataFrame({"onset": onset, "duration": duration, "description": description})
    return table.sort_values("onset", kind="stable").reset_index(drop=True)


@dataclass
class AuxSignal:
    """A channel recorded at a rate other than the recording's main rate.

    TUH files carry 1 Hz ``IBI``/``BURSTS`` channels and Sleep-EDF cassettes 1 Hz EMG and
    temperature; they are kept apart instead of being silently resampled.
    """

    name: str
    ch_type: str
    sfreq: float
    data: np.ndarray  # float32, in ``unit``
    unit: str


@dataclass
class Recording:
    """A continuous multichannel recording, in microvolts, as read from one source file.

    Attributes
    ----------
    data : ndarray, shape (n_channels, n_times), float32
        Signals. Voltage channels are in microvolts; other channels stay in the unit named in
        ``units`` (for example a trigger channel in its raw integer codes).
    sfreq : float
        Sampling rate of ``data`` in Hz.
    ch_names : list of str
        Channel names exactly as written in the file.
    ch_types : list of str
        ``eeg``, ``eog``, ``ecg``, ``emg``, ``resp``, ``stim``, ``misc``, ...
    units : list of str
        Unit of each row of ``data`` after conversion (``"uV"`` for every voltage channel).
    annotations : DataFrame
        Columns ``onset``, ``duration`` (seconds from the first sample) and ``description``.
    meas_date : datetime or None
        Start of the recording when the file states it (UTC when the format says so).
    source : str
        Path of the file that was read.
    sha256 : str
        sha256 of the source file's bytes.
    format : str
        Reader that produced this recording (``edf``, ``edf+c``, ``bdf``, ``gdf``, ...).
    aux : list of AuxSignal
        Channels at another sampling rate, kept apart.
    extra : dict
        Format-specific facts worth keeping (header fields, discontinuity gaps, ...).
    bad_channels : dict
        Channels the source marks as bad, ``{name: reason}`` (a BIDS ``channels.tsv`` with
        ``status=bad``); the pipeline drops or keeps them by its policy.
    positions : dict
        Electrode positions the source states, ``{name: (x, y, z)}`` in metres in the head frame
        (a BIDS ``electrodes.tsv``); the pipeline reconciles them with the template positions.
    """

    data: np.ndarray
    sfreq: float
    ch_names: list[str]
    ch_types: list[str]
    units: list[str]
    annotations: pd.DataFrame = field(default_factory=empty_annotations)
    meas_date: _dt.datetime | None = None
    source: str = ""
    sha256: str = ""
    format: str = ""
    aux: list[AuxSignal] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    bad_channels: dict[str, str] = field(default_factory=dict)
    positions: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    def __post_init__(self):
        if self.data.ndim != 2:
            raise ValueError(f"Recording data must be 2-D [channel, time], got shape {self.data.shape}.")
        n = self.data.shape[0]
        for name, values in (("ch_names", self.ch_names), ("ch_types", self.ch_types), ("units", self.units)):
            if len(values) != n:
                raise ValueError(f"Recording has {n} channels but {len(values)} {name}.")
        if not self.sfreq > 0:
            raise ValueError(f"Recording sfreq must be positive, got {self.sfreq!r}.")

    @property
    def n_channels(self) -> int:
        return self.data.shape[0]

    @property
    def n_times(self) -> int:
        return self.data.shape[1]

    @property
    def duration_s(self) -> float:
        return self.n_times / self.sfreq

    @property
    def canonical_names(self) -> list[str]:
        """Channel names in canonical 10-05 spelling (see :mod:`eegcorpus.channels`)."""
        from eegcorpus.channels import canonical_name

        return [canonical_name(name) for name in self.ch_names]

    def get_data(self, picks=None, units: str = "uV") -> np.ndarray:
        """Return signals of the channels in ``picks`` (names, indices or types), in ``units``.

        Parameters
        ----------
        picks : None | str | list of str | list of int
            ``None`` for all channels, a channel type (``"eeg"``), or names/indices.
        units : "uV" | "mV" | "V"
            Unit of voltage channels in the returned array.
        """
        from eegcorpus._validate import check_option

        check_option("units", units, ("uV", "mV", "V"))
        idx = self.pick_indices(picks)
        scale = 1.0 / UNIT_TO_UV[units]
        out = self.data[idx].astype(np.float64 if units == "V" else np.float32)
        if scale != 1.0:
            volt_rows = [i for i, k in enumerate(idx) if self.units[k] == "uV"]
            out[volt_rows] *= scale
        return out

    def pick_indices(self, picks=None) -> list[int]:
        """Indices of the channels selected by ``picks`` (see :meth:`get_data`)."""
        if picks is None:
            return list(range(self.n_channels))
        if isinstance(picks, str):
            if picks in set(self.ch_types):
                return [i for i, t in enumerate(self.ch_types) if t == picks]
            picks = [picks]
        out = []
        for p in picks:
            if isinstance(p, (int, np.integer)):
                out.append(int(p))
            elif p in self.ch_names:
                out.append(self.ch_names.index(p))
            else:
                raise ValueError(f"Channel {p!r} is not in {self.source or 'the recording'}.")
        return out

    def __repr__(self) -> str:
        return (
            f"<Recording {Path(self.source).name or '?'} | {self.format} | {self.n_channels} ch "
            f"| {self.sfreq:g} Hz | {self.duration_s:.1f} s | {len(self.annotations)} annotations>"
        )
