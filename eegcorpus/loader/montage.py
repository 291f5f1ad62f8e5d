"""Montages applied at load time, so that one stored recording serves many models.

A montage is resolved once per channel layout into a matrix ``M`` (``[C_out, C_in]``), applied to
a whole block of signal (``M @ block``) before windows are cut from it, with the output channels'
names, positions (a bipolar channel sits at the midpoint of its electrodes' stored positions)
and lobes.

NeurIPT's double banana (:data:`NEURIPT_DOUBLE_BANANA`) follows the paper's code, with one
change: its 13th channel is written ``FP2-F3`` there, which breaks the left/right symmetry of
the chain (``FP2-F4`` is the 17th); we use ``FP1-F3``. See docs/loader.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eegcorpus._validate import check_option
from eegcorpus.channels import LOBES, canonical_name, lobe_of

#: The 19 electrodes of the 10-20 system (10-10 names for the temporal row). ``"scalp_average"``
#: is their average reference among themselves: the montage of MentalArithmetic and Mumtaz2016,
#: which also store ear or reference derivations, and the one pretraining uses for them.
TEN_TWENTY: tuple[str, ...] = ("Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4", "P8", "O1", "O2")

#: NeurIPT's 20 bipolar channels (10-20 names as in the paper; canonicalised when resolved).
NEURIPT_DOUBLE_BANANA: tuple[tuple[str, str], ...] = (
    ("FP1", "F7"), ("F7", "T3"), ("T3", "T5"), ("T5", "O1"),
    ("FP2", "F8"), ("F8", "T4"), ("T4", "T6"), ("T6", "O2"),
    ("T3", "C3"), ("C3", "CZ"), ("CZ", "C4"), ("C4", "T4"),
    ("FP1", "F3"), ("F3", "C3"), ("C3", "P3"), ("P3", "O1"),
    ("FP2", "F4"), ("F4", "C4"), ("C4", "P4"), ("P4", "O2"),
)  # fmt: skip

#: Lobe codes for tensors: index in :data:`eegcorpus.channels.LOBES`; -1 for no lobe.
LOBE_CODES = {name: i for i, name in enumerate(LOBES)}


@dataclass
class ResolvedMontage:
    """A montage applied to one channel layout.

    ``matrix`` defines the montage (``M @ x``); :meth:`apply` computes the same result without a
    matrix product when the montage is a selection, a difference of pairs or an average
    reference, because BLAS's thread pool inside DataLoader workers made that product 16 times
    slower than plain indexing and oversubscribed the cores.
    """

    matrix: np.ndarray | None  # [C_out, C_in] float32; None means identity
    names: list[str]
    positions: np.ndarray  # [C_out, 3] float32, metres
    lobes: np.ndarray  # [C_out] int64 lobe codes, -1 for none
    mask: np.ndarray  # [C_out] bool: False for channels that could not be formed

    def __post_init__(self):
        self._plus = self._minus = None
        self._average = False
        m = self.matrix
        if m is None:
            return
        n_out, n_in = m.shape
        if n_out == n_in and np.allclose(m, np.eye(n_in) - 1.0 / n_in):
            self._average = True
            return
        plus, minus = np.full(n_out, -1), np.full(n_out, -1)
        for k, row in enumerate(m):
            ones, neg = np.flatnonzero(row == 1.0), np.flatnonzero(row == -1.0)
            if len(ones) + len(neg) != np.count_nonzero(row) or len(ones) > 1 or len(neg) > 1:
                return  # a general matrix: keep the product
            plus[k] = ones[0] if len(ones) else -1
            minus[k] = neg[0] if len(neg) else -1
        self._plus, self._minus = plus, minus

    def apply(self, data: np.ndarray) -> np.ndarray:
        """The montage applied to ``data [C_in, T]`` (float32) -> ``[C_out, T]``."""
        if self.matrix is None:
            return data
        if self._average:
            return data - data.mean(axis=0, keepdims=True)
        if self._plus is None:
            return self.matrix @ data
        out = np.zeros((len(self._plus), data.shape[1]), dtype=data.dtype)
        has_plus, has_minus = self._plus >= 0, self._minus >= 0
        out[has_plus] = data[self._plus[has_plus]]
        out[has_minus] -= data[self._minus[has_minus]]
        return out

    @property
    def key(self) -> tuple:
        """Channel identity of the output, for grouping windows of the same montage."""
        return tuple(self.names)


def _lobe_codes(names) -> np.ndarray:
    return np.array([LOBE_CODES.get(lobe_of(n) or "", -1) for n in names], dtype=np.int64)


class Montage:
    """Base: the identity (the stored channels as they are)."""

    name = "stored"

    def resolve(self, ch_names: list[str], positions: np.ndarray) -> ResolvedMontage:
        return ResolvedMontage(None, list(ch_names), positions.astype(np.float32), _lobe_codes(ch_names), ~np.isnan(positions).any(axis=1))


class BipolarMontage(Montage):
    """Differences of electrode pairs (``a - b``).

    Parameters
    ----------
    pairs : sequence of (str, str)
        Electrode names in any spelling the channel layer understands.
    on_missing : "raise" | "mask"
        A pair with an electrode the recording lacks raises, or gives a zero channel whose
        ``mask`` is False.
    """

    def __init__(self, pairs, name: str = "bipolar", on_missing: str = "raise"):
        check_option("on_missing", on_missing, ("raise", "mask"))
        self.pairs = [(canonical_name(a), canonical_name(b)) for a, b in pairs]
        self.name, self.on_missing = name, on_missing

    def resolve(self, ch_names, positions) -> ResolvedMontage:
        lookup = {canonical_name(n): i for i, n in enumerate(ch_names)}
        matrix = np.zeros((len(self.pairs), len(ch_names)), dtype=np.float32)
        pos = np.zeros((len(self.pairs), 3), dtype=np.float32)
        mask = np.ones(len(self.pairs), dtype=bool)
        missing = []
        for k, (a, b) in enumerate(self.pairs):
            if a in lookup and b in lookup:
                matrix[k, lookup[a]], matrix[k, lookup[b]] = 1.0, -1.0
                pos[k] = (positions[lookup[a]] + positions[lookup[b]]) / 2.0
            else:
                mask[k] = False
                missing.extend(e for e in (a, b) if e not in lookup)
        if missing and self.on_missing == "raise":
            raise ValueError(
                f"Montage {self.name!r} needs electrode(s) {', '.join(sorted(set(missing)))} that the "
                f"recording lacks (it has {len(ch_names)} channels); pass on_missing='mask' to zero them."
            )
        names = [f"{a}-{b}" for a, b in self.pairs]
        return ResolvedMontage(matrix, names, pos, _lobe_codes(names), mask)


class AverageReference(Montage):
    """Each channel minus the mean of all channels."""

    name = "average"

    def resolve(self, ch_names, positions) -> ResolvedMontage:
        n = len(ch_names)
        matrix = (np.eye(n) - np.full((n, n), 1.0 / n)).astype(np.float32)
        return ResolvedMontage(matrix, list(ch_names), positions.astype(np.float32), _lobe_codes(ch_names), ~np.isnan(positions).any(axis=1))


class ChannelSubset(Montage):
    """A named subset of the stored channels, in the given order."""

    def __init__(self, names, name: str = "subset", on_missing: str = "raise"):
        check_option("on_missing", on_missing, ("raise", "mask"))
        self.names = [canonical_name(n) for n in names]
        self.name, self.on_missing = name, on_missing

    def resolve(self, ch_names, positions) -> ResolvedMontage:
        lookup = {canonical_name(n): i for i, n in enumerate(ch_names)}
        missing = [n for n in self.names if n not in lookup]
        if missing and self.on_missing == "raise":
            raise ValueError(f"Channel(s) {', '.join(missing)} are not in the recording; pass on_missing='mask' to zero them.")
        matrix = np.zeros((len(self.names), len(ch_names)), dtype=np.float32)
        pos = np.zeros((len(self.names), 3), dtype=np.float32)
        for k, name in enumerate(self.names):
            if name in lookup:
                matrix[k, lookup[name]] = 1.0
                pos[k] = positions[lookup[name]]
        mask = np.array([n in lookup for n in self.names])
        return ResolvedMontage(matrix, list(self.names), pos, _lobe_codes(self.names), mask)


class SubsetAverageReference(ChannelSubset):
    """A subset of electrodes, each minus the mean of the subset's present electrodes: an average
    reference that leaves out ear, reference and non-EEG derivations stored beside the scalp
    channels. With ``on_missing="mask"``, a missing electrode is a zero channel with mask False,
    left out of the mean."""

    def __init__(self, names, name: str = "subset_average", on_missing: str = "raise"):
        super().__init__(names, name, on_missing)

    def resolve(self, ch_names, positions) -> ResolvedMontage:
        subset = super().resolve(ch_names, positions)
        matrix = subset.matrix.copy()
        present = np.flatnonzero(subset.mask)
        if len(present):
            matrix[present] -= matrix[present].mean(axis=0, keepdims=True)
        return ResolvedMontage(matrix, subset.names, subset.positions, subset.lobes, subset.mask)


def get_montage(spec) -> Montage:
    """A montage from a name (``"stored"``, ``"neuript"``/``"double_banana"``, ``"average"``,
    ``"scalp_average"``), a list of channel names (subset), or a :class:`Montage`."""
    if isinstance(spec, Montage):
        return spec
    if spec in (None, "stored"):
        return Montage()
    if spec in ("neuript", "double_banana"):
        return BipolarMontage(NEURIPT_DOUBLE_BANANA, name="neuript_double_banana")
    if spec == "average":
        return AverageReference()
    if spec == "scalp_average":
        return SubsetAverageReference(TEN_TWENTY, name="scalp_average")
    if isinstance(spec, (list, tuple)):
        return ChannelSubset(spec)
    raise ValueError(
        f"Invalid value for the 'montage' parameter. Allowed values are 'stored', 'neuript', "
        f"'average', 'scalp_average', a list of channel names or a Montage, but got {spec!r} instead."
    )
