"""TUSL (TUH EEG Slowing Corpus): slowing, seizure and background events from the ``.csv``.

Layout: ``edf/**/{subject}_sNNN_tNNN.edf`` inside session and montage folders. The card does not
confirm the annotation format; a ``.csv`` beside the EDF is read as NEDC ``csv_v1.0.0`` (as in
TUSZ and TUAR) and a file in another format fails the recording with a message naming it,
rather than being guessed at. Files without a ``.csv`` keep only their own annotations.
"""

from __future__ import annotations

import pandas as pd

from eegcorpus.datasets._tuh import TUHAdapter, csv_events, event_frame


class TUSLAdapter(TUHAdapter):
    companion_suffixes = {"csv": ".csv"}

    def companion_events(self, source, rec) -> pd.DataFrame:
        path = self.companion_path(source, rec, "csv")
        return csv_events(path) if path else event_frame()


ADAPTER = TUSLAdapter
