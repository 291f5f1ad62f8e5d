"""Brain Invaders bi2015a (GIPSA-lab, Zenodo 3266930): P300 game sessions, for pretraining.

Layout, as MOABB's BI2015a unpacks the record: ``subject_{ss}/subject_{ss}_session_{nn}.mat``
(three sessions per subject), found at any depth below the raw folder. The card's layout
pattern is used when it names a ``{subject}`` field; its current ``*.mat`` does not, and then
:data:`FILE_PATTERN` is used instead, so other MAT files lying around are not mistaken for
recordings.

Each file holds one matrix ``DATA`` (samples x columns): column 1 the time, columns 2-33 the 32
EEG channels in µV in the order of :data:`EEG_CHANNELS`, and the last two columns the
stimulation flags, whose sum is the tag MOABB uses (1 non-target flash, 2 target flash). The
recording holds the 32 EEG channels and that sum as a stim channel ``STI 014``, dropped at
processing by its type (and by the card's ``STI*``); sampling rate 512 Hz (not stored in the
file; the card's rate).

Ids: recording ``brain_invaders.subject_01_session_01``, subject ``"1"``, session ``"1"``,
task ``p300_game``. Events: one per flash at its tag's rising edge, description ``Target`` or
``NonTarget`` (another tag value as its number), unlabelled: pretraining does not use them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eegcorpus.datasets.base import DatasetAdapter, Source, pattern_to_regex
from eegcorpus.errors import ReaderError
from eegcorpus.readers.mat import read_mat
from eegcorpus.recording import Recording, make_annotations

FILE_PATTERN = "subject_{subject:02d}_session_{session:02d}.mat"
#: bi2015a electrodes in column order (MOABB's BI2015a).
EEG_CHANNELS: tuple[str, ...] = (
    "Fp1", "Fp2", "AFz", "F7", "F3", "F4", "F8", "FC5", "FC1", "FC2", "FC6", "T7", "C3", "Cz",
    "C4", "T8", "CP5", "CP1", "CP2", "CP6", "P7", "P3", "Pz", "P4", "P8", "PO7", "O1", "Oz",
    "O2", "PO8", "PO9", "PO10",
)  # fmt: skip
STIM_CHANNEL = "STI 014"
TAG_NAMES: dict[int, str] = {1: "NonTarget", 2: "Target"}
DEFAULT_SFREQ = 512.0


class BrainInvadersAdapter(DatasetAdapter):
    def __init__(self, card):
        super().__init__(card)
        if "{subject" not in self.pattern:
            self.pattern = FILE_PATTERN
            self.regex = pattern_to_regex(FILE_PATTERN)
        rates = list(card.sfreq or [])
        self.sfreq = float(rates[0]) if len(rates) == 1 else DEFAULT_SFREQ

    def describe(self, rel, fields) -> Source | None:
        if not fields.get("subject"):
            return None
        source = super().describe(rel, fields)
        source.task = "p300_game"
        return source

    def read(self, raw_root: Path, source: Source) -> Recording:
        path = Path(raw_root) / source.path
        # Every column is read as is (unit factor 1: the file is in µV); the columns are
        # picked below.
        table = read_mat(path, data_key="DATA", sfreq=self.sfreq, channel_axis=1)
        n_columns = table.n_channels
        if n_columns < 1 + len(EEG_CHANNELS) + 2:
            raise ReaderError(path, f"DATA has {n_columns} columns; bi2015a needs time, 32 EEG and 2 stimulation columns")
        eeg = table.data[1 : 1 + len(EEG_CHANNELS)]
        tags = table.data[-2] + table.data[-1]
        onsets, descriptions = _flashes(tags, self.sfreq)
        return Recording(
            data=np.vstack([eeg, tags[None, :]]).astype(np.float32),
            sfreq=self.sfreq,
            ch_names=list(EEG_CHANNELS) + [STIM_CHANNEL],
            ch_types=["eeg"] * len(EEG_CHANNELS) + ["stim"],
            units=["uV"] * len(EEG_CHANNELS) + ["n/a"],
            annotations=make_annotations(onsets, np.zeros(len(onsets)), descriptions),
            source=str(path),
            sha256=table.sha256,
            format="mat",
            extra={**table.extra, "n_columns": n_columns},
        )


def _flashes(tags: np.ndarray, sfreq: float) -> tuple[np.ndarray, list[str]]:
    """Onsets (s) and names of the rising edges of a tag channel."""
    values = np.rint(tags).astype(np.int64)
    previous = np.concatenate([[0], values[:-1]])
    starts = np.flatnonzero((values != 0) & (values != previous))
    names = [TAG_NAMES.get(int(values[i]), str(int(values[i]))) for i in starts]
    return starts / sfreq, names


ADAPTER = BrainInvadersAdapter
