"""Reading a BIDS dataset: its recordings as build sources, each read through mne-bids.

A BIDS dataset has no catalog card: what a card says (the layout, the line frequency, which
channels are not EEG) its files say instead. The recordings are the ``*_eeg.<ext>`` files of
``sub-*/[ses-*/]eeg/`` in the four formats BIDS allows for EEG (EDF, BDF, BrainVision, EEGLAB).
Each is read with :func:`mne_bids.read_raw_bids`, which applies its sidecars: channel types and
``status=bad`` from ``channels.tsv``, events from ``events.tsv``, positions from
``electrodes.tsv`` with ``coordsystem.json``, the line frequency from ``*_eeg.json``.

The sidecars a recording uses are its companions, so a change to one rebuilds it; its row of
``participants.tsv`` and the dataset's ``dataset_description.json`` are kept with it (in
``source_extra``), so a change to those rebuilds it too.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np

from eegcorpus._validate import check_option
from eegcorpus.datasets.base import Source, unlabelled_events
from eegcorpus.errors import EEGCorpusError, ReaderError
from eegcorpus.pipeline.process import BAD_CHANNEL_POLICIES, POSITION_POLICIES
from eegcorpus.recording import Recording

#: Data file extension -> the format it is stored as (``source_format`` is ``bids-<format>``).
EEG_FORMATS = {".edf": "edf", ".bdf": "bdf", ".vhdr": "brainvision", ".set": "eeglab"}
#: Files a recording's data needs besides the one BIDS names (BrainVision markers and samples,
#: EEGLAB's separate sample file), by extension of the named file.
_DATA_PARTS = {".vhdr": (".vmrk", ".eeg"), ".set": (".fdt",)}
#: Sidecars looked up for each recording (BIDS inheritance: the nearest one that applies).
_SIDECARS = {"sidecar": ("eeg", ".json"), "channels": ("channels", ".tsv"), "events": ("events", ".tsv"), "electrodes": ("electrodes", ".tsv")}
_COORDSYSTEM = ("coordsystem", ".json")
#: Entities of a BIDS EEG file name, in the order they appear in it.
_ENTITIES = ("subject", "session", "task", "acquisition", "run", "recording", "space", "split", "description", "processing")
#: A dataset name: what a recording id starts with.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
_MNE_FRAME_HEAD = "head"


class _Unreadable(dict):
    """An empty participants table that says the file could not be read."""


#: The participants table of a dataset whose participants.tsv is malformed.
UNREADABLE = _Unreadable()


class BIDSError(EEGCorpusError):
    """A BIDS dataset that cannot be built as a whole (no dataset_description.json, bad name)."""


def read_description(root: Path) -> dict:
    """``dataset_description.json`` as the store keeps it: name, licence, DOI, authors, BIDS
    version (raises :class:`BIDSError` naming the file when it is missing or not JSON)."""
    path = Path(root) / "dataset_description.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BIDSError(f"{path}: not found; a BIDS dataset has a dataset_description.json at its root") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BIDSError(f"{path}: not valid JSON ({' '.join(str(err).split())})") from None
    if not isinstance(document, dict):
        raise BIDSError(f"{path}: not a JSON object")
    authors = document.get("Authors") or []
    return {
        "name": document.get("Name"),
        "license": document.get("License"),
        "doi": document.get("DatasetDOI"),
        "authors": [str(a) for a in authors] if isinstance(authors, list) else [str(authors)],
        "bids_version": document.get("BIDSVersion"),
        "references": document.get("ReferencesAndLinks") or [],
    }


def dataset_name(root: Path, description: dict, name: str | None = None) -> str:
    """The name recordings are stored under: ``name`` when given, else the dataset's ``Name``
    (or the folder's name when it has none) in lower case, other characters turned into ``_``."""
    if name is not None:
        if not _NAME.match(name):
            raise BIDSError(
                f"Invalid value for the 'name' parameter: {name!r} (allowed: lower-case letters, digits, '_' and '-', starting with a letter or digit)."
            )
        return name
    text = description.get("name")
    if not text or text.strip().startswith("[Unspecified"):
        text = Path(root).resolve().name
    slug = re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_")
    if not slug:
        raise BIDSError(f"{root}: cannot make a dataset name from {text!r}; pass one (--name)")
    return slug


def _value(text: str):
    """A participants.tsv cell: None for n/a, a number where it is one, else the text."""
    if text in ("n/a", ""):
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", text) else number


def read_participants(root: Path) -> dict[str, dict]:
    """``participants.tsv`` as ``{subject label: {column: value}}`` (empty when there is none).

    Raises
    ------
    ReaderError
        The file is not a table with a ``participant_id`` first column, a row has another
        number of fields than the header, or a participant is listed twice.
    """
    path = Path(root) / "participants.tsv"
    if not path.exists():
        return {}
    lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    if not lines:
        raise ReaderError(path, "empty file; a participants.tsv has a header line with participant_id first")
    header = lines[0].split("\t")
    if header[0] != "participant_id":
        raise ReaderError(path, f"the first column is {header[0]!r}, not 'participant_id' (columns are separated by tabs)")
    rows: dict[str, dict] = {}
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise ReaderError(path, f"line {number} has {len(cells)} fields, the header {len(header)}")
        label = cells[0].removeprefix("sub-")
        if label in rows:
            raise ReaderError(path, f"line {number}: participant sub-{label} is listed twice")
        rows[label] = {column: _value(cell) for column, cell in zip(header[1:], cells[1:])}
    return rows


def _entities(path: PurePosixPath) -> dict[str, str]:
    from mne_bids import get_entities_from_fname

    found = get_entities_from_fname(path.name, on_error="ignore")
    return {key: found[key] for key in _ENTITIES if found.get(key) is not None}


def _bids_path(root: Path, rel: PurePosixPath):
    from mne_bids import BIDSPath

    return BIDSPath(root=root, datatype="eeg", suffix="eeg", extension=rel.suffix, check=False, **_entities(rel))


def _relative(root: Path, path) -> str | None:
    if path is None:
        return None
    path = Path(path)
    try:
        return path.resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return None


class BIDSAdapter:
    """A BIDS dataset read as one dataset named ``dataset_id``.

    Parameters
    ----------
    dataset_id : str
        The name its recordings are stored under (:func:`dataset_name`).
    bad_channels : "drop" | "keep"
        Channels with ``status=bad`` in ``channels.tsv``: dropped (default, as an analysis would
        exclude them) or kept and listed in the recording's provenance.
    positions : "template" | "file"
        See :data:`eegcorpus.pipeline.process.POSITION_POLICIES`.
    """

    channel_map = None

    def __init__(self, dataset_id: str, bad_channels: str = "drop", positions: str = "template"):
        self.dataset_id = dataset_id
        self.bad_channels = check_option("bad_channels", bad_channels, BAD_CHANNEL_POLICIES)
        self.positions = check_option("positions", positions, POSITION_POLICIES)

    @property
    def policies(self) -> dict:
        return {"bad_channels": self.bad_channels, "positions": self.positions}

    # ---------------------------------------------------------------------------- listing
    def recordings(self, root: Path) -> list[PurePosixPath]:
        """The EEG data files of the dataset, relative to ``root``, sorted (``derivatives/``,
        ``sourcedata/`` and anything outside ``sub-*/`` are not raw data and are left out)."""
        root = Path(root)
        found = []
        for folder in sorted(root.glob("sub-*")):
            if not folder.is_dir():
                continue
            for path in sorted(folder.rglob("*_eeg.*")):
                if path.suffix in EEG_FORMATS and path.parent.name == "eeg" and path.is_file():
                    found.append(PurePosixPath(path.relative_to(root).as_posix()))
        return found

    def find(self, root: Path, description: dict | None = None, participants: dict | None = None) -> list[Source]:
        """Every recording of the dataset as a build source, its sidecars as companions.

        ``participants`` is :func:`read_participants`'s table, or :data:`UNREADABLE` when that
        failed (the recordings are then read as if the dataset had no participants.tsv).
        """
        if participants is None:
            participants = read_participants(root)
        root = Path(root)
        description = read_description(root) if description is None else description
        sources = []
        for rel in self.recordings(root):
            entities = _entities(rel)
            if "subject" not in entities:
                continue
            bids_path = _bids_path(root, rel)
            companions = {}
            for key, (suffix, extension) in _SIDECARS.items():
                found = _relative(root, bids_path.find_matching_sidecar(suffix=suffix, extension=extension, on_error="ignore"))
                if found:
                    companions[key] = found
            if "electrodes" in companions:
                found = _relative(root, bids_path.find_matching_sidecar(suffix=_COORDSYSTEM[0], extension=_COORDSYSTEM[1], on_error="ignore"))
                if found:
                    companions["coordsystem"] = found
            for extension in _DATA_PARTS.get(rel.suffix, ()):
                part = rel.with_suffix(extension)
                if (root / part).exists():
                    companions[extension.lstrip(".")] = str(part)
            stem = rel.name.rsplit(".", 1)[0].removesuffix("_eeg")
            sources.append(
                Source(
                    path=str(rel),
                    recording_id=f"{self.dataset_id}.{stem}",
                    subject=entities["subject"],
                    session=entities.get("session"),
                    run=entities.get("run"),
                    task=entities.get("task"),
                    acquisition=entities.get("acquisition"),
                    companions=companions,
                    extra={
                        "participant": participants.get(entities["subject"]),
                        "dataset": description,
                        "policies": self.policies,
                        "participants_unreadable": participants is UNREADABLE,
                    },
                )
            )
        return sources

    # ---------------------------------------------------------------------------- reading
    def read(self, root: Path, source: Source) -> Recording:
        """The recording with its sidecars applied (raises :class:`ReaderError` naming the file
        that is missing or does not match)."""
        from mne_bids import read_raw_bids

        from eegcorpus.readers._mne import quiet_mne, recording_from_raw

        root = Path(root)
        rel = PurePosixPath(source.path)
        path = root / rel
        if "sidecar" not in source.companions:
            expected = path.with_name(rel.name.rsplit(".", 1)[0] + ".json")
            raise ReaderError(expected, "missing sidecar: BIDS requires an *_eeg.json beside each EEG recording (or above it, inherited)")
        channels_tsv = root / source.companions["channels"] if "channels" in source.companions else None
        table = _channels_table(channels_tsv) if channels_tsv else []
        listed = [row.get("name", "") for row in table]
        with quiet_mne(), _readable_root(root, rel, source.extra.get("participants_unreadable", False)) as read_root:
            try:
                raw = read_raw_bids(_bids_path(read_root, rel), on_ch_mismatch="raise", verbose="error")
            except RuntimeError as err:
                if "mismatch" in str(err).lower() and channels_tsv:
                    raise ReaderError(channels_tsv, _mismatch(listed, _file_channels(path), path.name)) from None
                raise ReaderError(path, str(err)) from None
            except (ValueError, KeyError, OSError) as err:
                raise ReaderError(path, f"{type(err).__name__}: {err}") from None
            if channels_tsv and listed != raw.ch_names:
                # BIDS: channels.tsv lists every channel of the data file, in its order
                # (mne-bids accepts a table that leaves channels out).
                raise ReaderError(channels_tsv, _mismatch(listed, raw.ch_names, path.name))
            rec = recording_from_raw(raw, path, f"bids-{EEG_FORMATS[rel.suffix]}")  # samples are read here
        if raw.info.get("line_freq"):
            rec.extra["line_freq"] = float(raw.info["line_freq"])
        rec.bad_channels = _bad_channels(table, raw.info["bads"])
        rec.positions, frame = _head_positions(raw)
        if frame not in (None, _MNE_FRAME_HEAD):
            rec.extra["positions_not_used"] = f"electrodes.tsv positions are in the {frame} frame, which cannot be converted to the head frame"
        return rec

    def process_options(self, source: Source, rec: Recording) -> dict:
        options = {"bad_channels": self.bad_channels, "positions": self.positions}
        if rec.extra.get("line_freq"):
            options["line_freq"] = rec.extra["line_freq"]
        return options

    def attributes(self, source: Source, rec: Recording) -> dict:
        return {"participant": source.extra.get("participant"), "source_dataset": source.extra.get("dataset")}

    def events(self, source: Source, rec: Recording):
        """``events.tsv`` (``trial_type`` as the description), as mne-bids turns it into
        annotations; no card, so no labels."""
        return unlabelled_events(rec)


@contextlib.contextmanager
def _readable_root(root: Path, rel: PurePosixPath, without_participants: bool):
    """``root``, or where its participants.tsv is malformed a temporary root without it (links
    to the recording's subject folder and the top-level files), since mne-bids reads that table
    with every recording and would fail them all for it."""
    if not without_participants:
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="eegcorpus-bids-") as tmp:
        shadow = Path(tmp)
        for entry in root.iterdir():
            if entry.name != "participants.tsv" and (entry.is_file() or entry.name == rel.parts[0]):
                (shadow / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
        yield shadow


def _channels_table(path: Path) -> list[dict]:
    lines = [line.split("\t") for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    if not lines:
        return []
    header = lines[0]
    return [dict(zip(header, cells)) for cells in lines[1:]]


def _file_channels(data_file: Path) -> list[str] | None:
    """The channel names in a data file's header, or None when it cannot be read."""
    import mne

    try:
        with mne.utils.use_log_level("ERROR"):
            return mne.io.read_raw(data_file, preload=False, verbose="error").ch_names
    except Exception:  # the data file itself is unreadable: the message says so
        return None


def _mismatch(listed: list[str], in_file: list[str] | None, data_name: str) -> str:
    """Why ``channels.tsv`` does not describe the data file: counts and the first difference."""
    if in_file is None:
        return f"does not match the channels of {data_name}, which cannot be read"
    first = next((f"{a!r} listed where the file has {b!r}" for a, b in zip(listed, in_file) if a != b), None)
    if first is None:
        first = f"{len(listed)} channels listed, {len(in_file)} in the file"
    return f"does not match {data_name}: {len(listed)} channels listed, {len(in_file)} in the file; {first}"


def _bad_channels(table: list[dict], bads: list[str]) -> dict[str, str]:
    """``{name: reason}`` for the channels marked bad, with channels.tsv's ``status_description``
    where it gives one."""
    described = {row.get("name"): row.get("status_description", "n/a") for row in table}
    out = {}
    for name in bads:
        note = described.get(name)
        out[name] = "status=bad in channels.tsv" + (f" ({note})" if note and note != "n/a" else "")
    return out


def _head_positions(raw) -> tuple[dict[str, tuple[float, float, float]], str | None]:
    """Channel positions in the head frame from the montage mne-bids set (from electrodes.tsv),
    and the frame they were in (None without positions)."""
    montage = raw.get_montage()
    if montage is None:
        return {}, None
    stated = montage.get_positions()
    placed = {name: tuple(float(v) for v in xyz) for name, xyz in (stated.get("ch_pos") or {}).items() if np.all(np.isfinite(xyz))}
    if not placed:
        return {}, None
    frame = stated.get("coord_frame")
    if frame != _MNE_FRAME_HEAD:
        return {}, frame
    return placed, frame
