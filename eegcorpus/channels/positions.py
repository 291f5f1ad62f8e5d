"""3D electrode positions (metres, MNE head frame: +x right, +y nasion, +z up).

Positions come from MNE's ``standard_1005`` template transformed to the head frame and frozen
in ``standard_1005.tsv`` (see ``_make_position_table.py``). A bipolar channel sits at the
midpoint of its two electrodes.
"""

from __future__ import annotations

import warnings

import numpy as np

from eegcorpus._validate import check_option
from eegcorpus.channels.names import canonical_name, split_bipolar
from eegcorpus.channels.template import electrode_table
from eegcorpus.errors import ChannelError


def channel_position(name: str) -> np.ndarray | None:
    """Position of one channel (canonicalised first); None when unknown."""
    table = electrode_table()
    bipolar = split_bipolar(name)
    if bipolar:
        return (table[bipolar[0]] + table[bipolar[1]]) / 2.0
    return table.get(canonical_name(name))


def channel_positions(names, on_missing: str = "raise") -> tuple[np.ndarray, np.ndarray]:
    """Positions of channels, with a policy for channels that have none.

    Parameters
    ----------
    names : list of str
        Channel names as in the file, or canonical.
    on_missing : "raise" | "warn" | "nan"
        What to do when a channel has no known position: raise a :class:`ChannelError` that
        lists them, warn and give NaN, or silently give NaN. Check ``has_position`` either way.

    Returns
    -------
    positions : ndarray, shape (n_channels, 3)
        Metres, head frame; NaN rows for channels without a position.
    has_position : ndarray of bool, shape (n_channels,)
    """
    check_option("on_missing", on_missing, ("raise", "warn", "nan"))
    names = list(names)
    positions = np.full((len(names), 3), np.nan)
    for i, name in enumerate(names):
        pos = channel_position(name)
        if pos is not None:
            positions[i] = pos
    has_position = ~np.isnan(positions).any(axis=1)
    missing = [n for n, ok in zip(names, has_position) if not ok]
    if missing and on_missing != "nan":
        message = (
            f"{len(missing)} channel(s) have no known position: {', '.join(missing[:10])}"
            f"{' ...' if len(missing) > 10 else ''}. Pass on_missing='nan' to keep them with NaN "
            f"positions, or drop them."
        )
        if on_missing == "raise":
            raise ChannelError(message)
        warnings.warn(message, stacklevel=2)
    return positions, has_position
