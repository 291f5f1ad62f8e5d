"""PyTorch datasets over eegcorpus stores.

:class:`WindowStream` (training): an ``IterableDataset`` that reads whole blocks (a block is one
shard of one recording, up to 64 chunks: about 4 min at 64 Hz), applies the montage to the
block, copies its windows into a shuffle buffer, and yields windows drawn at random from the
buffer. Blocks are visited in a seeded, epoch-dependent order, split between distributed ranks
and then between DataLoader workers, so every window of the epoch is seen by exactly one of
them. The yield order depends only on (seed, epoch, rank, world size, worker count), never on
the data: amplitude rejection happens when a window leaves the buffer. That is what makes
mid-epoch resume exact and cheap (:meth:`WindowStream.resume_from`).

:class:`WindowDataset` (evaluation): a map-style ``Dataset`` with one item per window, read on
demand (the chunks a window touches), in index order.

Stores open lazily inside each worker process (never in ``__init__``): an open zarr store
cannot cross a fork, and zarr runs an event-loop thread, so use the ``spawn`` or ``forkserver``
start method (:func:`dataloader_kwargs`).
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

import numpy as np

from eegcorpus.loader.collate import pad_collate as pad_collate_items
from eegcorpus.loader.montage import ResolvedMontage, get_montage
from eegcorpus.loader.transforms import a_law as a_law_fn
from eegcorpus.loader.windows import WindowIndex, WindowSpec, build_index
from eegcorpus.store import RECORDINGS, Store, open_store
from eegcorpus.store.writer import chunk_samples

#: Shards of the store hold up to 64 chunks; blocks follow them, so a block is one read.
CHUNKS_PER_BLOCK = 64


class _Recordings:
    """Per-process, lazily opened access to the signals of the index's recordings."""

    def __init__(self, store_paths: list[str], recordings, montage, cache_dir: str | None):
        self.store_paths, self.recordings, self.montage = store_paths, recordings, montage
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._arrays: dict[int, tuple] = {}
        self._montages: dict[tuple, ResolvedMontage] = {}

    def _open(self, r: int):
        if r not in self._arrays:
            import zarr

            from eegcorpus.store._zarr_config import use_zarrs_for_reading

            use_zarrs_for_reading()
            if _in_dataloader_worker() and zarr.config.get("threading.max_workers") is None:
                # The workers are the parallelism: a decoder thread pool per worker (zarrs sizes
                # one to all cores) oversubscribes the cores and halved throughput with 2 workers.
                zarr.config.set({"threading.max_workers": 1})
            row = self.recordings.iloc[r]
            group = zarr.open_group(str(Path(self.store_paths[row.store]) / RECORDINGS / row.recording_id), mode="r", zarr_format=3)
            signal = group["signal"]
            scale = signal.attrs.get("scale_factor")
            names = [str(v) for v in group["ch_name"][:]]
            positions = np.stack([group[a][:] for a in ("x", "y", "z")], axis=1)
            key = tuple(names)
            if key not in self._montages:
                self._montages[key] = self.montage.resolve(names, positions)
            source = self._cached(r, row, signal) if self.cache_dir else signal
            self._arrays[r] = (source, _dequantiser(float(scale)) if scale is not None else None, self._montages[key])
        return self._arrays[r]

    def _cached(self, r, row, signal):
        """A decompressed copy of the recording on local disk, memory-mapped (created once)."""
        digest = hashlib.sha256(f"{self.store_paths[row.store]}|{row.recording_id}|{signal.attrs.get('scale_factor')}".encode()).hexdigest()[:24]
        path = self.cache_dir / f"{digest}.npy"
        if not path.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:  # a handle, or np.save would append ".npy" to the name
                np.save(fh, signal[:])
            os.replace(tmp, path)  # readers see the whole file or none
        return np.load(path, mmap_mode="r")

    def montage_of(self, r: int) -> ResolvedMontage:
        return self._open(r)[2]

    def read(self, r: int, start: int, stop: int) -> np.ndarray:
        """Signal ``[start, stop)`` of recording ``r`` in microvolts, montage applied."""
        source, table, montage = self._open(r)
        raw = np.asarray(source[:, start:stop])
        data = table[raw.astype(np.int32) + 32768] if table is not None else raw.astype(np.float32)
        return montage.apply(data)


@functools.lru_cache(maxsize=16)
def _dequantiser(scale: float) -> np.ndarray:
    """float32 value of every int16 code: ``float32(code x scale)`` computed in float64, as
    xarray decodes the store, so windows equal the stored recording to the last bit; one
    gather replaces a float64 multiply and a cast (a quarter of the read time)."""
    return (np.arange(-32768, 32768, dtype=np.float64) * scale).astype(np.float32)


def _in_dataloader_worker() -> bool:
    import torch.utils.data as tud

    return tud.get_worker_info() is not None


def _item(x, montage: ResolvedMontage, label, recording, start, a_law, position=-1):
    import torch

    if a_law:
        x = a_law_fn(x)
    return {
        "x": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        "pos": torch.from_numpy(montage.positions),
        "lobe": torch.from_numpy(montage.lobes),
        "ch_mask": torch.from_numpy(montage.mask),
        "label": torch.tensor(int(label), dtype=torch.int64),
        "recording": torch.tensor(int(recording), dtype=torch.int64),
        "start": torch.tensor(int(start), dtype=torch.int64),
        "position": torch.tensor(int(position), dtype=torch.int64),
    }


class _Base:
    def __init__(self, stores, spec: WindowSpec, montage="stored", reject_uv: float | None = None,
                 a_law: bool = False, recording_ids=None, cache_dir: str | None = None):
        stores = [s if isinstance(s, Store) else open_store(s) for s in (stores if isinstance(stores, (list, tuple)) else [stores])]
        self.store_paths = [str(s.path) for s in stores]
        self.spec = spec
        self.index: WindowIndex = build_index(stores, spec, recording_ids)
        self.montage = get_montage(montage)
        self.reject_uv, self.a_law, self.cache_dir = reject_uv, a_law, cache_dir
        self._reader: _Recordings | None = None

    @property
    def reader(self) -> _Recordings:
        if self._reader is None:  # opened in the process that reads, never pickled open
            self._reader = _Recordings(self.store_paths, self.index.recordings, self.montage, self.cache_dir)
        return self._reader

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_reader"] = None
        return state

    def _rejected(self, x, montage) -> bool:
        return self.reject_uv is not None and bool(np.abs(x[montage.mask]).max(initial=0.0) > self.reject_uv)


def _torch_dataset_bases():
    import torch.utils.data as tud

    return tud.Dataset, tud.IterableDataset


_Dataset, _IterableDataset = _torch_dataset_bases()


class WindowDataset(_Base, _Dataset):
    """Map-style dataset: item ``i`` is window ``i`` of the index (evaluation, fixed order).

    Rejected windows (``reject_uv``) come back with ``label`` -2 and are best filtered with
    :meth:`keep_indices` once, before training on them.
    """

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict:
        r, start = int(self.index.recording[i]), int(self.index.start[i])
        x = self.reader.read(r, start, start + self.index.length)
        montage = self.reader.montage_of(r)
        label = -2 if self._rejected(x, montage) else self.index.label[i]
        return _item(x, montage, label, r, start, self.a_law)

    def keep_indices(self) -> np.ndarray:
        """Indices of the windows that pass rejection (reads every window once)."""
        if self.reject_uv is None:
            return np.arange(len(self))
        keep = []
        for i in range(len(self)):
            r, start = int(self.index.recording[i]), int(self.index.start[i])
            if not self._rejected(self.reader.read(r, start, start + self.index.length), self.reader.montage_of(r)):
                keep.append(i)
        return np.asarray(keep, dtype=np.int64)


class WindowStream(_Base, _IterableDataset):
    """Shuffled, block-wise stream of windows for training (see the module docstring).

    Parameters
    ----------
    stores : Store | path | list of them
    spec : WindowSpec
    montage : see :func:`eegcorpus.loader.montage.get_montage`
    reject_uv : float | None
        Drop windows where any sample of a masked-in channel exceeds this (NeurIPT: 100).
    a_law : bool
        Apply NeurIPT's A-law companding (A = 0.25) to every window.
    seed : int
        Base seed; the order of epoch ``e`` depends on (seed, e).
    buffer_size : int
        Windows held in the shuffle buffer (per worker).
    rank, world_size : int | None
        Distributed position; taken from ``torch.distributed`` when initialised.
    even : bool
        Give every rank the same number of windows (needed by DDP), dropping the surplus of the
        ranks that got more (less than one block each); False keeps every window.
    weights : sequence of float | dict | None
        Mixing weights: one per store (in the order given), or ``{dataset id: weight}``. Each
        epoch then draws about ``weight / sum(weights)`` of its windows from each group, by
        whole blocks, repeating a small group's blocks (in a new order each pass) when it is
        weighted up and leaving blocks out when it is weighted down. None: every window once.
    epoch_windows : int | None
        Windows per epoch with ``weights`` (default: all the windows of the stores).
    batch_size : int | None
        Yield ready batches of this many windows (stacked in numpy, one tensor per field)
        instead of single windows; use with ``DataLoader(batch_size=None)``. Per-window
        tensors and collation cost more than reading a window, so this is the fast path.
        Windows of different channel layouts are padded (see :func:`pad_collate`).
    """

    def __init__(self, stores, spec: WindowSpec, montage="stored", reject_uv=None, a_law=False,
                 seed: int = 0, buffer_size: int = 2048, rank=None, world_size=None, even: bool = True,
                 recording_ids=None, cache_dir=None, batch_size: int | None = None, weights=None,
                 epoch_windows: int | None = None):
        super().__init__(stores, spec, montage, reject_uv, a_law, recording_ids, cache_dir)
        self.seed, self.buffer_size, self.even = int(seed), int(buffer_size), even
        self.batch_size, self.epoch_windows = batch_size, epoch_windows
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self._resume: dict[int, int] = {}
        block = chunk_samples(self.index.sfreq) * CHUNKS_PER_BLOCK
        # Blocks: windows grouped by (recording, start // block); each block is one read.
        key = self.index.recording.astype(np.int64) * (1 << 32) + self.index.start // block
        order = np.argsort(key, kind="stable")
        boundaries = np.flatnonzero(np.diff(key[order])) + 1
        self._blocks = np.split(order, boundaries)
        self._block_sizes = np.array([len(b) for b in self._blocks], dtype=np.int64)
        self._groups, self._group_weights = self._mixing_groups(weights)

    def _mixing_groups(self, weights):
        """Group id of every block and each group's weight (None without weights)."""
        if weights is None:
            return None, None
        recordings = self.index.recordings
        first = np.array([b[0] for b in self._blocks])
        rec_of_block = self.index.recording[first]
        if isinstance(weights, dict):
            names = sorted(weights)
            datasets = recordings["dataset"].to_numpy()[rec_of_block]
            unknown = sorted(set(datasets) - set(names))
            if unknown:
                raise ValueError(f"No mixing weight for dataset(s) {', '.join(unknown)}; weights name {', '.join(names)}.")
            groups = np.array([names.index(d) for d in datasets])
            return groups, np.array([float(weights[n]) for n in names])
        weights = np.asarray(list(weights), dtype=float)
        if len(weights) != len(self.store_paths):
            raise ValueError(f"Got {len(weights)} mixing weights for {len(self.store_paths)} stores.")
        return recordings["store"].to_numpy()[rec_of_block], weights

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch (its block order and buffer draws); call before iterating."""
        self.epoch = int(epoch)
        self._resume = {}

    def resume_from(self, positions: dict[int, int]) -> None:
        """Continue the current epoch after the items already consumed.

        ``positions`` maps DataLoader worker id -> the largest ``position`` field seen in the
        items from that worker (use ``{0: p}`` without workers). The replay that finds the
        buffer's state is done on window indices alone; only the blocks still in the buffer at
        that point are read.
        """
        self._resume = {int(w): int(p) for w, p in positions.items()}

    def _distributed(self) -> tuple[int, int]:
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            try:
                import torch.distributed as dist

                if dist.is_available() and dist.is_initialized():
                    return dist.get_rank(), dist.get_world_size()
            except ImportError:
                pass
            return 0, 1
        return int(rank), int(world)

    def epoch_blocks(self) -> np.ndarray:
        """The blocks of the current epoch, in order (blocks repeat when weighted up)."""
        rng = np.random.default_rng([self.seed, self.epoch])
        if self._groups is None:
            return rng.permutation(len(self._blocks))
        total = self.epoch_windows or int(self._block_sizes.sum())
        shares = self._group_weights / self._group_weights.sum()
        chosen = []
        for group, share in enumerate(shares):
            members = np.flatnonzero(self._groups == group)
            target, count = int(round(share * total)), 0
            while count < target and len(members):
                for block in rng.permutation(members):
                    if count >= target:
                        break
                    chosen.append(block)
                    count += int(self._block_sizes[block])
        return rng.permutation(np.asarray(chosen, dtype=np.int64))

    def rank_blocks(self, rank: int, world: int) -> tuple[list[int], int]:
        """Block ids of ``rank`` for the current epoch, and the window count every rank gets."""
        order = self.epoch_blocks()
        per_rank = [order[r::world] for r in range(world)]
        sizes = [int(self._block_sizes[blocks].sum()) for blocks in per_rank]
        return [int(b) for b in per_rank[rank]], (min(sizes) if self.even else sizes[rank])

    def _events(self, blocks: list[int], limit: int, rng):
        """Index-level schedule: ("insert", slot) and ("pop", key) events.

        ``slot`` is a position in ``blocks``; a window's key is ``slot * n + window id`` (n =
        windows in the index), unique even when a weighted-up block occurs twice in an epoch.
        """
        n = len(self.index)
        buffer: list[int] = []
        popped = 0
        slot = 0
        while popped < limit:
            while slot < len(blocks) and len(buffer) < self.buffer_size:
                buffer.extend((slot * n + self._blocks[blocks[slot]]).tolist())
                yield "insert", slot
                slot += 1
            if not buffer:
                return
            j = int(rng.integers(len(buffer)))
            buffer[j], buffer[-1] = buffer[-1], buffer[j]
            popped += 1
            yield "pop", buffer.pop()

    def __iter__(self):
        windows = self._windows()
        if not self.batch_size:
            for x, montage, label, r, start, position in windows:
                yield _item(x, montage, label, r, start, self.a_law, position)
            return
        batch = []
        for window in windows:
            batch.append(window)
            if len(batch) == self.batch_size:
                yield self._stack(batch)
                batch = []
        if batch:
            yield self._stack(batch)

    def _stack(self, batch) -> dict:
        import torch

        montages = {id(m): m for _, m, *_ in batch}
        if len(montages) > 1:
            return pad_collate_items([_item(x, m, lab, r, s, self.a_law, p) for x, m, lab, r, s, p in batch])
        montage = batch[0][1]
        x = np.stack([w[0] for w in batch])
        if self.a_law:
            x = a_law_fn(x)
        n = len(batch)
        return {
            "x": torch.from_numpy(x),
            "pos": torch.from_numpy(montage.positions).expand(n, -1, -1),
            "lobe": torch.from_numpy(montage.lobes).expand(n, -1),
            "ch_mask": torch.from_numpy(montage.mask).expand(n, -1),
            "label": torch.from_numpy(np.array([w[2] for w in batch], dtype=np.int64)),
            "recording": torch.from_numpy(np.array([w[3] for w in batch], dtype=np.int64)),
            "start": torch.from_numpy(np.array([w[4] for w in batch], dtype=np.int64)),
            "position": torch.from_numpy(np.array([w[5] for w in batch], dtype=np.int64)),
            "worker": torch.tensor(self._worker_id, dtype=torch.int64),
        }

    def _windows(self):
        """(x, montage, label, recording, start, position) for each window, in stream order."""
        import torch.utils.data as tud

        rank, world = self._distributed()
        info = tud.get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info else (0, 1)
        self._worker_id = worker  # this process's copy of the dataset: batches say who made them
        blocks, per_rank = self.rank_blocks(rank, world)
        mine = blocks[worker::n_workers]
        # This worker's share of the rank's (possibly truncated) window count.
        limit = worker_limits([sum(len(self._blocks[b]) for b in blocks[w::n_workers]) for w in range(n_workers)], per_rank)[worker]
        rng = np.random.default_rng([self.seed, self.epoch, rank, worker])
        skip = self._resume.get(worker, -1) + 1
        idx = self.index
        n = len(idx)
        windows: dict[int, np.ndarray] = {}  # key -> window data, for the keys in the buffer
        unread: dict[int, set] = {}  # slots inserted before the resume point: keys not yet popped
        position = -1
        for kind, value in self._events(mine, limit, rng):
            if kind == "insert":
                slot = value
                if position + 1 >= skip:
                    self._load_block(slot, mine[slot], windows)
                else:
                    unread[slot] = set((slot * n + self._blocks[mine[slot]]).tolist())
                continue
            position += 1
            key = value
            slot, w = divmod(key, n)
            if position < skip:
                unread[slot].discard(key)
                if not unread[slot]:
                    del unread[slot]
                continue
            if key not in windows:  # its block was inserted before the resume point: read it now
                self._load_block(slot, mine[slot], windows, only=unread.pop(slot))
            x = windows.pop(key)
            r = int(idx.recording[w])
            montage = self.reader.montage_of(r)
            if self._rejected(x, montage):
                continue
            yield x, montage, int(idx.label[w]), r, int(idx.start[w]), position

    def _load_block(self, slot: int, block: int, windows: dict, only: set | None = None) -> None:
        """Read ``block`` once and copy its windows (all, or the keys in ``only``) into ``windows``."""
        n = len(self.index)
        members = self._blocks[block]
        if only is not None:
            members = np.array(sorted(k % n for k in only), dtype=np.int64)
        idx = self.index
        r = int(idx.recording[members[0]])
        starts = idx.start[members]
        lo, hi = int(starts.min()), int(starts.max()) + idx.length
        data = self.reader.read(r, lo, hi)
        for w, s in zip(members.tolist(), (starts - lo).tolist()):
            windows[slot * n + w] = data[:, s : s + idx.length].copy()


def worker_limits(sizes: list[int], total_wanted: int) -> list[int]:
    """Split a rank's window budget between its workers: each gets its own count minus a share
    of the surplus, and the shares add up exactly (DDP ranks must run the same number of steps).
    """
    total = sum(sizes)
    surplus = total - total_wanted
    if surplus <= 0 or total == 0:
        return list(sizes)
    drops = [surplus * s // total for s in sizes]
    for w in range(len(sizes)):
        if sum(drops) == surplus:
            break
        if drops[w] < sizes[w]:
            drops[w] += 1
    return [s - d for s, d in zip(sizes, drops)]


def dataloader_kwargs(num_workers: int) -> dict:
    """DataLoader settings that are safe with zarr: a ``forkserver`` context for workers (a
    forked worker would inherit zarr's event-loop thread in a broken state) and persistent
    workers so each keeps its opened stores."""
    import multiprocessing

    if num_workers == 0:
        return {"num_workers": 0}
    return {"num_workers": num_workers, "multiprocessing_context": multiprocessing.get_context("forkserver"), "persistent_workers": True}
