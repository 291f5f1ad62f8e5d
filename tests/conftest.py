"""Shared fixtures. Shared helpers (the real-data path, file writers...) live in ``helpers/``;
real recordings live in ../shared/data beside the checkout (never in the repo)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.shared_data import EEGMMIDB_SUBJECTS, shared_path


@pytest.fixture
def shared_data() -> Path:
    """The shared real-data folder (``../shared/data``); skips when absent."""
    return shared_path()


@pytest.fixture(scope="session")
def eegmmidb_store(tmp_path_factory) -> Path:
    """The real EEGMMIDB S001 runs 3-14 built with the neuript profile (once per test session)."""
    from eegcorpus.build import build

    raw = shared_path("eegmmidb")
    out = tmp_path_factory.mktemp("stores") / "eegmmidb"
    result = build("eegmmidb", raw, out, subjects=EEGMMIDB_SUBJECTS, progress=False)
    assert result.n_failed == 0, result.failed
    return out


@pytest.fixture(scope="module")
def eeg():
    """EEGMMIDB S001R03 as {canonical name: 160 Hz signal in uV}, and a resampling helper
    (``eeg["at"](sfreq)``): the signal of the TUH-style files (``helpers.dataset_files``)."""
    from fractions import Fraction

    import numpy as np
    from scipy.signal import resample_poly

    from eegcorpus.channels import canonical_name
    from eegcorpus.readers import read_recording

    rec = read_recording(shared_path("eegmmidb", "S001", "S001R03.edf"))
    signals = {canonical_name(n): rec.data[i].astype(np.float64) for i, n in enumerate(rec.ch_names)}
    cache: dict[float, dict[str, np.ndarray]] = {}

    def at(sfreq: float) -> dict[str, np.ndarray]:
        if sfreq not in cache:
            ratio = Fraction(int(sfreq), int(rec.sfreq))
            cache[sfreq] = {k: resample_poly(v, ratio.numerator, ratio.denominator) for k, v in signals.items()}
        return cache[sfreq]

    return {"signals": signals, "sfreq": rec.sfreq, "at": at}
