"""Regenerate ``standard_1005.tsv`` from MNE's template montage, in the head frame.

MNE ships the 10-05 template in MRI coordinates and is renaming it (``standard_1005`` ->
``colin27_1005``); the table freezes the head-frame positions so that runtime does not depend on
MNE's montage API or pay for importing MNE. ``tests/test_channels.py`` checks it against MNE.

Run: ``python -m eegcorpus.channels._make_position_table``
"""

from __future__ import annotations

import warnings
from pathlib import Path

TABLE = Path(__file__).with_name("standard_1005.tsv")


def standard_head_montage():
    """MNE's ``standard_1005`` montage transformed to the head frame (electrodes and fiducials)."""
    import mne
    from mne.channels.montage import transform_to_head

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the montage rename
        montage = mne.channels.make_standard_montage("standard_1005")
    return transform_to_head(montage)


def head_frame_positions() -> dict[str, tuple[float, float, float]]:
    """MNE ``standard_1005`` electrode positions transformed to the head frame (metres)."""
    positions = standard_head_montage().get_positions()["ch_pos"]
    return {name: tuple(float(v) for v in xyz) for name, xyz in positions.items()}


def main() -> None:
    rows = ["name\tx_m\ty_m\tz_m"]
    rows += [f"{n}\t{x:.7f}\t{y:.7f}\t{z:.7f}" for n, (x, y, z) in head_frame_positions().items()]
    TABLE.write_text("\n".join(rows) + "\n")
    print(f"wrote {len(rows) - 1} positions to {TABLE}")


if __name__ == "__main__":
    main()
