"""BCI Competition IV 2a (Graz; BNCI Horizon 001-2014): four-class motor imagery.

Two releases of the same sessions are read, and give the same recording ids:

* the competition GDF files ``A0{s}T.gdf`` (training) and ``A0{s}E.gdf`` (evaluation). T files
  carry the class cues 769-772; E files carry only 783 ("cue unknown"), whose classes come from
  the true-label file ``A0{s}E.mat`` (``classlabel``, 1-4 in cue order), attached as
  ``Source.companions["labels"]``;
* the BNCI Horizon MAT files ``A0{s}T.mat`` / ``A0{s}E.mat`` (what MOABB's BNCI2014_001 fetches),
  used when no GDF of the same name sits beside them. Their struct array ``data`` holds one
  entry per run (``X`` samples x 25 in µV, ``trial`` 1-based trial-start samples, ``y`` 1-4,
  ``fs``, ``artifacts``). The runs are joined end to end into one recording, as in the GDF
  file, with a ``32766`` (new run) annotation at each run start, ``768`` at each trial start,
  the class cue ``768 + y`` (769-772, the GDF code of that class) 2 s later, where the GDF files
  put their cue, and ``1023`` at the start of each trial flagged in ``artifacts``.

Ids: recording ``bcic_iv_2a.A01T``; subject ``"1"``..``"9"``; session ``"T"`` or ``"E"``; task
``motor_imagery``.

Events: one per cue (769-772 or 783) at the cue onset, lasting the card's window (4 s: cue to
the end of imagery), labelled left_hand / right_hand / feet / tongue; an E-session GDF without
its label file gives unlabelled cues. Every other annotation (trial start 768, rejected trial
1023, eye movements 1072, new run 32766, EOG-calibration 276/277) is kept unlabelled, so a
loader can leave out rejected trials.

Channels: read through MNE, the GDF files name 5 of the 22 EEG channels and number the rest
(``EEG-Fz``, ``EEG-0``, ..., ``EEG-C3``, ...); :data:`GDF_CHANNEL_MAP` gives them their 10-20
names in the montage order of the dataset description. The three EOG channels are typed EOG and
dropped by the card.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from eegcorpus.datasets.base import DatasetAdapter, Source, pattern_to_regex, safe_glob
from eegcorpus.errors import ReaderError
from eegcorpus.readers import read_recording
from eegcorpus.readers.mat import mat_version, recording_from_array
from eegcorpus.recording import make_annotations

#: The 22 EEG electrodes in file order (dataset description, BNCI and MOABB).
EEG_CHANNELS: tuple[str, ...] = (
    "Fz", "FC3", "FC1", "FCz", "FC2", "FC4", "C5", "C3", "C1", "Cz", "C2",
    "C4", "C6", "CP3", "CP1", "CPz", "CP2", "CP4", "P1", "Pz", "P2", "POz",
)  # fmt: skip
#: Channel names of the GDF files as MNE reads them, in file order.
GDF_CHANNELS: tuple[str, ...] = (
    "EEG-Fz", "EEG-0", "EEG-1", "EEG-2", "EEG-3", "EEG-4", "EEG-5", "EEG-C3", "EEG-6", "EEG-Cz",
    "EEG-7", "EEG-C4", "EEG-8", "EEG-9", "EEG-10", "EEG-11", "EEG-12", "EEG-13", "EEG-14",
    "EEG-Pz", "EEG-15", "EEG-16", "EOG-left", "EOG-central", "EOG-right",
)  # fmt: skip
GDF_CHANNEL_MAP: dict[str, str] = dict(zip(GDF_CHANNELS[:22], EEG_CHANNELS))
#: Channel names given to the 25 columns of the BNCI MAT files.
MAT_CHANNELS: tuple[str, ...] = EEG_CHANNELS + ("EOG1", "EOG2", "EOG3")

#: GDF cue code -> card label.
CUE_LABELS: dict[str, str] = {"769": "left_hand", "770": "right_hand", "771": "feet", "772": "tongue"}
UNKNOWN_CUE = "783"
#: Class number (``y``, ``classlabel``) -> card label.
CLASS_LABELS: dict[int, str] = {1: "left_hand", 2: "right_hand", 3: "feet", 4: "tongue"}
#: Seconds from trial start to cue (the cue comes 2 s after the fixation cross).
CUE_DELAY_S = 2.0
_DEFAULT_MAT = "A{subject:02d}{session}.mat"


class BCICIV2aAdapter(DatasetAdapter):
    channel_map = GDF_CHANNEL_MAP

    def __init__(self, card):
        super().__init__(card)
        missing = set(CUE_LABELS.values()) - set(card.labels or {})
        if missing:
            raise ValueError(f"bcic_iv_2a card labels lack {sorted(missing)}")
        self.mat_pattern = card.layout.annotations or _DEFAULT_MAT
        self.mat_regex = pattern_to_regex(self.mat_pattern)
        self.window_s = float(card.window_s) if card.window_s else 4.0

    def find(self, raw_root: Path) -> list[Source]:
        gdf = {str(rel): rel for rel in safe_glob(raw_root, self.pattern)}
        mats = {str(rel): rel for rel in safe_glob(raw_root, self.mat_pattern)}
        sources = []
        for rel in gdf.values():
            source = self.describe(rel, self.fields(rel))
            if source is None:
                continue
            label_file = str(rel.with_suffix(".mat"))
            if source.session == "E" and label_file in mats:
                source.companions["labels"] = label_file
            sources.append(source)
        for key, rel in mats.items():
            if str(rel.with_suffix(".gdf")) in gdf:
                continue  # the true-label file of a GDF recording
            match = self.mat_regex.match(key)
            source = self.describe(rel, match.groupdict() if match else {})
            if source is not None:
                source.extra["variant"] = "bnci_mat"
                sources.append(source)
        return sorted(sources, key=lambda s: s.path)

    def describe(self, rel: PurePosixPath, fields: dict[str, str]) -> Source | None:
        if fields.get("session") not in ("T", "E"):
            return None
        source = super().describe(rel, fields)
        source.task = "motor_imagery"
        return source

    def read(self, raw_root: Path, source: Source):
        path = Path(raw_root) / source.path
        if source.extra.get("variant") == "bnci_mat":
            return read_bnci_mat(path)
        rec = read_recording(path)
        if "labels" in source.companions:
            rec.extra["classlabel"] = read_classlabel(Path(raw_root) / source.companions["labels"]).tolist()
        return rec

    def events(self, source: Source, rec) -> pd.DataFrame:
        ann = rec.annotations
        codes = [str(d).strip() for d in ann["description"]]
        n_unknown = codes.count(UNKNOWN_CUE)
        classlabel = rec.extra.get("classlabel")
        if classlabel is not None and len(classlabel) != n_unknown:
            raise ReaderError(
                rec.source or source.path,
                f"{source.companions.get('labels')} holds {len(classlabel)} class labels for {n_unknown} '783' cues",
            )
        onsets, durations, labels = [], [], []
        k = 0
        for onset, duration, code in zip(ann["onset"], ann["duration"], codes):
            label = None
            if code in CUE_LABELS:
                label = CUE_LABELS[code]
            elif code == UNKNOWN_CUE:
                if classlabel is not None:
                    label = CLASS_LABELS.get(int(classlabel[k]))
                    if label is None:
                        raise ReaderError(rec.source or source.path, f"class label {classlabel[k]!r} is not 1-4")
                k += 1
            cue = code in CUE_LABELS or code == UNKNOWN_CUE
            onsets.append(float(onset))
            durations.append(self.window_s if cue else float(duration))
            labels.append(label)
        return pd.DataFrame({"onset": onsets, "duration": durations, "description": codes, "label": labels})


def read_classlabel(path: Path) -> np.ndarray:
    """The ``classlabel`` vector (1-4, one per trial in file order) of a true-label MAT file.

    Raises
    ------
    ReaderError
        When the file cannot be read or holds no ``classlabel`` (a BNCI data file has ``data``
        instead).
    """
    try:
        if mat_version(path) == "7.3":
            import h5py

            with h5py.File(path, "r") as fh:
                if "classlabel" not in fh:
                    raise ReaderError(path, f"no 'classlabel' variable (variables: {', '.join(fh)})")
                return np.asarray(fh["classlabel"][()]).ravel().astype(int)
        import scipy.io

        content = scipy.io.loadmat(path, variable_names=["classlabel"])
    except ReaderError:
        raise
    except Exception as err:  # scipy/h5py raise ValueError, OSError, zlib.error alike
        raise ReaderError(path, f"cannot read MAT file: {type(err).__name__}: {err}") from err
    if "classlabel" not in content:
        raise ReaderError(path, "no 'classlabel' variable: not a true-label file")
    return np.asarray(content["classlabel"]).ravel().astype(int)


def read_bnci_mat(path: Path):
    """Read a BNCI Horizon 001-2014 MAT file (all runs of one session) into one Recording.

    Raises
    ------
    ReaderError
        When the file has no ``data`` runs, the runs disagree on the rate or the channel
        count, or a run lacks ``X``.
    """
    import scipy.io

    try:
        content = scipy.io.loadmat(path, variable_names=["data"], squeeze_me=True, struct_as_record=False)
    except Exception as err:  # scipy raises ValueError, TypeError, OSError, zlib.error...
        raise ReaderError(path, f"cannot read MAT file: {type(err).__name__}: {err}") from err
    if "data" not in content:
        raise ReaderError(path, "no 'data' variable: not a BNCI Horizon 001-2014 file")
    runs = np.atleast_1d(content["data"])
    blocks, onsets, descriptions = [], [], []
    offset, sfreq = 0, None
    for i, run in enumerate(runs):
        if not hasattr(run, "X"):
            raise ReaderError(path, f"run {i + 1} of 'data' has no field 'X'")
        x = np.atleast_2d(np.asarray(run.X, dtype=np.float64))
        if x.shape[1] != len(MAT_CHANNELS):
            raise ReaderError(path, f"run {i + 1}: X has shape {x.shape}, expected samples x {len(MAT_CHANNELS)}")
        fs = float(run.fs)
        if sfreq is not None and fs != sfreq:
            raise ReaderError(path, f"run {i + 1} is at {fs} Hz, earlier runs at {sfreq} Hz")
        sfreq = fs
        trials = np.atleast_1d(np.asarray(getattr(run, "trial", []), dtype=np.int64))
        classes = np.atleast_1d(np.asarray(getattr(run, "y", []), dtype=np.int64))
        flagged = np.atleast_1d(np.asarray(getattr(run, "artifacts", []), dtype=np.int64))
        if len(classes) != len(trials):
            raise ReaderError(path, f"run {i + 1}: {len(trials)} trials but {len(classes)} classes")
        if not np.isin(classes, list(CLASS_LABELS)).all():
            raise ReaderError(path, f"run {i + 1}: classes {sorted(set(classes.tolist()))} are not all 1-4")
        onsets.append(offset / fs)
        descriptions.append("32766")
        for j, (start, y) in enumerate(zip(trials, classes)):
            t0 = (offset + start - 1) / fs  # MATLAB indices count from 1
            onsets += [t0, t0 + CUE_DELAY_S]
            descriptions += ["768", str(768 + int(y))]
            if j < len(flagged) and flagged[j]:
                onsets.append(t0)
                descriptions.append("1023")
        blocks.append(x)
        offset += x.shape[0]
    if not blocks:
        raise ReaderError(path, "'data' holds no runs")
    data = np.concatenate(blocks, axis=0).T
    annotations = make_annotations(onsets, np.zeros(len(onsets)), descriptions)
    extra = {"variant": "bnci_mat", "n_runs": len(blocks)}
    return recording_from_array(path, data, sfreq, list(MAT_CHANNELS), 1.0, "mat", extra, annotations)


ADAPTER = BCICIV2aAdapter
