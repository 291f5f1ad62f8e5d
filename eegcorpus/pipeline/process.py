"""The processing stage: one read Recording plus a Profile -> the signals a store holds.

Order: keep the channel types the profile asks for and drop the card's non-EEG channels; name,
place and assign a lobe to every channel; band-pass at the native rate; notch the line frequency
where it would survive the band-pass; resample to the profile's rate. Every choice made on the way
(which notch frequencies, which edges were skipped and why) is written into ``provenance``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eegcorpus._validate import check_option
from eegcorpus.channels import canonical_name, channel_positions, lobe_at, lobe_of
from eegcorpus.errors import EEGCorpusError
from eegcorpus.log import logger
from eegcorpus.pipeline import filters
from eegcorpus.pipeline.profiles import Profile
from eegcorpus.recording import Recording

#: What to do with channels the source marks bad (a BIDS ``channels.tsv`` with ``status=bad``).
BAD_CHANNEL_POLICIES = ("drop", "keep")
#: Which position a channel gets when the source states one (a BIDS ``electrodes.tsv``):
#: ``template`` keeps the template's position for every electrode name it knows and takes the
#: file's only for names it does not know; ``file`` takes the file's wherever it states one.
POSITION_POLICIES = ("template", "file")
#: A stated position this far from the template's position of the same name is reported as a
#: disagreement (in provenance and the log): more than head-size and digitisation scatter
#: (about 1 cm), about one inter-electrode distance of the 10-10 system, so a mislabelled or
#: misplaced electrode rather than a different head.
POSITION_DISAGREEMENT_M = 0.03


class ProcessingError(EEGCorpusError):
    """A recording cannot be processed (no usable channels, duplicate names, too short...)."""


@dataclass
class ProcessedRecording:
    """Signals ready to store: float32 microvolts ``[channel, time]`` with channel coordinates."""

    data: np.ndarray
    sfreq: float
    ch_names: list[str]  # as in the source file
    canonical: list[str]
    ch_types: list[str]
    positions: np.ndarray  # (n_channels, 3) metres, head frame; NaN when unknown
    lobes: list[str]  # "" when a channel has no lobe
    annotations: pd.DataFrame
    provenance: dict = field(default_factory=dict)

    @property
    def n_times(self) -> int:
        return self.data.shape[1]

    @property
    def duration_s(self) -> float:
        return self.n_times / self.sfreq


def _dropped(name: str, canonical: str, patterns) -> bool:
    return any(fnmatch.fnmatchcase(name.upper(), p.upper()) or fnmatch.fnmatchcase(canonical.upper(), p.upper()) for p in patterns)


def select_channels(rec: Recording, profile: Profile, drop=(), bad_channels: str = "drop") -> tuple[list[int], dict]:
    """Indices of the channels to keep, and a record of what was dropped and why."""
    keep, dropped = [], {}
    for i, (name, kind) in enumerate(zip(rec.ch_names, rec.ch_types)):
        if kind not in profile.channel_types:
            dropped[name] = f"type {kind}"
        elif _dropped(name, canonical_name(name), drop):
            dropped[name] = "listed in the dataset card's drop_channels"
        elif name in rec.bad_channels and bad_channels == "drop":
            dropped[name] = f"marked bad by the source: {rec.bad_channels[name]}"
        else:
            keep.append(i)
    return keep, dropped


def process_recording(
    rec: Recording,
    profile: Profile,
    *,
    line_freq: float | None = None,
    drop_channels=(),
    channel_map: dict[str, str] | None = None,
    bad_channels: str = "drop",
    positions: str = "template",
) -> ProcessedRecording:
    """Apply ``profile`` to one recording.

    Parameters
    ----------
    rec : Recording
        As returned by a reader.
    profile : Profile
        What to do.
    line_freq : float | None
        The dataset's mains frequency, used when the profile's notch is ``"line"``.
    drop_channels : sequence of str
        Names or glob patterns (matched case-insensitively against the file's name and the
        canonical name) of channels to drop, from the dataset card.
    channel_map : dict | None
        Dataset-specific renames applied before canonicalisation (e.g. Biosemi ``A1`` ->
        ``Fp1``), as ``{file name: electrode name}``.
    bad_channels : "drop" | "keep"
        Channels the recording marks bad (``rec.bad_channels``): dropped (named in provenance
        with the reason), or kept and listed in provenance under ``bad_channels``.
    positions : "template" | "file"
        Where a channel's position comes from when the recording states one
        (``rec.positions``); see :data:`POSITION_POLICIES`. Stated positions more than
        :data:`POSITION_DISAGREEMENT_M` from the template's are listed in provenance under
        ``position_disagreements_mm``.

    Raises
    ------
    ProcessingError
        No channel left, duplicate canonical names, channels without position under
        ``on_missing_position="raise"``, a recording shorter than the filter needs, or a notch
        asked for without a line frequency.
    """
    check_option("bad_channels", bad_channels, BAD_CHANNEL_POLICIES)
    check_option("positions", positions, POSITION_POLICIES)
    channels = _standardise_channels(rec, profile, drop_channels, channel_map, bad_channels, positions)
    data = rec.data[channels.keep]
    if not np.all(np.isfinite(data)):
        raise ProcessingError("non-finite samples (NaN or Inf)")
    plan = _FilterPlan.of(profile, rec.sfreq)
    provenance: dict = {"dropped_channels": channels.dropped, "native_sfreq": rec.sfreq, **channels.notes}
    data = _to_working_rate(data, plan, provenance)
    data = _bandpass(data, plan, provenance)
    data = _notch(data, plan, profile, line_freq, provenance)
    if plan.target != plan.rate:
        data = filters.resample(data, plan.rate, plan.target)
        provenance["resample"] = {"from": plan.rate, "to": plan.target, "method": "FFT with odd-reflection padding"}
    return ProcessedRecording(
        data=np.ascontiguousarray(data, dtype=np.float32),
        sfreq=float(plan.target),
        ch_names=channels.names,
        canonical=channels.canonical,
        ch_types=[rec.ch_types[i] for i in channels.keep],
        positions=channels.positions,
        lobes=channels.lobes(),
        annotations=rec.annotations.copy(),
        provenance=provenance,
    )


@dataclass
class _Channels:
    """The recording's channels that are kept: row numbers in the recording, names as in the
    file, after the dataset's renames, canonical; head-frame positions; and why others went."""

    keep: list[int]
    names: list[str]
    mapped: list[str]
    canonical: list[str]
    positions: np.ndarray
    dropped: dict
    #: Channels placed by the recording's stated position (lobe from the nearest electrode).
    placed_by_source: set[str] = field(default_factory=set)
    #: What provenance should say about bad channels and stated positions.
    notes: dict = field(default_factory=dict)

    def select(self, rows: np.ndarray) -> _Channels:
        pick = [int(i) for i in rows]
        return _Channels(
            [self.keep[i] for i in pick],
            [self.names[i] for i in pick],
            [self.mapped[i] for i in pick],
            [self.canonical[i] for i in pick],
            self.positions[pick],
            self.dropped,
            self.placed_by_source,
            self.notes,
        )

    def lobes(self) -> list[str]:
        """Each channel's lobe by its name, or by its position where the source placed a name
        the template does not know; "" when it has none."""
        return [
            (lobe_at(pos) if name in self.placed_by_source and lobe_of(mapped) is None else lobe_of(mapped)) or ""
            for name, mapped, pos in zip(self.names, self.mapped, self.positions)
        ]


def _stated_positions(rec: Recording, names: list[str], positions: np.ndarray, has_position: np.ndarray, policy: str) -> tuple[set[str], dict]:
    """Reconcile the positions a recording states with the template's, in place (see
    :data:`POSITION_POLICIES`); returns the channels placed by the source and provenance notes."""
    placed, disagreements = set(), {}
    for i, name in enumerate(names):
        stated = rec.positions.get(name)
        if stated is None or not np.all(np.isfinite(stated)):
            continue
        stated = np.asarray(stated, dtype=float)
        if has_position[i]:
            distance = float(np.linalg.norm(stated - positions[i]))
            if distance > POSITION_DISAGREEMENT_M:
                disagreements[name] = round(distance * 1000, 1)
            if policy == "template":
                continue
        positions[i] = stated
        has_position[i] = True
        placed.add(name)
    notes = {}
    if placed:
        notes["positions_from_source"] = sorted(placed)
    if disagreements:
        notes["position_disagreements_mm"] = disagreements
        worst = max(disagreements, key=disagreements.get)
        logger.warning(
            f"{rec.source}: {len(disagreements)} stated electrode position(s) lie more than {POSITION_DISAGREEMENT_M * 1000:.0f} mm "
            f"from the template's (worst {worst}: {disagreements[worst]} mm); the {policy} position is stored"
        )
    return placed, notes


def _standardise_channels(
    rec: Recording, profile: Profile, drop_channels, channel_map, bad_channels: str = "drop", position_policy: str = "template"
) -> _Channels:
    """Select the profile's channels, map names to electrodes and give them positions, under the
    profile's rule for channels without one."""
    keep, dropped = select_channels(rec, profile, drop_channels, bad_channels)
    if not keep:
        raise ProcessingError(f"no channel of type {'/'.join(profile.channel_types)} left after dropping {len(dropped)}")
    names = [rec.ch_names[i] for i in keep]
    mapped = [(channel_map or {}).get(n, n) for n in names]
    canonical = [canonical_name(n) for n in mapped]
    duplicates = sorted({c for c in canonical if canonical.count(c) > 1})
    if duplicates:
        raise ProcessingError(f"several channels map to the same electrode: {', '.join(duplicates)}")
    positions, has_position = channel_positions(mapped, on_missing="nan")
    placed, notes = _stated_positions(rec, names, positions, has_position, position_policy) if rec.positions else (set(), {})
    kept_bad = [n for n in names if n in rec.bad_channels]
    if kept_bad:
        notes["bad_channels"] = {n: rec.bad_channels[n] for n in kept_bad}
    channels = _Channels(keep, names, mapped, canonical, positions, dropped, placed, notes)
    if has_position.all() or profile.on_missing_position == "nan":
        return channels
    missing = [n for n, ok in zip(names, has_position) if not ok]
    if profile.on_missing_position == "raise":
        # The advice names the profile field a build user can change, not a function argument.
        more = " ..." if len(missing) > 10 else ""
        raise ProcessingError(
            f"{len(missing)} channel(s) have no known position: {', '.join(missing[:10])}{more}; a profile "
            f"with on_missing_position = 'drop' or 'nan' stores the recording without them or with NaN positions"
        )
    for name in missing:
        dropped[name] = "no known position"
    if not has_position.any():
        raise ProcessingError("no channel with a known position")
    return channels.select(np.flatnonzero(has_position))


@dataclass(frozen=True)
class _FilterPlan:
    """The band-pass of a profile at a native rate: edges (an upper edge the native rate cannot
    hold is left to the resampler, which cuts at the new Nyquist frequency), MNE's "auto"
    transitions at the native rate, the stop edge, the working rate and the target rate."""

    native: float
    target: float
    rate: float
    l_freq: float | None
    h_freq: float | None
    l_trans: float | None
    h_trans: float | None
    h_stop: float | None
    h_freq_skipped: str | None

    @classmethod
    def of(cls, profile: Profile, sfreq: float) -> _FilterPlan:
        target = profile.sfreq or sfreq
        l_freq, h_freq, skipped = profile.l_freq, profile.h_freq, None
        if h_freq is not None and h_freq >= sfreq / 2:
            skipped = f"{h_freq} Hz is not below the native Nyquist {sfreq / 2} Hz"
            h_freq = None
        # Transitions follow MNE's "auto" rule at the native rate, so the specification is the
        # one an MNE pipeline on the raw file would use, whatever rate the work happens at.
        l_trans, h_trans = filters.auto_transitions(sfreq, l_freq, h_freq)
        h_stop = h_freq + h_trans if h_freq is not None else None
        rate = filters.working_rate(sfreq, target, h_stop) if (l_freq is not None or h_freq is not None) else sfreq
        return cls(sfreq, target, rate, l_freq, h_freq, l_trans, h_trans, h_stop, skipped)

    @property
    def band_limited(self) -> bool:
        return self.l_freq is not None or self.h_freq is not None


def _to_working_rate(data: np.ndarray, plan: _FilterPlan, provenance: dict) -> np.ndarray:
    if plan.h_freq_skipped:
        provenance["h_freq_skipped"] = plan.h_freq_skipped
    if plan.rate == plan.native:
        return data
    provenance["working_rate"] = {"hz": plan.rate, "why": f"lowest multiple of {plan.target:g} Hz holding the {plan.h_stop:g} Hz stop edge"}
    return filters.resample(data, plan.native, plan.rate)


def _bandpass(data: np.ndarray, plan: _FilterPlan, provenance: dict) -> np.ndarray:
    if not plan.band_limited:
        return data
    taps = filters.design_bandpass(plan.rate, plan.l_freq, plan.h_freq, plan.l_trans, plan.h_trans)
    if len(taps) > 3 * data.shape[1]:
        raise ProcessingError(f"recording too short for the band-pass: {data.shape[1] / plan.rate:.1f} s, the filter spans {len(taps) / plan.rate:.1f} s")
    provenance["bandpass"] = {
        "l_freq": plan.l_freq,
        "h_freq": plan.h_freq,
        "l_trans": plan.l_trans,
        "h_trans": plan.h_trans,
        "n_taps": len(taps),
        "at_hz": plan.rate,
        "design": "firwin hamming, zero phase, MNE auto transitions at the native rate",
    }
    return filters.apply_zero_phase(data, taps)


def _notch(data: np.ndarray, plan: _FilterPlan, profile: Profile, line_freq: float | None, provenance: dict) -> np.ndarray:
    """Notch only where the line (or a harmonic) would survive the rest of the chain."""
    if profile.notch is None:
        return data
    base = line_freq if profile.notch == "line" else float(profile.notch)
    if base is None:
        raise ProcessingError("the profile asks for a line-frequency notch but the dataset has no line_freq")
    upper = min(plan.target / 2.0, plan.h_stop if plan.h_stop is not None else np.inf)
    freqs = filters.notch_frequencies(base, plan.rate, upper)
    provenance["notch"] = {
        "line_freq": base,
        "applied_hz": freqs,
        "skipped_reason": None if freqs else f"{base} Hz and harmonics lie above {upper:g} Hz, where the band-pass or resampler already removes them",
    }
    return filters.notch(data, plan.rate, freqs) if freqs else data
