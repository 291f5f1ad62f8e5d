"""Adapters for sleep_edfx, bcic_iv_2a, physionet_p300, mumtaz2016 and brain_invaders.

Each test writes a small file set in the dataset's own folder layout and file format, filled
with real EEG (EEGMMIDB S001, eegmat Subject00) resampled to the dataset's rate and renamed to
its channels, then checks what the adapter finds, the events and labels it gives, and what a
build stores. Sleep-EDF uses the real SC4001 hypnogram. No real GDF with EEG is available, so
the BCIC-IV-2a files are written by :func:`helpers.dataset_files.write_gdf` (GDF 2.10 as MNE
reads it), whose output is first checked against the real single-channel GDF fixture. The
writers of these file sets are in :mod:`helpers.dataset_files` (the task and fine-tuning tests
use them too).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import PurePosixPath

import numpy as np
import pytest
import scipy.io
from helpers.dataset_files import (
    BCIC_GDF_CHANNELS,
    BCIC_TRIAL_STARTS,
    bcic_events,
    mmidb_channels,
    write_gdf,
    write_mumtaz_file,
    write_p300_file,
    write_sleep_psg,
)
from helpers.shared_data import shared_path
from numpy.testing import assert_allclose
from scipy.signal import butter, sosfiltfilt

from eegcorpus.build import build
from eegcorpus.datasets import get_adapter
from eegcorpus.readers import read_recording
from eegcorpus.store import open_store


def _bandpass(data, sfreq, lo=0.5, hi=25.0):
    sos = butter(4, [lo, hi], btype="band", fs=sfreq, output="sos")
    return sosfiltfilt(sos, data, axis=-1)


# ------------------------------------------------------------------ sleep_edfx


def test_sleep_edfx(tmp_path):
    hypnogram = shared_path("fixtures", "sleep_edf", "SC4001EC-Hypnogram.edf")
    raw = tmp_path / "raw"
    cassette = raw / "sleep-cassette"
    cassette.mkdir(parents=True)
    shutil.copy(hypnogram, cassette / "SC4001EC-Hypnogram.edf")
    # The same scoring under another night's name, with another suffix letter.
    shutil.copy(hypnogram, cassette / "SC4012EH-Hypnogram.edf")
    # Hypnogram seconds 30600-31380 (W, stages 1, 2, 3, 2, 3, 4) and 50340-50460 (stage 1, R).
    write_sleep_psg(cassette / "SC4001E0-PSG.edf", 30600, 780, runs=(3, 4, 5, 6, 7, 8, 9))
    write_sleep_psg(cassette / "SC4012E0-PSG.edf", 50340, 120, runs=(10,))
    (cassette / "SC4021E0-PSG.edf").write_bytes(b"")  # no hypnogram: must be reported

    adapter = get_adapter("sleep_edfx")
    sources = {s.recording_id: s for s in adapter.find(raw)}
    assert sorted(sources) == ["sleep_edfx.SC4001E0-PSG", "sleep_edfx.SC4012E0-PSG", "sleep_edfx.SC4021E0-PSG"]
    first = sources["sleep_edfx.SC4001E0-PSG"]
    assert (first.subject, first.session, first.task, first.label) == ("0", "1", "sleep_staging", None)
    assert first.companions == {"hypnogram": "sleep-cassette/SC4001EC-Hypnogram.edf"}
    second = sources["sleep_edfx.SC4012E0-PSG"]
    assert (second.subject, second.session) == ("1", "2")
    assert second.companions == {"hypnogram": "sleep-cassette/SC4012EH-Hypnogram.edf"}
    assert sources["sleep_edfx.SC4021E0-PSG"].companions == {}

    rec = adapter.read(raw, first)
    assert rec.ch_names == ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal"]
    assert [a.name for a in rec.aux] == ["Temp rectal"] and rec.aux[0].sfreq == 1.0
    events = adapter.events(first, rec)
    expected = ["W"] + ["N1"] * 4 + ["N2"] * 13 + ["N3", "N2"] + ["N3"] * 6
    assert list(events["label"]) == expected
    assert_allclose(events["onset"], 30.0 * np.arange(26))
    assert (events["duration"] == 30.0).all()
    # Stages 3 and 4 are one class; the original text stays in the description.
    assert events.loc[[18, 25], "description"].tolist() == ["Sleep stage 3", "Sleep stage 4"]

    rec2 = adapter.read(raw, second)
    assert list(adapter.events(second, rec2)["label"]) == ["N1", "REM", "REM", "REM"]
    # Shifted to the end of the night: two wake epochs, then 'Sleep stage ?', which is dropped.
    late = dataclasses.replace(rec2, meas_date=rec2.meas_date + dt.timedelta(seconds=79440 - 50340))
    tail = adapter.events(second, late)
    assert list(tail["label"]) == ["W", "W"] and list(tail["onset"]) == [0.0, 30.0]

    out = tmp_path / "store"
    result = build("sleep_edfx", raw, out, progress=False)
    assert sorted(result.written) == ["sleep_edfx.SC4001E0-PSG", "sleep_edfx.SC4012E0-PSG"]
    store = open_store(out)
    assert list(store.failures["file"]) == ["sleep-cassette/SC4021E0-PSG.edf"]
    assert "no hypnogram found" in store.failures["error"][0]
    index = store.index
    assert list(index["subject"]) == ["0", "1"] and list(index["session"]) == ["1", "2"]
    assert (index["n_channels"] == 2).all() and list(index["duration_s"]) == [780.0, 120.0]
    stored = store.recording("sleep_edfx.SC4001E0-PSG")
    assert [str(n) for n in stored["ch_name"].values] == ["Fpz-Cz", "Pz-Oz"]
    assert "EOG horizontal" in store.attrs("sleep_edfx.SC4001E0-PSG")["provenance"]["dropped_channels"]
    ev = store.events("sleep_edfx.SC4001E0-PSG")
    assert list(ev["label"]) == expected and list(ev["onset"]) == list(events["onset"])


def test_sleep_edfx_names_and_pairing(tmp_path):
    telemetry, cassette = tmp_path / "sleep-telemetry", tmp_path / "sleep-cassette"
    telemetry.mkdir()
    cassette.mkdir()
    for name in ("ST7011J0-PSG.edf", "ST7011JP-Hypnogram.edf", "ST7012J0-PSG.edf"):
        (telemetry / name).write_bytes(b"")
    # A hypnogram of the same night in another folder is not a match; two in one folder are
    # ambiguous.
    (cassette / "ST7012JP-Hypnogram.edf").write_bytes(b"")
    for name in ("SC4801E0-PSG.edf", "SC4801EC-Hypnogram.edf", "SC4801EH-Hypnogram.edf"):
        (cassette / name).write_bytes(b"")
    sources = {s.recording_id: s for s in get_adapter("sleep_edfx").find(tmp_path)}
    st = sources["sleep_edfx.ST7011J0-PSG"]
    assert (st.subject, st.session) == ("ST1", "1")
    assert st.companions == {"hypnogram": "sleep-telemetry/ST7011JP-Hypnogram.edf"}
    assert sources["sleep_edfx.ST7012J0-PSG"].companions == {}
    sc = sources["sleep_edfx.SC4801E0-PSG"]
    assert (sc.subject, sc.session, sc.companions) == ("80", "1", {})
    assert len(sc.extra["hypnogram_matches"]) == 2


# ------------------------------------------------------------------ bcic_iv_2a


def test_gdf_writer_matches_the_real_gdf(tmp_path):
    real = read_recording(shared_path("fixtures", "gdf", "test_1ch.gdf"))
    path = tmp_path / "copy.gdf"
    stored = write_gdf(path, real.data, 150, ["ECG"], [(2.0, 768, 0.0), (4.0, 769, 1.25)])
    back = read_recording(path)
    assert (back.n_channels, back.sfreq, back.n_times) == (real.n_channels, real.sfreq, real.n_times)
    assert back.ch_names == real.ch_names and back.units == ["uV"]
    assert_allclose(back.data, stored, atol=1e-3)
    assert np.abs(back.data - real.data).max() < 1e-4 * np.abs(real.data).max() + 0.02
    assert list(back.annotations["description"]) == ["768", "769"]
    assert_allclose(back.annotations["onset"], [2.0, 4.0], atol=1e-6)


def test_bcic_iv_2a(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    names = [electrode for _, electrode in BCIC_GDF_CHANNELS]
    signal = mmidb_channels(names, runs=(4,), up=25, down=16, seconds=60)  # 160 -> 250 Hz
    gdf_names = [name for name, _ in BCIC_GDF_CHANNELS]
    write_gdf(raw / "A01T.gdf", signal, 250, gdf_names, bcic_events([769, 770, 771, 772, 769, 770], rejected={2}))
    write_gdf(raw / "A01E.gdf", signal[:, ::-1], 250, gdf_names, bcic_events([783] * 6))
    scipy.io.savemat(raw / "A01E.mat", {"classlabel": np.array([[4], [3], [2], [1], [1], [2]], dtype=np.uint8)})
    # BNCI Horizon variant of subject 2: an EOG-calibration run without trials, then a run
    # with three trials; 'data' is a 1 x 2 cell array of structs.
    bnci = mmidb_channels(names, runs=(5,), up=25, down=16, seconds=65).T  # samples x 25
    runs = np.empty((1, 2), dtype=object)
    empty = np.zeros((0, 1))
    runs[0, 0] = {"X": bnci[:5000], "trial": empty, "y": empty, "fs": 250.0, "artifacts": empty}
    runs[0, 1] = {
        "X": bnci[5000:],
        "trial": np.array([[2501], [4501], [6501]]),
        "y": np.array([[2], [4], [1]]),
        "fs": 250.0,
        "artifacts": np.array([[0], [1], [0]]),
    }
    scipy.io.savemat(raw / "A02T.mat", {"data": runs})

    adapter = get_adapter("bcic_iv_2a")
    sources = {s.recording_id: s for s in adapter.find(raw)}
    assert sorted(sources) == ["bcic_iv_2a.A01E", "bcic_iv_2a.A01T", "bcic_iv_2a.A02T"]
    t, e, m = sources["bcic_iv_2a.A01T"], sources["bcic_iv_2a.A01E"], sources["bcic_iv_2a.A02T"]
    assert (t.path, t.subject, t.session, t.task, t.companions) == ("A01T.gdf", "1", "T", "motor_imagery", {})
    assert (e.path, e.session, e.companions) == ("A01E.gdf", "E", {"labels": "A01E.mat"})
    assert (m.path, m.subject, m.session, m.extra) == ("A02T.mat", "2", "T", {"variant": "bnci_mat"})

    def cue_events(source):
        ev = adapter.events(source, adapter.read(raw, source))
        return ev, ev[ev["label"].notna()].reset_index(drop=True)

    ev_t, cues_t = cue_events(t)
    assert list(cues_t["label"]) == ["left_hand", "right_hand", "feet", "tongue", "left_hand", "right_hand"]
    assert list(cues_t["description"]) == ["769", "770", "771", "772", "769", "770"]
    assert_allclose(cues_t["onset"], np.array(BCIC_TRIAL_STARTS) + 2.0, atol=1e-3)
    assert (cues_t["duration"] == 4.0).all()  # the card's window, not the 1.25-s cue
    rejected = ev_t[ev_t["description"] == "1023"]
    assert len(rejected) == 1 and rejected["label"].isna().all()
    assert rejected["onset"].iloc[0] == pytest.approx(BCIC_TRIAL_STARTS[2], abs=1e-3)

    _, cues_e = cue_events(e)
    assert list(cues_e["description"]) == ["783"] * 6
    assert list(cues_e["label"]) == ["tongue", "feet", "right_hand", "left_hand", "left_hand", "right_hand"]
    no_labels = dataclasses.replace(e, companions={})
    assert adapter.events(no_labels, adapter.read(raw, no_labels))["label"].isna().all()

    ev_m, cues_m = cue_events(m)
    assert list(cues_m["label"]) == ["right_hand", "tongue", "left_hand"]
    # Trial starts at run-2 samples 2501, 4501, 6501 (1-based) after a 20-s first run; cue +2 s.
    assert_allclose(cues_m["onset"], [20 + 10 + 2, 20 + 18 + 2, 20 + 26 + 2], atol=1e-6)
    assert list(ev_m.loc[ev_m["description"] == "32766", "onset"]) == [0.0, 20.0]
    assert list(ev_m.loc[ev_m["description"] == "1023", "onset"]) == [38.0]

    out = tmp_path / "store"
    result = build("bcic_iv_2a", raw, out, progress=False)
    assert result.n_failed == 0, result.failed
    store = open_store(out)
    index = store.index
    assert list(index.index) == ["bcic_iv_2a.A01E", "bcic_iv_2a.A01T", "bcic_iv_2a.A02T"]
    assert (index["n_channels"] == 22).all() and list(index["session"]) == ["E", "T", "T"]
    assert list(index["source_format"]) == ["gdf", "gdf", "mat"]
    stored = store.recording("bcic_iv_2a.A01T")
    assert [str(n) for n in stored["ch_name"].values] == names[:22]
    assert [str(n) for n in stored["ch_name_orig"].values] == gdf_names[:22]
    # Every stored channel carries the signal of the electrode it is named after: its best
    # match among the 22 source channels is itself.
    sfreq = float(stored.attrs["sfreq"])
    source = _bandpass(mmidb_channels(names[:22], runs=(4,), up=2, down=5, seconds=60), 64.0)
    ours = _bandpass(stored.values.astype(np.float64), sfreq)
    n = min(source.shape[1], ours.shape[1]) - 64
    corr = np.corrcoef(ours[:, 32:n], source[:, 32:n])[:22, 22:]
    assert list(corr.argmax(axis=1)) == list(range(22))
    assert corr.diagonal().min() > 0.999
    ev = store.events("bcic_iv_2a.A01E")
    assert list(ev.loc[ev["label"].notna(), "label"]) == list(cues_e["label"])
    assert list(store.events("bcic_iv_2a.A02T").dropna(subset=["label"])["label"]) == ["right_hand", "tongue", "left_hand"]


# ------------------------------------------------------------------ physionet_p300


def test_physionet_p300(tmp_path):
    raw = tmp_path / "raw"
    (raw / "files" / "s01").mkdir(parents=True)
    (raw / "files" / "s02").mkdir(parents=True)
    written = write_p300_file(raw / "files" / "s01" / "rc01.edf", "E")
    write_p300_file(raw / "files" / "s02" / "rc01.edf", "5", seconds=44)
    (raw / "files" / "s02" / "notes.edf").write_bytes(b"")  # not in the layout

    adapter = get_adapter("physionet_p300")
    sources = adapter.find(raw)
    assert [s.recording_id for s in sources] == ["physionet_p300.s01_rc01", "physionet_p300.s02_rc01"]
    assert [(s.subject, s.session, s.run, s.task) for s in sources] == [("1", None, "1", "p300_speller"), ("2", None, "1", "p300_speller")]

    events = adapter.events(sources[0], adapter.read(raw, sources[0]))
    flashes = [a for a in written if not a[2].startswith("#")]
    assert len(events) == len(flashes) == 36
    assert list(events["description"]) == [a[2] for a in flashes]
    assert_allclose(events["onset"], [a[0] for a in flashes], atol=1e-3)
    # 'E' is in row ABCDEF and in column EKQW39: two targets a round.
    assert list(events["label"][:12]) == ["target"] + ["non_target"] * 9 + ["target", "non_target"]
    assert (events["label"] == "target").sum() == 6
    events2 = adapter.events(sources[1], adapter.read(raw, sources[1]))
    # '5' is in the last row and the first column.
    assert set(events2.loc[events2["label"] == "target", "description"]) == {"56789_", "AGMSY5"}

    out = tmp_path / "store"
    result = build("physionet_p300", raw, out, progress=False)
    assert result.n_failed == 0, result.failed
    store = open_store(out)
    index = store.index
    assert list(index.index) == ["physionet_p300.s01_rc01", "physionet_p300.s02_rc01"]
    assert list(index["subject"]) == ["1", "2"] and (index["n_channels"] == 8).all()
    stored = store.recording("physionet_p300.s01_rc01")
    assert [str(n) for n in stored["ch_name"].values] == ["Fz", "Cz", "Pz", "Oz", "P3", "P4", "PO7", "PO8"]
    dropped = store.attrs("physionet_p300.s01_rc01")["provenance"]["dropped_channels"]
    assert set(dropped) == {"EARL", "EARR", "VEOGL", "VEOGR", "HEOGL", "HEOGR"}
    ev = store.events("physionet_p300.s01_rc01")
    assert list(ev["label"]) == list(events["label"])


# ------------------------------------------------------------------ mumtaz2016


def test_mumtaz2016(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_mumtaz_file(raw / "H S1 EC.edf", 45, 0)
    write_mumtaz_file(raw / "MDD S1 EO.edf", 40, 60)
    (raw / "MDD S1 TASK.edf").write_bytes(b"")  # P300 task: not used

    adapter = get_adapter("mumtaz2016")
    sources = adapter.find(raw)
    assert [(s.recording_id, s.subject, s.task, s.label, s.session) for s in sources] == [
        ("mumtaz2016.H_S1_EC", "H1", "eyes_closed", "healthy", None),
        ("mumtaz2016.MDD_S1_EO", "MDD1", "eyes_open", "mdd", None),
    ]
    rec = adapter.read(raw, sources[0])
    assert rec.ch_types.count("eeg") == 20 and rec.ch_types[-1] == "misc"
    events = adapter.events(sources[0], rec)
    assert list(events["label"]) == ["healthy"] and events["duration"][0] == pytest.approx(45.0)

    out = tmp_path / "store"
    result = build("mumtaz2016", raw, out, progress=False)
    assert result.n_failed == 0, result.failed
    store = open_store(out)
    index = store.index
    assert list(index["subject"]) == ["H1", "MDD1"] and list(index["label"]) == ["healthy", "mdd"]
    assert (index["n_channels"] == 20).all()
    stored = store.recording("mumtaz2016.MDD_S1_EO")
    assert [str(n) for n in stored["ch_name"].values][:19] == [
        "Fp1",
        "Fp2",
        "F3",
        "F4",
        "C3",
        "C4",
        "P3",
        "P4",
        "O1",
        "O2",
        "F7",
        "F8",
        "T7",
        "T8",
        "P7",
        "P8",
        "Fz",
        "Cz",
        "Pz",
    ]
    assert store.attrs("mumtaz2016.MDD_S1_EO")["provenance"]["dropped_channels"] == {"EEG 23A-23R": "type misc"}
    ev = store.events()
    assert list(ev["label"]) == ["healthy", "mdd"] and list(ev["duration"]) == [45.0, 40.0]


def test_mumtaz2016_names():
    adapter = get_adapter("mumtaz2016")

    def parse(name):
        rel = PurePosixPath(name)
        source = adapter.describe(rel, adapter.fields(rel))
        return None if source is None else (source.recording_id, source.subject, source.task, source.label)

    assert parse("MDD S12 EC.edf") == ("mumtaz2016.MDD_S12_EC", "MDD12", "eyes_closed", "mdd")
    assert parse("6921143_H S15 EO.edf") == ("mumtaz2016.6921143_H_S15_EO", "H15", "eyes_open", "healthy")
    assert parse("H S2 TASK.edf") is None
    assert parse("X S2 EC.edf") is None


# ------------------------------------------------------------------ brain_invaders

BI_CHANNELS = [
    "Fp1", "Fp2", "AFz", "F7", "F3", "F4", "F8", "FC5", "FC1", "FC2", "FC6", "T7", "C3", "Cz",
    "C4", "T8", "CP5", "CP1", "CP2", "CP6", "P7", "P3", "Pz", "P4", "P8", "PO7", "O1", "Oz",
    "O2", "PO8", "PO9", "PO10",
]  # fmt: skip


def _bi_file(path, run, seconds=45):
    # EEGMMIDB has no PO9/PO10; its P7/P8 signals fill those columns.
    names = [{"PO9": "P7", "PO10": "P8"}.get(n, n) for n in BI_CHANNELS]
    eeg = mmidb_channels(names, runs=(run,), up=16, down=5, seconds=seconds)  # 160 -> 512 Hz
    n = eeg.shape[1]
    nontarget, target = np.zeros(n), np.zeros(n)
    flashes = []
    for k in range(60):
        start = int((5.0 + 0.5 * k) * 512)
        kind = "Target" if k % 6 == 0 else "NonTarget"
        (target if kind == "Target" else nontarget)[start : start + 10] = 2 if kind == "Target" else 1
        flashes.append((start / 512, kind))
    table = np.column_stack([np.arange(n) / 512, eeg.T, nontarget, target])
    scipy.io.savemat(path, {"DATA": table})
    return flashes


def test_brain_invaders(tmp_path):
    raw = tmp_path / "raw"
    (raw / "subject_01").mkdir(parents=True)
    flashes = _bi_file(raw / "subject_01" / "subject_01_session_01.mat", 6)
    _bi_file(raw / "subject_01" / "subject_01_session_02.mat", 7, seconds=40)
    scipy.io.savemat(raw / "subject_01" / "notes.mat", {"x": np.zeros(3)})  # not a recording

    adapter = get_adapter("brain_invaders")
    sources = adapter.find(raw)
    assert [s.recording_id for s in sources] == ["brain_invaders.subject_01_session_01", "brain_invaders.subject_01_session_02"]
    assert [(s.subject, s.session, s.task, s.label) for s in sources] == [("1", "1", "p300_game", None), ("1", "2", "p300_game", None)]
    rec = adapter.read(raw, sources[0])
    assert rec.ch_names == BI_CHANNELS + ["STI 014"] and rec.sfreq == 512.0
    source_fp1 = mmidb_channels(["Fp1"], runs=(6,), up=16, down=5, seconds=45)[0]
    assert_allclose(rec.data[0], source_fp1, rtol=1e-5, atol=1e-3)  # µV, untouched
    events = adapter.events(sources[0], rec)
    assert list(events["description"]) == [kind for _, kind in flashes]
    assert_allclose(events["onset"], [t for t, _ in flashes], atol=1e-9)
    assert events["label"].isna().all()  # pretraining: unlabelled

    out = tmp_path / "store"
    result = build("brain_invaders", raw, out, progress=False)
    assert result.n_failed == 0, result.failed
    store = open_store(out)
    index = store.index
    assert len(index) == 2 and (index["n_channels"] == 32).all() and list(index["session"]) == ["1", "2"]
    assert "STI 014" in store.attrs("brain_invaders.subject_01_session_01")["provenance"]["dropped_channels"]
    ev = store.events("brain_invaders.subject_01_session_01")
    assert (ev["description"] == "Target").sum() == 10 and len(ev) == 60
