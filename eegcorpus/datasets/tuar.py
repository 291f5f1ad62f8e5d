"""TUAR (TUH EEG Artifact Corpus): per-channel artifact events from the ``.csv`` beside each EDF.

Layout: ``edf/**/{subject}_sNNN_tNNN.edf`` inside montage folders, each with an NEDC
``csv_v1.0.0`` file whose rows are ``channel,start_time,stop_time,label,confidence``. Each row
becomes an event labelled as written (``eyem``, ``musc``, ``elpp``, combinations such as
``eyem_musc``...) and described ``label@channel`` (``eyem@FP1-F7``). The annotations are not
needed for pretraining but cost nothing to keep.
"""

from __future__ import annotations

import pandas as pd

from eegcorpus.datasets._tuh import TUHAdapter, csv_events, event_frame


class TUARAdapter(TUHAdapter):
    companion_suffixes = {"csv": ".csv"}

    def companion_events(self, source, rec) -> pd.DataFrame:
        path = self.companion_path(source, rec, "csv")
        return csv_events(path) if path else event_frame()


ADAPTER = TUARAdapter
