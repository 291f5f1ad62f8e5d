"""SEED series (SEED, SEED-IV, SEED-GER, SEED-FRA): four components, two formats, one dataset.

Each component is found with its own layout pattern from the card (``components[*].layout``),
anywhere below the raw folder (the card asks for ``<raw>/<component>/`` with the original tree).

``seed``
    ``Preprocessed_EEG/{subject}_{yyyymmdd}.mat`` (the released files are named by subject
    number, ``1_20131027.mat``; a name in place of the number is kept as is). Every variable
    ``<initials>_eeg<k>`` (62 x ~47001 at 200 Hz) is one film-clip trial and becomes its own
    recording, through ``Source.extra`` (``data_key``, ``trial``). The session is the rank of the
    file's date among the same subject's files (1-3). Trial labels come from
    ``Preprocessed_EEG/label.mat`` when it is there (1 positive, 0 neutral, -1 negative).
``seed_iv``
    ``eeg_raw_data/{session}/{subject}_{yyyymmdd}.mat`` with ``<initials>_eeg1..24``, read the
    same way at 200 Hz (the card marks this rate unverified); labels (neutral, sad, fear, happy)
    from the fixed per-session trial lists of the SEED-IV readme.
``seed_ger``, ``seed_fra``
    ``German/01-EEG-raw/*.cnt`` and ``French/01-EEG-raw/*.cnt``: Neuroscan CNT at 1000 Hz, one
    recording per file, events from the file's own trigger table (unlabelled). File names are
    parsed as ``{subject}_{session}[_...]``; a name that does not start with a number is used
    whole as the subject.

The .mat arrays carry no channel names: rows are the 62 channels of :data:`SEED_CHANNELS` (the
ESI NeuroScan order of SEED's channel-order file; CB1/CB2 are placed at POO7/POO8 by the
channel layer). The .mat unit is not documented; the values are taken as microvolts.

CNT sample width: SEED-family files are 32-bit (LaBraM reads them with ``data_format='int32'``).
:func:`read_seed_cnt` lets :func:`~eegcorpus.readers.cnt.detect_cnt_data_format` decide from the
header or the samples themselves and falls back to int32 only when that cannot decide, so a
16-bit file is never read as 32-bit noise.

Subject ids are prefixed with the component (``seed-3``, ``seed_iv-3``, ``seed_ger-3``), because
the components recorded different people under overlapping numbers. Recording ids are
``seed_series.<component>.<file stem>[.trial<kk>]``. The emotion labels are not used for
pretraining; they are stored because they cost nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, Source, pattern_to_regex, safe_glob
from eegcorpus.errors import ReaderError
from eegcorpus.recording import Recording

#: The 62 rows of the SEED / SEED-IV .mat arrays, in order (upper-case ESI NeuroScan names).
SEED_CHANNELS: tuple[str, ...] = (
    "FP1", "FPZ", "FP2", "AF3", "AF4",
    "F7", "F5", "F3", "F1", "FZ", "F2", "F4", "F6", "F8",
    "FT7", "FC5", "FC3", "FC1", "FCZ", "FC2", "FC4", "FC6", "FT8",
    "T7", "C5", "C3", "C1", "CZ", "C2", "C4", "C6", "T8",
    "TP7", "CP5", "CP3", "CP1", "CPZ", "CP2", "CP4", "CP6", "TP8",
    "P7", "P5", "P3", "P1", "PZ", "P2", "P4", "P6", "P8",
    "PO7", "PO5", "PO3", "POZ", "PO4", "PO6", "PO8",
    "CB1", "O1", "OZ", "O2", "CB2",
)  # fmt: skip

#: Sampling rate of the SEED and SEED-IV .mat arrays.
MAT_SFREQ = 200.0

#: label.mat value -> emotion (SEED).
SEED_LABELS = {1: "positive", 0: "neutral", -1: "negative"}

#: SEED-IV trial labels per session (readme of the dataset): 0 neutral, 1 sad, 2 fear, 3 happy.
SEED_IV_SESSION_LABELS: dict[int, tuple[int, ...]] = {
    1: (1, 2, 3, 0, 2, 0, 0, 1, 0, 1, 2, 1, 1, 1, 2, 3, 2, 2, 3, 3, 0, 3, 0, 3),
    2: (2, 1, 3, 0, 0, 2, 0, 2, 3, 3, 2, 3, 2, 0, 1, 1, 2, 1, 0, 3, 0, 1, 3, 1),
    3: (1, 2, 2, 1, 3, 3, 3, 1, 1, 2, 1, 0, 2, 3, 3, 0, 2, 3, 0, 0, 2, 0, 1, 0),
}
SEED_IV_LABELS = {0: "neutral", 1: "sad", 2: "fear", 3: "happy"}

_TRIAL_KEY = re.compile(r"_eeg(\d+)$")
_CNT_STEM = re.compile(r"^(?P<subject>\d+)(?:_(?P<session>\d+))?(?:_.*)?$")
_MAT_COMPONENTS = ("seed", "seed_iv")
_CNT_COMPONENTS = ("seed_ger", "seed_fra")
TASK = "emotion_film_clips"


def read_seed_cnt(path: str | Path) -> Recording:
    """Read a SEED-family Neuroscan CNT file.

    The sample width comes from :func:`~eegcorpus.readers.cnt.detect_cnt_data_format`; when
    no rule decides, int32 (the SEED family's width, as LaBraM reads it).

    Returns
    -------
    Recording
        As :func:`~eegcorpus.readers.cnt.read_cnt`; ``extra["data_format_rule"]`` says which
        rule chose the width (``"seed_default"`` for the int32 fallback).
    """
    from eegcorpus.readers.cnt import detect_cnt_data_format, read_cnt, read_cnt_header

    header = read_cnt_header(path)  # a truncated or empty file fails here, not in the fallback
    try:
        data_format, rule = detect_cnt_data_format(path, header)
    except ReaderError:
        data_format, rule = "int32", "seed_default"
    rec = read_cnt(path, data_format=data_format)
    rec.extra["data_format_rule"] = rule
    return rec


def _trial_keys(path: Path) -> list[tuple[int, str]]:
    """``[(trial, variable)]`` of the 2-D ``*_eeg<k>`` arrays of a SEED/SEED-IV file."""
    from eegcorpus.readers.mat import list_mat_arrays

    keys = []
    for name, (shape, _) in list_mat_arrays(path).items():
        match = _TRIAL_KEY.search(name)
        if match and len(shape) == 2:
            keys.append((int(match.group(1)), name))
    return sorted(keys)


def _subject_token(value: str) -> str:
    return str(int(value)) if value.isdigit() else value


def _seed_labels(raw_root: Path, folder: PurePosixPath) -> tuple[str | None, list[int] | None]:
    """``label.mat`` beside the SEED files: (relative path, labels) or (None, None)."""
    import scipy.io

    rel = folder / "label.mat"
    path = raw_root / rel
    if not path.is_file():
        return None, None
    try:
        labels = np.asarray(scipy.io.loadmat(path, variable_names=["label"])["label"]).ravel()
    except Exception as err:  # scipy raises ValueError, KeyError, OSError...
        raise ReaderError(path, f"cannot read the SEED trial labels: {type(err).__name__}: {err}") from err
    return str(rel), [int(v) for v in labels]


class SeedSeriesAdapter(DatasetAdapter):
    """SEED, SEED-IV (.mat, one recording per trial) and SEED-GER/FRA (.cnt)."""

    def components(self) -> dict:
        return {c.id: c for c in self.card.components}

    def find(self, raw_root: Path) -> list[Source]:
        raw_root = Path(raw_root)
        comps = self.components()
        sources: list[Source] = []
        for comp_id in _MAT_COMPONENTS:
            if comp_id in comps:
                sources += self._find_mat(raw_root, comp_id, comps[comp_id].layout.pattern)
        for comp_id in _CNT_COMPONENTS:
            if comp_id in comps:
                sources += self._find_cnt(raw_root, comp_id, comps[comp_id].layout.pattern)
        return sorted(sources, key=lambda s: (s.path, s.recording_id))

    def _find_mat(self, raw_root: Path, comp_id: str, pattern: str) -> list[Source]:
        regex = pattern_to_regex(pattern)
        files = []
        for rel in safe_glob(raw_root, pattern):
            fields = regex.match(str(rel)).groupdict()
            # The card calls the first field {name}; the released files put the subject number there.
            subject = fields.get("subject") or fields.get("name")
            date = fields.get("yyyymmdd", "")
            if not subject or not re.fullmatch(r"\d{8}", date):
                continue  # label.mat, readme files and the like
            files.append((rel, _subject_token(subject), date, fields.get("session")))

        # SEED keeps all sessions in one folder: number them by date within each subject.
        dates = defaultdict(list)
        for _, subject, date, _ in files:
            dates[subject].append(date)
        label_cache: dict[PurePosixPath, tuple] = {}
        sources = []
        for rel, subject, date, session in files:
            if session is None:
                session = str(sorted(set(dates[subject])).index(date) + 1)
            else:
                session = _subject_token(session)
            companions, trial_labels = {}, None
            if comp_id == "seed":
                if rel.parent not in label_cache:
                    label_cache[rel.parent] = _seed_labels(raw_root, rel.parent)
                label_rel, trial_labels = label_cache[rel.parent]
                if label_rel:
                    companions["labels"] = label_rel
            stem = rel.name.rsplit(".", 1)[0]
            for trial, key in _trial_keys(raw_root / rel):
                sources.append(
                    Source(
                        path=str(rel),
                        recording_id=f"{self.dataset_id}.{comp_id}.{stem}.trial{trial:02d}",
                        subject=f"{comp_id}-{subject}",
                        session=session,
                        run=str(trial),
                        task=TASK,
                        label=self._trial_label(comp_id, session, trial, trial_labels),
                        companions=dict(companions),
                        extra={"component": comp_id, "data_key": key, "trial": trial},
                    )
                )
        return sources

    @staticmethod
    def _trial_label(comp_id: str, session: str, trial: int, seed_labels: list[int] | None) -> str | None:
        if comp_id == "seed":
            if seed_labels is None or not 1 <= trial <= len(seed_labels):
                return None
            return SEED_LABELS.get(seed_labels[trial - 1])
        table = SEED_IV_SESSION_LABELS.get(int(session)) if session.isdigit() else None
        if table is None or not 1 <= trial <= len(table):
            return None
        return SEED_IV_LABELS[table[trial - 1]]

    def _find_cnt(self, raw_root: Path, comp_id: str, pattern: str) -> list[Source]:
        sources = []
        for rel in safe_glob(raw_root, pattern):
            stem = rel.name.rsplit(".", 1)[0]
            match = _CNT_STEM.match(stem)
            subject = str(int(match.group("subject"))) if match else stem
            session = match.group("session") if match else None
            sources.append(
                Source(
                    path=str(rel),
                    recording_id=f"{self.dataset_id}.{comp_id}.{stem}",
                    subject=f"{comp_id}-{subject}",
                    session=str(int(session)) if session else None,
                    task=TASK,
                    extra={"component": comp_id},
                )
            )
        return sources

    def read(self, raw_root: Path, source: Source) -> Recording:
        path = Path(raw_root) / source.path
        component = source.extra.get("component")
        if component in _CNT_COMPONENTS:
            return read_seed_cnt(path)
        if component not in _MAT_COMPONENTS:
            raise ReaderError(path, f"unknown SEED series component {component!r}")
        from eegcorpus.readers.mat import read_mat

        rec = read_mat(
            path,
            data_key=source.extra["data_key"],
            sfreq=MAT_SFREQ,
            ch_names=list(SEED_CHANNELS),
            unit="uV",
            channel_axis=0,
        )
        rec.extra["trial"] = source.extra.get("trial")
        return rec

    def events(self, source: Source, rec: Recording) -> pd.DataFrame:
        if source.extra.get("component") in _CNT_COMPONENTS:
            return super().events(source, rec)
        # A .mat trial is one film clip from its first to its last sample.
        trial = int(source.extra["trial"])
        return pd.DataFrame({"onset": [0.0], "duration": [rec.duration_s], "description": [f"trial{trial:02d}"], "label": [source.label]})


ADAPTER = SeedSeriesAdapter
