"""What the QC report shows, gathered in one pass over a store's recordings.

Each recording is opened once, lazily (``xarray.open_zarr`` without dask): its attributes and
channel coordinates, then its signal in blocks of whole shards, each block added to the QC
measures (:class:`eegcorpus.report.qc.SignalScan`) and, around the middle of the recording, to a
short excerpt. Only the per-recording summaries and at most ``max_recordings_with_signal``
excerpts are kept, so the memory a report takes does not grow with the recordings' lengths.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np

from eegcorpus.log import logger
from eegcorpus.report.qc import RecordingFlags, SignalScan, recording_flags
from eegcorpus.stats import StatsTally, add_spectrum
from eegcorpus.store import Store
from eegcorpus.store.writer import MANIFEST, METADATA_DIGEST, RECORDINGS

#: About how many decoded values (float64) one block of signal holds: 4 Mi values, 32 MiB.
BLOCK_VALUES = 1 << 22

#: An excerpt holds at most this many points per channel: a trace drawn in a page about a
#: thousand pixels wide needs no more, and longer excerpts are reduced to the minimum and maximum
#: of consecutive samples (so spikes and plateaus stay visible).
EXCERPT_POINTS = 600

#: And at most this many values over all its channels (fewer points per channel for recordings
#: of many channels): with integers of about five characters each (sign, digits, comma), an excerpt is at most
#: about 200 kB of the page.
EXCERPT_VALUES = 40_000

#: Excerpt values are written as integers in steps of a power of ten of microvolts, at least this
#: (the stores' default storage step) and at most a thirtieth of the excerpt's median RMS: traces
#: drawn six RMS apart on rows of 11-24 pixels cannot show a finer step.
EXCERPT_STEP_UV = 0.1


@dataclass
class RecordingRow:
    """One row of the recordings table."""

    recording_id: str
    dataset: str
    subject: str | None
    session: str | None
    run: str | None
    task: str | None
    label: str | None
    duration_s: float
    sfreq: float
    n_channels: int
    robust_sd_median_uv: float | None = None
    robust_sd_max_uv: float | None = None
    flags: RecordingFlags = field(default_factory=RecordingFlags)
    error: str | None = None
    has_signal: bool = False


@dataclass
class ReportContent:
    """Everything the page shows (see :func:`collect_report`)."""

    store: str
    created: str
    stats: dict
    datasets: list[dict]
    profiles: list[dict]
    builds: list[dict]
    versions: list[tuple[dict, int]]
    rows: list[RecordingRow]
    excerpts: dict[str, dict]
    failures: list[dict]
    n_failures: int
    positions: dict[str, np.ndarray]
    unplaced: list[str]
    robust_sd_by_dataset: dict[str, list[float]]
    spectra: dict[str, list]
    signal_seconds: float
    max_recordings_with_signal: int


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _number(value, missing: float = float("nan")) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return missing
    return number if math.isfinite(number) else missing


def _excerpt_points(n_channels: int) -> int:
    return int(max(2, min(EXCERPT_POINTS, EXCERPT_VALUES // max(1, n_channels))))


def reduce_excerpt(data: np.ndarray, max_points: int) -> tuple[np.ndarray, int]:
    """Reduce ``[channel, time]`` to at most ``max_points`` points per channel.

    Returns the reduced array and ``k``, the number of input samples per bucket (1 when nothing
    was reduced). A longer excerpt is cut into buckets of ``k`` consecutive samples (the last one
    completed with copies of the last sample), each giving its minimum and maximum in the order
    they occur, so the trace keeps its envelope: each output point stands for ``k / 2`` samples.
    """
    n = data.shape[1]
    if n <= max_points:
        return data, 1
    k = math.ceil(n / (max_points // 2))
    n_buckets = math.ceil(n / k)
    padded = np.pad(data, ((0, 0), (0, n_buckets * k - n)), mode="edge")
    buckets = padded.reshape(data.shape[0], n_buckets, k)
    low, high = buckets.min(axis=2), buckets.max(axis=2)
    low_first = buckets.argmin(axis=2) <= buckets.argmax(axis=2)
    pairs = np.stack([np.where(low_first, low, high), np.where(low_first, high, low)], axis=2)
    return pairs.reshape(data.shape[0], -1), k


def excerpt_step(data: np.ndarray) -> float:
    """The step (uV) excerpt values are written in: see :data:`EXCERPT_STEP_UV`."""
    rms = np.sqrt(np.mean((data - data.mean(axis=1, keepdims=True)) ** 2, axis=1)) if data.size else np.zeros(0)
    rms = rms[np.isfinite(rms) & (rms > 0)]
    if not len(rms):
        return EXCERPT_STEP_UV
    return float(max(EXCERPT_STEP_UV, 10.0 ** math.floor(math.log10(np.median(rms) / 30))))


def _scan_recording(store: Store, rid: str, signal_seconds: float):
    """Read one recording once: attributes, channel coordinates, QC measures and an excerpt."""
    import xarray as xr

    ds = xr.open_zarr(store.storage.zarr_store(), group=f"{RECORDINGS}/{rid}", consolidated=False, zarr_format=3, chunks=None)
    attrs = {k: v for k, v in ds.attrs.items() if k not in (MANIFEST, METADATA_DIGEST)}
    names = [str(n) for n in ds["ch_name"].values]
    xyz = np.stack([np.asarray(ds[c].values, dtype=float) for c in ("x", "y", "z")], axis=1)
    signal = ds["signal"]
    n_channels, n_samples = signal.shape
    sfreq = float(attrs.get("sfreq") or 0)
    encoding = signal.encoding
    unit = int((encoding.get("shards") or encoding.get("chunks") or (n_channels, 4096))[1])
    block = max(unit, (BLOCK_VALUES // max(1, n_channels)) // unit * unit)
    n_excerpt = min(n_samples, max(1, round(signal_seconds * sfreq))) if sfreq > 0 else 0
    ex_start = (n_samples - n_excerpt) // 2
    pieces = []
    scan = SignalScan(n_channels, n_samples)
    for start in range(0, n_samples, block):
        values = np.asarray(signal[:, start : start + block].values)
        scan.update(values)
        lo, hi = max(ex_start, start), min(ex_start + n_excerpt, start + values.shape[1])
        if hi > lo:
            pieces.append(values[:, lo - start : hi - start])
    excerpt = None
    if pieces:
        reduced, k = reduce_excerpt(np.concatenate(pieces, axis=1), _excerpt_points(n_channels))
        step = excerpt_step(reduced)
        excerpt = {
            "start_s": round(ex_start / sfreq, 4),
            "dt_s": (k / 2 if k > 1 else 1) / sfreq,
            "step_uv": step,
            "names": names,
            "values": np.round(reduced / step).astype(np.int64).tolist(),
        }
    return attrs, names, xyz, scan.result(), excerpt


def _keep_excerpt(kept: dict, flagged: set, rid: str, excerpt: dict, is_flagged: bool, limit: int) -> None:
    """Keep at most ``limit`` excerpts: flagged recordings first, then the others in order."""
    if limit <= 0:
        return
    if len(kept) >= limit:
        unflagged = [r for r in kept if r not in flagged]
        if not is_flagged or not unflagged:
            return
        del kept[unflagged[-1]]
    kept[rid] = excerpt
    if is_flagged:
        flagged.add(rid)


def _dataset_table(index) -> list[dict]:
    rows = []
    for dataset, frame in index.groupby("dataset", sort=True):
        rows.append(
            {
                "dataset": dataset,
                "recordings": len(frame),
                "subjects": int(frame["subject"].nunique()),
                "hours": float(frame["duration_s"].sum() / 3600),
                "sfreq": sorted({float(v) for v in frame["sfreq"].dropna()}),
                "channels": sorted({int(v) for v in frame["n_channels"].dropna()}),
                "profiles": sorted({str(v) for v in frame["profile"].dropna()}),
            }
        )
    return rows


def collect_report(store: Store, *, signal_seconds: float, max_recordings_with_signal: int) -> ReportContent:
    """Read every recording of ``store`` once and gather what the report shows.

    Parameters
    ----------
    store : Store
        An open store.
    signal_seconds : float
        Length of the excerpt kept per recording, from the middle of the recording.
    max_recordings_with_signal : int
        At most this many excerpts are kept: flagged recordings first, then the others in the
        order of the store's index.

    Returns
    -------
    content : ReportContent
    """
    index = store.index
    total = len(index)
    logger.info("report: reading %d recordings of %s", total, store.path)
    tally = StatsTally()
    rows: list[RecordingRow] = []
    kept: dict[str, dict] = {}
    flagged: set[str] = set()
    position_sum: dict[str, np.ndarray] = defaultdict(lambda: np.zeros(3))
    position_n: Counter = Counter()
    robust: dict[str, list[float]] = defaultdict(list)
    spectra: dict[str, list] = defaultdict(list)
    profiles: dict[str, dict] = {}
    versions: Counter = Counter()
    step = max(100, total // 10)
    for i, (rid, entry) in enumerate(index.iterrows(), start=1):
        row = RecordingRow(
            recording_id=str(rid),
            dataset=str(entry["dataset"]),
            subject=_text(entry["subject"]),
            session=_text(entry["session"]),
            run=_text(entry["run"]),
            task=_text(entry["task"]),
            label=_text(entry["label"]),
            duration_s=_number(entry["duration_s"]),
            sfreq=_number(entry["sfreq"]),
            n_channels=int(_number(entry["n_channels"], 0)),
        )
        rows.append(row)
        try:
            attrs, names, xyz, qc, excerpt = _scan_recording(store, str(rid), signal_seconds)
        except Exception as err:  # one unreadable recording must not end a report of thousands
            row.error = " ".join(f"{type(err).__name__}: {err}".split())
            logger.warning("report: %s cannot be read (%s); it is listed as unreadable", rid, row.error)
            continue
        tally.add(attrs, names)
        add_spectrum(spectra, row.dataset, attrs)
        if row.sfreq > 0:  # the signal's own length, whatever the index says
            row.duration_s = qc.n_samples / row.sfreq
        row.flags = recording_flags(names, qc, row.duration_s, (attrs.get("qc") or {}).get("saturated"))
        finite = np.isfinite(qc.robust_sd_uv)
        if finite.any():
            row.robust_sd_median_uv = float(np.median(qc.robust_sd_uv[finite]))
            row.robust_sd_max_uv = float(np.max(qc.robust_sd_uv[finite]))
            robust[row.dataset].extend(qc.robust_sd_uv[finite].tolist())
        for name, pos in zip(names, xyz):
            if np.all(np.isfinite(pos)):
                position_sum[name] += pos
                position_n[name] += 1
        digest = str(attrs.get("profile_digest"))
        if digest not in profiles:
            profiles[digest] = {
                "profile": attrs.get("profile"),
                "digest": digest,
                "params": attrs.get("profile_params") or {},
                "pipeline_version": attrs.get("pipeline_version"),
                "recordings": 0,
            }
        profiles[digest]["recordings"] += 1
        versions[json.dumps(attrs.get("versions") or {}, sort_keys=True)] += 1
        if excerpt is not None:
            _keep_excerpt(kept, flagged, row.recording_id, excerpt, row.flags.any, max_recordings_with_signal)
        logger.debug("report: %s read (%d/%d)", rid, i, total)
        if i % step == 0 and i < total:
            logger.info("report: %d/%d recordings read", i, total)
    for row in rows:
        row.has_signal = row.recording_id in kept
    stats = tally.summary(store)
    failures = store.failures
    positions = {name: position_sum[name] / position_n[name] for name in position_n}
    return ReportContent(
        store=str(store.path),
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        stats=stats,
        datasets=_dataset_table(index),
        profiles=list(profiles.values()),
        builds=list(store.builds),
        versions=[(json.loads(k), n) for k, n in versions.most_common()],
        rows=rows,
        excerpts={rid: kept[rid] for rid in (r.recording_id for r in rows) if rid in kept},
        failures=failures.to_dict("records"),
        n_failures=len(failures),
        positions=positions,
        unplaced=sorted(name for name in stats["channels"] if name not in positions),
        robust_sd_by_dataset=dict(robust),
        spectra=dict(spectra),
        signal_seconds=float(signal_seconds),
        max_recordings_with_signal=int(max_recordings_with_signal),
    )
