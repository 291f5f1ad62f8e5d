"""Window transforms: amplitude rejection, channel scaling and A-law companding (NeurIPT's normalisation)."""

from __future__ import annotations

import numpy as np

#: NeurIPT rejects windows in which any sample exceeds this many microvolts.
NEURIPT_REJECT_UV = 100.0
#: NeurIPT's A-law parameter.
NEURIPT_A = 0.25
#: Channels scaled at a time by :func:`scale_channels` (about 20 MB of float64 at 1,280 samples).
_SCALE_BLOCK_ROWS = 2048


def reject(window: np.ndarray, threshold_uv: float = NEURIPT_REJECT_UV, mask: np.ndarray | None = None) -> bool:
    """True when any sample of a (masked-in) channel exceeds ``threshold_uv`` in absolute value."""
    data = window if mask is None else window[mask]
    return bool(data.size) and float(np.abs(data).max()) > threshold_uv


def scale_channels(x: np.ndarray, rms_uv: float) -> np.ndarray:
    """Scale every channel of every window to the root mean square ``rms_uv`` (microvolts).

    Each window is scaled on its own (its channels' RMS over its samples), so the result does not
    depend on any other window. What is left is the spectral shape and the time course of each
    channel; what is removed is its gain, which differs between people, electrodes and sessions.
    A channel of zeros (padding) stays zeros.

    Parameters
    ----------
    x : ndarray, shape (..., n_channels, n_times)
        Microvolts.
    rms_uv : float
        The RMS every channel is given, in microvolts.

    Returns
    -------
    ndarray of float32, the shape of ``x``
    """
    if not rms_uv > 0:
        raise ValueError(f"Invalid value for the 'rms_uv' parameter: a positive number of microvolts, but got {rms_uv}.")
    x = np.asarray(x, dtype=np.float32)
    # One channel per row, in blocks: float64 arithmetic without a float64 copy of all the
    # windows (a task may hold 8 GB of them)
    rows, out = x.reshape(-1, x.shape[-1]), np.empty(x.shape, dtype=np.float32)
    out_rows = out.reshape(rows.shape)
    for start in range(0, len(rows), _SCALE_BLOCK_ROWS):
        block = rows[start : start + _SCALE_BLOCK_ROWS]
        rms = np.sqrt(np.mean(np.square(block, dtype=np.float64), axis=-1, keepdims=True))
        out_rows[start : start + _SCALE_BLOCK_ROWS] = block * np.divide(rms_uv, rms, out=np.zeros_like(rms), where=rms > 0)
    return out


def a_law(x: np.ndarray, a: float = NEURIPT_A) -> np.ndarray:
    """A-law companding as NeurIPT's code writes it (input in microvolts).

    ``y = sign(x) * A|x| / (e + ln A)`` for ``|x| < 1/A``, else
    ``sign(x) * (1 + ln(A|x|)) / (e + ln A)``. Textbook A-law divides by ``1 + ln A``; the
    paper's code divides by ``e + ln A``, and the model was trained on that, so we keep it
    (docs/loader.md). The two branches meet at ``|x| = 1/A``.
    """
    x = np.asarray(x, dtype=np.float32)
    mag = np.abs(x)
    denom = np.float32(np.e + np.log(a))
    a = np.float32(a)
    # Both branches over the whole array (the log of the clipped magnitude is finite) and one
    # select: no boolean-mask gathers and scatters, the same float32 values. The log dominates
    # (about 30 ns per sample on one core): on large batches this costs more than reading.
    linear = a * mag / denom
    compressed = (np.float32(1.0) + np.log(np.maximum(a * mag, np.float32(1.0)))) / denom
    return np.copysign(np.where(mag < np.float32(1.0) / a, linear, compressed), x)
