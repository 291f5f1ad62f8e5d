"""Loading cards: safe YAML, inline unverified-value markers, the packaged catalog folder."""

from __future__ import annotations

import functools
import importlib.resources
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from eegcorpus.catalog.errors import CatalogError, UnknownDatasetError, _card_error
from eegcorpus.catalog.paths import _join
from eegcorpus.catalog.schema import (
    _CARD_CLASSES,
    _MARKER_KEYS,
    DOWNSTREAM_FIELDS,
    DatasetCard,
)

# --------------------------------------------------------------------------------------------
# inline markers


class _MarkerError(Exception):
    def __init__(self, path: str, reason: str):
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _unwrap(node: Any, path: str, unverified: list[str], notes: dict[str, str]) -> Any:
    """Replace every ``{value, unverified, note}`` mapping by its value, recording the marks."""
    if isinstance(node, dict):
        if "value" in node:
            extra = sorted(str(k) for k in set(node) - _MARKER_KEYS)
            if extra:
                raise _MarkerError(path, f"a marked value takes only the keys value, unverified and note (got {', '.join(map(repr, extra))})")
            flag = node.get("unverified", False)
            if not isinstance(flag, bool):
                raise _MarkerError(path, f"'unverified' must be true or false (got {flag!r})")
            note = node.get("note")
            if note is not None and not isinstance(note, str):
                raise _MarkerError(path, f"'note' must be text (got {note!r})")
            if flag:
                unverified.append(path)
            if note:
                notes[path] = " ".join(note.split())
            return _unwrap(node["value"], path, unverified, notes)
        return {k: _unwrap(v, _join(path, k), unverified, notes) for k, v in node.items()}
    if isinstance(node, list):
        return [_unwrap(v, _join(path, i), unverified, notes) for i, v in enumerate(node)]
    return node


# --------------------------------------------------------------------------------------------
# loading


def _describe_input(value: Any) -> str:
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = repr(value)
        return f" (got {text[:77] + '...' if len(text) > 80 else text})"
    return ""


def _from_validation_error(card: str, exc: ValidationError, role: str) -> CatalogError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = [p for p in first["loc"]]
    path = ""
    for part in loc:
        path = _join(path, part)
    kind = first["type"]
    if kind == "card_field":
        ctx = first.get("ctx") or {}
        path = _join(path, ctx["field"]) if path else ctx["field"]
        reason = ctx["reason"]
    elif kind == "extra_forbidden":
        if role == "pretrain" and path in DOWNSTREAM_FIELDS:
            reason = "only allowed on downstream cards (this card has role 'pretrain')"
        else:
            reason = "unknown field (not part of the card schema; check the spelling)"
    elif kind == "missing":
        reason = "required field is missing"
    else:
        reason = first["msg"].removeprefix("Value error, ") + _describe_input(first["input"])
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return _card_error(card, path or None, reason)


def parse_card(data: Any, source: str = "<data>") -> DatasetCard:
    """Validate card data already read from YAML or JSON.

    Parameters
    ----------
    data : Any
        The parsed document: a mapping, possibly with inline ``{value, unverified, note}``
        markers, or the normalised form from :meth:`DatasetCard.to_dict`.
    source : str
        Card file name used in error messages.

    Returns
    -------
    DatasetCard
        A :class:`PretrainCard` or :class:`DownstreamCard`, chosen by ``role``.

    Raises
    ------
    CatalogError
        When anything is wrong; the message names ``source`` and the field.
    """
    if not isinstance(data, Mapping):
        raise _card_error(source, None, f"expected a mapping of fields at the top level (got {type(data).__name__})")
    raw = dict(data)
    unverified = raw.pop("unverified", None) or []
    field_notes = raw.pop("field_notes", None) or {}
    if not isinstance(unverified, list) or not all(isinstance(p, str) for p in unverified):
        raise _card_error(source, "unverified", "must be a list of field paths")
    if not isinstance(field_notes, Mapping):
        raise _card_error(source, "field_notes", "must map field paths to text")
    unverified, field_notes = list(unverified), dict(field_notes)
    try:
        plain = _unwrap(raw, "", unverified, field_notes)
    except _MarkerError as exc:
        raise _card_error(source, exc.path, exc.reason) from None
    role = plain.get("role")
    if role is None:
        raise _card_error(source, "role", "required field is missing")
    if role not in _CARD_CLASSES:
        raise _card_error(source, "role", "Input should be 'pretrain' or 'downstream'" + _describe_input(role))
    plain["unverified"] = list(dict.fromkeys(unverified))  # keep order, drop repeats
    plain["field_notes"] = field_notes
    try:
        return _CARD_CLASSES[role].model_validate(plain)
    except ValidationError as exc:
        raise _from_validation_error(source, exc, role) from None


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_card(path: str | os.PathLike[str] | Any) -> DatasetCard:
    """Load and validate one card file.

    The YAML is read with a safe loader (libyaml's ``CSafeLoader`` when PyYAML was built with
    it, ten times faster than the pure-Python one, else ``SafeLoader``), so tags such as
    ``!!python/object`` are refused rather than executed.

    Parameters
    ----------
    path : str, path-like or importlib.resources Traversable
        A ``<id>.yaml`` file.

    Returns
    -------
    DatasetCard

    Raises
    ------
    CatalogError
        The file is missing, is not valid YAML, fails validation, or its ``id`` differs from
        its file stem.
    """
    if isinstance(path, (str, os.PathLike)):
        path = Path(path)
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise _card_error(name, None, f"cannot read the file: {exc.strerror or exc}") from None
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise _card_error(name, None, f"not valid YAML: {exc}") from None
    card = parse_card(data, source=name)
    stem = name[:-5] if name.endswith(".yaml") else Path(name).stem
    if card.id != stem:
        raise _card_error(name, "id", f"{card.id!r} does not match the file name (the id must equal the file stem {stem!r})")
    return card


def _default_directory() -> Any:
    try:
        return importlib.resources.files("eegcorpus.cards")
    except ModuleNotFoundError:
        # Working from a source checkout without installing: catalog/ sits beside eegcorpus/.
        return Path(__file__).resolve().parents[2] / "catalog"


def _load_directory(directory: Any) -> dict[str, DatasetCard]:
    try:
        entries = [e for e in directory.iterdir() if e.name.endswith(".yaml")]
    except OSError as exc:
        raise CatalogError(f"cannot list catalog folder {directory}: {exc.strerror or exc}") from None
    if not entries:
        raise CatalogError(f"no catalog cards (*.yaml) in {directory}")
    cards = [load_card(e) for e in entries]
    return {card.id: card for card in sorted(cards, key=lambda c: c.id)}


@functools.lru_cache(maxsize=1)
def _load_default() -> dict[str, DatasetCard]:
    return _load_directory(_default_directory())


def load_catalog(directory: str | os.PathLike[str] | None = None) -> dict[str, DatasetCard]:
    """Load every card in a folder.

    Parameters
    ----------
    directory : path-like, optional
        Folder of ``*.yaml`` cards. Defaults to the installed ``eegcorpus.cards`` package, or
        the source tree's ``catalog/`` folder when the package is not installed; that default
        load is cached.

    Returns
    -------
    dict of str to DatasetCard
        Cards keyed by id, in id order.

    Raises
    ------
    CatalogError
        On the first bad card, or when the folder holds no card.
    """
    if directory is None:
        return dict(_load_default())
    return _load_directory(Path(directory))


def get_card(dataset_id: str) -> DatasetCard:
    """The card of one dataset from the default catalog.

    Raises
    ------
    UnknownDatasetError
        A :class:`CatalogError` and :class:`KeyError` whose message lists the valid ids.
    """
    catalog = _load_default()
    try:
        return catalog[dataset_id]
    except KeyError:
        raise UnknownDatasetError(f"unknown dataset {dataset_id!r}; valid ids: {', '.join(catalog)}") from None
