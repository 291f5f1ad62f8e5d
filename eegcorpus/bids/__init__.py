"""BIDS in and out: build a store from a BIDS dataset, export a store as one (mne-bids).

Needs the ``bids`` extra (``pip install "eegcorpus[bids]"``): mne-bids, and the writers it uses
for EDF (edfio), BrainVision (pybv) and EEGLAB (eeglabio). See docs/bids.md.
"""

from eegcorpus.bids.adapter import BIDSAdapter, BIDSError, dataset_name, read_description, read_participants
from eegcorpus.bids.build import build_bids

__all__ = ["BIDSAdapter", "BIDSError", "build_bids", "dataset_name", "read_description", "read_participants"]
