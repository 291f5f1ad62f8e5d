"""Argument validators that say exactly what was wrong (MNE-Python style)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def check_option(parameter: str, value: Any, allowed: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise a ValueError naming all choices.

    Examples
    --------
    >>> check_option("on_missing", "warn", ("raise", "warn", "nan"))
    'warn'
    """
    allowed = tuple(allowed)
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"Invalid value for the {parameter!r} parameter. Allowed values are {choices}, but got {value!r} instead.")
    return value


def check_type(parameter: str, value: Any, types: type | tuple[type, ...]) -> Any:
    """Return ``value`` if it is an instance of ``types``, else raise a TypeError."""
    if not isinstance(value, types):
        names = " or ".join(t.__name__ for t in types) if isinstance(types, tuple) else types.__name__
        raise TypeError(f"The {parameter!r} parameter must be an instance of {names}, but got {type(value).__name__} instead.")
    return value


def expand_subjects(values: Iterable[str] | None) -> list[str] | None:
    """Subject ids from the command line: each value one id, a comma list, or a numeric range.

    Examples
    --------
    >>> expand_subjects(["1-3", "7,9", "H12"])
    ['1', '2', '3', '7', '9', 'H12']
    """
    if not values:
        return None
    out: list[str] = []
    for value in values:
        for item in str(value).split(","):
            item = item.strip()
            low, sep, high = item.partition("-")
            if sep and low.isdigit() and high.isdigit():
                if int(low) > int(high):
                    raise ValueError(f"Invalid value for the 'subjects' parameter: the range {item!r} runs backwards.")
                out.extend(str(i) for i in range(int(low), int(high) + 1))
            elif item:
                out.append(item)
    return out
