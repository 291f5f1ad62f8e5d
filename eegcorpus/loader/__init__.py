"""Windows from eegcorpus stores into PyTorch: index, montages, transforms, datasets, batching.

The index (:mod:`~eegcorpus.loader.windows`), the montages and the stream's schedule
(:mod:`~eegcorpus.loader.schedule`) need no torch; the names below load their module on first
use, so importing one of those does not import torch.
"""

import importlib

_WHERE = {
    "MontageBatchSampler": "collate",
    "pad_collate": "collate",
    "WindowDataset": "dataset",
    "WindowStream": "dataset",
    "dataloader_kwargs": "dataset",
    "NEURIPT_DOUBLE_BANANA": "montage",
    "AverageReference": "montage",
    "BipolarMontage": "montage",
    "ChannelSubset": "montage",
    "get_montage": "montage",
    "BlockSchedule": "schedule",
    "a_law": "transforms",
    "scale_channels": "transforms",
    "reject": "transforms",
    "WindowIndex": "windows",
    "WindowSpec": "windows",
    "build_index": "windows",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"eegcorpus.loader.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'eegcorpus.loader' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_WHERE))


__all__ = sorted(_WHERE)
