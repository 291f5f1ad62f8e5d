"""Dataset adapters of the SEED series, SEED-V, Emobrain, Grasp-and-Lift, Inria, SPIS and Trujillo.

The real datasets cannot be shipped, so each test writes a small file set in the dataset's own
folder layout and file format, filled with real EEG: EEGMMIDB S001R03 (64 channels, 160 Hz;
each target channel takes the EEGMMIDB electrode of the same name, or a neighbour where the
cap differs, resampled where the format needs another rate) and, for the Neuroscan files of the
SEED family, the real recording ``scan41_short.cnt`` copied under the dataset's file name. That
file labels its electrodes 1..128, so the copies get SEED's channel labels written into their
header (the samples are untouched); it is 7.7 s long, so SEED-family builds use a 1-30 Hz
profile instead of the default 0.1 Hz high-pass.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io
from helpers.dataset_files import SHORT_PROFILE, write_cnt
from helpers.edf import EdfChannel, write_edf
from helpers.shared_data import shared_path
from scipy.signal import resample_poly

from eegcorpus import read_recording
from eegcorpus.build import build
from eegcorpus.channels import canonical_name
from eegcorpus.datasets import get_adapter
from eegcorpus.recording import Recording
from eegcorpus.store import open_store

# Electrodes some caps have and EEGMMIDB lacks -> the nearest EEGMMIDB electrode.
_STAND_IN = {"P9": "T9", "P10": "T10", "TP9": "T9", "TP10": "T10", "PO9": "PO7", "PO10": "PO8",
             "PO5": "PO3", "PO6": "PO4", "POO7": "O1", "POO8": "O2", "CB1": "O1", "CB2": "O2"}  # fmt: skip


@pytest.fixture(scope="module")
def mmidb() -> Recording:
    return read_recording(shared_path("eegmmidb", "S001", "S001R03.edf"))


def real_eeg(rec: Recording, names, sfreq: float, seconds: float, start_s: float = 0.0) -> np.ndarray:
    """EEGMMIDB signals (uV) for the electrodes ``names``, at ``sfreq``, ``seconds`` long."""
    index = {canonical_name(n): i for i, n in enumerate(rec.ch_names)}
    rows = []
    for name in names:
        canon = canonical_name(name)
        rows.append(index.get(canon, index.get(_STAND_IN.get(canon, ""), len(rows) % rec.n_channels)))
    first = int(start_s * rec.sfreq)
    data = rec.data[rows, first : first + int(np.ceil(seconds * rec.sfreq)) + 16].astype(np.float64)
    ratio = Fraction(sfreq / rec.sfreq).limit_denominator(1000)
    if ratio != 1:
        data = resample_poly(data, ratio.numerator, ratio.denominator, axis=1)
    return data[:, : int(round(seconds * sfreq))]


def best_match(stored: np.ndarray, candidates: np.ndarray) -> int:
    """Index of the candidate row that correlates best with ``stored``."""
    return int(np.argmax([abs(np.corrcoef(stored, c)[0, 1]) for c in candidates]))


def bandpass_64(data: np.ndarray, sfreq: float) -> np.ndarray:
    """1-30 Hz and 64 Hz: enough like the stored signal to tell channels apart."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, [1.0, 30.0], btype="band", fs=sfreq, output="sos")
    ratio = Fraction(64.0 / sfreq).limit_denominator(1000)
    return resample_poly(sosfiltfilt(sos, data, axis=1), ratio.numerator, ratio.denominator, axis=1)


# --------------------------------------------------------------------------------------------
# SEED series


def test_seed_series(tmp_path, mmidb):
    from eegcorpus.datasets.seed_series import SEED_CHANNELS

    raw = tmp_path / "seed_series"
    seed_dir = raw / "seed" / "Preprocessed_EEG"
    seed_dir.mkdir(parents=True)
    trials = {k: real_eeg(mmidb, SEED_CHANNELS, 200.0, 20.0, start_s=20.0 * k) for k in (1, 2)}
    scipy.io.savemat(seed_dir / "1_20131027.mat", {"djc_eeg1": trials[1], "djc_eeg2": trials[2]})
    scipy.io.savemat(seed_dir / "1_20131030.mat", {"djc_eeg1": trials[2]})
    scipy.io.savemat(seed_dir / "label.mat", {"label": np.array([[1, 0, -1, -1, 0, 1, -1, 0, 1, 1, 0, -1, 0, 1, -1]])})
    # Features of the same name in another folder are not signals.
    (raw / "seed" / "ExtractedFeatures").mkdir()
    scipy.io.savemat(raw / "seed" / "ExtractedFeatures" / "1_20131027.mat", {"de_LDS1": np.ones((62, 5, 5))})
    iv_dir = raw / "seed_iv" / "eeg_raw_data" / "2"
    iv_dir.mkdir(parents=True)
    scipy.io.savemat(iv_dir / "3_20151018.mat", {"cz_eeg1": trials[1], "cz_eeg2": trials[2]})
    write_cnt(raw / "seed_ger" / "German" / "01-EEG-raw" / "3_2.cnt", [*SEED_CHANNELS, "M1", "M2", "VEO", "HEO", "ECG"])

    adapter = get_adapter("seed_series")
    sources = {s.recording_id: s for s in adapter.find(raw)}
    assert sorted(sources) == [
        "seed_series.seed.1_20131027.trial01",
        "seed_series.seed.1_20131027.trial02",
        "seed_series.seed.1_20131030.trial01",
        "seed_series.seed_ger.3_2",
        "seed_series.seed_iv.3_20151018.trial01",
        "seed_series.seed_iv.3_20151018.trial02",
    ]
    first = sources["seed_series.seed.1_20131027.trial02"]
    assert (first.subject, first.session, first.run, first.label) == ("seed-1", "1", "2", "neutral")
    assert first.extra == {"component": "seed", "data_key": "djc_eeg2", "trial": 2}
    assert first.companions == {"labels": "seed/Preprocessed_EEG/label.mat"}
    later = sources["seed_series.seed.1_20131030.trial01"]
    assert (later.session, later.label) == ("2", "positive")  # second date of subject 1
    iv = [sources[f"seed_series.seed_iv.3_20151018.trial0{k}"] for k in (1, 2)]
    assert [(s.subject, s.session, s.label) for s in iv] == [("seed_iv-3", "2", "fear"), ("seed_iv-3", "2", "sad")]
    ger = sources["seed_series.seed_ger.3_2"]
    assert (ger.subject, ger.session, ger.label) == ("seed_ger-3", "2", None)

    rec = adapter.read(raw, first)
    assert rec.sfreq == 200.0 and rec.ch_names == list(SEED_CHANNELS)
    np.testing.assert_allclose(rec.data, trials[2].astype(np.float32), rtol=1e-6)
    events = adapter.events(first, rec)
    assert events.to_dict("records") == [{"onset": 0.0, "duration": 20.0, "description": "trial02", "label": "neutral"}]
    cnt = adapter.read(raw, ger)
    assert cnt.format == "cnt" and cnt.extra["data_format"] == "int16"  # detected, not the int32 fallback
    assert cnt.ch_names[:3] == ["FP1", "FPZ", "FP2"]
    assert list(adapter.events(ger, cnt)["description"]) == ["7", "7", "109", "7", "109", "0"]

    out = tmp_path / "store"
    result = build("seed_series", raw, out, profile=SHORT_PROFILE, progress=False)
    assert result.n_failed == 0, result.failed
    store = open_store(out)
    index = store.index
    assert sorted(index.index) == sorted(sources)
    assert (index["n_channels"] == 62).all()
    assert index.loc["seed_series.seed_iv.3_20151018.trial02", "label"] == "sad"
    assert index.loc["seed_series.seed_ger.3_2", "subject"] == "seed_ger-3"
    stored = store.recording("seed_series.seed_ger.3_2")
    names = [str(n) for n in stored["ch_name"].values]
    assert "POO7" in names and "POO8" in names  # CB1/CB2
    assert not {"M1", "M2", "VEO", "HEO", "ECG"} & {str(n) for n in stored["ch_name_orig"].values}
    assert list(store.events("seed_series.seed.1_20131027.trial01")["label"]) == ["positive"]
    assert len(store.events("seed_series.seed_ger.3_2")) == 6


# --------------------------------------------------------------------------------------------
# SEED-V


def test_seed_v(tmp_path):
    raw = tmp_path / "seed_v"
    labels = ["FP1", "FPZ", "FP2", "AF3", "AF4", "F7", "F5", "F3", "F1", "FZ", "M1", "M2", "VEO", "HEO"]
    for name in ("1_1_20180804.cnt", "1_2_20180811.cnt", "2_3_20180901.cnt"):
        write_cnt(raw / "EEG_raw" / name, labels)
    (raw / "EEG_DE_features").mkdir()
    (raw / "EEG_DE_features" / "1_123.npz").write_bytes(b"not read")

    adapter = get_adapter("seed_v")
    sources = adapter.find(raw)
    assert [(s.recording_id, s.subject, s.session) for s in sources] == [
        ("seed_v.1_1_20180804", "1", "1"),
        ("seed_v.1_2_20180811", "1", "2"),
        ("seed_v.2_3_20180901", "2", "3"),
    ]
    rec = adapter.read(raw, sources[0])
    assert rec.ch_names[:3] == ["FP1", "FPZ", "FP2"]
    assert adapter.events(sources[0], rec).empty  # 7.7 s: every trial starts later

    # A session-long recording (the real channel repeated) gets all 15 trials of its session.
    reps = int(np.ceil(3400 * rec.sfreq / rec.n_times))
    long = Recording(data=np.tile(rec.data[:1], reps), sfreq=rec.sfreq, ch_names=["FP1"], ch_types=["eeg"], units=["uV"])
    ev1 = adapter.events(sources[0], long)
    assert len(ev1) == 15
    assert list(ev1["label"][:6]) == ["happy", "fear", "neutral", "sad", "disgust", "happy"]
    assert list(ev1["onset"][:3]) == [30.0, 132.0, 287.0] and list(ev1["duration"][:3]) == [72.0, 96.0, 237.0]
    assert list(ev1["description"][[0, 14]]) == ["trial01", "trial15"]
    ev2 = adapter.events(sources[1], long)
    assert list(ev2["label"][:5]) == ["sad", "fear", "neutral", "disgust", "happy"] and ev2["onset"][1] == 299.0
    ev3 = adapter.events(sources[2], long)
    assert ev3["onset"].iloc[-1] == 2888.0 and ev3["duration"].iloc[-1] == 3066.0 - 2888.0
    # A trial running past the end is cut there.
    short = Recording(data=long.data[:, : int(300 * rec.sfreq)], sfreq=rec.sfreq, ch_names=["FP1"], ch_types=["eeg"], units=["uV"])
    cut = adapter.events(sources[0], short)
    assert list(cut["onset"]) == [30.0, 132.0, 287.0] and cut["duration"].iloc[-1] == pytest.approx(13.0)

    out = tmp_path / "store"
    result = build("seed_v", raw, out, profile=SHORT_PROFILE, progress=False)
    assert result.n_failed == 0, result.failed
    index = open_store(out).index
    assert list(index["session"]) == ["1", "2", "3"] and list(index["subject"]) == ["1", "1", "2"]
    assert (index["n_channels"] == 10).all()  # M1, M2, VEO, HEO dropped; numeric labels have no position


# --------------------------------------------------------------------------------------------
# Grasp-and-Lift

GAL_CHANNELS = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "FC5", "FC1", "FC2", "FC6", "T7", "C3", "Cz", "C4", "T8", "TP9", "CP5", "CP1", "CP2", "CP6", "TP10", "P7", "P3", "Pz", "P4", "P8", "PO9", "O1", "Oz", "O2", "PO10"]  # fmt: skip


def write_gal(folder: Path, subject: int, series: int, signal: np.ndarray, events: dict | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n = signal.shape[1]
    ids = [f"subj{subject}_series{series}_{i}" for i in range(n)]
    table = pd.DataFrame(np.round(signal.T).astype(np.int64), columns=GAL_CHANNELS)
    table.insert(0, "id", ids)
    table.to_csv(folder / f"subj{subject}_series{series}_data.csv", index=False)
    if events is not None:
        from eegcorpus.datasets.grasp_and_lift import EVENT_COLUMNS

        marks = pd.DataFrame(0, index=range(n), columns=EVENT_COLUMNS)
        for column, starts in events.items():
            for start in starts:
                marks.loc[start : start + 149, column] = 1  # 150 samples = 300 ms at 500 Hz
        marks.insert(0, "id", ids)
        marks.to_csv(folder / f"subj{subject}_series{series}_events.csv", index=False)


def test_grasp_and_lift(tmp_path, mmidb):
    raw = tmp_path / "grasp_and_lift"
    train = real_eeg(mmidb, GAL_CHANNELS, 500.0, 40.0)
    write_gal(raw / "train", 1, 1, train, {"HandStart": [1000, 6000], "LiftOff": [3000], "BothReleased": [19850]})
    write_gal(raw / "test", 1, 9, real_eeg(mmidb, GAL_CHANNELS, 500.0, 40.0, start_s=50.0), None)

    adapter = get_adapter("grasp_and_lift")
    sources = adapter.find(raw)
    assert [(s.recording_id, s.subject, s.run, s.task) for s in sources] == [
        ("grasp_and_lift.subj1_series9", "1", "9", "grasp_and_lift"),
        ("grasp_and_lift.subj1_series1", "1", "1", "grasp_and_lift"),
    ]
    test_src, train_src = sources
    assert train_src.companions == {"events": "train/subj1_series1_events.csv"} and test_src.companions == {}
    rec = adapter.read(raw, train_src)
    assert rec.sfreq == 500.0 and rec.ch_names == GAL_CHANNELS and rec.n_times == 20000
    events = adapter.events(train_src, rec)
    assert list(events["description"]) == ["HandStart", "LiftOff", "HandStart", "BothReleased"]
    assert list(events["onset"]) == [2.0, 6.0, 12.0, 39.7]
    assert list(events["duration"]) == [0.3, 0.3, 0.3, 0.3]
    assert list(events["label"]) == list(events["description"])
    assert adapter.events(test_src, adapter.read(raw, test_src)).empty

    out = tmp_path / "store"
    result = build("grasp_and_lift", raw, out, progress=False)
    assert result.n_failed == 0, result.failed
    store = open_store(out)
    assert list(store.index["run"]) == ["1", "9"] and (store.index["n_channels"] == 32).all()
    assert (store.index["sfreq"] == 64).all()
    assert list(store.events("grasp_and_lift.subj1_series1")["onset"]) == [2.0, 6.0, 12.0, 39.7]
    stored = store.recording("grasp_and_lift.subj1_series1")
    assert best_match(stored.isel(channel=7).values, bandpass_64(train, 500.0)[:, : stored.shape[1]]) == 7


def test_grasp_and_lift_events_must_match_the_data(tmp_path, mmidb):
    from eegcorpus.errors import ReaderError

    raw = tmp_path / "grasp_and_lift"
    write_gal(raw / "train", 2, 3, real_eeg(mmidb, GAL_CHANNELS, 500.0, 2.0), {"HandStart": [100]})
    events = raw / "train" / "subj2_series3_events.csv"
    events.write_text("\n".join(events.read_text().splitlines()[:-5]) + "\n")  # five rows short
    adapter = get_adapter("grasp_and_lift")
    with pytest.raises(ReaderError, match="event rows for 1000 data rows"):
        adapter.read(raw, adapter.find(raw)[0])


# --------------------------------------------------------------------------------------------
# Inria BCI Challenge

INRIA_CHANNELS = ["Fp1", "Fp2", "AF7", "AF3", "AF4", "AF8", "F7", "F5", "F3", "F1", "Fz", "F2", "F4", "F6", "F8", "FT7", "FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "FT8", "T7", "C5", "C3", "C1", "Cz", "C2", "C4", "C6", "T8", "TP7", "CP5", "CP3", "CP1", "CPz", "CP2", "CP4", "CP6", "TP8", "P7", "P5", "P3", "P1", "Pz", "P2", "P4", "P6", "P8", "PO7", "POz", "PO8", "O1", "O2"]  # fmt: skip


def write_inria(path: Path, signal: np.ndarray, eog: np.ndarray, feedback_s) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = signal.shape[1]
    table = pd.DataFrame(signal.T, columns=INRIA_CHANNELS)
    table.insert(0, "Time", np.round(np.arange(n) / 200.0, 3))
    table["EOG"] = eog
    feedback = np.zeros(n, dtype=int)
    feedback[[int(t * 200) for t in feedback_s]] = 1
    table["FeedBackEvent"] = feedback
    table.to_csv(path, index=False, float_format="%.4f")


def test_inria_bci(tmp_path, mmidb):
    raw = tmp_path / "inria_bci"
    train = real_eeg(mmidb, [*INRIA_CHANNELS, "Fpz"], 200.0, 40.0)
    write_inria(raw / "train" / "Data_S02_Sess01.csv", train[:-1], train[-1], [5, 15, 25])
    test = real_eeg(mmidb, [*INRIA_CHANNELS, "Fpz"], 200.0, 40.0, start_s=60.0)
    write_inria(raw / "test" / "Data_S01_Sess01.csv", test[:-1], test[-1], [10, 20])
    pd.DataFrame({"IdFeedBack": ["S02_Sess01_FB001", "S02_Sess01_FB002", "S02_Sess01_FB003", "S02_Sess02_FB001"], "Prediction": [1, 0, 1, 0]}).to_csv(
        raw / "TrainLabels.csv", index=False
    )

    adapter = get_adapter("inria_bci")
    sources = adapter.find(raw)
    assert [(s.recording_id, s.subject, s.session) for s in sources] == [
        ("inria_bci.S01_Sess01", "1", "1"),
        ("inria_bci.S02_Sess01", "2", "1"),
    ]
    assert all(s.companions == {"labels": "TrainLabels.csv"} for s in sources)
    rec = adapter.read(raw, sources[1])
    assert rec.sfreq == 200.0 and rec.ch_names == [*INRIA_CHANNELS, "EOG", "FeedBackEvent"]
    assert rec.ch_types[-2:] == ["eog", "stim"]
    events = adapter.events(sources[1], rec)
    assert list(events["onset"]) == [5.0, 15.0, 25.0] and list(events["label"]) == ["correct", "error", "correct"]
    unlabelled = adapter.events(sources[0], adapter.read(raw, sources[0]))
    assert list(unlabelled["onset"]) == [10.0, 20.0] and list(unlabelled["label"]) == [None, None]

    out = tmp_path / "store"
    result = build("inria_bci", raw, out, progress=False)
    assert result.n_failed == 0, result.failed
    store = open_store(out)
    assert (store.index["n_channels"] == 56).all() and list(store.index["subject"]) == ["1", "2"]
    assert list(store.events("inria_bci.S02_Sess01")["label"]) == ["correct", "error", "correct"]
    stored = store.recording("inria_bci.S02_Sess01")
    assert "EOG" not in list(stored["ch_name_orig"].values)
    assert best_match(stored.isel(channel=28).values, bandpass_64(train[:-1], 200.0)[:, : stored.shape[1]]) == 28

    # Labels out of step with the feedback onsets are refused, not shifted.
    pd.DataFrame({"IdFeedBack": ["S02_Sess01_FB001", "S02_Sess01_FB002"], "Prediction": [1, 0]}).to_csv(raw / "TrainLabels.csv", index=False)
    from eegcorpus.errors import ReaderError

    with pytest.raises(ReaderError, match="2 labels for S02_Sess01 but .* has 3 feedback onsets"):
        adapter.read(raw, sources[1])


# --------------------------------------------------------------------------------------------
# Biosemi BDF (Emobrain, Trujillo)

_BDF_DIGITAL = 8388607
_UV_PER_DIGIT = 0.001  # physical range +-8388.607 uV


def write_bdf(path: Path, eeg_labels, signal: np.ndarray, extra_labels, extra: np.ndarray, sfreq: int, triggers) -> None:
    """A BDF with the given EEG and extra voltage channels and a Status channel.

    ``triggers`` is ``[(onset_s, code)]``; each code is held for 0.5 s on top of Biosemi's
    CMS-in-range status bit (bit 20), which the adapters must mask away.
    """
    n = signal.shape[1]
    status = np.full(n, 1 << 20, dtype=np.int64)
    for onset, code in triggers:
        status[int(onset * sfreq) : int((onset + 0.5) * sfreq)] += code
    physical = (-_BDF_DIGITAL * _UV_PER_DIGIT, _BDF_DIGITAL * _UV_PER_DIGIT)
    digital = (-_BDF_DIGITAL - 1, _BDF_DIGITAL)
    channels = [
        EdfChannel(label, np.round(row / _UV_PER_DIGIT).astype(np.int32), sfreq, "uV", physical_range=physical, digital_range=digital)
        for label, row in zip([*eeg_labels, *extra_labels], np.vstack([signal, extra]))
    ]
    channels.append(EdfChannel("Status", status.astype(np.int32), sfreq, "Boolean", physical_range=digital, digital_range=digital))
    write_edf(path, channels, file_type="bdf+", digital=True)


def test_biosemi64_order_is_mne_montage_order():
    import mne

    from eegcorpus.datasets.emobrain import BIOSEMI64_MAP, BIOSEMI64_NAMES

    assert list(BIOSEMI64_NAMES) == mne.channels.make_standard_montage("biosemi64").ch_names
    assert (BIOSEMI64_MAP["A1"], BIOSEMI64_MAP["A32"], BIOSEMI64_MAP["B1"], BIOSEMI64_MAP["B32"]) == ("Fp1", "CPz", "Fpz", "O2")


def test_emobrain(tmp_path, mmidb):
    from eegcorpus.datasets.emobrain import BIOSEMI64_NAMES

    raw = tmp_path / "emobrain"
    labels = [f"A{i}" for i in range(1, 33)] + [f"B{i}" for i in range(1, 33)]
    eeg = real_eeg(mmidb, BIOSEMI64_NAMES, 1024.0, 40.0)
    extra = real_eeg(mmidb, ["Fpz", "Fp1", "Cz", "Pz", "Oz"], 1024.0, 40.0, start_s=45.0)
    name = "PART1_IAPS_SES2_EEG_fNIRS_03082006.bdf"
    write_bdf(raw / name, labels, eeg, ["EXG1", "EXG2", "GSR1", "Resp", "Plet"], extra, 1024, [(3.0, 1), (10.0, 2), (17.0, 3)])
    (raw / f"{name}.mrk").write_text("TL02\n")
    (raw / "Part1SES2.log").write_text("not read\n")

    adapter = get_adapter("emobrain")
    sources = adapter.find(raw)
    assert [(s.recording_id, s.subject, s.session) for s in sources] == [("emobrain.PART1_IAPS_SES2_EEG_fNIRS_03082006", "1", "2")]
    rec = adapter.read(raw, sources[0])
    kinds = dict(zip(rec.ch_names, rec.ch_types))
    assert [kinds[n] for n in ("A1", "B32", "EXG1", "EXG2", "GSR1", "Resp", "Plet", "Status")] == ["eeg"] * 2 + ["misc"] * 3 + ["resp", "misc", "stim"]
    events = adapter.events(sources[0], rec)
    assert list(events["description"]) == ["1", "2", "3"] and list(events["onset"]) == [3.0, 10.0, 17.0]
    assert events["label"].isna().all()

    out = tmp_path / "store"
    result = build("emobrain", raw, out, progress=False)
    assert result.n_failed == 0, result.failed
    store = open_store(out)
    assert store.index["n_channels"].tolist() == [64] and store.index["subject"].tolist() == ["1"]
    stored = store.recording(sources[0].recording_id)
    renamed = dict(zip(stored["ch_name_orig"].values, stored["ch_name"].values))
    assert (renamed["A1"], renamed["A28"], renamed["B1"], renamed["B32"]) == ("Fp1", "Iz", "Fpz", "O2")
    assert list(store.events(sources[0].recording_id)["onset"]) == [3.0, 10.0, 17.0]
    # The signal stored as Cz (B16) is the EEGMMIDB Cz signal.
    reference = bandpass_64(eeg, 1024.0)[:, : stored.shape[1]]
    cz = list(stored["ch_name"].values).index("Cz")
    assert best_match(stored.values[cz], reference) == BIOSEMI64_NAMES.index("Cz")


def test_trujillo_resting(tmp_path, mmidb):
    from eegcorpus.datasets.emobrain import BIOSEMI64_NAMES

    raw = tmp_path / "trujillo_resting"
    externals = ["LVEOG", "RVEOG", "LHEOG", "RHEOG", "M1", "M2", "EXG7", "EXG8"]
    eeg = real_eeg(mmidb, BIOSEMI64_NAMES, 256.0, 40.0)
    extra = real_eeg(mmidb, ["Fp1", "Fp2", "F7", "F8", "T9", "T10", "Iz", "Oz"], 256.0, 40.0, start_s=50.0)
    write_bdf(raw / "EEG_Cat_Study4_Resting_S12.bdf", BIOSEMI64_NAMES, eeg, externals, extra, 256, [(1.0, 11), (31.0, 12)])
    (raw / "README.txt").write_text("not a recording\n")

    adapter = get_adapter("trujillo_resting")
    sources = adapter.find(raw)
    assert [(s.recording_id, s.subject, s.task) for s in sources] == [("trujillo_resting.EEG_Cat_Study4_Resting_S12", "12", "rest")]
    rec = adapter.read(raw, sources[0])
    kinds = dict(zip(rec.ch_names, rec.ch_types))
    assert [kinds[n] for n in externals] == ["eog"] * 4 + ["misc"] * 4
    assert list(adapter.events(sources[0], rec)["description"]) == ["11", "12"]

    out = tmp_path / "store"
    result = build("trujillo_resting", raw, out, progress=False)
    assert result.n_failed == 0, result.failed
    store = open_store(out)
    assert store.index["n_channels"].tolist() == [64] and store.index["sfreq"].tolist() == [64.0]
    assert list(store.events(sources[0].recording_id)["onset"]) == [1.0, 31.0]


def test_trujillo_raw(tmp_path, mmidb):
    from eegcorpus.datasets.emobrain import BIOSEMI64_NAMES

    raw = tmp_path / "trujillo_raw"
    externals = ["LVEOG", "RVEOG", "LHEOG", "RHEOG", "M1", "M2"]
    extra = real_eeg(mmidb, ["Fp1", "Fp2", "F7", "F8", "T9", "T10"], 256.0, 40.0, start_s=50.0)
    eeg = real_eeg(mmidb, BIOSEMI64_NAMES, 256.0, 40.0)
    write_bdf(raw / "Study4" / "EEG_Cat_Study4_II_II_S1.bdf", BIOSEMI64_NAMES, eeg, externals, extra, 256, [(2.0, 5)])
    ab_labels = [f"A{i}" for i in range(1, 33)] + [f"B{i}" for i in range(1, 33)]  # raw Biosemi labels
    write_bdf(raw / "Study5" / "EEG_Cat_Study5_II_S1.bdf", ab_labels, eeg, externals, extra, 256, [])

    adapter = get_adapter("trujillo_raw")
    sources = adapter.find(raw)
    assert [(s.recording_id, s.subject, s.task) for s in sources] == [
        ("trujillo_raw.EEG_Cat_Study4_II_II_S1", "study4-1", "II_II"),
        ("trujillo_raw.EEG_Cat_Study5_II_S1", "study5-1", "II"),
    ]
    assert list(adapter.events(sources[0], adapter.read(raw, sources[0]))["onset"]) == [2.0]

    out = tmp_path / "store"
    result = build("trujillo_raw", raw, out, progress=False)
    assert result.n_failed == 0, result.failed
    store = open_store(out)
    assert (store.index["n_channels"] == 64).all() and list(store.index["subject"]) == ["study4-1", "study5-1"]
    named = store.recording("trujillo_raw.EEG_Cat_Study4_II_II_S1")
    mapped = store.recording("trujillo_raw.EEG_Cat_Study5_II_S1")
    assert list(mapped["ch_name"].values) == list(named["ch_name"].values)
    np.testing.assert_allclose(mapped.values, named.values, atol=0.2)  # same signal, either labelling


# --------------------------------------------------------------------------------------------
# SPIS


def test_spis_sampling_rate_rule():
    from eegcorpus.datasets.spis_resting import choose_sfreq

    assert choose_sfreq(150 * 256) == 256.0 and choose_sfreq(150 * 2048) == 2048.0
    assert choose_sfreq(40 * 256) == 256.0 and choose_sfreq(140 * 2048) == 2048.0


def test_spis_resting(tmp_path, mmidb):
    from eegcorpus.datasets.emobrain import BIOSEMI64_NAMES

    raw = tmp_path / "spis_resting"
    folder = raw / "Pre-SART EEG"
    folder.mkdir(parents=True)
    rows = [*BIOSEMI64_NAMES, "Fpz", "Oz"]  # 64 EEG rows, then two externals
    closed = real_eeg(mmidb, rows, 256.0, 40.0)
    # Stored in the loader's unit: 1000 per microvolt.
    scipy.io.savemat(folder / "S01_restingPre_EC.mat", {"dataRest": closed * 1e3})
    scipy.io.savemat(folder / "S01_restingPre_EO.mat", {"dataRest": real_eeg(mmidb, rows, 256.0, 40.0, start_s=60.0) * 1e3})
    scipy.io.savemat(folder / "S01_restingPost_EC.mat", {"dataRest": closed[:, :10]})

    adapter = get_adapter("spis_resting")
    sources = adapter.find(raw)
    assert [(s.recording_id, s.subject, s.label, s.task) for s in sources] == [
        ("spis_resting.S01_restingPre_EC", "1", "eyes_closed", "rest"),
        ("spis_resting.S01_restingPre_EO", "1", "eyes_open", "rest"),
    ]
    rec = adapter.read(raw, sources[0])
    assert rec.sfreq == 256.0 and rec.ch_names[:2] == ["Fp1", "AF7"] and rec.ch_names[-2:] == ["EXG1", "EXG2"]
    assert rec.ch_types[-2:] == ["misc", "misc"]
    np.testing.assert_allclose(rec.data, closed.astype(np.float32), rtol=1e-5, atol=1e-3)  # back in uV
    assert adapter.events(sources[0], rec).to_dict("records") == [{"onset": 0.0, "duration": 40.0, "description": "eyes_closed", "label": "eyes_closed"}]

    out = tmp_path / "store"
    result = build("spis_resting", raw, out, progress=False)
    assert result.n_failed == 0, result.failed
    store = open_store(out)
    assert (store.index["n_channels"] == 64).all() and list(store.index["label"]) == ["eyes_closed", "eyes_open"]
    assert list(store.events("spis_resting.S01_restingPre_EO")["label"]) == ["eyes_open"]
    stored = store.recording("spis_resting.S01_restingPre_EC")
    reference = bandpass_64(closed[:64], 256.0)[:, : stored.shape[1]]
    assert best_match(stored.values[47], reference) == 47  # Cz
    assert 0.5 < stored.values[47].std() / reference[47].std() < 2.0  # microvolts, not thousandths
