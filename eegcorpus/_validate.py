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
        raise ValueError(
            f"Invalid value for the {parameter!r} parameter. "
            f"Allowed values are {choices}, but got {value!r} instead."
        )
    return value


def check_type(parameter: str, value: Any, types: type | tuple[type, ...]) -> Any:
    """Return ``value`` if it is an instance of ``types``, else raise a TypeError."""
    if not isinstance(value, types):
        names = (
            " or ".join(t.__name__ for t in types) if isinstance(types, tuple) else types.__name__
        )
        raise TypeError(
            f"The {parameter!r} parameter must be an instance of {names}, "
            f"but got {type(value).__name__} instead."
        )
    return value
