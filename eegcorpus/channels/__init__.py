"""Channel names, 3D positions and lobes."""

from eegcorpus.channels.lobes import LOBES, lobe_at, lobe_of
from eegcorpus.channels.names import ALIASES, canonical_name, clean_name, is_known_electrode, split_bipolar
from eegcorpus.channels.positions import channel_position, channel_positions
from eegcorpus.channels.template import electrode_table

__all__ = [
    "ALIASES",
    "LOBES",
    "canonical_name",
    "channel_position",
    "channel_positions",
    "clean_name",
    "electrode_table",
    "is_known_electrode",
    "lobe_at",
    "lobe_of",
    "split_bipolar",
]
