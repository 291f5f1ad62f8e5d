"""Inria BCI Challenge (Kaggle): one CSV per subject and session, feedback onsets as events.

``*/Data_S{subject:02d}_Sess{session:02d}.csv`` holds ``Time`` (seconds; the 200 Hz rate is
inferred from it), the 56 EEG columns, ``EOG`` and ``FeedBackEvent``. The CSV reader types EOG
as ``eog`` and FeedBackEvent as ``stim`` (both left out of the stored signal) and turns every
onset of a positive run of FeedBackEvent into an annotation ``FeedBackEvent``.

Events are those feedback onsets, in order. ``TrainLabels.csv`` (anywhere below the raw folder,
the shallowest copy wins) gives one row per feedback, ``IdFeedBack`` = ``S02_Sess01_FB001``
(subject, session, 1-based feedback number) and ``Prediction``: 1 when the letter shown as
feedback was the one the subject wanted (label ``correct``), 0 when it was not (``error``, the
case that evokes the error potential). Test subjects have no rows there and their events have
no label. A session whose label count differs from its feedback count fails to read rather than
being labelled out of step.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, Source, safe_glob
from eegcorpus.errors import ReaderError
from eegcorpus.recording import Recording

FEEDBACK = "FeedBackEvent"
PREDICTION_LABELS = {1: "correct", 0: "error"}
TASK = "p300_speller_feedback"


class InriaBCIAdapter(DatasetAdapter):
    def find(self, raw_root: Path) -> list[Source]:
        sources = super().find(raw_root)
        labels = sorted(safe_glob(raw_root, "TrainLabels.csv"), key=lambda p: (len(p.parts), str(p)))
        for source in sources:
            source.task = TASK
            source.recording_id = f"{self.dataset_id}.S{int(source.subject):02d}_Sess{int(source.session):02d}"
            if labels:
                source.companions["labels"] = str(labels[0])
        return sources

    def read(self, raw_root: Path, source: Source) -> Recording:
        from eegcorpus.readers.csv import read_csv

        raw_root = Path(raw_root)
        rec = read_csv(raw_root / source.path)
        if "labels" in source.companions:
            rec.extra["feedback_labels"] = self._labels(raw_root / source.companions["labels"], source, rec)
        return rec

    @staticmethod
    def _labels(path: Path, source: Source, rec: Recording) -> list[str] | None:
        """Labels of this session's feedbacks in order, or None when the file lists none."""
        try:
            table = pd.read_csv(path, dtype={"IdFeedBack": str})
        except Exception as err:  # pandas raises ParserError, EmptyDataError, OSError...
            raise ReaderError(path, f"cannot parse the label file: {type(err).__name__}: {err}") from err
        if not {"IdFeedBack", "Prediction"} <= set(table.columns):
            raise ReaderError(path, "label file lacks the IdFeedBack and Prediction columns")
        prefix = f"S{int(source.subject):02d}_Sess{int(source.session):02d}_FB"
        rows = table[table["IdFeedBack"].str.startswith(prefix)]
        if rows.empty:
            return None
        numbers = rows["IdFeedBack"].str[len(prefix) :].astype(int)
        by_number = dict(zip(numbers, rows["Prediction"].astype(int)))
        n_feedback = int((rec.annotations["description"] == FEEDBACK).sum())
        if sorted(by_number) != list(range(1, n_feedback + 1)):
            raise ReaderError(path, f"{len(by_number)} labels for {prefix[:-3]} but {source.path} has {n_feedback} feedback onsets")
        return [PREDICTION_LABELS.get(by_number[k]) for k in range(1, n_feedback + 1)]

    def events(self, source: Source, rec: Recording) -> pd.DataFrame:
        ann = rec.annotations
        feedback = ann[ann["description"] == FEEDBACK].reset_index(drop=True)
        labels = rec.extra.get("feedback_labels") or [None] * len(feedback)
        return pd.DataFrame({"onset": feedback["onset"], "duration": feedback["duration"], "description": feedback["description"], "label": labels})


ADAPTER = InriaBCIAdapter
