"""Batching windows of different montages: padding with a channel mask, or grouping."""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def pad_collate(items: list[dict]) -> dict:
    """Stack items, padding the channel axis to the widest item.

    Padded channels get zeros in ``x``/``pos``, lobe -1 and ``ch_mask`` False; since positions
    and lobes travel with every window, channel identity is carried by them, not by row index.
    """
    import torch

    width = max(item["x"].shape[0] for item in items)
    out: dict = {}
    for key in ("x", "pos", "lobe", "ch_mask"):
        fill = -1 if key == "lobe" else 0
        rows = []
        for item in items:
            value = item[key]
            pad = width - value.shape[0]
            if pad:
                shape = (pad,) + tuple(value.shape[1:])
                value = torch.cat([value, torch.full(shape, fill, dtype=value.dtype)])
            rows.append(value)
        out[key] = torch.stack(rows)
    for key in items[0]:
        if key not in out:
            out[key] = torch.stack([item[key] for item in items])
    return out


class MontageBatchSampler:
    """Batches of indices whose windows share a channel layout (no padding needed).

    ``keys[i]`` identifies the layout of item ``i`` (e.g. its montage's channel names). Batches
    are shuffled each epoch with ``seed + epoch``; ``set_epoch`` selects the epoch.
    """

    def __init__(self, keys, batch_size: int, shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        groups: dict = defaultdict(list)
        for i, key in enumerate(keys):
            groups[key].append(i)
        self.groups = [np.asarray(v, dtype=np.int64) for v in groups.values()]
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _batches(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        batches = []
        for group in self.groups:
            order = rng.permutation(group) if self.shuffle else group
            for k in range(0, len(order), self.batch_size):
                batch = order[k : k + self.batch_size]
                if len(batch) == self.batch_size or not self.drop_last:
                    batches.append(batch.tolist())
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())
