"""TUEV (TUH EEG Events Corpus): 1-s events from each EDF's ``.rec`` table, official partitions.

Layout: ``edf/train/{subject}/{subject}_{NNNNNNNN}.edf`` and ``edf/eval/{NNN}/...edf`` (for example
``edf/eval/099/bckg_099_a_1.edf``), each with a ``.rec`` beside it. The subject is the folder
holding the file; the partition (``train``/``eval``) goes into ``Source.extra["partition"]``
and ``task``, and into the recording id (``tuev.train.aaaaaaar_00000001``) because the two
partitions name their files independently.

``.rec`` rows are ``channel,start,stop,code`` with code 1-6 = the card's labels in order
(spsw, gped, pled, eyem, artf, bckg). Each row becomes an event with ``onset = start``,
``duration = stop - start``, ``label`` the label name and ``description`` ``label@chN``, N being
the channel index as the ``.rec`` writes it (a channel of the TCP montage the annotators used,
not a row of the EDF).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from eegcorpus.datasets._tuh import AnnotationError, TUHAdapter, event_frame, partition_source
from eegcorpus.datasets.base import Source, _num

_TRAIN_STEM = re.compile(r"^(?P<subject>[^_]+)_(?P<number>\d+)$")


def read_rec(path: str | Path, names: list[str]) -> pd.DataFrame:
    """Read a TUEV ``.rec`` event table.

    Parameters
    ----------
    path : path-like
        Rows ``channel,start,stop,code``, no header.
    names : list of str
        Label names; code ``k`` is ``names[k - 1]``.

    Returns
    -------
    DataFrame
        Columns ``channel`` (int), ``start``, ``stop`` (seconds), ``code`` (int), ``label``.

    Raises
    ------
    AnnotationError
        A row without four fields, a value that is not a number, or an unknown code.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise AnnotationError(path, f"cannot read event table ({err.strerror or err})") from err
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 4:
            raise AnnotationError(path, f"line {number}: expected channel,start,stop,code, got {line.strip()!r}")
        try:
            channel, start, stop, code = int(fields[0]), float(fields[1]), float(fields[2]), int(float(fields[3]))
        except ValueError:
            raise AnnotationError(path, f"line {number}: not numbers: {line.strip()!r}") from None
        if not 1 <= code <= len(names):
            raise AnnotationError(path, f"line {number}: event code {code} is not one of 1..{len(names)}")
        rows.append((channel, start, stop, code, names[code - 1]))
    return pd.DataFrame(rows, columns=["channel", "start", "stop", "code", "label"])


class TUEVAdapter(TUHAdapter):
    companion_suffixes = {"rec": ".rec"}

    @property
    def label_names(self) -> list[str]:
        """Label names in code order (code k -> the label whose value is k - 1)."""
        return [name for name, _ in sorted(self.card.labels.items(), key=lambda item: item[1])]

    def describe(self, rel, fields) -> Source | None:
        source = super().describe(rel, fields)
        partition = fields.get("partition")
        source.subject = rel.parent.name
        train = _TRAIN_STEM.match(rel.stem)
        if train and train["subject"] == source.subject:
            source.run = _num(train["number"])
        else:
            # Eval names such as bckg_099_a_1: what is left once the subject number is taken out.
            rest = [part for part in rel.stem.split("_") if part != source.subject]
            source.run = "_".join(rest) or None
        source.recording_id = f"{self.dataset_id}.{partition}.{rel.stem}" if partition else source.recording_id
        return partition_source(source, partition)

    def companion_events(self, source, rec) -> pd.DataFrame:
        path = self.companion_path(source, rec, "rec")
        if path is None:
            return event_frame()
        table = read_rec(path, self.label_names)
        return event_frame(
            table["start"],
            table["stop"] - table["start"],
            [f"{lab}@ch{ch}" for lab, ch in zip(table["label"], table["channel"])],
            table["label"],
        )


ADAPTER = TUEVAdapter
