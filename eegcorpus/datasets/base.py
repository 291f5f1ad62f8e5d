"""What every dataset adapter does: find files, name recordings, read them, extract events.

Files are found from the card's layout pattern (``S{subject:03d}/S{subject:03d}R{run:02d}.edf``):
each ``{field}`` becomes a glob wildcard to list candidates and a named regex group to parse
them, a repeated field must repeat its value, and a format spec such as ``:03d`` fixes the digit
count. A dataset module subclasses :class:`DatasetAdapter` only for what its card cannot say
(labels from file names, events from annotations, companion files).

Every path an adapter returns stays inside the raw folder: patterns with ``..`` or absolute
paths are refused and files whose real path (after symlinks) leaves the folder are skipped.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd

from eegcorpus.errors import EEGCorpusError
from eegcorpus.readers import read_recording
from eegcorpus.recording import Recording

_FIELD = re.compile(r"\{(\w+)(?::([^}]*))?\}")


class LayoutError(EEGCorpusError):
    """A layout pattern that is unsafe or cannot be parsed."""


@dataclass
class Source:
    """One unit of work: a file (relative to the raw folder) and what the layout says of it."""

    path: str
    recording_id: str
    subject: str
    session: str | None = None
    run: str | None = None
    task: str | None = None
    label: str | None = None
    acquisition: str | None = None
    #: Other files this recording needs (hypnogram, event table, label file), relative paths.
    companions: dict[str, str] = field(default_factory=dict)
    #: What the adapter knows of this source beyond its layout: reader options (the MATLAB
    #: variable of one trial), BIDS policies and metadata; JSON-safe values. A change to it
    #: rebuilds the recording.
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _check_pattern(pattern: str) -> None:
    parts = PurePosixPath(pattern).parts
    if pattern.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", pattern) or ".." in parts:
        raise LayoutError(f"layout pattern {pattern!r} must be a relative path inside the raw folder (no '..', not absolute)")


def pattern_to_glob(pattern: str) -> str:
    """``S{subject:03d}/S{subject:03d}R{run:02d}.edf`` -> ``S*/S*R*.edf``."""
    _check_pattern(pattern)
    return _FIELD.sub("*", pattern)


_TOKEN = re.compile(r"\*\*/|\*\*|\*|\?|\{(\w+)(?::([^}]*))?\}")


def pattern_to_regex(pattern: str) -> re.Pattern:
    """A regex for the layout ``pattern``, matched against a path relative to the raw folder.

    ``{field}`` is a named group (a repeated field must match the same text; ``:03d`` fixes
    the digit count), ``*`` matches within one folder level, ``**/`` any number of levels,
    and the pattern may start at any depth below the raw folder (``raw/eegmmidb/S001/...``).
    """
    _check_pattern(pattern)
    out, seen, pos = [], set(), 0
    for match in _TOKEN.finditer(pattern):
        out.append(re.escape(pattern[pos : match.start()]))
        token = match.group(0)
        if token == "**/":
            out.append(r"(?:[^/]+/)*")
        elif token == "**":
            out.append(r".*")
        elif token == "*":
            out.append(r"[^/]*")
        elif token == "?":
            out.append(r"[^/]")
        else:
            name, spec = match.group(1), match.group(2) or ""
            if name in seen:
                out.append(f"(?P={name})")
            else:
                seen.add(name)
                digits = re.fullmatch(r"0?(\d+)d", spec)
                if digits:
                    out.append(f"(?P<{name}>\\d{{{digits.group(1)}}})")
                elif spec.endswith("d"):
                    out.append(f"(?P<{name}>\\d+)")
                else:
                    out.append(f"(?P<{name}>[^/]+?)")
        pos = match.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile(r"\A(?:.*/)?" + "".join(out) + r"\Z")


def safe_glob(root: Path, pattern: str) -> list[PurePosixPath]:
    """Files under ``root`` matching the layout ``pattern`` (see :func:`pattern_to_regex`).

    Symlinked folders inside ``root`` are followed (datasets are often assembled from links),
    each real folder once, so link cycles end. Paths whose real location leaves ``root`` are
    skipped. A folder that cannot be listed (no permission, gone) is named in a warning, one
    line each, and the rest is listed.
    """
    import warnings

    root = Path(root)
    real_root = Path(os.path.realpath(root))
    regex = pattern_to_regex(pattern)
    seen: set[str] = set()
    found = []

    def unlisted(err: OSError) -> None:
        warnings.warn(f"{err.filename}: cannot list this folder ({err.strerror or err}); its files are not built", stacklevel=3)

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=unlisted):
        real = os.path.realpath(folder)
        if real in seen or not Path(real).is_relative_to(real_root):
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        rel_folder = PurePosixPath(Path(folder).relative_to(root).as_posix())
        for name in sorted(files):
            rel = rel_folder / name if str(rel_folder) != "." else PurePosixPath(name)
            if regex.match(str(rel)) and Path(os.path.realpath(root / rel)).is_relative_to(real_root):
                found.append(rel)
    return sorted(found)


class DatasetAdapter:
    """Generic adapter: files from the card's layout, subject/session/run from its fields.

    Subclasses override :meth:`describe` (ids, task, label), :meth:`events` and, where the
    format needs options, :meth:`read`.
    """

    #: Renames applied to file channel names before canonicalisation (e.g. Biosemi A1 -> Fp1).
    channel_map: dict[str, str] | None = None

    def __init__(self, card):
        self.card = card
        self.pattern = card.layout.pattern
        self.regex = pattern_to_regex(self.pattern)

    @property
    def dataset_id(self) -> str:
        return self.card.id

    def fields(self, rel: PurePosixPath) -> dict[str, str]:
        match = self.regex.match(str(rel))
        return match.groupdict() if match else {}

    def find(self, raw_root: Path) -> list[Source]:
        """Every recording of the dataset under ``raw_root``, sorted by path."""
        sources = []
        for rel in safe_glob(raw_root, self.pattern):
            source = self.describe(rel, self.fields(rel))
            if source is not None:
                sources.append(source)
        return sources

    def describe(self, rel: PurePosixPath, fields: dict[str, str]) -> Source | None:
        """Turn a matched file into a Source (None to skip it)."""
        subject = fields.get("subject")
        subject = str(int(subject)) if subject and subject.isdigit() else (subject or rel.parts[0])
        stem = rel.name.rsplit(".", 1)[0]
        return Source(
            path=str(rel),
            recording_id=f"{self.dataset_id}.{stem}",
            subject=subject,
            session=_num(fields.get("session")),
            run=_num(fields.get("run")),
        )

    def read(self, raw_root: Path, source: Source) -> Recording:
        return read_recording(Path(raw_root) / source.path)

    def process_options(self, source: Source, rec: Recording) -> dict:
        """Keyword arguments for :func:`eegcorpus.pipeline.process.process_recording` that this
        source sets itself (none for a catalog dataset: its card says them)."""
        return {}

    def attributes(self, source: Source, rec: Recording) -> dict:
        """Attributes this source adds to its stored recording (none for a catalog dataset)."""
        return {}

    def events(self, source: Source, rec: Recording) -> pd.DataFrame:
        """Events with labels (columns onset, duration, description, label); the file's
        annotations with no label by default."""
        return unlabelled_events(rec)


def unlabelled_events(rec: Recording) -> pd.DataFrame:
    """A recording's annotations as events (onset, duration, description) with no label."""
    ann = rec.annotations
    return pd.DataFrame({"onset": ann["onset"], "duration": ann["duration"], "description": ann["description"], "label": [None] * len(ann)})


def _num(value: str | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if value.isdigit() else value
