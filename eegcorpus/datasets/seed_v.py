"""SEED-V: one Neuroscan CNT per subject and session, 15 film-clip trials at fixed times.

Files are ``EEG_raw/{subject}_{session}_{yyyymmdd}.cnt`` (``10_1_20180507.cnt``: subject 10,
session 1). Every file yields one recording; its events are the 15 trials of its session, with
start and end seconds from the dataset's own time table (the same in every file of a session,
counted from the first sample) and the session's fixed emotion order from the card's
``label_source``. A trial that starts after the end of the file is left out and one that runs
past the end is cut at the end, so that no event points outside the signal.

The CNT sample width is chosen as for the SEED series (see
:func:`eegcorpus.datasets.seed_series.read_seed_cnt`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, Source
from eegcorpus.datasets.seed_series import read_seed_cnt
from eegcorpus.recording import Recording

#: Trial (start, end) seconds per session, from the SEED-V time table.
TRIAL_SECONDS: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {
    1: (
        (30, 132, 287, 555, 773, 982, 1271, 1628, 1730, 2025, 2227, 2435, 2667, 2932, 3204),
        (102, 228, 524, 742, 920, 1240, 1568, 1697, 1994, 2166, 2401, 2607, 2901, 3172, 3359),
    ),
    2: (
        (30, 299, 548, 646, 836, 1000, 1091, 1392, 1657, 1809, 1966, 2186, 2333, 2490, 2741),
        (267, 488, 614, 773, 967, 1059, 1331, 1622, 1777, 1908, 2153, 2302, 2428, 2709, 2817),
    ),
    3: (
        (30, 353, 478, 674, 825, 908, 1200, 1346, 1451, 1711, 2055, 2307, 2457, 2726, 2888),
        (321, 418, 643, 764, 877, 1147, 1284, 1418, 1679, 1996, 2275, 2425, 2664, 2857, 3066),
    ),
}

#: Class code of each trial per session (0 disgust, 1 fear, 2 sad, 3 neutral, 4 happy).
TRIAL_CLASSES: dict[int, tuple[int, ...]] = {
    1: (4, 1, 3, 2, 0, 4, 1, 3, 2, 0, 4, 1, 3, 2, 0),
    2: (2, 1, 3, 0, 4, 4, 0, 3, 2, 1, 3, 4, 1, 2, 0),
    3: (2, 1, 3, 0, 4, 4, 0, 3, 2, 1, 3, 4, 1, 2, 0),
}

TASK = "emotion_recognition"


class SeedVAdapter(DatasetAdapter):
    def describe(self, rel, fields) -> Source | None:
        source = super().describe(rel, fields)
        source.task = TASK
        return source

    def read(self, raw_root, source: Source) -> Recording:
        return read_seed_cnt(Path(raw_root) / source.path)

    def trials(self, session: str | None) -> list[tuple[float, float, str]]:
        """``(start_s, end_s, label)`` of the 15 trials of a session (empty for another session)."""
        if session is None or not session.isdigit() or int(session) not in TRIAL_SECONDS:
            return []
        starts, ends = TRIAL_SECONDS[int(session)]
        names = {code: name for name, code in self.card.labels.items()}
        return [(float(s), float(e), names[c]) for s, e, c in zip(starts, ends, TRIAL_CLASSES[int(session)])]

    def events(self, source: Source, rec: Recording) -> pd.DataFrame:
        end_of_file = rec.n_times / rec.sfreq
        rows = []
        for number, (start, end, label) in enumerate(self.trials(source.session), start=1):
            if start >= end_of_file:
                continue
            rows.append((start, min(end, end_of_file) - start, f"trial{number:02d}", label))
        return pd.DataFrame(rows, columns=["onset", "duration", "description", "label"])


ADAPTER = SeedVAdapter
