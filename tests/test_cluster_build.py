"""eegcorpus build on a real dask.distributed cluster: a scheduler and two workers started as
separate processes on 127.0.0.1, as on a cluster (``dask scheduler``, ``dask worker``)."""

from __future__ import annotations

import os
import shutil
import socket
import sys

import numpy as np
import pytest
from helpers.processes import background, free_port, stop_all, wait_until
from helpers.shared_data import EEGMMIDB_SUBJECTS, shared_path

from eegcorpus.build import build
from eegcorpus.store import INDEX_COLUMNS, open_store


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def cluster(tmp_path):
    """``tcp://127.0.0.1:PORT`` of a scheduler with two single-threaded workers (own processes)."""
    pytest.importorskip("distributed")
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "cluster-logs"
    logs.mkdir()
    python = [sys.executable, "-m"]
    scheduler_cmd = python + ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    with background(scheduler_cmd, logs / "scheduler.log") as scheduler:
        wait_until(lambda: _listening(port), 60, "the scheduler listening", scheduler, logs / "scheduler.log")
        worker_cmd = python + [
            "distributed.cli.dask_worker",
            address,
            "--nthreads",
            "1",
            "--nworkers",
            "1",
            "--no-dashboard",
            "--host",
            "127.0.0.1",
            "--local-directory",
            str(tmp_path / "dask-worker-space"),
        ]
        with background(worker_cmd + ["--name", "w0"], logs / "w0.log") as w0, background(worker_cmd + ["--name", "w1"], logs / "w1.log") as w1:
            client = Client(address, timeout=60)
            try:
                client.wait_for_workers(2, timeout=120)
                yield address, client
            finally:
                client.close()
                stop_all([w0, w1, scheduler])


@pytest.mark.slow
def test_cluster_build_equals_local_build(cluster, eegmmidb_store, tmp_path, capfd):
    address, client = cluster
    remote = tmp_path / "remote"
    result = build("eegmmidb", shared_path("eegmmidb"), remote, subjects=EEGMMIDB_SUBJECTS, scheduler=address, progress=True)
    assert result.n_failed == 0 and len(result.written) == 12
    assert "12/12" in capfd.readouterr().err  # progress reached the client as tasks finished

    # The two worker processes ran the tasks (the client ran none: it is neither of them).
    executed = client.run(lambda dask_worker: (os.getpid(), dask_worker.state.executed_count))
    assert len(executed) == 2 and os.getpid() not in {pid for pid, _ in executed.values()}
    assert all(count > 0 for _, count in executed.values()) and sum(c for _, c in executed.values()) >= 12

    local, cluster_store = open_store(eegmmidb_store), open_store(remote)
    assert local.index[list(INDEX_COLUMNS)].equals(cluster_store.index[list(INDEX_COLUMNS)])
    for rid in local.index.index:
        a, b = local.recording(rid), cluster_store.recording(rid)
        np.testing.assert_array_equal(a.values, b.values)
        assert list(a["ch_name"].values) == list(b["ch_name"].values)
        np.testing.assert_array_equal(a["x"].values, b["x"].values)
    assert open_store(remote).builds[-1]["written"] == 12

    # A file that cannot be read comes back to the client as a failure; the build goes on.
    raw = tmp_path / "raw" / "S001"
    raw.mkdir(parents=True)
    shutil.copy(shared_path("eegmmidb", "S001", "S001R03.edf"), raw)
    shutil.copy(shared_path("fixtures", "corrupted", "S001R04.edf"), raw / "S001R04.edf")
    mixed = build("eegmmidb", raw.parent, tmp_path / "mixed", scheduler=address, progress=False)
    assert mixed.written == ["eegmmidb.S001R03"] and [f["stage"] for f in mixed.failed] == ["read"]
    assert "does not match the header" in mixed.failed[0]["error"]
    assert list(open_store(tmp_path / "mixed").failures["file"]) == ["S001/S001R04.edf"]
