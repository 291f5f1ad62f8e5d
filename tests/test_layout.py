"""Layout patterns: parsing, and that no pattern or symlink reaches outside the raw folder."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

import pytest

from eegcorpus.datasets import LayoutError, get_adapter, safe_glob
from eegcorpus.datasets.base import pattern_to_regex


@pytest.mark.parametrize(
    ("pattern", "path", "fields"),
    [
        ("S{subject:03d}/S{subject:03d}R{run:02d}.edf", "eegmmidb/S001/S001R03.edf", {"subject": "001", "run": "03"}),
        ("S{subject:03d}/S{subject:03d}R{run:02d}.edf", "S001/S002R03.edf", None),  # repeated field must repeat
        ("S{subject:03d}/S{subject:03d}R{run:02d}.edf", "S01/S01R03.edf", None),  # digit count fixed
        (
            "edf/**/{subject}_s{session:03d}_t{token:03d}.edf",
            "edf/train/a/01_tcp_ar/aaaaamye_s001_t000.edf",
            {"subject": "aaaaamye", "session": "001", "token": "000"},
        ),
        ("*/subj{subject}_series{series}_data.csv", "train/subj1_series2_data.csv", {"subject": "1", "series": "2"}),
        ("{group} S{subject} {condition}.edf", "MDD S1 EO.edf", {"group": "MDD", "subject": "1", "condition": "EO"}),
    ],
)
def test_pattern_to_regex(pattern, path, fields):
    match = pattern_to_regex(pattern).match(path)
    assert (match.groupdict() if match else None) == fields


@pytest.mark.parametrize("pattern", ["../S{subject}.edf", "/etc/{x}.edf", "a/../../{x}.edf", "C:/data/{x}.edf"])
def test_unsafe_patterns_are_refused(pattern):
    with pytest.raises(LayoutError, match="inside the raw folder"):
        pattern_to_regex(pattern)


def test_symlinks_leaving_the_raw_folder_are_skipped(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "S001R03.edf").write_bytes(b"secret")
    raw = tmp_path / "raw"
    (raw / "S001").mkdir(parents=True)
    (raw / "S001" / "S001R04.edf").write_bytes(b"inside")
    os.symlink(outside / "S001R03.edf", raw / "S001" / "S001R03.edf")
    os.symlink(outside, raw / "S002")  # a folder link out of the raw folder
    found = safe_glob(raw, "S{subject:03d}/S{subject:03d}R{run:02d}.edf")
    assert found == [PurePosixPath("S001/S001R04.edf")]


def test_symlinks_inside_the_raw_folder_are_followed(tmp_path):
    raw = tmp_path / "raw"
    (raw / "store" / "S001").mkdir(parents=True)
    (raw / "store" / "S001" / "S001R03.edf").write_bytes(b"x")
    os.symlink(raw / "store" / "S001", raw / "S001")
    found = safe_glob(raw, "S{subject:03d}/S{subject:03d}R{run:02d}.edf")
    assert PurePosixPath("S001/S001R03.edf") in found


def test_every_catalog_dataset_has_an_adapter():
    from eegcorpus.catalog import load_catalog

    for dataset_id in load_catalog():
        adapter = get_adapter(dataset_id)
        assert adapter.dataset_id == dataset_id
