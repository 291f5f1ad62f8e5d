"""Windows from eegcorpus stores into PyTorch: index, montages, transforms, datasets, batching."""

from eegcorpus.loader.collate import MontageBatchSampler, pad_collate
from eegcorpus.loader.dataset import WindowDataset, WindowStream, dataloader_kwargs
from eegcorpus.loader.montage import NEURIPT_DOUBLE_BANANA, AverageReference, BipolarMontage, ChannelSubset, get_montage
from eegcorpus.loader.transforms import a_law, reject
from eegcorpus.loader.windows import WindowIndex, WindowSpec, build_index

__all__ = [
    "NEURIPT_DOUBLE_BANANA",
    "AverageReference",
    "BipolarMontage",
    "ChannelSubset",
    "MontageBatchSampler",
    "WindowDataset",
    "WindowIndex",
    "WindowSpec",
    "WindowStream",
    "a_law",
    "build_index",
    "dataloader_kwargs",
    "get_montage",
    "pad_collate",
    "reject",
]
