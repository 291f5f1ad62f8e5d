"""The processing stage on its own (``eegcorpus.pipeline.process``): a real recording read once,
put through profiles that take each branch (native rate, working rate, open edges, harmonics),
compared with MNE in value; then the channel policies and every refusal.

EEGMMIDB S001 R03 (160 Hz, 64 channels, 2 minutes) is the recording throughout.
"""

from __future__ import annotations

import copy
import logging

import mne
import numpy as np
import pytest
from helpers.shared_data import shared_path

from eegcorpus.channels import channel_positions, lobe_of
from eegcorpus.pipeline.process import POSITION_DISAGREEMENT_M, ProcessingError, process_recording, select_channels
from eegcorpus.pipeline.profiles import Profile, load_profile
from eegcorpus.readers import read_recording

pytestmark = pytest.mark.realdata

RUN = ("eegmmidb", "S001", "S001R03.edf")

# Filtering at the native rate is the same design as MNE's (firwin, Hamming, the "auto"
# transitions and length), so the two differ only by float32 rounding: float32 holds about 1e-4
# uV at the recording's 700 uV peaks, and each pass (band-pass, one notch per frequency) sums a
# few hundred rounded products. Measured at most 0.003 uV after four passes; 0.01 uV (a tenth of
# the storage step) bounds it with margin, while a gain of 1.001 already moves samples by 0.7 uV.
NATIVE_ATOL_UV = 0.01


@pytest.fixture(scope="module")
def recording():
    return read_recording(shared_path(*RUN))


@pytest.fixture
def rec(recording):
    """A copy each test may change."""
    return copy.deepcopy(recording)


def _mne_raw():
    mne.set_log_level("ERROR")
    return mne.io.read_raw_edf(shared_path(*RUN), preload=True)


def test_native_rate_band_pass_and_notch_equal_mne(rec):
    out = process_recording(rec, Profile("native", l_freq=1.0, h_freq=60.0, notch="line", sfreq=None), line_freq=50.0)
    raw = _mne_raw()
    raw.filter(1.0, 60.0, fir_design="firwin")
    raw.notch_filter(50.0, method="fir", fir_design="firwin")
    np.testing.assert_allclose(out.data, raw.get_data() * 1e6, rtol=0, atol=NATIVE_ATOL_UV)
    assert out.data.dtype == np.float32 and out.data.flags["C_CONTIGUOUS"] and out.sfreq == 160.0
    assert out.provenance["bandpass"] == {
        "l_freq": 1.0,
        "h_freq": 60.0,
        "l_trans": 1.0,  # MNE's auto rule: min(max(0.25 l, 2), l)
        "h_trans": 15.0,  # min(max(0.25 h, 2), nyquist - h)
        "n_taps": len(mne.filter.create_filter(None, 160.0, 1.0, 60.0, fir_design="firwin")),
        "at_hz": 160.0,
        "design": "firwin hamming, zero phase, MNE auto transitions at the native rate",
    }
    # the 75 Hz stop edge and the 79 Hz notch limit keep 50 Hz
    assert out.provenance["notch"] == {"line_freq": 50.0, "applied_hz": [50.0], "skipped_reason": None}
    assert "working_rate" not in out.provenance and "resample" not in out.provenance


def test_a_fixed_notch_removes_every_harmonic_below_the_stop_edge(rec):
    out = process_recording(rec, Profile("harmonics", l_freq=1.0, h_freq=60.0, notch=20.0, sfreq=None), line_freq=50.0)
    assert out.provenance["notch"]["applied_hz"] == [20.0, 40.0, 60.0]  # 80 > the 75 Hz stop edge
    raw = _mne_raw()
    raw.filter(1.0, 60.0, fir_design="firwin")
    raw.notch_filter([20.0, 40.0, 60.0], method="fir", fir_design="firwin")
    np.testing.assert_allclose(out.data, raw.get_data() * 1e6, rtol=0, atol=NATIVE_ATOL_UV)


@pytest.mark.parametrize(
    ("l_freq", "h_freq", "applied"),
    [
        (1.0, 30.0, [20.0]),  # 40 and 60 Hz lie above the 37.5 Hz stop edge
        (0.5, None, [20.0, 40.0, 60.0]),  # no low-pass: up to Nyquist less the notch's 1 Hz
    ],
)
def test_the_notch_stops_at_the_low_pass_stop_edge(rec, l_freq, h_freq, applied):
    out = process_recording(rec, Profile("edge", l_freq=l_freq, h_freq=h_freq, notch=20.0, sfreq=None))
    assert out.provenance["notch"]["applied_hz"] == applied


@pytest.mark.parametrize("h_freq", [80.0, 100.0])
def test_an_upper_edge_above_nyquist_is_left_out_and_said(rec, h_freq):
    out = process_recording(rec, Profile("open", l_freq=0.5, h_freq=h_freq, notch=None, sfreq=None))
    assert out.provenance["h_freq_skipped"] == f"{h_freq} Hz is not below the native Nyquist 80.0 Hz"
    assert out.provenance["bandpass"]["h_freq"] is None and "notch" not in out.provenance
    raw = _mne_raw()
    raw.filter(0.5, None, fir_design="firwin")
    np.testing.assert_allclose(out.data, raw.get_data() * 1e6, rtol=0, atol=NATIVE_ATOL_UV)


def test_no_band_and_no_rate_change_returns_the_samples(rec):
    rec.data = rec.data.astype(np.float64)
    out = process_recording(rec, load_profile("passthrough"))
    assert out.data.dtype == np.float32
    np.testing.assert_array_equal(out.data, rec.data.astype(np.float32))
    assert set(out.provenance) == {"dropped_channels", "native_sfreq"}


def test_the_neuript_profile_filters_at_the_working_rate(rec):
    """160 Hz -> 64 Hz: filtered at 128 Hz, the lowest multiple of 64 whose Nyquist holds the
    37.5 Hz stop edge, then halved; in value against MNE filtering at 160 Hz (two designs of
    one specification: gain within 0.05 %, residual within 1 % of each channel's RMS, measured
    0.017 % and 0.75 %)."""
    out = process_recording(rec, load_profile("neuript"), line_freq=50.0)
    assert out.sfreq == 64.0 and out.data.shape == (64, rec.data.shape[1] * 64 // 160)
    assert out.provenance["working_rate"] == {"hz": 128.0, "why": "lowest multiple of 64 Hz holding the 37.5 Hz stop edge"}
    assert out.provenance["resample"] == {"from": 128.0, "to": 64.0, "method": "FFT with odd-reflection padding"}
    assert out.provenance["bandpass"]["n_taps"] == len(
        mne.filter.create_filter(None, 128.0, 0.1, 30.0, l_trans_bandwidth=0.1, h_trans_bandwidth=7.5, fir_design="firwin")
    )
    assert out.provenance["notch"] == {
        "line_freq": 50.0,
        "applied_hz": [],
        "skipped_reason": "50.0 Hz and harmonics lie above 32 Hz, where the band-pass or resampler already removes them",
    }
    raw = _mne_raw()
    raw.filter(0.1, 30.0, fir_design="firwin")
    theirs = mne.filter.resample(raw.get_data(), up=64, down=160) * 1e6
    a, b = out.data[:, 128:-128], theirs[:, 128:-128]
    gain = (a * b).sum(1) / (b * b).sum(1)
    assert np.all(np.abs(gain - 1) < 5e-4), gain
    assert np.all(np.sqrt(((a - b) ** 2).mean(1)) < 0.01 * np.sqrt((b * b).mean(1)))


def test_channels_coordinates_and_annotations(rec):
    out = process_recording(rec, load_profile("neuript"), line_freq=50.0)
    assert out.ch_names == rec.ch_names and out.ch_names[0] == "Fc5." and out.canonical[0] == "FC5"
    assert out.ch_types == ["eeg"] * 64
    np.testing.assert_array_equal(out.positions, channel_positions(out.canonical)[0])
    assert out.lobes == [lobe_of(c) for c in out.canonical] and out.lobes[0] == "central"  # FC5: the paper puts it with the central lobe
    assert out.annotations.equals(rec.annotations) and out.annotations is not rec.annotations
    out.annotations.loc[0, "description"] = "changed"
    assert rec.annotations.loc[0, "description"] != "changed"


# ----------------------------------------------------------------------------- channel choice


def test_select_channels_says_why_each_channel_went(rec):
    rec.ch_types[1] = "eog"
    rec.bad_channels = {"Fc1.": "flat in channels.tsv"}
    keep, dropped = select_channels(rec, load_profile("neuript"), drop=["fp*", "IZ", "fc5."])  # bad channels dropped by default
    assert dropped == {
        rec.ch_names[1]: "type eog",
        "Fc1.": "marked bad by the source: flat in channels.tsv",
        "Fp1.": "listed in the dataset card's drop_channels",  # a pattern, case-insensitive
        "Fpz.": "listed in the dataset card's drop_channels",
        "Fp2.": "listed in the dataset card's drop_channels",
        "Iz..": "listed in the dataset card's drop_channels",  # matched by its canonical name
        "Fc5.": "listed in the dataset card's drop_channels",  # matched by the file's name only
    }
    assert keep == [i for i, n in enumerate(rec.ch_names) if n not in dropped]
    keep, dropped = select_channels(rec, load_profile("neuript"), bad_channels="keep")
    assert dropped == {rec.ch_names[1]: "type eog"} and len(keep) == 63


def test_bad_channels_dropped_or_kept_and_listed(rec):
    rec.bad_channels = {"Cz..": "noisy"}
    dropped = process_recording(rec, load_profile("neuript"), line_freq=50.0)
    assert "Cz.." not in dropped.ch_names and dropped.provenance["dropped_channels"] == {"Cz..": "marked bad by the source: noisy"}
    assert "bad_channels" not in dropped.provenance
    kept = process_recording(rec, load_profile("neuript"), line_freq=50.0, bad_channels="keep")
    assert "Cz.." in kept.ch_names and kept.provenance["bad_channels"] == {"Cz..": "noisy"}
    with pytest.raises(ValueError, match=r"Invalid value for the 'bad_channels' parameter\. Allowed values are 'drop', 'keep', but got 'mark'"):
        process_recording(rec, load_profile("neuript"), line_freq=50.0, bad_channels="mark")


def test_stated_positions_under_each_policy(rec, caplog):
    cz = channel_positions(["Cz"])[0][0]
    o1 = channel_positions(["O1"])[0][0]
    offset = np.array([POSITION_DISAGREEMENT_M + 0.001, 0.0, 0.0])
    near = np.array([0.0, POSITION_DISAGREEMENT_M - 0.001, 0.0])
    rec.ch_names[rec.ch_names.index("Iz..")] = "X1"  # a name the template does not know
    af3 = channel_positions(["AF3"])[0][0]
    rec.positions = {
        "Cz..": cz + offset,
        "C1..": channel_positions(["C1"])[0][0] + near,
        "X1": o1 + 0.005,
        "C2..": [np.nan, 0.0, 0.0],
        "Af3.": af3 + np.array([0.0, 0.0, -0.12344]),
        "Pz..": o1,  # a known name stated at another lobe's electrode
    }
    profile = load_profile("neuript")
    with caplog.at_level(logging.WARNING, logger="eegcorpus"):
        template = process_recording(rec, profile, line_freq=50.0)
    pz_mm = round(float(np.linalg.norm(o1 - channel_positions(["Pz"])[0][0])) * 1000, 1)
    # C1's 29 mm is within; millimetres to one decimal
    assert template.provenance["position_disagreements_mm"] == {"Cz..": 31.0, "Af3.": 123.4, "Pz..": pz_mm}
    assert template.provenance["positions_from_source"] == ["X1"]
    assert "3 stated electrode position(s) lie more than 30 mm from the template's (worst Af3.: 123.4 mm); the template position is stored" in caplog.text
    cz_row, x1_row, c2_row = (template.ch_names.index(n) for n in ("Cz..", "X1", "C2.."))
    np.testing.assert_array_equal(template.positions[cz_row], cz)
    np.testing.assert_array_equal(template.positions[x1_row], o1 + 0.005)
    np.testing.assert_array_equal(template.positions[c2_row], channel_positions(["C2"])[0][0])  # NaN stated: ignored
    assert template.lobes[x1_row] == "occipital"  # the nearest template electrode's lobe

    file = process_recording(rec, profile, line_freq=50.0, positions="file")
    np.testing.assert_array_equal(file.positions[cz_row], cz + offset)
    assert file.provenance["positions_from_source"] == ["Af3.", "C1..", "Cz..", "Pz..", "X1"]
    np.testing.assert_array_equal(file.positions[file.ch_names.index("Pz..")], o1)
    assert file.lobes[file.ch_names.index("Pz..")] == "parietal"  # a known name keeps its lobe wherever it is stated
    with pytest.raises(ValueError, match="'positions' parameter"):
        process_recording(rec, profile, line_freq=50.0, positions="mean")


def test_channels_without_a_position_under_each_profile_rule(rec, recording):
    rec.ch_names[0], rec.ch_names[5] = "Foo", "Bar"
    with pytest.raises(ProcessingError, match=r"^2 channel\(s\) have no known position: Foo, Bar; a profile with on_missing_position = 'drop' or 'nan'"):
        process_recording(rec, load_profile("neuript"), line_freq=50.0)
    dropped = process_recording(rec, Profile("d", on_missing_position="drop"), line_freq=50.0)
    assert dropped.provenance["dropped_channels"] == {"Foo": "no known position", "Bar": "no known position"}
    assert dropped.ch_names == [n for n in rec.ch_names if n not in ("Foo", "Bar")] and dropped.data.shape[0] == 62
    assert np.isfinite(dropped.positions).all() and len(dropped.lobes) == len(dropped.canonical) == 62
    # dropping channels keeps what the stated positions said about the others
    rec.positions = {"Iz..": channel_positions(["Iz"])[0][0] + 0.05, "Cz..": channel_positions(["Cz"])[0][0]}
    rec.ch_names[rec.ch_names.index("Cz..")] = "Y1"  # unknown to the template, placed at Cz
    placed = process_recording(rec, Profile("d", on_missing_position="drop", notch=None), bad_channels="keep", positions="file")
    assert placed.provenance["positions_from_source"] == ["Iz.."] and "position_disagreements_mm" in placed.provenance
    rec.positions = {"Y1": channel_positions(["Cz"])[0][0]}
    placed = process_recording(rec, Profile("d", on_missing_position="drop", notch=None))
    assert placed.provenance["positions_from_source"] == ["Y1"] and placed.lobes[placed.ch_names.index("Y1")] == "central"
    assert set(placed.provenance["dropped_channels"]) == {"Foo", "Bar"}
    rec.ch_names[rec.ch_names.index("Y1")] = "Cz.."
    rec.positions = {}
    kept = process_recording(rec, Profile("n", on_missing_position="nan"), line_freq=50.0)
    assert kept.ch_names == rec.ch_names and kept.provenance["dropped_channels"] == {}
    assert np.isnan(kept.positions[[0, 5]]).all() and np.isfinite(np.delete(kept.positions, [0, 5], axis=0)).all()
    assert kept.lobes[0] == kept.lobes[5] == "" and kept.lobes[1] != ""
    rec.ch_names = [f"E{i}" for i in range(64)]
    with pytest.raises(ProcessingError, match=r"^64 channel\(s\) have no known position: E0, E1, E2, E3, E4, E5, E6, E7, E8, E9 \.\.\.; a profile"):
        process_recording(rec, load_profile("neuript"), line_freq=50.0)
    rec.ch_names = [f"E{i}" for i in range(10)] + recording.ch_names[10:]
    with pytest.raises(ProcessingError, match=r"^10 channel\(s\) have no known position: E0, E1, E2, E3, E4, E5, E6, E7, E8, E9; a profile"):
        process_recording(rec, load_profile("neuript"), line_freq=50.0)
    rec.ch_names = [f"E{i}" for i in range(11)] + recording.ch_names[11:]
    with pytest.raises(ProcessingError, match=r"^11 channel\(s\) have no known position: E0, E1, E2, E3, E4, E5, E6, E7, E8, E9 \.\.\.; a profile"):
        process_recording(rec, load_profile("neuript"), line_freq=50.0)
    rec.ch_names = [f"E{i}" for i in range(64)]
    with pytest.raises(ProcessingError, match="^no channel with a known position$"):
        process_recording(rec, Profile("d", on_missing_position="drop"), line_freq=50.0)


def test_refusals_name_the_reason(rec):
    neuript = load_profile("neuript")
    with pytest.raises(ProcessingError, match=r"^no channel of type ecg/emg left after dropping 64$"):
        process_recording(rec, Profile("ecg", channel_types=("ecg", "emg")), line_freq=50.0)
    with pytest.raises(ProcessingError, match=r"^several channels map to the same electrode: C4, Cz$"):
        process_recording(rec, neuript, line_freq=50.0, channel_map={"C1..": "CZ", "C3..": "C4"})
    with pytest.raises(ProcessingError, match=r"^the profile asks for a line-frequency notch but the dataset has no line_freq$"):
        process_recording(rec, neuript, line_freq=None)
    short = copy.deepcopy(rec)
    short.data = short.data[:, : 160 * 10]
    with pytest.raises(ProcessingError, match=r"^recording too short for the band-pass: 10\.0 s, the filter spans 33\.0 s$"):
        process_recording(short, neuript, line_freq=50.0)
    rec.data[3, 100] = np.nan
    with pytest.raises(ProcessingError, match=r"^non-finite samples \(NaN or Inf\)$"):
        process_recording(rec, neuript, line_freq=50.0)
