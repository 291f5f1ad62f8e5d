"""Siena Scalp EEG (PhysioNet siena-scalp-eeg): patients, runs and the seizure list.

Layout: ``PNxx/PNxx-n.edf`` with one ``Seizures-list-PNxx.txt`` per patient folder. The subject
is the patient folder name (``PN00``), the run the part after the dash (``n``, which may be
``4.5.6`` for a file that joins several), the id ``siena.PNxx-n``.

Seizure list: blocks of ``Key: value`` lines; for each seizure the file name, the
registration (recording) start and the seizure start and end as clock times (``19.39.33`` or
``19:39:33``; the seizure lines are written ``Seizure start time:`` or just ``Start time:``).
Seizure onset = seizure start - registration start, modulo 24 h (recordings run past
midnight). A seizure becomes an event described ``seizure`` and labelled ``seiz`` (the TUSZ
label). File names are matched to the list ignoring case and punctuation, because the list
does not always spell them as the folder does.

Channels: Siena writes every scalp electrode with an ``EEG`` prefix (``EEG Fp1``); the other
channels (``EKG EKG``, ``SPO2``, ``HR``, ``MK``, ``1``, ``2``...) are not scalp EEG. Those the
channel-type rules do not catch and the card does not drop are removed on reading, since they
have no position.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path, PurePosixPath

import pandas as pd

from eegcorpus.datasets._tuh import (
    AnnotationError,
    companion_in_root,
    concat_events,
    drop_rows,
    event_frame,
    raw_root_of,
)
from eegcorpus.datasets.base import DatasetAdapter, Source, _num
from eegcorpus.recording import Recording

# A stray space inside the hour digits ("1 6.05.10") is tolerated; anything else must be a
# clock time with '.' or ':' between fields.
_CLOCK = re.compile(r"(?<!\d)(\d(?:\s?\d)?)\s*[.:]\s*(\d{2})\s*[.:]\s*(\d{2})(?!\d)")
_DAY = 24 * 3600


def _clock(path, number: int, line: str) -> int:
    match = _CLOCK.search(line.split(":", 1)[1])
    if not match:
        raise AnnotationError(path, f"line {number}: no clock time (hh.mm.ss) in {line.strip()!r}")
    hour, minute, second = int(match[1].replace(" ", "")), int(match[2]), int(match[3])
    if hour > 23 or minute > 59 or second > 59:
        raise AnnotationError(path, f"line {number}: {match[0]!r} is not a clock time")
    return hour * 3600 + minute * 60 + second


def _file_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def read_seizure_list(path: str | Path) -> dict[str, list[tuple[float, float]]]:
    """Seizures of a ``Seizures-list-PNxx.txt`` as ``{file key: [(onset, end), ...]}`` in seconds.

    Keys are file names lower-cased with punctuation removed (``pn001edf``); onsets and ends
    count from the start of that file's recording.

    Raises
    ------
    AnnotationError
        A seizure time before any file name or registration start, or a time that is not a
        clock time.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise AnnotationError(path, f"cannot read seizure list ({err.strerror or err})") from err
    out: dict[str, list[tuple[float, float]]] = {}
    current, registration, start = None, None, None
    for number, line in enumerate(lines, 1):
        key = line.split(":", 1)[0].strip().lower() if ":" in line else ""
        if key == "file name":
            current = _file_key(line.split(":", 1)[1].strip())
            out.setdefault(current, [])
            registration, start = None, None
        elif key == "registration start time":
            registration = _clock(path, number, line)
        elif key in ("seizure start time", "start time"):
            start = _clock(path, number, line)
        elif key in ("seizure end time", "end time"):
            end = _clock(path, number, line)
            if current is None or registration is None or start is None:
                raise AnnotationError(path, f"line {number}: seizure end without a file name, registration start and seizure start before it")
            onset = (start - registration) % _DAY
            stop = (end - registration) % _DAY
            out[current].append((float(onset), float(stop if stop >= onset else stop + _DAY)))
            start = None
    return out


class SienaAdapter(DatasetAdapter):
    def describe(self, rel, fields) -> Source | None:
        source = super().describe(rel, fields)
        patient = int(fields["patient"])
        source.subject = f"PN{patient:02d}"
        source.run = _num(fields.get("n"))
        source.companions["seizures"] = str(rel.parent / f"Seizures-list-PN{patient:02d}.txt")
        return source

    def find(self, raw_root: Path) -> list[Source]:
        sources = super().find(raw_root)
        for source in sources:
            if not companion_in_root(raw_root, PurePosixPath(source.companions["seizures"])):
                del source.companions["seizures"]
        return sources

    def read(self, raw_root: Path, source: Source) -> Recording:
        rec = super().read(raw_root, source)
        patterns = [p.upper() for p in self.card.drop_channels]
        dropped = {
            name: "no 'EEG ' prefix: not a scalp electrode in Siena's labelling"
            for name, kind in zip(rec.ch_names, rec.ch_types)
            if kind == "eeg" and not name.upper().startswith("EEG ") and not any(fnmatch.fnmatchcase(name.upper(), p) for p in patterns)
        }
        return drop_rows(rec, dropped)

    def events(self, source, rec) -> pd.DataFrame:
        """The file's own annotations (no label) and the seizures of the patient's list."""
        own = super().events(source, rec)
        rel = source.companions.get("seizures")
        if not rel:
            return concat_events([own])
        seizures = read_seizure_list(raw_root_of(source, rec) / rel).get(_file_key(PurePosixPath(source.path).name), [])
        listed = event_frame([s for s, _ in seizures], [e - s for s, e in seizures], ["seizure"] * len(seizures), ["seiz"] * len(seizures))
        return concat_events([own, listed])


ADAPTER = SienaAdapter
