"""The leakage guard's parts on their own (``neuript.leakage``): matching by source or by signal,
the refusal's text, and stamping an old run; fast enough to run for every mutant of the module.

How fine-tuning wires the guard to its held-out recordings is tested in
``tests/test_finetune.py``. The stores here are MentalArithmetic subjects 1 and 2 (Subject00,
Subject01), built for real.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pickle

import pytest
import torch
from helpers.shared_data import shared_path

from neuript.leakage import (
    LeakageError,
    check,
    checkpoint_fingerprints,
    find_leaks,
    pretraining_fingerprints,
    recording_fingerprints,
    signal_sha256,
    stamp_run,
)

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    from eegcorpus.build import build

    root = tmp_path_factory.mktemp("leakage")
    out = {}
    # named so that the stores' order is not their subjects' order
    for subject, name in ((1, "b_subject1"), (2, "a_subject2")):
        out[subject] = root / name
        assert build("mental_arithmetic", shared_path("eegmat"), out[subject], subjects=[subject], progress=False).n_failed == 0
    return out


def _fp(rid, source, signal):
    return {"recording_id": rid, "source_sha256": source, "signal_sha256": signal}


def test_a_leak_is_found_by_source_alone_by_signal_alone_or_both():
    pretraining = {"recordings": [_fp("p.source", "S1", "X1"), _fp("p.signal", "S2", "X2"), _fp("p.both", "S3", "X3"), _fp("p.unsourced", "", "X4")]}
    test = [
        _fp("t.source", "S1", "Y1"),  # the same raw file, another profile
        _fp("t.signal", "T2", "X2"),  # a renamed copy of the samples
        _fp("t.both", "S3", "X3"),
        _fp("t.unsourced", "", "Y4"),  # no source on either side is not a match
        _fp("t.clean", "T5", "Y5"),
    ]
    assert find_leaks(pretraining, test) == [
        {"recording_id": "t.source", "matched": "p.source", "by": "source sha256"},
        {"recording_id": "t.signal", "matched": "p.signal", "by": "signal hash"},
        {"recording_id": "t.both", "matched": "p.both", "by": "source sha256 and signal hash"},
    ]
    # source and signal pointing at different pretraining recordings: the source's is named
    assert find_leaks(pretraining, [_fp("t.mixed", "S1", "X2")])[0]["matched"] == "p.source"
    assert find_leaks({}, test) == [] and find_leaks({"stores": ["s"]}, test) == []


def _checkpoint(path, recordings, stores=("store/a", "store/b")):
    torch.save({"model": {"w": torch.zeros(2)}, "fingerprints": json.dumps({"stores": list(stores), "recordings": recordings})}, path)
    return path


@pytest.mark.parametrize("n_leaks", [5, 7])
def test_the_refusal_names_the_leaks_and_the_stores(tmp_path, n_leaks):
    pretraining = [_fp(f"p{i}", f"S{i}", f"X{i}") for i in range(n_leaks)]
    checkpoint = _checkpoint(tmp_path / "c.pt", pretraining)
    held_out = [_fp(f"t{i}", f"S{i}", f"Y{i}") for i in range(n_leaks)] + [_fp("t.clean", "T", "Y")]
    shown = ", ".join(f"t{i} (= p{i}, by source sha256)" for i in range(5))
    more = " and 2 more" if n_leaks == 7 else ""
    expected = (
        f"{n_leaks} of the {n_leaks + 1} held-out (validation and test) recordings of my_task were in the pretraining stores of "
        f"{checkpoint} (store/a, store/b): {shown}{more}. Scores from this checkpoint would be inflated. Pretrain without them, "
        f"choose another split, or pass --allow-leakage to fine-tune anyway (the results will carry a warning)."
    )
    with pytest.raises(LeakageError) as refused:
        check(checkpoint, held_out, "my_task")
    assert str(refused.value) == expected
    with pytest.warns(UserWarning) as caught:
        warnings = check(checkpoint, held_out, "my_task", allow=True)
    assert warnings == ["LEAKAGE GUARD OVERRIDDEN: " + expected] and str(caught[0].message) == warnings[0]
    assert caught[0].filename == __file__  # the warning points at the caller
    assert check(checkpoint, held_out[-1:], "my_task") == []


def test_a_checkpoint_without_fingerprints_is_refused(tmp_path):
    torch.save({"model": {}}, tmp_path / "old.pt")
    with pytest.raises(LeakageError, match=r"records no pretraining fingerprints, so it cannot be checked for my_task held-out recordings"):
        check(tmp_path / "old.pt", [_fp("t", "S", "X")], "my_task")
    assert checkpoint_fingerprints(tmp_path / "old.pt") is None


def _old_run(path, stores, state=None):
    path.mkdir()
    torch.save(state or {"model": {"w": torch.ones(3)}, "config": "{}"}, path / "checkpoint.pt")
    (path / "settings.json").write_text(json.dumps({"stores": [str(s) for s in stores]}))
    return path


def test_stamp_run_needs_a_run_folder(tmp_path, stores):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(FileNotFoundError, match=rf"^{run / 'settings.json'} is missing; {run} is not a pretraining run folder\.$"):
        stamp_run(run)
    (run / "settings.json").write_text(json.dumps({"stores": [str(stores[1])]}))
    with pytest.raises(FileNotFoundError, match=rf"^{run / 'checkpoint.pt'} is missing"):
        stamp_run(run)


def test_stamp_run_keeps_what_the_checkpoint_already_records(tmp_path, stores):
    """A checkpoint stamped from store 1 and then from store 2 records both, and is written into
    a folder that does not exist yet, loadable on CPU."""
    first = stamp_run(_old_run(tmp_path / "first", [stores[1]]))
    state = torch.load(first, map_location="cpu", weights_only=True)
    second = stamp_run(_old_run(tmp_path / "second", [stores[2]], state=state), out=tmp_path / "new" / "deeper" / "stamped.pt")
    record = checkpoint_fingerprints(second)
    assert sorted(fp["recording_id"] for fp in record["recordings"]) == [
        "mental_arithmetic.Subject00_1",
        "mental_arithmetic.Subject00_2",
        "mental_arithmetic.Subject01_1",
        "mental_arithmetic.Subject01_2",
    ]
    assert record["stores"] == sorted([str(stores[1]), str(stores[2])])
    assert torch.equal(torch.load(second, map_location="cpu", weights_only=True)["model"]["w"], torch.ones(3))
    held_out = recording_fingerprints(stores[1])
    assert len(find_leaks(record, held_out)) == 2


def test_stamp_run_accepts_a_build_that_finished_the_second_the_run_started(tmp_path, stores):
    run = _old_run(tmp_path / "run", [stores[1]])
    from eegcorpus.store import open_store

    finished = max(dt.datetime.fromisoformat(b["finished"]) for b in open_store(stores[1]).builds).timestamp()
    os.utime(run / "settings.json", (finished, finished))
    assert "finished before the run started" in checkpoint_fingerprints(stamp_run(run))["note"]
    os.utime(run / "settings.json", (finished - 1, finished - 1))
    with pytest.raises(RuntimeError, match=rf"^Store\(s\) {stores[1]} \(build finished .+\) were built after the run started"):
        stamp_run(run)
    note = checkpoint_fingerprints(stamp_run(run, force=True))["note"]
    assert note.startswith(f"recorded after pretraining with --force; stores built after the run started: {stores[1]} (build finished ")


def test_stamp_run_refuses_a_checkpoint_that_would_run_code(tmp_path, stores):
    """Checkpoints are loaded with ``weights_only``: a pickled object that is not plain data is
    refused, not executed."""
    run = _old_run(tmp_path / "run", [stores[1]], state={"model": {}, "when": dt.datetime(2020, 1, 1)})
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        stamp_run(run)


def test_recording_fingerprints_of_a_real_store(stores):
    from eegcorpus.store import open_store
    from eegcorpus.store.writer import METADATA_DIGEST

    store = open_store(stores[1])
    fingerprints = recording_fingerprints(stores[1])
    assert recording_fingerprints(store) == fingerprints  # an open Store or its path
    assert [fp["recording_id"] for fp in fingerprints] == ["mental_arithmetic.Subject00_1", "mental_arithmetic.Subject00_2"]
    for fp in fingerprints:
        name = fp["recording_id"].split(".")[1]
        assert fp == {
            "recording_id": f"mental_arithmetic.{name}",
            "dataset": "mental_arithmetic",
            "subject": "1",
            "source_sha256": hashlib.sha256(shared_path("eegmat", f"{name}.edf").read_bytes()).hexdigest(),
            "signal_sha256": signal_sha256(stores[1], fp["recording_id"]),
            "metadata_sha256": json.loads((stores[1] / "recordings" / fp["recording_id"] / "zarr.json").read_text())["attributes"][METADATA_DIGEST],
        }
    assert recording_fingerprints(stores[1], ["mental_arithmetic.Subject00_2", "not.there"]) == fingerprints[1:]


def test_the_signal_hash_covers_the_storage_step(tmp_path):
    """Two recordings with the same int16 codes at different storage steps are different signals."""
    import numpy as np
    from helpers.store import write_generated_recording

    from eegcorpus.pipeline.profiles import Profile

    codes = np.random.default_rng(0).integers(-300, 300, (3, 500))
    fine = write_generated_recording(tmp_path / "fine", "g.1", (codes * 0.1).astype(np.float32), 100.0, Profile("p", quantum_uv=0.1))
    coarse = write_generated_recording(tmp_path / "coarse", "g.1", (codes * 0.2).astype(np.float32), 100.0, Profile("p", quantum_uv=0.2))
    assert (fine, coarse) == (0.1, 0.2)
    assert signal_sha256(tmp_path / "fine", "g.1") != signal_sha256(tmp_path / "coarse", "g.1")
    unsourced = recording_fingerprints(tmp_path / "fine")[0]
    assert unsourced["source_sha256"] == ""  # written without a raw file
    assert find_leaks({"recordings": [unsourced]}, [{**recording_fingerprints(tmp_path / "coarse")[0]}]) == []


def test_pretraining_fingerprints_record_every_store_in_order(stores):
    record = json.loads(pretraining_fingerprints([stores[1], stores[2]]))
    assert record["stores"] == sorted([str(stores[1]), str(stores[2])])
    assert dt.datetime.fromisoformat(record["recorded"]).utcoffset() == dt.timedelta(0)
    # by store, then recording: store "a_subject2" (Subject01) comes first
    assert [(fp["store"], fp["recording_id"]) for fp in record["recordings"]] == [
        (str(stores[2]), "mental_arithmetic.Subject01_1"),
        (str(stores[2]), "mental_arithmetic.Subject01_2"),
        (str(stores[1]), "mental_arithmetic.Subject00_1"),
        (str(stores[1]), "mental_arithmetic.Subject00_2"),
    ]
    single = json.loads(pretraining_fingerprints(str(stores[1])))  # one store, not a list
    assert single["stores"] == [str(stores[1])] and len(single["recordings"]) == 2
    assert json.loads(pretraining_fingerprints(str(stores[1]), previous="{}"))["recordings"] == single["recordings"]


def test_checkpoints_are_read_as_data_only(tmp_path):
    torch.save({"model": {}, "fingerprints": json.dumps({"recordings": []}), "when": dt.datetime(2020, 1, 1)}, tmp_path / "c.pt")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        checkpoint_fingerprints(tmp_path / "c.pt")
