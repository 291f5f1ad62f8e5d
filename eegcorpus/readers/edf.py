"""EDF, EDF+ (C and D), BDF and BDF+ reader, written against the specifications in numpy.

Why not MNE or pyEDFlib: the whole file is read with one ``np.fromfile`` and converted with one
vectorised multiply-add per rate group, which is faster than ``mne.io.read_raw_edf(preload=True)``
(see ``bench/read_edf.py``); and the reader can check what both of them let through or refuse:

* the file size must equal ``header bytes + records x record bytes``. Files whose LF bytes were
  turned into CRLF by a text-mode transfer keep a valid-looking header but fail this check;
* a record count of -1 (a recording that was never finalised, common in BDF) is derived from the
  file size (pyEDFlib refuses such files);
* EDF+D: record onsets come from each record's time-keeping TAL, gaps are zero-filled and
  annotated ``BAD_ACQ_SKIP`` (pyEDFlib refuses EDF+D; MNE ignores the gaps);
* TALs written without the ``\\x00`` separator (Nihon Kohden exports) are still split correctly.

Specifications: https://www.edfplus.info/specs/edf.html and .../edfplus.html; BDF is the same
layout with 24-bit little-endian samples and ``\\xffBIOSEMI`` as the version field.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import itertools
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eegcorpus._validate import check_option
from eegcorpus.channels.types import guess_channel_type
from eegcorpus.errors import ReaderError
from eegcorpus.recording import AuxSignal, Recording, make_annotations, unit_scale_to_uv

_ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
_ONSET_FIELD = re.compile(rb"^[+-]\d+(?:\.\d*)?(?:\x15\d*(?:\.\d*)?)?$")


@dataclass
class EDFHeader:
    """The parsed header of an EDF/BDF file (one entry per signal in the per-signal lists)."""

    path: str
    kind: str  # "edf" or "bdf"
    variant: str  # "", "EDF+C", "EDF+D", "BDF+C", "BDF+D", "24BIT"
    header_bytes: int
    n_records: int
    n_records_declared: int
    record_duration: float
    labels: list[str]
    transducers: list[str]
    physical_dims: list[str]
    physical_min: np.ndarray
    physical_max: np.ndarray
    digital_min: np.ndarray
    digital_max: np.ndarray
    prefiltering: list[str]
    samples_per_record: np.ndarray
    patient: str
    recording_id: str
    start: _dt.datetime | None

    @property
    def sample_bytes(self) -> int:
        return 3 if self.kind == "bdf" else 2

    @property
    def record_bytes(self) -> int:
        return int(self.samples_per_record.sum()) * self.sample_bytes

    @property
    def annotation_signals(self) -> list[int]:
        return [i for i, lab in enumerate(self.labels) if lab in _ANNOTATION_LABELS]

    @property
    def is_discontinuous(self) -> bool:
        return self.variant.endswith("+D")

    @property
    def data_signals(self) -> list[int]:
        """Indices of the signals that hold data (not annotations)."""
        annotations = set(self.annotation_signals)
        return [i for i in range(len(self.labels)) if i not in annotations]

    @property
    def holds_no_samples(self) -> bool:
        """No data signal, no record, or records of no duration: an annotations-only file."""
        return not self.data_signals or self.n_records == 0 or self.record_duration == 0

    @property
    def format_name(self) -> str:
        """``edf``, ``bdf``, or with the variant ``edf+c``, ``edf+d``, ``bdf+c`` ..."""
        return self.kind + ("+" + self.variant[-1].lower() if self.variant[:4] in ("EDF+", "BDF+") else "")


def _field(path, raw: bytes, name: str, cast):
    text = raw.decode("latin-1").strip()
    try:
        return cast(text)
    except ValueError:
        raise ReaderError(path, f"invalid header field {name!r}: {text!r}") from None


def _parse_start(date: str, time: str) -> _dt.datetime | None:
    # EDF stores dd.mm.yy with the century cut at 1985 (spec: 85-99 -> 19xx, 00-84 -> 20xx).
    try:
        day, month, year = (int(v) for v in date.split("."))
        hour, minute, second = (int(v) for v in time.replace(":", ".").split("."))
        year += 1900 if year >= 85 else 2000
        return _dt.datetime(year, month, day, hour, minute, second, tzinfo=_dt.UTC)
    except ValueError:
        return None


def read_edf_header(path: str | Path) -> EDFHeader:
    """Parse and check the header of an EDF/EDF+/BDF/BDF+ file without reading the signals.

    Raises
    ------
    ReaderError
        When the header is malformed, or the file size disagrees with it (truncated file, or
        one damaged by a text-mode transfer that turned LF into CRLF).
    """
    path = Path(path)
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            fixed = fh.read(256)
            if len(fixed) < 256:
                raise ReaderError(path, f"truncated header ({len(fixed)} bytes, EDF needs at least 256)")
            if fixed[:8] == b"0       ":
                kind = "edf"
            elif fixed[:8] == b"\xffBIOSEMI":
                kind = "bdf"
            else:
                raise ReaderError(path, f"not an EDF/BDF file (version field {fixed[:8]!r})")
            n_signals = _field(path, fixed[252:256], "number of signals", int)
            if n_signals < 1:
                raise ReaderError(path, f"header declares {n_signals} signals")
            # Checked before reading: a damaged count would otherwise ask for gigabytes.
            if 256 * (n_signals + 1) > size:
                raise ReaderError(path, f"truncated header: {n_signals} signals need {256 * (n_signals + 1)} header bytes, file has {size}")
            per_signal = fh.read(256 * n_signals)
    except OSError as err:
        raise ReaderError(path, f"cannot read file ({err.strerror or err})") from err
    if len(per_signal) < 256 * n_signals:
        raise ReaderError(path, "file changed size while its header was being read")
    header_bytes = _field(path, fixed[184:192], "number of bytes in header", int)
    if header_bytes != 256 * (n_signals + 1):
        raise ReaderError(path, f"header size field says {header_bytes} bytes but {n_signals} signals need {256 * (n_signals + 1)}")
    n_records = _field(path, fixed[236:244], "number of data records", int)
    duration = _field(path, fixed[244:252], "duration of a data record", float)
    # 0 is allowed (annotation-only files); "nan", "inf" or a negative value parse as floats
    # but describe no time base.
    if not (np.isfinite(duration) and duration >= 0):
        raise ReaderError(path, f"invalid duration of a data record: {duration!r}")

    def column(offset: int, width: int) -> list[str]:
        start = offset * n_signals
        return [per_signal[start + i * width : start + (i + 1) * width].decode("latin-1").strip() for i in range(n_signals)]

    def numeric(offset: int, width: int, name: str, cast=float) -> np.ndarray:
        values = column(offset, width)
        try:
            return np.array([cast(v) for v in values], dtype=np.float64)
        except ValueError:
            bad = next(v for v in values if not _is_number(v, cast))
            raise ReaderError(path, f"invalid {name} in signal header: {bad!r}") from None

    labels = column(0, 16)
    header = EDFHeader(
        path=str(path),
        kind=kind,
        variant=fixed[192:236].decode("latin-1").strip()[:5],
        header_bytes=header_bytes,
        n_records=n_records,
        n_records_declared=n_records,
        record_duration=duration,
        labels=labels,
        transducers=column(16, 80),
        physical_dims=column(96, 8),
        physical_min=numeric(104, 8, "physical minimum"),
        physical_max=numeric(112, 8, "physical maximum"),
        digital_min=numeric(120, 8, "digital minimum", int),
        digital_max=numeric(128, 8, "digital maximum", int),
        prefiltering=column(136, 80),
        samples_per_record=numeric(216, 8, "number of samples per record", int).astype(np.int64),
        patient=fixed[8:88].decode("latin-1").strip(),
        recording_id=fixed[88:168].decode("latin-1").strip(),
        start=_parse_start(fixed[168:176].decode("latin-1"), fixed[176:184].decode("latin-1")),
    )
    if np.any(header.samples_per_record < 0):
        raise ReaderError(path, "negative number of samples per record in signal header")
    record_bytes = header.record_bytes
    payload = size - header_bytes
    if n_records == -1:
        # Never finalised: the spec allows -1 while recording; the size tells the truth.
        if record_bytes == 0 or payload % record_bytes:
            raise ReaderError(
                path,
                f"record count is -1 and the {payload} data bytes are not a whole number of {record_bytes}-byte records (truncated last record)",
            )
        header.n_records = payload // record_bytes
    elif n_records < 0:
        raise ReaderError(path, f"invalid number of data records: {n_records}")
    expected = header_bytes + header.n_records * record_bytes
    if size != expected:
        diff = size - expected
        what = f"{diff} bytes too long" if diff > 0 else f"{-diff} bytes too short (truncated)"
        raise ReaderError(
            path,
            f"file size {size} bytes does not match the header ({header_bytes} header bytes + "
            f"{header.n_records} records x {record_bytes} bytes = {expected}): {what}; "
            f"a text-mode copy that turned LF into CRLF causes this",
        )
    flat = header.digital_max == header.digital_min
    if np.any(flat):
        raise ReaderError(path, f"signal {labels[int(np.argmax(flat))]!r} has digital minimum == digital maximum")
    return header


def _is_number(text: str, cast) -> bool:
    try:
        cast(text)
        return True
    except ValueError:
        return False


def _decode_samples(raw: np.ndarray, kind: str) -> np.ndarray:
    """Bytes of whole records -> int32 samples (BDF: 24-bit little-endian two's complement)."""
    if kind == "edf":
        return raw.view("<i2")
    triplets = raw.reshape(-1, 3)
    padded = np.empty((triplets.shape[0], 4), dtype=np.uint8)
    padded[:, 0] = 0
    padded[:, 1:] = triplets
    # Shifting the int32 right by 8 sign-extends the 24-bit value.
    return padded.view("<i4").reshape(-1) >> 8


def _duration(text: bytes) -> float:
    """A TAL duration; NaN when absent or malformed (``+1\x15.``), as the onset still holds."""
    try:
        return float(text) if text else float("nan")
    except ValueError:
        return float("nan")


def parse_tals(raw: bytes) -> list[tuple[float, float, list[str]]]:
    """Parse the Time-stamped Annotation Lists of one annotation signal's bytes.

    Returns a list of ``(onset, duration, descriptions)``; duration is NaN when absent.
    Fields are split on ``\\x14`` and a field shaped like ``+onset[\\x15duration]`` starts a new
    TAL, so TALs that lack their ``\\x00`` terminator are still separated.
    """
    tals: list[tuple[float, float, list[str]]] = []
    for chunk in raw.split(b"\x00"):
        if not chunk:
            continue
        for field in chunk.split(b"\x14"):
            if not field:
                continue
            if _ONSET_FIELD.match(field):
                onset, _, dur = field.partition(b"\x15")
                tals.append((float(onset), _duration(dur), []))
            elif tals:
                tals[-1][2].append(field.decode("utf-8", errors="replace").strip())
    return tals


def read_edf(
    path: str | Path,
    *,
    mixed_rates: str = "split",
    on_gap: str = "annotate",
) -> Recording:
    """Read an EDF, EDF+C, EDF+D, BDF or BDF+ file into a :class:`Recording` in microvolts.

    Parameters
    ----------
    path : path-like
        The file.
    mixed_rates : "split" | "raise"
        Signals at a rate other than the main rate (the rate shared by most voltage channels;
        for example TUH's 1 Hz ``IBI``/``BURSTS`` or Sleep-EDF's 1 Hz EMG envelope) are moved to
        ``Recording.aux`` with ``"split"``, or make the read fail with ``"raise"``.
        Annotation signals are never data: they become ``Recording.annotations``.
    on_gap : "annotate" | "raise" | "ignore"
        EDF+D only. ``"annotate"`` places each record at its time-keeping onset, zero-fills the
        gaps and annotates each gap as ``BAD_ACQ_SKIP``; ``"raise"`` refuses files with gaps;
        ``"ignore"`` concatenates the records as if they were contiguous (what MNE does).

    Returns
    -------
    Recording
        ``format`` is ``"edf"``, ``"edf+c"``, ``"edf+d"``, ``"bdf"`` or ``"bdf+c"``...
        A file with annotation signals only (a Sleep-EDF hypnogram) gives zero channels.

    Raises
    ------
    ReaderError
        Malformed header, size mismatch, NaN-producing calibration, gaps with ``on_gap="raise"``,
        or mixed rates with ``mixed_rates="raise"``.
    """
    check_option("mixed_rates", mixed_rates, ("split", "raise"))
    check_option("on_gap", on_gap, ("annotate", "raise", "ignore"))
    path = Path(path)
    header = read_edf_header(path)
    raw, sha256 = _read_records(path, header)
    offsets = np.concatenate([[0], np.cumsum(header.samples_per_record)])
    onsets, durations, descriptions, record_onsets = _read_annotations(raw, header, offsets)
    fmt = header.format_name
    signal_idx = header.data_signals
    if signal_idx and header.n_records and header.record_duration == 0 and header.samples_per_record[signal_idx].any():
        raise ReaderError(path, "data records of duration 0 hold samples: no sampling rate can be derived")
    if header.holds_no_samples:
        return Recording(
            data=np.zeros((0, 0), dtype=np.float32),
            sfreq=1.0,
            ch_names=[],
            ch_types=[],
            units=[],
            annotations=make_annotations(onsets, durations, descriptions),
            meas_date=header.start,
            source=str(path),
            sha256=sha256,
            format=fmt,
            extra={"annotations_only": True, "patient": header.patient, "recording_id": header.recording_id},
        )

    rates, main, other, ch_types = _signal_layout(path, header, mixed_rates)
    samples = _Samples(raw, header, offsets, *_calibration(path, header, signal_idx, ch_types))
    data = samples.convert_signals(main)
    extra = {
        "patient": header.patient,
        "recording_id": header.recording_id,
        "prefiltering": [header.prefiltering[i] for i in main],
        "transducers": [header.transducers[i] for i in main],
        "physical_dims": [header.physical_dims[i] for i in main],
        "n_records_declared": header.n_records_declared,
    }
    sfreq = float(rates[main[0]])
    if header.is_discontinuous:
        data, gaps = _place_records(path, data, record_onsets, header.record_duration, sfreq, on_gap)
        extra["gaps"] = gaps
        for start, length in gaps:
            onsets.append(start)
            durations.append(length)
            descriptions.append("BAD_ACQ_SKIP")

    aux = [
        AuxSignal(
            name=header.labels[i],
            ch_type=ch_types[i],
            sfreq=float(rates[i]),
            data=samples.convert([i]).reshape(-1),
            unit=_unit_after_conversion(header.physical_dims[i], ch_types[i]),
        )
        for i in other
    ]
    return Recording(
        data=data,
        sfreq=sfreq,
        ch_names=[header.labels[i] for i in main],
        ch_types=[ch_types[i] for i in main],
        units=[_unit_after_conversion(header.physical_dims[i], ch_types[i]) for i in main],
        annotations=make_annotations(onsets, durations, descriptions),
        meas_date=header.start,
        source=str(path),
        sha256=sha256,
        format=fmt,
        aux=aux,
        extra=extra,
    )


@dataclass
class EDFSummary:
    """What :func:`read_edf` would return, without the samples or the annotation table: what
    ``eegcorpus inspect`` shows, in a fraction of the time (no pandas, no sample conversion)."""

    format: str
    sha256: str
    sfreq: float
    n_times: int
    ch_names: list[str]
    ch_types: list[str]
    units: list[str]
    aux: list[tuple[str, str, float, str]]  # name, type, rate, unit
    descriptions: list[str]
    meas_date: object
    extra: dict


def summarise_edf(path: str | Path) -> EDFSummary | None:
    """The :class:`EDFSummary` of a continuous EDF/BDF file (the same checks as :func:`read_edf`
    refuse the same files), or None for files whose layout needs the full reader: EDF+D (records
    placed at their onsets) and files without signal samples.

    Raises
    ------
    ReaderError
        As :func:`read_edf`.
    """
    path = Path(path)
    header = read_edf_header(path)
    if header.is_discontinuous or header.holds_no_samples:
        return None
    raw, sha256 = _read_records(path, header)
    offsets = np.concatenate([[0], np.cumsum(header.samples_per_record)])
    onsets, _, descriptions, _ = _read_annotations(raw, header, offsets)
    in_time_order = np.argsort(np.asarray(onsets, dtype=np.float64), kind="stable")  # as make_annotations
    rates, main, other, ch_types = _signal_layout(path, header, "split")
    _calibration(path, header, header.data_signals, ch_types)  # refuses what read_edf refuses
    return EDFSummary(
        format=header.format_name,
        sha256=sha256,
        sfreq=float(rates[main[0]]),
        n_times=int(header.n_records * header.samples_per_record[main[0]]),
        ch_names=[header.labels[i] for i in main],
        ch_types=[ch_types[i] for i in main],
        units=[_unit_after_conversion(header.physical_dims[i], ch_types[i]) for i in main],
        aux=[(header.labels[i], ch_types[i], float(rates[i]), _unit_after_conversion(header.physical_dims[i], ch_types[i])) for i in other],
        descriptions=[str(descriptions[i]) for i in in_time_order],
        meas_date=header.start,
        extra={},
    )


def _read_records(path: Path, header: EDFHeader) -> tuple[np.ndarray, str]:
    """The data records' bytes (after the header) and the whole file's SHA-256, from one read.

    Raises
    ------
    ReaderError
        The file cannot be read, changed size since its header was read, or was damaged by a
        text-mode copy.
    """
    try:
        with open(path, "rb") as fh:
            buffer = fh.read()
    except OSError as err:
        raise ReaderError(path, f"cannot read data records ({err.strerror or err})") from err
    # Hash the bytes already in memory rather than reading the file a second time.
    sha256 = hashlib.sha256(buffer).hexdigest()
    raw = np.frombuffer(buffer, dtype=np.uint8, offset=header.header_bytes)
    if raw.size != header.n_records * header.record_bytes:
        raise ReaderError(path, "file changed size while being read")
    _check_not_crlf_damaged(path, buffer, header.header_bytes)
    return raw, sha256


def _signal_layout(path: Path, header: EDFHeader, mixed_rates: str) -> tuple[dict, list[int], list[int], dict]:
    """Each data signal's rate, the signals at the main rate (the rate shared by most voltage
    channels, the higher one on a tie), the others, and each signal's channel type.

    Raises
    ------
    ReaderError
        A signal without a usable rate, or other rates with ``mixed_rates="raise"``.
    """
    signal_idx = header.data_signals
    spr = header.samples_per_record
    rates = {i: spr[i] / header.record_duration for i in signal_idx}
    unusable_rate = [i for i, rate in rates.items() if not 0 < rate < np.inf]
    if unusable_rate:
        i = unusable_rate[0]
        raise ReaderError(path, f"signal {header.labels[i]!r} has no usable sampling rate ({int(spr[i])} samples per {header.record_duration!r} s record)")
    voltage_rates = [rates[i] for i in signal_idx if unit_scale_to_uv(header.physical_dims[i]) is not None] or list(rates.values())
    counts = Counter(voltage_rates)
    main_rate = max(counts, key=lambda r: (counts[r], r))
    main = [i for i in signal_idx if rates[i] == main_rate]
    other = [i for i in signal_idx if rates[i] != main_rate]
    if other and mixed_rates == "raise":
        detail = ", ".join(f"{header.labels[i]} at {rates[i]:g} Hz" for i in other[:5])
        raise ReaderError(path, f"mixed sampling rates: main rate {main_rate:g} Hz, but {detail}")
    ch_types = {i: guess_channel_type(header.labels[i], header.physical_dims[i]) for i in signal_idx}
    return rates, main, other, ch_types


def _calibration(path: Path, header: EDFHeader, signal_idx: list[int], ch_types: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per-signal float32 gain and offset from digital values to microvolts.

    The spec's ``physical = (digital - dmin) * gain + pmin``, then the unit's factor to uV.
    Trigger channels carry codes, not a physical quantity: they keep their digital values, as in
    MNE.

    Raises
    ------
    ReaderError
        A calibration that would give NaN or Inf samples.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        gain = (header.physical_max - header.physical_min) / (header.digital_max - header.digital_min)
        offset = header.physical_min - header.digital_min * gain
    scale = np.array([unit_scale_to_uv(header.physical_dims[i]) or 1.0 for i in range(len(header.labels))])
    is_stim = np.array([ch_types.get(i) == "stim" for i in range(len(header.labels))])
    with np.errstate(over="ignore", invalid="ignore"):
        gain = np.where(is_stim, 1.0, gain * scale)
        offset = np.where(is_stim, 0.0, offset * scale)
        # The largest magnitude any sample can reach: physical limits written as "nan" or
        # "inf", or so large that samples overflow float32, would give NaN or Inf samples.
        peak = 2.0 ** (8 * header.sample_bytes - 1) * np.abs(gain) + np.abs(offset)
    unusable = [header.labels[i] for i in signal_idx if not peak[i] < np.finfo(np.float32).max / 2]
    if unusable:
        raise ReaderError(
            path,
            f"non-finite samples (NaN or Inf) from the calibration of signal(s) {', '.join(unusable[:5])} "
            f"(physical minimum/maximum not finite, or too large for float32)",
        )
    return gain.astype(np.float32), offset.astype(np.float32)


class _Samples:
    """The data records' digital samples, converted to calibrated float32 signal by signal."""

    def __init__(self, raw: np.ndarray, header: EDFHeader, offsets: np.ndarray, gain: np.ndarray, offset: np.ndarray):
        self.n_records, self.spr, self.offsets = header.n_records, header.samples_per_record, offsets
        self.digital = _decode_samples(raw, header.kind).reshape(self.n_records, int(self.spr.sum()))
        self.gain, self.offset = gain, offset

    def convert(self, indices: list[int], out: np.ndarray | None = None) -> np.ndarray:
        """Signals ``indices`` (one rate) as ``(len(indices), samples)``, into ``out`` if given."""
        n, n_rec, offsets = int(self.spr[indices[0]]), self.n_records, self.offsets
        contiguous = all(offsets[b] == offsets[a] + n for a, b in itertools.pairwise(indices))
        if contiguous:
            block = self.digital[:, offsets[indices[0]] : offsets[indices[-1]] + n]
            digital = block.reshape(n_rec, len(indices), n).transpose(1, 0, 2)
        else:
            digital = np.stack([self.digital[:, offsets[i] : offsets[i] + n] for i in indices])
        if out is None:
            out = np.empty((len(indices), n_rec * n), dtype=np.float32)
        # One pass does the transpose, the cast and the gain; a second adds the offset.
        view = out.reshape(len(indices), n_rec, n)
        np.multiply(digital, self.gain[indices][:, None, None], out=view)
        view += self.offset[indices][:, None, None]
        return out

    def convert_signals(self, indices: list[int]) -> np.ndarray:
        """Signals ``indices`` (one rate) as one array, each contiguous run of signal numbers
        converted straight into its rows."""
        data = np.empty((len(indices), self.n_records * int(self.spr[indices[0]])), dtype=np.float32)
        run_start = 0
        for k in range(1, len(indices) + 1):
            if k == len(indices) or indices[k] != indices[k - 1] + 1:
                self.convert(indices[run_start:k], out=data[run_start:k])
                run_start = k
        return data


def _unit_after_conversion(physical_dim: str, ch_type: str) -> str:
    if ch_type == "stim":
        return "n/a"
    return "uV" if unit_scale_to_uv(physical_dim) is not None else physical_dim


#: How many LF bytes the CRLF check looks at. If the first 64 LF bytes of genuine binary data
#: all followed a CR, that would be a 1 in 256**64 coincidence.
_CRLF_SAMPLE = 64


def _check_not_crlf_damaged(path, buffer: bytes, start: int) -> None:
    """Refuse data whose LF bytes all follow a CR: the mark of a text-mode LF -> CRLF copy.

    In genuine binary samples a 0x0A byte follows 0x0D about once in 256 times, so when the first
    dozens of LF bytes all follow CR the file was rewritten (and, if its size still matches the
    header, cut back to length afterwards). Only the first ``_CRLF_SAMPLE`` LF bytes are looked
    at, found with ``bytes.find`` (memchr), so the check costs microseconds, not a pass over
    the file.
    """
    position, seen = start, 0
    while seen < _CRLF_SAMPLE:
        position = buffer.find(b"\n", position)
        if position < 0:
            return  # too few LF bytes to tell
        if buffer[position - 1] != 0x0D:
            return
        seen += 1
        position += 1
    raise ReaderError(
        path,
        "data damaged by a text-mode transfer: LF bytes follow a CR throughout (LF was turned into CRLF); get a binary copy of the file",
    )


def _read_annotations(raw: np.ndarray, header: EDFHeader, offsets: np.ndarray):
    """Annotations and record onsets from the annotation signals of every record.

    Returns onsets, durations, descriptions (lists) and record_onsets (array, seconds, the first
    record at 0).
    """
    n_rec = header.n_records
    record_onsets = np.arange(n_rec, dtype=np.float64) * header.record_duration
    annot_idx = header.annotation_signals
    if not annot_idx or n_rec == 0:
        return [], [], [], record_onsets
    width = header.sample_bytes
    rows = raw.reshape(n_rec, header.record_bytes)
    first = annot_idx[0]
    # The first annotation signal of each record opens with the time-keeping TAL (no text).
    # Parsing all records in one call is much faster than one call per record; it holds when
    # each record yields exactly one text-less TAL.
    area = slice(offsets[first] * width, offsets[first + 1] * width)
    tals = parse_tals(rows[:, area].tobytes())
    keeping = [onset for onset, _, texts in tals if not texts]
    if len(keeping) == n_rec:
        record_onsets = np.array(keeping, dtype=np.float64)
    else:  # some record lacks a text-less TAL or has several: take each record's first TAL
        for r in range(n_rec):
            record_tals = parse_tals(rows[r, area].tobytes())
            if record_tals:
                record_onsets[r] = record_tals[0][0]
    for sig in annot_idx[1:]:
        tals += parse_tals(rows[:, offsets[sig] * width : offsets[sig + 1] * width].tobytes())
    start = record_onsets[0]
    onsets, durations, descriptions = [], [], []
    for onset, dur, texts in tals:
        for text in texts:
            if text:
                # Onsets count from the file start time; EDF+ allows the first record a
                # sub-second offset, which becomes time zero here.
                onsets.append(onset - start)
                durations.append(0.0 if np.isnan(dur) else dur)
                descriptions.append(text)
    return onsets, durations, descriptions, record_onsets - start


#: Longest EDF+D gap that is zero-filled (24 h).
_MAX_GAP_S = 24 * 3600.0


def _place_records(path, data, record_onsets, record_duration, sfreq, on_gap):
    """Put EDF+D records at their onsets; returns the new data and the (start, length) gaps."""
    n_rec = len(record_onsets)
    per_record = data.shape[1] // n_rec
    step = np.diff(record_onsets)
    if np.any(step < record_duration - 0.5 / sfreq):
        raise ReaderError(path, "EDF+D records overlap or go back in time")
    gap_after = np.where(step > record_duration + 0.5 / sfreq)[0]
    if len(gap_after) == 0 or on_gap == "ignore":
        return data, []
    if on_gap == "raise":
        first = int(gap_after[0])
        raise ReaderError(path, f"EDF+D recording has {len(gap_after)} gap(s), the first after record {first}")
    longest = int(np.argmax(step))
    if step[longest] - record_duration > _MAX_GAP_S:
        # One file spanning more than a day of silence is a damaged time-keeping annotation far
        # more often than a recording; zero-filling it could ask for terabytes.
        raise ReaderError(
            path,
            f"EDF+D gap of {(step[longest] - record_duration) / 3600:.1f} h after record {longest} (more than "
            f"{_MAX_GAP_S / 3600:.0f} h: a damaged time-keeping annotation?); on_gap='ignore' reads the records as contiguous",
        )
    starts = np.round((record_onsets - record_onsets[0]) * sfreq).astype(np.int64)
    total = int(starts[-1] + per_record)
    placed = np.zeros((data.shape[0], total), dtype=data.dtype)
    for rec in range(n_rec):
        placed[:, starts[rec] : starts[rec] + per_record] = data[:, rec * per_record : (rec + 1) * per_record]
    gaps = [(float((starts[i] + per_record) / sfreq), float((starts[i + 1] - starts[i] - per_record) / sfreq)) for i in gap_after]
    return placed, gaps
