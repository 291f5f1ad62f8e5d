"""The EDF/BDF reader on the real recordings in ../shared/data, checked against MNE and the README."""

from __future__ import annotations

import os
import shutil
import stat

import mne
import numpy as np
import pytest
from helpers.edf import edf_plus_d_with_gap
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
