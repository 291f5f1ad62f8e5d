"""Adapters of the TUH corpora (TUAB, TUEV, TUSZ, TUAR, TUEP, TUSL) and Siena.

The corpora need registration, so each test writes a small file set in the dataset's real
folder layout and file formats: EDF files whose EEG channels carry real signal from the
EEGMMIDB recording in ../shared/data (resampled to the corpus' rate and renamed the corpus'
way, e.g. T7 -> ``EEG T3-REF``), plus the non-EEG and 1 Hz channels the corpora carry, and
the companion annotation files (.rec, .csv, .csv_bi, Seizures-list). The TUH writers are in
:mod:`helpers.dataset_files` (the task tests use them too); the signal comes from the ``eeg``
fixture of ``conftest.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.dataset_files import TEN_TWENTY, TUH_23, TUH_DURATION_S, TUH_SOURCE, write_plain_edf, write_text, write_tuh_edf
from scipy.signal import butter, resample_poly, sosfiltfilt

from eegcorpus.build import build
from eegcorpus.channels import canonical_name
from eegcorpus.datasets import get_adapter
from eegcorpus.datasets._tuh import AnnotationError, read_tuh_csv
from eegcorpus.datasets.base import LayoutError
from eegcorpus.datasets.siena import read_seizure_list
from eegcorpus.store import open_store


def expected_channels(electrodes) -> set[str]:
    """Canonical names the store should hold: the electrodes minus T1/T2 (no position)."""
    return {canonical_name(e) for e in electrodes if e not in ("T1", "T2")}


def nedc_csv(bname: str, rows: list[str]) -> str:
    head = [
        "# version = csv_v1.0.0",
        f"# bname = {bname}",
        f"# duration = {TUH_DURATION_S:.2f} secs",
        "# montage_file = $NEDC_NFC/lib/nedc_eas_default_montage.txt",
        "#",
        "channel,start_time,stop_time,label,confidence",
    ]
    return "\n".join(head + rows) + "\n"


def summary(sources) -> list[tuple]:
    return [(s.recording_id, s.subject, s.session, s.run, s.task, s.label) for s in sources]


def built(dataset: str, raw: Path, out: Path):
    result = build(dataset, raw, out, progress=False)
    assert result.failed == [], result.failed
    return open_store(out)


def band(x: np.ndarray, sfreq: float) -> np.ndarray:
    sos = butter(4, [1.0, 25.0], btype="bandpass", fs=sfreq, output="sos")
    return sosfiltfilt(sos, x)


# --------------------------------------------------------------------------------------- TUAB


@pytest.fixture(scope="module")
def tuab_raw(tmp_path_factory, eeg):
    root = tmp_path_factory.mktemp("tuab")
    write_tuh_edf(root / "edf/train/normal/01_tcp_ar/aaaaaaav_s004_t000.edf", eeg, sfreq=256, start_s=0)
    write_tuh_edf(root / "edf/train/abnormal/01_tcp_ar/aaaaaaaq_s003_t001.edf", eeg, sfreq=250, start_s=40)
    write_tuh_edf(root / "edf/eval/abnormal/01_tcp_ar/aaaaaapo_s001_t000.edf", eeg, TEN_TWENTY, sfreq=256, start_s=80, extras=False)
    # Neither normal nor abnormal: not a TUAB recording.
    write_text(root / "edf/train/unsure/01_tcp_ar/aaaaaazz_s001_t000.edf", "")
    return root


def test_tuab_find(tuab_raw):
    sources = get_adapter("tuab").find(tuab_raw)
    assert summary(sources) == [
        ("tuab.aaaaaapo_s001_t000", "aaaaaapo", "1", "0", "eval", "abnormal"),
        ("tuab.aaaaaaaq_s003_t001", "aaaaaaaq", "3", "1", "train", "abnormal"),
        ("tuab.aaaaaaav_s004_t000", "aaaaaaav", "4", "0", "train", "normal"),
    ]
    assert [s.extra for s in sources] == [
        {"montage": "01_tcp_ar", "partition": "eval"},
        {"montage": "01_tcp_ar", "partition": "train"},
        {"montage": "01_tcp_ar", "partition": "train"},
    ]


def test_tuab_card_drops_unplaceable_channels_and_labels_the_recording(tuab_raw):
    from eegcorpus.pipeline.process import process_recording
    from eegcorpus.pipeline.profiles import BUILTIN_PROFILES

    adapter = get_adapter("tuab")
    source = adapter.find(tuab_raw)[2]
    rec = adapter.read(tuab_raw, source)
    # The reader keeps everything; the card's drop list (T1/T2 have no standard_1005 position)
    # and the type rules remove channels at processing time and record why.
    assert {"EEG T1-REF", "EEG T2-REF", "EEG EKG1-REF", "PHOTIC-REF", "EEG 26-REF"} <= set(rec.ch_names)
    processed = process_recording(rec, BUILTIN_PROFILES["neuript"], line_freq=60, drop_channels=adapter.card.drop_channels)
    dropped = processed.provenance["dropped_channels"]
    assert {"EEG T1-REF", "EEG T2-REF", "EEG EKG1-REF", "PHOTIC-REF", "EEG 26-REF"} <= set(dropped)
    assert not {"EEG T1-REF", "EEG T2-REF"} & set(processed.ch_names)
    assert [a.name for a in rec.aux] == ["IBI", "BURSTS"] and rec.sfreq == 256
    events = adapter.events(source, rec)
    assert events.to_dict("records") == [{"onset": 0.0, "duration": TUH_DURATION_S, "description": "normal", "label": "normal"}]


def test_tuab_build(tuab_raw, tmp_path, eeg):
    store = built("tuab", tuab_raw, tmp_path / "store")
    index = store.index
    assert list(index.index) == ["tuab.aaaaaaaq_s003_t001", "tuab.aaaaaaav_s004_t000", "tuab.aaaaaapo_s001_t000"]
    assert list(index["label"]) == ["abnormal", "normal", "abnormal"]
    assert list(index["task"]) == ["train", "train", "eval"]
    assert list(index["subject"]) == ["aaaaaaaq", "aaaaaaav", "aaaaaapo"]
    assert (index["sfreq"] == 64).all() and (index["duration_s"] == TUH_DURATION_S).all()
    assert list(index["n_channels"]) == [21, 21, 19]
    rec = store.recording("tuab.aaaaaaav_s004_t000")
    assert set(map(str, rec["ch_name"].values)) == expected_channels(TUH_23)
    assert np.isfinite(np.stack([rec["x"], rec["y"], rec["z"]])).all()
    dropped = store.attrs("tuab.aaaaaaav_s004_t000")["provenance"]["dropped_channels"]
    assert {"EEG EKG1-REF", "PHOTIC-REF", "EEG 26-REF"} <= set(dropped)
    # The stored channel named T7 carries what the file wrote as EEG T3-REF, i.e. EEGMMIDB's
    # T7, and so on (electrodes are so alike that neighbours correlate up to 0.99).
    reference = {k: resample_poly(v[: int(TUH_DURATION_S * eeg["sfreq"])], 2, 5) for k, v in eeg["signals"].items()}
    carrier = {canonical_name(e): TUH_SOURCE[e] for e in TUH_23}
    trim = slice(2 * 64, -2 * 64)
    for name, row in zip(rec["ch_name"].values, rec.values):
        ours, theirs = band(row.astype(np.float64), 64)[trim], band(reference[carrier[str(name)]], 64)[trim]
        assert np.corrcoef(ours, theirs)[0, 1] > 0.999, name
    events = store.events("tuab.aaaaaaaq_s003_t001")
    assert list(events["label"]) == ["abnormal"] and list(events["duration"]) == [TUH_DURATION_S]


# --------------------------------------------------------------------------------------- TUEV

TUEV_TRAIN_REC = "12,10.0000,11.0000,6\n3,20.0000,21.0000,1\n0,25.5000,26.5000,5\n"
TUEV_EVAL_REC = "5,1.0000,2.0000,2\n7,2.0000,3.0000,3\n\n1,4.0000,5.0000,4\n"


@pytest.fixture(scope="module")
def tuev_raw(tmp_path_factory, eeg):
    root = tmp_path_factory.mktemp("tuev")
    train = write_tuh_edf(root / "edf/train/aaaaaaar/aaaaaaar_00000001.edf", eeg, sfreq=250, start_s=10)
    write_text(train.with_suffix(".rec"), TUEV_TRAIN_REC)
    test = write_tuh_edf(root / "edf/eval/032/spsw_032_a_1.edf", eeg, TEN_TWENTY + ["A1", "A2"], sfreq=250, start_s=60, extras=False)
    write_text(test.with_suffix(".rec"), TUEV_EVAL_REC)
    return root


def test_tuev_find(tuev_raw):
    sources = get_adapter("tuev").find(tuev_raw)
    assert summary(sources) == [
        ("tuev.eval.spsw_032_a_1", "032", None, "spsw_a_1", "eval", None),
        ("tuev.train.aaaaaaar_00000001", "aaaaaaar", None, "1", "train", None),
    ]
    assert [s.extra["partition"] for s in sources] == ["eval", "train"]
    assert [s.companions for s in sources] == [
        {"rec": "edf/eval/032/spsw_032_a_1.rec"},
        {"rec": "edf/train/aaaaaaar/aaaaaaar_00000001.rec"},
    ]


def test_tuev_events_from_rec(tuev_raw):
    adapter = get_adapter("tuev")
    test, train = adapter.find(tuev_raw)
    events = adapter.events(train, adapter.read(tuev_raw, train))
    assert events.to_dict("records") == [
        {"onset": 10.0, "duration": 1.0, "description": "bckg@ch12", "label": "bckg"},
        {"onset": 20.0, "duration": 1.0, "description": "spsw@ch3", "label": "spsw"},
        {"onset": 25.5, "duration": 1.0, "description": "artf@ch0", "label": "artf"},
    ]
    events = adapter.events(test, adapter.read(tuev_raw, test))
    assert list(events["label"]) == ["gped", "pled", "eyem"] and list(events["onset"]) == [1.0, 2.0, 4.0]


def test_tuev_bad_code_is_refused(tmp_path, eeg):
    edf = write_tuh_edf(tmp_path / "edf/train/aaaaaaar/aaaaaaar_00000001.edf", eeg, TEN_TWENTY, sfreq=250, extras=False)
    write_text(edf.with_suffix(".rec"), "0,1.0,2.0,7\n")
    adapter = get_adapter("tuev")
    [source] = adapter.find(tmp_path)
    with pytest.raises(AnnotationError, match=r"line 1: event code 7 is not one of 1\.\.6"):
        adapter.events(source, adapter.read(tmp_path, source))


def test_tuev_build(tuev_raw, tmp_path):
    store = built("tuev", tuev_raw, tmp_path / "store")
    index = store.index
    assert list(index.index) == ["tuev.eval.spsw_032_a_1", "tuev.train.aaaaaaar_00000001"]
    assert list(index["task"]) == ["eval", "train"] and list(index["n_channels"]) == [21, 21]
    events = store.events("tuev.train.aaaaaaar_00000001")
    assert list(events["label"]) == ["bckg", "spsw", "artf"]
    assert list(events["description"]) == ["bckg@ch12", "spsw@ch3", "artf@ch0"]


# --------------------------------------------------------------------------------------- TUSZ


@pytest.fixture(scope="module")
def tusz_raw(tmp_path_factory, eeg):
    root = tmp_path_factory.mktemp("tusz")
    # A linked-ear file: the card's drop list spells "-REF", these channels end in "-LE".
    le = write_tuh_edf(root / "edf/train/aaaaaaac/s001_2002/02_tcp_le/aaaaaaac_s001_t000.edf", eeg, suffix="LE", sfreq=256, start_s=20)
    write_text(
        le.with_suffix(".csv_bi"),
        nedc_csv(
            "aaaaaaac_s001_t000",
            [
                "TERM,0.0000,12.0000,bckg,1.0000",
                "TERM,12.0000,20.5000,seiz,1.0000",
                "TERM,20.5000,32.0000,bckg,1.0000",
            ],
        ),
    )
    write_text(le.with_suffix(".csv"), nedc_csv("aaaaaaac_s001_t000", ["FP1-F7,12.0000,20.5000,fnsz,1.0000"]))
    write_tuh_edf(root / "edf/dev/aaaaaajy/s003_2003/01_tcp_ar/aaaaaajy_s003_t001.edf", eeg, sfreq=250, start_s=70)
    return root


def test_tusz_find(tusz_raw):
    sources = get_adapter("tusz").find(tusz_raw)
    assert summary(sources) == [
        ("tusz.aaaaaajy_s003_t001", "aaaaaajy", "3", "1", "dev", None),
        ("tusz.aaaaaaac_s001_t000", "aaaaaaac", "1", "0", "train", None),
    ]
    assert [s.extra for s in sources] == [
        {"montage": "01_tcp_ar", "partition": "dev", "year": "2003"},
        {"montage": "02_tcp_le", "partition": "train", "year": "2002"},
    ]
    assert sources[0].companions == {}
    stem = "edf/train/aaaaaaac/s001_2002/02_tcp_le/aaaaaaac_s001_t000"
    assert sources[1].companions == {"csv_bi": f"{stem}.csv_bi", "csv": f"{stem}.csv"}


def test_tusz_events_from_csv_bi(tusz_raw):
    adapter = get_adapter("tusz")
    dev, train = adapter.find(tusz_raw)
    events = adapter.events(train, adapter.read(tusz_raw, train))
    assert events.to_dict("records") == [
        {"onset": 0.0, "duration": 12.0, "description": "bckg", "label": "bckg"},
        {"onset": 12.0, "duration": 8.5, "description": "seiz", "label": "seiz"},
        {"onset": 20.5, "duration": 11.5, "description": "bckg", "label": "bckg"},
    ]
    assert adapter.events(dev, adapter.read(tusz_raw, dev)).empty


def test_tusz_linked_ear_channels_are_dropped_whatever_the_suffix(tusz_raw):
    from eegcorpus.pipeline.process import process_recording
    from eegcorpus.pipeline.profiles import BUILTIN_PROFILES

    adapter = get_adapter("tusz")
    rec = adapter.read(tusz_raw, adapter.find(tusz_raw)[1])
    processed = process_recording(rec, BUILTIN_PROFILES["neuript"], line_freq=60, drop_channels=adapter.card.drop_channels)
    dropped = processed.provenance["dropped_channels"]
    for name in ("EEG T1-LE", "EEG T2-LE", "EEG 26-LE", "EEG EKG1-LE", "PHOTIC-LE"):
        assert name in dropped, name
    assert {v for k, v in dropped.items() if k in ("EEG T1-LE", "EEG 26-LE")} == {"listed in the dataset card's drop_channels"}


def test_tusz_build(tusz_raw, tmp_path):
    store = built("tusz", tusz_raw, tmp_path / "store")
    index = store.index
    assert list(index["task"]) == ["train", "dev"]  # index sorted by id: aaaaaaac, aaaaaajy
    assert list(index["n_channels"]) == [21, 21]
    rec = store.recording("tusz.aaaaaaac_s001_t000")
    assert set(map(str, rec["ch_name"].values)) == expected_channels(TUH_23)
    assert str(rec["ch_name_orig"].values[0]) == "EEG FP1-LE"
    assert list(store.events("tusz.aaaaaaac_s001_t000")["label"]) == ["bckg", "seiz", "bckg"]


# --------------------------------------------------------------------------------------- TUAR


@pytest.fixture(scope="module")
def tuar_raw(tmp_path_factory, eeg):
    root = tmp_path_factory.mktemp("tuar")
    ar = write_tuh_edf(root / "edf/01_tcp_ar/aaaaaaju_s005_t000.edf", eeg, sfreq=256, start_s=5)
    write_text(
        ar.with_suffix(".csv"),
        nedc_csv(
            "aaaaaaju_s005_t000",
            [
                "FP1-F7,1.5000,4.0000,eyem,1.0000",
                "T3-T5,10.0000,12.2500,musc,1.0000",
                "FP2-F8,1.5000,4.0000,eyem_musc,1.0000",
            ],
        ),
    )
    write_tuh_edf(root / "edf/02_tcp_le/aaaaaakb_s001_t002.edf", eeg, TEN_TWENTY + ["A1", "A2"], suffix="LE", sfreq=250, start_s=50, extras=False)
    return root


def test_tuar_find_and_events(tuar_raw):
    adapter = get_adapter("tuar")
    sources = adapter.find(tuar_raw)
    assert summary(sources) == [
        ("tuar.aaaaaaju_s005_t000", "aaaaaaju", "5", "0", None, None),
        ("tuar.aaaaaakb_s001_t002", "aaaaaakb", "1", "2", None, None),
    ]
    assert [s.extra["montage"] for s in sources] == ["01_tcp_ar", "02_tcp_le"]
    assert sources[0].companions == {"csv": "edf/01_tcp_ar/aaaaaaju_s005_t000.csv"} and sources[1].companions == {}
    events = adapter.events(sources[0], adapter.read(tuar_raw, sources[0]))
    assert events.to_dict("records") == [
        {"onset": 1.5, "duration": 2.5, "description": "eyem@FP1-F7", "label": "eyem"},
        {"onset": 1.5, "duration": 2.5, "description": "eyem_musc@FP2-F8", "label": "eyem_musc"},
        {"onset": 10.0, "duration": 2.25, "description": "musc@T3-T5", "label": "musc"},
    ]


def test_nedc_csv_without_column_line_is_refused(tmp_path):
    path = write_text(tmp_path / "x.csv", "# version = csv_v1.0.0\nFP1-F7,1.0,2.0,eyem,1.0\n")
    with pytest.raises(AnnotationError, match="no column line"):
        read_tuh_csv(path)
    path = write_text(tmp_path / "y.csv", nedc_csv("y", ["FP1-F7,1.0,two,eyem,1.0"]))
    with pytest.raises(AnnotationError, match="line 7: times and confidence must be numbers"):
        read_tuh_csv(path)


def test_tuar_build(tuar_raw, tmp_path):
    store = built("tuar", tuar_raw, tmp_path / "store")
    assert list(store.index["n_channels"]) == [21, 21]
    events = store.events()
    assert list(events["recording_id"]) == ["tuar.aaaaaaju_s005_t000"] * 3
    assert list(events["label"]) == ["eyem", "eyem_musc", "musc"]


# --------------------------------------------------------------------------------------- TUEP


@pytest.fixture(scope="module")
def tuep_raw(tmp_path_factory, eeg):
    root = tmp_path_factory.mktemp("tuep")
    write_tuh_edf(root / "00_epilepsy/aaaaaanr/s001_2003/02_tcp_le/aaaaaanr_s001_t000.edf", eeg, suffix="LE", sfreq=256, start_s=30)
    write_tuh_edf(root / "01_no_epilepsy/aaaaabdn/s002_2010/01_tcp_ar/aaaaabdn_s002_t001.edf", eeg, TEN_TWENTY, sfreq=250, start_s=90, extras=False)
    return root


def test_tuep_group_becomes_task(tuep_raw):
    sources = get_adapter("tuep").find(tuep_raw)
    assert summary(sources) == [
        ("tuep.aaaaaanr_s001_t000", "aaaaaanr", "1", "0", "epilepsy", None),
        ("tuep.aaaaabdn_s002_t001", "aaaaabdn", "2", "1", "no_epilepsy", None),
    ]
    assert [s.extra for s in sources] == [
        {"montage": "02_tcp_le", "group": "00_epilepsy"},
        {"montage": "01_tcp_ar", "group": "01_no_epilepsy"},
    ]


def test_tuep_build(tuep_raw, tmp_path):
    store = built("tuep", tuep_raw, tmp_path / "store")
    index = store.index
    assert list(index["task"]) == ["epilepsy", "no_epilepsy"] and list(index["n_channels"]) == [21, 19]


# --------------------------------------------------------------------------------------- TUSL


@pytest.fixture(scope="module")
def tusl_raw(tmp_path_factory, eeg):
    root = tmp_path_factory.mktemp("tusl")
    edf = write_tuh_edf(root / "edf/aaaaaakd/s001_2008/01_tcp_ar/aaaaaakd_s001_t000.edf", eeg, sfreq=256, start_s=15)
    write_text(
        edf.with_suffix(".csv"),
        nedc_csv(
            "aaaaaakd_s001_t000",
            [
                "TERM,0.0000,10.0000,bckg,1.0000",
                "TERM,10.0000,20.0000,slow,1.0000",
                "TERM,20.0000,32.0000,bckg,1.0000",
            ],
        ),
    )
    return root


def test_tusl_find_events_and_build(tusl_raw, tmp_path):
    adapter = get_adapter("tusl")
    [source] = adapter.find(tusl_raw)
    assert summary([source]) == [("tusl.aaaaaakd_s001_t000", "aaaaaakd", "1", "0", None, None)]
    events = adapter.events(source, adapter.read(tusl_raw, source))
    assert list(events["label"]) == ["bckg", "slow", "bckg"] and list(events["duration"]) == [10.0, 10.0, 12.0]
    store = built("tusl", tusl_raw, tmp_path / "store")
    assert list(store.index["n_channels"]) == [21]
    assert list(store.events("tusl.aaaaaakd_s001_t000")["label"]) == ["bckg", "slow", "bckg"]


def test_two_copies_of_a_recording_are_refused(tmp_path, eeg):
    write_tuh_edf(tmp_path / "v1/edf/aaaaaakd/01_tcp_ar/aaaaaakd_s001_t000.edf", eeg, TEN_TWENTY, extras=False)
    write_tuh_edf(tmp_path / "v2/edf/aaaaaakd/01_tcp_ar/aaaaaakd_s001_t000.edf", eeg, TEN_TWENTY, extras=False)
    with pytest.raises(LayoutError, match="'tusl.aaaaaakd_s001_t000' comes from two files"):
        get_adapter("tusl").find(tmp_path)


# -------------------------------------------------------------------------------------- Siena

#: Siena's scalp channels that EEGMMIDB also has (F9/F10 are missing there).
SIENA_EEG = [
    "Fp1",
    "F3",
    "C3",
    "P3",
    "O1",
    "F7",
    "T3",
    "T5",
    "Fc1",
    "Fc5",
    "Cp1",
    "Cp5",
    "Fz",
    "Cz",
    "Pz",
    "Fp2",
    "F4",
    "C4",
    "P4",
    "O2",
    "F8",
    "T4",
    "T6",
    "Fc2",
    "Fc6",
    "Cp2",
    "Cp6",
]
SEIZURE_LIST = """Seizures list: PN00

Seizure n 1
File name: PN00-1.edf
Registration start time: 19.39.33
Registration end time: 20.22.58
Seizure start time: 19.39.50
Seizure end time: 19.40.00

Seizure n 2
File name: PN00-2.edf
Registration start time: 23.59.50
Registration end time: 00.40.10
Start time: 00:00:05
End time: 00:00:15
"""


def write_siena_edf(path: Path, eeg, start_s: float) -> Path:
    sfreq = 512.0
    source = eeg["at"](sfreq)
    first, n = int(start_s * sfreq), int(TUH_DURATION_S * sfreq)
    channels = [(f"EEG {c}", source[canonical_name(c)][first : first + n], sfreq, "uV") for c in SIENA_EEG]
    channels += [
        ("EKG EKG", source["Iz"][first : first + n], sfreq, "uV"),
        ("SPO2", np.full(n, 97.0), sfreq, "%"),
        ("HR", np.full(n, 70.0), sfreq, "bpm"),
        ("1", source["TP8"][first : first + n], sfreq, "uV"),
        ("2", source["TP7"][first : first + n], sfreq, "uV"),
        ("MK", np.zeros(n), sfreq, "uV"),
    ]
    return write_plain_edf(path, channels)


@pytest.fixture(scope="module")
def siena_raw(tmp_path_factory, eeg):
    root = tmp_path_factory.mktemp("siena")
    write_siena_edf(root / "PN00/PN00-1.edf", eeg, 0)
    write_siena_edf(root / "PN00/PN00-2.edf", eeg, 45)
    write_text(root / "PN00/Seizures-list-PN00.txt", SEIZURE_LIST)
    write_siena_edf(root / "PN03/PN03-1.edf", eeg, 90)
    return root


def test_siena_seizure_list_wraps_midnight(siena_raw):
    seizures = read_seizure_list(siena_raw / "PN00/Seizures-list-PN00.txt")
    assert seizures == {"pn001edf": [(17.0, 27.0)], "pn002edf": [(15.0, 25.0)]}


def test_siena_find_read_and_events(siena_raw):
    adapter = get_adapter("siena")
    sources = adapter.find(siena_raw)
    assert summary(sources) == [
        ("siena.PN00-1", "PN00", None, "1", None, None),
        ("siena.PN00-2", "PN00", None, "2", None, None),
        ("siena.PN03-1", "PN03", None, "1", None, None),
    ]
    assert [s.companions for s in sources] == [{"seizures": "PN00/Seizures-list-PN00.txt"}] * 2 + [{}]
    rec = adapter.read(siena_raw, sources[0])
    assert set(rec.extra["adapter_dropped_channels"]) == {"1", "2", "MK"}
    events = adapter.events(sources[1], adapter.read(siena_raw, sources[1]))
    assert events.to_dict("records") == [{"onset": 15.0, "duration": 10.0, "description": "seizure", "label": "seiz"}]


def test_siena_build(siena_raw, tmp_path):
    store = built("siena", siena_raw, tmp_path / "store")
    index = store.index
    assert list(index.index) == ["siena.PN00-1", "siena.PN00-2", "siena.PN03-1"]
    assert (index["n_channels"] == len(SIENA_EEG)).all() and (index["sfreq"] == 64).all()
    rec = store.recording("siena.PN00-1")
    assert set(map(str, rec["ch_name"].values)) == {canonical_name(c) for c in SIENA_EEG}
    events = store.events()
    assert list(zip(events["recording_id"], events["onset"], events["label"])) == [("siena.PN00-1", 17.0, "seiz"), ("siena.PN00-2", 15.0, "seiz")]
