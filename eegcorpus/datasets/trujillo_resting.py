"""Trujillo et al. (2017) resting state EEG (Texas Data Repository, doi:10.18738/T8/ANS9Q1).

The card leaves format and layout unverified (``**/*``, mat or bdf). Public code that reads this
record opens ``EEG_Cat_Study4_Resting_S{n}.bdf`` files: Biosemi BDF at 256 Hz with 72 signals
(64 scalp channels, already named in 10-10 (``Fp1``), plus externals) and a Status channel. So:

* files: every ``.bdf`` (and ``.edf``) below the raw folder; other files (``.mat`` included)
  are not read, as none is known to hold these recordings;
* names ``EEG_Cat_Study{study}_{condition}_S{n}``: subject ``n``. For ``trujillo_resting``
  (Study 4 only) the subject is the number; :mod:`~eegcorpus.datasets.trujillo_raw` qualifies
  it with the study. A name of another shape gives the first number in it, or the whole stem;
* channels: Biosemi ``A1``..``B32`` labels, should a file carry them, are renamed to 10-20
  through :data:`~eegcorpus.datasets.emobrain.BIOSEMI64_MAP`; every channel that is not a known
  scalp electrode (EXG externals, EOG, the mastoids M1/M2) is typed ``misc``, since the card's
  ``drop_channels`` cannot name them yet;
* events: Status trigger codes (low 16 bits) as in :mod:`~eegcorpus.datasets.emobrain`, with
  no label; the eyes-open/eyes-closed blocks are not labelled.
"""

from __future__ import annotations

import re
from pathlib import Path

from eegcorpus.datasets.base import DatasetAdapter, Source, safe_glob
from eegcorpus.datasets.emobrain import BIOSEMI64_MAP, read_biosemi
from eegcorpus.recording import Recording

_STEM = re.compile(r"^EEG_Cat_Study(?P<study>\d+)_(?P<condition>.+)_S(?P<subject>\d+)$", re.IGNORECASE)
_SUFFIXES = ("bdf", "edf")


class TrujilloAdapter(DatasetAdapter):
    """Biosemi recordings of the Trujillo lab, named ``EEG_Cat_Study{k}_{condition}_S{n}``."""

    channel_map = BIOSEMI64_MAP
    #: Put the study number into the subject id (several studies share subject numbers).
    qualify_subject_with_study = False

    def find(self, raw_root: Path) -> list[Source]:
        found = sorted({rel for suffix in _SUFFIXES for rel in safe_glob(raw_root, f"**/*.{suffix}")}, key=str)
        sources = []
        for rel in found:
            source = self.describe(rel, {})
            if source is not None:
                sources.append(source)
        return sources

    def describe(self, rel, fields) -> Source | None:
        stem = rel.name.rsplit(".", 1)[0]
        match = _STEM.match(stem)
        if match:
            number = str(int(match.group("subject")))
            study = str(int(match.group("study")))
            subject = f"study{study}-{number}" if self.qualify_subject_with_study else number
            task = self.task_for(match.group("condition"))
        else:
            digits = re.search(r"\d+", stem)
            subject, task = (str(int(digits.group())) if digits else stem), None
        return Source(path=str(rel), recording_id=f"{self.dataset_id}.{stem}", subject=subject, task=task)

    def task_for(self, condition: str) -> str:
        return "rest" if condition.lower() == "resting" else condition

    def read(self, raw_root: Path, source: Source) -> Recording:
        return read_biosemi(Path(raw_root) / source.path, self.channel_map)


class TrujilloRestingAdapter(TrujilloAdapter):
    def task_for(self, condition: str) -> str:
        return "rest"


ADAPTER = TrujilloRestingAdapter
