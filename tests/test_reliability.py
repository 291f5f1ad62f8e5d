"""Reliability: killed builds resume to the same store, bad inputs are recorded and skipped,
concurrent builds cannot corrupt a store, a full disk loses nothing, nothing reaches outside
its folder. docs/reliability.md lists which test proves which guarantee.

Builds are killed for real (SIGKILL, in a subprocess) at the named fault points of
:mod:`eegcorpus._faults`, so every kill lands at the same place on every run.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers.shared_data import shared_path
from typer.testing import CliRunner

from eegcorpus._faults import KILL_ENV, STALL_ENV
from eegcorpus.build import BuildError, BuildStopped, build
from eegcorpus.cli import app
from eegcorpus.store import open_store, published_ids, read_json
from eegcorpus.store.verify import verify_recording, verify_store

#: Recordings per build in these tests: enough for two worker threads to overlap.
LIMIT = 4
_SCRIPT = Path(sys.executable).parent / "eegcorpus"


def _cli(raw: Path, out: Path, *extra: str, env: dict | None = None, background: bool = False, workers: int = 2):
    """``eegcorpus build eegmmidb`` in its own process, as a user or a cluster job runs it."""
    command = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "eegcorpus.cli"]
    command += ["build", "eegmmidb", "--raw", str(raw), "--out", str(out), "--no-progress", "--workers", str(workers), *extra]
    full_env = {k: v for k, v in os.environ.items() if k not in (KILL_ENV, STALL_ENV)} | (env or {})
    if background:
        return subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, env=full_env, capture_output=True, text=True, timeout=300)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _staging(store: Path) -> dict[str, bool]:
    """Entries of ``.staging``: name -> whether the group there is complete (has its manifest)."""
    folder = store / ".staging"
    if not folder.is_dir():
        return {}
    out = {}
    for entry in folder.iterdir():
        try:
            out[entry.name] = "manifest" in json.loads((entry / "zarr.json").read_text())["attributes"]
        except (FileNotFoundError, KeyError, ValueError):
            out[entry.name] = False
    return out


def _recording_of(staging_name: str) -> str:
    return staging_name.rsplit(".", 2)[0]  # <id>.<pid>.<random>


def _assert_same_store(a: Path, b: Path) -> None:
    """Same recordings index and the same decoded signals and events."""
    sa, sb = open_store(a), open_store(b)
    pd.testing.assert_frame_equal(sa.index, sb.index)
    for rid in sa.index.index:
        ra, rb = sa.recording(rid), sb.recording(rid)
        np.testing.assert_array_equal(ra.values, rb.values)
        np.testing.assert_array_equal(ra["ch_name"].values, rb["ch_name"].values)
    pd.testing.assert_frame_equal(sa.events(), sb.events())


class _Reader(threading.Thread):
    """Reads a store over and over while builds run, as a training job would, and records the
    first recording it can list that is not whole."""

    def __init__(self, store: Path):
        super().__init__(daemon=True)
        self.store, self.seen, self.error = store, 0, None
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set() and self.error is None:
            for rid in published_ids(self.store):
                # Every file against the manifest; decoding is left to the checks after each kill
                # (it would take the CPU the builds under test need).
                problems = verify_recording(self.store / "recordings" / rid, decode=False)
                if problems:
                    self.error = f"{rid}: {problems}"
                self.seen += 1
            time.sleep(0.03)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)


# ----------------------------------------------------------------------------------------------
# Kill and resume

#: (fault point, n-th passage): early, mid-write, just before and just after publication of a
#: recording, and at the end when only the tables are left to write.
KILLS = [("start", 1), ("mid-write", 2), ("publish", 1), ("published", 1), ("tables", 1)]


def _assert_whole_after_kill(store: Path, point: str) -> None:
    published = set(published_ids(store))
    for rid in published:
        assert verify_recording(store / "recordings" / rid) == [], (point, rid)
    assert set(open_store(store).index.index) == published, point
    staged = _staging(store)
    table = {row["recording_id"] for row in read_json(store / "tables" / "recordings.json", [])}
    if point == "start":
        assert not published and not staged
    elif point == "mid-write":
        half = [name for name, complete in staged.items() if not complete]
        assert half, f"no half-written recording in .staging: {staged}"
        assert not {_recording_of(name) for name in half} & published
    elif point == "publish":
        ready = [name for name, complete in staged.items() if complete]
        assert ready, f"no complete recording waiting in .staging: {staged}"
        assert not {_recording_of(name) for name in ready} & published
    elif point == "published":
        assert published - table, "the recording just published should not be in the table yet"
    elif point == "tables":
        assert len(published) == LIMIT and len(table) < LIMIT


def test_killed_builds_resume_to_the_clean_build(tmp_path):
    """SIGKILL at each point, then a resume; the store equals a clean build, and a reader that
    polled it throughout never listed a recording that was not whole."""
    raw = shared_path("eegmmidb")
    clean, store = tmp_path / "clean", tmp_path / "killed"
    build("eegmmidb", raw, clean, limit=LIMIT, progress=False)
    reader = _Reader(store)
    reader.start()
    try:
        for point, nth in KILLS:
            run = _cli(raw, store, "--limit", str(LIMIT), env={KILL_ENV: f"{point}:{nth}"})
            assert run.returncode == -signal.SIGKILL, (point, run.returncode, run.stderr)
            _assert_whole_after_kill(store, point)
        final = _cli(raw, store, "--limit", str(LIMIT))
        assert final.returncode == 0, final.stderr
    finally:
        reader.stop()
    assert reader.error is None, reader.error
    assert reader.seen > 0
    _assert_same_store(clean, store)
    report = verify_store(store)
    assert report.ok and report.stale_staging == []


# ----------------------------------------------------------------------------------------------
# Two builds of one store


def test_second_build_is_refused_while_the_first_holds_the_store(tmp_path):
    raw, store = shared_path("eegmmidb"), tmp_path / "store"
    # One worker: it stalls just before publishing its first recording, holding the lock.
    first = _cli(raw, store, "--limit", "2", env={STALL_ENV: "publish:1"}, background=True, workers=1)
    try:
        deadline = time.monotonic() + 120
        while not any(_staging(store).values()):  # first holds the lock, a recording is staged
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first build never reached publication"
            time.sleep(0.05)
        second = CliRunner().invoke(app, ["build", "eegmmidb", "--raw", str(raw), "--out", str(store), "--limit", "2", "--no-progress"])
        assert second.exit_code == 1
        assert _lines(second.output) == [second.output.strip()]
        assert re.search(rf"another build is writing this store \(pid {first.pid} on .*\); wait for it to finish", second.output)
        assert published_ids(store) == []  # the refused build wrote nothing
    finally:
        first.kill()
        first.communicate()
    # The first build died holding the lock; the kernel released it with the process.
    result = build("eegmmidb", raw, store, limit=2, progress=False)
    assert len(result.written) == 2
    report = verify_store(store)
    assert report.ok and report.stale_staging == []


def test_builds_started_together_leave_one_whole_store(tmp_path):
    """Both start at once: one builds, the other is refused or (if it came second) finds
    nothing to do; either way exactly one of them wrote the three recordings (their summaries
    say how many each wrote; without the lock both write them) and the store equals a clean
    build."""
    raw = shared_path("eegmmidb")
    clean, store = tmp_path / "clean", tmp_path / "store"
    runs = [_cli(raw, store, "--limit", "3", background=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    codes = [run.returncode for run in runs]
    assert 0 in codes and set(codes) <= {0, 1}, (codes, outputs)
    written = []
    for code, (out, err) in zip(codes, outputs):
        if code == 1:
            assert len(_lines(err)) == 1 and "another build is writing this store" in err
            written.append(0)
        else:
            summary = re.search(r"(\d+) written|nothing to do", out)
            assert summary, out
            written.append(int(summary.group(1) or 0))
    assert sorted(written) == [0, 3], (written, outputs)
    build("eegmmidb", raw, clean, limit=3, progress=False)
    _assert_same_store(clean, store)
    assert verify_store(store).ok


# ----------------------------------------------------------------------------------------------
# Bad inputs


def _signal_field(data: bytearray, column: int, width: int, signal_index: int, text: str) -> None:
    """Overwrite one per-signal header field of an EDF held in ``data``."""
    n_signals = int(data[252:256].decode())
    start = 256 + column * n_signals + signal_index * width
    data[start : start + width] = text.encode("latin-1").ljust(width)


def _damaged(name: str, change) -> bytes:
    data = bytearray(shared_path("eegmmidb", "S001", name).read_bytes())
    change(data)
    return bytes(data)


def _bad_inputs(tmp_path) -> dict[str, tuple[bytes, str, str]]:
    """file -> (content, stage, what the error must say) for every kind of bad input."""
    from helpers.edf import edf_plus_d_with_gap

    crlf = shared_path("fixtures", "corrupted")
    real = shared_path("eegmmidb", "S001", "S001R05.edf").read_bytes()
    return {
        # text-mode copies (LF -> CRLF), R01/R02 cut back to the original length
        "S001/S001R01.edf": ((crlf / "S001R01.edf").read_bytes(), "read", r"LF was turned into CRLF"),
        "S001/S001R02.edf": ((crlf / "S001R02.edf").read_bytes(), "read", r"LF was turned into CRLF"),
        "S001/S001R04.edf": ((crlf / "S001R04.edf").read_bytes(), "read", r"file size 2607749 bytes does not match the header"),
        "S001/S001R05.edf": (real[: len(real) - 5000], "read", r"5000 bytes too short \(truncated\)"),
        "S001/S001R06.edf": (b"", "read", r"file is empty \(0 bytes\)"),
        # samples per record of the first signal: 160 -> 161, which the file size contradicts
        "S001/S001R07.edf": (_damaged("S001R07.edf", lambda d: _signal_field(d, 216, 8, 0, "161")), "read", r"does not match the header"),
        "S001/S001R08.edf": (_damaged("S001R08.edf", lambda d: _signal_field(d, 112, 8, 8, "inf")), "read", r"non-finite samples \(NaN or Inf\) .*C3\.\."),
        "S001/S001R09.edf": (_damaged("S001R09.edf", lambda d: _signal_field(d, 104, 8, 0, "nan")), "read", r"non-finite samples \(NaN or Inf\) .*Fc5\."),
        "S001/S001R11.edf": (_damaged("S001R11.edf", lambda d: _signal_field(d, 0, 16, 5, "Foo1")), "process", r"1 channel\(s\) have no known position: Foo1"),
        "S001/S001R12.edf": (b"PK\x03\x04" + bytes(range(256)) * 4, "read", r"not an EDF/BDF file \(version field b'PK"),
        # real files that read correctly but whose channels have no position (see the next test)
        "S001/S001R13.edf": (edf_plus_d_with_gap(tmp_path).read_bytes(), "process", r"4 channel\(s\) have no known position: POL E"),
        "S001/S001R14.edf": (shared_path("fixtures", "eeglab", "test.bdf").read_bytes(), "process", r"14 channel\(s\) have no known position: A3"),
    }


def test_bad_inputs_are_recorded_and_the_build_goes_on(tmp_path):
    raw = tmp_path / "raw"
    (raw / "S001").mkdir(parents=True)
    bad = _bad_inputs(tmp_path)
    for rel, (content, _, _) in bad.items():
        (raw / rel).write_bytes(content)
    for good in ("S001R03.edf", "S001R10.edf"):
        shutil.copy(shared_path("eegmmidb", "S001", good), raw / "S001")
    out = tmp_path / "store"
    result = CliRunner().invoke(app, ["build", "eegmmidb", "--raw", str(raw), "--out", str(out), "--no-progress", "--json"])
    assert result.exit_code == 3, result.output
    summary = json.loads(result.stdout)
    assert (summary["written"], summary["failed"]) == (2, len(bad))
    store = open_store(out)
    assert list(store.index.index) == ["eegmmidb.S001R03", "eegmmidb.S001R10"]
    failures = store.failures.set_index("file")
    assert sorted(failures.index) == sorted(bad)
    for rel, (_, stage, reason) in bad.items():
        error = failures.loc[rel, "error"]
        assert failures.loc[rel, "stage"] == stage, (rel, error)
        assert error.startswith(f"{raw / rel}: ") and "\n" not in error
        assert re.search(reason, error), (rel, error)
    assert verify_store(out).ok

    # --strict: the first failure stops the build (one sequential worker, so exactly one).
    strict_out = tmp_path / "strict"
    strict = CliRunner().invoke(app, ["build", "eegmmidb", "--raw", str(raw), "--out", str(strict_out), "--no-progress", "--strict", "--scheduler", "sync"])
    assert strict.exit_code == 1
    (line,) = _lines(strict.output)
    assert line.startswith("error: ") and any(f"{raw / rel}: " in line for rel in bad), line
    recorded = open_store(strict_out).failures
    assert len(recorded) == 1 and recorded["error"][0].split(": ")[0] in line


def test_failures_of_files_that_are_gone_are_dropped_at_the_next_build(tmp_path):
    """A failure row is kept while its file is in the raw folder (it may still be fixed); once
    the file is deleted the next build drops the row. Failures of files that remain stay."""
    raw = tmp_path / "raw" / "S001"
    raw.mkdir(parents=True)
    shutil.copy(shared_path("eegmmidb", "S001", "S001R03.edf"), raw)
    (raw / "S001R04.edf").write_bytes(b"")
    (raw / "S001R05.edf").write_bytes(b"0       ")
    out = tmp_path / "store"
    build("eegmmidb", raw.parent, out, progress=False)
    assert sorted(open_store(out).failures["file"]) == ["S001/S001R04.edf", "S001/S001R05.edf"]
    (raw / "S001R04.edf").unlink()
    again = build("eegmmidb", raw.parent, out, progress=False)
    assert again.n_failed == 1  # R05 was tried again and failed again
    assert open_store(out).failures["file"].tolist() == ["S001/S001R05.edf"]
    assert list(open_store(out).index.index) == ["eegmmidb.S001R03"]


def test_a_stopped_run_on_worker_processes_waits_for_the_recordings_in_flight(monkeypatch):
    """When a task stops the run (--strict, a full disk), dask returns at once while other
    workers may be part way through a recording. With threads the build's own pool is shut
    down waiting for them; worker processes must be waited for in the same way (and the pool
    not reused), or a recording could be published after the lock is released."""
    import dask

    from eegcorpus import build as build_module

    class Pool:
        def __init__(self):
            self.shutdown_calls = []

        def shutdown(self, wait=True, cancel_futures=False):
            self.shutdown_calls.append((wait, cancel_futures))

    pool = Pool()
    monkeypatch.setattr(build_module, "_process_pool", lambda workers: pool)
    monkeypatch.setattr(build_module._process_pool, "cache_clear", lambda: None, raising=False)

    def stopping_compute(*tasks, **kwargs):
        assert kwargs["scheduler"] == "processes" and kwargs["pool"] is pool
        raise BuildStopped("S001/S001R04.edf: read failed: file is empty (0 bytes); the build stopped")

    monkeypatch.setattr(dask, "compute", stopping_compute)
    with pytest.raises(BuildStopped):
        build_module._run_local("processes", 2, ("out", "raw", "eegmmidb"), [{}], (), lambda res: None)
    assert pool.shutdown_calls == [(True, True)]


def test_edf_plus_d_bdf_and_unplaced_channels_under_other_policies(tmp_path):
    """The inputs above that read correctly are stored once the profile says what to do with
    channels that have no position: dropped, or kept with NaN coordinates."""
    bad = _bad_inputs(tmp_path)
    raw = tmp_path / "raw"
    (raw / "S001").mkdir(parents=True)
    for rel in ("S001/S001R11.edf", "S001/S001R13.edf", "S001/S001R14.edf"):
        (raw / rel).write_bytes(bad[rel][0])
    drop = tmp_path / "drop.yaml"
    drop.write_text("name: drop\non_missing_position: drop\n")
    result = build("eegmmidb", raw, tmp_path / "drop", profile=drop, progress=False)
    assert result.n_failed == 0 and len(result.written) == 3
    store = open_store(tmp_path / "drop")
    edf_d = store.attrs("eegmmidb.S001R13")
    assert edf_d["source_format"] == "edf+d" and edf_d["duration_s"] == 34  # 29 s of records + a 5 s gap
    gap = store.events("eegmmidb.S001R13").query("description == 'BAD_ACQ_SKIP'")
    assert list(gap["onset"]) == [10.0] and list(gap["duration"]) == [5.0]
    assert edf_d["provenance"]["dropped_channels"]["POL E"] == "no known position"
    bdf = store.attrs("eegmmidb.S001R14")
    assert bdf["source_format"] == "bdf" and bdf["duration_s"] == 60  # record count -1 in the header
    unknown = store.recording("eegmmidb.S001R11")
    assert unknown.sizes["channel"] == 63 and "Foo1" not in list(unknown["ch_name_orig"].values)

    nan = tmp_path / "nan.yaml"
    nan.write_text("name: nan\non_missing_position: nan\n")
    (raw / "S001" / "S001R13.edf").unlink()
    (raw / "S001" / "S001R14.edf").unlink()
    build("eegmmidb", raw, tmp_path / "nan", profile=nan, progress=False)
    kept = open_store(tmp_path / "nan").recording("eegmmidb.S001R11")
    foo = list(kept["ch_name_orig"].values).index("Foo1")
    assert kept.sizes["channel"] == 64 and np.isnan([kept["x"][foo], kept["y"][foo], kept["z"][foo]]).all()
    assert np.isfinite(np.delete(kept["x"].values, foo)).all()


def test_nan_and_inf_samples_are_refused_naming_the_channels(tmp_path):
    """Formats that store floats can hold NaN or Inf: Grasp-and-Lift CSVs written from real
    EEGMMIDB signal, one intact, one with an empty cell, one with an infinite value."""
    from eegcorpus.readers.edf import read_edf

    rec = read_edf(shared_path("eegmmidb", "S001", "S001R03.edf"))
    names = rec.ch_names[:8]
    raw = tmp_path / "raw" / "train"
    raw.mkdir(parents=True)
    for series, damage in ((1, None), (2, (100, 2, "")), (3, (7000, 5, "inf"))):
        table = pd.DataFrame(rec.data[:8, :8000].T.astype(object), columns=names)
        if damage:
            row, column, text = damage
            table.iloc[row, column] = text
        table.insert(0, "id", [f"subj1_series{series}_{i}" for i in range(8000)])
        table.to_csv(raw / f"subj1_series{series}_data.csv", index=False)
    result = build("grasp_and_lift", raw.parent, tmp_path / "store", progress=False)
    assert result.written == ["grasp_and_lift.subj1_series1"]
    errors = {f["file"]: f["error"] for f in result.failed if f["stage"] == "read"}
    assert errors.keys() == {"train/subj1_series2_data.csv", "train/subj1_series3_data.csv"}
    assert errors["train/subj1_series2_data.csv"].endswith(f"non-finite samples (NaN or Inf) in channel(s) {names[2]}")
    assert errors["train/subj1_series3_data.csv"].endswith(f"non-finite samples (NaN or Inf) in channel(s) {names[5]}")


def test_edf_plus_d_with_a_day_long_gap_is_refused(tmp_path):
    """A damaged time-keeping annotation (records 10.. a day and more later) would make the
    zero-filled recording take terabytes; it is refused instead."""
    from eegcorpus.errors import ReaderError
    from eegcorpus.readers.edf import read_edf, read_edf_header

    src = shared_path("fixtures", "nihonkohden", "MB0400FU.EDF")
    header = read_edf_header(src)
    data = bytearray(src.read_bytes())
    start = header.header_bytes + np.concatenate([[0], np.cumsum(header.samples_per_record)])[header.annotation_signals[0]] * 2
    for rec in range(10, header.n_records):
        at = start + rec * header.record_bytes
        old, new = f"+{rec}.000000\x14\x14".encode(), f"+{rec + 90000}\x14\x14".encode()
        assert data[at : at + len(old)] == old and len(new) <= len(old) + 1 and data[at + len(old)] == 0
        data[at : at + len(old) + 1] = new.ljust(len(old) + 1, b"\x00")
    path = tmp_path / "damaged_time.edf"
    path.write_bytes(bytes(data))
    with pytest.raises(ReaderError, match=r"EDF\+D gap of 25\.0 h after record 9 .*damaged time-keeping annotation"):
        read_edf(path)
    assert read_edf(path, on_gap="ignore").duration_s == 29


def test_unsupported_format_is_one_line_error(tmp_path):
    from eegcorpus.errors import UnsupportedFormatError
    from eegcorpus.readers import read_recording

    path = tmp_path / "recording.xyz"
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(UnsupportedFormatError) as info:
        read_recording(path)
    assert str(info.value).startswith(f"{path}: unsupported format (extension '.xyz'") and "\n" not in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files without read permission; the next test injects the refusal instead")
def test_file_without_read_permission_is_recorded(tmp_path):
    raw = tmp_path / "raw" / "S001"
    raw.mkdir(parents=True)
    for name in ("S001R03.edf", "S001R04.edf"):
        shutil.copy(shared_path("eegmmidb", "S001", name), raw)
    (raw / "S001R04.edf").chmod(0)
    try:
        result = build("eegmmidb", raw.parent, tmp_path / "store", progress=False)
    finally:
        (raw / "S001R04.edf").chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert result.written == ["eegmmidb.S001R03"]
    (failure,) = result.failed
    assert failure["stage"] == "read" and re.match(rf"{re.escape(str(raw / 'S001R04.edf'))}: cannot .*Permission denied", failure["error"])


def test_permission_refusal_is_recorded_and_the_build_goes_on(tmp_path, monkeypatch):
    """The same refusal, raised where the reader opens the file (works as root too)."""
    import builtins

    raw = tmp_path / "raw" / "S001"
    raw.mkdir(parents=True)
    for name in ("S001R03.edf", "S001R04.edf"):
        shutil.copy(shared_path("eegmmidb", "S001", name), raw)
    locked, real_open = str(raw / "S001R04.edf"), builtins.open

    def refusing_open(file, *args, **kwargs):
        if str(file) == locked:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    result = build("eegmmidb", raw.parent, tmp_path / "store", scheduler="sync", progress=False)
    assert result.written == ["eegmmidb.S001R03"]
    (failure,) = result.failed
    assert failure["stage"] == "read" and failure["error"].startswith(f"{locked}: cannot") and "Permission denied" in failure["error"]
    assert open_store(tmp_path / "store").failures["file"].tolist() == ["S001/S001R04.edf"]


def test_unexpected_reader_exception_is_recorded_not_fatal(tmp_path, monkeypatch):
    """A bug met on one odd file (here an IndexError) costs that file, not the build."""
    from eegcorpus.build import _adapter

    adapter = _adapter("eegmmidb")
    original = adapter.read

    def buggy(raw_root, source):
        if source.path.endswith("R04.edf"):
            return [][0]
        return original(raw_root, source)

    monkeypatch.setattr(adapter, "read", buggy)
    result = build("eegmmidb", shared_path("eegmmidb"), tmp_path / "store", limit=3, progress=False)
    assert sorted(result.written) == ["eegmmidb.S001R03", "eegmmidb.S001R05"]
    (failure,) = result.failed
    assert failure["stage"] == "read" and "unexpected IndexError: list index out of range" in failure["error"]


def test_raw_folder_changing_during_the_build(tmp_path, monkeypatch):
    """While the build runs, a file is rewritten just after being read, another is deleted
    before its turn, a third appears. The rewritten one is refused (what was read may mix two
    versions), the deleted one is recorded, the new one waits for the next build, which
    stores the folder as it is then."""
    from eegcorpus.build import _adapter
    from eegcorpus.recording import sha256_file

    raw = tmp_path / "raw" / "S001"
    raw.mkdir(parents=True)
    for run in (3, 4, 5, 6):
        shutil.copy(shared_path("eegmmidb", "S001", f"S001R{run:02d}.edf"), raw)
    adapter = _adapter("eegmmidb")
    original, changes = adapter.read, {}

    def read_while_the_folder_changes(raw_root, source):
        rec = original(raw_root, source)
        if not changes:  # the first file read, whichever it is
            path = Path(raw_root) / source.path
            others = sorted(p for p in raw.glob("*.edf") if p != path)
            changes.update(rewritten=source.path, deleted=others[0].relative_to(raw.parent).as_posix())
            shutil.copy(shared_path("eegmmidb", "S001", "S001R08.edf"), path)  # same size, new content
            others[0].unlink()
            shutil.copy(shared_path("eegmmidb", "S001", "S001R07.edf"), raw)
        return rec

    monkeypatch.setattr(adapter, "read", read_while_the_folder_changes)
    out = tmp_path / "store"
    first = build("eegmmidb", raw.parent, out, scheduler="sync", progress=False)
    assert len(first.written) == 2 and "eegmmidb.S001R07" not in first.written
    failures = {f["file"]: f for f in first.failed}
    assert set(failures) == {changes["rewritten"], changes["deleted"]}
    assert failures[changes["rewritten"]]["stage"] == "read"
    assert "changed while it was being read" in failures[changes["rewritten"]]["error"]
    assert failures[changes["deleted"]]["stage"] == "find"
    assert failures[changes["deleted"]]["error"] == f"{raw.parent / changes['deleted']}: No such file or directory"

    monkeypatch.undo()
    second = build("eegmmidb", raw.parent, out, progress=False)
    rewritten_id = "eegmmidb." + Path(changes["rewritten"]).stem
    assert sorted(second.written) == sorted([rewritten_id, "eegmmidb.S001R07"]) and second.n_failed == 0
    store = open_store(out)
    assert sorted(store.index.index) == sorted("eegmmidb." + p.stem for p in raw.glob("*.edf"))
    assert store.index.loc[rewritten_id, "source_sha256"] == sha256_file(raw.parent / changes["rewritten"])
    assert changes["rewritten"] not in set(store.failures["file"])


# ----------------------------------------------------------------------------------------------
# Full disk


def test_full_disk_stops_the_build_and_loses_nothing(tmp_path, monkeypatch):
    """ENOSPC injected where the writer puts bytes on disk, in the middle of a recording."""
    from eegcorpus.store import writer

    raw, out = shared_path("eegmmidb"), tmp_path / "store"
    build("eegmmidb", raw, out, limit=2, progress=False)
    real_write, calls = writer._write_file, []

    def filling_write(path, blob):
        calls.append(path)
        if len(calls) > 5:  # the disk fills up part way through the next recording
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(path, blob)

    monkeypatch.setattr(writer, "_write_file", filling_write)
    result = CliRunner().invoke(app, ["build", "eegmmidb", "--raw", str(raw), "--out", str(out), "--limit", str(LIMIT), "--scheduler", "sync", "--no-progress"])
    assert result.exit_code == 1
    (line,) = _lines(result.output)
    assert re.match(rf"error: {re.escape(str(raw))}/S001/S001R0[56]\.edf: No space left on device: .*; the build stopped", line), line
    store = open_store(out)
    assert sorted(store.index.index) == ["eegmmidb.S001R03", "eegmmidb.S001R04"]  # stopped: nothing else tried
    (failure,) = store.failures.to_dict("records")
    assert failure["stage"] == "write" and "No space left on device" in failure["error"]
    report = verify_store(out)
    assert report.ok and report.stale_staging == []  # the partial recording was removed

    monkeypatch.undo()  # space freed
    resumed = build("eegmmidb", raw, out, limit=LIMIT, progress=False)
    assert len(resumed.written) == 2 and len(resumed.skipped) == 2
    assert open_store(out).failures.empty


def test_a_failed_table_write_leaves_the_previous_tables_whole(tmp_path, monkeypatch):
    """The disk fills while the index is being written, half of it on disk: the index,
    failures and build log are still the previous build's, byte for byte, no temporary file
    is left beside them, and the next build indexes every recording published meanwhile."""
    from eegcorpus.store import TABLES

    raw, out = shared_path("eegmmidb"), tmp_path / "store"
    build("eegmmidb", raw, out, limit=2, progress=False)
    tables = out / TABLES
    before = {p.name: p.read_bytes() for p in tables.iterdir()}
    assert {"recordings.json", "failures.json", "builds.json"} <= set(before)
    real_write_bytes = Path.write_bytes

    def half_then_full_disk(path, data, *args, **kwargs):
        if path.parent == tables and "recordings.json" in path.name:
            real_write_bytes(path, data[: len(data) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_write_bytes(path, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_bytes", half_then_full_disk)
    with pytest.raises(BuildError, match=r"cannot write the tables \(No space left on device\); the recordings are stored"):
        build("eegmmidb", raw, out, limit=LIMIT, progress=False)
    assert {p.name: p.read_bytes() for p in tables.iterdir()} == before

    monkeypatch.undo()  # space freed
    resumed = build("eegmmidb", raw, out, limit=LIMIT, progress=False)
    assert len(open_store(out).index) == LIMIT and resumed.n_failed == 0
    assert verify_store(out).ok


@pytest.fixture
def small_disk(tmp_path):
    """A 2.2 MB tmpfs (room for two EEGMMIDB recordings); skips where mounting is not allowed."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; test_full_disk_stops_the_build_and_loses_nothing injects ENOSPC instead")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2200k", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); ENOSPC is injected by another test")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def test_real_full_disk(small_disk, tmp_path):
    raw, out = shared_path("eegmmidb"), small_disk / "store"
    result = CliRunner().invoke(app, ["build", "eegmmidb", "--raw", str(raw), "--out", str(out), "--limit", str(LIMIT), "--scheduler", "sync", "--no-progress"])
    assert result.exit_code == 1
    (line,) = _lines(result.output)
    assert "No space left on device" in line and "the build stopped" in line, line
    report = verify_store(out)
    assert report.ok and report.stale_staging == [] and 1 <= report.checked < LIMIT
    assert open_store(out).failures["stage"].tolist() == ["write"]

    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    resumed = build("eegmmidb", raw, out, limit=LIMIT, progress=False)
    assert resumed.n_failed == 0 and len(resumed.written) + len(resumed.skipped) == LIMIT
    build("eegmmidb", raw, tmp_path / "clean", limit=LIMIT, progress=False)
    _assert_same_store(tmp_path / "clean", out)


# ----------------------------------------------------------------------------------------------
# Replacing a recording


def test_replacing_a_recording_never_leaves_it_missing(tmp_path, monkeypatch):
    """A recording rebuilt (new profile, changed source) is swapped in one step: after every
    filesystem operation of the replacement, ``recordings/<id>`` holds a whole version."""
    from helpers.store import write_generated_recording

    from eegcorpus.pipeline.profiles import Profile
    from eegcorpus.storage import local as local_storage
    from eegcorpus.store import recording_attrs

    probe = tmp_path / "probe"
    (probe / "a").mkdir(parents=True)
    (probe / "b").mkdir()
    if not local_storage._exchange(probe / "a", probe / "b"):
        pytest.skip("this filesystem cannot swap folders (renameat2 RENAME_EXCHANGE); replacement falls back to two renames")
    root, rng = tmp_path / "store", np.random.default_rng(0)
    versions = [(rng.standard_normal((4, 512)) * 20).astype(np.float32) for _ in range(2)]
    write_generated_recording(root, "generated.x", versions[0], 64.0, Profile(name="generated"))
    steps = []

    def checked(operation):
        def run(*args, **kwargs):
            result = operation(*args, **kwargs)
            steps.append(operation.__name__)
            assert recording_attrs(root, "generated.x") is not None, f"missing after {operation.__name__}"
            assert verify_recording(root / "recordings" / "generated.x", decode=False) == [], operation.__name__
            return result

        return run

    monkeypatch.setattr(local_storage, "_exchange", checked(local_storage._exchange))
    monkeypatch.setattr(local_storage.os, "rename", checked(os.rename))
    monkeypatch.setattr(local_storage.shutil, "rmtree", checked(shutil.rmtree))
    for i in (1, 0, 1):
        write_generated_recording(root, "generated.x", versions[i], 64.0, Profile(name="generated"))
        np.testing.assert_allclose(open_store(root).recording("generated.x").values, versions[i], atol=0.05 + 1e-6)
    assert steps == ["_exchange", "rmtree"] * 3
    assert list((root / ".staging").iterdir()) == []


# ----------------------------------------------------------------------------------------------
# Safety


def test_profile_yaml_is_loaded_safely(tmp_path):
    from eegcorpus.pipeline.profiles import load_profile

    marker = tmp_path / "executed"
    evil = tmp_path / "evil.yaml"
    evil.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ValueError, match=r"evil.yaml: cannot parse profile: could not determine a constructor for the tag"):
        load_profile(evil)
    result = CliRunner().invoke(app, ["build", "eegmmidb", "--raw", str(tmp_path), "--out", str(tmp_path / "s"), "--profile", str(evil)])
    assert result.exit_code == 1 and len(_lines(result.output)) == 1
    assert not marker.exists()


def test_unlistable_raw_folder_is_named_and_the_rest_is_built(tmp_path, monkeypatch):
    """A sub-folder that cannot be listed (root ignores permissions, so the refusal is injected
    where os.walk lists it) is named in a warning; the other folders are still found."""
    from eegcorpus.datasets.base import safe_glob

    raw = tmp_path / "raw"
    for subject in ("S001", "S002"):
        (raw / subject).mkdir(parents=True)
        shutil.copy(shared_path("eegmmidb", "S001", "S001R03.edf"), raw / subject / f"{subject}R03.edf")
    real_scandir = os.scandir

    def scandir(path="."):
        if Path(path).name == "S002":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.warns(UserWarning, match=r"S002: cannot list this folder \(Permission denied\)"):
        found = safe_glob(raw, "S{subject:03d}/S{subject:03d}R{run:02d}.edf")
    assert [str(f) for f in found] == ["S001/S001R03.edf"]


def test_nothing_outside_the_raw_folder_is_built(tmp_path):
    """A file symlinked from outside, or reached through a symlinked folder, is not a
    recording of this raw folder."""
    raw = tmp_path / "raw"
    (raw / "S001").mkdir(parents=True)
    shutil.copy(shared_path("eegmmidb", "S001", "S001R03.edf"), raw / "S001")
    os.symlink(shared_path("eegmmidb", "S001", "S001R04.edf"), raw / "S001" / "S001R04.edf")
    os.symlink(shared_path("eegmmidb", "S001"), raw / "S002")  # pattern-shaped folder link out
    result = build("eegmmidb", raw, tmp_path / "store", progress=False)
    assert result.written == ["eegmmidb.S001R03"] and result.failed == []


@pytest.mark.parametrize("recording_id", ["../escape", "a/b", ".hidden", "..", "x/../../y", ""])
def test_recording_ids_cannot_leave_the_store(tmp_path, recording_id):
    from helpers.store import write_generated_recording

    from eegcorpus.pipeline.profiles import Profile

    with pytest.raises(ValueError, match="recording_id"):
        write_generated_recording(tmp_path / "store", recording_id, np.zeros((1, 64), np.float32), 64.0, Profile(name="p"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    assert list((tmp_path / "store" / "recordings").iterdir()) == [(tmp_path / "store" / "recordings" / "zarr.json")]


def test_checkpoints_never_unpickle_objects(tmp_path):
    """A checkpoint holding a pickled object that runs code on load is refused by resume."""
    torch = pytest.importorskip("torch")
    import pickle

    from neuript.pretrain import CHECKPOINT, PretrainSettings, pretrain

    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    out = tmp_path / "run"
    out.mkdir()
    torch.save({"model": Payload(), "step": torch.tensor(1)}, out / CHECKPOINT)
    settings = PretrainSettings(
        stores=[str(tmp_path / "no-store")], out=str(out), steps=2, config_overrides={"d_model": 24, "n_heads": 2, "d_ff": 24, "expert_hidden": 16}
    )
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        pretrain(settings, resume=True, progress=False)
    assert not marker.exists()
    torch.load(out / CHECKPOINT, weights_only=False)  # what an unsafe load would have done
    assert marker.exists()


_ALWAYS_UNSAFE = {
    "pickle.load",
    "pickle.loads",
    "_pickle.load",
    "_pickle.loads",
    "dill.load",
    "dill.loads",
    "cloudpickle.load",
    "cloudpickle.loads",
    "joblib.load",
    "marshal.load",
    "marshal.loads",
    "shelve.open",
    "pandas.read_pickle",
    "yaml.unsafe_load",
    "yaml.full_load",
    "yaml.load_all",
}


def _unsafe_loads(source: str) -> list[int]:
    """Lines of ``source`` that call a loader able to run code from the data it reads.

    Calls are resolved through the module's imports, so ``import pickle as pk; pk.loads``,
    ``from torch import load`` and ``torch.serialization.load`` are recognised like the plain
    spellings. Safe forms: ``torch.load(..., weights_only=True)``, ``numpy.load`` without
    ``allow_pickle`` (or with ``allow_pickle=False``), ``yaml.load(..., Loader=yaml.SafeLoader)``.
    """
    import ast

    tree = ast.parse(source)
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def qualified(func) -> str | None:
        parts = []
        while isinstance(func, ast.Attribute):
            parts.append(func.attr)
            func = func.value
        if not isinstance(func, ast.Name) or func.id not in names:
            return None
        return ".".join([names[func.id], *reversed(parts)])

    def keyword_is(call, name: str, allowed) -> bool:
        return any(k.arg == name and allowed(k.value) for k in call.keywords)

    safe_loaders = {"yaml.SafeLoader", "yaml.CSafeLoader"}
    safe_loader_names: set[str] = set()

    def is_safe_loader(value) -> bool:
        if isinstance(value, ast.Name) and value.id in safe_loader_names:
            return True
        if qualified(value) in safe_loaders:
            return True
        # getattr(yaml, "CSafeLoader", yaml.SafeLoader): the C loader where built, else Python's
        return (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "getattr"
            and len(value.args) == 3
            and qualified(value.args[0]) == "yaml"
            and isinstance(value.args[1], ast.Constant)
            and f"yaml.{value.args[1].value}" in safe_loaders
            and is_safe_loader(value.args[2])
        )

    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name) and is_safe_loader(node.value):
            safe_loader_names.add(node.targets[0].id)

    unsafe = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = qualified(node.func)
        if name in ("torch.load", "torch.serialization.load"):
            safe = keyword_is(node, "weights_only", lambda v: isinstance(v, ast.Constant) and v.value is True)
        elif name == "numpy.load":
            safe = not keyword_is(node, "allow_pickle", lambda v: not (isinstance(v, ast.Constant) and v.value is False))
        elif name == "yaml.load":
            safe = keyword_is(node, "Loader", is_safe_loader)
        else:
            safe = name not in _ALWAYS_UNSAFE
        if not safe:
            unsafe.append(node.lineno)
    return unsafe


def test_the_unsafe_load_check_sees_through_aliases():
    flagged = """import pickle as pk
import numpy
from torch import load
from torch.serialization import load as sload
import yaml
import pandas as pd
pk.loads(b"")
load("a.pt")
sload("a.pt", weights_only=False)
numpy.load("a.npy", allow_pickle=True)
yaml.load(text, Loader=yaml.Loader)
pd.read_pickle("a.pkl")
LOADER = getattr(yaml, "CLoader", yaml.Loader)
yaml.load(text, Loader=LOADER)
"""
    assert _unsafe_loads(flagged) == [7, 8, 9, 10, 11, 12, 14]
    fine = """import torch, yaml
import numpy as np
torch.load("a.pt", weights_only=True)
np.load("a.npy")
np.load("a.npz", allow_pickle=False)
yaml.load(text, Loader=yaml.SafeLoader)
yaml.safe_load(text)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
yaml.load(text, Loader=LOADER)
"""
    assert _unsafe_loads(fine) == []


def test_every_load_in_the_packages_is_safe():
    """Checked on the source, so a new checkpoint reader cannot slip in an unsafe load."""
    root = Path(__file__).resolve().parents[1]
    unsafe = [
        f"{path.relative_to(root)}:{line}"
        for path in sorted([*root.joinpath("eegcorpus").rglob("*.py"), *root.joinpath("neuript").rglob("*.py")])
        for line in _unsafe_loads(path.read_text(encoding="utf-8"))
    ]
    assert unsafe == []
