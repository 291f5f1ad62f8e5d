"""Readers for GDF, Neuroscan CNT, EEGLAB, BrainVision, MAT and CSV.

Real files come from ../shared/data (skipped when absent). Formats with no real file here
(BrainVision, MAT, CSV) are written in the test from real EEGMMIDB signal, read back and
compared with the values MNE reads from the source EDF.
"""

from __future__ import annotations

import shutil
import struct

import mne
import numpy as np
import pandas as pd
import pytest
import scipy.io
from helpers.shared_data import shared_path
from numpy.testing import assert_allclose, assert_array_equal

from eegcorpus.errors import ReaderError
from eegcorpus.readers import read_recording
from eegcorpus.readers._chtypes import guess_channel_type
from eegcorpus.readers.cnt import read_cnt
from eegcorpus.readers.csv import read_csv
from eegcorpus.readers.eeglab import read_eeglab
from eegcorpus.readers.gdf import read_gdf
from eegcorpus.readers.mat import list_mat_arrays, read_mat

CNT_DIR = ("fixtures", "neuroscan_cnt")


def _mne_uv(raw) -> np.ndarray:
    """What MNE reads, in microvolts, at the float32 precision a Recording keeps."""
    return (raw.get_data() * 1e6).astype(np.float32)


def _assert_raises_for(path, match, func, *args, **kwargs):
    """A ReaderError whose one-line message starts with the path and contains ``match``."""
    with pytest.raises(ReaderError, match=match) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message
    return message


# ------------------------------------------------------------------ real EEGMMIDB signal


@pytest.fixture(scope="module")
def mmidb():
    """10 s of 5 channels of EEGMMIDB S001R03 in microvolts, plus its T0/T1/T2 markers."""
    path = shared_path("eegmmidb", "S001", "S001R03.edf")
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    picks = ["Fc5.", "C3..", "Cz..", "C4..", "Fp1."]
    n = int(10 * raw.info["sfreq"])
    data = (raw.get_data(picks=picks, stop=n) * 1e6).astype(np.float32)
    ann = raw.annotations
    keep = ann.onset < 10.0
    markers = list(zip(ann.onset[keep], ann.description[keep]))
    return {"names": picks, "sfreq": raw.info["sfreq"], "data": data, "markers": markers}


# ------------------------------------------------------------------ channel types


def test_guess_channel_type():
    cases = {
        "Fp1": "eeg",
        "EEG-Fz": "eeg",
        "M1": "eeg",
        "VEO": "eog",
        "HEO": "eog",
        "EOG-left": "eog",
        "VEOGR": "eog",
        "ECG": "ecg",
        "EKG": "ecg",
        "EEG ECG": "ecg",
        "EMG submental": "emg",
        "Status": "stim",
        "TRIG": "stim",
        "STI 014": "stim",
        "FeedBackEvent": "stim",
        "POSTIM": "eeg",
    }
    assert {name: guess_channel_type(name) for name in cases} == cases


# ------------------------------------------------------------------ Neuroscan CNT


def test_cnt_scan41_is_int16_and_matches_mne():
    path = shared_path(*CNT_DIR, "scan41_short.cnt")
    rec = read_recording(path)  # dispatch by extension
    assert rec.format == "cnt"
    assert (rec.n_channels, rec.sfreq, rec.n_times) == (128, 400.0, 3070)
    assert rec.duration_s == pytest.approx(7.675)
    # The header's sample count is 0 here, so MNE's own 'auto' refuses the file.
    assert rec.extra["data_format"] == "int16"
    assert rec.extra["header_n_samples"] == 0
    raw = mne.io.read_raw_cnt(path, data_format="int16", preload=True, verbose="error")
    assert_array_equal(rec.data, _mne_uv(raw))
    assert rec.ch_names == raw.ch_names
    assert len(rec.annotations) == 6
    assert_allclose(rec.annotations["onset"], raw.annotations.onset)
    types = dict(zip(rec.ch_names, rec.ch_types))
    assert types["VEOGR"] == "eog" and types["HEOG"] == "eog" and types["1"] == "eeg"
    assert set(rec.units) == {"uV"}
    assert rec.sha256 and len(rec.sha256) == 64


def test_cnt_jwoess_is_detected_as_int32():
    # The shared README says this file needs int16; MNE's own tests read it as int32, and
    # the samples agree: read as int16, FCz comes out as the flat high halves of 32-bit words.
    path = shared_path(*CNT_DIR, "test_CNT_events_mne_JWoess_clipped.cnt")
    rec = read_cnt(path)
    assert (rec.n_channels, rec.sfreq, rec.n_times) == (2, 1000.0, 90000)
    assert rec.duration_s == pytest.approx(90.0)
    assert rec.extra["data_format"] == "int32"
    assert rec.extra["data_format_rule"] == "content"
    raw = mne.io.read_raw_cnt(path, data_format="int32", preload=True, verbose="error")
    assert_array_equal(rec.data, _mne_uv(raw))
    assert rec.ch_names == ["F8", "FCz"]
    assert rec.extra["bads"] == ["F8"]
    assert "KeyPad Response 1" in set(rec.annotations["description"])
    assert rec.data[1].std() > 1.0  # real EEG on FCz, in microvolts

    wrong = read_cnt(path, data_format="int16")
    assert wrong.extra["data_format_rule"] == "forced"
    assert wrong.data[1].std() < 0.01  # what the int16 reading looks like


def _widen_cnt(src, dst, header_n_samples):
    """Rewrite a 16-bit CNT file as the same recording with 32-bit samples."""
    b = src.read_bytes()
    (n_ch,) = struct.unpack_from("<H", b, 370)
    (event_pos,) = struct.unpack_from("<i", b, 886)
    start = 900 + 75 * n_ch
    data32 = np.frombuffer(b[start:event_pos], "<i2").astype("<i4").tobytes()
    table = bytearray(b[event_pos:])
    event_type, size, _ = struct.unpack_from("<Bii", table, 0)
    assert event_type == 2
    for i in range(size // 19):  # event offsets are byte positions: they double too
        at = 9 + 19 * i + 4
        (offset,) = struct.unpack_from("<i", table, at)
        struct.pack_into("<i", table, at, start + 2 * (offset - start))
    header = bytearray(b[:start])
    struct.pack_into("<i", header, 886, start + len(data32))
    struct.pack_into("<i", header, 864, header_n_samples)
    dst.write_bytes(bytes(header) + data32 + bytes(table))


@pytest.mark.parametrize("header_n_samples, rule", [(3070, "header"), (0, "content")])
def test_cnt_int32_detection(tmp_path, header_n_samples, rule):
    src = shared_path(*CNT_DIR, "scan41_short.cnt")
    dst = tmp_path / "scan41_int32.cnt"
    _widen_cnt(src, dst, header_n_samples)
    rec16 = read_cnt(src)
    rec32 = read_cnt(dst)
    assert rec32.extra["data_format"] == "int32"
    assert rec32.extra["data_format_rule"] == rule
    assert_array_equal(rec32.data, rec16.data)
    assert_allclose(rec32.annotations["onset"], rec16.annotations["onset"])


def test_cnt_forced_format_and_bad_option():
    path = shared_path(*CNT_DIR, "scan41_short.cnt")
    rec = read_cnt(path, data_format="int32")
    assert rec.n_times == 1535 and rec.extra["data_format_rule"] == "forced"
    with pytest.raises(ValueError, match="data_format"):
        read_cnt(path, data_format="float32")


def test_cnt_seed_channel_names_are_typed(tmp_path):
    # SEED/SEED-V caps carry M1, M2, VEO, HEO besides the 62 scalp channels; MNE types them
    # all 'eeg'. Rename four channels of the real file to those names.
    src = shared_path(*CNT_DIR, "scan41_short.cnt")
    b = bytearray(src.read_bytes())
    for i, name in enumerate([b"M1", b"M2", b"VEO", b"HEO"]):
        b[900 + 75 * i : 900 + 75 * i + 10] = name.ljust(10, b"\x00")
    dst = tmp_path / "seed_names.cnt"
    dst.write_bytes(bytes(b))
    rec = read_cnt(dst)
    assert rec.ch_names[:5] == ["M1", "M2", "VEO", "HEO", "5"]
    assert rec.ch_types[:5] == ["misc", "misc", "eog", "eog", "eeg"]
    assert rec.units[:4] == ["uV"] * 4
    assert_array_equal(rec.data, read_cnt(src).data)


@pytest.mark.parametrize("n_bytes, match", [(2000, "needs 10500"), (500_000, "event table")])
def test_cnt_truncated(tmp_path, n_bytes, match):
    src = shared_path(*CNT_DIR, "scan41_short.cnt")
    dst = tmp_path / "truncated.cnt"
    dst.write_bytes(src.read_bytes()[:n_bytes])
    message = _assert_raises_for(dst, "truncated", read_recording, dst)
    assert match in message


# ------------------------------------------------------------------ GDF


def test_gdf_real_file():
    path = shared_path("fixtures", "gdf", "test_1ch.gdf")
    rec = read_recording(path)  # dispatch by the 'GDF' signature
    assert rec.format == "gdf"
    assert (rec.n_channels, rec.sfreq, rec.n_times) == (1, 150.0, 4500)
    assert rec.duration_s == pytest.approx(30.0)
    assert rec.ch_names == ["ECG"] and rec.ch_types == ["ecg"]  # MNE alone says 'eeg'
    assert rec.extra["gdf_version"] == "2.10"
    raw = mne.io.read_raw_gdf(path, preload=True, verbose="error")
    assert_array_equal(rec.data, _mne_uv(raw))
    assert rec.data.std() > 0


def test_gdf_event_codes_survive(tmp_path):
    # Append a GDF 2 event table (mode 3: position, type, channel, duration) to the real file,
    # with BCIC-IV-2a codes: 768 trial start, 769 left-hand cue, 783 unknown cue.
    src = shared_path("fixtures", "gdf", "test_1ch.gdf")
    dst = tmp_path / "with_events.gdf"
    pos = np.array([150, 450, 1950], dtype="<u4")  # 1-based sample positions
    typ = np.array([768, 769, 783], dtype="<u2")
    chn = np.zeros(3, dtype="<u2")
    dur = np.array([1, 188, 188], dtype="<u4")
    table = bytes([3]) + (3).to_bytes(3, "little") + struct.pack("<f", 150.0)
    table += pos.tobytes() + typ.tobytes() + chn.tobytes() + dur.tobytes()
    dst.write_bytes(src.read_bytes() + table)
    rec = read_gdf(dst)
    assert list(rec.annotations["description"]) == ["768", "769", "783"]
    # MNE keeps annotation times to the microsecond; a sample here lasts 6.7 ms.
    assert_allclose(rec.annotations["onset"], (pos - 1) / 150.0, atol=1e-6)
    assert_allclose(rec.annotations["duration"], dur / 150.0, atol=1e-6)


def test_gdf_not_gdf(tmp_path):
    path = tmp_path / "fake.gdf"
    path.write_bytes(b"0       " + b"\x00" * 300)
    _assert_raises_for(path, "not a GDF file", read_gdf, path)


# ------------------------------------------------------------------ EEGLAB


def test_eeglab_real_file():
    path = shared_path("fixtures", "eeglab", "eeglab_data.set")
    rec = read_recording(path)
    assert rec.format == "eeglab"
    assert (rec.n_channels, rec.sfreq, rec.n_times) == (32, 128.0, 30504)
    assert rec.duration_s == pytest.approx(238.3, abs=0.1)
    assert len(rec.annotations) == 154
    assert set(rec.annotations["description"]) == {"rt", "square"}
    raw = mne.io.read_raw_eeglab(path, preload=True, verbose="error")
    assert_array_equal(rec.data, _mne_uv(raw))
    assert_allclose(rec.annotations["onset"], np.sort(raw.annotations.onset))
    assert [n for n, t in zip(rec.ch_names, rec.ch_types) if t == "eog"] == ["EOG1", "EOG2"]
    assert list(rec.extra["companion_sha256"]) == ["eeglab_data.fdt"]


def test_eeglab_epoched_is_refused(tmp_path):
    # The real dataset relabelled as 123 epochs of 248 samples (same .fdt bytes).
    src = shared_path("fixtures", "eeglab", "eeglab_data.set")
    mat = scipy.io.loadmat(src)
    eeg = mat["EEG"]
    eeg["trials"][0, 0] = np.array([[123.0]])
    eeg["pnts"][0, 0] = np.array([[248.0]])
    eeg["data"][0, 0] = np.array(["epoched.fdt"])
    scipy.io.savemat(tmp_path / "epoched.set", {"EEG": eeg})
    shutil.copy(src.with_suffix(".fdt"), tmp_path / "epoched.fdt")
    path = tmp_path / "epoched.set"
    _assert_raises_for(path, "123 epochs", read_eeglab, path)


def test_eeglab_missing_fdt(tmp_path):
    src = shared_path("fixtures", "eeglab", "eeglab_data.set")
    shutil.copy(src, tmp_path / "eeglab_data.set")
    path = tmp_path / "eeglab_data.set"
    _assert_raises_for(path, "cannot read EEGLAB", read_eeglab, path)


# ------------------------------------------------------------------ BrainVision


def _write_brainvision(folder, stem, names, sfreq, data_uv, markers):
    """Write a .vhdr/.vmrk/.eeg trio: IEEE_FLOAT_32, MULTIPLEXED, resolution 1 µV."""
    channels = "\n".join(f"Ch{i + 1}={name},,1,µV" for i, name in enumerate(names))
    (folder / f"{stem}.vhdr").write_text(
        "Brain Vision Data Exchange Header File Version 1.0\n"
        "; written by the eegcorpus tests\n\n"
        "[Common Infos]\nCodepage=UTF-8\n"
        f"DataFile={stem}.eeg\nMarkerFile={stem}.vmrk\n"
        "DataFormat=BINARY\nDataOrientation=MULTIPLEXED\n"
        f"NumberOfChannels={len(names)}\nSamplingInterval={1e6 / sfreq:g}\n\n"
        "[Binary Infos]\nBinaryFormat=IEEE_FLOAT_32\n\n"
        f"[Channel Infos]\n{channels}\n",
        encoding="utf-8",
    )
    lines = ["Mk1=New Segment,,1,1,0,20090812150000000000"]
    for k, (onset, desc) in enumerate(markers, start=2):
        lines.append(f"Mk{k}=Stimulus,{desc},{int(round(onset * sfreq)) + 1},1,0")
    (folder / f"{stem}.vmrk").write_text(
        "Brain Vision Data Exchange Marker File, Version 1.0\n\n"
        f"[Common Infos]\nCodepage=UTF-8\nDataFile={stem}.eeg\n\n"
        "[Marker Infos]\n" + "\n".join(lines) + "\n",
        encoding="utf-8",
    )
    (folder / f"{stem}.eeg").write_bytes(np.ascontiguousarray(data_uv.T, dtype="<f4").tobytes())
    return folder / f"{stem}.vhdr"


def test_brainvision_round_trip(tmp_path, mmidb):
    path = _write_brainvision(tmp_path, "S001R03", mmidb["names"], mmidb["sfreq"], mmidb["data"], mmidb["markers"])
    rec = read_recording(path)
    assert rec.format == "brainvision"
    assert rec.ch_names == mmidb["names"]
    assert rec.sfreq == mmidb["sfreq"]
    assert_allclose(rec.data, mmidb["data"], rtol=2e-7, atol=0)
    assert set(rec.units) == {"uV"}
    stim = rec.annotations[rec.annotations["description"].str.startswith("Stimulus/")]
    assert list(stim["description"]) == [f"Stimulus/{d}" for _, d in mmidb["markers"]]
    assert_allclose(stim["onset"], [o for o, _ in mmidb["markers"]], atol=0.5 / mmidb["sfreq"])
    assert rec.meas_date is not None and rec.meas_date.year == 2009
    assert set(rec.extra["companion_sha256"]) == {"S001R03.eeg", "S001R03.vmrk"}


def test_brainvision_missing_data_file(tmp_path, mmidb):
    path = _write_brainvision(tmp_path, "rec", mmidb["names"], 160.0, mmidb["data"], [])
    (tmp_path / "rec.eeg").unlink()
    _assert_raises_for(path, "rec.eeg", read_recording, path)


# ------------------------------------------------------------------ MAT


def _write_mat73(path, variables):
    """Write variables the way MATLAB's save -v7.3 lays them out.

    A 512-byte user block whose first 128 bytes are MATLAB's text header (version 0x0200,
    'IM'), then HDF5 with every array stored with its axes reversed and a MATLAB_class
    attribute; ``variables`` values are arrays (numeric), str lists (cell of char) or dicts
    (structs).
    """
    import h5py

    classes = {np.dtype("float64"): "double", np.dtype("float32"): "single", np.dtype("int16"): "int16", np.dtype("int32"): "int32"}

    def put(group, name, value, refs):
        if isinstance(value, dict):
            sub = group.create_group(name)
            sub.attrs["MATLAB_class"] = np.bytes_("struct")
            for key, item in value.items():
                put(sub, key, item, refs)
        elif isinstance(value, list):  # cell array of strings, 1 x n
            handles = []
            for text in value:
                codes = np.array([[ord(c)] for c in text], "<u2")  # 1 x n char, reversed
                ds = refs.create_dataset(f"{len(refs)}", data=codes)
                ds.attrs["MATLAB_class"] = np.bytes_("char")
                handles.append(ds.ref)
            cell = np.array(handles, dtype=h5py.ref_dtype).reshape(-1, 1)
            ds = group.create_dataset(name, data=cell)
            ds.attrs["MATLAB_class"] = np.bytes_("cell")
        else:
            value = np.atleast_2d(np.asarray(value))
            ds = group.create_dataset(name, data=value.T)
            ds.attrs["MATLAB_class"] = np.bytes_(classes[value.dtype])

    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        for name, value in variables.items():
            put(f, name, value, refs)
    text = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Wed Aug 12 15:00:00 2009 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(text.ljust(116, b" ") + b" " * 8 + b"\x00\x02IM")


def test_mat_v5_round_trip(tmp_path, mmidb):
    path = tmp_path / "rec.mat"
    names = np.array(mmidb["names"], dtype=object)
    scipy.io.savemat(path, {"eeg": mmidb["data"], "fs": mmidb["sfreq"], "labels": names})
    assert list_mat_arrays(path) == {
        "eeg": (mmidb["data"].shape, np.dtype("float32")),
        "fs": ((1, 1), np.dtype("float64")),
    }
    rec = read_recording(path, sfreq_key="fs", ch_names_key="labels")
    assert rec.format == "mat" and rec.extra["mat_version"] == "5"
    assert rec.extra["data_key"] == "eeg"  # the only matrix, found without data_key
    assert rec.ch_names == mmidb["names"]
    assert rec.sfreq == mmidb["sfreq"]
    assert_array_equal(rec.data, mmidb["data"])


def test_mat_v5_time_by_channel_struct_and_counts(tmp_path, mmidb):
    # BCI Competition IV-1 layout: int16 counts [time x channel] in 0.1 µV, nfo.fs, nfo.clab.
    counts = np.round(mmidb["data"] * 10).astype(np.int16).T
    nfo = {"fs": mmidb["sfreq"], "clab": np.array(mmidb["names"], dtype=object)}
    path = tmp_path / "bcic_iv_1_like.mat"
    scipy.io.savemat(path, {"cnt": counts, "nfo": nfo})
    rec = read_mat(path, data_key="cnt", sfreq_key="nfo.fs", ch_names_key="nfo.clab", unit=0.1)
    assert rec.extra["channel_axis"] == 1
    assert rec.ch_names == mmidb["names"]
    assert_allclose(rec.data, counts.T * 0.1, rtol=1e-6)
    assert_allclose(rec.data, mmidb["data"], atol=0.051)


def test_mat_unit_millivolts(tmp_path, mmidb):
    path = tmp_path / "mv.mat"
    scipy.io.savemat(path, {"x": mmidb["data"].astype(np.float64) / 1000.0})
    rec = read_mat(path, sfreq=160.0, unit="mV")
    assert rec.ch_names == [f"Ch{i + 1}" for i in range(5)]
    assert_allclose(rec.data, mmidb["data"], rtol=1e-6, atol=1e-4)


def test_mat_v73_round_trip(tmp_path, mmidb):
    path = tmp_path / "rec73.mat"
    _write_mat73(path, {"X": mmidb["data"], "nfo": {"fs": np.float64(mmidb["sfreq"]), "clab": mmidb["names"]}})
    # The file is a v7.3 file to scipy and to pymatreader, not just to our reader.
    with pytest.raises(NotImplementedError, match="v7.3"):
        scipy.io.loadmat(path)
    import pymatreader

    assert pymatreader.read_mat(path)["nfo"]["clab"] == mmidb["names"]
    assert list_mat_arrays(path) == {"X": (mmidb["data"].shape, np.dtype("float32"))}
    rec = read_recording(path, sfreq_key="nfo.fs", ch_names_key="nfo.clab")
    assert rec.extra["mat_version"] == "7.3"
    assert rec.extra["channel_axis"] == 0  # MATLAB orientation restored, not h5py's
    assert rec.ch_names == mmidb["names"] and rec.sfreq == mmidb["sfreq"]
    assert_array_equal(rec.data, mmidb["data"])


def test_mat_several_candidates_lists_keys(tmp_path, mmidb):
    path = tmp_path / "seed_like.mat"
    scipy.io.savemat(path, {"djc_eeg1": mmidb["data"], "djc_eeg2": mmidb["data"][:, ::-1]})
    message = _assert_raises_for(path, "candidate", read_mat, path, sfreq=160.0)
    assert "djc_eeg1" in message and "djc_eeg2" in message
    rec = read_mat(path, data_key="djc_eeg2", sfreq=160.0)
    assert_array_equal(rec.data, mmidb["data"][:, ::-1])


def test_mat_errors(tmp_path, mmidb):
    empty = tmp_path / "empty.mat"
    empty.touch()
    _assert_raises_for(empty, "empty", read_mat, empty, sfreq=100.0)
    _assert_raises_for(empty, "empty", read_recording, empty, sfreq=100.0)
    path = tmp_path / "x.mat"
    scipy.io.savemat(path, {"x": mmidb["data"]})
    _assert_raises_for(path, "no variable 'nope'", read_mat, path, data_key="nope", sfreq=1.0)
    _assert_raises_for(path, "2 channel names", read_mat, path, sfreq=1.0, ch_names=["a", "b"])
    with pytest.raises(ValueError, match="sfreq"):
        read_mat(path)
    bad = mmidb["data"].copy()
    bad[2, 7] = np.nan
    scipy.io.savemat(path, {"x": bad})
    _assert_raises_for(path, "Ch3", read_mat, path, sfreq=1.0)


# ------------------------------------------------------------------ CSV


def test_csv_grasp_and_lift_layout(tmp_path, mmidb):
    n = mmidb["data"].shape[1]
    table = pd.DataFrame(mmidb["data"].T, columns=mmidb["names"])
    table.insert(0, "id", [f"subj1_series1_{i}" for i in range(n)])
    path = tmp_path / "subj1_series1_data.csv"
    table.to_csv(path, index=False)
    rec = read_recording(path, sfreq=mmidb["sfreq"])
    assert rec.format == "csv"
    assert rec.ch_names == mmidb["names"] and rec.sfreq == mmidb["sfreq"]
    assert_array_equal(rec.data, mmidb["data"])
    assert rec.extra["first_id"] == "subj1_series1_0"
    assert len(rec.annotations) == 0
    _assert_raises_for(path, "no time column", read_csv, path)


def test_csv_inria_layout(tmp_path, mmidb):
    # Time, EEG..., EOG, FeedBackEvent (the Fp1 signal stands in for the EOG channel).
    sfreq = mmidb["sfreq"]
    n = mmidb["data"].shape[1]
    feedback = np.zeros(n)
    onsets = [int(round(o * sfreq)) for o, _ in mmidb["markers"] if o > 0]
    feedback[onsets] = 1
    table = pd.DataFrame(mmidb["data"][:4].T, columns=mmidb["names"][:4])
    table.insert(0, "Time", np.arange(n) / sfreq)
    table["EOG"] = mmidb["data"][4]
    table["FeedBackEvent"] = feedback.astype(int)
    path = tmp_path / "Data_S02_Sess01.csv"
    table.to_csv(path, index=False)
    rec = read_csv(path)
    assert rec.sfreq == sfreq  # inferred from Time
    assert rec.ch_names == mmidb["names"][:4] + ["EOG", "FeedBackEvent"]
    assert rec.ch_types == ["eeg"] * 4 + ["eog", "stim"]
    assert rec.units == ["uV"] * 5 + ["n/a"]
    assert_array_equal(rec.data[:5], mmidb["data"])
    assert_array_equal(rec.data[5], feedback)
    assert list(rec.annotations["description"]) == ["FeedBackEvent"] * len(onsets)
    assert_allclose(rec.annotations["onset"], np.array(onsets) / sfreq)
    assert rec.extra["time_column"] == "Time"
    _assert_raises_for(path, "disagrees", read_csv, path, sfreq=200.0)


def test_csv_errors(tmp_path, mmidb):
    table = pd.DataFrame(mmidb["data"].T[:50], columns=mmidb["names"])
    table.insert(0, "Time", np.arange(50) / 160.0)
    table = table.astype(object)
    table.iloc[17, 3] = "12,5"  # a decimal comma in one cell
    path = tmp_path / "bad_cell.csv"
    table.to_csv(path, index=False)
    message = _assert_raises_for(path, "non-numeric", read_csv, path)
    assert "'12,5'" in message and repr(mmidb["names"][2]) in message and "line 19" in message

    gap = pd.DataFrame({"Time": np.r_[np.arange(10), np.arange(12, 20)] / 160.0, "Cz": 1.0})
    path = tmp_path / "gap.csv"
    gap.to_csv(path, index=False)
    _assert_raises_for(path, "not evenly spaced", read_csv, path)

    empty = tmp_path / "empty.csv"
    empty.touch()
    _assert_raises_for(empty, "empty", read_csv, empty, sfreq=1.0)
