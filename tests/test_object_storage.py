"""Raw files and stores on object storage: a local S3-compatible server (moto, started here on
127.0.0.1), the real EEGMMIDB files, builds, the loader, pretraining, and a killed build."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.processes import background, free_port, wait_until
from helpers.shared_data import shared_path

RUNS = (3, 4, 5, 6)


@pytest.fixture
def s3(tmp_path, monkeypatch):
    """(endpoint URL, s3fs filesystem) of a fresh moto S3 server with a bucket ``eeg``."""
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
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    port = free_port()
    log = tmp_path / "moto.log"
    with background([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], log) as server:

        def listening():
            with socket.socket() as sock:
                return sock.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, 60, "the S3 server listening", server, log)
        endpoint = f"http://127.0.0.1:{port}"
        fs = s3fs.S3FileSystem(endpoint_url=endpoint)
        fs.mkdir("eeg")
        yield endpoint, fs


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

    # neuript pretrain --store s3://..., configured through --storage-option.
    from typer.testing import CliRunner

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
    from eegcorpus.cli import app as eegcorpus_app

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
