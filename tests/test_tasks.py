"""The 8 downstream task definitions build their windows and labels from small file sets.

Each test writes (or, for MentalArithmetic, reads) files in the dataset's own format and folder
layout with the writers the adapter tests use (``helpers.dataset_files``; real EEG from ../shared/data, resampled and
renamed), builds a store, and checks the windows a task cuts from it: how many, where they
start, their labels, subjects, montage and values.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.dataset_files import (
    BCIC_GDF_CHANNELS,
    SHORT_PROFILE,
    TEN_TWENTY,
    bcic_events,
    mmidb_channels,
    write_cnt,
    write_gdf,
    write_mumtaz_file,
    write_p300_file,
    write_sleep_psg,
    write_text,
    write_tuh_edf,
)
from helpers.shared_data import shared_path
from numpy.testing import assert_allclose

from eegcorpus.build import build
from eegcorpus.store import open_store
from neuript.tasks import BCIC_BIPOLAR_PAIRS, get_task, load_windows, task_names


def built(dataset, raw, out, **kwargs):
    result = build(dataset, raw, out, progress=False, **kwargs)
    assert result.n_failed == 0, result.failed
    return open_store(out)


def test_every_downstream_card_has_a_task():
    from eegcorpus.catalog import load_catalog

    downstream = sorted(card.id for card in load_catalog().values() if card.role == "downstream")
    assert task_names() == downstream
    for name in downstream:
        task = get_task(name)
        assert task.n_classes == len(task.classes) and task.metrics
    with pytest.raises(ValueError, match="Invalid value for the 'task' parameter"):
        get_task("eegmmidb")  # a pretraining set is not a task


@pytest.mark.realdata
def test_mental_arithmetic(tmp_path):
    store = built("mental_arithmetic", shared_path("eegmat"), tmp_path / "store", subjects=[1, 2])
    task = get_task("mental_arithmetic")
    windows = load_windows(task, store)
    # 182-s rest and 62-s arithmetic recordings at 64 Hz: 36 + 12 five-second windows a subject.
    assert windows.x.shape == (96, 19, 320) and windows.sfreq == 64.0
    assert sorted(set(windows.subject)) == ["1", "2"]  # file Subject00 is subject 1
    for subject in ("1", "2"):
        mine = windows.subject == subject
        assert np.bincount(windows.label[mine]).tolist() == [36, 12]
    rest = windows.recording == "mental_arithmetic.Subject00_1"
    assert (windows.label[rest] == 0).all() and list(windows.start[rest][:3]) == [0, 320, 640]
    # Average reference over the 19 scalp electrodes; A2-A1 is neither a channel nor in the mean.
    stored = store.recording("mental_arithmetic.Subject01_2")
    names = [str(n) for n in stored["ch_name"].values]
    scalp = stored.values[
        [names.index(n) for n in ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2")]
    ]
    expected = (scalp - scalp.mean(axis=0))[:, 640:960]
    window = windows.x[(windows.recording == "mental_arithmetic.Subject01_2") & (windows.start == 640)][0]
    assert_allclose(window, expected, atol=1e-4)
    assert windows.ch_mask.all() and (windows.lobe >= 0).all()
    only = load_windows(task, store, subjects=["2"])
    assert len(only) == 48 and set(only.subject) == {"2"}


def test_mumtaz2016(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_mumtaz_file(raw / "H S1 EC.edf", 45, 0)
    write_mumtaz_file(raw / "MDD S1 EO.edf", 40, 60)
    windows = load_windows("mumtaz2016", built("mumtaz2016", raw, tmp_path / "store"))
    assert windows.x.shape == (17, 19, 320)  # 9 + 8 five-second windows; A2-A1 left out
    assert windows.subject.tolist() == ["H1"] * 9 + ["MDD1"] * 8
    assert windows.label.tolist() == [0] * 9 + [1] * 8
    assert_allclose(windows.x.mean(axis=1), 0.0, atol=1e-3)


def test_physionet_p300(tmp_path):
    raw = tmp_path / "raw"
    (raw / "files" / "s01").mkdir(parents=True)
    written = write_p300_file(raw / "files" / "s01" / "rc01.edf", "E")
    store = built("physionet_p300", raw, tmp_path / "store")
    windows = load_windows("physionet_p300", store)
    flashes = [onset for onset, _, text in written if not text.startswith("#")]
    # 2 s from 0.7 s before every flash; 'E' is flashed in its row and its column, 3 rounds.
    assert windows.x.shape == (36, 8, 128)
    assert windows.start.tolist() == [int(round((t - 0.7) * 64)) for t in flashes]
    assert windows.label.sum() == 6 and windows.label[0] == 1 and windows.label[1] == 0
    assert_allclose(windows.x.mean(axis=1), 0.0, atol=1e-3)  # average reference


def test_bcic_iv_2a(tmp_path):
    import scipy.io

    raw = tmp_path / "raw"
    raw.mkdir()
    electrodes = [electrode for _, electrode in BCIC_GDF_CHANNELS]
    signal = mmidb_channels(electrodes, runs=(4,), up=25, down=16, seconds=60)
    gdf_names = [name for name, _ in BCIC_GDF_CHANNELS]
    write_gdf(raw / "A01T.gdf", signal, 250, gdf_names, bcic_events([769, 770, 771, 772, 769, 770], rejected={2}))
    write_gdf(raw / "A01E.gdf", signal[:, ::-1], 250, gdf_names, bcic_events([783] * 6))
    scipy.io.savemat(raw / "A01E.mat", {"classlabel": np.array([[4], [3], [2], [1], [1], [2]], dtype=np.uint8)})
    store = built("bcic_iv_2a", raw, tmp_path / "store")
    windows = load_windows("bcic_iv_2a", store)
    assert windows.x.shape == (12, 16, 256)  # one 4-s window from every cue, 16 bipolar pairs
    evaluation = windows.recording == "bcic_iv_2a.A01E"
    assert windows.label[evaluation].tolist() == [3, 2, 1, 0, 0, 1]  # from the .mat class labels
    assert windows.label[~evaluation].tolist() == [0, 1, 2, 3, 0, 1]
    assert windows.start[~evaluation].tolist() == [int(round((t + 2.0) * 64)) for t in (10, 18, 26, 34, 42, 50)]
    stored = store.recording("bcic_iv_2a.A01T")
    names = [str(n) for n in stored["ch_name"].values]
    a, b = BCIC_BIPOLAR_PAIRS[1]
    start = windows.start[~evaluation][0]
    expected = stored.values[names.index(a), start : start + 256] - stored.values[names.index(b), start : start + 256]
    assert_allclose(windows.x[~evaluation][0, 1], expected, atol=1e-4)


def test_sleep_edfx(tmp_path):
    import shutil

    raw = tmp_path / "raw" / "sleep-cassette"
    raw.mkdir(parents=True)
    shutil.copy(shared_path("fixtures", "sleep_edf", "SC4001EC-Hypnogram.edf"), raw / "SC4001EC-Hypnogram.edf")
    write_sleep_psg(raw / "SC4001E0-PSG.edf", 30600, 780, runs=(3, 4, 5, 6, 7, 8, 9))
    windows = load_windows("sleep_edfx", built("sleep_edfx", tmp_path / "raw", tmp_path / "store"))
    # One 30-s epoch per scored stage: W, N1 x4, N2 x13, N3, N2, N3 x6 (stages 3 and 4 merged).
    assert windows.x.shape == (26, 2, 1920)
    assert windows.label.tolist() == [0] + [1] * 4 + [2] * 13 + [3, 2] + [3] * 6
    assert windows.start.tolist() == [30 * 64 * k for k in range(26)]


def test_seed_v(tmp_path, monkeypatch):
    from eegcorpus.datasets import seed_v

    # The real Neuroscan file at hand is 7.7 s long and every SEED-V trial starts at 30 s or
    # later: two trials of session 1 are moved into it (1-3.4 s and 4-7 s).
    monkeypatch.setitem(seed_v.TRIAL_SECONDS, 1, ((1, 4), (3.4, 7)))
    write_cnt(tmp_path / "raw" / "EEG_raw" / "3_1_20180804.cnt", ["FP1", "FPZ", "FP2", "AF3", "AF4", "F7", "F5", "F3", "F1", "FZ", "M1", "M2", "VEO", "HEO"])
    windows = load_windows("seed_v", built("seed_v", tmp_path / "raw", tmp_path / "store", profile=SHORT_PROFILE))
    # 1-s tiles filling each trial: 2 of the first (happy), 3 of the second (fear).
    assert windows.x.shape == (5, 10, 64)
    assert windows.start.tolist() == [64, 128, 256, 320, 384]
    assert windows.label.tolist() == [4, 4, 1, 1, 1] and set(windows.subject) == {"3"}


def test_tuab(tmp_path, eeg):
    root = tmp_path / "raw"
    write_tuh_edf(root / "edf/train/normal/01_tcp_ar/aaaaaaav_s004_t000.edf", eeg, sfreq=256, start_s=0)
    write_tuh_edf(root / "edf/train/abnormal/01_tcp_ar/aaaaaaaq_s003_t001.edf", eeg, sfreq=250, start_s=40)
    write_tuh_edf(root / "edf/eval/abnormal/01_tcp_ar/aaaaaapo_s001_t000.edf", eeg, TEN_TWENTY, sfreq=256, start_s=80, extras=False)
    windows = load_windows("tuab", built("tuab", root, tmp_path / "store"))
    # Three 10-s windows of each 32-s recording (the tail is dropped), double banana.
    assert windows.x.shape == (9, 20, 640) and windows.ch_mask.all()
    assert windows.label.tolist() == [1, 1, 1, 0, 0, 0, 1, 1, 1]
    assert windows.partition.tolist() == ["train"] * 6 + ["eval"] * 3
    assert windows.subject.tolist()[::3] == ["aaaaaaaq", "aaaaaaav", "aaaaaapo"]


def test_tuev(tmp_path, eeg):
    root = tmp_path / "raw"
    train = write_tuh_edf(root / "edf/train/aaaaaaar/aaaaaaar_00000001.edf", eeg, sfreq=250, start_s=10)
    write_text(train.with_suffix(".rec"), "12,10.0000,11.0000,6\n3,20.0000,21.0000,1\n0,25.5000,26.5000,5\n")
    test = write_tuh_edf(root / "edf/eval/032/spsw_032_a_1.edf", eeg, TEN_TWENTY + ["A1", "A2"], sfreq=250, start_s=60, extras=False)
    write_text(test.with_suffix(".rec"), "5,1.0000,2.0000,2\n7,2.0000,3.0000,3\n1,4.0000,5.0000,4\n")
    windows = load_windows("tuev", built("tuev", root, tmp_path / "store"))
    # 2 s, the 1-s event, 2 s; the eval event at 1 s would start before the recording: dropped.
    assert windows.x.shape == (5, 20, 320)
    assert windows.recording.tolist() == ["tuev.eval.spsw_032_a_1"] * 2 + ["tuev.train.aaaaaaar_00000001"] * 3
    assert windows.start.tolist() == [0, 128, 512, 1152, 1504]
    assert windows.label.tolist() == [2, 3, 5, 0, 4]
    assert windows.partition.tolist() == ["eval"] * 2 + ["train"] * 3


def test_load_windows_reports_an_empty_selection(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_mumtaz_file(raw / "H S1 EC.edf", 20, 0)
    store = built("mumtaz2016", raw, tmp_path / "store")
    with pytest.raises(ValueError, match="No labelled mental_arithmetic window"):
        load_windows("mental_arithmetic", store)
    with pytest.raises(ValueError, match="for subjects H7"):
        load_windows("mumtaz2016", store, subjects=["H7"])
