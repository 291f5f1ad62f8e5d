"""The training stream's schedule, on window indices alone: no data, no torch.

:class:`~eegcorpus.loader.dataset.WindowStream` serves windows in an order that depends only on
(seed, epoch, rank, world size, worker count). This module computes that order: windows grouped
into blocks (one shard of one recording, read at once), blocks ordered per epoch (optionally
mixed by weights), dealt to distributed ranks and then to DataLoader workers, and the shuffle
buffer's pop order replayed on window ids. Because nothing here reads a signal, a resume replays
the schedule to any position at the cost of index arithmetic, and the schedule can be checked
without a store or torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eegcorpus.loader.windows import WindowIndex


def group_blocks(index: WindowIndex, block_samples: int) -> list[np.ndarray]:
    """Window ids grouped by (recording, start // block_samples): each group is one read."""
    key = index.recording.astype(np.int64) * (1 << 32) + index.start // block_samples
    order = np.argsort(key, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(key[order])) + 1)


@dataclass
class WorkerPlan:
    """What one worker serves in one epoch.

    ``blocks``: the worker's block ids, in the order they enter the buffer (slot ``s`` holds
    ``blocks[s]``). ``slots`` and ``windows``: for every position of the stream, the slot and the
    window id served there. ``insert_at``: for each slot, how many windows had been popped when it
    entered the buffer (non-decreasing). ``last_pop``: the position of each slot's last window (-1
    if the rank's window budget cut it off). ``release``: slots in the order of their last pop.
    """

    blocks: list[int]
    slots: np.ndarray
    windows: np.ndarray
    insert_at: np.ndarray
    last_pop: np.ndarray
    release: np.ndarray

    def __len__(self) -> int:
        return len(self.slots)


class BlockSchedule:
    """The blocks of a window index and the order each epoch visits them.

    Parameters
    ----------
    index : WindowIndex
    block_samples : int
        Samples per block (a store shard).
    seed : int
        The order of epoch ``e`` depends on (seed, e).
    buffer_size : int
        Windows held in the shuffle buffer (per worker).
    even : bool
        Every rank gets the same number of windows (DDP needs it), the surplus dropped.
    n_stores : int
        Stores of the index, for per-store mixing weights.
    weights, epoch_windows
        Mixing weights (one per store, or ``{dataset id: weight}``) and windows per epoch with
        them; see :class:`~eegcorpus.loader.dataset.WindowStream`.
    """

    def __init__(
        self,
        index: WindowIndex,
        block_samples: int,
        seed: int,
        buffer_size: int,
        even: bool = True,
        n_stores: int = 1,
        weights=None,
        epoch_windows: int | None = None,
    ):
        self.n_windows = len(index)
        self.seed, self.buffer_size, self.even, self.epoch_windows = int(seed), int(buffer_size), even, epoch_windows
        self.blocks = group_blocks(index, block_samples)
        self.block_sizes = np.array([len(b) for b in self.blocks], dtype=np.int64)
        self.groups, self.group_weights = self._mixing_groups(index, n_stores, weights)

    def _mixing_groups(self, index: WindowIndex, n_stores: int, weights):
        """Group id of every block and each group's weight (None without weights)."""
        if weights is None:
            return None, None
        recordings = index.recordings
        rec_of_block = index.recording[np.array([b[0] for b in self.blocks])]
        if isinstance(weights, dict):
            names = sorted(weights)
            datasets = recordings["dataset"].to_numpy()[rec_of_block]
            unknown = sorted(set(datasets) - set(names))
            if unknown:
                raise ValueError(f"No mixing weight for dataset(s) {', '.join(unknown)}; weights name {', '.join(names)}.")
            groups = np.array([names.index(d) for d in datasets])
            return groups, np.array([float(weights[n]) for n in names])
        weights = np.asarray(list(weights), dtype=float)
        if len(weights) != n_stores:
            raise ValueError(f"Got {len(weights)} mixing weights for {n_stores} stores.")
        return recordings["store"].to_numpy()[rec_of_block], weights

    def epoch_blocks(self, epoch: int) -> np.ndarray:
        """The blocks of ``epoch`` in order (blocks repeat when weighted up)."""
        rng = np.random.default_rng([self.seed, int(epoch)])
        if self.groups is None:
            return rng.permutation(len(self.blocks))
        total = self.epoch_windows or int(self.block_sizes.sum())
        shares = self.group_weights / self.group_weights.sum()
        chosen = []
        for group, share in enumerate(shares):
            members = np.flatnonzero(self.groups == group)
            target, count = int(round(share * total)), 0
            while count < target and len(members):
                for block in rng.permutation(members):
                    if count >= target:
                        break
                    chosen.append(block)
                    count += int(self.block_sizes[block])
        return rng.permutation(np.asarray(chosen, dtype=np.int64))

    def rank_blocks(self, rank: int, world: int, epoch: int) -> tuple[list[int], int]:
        """Block ids of ``rank`` for ``epoch``, and the window count every rank gets."""
        order = self.epoch_blocks(epoch)
        per_rank = [order[r::world] for r in range(world)]
        sizes = [int(self.block_sizes[blocks].sum()) for blocks in per_rank]
        return [int(b) for b in per_rank[rank]], (min(sizes) if self.even else sizes[rank])

    def pop_order(self, blocks: list[int], limit: int, rng) -> tuple[np.ndarray, np.ndarray]:
        """The buffer's behaviour for one worker's epoch, computed on window indices alone.

        Returns ``keys`` (the pop order; a window's key is ``slot * n + window id``, n = windows
        in the index, so a weighted-up block that occurs twice in an epoch gives distinct keys)
        and ``insert_at`` (for each slot of ``blocks`` that enters the buffer, how many windows
        had been popped when it did). Blocks enter while the buffer holds fewer than
        ``buffer_size`` windows; each pop swaps a uniformly drawn window to the end and takes it.
        """
        n = self.n_windows
        total = min(int(limit), int(self.block_sizes[blocks].sum()) if len(blocks) else 0)
        keys = np.empty(total, dtype=np.int64)
        insert_at = np.empty(len(blocks), dtype=np.int64)
        draws = rng.random(total)
        buffer: list[int] = []
        slot = 0
        for popped in range(total):
            while slot < len(blocks) and len(buffer) < self.buffer_size:
                buffer.extend((slot * n + self.blocks[blocks[slot]]).tolist())
                insert_at[slot] = popped
                slot += 1
            j = int(draws[popped] * len(buffer))
            buffer[j], buffer[-1] = buffer[-1], buffer[j]
            keys[popped] = buffer.pop()
        return keys, insert_at[:slot]

    def worker_plan(self, epoch: int, rank: int, world: int, worker: int, n_workers: int) -> WorkerPlan:
        """What ``worker`` of ``rank`` serves in ``epoch``: its blocks dealt round-robin from the
        rank's, its share of the rank's window budget, the buffer replayed."""
        blocks, per_rank = self.rank_blocks(rank, world, epoch)
        mine = blocks[worker::n_workers]
        limit = worker_limits([int(self.block_sizes[blocks[w::n_workers]].sum()) for w in range(n_workers)], per_rank)[worker]
        keys, insert_at = self.pop_order(mine, limit, np.random.default_rng([self.seed, epoch, rank, worker]))
        slots, windows = np.divmod(keys, self.n_windows)
        last_pop = np.full(len(insert_at), -1, dtype=np.int64)
        last_pop[slots] = np.arange(len(keys))  # fancy assignment keeps the last occurrence
        release = np.argsort(last_pop, kind="stable")
        return WorkerPlan(mine, slots, windows, insert_at, last_pop, release[last_pop[release] >= 0])


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


__all__ = ["BlockSchedule", "WorkerPlan", "group_blocks", "worker_limits"]
