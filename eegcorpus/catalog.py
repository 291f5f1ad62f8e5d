"""The dataset catalog: one validated YAML card per public EEG dataset.

Cards live in the top-level ``catalog/`` folder of the source tree, which the wheel ships as the
package ``eegcorpus.cards``. Each card records where a dataset comes from (homepage, licence,
access route, citation, pinned checksums), how its files are laid out, what the recordings look
like (subjects, hours, channels, sampling rates, units, mains frequency) and, for downstream
datasets, the evaluation protocol (labels, canonical split, window length, metrics).

Unverified values
-----------------
Any value in a card may be written plainly or as a marked mapping::

    sfreq:
      value: [1024]
      unverified: true
      note: "taken from a third-party table; the official page does not say"

The loader replaces the mapping by its ``value``, appends the field path (``"sfreq"``,
``"split.fractions"``, ``"components[2].subjects"``) to the card's ``unverified`` list when
``unverified`` is true, and stores the ``note`` under the same path in ``field_notes``; a note
alone records context without marking the value. Any mapping with a ``value`` key is read as
such a marker, so no other mapping in a card may use that key. The normalised form (plain
values plus ``unverified`` and ``field_notes``) is what :meth:`DatasetCard.to_dict` returns,
and it loads back unchanged. :meth:`DatasetCard.summary`
and :func:`render_markdown` show every unverified value as such.

Regenerate the documentation page with::

    python -m eegcorpus.catalog --markdown > docs/catalog.md
"""

from __future__ import annotations

import argparse
import functools
import importlib.resources
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from eegcorpus.errors import EEGCorpusError

__all__ = [
    "CatalogError",
    "DatasetCard",
    "Download",
    "DownstreamCard",
    "FileEntry",
    "Layout",
    "PretrainCard",
    "Split",
    "UnknownDatasetError",
    "get_card",
    "load_card",
    "load_catalog",
    "parse_card",
    "render_markdown",
]

#: The command that writes docs/catalog.md; quoted in the generated page.
MARKDOWN_COMMAND = "python -m eegcorpus.catalog --markdown > docs/catalog.md"

Role = Literal["pretrain", "downstream"]
Access = Literal["open", "registration", "agreement"]
#: Same names as the reader registry in :mod:`eegcorpus.readers`.
Format = Literal["edf", "bdf", "gdf", "cnt", "eeglab", "mat", "csv", "brainvision"]
Metric = Literal["balanced_accuracy", "auc_pr", "auroc", "cohen_kappa", "f1_weighted"]
SplitKind = Literal["subject", "trial", "official", "subject_counts", "subject_random"]
Partition = Literal["train", "val", "test"]

#: Fields that only make sense for downstream cards; named in the error for a pretraining card.
DOWNSTREAM_FIELDS = (
    "task",
    "labels",
    "label_source",
    "split",
    "window_s",
    "n_classes",
    "n_channels_used",
    "n_samples",
    "preprocessing",
    "metrics",
    "neuript_reported",
)

#: Metrics that are only defined for two classes.
_BINARY_ONLY_METRICS = ("auc_pr", "auroc")

_MARKER_KEYS = frozenset({"value", "unverified", "note"})
_UNVERIFIED_TEXT = " (unverified)"


# --------------------------------------------------------------------------------------------
# errors


class CatalogError(EEGCorpusError):
    """A catalog card is missing, unreadable or invalid, or a dataset id is unknown.

    The message is one line. For a bad card it names the card file, the field path and what was
    wrong, e.g. ``catalog card 'eegmmidb.yaml': field 'access': Input should be 'open',
    'registration' or 'agreement' (got 'public')``.
    """

    def __init__(self, message: str, *, card: str | None = None, field: str | None = None):
        self.card = card
        self.field = field
        self.message = " ".join(str(message).split())
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class UnknownDatasetError(CatalogError, KeyError):
    """No card has the requested id; also a :class:`KeyError` so mapping-style code works."""

    # KeyError.__str__ would quote the message; keep it readable.
    __str__ = CatalogError.__str__


def _card_error(card: str, field: str | None, reason: str) -> CatalogError:
    where = f"catalog card '{card}'"
    if field:
        return CatalogError(f"{where}: field '{field}': {reason}", card=card, field=field)
    return CatalogError(f"{where}: {reason}", card=card)


def _field_error(field: str, reason: str) -> PydanticCustomError:
    """An error raised from a model validator that still names the offending field.

    Model-level validators report an empty location; the field travels in the context and is
    joined to the location when the error is turned into a :class:`CatalogError`.
    """
    return PydanticCustomError("card_field", "field '{field}': {reason}", {"field": field, "reason": reason})


# --------------------------------------------------------------------------------------------
# small validators


def _check_url(value: str, field: str) -> str:
    if not re.match(r"^https?://\S+$", value):
        raise ValueError(f"{field} must be an http(s) URL (got {value!r})")
    return value


def _expand_ids(value: Any) -> Any:
    """Expand ``"1-28"``, ``"1-5, 8"``, ``[1, "3-4"]`` or ``7`` into a sorted list of ints."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[int] = []
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"expected subject ids or ranges like '1-28' (got {item!r})")
        if isinstance(item, int):
            out.append(item)
            continue
        if not isinstance(item, str):
            raise ValueError(f"expected subject ids or ranges like '1-28' (got {item!r})")
        for part in item.split(","):
            part = part.strip()
            match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
            if match:
                lo, hi = int(match.group(1)), int(match.group(2))
                if hi < lo:
                    raise ValueError(f"range {part!r} runs backwards")
                out.extend(range(lo, hi + 1))
            elif part.isdigit():
                out.append(int(part))
            else:
                raise ValueError(f"expected subject ids or ranges like '1-28' (got {part!r})")
    if len(set(out)) != len(out):
        raise ValueError("an id is listed twice")
    return sorted(out)


def _compress_ids(ids: Iterable[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3, 5"`` for display."""
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    if not runs:
        return "none"
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


# --------------------------------------------------------------------------------------------
# schema


class _Model(BaseModel):
    # Unknown keys are almost always typos in a hand-written card; refuse them.
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Model):
    """One downloadable file with its pinned checksum.

    Attributes
    ----------
    path : str
        Path relative to :attr:`Download.base_url`, with forward slashes.
    sha256 : str
        Lower-case hex digest of the file as served by the host.
    size : int
        Size in bytes.
    """

    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        parts = value.split("/")
        if not value or value.startswith("/") or "\\" in value or ".." in parts or "" in parts:
            raise ValueError(f"must be a relative path with forward slashes (got {value!r})")
        return value


class Download(_Model):
    """Where the raw files come from and which of them have pinned checksums.

    Attributes
    ----------
    base_url : str or None
        URL that :attr:`FileEntry.path` values are relative to. Required for open datasets.
    checksums : {"complete", "partial", "unverified"}
        ``complete``: ``files`` lists every file of the dataset. ``partial``: ``files`` pins a
        subset (the others are fetched unchecked). ``unverified``: no checksum is known and
        ``files`` is empty; nothing is ever guessed.
    files : list of FileEntry
    """

    base_url: str | None = None
    checksums: Literal["complete", "partial", "unverified"]
    files: list[FileEntry] = []

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value, "base_url")

    @model_validator(mode="after")
    def _consistent(self) -> Download:
        if self.checksums == "unverified" and self.files:
            raise _field_error("files", "must be empty when checksums is 'unverified'")
        if self.checksums != "unverified" and not self.files:
            raise _field_error("files", f"checksums is {self.checksums!r} but no file is listed")
        if self.files and self.base_url is None:
            raise _field_error("base_url", "required when files are listed")
        paths = [f.path for f in self.files]
        dupes = sorted({p for p in paths if paths.count(p) > 1})
        if dupes:
            raise _field_error("files", f"path listed twice: {dupes[0]!r}")
        return self


class Layout(_Model):
    """How the raw files sit under the dataset's raw folder.

    Attributes
    ----------
    pattern : str
        Signal files, relative to the raw folder, with ``{placeholders}`` in Python format
        syntax (``S{subject:03d}/S{subject:03d}R{run:02d}.edf``) or glob wildcards.
    annotations : str or None
        Pattern of separate label/annotation files, if any.
    description : str
        The layout in words: what the placeholders mean and what else is in the folder.
    """

    pattern: str
    annotations: str | None = None
    description: str


class Component(_Model):
    """A sub-source of a dataset that needs its own reader (e.g. SEED-IV inside the SEED series).

    Attributes
    ----------
    id, name : str
    subjects : int or None
    formats : list of str
    sfreq : list of float
    layout : Layout
    homepage : str or None
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    subjects: int | None = Field(default=None, ge=1)
    formats: list[Format] = Field(min_length=1)
    sfreq: list[float] = Field(min_length=1)
    layout: Layout
    homepage: str | None = None

    @field_validator("homepage")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value, "homepage")


class Split(_Model):
    """The canonical train/validation/test partition of a downstream dataset.

    Attributes
    ----------
    kind : {"subject", "trial", "official", "subject_counts", "subject_random"}
        ``subject``: explicit subject ids per partition. ``trial``: explicit trial indices,
        applied within every subject and session. ``official``: the dataset's own train/eval
        folders; eval is the test set and ``val_fraction`` of the training subjects (sorted ids,
        last ones) become validation. ``subject_counts``: per-class numbers of subjects per
        partition, taken in sorted id order. ``subject_random``: a random subject partition
        (``fractions``/``seed`` where known).
    description : str
        The rule in words, including where it comes from.
    train, val, test, exclude : list of int
        Ids; cards may write ranges such as ``"1-28"`` or ``"1-5, 8"``.
    id_offset : int
        Added to an id here to get the number used in file names (``-1`` when files count from 0
        but the split counts from 1).
    val_fraction : float or None
    fractions : dict or None
        ``{"train": .., "val": .., "test": ..}`` summing to 1.
    counts : dict or None
        ``{"train": {"MDD": 24, "H": 19}, ...}``.
    seed : int or None
    """

    kind: SplitKind
    description: str
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    exclude: list[int] = []
    id_offset: int = 0
    val_fraction: float | None = Field(default=None, gt=0, lt=1)
    fractions: dict[Partition, float] | None = None
    counts: dict[Partition, dict[str, int]] | None = None
    seed: int | None = None

    @field_validator("train", "val", "test", "exclude", mode="before")
    @classmethod
    def _ranges(cls, value: Any) -> Any:
        return _expand_ids(value)

    @model_validator(mode="after")
    def _by_kind(self) -> Split:
        explicit = self.kind in ("subject", "trial")
        for name in ("train", "val", "test"):
            if getattr(self, name) and not explicit:
                raise _field_error(name, f"id lists are only used with kind 'subject' or 'trial' (kind is {self.kind!r})")
        if explicit:
            for name in ("train", "test"):
                if not getattr(self, name):
                    raise _field_error(name, f"kind {self.kind!r} needs a non-empty list")
            parts = {"train": set(self.train), "val": set(self.val), "test": set(self.test)}
            names = list(parts)
            for i, a in enumerate(names):
                for b in names[i + 1 :]:
                    both = parts[a] & parts[b]
                    if both:
                        raise _field_error(b, f"shares ids with {a}: {_compress_ids(both)}")
                clash = parts[a] & set(self.exclude)
                if clash:
                    raise _field_error(a, f"contains excluded ids: {_compress_ids(clash)}")
        if self.kind == "official" and self.val_fraction is None:
            raise _field_error("val_fraction", "kind 'official' needs the validation fraction")
        if self.kind == "subject_counts":
            if not self.counts or "train" not in self.counts or "test" not in self.counts:
                raise _field_error("counts", "kind 'subject_counts' needs train and test counts")
        elif self.counts is not None:
            raise _field_error("counts", "only used with kind 'subject_counts'")
        if self.fractions is not None:
            if self.kind != "subject_random":
                raise _field_error("fractions", "only used with kind 'subject_random'")
            if abs(sum(self.fractions.values()) - 1.0) > 1e-6:
                raise _field_error("fractions", "must sum to 1")
        if self.val_fraction is not None and self.kind != "official":
            raise _field_error("val_fraction", "only used with kind 'official'")
        return self

    def describe(self) -> str:
        """One-line rendering of the partition (used in the markdown tables)."""
        if self.kind in ("subject", "trial"):
            unit = "subjects" if self.kind == "subject" else "trials"
            text = f"{unit} train {_compress_ids(self.train)} / val {_compress_ids(self.val)} / test {_compress_ids(self.test)}"
        elif self.kind == "official":
            text = f"official train/eval; eval = test; {self.val_fraction:.0%} of training subjects = val"
        elif self.kind == "subject_counts":
            counts = self.counts or {}
            text = "subjects per class " + " / ".join(
                f"{part} " + "+".join(f"{n} {cls}" for cls, n in counts[part].items()) for part in ("train", "val", "test") if part in counts
            )
        else:
            text = "random subject split"
            if self.fractions:
                text += " " + "/".join(f"{self.fractions.get(p, 0):g}" for p in ("train", "val", "test"))
        if self.exclude:
            text += f"; excluded {_compress_ids(self.exclude)}"
        return text


class DatasetCard(_Model):
    """Fields shared by every card. Load cards with :func:`load_card`, not by hand.

    Attributes
    ----------
    id : str
        Equal to the card's file stem.
    name, homepage, version, license, citation : str
    role : {"pretrain", "downstream"}
    doi : str or None
    access : {"open", "registration", "agreement"}
        ``registration``: an account or request form; ``agreement``: a signed licence.
    access_notes : str
        How to obtain the files and where to put them; printed for non-open datasets.
    download : Download
    formats : list of str
        Signal file formats, named as in :mod:`eegcorpus.readers`.
    layout : Layout
    components : list of Component
        Sub-sources with their own reader; empty for most datasets.
    subjects : int
    hours : float or None
        Recorded hours (None only for downstream sets where no reliable figure exists).
    n_channels : int
        EEG channels in the files, non-EEG channels excluded.
    channel_naming, reference, units : str
    sfreq : list of float
        Sampling rates of the EEG channels, in Hz.
    line_freq : {50, 60}
        Mains frequency at the recording site, in Hz.
    drop_channels : list of str
        Non-EEG channels to drop (names or glob patterns).
    notes : list of str
    unverified : list of str
        Field paths whose value is a best guess; filled from inline markers.
    field_notes : dict of str to str
        Notes attached to single fields; filled from inline markers.
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    role: Role
    homepage: str
    doi: str | None = Field(default=None, pattern=r"^10\.\d{4,9}/\S+$")
    version: str
    license: str
    access: Access
    access_notes: str
    citation: str
    download: Download
    formats: list[Format] = Field(min_length=1)
    layout: Layout
    components: list[Component] = []
    subjects: int = Field(ge=1)
    hours: float | None = Field(gt=0)
    n_channels: int = Field(ge=1)
    channel_naming: str
    reference: str
    sfreq: list[float] = Field(min_length=1)
    line_freq: Literal[50, 60]
    units: str
    drop_channels: list[str] = []
    notes: list[str] = []
    unverified: list[str] = []
    field_notes: dict[str, str] = {}

    @field_validator("homepage")
    @classmethod
    def _homepage(cls, value: str) -> str:
        return _check_url(value, "homepage")

    @field_validator("sfreq")
    @classmethod
    def _positive_rates(cls, value: list[float]) -> list[float]:
        if any(v <= 0 for v in value):
            raise ValueError("sampling rates must be positive")
        return value

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a format is listed twice")
        return value

    @model_validator(mode="after")
    def _card_rules(self) -> DatasetCard:
        if self.access == "open" and self.download.base_url is None:
            raise _field_error("download.base_url", "required for open datasets")
        data = self.model_dump()
        for i, path in enumerate(self.unverified):
            if not _resolves(data, path):
                raise _field_error(f"unverified[{i}]", f"{path!r} names no field of this card")
        for path in self.field_notes:
            if not _resolves(data, path):
                raise _field_error("field_notes", f"{path!r} names no field of this card")
        return self

    # -- views -------------------------------------------------------------------------------

    def is_unverified(self, path: str) -> bool:
        """True when ``path`` or anything below it is marked unverified."""
        return any(_within(p, path) for p in self.unverified)

    def summary(self) -> dict[str, Any]:
        """The headline facts as a JSON-serialisable dict (same keys for every role).

        Returns
        -------
        dict
            ``id, name, role, access, license, formats, subjects, hours, n_channels, sfreq,
            line_freq, task, n_classes, unverified``; ``task`` and ``n_classes`` are None for
            pretraining cards. ``unverified`` lists every unverified field path of the card.
        """
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "access": self.access,
            "license": self.license,
            "formats": list(self.formats),
            "subjects": self.subjects,
            "hours": self.hours,
            "n_channels": self.n_channels,
            "sfreq": list(self.sfreq),
            "line_freq": self.line_freq,
            "task": getattr(self, "task", None),
            "n_classes": getattr(self, "n_classes", None),
            "unverified": list(self.unverified),
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole card as JSON-serialisable data (normalised form; loads back unchanged)."""
        return self.model_dump(mode="json")


class PretrainCard(DatasetCard):
    """A dataset used only for self-supervised pretraining."""

    role: Literal["pretrain"]

    @model_validator(mode="after")
    def _needs_hours(self) -> PretrainCard:
        if self.hours is None:
            raise _field_error("hours", "pretraining cards need the recorded hours")
        return self


class DownstreamCard(DatasetCard):
    """A labelled dataset with a fixed evaluation protocol.

    Attributes
    ----------
    task : str
    labels : dict of str to int
        Class name -> integer label, exactly ``0 .. n_classes - 1``.
    label_source : str
        Where the labels come from in the raw files.
    split : Split
    window_s : float
        Length of one example in seconds.
    n_classes : int
    n_channels_used : int
        Channels fed to the model in the reference (NeurIPT) protocol.
    n_samples : int or None
        Number of windows the reference protocol yields; a sanity check for the pipeline.
    preprocessing : str
    metrics : list of str
    neuript_reported : dict of str to float
        Scores reported for NeurIPT in its paper, in percent, keyed by metric.
    """

    role: Literal["downstream"]
    task: str
    labels: dict[str, int] = Field(min_length=2)
    label_source: str
    split: Split
    window_s: float = Field(gt=0)
    n_classes: int = Field(ge=2)
    n_channels_used: int = Field(ge=1)
    n_samples: int | None = Field(default=None, ge=1)
    preprocessing: str
    metrics: list[Metric] = Field(min_length=1)
    neuript_reported: dict[Metric, float] = {}

    @model_validator(mode="after")
    def _protocol_rules(self) -> DownstreamCard:
        if len(self.labels) != self.n_classes:
            raise _field_error("labels", f"has {len(self.labels)} classes but n_classes is {self.n_classes}")
        if sorted(self.labels.values()) != list(range(self.n_classes)):
            raise _field_error("labels", f"integers must be exactly 0..{self.n_classes - 1} (got {sorted(self.labels.values())})")
        if len(set(self.metrics)) != len(self.metrics):
            raise _field_error("metrics", "a metric is listed twice")
        if self.n_classes > 2:
            bad = [m for m in self.metrics if m in _BINARY_ONLY_METRICS]
            if bad:
                raise _field_error("metrics", f"{bad[0]!r} is only defined for binary tasks")
        for metric, value in self.neuript_reported.items():
            if metric not in self.metrics:
                raise _field_error(f"neuript_reported.{metric}", "not one of the card's metrics")
            if not 0 <= value <= 100:
                raise _field_error(f"neuript_reported.{metric}", "must be a percentage 0-100")
        return self


_CARD_CLASSES: dict[str, type[DatasetCard]] = {
    "pretrain": PretrainCard,
    "downstream": DownstreamCard,
}


# --------------------------------------------------------------------------------------------
# field paths and inline markers


def _path_tokens(path: str) -> list[str | int]:
    tokens: list[str | int] = []
    for part in path.split("."):
        match = re.fullmatch(r"([^\[\]]*)((?:\[\d+\])*)", part)
        if not match:
            return []
        if match.group(1):
            tokens.append(match.group(1))
        tokens.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return tokens


def _resolves(data: Any, path: str) -> bool:
    tokens = _path_tokens(path)
    if not tokens:
        return False
    node = data
    for token in tokens:
        if isinstance(token, int):
            if not isinstance(node, list) or token >= len(node):
                return False
        elif not isinstance(node, dict) or token not in node:
            return False
        node = node[token]
    return True


def _within(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


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
        return Path(__file__).resolve().parents[1] / "catalog"


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


# --------------------------------------------------------------------------------------------
# markdown


def _num(value: float | int | None) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def _cell(text: str) -> str:
    """One table cell or paragraph: single line, pipes escaped, ``<...>`` kept visible.

    Angle brackets outside code spans would be swallowed as HTML tags (``<raw_dir>``), so they
    are escaped there; inside backticks they already render literally.
    """
    parts = " ".join(str(text).split()).split("`")
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts).replace("|", "\\|")


def _mark(card: DatasetCard, path: str, text: str) -> str:
    return text + (_UNVERIFIED_TEXT if card.is_unverified(path) else "")


def _rates(card: DatasetCard) -> str:
    return ", ".join(_num(r) for r in card.sfreq)


def _field_rows(card: DatasetCard) -> list[tuple[str, str, str]]:
    """(label, field path, rendered value) rows of a card's section table."""
    rows = [
        ("Role", "role", card.role),
        ("Homepage", "homepage", card.homepage),
        ("DOI", "doi", card.doi or "none"),
        ("Version", "version", card.version),
        ("Licence", "license", card.license),
        ("Access", "access", card.access),
        ("Download", "download.base_url", card.download.base_url or "none"),
        ("Checksums", "download.checksums", f"{card.download.checksums} ({len(card.download.files)} files pinned)"),
        ("Formats", "formats", ", ".join(card.formats)),
        ("Files", "layout.pattern", f"`{card.layout.pattern}`"),
    ]
    if card.layout.annotations:
        rows.append(("Annotation files", "layout.annotations", f"`{card.layout.annotations}`"))
    rows += [
        ("Layout", "layout.description", card.layout.description),
        ("Subjects", "subjects", _num(card.subjects)),
        ("Hours", "hours", _num(card.hours)),
        ("EEG channels", "n_channels", _num(card.n_channels)),
        ("Channel names", "channel_naming", card.channel_naming),
        ("Reference", "reference", card.reference),
        ("Sampling rate (Hz)", "sfreq", _rates(card)),
        ("Mains (Hz)", "line_freq", _num(card.line_freq)),
        ("Units", "units", card.units),
        ("Drop channels", "drop_channels", ", ".join(f"`{name}`" for name in card.drop_channels) or "none"),
    ]
    for i, comp in enumerate(card.components):
        rows.append(
            (
                f"Component `{comp.id}`",
                f"components[{i}]",
                f"{comp.name}; {_num(comp.subjects)} subjects; {', '.join(comp.formats)}; {', '.join(_num(r) for r in comp.sfreq)} Hz; `{comp.layout.pattern}`",
            )
        )
    if isinstance(card, DownstreamCard):
        reported = ", ".join(f"{m} {_num(v)}" for m, v in card.neuript_reported.items())
        rows += [
            ("Task", "task", card.task),
            ("Labels", "labels", ", ".join(f"{k}={v}" for k, v in card.labels.items())),
            ("Label source", "label_source", card.label_source),
            ("Split", "split", f"{card.split.describe()}. {card.split.description}"),
            ("Window (s)", "window_s", _num(card.window_s)),
            ("Classes", "n_classes", _num(card.n_classes)),
            ("Channels used", "n_channels_used", _num(card.n_channels_used)),
            ("Windows (reference protocol)", "n_samples", _num(card.n_samples)),
            ("Preprocessing", "preprocessing", card.preprocessing),
            ("Metrics", "metrics", ", ".join(card.metrics)),
            ("NeurIPT reported (%)", "neuript_reported", reported or "none"),
        ]
    return [(label, path, _mark(card, path, value)) for label, path, value in rows]


def _section(card: DatasetCard) -> list[str]:
    lines = [f'<a id="{card.id}"></a>', "", f"### `{card.id}`: {_cell(card.name)}", ""]
    lines += ["| Field | Value |", "|---|---|"]
    lines += [f"| {label} | {_cell(value)} |" for label, _, value in _field_rows(card)]
    lines += ["", f"**Getting the data.** {_cell(card.access_notes)}", ""]
    lines += [f"**Citation.** {_cell(card.citation)}", ""]
    if card.unverified:
        lines += ["**Unverified values:** " + ", ".join(f"`{p}`" for p in card.unverified), ""]
    if card.field_notes or card.notes:
        lines.append("**Notes.**")
        lines.append("")
        for path, note in card.field_notes.items():
            lines.append(f"- `{path}`{_UNVERIFIED_TEXT if path in card.unverified else ''}: {_cell(note)}")
        lines += [f"- {_cell(note)}" for note in card.notes]
        lines.append("")
    return lines


def render_markdown(cards: Mapping[str, DatasetCard] | Iterable[DatasetCard]) -> str:
    """The text of ``docs/catalog.md``.

    Parameters
    ----------
    cards : mapping or iterable of DatasetCard

    Returns
    -------
    str
        A generated-file header, a summary table of pretraining then downstream datasets, and
        one section per card. Unverified values carry a trailing ``(unverified)``.
    """
    items = list(cards.values()) if isinstance(cards, Mapping) else list(cards)
    items.sort(key=lambda c: c.id)
    pretrain = [c for c in items if c.role == "pretrain"]
    downstream = [c for c in items if c.role == "downstream"]
    total = sum(c.hours or 0.0 for c in pretrain)
    out = [
        "# Dataset catalog",
        "",
        "<!-- Generated from catalog/*.yaml; do not edit by hand. -->",
        f"This page is generated from the cards in `catalog/`. Regenerate it with `{MARKDOWN_COMMAND}`.",
        "",
        f"Values marked{_UNVERIFIED_TEXT} are best guesses that no primary source or real file has confirmed yet.",
        "",
        f"## Pretraining datasets ({len(pretrain)}, {_num(total)} h)",
        "",
        "| Id | Name | Access | Formats | Subjects | Hours | EEG channels | Hz |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in pretrain:
        out.append(
            f"| [`{c.id}`](#{c.id}) | {_cell(c.name)} | {_mark(c, 'access', c.access)} "
            f"| {_mark(c, 'formats', ', '.join(c.formats))} "
            f"| {_mark(c, 'subjects', _num(c.subjects))} | {_mark(c, 'hours', _num(c.hours))} "
            f"| {_mark(c, 'n_channels', _num(c.n_channels))} | {_mark(c, 'sfreq', _rates(c))} |"
        )
    out += [
        "",
        f"## Downstream datasets ({len(downstream)})",
        "",
        "| Id | Task | Access | Formats | Subjects | Classes | Window (s) | Split | Metrics | NeurIPT BAcc (%) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in downstream:
        assert isinstance(c, DownstreamCard)
        bacc = c.neuript_reported.get("balanced_accuracy")
        out.append(
            f"| [`{c.id}`](#{c.id}) | {_cell(_mark(c, 'task', c.task))} "
            f"| {_mark(c, 'access', c.access)} | {_mark(c, 'formats', ', '.join(c.formats))} "
            f"| {_mark(c, 'subjects', _num(c.subjects))} "
            f"| {_mark(c, 'n_classes', _num(c.n_classes))} "
            f"| {_mark(c, 'window_s', _num(c.window_s))} | {_mark(c, 'split.kind', c.split.kind)} "
            f"| {_mark(c, 'metrics', ', '.join(c.metrics))} | {_num(bacc)} |"
        )
    out += ["", "## Cards", ""]
    for c in pretrain + downstream:
        out += _section(c)
    return "\n".join(out).rstrip("\n") + "\n"


# --------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    """``python -m eegcorpus.catalog --markdown | --json``."""
    parser = argparse.ArgumentParser(prog="python -m eegcorpus.catalog", description="Validate and print the dataset catalog.")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--markdown", action="store_true", help="print docs/catalog.md")
    group.add_argument("--json", action="store_true", help="print every card as JSON")
    args = parser.parse_args(argv)
    try:
        catalog = load_catalog()
    except CatalogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.markdown:
        sys.stdout.write(render_markdown(catalog))
    else:
        json.dump({k: c.to_dict() for k, c in catalog.items()}, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
