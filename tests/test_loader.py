"""The window loader on the real EEGMMIDB store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegcorpus import open_store
from eegcorpus.channels import LOBES, channel_position
from eegcorpus.loader import (
    NEURIPT_DOUBLE_BANANA,
    MontageBatchSampler,
    WindowDataset,
    WindowSpec,
    WindowStream,
    a_law,
    dataloader_kwargs,
    pad_collate,
    reject,
    scale_channels,
)
from eegcorpus.loader.schedule import worker_limits


def _keys(items):
    return [(int(i["recording"]), int(i["start"])) for i in items]


def test_window_counts_match_durations_and_strides(eegmmidb_store):
    store = open_store(eegmmidb_store)
    for length, stride in ((4.0, None), (4.0, 2.0), (10.0, 5.0)):
        ds = WindowDataset(store, WindowSpec(length, stride))
        n, L, S = 125 * 64, int(length * 64), int((stride or length) * 64)
        assert len(ds) == 12 * ((n - L) // S + 1)
        assert ds.index.length == L and set(np.diff(ds.index.start[ds.index.recording == 0])) == {S}


def test_windows_equal_the_stored_recording(eegmmidb_store):
    store = open_store(eegmmidb_store)
    ds = WindowDataset(store, WindowSpec(4.0, 3.0))
    for i in (0, 17, len(ds) - 1):
        item = ds[i]
        rid = ds.index.recordings.iloc[int(item["recording"])].recording_id
        start = int(item["start"])
        expected = store.recording(rid).values[:, start : start + 256]
        np.testing.assert_array_equal(item["x"].numpy(), expected)
    stream = WindowStream(store, WindowSpec(4.0), seed=3)
    for item in list(stream)[:5]:
        rid = stream.index.recordings.iloc[int(item["recording"])].recording_id
        start = int(item["start"])
        np.testing.assert_array_equal(item["x"].numpy(), store.recording(rid).values[:, start : start + 256])


def test_bipolar_is_the_difference_of_two_electrodes(eegmmidb_store):
    store = open_store(eegmmidb_store)
    mono = WindowDataset(store, WindowSpec(4.0))
    bip = WindowDataset(store, WindowSpec(4.0), montage="neuript")
    names = [str(n) for n in store.recording("eegmmidb.S001R03")["ch_name"].values]
    a, b = mono[5], bip[5]
    assert b["x"].shape == (20, 256) and bool(b["ch_mask"].all())
    # F7-T3 is channel 1: F7 minus T7 (the 10-10 name of T3).
    np.testing.assert_allclose(b["x"][1].numpy(), a["x"][names.index("F7")].numpy() - a["x"][names.index("T7")].numpy(), atol=1e-4)
    # Positions: midpoints of the stored electrode positions; lobes from the channel layer.
    expected = (channel_position("F7") + channel_position("T7")) / 2
    np.testing.assert_allclose(b["pos"][1].numpy(), expected, atol=1e-6)
    assert LOBES[int(b["lobe"][1])] == "temporal-left" and LOBES[int(b["lobe"][0])] == "frontal"
    assert len(NEURIPT_DOUBLE_BANANA) == 20


def test_average_reference_and_subset(eegmmidb_store):
    store = open_store(eegmmidb_store)
    avg = WindowDataset(store, WindowSpec(4.0), montage="average")[0]["x"].numpy()
    np.testing.assert_allclose(avg.mean(axis=0), 0.0, atol=1e-3)
    sub = WindowDataset(store, WindowSpec(4.0), montage=["Cz", "C3", "C4"])[0]
    mono = WindowDataset(store, WindowSpec(4.0))[0]
    names = [str(n) for n in store.recording("eegmmidb.S001R03")["ch_name"].values]
    np.testing.assert_array_equal(sub["x"][0].numpy(), mono["x"][names.index("Cz")].numpy())
    with pytest.raises(ValueError, match="not in the recording"):
        WindowDataset(store, WindowSpec(4.0), montage=["Cz", "NOPE"])[0]


def test_event_windows_carry_the_annotation_labels(eegmmidb_store):
    store = open_store(eegmmidb_store)
    ds = WindowDataset(store, WindowSpec(4.0, mode="events"), recording_ids=["eegmmidb.S001R04"])
    events = store.events("eegmmidb.S001R04")
    inside = events[(events["onset"] * 64).round() + 256 <= 125 * 64]
    assert len(ds) == len(inside)
    names = {code: name for name, code in ds.index.classes.items()}
    for i in range(len(ds)):
        onset = ds.index.start[i] / 64
        row = inside.iloc[i]
        assert abs(row["onset"] - onset) < 1 / 64
        assert names[int(ds[i]["label"])] == row["label"]
    assert set(ds.index.classes) == {"rest", "left_fist", "right_fist"}


def test_two_ranks_see_disjoint_windows_covering_the_epoch(eegmmidb_store):
    store = open_store(eegmmidb_store)
    spec = WindowSpec(4.0, 2.0)
    ranks = [list(WindowStream(store, spec, seed=7, rank=r, world_size=2, even=False)) for r in (0, 1)]
    a, b = set(_keys(ranks[0])), set(_keys(ranks[1]))
    assert not a & b
    everything = WindowDataset(store, spec).index
    assert a | b == set(zip(everything.recording.tolist(), everything.start.tolist()))
    even = [len(list(WindowStream(store, spec, seed=7, rank=r, world_size=2))) for r in (0, 1)]
    assert even[0] == even[1] == min(len(a), len(b))


def test_same_seed_same_order_new_epoch_new_order(eegmmidb_store):
    store = open_store(eegmmidb_store)
    first = _keys(WindowStream(store, WindowSpec(4.0), seed=11))
    again = _keys(WindowStream(store, WindowSpec(4.0), seed=11))
    assert first == again
    other = WindowStream(store, WindowSpec(4.0), seed=11)
    other.set_epoch(1)
    assert _keys(other) != first and sorted(_keys(other)) == sorted(first)
    # Shuffle quality: a batch of 32 draws windows from several recordings, not one.
    batches = [first[k : k + 32] for k in range(0, len(first) - 31, 32)]
    assert np.mean([len({r for r, _ in batch}) for batch in batches]) >= 6


def test_resume_mid_epoch_continues_the_same_sequence(eegmmidb_store):
    store = open_store(eegmmidb_store)
    spec = WindowSpec(4.0, 1.0)
    full = list(WindowStream(store, spec, seed=5, buffer_size=200))
    consumed = 123
    resumed = WindowStream(store, spec, seed=5, buffer_size=200)
    resumed.resume_from({0: int(full[consumed - 1]["position"])})
    rest = list(resumed)
    assert _keys(rest) == _keys(full[consumed:])
    np.testing.assert_array_equal(rest[0]["x"].numpy(), full[consumed]["x"].numpy())


def test_rejection_keeps_exactly_the_windows_under_the_threshold(eegmmidb_store):
    # Reference: every window of the index read on its own and tested with the transform.
    store = open_store(eegmmidb_store)
    spec = WindowSpec(4.0, 2.0)
    dataset = WindowDataset(store, spec, montage="neuript")
    expected = {(int(dataset.index.recording[i]), int(dataset.index.start[i])) for i in range(len(dataset)) if not reject(dataset[i]["x"].numpy(), 150.0)}
    assert 0 < len(expected) < len(dataset)
    served = _keys(list(WindowStream(store, spec, montage="neuript", reject_uv=150.0, seed=3, buffer_size=100)))
    assert set(served) == expected
    batches = list(WindowStream(store, spec, montage="neuript", reject_uv=150.0, seed=3, buffer_size=100, batch_size=32))
    assert [len(b["x"]) for b in batches[:-1]] == [32] * (len(batches) - 1)
    assert list(zip(torch.cat([b["recording"] for b in batches]).tolist(), torch.cat([b["start"] for b in batches]).tolist())) == served


def test_resume_in_batch_mode_with_rejection(eegmmidb_store):
    store = open_store(eegmmidb_store)
    make = lambda: WindowStream(store, WindowSpec(4.0, 1.0), montage="neuript", reject_uv=150.0, a_law=True, seed=8, buffer_size=150, batch_size=40)
    full = list(make())
    resumed = make()
    resumed.resume_from({0: int(full[4]["position"].max())})
    rest = list(resumed)
    assert torch.equal(torch.cat([b["x"] for b in rest]), torch.cat([b["x"] for b in full])[5 * 40 :])
    assert torch.equal(torch.cat([b["position"] for b in rest]), torch.cat([b["position"] for b in full])[5 * 40 :])


def test_dataloader_with_two_workers(eegmmidb_store):
    store = open_store(eegmmidb_store)
    stream = WindowStream(store, WindowSpec(4.0, 2.0), montage="neuript", seed=2)
    loader = torch.utils.data.DataLoader(stream, batch_size=16, **dataloader_kwargs(2))
    seen = []
    for batch in loader:
        assert batch["x"].shape[1:] == (20, 256) and batch["x"].dtype == torch.float32
        assert batch["pos"].shape[1:] == (20, 3) and batch["lobe"].shape[1:] == (20,)
        seen += list(zip(batch["recording"].tolist(), batch["start"].tolist()))
    index = stream.index
    assert sorted(seen) == sorted(zip(index.recording.tolist(), index.start.tolist()))


def test_persistent_workers_follow_the_epochs(eegmmidb_store):
    # Persistent workers keep their own copy of the stream: set_epoch in the training loop does
    # not reach them, so each pass advances the epoch; a resume applies to one pass only.
    store = open_store(eegmmidb_store)

    def loader(stream):
        return torch.utils.data.DataLoader(stream, batch_size=None, **dataloader_kwargs(2))

    def order(batches):
        return list(zip(torch.cat([b["recording"] for b in batches]).tolist(), torch.cat([b["start"] for b in batches]).tolist()))

    def make():
        return WindowStream(store, WindowSpec(4.0), montage="neuript", seed=6, batch_size=16)

    full_epoch0 = list(loader(make()))
    consumed = full_epoch0[:4]  # two batches from each worker, as a run stopped here
    positions = {}
    for b in consumed:
        positions[int(b["worker"])] = max(positions.get(int(b["worker"]), -1), int(b["position"].max()))
    stream = make()
    stream.set_epoch(0)
    stream.resume_from(positions)  # before the workers start, as neuript pretrain does
    persistent = loader(stream)
    resumed = consumed + list(persistent)
    epochs = []
    for epoch in (1, 2):
        stream.set_epoch(epoch)
        epochs.append(order(list(persistent)))
    for epoch, seen in zip((1, 2), epochs):
        fresh = make()
        fresh.set_epoch(epoch)
        assert seen == order(list(loader(fresh)))  # what workers started at this epoch serve
    assert epochs[0] != epochs[1] and sorted(epochs[0]) == sorted(epochs[1]) and len(epochs[0]) == 372
    assert sorted(order(resumed)) == sorted(order(full_epoch0))


def test_rejection_and_a_law(eegmmidb_store):
    store = open_store(eegmmidb_store)
    kept = list(WindowStream(store, WindowSpec(4.0), reject_uv=150.0, seed=1))
    assert 0 < len(kept) < 372
    assert all(float(item["x"].abs().max()) <= 150.0 for item in kept)
    x = np.array([-1000.0, -4.0, -1.0, 0.0, 1.0, 3.9999, 4.0, 1000.0], dtype=np.float32)
    y = a_law(x, 0.25)
    denom = np.e + np.log(0.25)
    np.testing.assert_allclose(y[[2, 4]], [-0.25 / denom, 0.25 / denom], rtol=1e-6)
    np.testing.assert_allclose(y[7], (1 + np.log(250.0)) / denom, rtol=1e-6)
    assert np.all(np.diff(y) >= 0) and abs(y[5] - y[6]) < 1e-4  # monotone, continuous at 1/A


def test_scale_channels_gives_every_channel_of_every_window_the_rms(eegmmidb_store, monkeypatch):
    """Real EEGMMIDB windows: each channel of each window ends at the RMS asked for, scaled by one
    gain per channel and window (its shape kept), whatever else is in the batch; padding stays 0."""
    store = open_store(eegmmidb_store)
    windows = np.stack([item["x"].numpy() for item in list(WindowStream(store, WindowSpec(4.0), seed=1))[:6]])
    windows[2, 5] = 0.0  # a padding channel
    scaled = scale_channels(windows, 6.6)
    assert scaled.dtype == np.float32 and scaled.shape == windows.shape
    rms = np.linalg.norm(scaled.astype(np.float64), axis=-1) / np.sqrt(windows.shape[-1])
    expected = np.full(rms.shape, 6.6)
    expected[2, 5] = 0.0
    np.testing.assert_allclose(rms, expected, rtol=1e-5)
    live = np.abs(windows) > 1e-3
    gain = scaled[live] / windows[live]
    per_channel = np.broadcast_to(6.6 / (np.linalg.norm(windows.astype(np.float64), axis=-1, keepdims=True) / np.sqrt(windows.shape[-1])), windows.shape)
    np.testing.assert_allclose(gain, per_channel[live], rtol=1e-4)
    np.testing.assert_array_equal(scale_channels(windows[3:4], 6.6), scaled[3:4])  # one window alone: the same values
    import eegcorpus.loader.transforms

    monkeypatch.setattr(eegcorpus.loader.transforms, "_SCALE_BLOCK_ROWS", 7)  # blocks that cut windows apart
    np.testing.assert_array_equal(scale_channels(windows, 6.6), scaled)
    with pytest.raises(ValueError, match="'rms_uv' parameter"):
        scale_channels(windows, 0.0)


def test_pad_collate_and_montage_grouping(eegmmidb_store):
    store = open_store(eegmmidb_store)
    a = WindowDataset(store, WindowSpec(4.0), montage="neuript")[0]
    b = WindowDataset(store, WindowSpec(4.0), montage=["Cz", "C3"])[0]
    batch = pad_collate([a, b])
    assert batch["x"].shape == (2, 20, 256)
    assert batch["ch_mask"][1].tolist() == [True, True] + [False] * 18
    assert (batch["lobe"][1, 2:] == -1).all() and (batch["x"][1, 2:] == 0).all()
    sampler = MontageBatchSampler(["m20", "m2", "m20", "m20", "m2"], batch_size=2, seed=0)
    for indices in sampler:
        assert len({("m20", "m2", "m20", "m20", "m2")[i] for i in indices}) == 1
    assert sorted(i for batch in sampler for i in batch) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("sizes", "wanted"), [([100, 50], 120), ([10, 10, 10], 29), ([7, 0], 5), ([5, 5], 20)])
def test_worker_limits_add_up_exactly(sizes, wanted):
    limits = worker_limits(sizes, wanted)
    assert sum(limits) == min(wanted, sum(sizes)) and all(0 <= l <= s for l, s in zip(limits, sizes))


def test_memmap_cache_serves_the_same_windows(eegmmidb_store, tmp_path):
    store = open_store(eegmmidb_store)
    plain = WindowDataset(store, WindowSpec(4.0))
    cached = WindowDataset(store, WindowSpec(4.0), cache_dir=tmp_path / "cache")
    for i in (0, 40, 200):
        np.testing.assert_array_equal(plain[i]["x"].numpy(), cached[i]["x"].numpy())
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3
    # The cache holds the montaged signal: another montage gets its own files, same values.
    bipolar = dict(montage="neuript", reject_uv=150.0, seed=2, batch_size=64)
    plain_stream = WindowStream(store, WindowSpec(4.0), **bipolar)
    cached_stream = WindowStream(store, WindowSpec(4.0), cache_dir=tmp_path / "cache", **bipolar)
    for a, b in zip(plain_stream, cached_stream, strict=True):
        assert torch.equal(a["x"], b["x"]) and torch.equal(a["position"], b["position"])
    files = list((tmp_path / "cache").glob("*.npy"))
    assert len(files) == 3 + len(plain_stream.index.recordings)
    assert {np.load(f, mmap_mode="r").shape[0] for f in files} == {64, 20}


def test_batch_mode_yields_the_same_windows_in_the_same_order(eegmmidb_store):
    store = open_store(eegmmidb_store)
    single = list(WindowStream(store, WindowSpec(4.0), montage="neuript", seed=4))
    batches = list(WindowStream(store, WindowSpec(4.0), montage="neuript", seed=4, batch_size=50))
    assert [len(b["x"]) for b in batches] == [50] * 7 + [22]
    stacked = torch.cat([b["x"] for b in batches])
    assert torch.equal(stacked, torch.stack([i["x"] for i in single]))
    assert torch.cat([b["start"] for b in batches]).tolist() == [int(i["start"]) for i in single]
    assert batches[0]["pos"].shape == (50, 20, 3) and batches[0]["lobe"].shape == (50, 20)
    for field in ("pos", "lobe", "ch_mask", "label", "recording", "position"):
        assert torch.equal(torch.cat([b[field] for b in batches]), torch.stack([i[field] for i in single])), field
    # Every field but x is a view of one buffer: a worker hands each storage over separately.
    storages = {batches[0][k].untyped_storage().data_ptr() for k in batches[0] if k != "x"}
    assert len(storages) == 1 and int(batches[0]["worker"]) == 0
    loader = torch.utils.data.DataLoader(WindowStream(store, WindowSpec(4.0), seed=4, batch_size=64), batch_size=None, **dataloader_kwargs(2))
    assert sum(len(b["x"]) for b in loader) == 372


@pytest.fixture(scope="module")
def mental_arithmetic_store(tmp_path_factory):
    from helpers.shared_data import MENTAL_ARITHMETIC_SUBJECTS, shared_path

    from eegcorpus.build import build

    out = tmp_path_factory.mktemp("stores") / "ma"
    assert build("mental_arithmetic", shared_path("eegmat"), out, subjects=MENTAL_ARITHMETIC_SUBJECTS, progress=False).n_failed == 0
    return out


def test_weighted_mixing_of_two_stores(eegmmidb_store, mental_arithmetic_store):
    stores = [open_store(eegmmidb_store), open_store(mental_arithmetic_store)]
    plain = WindowStream(stores, WindowSpec(4.0), montage="neuript", seed=0)
    assert len(list(plain)) == len(plain.index)  # without weights: every window once
    mixed = WindowStream(stores, WindowSpec(4.0), montage="neuript", seed=0, weights=[1, 1], epoch_windows=800)
    items = list(mixed)
    datasets = mixed.index.recordings["dataset"].to_numpy()[[int(i["recording"]) for i in items]]
    # Each share is filled by whole blocks: at least its target, less than one block over.
    largest_block = int(mixed.plan.block_sizes.max())
    for name, target in (("eegmmidb", 400), ("mental_arithmetic", 400)):
        count = int(np.sum(datasets == name))
        assert target <= count < target + largest_block, (name, count)
    # EEGMMIDB has 372 windows, so its 400-window share repeats blocks (each copy served as a
    # window of its own); MentalArithmetic has 720, so its share leaves blocks out.
    keys = _keys(items)
    eeg = [k for k, d in zip(keys, datasets) if d == "eegmmidb"]
    ma = [k for k, d in zip(keys, datasets) if d == "mental_arithmetic"]
    assert len(eeg) > len(set(eeg)) and len(ma) == len(set(ma))
    by_name = WindowStream(stores, WindowSpec(4.0), montage="neuript", seed=0, weights={"eegmmidb": 1, "mental_arithmetic": 1}, epoch_windows=800)
    assert _keys(by_name) == keys
    with pytest.raises(ValueError, match="No mixing weight"):
        WindowStream(stores, WindowSpec(4.0), montage="neuript", weights={"eegmmidb": 1})


def test_subset_average_reference_leaves_out_other_channels():
    from eegcorpus.loader.montage import SubsetAverageReference

    names = ["Fp1", "Cz", "A2", "O1"]
    positions = np.array([channel_position(n) for n in names], dtype=np.float32)
    data = np.array([[1.0, 2.0], [3.0, 4.0], [100.0, 200.0], [5.0, 9.0]], dtype=np.float32)
    montage = SubsetAverageReference(["O1", "Fp1", "Cz"]).resolve(names, positions)
    subset = data[[3, 0, 1]]
    np.testing.assert_allclose(montage.apply(data), subset - subset.mean(axis=0), atol=1e-5)  # A2 not in the mean
    np.testing.assert_array_equal(montage.positions, positions[[3, 0, 1]])
    masked = SubsetAverageReference(["Fp1", "Pz", "Cz"], on_missing="mask").resolve(names, positions)
    assert masked.mask.tolist() == [True, False, True]
    out = masked.apply(data)
    np.testing.assert_allclose(out[[0, 2]], data[[0, 1]] - data[[0, 1]].mean(axis=0), atol=1e-5)
    assert not out[1].any()
    with pytest.raises(ValueError, match="Pz"):
        SubsetAverageReference(["Fp1", "Pz"]).resolve(names, positions)
