"""Mumtaz 2016 (figshare): major depressive disorder patients and healthy controls, EC and EO.

Files ``{H|MDD} S{n} {EC|EO|TASK}.edf`` ('H S1 EC.edf', 'MDD S12 EO.edf'); the TASK (P300
oddball) recordings are skipped. A name that figshare prefixed with its file id
('6921143_H S15 EO.edf') is read the same way.

Ids
---
* subject: healthy subject ``n`` and patient ``n`` are different people, so the group is part
  of the id: ``"H1"``..``"H30"`` and ``"MDD1"``..``"MDD34"``. The prefix is the group name the
  card's ``split.counts`` uses, and order within a group follows ``n`` (sort numerically, not
  as text: H2 before H10);
* recording: ``mumtaz2016.<file stem>`` with spaces (and any other character a store id cannot
  hold) turned into ``_``: ``mumtaz2016.H_S1_EC``;
* session: ``None``; task ``eyes_closed`` or ``eyes_open``; label ``healthy`` or ``mdd`` (card
  label names), for the whole file.

Channels: the 19 scalp channels are ``EEG <name>-LE`` (linked ears) and there is an
``EEG A2-A1`` ear derivation; they stay EEG. Any other channel the files carry (not confirmed:
'EEG 23A-23R', 'EEG 24A-24R') is retyped ``misc`` on reading, so the profile leaves it out
and the store's provenance lists it among the dropped channels.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, Source
from eegcorpus.readers import read_recording

GROUP_LABELS: dict[str, str] = {"H": "healthy", "MDD": "mdd"}
CONDITION_TASKS: dict[str, str] = {"EC": "eyes_closed", "EO": "eyes_open"}
_GROUP = re.compile(r"(?:.*[_ ])?(H|MDD)", re.IGNORECASE)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_SCALP = re.compile(r"-LE$|A2-A1$", re.IGNORECASE)


class Mumtaz2016Adapter(DatasetAdapter):
    def __init__(self, card):
        super().__init__(card)
        missing = set(GROUP_LABELS.values()) - set(card.labels or {})
        if missing:
            raise ValueError(f"mumtaz2016 card labels lack {sorted(missing)}")

    def describe(self, rel: PurePosixPath, fields: dict[str, str]) -> Source | None:
        group = _GROUP.fullmatch(fields.get("group") or "")
        condition = (fields.get("condition") or "").upper()
        number = fields.get("subject") or ""
        if group is None or condition not in CONDITION_TASKS or not number.isdigit():
            return None
        group_name = group.group(1).upper()
        stem = rel.name.rsplit(".", 1)[0]
        return Source(
            path=str(rel),
            recording_id=f"{self.dataset_id}.{_ID_UNSAFE.sub('_', stem).strip('_')}",
            subject=f"{group_name}{int(number)}",
            task=CONDITION_TASKS[condition],
            label=GROUP_LABELS[group_name],
        )

    def read(self, raw_root: Path, source: Source):
        rec = read_recording(Path(raw_root) / source.path)
        retyped = {}
        for i, (name, kind) in enumerate(zip(rec.ch_names, rec.ch_types)):
            if kind == "eeg" and not _SCALP.search(name.strip()):
                rec.ch_types[i] = "misc"
                retyped[name] = "misc"
        if retyped:
            rec.extra["retyped_channels"] = retyped
        return rec

    def events(self, source: Source, rec) -> pd.DataFrame:
        # The label covers the whole recording (windows are cut at load time).
        return pd.DataFrame({"onset": [0.0], "duration": [rec.duration_s], "description": [source.task], "label": [source.label]})


ADAPTER = Mumtaz2016Adapter
