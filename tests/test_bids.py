"""BIDS in and out, on a BIDS dataset written with mne-bids from real recordings
(EEGMMIDB S001 runs 3-4 as EDF, MentalArithmetic Subject00 as BrainVision and Subject01 as
EEGLAB; ``helpers/bids.py``), compared with the catalog builds of the same files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.bids import BDF_CHANNEL_TYPES, write_bids_dataset
from helpers.shared_data import shared_path
from typer.testing import CliRunner

pytest.importorskip("mne_bids", reason="BIDS in and out need the bids extra (mne-bids)")

NAME = "real_recordings_in_bids"
#: BIDS recording -> (catalog dataset, catalog recording id)
SAME_FILE = {
    f"{NAME}.sub-001_task-motorexecution_run-3": ("eegmmidb", "eegmmidb.S001R03"),
    f"{NAME}.sub-001_task-motorimagery_run-4": ("eegmmidb", "eegmmidb.S001R04"),
    f"{NAME}.sub-ma00_task-rest": ("mental_arithmetic", "mental_arithmetic.Subject00_1"),
    f"{NAME}.sub-ma00_task-arithmetic": ("mental_arithmetic", "mental_arithmetic.Subject00_2"),
    f"{NAME}.sub-ma01_task-rest": ("mental_arithmetic", "mental_arithmetic.Subject01_1"),
}
#: The BDF recording, which no catalog dataset holds.
BDF_RECORDING = f"{NAME}.sub-psg01_task-sleep"


@pytest.fixture(scope="module")
def bids_root(tmp_path_factory) -> Path:
    return write_bids_dataset(tmp_path_factory.mktemp("bids") / "ds", with_positions=True)


@pytest.fixture(scope="module")
def bids_store(bids_root, tmp_path_factory) -> Path:
    from eegcorpus.bids import build_bids

    out = tmp_path_factory.mktemp("stores") / "bids"
    result = build_bids(bids_root, out, progress=False)
    assert result.n_failed == 0, result.failed
    return out


@pytest.fixture(scope="module")
def catalog_stores(eegmmidb_store, tmp_path_factory) -> dict[str, Path]:
    from eegcorpus.build import build

    out = tmp_path_factory.mktemp("stores") / "mental_arithmetic"
    result = build("mental_arithmetic", shared_path("eegmat"), out, subjects=[1, 2], progress=False)
    assert result.n_failed == 0, result.failed
    return {"eegmmidb": eegmmidb_store, "mental_arithmetic": out}


def _copy(root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ds"
    shutil.copytree(root, copy)
    return copy


def test_bids_build_stores_the_signals_of_the_catalog_build(bids_store, catalog_stores):
    """Same files through BIDS (EDF copied; BrainVision and EEGLAB converted, float32) and
    through the catalog: the same channels, positions and lobes, and samples that differ by at
    most one storage step. Each store rounds float32 microvolts to a multiple of its step
    (0.1 uV here); the converted files hold float32 values that are not bit-identical to the
    EDF's, so a sample sitting on a rounding boundary can land one step apart, never more."""
    from eegcorpus.store import open_store

    bids = open_store(bids_store)
    assert sorted(bids.index.index) == sorted([*SAME_FILE, BDF_RECORDING])
    for rid, (dataset, catalog_id) in SAME_FILE.items():
        catalog = open_store(catalog_stores[dataset])
        ours, theirs = bids.recording(rid), catalog.recording(catalog_id)
        step = bids.attrs(rid)["quantum_uv"]
        assert step == catalog.attrs(catalog_id)["quantum_uv"]
        assert list(ours["ch_name"].values) == list(theirs["ch_name"].values), rid
        for coord in ("x", "y", "z", "lobe"):
            np.testing.assert_array_equal(ours[coord].values, theirs[coord].values)
        assert ours.shape == theirs.shape
        assert np.abs(ours.values - theirs.values).max() <= step * 1.0001, rid
        assert np.mean(ours.values != theirs.values) < 0.01, rid  # one step apart only on boundaries


def test_a_bids_bdf_recording_is_its_file_through_the_pipeline(bids_store):
    """The BDF file, copied into BIDS with its non-EEG channels typed in channels.tsv: the store
    holds its 12 EEG channels, the file read by our BDF reader and put through the same profile
    (within one storage step), and its annotation channels' events."""
    from eegcorpus.pipeline.process import process_recording
    from eegcorpus.pipeline.profiles import load_profile
    from eegcorpus.readers import read_recording
    from eegcorpus.store import open_store

    store = open_store(bids_store)
    stored = store.recording(BDF_RECORDING)
    rec = read_recording(shared_path("fixtures", "bdf", "multiple_annotation_chans.bdf"))
    non_eeg = list(BDF_CHANNEL_TYPES)
    expected = process_recording(rec, load_profile("neuript"), line_freq=50.0, drop_channels=non_eeg)
    assert list(stored["ch_name_orig"].values) == expected.ch_names == ["A1", "A2", "C3", "C4", "F3", "Fz", "F4", "P3", "Pz", "P4", "O1", "O2"]
    # Rounding to the storage step moves a sample by at most half a step. The BIDS build reads
    # the file with MNE, this test with our BDF reader; they agree to 1e-3 uV, and the float32
    # filter chain on channels of up to 3 mV turns that into a few 1e-3 uV: 0.01 uV allowed.
    step = store.attrs(BDF_RECORDING)["quantum_uv"]
    assert np.abs(stored.values - expected.data).max() <= step / 2 + 0.01
    assert store.index.loc[BDF_RECORDING, "source_format"] == "bids-bdf"
    dropped = store.attrs(BDF_RECORDING)["provenance"]["dropped_channels"]
    assert {name: dropped[name] for name in ("EMG", "Trigger", "acc1")} == {"EMG": "type emg", "Trigger": "type stim", "acc1": "type misc"}
    events = store.events(BDF_RECORDING)
    assert events["description"].tolist() == rec.annotations["description"].tolist()
    np.testing.assert_allclose(events["onset"], rec.annotations["onset"], atol=1e-6)


def test_bids_events_are_the_files_events(bids_store, catalog_stores):
    """events.tsv (written by mne-bids from the EDF annotations) arrives as the store's events:
    those of the catalog build for EEGMMIDB, the file's own annotations for MentalArithmetic
    (whose catalog card replaces them by one label per file)."""
    import mne

    from eegcorpus.store import open_store

    bids = open_store(bids_store)
    catalog = open_store(catalog_stores["eegmmidb"])
    for rid in (f"{NAME}.sub-001_task-motorexecution_run-3", f"{NAME}.sub-001_task-motorimagery_run-4"):
        ours, theirs = bids.events(rid), catalog.events(SAME_FILE[rid][1])
        assert len(ours) == 30
        for column in ("onset", "duration", "description"):
            assert ours[column].tolist() == theirs[column].tolist()
    annotations = mne.io.read_raw_edf(shared_path("eegmat", "Subject00_1.edf"), verbose="error").annotations
    ours = bids.events(f"{NAME}.sub-ma00_task-rest")
    assert ours["description"].tolist() == list(annotations.description)
    np.testing.assert_allclose(ours["onset"], annotations.onset)


def test_bids_entities_participants_and_description_reach_the_store(bids_store, bids_root):
    from eegcorpus.store import open_store

    store = open_store(bids_store)
    index = store.index
    row = index.loc[f"{NAME}.sub-001_task-motorimagery_run-4"]
    assert (row["dataset"], row["subject"], row["task"], row["run"], row["source_format"]) == (NAME, "001", "motorimagery", "4", "bids-edf")
    formats = index.groupby("subject")["source_format"].apply(set).to_dict()
    assert formats == {"001": {"bids-edf"}, "ma00": {"bids-brainvision"}, "ma01": {"bids-eeglab"}, "psg01": {"bids-bdf"}}
    table = pd.read_csv(bids_root / "participants.tsv", sep="\t", dtype=str, keep_default_na=False).set_index("participant_id")
    for rid, subject in index["subject"].items():
        expected = table.loc[f"sub-{subject}"]
        sex, age = index.loc[rid, "participant_sex"], index.loc[rid, "participant_age"]
        assert pd.isna(sex) if expected["sex"] == "n/a" else sex == expected["sex"]
        assert pd.isna(age) if expected["age"] == "n/a" else age == int(expected["age"])
    assert set(index.loc[index["subject"] != "001", "participant_sex"]) == {"F", "M"}
    description = json.loads((bids_root / "dataset_description.json").read_text())
    stored = store.attrs(f"{NAME}.sub-ma00_task-rest")["source_dataset"]
    assert stored["name"] == description["Name"] == "Real recordings in BIDS"
    assert stored["license"] == description["License"]
    assert stored["doi"] == description["DatasetDOI"]
    assert stored["authors"] == description["Authors"]


def test_rebuilding_a_bids_store_skips_what_is_up_to_date(bids_root, tmp_path):
    from eegcorpus.bids import build_bids

    first = build_bids(bids_root, tmp_path / "store", subjects=["ma00"], progress=False)
    assert sorted(first.written) == [f"{NAME}.sub-ma00_task-arithmetic", f"{NAME}.sub-ma00_task-rest"]
    again = build_bids(bids_root, tmp_path / "store", subjects=["ma00"], progress=False)
    assert (again.written, len(again.skipped)) == ([], 2)
    # A changed policy is a changed recipe: everything is made again.
    keep = build_bids(bids_root, tmp_path / "store", subjects=["ma00"], bad_channels="keep", progress=False)
    assert len(keep.written) == 2


def _edit_tsv(path: Path, edit) -> None:
    """Rewrite a BIDS table with ``edit(table)``, which returns the edited table."""
    table = edit(pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False))
    table.to_csv(path, sep="\t", index=False)


def test_bad_channels_are_dropped_by_default_or_kept_and_listed(bids_root, tmp_path):
    from eegcorpus.bids import build_bids
    from eegcorpus.store import open_store

    root = _copy(bids_root, tmp_path)
    channels = root / "sub-001" / "eeg" / "sub-001_task-motorexecution_run-3_channels.tsv"

    def mark(table):
        table.loc[table["name"] == "Fc5.", ["status", "status_description"]] = ["bad", "bridged with Fc3"]
        return table

    _edit_tsv(channels, mark)
    rid = f"{NAME}.sub-001_task-motorexecution_run-3"
    build_bids(root, tmp_path / "drop", subjects=["1"], progress=False)
    dropped = open_store(tmp_path / "drop")
    assert "Fc5." not in dropped.recording(rid)["ch_name_orig"].values
    assert dropped.recording(rid).shape[0] == 63
    assert dropped.attrs(rid)["provenance"]["dropped_channels"]["Fc5."] == "marked bad by the source: status=bad in channels.tsv (bridged with Fc3)"
    # The other run's channels.tsv marks nothing: it keeps all 64.
    assert dropped.recording(f"{NAME}.sub-001_task-motorimagery_run-4").shape[0] == 64

    build_bids(root, tmp_path / "keep", subjects=["1"], bad_channels="keep", progress=False)
    kept = open_store(tmp_path / "keep")
    assert "Fc5." in kept.recording(rid)["ch_name_orig"].values
    assert kept.attrs(rid)["provenance"]["bad_channels"] == {"Fc5.": "status=bad in channels.tsv (bridged with Fc3)"}


def test_electrode_positions_template_by_default_file_on_request(bids_root, tmp_path):
    """electrodes.tsv with Fp1 and O1 swapped: by default the template's positions stay (the
    names are the identity) and the disagreement is recorded; with positions="file" the file's
    positions are stored."""
    from eegcorpus.bids import build_bids
    from eegcorpus.channels import channel_position
    from eegcorpus.store import open_store

    root = _copy(bids_root, tmp_path)
    electrodes = root / "sub-ma00" / "eeg" / "sub-ma00_space-CapTrak_electrodes.tsv"
    table = pd.read_csv(electrodes, sep="\t", dtype=str, keep_default_na=False)
    stated = {row["name"]: np.array([float(row[c]) for c in "xyz"]) for _, row in table.iterrows() if row["x"] != "n/a"}

    def swap(table):
        fp1, o1 = table.index[table["name"] == "Fp1"][0], table.index[table["name"] == "O1"][0]
        table.loc[[fp1, o1], ["x", "y", "z"]] = table.loc[[o1, fp1], ["x", "y", "z"]].to_numpy()
        return table

    _edit_tsv(electrodes, swap)
    rid = f"{NAME}.sub-ma00_task-rest"
    build_bids(root, tmp_path / "template", subjects=["ma00"], progress=False)
    store = open_store(tmp_path / "template")
    signal = store.recording(rid)
    fp1 = list(signal["ch_name"].values).index("Fp1")
    np.testing.assert_allclose([signal[c].values[fp1] for c in "xyz"], channel_position("Fp1"), atol=1e-6)
    disagreements = store.attrs(rid)["provenance"]["position_disagreements_mm"]
    assert set(disagreements) == {"Fp1", "O1"}
    assert disagreements["Fp1"] == pytest.approx(np.linalg.norm(stated["Fp1"] - stated["O1"]) * 1000, abs=0.2)

    build_bids(root, tmp_path / "file", subjects=["ma00"], positions="file", progress=False)
    store = open_store(tmp_path / "file")
    signal = store.recording(rid)
    # CapTrak is defined by the same fiducials as MNE's head frame: the stated values are stored.
    np.testing.assert_allclose([signal[c].values[fp1] for c in "xyz"], stated["O1"], atol=1e-6)
    assert "Fp1" in store.attrs(rid)["provenance"]["positions_from_source"]
    assert signal["lobe"].values[fp1] == "frontal"  # the lobe follows the name, not the file


def test_broken_bids_fails_per_file_and_the_build_goes_on(bids_root, tmp_path):
    from eegcorpus.bids import build_bids
    from eegcorpus.store import open_store

    root = _copy(bids_root, tmp_path)
    (root / "sub-ma01" / "eeg" / "sub-ma01_task-rest_eeg.json").unlink()
    channels = root / "sub-001" / "eeg" / "sub-001_task-motorimagery_run-4_channels.tsv"
    _edit_tsv(channels, lambda table: table.drop(index=table.index[5]))
    participants = root / "participants.tsv"
    good_participants = participants.read_text()
    participants.write_text(good_participants + "sub-999\t30\tM\textra\tfields\tn/a\tn/a\n")

    result = build_bids(root, tmp_path / "store", progress=False)
    by_file = {failure["file"]: failure for failure in result.failed}
    assert set(by_file) == {"participants.tsv", "sub-ma01/eeg/sub-ma01_task-rest_eeg.set", "sub-001/eeg/sub-001_task-motorimagery_run-4_eeg.edf"}
    for failure in result.failed:
        assert "\n" not in failure["error"]
    bad_line = len(good_participants.splitlines()) + 1
    assert by_file["participants.tsv"]["error"] == f"{participants}: line {bad_line} has 7 fields, the header 6"
    assert "sub-ma01_task-rest_eeg.json: missing sidecar" in by_file["sub-ma01/eeg/sub-ma01_task-rest_eeg.set"]["error"]
    mismatch = by_file["sub-001/eeg/sub-001_task-motorimagery_run-4_eeg.edf"]["error"]
    assert f"{channels}: does not match sub-001_task-motorimagery_run-4_eeg.edf: 63 channels listed, 64 in the file" in mismatch
    store = open_store(tmp_path / "store")
    assert sorted(store.index.index) == sorted(
        [f"{NAME}.sub-001_task-motorexecution_run-3", f"{NAME}.sub-ma00_task-arithmetic", f"{NAME}.sub-ma00_task-rest", BDF_RECORDING]
    )
    assert store.index["participant"].isna().all()  # no participant rows from a malformed table
    assert sorted(store.failures["file"]) == sorted(by_file)

    # Fixed files: the failures go, the recordings that were fine are not made again.
    participants.write_text(good_participants)
    again = build_bids(root, tmp_path / "store", progress=False)
    assert "participants.tsv" not in set(open_store(tmp_path / "store").failures["file"])
    assert again.n_failed == 2
    assert open_store(tmp_path / "store").index.loc[f"{NAME}.sub-ma00_task-rest", "participant_sex"] == "F"


def test_build_command_takes_a_bids_root(bids_root, tmp_path):
    from eegcorpus.cli import app

    runner = CliRunner()
    store = tmp_path / "store"
    result = runner.invoke(app, ["build", "--bids", str(bids_root), "--out", str(store), "--subjects", "ma01", "--name", "lab", "--no-progress", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["written"], summary["failed"]) == (1, 0)
    assert (store / "recordings" / "lab.sub-ma01_task-rest").is_dir()

    both = runner.invoke(app, ["build", "eegmmidb", "--bids", str(bids_root), "--out", str(store)])
    assert both.exit_code == 1
    assert "--bids builds a BIDS dataset" in both.stderr
    clash = runner.invoke(app, ["build", "--bids", str(bids_root), "--out", str(store), "--name", "eegmmidb"])
    assert clash.exit_code == 1
    assert "catalog dataset's id" in clash.stderr


def test_export_writes_bids_that_builds_back_to_the_same_store(bids_store, tmp_path):
    """Export (BrainVision, float32) then build again with the passthrough profile: the same
    samples (the stored steps are exact in float32), channels, positions, lobes, measurement
    dates, entities and participants; events at the same onsets to within half a sample
    (BrainVision markers sit on samples)."""
    from bids_validator import BIDSValidator

    from eegcorpus.bids import build_bids
    from eegcorpus.bids.export import export_bids
    from eegcorpus.store import open_store

    out = tmp_path / "exported"
    result = export_bids(bids_store, out)
    assert set(result.written) == {*SAME_FILE, BDF_RECORDING}
    validator = BIDSValidator()
    files = ["/" + p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
    assert [f for f in files if not validator.is_bids(f)] == []
    assert any(f.endswith("_electrodes.tsv") for f in files) and any(f.endswith("_coordsystem.json") for f in files)
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert description["SourceDatasets"] == [{"DOI": "doi:10.13026/C28G6P"}]

    build = build_bids(out, tmp_path / "again", name="again", profile="passthrough", progress=False)
    assert build.n_failed == 0, build.failed
    before, after = open_store(bids_store), open_store(tmp_path / "again")
    scans = pd.concat([pd.read_csv(p, sep="\t", dtype=str) for p in out.glob("sub-*/*_scans.tsv")])
    assert sorted(scans["eegcorpus_recording_id"]) == sorted([*SAME_FILE, BDF_RECORDING])
    for rid in [*SAME_FILE, BDF_RECORDING]:
        again = "again." + rid.split(".", 1)[1]
        ours, theirs = before.recording(rid), after.recording(again)
        assert ours.attrs["sfreq"] == theirs.attrs["sfreq"]
        np.testing.assert_array_equal(ours.values, theirs.values)
        for coord in ("ch_name", "lobe"):
            assert list(ours[coord].values) == list(theirs[coord].values)
        for coord in "xyz":
            np.testing.assert_allclose(ours[coord].values, theirs[coord].values, atol=1e-7)
        a, b = before.attrs(rid), after.attrs(again)
        assert a["meas_date"] == b["meas_date"]
        assert [a[k] for k in ("subject", "session", "task", "run")] == [b[k] for k in ("subject", "session", "task", "run")]
        assert a["participant"] == b["participant"]
        e1, e2 = before.events(rid), after.events(again)
        assert e1["description"].tolist() == e2["description"].tolist()
        np.testing.assert_allclose(e1["onset"], e2["onset"], atol=0.5 / a["sfreq"])
        np.testing.assert_allclose(e1["duration"], e2["duration"], atol=1 / a["sfreq"])


def test_export_command(bids_store, tmp_path):
    from eegcorpus.cli import app

    runner = CliRunner()
    rid = f"{NAME}.sub-ma01_task-rest"
    result = runner.invoke(app, ["export", str(bids_store), "--bids", str(tmp_path / "out"), "--recording", rid, "--format", "EDF"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "sub-ma01" / "eeg" / "sub-ma01_task-rest_eeg.edf").is_file()
    again = runner.invoke(app, ["export", str(bids_store), "--bids", str(tmp_path / "out")])
    assert again.exit_code == 1
    assert "exists and is not empty" in again.stderr
    wrong = runner.invoke(app, ["export", str(bids_store), "--bids", str(tmp_path / "new"), "--format", "FIF"])
    assert wrong.exit_code == 1
    assert "Allowed values are 'BrainVision', 'EDF', 'EEGLAB'" in wrong.stderr
