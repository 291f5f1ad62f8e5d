"""``eegcorpus build``: raw files of one catalog dataset -> a resumable zarr store, with dask.

One dask task per recording. A task carries only locations and parameters (never signals),
reads its file, processes it, writes and publishes it into the store, and returns a small dict;
the client only collects those dicts, updates the progress bar and writes the tables. So the same
code runs on the local threaded or multiprocess scheduler and on a dask.distributed cluster, and
the raw folder and the store may each be a local folder or an fsspec URL: the task reaches both
through :mod:`eegcorpus.storage`.

Resume and idempotence: a recording already published with the same source (size and mtime, or
sha256), profile digest and pipeline version is skipped, so re-running a finished build does
nothing and says so. A killed build leaves only whole recordings behind (see
:meth:`eegcorpus.storage.Storage.publish`); the next run rebuilds the index from them and goes on.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import os
import time
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from eegcorpus._faults import fault_point
from eegcorpus._validate import check_option
from eegcorpus.errors import EEGCorpusError, ReaderError
from eegcorpus.log import ensure_handler, logger
from eegcorpus.pipeline.profiles import Profile, load_profile
from eegcorpus.storage import LockHeldError, Storage, storage_for
from eegcorpus.store import (
    INDEX_COLUMNS,
    TABLES,
    index_row,
    init_store,
    rebuild_index_rows,
    recording_attrs,
    write_recording,
)
from eegcorpus.store.writer import PIPELINE_VERSION, choose_quantum

_PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
#: A channel whose processed standard deviation is below this is flat (disconnected).
FLAT_STD_UV = 0.5
#: A raw channel that sits at its own extreme value this often is clipped (saturated).
SATURATION_FRACTION = 1e-3


#: With "auto", builds of at least this many recordings use worker processes (measured on 2
#: cores: 3.1x the MNE baseline's throughput against 2.6x for threads, whose Python work shares
#: one GIL and zarr's one event-loop thread; see docs/benchmarks.md).
PROCESSES_FROM = 32


class BuildError(EEGCorpusError):
    """The build as a whole cannot run (no files, bad arguments, strict-mode failure)."""


class BuildStopped(BuildError):
    """One recording's failure stopped the whole build (``--strict``, or a full disk).

    ``failure`` is that recording's failures-table row, which the build still records.
    """

    def __init__(self, message: str, failure: dict | None = None):
        super().__init__(message)
        self.failure = failure

    def __reduce__(self):  # crosses process boundaries with its failure row
        return (type(self), (str(self), self.failure))


class StoreFullError(BuildStopped):
    """The store's disk is full (or over quota): the build stops instead of failing every
    remaining recording the same way."""


#: errno values meaning "no room left to write", whatever the filesystem.
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass
class BuildResult:
    store: Path | str
    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    hours: float = 0.0
    seconds: float = 0.0

    @property
    def n_failed(self) -> int:
        return len(self.failed)

    def summary(self) -> str:
        done = f"{len(self.written)} written, {len(self.skipped)} already up to date, {self.n_failed} failed"
        if not self.written and not self.failed:
            return f"nothing to do: all {len(self.skipped)} recordings in {self.store} are up to date"
        return f"{done}; {self.hours:.2f} h of recordings processed in {self.seconds:.1f} s -> {self.store}"


def _adapter(dataset_id: str, bids: tuple | None = None):
    """The adapter of a catalog id, or with ``bids`` (the BIDS options as sorted items) the
    BIDS adapter that names its recordings ``dataset_id``; one instance per process and key."""
    return _cached_adapter(dataset_id, bids)


@cache
def _cached_adapter(dataset_id: str, bids: tuple | None):
    if bids is not None:
        from eegcorpus.bids.adapter import BIDSAdapter

        return BIDSAdapter(dataset_id, **dict(bids))
    from eegcorpus.datasets import get_adapter

    return get_adapter(dataset_id)


@lru_cache(maxsize=1)
def _versions() -> dict:
    import importlib.metadata as md

    out = {}
    for name in ("eegcorpus", "numpy", "scipy", "zarr", "xarray", "mne"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _failure_message(path: Path, err: BaseException) -> str:
    """``<path>: <reason>`` on one line, whatever raised."""
    if isinstance(err, OSError) and err.strerror:
        reason = err.strerror
        if err.filename is not None and str(err.filename) != str(path):
            reason += f": {err.filename}"
    elif isinstance(err, (EEGCorpusError, OSError, ValueError)):
        reason = _one_line(err)
    else:
        # Not an error a reader or the pipeline raises on purpose (a bug met on an odd file):
        # the type says so, and the file is recorded instead of ending the whole build.
        reason = f"unexpected {type(err).__name__}: {_one_line(err)}"
    prefix = f"{path}: "
    return reason if reason.startswith(prefix) else prefix + reason


#: Percentiles are taken on at most this many samples per channel (evenly strided): a summary
#: for quality control does not need an exact sort of hours of signal.
_QC_SAMPLES = 4096


def _channel_qc(raw_data: np.ndarray, processed: np.ndarray) -> dict:
    """Per-channel amplitude percentiles (processed), flat and saturated flags."""
    stride = max(1, processed.shape[1] // _QC_SAMPLES)
    pct = np.percentile(processed[:, ::stride], _PERCENTILES, axis=1).T
    std = processed.std(axis=1)
    # Clipping leaves plateaus at the channel's extremes; their share is estimated on the same
    # strided samples (the extremes themselves come from all samples).
    top, bottom = raw_data.max(axis=1, keepdims=True), raw_data.min(axis=1, keepdims=True)
    sample = raw_data[:, :: max(1, raw_data.shape[1] // _QC_SAMPLES)]
    at_extreme = np.count_nonzero((sample == top) | (sample == bottom), axis=1) / sample.shape[1]
    saturated = (at_extreme > SATURATION_FRACTION) & (top[:, 0] > bottom[:, 0])
    return {
        "percentiles": list(_PERCENTILES),
        "amplitude_percentiles_uv": np.round(pct, 2).tolist(),
        "std_uv": np.round(std, 3).tolist(),
        "flat": (std < FLAT_STD_UV).tolist(),
        "saturated": saturated.tolist(),
    }


def _mean_spectrum(data: np.ndarray, sfreq: float) -> dict:
    """Channel-averaged power spectral density: Welch with 2-s Hann segments, no overlap.

    Written out rather than ``scipy.signal.welch``, whose per-segment detrending costs more than
    the rest of the estimate; the signal is already high-passed.
    """
    nper = int(min(data.shape[1], 2 ** int(np.log2(max(sfreq * 2, 16)))))
    n_seg = data.shape[1] // nper
    segments = data[:, : n_seg * nper].reshape(data.shape[0], n_seg, nper)
    window = np.hanning(nper).astype(np.float32)
    power = np.abs(np.fft.rfft(segments * window, axis=-1)) ** 2
    psd = power.mean(axis=(0, 1)) / (sfreq * np.sum(window**2))
    psd[1:-1] *= 2  # one-sided
    freqs = np.fft.rfftfreq(nper, 1 / sfreq)
    return {"freqs_hz": np.round(freqs, 3).tolist(), "mean_log10_psd_uv2_per_hz": np.round(np.log10(psd + 1e-12), 4).tolist()}


def build_one(
    store: str,
    raw_root: str,
    dataset_id: str,
    source: dict,
    profile: dict,
    line_freq: float | None,
    drop_channels: list[str],
    strict: bool = False,
    storage_options: dict | None = None,
    bids: tuple | None = None,
) -> dict:
    """Process and publish one recording. The dask task: arguments and result are small.

    ``store`` and ``raw_root`` are folders or fsspec URLs (with ``storage_options``); a raw
    file on object storage is downloaded with its companions into a temporary folder first,
    and failure messages name it by its URL. ``bids`` (the BIDS options as sorted items) reads
    the source as part of a BIDS dataset (:mod:`eegcorpus.bids`).

    Returns
    -------
    dict
        ``status`` ("written", "skipped" or "failed"), ``recording_id``, ``hours``, and
        ``row`` (index row) or ``failure`` (file, stage, error).
    """
    from eegcorpus.datasets.base import Source
    from eegcorpus.pipeline.process import process_recording

    raw, out = storage_for(raw_root, storage_options), storage_for(store, storage_options)
    src = Source(**source)
    prof = Profile(**{**profile, "channel_types": tuple(profile["channel_types"])})
    name = raw.name(src.path)
    local_raw: Path | None = None
    stage = "find"
    try:
        file_stamp, companions = _stamps(raw, src, name)
        old = recording_attrs(out, src.recording_id)
        same_setup = _same_setup(old, prof, companions, src)
        if same_setup and [old.get("source_size"), old.get("source_mtime_ns")] == file_stamp:
            return {"status": "skipped", "recording_id": src.recording_id, "hours": 0.0, "row": index_row(old)}
        stage = "read"
        known = {src.path: file_stamp} | {src.companions[key]: stamp for key, stamp in companions.items()}
        with raw.local_files([src.path, *src.companions.values()], known) as local_raw:
            adapter = _adapter(dataset_id, bids)
            rec = adapter.read(local_raw, src)
            if raw.stamp(src.path) != file_stamp:
                # What was read may mix two versions, and the stamps stored with it would describe
                # neither; the next build stores the file as it is then.
                raise ReaderError(name, "the file changed while it was being read (size or modification time); build again to store its new version")
            if same_setup and old.get("source_sha256") == rec.sha256:
                return {"status": "skipped", "recording_id": src.recording_id, "hours": 0.0, "row": index_row(old)}
            stage = "process"
            options = {"line_freq": line_freq, "drop_channels": drop_channels, "channel_map": adapter.channel_map} | adapter.process_options(src, rec)
            processed = process_recording(rec, prof, **options)
            events = adapter.events(src, rec)
        attrs = _attributes(dataset_id, src, prof, rec, processed, events, file_stamp, companions) | adapter.attributes(src, rec)
        stage = "write"
        write_recording(out, src.recording_id, processed, attrs, prof)
        return {"status": "written", "recording_id": src.recording_id, "hours": processed.duration_s / 3600, "row": index_row(attrs)}
    except Exception as err:
        failure = _failure(err, name, src, stage, raw, local_raw, out, strict)
        return {"status": "failed", "recording_id": src.recording_id, "hours": 0.0, "failure": failure}


def _stamps(raw: Storage, src, name: str) -> tuple[list, dict]:
    """The raw file's (size, mtime) and its companions' (hypnograms, label files, event tables):
    they shape the stored labels, so a change to one of them rebuilds the recording too."""
    file_stamp = raw.stamp(src.path)
    if file_stamp[0] is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), name)
    return file_stamp, {key: raw.stamp(rel) for key, rel in sorted(src.companions.items())}


def _same_setup(old: dict | None, prof: Profile, companions: dict, src=None) -> bool:
    """Whether the stored recording was made by this profile and pipeline from these companions
    and what the adapter says of its source (then an unchanged raw file means nothing to do)."""
    return (
        old is not None
        and old.get("profile_digest") == prof.digest
        and old.get("pipeline_version") == PIPELINE_VERSION
        and old.get("companion_stamps", {}) == companions
        and (src is None or old.get("source_extra", {}) == src.extra)
    )


def _attributes(dataset_id: str, src, prof: Profile, rec, processed, events, file_stamp: list, companions: dict) -> dict:
    """The recording group's attributes: identity, source and its stamps, profile, provenance,
    versions, QC, mean spectrum and events (what the store's index and ``verify`` read)."""
    raw_kept = rec.data[[rec.ch_names.index(n) for n in processed.ch_names]]
    quantum = choose_quantum(processed.data, prof.quantum_uv) if prof.storage == "int16" else None
    return {
        "recording_id": src.recording_id,
        "dataset": dataset_id,
        "subject": src.subject,
        "session": src.session,
        "run": src.run,
        "task": src.task,
        "acquisition": src.acquisition,
        "label": src.label,
        "source_path": src.path,
        "source_extra": src.extra,
        "source_companions": src.companions,
        "companion_stamps": companions,
        "source_sha256": rec.sha256,
        "source_size": file_stamp[0],
        "source_mtime_ns": file_stamp[1],
        "source_format": rec.format,
        "meas_date": rec.meas_date.isoformat() if rec.meas_date else None,
        "sfreq": processed.sfreq,
        "units": "uV",
        "n_channels": int(processed.data.shape[0]),
        "n_samples": int(processed.n_times),
        "duration_s": float(processed.duration_s),
        "quantum_uv": quantum,
        "profile": prof.name,
        "profile_version": prof.version,
        "profile_digest": prof.digest,
        "profile_params": prof.to_dict(),
        "pipeline_version": PIPELINE_VERSION,
        "provenance": processed.provenance,
        "versions": _versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "qc": _channel_qc(raw_kept, processed.data),
        "spectrum": _mean_spectrum(processed.data, processed.sfreq),
        "events": {
            "onset": [float(v) for v in events["onset"]],
            "duration": [float(v) for v in events["duration"]],
            "description": [str(v) for v in events["description"]],
            "label": [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in events["label"]],
        },
    }


def _failure(err: Exception, name: str, src, stage: str, raw: Storage, local_raw: Path | None, out: Storage, strict: bool) -> dict:
    """The failure row of a recording (file, stage, one-line error naming the file as the user
    knows it); raises instead when the disk is full or ``strict`` stops the build."""
    message = _failure_message(name, err)
    if local_raw is not None and str(local_raw) != str(raw.location):
        # a reader names the downloaded copy; the user knows the file by its URL
        message = message.replace(str(local_raw / src.path), name).replace(str(local_raw), raw.name())
    failure = {"file": src.path, "stage": stage, "error": message}
    if isinstance(err, OSError) and err.errno in _DISK_FULL:
        raise StoreFullError(f"{message}; the build stopped: free space for {out} and run it again to resume", failure) from err
    if strict:
        raise BuildStopped(f"{name}: {stage} failed: {message[len(name) + 2 :] if message.startswith(name + ': ') else message}", failure) from err
    return failure


def _subject_key(subject) -> str:
    """Subjects compare by number where they are numbers ("007" and "7" are one subject)."""
    return str(int(subject)) if str(subject).isdigit() else str(subject)


def _select(sources, subjects, limit):
    if subjects:
        wanted = {_subject_key(s) for s in subjects}
        sources = [s for s in sources if _subject_key(s.subject) in wanted]
    if limit is not None:
        sources = sources[:limit]
    return sources


def build(
    dataset: str,
    raw: str | Path,
    out: str | Path,
    *,
    profile: str | Path | Profile = "neuript",
    scheduler: str = "auto",
    workers: int | None = None,
    subjects=None,
    limit: int | None = None,
    strict: bool = False,
    progress: bool = True,
    storage_options: dict | None = None,
) -> BuildResult:
    """Build (or resume) the store of one catalog dataset.

    Parameters
    ----------
    dataset : str
        A catalog id (``eegcorpus catalog list``).
    raw : path-like | str
        Folder holding the dataset's files in its documented layout (any depth below), or an
        fsspec URL of one (``s3://bucket/raw/tuep``).
    out : path-like | str
        The store (created if missing), or an fsspec URL (see :mod:`eegcorpus.storage`).
    profile : str | path | Profile
        ``neuript`` (default), ``labram``, ``cbramod`` or a TOML/YAML profile file.
    scheduler : "auto" | "threads" | "processes" | "sync" | "tcp://HOST:PORT"
        dask's local threaded or multiprocess scheduler, a single thread for debugging, or the
        address of a dask.distributed scheduler. ``"auto"`` (default) takes processes for builds
        of at least :data:`PROCESSES_FROM` recordings on more than one core (they scale past the
        GIL but cost about 1.5 s to start), threads otherwise.
    workers : int | None
        Local workers (default: all cores).
    subjects : list | None
        Only these subjects (dataset numbering).
    limit : int | None
        Only the first N recordings (after the subject filter).
    strict : bool
        Stop at the first failure instead of recording it and going on.
    storage_options : dict | None
        fsspec options for URLs (e.g. ``{"endpoint_url": ...}``); credentials are best left to
        the environment, since these options travel with every task.
    """
    started = time.perf_counter()
    _check_scheduler(scheduler)
    from eegcorpus.catalog import get_card

    card = get_card(dataset)
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    raw_storage, store = storage_for(raw, storage_options), storage_for(out, storage_options)
    if not raw_storage.is_dir():
        raise BuildError(f"{raw_storage}: raw folder not found")
    adapter = _adapter(dataset)
    with raw_storage.listing() as tree:
        sources = _select(adapter.find(tree), subjects, limit)
    if not sources:
        raise BuildError(f"no {dataset} files under {raw_storage} (layout {card.layout.pattern!r}). {card.access_notes}".strip())
    plan = BuildPlan(dataset, prof, sources, float(card.line_freq) if card.line_freq else None, list(card.drop_channels))
    return run_build(plan, raw_storage, store, scheduler, workers, strict, progress, started, storage_options)


def _check_scheduler(scheduler: str) -> None:
    if not str(scheduler).startswith("tcp://"):
        check_option("scheduler", scheduler, ("auto", "threads", "processes", "sync", "tcp://HOST:PORT"))


@dataclass
class BuildPlan:
    """What one build stores: the dataset name, profile and sources, the dataset-wide processing
    settings, and for a BIDS dataset its options and the failures found while listing it."""

    dataset: str
    profile: Profile
    sources: list
    line_freq: float | None = None
    drop_channels: list[str] = field(default_factory=list)
    #: BIDS options as sorted (name, value) items (see :mod:`eegcorpus.bids`); None for a card.
    bids: tuple | None = None
    #: Results known before any task runs: failures of dataset-wide files and metadata files
    #: that were checked and are fine (their earlier failures are then dropped).
    preset: list[dict] = field(default_factory=list)


def run_build(plan: BuildPlan, raw: Storage, store: Storage, scheduler, workers, strict, progress, started, storage_options) -> BuildResult:
    """Take the store's lock and run one task per source of ``plan``."""
    if scheduler == "auto":
        cores = workers or os.cpu_count() or 1
        scheduler = "processes" if cores > 1 and len(plan.sources) >= PROCESSES_FROM else "threads"
    store.create()
    with store_lock(store):
        # Under the lock: two builds creating the same new store cannot interleave its creation.
        init_store(store)
        return _build_locked(store, raw, plan, scheduler, workers, strict, progress, started, storage_options)


#: The build lock's key in a store.
LOCK = ".lock"


@contextlib.contextmanager
def store_lock(store: str | Path | Storage, storage_options: dict | None = None):
    """Hold the store's build lock, or fail at once naming the build that holds it.

    Locally an exclusive ``flock`` that the kernel releases however its holder exits; on object
    storage a lock object with a heartbeat that the next build takes over once its holder has
    died (:mod:`eegcorpus.storage.remote`).
    """
    storage = storage_for(store, storage_options)
    try:
        with storage.lock(LOCK):
            yield
    except LockHeldError as held:
        raise BuildError(f"{storage}: another build is writing this store ({held}); wait for it to finish") from None


def _build_locked(store: Storage, raw: Storage, plan: BuildPlan, scheduler, workers, strict, progress, started, storage_options) -> BuildResult:
    dataset, prof = plan.dataset, plan.profile
    args = (str(store.location), str(raw.location), dataset)
    common = (prof.to_dict(), plan.line_freq, plan.drop_channels, strict, storage_options or {}, plan.bids)
    store.clear_staging()
    fault_point("start")

    def write_tables(results, result, stopped):
        try:
            _write_tables(store, results, dataset, prof, result, exists=raw.exists)
        except OSError as err:
            # The tables are replaced atomically, so the old ones are intact; the index is
            # rebuilt from the recordings by the next reader. An error already on its way out
            # (a full disk) says more than this one.
            if stopped is None:
                raise BuildError(
                    f"{store.name(TABLES)}: cannot write the tables ({err.strerror or err}); the recordings are stored and the next build writes them"
                ) from err

    return run_tasks(
        BuildResult(store=store.location),
        dataset,
        [s.to_dict() for s in plan.sources],
        args,
        common,
        scheduler,
        workers,
        progress,
        started,
        write_tables,
        preset=plan.preset,
    )


def run_tasks(
    result: BuildResult,
    dataset: str,
    payloads: list[dict],
    args: tuple,
    common: tuple,
    scheduler: str,
    workers: int | None,
    progress: bool,
    started: float,
    write_tables,
    preset: list[dict] = (),
) -> BuildResult:
    """Run one task per recording on the scheduler, collecting results as they arrive, and
    write the tables afterwards, also when the run stops early.

    ``write_tables(results, result, stopped)`` gets every result so far (when the run stops
    early, --strict or a full disk, the tables still record what was done before, and the
    stopping failure) and the exception that stopped the run, if any. ``preset`` results come
    first: failures found before the tasks (a malformed ``participants.tsv``) and files checked
    then (``{"status": "checked", "file": ...}``).
    """
    from tqdm import tqdm

    bar = tqdm(total=len(payloads), unit="rec", desc=f"build {dataset}", disable=not progress, dynamic_ncols=True)
    done: list[dict] = list(preset)
    result.failed.extend(r["failure"] for r in preset if r["status"] == "failed")

    def collect(res: dict) -> None:
        done.append(res)
        {"written": result.written, "skipped": result.skipped}.get(res["status"], []).append(res["recording_id"])
        if res["status"] == "failed":
            result.failed.append(res["failure"])
            if progress:  # live, above the bar (stderr: stdout stays clean for --json)
                ensure_handler(logger)
                logger.warning(f"failed: {res['failure']['error']}")
        result.hours += res["hours"]
        bar.set_postfix(hours=f"{result.hours:.2f}", failed=result.n_failed, refresh=False)
        bar.update(1)

    stopped: BaseException | None = None
    try:
        if str(scheduler).startswith("tcp://"):
            _run_distributed(scheduler, args, payloads, common, collect)
        else:
            _run_local(scheduler, workers, args, payloads, common, collect)
    except BaseException as err:
        stopped = err
        if isinstance(err, BuildStopped) and err.failure:
            done.append({"status": "failed", "recording_id": None, "hours": 0.0, "failure": err.failure})
            result.failed.append(err.failure)
        raise
    finally:
        bar.close()
        result.seconds = time.perf_counter() - started
        write_tables(done, result, stopped)
    return result


def _run_local(scheduler, workers, args, payloads, common, collect) -> None:
    """Run the tasks on a local dask scheduler; ``collect`` gets every result as it arrives."""
    import dask
    from dask.callbacks import Callback

    tasks = [dask.delayed(build_one, pure=False)(*args, payload, *common) for payload in payloads]

    class _Progress(Callback):
        def _posttask(self, key, res, dsk, state, worker_id):
            if isinstance(res, dict) and "status" in res:
                collect(res)

    with _Progress():
        if scheduler == "processes":
            pool = _process_pool(workers)
            try:
                dask.compute(*tasks, scheduler="processes", pool=pool)
                return
            except BaseException:
                # As with threads below: the recordings still being written in other workers
                # finish before the tables are written and the lock is released. The pool is
                # shut down, so the next build in this process starts a fresh one.
                pool.shutdown(wait=True, cancel_futures=True)
                _process_pool.cache_clear()
                raise
        if scheduler == "threads":
            from concurrent.futures import ThreadPoolExecutor

            # A pool of this build's own: when a task fails the run (--strict, a full disk),
            # dask returns at once, and the recordings still being written must finish before
            # the tables are written and the lock is released.
            pool = ThreadPoolExecutor(workers or os.cpu_count() or 1)
            try:
                # The pool itself as the scheduler: naming "threads" makes dask import
                # dask.distributed to look for a client (0.4 s, a third of a one-file build).
                dask.compute(*tasks, scheduler=pool)
                return
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        kwargs = {"scheduler": scheduler}
        if workers and scheduler != "sync":
            kwargs["num_workers"] = workers
        dask.compute(*tasks, **kwargs)


@lru_cache(maxsize=4)
def _process_pool(workers: int | None):
    """Worker processes forked from a forkserver that has imported the build code once.

    Spawned workers would each import numpy, scipy, zarr and this package again (over a second
    each, every build); forking the driver itself is unsafe once it runs threads (zarr's event
    loop, tqdm). A forkserver is a clean single-threaded process that has imported
    :mod:`eegcorpus._forkserver_preload`, so its children start in milliseconds with everything
    loaded and no inherited threads. The pool lives as long as the driver process, so several
    builds in one script share it; it is shut down at exit.
    """
    import atexit
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["eegcorpus._forkserver_preload"])
    pool = ProcessPoolExecutor(max_workers=workers or os.cpu_count(), mp_context=context)
    # Shut down while the interpreter is whole; left to garbage collection at exit, the pool's
    # callbacks run after modules are torn down and print a traceback.
    atexit.register(pool.shutdown)
    return pool


def _run_distributed(address, args, payloads, common, collect) -> None:
    """Run the tasks on a dask.distributed cluster; ``collect`` gets every result as it arrives."""
    from distributed import Client, as_completed

    with Client(address) as client:
        futures = [client.submit(build_one, *args, payload, *common, pure=False) for payload in payloads]
        try:
            for future in as_completed(futures):
                collect(future.result())
        except BaseException:
            client.cancel(futures)
            raise


def merge_tables(read, results: list[dict], dataset: str, prof: Profile, result: BuildResult, exists=None) -> tuple[list, list, list]:
    """This run's results merged into the store's tables, however they are stored.

    ``read(name, default)`` returns a table of the store. ``exists(path)``, when given, tells
    whether a raw file is still there: earlier failures of files that are gone are dropped
    (there is nothing left to fix). Returns the index rows (before they are checked against the
    published recordings), the failures and the build log.
    """
    cached = read("recordings.json", [])
    fresh = {r["row"]["recording_id"]: r["row"] for r in results if "row" in r}
    merged = [fresh.pop(row["recording_id"], row) for row in cached] + list(fresh.values())

    done = {r["row"]["source_path"] for r in results if "row" in r} | {r["file"] for r in results if r["status"] == "checked"}
    failures = [f for f in read("failures.json", []) if f["file"] not in done and (exists is None or exists(f["file"]))]
    seen = {f["file"] for f in failures}
    failures += [r["failure"] for r in results if r["status"] == "failed" and r["failure"]["file"] not in seen]

    log = read("builds.json", [])
    log.append(
        {
            "dataset": dataset,
            "profile": prof.name,
            "profile_digest": prof.digest,
            "finished": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "written": len(result.written),
            "skipped": len(result.skipped),
            "failed": result.n_failed,
            "hours": round(result.hours, 4),
            "seconds": round(result.seconds, 2),
            "versions": _versions(),
            "pid": os.getpid(),
        }
    )
    return merged, failures, log


def _write_tables(store: Storage, results: list[dict], dataset: str, prof: Profile, result: BuildResult, exists=None) -> None:
    """Index, failures and build log, each replaced whole after the run (even a failed one).

    ``exists(relative_path)``: whether a raw file is still there; earlier failures of files
    that are gone are dropped (see :func:`merge_tables`).
    """
    fault_point("tables")
    merged, failures, log = merge_tables(lambda name, default: store.read_json(f"{TABLES}/{name}", default), results, dataset, prof, result, exists=exists)
    rows = rebuild_index_rows(store, merged)
    store.write_json(f"{TABLES}/recordings.json", [{k: row.get(k) for k in ("recording_id",) + INDEX_COLUMNS} for row in rows])
    store.write_json(f"{TABLES}/failures.json", failures)
    store.write_json(f"{TABLES}/builds.json", log)
