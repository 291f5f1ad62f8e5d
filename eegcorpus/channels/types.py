"""Channel types from a channel's name and physical unit.

EDF has no channel-type field; the EDF+ convention puts the type first in the label
(``EEG Fp1``, ``ECG ECG``, ``EOG horizontal``) but clinical exports mix conventions (TUH writes
eye channels as ``EEG LOC-REF``, photic and burst channels as ``PHOTIC-REF``, ``IBI``). Rules, in
order: a name pattern for a non-EEG signal wins; then a non-voltage unit makes the channel
``misc``; then anything else is ``eeg``.
"""

from __future__ import annotations

import re

from eegcorpus.recording import unit_scale_to_uv

# Patterns are matched against the upper-cased name with any EEG/POL prefix and reference
# suffix removed, so "EEG LOC-REF" is tested as "LOC".
_RULES: tuple[tuple[str, re.Pattern], ...] = (
    ("stim", re.compile(r"^(STATUS|TRIG\w*|TRIGGER|STI[ _]?\d*|STIM\w*|EVENT MARKER|MARKER|FEEDBACKEVENT|ANNOTATIONS?)$")),
    ("eog", re.compile(r"EOG|^[VH]EO[GLR]?$|^(LOC|ROC|E[12])$")),
    ("ecg", re.compile(r"ECG|EKG")),
    ("emg", re.compile(r"EMG|^CHIN")),
    ("resp", re.compile(r"^RESP|THOR|ABDO|FLOW|NASAL|SNORE")),
    (
        "misc",
        re.compile(r"^(TEMP|SAO2|SPO2|PULSE|PHOTIC|IBI|BURSTS|SUPPR|DC\d+|POS|LIGHT|ACC\w*|HR|PLETH|BVP|GSR|OX\w*)\b"),
    ),
)
_PREFIX = re.compile(r"^(?:EEG|POL)[\s_-]+")
_SUFFIX = re.compile(r"-(?:REF|LE|AR|AVG)$")


def guess_channel_type(name: str, unit: str | None = None) -> str:
    """Guess the type of a channel (``eeg``, ``eog``, ``ecg``, ``emg``, ``resp``, ``stim``, ``misc``).

    Parameters
    ----------
    name : str
        The label as written in the file.
    unit : str | None
        Physical unit from the file; a non-voltage unit (``%``, ``degC``, ``G``) makes an
        otherwise unrecognised channel ``misc``. None when the format has no unit.

    Examples
    --------
    >>> [guess_channel_type(n) for n in ("EEG Fp1", "EEG LOC-REF", "ECG ECG", "Status", "IBI")]
    ['eeg', 'eog', 'ecg', 'stim', 'misc']
    """
    text = _SUFFIX.sub("", _PREFIX.sub("", name.strip().strip(".").upper()))
    for kind, pattern in _RULES:
        if pattern.search(text):
            return kind
    if unit is not None and unit.strip() not in ("", "-") and unit_scale_to_uv(unit) is None:
        return "misc"
    return "eeg"
