"""Processing steps alone: FIR design and application against MNE, notch choice, resampling."""

from __future__ import annotations

import mne
import numpy as np
import pytest
from helpers.shared_data import shared_path

from eegcorpus.pipeline import filters
from eegcorpus.readers import read_recording

mne.set_log_level("ERROR")


@pytest.mark.parametrize(
    ("n_taps", "cutoff", "sfreq"), [(1, 10.0, 100.0), (2, 10.0, 100.0), (8, 49.0, 100.0), (17, 0.1, 500.0), (1057, 30.0, 160.0), (3301, 1.0, 500.0)]
)
def test_lowpass_taps_equal_scipy_firwin(n_taps, cutoff, sfreq):
    from scipy.signal import firwin

    theirs = firwin(n_taps, cutoff, window="hamming", pass_zero=True, fs=sfreq)
    np.testing.assert_allclose(filters._lowpass_taps(n_taps, cutoff, sfreq), theirs, rtol=0, atol=1e-15)


@pytest.mark.parametrize(("sfreq", "l_freq", "h_freq"), [(160, 0.1, 30), (500, 0.1, 30), (200, 0.1, 75), (500, 0.3, 75), (250, None, 40), (256, 1.0, None)])
def test_bandpass_design_equals_mne(sfreq, l_freq, h_freq):
    ours = filters.design_bandpass(sfreq, l_freq, h_freq)
    theirs = mne.filter.create_filter(None, sfreq, l_freq, h_freq, fir_design="firwin")
    assert len(ours) == len(theirs)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


@pytest.mark.parametrize(("sfreq", "freq"), [(200, 50), (500, 50), (500, 60), (1000, 100)])
def test_notch_design_equals_mne_fir_notch(sfreq, freq):
    width, trans = freq / 200, 1.0
    theirs = mne.filter.create_filter(
        None,
        sfreq,
        freq + width / 2 + trans / 2,
        freq - width / 2 - trans / 2,
        l_trans_bandwidth=trans / 2,
        h_trans_bandwidth=trans / 2,
        fir_design="firwin",
    )
    np.testing.assert_allclose(filters.design_notch(sfreq, freq), theirs, atol=1e-12)


def test_bandpass_on_real_eeg_equals_mne_filter_data():
    rec = read_recording(shared_path("eegmmidb", "S001", "S001R03.edf"))
    ours = filters.bandpass(rec.data, 160, 0.1, 30)
    theirs = mne.filter.filter_data(rec.data.astype(np.float64), 160, 0.1, 30, fir_design="firwin")
    # float32 FFTs: differences stay far below the 0.1 uV storage step.
    assert np.abs(ours - theirs).max() < 1e-3


def test_notch_on_real_eeg_equals_mne_notch_filter():
    rec = read_recording(shared_path("eegmat", "Subject00_2.edf"))
    ours = filters.notch(rec.data, 500, [50, 100])
    theirs = mne.filter.notch_filter(rec.data.astype(np.float64), 500, [50, 100], method="fir", fir_design="firwin")
    assert np.abs(ours - theirs).max() < 1e-3


def test_zero_phase_keeps_a_peak_in_place_and_passes_the_band():
    sfreq, n = 200.0, 4000
    t = np.arange(n) / sfreq
    x = np.sin(2 * np.pi * 10 * t)[None, :]
    y = filters.bandpass(x, sfreq, 1.0, 40.0)
    mid = slice(1000, 3000)
    np.testing.assert_allclose(y[0, mid], x[0, mid], atol=5e-3)  # 10 Hz passes, undelayed
    z = filters.bandpass(np.sin(2 * np.pi * 80 * t)[None, :], sfreq, 1.0, 40.0)
    assert np.abs(z[0, mid]).max() < 1e-2  # 80 Hz is stopped


def test_overlap_add_equals_direct_convolution():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5003))
    taps = rng.standard_normal(301)
    direct = np.stack([np.convolve(row, taps) for row in x])
    np.testing.assert_allclose(filters._overlap_add(x, taps), direct, atol=1e-9)


@pytest.mark.parametrize(
    ("line", "sfreq", "upper", "expected"),
    [
        (50, 160, 37.5, []),  # neuript on EEGMMIDB: 50 Hz is above the low-pass stop edge
        (60, 500, 37.5, []),
        (50, 200, 93.75, [50]),  # labram at 200 Hz: 50 notched, 100 above the low-pass
        (50, 1000, 93.75, [50]),
        (60, 1000, 500, [60, 120, 180, 240, 300, 360, 420, 480]),
    ],
)
def test_notch_frequencies(line, sfreq, upper, expected):
    assert filters.notch_frequencies(line, sfreq, upper) == expected


def test_resample_length_and_content():
    sfreq, n = 160.0, 16000
    t = np.arange(n) / sfreq
    x = np.sin(2 * np.pi * 5 * t)[None, :]
    y = filters.resample(x, sfreq, 64.0)
    assert y.shape == (1, filters.resampled_length(n, sfreq, 64.0)) == (1, 6400)
    t64 = np.arange(6400) / 64.0
    np.testing.assert_allclose(y[0, 100:-100], np.sin(2 * np.pi * 5 * t64)[100:-100], atol=1e-3)
    z = filters.resample(np.sin(2 * np.pi * 28 * t)[None, :], sfreq, 64.0)  # near the new Nyquist
    np.testing.assert_allclose(z[0, 200:-200], np.sin(2 * np.pi * 28 * t64)[200:-200], atol=5e-3)


def test_resample_matches_band_limited_ground_truth():
    """40 random sines below 31.5 Hz at 500 Hz, resampled to 64 Hz, against the sines at 64 Hz.

    (mne.filter.resample is off by several units here: it rounds the padded output length when
    the ratio is not exact, so its time grid drifts; see docs/pipeline.md.)
    """
    rng = np.random.default_rng(0)
    freqs, phases = rng.uniform(0.5, 31.5, 40), rng.uniform(0, 2 * np.pi, 40)
    t500, t64 = np.arange(91000) / 500.0, np.arange(11648) / 64.0
    x = np.sum([np.sin(2 * np.pi * f * t500 + p) for f, p in zip(freqs, phases)], axis=0)
    truth = np.sum([np.sin(2 * np.pi * f * t64 + p) for f, p in zip(freqs, phases)], axis=0)
    y = filters.resample(x[None].astype(np.float32), 500.0, 64.0)[0]
    assert np.abs(y - truth)[1000:-1000].max() < 0.02


def test_resample_equals_scipy_fft_resample_on_real_eeg():
    from scipy.signal import resample as scipy_resample

    rec = read_recording(shared_path("eegmat", "Subject01_1.edf"))
    band = filters.bandpass(rec.data, 500, 0.1, 30)
    ours = filters.resample(band, 500, 64)
    theirs = scipy_resample(band.astype(np.float64), ours.shape[1], axis=-1)  # periodic: compare away from the ends
    mid = slice(500, -500)
    assert min(np.corrcoef(a[mid], b[mid])[0, 1] for a, b in zip(ours, theirs)) > 0.9999


def test_invalid_band_edges():
    with pytest.raises(ValueError, match="h_freq"):
        filters.design_bandpass(100, 0.1, 60)
    with pytest.raises(ValueError, match="l_freq"):
        filters.design_bandpass(100, -1, 30)


@pytest.mark.parametrize(
    ("sfreq", "target", "h_stop", "expected"),
    [(500, 64, 37.5, 128), (160, 64, 37.5, 128), (500, 200, 93.75, 200), (1000, 200, 93.75, 200), (128, 64, 37.5, 128), (250, 64, None, 250)],
)
def test_working_rate(sfreq, target, h_stop, expected):
    assert filters.working_rate(sfreq, target, h_stop) == expected


def test_explicit_transitions_keep_the_native_specification():
    """A filter designed at 128 Hz with the 500 Hz transitions has the 500 Hz filter's response."""
    from scipy.signal import freqz

    native = filters.design_bandpass(500, 0.1, 30)
    l_trans, h_trans = filters.auto_transitions(500, 0.1, 30)
    low = filters.design_bandpass(128, 0.1, 30, l_trans, h_trans)
    freqs = np.linspace(0.5, 60, 200)
    _, h_native = freqz(native, worN=freqs, fs=500)
    _, h_low = freqz(low, worN=freqs, fs=128)
    assert np.abs(np.abs(h_native) - np.abs(h_low)).max() < 2e-3
    with pytest.raises(ValueError, match="stop edge"):
        filters.design_bandpass(64, 0.1, 30, l_trans, h_trans)  # 37.5 Hz > 32 Hz Nyquist
