"""Quality-control flags of a stored recording, measured on its signal read block by block.

A recording is flagged

- **flat** when a channel's standard deviation is below :data:`FLAT_STD_UV`;
- **saturated** when a channel sits at its own extreme value for many samples (clipping), on
  the stored signal (:func:`saturated_channels`) or on the raw signal the build saw (its ``qc``
  attribute);
- **high amplitude** when a channel's robust standard deviation exceeds
  :data:`HIGH_AMPLITUDE_UV`;
- **short** when it lasts less than :data:`SHORT_DURATION_S`.

The measures are accumulated over consecutive time blocks by :class:`SignalScan`, so a recording
of hours is never held in memory whole; :func:`channel_qc` scans one array at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eegcorpus.build import FLAT_STD_UV, SATURATION_FRACTION

__all__ = [
    "FLAT_STD_UV",
    "HIGH_AMPLITUDE_UV",
    "ROBUST_SAMPLES",
    "SATURATION_FRACTION",
    "SATURATION_MIN_SAMPLES",
    "SHORT_DURATION_S",
    "ChannelQC",
    "RecordingFlags",
    "SignalScan",
    "channel_qc",
    "flat_channels",
    "high_amplitude_channels",
    "is_short",
    "recording_flags",
    "robust_sd",
    "saturated_channels",
]

# FLAT_STD_UV (0.5 uV) and SATURATION_FRACTION (1e-3) are the build's own thresholds
# (eegcorpus.build), so that the report and ``eegcorpus stats`` call the same channels flat and
# saturated: a standard deviation of half a microvolt is below the noise floor of any amplifier
# with an electrode attached (a disconnected or bridged-to-reference channel), and clipping
# leaves plateaus at the extremes that take far more than one sample in a thousand.

#: A channel is saturated only when at least this many samples sit at its extreme value, as well
#: as more than :data:`SATURATION_FRACTION` of them: the peak of a smooth wave rounded to the
#: storage step (0.1 uV) can repeat for two or three samples, which in a short recording is
#: already more than one in a thousand.
SATURATION_MIN_SAMPLES = 8

#: A channel whose robust standard deviation (1.4826 x the median absolute deviation, which
#: brief blinks and movements do not move) exceeds this is dominated by noise, drift, a loose
#: electrode or a wrong unit. Background scalp EEG band-passed as the profiles do has a robust
#: standard deviation of a few tens of microvolts (EEGMMIDB S001: 21-77 uV per channel).
HIGH_AMPLITUDE_UV = 150.0

#: A recording shorter than this is short: the catalog's resting and task recordings last a
#: minute or more (EEGMMIDB's shortest runs 61 s), so a shorter one is usually a truncated file or
#: an aborted run, and it gives few training windows.
SHORT_DURATION_S = 30.0

#: The robust standard deviation is taken on at most about this many samples per channel,
#: evenly strided over the whole recording (as the build's percentiles are): a median does not
#: need every sample of hours of signal.
ROBUST_SAMPLES = 8192

#: The scale factor from the median absolute deviation to the standard deviation of a Gaussian.
_MAD_TO_SD = 1.4826


@dataclass
class ChannelQC:
    """Per-channel measures of one recording (arrays of one value per channel, microvolts).

    Attributes
    ----------
    n_samples : int
        Samples per channel.
    std_uv : numpy.ndarray
        Standard deviation over all samples.
    minimum_uv, maximum_uv : numpy.ndarray
        Extreme values over all samples.
    at_extreme : numpy.ndarray
        Number of samples equal to the channel's minimum or maximum.
    robust_sd_uv : numpy.ndarray
        :func:`robust_sd` of the strided samples (see :data:`ROBUST_SAMPLES`).
    """

    n_samples: int
    std_uv: np.ndarray
    minimum_uv: np.ndarray
    maximum_uv: np.ndarray
    at_extreme: np.ndarray
    robust_sd_uv: np.ndarray


def robust_sd(data: np.ndarray) -> np.ndarray:
    """The robust standard deviation of each row: 1.4826 x the median absolute deviation from
    the row's median (equals the standard deviation for Gaussian data; a few large excursions
    barely change it)."""
    data = np.asarray(data, dtype=np.float64)
    if data.shape[-1] == 0:
        return np.full(data.shape[:-1], np.nan)
    median = np.median(data, axis=-1, keepdims=True)
    return _MAD_TO_SD * np.median(np.abs(data - median), axis=-1)


class SignalScan:
    """Accumulates :class:`ChannelQC` over consecutive time blocks of one recording.

    Parameters
    ----------
    n_channels : int
        Rows of every block.
    n_samples : int
        Samples per channel of the whole recording (sets the stride of the robust samples).
    robust_samples : int
        About how many samples per channel the robust standard deviation is taken on.

    Examples
    --------
    >>> scan = SignalScan(2, 1000)
    >>> for start in range(0, 1000, 300):
    ...     scan.update(data[:, start : start + 300])  # doctest: +SKIP
    >>> scan.result().std_uv  # doctest: +SKIP
    """

    def __init__(self, n_channels: int, n_samples: int, robust_samples: int = ROBUST_SAMPLES):
        self.n_channels = int(n_channels)
        self.n_samples = int(n_samples)
        self.stride = max(1, self.n_samples // max(1, int(robust_samples)))
        self._seen = 0
        self._mean = np.zeros(self.n_channels)
        self._m2 = np.zeros(self.n_channels)
        self._max = np.full(self.n_channels, -np.inf)
        self._min = np.full(self.n_channels, np.inf)
        self._n_max = np.zeros(self.n_channels, dtype=np.int64)
        self._n_min = np.zeros(self.n_channels, dtype=np.int64)
        self._strided: list[np.ndarray] = []

    def update(self, block: np.ndarray) -> None:
        """Add the next block ``[channel, time]`` (microvolts), in time order."""
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or block.shape[0] != self.n_channels:
            raise ValueError(f"Invalid block shape {block.shape}: expected ({self.n_channels}, samples).")
        n = block.shape[1]
        if n == 0:
            return
        # Variance: Chan et al.'s pairwise update, exact in float64 whatever the block sizes.
        mean = block.mean(axis=1)
        m2 = ((block - mean[:, None]) ** 2).sum(axis=1)
        total = self._seen + n
        delta = mean - self._mean
        self._m2 += m2 + delta**2 * self._seen * n / total
        self._mean += delta * n / total
        # Extremes, and how many samples sit at them (a new extreme restarts its count).
        top, bottom = block.max(axis=1), block.min(axis=1)
        self._n_max = np.where(top > self._max, 0, self._n_max) + np.where(top >= self._max, np.count_nonzero(block == top[:, None], axis=1), 0)
        self._n_min = np.where(bottom < self._min, 0, self._n_min) + np.where(bottom <= self._min, np.count_nonzero(block == bottom[:, None], axis=1), 0)
        self._max = np.maximum(self._max, top)
        self._min = np.minimum(self._min, bottom)
        first = (-self._seen) % self.stride
        self._strided.append(block[:, first :: self.stride])
        self._seen = total

    def result(self) -> ChannelQC:
        """The measures of the blocks added so far."""
        if self._seen == 0:
            nan = np.full(self.n_channels, np.nan)
            return ChannelQC(0, nan, nan.copy(), nan.copy(), np.zeros(self.n_channels, dtype=np.int64), nan.copy())
        at_extreme = self._n_max + self._n_min
        return ChannelQC(
            n_samples=self._seen,
            std_uv=np.sqrt(self._m2 / self._seen),
            minimum_uv=self._min.copy(),
            maximum_uv=self._max.copy(),
            at_extreme=np.where(self._max == self._min, self._n_max, at_extreme),
            robust_sd_uv=robust_sd(np.concatenate(self._strided, axis=1)),
        )


def channel_qc(data: np.ndarray, robust_samples: int = ROBUST_SAMPLES) -> ChannelQC:
    """:class:`ChannelQC` of a whole ``[channel, time]`` array in microvolts."""
    data = np.asarray(data)
    scan = SignalScan(data.shape[0], data.shape[1], robust_samples)
    scan.update(data)
    return scan.result()


def flat_channels(qc: ChannelQC) -> np.ndarray:
    """Channels whose standard deviation is below :data:`FLAT_STD_UV` (boolean mask)."""
    return qc.std_uv < FLAT_STD_UV


def saturated_channels(qc: ChannelQC) -> np.ndarray:
    """Channels clipped at an extreme value (boolean mask): more than :data:`SATURATION_FRACTION`
    of the samples, and at least :data:`SATURATION_MIN_SAMPLES`, equal the channel's minimum or
    maximum. A flat channel is not also saturated."""
    many = (qc.at_extreme > SATURATION_FRACTION * qc.n_samples) & (qc.at_extreme >= SATURATION_MIN_SAMPLES)
    return many & ~flat_channels(qc)


def high_amplitude_channels(qc: ChannelQC) -> np.ndarray:
    """Channels whose robust standard deviation exceeds :data:`HIGH_AMPLITUDE_UV` (boolean
    mask)."""
    return qc.robust_sd_uv > HIGH_AMPLITUDE_UV


def is_short(duration_s: float) -> bool:
    """Whether a recording of ``duration_s`` seconds is shorter than :data:`SHORT_DURATION_S`."""
    return bool(duration_s < SHORT_DURATION_S)


@dataclass
class RecordingFlags:
    """The QC flags of one recording: the channels behind each channel flag, and ``short``."""

    flat: list[str] = field(default_factory=list)
    saturated: list[str] = field(default_factory=list)
    high_amplitude: list[str] = field(default_factory=list)
    short: bool = False

    @property
    def any(self) -> bool:
        """Whether any flag is raised."""
        return bool(self.flat or self.saturated or self.high_amplitude or self.short)


def recording_flags(names: list[str], qc: ChannelQC, duration_s: float, build_saturated: list | None = None) -> RecordingFlags:
    """The flags of a recording from its channels' measures.

    Parameters
    ----------
    names : list of str
        Channel names, in the order of ``qc``'s arrays.
    qc : ChannelQC
        The measures of the stored signal.
    duration_s : float
        The recording's duration.
    build_saturated : list of bool | None
        The build's per-channel saturation flags on the raw signal (the recording's
        ``qc["saturated"]`` attribute), if any: band-pass filtering smooths the plateaus of
        clipping out of the stored signal, so a channel flagged there is saturated too.

    Returns
    -------
    flags : RecordingFlags
    """
    saturated = saturated_channels(qc)
    if build_saturated is not None and len(build_saturated) == len(names):
        saturated = saturated | np.asarray(build_saturated, dtype=bool)
    return RecordingFlags(
        flat=[n for n, f in zip(names, flat_channels(qc)) if f],
        saturated=[n for n, f in zip(names, saturated) if f],
        high_amplitude=[n for n, f in zip(names, high_amplitude_channels(qc)) if f],
        short=is_short(duration_s),
    )
