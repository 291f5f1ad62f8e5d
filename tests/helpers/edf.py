"""EDF/BDF files for tests: one writer of valid files, one of malformed bytes, and a real gap.

- :func:`write_edf` writes every valid EDF, EDF+, BDF and BDF+ file the tests need (pyedflib,
  which the readers under test do not use). Dataset-shaped files (TUH, Sleep-EDF, Biosemi with
  a Status channel...) are thin wrappers around it that choose the channels and ranges.
- :func:`edf_bytes` lays out a file byte by byte. It exists beside the writer because the
  property tests need headers pyedflib refuses to write (any number field, any record count,
  annotation signals holding arbitrary bytes) to damage them further.
- :func:`edf_plus_d_with_gap` is a real EDF+D recording edited to hold a 5-s gap.
- :func:`edf_plus_d_shifted` is the same recording with its later records moved by any amount
  (a gap of one sample or of a day, an overlap, a step back in time).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyedflib
from pyedflib import highlevel

from helpers.shared_data import shared_path

#: ``file_type`` of :func:`write_edf` -> pyedflib's constant.
FILE_TYPES = {
    "edf": pyedflib.FILETYPE_EDF,
    "edf+": pyedflib.FILETYPE_EDFPLUS,
    "bdf": pyedflib.FILETYPE_BDF,
    "bdf+": pyedflib.FILETYPE_BDFPLUS,
}

#: Start of every written recording unless the test names one (a fixed date: the same inputs
#: give the same bytes on every run).
DEFAULT_START = dt.datetime(2010, 1, 1, 10, 0, 0)


@dataclasses.dataclass(frozen=True)
class EdfChannel:
    """One signal of a file written by :func:`write_edf`.

    ``samples`` are physical values in ``unit``, or the stored integers when the file is
    written with ``digital=True``. ``physical_range=None`` takes a symmetric range from the
    samples themselves: +-(ceil(max |x|) + 1).
    """

    label: str
    samples: np.ndarray
    sfreq: float
    unit: str = "uV"
    physical_range: tuple[float, float] | None = None
    digital_range: tuple[int, int] = (-32768, 32767)


def write_edf(
    path: Path,
    channels: Sequence[EdfChannel],
    *,
    file_type: str = "edf+",
    start: dt.datetime | None = None,
    annotations: Iterable[tuple[float, float, str]] = (),
    digital: bool = False,
) -> Path:
    """Write a valid EDF/BDF(+) file with pyedflib; returns ``path``.

    Parameters
    ----------
    channels : sequence of EdfChannel
        The signals, each with its own rate, unit and ranges.
    file_type : {"edf", "edf+", "bdf", "bdf+"}
        Plain files have no annotation signal; ``annotations`` need a "+" type.
    start : datetime, optional
        Start of the recording (default :data:`DEFAULT_START`).
    annotations : iterable of (onset_s, duration_s, text)
        Duration -1 for none. pyedflib stores at most one annotation per 1-s data record.
    digital : bool
        The samples are the stored integers, not physical values.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    signals, headers = [], []
    for channel in channels:
        samples = np.asarray(channel.samples, dtype=np.int32 if digital else np.float64)
        if channel.physical_range is None:
            if digital:
                raise ValueError(f"{channel.label}: digital samples need an explicit physical_range")
            peak = float(np.ceil(np.abs(samples).max())) + 1.0
            physical_min, physical_max = -peak, peak
        else:
            physical_min, physical_max = channel.physical_range
        digital_min, digital_max = channel.digital_range
        headers.append(
            highlevel.make_signal_header(
                channel.label,
                dimension=channel.unit,
                sample_frequency=channel.sfreq,
                physical_min=physical_min,
                physical_max=physical_max,
                digital_min=digital_min,
                digital_max=digital_max,
            )
        )
        signals.append(samples)
    header = {"startdate": start or DEFAULT_START, "annotations": [list(a) for a in annotations]}
    assert highlevel.write_edf(str(path), signals, headers, header, digital=digital, file_type=FILE_TYPES[file_type])
    return path


def header_field(value, width: int) -> bytes:
    """``value`` as an EDF header field: latin-1 text cut to ``width`` and padded with spaces."""
    text = value if isinstance(value, bytes) else str(value).encode("latin-1")
    return text[:width].ljust(width, b" ")


def edf_bytes(signals: list[dict], n_records: int, duration: float, *, kind: str = "edf", variant: str = "", records_field=None) -> bytes:
    """A whole EDF/BDF file, laid out byte by byte (whatever the fields say, valid or not).

    Each signal: label, dim, pmin, pmax, dmin, dmax, spr and either ``samples`` (int array
    [n_records, spr]) or ``tal`` (bytes per record, for annotations). ``variant`` is the
    reserved field ("EDF+C", "BDF+D"...), ``records_field`` replaces the number of records
    in the header (e.g. -1, unknown). Use :func:`write_edf` for files that are meant to be valid.
    """
    width = 3 if kind == "bdf" else 2
    ns = len(signals)
    head = b"0       " if kind == "edf" else b"\xffBIOSEMI"
    head += header_field("X X X X", 80) + header_field("Startdate 01-JAN-2020 X X X", 80)
    head += header_field("01.01.20", 8) + header_field("10.00.00", 8) + header_field(256 * (ns + 1), 8)
    head += header_field(variant, 44) + header_field(n_records if records_field is None else records_field, 8)
    head += header_field(repr(duration) if isinstance(duration, float) else duration, 8) + header_field(ns, 4)
    columns = [
        ("label", 16),
        ("transducer", 80),
        ("dim", 8),
        ("pmin", 8),
        ("pmax", 8),
        ("dmin", 8),
        ("dmax", 8),
        ("prefilter", 80),
        ("spr", 8),
        ("reserved", 32),
    ]
    for key, w in columns:
        head += b"".join(header_field(s.get(key, ""), w) for s in signals)
    body = bytearray()
    for r in range(n_records):
        for s in signals:
            if "tal" in s:
                body += s["tal"][r][: s["spr"] * width].ljust(s["spr"] * width, b"\x00")
            else:
                values = np.asarray(s["samples"][r], dtype=np.int64)
                if kind == "edf":
                    body += values.astype("<i2").tobytes()
                else:
                    as_u32 = (values & 0xFFFFFF).astype("<u4")
                    body += as_u32.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    return bytes(head) + bytes(body)


def edf_plus_d_with_gap(folder: Path) -> Path:
    """``folder/gap.edf``: the real EDF+D MB0400FU.EDF with the time-keeping TAL of records
    10.. moved 5 s later (a real gap)."""
    from eegcorpus.readers.edf import read_edf_header

    src = shared_path("fixtures", "nihonkohden", "MB0400FU.EDF")
    header = read_edf_header(src)
    data = bytearray(src.read_bytes())
    offsets = np.concatenate([[0], np.cumsum(header.samples_per_record)]) * 2
    annot = header.annotation_signals[0]
    for rec in range(10, header.n_records):
        start = header.header_bytes + rec * header.record_bytes + offsets[annot]
        old = f"+{rec}.000000\x14\x14".encode()
        new = f"+{rec + 5}.000000\x14\x14".encode()
        assert data[start : start + len(old)] == old
        data[start : start + len(new)] = new  # one byte longer: overwrites a padding NUL
    path = folder / "gap.edf"
    path.write_bytes(bytes(data))
    return path


def edf_plus_d_shifted(folder: Path, shift_s: float, *, first_record: int = 10, name: str = "shifted.edf") -> Path:
    """``folder/name``: the real EDF+D MB0400FU.EDF with the time-keeping TAL of records
    ``first_record``.. moved by ``shift_s`` seconds (a gap when positive, an overlap or a step
    back in time when negative)."""
    from eegcorpus.readers.edf import read_edf_header

    src = shared_path("fixtures", "nihonkohden", "MB0400FU.EDF")
    header = read_edf_header(src)
    data = bytearray(src.read_bytes())
    offsets = np.concatenate([[0], np.cumsum(header.samples_per_record)]) * 2
    annot = header.annotation_signals[0]
    for rec in range(first_record, header.n_records):
        start = header.header_bytes + rec * header.record_bytes + offsets[annot]
        old = f"+{rec}.000000\x14\x14".encode()
        new = f"+{rec + shift_s:.6f}\x14\x14".encode()
        assert data[start : start + len(old)] == old
        assert not any(data[start + len(old) : start + len(new)])  # only padding NULs overwritten
        data[start : start + len(old)] = bytes(len(old))
        data[start : start + len(new)] = new
    path = folder / name
    path.write_bytes(bytes(data))
    return path
