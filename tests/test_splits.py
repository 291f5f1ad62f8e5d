"""Subject-wise splits: the cards' rules, leave-one-subject-out and split files never put a
subject in two parts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from neuript.splits import SubjectSplit, loso_splits, paper_split, read_split_file, resolve_split, sort_subjects
from neuript.tasks import get_task

REPO = Path(__file__).resolve().parents[1]


def ids(first, last):
    return [str(i) for i in range(first, last + 1)]


def assert_disjoint(split: SubjectSplit):
    parts = [set(split.train), set(split.val), set(split.test)]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])


def test_paper_split_by_subject_ids():
    split = paper_split(get_task("mental_arithmetic"), ids(1, 36))
    assert (split.train, split.val, split.test) == (tuple(ids(1, 28)), tuple(ids(29, 32)), tuple(ids(33, 36)))
    bcic = paper_split(get_task("bcic_iv_2a"), np.repeat(ids(1, 9), 5))  # per-window subjects
    assert (bcic.train, bcic.val, bcic.test) == (tuple(ids(1, 5)), ("6", "7"), ("8", "9"))
    # SEED-V publishes no validation subjects: the last fifth of its training subjects validate.
    seed_v = paper_split(get_task("seed_v"), ids(1, 16))
    assert (seed_v.train, seed_v.val, seed_v.test) == (tuple(ids(1, 8)), ("9", "10"), tuple(ids(11, 15)))


def test_paper_split_keeps_the_subjects_a_store_holds():
    task = get_task("mental_arithmetic")
    split = paper_split(task, ids(20, 36))
    assert split.train == tuple(ids(20, 28)) and split.test == tuple(ids(33, 36))
    # Subjects 1-12 are all training subjects of the paper's split: nothing to validate or test.
    with pytest.raises(ValueError, match=r"no test subject .* \(1-12\); its test subjects are 33-36.*--split loso"):
        paper_split(task, ids(1, 12))
    # Subjects 1-32 (the shared data: its test subjects are held out elsewhere): train and
    # validation remain, and the run is scored on validation.
    held_out = paper_split(task, ids(1, 32))
    assert (held_out.train, held_out.val, held_out.test) == (tuple(ids(1, 28)), tuple(ids(29, 32)), ())
    with pytest.raises(ValueError, match=r"no train subject"):
        paper_split(task, ids(29, 36))


def test_paper_split_official_partitions():
    task = get_task("tuab")
    subjects = np.array(["p05", "p01", "p03", "p02", "p04", "e01", "e02", "p01"])
    partitions = np.array(["train"] * 5 + ["eval"] * 2 + ["train"])
    split = paper_split(task, subjects, partitions)
    # Sorted training subjects, the last 20 % validate; the eval folder is the test set.
    assert (split.train, split.val, split.test) == (("p01", "p02", "p03", "p04"), ("p05",), ("e01", "e02"))
    with pytest.raises(ValueError, match="official partition"):
        paper_split(task, subjects)


def test_paper_split_counts_per_group():
    task = get_task("mumtaz2016")
    subjects = [f"H{i}" for i in range(1, 31)] + [f"MDD{i}" for i in range(1, 35)]
    split = paper_split(task, subjects)
    assert split.train == tuple(sort_subjects([f"H{i}" for i in range(1, 20)] + [f"MDD{i}" for i in range(1, 25)]))
    assert split.val == tuple(sort_subjects(["H20", "H21", "H22", "H23"] + [f"MDD{i}" for i in range(25, 30)]))
    assert split.test == tuple(sort_subjects([f"H{i}" for i in range(24, 29)] + [f"MDD{i}" for i in range(30, 35)]))
    assert "H29" not in split.train + split.val + split.test  # the card's counts cover 28 of 30
    assert_disjoint(split)


def test_paper_split_random_subjects():
    task = get_task("physionet_p300")
    subjects = ids(1, 12)
    split = paper_split(task, subjects)
    assert split == paper_split(task, subjects[::-1])  # seeded: the same split every time
    assert_disjoint(split)
    used = set(split.train + split.val + split.test)
    assert used == set(subjects) - {"8", "10", "12"}  # the card's exclusions
    assert (len(split.train), len(split.val), len(split.test)) == (5, 2, 2)


def test_loso_tests_every_subject_once():
    folds = loso_splits(["3", "1", "2", "10"])
    assert [f.test for f in folds] == [("1",), ("2",), ("3",), ("10",)]
    assert [f.val for f in folds] == [("2",), ("3",), ("10",), ("1",)]
    for fold in folds:
        assert_disjoint(fold)
        assert len(fold.train) == 2
    with pytest.raises(ValueError, match="at least 3 subjects"):
        loso_splits(["1", "2"])


def test_split_file_refuses_a_subject_in_two_parts(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": [1, 2, 3], "val": [4], "test": [3, 5]}))
    with pytest.raises(ValueError, match=r"Subject\(s\) 3 are in both 'train' and 'test'"):
        read_split_file(path)
    path.write_text(json.dumps({"train": [1], "tset": [2]}))
    with pytest.raises(ValueError, match="must hold"):
        read_split_file(path)
    path.write_text(json.dumps({"folds": [{"train": [1, 2], "val": [3], "test": [4]}, {"train": ["H1"], "test": ["H2"]}]}))
    folds = read_split_file(path)
    assert folds[0].test == ("4",) and folds[1] == SubjectSplit(("H1",), (), ("H2",))


def test_committed_mental_arithmetic_split():
    [split] = read_split_file(REPO / "docs" / "splits" / "mental_arithmetic_12.json")
    assert_disjoint(split)
    assert sort_subjects(split.train + split.val + split.test) == ids(1, 12)


def test_resolve_split_restricts_a_file_to_the_windows(tmp_path):
    class Windows:
        subject = np.array(["1", "1", "2", "3", "4"], dtype=object)
        partition = np.array([""] * 5, dtype=object)

    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": [1, 2, 9], "val": [3], "test": [4, 11]}))
    [split] = resolve_split(str(path), get_task("mental_arithmetic"), Windows())
    assert split == SubjectSplit(("1", "2"), ("3",), ("4",))
    assert split.part(Windows.subject).tolist() == ["train", "train", "train", "val", "test"]
    assert len(resolve_split("loso", get_task("mental_arithmetic"), Windows())) == 4
    with pytest.raises(ValueError, match="Invalid value for the 'split' parameter"):
        resolve_split("kfold", get_task("mental_arithmetic"), Windows())
