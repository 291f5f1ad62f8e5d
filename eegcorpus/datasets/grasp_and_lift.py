"""Grasp-and-Lift (Kaggle): one CSV per subject and series, events from the ``_events.csv``.

``*/subj{subject}_series{series}_data.csv`` holds one row per sample at 500 Hz (the file has no
time column): the string ``id`` (``subj1_series1_0``) and the 32 EEG columns. The series is
stored as the run. Series 1-8 (``train/``) have a ``subj{s}_series{n}_events.csv`` beside them
with the same ids and six binary columns (HandStart, FirstDigitTouch, BothStartLoadPhase,
LiftOff, Replace, BothReleased); series 9-10 (``test/``) have none and get no events.

Each run of ones in an event column becomes one event: onset at its first sample, duration the
length of the run, description and label the column name. (Kaggle marks a window of
+-150 ms around each event, so the event itself lies in the middle of that window.)
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, Source, _num
from eegcorpus.errors import ReaderError
from eegcorpus.recording import Recording, make_annotations

SFREQ = 500.0
EVENT_COLUMNS = ("HandStart", "FirstDigitTouch", "BothStartLoadPhase", "LiftOff", "Replace", "BothReleased")
TASK = "grasp_and_lift"


def events_path(rel: PurePosixPath) -> PurePosixPath:
    """The events file that belongs to a data file (same folder)."""
    return rel.with_name(rel.name[: -len("_data.csv")] + "_events.csv")


def edge_annotations(path: Path, table: pd.DataFrame, sfreq: float) -> pd.DataFrame:
    """One annotation per run of ones in each event column of ``table``."""
    missing = [c for c in EVENT_COLUMNS if c not in table.columns]
    if missing:
        raise ReaderError(path, f"events file lacks column(s) {', '.join(missing)}")
    onsets, durations, names = [], [], []
    for column in EVENT_COLUMNS:
        active = table[column].to_numpy() > 0
        edges = np.diff(np.concatenate(([0], active.astype(np.int8), [0])))
        starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        onsets += list(starts / sfreq)
        durations += list((stops - starts) / sfreq)
        names += [column] * len(starts)
    return make_annotations(onsets, durations, names)


class GraspAndLiftAdapter(DatasetAdapter):
    def find(self, raw_root: Path) -> list[Source]:
        sources = super().find(raw_root)
        for source in sources:
            companion = events_path(PurePosixPath(source.path))
            if (Path(raw_root) / companion).is_file():
                source.companions["events"] = str(companion)
        return sources

    def describe(self, rel, fields) -> Source | None:
        source = super().describe(rel, fields)
        source.run = _num(fields.get("series"))
        source.recording_id = f"{self.dataset_id}.subj{source.subject}_series{source.run}"
        source.task = TASK
        return source

    def read(self, raw_root: Path, source: Source) -> Recording:
        from eegcorpus.readers.csv import read_csv

        raw_root = Path(raw_root)
        rec = read_csv(raw_root / source.path, sfreq=SFREQ)
        if "events" in source.companions:
            path = raw_root / source.companions["events"]
            try:
                table = pd.read_csv(path)
            except Exception as err:  # pandas raises ParserError, EmptyDataError, OSError...
                raise ReaderError(path, f"cannot parse the events CSV: {type(err).__name__}: {err}") from err
            # The two files are only usable together when they describe the same samples.
            if len(table) != rec.n_times:
                raise ReaderError(path, f"{len(table)} event rows for {rec.n_times} data rows")
            if "id" in table.columns and (str(table["id"].iloc[0]) != rec.extra.get("first_id") or str(table["id"].iloc[-1]) != rec.extra.get("last_id")):
                raise ReaderError(path, f"row ids {table['id'].iloc[0]}..{table['id'].iloc[-1]} do not match the data file")
            rec.annotations = edge_annotations(path, table, rec.sfreq)
        return rec

    def events(self, source: Source, rec: Recording) -> pd.DataFrame:
        frame = super().events(source, rec)
        frame["label"] = [d if d in EVENT_COLUMNS else None for d in frame["description"]]
        return frame


ADAPTER = GraspAndLiftAdapter
