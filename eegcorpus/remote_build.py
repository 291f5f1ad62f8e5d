"""``eegcorpus build`` with the raw files or the store on object storage (fsspec URLs).

The same tasks as a local build (:func:`eegcorpus.build.build_one`), on the same schedulers
(threads, processes, ``tcp://`` dask.distributed): a task carries the URLs, one file's relative
path and the parameters. The worker checks whether the recording is up to date from object
metadata alone (size and modification time of the raw object and its companions, the stored
recording's attributes), and otherwise downloads the raw file and its companions into a
temporary folder, processes it there with the local code, and publishes the recording into the
store (on object storage: data objects first, group metadata last; see
:mod:`eegcorpus.store.remote`). The client collects the small results and writes the tables.

There is no build lock on object storage (no atomic create-if-absent through fsspec): run one
build per store at a time.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path

from eegcorpus.store.remote import (
    filesystem,
    init_remote_store,
    is_url,
    join,
    listing_tree,
    read_json_remote,
    remote_recording_attrs,
    stamp,
    write_json_remote,
)


def build_one_remote(
    store: str,
    raw_root: str,
    dataset_id: str,
    source: dict,
    profile: dict,
    line_freq: float | None,
    drop_channels: list[str],
    strict: bool = False,
    storage_options: dict | None = None,
) -> dict:
    """Process and publish one recording when the raw folder or the store is a URL (a dask task).

    Returns the same small dict as :func:`eegcorpus.build.build_one`; failure messages name the
    raw file by its URL.
    """
    from eegcorpus.build import BuildStopped, _failure_message, build_one, stat_stamp
    from eegcorpus.datasets.base import Source
    from eegcorpus.pipeline.profiles import Profile
    from eegcorpus.recording import sha256_file
    from eegcorpus.store import index_row, init_store, recording_attrs
    from eegcorpus.store.remote import fetch, publish
    from eegcorpus.store.writer import PIPELINE_VERSION, RECORDINGS

    src = Source(**source)
    digest = Profile(**{**profile, "channel_types": tuple(profile["channel_types"])}).digest
    raw_remote, store_remote = is_url(raw_root), is_url(store)
    raw_name = join(raw_root, src.path) if raw_remote else str(Path(raw_root) / src.path)
    stage = "find"
    try:
        if raw_remote:
            raw_fs, raw_path = filesystem(raw_root, storage_options)
            file_stamp = stamp(raw_fs, join(raw_path, src.path))
            companions = {name: stamp(raw_fs, join(raw_path, rel)) for name, rel in sorted(src.companions.items())}
        else:
            file_stamp = stat_stamp(Path(raw_root) / src.path)
            companions = {name: stat_stamp(Path(raw_root) / rel) for name, rel in sorted(src.companions.items())}
        if file_stamp[0] is None:
            raise FileNotFoundError(f"{raw_name}: no such file")
        if store_remote:
            store_fs, store_path = filesystem(store, storage_options)
            old = remote_recording_attrs(store_fs, store_path, src.recording_id)
        else:
            old = recording_attrs(Path(store), src.recording_id)
        same_setup = (
            old is not None
            and old.get("profile_digest") == digest
            and old.get("pipeline_version") == PIPELINE_VERSION
            and old.get("companion_stamps", {}) == companions
        )
        if same_setup and [old.get("source_size"), old.get("source_mtime_ns")] == file_stamp:
            return {"status": "skipped", "recording_id": src.recording_id, "hours": 0.0, "row": index_row(old)}
        with tempfile.TemporaryDirectory(prefix="eegcorpus-task-") as tmp:
            local_raw = Path(raw_root) if not raw_remote else Path(tmp) / "raw"
            if raw_remote:
                stage = "read"
                local_file = fetch(raw_fs, raw_path, src.path, local_raw)
                for rel in src.companions.values():
                    if raw_fs.exists(join(raw_path, rel)):
                        fetch(raw_fs, raw_path, rel, local_raw)
                # The same bytes uploaded again (a new modification time) need no rebuild.
                if same_setup and old.get("source_sha256") == sha256_file(local_file):
                    return {"status": "skipped", "recording_id": src.recording_id, "hours": 0.0, "row": index_row(old)}
            local_store = Path(tmp) / "store" if store_remote else Path(store)
            if store_remote:
                init_store(local_store)
            result = build_one(str(local_store), str(local_raw), dataset_id, source, profile, line_freq, drop_channels, strict=False)
            if result["status"] == "failed" and raw_remote:
                result["failure"]["error"] = result["failure"]["error"].replace(str(local_raw / src.path), raw_name).replace(str(local_raw), raw_root)
            if result["status"] == "written" and store_remote:
                stage = "write"
                publish(store_fs, store_path, src.recording_id, local_store / RECORDINGS / src.recording_id)
    except BuildStopped:
        raise  # a full disk stops the whole build, as it does a local one
    except Exception as err:
        result = {
            "status": "failed",
            "recording_id": src.recording_id,
            "hours": 0.0,
            "failure": {"file": src.path, "stage": stage, "error": _failure_message(raw_name, err)},
        }
    if strict and result["status"] == "failed":
        raise BuildStopped(f"{result['failure']['error']} (stage {result['failure']['stage']})", result["failure"])
    return result


def build_remote(
    dataset: str,
    raw: str,
    out: str,
    *,
    profile,
    scheduler: str,
    workers: int | None,
    subjects,
    limit,
    strict: bool,
    progress: bool,
    storage_options: dict | None,
):
    """:func:`eegcorpus.build.build` when ``raw`` or ``out`` is a URL (same parameters)."""
    from eegcorpus import build as local
    from eegcorpus.catalog import get_card
    from eegcorpus.pipeline.profiles import Profile, load_profile

    started = time.perf_counter()
    card = get_card(dataset)
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    adapter = local._adapter(dataset)
    raw, out = str(raw), str(out)
    if is_url(raw):
        raw_fs, raw_path = filesystem(raw, storage_options)
        if not raw_fs.isdir(raw_path):
            raise local.BuildError(f"{raw}: raw folder not found")
        with listing_tree(raw_fs, raw_path) as tree:
            sources = local._select(adapter.find(tree), subjects, limit)
    else:
        if not Path(raw).is_dir():
            raise local.BuildError(f"{raw}: raw folder not found")
        sources = local._select(adapter.find(Path(raw)), subjects, limit)
    if not sources:
        raise local.BuildError(f"no {dataset} files under {raw} (layout {card.layout.pattern!r}). {card.access_notes}".strip())
    if scheduler == "auto":
        cores = workers or os.cpu_count() or 1
        scheduler = "processes" if cores > 1 and len(sources) >= local.PROCESSES_FROM else "threads"

    if is_url(out):
        init_remote_store(out, storage_options)
        lock = contextlib.nullcontext()
    else:
        Path(out).mkdir(parents=True, exist_ok=True)
        lock = local.store_lock(Path(out))
    args = (out, raw, dataset)
    common = (prof.to_dict(), float(card.line_freq) if card.line_freq else None, list(card.drop_channels), strict, storage_options or {})

    raw_fs, raw_root = filesystem(raw, storage_options) if is_url(raw) else (None, str(raw))

    def raw_exists(rel: str) -> bool:
        return raw_fs.exists(join(raw_root, rel)) if raw_fs is not None else (Path(raw_root) / rel).exists()

    def write_tables(results, result, stopped):
        if is_url(out):
            _write_remote_tables(out, storage_options, results, dataset, prof, result, raw_exists)
        else:
            local._write_tables(Path(out), results, dataset, prof, result, exists=raw_exists)

    with lock:
        if not is_url(out):
            from eegcorpus.store import init_store

            init_store(Path(out))
        return local.run_tasks(
            local.BuildResult(store=out),
            dataset,
            [s.to_dict() for s in sources],
            args,
            common,
            scheduler,
            workers,
            progress,
            started,
            write_tables,
            task=build_one_remote,
        )


def _write_remote_tables(out: str, storage_options, results: list[dict], dataset: str, prof, result, exists=None) -> None:
    """Index, failures and build log of a store on object storage (merged as local builds do)."""
    from eegcorpus.build import merge_tables
    from eegcorpus.store import INDEX_COLUMNS
    from eegcorpus.store.remote import index_rows
    from eegcorpus.store.writer import TABLES

    fs, root = filesystem(out, storage_options)
    tables = join(root, TABLES)
    merged, failures, log = merge_tables(lambda name, default: read_json_remote(fs, join(tables, name), default), results, dataset, prof, result, exists=exists)
    rows = index_rows(fs, root, merged)
    write_json_remote(fs, join(tables, "recordings.json"), [{k: row.get(k) for k in ("recording_id",) + INDEX_COLUMNS} for row in rows])
    write_json_remote(fs, join(tables, "failures.json"), failures)
    write_json_remote(fs, join(tables, "builds.json"), log)


__all__ = ["build_one_remote", "build_remote"]
