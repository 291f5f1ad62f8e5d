"""neuript: a slim, faithful PyTorch NeurIPT that trains from eegcorpus zarr stores.

The model lands in its own modules (embedding, attention, moe, masking, decoder, heads,
config); until then this package only carries the command-line entry point.
"""

__version__ = "0.1.0"
