"""The 8 NeurIPT downstream tasks: what is classified, from which windows, scored how.

A :class:`Task` takes its classes, window length, split rule and metrics from the dataset's
catalog card (``catalog/<id>.yaml``) and adds what a card cannot say in machine form: how
windows are cut (:data:`TASK_WINDOWS`) and the montage the model sees (:data:`TASK_MONTAGES`).
:func:`load_windows` cuts every window of a task from eegcorpus stores into memory (a
:class:`TaskWindows`), once, with the labels, subjects and recordings each window came from.

Windows are cut with the loader's own index (:func:`eegcorpus.loader.build_index`) for
``fixed`` and ``events`` windows; ``tiles`` (SEED-V: 1-s windows filling each labelled trial)
is cut here. Signals stay in microvolts after the montage; A-law companding is applied when the
model reads them (the band-power baseline needs microvolts).

| task | windows | montage |
|---|---|---|
| ``mental_arithmetic`` | 5 s, non-overlapping, per recording | average of the 19 10-20 scalp electrodes |
| ``mumtaz2016`` | 5 s, non-overlapping, per recording | average of the 19 10-20 scalp electrodes |
| ``physionet_p300`` | 2 s from 0.7 s before each flash | average of the stored electrodes |
| ``bcic_iv_2a`` | 4 s from each cue | 16 bipolar pairs (:data:`BCIC_BIPOLAR_PAIRS`) |
| ``seed_v`` | 1-s tiles of each trial | stored (monopolar) |
| ``sleep_edfx`` | one 30-s epoch per scored stage | stored (Fpz-Cz, Pz-Oz) |
| ``tuab`` | 10 s, non-overlapping, per recording | NeurIPT double banana |
| ``tuev`` | 5 s: each 1-s event and 2 s either side | NeurIPT double banana |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eegcorpus._validate import check_option
from eegcorpus.loader.montage import TEN_TWENTY, get_montage

#: BCIC-IV-2A: the paper feeds "16 bipolar pairs" of the 22 electrodes without listing them.
#: Ours: the 13 front-to-back neighbours over the sensorimotor strip (FC->C, C->CP, CP->P),
#: the midline Fz-FCz, and the two lateral pairs C5-C3 and C4-C6, left/right symmetric.
BCIC_BIPOLAR_PAIRS: tuple[tuple[str, str], ...] = (
    ("Fz", "FCz"),
    ("FC3", "C3"), ("FC1", "C1"), ("FCz", "Cz"), ("FC2", "C2"), ("FC4", "C4"),
    ("C3", "CP3"), ("C1", "CP1"), ("Cz", "CPz"), ("C2", "CP2"), ("C4", "CP4"),
    ("CP1", "P1"), ("CPz", "Pz"), ("CP2", "P2"),
    ("C5", "C3"), ("C4", "C6"),
)  # fmt: skip

#: How each task cuts windows: (mode, offset_s). ``offset_s`` is where an ``events`` window
#: starts relative to its event onset.
TASK_WINDOWS: dict[str, tuple[str, float]] = {
    "mental_arithmetic": ("fixed", 0.0),
    "mumtaz2016": ("fixed", 0.0),
    "tuab": ("fixed", 0.0),
    "physionet_p300": ("events", -0.7),
    "bcic_iv_2a": ("events", 0.0),  # the adapter's events start at the cue (trial start + 2 s)
    "sleep_edfx": ("events", 0.0),
    "tuev": ("events", -2.0),  # 2 s, the 1-s event, 2 s
    "seed_v": ("tiles", 0.0),
}


def scalp_average_reference(names=TEN_TWENTY, on_missing: str = "raise"):
    """The 19 10-20 scalp electrodes (or ``names``), average-referenced among themselves."""
    from eegcorpus.loader.montage import SubsetAverageReference

    return SubsetAverageReference(names, name="scalp_average", on_missing=on_missing)


def _task_montage(task_id: str):
    if task_id in ("mental_arithmetic", "mumtaz2016"):
        return scalp_average_reference()
    if task_id == "physionet_p300":
        return "average"
    if task_id == "bcic_iv_2a":
        from eegcorpus.loader.montage import BipolarMontage

        return BipolarMontage(BCIC_BIPOLAR_PAIRS, name="bcic_16_bipolar")
    if task_id in ("tuab", "tuev"):
        return "neuript"
    return "stored"  # seed_v (monopolar, as the paper found slightly better), sleep_edfx (stored derivations)


#: Short description of each task's montage (for ``neuript tasks`` and the result tables).
TASK_MONTAGES: dict[str, str] = {
    "mental_arithmetic": "average reference over the 19 10-20 scalp electrodes (A2-A1 left out)",
    "mumtaz2016": "average reference over the 19 10-20 scalp electrodes",
    "physionet_p300": "average reference over the stored electrodes",
    "bcic_iv_2a": "16 bipolar pairs over the sensorimotor strip",
    "seed_v": "stored channels (monopolar)",
    "sleep_edfx": "stored derivations (Fpz-Cz, Pz-Oz)",
    "tuab": "NeurIPT double banana (20 bipolar channels)",
    "tuev": "NeurIPT double banana (20 bipolar channels)",
}


@dataclass(frozen=True)
class Task:
    """One downstream task.

    Attributes
    ----------
    name : str
        The task id, equal to the dataset's catalog id.
    classes : dict of str to int
        Class name -> code (the card's ``labels``).
    window_s : float
        Window length in seconds (the card's ``window_s``).
    mode : "fixed" | "events" | "tiles"
        ``fixed``: non-overlapping windows over each recording, labelled with the recording's
        label; ``events``: one window per labelled event, from ``offset_s`` after its onset;
        ``tiles``: non-overlapping windows filling each labelled event.
    offset_s : float
        For ``events``: window start relative to the event onset.
    metrics : tuple of str
        Metric names (the card's ``metrics``), scored by :mod:`neuript.metrics`.
    split : eegcorpus.catalog.Split
        The card's canonical split (applied by :mod:`neuript.splits`).
    montage : object
        A montage for :func:`eegcorpus.loader.get_montage`.
    reported : dict
        NeurIPT's published scores (percent), the card's ``neuript_reported``.
    """

    name: str
    classes: dict
    window_s: float
    mode: str
    offset_s: float
    metrics: tuple
    split: Any
    montage: Any = field(compare=False)
    montage_description: str = ""
    reported: dict = field(default_factory=dict)
    description: str = ""

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def binary(self) -> bool:
        return self.n_classes == 2

    def class_names(self) -> list[str]:
        """Class names in code order."""
        return [name for name, _ in sorted(self.classes.items(), key=lambda item: item[1])]

    def to_dict(self) -> dict:
        return {
            "task": self.name,
            "description": self.description,
            "classes": self.class_names(),
            "window_s": self.window_s,
            "windows": self.mode if self.mode != "events" else f"events (offset {self.offset_s:+g} s)",
            "montage": self.montage_description,
            "split": self.split.describe(),
            "metrics": list(self.metrics),
            "neuript_reported": dict(self.reported),
        }


def task_names() -> list[str]:
    """The ids of the downstream tasks (the catalog's downstream datasets)."""
    return sorted(TASK_WINDOWS)


def get_task(name: str) -> Task:
    """The task of a downstream catalog dataset.

    Parameters
    ----------
    name : str
        One of :func:`task_names`.
    """
    from eegcorpus.catalog import get_card

    check_option("task", name, task_names())
    card = get_card(name)
    mode, offset = TASK_WINDOWS[name]
    return Task(
        name=name,
        classes=dict(card.labels),
        window_s=float(card.window_s),
        mode=mode,
        offset_s=offset,
        metrics=tuple(card.metrics),
        split=card.split,
        montage=_task_montage(name),
        montage_description=TASK_MONTAGES[name],
        reported=dict(card.neuript_reported),
        description=card.task,
    )


# ------------------------------------------------------------------------------------ windows


@dataclass
class TaskWindows:
    """Every window of a task, in memory.

    Attributes
    ----------
    x : ndarray, float32, shape (n_windows, n_channels, n_times)
        Microvolts, montage applied (channels padded with zeros where recordings differ).
    pos : ndarray, float32, shape (n_windows, n_channels, 3)
    lobe : ndarray, int64, shape (n_windows, n_channels)
        Lobe codes (-1: none or padding).
    ch_mask : ndarray, bool, shape (n_windows, n_channels)
    label : ndarray, int64, shape (n_windows,)
    subject, recording, partition : ndarray of str, shape (n_windows,)
        The subject id (the store's, i.e. the dataset's own numbering), recording id, and the
        official partition (``train``/``eval``; empty when the dataset has none).
    start : ndarray, int64
        First sample of the window in its recording.
    sfreq : float
    """

    x: np.ndarray
    pos: np.ndarray
    lobe: np.ndarray
    ch_mask: np.ndarray
    label: np.ndarray
    subject: np.ndarray
    recording: np.ndarray
    partition: np.ndarray
    start: np.ndarray
    sfreq: float
    recordings: dict = field(default_factory=dict)  # recording id -> store path

    def __len__(self) -> int:
        return len(self.label)


def _subjects_filter(index, subjects):
    if subjects is None:
        return index
    wanted = {str(s) for s in subjects}
    return index[index["subject"].astype(str).isin(wanted)]


def _tile_starts(events, length: int, sfreq: float, n_samples: int, classes: dict):
    """Non-overlapping windows inside each labelled event (SEED-V's 1-s windows per trial)."""
    starts, labels = [], []
    for onset, duration, label in zip(events["onset"], events["duration"], events["label"]):
        if label is None or (isinstance(label, float) and np.isnan(label)) or str(label) not in classes:
            continue
        first = int(round(float(onset) * sfreq))
        stop = min(int(round((float(onset) + float(duration)) * sfreq)), n_samples)
        tiles = np.arange(max(first, 0), stop - length + 1, length, dtype=np.int64)
        starts.append(tiles)
        labels.append(np.full(len(tiles), classes[str(label)], dtype=np.int64))
    if not starts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(starts), np.concatenate(labels)


def load_windows(task: Task | str, stores, subjects=None, montage=None, max_gb: float = 8.0) -> TaskWindows:
    """Cut every window of ``task`` from ``stores`` into memory.

    Parameters
    ----------
    task : Task | str
    stores : str | Path | Store | list
        Stores built by ``eegcorpus build`` for the task's dataset (other datasets' recordings
        in them are ignored).
    subjects : iterable | None
        Only these subjects (ids as the store writes them, e.g. ``"1"``).
    montage : object | None
        Overrides the task's montage (anything :func:`eegcorpus.loader.get_montage` takes).
    max_gb : float
        Refuse to hold more than this many gigabytes of windows: the large corpora (TUAB is
        about 21 GB of 10-s windows at 64 Hz) need a subject subset here.

    Returns
    -------
    TaskWindows
        Ordered by store, recording id and start.
    """
    from eegcorpus.loader.windows import WindowSpec, build_index
    from eegcorpus.store import Store, open_store

    task = get_task(task) if isinstance(task, str) else task
    stores = stores if isinstance(stores, (list, tuple)) else [stores]
    stores = [s if isinstance(s, Store) else open_store(s) for s in stores]
    montage = get_montage(task.montage if montage is None else montage)

    plan = []  # (store, recording id, starts, labels, subject, partition)
    sfreqs = set()
    for store in stores:
        index = store.index
        index = _subjects_filter(index[index["dataset"] == task.name], subjects)
        if index.empty:
            continue
        ids = list(index.index)
        if task.mode == "tiles":
            for rid, row in index.iterrows():
                sfreq = float(row["sfreq"])
                length = int(round(task.window_s * sfreq))
                starts, labels = _tile_starts(store.events(rid), length, sfreq, int(row["n_samples"]), task.classes)
                sfreqs.add(sfreq)
                plan.append((store, rid, starts, labels, length))
        else:
            spec = WindowSpec(task.window_s, mode=task.mode, offset_s=task.offset_s, labels=task.classes)
            idx = build_index([store], spec, ids)
            sfreqs.add(idx.sfreq)
            for r, rid in enumerate(idx.recordings["recording_id"]):
                keep = (idx.recording == r) & (idx.label >= 0)
                plan.append((store, rid, idx.start[keep], idx.label[keep].astype(np.int64), idx.length))
    plan = [p for p in plan if len(p[2])]
    if not plan:
        raise ValueError(
            f"No labelled {task.name} window in {', '.join(str(s.path) for s in stores)}"
            + (f" for subjects {', '.join(map(str, subjects))}" if subjects is not None else "")
            + "; check that the store was built from that dataset."
        )
    if len(sfreqs) != 1:
        raise ValueError(f"Recordings have different sampling rates {sorted(sfreqs)}; build the stores with one profile.")
    sfreq = sfreqs.pop()
    length = plan[0][4]

    parts: dict[str, list] = {k: [] for k in ("x", "pos", "lobe", "ch_mask", "label", "subject", "recording", "partition", "start")}
    recordings = {}
    total = 0
    for store, rid, starts, labels, _ in plan:
        row = store.index.loc[rid]
        signal = store.recording(rid)
        names = [str(n) for n in signal["ch_name"].values]
        positions = np.stack([signal[a].values for a in ("x", "y", "z")], axis=1).astype(np.float32)
        resolved = montage.resolve(names, positions)
        data = resolved.apply(np.asarray(signal.values, dtype=np.float32))
        total += len(starts) * data.shape[0] * length * 4
        if total > max_gb * 1e9:
            raise MemoryError(f"The {task.name} windows would take more than {max_gb:g} GB in memory; pass a subset of subjects (or raise max_gb).")
        windows = np.stack([data[:, s : s + length] for s in starts]).astype(np.float32)
        n = len(starts)
        parts["x"].append(windows)
        parts["pos"].append(np.broadcast_to(resolved.positions, (n,) + resolved.positions.shape))
        parts["lobe"].append(np.broadcast_to(resolved.lobes, (n,) + resolved.lobes.shape))
        parts["ch_mask"].append(np.broadcast_to(resolved.mask, (n,) + resolved.mask.shape))
        parts["label"].append(labels)
        parts["subject"].append(np.full(n, str(row["subject"]), dtype=object))
        parts["recording"].append(np.full(n, rid, dtype=object))
        # The official partition (TUAB, TUEV) is kept in the index's task column by the adapters.
        partition = str(row["task"]) if task.split.kind == "official" and row["task"] in ("train", "eval") else ""
        parts["partition"].append(np.full(n, partition, dtype=object))
        parts["start"].append(np.asarray(starts, dtype=np.int64))
        recordings[rid] = str(store.path)
    width = max(p.shape[1] for p in parts["x"])
    for key, fill in (("x", 0.0), ("pos", 0.0), ("lobe", -1), ("ch_mask", False)):
        parts[key] = [_pad_channels(p, width, fill) for p in parts[key]]
    return TaskWindows(
        **{k: np.concatenate(v) for k, v in parts.items()},
        sfreq=float(sfreq),
        recordings=recordings,
    )


def _pad_channels(array: np.ndarray, width: int, fill) -> np.ndarray:
    # Recordings with fewer channels (a "stored" montage over mixed caps) are padded like the
    # loader's pad_collate: zeros, lobe -1, mask False.
    missing = width - array.shape[1]
    if not missing:
        return np.ascontiguousarray(array)
    pad = [(0, 0)] * array.ndim
    pad[1] = (0, missing)
    return np.pad(array, pad, constant_values=fill)


__all__ = [
    "BCIC_BIPOLAR_PAIRS",
    "TASK_MONTAGES",
    "TASK_WINDOWS",
    "TEN_TWENTY",
    "Task",
    "TaskWindows",
    "get_task",
    "load_windows",
    "scalp_average_reference",
    "task_names",
]
