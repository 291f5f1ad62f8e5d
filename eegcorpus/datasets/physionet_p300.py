"""ERP-based BCI recordings (PhysioNet erpbci): P300 speller flashes, target or not.

Files ``files/s{ss}/rc{rr}.edf``: one EDF+ per spelled character. File stems repeat across
subjects, so the recording id joins both: ``physionet_p300.s01_rc01``; subject ``"1"``, run
``"1"``, task ``p300_speller``.

Events come from the EDF+ annotations. ``#Tgt<c>...`` names the target character ``c`` (the
character right after ``#Tgt``, which EEGPT reads as ``k[4]``); every annotation that does not
start with ``#`` is a flash whose text lists the characters of the flashed row or column, and
becomes an event labelled ``target`` when the current target character is among them and
``non_target`` otherwise (the card's label names). The current target is the last ``#Tgt``
before the flash (the first one in the file for flashes before any). ``#start``, ``#end``, the
``#Tgt`` marks and other ``#`` annotations are left out. Flash events keep the annotation's
onset and duration; the loader cuts its windows around the onset.

Subjects 8, 10 and 12 are kept here; the split leaves them out (card ``split.exclude``). The
earlobe and EOG channels go through the card's ``drop_channels``.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, Source

TARGET, NON_TARGET = "target", "non_target"
_TARGET_MARK = "#Tgt"


class PhysioNetP300Adapter(DatasetAdapter):
    def __init__(self, card):
        super().__init__(card)
        missing = {TARGET, NON_TARGET} - set(card.labels or {})
        if missing:
            raise ValueError(f"physionet_p300 card labels lack {sorted(missing)}")

    def describe(self, rel: PurePosixPath, fields: dict[str, str]) -> Source | None:
        if not fields.get("subject") or not fields.get("run"):
            return None
        source = super().describe(rel, fields)
        source.recording_id = f"{self.dataset_id}.{rel.parent.name}_{rel.name.rsplit('.', 1)[0]}"
        source.task = "p300_speller"
        return source

    def events(self, source: Source, rec) -> pd.DataFrame:
        ann = rec.annotations
        texts = [str(d).strip() for d in ann["description"]]
        marks = [
            (float(onset), text[len(_TARGET_MARK)])
            for onset, text in zip(ann["onset"], texts)
            if text.startswith(_TARGET_MARK) and len(text) > len(_TARGET_MARK)
        ]
        rows = []
        for onset, duration, text in zip(ann["onset"], ann["duration"], texts):
            if not text or text.startswith("#"):
                continue
            before = [char for when, char in marks if when <= onset]
            target = before[-1] if before else (marks[0][1] if marks else None)
            label = None if target is None else (TARGET if target in text else NON_TARGET)
            rows.append((float(onset), float(duration), text, label))
        if not rows:
            return pd.DataFrame({"onset": np.zeros(0), "duration": np.zeros(0), "description": [], "label": []})
        return pd.DataFrame(rows, columns=["onset", "duration", "description", "label"])


ADAPTER = PhysioNetP300Adapter
