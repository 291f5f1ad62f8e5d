"""Raw files and stores on object storage: a local S3-compatible server (moto, started here on
127.0.0.1), the real EEGMMIDB files, builds, the loader, pretraining, and a killed build."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers.processes import background, free_port, wait_until
from helpers.shared_data import shared_path

RUNS = (3, 4, 5, 6)


@contextlib.contextmanager
def _s3_server(tmp_path, monkeypatch, authenticate: bool = False):
    """(endpoint URL, s3fs filesystem) of a fresh moto S3 server with a bucket ``eeg``; with
    ``authenticate`` the server checks every request's credentials (and knows none)."""
    pytest.importorskip("moto.server", reason="the S3 test server needs moto[server] (pip install 'moto[server]')")
    pytest.importorskip("flask", reason="moto's server mode needs flask (pip install 'moto[server]')")
    s3fs = pytest.importorskip("s3fs", reason="s3:// URLs need s3fs (pip install 'eegcorpus[s3]')")
    # Test credentials only, and no user configuration: nothing can reach a real account.
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    port = free_port()
    log = tmp_path / f"moto-{port}.log"
    env = os.environ | ({"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if authenticate else {})
    with background([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log, env=env) as server:

        def listening():
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, 60, "the S3 server listening", server, log)
        endpoint = f"http://127.0.0.1:{port}"
        fs = s3fs.S3FileSystem(endpoint_url=endpoint)
        if not authenticate:
            fs.mkdir("eeg")
        yield endpoint, fs


@pytest.fixture
def s3(tmp_path, monkeypatch):
    """(endpoint URL, s3fs filesystem) of a fresh moto S3 server with a bucket ``eeg``."""
    with _s3_server(tmp_path, monkeypatch) as server:
        yield server


def _upload_runs(fs, runs, prefix="eeg/raw"):
    for run in runs:
        fs.put_file(str(shared_path("eegmmidb", "S001", f"S001R{run:02d}.edf")), f"{prefix}/S001/S001R{run:02d}.edf")
    fs.invalidate_cache()


def _committed(fs, prefix="eeg/store"):
    fs.invalidate_cache()
    return sorted(key.split("/")[-2] for key in fs.glob(f"{prefix}/recordings/*/zarr.json"))


@pytest.mark.slow
def test_build_on_s3_then_loader_and_pretraining_read_it(s3, eegmmidb_store, tmp_path):
    from eegcorpus.build import build
    from eegcorpus.loader import WindowSpec, WindowStream
    from eegcorpus.store import INDEX_COLUMNS, open_store

    endpoint, fs = s3
    options = {"endpoint_url": endpoint}
    _upload_runs(fs, RUNS)
    result = build("eegmmidb", "s3://eeg/raw", "s3://eeg/store", scheduler="threads", workers=2, progress=False, storage_options=options)
    ids = [f"eegmmidb.S001R{r:02d}" for r in RUNS]
    assert result.n_failed == 0 and sorted(result.written) == ids
    assert fs.exists("eeg/store/tables/recordings.json") and not fs.exists("eeg/store/.staging")

    remote, local = open_store("s3://eeg/store", options), open_store(eegmmidb_store)
    # Same index as the local build of the same files, but for the raw files' modification
    # times (the objects' upload times).
    columns = [c for c in INDEX_COLUMNS if c != "source_mtime_ns"]
    assert remote.index[columns].equals(local.index.loc[ids, columns])
    for rid in ids:
        np.testing.assert_array_equal(remote.recording(rid).values, local.recording(rid).values)
    assert remote.events(ids[1]).equals(local.events(ids[1]))

    # The loader serves the same windows from the object store, also from a DataLoader worker
    # process (the storage options travel with the dataset).
    import torch
    from typer.testing import CliRunner

    from eegcorpus.loader import dataloader_kwargs

    spec = WindowSpec(4.0)
    # Workers fork from the forkserver, which keeps the environment of when it started (an
    # earlier test may have started it before this fixture set the AWS variables): credentials
    # go in the storage options here, as they must for any environment set after that point.
    with_keys = open_store("s3://eeg/store", dict(options, key="testing", secret="testing"))
    ours = WindowStream(with_keys, spec, montage="neuript", a_law=True, seed=1, batch_size=32)
    theirs = WindowStream(local, spec, montage="neuript", a_law=True, seed=1, batch_size=32, recording_ids=ids)
    pairs = list(zip(torch.utils.data.DataLoader(ours, batch_size=None, **dataloader_kwargs(1)), theirs))
    assert len(pairs) == len(list(theirs)) > 0
    for a, b in pairs:
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["start"], b["start"])

    # Rerunning finds everything up to date from object metadata alone.
    again = build("eegmmidb", "s3://eeg/raw", "s3://eeg/store", scheduler="threads", progress=False, storage_options=options)
    assert again.written == [] and sorted(again.skipped) == ids

    # Either side alone on object storage: raw files there into a local store, local raw files
    # into a store there.
    down = build("eegmmidb", "s3://eeg/raw", tmp_path / "local", limit=1, progress=False, storage_options=options)
    up = build("eegmmidb", shared_path("eegmmidb"), "s3://eeg/up", limit=1, progress=False, storage_options=options)
    assert down.written == up.written == [ids[0]]
    for store in (open_store(tmp_path / "local"), open_store("s3://eeg/up", options)):
        np.testing.assert_array_equal(store.recording(ids[0]).values, local.recording(ids[0]).values)

    # eegcorpus verify and stats on object storage: the same answers as on the local copy, and
    # a damaged object is found and its recording named.
    from eegcorpus.cli import app as eegcorpus_app

    option = ["--storage-option", f"endpoint_url={endpoint}"]
    runner = CliRunner()
    checked = runner.invoke(eegcorpus_app, ["verify", "s3://eeg/store", *option, "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output) == {"store": "s3://eeg/store", "checked": len(ids), "ok": True, "damaged": {}, "index_problems": [], "stale_staging": []}
    remote_stats = json.loads(runner.invoke(eegcorpus_app, ["stats", "s3://eeg/store", *option, "--json"]).output)
    local_stats = json.loads(runner.invoke(eegcorpus_app, ["stats", str(tmp_path / "local"), "--json"]).output)
    assert remote_stats["recordings"] == len(ids) and local_stats["recordings"] == 1
    assert remote_stats["hours"] == pytest.approx(local.index.loc[ids, "duration_s"].sum() / 3600, abs=1e-3)
    assert remote_stats["channels"] == {name: len(ids) for name in local_stats["channels"]}  # recordings per channel
    shard = sorted(k for k in fs.find(f"eeg/up/recordings/{ids[0]}/signal") if "/c/" in k)[0]
    damaged = bytearray(fs.cat_file(shard))
    damaged[len(damaged) // 2] ^= 0xFF
    fs.pipe_file(shard, bytes(damaged))
    report = runner.invoke(eegcorpus_app, ["verify", "s3://eeg/up", *option])
    assert report.exit_code == 1 and f"damaged {ids[0]}: signal/c/" in report.output and "sha256 differs" in report.output

    # neuript pretrain --store s3://..., configured through --storage-option.
    from neuript.cli import app
    from neuript.pretrain import read_log

    out = tmp_path / "run"
    args = [
        "pretrain",
        "--store",
        "s3://eeg/store",
        "--storage-option",
        f"endpoint_url={endpoint}",
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--window",
        "1",
        "--reject-uv",
        "0",
        "--no-progress",
        "--config-set",
        "d_model=24",
        "--config-set",
        "n_heads=2",
        "--config-set",
        "d_ff=24",
        "--config-set",
        "expert_hidden=16",
    ]
    ran = CliRunner().invoke(app, args)
    assert ran.exit_code == 0, ran.output
    assert [row["step"] for row in read_log(out)] == [1, 2] and all(np.isfinite(row["loss"]) for row in read_log(out))

    # --strict on object storage stops at the first failure and still records it.
    from eegcorpus.build import BuildStopped

    fs.pipe_file("eeg/bad/S001/S001R03.edf", b"not an EDF at all" * 20)
    fs.invalidate_cache()
    with pytest.raises(BuildStopped, match="S001R03.edf"):
        build("eegmmidb", "s3://eeg/bad", "s3://eeg/strict", strict=True, progress=False, storage_options=options)
    recorded = json.loads(fs.cat_file("eeg/strict/tables/failures.json"))
    assert [f["file"] for f in recorded] == ["S001/S001R03.edf"]

    # A raw prefix with nothing under it is named in the error.
    missing = CliRunner().invoke(
        eegcorpus_app,
        ["build", "eegmmidb", "--raw", "s3://eeg/nothing-here", "--out", "s3://eeg/store", "--storage-option", f"endpoint_url={endpoint}", "--no-progress"],
    )
    assert missing.exit_code == 1 and "s3://eeg/nothing-here: raw folder not found" in missing.output


@pytest.mark.slow
def test_killed_build_on_s3_resumes_without_loss(s3, eegmmidb_store, tmp_path):
    from eegcorpus.build import build
    from eegcorpus.store import open_store

    endpoint, fs = s3
    runs = tuple(range(3, 9))
    ids = [f"eegmmidb.S001R{r:02d}" for r in runs]
    _upload_runs(fs, runs)
    # As a build killed while uploading a recording leaves it: some objects, no group metadata.
    fs.pipe({"eeg/store/recordings/eegmmidb.S001R08/signal/c/0/0": b"half", "eeg/store/recordings/eegmmidb.S001R08/x/zarr.json": b"{}"})

    # The command line, configured by the environment (credentials) and --storage-option
    # (endpoint), killed as soon as its first recording is committed.
    cmd = [
        sys.executable,
        "-m",
        "eegcorpus.cli",
        "build",
        "eegmmidb",
        "--raw",
        "s3://eeg/raw",
        "--out",
        "s3://eeg/store",
        "--scheduler",
        "sync",
        "--storage-option",
        f"endpoint_url={endpoint}",
        "--no-progress",
    ]
    log = tmp_path / "build.log"
    with background(cmd, log) as proc:
        wait_until(lambda: len(_committed(fs)) >= 1, 120, "a first committed recording", proc, log)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    committed = _committed(fs)
    assert 1 <= len(committed) < len(runs), committed
    # A reader sees the committed recordings whole, and nothing of the others (the half-written
    # one included, unless the build got to write it again before the kill).
    killed = open_store("s3://eeg/store", {"endpoint_url": endpoint})
    assert list(killed.index.index) == committed
    for rid in committed:
        assert killed.recording(rid).shape == (64, 125 * 64)

    result = build("eegmmidb", "s3://eeg/raw", "s3://eeg/store", scheduler="threads", workers=2, progress=False, storage_options={"endpoint_url": endpoint})
    assert result.n_failed == 0 and sorted(result.skipped) == committed
    assert len(result.written) == len(runs) - len(committed)
    store, local = open_store("s3://eeg/store", {"endpoint_url": endpoint}), open_store(eegmmidb_store)
    assert list(store.index.index) == ids
    for rid in ids:
        np.testing.assert_array_equal(store.recording(rid).values, local.recording(rid).values)
        # Exactly the recording's own objects: nothing left of the half-written upload.
        document = json.loads(fs.cat_file(f"eeg/store/recordings/{rid}/zarr.json"))
        keys = {k.split(f"recordings/{rid}/", 1)[1] for k in fs.find(f"eeg/store/recordings/{rid}")}
        assert keys == set(document["attributes"]["manifest"]) | {"zarr.json"}, rid


def test_storage_options_and_urls():
    from eegcorpus.storage import is_url, parse_storage_options, storage_for
    from eegcorpus.storage.local import LocalStorage
    from eegcorpus.storage.remote import FsspecStorage

    assert parse_storage_options(["endpoint_url=http://127.0.0.1:9000", "anon=true", 'client_kwargs={"region_name": "eu-west-1"}']) == {
        "endpoint_url": "http://127.0.0.1:9000",
        "anon": True,
        "client_kwargs": {"region_name": "eu-west-1"},
    }
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_storage_options(["endpoint_url"])
    assert is_url("s3://bucket/store") and is_url("memory://x")
    assert not is_url("stores/eegmmidb") and not is_url("file:///tmp/store")
    # the one place that decides: a folder or file:// URL is local, any other protocol fsspec
    assert isinstance(storage_for("stores/eegmmidb"), LocalStorage) and isinstance(storage_for("file:///tmp/store"), LocalStorage)
    assert storage_for("file:///tmp/store").location == Path("/tmp/store")
    assert isinstance(storage_for("s3://bucket/store", {"anon": True}), FsspecStorage)


def _build_command(endpoint: str, out: str = "s3://eeg/store") -> list[str]:
    return [
        sys.executable, "-m", "eegcorpus.cli", "build", "eegmmidb", "--raw", "s3://eeg/raw", "--out", out,
        "--storage-option", f"endpoint_url={endpoint}", "--no-progress", "--scheduler", "threads",
    ]  # fmt: skip


@pytest.mark.slow
def test_two_builds_of_one_s3_store_exactly_one_holds_the_lock(s3, tmp_path):
    """Started at the same moment, one build takes the lock object and the other is refused
    at once with the local build's one-line message naming the holder; when the holder is
    killed, the next build on this machine takes its lock over and writes everything."""
    endpoint, fs = s3
    _upload_runs(fs, RUNS[:2])
    stall = os.environ | {"EEGCORPUS_TEST_STALL_AT": "start"}  # the holder waits there, holding the lock
    first, second = (subprocess.Popen(_build_command(endpoint), env=stall, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2))
    try:
        wait_until(lambda: first.poll() is not None or second.poll() is not None, 120, "one of the two builds giving up")
        refused, holder = (first, second) if first.poll() is not None else (second, first)
        _, err = refused.communicate()
        lines = err.strip().splitlines()
        assert refused.returncode == 1 and len(lines) == 1, err
        assert lines[0].startswith(f"error: s3://eeg/store: another build is writing this store (pid {holder.pid} on ")
        assert lines[0].endswith("; wait for it to finish")
        assert holder.poll() is None and json.loads(fs.cat_file("eeg/store/.lock"))["pid"] == holder.pid
        assert _committed(fs) == []  # the holder waits before writing; the refused one wrote nothing
    finally:
        for proc in (first, second):
            proc.kill()
            proc.communicate()
    done = subprocess.run(_build_command(endpoint), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _committed(fs) == [f"eegmmidb.S001R{r:02d}" for r in RUNS[:2]]
    fs.invalidate_cache()
    assert not fs.exists("eeg/store/.lock")  # released when the build ended


def test_an_s3_lock_has_a_heartbeat_and_a_dead_holders_lock_is_taken_over(s3, monkeypatch):
    from eegcorpus.build import BuildError, store_lock
    from eegcorpus.storage import remote

    endpoint, fs = s3
    options = {"endpoint_url": endpoint}
    monkeypatch.setattr(remote, "HEARTBEAT_SECONDS", 0.2)
    with store_lock("s3://eeg/held", options):
        first = json.loads(fs.cat_file("eeg/held/.lock"))
        assert first["pid"] == os.getpid() and first["owner"].startswith(f"pid {os.getpid()} on ")
        time.sleep(1.0)
        fs.invalidate_cache()
        assert json.loads(fs.cat_file("eeg/held/.lock"))["heartbeat"] > first["heartbeat"] + 0.5  # renewed
        # held by this very process: a second holder is refused, naming the first
        with pytest.raises(BuildError, match=r"^s3://eeg/held: another build is writing this store \(pid \d+ on "), store_lock("s3://eeg/held", options):
            pass
    fs.invalidate_cache()
    assert not fs.exists("eeg/held/.lock")

    # A lock of a build on another machine: refused while its heartbeat is fresh, taken over
    # once it is older than STALE_AFTER_SECONDS (that build died without releasing it).
    def foreign_lock(age_s: float) -> None:
        body = {"owner": "pid 7 on elsewhere, since 2026-01-01T00:00:00+00:00", "host": "elsewhere", "pid": 7, "heartbeat": time.time() - age_s}
        fs.pipe_file("eeg/foreign/.lock", json.dumps(body).encode())
        fs.invalidate_cache()

    foreign_lock(5.0)
    with (
        pytest.raises(BuildError, match=r"\(pid 7 on elsewhere, since 2026-01-01T00:00:00\+00:00; last heartbeat \d+ s ago\)"),
        store_lock("s3://eeg/foreign", options),
    ):
        pass
    foreign_lock(remote.STALE_AFTER_SECONDS + 60)
    with store_lock("s3://eeg/foreign", options):
        fs.invalidate_cache()
        assert json.loads(fs.cat_file("eeg/foreign/.lock"))["pid"] == os.getpid()


def test_missing_or_wrong_credentials_give_one_line_naming_the_url(tmp_path, monkeypatch):
    """Against a server that checks credentials: wrong keys and no keys at all each end the
    command with one line that names the URL and what to fix."""
    with _s3_server(tmp_path, monkeypatch, authenticate=True) as (endpoint, _):
        wrong = os.environ | {"AWS_ACCESS_KEY_ID": "wrong", "AWS_SECRET_ACCESS_KEY": "wrong"}
        missing = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
        for env, reason in ((wrong, "access refused: the credentials are wrong or lack permission"), (missing, "no credentials found")):
            for command in (
                _build_command(endpoint, out=str(tmp_path / "store")),
                [sys.executable, "-m", "eegcorpus.cli", "verify", "s3://eeg/store", "--storage-option", f"endpoint_url={endpoint}"],
            ):
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
                lines = done.stderr.strip().splitlines()
                url = "s3://eeg/raw" if "build" in command else "s3://eeg/store"
                assert done.returncode == 1 and len(lines) == 1, done.stderr
                assert lines[0].startswith(f"error: {url}: {reason}"), lines[0]
