"""TUSZ (TUH EEG Seizure Corpus): partition and montage from the folders, term-based events.

Layout: ``edf/{train|dev|eval}/{subject}/s{NNN}_{year}/{montage}/{subject}_sNNN_tNNN.edf``
with a channel-based ``.csv`` (seizure types per TCP channel) and a term-based ``.csv_bi``
(``seiz``/``bckg`` over the whole montage) beside each EDF. The partition goes into
``Source.extra["partition"]`` and ``task``, the montage folder and the session year into
``extra``. Events come from the ``.csv_bi`` when there is one: one event a row, label as
written (``seiz`` or ``bckg``). The ``.csv`` is listed in ``Source.companions`` but not read.
"""

from __future__ import annotations

import pandas as pd

from eegcorpus.datasets._tuh import TUHAdapter, csv_events, event_frame, partition_source
from eegcorpus.datasets.base import Source


class TUSZAdapter(TUHAdapter):
    companion_suffixes = {"csv_bi": ".csv_bi", "csv": ".csv"}

    def describe(self, rel, fields) -> Source | None:
        source = partition_source(super().describe(rel, fields), fields.get("partition"))
        for key in ("montage", "year"):
            if fields.get(key):
                source.extra[key] = fields[key]
        return source

    def companion_events(self, source, rec) -> pd.DataFrame:
        path = self.companion_path(source, rec, "csv_bi")
        return csv_events(path) if path else event_frame()


ADAPTER = TUSZAdapter
