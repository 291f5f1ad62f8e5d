"""Files in a dataset's own format and folder layout, filled with real EEG, for the adapter
tests and for the tests that build stores from them (tasks, fine-tuning).

The real datasets cannot be shipped, so each writer takes the signal of a real recording in
../shared/data (EEGMMIDB S001, eegmat Subject00, a Neuroscan CNT), resampled to the dataset's
rate and renamed to its channels:

- Sleep-EDF cassette PSGs (:func:`write_sleep_psg`), PhysioNet P300 speller runs
  (:func:`write_p300_file`), Mumtaz2016 resting files (:func:`write_mumtaz_file`): EDF(+).
- BCIC-IV-2a sessions (:func:`write_gdf`, :func:`bcic_events`): GDF 2.10, as MNE reads it.
- SEED-family Neuroscan files (:func:`write_cnt`), built with :data:`SHORT_PROFILE`.
- TUH corpora (:func:`write_tuh_edf`, :func:`write_plain_edf`, :func:`write_text` for the
  companion annotation files); the ``eeg`` fixture of ``conftest.py`` gives their signal.
"""

from __future__ import annotations

import datetime as dt
import shutil
import struct
from functools import cache
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from eegcorpus.pipeline.profiles import Profile
from eegcorpus.readers import read_recording
from helpers.edf import EdfChannel, write_edf
from helpers.shared_data import shared_path

# ------------------------------------------------------------------ EEGMMIDB S001 as a source


@cache
def eegmmidb_run(run: int):
    """The real EEGMMIDB S001 run ``run`` (read once per test session)."""
    return read_recording(shared_path("eegmmidb", "S001", f"S001R{run:02d}.edf"))


def mmidb_channels(names, runs=(3,), up=1, down=1, seconds=None) -> np.ndarray:
    """EEGMMIDB S001 channels (canonical names, or 'A-B' differences), runs joined, resampled."""
    rows = []
    for name in names:
        parts = []
        for run in runs:
            rec = eegmmidb_run(run)
            canon = rec.canonical_names
            if "-" in name:
                a, b = name.split("-")
                parts.append(rec.data[canon.index(a)].astype(np.float64) - rec.data[canon.index(b)])
            else:
                parts.append(rec.data[canon.index(name)].astype(np.float64))
        rows.append(np.concatenate(parts))
    data = np.vstack(rows)
    if (up, down) != (1, 1):
        data = resample_poly(data, up, down, axis=1)
    if seconds is not None:
        n = int(round(seconds * 160 * up / down))
        assert data.shape[1] >= n
        data = data[:, :n]
    return data


def _edf_channels(names, signals, rates, units=None) -> list[EdfChannel]:
    """Channels whose physical range each comes from its own data."""
    return [EdfChannel(name, sig, rate, (units or {}).get(name, "uV")) for name, sig, rate in zip(names, signals, rates)]


# ------------------------------------------------------------------ sleep_edfx

HYPNOGRAM_START = dt.datetime(1989, 4, 24, 16, 13, 0)  # header of SC4001EC-Hypnogram.edf


def write_sleep_psg(path, start_offset_s, seconds, runs):
    """A Sleep-EDF cassette PSG (plain EDF) starting ``start_offset_s`` after the SC4001
    hypnogram: two EEG derivations and an EOG at 100 Hz, a rectal temperature at 1 Hz."""
    eeg = mmidb_channels(["Fpz-Cz", "Pz-Oz", "F7-F8"], runs=runs, up=5, down=8, seconds=seconds)
    temp = 36.6 + 0.2 * np.linspace(0.0, 1.0, seconds)  # 1 Hz channel: kept apart by the reader
    channels = _edf_channels(
        ["EEG Fpz-Cz", "EEG Pz-Oz", "EOG horizontal", "Temp rectal"],
        [eeg[0], eeg[1], eeg[2], temp],
        [100, 100, 100, 1],
        units={"Temp rectal": "DegC"},
    )
    # The cassette PSGs are plain EDF.
    write_edf(path, channels, file_type="edf", start=HYPNOGRAM_START + dt.timedelta(seconds=start_offset_s))


# ------------------------------------------------------------------ bcic_iv_2a

#: GDF channel names as MNE reads the competition files, with the electrode each one is.
BCIC_GDF_CHANNELS = [
    ("EEG-Fz", "Fz"), ("EEG-0", "FC3"), ("EEG-1", "FC1"), ("EEG-2", "FCz"), ("EEG-3", "FC2"),
    ("EEG-4", "FC4"), ("EEG-5", "C5"), ("EEG-C3", "C3"), ("EEG-6", "C1"), ("EEG-Cz", "Cz"),
    ("EEG-7", "C2"), ("EEG-C4", "C4"), ("EEG-8", "C6"), ("EEG-9", "CP3"), ("EEG-10", "CP1"),
    ("EEG-11", "CPz"), ("EEG-12", "CP2"), ("EEG-13", "CP4"), ("EEG-14", "P1"), ("EEG-Pz", "Pz"),
    ("EEG-15", "P2"), ("EEG-16", "POz"),
    ("EOG-left", "Fp1"), ("EOG-central", "Fpz"), ("EOG-right", "Fp2"),  # frontal stand-ins for EOG
]  # fmt: skip


def write_gdf(path, data_uv, sfreq, ch_names, events):
    """Write a GDF 2.10 file: int16 samples in 1-s records, µV, event table mode 3.

    Parameters
    ----------
    data_uv : ndarray (n_channels, n_times)
        Signals; only whole seconds are written.
    events : list of (onset_s, code, duration_s)

    Returns
    -------
    ndarray
        The signals as stored (after int16 quantisation), for comparison.
    """
    data_uv = np.asarray(data_uv, dtype=np.float64)
    ns = data_uv.shape[0]
    spr = int(sfreq)
    n_rec = data_uv.shape[1] // spr
    data_uv = data_uv[:, : n_rec * spr]
    peak = np.abs(data_uv).max(axis=1) * 1.01 + 1e-3
    digital = np.round(data_uv / peak[:, None] * 32767).astype("<i2")
    fixed = bytearray(256)
    fixed[0:8] = b"GDF 2.10"
    fixed[8:11] = b"X X"  # patient id
    struct.pack_into("<H", fixed, 184, 1 + ns)  # header length in 256-byte blocks
    struct.pack_into("<q", fixed, 236, n_rec)
    struct.pack_into("<II", fixed, 244, 1, 1)  # record duration 1/1 s
    struct.pack_into("<H", fixed, 252, ns)
    var = bytearray()
    var += b"".join(name.encode("ascii").ljust(16, b"\0") for name in ch_names)
    var += bytes(80 * ns)  # transducer
    var += b"".join(b"uV".ljust(6, b"\0") for _ in range(ns))
    var += struct.pack(f"<{ns}H", *[4275] * ns)  # unit code: µV
    var += struct.pack(f"<{ns}d", *(-peak)) + struct.pack(f"<{ns}d", *peak)
    var += struct.pack(f"<{ns}d", *[-32767.0] * ns) + struct.pack(f"<{ns}d", *[32767.0] * ns)
    var += bytes(68 * ns)  # prefiltering text
    var += struct.pack(f"<{3 * ns}f", *[0.0] * (3 * ns))  # low-pass, high-pass, notch
    var += struct.pack(f"<{ns}i", *[spr] * ns)  # samples per record
    var += struct.pack(f"<{ns}i", *[3] * ns)  # data type: int16
    var += bytes(12 * ns + ns + 19 * ns)  # positions, impedance, reserved
    assert len(var) == 256 * ns
    records = digital.reshape(ns, n_rec, spr).transpose(1, 0, 2).tobytes()
    pos = np.array([round(o * sfreq) + 1 for o, _, _ in events], dtype="<u4")  # 1-based
    typ = np.array([c for _, c, _ in events], dtype="<u2")
    dur = np.array([round(d * sfreq) for _, _, d in events], dtype="<u4")
    table = bytes([3]) + len(events).to_bytes(3, "little") + struct.pack("<f", sfreq)
    table += pos.tobytes() + typ.tobytes() + np.zeros(len(events), "<u2").tobytes() + dur.tobytes()
    path.write_bytes(bytes(fixed) + bytes(var) + records + table)
    return digital * (peak[:, None] / 32767)


#: Trial starts (s) in the written BCIC-IV-2a sessions; cue 2 s later, imagery until 6 s.
BCIC_TRIAL_STARTS = [10.0, 18.0, 26.0, 34.0, 42.0, 50.0]


def bcic_events(cues, rejected=()):
    """The GDF event table of a session with one trial per cue code at :data:`BCIC_TRIAL_STARTS`
    (trials whose index is in ``rejected`` are marked 1023, as the competition does)."""
    events = [(0.0, 32766, 0.0), (1.0, 276, 5.0)]
    for i, (t0, code) in enumerate(zip(BCIC_TRIAL_STARTS, cues)):
        events.append((t0, 768, 2.0))
        if i in rejected:
            events.append((t0, 1023, 2.0))
        events.append((t0 + 2.0, code, 1.25))
    return events


# ------------------------------------------------------------------ physionet_p300

SPELLER = ["ABCDEF", "GHIJKL", "MNOPQR", "STUVWX", "YZ1234", "56789_"]
FLASH_GROUPS = SPELLER + ["".join(row[c] for row in SPELLER) for c in range(6)]  # rows, columns


def write_p300_file(path, target, seconds=48):
    """A PhysioNet P300 speller run (EDF+, 2048 Hz) spelling ``target``; returns the
    annotations written, as (onset_s, duration_s, text)."""
    names = ["Fz", "Cz", "Pz", "Oz", "P3", "P4", "PO7", "PO8", "T9", "T10", "Fp1", "Fp2", "F7", "F8"]
    signal = mmidb_channels(names, runs=(3,), up=64, down=5, seconds=seconds)  # 160 -> 2048 Hz
    labels = ["Fz", "Cz", "Pz", "Oz", "P3", "P4", "PO7", "PO8", "EARL", "EARR", "VEOGL", "VEOGR", "HEOGL", "HEOGR"]
    annotations = [(1.0, -1, "#start"), (2.0, -1, f"#Tgt{target}")]
    onset = 5.0
    # Three rounds of all 12 rows and columns (pyedflib stores at most one annotation per
    # 1-s data record).
    for _ in range(3):
        for group in FLASH_GROUPS:
            annotations.append((onset, 0.1, group))
            onset += 0.15
    annotations.append((onset + 1.0, -1, "#end"))
    write_edf(path, _edf_channels(labels, list(signal), [2048] * len(labels)), file_type="edf+", annotations=annotations)
    return annotations


# ------------------------------------------------------------------ mumtaz2016

MUMTAZ_SCALP = ["Fp1", "Fp2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8", "T3", "T4", "T5", "T6", "Fz", "Cz", "Pz"]


def write_mumtaz_file(path, seconds, start_s):
    """A Mumtaz2016 file (plain EDF, 256 Hz): the 19 scalp channels against linked ears, A2-A1
    and an ECG-derived channel, from eegmat Subject00_1 starting at ``start_s``."""
    src = read_recording(shared_path("eegmat", "Subject00_1.edf"))  # 500 Hz
    rows = [src.data[src.ch_names.index(f"EEG {n}")] for n in MUMTAZ_SCALP]
    rows += [src.data[src.ch_names.index("EEG A2-A1")], src.data[src.ch_names.index("ECG ECG")] * 1000.0]
    first = int(start_s * 500)
    data = resample_poly(np.vstack(rows)[:, first : first + seconds * 500].astype(np.float64), 64, 125, axis=1)
    labels = [f"EEG {n}-LE" for n in MUMTAZ_SCALP] + ["EEG A2-A1", "EEG 23A-23R"]
    write_edf(path, _edf_channels(labels, list(data), [256] * len(labels)), file_type="edf")


# ------------------------------------------------------------------ Neuroscan CNT (SEED-GER, SEED-V)

#: The copied CNT is 7.7 s long: too short for the default 0.1 Hz high-pass.
SHORT_PROFILE = Profile(name="test", l_freq=1.0, h_freq=30.0, sfreq=64.0, on_missing_position="drop")

_CNT_LABEL_OFFSET, _CNT_LABEL_STRIDE = 900, 75


def write_cnt(target: Path, labels) -> Path:
    """Copy the real ``scan41_short.cnt`` to ``target`` with its first channels relabelled."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_path("fixtures", "neuroscan_cnt", "scan41_short.cnt"), target)
    with open(target, "r+b") as fh:
        for i, label in enumerate(labels):
            fh.seek(_CNT_LABEL_OFFSET + _CNT_LABEL_STRIDE * i)
            fh.write(label.encode("ascii").ljust(10, b"\x00"))
    return target


# ------------------------------------------------------------------ TUH corpora

#: TUH electrode -> the EEGMMIDB channel (canonical name) whose signal it carries. T1/T2 and
#: A1/A2 have no EEGMMIDB counterpart; nearby electrodes stand in (only the names matter there).
TUH_SOURCE = {
    "FP1": "Fp1",
    "FP2": "Fp2",
    "F3": "F3",
    "F4": "F4",
    "C3": "C3",
    "C4": "C4",
    "P3": "P3",
    "P4": "P4",
    "O1": "O1",
    "O2": "O2",
    "F7": "F7",
    "F8": "F8",
    "T3": "T7",
    "T4": "T8",
    "T5": "P7",
    "T6": "P8",
    "FZ": "Fz",
    "CZ": "Cz",
    "PZ": "Pz",
    "A1": "T9",
    "A2": "T10",
    "T1": "FT7",
    "T2": "FT8",
}
TEN_TWENTY = ["FP1", "FP2", "F3", "F4", "C3", "C4", "P3", "P4", "O1", "O2", "F7", "F8", "T3", "T4", "T5", "T6", "FZ", "CZ", "PZ"]
#: The 23 monopolar channels LaBraM keeps, T1/T2 included.
TUH_23 = TEN_TWENTY + ["A1", "A2", "T1", "T2"]
TUH_DURATION_S = 32  # the 0.1 Hz high-pass needs a few times 11 s of signal


def write_plain_edf(path: Path, channels: list[tuple[str, np.ndarray, float, str]]) -> Path:
    """A plain EDF (no annotation signal, as TUH and Siena files are) of (label, signal, rate,
    unit): +-5000 in the unit over digital +-32767."""
    return write_edf(
        path,
        [EdfChannel(label, sig, rate, unit, physical_range=(-5000.0, 5000.0), digital_range=(-32767, 32767)) for label, sig, rate, unit in channels],
        file_type="edf",
    )


def write_tuh_edf(path: Path, eeg, electrodes=TUH_23, suffix="REF", sfreq=256.0, start_s=0.0, extras=True) -> Path:
    """A TUH-style EDF: ``EEG FP1-REF``... with real signal, plus (``extras``) an EKG, a photic,
    a numbered channel and the 1 Hz IBI/BURSTS channels. ``eeg`` is the ``eeg`` fixture."""
    source = eeg["at"](sfreq)
    first, n = int(start_s * sfreq), int(TUH_DURATION_S * sfreq)
    channels = [(f"EEG {e}-{suffix}", source[TUH_SOURCE[e]][first : first + n], sfreq, "uV") for e in electrodes]
    if extras:
        channels += [
            (f"EEG EKG1-{suffix}", source["Iz"][first : first + n], sfreq, "uV"),
            (f"PHOTIC-{suffix}", np.zeros(n), sfreq, "uV"),
            (f"EEG 26-{suffix}", source["TP7"][first : first + n], sfreq, "uV"),
            ("IBI", np.zeros(TUH_DURATION_S), 1.0, ""),
            ("BURSTS", np.zeros(TUH_DURATION_S), 1.0, ""),
        ]
    return write_plain_edf(path, channels)


def write_text(path: Path, text: str) -> Path:
    """A text file (an annotation companion, or a stand-in), its folders created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
