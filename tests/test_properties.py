"""Property-based tests (hypothesis): the EDF/BDF parser on arbitrary headers, store round trips,
and verification of any flipped bit.

Files are generated, not read from the shared data, so these tests run everywhere.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers.edf import edf_bytes, header_field
from helpers.store import write_generated_recording
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eegcorpus.errors import ReaderError
from eegcorpus.readers.edf import read_edf, read_edf_header

PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------------------------------------
# Generated EDF/BDF files: laid out by helpers.edf.edf_bytes, then damaged here


def _fit(value: float) -> str:
    """A number as text of at most 8 characters (an EDF number field)."""
    for digits in range(6, 0, -1):
        text = f"{value:.{digits}g}"
        if len(text) <= 8:
            return text
    return "0"


#: Header fields as (offset, width) in the fixed part; per-signal columns as (column offset per
#: signal, width), which edf_bytes lays out one column after the other.
_FIXED_FIELDS = [(0, 8), (168, 8), (176, 8), (184, 8), (192, 44), (236, 8), (244, 8), (252, 4)]
_SIGNAL_COLUMNS = [(0, 16), (96, 8), (104, 8), (112, 8), (120, 8), (128, 8), (216, 8)]

#: Text that header fields plausibly hold, well formed or not.
_field_text = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e308", "-1e308", "1e-320", "", " ", "+", "-", ".", "0x10", "1_000", "\x00", "\xff"]),
    st.text(alphabet="0123456789+-.eE ", max_size=8),
)


@st.composite
def edf_files(draw):
    """A valid EDF/BDF(+) file, then zero or more damages of the kinds seen in the wild."""
    kind = draw(st.sampled_from(["edf", "bdf"]))
    n_records = draw(st.integers(0, 6))
    n_sig = draw(st.integers(1, 4))
    bits = 16 if kind == "edf" else 24
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    signals = []
    for i in range(n_sig):
        spr = draw(st.integers(1, 12))
        dmin = draw(st.integers(lo, hi - 1))
        dmax = draw(st.integers(dmin + 1, hi))
        pmin = draw(st.floats(-1e4, 1e4, allow_nan=False))
        pmax = draw(st.floats(-1e4, 1e4, allow_nan=False))
        samples = draw(st.lists(st.lists(st.integers(lo, hi), min_size=spr, max_size=spr), min_size=n_records, max_size=n_records))
        signals.append(
            {
                "label": draw(st.sampled_from(["Fp1", "EEG Cz-REF", "C3..", "ECG", "Status", "Trigger", "EMG", "X1", "\xe9"])) if i else "Fp1",
                "dim": draw(st.sampled_from(["uV", "mV", "V", "", "degC", "µV"])),
                "pmin": _fit(pmin),
                "pmax": _fit(pmax),
                "dmin": dmin,
                "dmax": dmax,
                "spr": spr,
                "samples": samples,
            }
        )
    variant = ""
    if draw(st.booleans()):
        variant = ("EDF+" if kind == "edf" else "BDF+") + draw(st.sampled_from(["C", "D"]))
        spr = draw(st.integers(4, 30))
        duration_guess = 1
        tals = []
        for r in range(n_records):
            onset = draw(
                st.one_of(st.just(r * duration_guess), st.integers(-3, 50), st.floats(-5, 100, allow_nan=False), st.integers(10**5, 10**13))
            )  # damaged time keeping
            tal = f"+{onset}\x14\x14\x00".encode() if not str(onset).startswith("-") else f"{onset}\x14\x14\x00".encode()
            tal += draw(
                st.one_of(
                    st.just(b""), st.binary(max_size=20), st.sampled_from([b"+0.5\x150.2\x14T1\x14\x00", b"+1.\x15.\x14x\x14", b"+.\x14", b"+1\x15\x14y\x14"])
                )
            )
            tals.append(tal)
        signals.append(
            {
                "label": "EDF Annotations" if kind == "edf" else "BDF Annotations",
                "dim": "",
                "pmin": -1,
                "pmax": 1,
                "dmin": lo,
                "dmax": hi,
                "spr": spr,
                "tal": tals,
            }
        )
    duration = draw(st.sampled_from([1.0, 0.5, 2.0, 0.25]))
    data = bytearray(edf_bytes(signals, n_records, duration, kind=kind, variant=variant, records_field=draw(st.sampled_from([None, None, -1]))))
    header_bytes = 256 * (len(signals) + 1)
    for _ in range(draw(st.integers(0, 3))):
        damage = draw(st.sampled_from(["fixed", "signal", "truncate", "append", "byte"]))
        if damage == "fixed":
            offset, width = draw(st.sampled_from(_FIXED_FIELDS))
            data[offset : offset + width] = header_field(draw(_field_text).encode("latin-1", "replace"), width)
        elif damage == "signal":
            column, width = draw(st.sampled_from(_SIGNAL_COLUMNS))
            i = draw(st.integers(0, len(signals) - 1))
            start = 256 + column * len(signals) + i * width
            data[start : start + width] = header_field(draw(_field_text).encode("latin-1", "replace"), width)
        elif damage == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif damage == "append":
            data += draw(st.binary(min_size=1, max_size=64))
        elif len(data):
            at = draw(st.integers(0, min(len(data), header_bytes) - 1))
            data[at] = draw(st.integers(0, 255))
    return bytes(data)


def _check_recording(rec) -> None:
    assert rec.data.dtype == np.float32 and rec.data.ndim == 2
    assert np.isfinite(rec.data).all()
    assert rec.sfreq > 0 and np.isfinite(rec.sfreq)
    assert len(rec.ch_names) == rec.data.shape[0] == len(rec.units) == len(rec.ch_types)
    assert np.isfinite(rec.annotations["onset"].to_numpy()).all()


@settings(PROPERTY, max_examples=250)
@given(edf_files())
def test_edf_parsing_fails_only_with_reader_error(content):
    """Whatever the bytes, reading either works (with a sound recording) or raises ReaderError."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "generated.edf"
        path.write_bytes(content)
        try:
            read_edf_header(path)
        except ReaderError as err:
            assert "\n" not in str(err) and str(err).startswith(str(path))
        try:
            rec = read_edf(path)
        except ReaderError as err:
            assert "\n" not in str(err) and str(err).startswith(str(path))
        else:
            _check_recording(rec)


@settings(PROPERTY, max_examples=150)
@given(
    st.binary(max_size=2048),
    # the magic bytes of EDF, BDF, GDF, MATLAB 5 and MATLAB 7.3 (HDF5) files, or none
    st.sampled_from([b"0       ", b"\xffBIOSEMI", b"GDF 2.10", b"MATLAB 5.0 MAT-file".ljust(116) + bytes(8) + b"\x00\x01IM", b"\x89HDF\r\n\x1a\n", b""]),
    st.sampled_from([".edf", ".bdf", ".gdf", ".cnt", ".set", ".vhdr", ".csv", ".mat", ".xyz", ""]),
)
def test_arbitrary_bytes_fail_only_with_reader_error(tail, version, extension):
    """Every reader, given bytes that are not its format, raises ReaderError (one line, naming
    the file); an unknown extension raises its subclass UnsupportedFormatError."""
    from eegcorpus.readers import detect_format, read_recording

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"noise{extension}"
        path.write_bytes(version + tail)
        try:
            fmt = detect_format(path)
            # MAT files carry no standard rate field: the caller names one, as an adapter does
            _check_recording(read_recording(path, fmt, **({"sfreq": 256.0} if fmt == "mat" else {})))
        except ReaderError as err:
            assert "\n" not in str(err) and str(err).startswith(str(path))


def test_generated_files_read_like_the_specification():
    """The generator itself is right: an undamaged file reads back its own samples."""
    samples = np.array([[[-32768, 0, 32767, 5]], [[1, 2, 3, 4]]])
    signal = {"label": "Cz", "dim": "uV", "pmin": -3276.8, "pmax": 3276.7, "dmin": -32768, "dmax": 32767, "spr": 4, "samples": samples[:, 0]}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ok.edf"
        path.write_bytes(edf_bytes([signal], 2, 1.0))
        rec = read_edf(path)
        assert rec.sfreq == 4 and rec.n_channels == 1
        np.testing.assert_allclose(rec.data[0], samples.reshape(-1) * 0.1, atol=1e-3)
        path.write_bytes(edf_bytes([{**signal, "pmin": "nan"}], 2, 1.0))
        with pytest.raises(ReaderError, match="non-finite samples .* Cz"):
            read_edf(path)


# ----------------------------------------------------------------------------------------------
# Store round trips


@st.composite
def signals(draw):
    n_ch = draw(st.integers(1, 6))
    # 4 Hz gives 16-sample chunks and 1024-sample shards, so long draws span several shards.
    sfreq = draw(st.sampled_from([4.0, 16.0, 64.0, 100.0, 128.0, 200.0, 256.0, 500.0]))
    n_t = draw(st.integers(1, 3500))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.floats(-3, 7))
    shape = draw(st.sampled_from(["noise", "zeros", "constant", "extremes"]))
    data = (rng.standard_normal((n_ch, n_t)) * scale).astype(np.float32)
    if shape == "zeros":
        data[:] = 0
    elif shape == "constant":
        data[:] = np.float32(scale)
    elif shape == "extremes":  # the peak sits exactly where int16 would overflow at the base step
        data[rng.integers(n_ch), rng.integers(n_t)] = np.float32(scale * 32767.5)
    return data, sfreq


@settings(PROPERTY, max_examples=30)
@given(signals(), st.sampled_from(["int16", "float32"]), st.one_of(st.sampled_from([0.1, 0.01, 1.0]), st.floats(1e-3, 10.0)))
def test_store_round_trip_returns_the_data(signal, storage, quantum_uv):
    """Written, then read by Store.recording and by plain xarray: exact for float32, within half a
    storage step for int16 (the step grows by 1-2-5 multiples instead of clipping)."""
    import xarray as xr

    from eegcorpus.pipeline.profiles import Profile
    from eegcorpus.store import open_store
    from eegcorpus.store.verify import verify_recording
    from eegcorpus.store.writer import chunk_samples

    data, sfreq = signal
    profile = Profile(name="generated", storage=storage, quantum_uv=quantum_uv)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "store"
        quantum = write_generated_recording(root, "generated.rec", data, sfreq, profile)
        assert verify_recording(root / "recordings" / "generated.rec") == []
        ours = open_store(root).recording("generated.rec")
        plain = xr.open_zarr(root, group="recordings/generated.rec", consolidated=False)["signal"]
        chunk = plain.encoding["chunks"] if "chunks" in plain.encoding else plain.encoding["preferred_chunks"]
        assert tuple(chunk) == (data.shape[0], min(chunk_samples(sfreq), data.shape[1]))
        for values in (ours.values, plain.values):
            assert values.shape == data.shape
            if storage == "float32":
                np.testing.assert_array_equal(values, data)
            else:
                error = np.abs(values.astype(np.float64) - data.astype(np.float64))
                # float32 arithmetic on the way in and out adds a relative 2**-22 at most.
                bound = quantum / 2 + np.abs(data.astype(np.float64)) * 2.0**-22 + 1e-12
                assert (error <= bound).all(), (quantum, float((error - quantum / 2).max()))
        if storage == "int16":
            assert quantum >= quantum_uv and np.abs(data).max() / quantum <= 32767


# ----------------------------------------------------------------------------------------------
# verify finds any flipped bit


@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> Path:
    from eegcorpus.pipeline.profiles import Profile

    root = tmp_path_factory.mktemp("flip") / "store"
    rng = np.random.default_rng(7)
    for i, rid in enumerate(("generated.a", "generated.b")):
        data = (rng.standard_normal((3, 1500)) * 40).astype(np.float32)
        write_generated_recording(root, rid, data, 16.0, Profile(name="generated"), seed=i)
    return root


@settings(PROPERTY, max_examples=40)
@given(st.data())
def test_verify_names_the_recording_of_any_flipped_bit(small_store, data):
    from eegcorpus.store.verify import verify_store

    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "store"
        shutil.copytree(small_store, copy)
        rid = data.draw(st.sampled_from(["generated.a", "generated.b"]))
        files = sorted(p for p in (copy / "recordings" / rid).rglob("*") if p.is_file())
        target = data.draw(st.sampled_from(files))
        content = bytearray(target.read_bytes())
        at, bit = data.draw(st.integers(0, len(content) - 1)), data.draw(st.integers(0, 7))
        content[at] ^= 1 << bit
        target.write_bytes(bytes(content))
        report = verify_store(copy)
        assert not report.ok and list(report.damaged) == [rid], (target.relative_to(copy), at, bit, report.damaged)


def test_verify_finds_a_flipped_bit_in_the_metadata_digests_own_key(small_store, tmp_path):
    """The digest covers every attribute but itself: "metadata_sha256" turned into
    "letadata_sha256" by one bit must still be found (the draw that found this gap)."""
    from eegcorpus.store.verify import verify_store
    from eegcorpus.store.writer import METADATA_DIGEST

    copy = tmp_path / "store"
    shutil.copytree(small_store, copy)
    target = copy / "recordings" / "generated.a" / "zarr.json"
    content = target.read_bytes()
    at = content.index(f'"{METADATA_DIGEST}"'.encode()) + 1
    target.write_bytes(content[:at] + bytes([content[at] ^ 1]) + content[at + 1 :])
    report = verify_store(copy)
    assert report.damaged == {"generated.a": ["zarr.json: the key of the metadata digest is damaged"]}
