"""The eegcorpus command line: catalog and inspect, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.edf import EdfChannel, write_edf
from helpers.shared_data import shared_path
from typer.testing import CliRunner

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
        "mental_arithmetic",
        "mumtaz2016",
        "physionet_p300",
        "sleep_edfx",
        "seed_v",
        "bcic_iv_2a",
        "tuab",
        "tuev",
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


@pytest.mark.parametrize(
    "parts",
    [
        ("eegmat", "Subject00_1.edf"),
        ("eegmmidb", "S001", "S001R03.edf"),
        ("fixtures", "eeglab", "test.bdf"),
        ("fixtures", "bdf", "multiple_annotation_chans.bdf"),
        ("fixtures", "nihonkohden", "chtypes_edf.edf"),
        ("fixtures", "mne_derived", "test_edf_overlapping_annotations.edf"),
        ("fixtures", "nihonkohden", "MB0400FU.EDF"),
        ("fixtures", "sleep_edf", "SC4001EC-Hypnogram.edf"),
    ],
)
def test_inspect_from_the_header_describes_a_file_as_its_reader_does(parts, monkeypatch):
    """The header-only description of a continuous EDF/BDF (no samples, no pandas) equals the one
    made from the whole recording (MentalArithmetic Subject00, EEGMMIDB S001 run 3, BDF and BDF+
    files with trigger and accelerometer channels, mixed channel types, overlapping annotations;
    an EDF+D and a hypnogram take the whole-recording route either way)."""
    import eegcorpus.readers.edf as edf
    from eegcorpus.cli import describe_file

    path = shared_path(*parts)
    fast = describe_file(path)
    monkeypatch.setattr(edf, "summarise_edf", lambda path: None)  # the whole-recording route
    assert describe_file(path) == fast
    assert list(describe_file(path)["annotations"]) == list(fast["annotations"])


def test_inspect_from_the_header_keeps_channels_at_other_rates(tmp_path, monkeypatch):
    """Channels at another rate than the EEG (a 1 Hz oximeter, a 200 Hz ECG) are listed as the
    reader lists them."""
    import eegcorpus.readers.edf as edf
    from eegcorpus.cli import describe_file

    rng = np.random.default_rng(0)
    path = write_edf(
        tmp_path / "rates.edf",
        [
            EdfChannel("EEG Fz", rng.normal(size=1000), 100),
            EdfChannel("EEG Cz", rng.normal(size=1000), 100),
            EdfChannel("SpO2", np.full(10, 97.0), 1, unit="%"),
            EdfChannel("ECG", rng.normal(size=2000), 200, unit="mV"),
        ],
        annotations=[(1.0, -1, "start"), (5.0, 2.0, "task")],
    )
    fast = describe_file(path)
    assert [a["name"] for a in fast["aux_channels"]] == ["SpO2", "ECG"]
    monkeypatch.setattr(edf, "summarise_edf", lambda path: None)
    assert describe_file(path) == fast


def test_inspect_of_an_edf_does_not_import_pandas():
    """``eegcorpus inspect`` of an EDF answers from the header and annotations alone."""
    path = shared_path("eegmmidb", "S001", "S001R03.edf")
    probe = f"import sys\nfrom eegcorpus.cli import describe_file\nfrom pathlib import Path\ndescribe_file(Path({str(path)!r}))\nprint('PANDAS', 'pandas' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert "PANDAS False" in out.stdout, out.stdout[-500:] + out.stderr[-2000:]


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


@pytest.mark.parametrize("package", ["eegcorpus", "neuript"])
def test_verbose_and_quiet_set_the_package_logger(package):
    """``-v`` / ``-q`` on either command line set its package's logger (DEBUG / WARNING), and
    messages below the level are not shown: ``-q`` hides a fine-tuning epoch line."""
    import importlib
    import logging

    cli = importlib.import_module(f"{package}.cli")
    logger = logging.getLogger(package)
    before = logger.level
    try:
        runner = CliRunner()
        for flags, level in ((["-v"], logging.DEBUG), (["-q"], logging.WARNING), ([], logging.INFO)):
            result = runner.invoke(cli.app, [*flags, "version"])
            assert result.exit_code == 0, result.output
            assert logger.level == level, (flags, logging.getLevelName(logger.level))
        both = runner.invoke(cli.app, ["-v", "-q", "version"])
        assert both.exit_code == 2 and "choose one of --verbose and --quiet" in both.output
        if package == "neuript":
            from neuript.log import say

            shown = []
            handler = logging.Handler()
            handler.emit = lambda record: shown.append(record.getMessage())
            logger.addHandler(handler)
            try:
                runner.invoke(cli.app, ["-q", "version"])
                say(True, "  epoch 1: loss 0.6")
                runner.invoke(cli.app, ["version"])
                say(True, "  epoch 2: loss 0.5")
            finally:
                logger.removeHandler(handler)
            assert shown == ["  epoch 2: loss 0.5"]
    finally:
        logger.setLevel(before)


def test_a_failed_file_is_logged_above_the_progress_bar(tmp_path):
    """With progress on, each failure is a warning of the ``eegcorpus`` logger, written live on
    stderr; stdout keeps the summary alone."""
    raw = tmp_path / "raw" / "S001"
    raw.mkdir(parents=True)
    (raw / "S001R03.edf").write_bytes(shared_path("eegmmidb", "S001", "S001R03.edf").read_bytes())
    (raw / "S001R04.edf").write_bytes(b"")
    run = subprocess.run(
        [sys.executable, "-m", "eegcorpus.cli", "build", "eegmmidb", "--raw", str(raw.parent), "--out", str(tmp_path / "store")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 3, run.stderr
    assert "failed: " in run.stderr and "S001R04.edf: file is empty (0 bytes)" in run.stderr
    assert "failed: " not in run.stdout and "1 written" in run.stdout
