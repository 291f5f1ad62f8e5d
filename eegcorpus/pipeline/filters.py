"""Signal-processing steps: zero-phase FIR band-pass, notch, polyphase resampling.

Plain functions on ``[channel, time]`` arrays, each testable alone. The FIR design follows MNE's
rules (``mne.filter.create_filter`` with ``fir_design="firwin"``, Hamming window, "auto"
transition bands and lengths), so a profile means the same filter here and in an MNE pipeline:

* lower transition ``min(max(0.25 l_freq, 2), l_freq)``; upper ``min(max(0.25 h_freq, 2),
  sfreq/2 - h_freq)``;
* filter length ``3.3 / min(transition) * sfreq`` samples, made odd;
* a band-pass is the difference of two centred ``firwin`` low-passes, each as long as its own
  transition needs;
* zero phase: the linear-phase filter is applied forward once and its delay removed, after
  padding both ends with an odd reflection of the signal (MNE's ``reflect_limited``).

The work is done with FFT convolution in float64 over all channels at once.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import fft as sp_fft

_HAMMING_LENGTH_FACTOR = 3.3


def _odd(n: float) -> int:
    n = int(round(n))
    return n + (1 - n % 2)


def auto_transitions(sfreq: float, l_freq: float | None, h_freq: float | None) -> tuple[float | None, float | None]:
    """MNE's "auto" transition bandwidths (Hz) for a high-pass edge and a low-pass edge."""
    l_trans = min(max(0.25 * l_freq, 2.0), l_freq) if l_freq is not None else None
    h_trans = min(max(0.25 * h_freq, 2.0), sfreq / 2.0 - h_freq) if h_freq is not None else None
    return l_trans, h_trans


def _lowpass_taps(n_taps: int, cutoff: float, sfreq: float) -> np.ndarray:
    """Hamming-windowed sinc low-pass with unit gain at DC: ``scipy.signal.firwin(n_taps,
    cutoff, window="hamming", fs=sfreq)``, which the tests compare it with.

    Written out because importing ``scipy.signal`` for this one function costs about a second
    in every process that builds (the whole of ``scipy.stats`` comes with it)."""
    nyquist_fraction = cutoff / (sfreq / 2.0)
    offsets = np.arange(n_taps) - (n_taps - 1) / 2.0
    taps = nyquist_fraction * np.sinc(nyquist_fraction * offsets) * np.hamming(n_taps)
    return taps / taps.sum()


def _centred(taps: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(length)
    start = (length - len(taps)) // 2
    out[start : start + len(taps)] = taps
    return out


def design_bandpass(
    sfreq: float,
    l_freq: float | None,
    h_freq: float | None,
    l_trans: float | None = None,
    h_trans: float | None = None,
) -> np.ndarray:
    """Linear-phase FIR taps (odd length) for a high-, low- or band-pass.

    Parameters
    ----------
    sfreq : float
        Sampling rate in Hz.
    l_freq, h_freq : float | None
        Pass-band edges in Hz; None leaves that side open.
    l_trans, h_trans : float | None
        Transition bandwidths in Hz; MNE's "auto" rule at ``sfreq`` when None.
    """
    if l_freq is None and h_freq is None:
        raise ValueError("At least one of l_freq and h_freq must be given.")
    nyquist = sfreq / 2.0
    if h_freq is not None and h_freq >= nyquist:
        raise ValueError(f"Invalid value for the 'h_freq' parameter: {h_freq} Hz is not below Nyquist ({nyquist} Hz).")
    if l_freq is not None and l_freq <= 0:
        raise ValueError(f"Invalid value for the 'l_freq' parameter: must be positive, got {l_freq}.")
    auto_l, auto_h = auto_transitions(sfreq, l_freq, h_freq)
    l_trans = auto_l if l_trans is None else l_trans
    h_trans = auto_h if h_trans is None else h_trans
    if h_freq is not None and h_freq + h_trans > nyquist + 1e-9:
        raise ValueError(f"Invalid value for the 'h_trans' parameter: the stop edge {h_freq + h_trans} Hz lies above Nyquist ({nyquist} Hz).")
    widest = min(t for t in (l_trans, h_trans) if t is not None)
    n_taps = _odd(_HAMMING_LENGTH_FACTOR / widest * sfreq)
    taps = np.zeros(n_taps)
    if h_freq is not None:
        n_h = _odd(_HAMMING_LENGTH_FACTOR / h_trans * sfreq)
        taps += _centred(_lowpass_taps(n_h, h_freq + h_trans / 2.0, sfreq), n_taps)
    else:
        taps[n_taps // 2] = 1.0  # all-pass, from which the high-pass subtracts
    if l_freq is not None:
        n_l = _odd(_HAMMING_LENGTH_FACTOR / l_trans * sfreq)
        taps -= _centred(_lowpass_taps(n_l, l_freq - l_trans / 2.0, sfreq), n_taps)
    return taps


def design_notch(sfreq: float, freq: float, width: float | None = None, trans_bandwidth: float = 1.0) -> np.ndarray:
    """Band-stop FIR taps around ``freq`` (MNE's FIR notch: width ``freq/200``, 1 Hz transition)."""
    width = freq / 200.0 if width is None else width
    stop_low, stop_high = freq - width / 2.0, freq + width / 2.0
    half = trans_bandwidth / 2.0
    if stop_high + half >= sfreq / 2.0:
        raise ValueError(f"Invalid value for the 'freq' parameter: a notch at {freq} Hz needs a rate above {2 * (stop_high + half)} Hz, got {sfreq}.")
    n_taps = _odd(_HAMMING_LENGTH_FACTOR / half * sfreq)
    # Pass below stop_low - half and above stop_high + half: all-pass minus a band-pass.
    band = _lowpass_taps(n_taps, stop_high + half / 2.0, sfreq) - _lowpass_taps(n_taps, stop_low - half / 2.0, sfreq)
    taps = -band
    taps[n_taps // 2] += 1.0
    return taps


def _pad_odd_reflect(x: np.ndarray, n_pad: int, total: int | None = None) -> np.ndarray:
    """Pad the last axis of 2-D ``x`` by an odd reflection (``2 x[0] - x[k]``), limited to the
    signal length, then zeros; optionally extend the right end to ``total`` samples by repeating
    the last value. One allocation (``np.pad`` made three)."""
    n_rows, n = x.shape
    reflect = min(n_pad, n - 1)
    total = n + 2 * n_pad if total is None else total
    out = np.zeros((n_rows, total), dtype=x.dtype)
    out[:, n_pad : n_pad + n] = x
    if reflect:
        out[:, n_pad - reflect : n_pad] = 2 * x[:, :1] - x[:, reflect:0:-1]
        out[:, n_pad + n : n_pad + n + reflect] = 2 * x[:, -1:] - x[:, -2 : -reflect - 2 : -1]
    tail = n_pad + n + n_pad
    if total > tail:
        out[:, tail:] = out[:, tail - 1 : tail]
    return out


def _best_fft_length(n: int, n_taps: int) -> int:
    """The power-of-two FFT length with the least total work for overlap-add (MNE's rule)."""
    candidates = 2 ** np.arange(int(np.ceil(np.log2(n_taps))), int(np.ceil(np.log2(n + n_taps))) + 2)
    candidates = candidates[candidates >= 2 * n_taps - 1] if np.any(candidates >= 2 * n_taps - 1) else candidates[-1:]
    cost = np.ceil(n / (candidates - n_taps + 1)) * candidates * (np.log2(candidates) + 1)
    return int(candidates[np.argmin(cost)])


def _overlap_add(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Full linear convolution of each row of 2-D ``x`` with ``taps``, by FFT overlap-add.

    All blocks of all channels go through one batched real FFT, and the kernel's FFT is taken
    once; the block length is a fast FFT size about four times the kernel length, which keeps
    the cost near ``n log(kernel)`` per sample.
    """
    n_taps = len(taps)
    n_ch, n = x.shape
    n_fft = _best_fft_length(n, n_taps)
    block = n_fft - n_taps + 1
    n_blocks = -(-n // block)
    blocks = np.zeros((n_ch, n_blocks, block), dtype=x.dtype)
    blocks.reshape(n_ch, -1)[:, :n] = x
    spectrum = sp_fft.rfft(blocks, n=n_fft, axis=-1)
    spectrum *= sp_fft.rfft(taps.astype(x.dtype), n=n_fft)
    filtered = sp_fft.irfft(spectrum, n=n_fft, axis=-1)
    # Each block's output is n_fft long: its first `block` samples land on the block itself and
    # the remaining n_taps - 1 spill into the following blocks.
    tail = n_taps - 1
    spill = -(-tail // block)
    out = np.zeros((n_ch, (n_blocks + spill) * block), dtype=x.dtype)
    for k in range(spill + 1):
        width = min(block, n_fft - k * block)
        view = out[:, k * block : k * block + n_blocks * block].reshape(n_ch, n_blocks, block)
        view[:, :, :width] += filtered[:, :, k * block : k * block + width]
    return out[:, : n + n_taps - 1]


def apply_zero_phase(x: np.ndarray, taps: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Apply linear-phase ``taps`` along the last axis with zero delay.

    ``dtype`` float32 (default) halves the FFT work; its rounding (about 1e-7 of the signal's
    scale) is far below the 0.1 uV storage step.
    """
    x = np.asarray(x, dtype=dtype)
    squeeze = x.ndim == 1
    x2 = x[None, :] if squeeze else x.reshape(-1, x.shape[-1])
    n = x2.shape[-1]
    n_pad = len(taps) - 1
    full = _overlap_add(_pad_odd_reflect(x2, n_pad), taps)
    # Removing the (len(taps) - 1) / 2 delay of the linear-phase filter makes it zero-phase.
    delay = n_pad // 2
    out = full[:, n_pad + delay : n_pad + delay + n]
    return out[0] if squeeze else out.reshape(x.shape)


def bandpass(x: np.ndarray, sfreq: float, l_freq: float | None, h_freq: float | None) -> np.ndarray:
    """Zero-phase FIR band-pass (or high-/low-pass when one edge is None)."""
    return apply_zero_phase(x, design_bandpass(sfreq, l_freq, h_freq))


def working_rate(sfreq: float, target: float, h_stop: float | None) -> float:
    """The lowest multiple of ``target`` (not above ``sfreq``) whose Nyquist frequency holds
    ``h_stop``, the low-pass stop edge.

    Band-pass, notch and resampling are linear, and the band-pass removes everything above
    ``h_stop``; so a recording can first be resampled to this rate and filtered there with the
    same specification, at a fraction of the cost (500 Hz MentalArithmetic under the NeurIPT
    profile is filtered at 128 Hz: four times fewer samples and a four times shorter filter).
    Returns ``sfreq`` when no such multiple is lower.
    """
    if h_stop is None or target >= sfreq:
        return sfreq
    k = 1
    while k * target < sfreq:
        rate = k * target
        if rate / 2.0 >= h_stop:
            return float(rate)
        k += 1
    return sfreq


def notch_frequencies(line_freq: float, sfreq: float, upper_edge: float | None) -> list[float]:
    """The line frequency and its harmonics that a notch must remove.

    Only harmonics that would survive the rest of the chain are kept: those below both
    ``upper_edge`` (the low-pass stop frequency, when there is one) and the Nyquist frequency
    less the notch's half transition. A harmonic above the low-pass stop band is already
    attenuated by it (by more than 50 dB for the Hamming design), so notching it changes nothing.
    """
    limit = sfreq / 2.0 - 1.0
    if upper_edge is not None:
        limit = min(limit, upper_edge)
    return [k * line_freq for k in range(1, int(limit // line_freq) + 1) if k * line_freq < limit]


def notch(x: np.ndarray, sfreq: float, freqs) -> np.ndarray:
    """Zero-phase FIR notch at each of ``freqs``, one after another."""
    out = np.asarray(x, dtype=np.float32)
    for f in freqs:
        out = apply_zero_phase(out, design_notch(sfreq, f))
    return out


#: Samples of odd-reflection padding on each side before FFT resampling (MNE uses 100).
_RESAMPLE_PAD = 100


def resample(x: np.ndarray, sfreq: float, new_sfreq: float) -> np.ndarray:
    """FFT resampling along the last axis, with odd-reflection padding against edge effects.

    The spectrum is cut (or zero-extended) at the new Nyquist frequency, as
    ``mne.filter.resample`` does. Polyphase resampling was tried first and rejected: its
    Kaiser anti-alias filter rolls off well below the new Nyquist frequency, which on real EEG
    band-passed to 0.1-30 Hz and resampled to 64 Hz left channels correlating only 0.9987 with
    MNE's result. The padded length is picked to be a fast FFT size whose resampled length is
    exact, so no sample is interpolated twice.
    """
    if new_sfreq == sfreq:
        return np.asarray(x)
    ratio = Fraction(new_sfreq / sfreq).limit_denominator(10_000)
    if abs(float(ratio) - new_sfreq / sfreq) > 1e-9:
        raise ValueError(f"Cannot resample {sfreq} Hz to {new_sfreq} Hz with a rational factor.")
    up, down = ratio.numerator, ratio.denominator
    x = np.asarray(x)
    n = x.shape[-1]
    pad = -(-_RESAMPLE_PAD // down) * down  # a multiple of `down`: the crop is exact
    length = n + 2 * pad
    while length % down or sp_fft.next_fast_len(length, real=True) != length:
        length += 1
    padded = _pad_odd_reflect(x.reshape(-1, n), pad, total=length)
    out = _fft_resample_periodic(padded, length * up // down)
    start = pad * up // down
    out = out[:, start : start + resampled_length(n, sfreq, new_sfreq)]
    return out.reshape(x.shape[:-1] + (out.shape[-1],)).astype(x.dtype, copy=False)


def _fft_resample_periodic(x: np.ndarray, new_length: int) -> np.ndarray:
    """Resample periodic rows of ``x`` to ``new_length`` samples by cutting or zero-extending
    their spectrum (what ``scipy.signal.resample`` does, in real FFTs).

    The one unpaired bin at an even length's Nyquist frequency is where the two directions
    differ: downsampling folds the pair of bins at the new Nyquist frequency into it (doubled:
    ``irfft`` reads only its real part, so a cosine there keeps its amplitude), upsampling
    splits the old Nyquist bin into a pair (halved), as scipy and MNE do.
    """
    length = x.shape[-1]
    shorter = min(length, new_length)
    spectrum = sp_fft.rfft(x, axis=-1)
    out_spectrum = np.zeros(x.shape[:-1] + (new_length // 2 + 1,), dtype=spectrum.dtype)
    out_spectrum[..., : shorter // 2 + 1] = spectrum[..., : shorter // 2 + 1]
    if shorter % 2 == 0 and new_length != length:
        out_spectrum[..., shorter // 2] *= 2.0 if new_length < length else 0.5
    return sp_fft.irfft(out_spectrum, n=new_length, axis=-1) * (new_length / length)


def resampled_length(n_samples: int, sfreq: float, new_sfreq: float) -> int:
    """Number of samples :func:`resample` returns."""
    ratio = Fraction(new_sfreq / sfreq).limit_denominator(10_000)
    return int(np.ceil(n_samples * ratio.numerator / ratio.denominator))
