"""Canonical channel names: one spelling per 10-05 electrode, whatever the file wrote.

The rules, applied in order (the original name is always kept beside the canonical one):

1. strip whitespace and EEGMMIDB's padding dots (``Fc5.`` -> ``Fc5``, ``Cz..`` -> ``Cz``);
2. strip the type prefixes ``EEG`` and ``POL`` (EDF+ convention, Nihon Kohden);
3. strip reference suffixes ``-REF``, ``-LE``, ``-AR``, ``-AVG``, ``-Ref`` (TUH, Mumtaz,
   Nihon Kohden);
4. bipolar names (``FP1-F7``) are canonicalised electrode by electrode (``Fp1-F7``);
5. match the 10-05 table case-insensitively (``FP1`` -> ``Fp1``, ``FCZ`` -> ``FCz``);
6. replace old 10-20 names with their 10-10 successors (``T3/T4/T5/T6`` -> ``T7/T8/P7/P8``)
   and Neuroscan's cerebellar ``CB1/CB2`` with ``POO7/POO8`` (MNE issue 8765).

A name that matches no electrode after these steps is returned cleaned but otherwise unchanged.
"""

from __future__ import annotations

import re
from functools import lru_cache

from eegcorpus.channels.template import electrode_table

#: Old or vendor names -> the 10-05 electrode at the same place.
ALIASES: dict[str, str] = {
    "T3": "T7",
    "T4": "T8",
    "T5": "P7",
    "T6": "P8",
    "CB1": "POO7",
    "CB2": "POO8",
}

_PREFIX = re.compile(r"^(?:EEG|POL)[\s_-]+", re.IGNORECASE)
_REF_SUFFIX = re.compile(r"-(?:REF|LE|AR|AVG)$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _table_by_upper() -> dict[str, str]:
    return {name.upper(): name for name in electrode_table()}


def _canonical_electrode(token: str) -> str:
    token = token.strip().strip(".").strip()
    upper = token.upper()
    table = _table_by_upper()
    name = table.get(upper, token)
    return ALIASES.get(name, ALIASES.get(upper, name))


def clean_name(name: str) -> str:
    """Strip padding, type prefixes and reference suffixes, but keep the spelling."""
    text = name.strip().strip(".").strip()
    text = _PREFIX.sub("", text)
    return _REF_SUFFIX.sub("", text).strip()


def split_bipolar(name: str) -> tuple[str, str] | None:
    """``("Fp1", "F7")`` for a bipolar channel name like ``EEG FP1-F7``; None otherwise.

    Only names whose both sides are known electrodes count as bipolar, so vendor names with a
    dash (``ECG-1``) are not split.
    """
    text = clean_name(name)
    if text.count("-") != 1:
        return None
    left, right = (_canonical_electrode(part) for part in text.split("-"))
    table = _table_by_upper()
    if left.upper() in table and right.upper() in table:
        return left, right
    return None


def canonical_name(name: str) -> str:
    """The canonical 10-05 spelling of a channel name (see the module docstring).

    Examples
    --------
    >>> canonical_name("Fc5.")
    'FC5'
    >>> canonical_name("EEG T3-REF")
    'T7'
    >>> canonical_name("EEG FP1-F7")
    'Fp1-F7'
    """
    bipolar = split_bipolar(name)
    if bipolar:
        return f"{bipolar[0]}-{bipolar[1]}"
    return _canonical_electrode(clean_name(name))


def is_known_electrode(name: str) -> bool:
    """True when ``name`` canonicalises to a 10-05 electrode (monopolar)."""
    return canonical_name(name).upper() in _table_by_upper()
