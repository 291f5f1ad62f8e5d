"""The electrode template: every 10-05 electrode's position, as frozen in ``standard_1005.tsv``.

MNE's ``standard_1005`` montage transformed to the head frame (metres: +x right, +y nasion,
+z up); ``_make_position_table.py`` regenerates the file. Names and positions both read it, so
it sits below them both.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np

TEMPLATE_TSV = Path(__file__).with_name("standard_1005.tsv")


@cache
def electrode_table() -> dict[str, np.ndarray]:
    """Electrode name -> position (3,) in metres, for every 10-05 electrode (343 entries)."""
    table = {}
    for line in TEMPLATE_TSV.read_text().splitlines()[1:]:
        name, x, y, z = line.split("\t")
        table[name] = np.array([float(x), float(y), float(z)])
    return table


__all__ = ["TEMPLATE_TSV", "electrode_table"]
