"""BrainVision (``.vhdr`` + ``.vmrk`` + ``.eeg``) reader, backed by MNE."""

from __future__ import annotations

import re
from pathlib import Path

from eegcorpus.errors import ReaderError
from eegcorpus.readers._chtypes import apply_type_guesses
from eegcorpus.readers._mne import quiet_mne, recording_from_raw
from eegcorpus.recording import Recording, sha256_file

_COMMON_INFOS = re.compile(r"^\s*(DataFile|MarkerFile)\s*=\s*(.+?)\s*$", re.MULTILINE)


def read_brainvision(path: str | Path) -> Recording:
    """Read a BrainVision recording into a Recording.

    Parameters
    ----------
    path : path-like
        The ``.vhdr`` header; the ``.eeg`` and ``.vmrk`` files it names must sit beside it.

    Returns
    -------
    recording : Recording
        Voltage channels in microvolts (the header's per-channel resolution and unit are
        applied), ``format="brainvision"``. Markers become annotations as MNE spells them,
        ``"<type>/<description>"`` (``"Stimulus/S  1"``). Channels named like EOG/ECG/EMG are
        retyped from MNE's default ``eeg`` (``extra["type_guesses"]``).
        ``extra["companion_sha256"]`` maps the data and marker file names to their sha256.

    Raises
    ------
    ReaderError
        When the header is missing or empty, names a data or marker file that is missing,
        cannot be parsed (unsupported binary format, inconsistent sizes), or when a sample is
        NaN or infinite.
    """
    path = Path(path)
    if not path.is_file():
        raise ReaderError(path, "file not found")
    if path.stat().st_size == 0:
        raise ReaderError(path, "file is empty (0 bytes)")
    companions = _companion_files(path)
    for role, companion in companions.items():
        if not companion.is_file():
            raise ReaderError(path, f"the {role} {companion.name!r} named in the header is missing")
    try:
        import mne

        with quiet_mne():
            raw = mne.io.read_raw_brainvision(path, preload=True)
            type_guesses = apply_type_guesses(raw)
    except Exception as err:  # MNE raises ValueError, OSError, KeyError, RuntimeError alike
        reason = f"cannot read BrainVision file: {type(err).__name__}: {err}"
        raise ReaderError(path, reason) from err
    extra = {
        "type_guesses": type_guesses,
        "companion_sha256": {c.name: sha256_file(c) for c in companions.values()},
    }
    return recording_from_raw(raw, path, "brainvision", extra)


def _companion_files(path: Path) -> dict[str, Path]:
    """Data and marker files named in the header's ``[Common Infos]`` section."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as err:
        raise ReaderError(path, f"cannot open file ({err.strerror or err})") from err
    if "Brain Vision" not in text and "BrainVision" not in text:
        raise ReaderError(path, "not a BrainVision header (no 'Brain Vision ... Header File' line)")
    found = {}
    for key, value in _COMMON_INFOS.findall(text):
        role = "data file" if key == "DataFile" else "marker file"
        found[role] = path.parent / value
    if "data file" not in found:
        raise ReaderError(path, "BrainVision header names no DataFile")
    return found
