"""The EDF/BDF reader on the real recordings in ../shared/data, checked against MNE, pyedflib and
the README, and on small crafted files (tests/helpers/edf.py) for edge cases and refusals."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import stat

import mne
import numpy as np
import pyedflib
import pytest
from helpers.edf import EdfChannel, edf_bytes, edf_plus_d_shifted, edf_plus_d_with_gap, write_edf
from helpers.shared_data import shared_path

from eegcorpus.errors import ReaderError
from eegcorpus.readers import detect_format, read_recording
from eegcorpus.readers.edf import parse_tals, read_edf, read_edf_header

mne.set_log_level("ERROR")

EEGMMIDB_RUNS = range(3, 15)


def _mne_uv(raw, names):
    """MNE's values for ``names`` in microvolts."""
    picks = [raw.ch_names.index(n) for n in names]
    return raw.get_data(picks=picks) * 1e6


@pytest.mark.parametrize("run", EEGMMIDB_RUNS)
def test_eegmmidb_runs_match_readme_and_mne(run):
    path = shared_path("eegmmidb", "S001", f"S001R{run:02d}.edf")
    rec = read_edf(path)
    assert rec.format == "edf+c"
    assert rec.n_channels == 64
    assert rec.sfreq == 160
    assert rec.duration_s == 125
    assert len(rec.annotations) == 30
    assert set(rec.annotations["description"]) <= {"T0", "T1", "T2"}
    assert set(rec.ch_types) == {"eeg"}
    assert rec.data.dtype == np.float32
    raw = mne.io.read_raw_edf(path, preload=True)
    np.testing.assert_allclose(rec.data, _mne_uv(raw, rec.ch_names), atol=1e-3, rtol=0)
    np.testing.assert_allclose(rec.annotations["onset"], raw.annotations.onset, atol=1e-9)
    assert list(rec.annotations["description"]) == list(raw.annotations.description)


@pytest.mark.parametrize("subject", range(12))
@pytest.mark.parametrize("part", (1, 2))
def test_mental_arithmetic_values_equal_mne(subject, part):
    path = shared_path("eegmat", f"Subject{subject:02d}_{part}.edf")
    rec = read_edf(path)
    assert rec.sfreq == 500
    eeg = [n for n, t in zip(rec.ch_names, rec.ch_types) if t == "eeg"]
    assert len([n for n in eeg if n != "EEG A2-A1"]) == 19
    assert rec.ch_types[rec.ch_names.index("ECG ECG")] == "ecg"
    # ECG is written in mV: converted once, to uV, like every voltage channel.
    assert rec.units[rec.ch_names.index("ECG ECG")] == "uV"
    raw = mne.io.read_raw_edf(path, preload=True)
    np.testing.assert_allclose(rec.data, _mne_uv(raw, rec.ch_names), atol=1e-3, rtol=0)


def test_hypnogram_has_154_annotations():
    rec = read_edf(shared_path("fixtures", "sleep_edf", "SC4001EC-Hypnogram.edf"))
    assert rec.n_channels == 0 and rec.extra["annotations_only"]
    assert len(rec.annotations) == 154
    assert rec.annotations["description"].str.startswith("Sleep stage").all()
    mne_ann = mne.read_annotations(shared_path("fixtures", "sleep_edf", "SC4001EC-Hypnogram.edf"))
    np.testing.assert_allclose(rec.annotations["onset"], mne_ann.onset)
    np.testing.assert_allclose(rec.annotations["duration"], mne_ann.duration)


def test_bdf_with_record_count_minus_one():
    path = shared_path("fixtures", "eeglab", "test.bdf")
    header = read_edf_header(path)
    assert header.n_records_declared == -1 and header.n_records == 60
    rec = read_recording(path)
    assert rec.format == "bdf" and rec.n_channels == 17 and rec.sfreq == 256 and rec.duration_s == 60
    assert rec.ch_types[rec.ch_names.index("Status")] == "stim"
    raw = mne.io.read_raw_bdf(path, preload=True)
    eeg = [n for n, t in zip(rec.ch_names, rec.ch_types) if t == "eeg"]
    np.testing.assert_allclose(rec.get_data(eeg), _mne_uv(raw, eeg), atol=1e-3, rtol=0)


def test_bdf_plus_with_many_annotation_channels():
    path = shared_path("fixtures", "bdf", "multiple_annotation_chans.bdf")
    rec = read_edf(path)
    assert rec.format == "bdf+c" and rec.n_channels == 19 and rec.sfreq == 125
    raw = mne.io.read_raw_bdf(path, preload=True)
    assert list(rec.annotations["description"]) == list(raw.annotations.description)
    volts = [n for n, u, t in zip(rec.ch_names, rec.units, rec.ch_types) if u == "uV" and t != "stim"]
    np.testing.assert_allclose(rec.get_data(volts), _mne_uv(raw, volts), atol=1e-3, rtol=0)


def test_plain_edf_eeglab_test_file():
    rec = read_recording(shared_path("fixtures", "eeglab", "test.edf"))
    assert rec.format == "edf" and rec.n_channels == 16 and rec.sfreq == 256 and rec.duration_s == 60


def test_edf_plus_d_gaps_and_unterminated_tals():
    path = shared_path("fixtures", "nihonkohden", "MB0400FU.EDF")
    rec = read_edf(path)
    assert rec.format == "edf+d"
    assert rec.n_channels == 25 and rec.sfreq == 200
    # Nihon Kohden omits the NUL between TALs; the onset must not become a description.
    assert list(rec.annotations["description"]) == ["Segment: REC START ALLE EEG", "A1+A2 OFF"]
    np.testing.assert_allclose(rec.annotations["onset"], [0.0, 1.14])
    # This file's records are contiguous, so no gap is annotated and the length is 29 records.
    assert rec.extra["gaps"] == [] and rec.duration_s == 29


def test_edf_plus_d_real_gap_is_zero_filled_and_annotated(tmp_path):
    path = edf_plus_d_with_gap(tmp_path)
    rec = read_edf(path)
    assert rec.extra["gaps"] == [(10.0, 5.0)]
    assert rec.duration_s == 34
    gap = rec.annotations[rec.annotations["description"] == "BAD_ACQ_SKIP"]
    assert list(gap["onset"]) == [10.0] and list(gap["duration"]) == [5.0]
    assert np.all(rec.data[:, 10 * 200 : 15 * 200] == 0)
    contiguous = read_edf(path, on_gap="ignore")
    np.testing.assert_array_equal(rec.data[:, 15 * 200 :], contiguous.data[:, 10 * 200 :])
    with pytest.raises(ReaderError, match="gap"):
        read_edf(path, on_gap="raise")


@pytest.mark.parametrize("name", ["S001R01.edf", "S001R02.edf", "S001R04.edf"])
def test_crlf_damaged_files_fail_with_one_line_error(name):
    path = shared_path("fixtures", "corrupted", name)
    with pytest.raises(ReaderError) as info:
        read_recording(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert "CRLF" in message


def test_size_mismatch_names_the_sizes():
    with pytest.raises(ReaderError, match=r"file size 2607749 bytes does not match the header"):
        read_edf_header(shared_path("fixtures", "corrupted", "S001R04.edf"))


def test_truncated_and_empty_files(tmp_path):
    src = shared_path("eegmmidb", "S001", "S001R03.edf")
    truncated = tmp_path / "truncated.edf"
    truncated.write_bytes(src.read_bytes()[:-1000])
    with pytest.raises(ReaderError, match="too short"):
        read_recording(truncated)
    header_only = tmp_path / "header_only.edf"
    header_only.write_bytes(src.read_bytes()[:300])
    with pytest.raises(ReaderError, match="truncated header"):
        read_recording(header_only)
    empty = tmp_path / "empty.edf"
    empty.write_bytes(b"")
    with pytest.raises(ReaderError, match="empty"):
        read_recording(empty)


def test_header_contradicting_file_size(tmp_path):
    data = bytearray(shared_path("eegmmidb", "S001", "S001R03.edf").read_bytes())
    data[236:244] = b"200     "  # claims 200 records; the file holds 125
    path = tmp_path / "lying.edf"
    path.write_bytes(bytes(data))
    # both sizes named: the file's, and the header's sum (65 signals: 66 x 256 header bytes)
    header, expected = 66 * 256, 66 * 256 + 200 * 20640
    message = (
        rf"file size {len(data)} bytes does not match the header \({header} header bytes \+ 200 records x 20640 bytes = {expected}\): "
        rf"{expected - len(data)} bytes too short \(truncated\)"
    )
    with pytest.raises(ReaderError, match=message):
        read_edf(path)


def test_garbage_header_field(tmp_path):
    data = bytearray(shared_path("eegmmidb", "S001", "S001R03.edf").read_bytes())
    data[236:244] = b"12x4    "
    path = tmp_path / "garbage.edf"
    path.write_bytes(bytes(data))
    with pytest.raises(ReaderError, match="invalid header field 'number of data records'"):
        read_edf(path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file(tmp_path):
    path = tmp_path / "locked.edf"
    shutil.copy(shared_path("eegmmidb", "S001", "S001R03.edf"), path)
    path.chmod(0)
    try:
        with pytest.raises(ReaderError, match="cannot"):
            read_recording(path)
    finally:
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)


def test_mixed_rates_split_or_raise(tmp_path):
    """A 1 Hz channel beside 160 Hz EEG (as in TUH's IBI/BURSTS) goes to aux, or raises."""
    src = shared_path("eegmmidb", "S001", "S001R03.edf")
    header = read_edf_header(src)
    raw = np.fromfile(src, dtype="<i2", offset=header.header_bytes).reshape(header.n_records, -1)
    # Rebuild the file with the last EEG channel (Iz) cut to 1 sample per record.
    ns = len(header.labels)
    spr = header.samples_per_record.copy()
    iz = ns - 2
    starts = np.concatenate([[0], np.cumsum(spr)])
    keep = np.concatenate([raw[:, starts[i] : starts[i + 1]] if i != iz else raw[:, starts[i] : starts[i] + 1] for i in range(ns)], axis=1)
    head = bytearray(src.read_bytes()[: header.header_bytes])
    field = 256 + 216 * ns + 8 * iz
    head[field : field + 8] = b"1       "
    path = tmp_path / "mixed.edf"
    path.write_bytes(bytes(head) + keep.astype("<i2").tobytes())
    rec = read_edf(path)
    assert rec.n_channels == 63 and rec.sfreq == 160
    assert [(a.name, a.sfreq, a.data.shape) for a in rec.aux] == [("Iz..", 1.0, (125,))]
    with pytest.raises(ReaderError, match="mixed sampling rates"):
        read_edf(path, mixed_rates="raise")


def test_parse_tals_spec_and_durations():
    raw = b"+0\x14\x14\x00+1.5\x150.25\x14T1\x14second\x14\x00\x00\x00"
    tals = parse_tals(raw)
    assert tals[1] == (1.5, 0.25, ["T1", "second"])
    assert tals[0][2] == []


def test_detect_format_by_signature(tmp_path):
    edf = shared_path("eegmmidb", "S001", "S001R03.edf")
    renamed = tmp_path / "no_extension"
    shutil.copy(edf, renamed)
    assert detect_format(renamed) == "edf"
    assert detect_format(shared_path("fixtures", "eeglab", "test.bdf")) == "bdf"


def test_permission_error_is_one_line_reader_error(tmp_path, monkeypatch):
    """Root reads any file, so the permission failure is injected where the reader opens it."""
    import builtins

    path = tmp_path / "locked.edf"
    shutil.copy(shared_path("eegmmidb", "S001", "S001R03.edf"), path)
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    with pytest.raises(ReaderError, match=r"locked.edf: cannot .*Permission denied"):
        read_recording(path)


# --- Small crafted files (tests/helpers/edf.py lays them out byte by byte) ----------------------


def _edf(changes=(), *, n_records=2, duration=1.0, **kwargs) -> bytes:
    """A small valid EDF (signals "EEG A" and "EEG B", 4 samples per 1-s record), with
    ``changes[i]`` overriding fields of signal ``i``."""
    signals = [
        {
            "label": f"EEG {name}",
            "dim": "uV",
            "pmin": -100,
            "pmax": 100,
            "dmin": -32768,
            "dmax": 32767,
            "spr": 4,
            "samples": (np.arange(4 * n_records).reshape(n_records, 4) + 1) * sign,
        }
        for name, sign in (("A", 1), ("B", -7))
    ]
    for signal, change in zip(signals, changes):
        signal.update(change)
    return edf_bytes(signals, n_records, duration, **kwargs)


def _patched(data: bytes, offset: int, text: str) -> bytes:
    """``data`` with ``text`` written over the bytes from ``offset``."""
    return data[:offset] + text.encode() + data[offset + len(text) :]


def _header_field(offset: int, width: int, text: str):
    """A builder of :func:`_edf` with the fixed-header field at ``offset`` set to ``text``."""
    return lambda: _patched(_edf(), offset, text.ljust(width))


def _signal_field(column: int, text: str, signal: int = 1):
    """A builder of :func:`_edf` with one 8-character field of signal ``signal`` set to ``text``
    (``column``: the field's offset in the spec's per-signal layout, e.g. 104 = physical minimum)."""
    return lambda: _patched(_edf(), 256 + column * 2 + signal * 8, text.ljust(8))


# --- Metadata, checked against MNE, pyedflib and the header bytes --------------------------------


@pytest.mark.parametrize(
    "parts",
    [("eegmmidb", "S001", "S001R03.edf"), ("eegmat", "Subject00_1.edf"), ("fixtures", "eeglab", "test.edf")],
    ids=["eegmmidb", "eegmat", "eeglab"],
)
def test_signal_text_fields_start_and_identity_match_pyedflib_and_mne(parts):
    """Transducer, prefiltering and unit of every channel, the start time, source and sha256."""
    path = shared_path(*parts)
    rec = read_edf(path)
    reader = pyedflib.EdfReader(str(path))
    try:
        labels = reader.getSignalLabels()
        index = [labels.index(name) for name in rec.ch_names]
        assert rec.extra["transducers"] == [reader.getTransducer(i) for i in index]
        assert rec.extra["prefiltering"] == [reader.getPrefilter(i) for i in index]
        assert rec.extra["physical_dims"] == [reader.getPhysicalDimension(i) for i in index]
        assert rec.extra["n_records_declared"] == reader.datarecords_in_file
    finally:
        reader.close()
    assert rec.meas_date == mne.io.read_raw_edf(path).info["meas_date"]  # aware, in UTC
    assert rec.source == str(path)
    assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    header = read_edf_header(path)
    assert header.path == str(path)
    assert header.variant == ("" if parts[-1] == "test.edf" else "EDF+C")


def test_patient_and_recording_fields_match_pyedflib():
    """The 80-character patient and recording fields, as pyedflib reads them from a plain EDF."""
    path = shared_path("fixtures", "eeglab", "test.edf")
    reader = pyedflib.EdfReader(str(path))
    try:
        patient, recording = reader.patient.decode(), reader.recording.decode()
    finally:
        reader.close()
    rec = read_edf(path)
    assert (rec.extra["patient"], rec.extra["recording_id"]) == (patient, recording)
    assert (patient, recording) == ("J. B. (1066 28)", "Alerting sequence (RHYTHM, av)")
    # 1997: the two-digit year 97 is in the 1985-1999 window of the spec.
    assert rec.meas_date == dt.datetime(1997, 4, 25, 13, 36, 5, tzinfo=dt.UTC)


def test_annotations_only_file_keeps_its_metadata():
    """A hypnogram (no signal, records of 0 s) still has its start, identity and empty data."""
    path = shared_path("fixtures", "sleep_edf", "SC4001EC-Hypnogram.edf")
    rec = read_edf(path)
    reader = pyedflib.EdfReader(str(path))
    try:
        start = reader.getStartdatetime()
    finally:
        reader.close()
    assert rec.meas_date == start.replace(tzinfo=dt.UTC) == dt.datetime(1989, 4, 24, 16, 13, tzinfo=dt.UTC)
    assert rec.format == "edf+c" and rec.source == str(path)
    assert rec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rec.data.shape == (0, 0) and rec.data.dtype == np.float32
    # bytes 8-88 and 88-168 of the header, stripped (EDF+ subfields: code sex birthdate name)
    assert rec.extra["patient"] == "X F X Female_33yr"
    assert rec.extra["recording_id"] == "Startdate 24-APR-1989 X X X"


@pytest.mark.parametrize(
    ("date", "time", "expected"),
    [
        (b"01.01.85", b"10.20.30", dt.datetime(1985, 1, 1, 10, 20, 30, tzinfo=dt.UTC)),
        (b"31.12.84", b"23.59.59", dt.datetime(2084, 12, 31, 23, 59, 59, tzinfo=dt.UTC)),
        (b"29.02.00", b"10:20:30", dt.datetime(2000, 2, 29, 10, 20, 30, tzinfo=dt.UTC)),
        (b"yy.mm.dd", b"10.20.30", None),
    ],
    ids=["1985", "2084", "colons", "unreadable"],
)
def test_start_date_century_window_and_separators(tmp_path, date, time, expected):
    """Spec: yy 85-99 is 19yy, 00-84 is 20yy; hh:mm:ss is read like hh.mm.ss; junk gives None."""
    data = bytearray(_edf())
    data[168:176], data[176:184] = date, time
    path = tmp_path / "start.edf"
    path.write_bytes(bytes(data))
    assert read_edf(path).meas_date == expected


# --- Channel values, units and rates -------------------------------------------------------------


def test_bdf_plus_trigger_accelerometer_and_annotation_durations_match_mne():
    """Trigger codes stay digital, non-voltage (G) channels stay in their unit, TALs without a
    duration get 0: every channel and annotation as MNE reads them."""
    path = shared_path("fixtures", "bdf", "multiple_annotation_chans.bdf")
    rec = read_edf(path)
    raw = mne.io.read_raw_bdf(path, preload=True)
    units = dict(zip(rec.ch_names, rec.units))
    assert units["Trigger"] == "n/a" and rec.ch_types[rec.ch_names.index("Trigger")] == "stim"
    assert [units[n] for n in ("acc1", "acc2", "acc3")] == ["G", "G", "G"]
    volts = [n for n in rec.ch_names if units[n] == "uV"]
    np.testing.assert_allclose(rec.get_data(volts), _mne_uv(raw, volts), atol=1e-3, rtol=0)
    others = [n for n in rec.ch_names if units[n] != "uV"]  # MNE leaves these unscaled too
    np.testing.assert_allclose(rec.get_data(others), raw.get_data(picks=others), atol=1e-6, rtol=0)
    np.testing.assert_allclose(rec.annotations["onset"], raw.annotations.onset, atol=1e-9)
    np.testing.assert_array_equal(rec.annotations["duration"], raw.annotations.duration)


def test_trigger_channel_keeps_digital_codes_whatever_its_calibration(tmp_path):
    """Spec calibration for EEG, none for a Status channel, even when its range has an offset."""
    digital = np.array([-32768, -1, 0, 1, 255, 32767] * 50)
    path = write_edf(
        tmp_path / "status.edf",
        [
            EdfChannel("EEG Cz", digital, 100, physical_range=(-500.0, 500.0)),
            EdfChannel("Status", digital[::-1], 100, unit="", physical_range=(0.0, 1.0)),
        ],
        digital=True,
    )
    rec = read_edf(path)
    assert rec.ch_types == ["eeg", "stim"] and rec.units == ["uV", "n/a"]
    gain = 1000.0 / 65535  # (pmax - pmin) / (dmax - dmin)
    np.testing.assert_allclose(rec.data[0], (digital + 32768) * gain - 500.0, atol=1e-3, rtol=0)
    np.testing.assert_array_equal(rec.data[1], digital[::-1])


def test_main_rate_is_the_rate_of_most_voltage_channels(tmp_path):
    """Non-voltage channels (more numerous) and a faster ECG go to aux; each keeps its values,
    type, unit and rate. A file without any voltage channel takes its most common rate."""
    t = np.arange(600)
    path = write_edf(
        tmp_path / "mixed.edf",
        [
            *(EdfChannel(f"EEG {n}", (t[:300] * (k + 1)) % 2000 - 1000, 100, physical_range=(-3276.8, 3276.7)) for k, n in enumerate(("C3", "Cz", "C4"))),
            EdfChannel("ECG", t % 4000 - 2000, 200, unit="mV", physical_range=(-32.768, 32.767)),
            *(EdfChannel(f"Sensor {k}", t[:30] * (k + 2), 10, unit="degC", physical_range=(-327.68, 327.67)) for k in range(4)),
            EdfChannel("Status", t[:150] % 7, 50, unit="", physical_range=(0.0, 1.0)),
        ],
        digital=True,
    )
    rec = read_edf(path)
    assert rec.sfreq == 100 and rec.ch_names == ["EEG C3", "EEG Cz", "EEG C4"] and rec.duration_s == 3
    np.testing.assert_allclose(rec.data[1], ((t[:300] * 2) % 2000 - 1000) * 0.1, atol=1e-4, rtol=0)
    aux = {a.name: a for a in rec.aux}
    assert [(a.name, a.ch_type, a.sfreq, a.unit) for a in rec.aux] == [
        ("ECG", "ecg", 200.0, "uV"),
        *((f"Sensor {k}", "misc", 10.0, "degC") for k in range(4)),
        ("Status", "stim", 50.0, "n/a"),
    ]
    assert all(a.data.dtype == np.float32 for a in rec.aux)
    np.testing.assert_allclose(aux["ECG"].data, (t % 4000 - 2000) * 0.001 * 1000, atol=1e-3, rtol=0)  # 0.001 mV steps, in uV
    np.testing.assert_allclose(aux["Sensor 3"].data, t[:30] * 5 * 0.01, atol=1e-5, rtol=0)  # degC kept
    np.testing.assert_array_equal(aux["Status"].data, t[:150] % 7)

    no_volts = write_edf(
        tmp_path / "no_volts.edf",
        [EdfChannel(f"Sensor {k}", t[: 10 * (1 + k // 2)], 10 * (1 + k // 2), unit="%", physical_range=(-327.68, 327.67)) for k in range(3)],
        digital=True,
    )
    rec = read_edf(no_volts)
    assert rec.sfreq == 10 and rec.ch_names == ["Sensor 0", "Sensor 1"] and rec.units == ["%", "%"]
    assert [(a.name, a.sfreq) for a in rec.aux] == [("Sensor 2", 20.0)]


def test_records_of_half_a_second(tmp_path):
    """The rate is samples per record / record duration; values as MNE reads the same file."""
    samples = (np.arange(4 * 64).reshape(4, 64) * 37) % 4001 - 2000
    path = tmp_path / "half.edf"
    path.write_bytes(_edf([{"spr": 64, "samples": samples}, {"spr": 64, "samples": -samples}], n_records=4, duration=0.5))
    rec = read_edf(path)
    assert rec.sfreq == 128 and rec.duration_s == 2
    raw = mne.io.read_raw_edf(path, preload=True)
    assert raw.info["sfreq"] == 128
    np.testing.assert_allclose(rec.data, _mne_uv(raw, rec.ch_names), atol=1e-3, rtol=0)
    np.testing.assert_allclose(rec.data[0], (samples.reshape(-1) + 32768) * (200 / 65535) - 100, atol=1e-4, rtol=0)


def test_single_channel_single_record_file(tmp_path):
    """The smallest file: one channel, one 1-s record."""
    digital = np.arange(100) * 300 - 15000
    path = write_edf(tmp_path / "one.edf", [EdfChannel("EEG Oz", digital, 100, physical_range=(-32768.0, 32767.0))], digital=True)
    rec = read_edf(path)
    assert rec.ch_names == ["EEG Oz"] and rec.sfreq == 100
    np.testing.assert_array_equal(rec.data, digital[None, :].astype(np.float32))


@pytest.mark.parametrize("kind", ["no records", "annotation signal only", "records of 0 s"])
def test_files_without_samples_read_as_annotations_only(tmp_path, kind):
    """Zero records, only an annotation signal, or 0-s records whose signals hold no sample."""
    tal = [b"+0\x14\x14\x00+0.5\x150.25\x14Stage W\x14\x00", b"+1\x14\x14\x00"]
    annotation = {"label": "EDF Annotations", "pmin": -1, "pmax": 1, "dmin": -32768, "dmax": 32767, "spr": 30, "tal": tal}
    if kind == "no records":
        data = _edf(n_records=0)
    elif kind == "annotation signal only":
        data = edf_bytes([annotation], 2, 1.0, variant="EDF+C")
    else:
        empty = {"label": "EEG A", "dim": "uV", "pmin": -1, "pmax": 1, "dmin": -32768, "dmax": 32767, "spr": 0, "samples": np.zeros((2, 0))}
        data = edf_bytes([empty, annotation], 2, 0.0, variant="EDF+C")
    path = tmp_path / "empty.edf"
    path.write_bytes(data)
    rec = read_edf(path)
    assert rec.n_channels == 0 and rec.data.shape == (0, 0) and rec.extra["annotations_only"]
    expected = [] if kind == "no records" else [(0.5, 0.25, "Stage W")]
    assert list(rec.annotations.itertuples(index=False, name=None)) == expected


# --- Annotations and EDF+D record placement --------------------------------------------------------


def test_one_annotation_per_record_keeps_its_onset(tmp_path):
    """As many annotations as records (pyedflib writes one per record): onsets as MNE reads them."""
    eeg = EdfChannel("EEG Cz", np.zeros(300), 100, physical_range=(-100.0, 100.0))
    path = write_edf(tmp_path / "annotated.edf", [eeg], annotations=[(0.25, -1, "T0"), (1.25, 0.5, "T1"), (2.25, -1, "T2")])
    rec = read_edf(path)
    mne_ann = mne.read_annotations(path)
    assert list(rec.annotations["description"]) == ["T0", "T1", "T2"] == list(mne_ann.description)
    np.testing.assert_allclose(rec.annotations["onset"], [0.25, 1.25, 2.25])
    np.testing.assert_allclose(rec.annotations["onset"], mne_ann.onset)
    np.testing.assert_allclose(rec.annotations["duration"], [0.0, 0.5, 0.0])


def test_first_record_offset_becomes_time_zero(tmp_path):
    """EDF+: a first record starting 0.5 s after the start time shifts annotation onsets by 0.5 s."""
    samples = np.zeros((2, 4))
    signals = [
        {"label": "EEG A", "dim": "uV", "pmin": -100, "pmax": 100, "dmin": -32768, "dmax": 32767, "spr": 4, "samples": samples},
        {
            "label": "EDF Annotations",
            "pmin": -1,
            "pmax": 1,
            "dmin": -32768,
            "dmax": 32767,
            "spr": 20,
            "tal": [b"+0.5\x14\x14\x00+1.25\x150.5\x14T1\x14\x00", b"+1.5\x14\x14\x00"],
        },
    ]
    path = tmp_path / "offset.edf"
    path.write_bytes(edf_bytes(signals, 2, 1.0, variant="EDF+C"))
    rec = read_edf(path)
    assert list(rec.annotations.itertuples(index=False, name=None)) == [(0.75, 0.5, "T1")]


def test_edf_plus_d_record_without_time_keeping_tal(tmp_path):
    """Records lacking a time-keeping TAL (or holding two) are placed one by one: a record without
    any TAL sits at record number x duration, the others at their own onset."""
    tals = [b"+0\x14\x14\x00", b"", b"+2\x14\x14\x00", b"+2.5\x14\x14\x00", b"+3\x14\x14\x00+3.2\x14note\x14\x00"]
    samples = np.arange(25).reshape(5, 5) + 1
    signals = [
        {"label": "EEG A", "dim": "uV", "pmin": -32768, "pmax": 32767, "dmin": -32768, "dmax": 32767, "spr": 5, "samples": samples},
        {"label": "EDF Annotations", "pmin": -1, "pmax": 1, "dmin": -32768, "dmax": 32767, "spr": 15, "tal": tals},
    ]
    path = tmp_path / "no_tal.edf"
    path.write_bytes(edf_bytes(signals, 5, 0.5, variant="EDF+D"))
    rec = read_edf(path)
    # onsets 0, 0.5 (no TAL: 1 x 0.5 s), 2, 2.5, 3 at 10 Hz: a 1-s gap after the second record
    assert rec.sfreq == 10 and rec.extra["gaps"] == [(1.0, 1.0)]
    expected = np.zeros(35, dtype=np.float32)
    for record, start in enumerate((0, 5, 20, 25, 30)):
        expected[start : start + 5] = samples[record]
    np.testing.assert_array_equal(rec.data[0], expected)
    assert list(rec.annotations.itertuples(index=False, name=None)) == [(1.0, 1.0, "BAD_ACQ_SKIP"), (3.2, 0.0, "note")]


@pytest.mark.parametrize("shift", [-0.005, -2.0], ids=["one sample early", "back in time"])
def test_edf_plus_d_overlapping_records_are_refused(tmp_path, shift):
    """Records that overlap by one sample (200 Hz) or go back in time are refused, naming the file."""
    path = edf_plus_d_shifted(tmp_path, shift)
    with pytest.raises(ReaderError) as info:
        read_edf(path)
    assert info.value.path == str(path) and "overlap" in info.value.reason


def test_edf_plus_d_one_sample_gap_is_zero_filled(tmp_path):
    """A gap as short as one sample is zero-filled and annotated; the data stay float32."""
    path = edf_plus_d_shifted(tmp_path, 0.005)
    rec = read_edf(path)
    assert rec.extra["gaps"] == [(10.0, 0.005)] and rec.data.dtype == np.float32
    contiguous = read_edf(path, on_gap="ignore")
    assert rec.n_times == contiguous.n_times + 1
    assert np.all(rec.data[:, 2000] == 0)
    np.testing.assert_array_equal(rec.data[:, :2000], contiguous.data[:, :2000])
    np.testing.assert_array_equal(rec.data[:, 2001:], contiguous.data[:, 2000:])
    with pytest.raises(ReaderError) as info:
        read_edf(path, on_gap="raise")
    assert info.value.path == str(path) and "1 gap" in info.value.reason


def test_edf_plus_d_gap_of_more_than_a_day_is_refused(tmp_path):
    """A 25-h gap after record 9 (a damaged time-keeping TAL) is refused unless on_gap='ignore'."""
    path = edf_plus_d_shifted(tmp_path, 90000.0)
    with pytest.raises(ReaderError) as info:
        read_edf(path)
    assert info.value.path == str(path) and re.search(r"gap of 25\.0 h after record 9", info.value.reason)
    assert read_edf(path, on_gap="ignore").duration_s == 29


def test_parse_tals_malformed_duration_and_non_utf8_text():
    """A duration of '.' is NaN (the onset still holds); Latin-1 text is kept, not fatal."""
    tals = parse_tals(b"+1\x15.\x14x\x14\x00+2\x14caf\xe9\x14\x00")
    assert tals[0][0] == 1.0 and np.isnan(tals[0][1]) and tals[0][2] == ["x"]
    assert tals[1][0] == 2.0 and np.isnan(tals[1][1]) and tals[1][2] == ["caf\ufffd"]


# --- Refusals: one ReaderError naming the file and the reason ----------------------------------------


BROKEN = {
    "shorter than the fixed header": (lambda: _edf()[:100], r"truncated header", {}),
    "cut inside the signal header": (lambda: _edf()[:512], r"truncated header", {}),
    "version field": (_header_field(0, 8, "1"), r"not an EDF/BDF file", {}),
    "number of signals not a number": (_header_field(252, 4, "two"), r"number of signals", {}),
    "zero signals": (_header_field(252, 4, "0"), r"declares 0 signals", {}),
    "header size not a number": (_header_field(184, 8, "x"), r"number of bytes in header", {}),
    "header size wrong": (_header_field(184, 8, "1024"), r"header size .*1024", {}),
    "record count not a number": (_header_field(236, 8, "12x4"), r"number of data records", {}),
    "record count -2": (_header_field(236, 8, "-2"), r"number of data records: -2", {}),
    "record duration not a number": (_header_field(244, 8, "abc"), r"duration of a data record", {}),
    "record duration negative": (_header_field(244, 8, "-1"), r"duration of a data record: -1", {}),
    "record duration infinite": (_header_field(244, 8, "inf"), r"duration of a data record: inf", {}),
    "physical minimum not a number": (_signal_field(104, "abc"), r"physical minimum.*'abc'", {}),
    "physical maximum not a number": (_signal_field(112, "abc"), r"physical maximum.*'abc'", {}),
    "digital minimum not an integer": (_signal_field(120, "-3276.5"), r"digital minimum.*'-3276.5'", {}),
    "digital maximum not an integer": (_signal_field(128, "3276.5"), r"digital maximum.*'3276.5'", {}),
    "samples per record not an integer": (_signal_field(216, "4.5"), r"samples per record.*'4.5'", {}),
    "samples per record negative": (_signal_field(216, "-4"), r"negative number of samples", {}),
    "record count -1, last record cut": (lambda: _patched(_edf(), 236, "-1".ljust(8))[:-2], r"record count is -1", {}),
    "record count -1, records of 0 bytes": (
        lambda: _edf([{"spr": 0, "samples": np.zeros((0, 0))}] * 2, n_records=0, records_field=-1),
        r"record count is -1",
        {},
    ),
    "one byte too long": (lambda: _edf() + b"\x00", r"1 bytes too long", {}),
    "digital minimum == maximum": (lambda: _edf([{}, {"dmin": 0, "dmax": 0}]), r"'EEG B' has digital minimum == digital maximum", {}),
    "samples in records of 0 s": (lambda: _edf(duration=0.0), r"duration 0 hold samples", {}),
    "signal without samples": (lambda: _edf([{}, {"spr": 0, "samples": np.zeros((2, 0))}]), r"'EEG B' has no usable sampling rate", {}),
    "physical minimum nan": (lambda: _edf([{}, {"pmin": "nan"}]), r"calibration of signal\(s\) EEG B", {}),
    "physical range infinite": (lambda: _edf([{}, {"pmin": "-inf", "pmax": "inf"}]), r"calibration of signal\(s\) EEG B", {}),
    "physical range beyond float64": (lambda: _edf([{}, {"pmin": "-9e307", "pmax": "9e307"}]), r"calibration of signal\(s\) EEG B", {}),
    "physical range beyond float32": (lambda: _edf([{}, {"pmin": "-5e38", "pmax": "5e38"}]), r"calibration of signal\(s\) EEG B", {}),
    "physical offset beyond float32": (lambda: _edf([{}, {"pmin": "4e38", "pmax": "5e38"}]), r"calibration of signal\(s\) EEG B", {}),
    "volts beyond float64 in uV": (lambda: _edf([{}, {"dim": "V", "pmin": "-8e307", "pmax": "8e307"}]), r"calibration of signal\(s\) EEG B", {}),
    "mixed rates refused": (lambda: _edf([{}, {"spr": 2, "samples": np.ones((2, 2))}]), r"mixed sampling rates", {"mixed_rates": "raise"}),
}


@pytest.mark.filterwarnings("error::RuntimeWarning")
@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_file_is_refused_naming_file_and_reason(tmp_path, case):
    """Each malformed header or unusable calibration gives one ReaderError (no numpy warning)."""
    build, reason, kwargs = BROKEN[case]
    path = tmp_path / "broken.edf"
    path.write_bytes(build())
    with pytest.raises(ReaderError) as info:
        read_edf(path, **kwargs)
    assert info.value.path == str(path)
    assert re.search(reason, info.value.reason), info.value.reason


def test_single_cr_lf_pair_in_samples_is_not_crlf_damage(tmp_path):
    """Only LF bytes that all follow a CR mark a text-mode copy: a lone CR LF in genuine samples
    (the first LF of the data) must not refuse the file."""
    samples = np.array([[0x0A0D, 0x000A, 1, 2], [3, 4, 5, 6]])  # bytes 0D 0A 0A 00 ...
    path = tmp_path / "crlf.edf"
    path.write_bytes(_edf([{"samples": samples, "pmin": -32768, "pmax": 32767}]))
    np.testing.assert_array_equal(read_edf(path).data[0], samples.reshape(-1))


def test_directory_and_unreadable_records_give_reader_error(tmp_path, monkeypatch):
    """A directory, or data records that cannot be read after the header was, name the path."""
    with pytest.raises(ReaderError) as info:
        read_edf(tmp_path)
    assert info.value.path == str(tmp_path) and "cannot read file" in info.value.reason

    import builtins

    path = tmp_path / "records.edf"
    path.write_bytes(_edf())
    real_open, opened = builtins.open, []

    def open_once(file, *args, **kwargs):
        if str(file) == str(path):
            opened.append(file)
            if len(opened) > 1:  # the header is read, the data records are not
                raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", open_once)
    with pytest.raises(ReaderError) as info:
        read_edf(path)
    assert info.value.path == str(path) and re.search(r"cannot read data records.*Permission denied", info.value.reason)


@pytest.mark.parametrize(("cut", "extra", "reason"), [(256, 0, "header was being read"), (0, 2, "while being read")])
def test_file_changing_size_while_read_is_refused(tmp_path, monkeypatch, cut, extra, reason):
    """A file that shrinks under the header read, or grows before the records are read."""
    path = tmp_path / "changing.edf"
    data = _edf()
    path.write_bytes(data[: len(data) - cut] + bytes(extra))
    real_getsize = os.path.getsize
    # The size seen before reading is the file's size before it changed.
    monkeypatch.setattr(os.path, "getsize", lambda p: len(data) if str(p) == str(path) else real_getsize(p))
    with pytest.raises(ReaderError) as info:
        read_edf(path)
    assert info.value.path == str(path) and "changed size" in info.value.reason and reason in info.value.reason


def test_invalid_option_names_the_parameter():
    """A misspelt option is a ValueError naming the parameter and its choices."""
    path = shared_path("eegmmidb", "S001", "S001R03.edf")
    with pytest.raises(ValueError, match=r"'on_gap'.*'annotate', 'raise', 'ignore'"):
        read_edf(path, on_gap="zero")
    with pytest.raises(ValueError, match=r"'mixed_rates'.*'split', 'raise'"):
        read_edf(path, mixed_rates="resample")
