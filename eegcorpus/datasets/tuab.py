"""TUAB (TUH Abnormal EEG Corpus).

TUAB files sit at ``edf/{train|eval}/{normal|abnormal}/01_tcp_ar/{subject}_sNNN_tNNN.edf``. The
folder gives the recording-level label (``normal``/``abnormal``) and the official partition,
which is kept both in ``Source.extra["partition"]`` and in ``task`` (the store index keeps
``task`` but not ``extra``), so that the split can put the eval folder in the test set.

The code every TUH adapter shares is in :mod:`eegcorpus.datasets._tuh`.
"""

from __future__ import annotations

import pandas as pd

from eegcorpus.datasets._tuh import TUHAdapter, event_frame, partition_source
from eegcorpus.datasets.base import Source


class TUABAdapter(TUHAdapter):
    """Label and partition from the folders; one whole-recording event carries the label."""

    def describe(self, rel, fields) -> Source | None:
        label = fields.get("label")
        if label not in self.card.labels:
            return None  # not a normal/abnormal folder: not a TUAB recording
        source = partition_source(super().describe(rel, fields), fields.get("partition"))
        source.label = label
        return source

    def companion_events(self, source, rec) -> pd.DataFrame:
        # The label covers the whole recording (windows are cut at load time).
        return event_frame([0.0], [rec.duration_s], [source.label], [source.label])


ADAPTER = TUABAdapter
