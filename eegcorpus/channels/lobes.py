"""Brain lobe of each electrode, used by lobe pooling in the model.

Six lobes: ``frontal``, ``central``, ``parietal``, ``occipital``, ``temporal-left`` and
``temporal-right``. The rule reads the 10-05 name (letters = row, number = column):

* rows Fp, AFp, AF, AFF, F, FFC -> frontal; FC, FCC, C, CCP -> central (fronto-central
  border electrodes go with the motor strip); CP, CPP, P, PPO -> parietal (centro-parietal border
  goes posterior); PO, POO, O, OI, I -> occipital;
* rows FFT, FT, FTT, T, TT, TTP, TP, TPP and the ear/mastoid sites A, M -> temporal;
* the lateral 9/10 column of the F..P rows (F9, P9, P10, ...) and P7/P8 (the old 10-20 T5/T6)
  lie over the temporal lobe -> temporal;
* temporal electrodes are left for odd numbers, right for even; midline (``z``) electrodes follow
  their row, so a midline electrode is never temporal;
* a bipolar channel takes the lobe of the 10-05 electrode nearest to its midpoint (``F3-C3`` ->
  FC3 -> central, ``T5-O1`` -> PO7 -> occipital), which reproduces NeurIPT's double-banana groups;
  when no electrode is within 4 cm of the midpoint (``A2-A1``) it has no lobe.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

LOBES: tuple[str, ...] = ("frontal", "central", "parietal", "occipital", "temporal-left", "temporal-right")

_ROW_LOBE = {
    **dict.fromkeys(("Fp", "AFp", "AF", "AFF", "F", "FFC"), "frontal"),
    **dict.fromkeys(("FC", "FCC", "C", "CCP"), "central"),
    **dict.fromkeys(("CP", "CPP", "P", "PPO"), "parietal"),
    **dict.fromkeys(("PO", "POO", "O", "OI", "I"), "occipital"),
    **dict.fromkeys(("FFT", "FT", "FTT", "T", "TT", "TTP", "TP", "TPP", "A", "M"), "temporal"),
}
_LATERAL_TEMPORAL_ROWS = {"F", "FFC", "FC", "FCC", "C", "CCP", "CP", "CPP", "P", "PPO"}
_NAME = re.compile(r"^([A-Za-z]+?)(?:z|(\d+)h?)$")
#: A bipolar channel farther than this from every electrode (``A2-A1``: the midpoint of the two
#: ears is the middle of the head) has no meaningful lobe.
_MAX_BIPOLAR_DISTANCE_M = 0.04


def _electrode_lobe(name: str) -> str | None:
    match = _NAME.match(name)
    if not match:
        return None
    row, number = match.group(1), match.group(2)
    lobe = _ROW_LOBE.get(row)
    if lobe is None:
        return None
    if number is None:  # midline: follows its row, and no row on the midline is temporal
        return lobe if lobe != "temporal" else None
    number = int(number)
    if (row in _LATERAL_TEMPORAL_ROWS and number in (9, 10)) or (row == "P" and number in (7, 8)):
        lobe = "temporal"
    if lobe == "temporal":
        return "temporal-left" if number % 2 else "temporal-right"
    return lobe


@lru_cache(maxsize=1)
def _named_grid() -> tuple[list[str], np.ndarray]:
    from eegcorpus.channels.names import ALIASES
    from eegcorpus.channels.template import electrode_table

    # Old aliases share positions with their successors; keep one name per site.
    names = [n for n in electrode_table() if n not in ALIASES]
    return names, np.stack([electrode_table()[n] for n in names])


def lobe_of(name: str) -> str | None:
    """Lobe of a channel (any spelling, monopolar or bipolar); None when it has no position."""
    from eegcorpus.channels.names import canonical_name, split_bipolar
    from eegcorpus.channels.positions import channel_position

    if split_bipolar(name):
        return lobe_at(channel_position(name))
    return _electrode_lobe(canonical_name(name))


def lobe_at(position, max_distance_m: float = _MAX_BIPOLAR_DISTANCE_M) -> str | None:
    """Lobe of the template electrode nearest to a head-frame ``position`` (metres), or None
    when none lies within ``max_distance_m``: the lobe of a bipolar pair's midpoint, or of an
    electrode whose name the template does not know but whose position a file states."""
    position = np.asarray(position, dtype=float)
    if position.shape != (3,) or not np.all(np.isfinite(position)):
        return None
    names, grid = _named_grid()
    distances = np.linalg.norm(grid - position, axis=1)
    nearest = int(np.argmin(distances))
    if distances[nearest] > max_distance_m:
        return None
    return _electrode_lobe(names[nearest])
