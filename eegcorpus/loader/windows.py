"""The window index: which windows a dataset serves, as numpy arrays (never Python lists).

A DataLoader worker holds a copy of the index; Python lists of objects would be copied page by
page on access in forked workers (reference counts write to every page), numpy arrays are not.

Three ways to cut windows (:class:`WindowSpec`):

``fixed``
    windows of ``length_s`` every ``stride_s`` over each recording (pretraining; MentalArithmetic
    5-s windows, TUAB 10-s windows), labelled with the recording's label when it has one;
``events``
    one window per labelled event, starting ``offset_s`` after the event onset (P300 flashes,
    motor-imagery cues, TUEV events, 30-s sleep epochs with offset 0);
``events`` windows that would leave the recording are dropped, and so are events without label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eegcorpus._validate import check_option


@dataclass(frozen=True)
class WindowSpec:
    """How windows are cut.

    Parameters
    ----------
    length_s : float
        Window length in seconds.
    stride_s : float | None
        Step between window starts for ``mode="fixed"`` (default: ``length_s``, no overlap).
    mode : "fixed" | "events"
        See the module docstring.
    offset_s : float
        For ``mode="events"``: window start relative to the event onset (negative = before).
    labels : dict | None
        Class name -> integer code. None: the sorted distinct labels of the stores, coded 0..K-1.
    """

    length_s: float
    stride_s: float | None = None
    mode: str = "fixed"
    offset_s: float = 0.0
    labels: dict | None = None

    def __post_init__(self):
        check_option("mode", self.mode, ("fixed", "events"))
        if self.length_s <= 0 or (self.stride_s is not None and self.stride_s <= 0):
            raise ValueError(f"Window length and stride must be positive, got {self.length_s} and {self.stride_s}.")


@dataclass
class WindowIndex:
    """Every window of a dataset.

    ``recording[i]`` indexes :attr:`recordings` (a DataFrame: store, recording_id, sfreq,
    n_samples, n_channels); ``start[i]`` is the first sample; ``label[i]`` the class code (-1: none).
    """

    recordings: pd.DataFrame
    recording: np.ndarray  # int32
    start: np.ndarray  # int64
    label: np.ndarray  # int32
    length: int  # samples
    sfreq: float
    classes: dict  # name -> code

    def __len__(self) -> int:
        return len(self.start)


def build_index(stores, spec: WindowSpec, recording_ids=None) -> WindowIndex:
    """Cut the windows of one or more stores.

    Parameters
    ----------
    stores : list of Store
        Opened stores (``eegcorpus.open_store``). All recordings must share one sampling rate.
    spec : WindowSpec
        How to cut.
    recording_ids : iterable of str | None
        Only these recordings (e.g. one split's subjects).
    """
    rows = []
    for s, store in enumerate(stores):
        index = store.index
        if recording_ids is not None:
            index = index[index.index.isin(set(recording_ids))]
        for rid, row in index.iterrows():
            rows.append(
                {
                    "store": s,
                    "recording_id": rid,
                    "sfreq": float(row["sfreq"]),
                    "n_samples": int(row["n_samples"]),
                    "n_channels": int(row["n_channels"]),
                    "label": row["label"],
                    "subject": row["subject"],
                    "dataset": row["dataset"],
                }
            )
    recordings = pd.DataFrame(rows)
    if recordings.empty:
        raise ValueError("No recording to cut windows from (empty stores or selection).")
    rates = sorted(set(recordings["sfreq"]))
    if len(rates) != 1:
        raise ValueError(f"Recordings have different sampling rates {rates}; build the stores with one profile.")
    sfreq = rates[0]
    length = int(round(spec.length_s * sfreq))
    stride = int(round((spec.stride_s or spec.length_s) * sfreq))

    events = {}
    if spec.mode == "events":
        for s, store in enumerate(stores):
            ids = set(recordings.loc[recordings["store"] == s, "recording_id"])
            for rid in ids:
                events[(s, rid)] = store.events(rid)
    classes = dict(spec.labels) if spec.labels else _classes(recordings, events, spec.mode)

    rec_parts, start_parts, label_parts = [], [], []
    for i, row in enumerate(recordings.itertuples()):
        if spec.mode == "fixed":
            starts = np.arange(0, row.n_samples - length + 1, stride, dtype=np.int64)
            code = classes.get(row.label, -1) if isinstance(row.label, str) else -1
            labels = np.full(len(starts), code, dtype=np.int32)
        else:
            ev = events[(row.store, row.recording_id)]
            ev = ev[ev["label"].notna()]
            starts = np.round((ev["onset"].to_numpy() + spec.offset_s) * sfreq).astype(np.int64)
            labels = np.array([classes.get(str(v), -1) for v in ev["label"]], dtype=np.int32)
            inside = (starts >= 0) & (starts + length <= row.n_samples) & (labels >= 0)
            starts, labels = starts[inside], labels[inside]
        rec_parts.append(np.full(len(starts), i, dtype=np.int32))
        start_parts.append(starts)
        label_parts.append(labels)
    return WindowIndex(
        recordings=recordings,
        recording=np.concatenate(rec_parts),
        start=np.concatenate(start_parts),
        label=np.concatenate(label_parts),
        length=length,
        sfreq=sfreq,
        classes=classes,
    )


def _classes(recordings: pd.DataFrame, events: dict, mode: str) -> dict:
    if mode == "fixed":
        names = {v for v in recordings["label"] if isinstance(v, str)}
    else:
        names = {str(v) for ev in events.values() for v in ev["label"].dropna()}
    return {name: code for code, name in enumerate(sorted(names))}
