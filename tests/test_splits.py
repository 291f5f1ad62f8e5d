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


def _with_split(task_name: str, **changes):
    """A task whose card split differs from the catalog's by ``changes``."""
    import dataclasses

    task = get_task(task_name)
    return dataclasses.replace(task, split=task.split.model_copy(update=changes))


def test_subject_ids_sort_numbers_then_prefixed_numbers_then_text():
    assert sort_subjects(["zz", "ST1", "10", "abc", "A3", "2", "B1", "10"]) == ["2", "10", "B1", "ST1", "A3", "abc", "zz"]


def test_a_card_without_validation_ids_validates_on_the_last_fifth_at_least_one():
    split = paper_split(_with_split("mental_arithmetic", train=[1, 2, 3], val=[], test=[4]), ids(1, 4))
    assert (split.train, split.val, split.test) == (("1", "2"), ("3",), ("4",))  # ceil(0.2 x 3) = 1
    split = paper_split(_with_split("mental_arithmetic", train=list(range(1, 12)), val=[], test=[12]), ids(1, 12))
    assert split.val == ("9", "10", "11")  # ceil(0.2 x 11) = 3


@pytest.mark.parametrize(("n_train", "val_fraction", "n_val"), [(10, 0.2, 2), (10, 0.35, 4), (2, 0.2, 1), (2, 0.9, 1), (3, 0.0, 1)])
def test_official_split_validates_on_a_rounded_fraction_leaving_one_to_train(n_train, val_fraction, n_val):
    task = _with_split("tuab", val_fraction=val_fraction)
    subjects = np.array([f"p{i:02d}" for i in range(1, n_train + 1)] + ["e01"])
    split = paper_split(task, subjects, np.array(["train"] * n_train + ["eval"]))
    assert len(split.val) == n_val and len(split.train) == n_train - n_val and split.test == ("e01",)
    assert split.val == tuple(f"p{i:02d}" for i in range(n_train - n_val + 1, n_train + 1))  # the last, sorted


def test_subject_random_split_follows_the_seeded_permutation_and_fractions():
    pool = ids(1, 10)
    task = _with_split("physionet_p300", kind="subject_random", exclude=[], fractions={"train": 0.5, "val": 0.3, "test": 0.2}, seed=7)
    split = paper_split(task, pool)
    order = [sorted(pool, key=int)[i] for i in np.random.default_rng(7).permutation(10)]
    assert set(split.test) == set(order[:2]) and set(split.val) == set(order[2:5]) and set(split.train) == set(order[5:])
    # a part without a fraction still gets one subject; three subjects are the least that split
    tiny = paper_split(_with_split("physionet_p300", kind="subject_random", exclude=[], fractions={"train": 1.0}, seed=7), ids(1, 3))
    assert (len(tiny.train), len(tiny.val), len(tiny.test)) == (1, 1, 1)
    with pytest.raises(ValueError, match=r"needs at least 3 subjects, but the windows hold 1-2\."):
        paper_split(_with_split("physionet_p300", kind="subject_random", exclude=[], fractions={"train": 1.0}, seed=7), ids(1, 2))


def test_subject_counts_take_nothing_from_a_group_the_card_does_not_count():
    task = _with_split("mumtaz2016", counts={"train": {"H": 2}, "val": {"H": 1}, "test": {"H": 1, "MDD": 1}})
    split = paper_split(task, ["H1", "H2", "H3", "H4", "MDD1", "MDD2"])
    assert (split.train, split.val, split.test) == (("H1", "H2"), ("H3",), ("MDD1", "H4"))  # sorted by number first


def test_loso_needs_three_subjects():
    assert len(loso_splits(ids(1, 3))) == 3
    with pytest.raises(ValueError, match=r"Leave-one-subject-out needs at least 3 subjects, but the windows hold 1-2\."):
        loso_splits(ids(1, 2))


def test_a_subject_listed_twice_in_a_part_is_named():
    with pytest.raises(ValueError, match=r"Split part 'train' lists a subject twice: \['1', '2', '1'\]\."):
        SubjectSplit(("1", "2", "1"), ("3",), ("4",))
    with pytest.raises(ValueError, match=r"Subject\(s\) 3 are in both 'val' and 'test'"):
        SubjectSplit(("1",), ("3",), ("3",))


def test_resolve_split_names_the_rule_and_the_subjects_it_lacks(tmp_path):
    """``--split paper`` is the card's split of the windows' subjects (partitions passed on);
    a split that loses its training subjects names the rule and the subjects, compressed."""
    from types import SimpleNamespace

    windows = SimpleNamespace(subject=np.array(ids(1, 36) + ["7"]), partition=np.array(["train"] * 37))
    (split,) = resolve_split("paper", get_task("mental_arithmetic"), windows)
    assert split.val == tuple(ids(29, 32)) and split.test == tuple(ids(33, 36))
    tuab = SimpleNamespace(subject=np.array(["p01", "p02", "p03", "e01"]), partition=np.array(["train"] * 3 + ["eval"]))
    assert resolve_split("paper", get_task("tuab"), tuab)[0].test == ("e01",)
    few = SimpleNamespace(subject=np.array(["30", "31", "32", "40", "41"]), partition=None)
    with pytest.raises(
        ValueError,
        match=r"paper split of mental_arithmetic .* has no train subject among the subjects with windows \(30-32, 40-41\); its train subjects are 1-28\.",
    ):
        resolve_split("paper", get_task("mental_arithmetic"), few)
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": [50], "val": [30], "test": [31]}))
    with pytest.raises(ValueError, match=rf"The split file {path} has no train subject"):
        resolve_split(str(path), get_task("mental_arithmetic"), few)
