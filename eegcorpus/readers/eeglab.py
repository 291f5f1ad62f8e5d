"""EEGLAB ``.set`` (+ ``.fdt``) reader for continuous datasets, backed by MNE."""

from __future__ import annotations

from pathlib import Path

from eegcorpus.errors import ReaderError
from eegcorpus.readers._chtypes import apply_type_guesses
from eegcorpus.readers._mne import quiet_mne, recording_from_raw
from eegcorpus.recording import Recording, sha256_file


def read_eeglab(path: str | Path) -> Recording:
    """Read a continuous EEGLAB dataset into a Recording.

    Epoched datasets (``EEG.trials > 1``) are refused rather than concatenated: gluing epochs
    end to end would invent continuity (a fake signal jump at every seam, overlapping epochs
    repeated) and time stamps that never existed, which is worse for a pretraining corpus
    than leaving the file out. Read such files with ``mne.read_epochs_eeglab``.

    Parameters
    ----------
    path : path-like
        The ``.set`` file. Its data may be inside it or in the ``.fdt`` file it names.

    Returns
    -------
    recording : Recording
        Voltage channels in microvolts, ``format="eeglab"``, EEGLAB events as annotations
        (their ``type`` as description). Channels named like EOG/ECG/EMG are retyped from
        MNE's default ``eeg`` (listed in ``extra["type_guesses"]``). ``sha256`` covers the
        ``.set``; ``extra["companion_sha256"]`` maps the ``.fdt`` file name to its sha256 when
        the samples live there.

    Raises
    ------
    ReaderError
        When the file is missing, is epoched, names an ``.fdt`` that is missing or too
        short, cannot be parsed, or holds NaN or infinite samples.
    """
    path = Path(path)
    if not path.is_file():
        raise ReaderError(path, "file not found")
    if path.stat().st_size == 0:
        raise ReaderError(path, "file is empty (0 bytes)")
    try:
        import mne

        with quiet_mne():
            raw = mne.io.read_raw_eeglab(path, preload=True)
            type_guesses = apply_type_guesses(raw)
    except TypeError as err:
        # MNE's only TypeError here is its "number of trials is N" refusal of epoched sets.
        if "trials" in str(err):
            n_trials = _trials_from_message(str(err))
            raise ReaderError(
                path,
                f"EEGLAB dataset holds {n_trials} epochs (trials), not a continuous recording; epochs are not concatenated (see mne.read_epochs_eeglab)",
            ) from err
        raise ReaderError(path, f"cannot read EEGLAB file: TypeError: {err}") from err
    except Exception as err:  # scipy/h5py/pymatreader/MNE errors of many types
        raise ReaderError(path, f"cannot read EEGLAB file: {type(err).__name__}: {err}") from err

    companions = {}
    for fname in raw.filenames:
        fname = Path(fname)
        if fname.resolve() != path.resolve() and fname.is_file():
            companions[fname.name] = sha256_file(fname)
    extra = {"type_guesses": type_guesses, "companion_sha256": companions}
    return recording_from_raw(raw, path, "eeglab", extra)


def _trials_from_message(message: str) -> str:
    """The trial count in MNE's 'The number of trials is N' message, or 'several'."""
    words = message.replace(".", " ").split()
    for i, word in enumerate(words[:-1]):
        if word == "is" and words[i + 1].isdigit():
            return words[i + 1]
    return "several"
