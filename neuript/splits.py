"""Subject-wise train / validation / test splits of a task's windows.

Subjects are identified as the store writes them: the dataset's own numbering (MentalArithmetic
file ``Subject00`` is subject ``"1"``, BCIC-IV-2A ``A01`` is ``"1"``, TUH subjects are their
patient codes), so a store holding only some subjects still splits correctly.

Three ways to split (``--split``):

``paper``
    The card's canonical split (:func:`paper_split`), restricted to the subjects the windows
    hold.
``loso``
    Leave one subject out (:func:`loso_splits`): one fold per subject; the next subject in
    sorted order (cyclically) is that fold's validation subject, the rest train.
``FILE``
    A JSON file ``{"train": [...], "val": [...], "test": [...]}`` of subject ids
    (:func:`read_split_file`); or ``{"folds": [{...}, ...]}`` for a cross-validation.

No subject is ever in two parts of one split; :class:`SubjectSplit` refuses it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Fractions for ``subject_random`` cards that publish none (P300, Sleep-EDFx): EEGPT's
#: 60/20/20 subject split of Sleep-EDFx, used for both.
DEFAULT_FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
#: Seed of ``subject_random`` splits whose card gives none (the paper's training seed).
DEFAULT_SEED = 520
#: Cards with no validation subjects (SEED-V): this fraction of the training subjects, the last
#: in sorted order, becomes validation (SEED-V: subjects 9 and 10).
VAL_FRACTION_WHEN_NONE = 0.2


def subject_key(subject: str):
    """Sort key: numbers numerically, then other ids as text (``"2" < "10" < "ST1"``)."""
    subject = str(subject)
    if subject.isdigit():
        return (0, int(subject), "")
    match = re.fullmatch(r"(\D*)(\d+)", subject)
    if match:
        return (1, int(match.group(2)), match.group(1))
    return (2, 0, subject)


def sort_subjects(subjects) -> list[str]:
    return sorted({str(s) for s in subjects}, key=subject_key)


def _normalise(ids) -> tuple[str, ...]:
    out = []
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"Subject ids must be integers or strings, got {value!r}.")
        out.append(str(value))
    return tuple(out)


@dataclass(frozen=True)
class SubjectSplit:
    """One train / validation / test partition of subjects.

    Raises
    ------
    ValueError
        When a subject is in two parts, or listed twice in one.
    """

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def __post_init__(self):
        parts = {"train": self.train, "val": self.val, "test": self.test}
        for name, ids in parts.items():
            object.__setattr__(self, name, _normalise(ids))
            if len(set(getattr(self, name))) != len(getattr(self, name)):
                raise ValueError(f"Split part {name!r} lists a subject twice: {list(getattr(self, name))}.")
        names = list(parts)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                both = set(getattr(self, a)) & set(getattr(self, b))
                if both:
                    raise ValueError(f"Subject(s) {', '.join(sort_subjects(both))} are in both {a!r} and {b!r}; a subject belongs to one part.")

    def to_dict(self) -> dict:
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}

    def part(self, subjects: np.ndarray) -> np.ndarray:
        """``"train"``, ``"val"``, ``"test"`` or ``""`` for each entry of ``subjects``."""
        subjects = np.asarray(subjects, dtype=object).astype(str)
        out = np.full(len(subjects), "", dtype=object)
        for name in ("train", "val", "test"):
            out[np.isin(subjects, list(getattr(self, name)))] = name
        return out


def _restrict(split: SubjectSplit, present, what: str) -> SubjectSplit:
    """Keep only subjects that have windows.

    Training subjects must remain, and validation or test subjects: a split whose test subjects
    are all absent (a store built without them, as when they are held out for an independent
    evaluation) still trains and selects on validation, and its results are validation scores.
    """
    present = {str(s) for s in present}
    kept = SubjectSplit(*(tuple(s for s in getattr(split, p) if s in present) for p in ("train", "val", "test")))
    missing = [part for part in ("train", "test") if not getattr(kept, part)]
    if "train" in missing or (missing and not kept.val):
        part = missing[0]
        wanted = getattr(split, part)
        raise ValueError(
            f"The {what} has no {part} subject among the subjects with windows "
            f"({_describe(sort_subjects(present))}); its {part} subjects are {_describe(wanted)}. "
            f"Pass --split loso, or a split FILE, for a store that holds other subjects."
        )
    return kept


def _describe(ids) -> str:
    """``["1", "2", "3", "7"]`` -> ``"1-3, 7"``; other ids joined as they are."""
    ids = list(ids)
    if not ids:
        return "none"
    if not all(str(i).isdigit() for i in ids):
        return ", ".join(map(str, ids))
    runs: list[list[int]] = []
    for i in sorted(int(i) for i in ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def paper_split(task, subjects, partitions=None) -> SubjectSplit:
    """The card's canonical split of ``subjects`` (the subjects that have windows).

    Parameters
    ----------
    task : neuript.tasks.Task
    subjects : array-like of str
        Subject of every window (or the distinct subjects).
    partitions : array-like of str | None
        Official partition of every window (``train``/``eval``), for ``official`` splits.

    Notes
    -----
    - ``subject``: the card's ids. Without validation ids (SEED-V) the last
      :data:`VAL_FRACTION_WHEN_NONE` of the training subjects validate.
    - ``official``: the eval partition is the test set; the training subjects, sorted, are cut
      into the first ``1 - val_fraction`` (train) and the rest (validation).
    - ``subject_counts``: subjects grouped by the letters before their number (``H``, ``MDD``),
      each group sorted by number, then taken in order: the card's train, val, test counts.
    - ``subject_random``: the card's excluded subjects removed, the rest permuted with the
      card's seed (:data:`DEFAULT_SEED` when none) and cut by its fractions
      (:data:`DEFAULT_FRACTIONS` when none), at least one subject in validation and test.
    """
    card_split = task.split
    subjects_arr = np.asarray(subjects, dtype=object).astype(str)
    present = sort_subjects(subjects_arr)
    kind = card_split.kind
    what = f"paper split of {task.name} ({card_split.describe()})"
    if kind == "subject":
        train = [str(i) for i in card_split.train]
        val = [str(i) for i in card_split.val]
        if not val:
            n_val = max(1, math.ceil(VAL_FRACTION_WHEN_NONE * len(train)))
            train, val = train[:-n_val], train[-n_val:]
        return _restrict(SubjectSplit(tuple(train), tuple(val), tuple(str(i) for i in card_split.test)), present, what)
    if kind == "official":
        if partitions is None:
            raise ValueError(f"The {what} needs the official partition of every window.")
        partitions = np.asarray(partitions, dtype=object).astype(str)
        test = sort_subjects(subjects_arr[partitions == "eval"])
        train_all = [s for s in sort_subjects(subjects_arr[partitions == "train"]) if s not in set(test)]
        n_val = int(round(card_split.val_fraction * len(train_all)))
        if len(train_all) >= 2:
            n_val = min(max(n_val, 1), len(train_all) - 1)
        cut = len(train_all) - n_val
        return _restrict(SubjectSplit(tuple(train_all[:cut]), tuple(train_all[cut:]), tuple(test)), present, what)
    if kind == "subject_counts":
        groups: dict[str, list[str]] = {}
        for s in present:
            groups.setdefault(re.sub(r"\d+$", "", s), []).append(s)
        parts = {"train": [], "val": [], "test": []}
        for group, members in groups.items():
            position = 0
            for part in ("train", "val", "test"):
                count = (card_split.counts or {}).get(part, {}).get(group, 0)
                parts[part] += members[position : position + count]
                position += count
        return _restrict(SubjectSplit(*(tuple(sort_subjects(parts[p])) for p in ("train", "val", "test"))), present, what)
    if kind == "subject_random":
        excluded = {str(i) for i in card_split.exclude}
        pool = [s for s in present if s not in excluded]
        fractions = dict(card_split.fractions or DEFAULT_FRACTIONS)
        rng = np.random.default_rng(card_split.seed if card_split.seed is not None else DEFAULT_SEED)
        order = [pool[i] for i in rng.permutation(len(pool))]
        n_test = max(1, int(round(fractions.get("test", 0.0) * len(pool))))
        n_val = max(1, int(round(fractions.get("val", 0.0) * len(pool))))
        if n_test + n_val >= len(pool):
            raise ValueError(f"The {what} needs at least 3 subjects, but the windows hold {_describe(pool)}.")
        test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
        return SubjectSplit(tuple(sort_subjects(train)), tuple(sort_subjects(val)), tuple(sort_subjects(test)))
    raise ValueError(f"Split kind {kind!r} of {task.name} is not subject-wise; pass --split loso or a split FILE.")


def loso_splits(subjects) -> list[SubjectSplit]:
    """Leave-one-subject-out folds: fold k tests subject k, validates on the next subject
    (sorted order, cyclic) and trains on the rest. Needs at least 3 subjects."""
    present = sort_subjects(subjects)
    if len(present) < 3:
        raise ValueError(f"Leave-one-subject-out needs at least 3 subjects, but the windows hold {_describe(present)}.")
    folds = []
    for k, subject in enumerate(present):
        val = present[(k + 1) % len(present)]
        folds.append(SubjectSplit(tuple(s for s in present if s not in (subject, val)), (val,), (subject,)))
    return folds


def read_split_file(path) -> list[SubjectSplit]:
    """The split(s) in a JSON file.

    ``{"train": [...], "val": [...], "test": [...]}`` (one split; ``val`` or ``test`` may be
    empty) or
    ``{"folds": [{"train": ..., "val": ..., "test": ...}, ...]}`` (a cross-validation).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"Split file {path} is not valid JSON: {err}") from None
    folds = data.get("folds") if isinstance(data, dict) else None
    entries = folds if folds is not None else [data]
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or not {"train", "test"} <= set(entry) or set(entry) - {"train", "val", "test", "note"}:
            raise ValueError(
                f'Split file {path} must hold {{"train": [...], "val": [...], "test": [...]}} '
                f'(or {{"folds": [...]}} of those), got keys {sorted(entry) if isinstance(entry, dict) else type(entry).__name__}.'
            )
        out.append(SubjectSplit(tuple(entry["train"]), tuple(entry.get("val", ())), tuple(entry["test"])))
    return out


def resolve_split(spec: str, task, windows) -> list[SubjectSplit]:
    """The folds of ``--split`` (``paper``, ``loso`` or a file) for a task's windows.

    Subjects a split file names that have no window are left out; train must stay non-empty,
    and validation or test (without test subjects the run is scored on validation).
    """
    spec = str(spec)
    if spec == "paper":
        return [paper_split(task, windows.subject, windows.partition)]
    if spec == "loso":
        return loso_splits(windows.subject)
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"Invalid value for the 'split' parameter. Allowed values are 'paper', 'loso' or a JSON file, but got {spec!r} instead.")
    present = sort_subjects(windows.subject)
    return [_restrict(split, present, f"split file {path}") for split in read_split_file(path)]


__all__ = ["SubjectSplit", "loso_splits", "paper_split", "read_split_file", "resolve_split", "sort_subjects"]
