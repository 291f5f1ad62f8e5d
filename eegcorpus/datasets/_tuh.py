"""What every TUH corpus adapter shares (TUAB, TUEV, TUSZ, TUAR, TUEP, TUSL; Siena reuses
the event helpers).

Shared by the TUH adapters (TUAB, TUEV, TUSZ, TUAR, TUEP, TUSL):

* names: ``{subject}_s{session:03d}_t{token:03d}.edf`` gives subject, session and run (the
  token); recording ids are ``<dataset>.<file stem>``, and :meth:`TUHAdapter.find` refuses two
  files that would get the same id rather than let one overwrite the other;
* the montage folder (``01_tcp_ar``, ``02_tcp_le``, ``03_tcp_ar_a``) goes into
  ``Source.extra["montage"]``;
* channels the store cannot place are removed on reading (:meth:`TUHAdapter.read`): the
  anterior temporal ``T1``/``T2`` (no standard_1005 position), and the card's non-EEG channels
  under a reference suffix other than the ``-REF`` the card spells (``EEG SP1-LE``,
  ``EEG 26-LE`` in linked-ear files);
* companion annotation files in NEDC's ``csv_v1.0.0`` format (``#`` comment lines, then
  ``channel,start_time,stop_time,label,confidence``) are read by :func:`read_tuh_csv`.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path, PurePosixPath

import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, LayoutError, Source, _num
from eegcorpus.errors import ReaderError
from eegcorpus.recording import Recording

#: ``aaaaamye_s001_t000``: subject, session, token.
TUH_STEM = re.compile(r"^(?P<subject>[A-Za-z0-9]+)_s(?P<session>\d{3})_t(?P<token>\d{3})$")
#: Montage folders: ``01_tcp_ar``, ``02_tcp_le``, ``03_tcp_ar_a``.
MONTAGE_FOLDER = re.compile(r"^\d{2}_tcp_[a-z_]+$", re.IGNORECASE)
#: The column line of NEDC's csv annotation files.
CSV_COLUMNS = ("channel", "start_time", "stop_time", "label", "confidence")
_EVENT_COLUMNS = ("onset", "duration", "description", "label")


class AnnotationError(ReaderError):
    """A companion annotation file that cannot be parsed (one line: ``<path>: <reason>``)."""


def event_frame(onset=(), duration=(), description=(), label=()) -> pd.DataFrame:
    """An events table with the columns :func:`eegcorpus.build.build_one` stores."""
    return pd.DataFrame(
        {
            "onset": pd.Series(list(onset), dtype="float64"),
            "duration": pd.Series(list(duration), dtype="float64"),
            "description": pd.Series(list(description), dtype="object"),
            "label": pd.Series(list(label), dtype="object"),
        }
    )


def concat_events(frames) -> pd.DataFrame:
    """Several events tables as one, sorted by onset (ties keep their order)."""
    frames = [f.loc[:, list(_EVENT_COLUMNS)] for f in frames if len(f)]
    if not frames:
        return event_frame()
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values("onset", kind="stable").reset_index(drop=True)


def read_tuh_csv(path: str | Path) -> pd.DataFrame:
    """Read an NEDC ``csv_v1.0.0`` annotation file (TUSZ ``.csv``/``.csv_bi``, TUAR ``.csv``).

    Parameters
    ----------
    path : path-like
        The file: ``#`` comment lines (version, bname, duration, montage file), then the column
        line ``channel,start_time,stop_time,label,confidence`` and one row per event.

    Returns
    -------
    DataFrame
        Columns ``channel`` (a TCP channel such as ``FP1-F7``, or ``TERM`` for an event of the
        whole recording), ``start_time``, ``stop_time`` (seconds), ``label``, ``confidence``.

    Raises
    ------
    AnnotationError
        No column line, a row with the wrong number of fields, or a time that is not a number.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise AnnotationError(path, f"cannot read annotation file ({err.strerror or err})") from err
    body = [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]
    if not body or tuple(c.strip().lower() for c in body[0][1].split(",")) != CSV_COLUMNS:
        raise AnnotationError(path, f"no column line {','.join(CSV_COLUMNS)!r}: not an NEDC csv_v1.0.0 annotation file")
    rows = []
    for (number, line), fields in zip(body[1:], csv.reader(line for _, line in body[1:])):
        if len(fields) != len(CSV_COLUMNS):
            raise AnnotationError(path, f"line {number}: expected {len(CSV_COLUMNS)} fields, got {len(fields)}: {line.strip()!r}")
        channel, start, stop, label, confidence = (f.strip() for f in fields)
        try:
            rows.append((channel, float(start), float(stop), label, float(confidence) if confidence else float("nan")))
        except ValueError:
            raise AnnotationError(path, f"line {number}: times and confidence must be numbers: {line.strip()!r}") from None
    return pd.DataFrame(rows, columns=list(CSV_COLUMNS)).astype({"start_time": "float64", "stop_time": "float64", "confidence": "float64"})


def csv_events(path: str | Path) -> pd.DataFrame:
    """Events from an NEDC csv file: label as written, the channel kept in the description.

    A term-based row (channel ``TERM``) is described by its label alone (``seiz``); a
    channel-based row by ``label@channel`` (``eyem@FP1-F7``), so the label column stays clean.
    """
    table = read_tuh_csv(path)
    description = [lab if ch.upper() == "TERM" else f"{lab}@{ch}" for ch, lab in zip(table["channel"], table["label"])]
    return event_frame(table["start_time"], table["stop_time"] - table["start_time"], description, table["label"])


def raw_root_of(source: Source, rec: Recording) -> Path:
    """The raw folder a recording was read from (its path minus ``source.path``)."""
    depth = len(PurePosixPath(source.path).parts)
    return Path(rec.source).parents[depth - 1]


def companion_in_root(raw_root: Path, rel: PurePosixPath) -> bool:
    """True when ``rel`` is a file under ``raw_root`` that does not lead out of it (symlinks)."""
    path = Path(raw_root) / rel
    return path.is_file() and path.resolve().is_relative_to(Path(raw_root).resolve())


def drop_rows(rec: Recording, dropped: dict[str, str]) -> Recording:
    """``rec`` without the channels named in ``dropped`` (name -> reason), reasons in ``extra``.

    Per-channel lists in ``extra`` (EDF prefiltering, transducers, units) are cut alike.
    """
    if not dropped:
        return rec
    keep = [i for i, name in enumerate(rec.ch_names) if name not in dropped]
    n = rec.n_channels
    extra = {k: [v[i] for i in keep] if isinstance(v, list) and len(v) == n else v for k, v in rec.extra.items()}
    extra["adapter_dropped_channels"] = dict(dropped)
    return dataclasses.replace(
        rec,
        data=rec.data[keep],
        ch_names=[rec.ch_names[i] for i in keep],
        ch_types=[rec.ch_types[i] for i in keep],
        units=[rec.units[i] for i in keep],
        extra=extra,
    )


class TUHAdapter(DatasetAdapter):
    """Common ground of the TUH corpora (see the module docstring).

    Subclasses set :attr:`companion_suffixes` and override :meth:`describe` and
    :meth:`companion_events`.
    """

    #: Companion files looked for beside each EDF: key in ``Source.companions`` -> suffix.
    companion_suffixes: dict[str, str] = {}

    def describe(self, rel: PurePosixPath, fields: dict[str, str]) -> Source | None:
        source = super().describe(rel, fields)
        stem = TUH_STEM.match(rel.stem)
        if stem:
            source.subject = stem["subject"]
            source.session = _num(stem["session"])
            source.run = _num(stem["token"])
        montage = next((p for p in reversed(rel.parent.parts) if MONTAGE_FOLDER.match(p)), None)
        if montage:
            source.extra["montage"] = montage
        return source

    def find(self, raw_root: Path) -> list[Source]:
        """Every recording under ``raw_root``, with its companion files.

        Raises
        ------
        LayoutError
            When two files would get the same recording id (two copies of a corpus, or two
            releases, under one raw folder).
        """
        sources = super().find(raw_root)
        seen: dict[str, str] = {}
        for source in sources:
            for key, suffix in self.companion_suffixes.items():
                rel = PurePosixPath(source.path).with_suffix(suffix)
                if companion_in_root(raw_root, rel):
                    source.companions[key] = str(rel)
            if source.recording_id in seen:
                raise LayoutError(
                    f"{self.dataset_id}: recording id {source.recording_id!r} comes from two files, "
                    f"{seen[source.recording_id]} and {source.path}; keep one copy of the corpus under {raw_root}"
                )
            seen[source.recording_id] = source.path
        return sources

    def companion_path(self, source: Source, rec: Recording, key: str) -> Path | None:
        rel = source.companions.get(key)
        return raw_root_of(source, rec) / rel if rel else None

    def companion_events(self, source: Source, rec: Recording) -> pd.DataFrame:
        """Events from the dataset's own annotation files (none by default)."""
        return event_frame()

    def events(self, source: Source, rec: Recording) -> pd.DataFrame:
        """The file's own annotations (no label) and the companion events, by onset."""
        return concat_events([super().events(source, rec), self.companion_events(source, rec)])


def partition_source(source: Source, partition: str | None) -> Source:
    """Record the official partition in ``extra`` and in ``task`` (which the index keeps)."""
    if partition:
        source.extra["partition"] = partition
        source.task = partition
    return source
