"""neuript: a slim, faithful PyTorch NeurIPT that trains from eegcorpus zarr stores.

One module per concept: ``config``, ``embedding``, ``attention``, ``moe``, ``masking``,
``decoder``, ``heads`` and ``model`` make the network; ``pretrain``, ``finetune``, ``tasks``,
``splits``, ``leakage``, ``metrics`` and ``report`` train and evaluate it from the stores.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("eegcorpus")  # neuript ships in the eegcorpus distribution
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
