"""Channel-type guesses from channel names, for formats that do not store types.

MAT and CSV files carry no channel types at all, and several MNE readers (CNT, GDF, EEGLAB,
BrainVision) type every channel ``eeg`` unless told otherwise, so an ``EOG1`` or ``ECG`` channel
would otherwise end up among the scalp electrodes.
"""

from __future__ import annotations

from eegcorpus.channels.types import guess_channel_type as _channel_layer_guess

#: Types that hold voltages; the only ones we let a name-based guess assign on top of an MNE
#: reader, because turning an MNE voltage channel into ``stim`` would leave its values scaled
#: to volts while the Recording would claim raw trigger codes.
VOLTAGE_TYPES: frozenset[str] = frozenset({"eeg", "eog", "ecg", "emg"})


def guess_channel_type(name: str) -> str:
    """The channel layer's name-based type (:func:`eegcorpus.channels.types.guess_channel_type`),
    for formats without units: ``eeg``, ``eog``, ``ecg``, ``emg``, ``resp``, ``stim`` or ``misc``.

    Examples
    --------
    >>> [guess_channel_type(n) for n in ("Fp1", "VEO", "EOG-left", "EKG", "Status", "FeedBackEvent")]
    ['eeg', 'eog', 'eog', 'ecg', 'stim', 'stim']
    """
    return _channel_layer_guess(name)


def refine_default_types(ch_names: list[str], ch_types: list[str]) -> dict[str, str]:
    """Name-based type changes for channels that an MNE reader left at its default ``eeg``.

    Parameters
    ----------
    ch_names : list of str
        Channel names.
    ch_types : list of str
        Types the MNE reader assigned.

    Returns
    -------
    mapping : dict
        ``{name: new_type}`` for channels typed ``eeg`` whose name says EOG, ECG or EMG, ready
        for :meth:`mne.io.Raw.set_channel_types`. Only voltage types are proposed (see
        :data:`VOLTAGE_TYPES`), so the values' unit stays valid.
    """
    mapping = {}
    for name, kind in zip(ch_names, ch_types):
        if kind != "eeg":
            continue  # the reader (or the file) already said something specific
        guess = guess_channel_type(name)
        if guess != "eeg" and guess in VOLTAGE_TYPES:
            mapping[name] = guess
    return mapping


def apply_type_guesses(raw) -> dict[str, str]:
    """Retype, in place, the channels of an MNE Raw that its reader left at the default ``eeg``.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        A loaded Raw.

    Returns
    -------
    mapping : dict
        The ``{name: new_type}`` changes made (empty when none), worth keeping in
        ``Recording.extra`` so that a reader's guess is never mistaken for the file's word.
    """
    mapping = refine_default_types(list(raw.ch_names), list(raw.get_channel_types()))
    if mapping:
        raw.set_channel_types(mapping, verbose="error")
    return mapping
