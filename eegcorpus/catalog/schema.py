"""The card schema: pydantic models of a dataset card and the validators of their fields."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from eegcorpus.catalog.errors import _field_error
from eegcorpus.catalog.paths import _resolves, _within

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
