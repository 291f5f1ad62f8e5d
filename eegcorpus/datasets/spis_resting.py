"""SPIS resting state: one .mat per subject and condition, variable ``dataRest``.

Files are ``Pre-SART EEG/S{subject:02d}_restingPre_{condition}.mat`` with condition ``EC``
(eyes closed) or ``EO`` (eyes open); the condition is the recording's label and its single
event, covering the whole file. Other conditions are skipped.

``dataRest`` is channels x samples. Rows 1-64 are the Biosemi 64 cap in its A1..B32 order
(:data:`~eegcorpus.datasets.emobrain.BIOSEMI64_NAMES`); rows after them are external channels,
named ``EXG1``, ``EXG2``, ... and typed ``misc`` so that they are never stored.

Defaults for what the card leaves unverified, recorded in ``Recording.extra``:

* sampling rate: the card gives 2048 Hz (acquisition, NeurIPT) and 256 Hz (a third-party loader
  of these .mat files). Each file is 2.5 min long, so the rate of the two whose duration
  ``n_samples / rate`` comes closer to 150 s (on a log scale) is used
  (``extra["sfreq_rule"]``). A 256 Hz file and a 2048 Hz file differ eightfold in length, so the
  two are never confused.
* unit: the same loader multiplies the numbers by 1e-3 to get microvolts, so
  :attr:`SpisRestingAdapter.unit_scale` is 1e-3.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, Source
from eegcorpus.datasets.emobrain import BIOSEMI64_NAMES
from eegcorpus.errors import ReaderError
from eegcorpus.recording import Recording

DATA_KEY = "dataRest"
CONDITIONS = {"EC": "eyes_closed", "EO": "eyes_open"}
#: Candidate sampling rates of the .mat arrays (card: 2048 Hz acquisition, 256 Hz per a loader).
CANDIDATE_SFREQS = (256.0, 2048.0)
#: Length of every resting block (2.5 min), which decides between the candidate rates.
EXPECTED_DURATION_S = 150.0


def choose_sfreq(n_samples: int) -> float:
    """The candidate rate that makes ``n_samples`` last closest to 2.5 min."""
    return min(CANDIDATE_SFREQS, key=lambda f: abs(math.log(n_samples / f / EXPECTED_DURATION_S)))


class SpisRestingAdapter(DatasetAdapter):
    #: Multiplier from the stored numbers to microvolts (the third-party loader's scaling).
    unit_scale = 1e-3

    def describe(self, rel, fields) -> Source | None:
        condition = fields.get("condition")
        if condition not in CONDITIONS:
            return None
        source = super().describe(rel, fields)
        source.task = "rest"
        source.label = CONDITIONS[condition]
        return source

    def read(self, raw_root: Path, source: Source) -> Recording:
        from eegcorpus.readers.mat import list_mat_arrays, read_mat

        path = Path(raw_root) / source.path
        arrays = list_mat_arrays(path)
        if DATA_KEY not in arrays or len(arrays[DATA_KEY][0]) != 2:
            raise ReaderError(path, f"no 2-D variable {DATA_KEY!r} (numeric variables: {', '.join(arrays) or 'none'})")
        n_rows, n_samples = arrays[DATA_KEY][0]
        if n_rows < len(BIOSEMI64_NAMES):
            raise ReaderError(path, f"{DATA_KEY!r} has {n_rows} rows; expected 64 EEG rows and the externals after them")
        sfreq = choose_sfreq(n_samples)
        names = list(BIOSEMI64_NAMES) + [f"EXG{i + 1}" for i in range(n_rows - len(BIOSEMI64_NAMES))]
        rec = read_mat(path, data_key=DATA_KEY, sfreq=sfreq, ch_names=names, unit=self.unit_scale, channel_axis=0)
        for i in range(len(BIOSEMI64_NAMES), n_rows):
            rec.ch_types[i] = "misc"
        rec.extra["sfreq_rule"] = f"{sfreq:g} Hz gives {n_samples / sfreq:.1f} s, closest to the documented {EXPECTED_DURATION_S:g} s"
        return rec

    def events(self, source: Source, rec: Recording) -> pd.DataFrame:
        return pd.DataFrame({"onset": [0.0], "duration": [rec.duration_s], "description": [source.label], "label": [source.label]})


ADAPTER = SpisRestingAdapter
