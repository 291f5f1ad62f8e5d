"""EEGMMIDB (PhysioNet EEG Motor Movement/Imagery): runs, tasks and the T0/T1/T2 events."""

from __future__ import annotations

import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, Source

#: Run number -> (task, meaning of T1, meaning of T2). T0 is rest in every task run.
RUN_TASKS: dict[int, tuple[str, str | None, str | None]] = {
    1: ("baseline_eyes_open", None, None),
    2: ("baseline_eyes_closed", None, None),
    **{r: ("execute_left_right_fist", "left_fist", "right_fist") for r in (3, 7, 11)},
    **{r: ("imagine_left_right_fist", "left_fist", "right_fist") for r in (4, 8, 12)},
    **{r: ("execute_both_fists_feet", "both_fists", "both_feet") for r in (5, 9, 13)},
    **{r: ("imagine_both_fists_feet", "both_fists", "both_feet") for r in (6, 10, 14)},
}


class EEGMMIDBAdapter(DatasetAdapter):
    def describe(self, rel, fields) -> Source | None:
        source = super().describe(rel, fields)
        source.task = RUN_TASKS.get(int(source.run), ("unknown", None, None))[0]
        return source

    def events(self, source, rec) -> pd.DataFrame:
        _, t1, t2 = RUN_TASKS.get(int(source.run), ("unknown", None, None))
        names = {"T0": "rest", "T1": t1, "T2": t2}
        frame = super().events(source, rec)
        frame["label"] = [names.get(d) for d in frame["description"]]
        return frame


ADAPTER = EEGMMIDBAdapter
