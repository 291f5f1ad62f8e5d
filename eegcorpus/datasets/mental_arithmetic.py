"""MentalArithmetic (PhysioNet eegmat): rest (_1) vs serial subtraction (_2), one label a file.

Subjects are numbered from 1 as in the paper's split: file ``Subject00`` is subject 1 (the
card's ``split.id_offset`` is -1: file number = subject - 1).
"""

from __future__ import annotations

import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, Source

_CONDITION_LABEL = {"1": "rest", "2": "arithmetic"}


class MentalArithmeticAdapter(DatasetAdapter):
    def describe(self, rel, fields) -> Source | None:
        condition = fields.get("condition")
        if condition not in _CONDITION_LABEL:
            return None
        source = super().describe(rel, fields)
        source.subject = str(int(fields["subject"]) - self.card.split.id_offset)
        source.task = "mental_arithmetic" if condition == "2" else "rest"
        source.label = _CONDITION_LABEL[condition]
        return source

    def events(self, source, rec) -> pd.DataFrame:
        # The label covers the whole recording (windows are cut at load time).
        return pd.DataFrame({"onset": [0.0], "duration": [rec.duration_s], "description": [source.task], "label": [source.label]})


ADAPTER = MentalArithmeticAdapter
