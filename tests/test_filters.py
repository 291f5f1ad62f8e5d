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


@pytest.mark.parametrize(
    ("sfreq", "l_freq", "h_freq"),
    [
        (160, 0.1, 30),
        (500, 0.1, 30),
        (200, 0.1, 75),
        (500, 0.3, 75),
        (250, None, 40),
        (256, 1.0, None),
        # the edges of MNE's "auto" rule: l 4 (2 Hz floor), l 12 (a quarter), h 4 (2 Hz floor),
        # h 45 at 100 Hz (Nyquist caps the transition at 5 Hz)
        (100, 4.0, 45.0),
        (250, 12.0, None),
        (160, None, 4.0),
    ],
)
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


def test_explicit_transitions_equal_mne_with_the_same_bandwidths():
    ours = filters.design_bandpass(250, 1.0, 40.0, l_trans=0.5, h_trans=4.0)
    theirs = mne.filter.create_filter(None, 250, 1.0, 40.0, l_trans_bandwidth=0.5, h_trans_bandwidth=4.0, fir_design="firwin")
    assert len(ours) == len(theirs)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_notch_width_is_the_given_one():
    """An explicit width against MNE's notch design with the same width."""
    width, trans = 2.0, 1.0
    theirs = mne.filter.create_filter(
        None, 500, 50 + width / 2 + trans / 2, 50 - width / 2 - trans / 2, l_trans_bandwidth=trans / 2, h_trans_bandwidth=trans / 2, fir_design="firwin"
    )
    np.testing.assert_allclose(filters.design_notch(500, 50, width=width), theirs, atol=1e-12)


def test_notch_needs_room_below_nyquist():
    # 50 Hz: stop band up to 50.125 Hz, half transition 0.5 Hz: a rate above 101.25 Hz
    with pytest.raises(ValueError, match=r"^Invalid value for the 'freq' parameter: a notch at 50 Hz needs a rate above 101\.25 Hz, got 101\.25\.$"):
        filters.design_notch(101.25, 50)
    assert len(filters.design_notch(101.3, 50)) % 2 == 1


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


@pytest.mark.parametrize("n_taps", [1, 3, 31, 301, 1025])
@pytest.mark.parametrize("n", [1, 2, 30, 5003])
def test_overlap_add_equals_direct_convolution(n, n_taps):
    """Every split of a signal into blocks (shorter than the kernel, one block, many, a tail that
    fills whole blocks) against numpy's direct convolution; float32 stays float32."""
    rng = np.random.default_rng(n * 7919 + n_taps)
    x = rng.standard_normal((3, n))
    taps = rng.standard_normal(n_taps)
    direct = np.stack([np.convolve(row, taps) for row in x])
    np.testing.assert_allclose(filters._overlap_add(x, taps), direct, atol=1e-9)
    single = filters._overlap_add(x.astype(np.float32), taps)
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, direct, atol=2e-5 * np.sqrt(n_taps))


def test_odd_reflection_padding():
    x = np.arange(1.0, 7.0, dtype=np.float32)[None] ** 2  # 1 4 9 16 25 36
    padded = filters._pad_odd_reflect(x, 3)
    assert padded.dtype == np.float32
    np.testing.assert_array_equal(padded, np.pad(x, ((0, 0), (3, 3)), mode="reflect", reflect_type="odd"))
    # longer than the signal: reflected as far as it goes (about the end sample), then zeros
    np.testing.assert_array_equal(filters._pad_odd_reflect(x[:, :3], 4)[0], [0, 0, -7, -2, 1, 4, 9, 14, 17, 0, 0])
    # a longer total repeats the last padded value
    np.testing.assert_array_equal(filters._pad_odd_reflect(x[:, :4], 2, total=10)[0], [-7, -2, 1, 4, 9, 16, 23, 28, 28, 28])


def test_zero_phase_keeps_the_input_shape_and_gives_float32():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 400))
    taps = filters.design_bandpass(100, 1.0, 30.0)
    y = filters.apply_zero_phase(x, taps)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_array_equal(filters.apply_zero_phase(x[1, 2], taps), y[1, 2])
    np.testing.assert_allclose(filters.apply_zero_phase(x, taps, dtype=np.float64), y, atol=1e-5)
    assert filters.notch(x, 100, [25.0]).dtype == np.float32


@pytest.mark.parametrize(
    ("line", "sfreq", "upper", "expected"),
    [
        (50, 160, 37.5, []),  # neuript on EEGMMIDB: 50 Hz is above the low-pass stop edge
        (60, 500, 37.5, []),
        (50, 200, 93.75, [50]),  # labram at 200 Hz: 50 notched, 100 above the low-pass
        (50, 1000, 93.75, [50]),
        (60, 1000, 500, [60, 120, 180, 240, 300, 360, 420, 480]),
        (50, 102, None, []),  # Nyquist less the notch's 1 Hz: 50 Hz is not below 50
        (50, 103, None, [50]),  # 50 < 50.5
        (50, 500, 100.0, [50]),  # a harmonic at the stop edge is left to the low-pass
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


@pytest.mark.parametrize(
    ("sfreq", "new_sfreq", "n"),
    [
        (500.0, 64.0, 91000),
        (500.0, 64.0, 91003),
        (160.0, 64.0, 19999),
        (160.0, 64.0, 20000),
        (64.0, 160.0, 5001),
        (250.0, 100.0, 30001),
        (200.0, 64.0, 20011),
        (500.0, 64.0, 130822),
    ],
)
def test_resample_keeps_the_time_grid_and_the_amplitude(sfreq, new_sfreq, n):
    """Band-limited sines (40, up to 95 % of the lower Nyquist frequency) resampled at lengths
    that are and are not multiples of the ratio's denominator (130822 + 2 x 125 padding is a
    fast FFT length that is not), down and up, against the same
    sines at the new rate, in value: within 0.006 over the middle half (rms about 4.5; measured
    at most 0.0024). A time grid off by a fraction of a sample, a lost amplitude factor or a
    mishandled Nyquist bin exceeds it."""
    rng = np.random.default_rng(int(n))
    nyquist = min(sfreq, new_sfreq) / 2
    freqs, phases = rng.uniform(0.5, 0.95 * nyquist, 40), rng.uniform(0, 2 * np.pi, 40)
    t, t_new = np.arange(n) / sfreq, np.arange(filters.resampled_length(n, sfreq, new_sfreq)) / new_sfreq
    x = np.sum([np.sin(2 * np.pi * f * t + p) for f, p in zip(freqs, phases)], axis=0)
    truth = np.sum([np.sin(2 * np.pi * f * t_new + p) for f, p in zip(freqs, phases)], axis=0)
    y = filters.resample(np.stack([x, -x]), sfreq, new_sfreq)
    assert y.shape == (2, len(truth)) and y.dtype == np.float64
    quarter = len(truth) // 4
    assert np.abs(y[0] - truth)[quarter:-quarter].max() < 0.006
    np.testing.assert_array_equal(y[1], -y[0])  # channels are independent


def test_resample_at_the_same_rate_and_refusals():
    x = np.random.default_rng(0).standard_normal((3, 100)).astype(np.float32)
    np.testing.assert_array_equal(filters.resample(x, 64.0, 64.0), x)
    assert filters.resample(x, 100.0, 50.0).dtype == np.float32 and filters.resample(x[0], 100.0, 50.0).shape == (50,)
    with pytest.raises(ValueError, match=r"^Cannot resample 100\.0 Hz to 314\.159265 Hz with a rational factor\.$"):
        filters.resample(x, 100.0, 314.159265)


@pytest.mark.parametrize(
    ("length", "new_length"),
    [(1000, 128), (1000, 127), (999, 128), (999, 127), (128, 500), (127, 500), (128, 501), (64, 64)],
)
def test_spectral_resampling_equals_scipy_on_periodic_signals(length, new_length):
    """The resampler's spectral step against ``scipy.signal.resample`` on white noise, which
    puts energy in every bin, the unpaired Nyquist bin of even lengths included: folded
    (doubled) when downsampling to an even length, split (halved) when upsampling from one."""
    from scipy.signal import resample as scipy_resample

    x = np.random.default_rng(length + new_length).standard_normal((2, length))
    ours = filters._fft_resample_periodic(x, new_length)
    assert ours.shape == (2, new_length)
    np.testing.assert_allclose(ours, scipy_resample(x, new_length, axis=-1), rtol=0, atol=1e-12)


def test_resample_equals_scipy_fft_resample_on_real_eeg():
    from scipy.signal import resample as scipy_resample

    rec = read_recording(shared_path("eegmat", "Subject01_1.edf"))
    band = filters.bandpass(rec.data, 500, 0.1, 30)
    ours = filters.resample(band, 500, 64)
    theirs = scipy_resample(band.astype(np.float64), ours.shape[1], axis=-1)  # periodic: compare away from the ends
    mid = slice(500, -500)
    assert min(np.corrcoef(a[mid], b[mid])[0, 1] for a, b in zip(ours, theirs)) > 0.9999


def test_invalid_band_edges():
    with pytest.raises(ValueError, match=r"^Invalid value for the 'h_freq' parameter: 50 Hz is not below Nyquist \(50\.0 Hz\)\.$"):
        filters.design_bandpass(100, 0.1, 50)
    with pytest.raises(ValueError, match=r"^Invalid value for the 'l_freq' parameter: must be positive, got 0\.$"):
        filters.design_bandpass(100, 0, 30)
    with pytest.raises(ValueError, match=r"^At least one of l_freq and h_freq must be given\.$"):
        filters.design_bandpass(100, None, None)
    with pytest.raises(ValueError, match=r"^Invalid value for the 'h_trans' parameter: the stop edge 50\.5 Hz lies above Nyquist \(50\.0 Hz\)\.$"):
        filters.design_bandpass(100, None, 45, h_trans=5.5)
    assert len(filters.design_bandpass(100, None, 45, h_trans=5.0)) % 2 == 1  # a stop edge at Nyquist is allowed


@pytest.mark.parametrize(
    ("sfreq", "target", "h_stop", "expected"),
    [
        (500, 64, 37.5, 128),
        (160, 64, 37.5, 128),
        (500, 200, 93.75, 200),
        (1000, 200, 93.75, 200),
        (128, 64, 37.5, 128),
        (250, 64, None, 250),
        (500, 64, 64.0, 128),  # a Nyquist frequency equal to the stop edge holds it
        (160, 64, 70.0, 160),  # no multiple below the native rate holds it
        (64, 64, 20.0, 64),
    ],
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
