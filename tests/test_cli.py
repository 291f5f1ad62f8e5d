"""The eegcorpus command line: catalog and inspect, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import shared_path
from eegcorpus.cli import app

runner = CliRunner()


def _json(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_catalog_list_json_has_the_22_datasets():
    rows = _json(["catalog", "list", "--json"])
    assert len(rows) == 22
    for row in rows:
        assert {"id", "role", "name", "access", "formats", "hours"} <= set(row)
    assert sum(r["role"] == "pretrain" for r in rows) == 14
    downstream = _json(["catalog", "list", "--role", "downstream", "--json"])
    assert {r["id"] for r in downstream} == {
        "mental_arithmetic", "mumtaz2016", "physionet_p300", "sleep_edfx",
        "seed_v", "bcic_iv_2a", "tuab", "tuev",
    }


def test_catalog_list_table_marks_unverified():
    result = runner.invoke(app, ["catalog", "list"])
    assert result.exit_code == 0
    assert "eegmmidb" in result.stdout and "unverified" in result.stdout


def test_catalog_show_and_unknown_id():
    card = _json(["catalog", "show", "mental_arithmetic", "--json"])
    assert card["id"] == "mental_arithmetic" and card["role"] == "downstream"
    result = runner.invoke(app, ["catalog", "show", "nope"])
    assert result.exit_code == 1
    assert "unknown dataset 'nope'" in result.output and "eegmmidb" in result.output


def test_inspect_json_on_real_file():
    path = shared_path("eegmat", "Subject00_1.edf")
    info = _json(["inspect", str(path), "--json"])
    assert info["format"] == "edf+c" and info["sfreq"] == 500 and info["n_channels"] == 21
    assert info["duration_s"] == pytest.approx(182.0)
    eeg = [c for c in info["channels"] if c["type"] == "eeg" and c["name"] != "EEG A2-A1"]
    assert len(eeg) == 19 and all(c["has_position"] for c in eeg)
    assert {c["canonical"] for c in eeg} >= {"Fp1", "T7", "P8", "Cz"}
    assert {"name", "canonical", "type", "has_position"} <= set(info["channels"][0])
    assert info["n_annotations"] == 1


def test_inspect_bad_file_is_one_line_error():
    path = shared_path("fixtures", "corrupted", "S001R04.edf")
    result = runner.invoke(app, ["inspect", str(path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line]
    assert len(lines) == 1 and str(path) in lines[0] and "does not match the header" in lines[0]


def test_every_command_has_help():
    for args in (["--help"], ["catalog", "--help"], ["catalog", "list", "--help"], ["catalog", "show", "--help"], ["inspect", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage" in result.output


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "eegcorpus"
    result = subprocess.run([exe, "catalog", "list", "--json"], capture_output=True, text=True)
    assert result.returncode == 0 and len(json.loads(result.stdout)) == 22


def test_subjects_take_ranges_and_comma_lists():
    from eegcorpus._validate import expand_subjects

    assert expand_subjects(["1-3", "7,9", "H12", " 10 "]) == ["1", "2", "3", "7", "9", "H12", "10"]
    assert expand_subjects(None) is None and expand_subjects([]) is None
    with pytest.raises(ValueError, match="runs backwards"):
        expand_subjects(["5-2"])
