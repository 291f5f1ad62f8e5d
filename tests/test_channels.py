"""Channel names, 3D positions and lobes."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.shared_data import shared_path

from eegcorpus.channels import (
    LOBES,
    canonical_name,
    channel_position,
    channel_positions,
    electrode_table,
    lobe_of,
    split_bipolar,
)
from eegcorpus.channels.types import guess_channel_type
from eegcorpus.errors import ChannelError
from eegcorpus.readers import read_recording

# NeurIPT's 20-channel double banana and its functional groups (paper code, 20-ch order).
DOUBLE_BANANA = [
    "FP1-F7",
    "F7-T3",
    "T3-T5",
    "T5-O1",
    "FP2-F8",
    "F8-T4",
    "T4-T6",
    "T6-O2",
    "T3-C3",
    "C3-CZ",
    "CZ-C4",
    "C4-T4",
    "FP1-F3",
    "F3-C3",
    "C3-P3",
    "P3-O1",
    "FP2-F4",
    "F4-C4",
    "C4-P4",
    "P4-O2",
]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Fc5.", "FC5"),
        ("Cz..", "Cz"),
        ("Afz.", "AFz"),
        ("Fp1.", "Fp1"),
        ("EEG Fp1", "Fp1"),
        ("EEG FP1-REF", "Fp1"),
        ("EEG FP1-LE", "Fp1"),
        ("EEG Fp1-Ref", "Fp1"),
        ("FCZ", "FCz"),
        ("EEG T3-REF", "T7"),
        ("T4", "T8"),
        ("T5", "P7"),
        ("T6", "P8"),
        ("CB1", "POO7"),
        ("CB2", "POO8"),
        ("EEG FP1-F7", "Fp1-F7"),
        ("T5-O1", "P7-O1"),
        ("ECG ECG", "ECG ECG"),
        ("POL T1", "T1"),
    ],
)
def test_canonical_names(raw, canonical):
    assert canonical_name(raw) == canonical


def test_split_bipolar_only_for_known_electrodes():
    assert split_bipolar("EEG FP1-F7") == ("Fp1", "F7")
    assert split_bipolar("ECG-1") is None
    assert split_bipolar("Fp1") is None


def test_position_table_matches_mne_head_frame():
    from eegcorpus.channels._make_position_table import head_frame_positions

    mne_positions = head_frame_positions()
    table = electrode_table()
    assert set(table) == set(mne_positions)
    for name, xyz in mne_positions.items():
        np.testing.assert_allclose(table[name], xyz, atol=1e-7)
    # Head frame: +x right, +y towards the nasion, +z up.
    assert table["T8"][0] > 0 > table["T7"][0]
    assert table["Fpz"][1] > 0 > table["Oz"][1]
    assert table["Cz"][2] > table["T7"][2]


def test_bipolar_position_is_midpoint():
    table = electrode_table()
    np.testing.assert_allclose(channel_position("FP1-F7"), (table["Fp1"] + table["F7"]) / 2)
    np.testing.assert_allclose(channel_position("EEG T3-REF"), table["T7"])


def test_unknown_position_policy():
    names = ["Fp1", "POL E", "Cz"]
    with pytest.raises(ChannelError, match="POL E"):
        channel_positions(names)
    with pytest.warns(UserWarning, match="no known position"):
        pos, ok = channel_positions(names, on_missing="warn")
    assert list(ok) == [True, False, True] and np.isnan(pos[1]).all()
    pos, ok = channel_positions(names, on_missing="nan")
    assert not np.isnan(pos[[0, 2]]).any()
    with pytest.raises(ValueError, match=r"Allowed values are 'raise', 'warn', 'nan', but got 'drop'"):
        channel_positions(names, on_missing="drop")


def test_every_1005_electrode_except_fiducial_free_sites_has_a_lobe():
    lobes = {name: lobe_of(name) for name in electrode_table()}
    assert set(lobes.values()) <= set(LOBES)
    assert [name for name, lobe in lobes.items() if lobe is None] == []


@pytest.mark.parametrize(
    ("name", "lobe"),
    [
        ("Fp1", "frontal"),
        ("Fz", "frontal"),
        ("FC3", "central"),
        ("Cz", "central"),
        ("CP4", "parietal"),
        ("Pz", "parietal"),
        ("O2", "occipital"),
        ("Iz", "occipital"),
        ("T7", "temporal-left"),
        ("T8", "temporal-right"),
        ("P7", "temporal-left"),
        ("TP10", "temporal-right"),
        ("F9", "temporal-left"),
        ("A1", "temporal-left"),
        ("FTT8h", "temporal-right"),
    ],
)
def test_lobe_rule(name, lobe):
    assert lobe_of(name) == lobe


def test_lobes_are_mirror_symmetric():
    """Left and right electrodes at mirrored positions get mirrored lobes."""
    table = electrode_table()
    swap = {"temporal-left": "temporal-right", "temporal-right": "temporal-left"}
    for name, xyz in table.items():
        if xyz[0] < -0.01:
            mirror = min(table, key=lambda n: np.linalg.norm(table[n] - xyz * [-1, 1, 1]))
            lobe = lobe_of(name)
            assert lobe_of(mirror) == swap.get(lobe, lobe), (name, mirror)


def test_double_banana_lobes_reproduce_neuript_groups():
    lobes = [lobe_of(ch) for ch in DOUBLE_BANANA]
    # NeurIPT's functional groups: frontal [0,4,12,16], occipital [3,7,15,19],
    # temporal-L [1,2,(8)], temporal-R [5,6,(11)], central/parietal the rest.
    assert [i for i, l in enumerate(lobes) if l == "frontal"] == [0, 4, 12, 16]
    assert [i for i, l in enumerate(lobes) if l == "occipital"] == [3, 7, 15, 19]
    assert [i for i, l in enumerate(lobes) if l == "temporal-left"] == [1, 2]
    assert [i for i, l in enumerate(lobes) if l == "temporal-right"] == [5, 6]
    assert {lobes[i] for i in (8, 9, 10, 11, 13, 14, 17, 18)} == {"central", "parietal"}


def test_reference_derivation_between_ears_has_no_lobe():
    assert lobe_of("EEG A2-A1") is None


@pytest.mark.parametrize(
    ("name", "unit", "kind"),
    [
        ("EEG Fp1", "uV", "eeg"),
        ("Fc5.", "uV", "eeg"),
        ("ECG ECG", "mV", "ecg"),
        ("EEG EKG1-REF", "uV", "ecg"),
        ("EEG LOC-REF", "uV", "eog"),
        ("EOG horizontal", "uV", "eog"),
        ("EMG submental", "uV", "emg"),
        ("Resp oro-nasal", "", "resp"),
        ("Temp rectal", "DegC", "misc"),
        ("Event marker", "", "stim"),
        ("Status", "Boolean", "stim"),
        ("IBI", "", "misc"),
        ("PHOTIC-REF", "uV", "misc"),
        ("acc1", "G", "misc"),
        ("STI 014", None, "stim"),
    ],
)
def test_channel_types(name, unit, kind):
    assert guess_channel_type(name, unit) == kind


def test_all_eegmmidb_channels_get_positions_and_lobes():
    rec = read_recording(shared_path("eegmmidb", "S001", "S001R03.edf"))
    pos, ok = channel_positions(rec.ch_names)
    assert ok.all() and pos.shape == (64, 3)
    assert len(set(map(tuple, pos))) == 64
    assert all(lobe_of(n) in LOBES for n in rec.ch_names)


@pytest.mark.parametrize("subject", range(12))
def test_all_mental_arithmetic_eeg_channels_get_positions(subject):
    rec = read_recording(shared_path("eegmat", f"Subject{subject:02d}_1.edf"))
    eeg = [n for n, t in zip(rec.ch_names, rec.ch_types) if t == "eeg" and n != "EEG A2-A1"]
    assert len(eeg) == 19
    _, ok = channel_positions(eeg)
    assert ok.all()
