"""The store writer's rules, each at its edges: recording ids, the storage step, chunk and shard
sizes, the on-disk metadata xarray decodes, the manifest and the metadata digest."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from helpers.store import generated_processed_recording, write_generated_recording

from eegcorpus.pipeline.profiles import Profile
from eegcorpus.store.writer import (
    GROUP_METADATA,
    MANIFEST,
    METADATA_DIGEST,
    check_recording_id,
    choose_quantum,
    chunk_samples,
    init_store,
    metadata_digest,
    write_group,
)

INT16_MAX = 32767


@pytest.mark.parametrize("rid", ["eegmmidb.S001R03", "a", "9", "tuh_eeg-v2.0.1.x", "A.b-c_d"])
def test_valid_recording_ids_are_kept(rid):
    assert check_recording_id(rid) == rid


@pytest.mark.parametrize("rid", ["", ".hidden", "-x", "_x", "a/b", "a\\b", "a b", "a..b", "..", "x..", "é", "a:b"])
def test_unsafe_recording_ids_are_refused_naming_the_rule(rid):
    with pytest.raises(ValueError) as err:
        check_recording_id(rid)
    assert str(err.value) == (
        f"Invalid value for the 'recording_id' parameter: {rid!r} (allowed: letters, digits, '_', '.', '-'; must start with a letter or digit)."
    )


def test_the_storage_step_stays_while_the_peak_fits_int16():
    step = 0.1
    assert choose_quantum(np.array([[INT16_MAX * step]]), step) == step  # exactly at the limit
    assert choose_quantum(np.array([[-INT16_MAX * step]]), step) == step  # the negative peak counts
    assert choose_quantum(np.zeros((2, 0)), step) == step  # no samples
    assert choose_quantum(np.zeros((2, 5)), step) == step


@pytest.mark.parametrize(
    ("peak_steps", "multiple"),
    [
        (INT16_MAX + 1, 2),
        (2 * INT16_MAX, 2),
        (2 * INT16_MAX + 1, 5),
        (5 * INT16_MAX, 5),
        (5 * INT16_MAX + 1, 10),
        (10 * INT16_MAX + 1, 20),
        (20 * INT16_MAX + 1, 50),
        (50 * INT16_MAX + 1, 100),
        (1000 * INT16_MAX + 1, 2000),
    ],
)
def test_a_larger_peak_takes_the_smallest_1_2_5_multiple_that_fits(peak_steps, multiple):
    step = 0.1
    chosen = choose_quantum(np.array([[0.0, -peak_steps * step]]), step)
    assert chosen == pytest.approx(multiple * step, rel=1e-12)
    assert peak_steps * step / chosen <= INT16_MAX


@pytest.mark.parametrize(("sfreq", "samples"), [(64.0, 256), (200.0, 1024), (160.0, 512), (250.0, 1024), (1.0, 16), (4.0, 16), (8.0, 32)])
def test_a_chunk_is_about_four_seconds_as_a_power_of_two(sfreq, samples):
    assert chunk_samples(sfreq) == samples


def test_chunk_length_follows_the_window():
    assert chunk_samples(64.0, window_s=8.0) == 512
    assert chunk_samples(64.0, window_s=1.0) == 64


def _written(tmp_path, data, sfreq=64.0, profile=None, attrs=None):
    profile = profile or Profile(name="test")
    processed = generated_processed_recording(data, sfreq, seed=0)
    quantum = choose_quantum(data, profile.quantum_uv) if profile.storage == "int16" else None
    folder = tmp_path / "group"
    write_group(folder, processed, {"recording_id": "r", "quantum_uv": quantum, **(attrs or {})}, profile)
    return folder, processed


def _meta(path):
    return json.loads(path.read_text())


def test_int16_signal_metadata_is_what_xarray_decodes(tmp_path):
    data = np.random.default_rng(0).normal(0, 30, (3, 1000)).astype(np.float32)
    folder, _ = _written(tmp_path, data)
    meta = _meta(folder / "signal" / "zarr.json")
    assert meta["data_type"] == "int16" and meta["fill_value"] == -32768
    assert meta["dimension_names"] == ["channel", "time"]
    assert meta["attributes"] == {
        "units": "uV",
        "long_name": "EEG signal",
        "coordinates": "ch_name ch_name_orig ch_type x y z lobe",
        "scale_factor": 0.1,
        "_FillValue": -32768,
    }
    # 1000 samples at 64 Hz: one 256-sample chunk per 4 s, one shard holding all 4 chunks.
    shard = meta["chunk_grid"]["configuration"]["chunk_shape"]
    inner = meta["codecs"][0]["configuration"]["chunk_shape"]
    assert (shard, inner) == ([3, 1024], [3, 256])
    blosc = meta["codecs"][0]["configuration"]["codecs"][-1]
    assert blosc["name"] == "blosc" and blosc["configuration"]["cname"] == "zstd" and blosc["configuration"]["clevel"] == 3
    assert blosc["configuration"]["shuffle"] == "shuffle" and blosc["configuration"]["typesize"] == 2


def test_a_shard_holds_at_most_64_chunks(tmp_path):
    data = np.zeros((2, 256 * 70), dtype=np.float32)
    folder, _ = _written(tmp_path, data)
    meta = _meta(folder / "signal" / "zarr.json")
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [2, 256 * 64]


def test_a_recording_shorter_than_a_chunk_is_one_chunk(tmp_path):
    data = np.ones((2, 100), dtype=np.float32)
    folder, _ = _written(tmp_path, data)
    meta = _meta(folder / "signal" / "zarr.json")
    assert meta["chunk_grid"]["configuration"]["chunk_shape"] == [2, 100]
    assert meta["codecs"][0]["configuration"]["chunk_shape"] == [2, 100]


def test_the_stored_values_are_the_signal_rounded_to_the_step(tmp_path):
    import xarray as xr

    data = np.array([[0.04, 0.05, 0.06, -0.06, 3276.7, -3276.7], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]], dtype=np.float32)
    folder, _ = _written(tmp_path, data)
    raw = xr.open_zarr(folder, consolidated=False, zarr_format=3, mask_and_scale=False)["signal"].values
    np.testing.assert_array_equal(raw, np.round(data / np.float32(0.1)).astype(np.int16))
    assert raw[0, 4] == INT16_MAX and raw[0, 5] == -INT16_MAX


def test_float32_storage_keeps_the_values_and_a_readable_fill(tmp_path):
    import xarray as xr

    data = np.array([[0.123456, -7.5, 1e4]], dtype=np.float32)
    folder, _ = _written(tmp_path, data, profile=Profile(name="f", storage="float32"))
    meta = _meta(folder / "signal" / "zarr.json")
    assert meta["data_type"] == "float32" and "scale_factor" not in meta["attributes"]
    # xarray reads a float _FillValue in zarr v3 as the base64 of a little-endian double: NaN
    assert meta["attributes"]["_FillValue"] == "AAAAAAAA+H8="
    ds = xr.open_zarr(folder, consolidated=False, zarr_format=3)
    np.testing.assert_array_equal(ds["signal"].values, data)


def test_channel_coordinates_are_stored_in_order(tmp_path):
    import xarray as xr

    data = np.zeros((3, 64), dtype=np.float32)
    folder, processed = _written(tmp_path, data)
    ds = xr.open_zarr(folder, consolidated=False, zarr_format=3)
    assert list(ds["ch_name"].values) == processed.canonical
    assert list(ds["ch_name_orig"].values) == processed.ch_names
    assert list(ds["ch_type"].values) == processed.ch_types
    assert list(ds["lobe"].values) == processed.lobes
    np.testing.assert_array_equal(np.stack([ds[c].values for c in "xyz"], axis=1), processed.positions)
    assert ds["x"].dtype == np.float64
    for name in ("ch_name", "ch_name_orig", "ch_type", "x", "y", "z", "lobe"):
        assert ds[name].dims == ("channel",)
        meta = _meta(folder / name / "zarr.json")
        assert meta["data_type"] == ("float64" if name in "xyz" else "string"), name


def test_the_manifest_and_digest_describe_every_file(tmp_path):
    data = np.random.default_rng(1).normal(0, 10, (2, 300)).astype(np.float32)
    folder, _ = _written(tmp_path, data, attrs={"sfreq": np.float64(64.0), "n": np.int64(2), "levels": np.arange(3)})
    document = _meta(folder / GROUP_METADATA)
    attrs = document["attributes"]
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and p != folder / GROUP_METADATA)
    assert sorted(attrs[MANIFEST]) == files
    for rel, digest in attrs[MANIFEST].items():
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == digest
    # numpy values became plain JSON numbers and lists
    assert (attrs["sfreq"], attrs["n"], attrs["levels"]) == (64.0, 2, [0, 1, 2])
    # the digest: canonical JSON of the document without the digest itself
    without = {**document, "attributes": {k: v for k, v in attrs.items() if k != METADATA_DIGEST}}
    expected = hashlib.sha256(json.dumps(without, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()).hexdigest()
    assert attrs[METADATA_DIGEST] == expected == metadata_digest(document)
    changed = {**document, "attributes": {**attrs, "sfreq": 65.0}}
    assert metadata_digest(changed) != expected


def test_a_group_is_never_written_over_an_existing_folder(tmp_path):
    data = np.zeros((1, 10), dtype=np.float32)
    _written(tmp_path, data)
    with pytest.raises(FileExistsError):
        _written(tmp_path, data)


def test_init_store_writes_the_root_with_its_format_marker_once(tmp_path):
    from eegcorpus.store.writer import STORE_FORMAT_VERSION

    root = tmp_path / "store"
    init_store(root)
    assert _meta(root / GROUP_METADATA) == {"zarr_format": 3, "node_type": "group", "attributes": {"eegcorpus_store_format": STORE_FORMAT_VERSION}}
    assert _meta(root / "recordings" / GROUP_METADATA) == {"zarr_format": 3, "node_type": "group", "attributes": {}}
    for folder in (root, root / "recordings"):
        (folder / GROUP_METADATA).write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {"mine": 1}}))
    init_store(root)  # existing groups are left as they are
    assert _meta(root / GROUP_METADATA)["attributes"] == _meta(root / "recordings" / GROUP_METADATA)["attributes"] == {"mine": 1}


def test_write_recording_publishes_under_recordings_and_refuses_bad_ids(tmp_path):
    from eegcorpus.store.writer import write_recording

    data = np.zeros((2, 64), dtype=np.float32)
    write_generated_recording(tmp_path / "store", "good.id", data, 64.0, Profile(name="t"))
    assert (tmp_path / "store" / "recordings" / "good.id" / GROUP_METADATA).is_file()
    processed = generated_processed_recording(data, 64.0, seed=0)
    with pytest.raises(ValueError, match="recording_id"):
        write_recording(tmp_path / "store", "../escape", processed, {"recording_id": "../escape", "quantum_uv": 0.1}, Profile(name="t"))
    assert not (tmp_path / "escape").exists()


def test_attributes_become_plain_json(tmp_path):
    """numpy values become numbers and lists; anything else JSON cannot hold becomes its text."""
    from pathlib import PurePosixPath

    from eegcorpus.store.writer import _json_safe

    assert _json_safe({"a": np.float32(1.5), "b": np.arange(2), "c": PurePosixPath("raw/x.edf"), "d": [np.int16(3)]}) == {
        "a": 1.5,
        "b": [0, 1],
        "c": "raw/x.edf",
        "d": [3],
    }
