"""Neuroscan CNT reader (the raw format of SEED, SEED-IV/GER/FRA and SEED-V), backed by MNE.

CNT files do not say whether samples are 16- or 32-bit integers. MNE's ``data_format="auto"``
gives up whenever the header's sample count is zero or disagrees with the event-table
position, which is the case for both CNT files in the shared test data, so this module decides
the width itself (see :func:`detect_cnt_data_format`) and hands MNE an explicit one.

Header offsets (SETUP structure, http://paulbourke.net/dataformats/eeg/, the same constants as
``mne/io/cnt/_utils.py``): number of channels ``uint16`` at 370, sampling rate ``uint16`` at
376, number of samples ``int32`` at 864, event-table position ``int32`` at 886; the SETUP
header is 900 bytes, followed by one 75-byte ELECTLOC record per channel (name in its first
10 bytes), followed by the samples and then the event table.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eegcorpus._validate import check_option
from eegcorpus.errors import ReaderError
from eegcorpus.readers._chtypes import guess_channel_type
from eegcorpus.readers._mne import quiet_mne, recording_from_raw
from eegcorpus.recording import Recording

_NCHANNELS_OFFSET = 370
_RATE_OFFSET = 376
_NSAMPLES_OFFSET = 864
_EVENTTABLEPOS_OFFSET = 886
_SETUP_SIZE = 900
_ELECTLOC_SIZE = 75
# Above this size the int32 event-table position overflows (MNE gh-6535), so it says nothing.
_LARGE_FILE = 2_000_000_000

#: Mastoid references on Neuroscan Quik-Caps (SEED, SEED-V). They are EEG electrodes, but
#: they are the reference rather than scalp signal, and LaBraM/torcheeg drop them with the EOGs.
_MASTOID_NAMES = frozenset({"M1", "M2"})


@dataclass
class CntHeader:
    """The few SETUP fields that size the data section."""

    n_channels: int
    sfreq: int
    n_samples: int  # as the header says; 0 or stale in some files
    event_table_pos: int  # as the header says; overflows above 2 GB
    file_size: int
    ch_names: list[str]

    @property
    def data_start(self) -> int:
        return _SETUP_SIZE + _ELECTLOC_SIZE * self.n_channels


def read_cnt_header(path: str | Path) -> CntHeader:
    """Read the CNT SETUP fields and channel names, checking that the header is complete.

    Parameters
    ----------
    path : path-like
        The ``.cnt`` file.

    Returns
    -------
    header : CntHeader

    Raises
    ------
    ReaderError
        When the file is empty, shorter than its own header or than the event-table position
        it states (for files under 2 GB, where that position does not overflow), or names no
        channels or a zero sampling rate.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SETUP_SIZE)
            file_size = fh.seek(0, 2)
            if len(head) < _SETUP_SIZE:
                what = "empty (0 bytes)" if file_size == 0 else f"only {file_size} bytes"
                raise ReaderError(path, f"truncated CNT file: {what}, the SETUP header alone needs {_SETUP_SIZE}")
            (n_channels,) = struct.unpack_from("<H", head, _NCHANNELS_OFFSET)
            (sfreq,) = struct.unpack_from("<H", head, _RATE_OFFSET)
            (n_samples,) = struct.unpack_from("<i", head, _NSAMPLES_OFFSET)
            (event_pos,) = struct.unpack_from("<i", head, _EVENTTABLEPOS_OFFSET)
            if n_channels == 0:
                raise ReaderError(path, "CNT header says 0 channels (offset 370)")
            data_start = _SETUP_SIZE + _ELECTLOC_SIZE * n_channels
            if file_size < data_start:
                raise ReaderError(
                    path,
                    f"truncated CNT file: {file_size} bytes, but the header for {n_channels} channels alone needs {data_start}",
                )
            fh.seek(_SETUP_SIZE)
            electlocs = fh.read(_ELECTLOC_SIZE * n_channels)
    except OSError as err:
        raise ReaderError(path, f"cannot open file ({err.strerror or err})") from err
    if file_size < _LARGE_FILE and event_pos > file_size:
        # The event table is written last, so a position past the end means lost bytes.
        raise ReaderError(
            path,
            f"truncated CNT file: {file_size} bytes, but the header puts the event table at byte {event_pos}",
        )
    if sfreq == 0:
        raise ReaderError(path, "CNT header says a sampling rate of 0 Hz (offset 376)")
    names = []
    for i in range(n_channels):
        raw_name = electlocs[i * _ELECTLOC_SIZE : i * _ELECTLOC_SIZE + 10]
        names.append(raw_name.split(b"\x00", 1)[0].decode("latin-1").strip())
    return CntHeader(n_channels, sfreq, n_samples, event_pos, file_size, names)


def detect_cnt_data_format(path: str | Path, header: CntHeader | None = None) -> tuple[str, str]:
    """Decide whether a CNT file stores 16- or 32-bit samples.

    Three rules, tried in order; the first that gives an answer wins:

    1. ``header``: the data section (event-table position minus data start) holds exactly
       ``n_channels x n_samples`` samples of 2 bytes, or of 4 bytes. Skipped when the header's
       sample count is 0, when the two fields disagree with both widths, and for files over
       2 GB whose event-table position overflows.
    2. ``content``: reading the samples as pairs of little-endian 16-bit words, a 32-bit file
       has high words that barely move (counts from a 24-bit ADC keep the high word within
       +-128, changing only when the signal crosses a multiple of 65536), while in a 16-bit
       file the "high" words are ordinary samples of other channels.
       The file is int32 when the spread (standard deviation) of the odd words is at most
       1/16 of that of the even words, int16 otherwise. Up to 1 MiB is sampled, spread over
       the data section (only its first ``2 x n_channels x n_samples`` bytes when the header
       gives a sample count, because clipped files carry stale bytes after that). No answer
       when every sampled word is identical (flat data).
    3. ``events``: event-table entries store the byte offset of their sample. When every
       offset is a whole number of 16-bit frames but some is not a whole number of 32-bit
       frames, the file is int16.

    Parameters
    ----------
    path : path-like
        The ``.cnt`` file.
    header : CntHeader | None
        Already-read header (read here when None).

    Returns
    -------
    data_format : "int16" | "int32"
    rule : "header" | "content" | "events"
        Which rule decided.

    Raises
    ------
    ReaderError
        When no rule can decide (pass ``data_format`` explicitly then).
    """
    path = Path(path)
    header = header or read_cnt_header(path)
    n_ch = header.n_channels
    event_pos_usable = header.file_size < _LARGE_FILE and header.data_start < header.event_table_pos
    if event_pos_usable and header.n_samples > 0:
        n_data = header.event_table_pos - header.data_start
        for width, name in ((2, "int16"), (4, "int32")):
            if n_data == n_ch * header.n_samples * width:
                return name, "header"

    data_end = header.event_table_pos if event_pos_usable else header.file_size
    data_end = min(data_end, header.file_size)
    sample_end = data_end
    if header.n_samples > 0:
        # Clipped files keep the original event-table position but only the first n_samples
        # are signal; the 16-bit size of those lies inside the data under either width.
        sample_end = min(data_end, header.data_start + 2 * n_ch * header.n_samples)
    vote = _content_vote(path, header.data_start, sample_end)
    if vote is not None:
        return vote, "content"

    if event_pos_usable:
        offsets = _event_byte_offsets(path, header)
        rel = [off - header.data_start for off in offsets if header.data_start <= off <= data_end]
        if rel and all(r % (2 * n_ch) == 0 for r in rel) and any(r % (4 * n_ch) for r in rel):
            return "int16", "events"
    raise ReaderError(
        path,
        "cannot tell whether CNT samples are int16 or int32 (header sample count "
        f"{header.n_samples} and event-table position {header.event_table_pos} disagree with "
        "both widths and the data are flat); pass data_format='int16' or 'int32'",
    )


def _content_vote(path: Path, start: int, end: int) -> str | None:
    """The ``content`` rule of :func:`detect_cnt_data_format`; None when undecided."""
    n_bytes = end - start
    if n_bytes < 64:
        return None
    n_blocks = 16
    block = min(65536, n_bytes // n_blocks) // 4 * 4
    chunks = []
    with open(path, "rb") as fh:
        for k in range(n_blocks):
            # Offsets stay multiples of 4 from the data start so that pairs are (low, high).
            offset = start + ((n_bytes - block) * k // max(n_blocks - 1, 1)) // 4 * 4
            fh.seek(offset)
            chunks.append(fh.read(block))
    words = np.frombuffer(b"".join(chunks)[: sum(len(c) for c in chunks) // 4 * 4], dtype="<i2")
    if words.size < 32 or np.all(words == words[0]):
        return None
    low = words[0::2].astype(np.float64)
    high = words[1::2].astype(np.float64)
    return "int32" if high.std() * 16 <= low.std() else "int16"


def _event_byte_offsets(path: Path, header: CntHeader) -> list[int]:
    """Byte offsets stored in the event table (event types 1 and 2; type 3 stores samples)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(header.event_table_pos)
            teeg = fh.read(9)
            if len(teeg) < 9:
                return []
            event_type, size, _ = struct.unpack("<Bii", teeg)
            record = {1: 8, 2: 19}.get(event_type)
            if record is None or size <= 0:
                return []
            table = fh.read(min(size, header.file_size))
    except OSError:
        return []
    return [struct.unpack_from("<i", table, i * record + 4)[0] for i in range(len(table) // record)]


def read_cnt(path: str | Path, data_format: str = "auto") -> Recording:
    """Read a Neuroscan CNT file into a Recording.

    Parameters
    ----------
    path : path-like
        The ``.cnt`` file (Neuroscan; ANT Neuro ``.cnt`` files are a different format).
    data_format : "auto" | "int16" | "int32"
        Sample width. ``"auto"`` applies :func:`detect_cnt_data_format`; SEED-family files are
        int32 (LaBraM reads them with ``data_format='int32'``).

    Returns
    -------
    recording : Recording
        Voltage channels in microvolts, ``format="cnt"``. VEO/HEO (and other EOG names) are
        typed ``eog``, ECG/EMG names ``ecg``/``emg``, the mastoids M1/M2 ``misc``; MNE would
        type them all ``eeg``. ``extra`` holds ``data_format`` (the width used),
        ``data_format_rule`` (``"header"``, ``"content"``, ``"events"`` or ``"forced"``),
        ``header_n_samples`` and ``bads`` (channels the header marks bad).

    Raises
    ------
    ReaderError
        When the file is missing, truncated (shorter than its header, or than the samples the
        header promises), when the sample width cannot be decided, when MNE cannot parse it,
        and when a sample is NaN or infinite.
    """
    path = Path(path)
    check_option("data_format", data_format, ("auto", "int16", "int32"))
    header = read_cnt_header(path)
    if data_format == "auto":
        data_format, rule = detect_cnt_data_format(path, header)
    else:
        rule = "forced"
    width = 2 if data_format == "int16" else 4
    n_available = (header.file_size - header.data_start) // (width * header.n_channels)
    if header.n_samples > n_available:
        raise ReaderError(
            path,
            f"truncated CNT file: header promises {header.n_samples} samples x "
            f"{header.n_channels} channels ({data_format}) but the file holds only {n_available}",
        )
    if header.n_samples <= 0 and n_available == 0:
        raise ReaderError(path, "CNT file holds no samples")

    types = {name: guess_channel_type(name) for name in header.ch_names}
    eog = [n for n, t in types.items() if t == "eog"]
    ecg = [n for n, t in types.items() if t == "ecg"]
    emg = [n for n, t in types.items() if t == "emg"]
    misc = [n for n in header.ch_names if n.upper() in _MASTOID_NAMES]
    try:
        import mne

        with quiet_mne():
            raw = mne.io.read_raw_cnt(path, eog=eog, ecg=ecg, emg=emg, misc=misc, data_format=data_format, preload=True)
    except Exception as err:  # MNE wraps header problems in RuntimeError, data ones vary
        reason = f"cannot read CNT file ({data_format}): {type(err).__name__}: {err}"
        raise ReaderError(path, reason) from err
    extra = {
        "data_format": data_format,
        "data_format_rule": rule,
        "header_n_samples": header.n_samples,
        "bads": list(raw.info["bads"]),
    }
    return recording_from_raw(raw, path, "cnt", extra)
