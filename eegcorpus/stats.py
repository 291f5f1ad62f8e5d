"""``eegcorpus stats``: what a store holds, from the summaries each recording carries.

The build computes per-channel amplitude percentiles, flat and saturated flags and a mean power
spectrum for every recording (``qc`` and ``spectrum`` attributes), so statistics of a large store
never re-read its signals.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from eegcorpus.store import Store


def compute_stats(store: Store) -> dict:
    """Summary statistics of a store, as a JSON-ready dict.

    Keys: ``recordings``, ``subjects``, ``hours``, ``hours_per_dataset``, ``sfreq`` (rate ->
    recordings), ``channels`` (canonical name -> recordings that have it),
    ``amplitude_percentiles_uv`` (channel -> median over recordings of each percentile),
    ``flat_channels`` and ``saturated_channels`` (channel -> recordings where it is),
    ``labels`` (class -> recordings, or events where labels are per event), ``failures``,
    ``failures_by_stage``, ``quantum_uv``.
    """
    tally = StatsTally()
    for rid in store.index.index:
        tally.add(store.attrs(rid), _channel_names(store, rid))
    return tally.summary(store)


class StatsTally:
    """The per-recording counts behind :func:`compute_stats`, fed one recording at a time.

    A reader that goes through the recordings for its own purpose (``eegcorpus.report``) feeds
    the attributes and channel names it has read, and gets the same statistics without a second
    pass over the store.
    """

    def __init__(self) -> None:
        self.channels: Counter = Counter()
        self.flat: Counter = Counter()
        self.saturated: Counter = Counter()
        self.percentiles: dict[str, list] = defaultdict(list)
        self.event_labels: Counter = Counter()
        self.pct_levels = None

    def add(self, attrs: dict, names: list[str]) -> None:
        """Count one recording: its attributes (``qc``, ``label``, ``events``) and canonical
        channel names, in the order of its channels."""
        self.channels.update(names)
        qc = attrs.get("qc") or {}
        self.pct_levels = qc.get("percentiles", self.pct_levels)
        for name, values, is_flat, is_sat in zip(names, qc.get("amplitude_percentiles_uv", []), qc.get("flat", []), qc.get("saturated", [])):
            self.percentiles[name].append(values)
            self.flat[name] += bool(is_flat)
            self.saturated[name] += bool(is_sat)
        if attrs.get("label") is None:
            self.event_labels.update(label for label in (attrs.get("events") or {}).get("label", []) if label is not None)

    def summary(self, store: Store) -> dict:
        """The statistics of :func:`compute_stats`, from the recordings added so far and the
        store's index and failures table."""
        index = store.index
        recording_labels = Counter(str(v) for v in index["label"].dropna())
        failures = store.failures
        hours = index.groupby("dataset")["duration_s"].sum() / 3600 if len(index) else {}
        return {
            "store": str(store.path),
            "recordings": int(len(index)),
            "subjects": int(index[["dataset", "subject"]].drop_duplicates().shape[0]) if len(index) else 0,
            "hours": round(float(index["duration_s"].sum() / 3600), 4) if len(index) else 0.0,
            "hours_per_dataset": {k: round(float(v), 4) for k, v in dict(hours).items()},
            "sfreq": {f"{k:g}": int(v) for k, v in Counter(index["sfreq"]).items()},
            "channels": dict(sorted(self.channels.items(), key=lambda kv: (-kv[1], kv[0]))),
            "percentile_levels": self.pct_levels,
            "amplitude_percentiles_uv": {
                name: np.round(np.median(np.asarray(values), axis=0), 2).tolist() for name, values in sorted(self.percentiles.items())
            },
            "flat_channels": {k: v for k, v in sorted(self.flat.items()) if v},
            "saturated_channels": {k: v for k, v in sorted(self.saturated.items()) if v},
            "labels": dict(recording_labels) if recording_labels else dict(self.event_labels),
            "label_source": "recording" if recording_labels else ("event" if self.event_labels else None),
            "failures": int(len(failures)),
            "failures_by_stage": dict(Counter(failures["stage"])) if len(failures) else {},
            "quantum_uv": {f"{k:g}": int(v) for k, v in Counter(index["quantum_uv"].dropna()).items()},
        }


def _channel_names(store: Store, recording_id: str) -> list[str]:
    return [str(v) for v in store.group(recording_id)["ch_name"][:]]


def format_stats(stats: dict) -> str:
    """Human-readable report of :func:`compute_stats`."""
    lines = [
        f"store {stats['store']}",
        f"  {stats['recordings']} recordings, {stats['subjects']} subjects, {stats['hours']:.2f} h",
    ]
    for dataset, hours in stats["hours_per_dataset"].items():
        lines.append(f"    {dataset}: {hours:.2f} h")
    lines.append("  sampling rate: " + ", ".join(f"{k} Hz ({v} rec)" for k, v in stats["sfreq"].items()))
    lines.append("  storage step: " + ", ".join(f"{k} uV ({v} rec)" for k, v in stats["quantum_uv"].items()))
    chans = stats["channels"]
    lines.append(f"  {len(chans)} channels; coverage: " + ", ".join(f"{k} {v}" for k, v in list(chans.items())[:12]) + (" ..." if len(chans) > 12 else ""))
    levels = stats.get("percentile_levels") or []
    if stats["amplitude_percentiles_uv"]:
        lines.append("  amplitude percentiles (uV, median over recordings): " + " ".join(f"p{p:g}" for p in levels))
        for name, values in list(stats["amplitude_percentiles_uv"].items())[:8]:
            lines.append(f"    {name:<6} " + " ".join(f"{v:7.1f}" for v in values))
        if len(stats["amplitude_percentiles_uv"]) > 8:
            lines.append(f"    ... {len(stats['amplitude_percentiles_uv']) - 8} more channels (--json for all)")
    lines.append(f"  flat channels: {stats['flat_channels'] or 'none'}; saturated: {stats['saturated_channels'] or 'none'}")
    if stats["labels"]:
        lines.append(f"  labels ({stats['label_source']}s): " + ", ".join(f"{k} {v}" for k, v in sorted(stats["labels"].items())))
    lines.append(f"  failures: {stats['failures']}" + (f" {stats['failures_by_stage']}" if stats["failures"] else ""))
    return "\n".join(lines)


def write_plots(store: Store, stats: dict, folder: str | Path) -> list[Path]:
    """PNG figures: channel coverage on a head outline, amplitude distributions, mean spectra."""
    from eegcorpus.channels import channel_position

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    positions = {name: channel_position(name) for name in stats["channels"]}
    written = [_save(coverage_figure(stats["channels"], positions, stats["recordings"]), folder / "channel_coverage.png")]
    fig = amplitude_figure(stats["amplitude_percentiles_uv"])
    if fig is not None:
        written.append(_save(fig, folder / "amplitude_distributions.png"))
    spectra = defaultdict(list)
    for rid, row in store.index.iterrows():
        add_spectrum(spectra, row["dataset"], store.attrs(rid))
    fig = spectrum_figure(spectra)
    if fig is not None:
        written.append(_save(fig, folder / "mean_spectrum.png"))
    return written


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def head_xy(position) -> tuple[float, float]:
    """A 3D electrode position (head frame) on the 2D head plot: azimuthal equidistant
    projection from the vertex, so that the ears' horizontal plane (90 degrees from the vertex)
    falls on the unit circle; ``+y`` (the nose) points up."""
    x, y, z = np.asarray(position, dtype=float) / np.linalg.norm(position)
    theta = np.arccos(np.clip(z, -1, 1)) / (np.pi / 2)
    phi = np.arctan2(y, x)
    return theta * np.cos(phi), theta * np.sin(phi)


def coverage_figure(channels: dict, positions: dict, n_recordings: int):
    """Channel coverage on a head outline: one disc per channel, coloured by the fraction of
    recordings that have it.

    Parameters
    ----------
    channels : dict
        Channel name -> number of recordings that have it (drawn in this order).
    positions : dict
        Channel name -> 3D position in the head frame (metres); a channel whose position is
        None is left out.
    n_recordings : int
        The number of recordings (the denominator of the fractions).

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.add_patch(plt.Circle((0, 0), 1.0, fill=False, lw=1.5))
    ax.plot([-0.1, 0, 0.1], [0.99, 1.12, 0.99], color="k", lw=1.5)  # nose
    total = max(n_recordings, 1)
    xs, ys, cs, names = [], [], [], []
    for name, count in channels.items():
        pos = positions.get(name)
        if pos is None:
            continue
        x, y = head_xy(pos)
        xs.append(x)
        ys.append(y)
        cs.append(count / total)
        names.append(name)
    points = ax.scatter(xs, ys, c=cs, cmap="viridis", vmin=0, vmax=1, s=160, edgecolors="k", alpha=0.6)
    for x, y, name in zip(xs, ys, names):
        ax.annotate(name, (x, y), fontsize=5, ha="center", va="center", color="k")
    fig.colorbar(points, ax=ax, shrink=0.7, label="fraction of recordings")
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"Channel coverage ({n_recordings} recordings)")
    return fig


def amplitude_figure(amplitude_percentiles: dict):
    """Amplitude percentile ranges per channel (``compute_stats``'s
    ``amplitude_percentiles_uv``); None when there are none."""
    if not amplitude_percentiles:
        return None
    plt = pyplot()
    names = list(amplitude_percentiles)
    values = np.asarray([amplitude_percentiles[n] for n in names])
    fig, ax = plt.subplots(figsize=(max(6, 0.18 * len(names)), 4))
    idx = np.arange(len(names))
    ax.fill_between(idx, values[:, 0], values[:, -1], alpha=0.25, label="p1-p99")
    ax.fill_between(idx, values[:, 1], values[:, -2], alpha=0.4, label="p5-p95")
    ax.plot(idx, values[:, 3], "k.", label="median")
    ax.set_xticks(idx)
    ax.set_xticklabels(names, rotation=90, fontsize=6)
    ax.set_ylabel("amplitude (uV)")
    ax.legend(fontsize=7)
    ax.set_title("Amplitude distribution per channel (median over recordings)")
    return fig


def add_spectrum(spectra: dict, dataset: str, attrs: dict) -> None:
    """Append a recording's stored mean spectrum (``attrs["spectrum"]``, if any) to
    ``spectra[dataset]`` as ``(freqs, log10 psd)``."""
    spec = attrs.get("spectrum")
    if spec:
        spectra[dataset].append((np.asarray(spec["freqs_hz"]), np.asarray(spec["mean_log10_psd_uv2_per_hz"])))


def spectrum_figure(spectra: dict):
    """Mean power spectrum per dataset from ``{dataset: [(freqs, log10 psd), ...]}`` (see
    :func:`add_spectrum`); None when there are none. A dataset's curve averages the recordings
    whose frequency grid matches its first one."""
    if not spectra:
        return None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for dataset, items in spectra.items():
        freqs = items[0][0]
        same = [p for f, p in items if len(f) == len(freqs)]
        ax.plot(freqs, np.mean(same, axis=0), label=f"{dataset} ({len(same)} rec)")
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("log10 power (uV^2/Hz)")
    ax.legend(fontsize=8)
    ax.set_title("Mean power spectrum per dataset")
    return fig


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path
