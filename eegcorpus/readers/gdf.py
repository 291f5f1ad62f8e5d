"""GDF 1.x and 2.x reader (BCI Competition IV 2a and other Graz-style files), backed by MNE."""

from __future__ import annotations

from pathlib import Path

from eegcorpus.errors import ReaderError
from eegcorpus.readers._chtypes import apply_type_guesses
from eegcorpus.readers._mne import quiet_mne, recording_from_raw
from eegcorpus.recording import Recording


def read_gdf(path: str | Path) -> Recording:
    """Read a GDF file (version 1.x or 2.x) into a Recording.

    GDF event codes become annotation descriptions as their decimal strings, so BCIC-IV-2a
    cues stay recognisable (``"769"`` left hand, ``"770"`` right hand, ``"783"`` unknown cue,
    ``"1023"`` rejected trial, ...); event durations from GDF event-table mode 3 are kept.

    Parameters
    ----------
    path : path-like
        The ``.gdf`` file.

    Returns
    -------
    recording : Recording
        Voltage channels in microvolts, ``format="gdf"``. Channels that MNE types ``eeg`` but
        whose name says EOG/ECG/EMG (BCIC-IV-2a ``EOG-left``...) are retyped, and the changes
        are listed in ``extra["type_guesses"]``; ``extra["gdf_version"]`` is the version
        string from the file's first 8 bytes (``"2.10"``).

    Raises
    ------
    ReaderError
        When the file is missing, is not a GDF file, or MNE cannot parse it (truncated
        header or data, unknown data type), and when a sample is NaN or infinite.
    """
    path = Path(path)
    version = _gdf_version(path)
    try:
        import mne

        with quiet_mne():
            raw = mne.io.read_raw_gdf(path, preload=True)
            type_guesses = apply_type_guesses(raw)
    except ReaderError:
        raise
    except Exception as err:  # MNE raises ValueError, OSError, struct/numpy errors alike
        reason = f"cannot read GDF {version} file: {type(err).__name__}: {err}"
        raise ReaderError(path, reason) from err
    extra = {"gdf_version": version, "type_guesses": type_guesses}
    return recording_from_raw(raw, path, "gdf", extra)


def _gdf_version(path: Path) -> str:
    """Version string from the ``GDF x.yy`` magic, or a ReaderError when the magic is absent."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as err:
        raise ReaderError(path, f"cannot open file ({err.strerror or err})") from err
    if len(head) == 0:
        raise ReaderError(path, "file is empty (0 bytes)")
    if not head.startswith(b"GDF"):
        raise ReaderError(path, f"not a GDF file (first bytes {head!r}, expected b'GDF x.yy')")
    return head[3:].decode("ascii", errors="replace").strip()
