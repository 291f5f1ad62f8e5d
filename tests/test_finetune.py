"""Fine-tuning, linear probing, re-scoring, the baseline and the leakage guard.

Training runs use a tiny model (two blocks, d_model 12) on a small PhysioNet P300 file set (three
subjects, 36 flashes each, real EEG, written by ``helpers.dataset_files`` as in the adapter tests:
the cheapest task with both classes in every subject); the leakage guard is checked on real
MentalArithmetic recordings.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import numpy as np
import pytest
import torch
from helpers.shared_data import shared_path
from numpy.testing import assert_allclose

from neuript.finetune import FinetuneSettings, evaluate_run, finetune, markdown_table
from neuript.leakage import LeakageError, check, checkpoint_fingerprints, find_leaks, pretraining_fingerprints, recording_fingerprints, stamp_run
from neuript.metrics import score

pytestmark = pytest.mark.realdata

TINY = {"d_model": 12, "n_heads": 2, "d_ff": 12, "expert_hidden": 8, "merge_factors": (1, 4), "experts_per_layer": (0, 2), "decoder_layers": 3}


@pytest.fixture(scope="module")
def ma_store(tmp_path_factory):
    from eegcorpus.build import build

    out = tmp_path_factory.mktemp("ma") / "store"
    result = build("mental_arithmetic", shared_path("eegmat"), out, subjects=[1, 2, 3], progress=False)
    assert result.n_failed == 0
    return out


@pytest.fixture(scope="module")
def ma_fingerprints(ma_store):
    """The pretraining fingerprint record of the whole MentalArithmetic store, hashed once."""
    return pretraining_fingerprints([str(ma_store)])


@pytest.fixture(scope="module")
def p300_store(tmp_path_factory):
    from helpers.dataset_files import write_p300_file

    from eegcorpus.build import build

    root = tmp_path_factory.mktemp("p300")
    for subject, target in ((1, "E"), (2, "5"), (3, "K")):
        folder = root / "raw" / "files" / f"s{subject:02d}"
        folder.mkdir(parents=True)
        write_p300_file(folder / "rc01.edf", target)
    result = build("physionet_p300", root / "raw", root / "store", progress=False)
    assert result.n_failed == 0
    return root / "store"


@pytest.fixture(scope="module")
def split_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("split") / "split.json"
    path.write_text(json.dumps({"train": [1], "val": [2], "test": [3]}))
    return path


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, eegmmidb_store):
    """A one-step pretraining run of the tiny model on EEGMMIDB (its checkpoint records fingerprints)."""
    from neuript.pretrain import PretrainSettings, pretrain

    out = tmp_path_factory.mktemp("pretrain")
    pretrain(
        PretrainSettings(
            stores=[str(eegmmidb_store)], out=str(out), config_overrides=TINY, steps=1, batch_size=2, window_s=1.0, reject_uv=None, checkpoint_every=1
        ),
        progress=False,
    )
    return out / "checkpoint.pt"


def settings(out, split_file, store, **kwargs):
    base = dict(task="physionet_p300", stores=[str(store)], out=str(out), seeds=2, split=str(split_file), config_overrides=TINY, crop_s=1.0, baselines=False)
    return FinetuneSettings(**{**base, **kwargs})


def test_full_finetuning_and_rescoring(tmp_path, p300_store, split_file):
    run = tmp_path / "run"
    result = finetune(settings(run, split_file, p300_store, mode="full", epochs=2, patience=1, freeze_epochs=1, baselines=True), progress=False)
    assert result["task"] == "physionet_p300" and result["mode"] == "full" and result["seeds"] == [520, 521]
    assert result["scored_on"] == "test"
    assert result["split"]["folds"] == [{"train": ["1"], "val": ["2"], "test": ["3"]}]
    assert list(result["metrics"]) == ["balanced_accuracy", "cohen_kappa", "auroc"]
    per_seed = np.array([[s["metrics"][m] for m in result["metrics"]] for s in result["per_seed"]])
    assert_allclose([result["metrics"][m]["mean"] for m in result["metrics"]], per_seed.mean(axis=0))
    assert_allclose([result["metrics"][m]["std"] for m in result["metrics"]], per_seed.std(axis=0, ddof=1))
    for seed, entry in zip((520, 521), result["per_seed"]):
        saved = np.load(run / f"seed{seed}" / "fold0" / "test.npz")
        assert len(saved["label"]) == 36 and set(saved["subject"]) == {"3"}  # subject 3 only, once
        assert score(result["metrics"], saved["label"], saved["logits"]) == pytest.approx(entry["metrics"])
        history = [json.loads(line) for line in (run / f"seed{seed}" / "fold0" / "history.jsonl").read_text().splitlines()]
        assert 1 <= len(history) <= 2 and any(h.get("best") for h in history)
    assert set(result["baseline"]["metrics"]) == set(result["metrics"])
    assert set(result["eegnet"]["metrics"]) == set(result["metrics"]) and [s["seed"] for s in result["eegnet"]["per_seed"]] == [520, 521]
    assert result["leakage_check"].startswith("not applicable")
    # Re-scoring the saved best-validation weights gives the same numbers.
    again = evaluate_run(run)
    for name, value in result["metrics"].items():
        assert again["metrics"][name]["mean"] == pytest.approx(value["mean"], abs=1e-6)
    table = (run / "results.md").read_text()
    assert "log band power + logistic regression (baseline)" in table and "NeurIPT, paper" in table and "67.31" in table
    assert "EEGNet-8,2 (braindecode) (baseline) | 2 |" in table
    # A run whose device is not here is re-scored on the one asked for.
    saved = json.loads((run / "settings.json").read_text())
    (run / "settings.json").write_text(json.dumps(saved | {"device": "cuda:7"}))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"^Invalid value for the 'device' parameter: 'cuda:7' was asked for, but PyTorch sees no GPU here\.$"):
            evaluate_run(run)
    from typer.testing import CliRunner

    from neuript.cli import app

    rescored = CliRunner().invoke(app, ["evaluate", "--run", str(run), "--device", "cpu", "--json"])
    assert rescored.exit_code == 0, rescored.output
    rescored_metrics = json.loads(rescored.output)["metrics"]
    for name, value in result["metrics"].items():
        assert rescored_metrics[name]["mean"] == pytest.approx(value["mean"], abs=1e-6)


def test_linear_probing_keeps_the_pretrained_encoder(tmp_path, p300_store, split_file, pretrained):
    run = tmp_path / "run"
    result = finetune(settings(run, split_file, p300_store, mode="linear", init=str(pretrained), epochs=30, patience=5), progress=False)
    assert result["leakage_check"].startswith("passed") and not result["warnings"]
    encoder = torch.load(run / "seed520" / "encoder.pt", weights_only=True)
    original = torch.load(pretrained, weights_only=True)["model"]
    assert encoder.keys() == {k for k in original if not k.startswith("decoder.") and "mask_token" not in k}
    for key, value in encoder.items():
        assert torch.equal(value, original[key]), key
    heads = [torch.load(run / f"seed{s}" / "fold0" / "head.pt", weights_only=True)["linear.weight"] for s in (520, 521)]
    assert heads[0].shape == (1, 3 * 6 * 12)  # three levels x six lobes x d_model, one logit
    assert not torch.equal(heads[0], heads[1])  # seeds differ in the head
    again = evaluate_run(run)  # logits from crops through the whole model = head on mean features
    for name, value in result["metrics"].items():
        assert again["metrics"][name]["mean"] == pytest.approx(value["mean"], abs=1e-4)
    assert "linear probing, from" in markdown_table([result, again])


def test_pretraining_records_fingerprints(pretrained, eegmmidb_store):
    record = checkpoint_fingerprints(pretrained)
    assert record["stores"] == [str(eegmmidb_store)]
    assert len(record["recordings"]) == 12 and {fp["dataset"] for fp in record["recordings"]} == {"eegmmidb"}
    sha = {fp["recording_id"]: fp["source_sha256"] for fp in record["recordings"]}
    from eegcorpus.recording import sha256_file

    assert sha["eegmmidb.S001R03"] == sha256_file(shared_path("eegmmidb", "S001", "S001R03.edf"))


def test_resumed_pretraining_does_not_hash_unchanged_recordings_again(eegmmidb_store, monkeypatch):
    """The record a run resumes from already holds each recording's signal hash beside its
    metadata digest; only a recording whose digest changed (rebuilt) is read and hashed again."""
    import json

    import neuript.leakage as leakage

    real, hashed = leakage.signal_sha256, []

    def counting(store_path, recording_id):
        hashed.append(recording_id)
        return real(store_path, recording_id)

    monkeypatch.setattr(leakage, "signal_sha256", counting)
    first = json.loads(leakage.pretraining_fingerprints([eegmmidb_store]))
    assert len(hashed) == len(first["recordings"]) == 12
    hashed.clear()
    second = json.loads(leakage.pretraining_fingerprints([eegmmidb_store], previous=json.dumps(first)))
    assert hashed == [] and second["recordings"] == first["recordings"]
    # a recording rebuilt since (its metadata digest differs from the record's) is hashed again
    first["recordings"][0]["metadata_sha256"] = "0" * 64
    third = json.loads(leakage.pretraining_fingerprints([eegmmidb_store], previous=json.dumps(first)))
    assert hashed == [first["recordings"][0]["recording_id"]]
    assert [fp["signal_sha256"] for fp in third["recordings"]] == [fp["signal_sha256"] for fp in second["recordings"]]


def test_leakage_guard_fires_when_a_test_recording_was_pretrained_on(tmp_path, ma_store, ma_fingerprints, split_file, pretrained):
    from typer.testing import CliRunner

    from neuript.cli import app

    # A checkpoint whose pretraining stores held the MentalArithmetic recordings.
    state = torch.load(pretrained, weights_only=True)
    state["fingerprints"] = ma_fingerprints
    leaky = tmp_path / "leaky.pt"
    torch.save(state, leaky)
    test = recording_fingerprints(ma_store, ["mental_arithmetic.Subject02_1", "mental_arithmetic.Subject02_2"])
    with pytest.raises(LeakageError, match=r"2 of the 2 held-out \(validation and test\) recordings of mental_arithmetic were in"):
        check(leaky, test, "mental_arithmetic")
    with pytest.warns(UserWarning, match="LEAKAGE GUARD OVERRIDDEN"):
        warnings = check(leaky, test, "mental_arithmetic", allow=True)
    assert len(warnings) == 1 and "Subject02_1" in warnings[0]
    assert check(pretrained, test, "mental_arithmetic") == []  # EEGMMIDB only: no leak

    runner = CliRunner()
    args = [
        "finetune",
        "--task",
        "mental_arithmetic",
        "--store",
        str(ma_store),
        "--split",
        str(split_file),
        "--init",
        str(leaky),
        "--out",
        str(tmp_path / "run"),
    ]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1
    assert "held-out (validation and test) recordings of mental_arithmetic were in" in refused.output
    assert "--allow-leakage" in refused.output and not (tmp_path / "run").exists()

    # No fingerprints at all: cannot be checked, refused the same way.
    del state["fingerprints"]
    torch.save(state, leaky)
    with pytest.raises(LeakageError, match="records no pretraining fingerprints"):
        check(leaky, test, "mental_arithmetic")


def _checkpoint_pretrained_on(tmp_path, pretrained, ma_fingerprints, subject: str):
    """The tiny pretraining checkpoint, its fingerprints replaced by one MentalArithmetic subject's."""
    state = torch.load(pretrained, weights_only=True)
    record = json.loads(ma_fingerprints)
    record["recordings"] = [fp for fp in record["recordings"] if fp["recording_id"].startswith(f"mental_arithmetic.Subject{int(subject) - 1:02d}_")]
    assert len(record["recordings"]) == 2
    state["fingerprints"] = json.dumps(record)
    checkpoint = tmp_path / f"checkpoint-{subject}.pt"
    torch.save(state, checkpoint)
    return checkpoint


@pytest.mark.parametrize(("pretrained_subject", "refused"), [("1", False), ("2", True), ("3", True)])
def test_finetuning_guards_exactly_its_held_out_recordings(tmp_path, ma_store, ma_fingerprints, split_file, pretrained, pretrained_subject, refused):
    """Split train 1 / val 2 / test 3: a checkpoint pretrained on the training subject's
    recordings (without labels) is allowed; one that saw a validation or test subject is not."""
    checkpoint = _checkpoint_pretrained_on(tmp_path, pretrained, ma_fingerprints, pretrained_subject)
    run = FinetuneSettings(
        task="mental_arithmetic",
        stores=[str(ma_store)],
        out=str(tmp_path / "run"),
        init=str(checkpoint),
        mode="linear",
        seeds=1,
        split=str(split_file),
        epochs=1,
        crop_s=1.0,
        baselines=False,
    )
    if refused:
        with pytest.raises(LeakageError, match=rf"2 of the 4 held-out .* mental_arithmetic.Subject{int(pretrained_subject) - 1:02d}_1"):
            finetune(run, progress=False)
        assert not (tmp_path / "run").exists()
    else:
        result = finetune(run, progress=False)
        assert result["leakage_check"] == "passed: none of the 4 validation and test recordings was in the pretraining stores"


def test_the_guard_checks_the_held_out_recordings_of_every_fold_and_can_be_overridden(tmp_path, ma_store, ma_fingerprints, split_file, pretrained):
    """Leave-one-subject-out over subjects 1-3 holds every recording out in some fold: a
    checkpoint pretrained on any one subject is refused, whichever fold holds it out. With
    ``allow_leakage`` the same run goes on, says so, and keeps the warning in its result."""
    base = dict(task="mental_arithmetic", stores=[str(ma_store)], mode="linear", seeds=1, epochs=1, crop_s=1.0, baselines=False)
    checkpoints = {subject: _checkpoint_pretrained_on(tmp_path, pretrained, ma_fingerprints, subject) for subject in ("1", "2", "3")}
    for subject, checkpoint in checkpoints.items():
        run = FinetuneSettings(**base, out=str(tmp_path / f"loso-{subject}"), init=str(checkpoint), split="loso")
        with pytest.raises(LeakageError, match=r"2 of the 6 held-out \(validation and test\) recordings"):
            finetune(run, progress=False)
    run = FinetuneSettings(**base, out=str(tmp_path / "allowed"), init=str(checkpoints["2"]), split=str(split_file), allow_leakage=True)
    with pytest.warns(UserWarning, match="LEAKAGE GUARD OVERRIDDEN"):
        result = finetune(run, progress=False)
    assert result["leakage_check"] == "overridden (--allow-leakage)"
    assert len(result["warnings"]) == 1 and "mental_arithmetic.Subject01_1" in result["warnings"][0]


def test_signal_hash_catches_a_renamed_copy(tmp_path, ma_store):
    from eegcorpus.build import build

    raw = tmp_path / "raw"
    raw.mkdir()
    data = bytearray(shared_path("eegmat", "Subject02_2.edf").read_bytes())
    data[8:16] = b"RENAMED "  # another patient field: another file, the same samples
    (raw / "Subject20_2.edf").write_bytes(bytes(data))
    assert build("mental_arithmetic", raw, tmp_path / "copy", progress=False).n_failed == 0
    copy = recording_fingerprints(tmp_path / "copy")
    original = recording_fingerprints(ma_store, ["mental_arithmetic.Subject02_2"])[0]
    assert copy[0]["source_sha256"] != original["source_sha256"]
    leaks = find_leaks({"recordings": copy}, [original])
    assert leaks == [{"recording_id": "mental_arithmetic.Subject02_2", "matched": "mental_arithmetic.Subject20_2", "by": "signal hash"}]


def test_stamp_run_adds_fingerprints_to_an_old_checkpoint(tmp_path, ma_store):
    run = tmp_path / "old_run"
    run.mkdir()
    torch.save({"model": {}, "config": "{}"}, run / "checkpoint.pt")
    (run / "settings.json").write_text(json.dumps({"stores": [str(ma_store)]}))
    stamped = stamp_run(run, out=tmp_path / "stamped.pt")
    record = checkpoint_fingerprints(stamped)
    assert len(record["recordings"]) == 6 and "finished before the run started" in record["note"]
    assert checkpoint_fingerprints(run / "checkpoint.pt") is None  # the original is untouched
    # A run that started before its store was built cannot vouch for the store's content.
    os.utime(run / "settings.json", (946684800, 946684800))  # 2000-01-01
    with pytest.raises(RuntimeError, match="built after the run started"):
        stamp_run(run)
    assert "--force" in checkpoint_fingerprints(stamp_run(run, force=True))["note"]


def test_multiclass_linear_probe_with_leave_one_subject_out(tmp_path):
    from helpers.dataset_files import BCIC_GDF_CHANNELS, bcic_events, mmidb_channels, write_gdf

    from eegcorpus.build import build

    raw = tmp_path / "raw"
    raw.mkdir()
    electrodes = [electrode for _, electrode in BCIC_GDF_CHANNELS]
    signal = mmidb_channels(electrodes, runs=(4,), up=25, down=16, seconds=60)
    cues = [769, 770, 771, 772, 769, 770]
    for subject in (1, 2, 3):
        # Each subject a different stretch of the real signal (reversed, shifted).
        data = np.roll(signal[:, :: (-1) ** subject], 2500 * subject, axis=1)
        write_gdf(raw / f"A0{subject}T.gdf", data, 250, [name for name, _ in BCIC_GDF_CHANNELS], bcic_events(cues))
    assert build("bcic_iv_2a", raw, tmp_path / "store", progress=False).n_failed == 0
    run = tmp_path / "run"
    result = finetune(
        FinetuneSettings(
            task="bcic_iv_2a", stores=[str(tmp_path / "store")], out=str(run), mode="linear", seeds=1, split="loso", config_overrides=TINY, epochs=5, patience=2
        ),
        progress=False,
    )
    assert list(result["metrics"]) == ["balanced_accuracy", "cohen_kappa", "f1_weighted"]
    assert [fold["test"] for fold in result["split"]["folds"]] == [["1"], ["2"], ["3"]]
    pooled = []
    for fold in range(3):
        saved = np.load(run / "seed520" / f"fold{fold}" / "test.npz")
        assert saved["logits"].shape == (6, 4) and set(saved["subject"]) == {str(fold + 1)}  # whole 4-s windows
        pooled.append(saved)
    labels = np.concatenate([s["label"] for s in pooled])
    assert sorted(labels.tolist()) == sorted([0, 1, 2, 3, 0, 1] * 3)
    # Every subject scored once, by a model that did not train on it, pooled into one score.
    assert score(result["metrics"], labels, np.concatenate([s["logits"] for s in pooled])) == pytest.approx(result["per_seed"][0]["metrics"])


def test_early_stopping_keeps_the_best_state_and_stops_after_patience():
    import torch

    from neuript.finetune import _EarlyStopping

    layer = torch.nn.Linear(1, 1, bias=False)
    stopper, entries, stopped_at = _EarlyStopping(patience=2, has_validation=True), [], None
    for epoch, value in enumerate([1.0, 3.0, 2.0, 2.5, 9.0]):
        layer.weight.data.fill_(epoch)
        entries.append({})
        if stopper.update(value, layer, entries[-1]):
            stopped_at = epoch
            break
    assert stopped_at == 3 and float(stopper.state["weight"]) == 1.0  # the epoch that scored 3.0
    assert [bool(e.get("best")) for e in entries] == [True, True, False, False]
    without_validation = _EarlyStopping(patience=1, has_validation=False)
    assert not any(without_validation.update(s, layer, {}) for s in (2.0, 1.0, 0.0))  # never stops
    tied, entries = _EarlyStopping(patience=2, has_validation=True), []
    for epoch in range(3):  # a tie is not better: the earlier epoch stays best, the ties count as stale
        layer.weight.data.fill_(epoch)
        entries.append({})
        stop = tied.update(5.0, layer, entries[-1])
    assert stop and float(tied.state["weight"]) == 0.0 and [bool(e.get("best")) for e in entries] == [True, False, False]


def _hand_written_full_finetuning(model, inputs, labels, train, settings, seed):
    """The loop ``train_full`` implements, written out step by step without validation: each
    epoch a seeded permutation in batches (random crops drawn from the same generator), Bal-BCE
    plus the weighted auxiliary MoE loss once the encoder has joined, gradient clipping, AdamW
    with each group's rate set from the OneCycle formula (the encoder's window starting where
    it joins, its rate 0 and no gradient before), and after every epoch the head's statistics
    set from the training windows. Returns the mean auxiliary loss per epoch."""
    from neuript.heads import lobe_pool
    from neuript.losses import balanced_loss, log_prior
    from neuript.optim import one_cycle

    encoder = [p for name, p in model.named_parameters() if not name.startswith("head.")]
    optimizer = torch.optim.AdamW([{"params": encoder, "lr": 0.0}, {"params": list(model.head.parameters()), "lr": 0.0}], weight_decay=settings.weight_decay)
    prior, size = log_prior(labels[train], 2), settings.batch_size
    per_epoch = -(-len(train) // size)
    total, joins = settings.epochs * per_epoch, settings.freeze_epochs * per_epoch
    schedule = (settings.warmup, settings.div_factor, settings.final_div_factor)
    step, aux_means = 0, []
    for epoch in range(settings.epochs):
        frozen = epoch < settings.freeze_epochs
        for p in encoder:
            p.requires_grad_(not frozen)
        rng = np.random.default_rng([seed, epoch])
        order, auxes = rng.permutation(train), []
        model.train()
        for k in range(0, len(order), size):
            chunk = order[k : k + size]
            logits, aux = model.classify(*inputs.random_crops(chunk, rng))
            loss = balanced_loss(logits, torch.from_numpy(labels[chunk]), prior, settings.prior_scale, settings.label_smoothing)
            if not frozen:
                loss = loss + settings.aux_weight * aux
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.param_groups[0]["lr"] = 0.0 if step < joins else settings.lr * one_cycle(step - joins, total - joins, *schedule)
            optimizer.param_groups[1]["lr"] = settings.head_lr * one_cycle(step, total, *schedule)
            optimizer.step()
            step += 1
            auxes.append(float(aux.detach()))
        aux_means.append(float(np.mean(auxes)))
        # the head scores with the mean and variance (ddof 1) of this epoch's evaluation-mode
        # features of one fresh random crop per training window
        model.eval()
        with torch.no_grad():
            x, pos, lobe, mask = inputs.random_crops(train, np.random.default_rng([seed, epoch, 1]))
            features = lobe_pool(model.encode(x, pos, mask).levels, lobe, mask.bool(), model.config.n_lobes).double().numpy()
        model.head.norm.running_mean.copy_(torch.from_numpy(features.mean(0)))
        model.head.norm.running_var.copy_(torch.from_numpy(features.var(0, ddof=1)))
    for p in encoder:
        p.requires_grad_(True)
    return aux_means


def test_full_finetuning_steps_like_the_hand_written_loop(p300_store, split_file, caplog):
    """``train_full`` on real windows against :func:`_hand_written_full_finetuning` from the same
    initial weights and seeds, to float precision: which parameters each group holds and when
    the encoder joins, the schedule's every setting, the loss's prior scale, smoothing and
    auxiliary weight, the seeded order and crops, the head's statistics (the training windows',
    not batch normalisation's running estimates). Every setting differs from its default, and
    the head's rate from the encoder's, so that a setting dropped or swapped changes the weights."""
    import copy

    from neuript.finetune import _Inputs, build_model, train_full
    from neuript.tasks import get_task, load_windows

    task = get_task("physionet_p300")
    windows = load_windows(task, [p300_store], subjects=["1"])
    labels = windows.label.astype(np.int64)
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.choice(np.flatnonzero(labels == c), 5, replace=False) for c in (0, 1)])  # 3 batches: 4, 4, 2
    run = settings(
        "unused", split_file, p300_store, epochs=3, freeze_epochs=1, batch_size=4, lr=2e-3, head_lr=5e-3, weight_decay=0.05,
        warmup=0.3, div_factor=3.0, final_div_factor=20.0, prior_scale=0.2, label_smoothing=0.15, aux_weight=0.9, grad_clip=0.5, device="cpu",
    )  # fmt: skip
    model = build_model(run, task.n_classes, seed=0)
    reference, initial = copy.deepcopy(model), copy.deepcopy(model.state_dict())
    inputs = _Inputs(windows, True, run.crop_s)
    torch.manual_seed(1)  # dropout and the gates' noise draw from torch's generator
    with caplog.at_level("INFO", logger="neuript"):
        state, history = train_full(model, task, inputs, labels, train, np.array([], dtype=int), run, 7, torch.device("cpu"), progress=True)
    torch.manual_seed(1)
    aux_means = _hand_written_full_finetuning(reference, inputs, labels, train, run, seed=7)
    assert all(p.requires_grad for p in model.parameters())  # the freeze is undone for whoever trains it next
    expected = reference.state_dict()
    assert state.keys() == expected.keys()
    for name, value in expected.items():
        assert_allclose(state[name].numpy(), value.numpy(), rtol=1e-5, atol=1e-7, err_msg=name)
    # the reference itself trained both parts (so that the comparison is not of two no-ops)
    moved = {name for name, value in expected.items() if value.is_floating_point() and not torch.equal(value, initial[name])}
    assert any(name.startswith("head.") for name in moved) and any(not name.startswith("head.") for name in moved)
    assert [h["epoch"] for h in history] == [1, 2, 3] and [h["frozen"] for h in history] == [True, False, False]
    assert [h["aux_loss"] for h in history] == pytest.approx(aux_means, rel=1e-5)
    assert all(isinstance(h["seconds"], float) and 0 <= h["seconds"] < 600 and round(h["seconds"], 1) == h["seconds"] for h in history)
    assert "val" not in history[0] and history[-1].get("best")  # without validation the last epoch is kept
    assert _epoch_lines(caplog) == [
        f"  epoch {h['epoch']}{' (head only)' if h['frozen'] else ''}: loss {h['train_loss']:.4f} ({h['seconds']} s)" for h in history
    ]


def _epoch_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "neuript" and r.getMessage().startswith("  epoch ")]


def test_full_finetuning_stops_after_patience_epochs_without_a_better_score(p300_store, split_file, caplog):
    """With validation windows, the run stops once ``patience`` epochs pass without a better
    score (a rate too small to matter: the scores move only with the crops the head's statistics
    are measured on)."""
    from neuript.finetune import _Inputs, build_model, train_full, window_logits
    from neuript.tasks import get_task, load_windows

    task = get_task("physionet_p300")
    windows = load_windows(task, [p300_store], subjects=["1", "2"])
    labels = windows.label.astype(np.int64)
    train, val = np.flatnonzero(windows.subject == "1")[:8], np.flatnonzero(windows.subject == "2")[:12]
    run = settings("unused", split_file, p300_store, epochs=10, patience=2, freeze_epochs=1, batch_size=4, lr=1e-12, head_lr=1e-12, device="cpu")
    model = build_model(run, task.n_classes, seed=0)
    torch.manual_seed(0)
    with caplog.at_level("INFO", logger="neuript"):
        inputs = _Inputs(windows, True, run.crop_s)
        state, history = train_full(model, task, inputs, labels, train, val, run, 0, torch.device("cpu"), progress=True)
    best = [k for k, h in enumerate(history) if h.get("best")]
    assert len(history) == best[-1] + 1 + run.patience < run.epochs, [h["val"] for h in history]
    first = history[0]
    assert _epoch_lines(caplog)[0] == (
        f"  epoch 1 (head only): loss {first['train_loss']:.4f}, val balanced_accuracy {first['val']['balanced_accuracy']:.2f}, "
        f"val cohen_kappa {first['val']['cohen_kappa']:.2f}, val auroc {first['val']['auroc']:.2f} ({first['seconds']} s)"
    )
    assert len(_epoch_lines(caplog)) == len(history)
    # scoring on the model's own device by default; no windows, no rows
    model.load_state_dict(state)
    assert window_logits(model, inputs, val).shape == (len(val), 1)
    empty = window_logits(model, inputs, np.array([], dtype=int))
    assert empty.shape == (0, 1) and empty.dtype == np.float32
    assert all("val" in h for h in history)


def _linear_probe(features, labels, train, val, seed=0, **overrides):
    """``train_linear`` of a tiny model's head on given features; returns the model, state and
    history."""
    from neuript.finetune import build_model, train_linear
    from neuript.tasks import get_task

    task = get_task("mental_arithmetic")
    settings = FinetuneSettings(
        task="mental_arithmetic", stores=["unused"], out="unused", mode="linear", config_overrides=TINY, baselines=False, **({"epochs": 6} | overrides)
    )
    model = build_model(settings, task.n_classes, seed=0)
    state, history = train_linear(model, task, features, labels, train, val, settings, seed)
    return model, state, history


def test_linear_probing_on_fixed_features():
    """The linear probe's own rules, on generated features (a maths test: how it learns from
    real windows is tests/test_learning.py): standardisation by the training windows' own
    statistics per feature, the rate and weight decay it is given, its loss against a hand-written
    Bal-BCE, early stopping on validation, and seeds."""
    from neuript.finetune import build_model

    rng = np.random.default_rng(0)
    width = build_model(FinetuneSettings(task="mental_arithmetic", stores=["x"], out="x", config_overrides=TINY), 1, 0).head.linear.in_features
    labels = np.repeat([0, 1, 0], [40, 20, 40]).astype(np.int64)
    features = (rng.normal(3.0, rng.uniform(0.5, 4.0, width), (100, width)) + 0.8 * labels[:, None]).astype(np.float32)
    train, val, none = np.arange(60), np.arange(60, 100), np.array([], dtype=int)
    labels[60:] = rng.integers(0, 2, 40)  # validation that cannot be learnt: early stopping acts

    model, state, history = _linear_probe(features, labels, train, none)
    np.testing.assert_allclose(model.head.norm.running_mean.numpy(), features[train].mean(0), rtol=1e-5)
    np.testing.assert_allclose(model.head.norm.running_var.numpy(), features[train].astype(np.float64).var(0, ddof=1), rtol=1e-4)
    assert [h["epoch"] for h in history] == [1, 2, 3, 4, 5, 6] and history[-1]["best"]  # no validation: the last epoch
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    _, again, _ = _linear_probe(features, labels, train, none)
    assert all(torch.equal(state[k], again[k]) for k in state)  # the same seed, the same head
    _, other, _ = _linear_probe(features, labels, train, none, seed=1)
    assert not torch.equal(state["linear.weight"], other["linear.weight"])

    # the rate it is given: at 0 nothing moves; the loss is the Bal-BCE of the untrained head
    # (K = 0.3, smoothing 0.1, one batch) written out by hand
    model, still, history = _linear_probe(features, labels, train, none, lr=0.0, batch_size=64, epochs=1, prior_scale=0.3, label_smoothing=0.1)
    assert torch.equal(still["linear.weight"], model.head.linear.weight)
    with torch.no_grad():
        z = model.head.classify(torch.from_numpy(features[train])).numpy()[:, 0].astype(np.float64)
    y, k, eps = labels[train], 0.3, 0.1
    z = z + k * np.log(np.mean(y == 1) / np.mean(y == 0))
    target = y * (1 - eps) + eps / 2
    expected = np.mean(np.maximum(z, 0) - z * target + np.log1p(np.exp(-np.abs(z))))
    assert history[0]["train_loss"] == pytest.approx(expected, rel=1e-5)

    # weight decay it is given shrinks the head
    _, free, _ = _linear_probe(features, labels, train, none, lr=1e-2, weight_decay=0.0, epochs=20)
    _, decayed, _ = _linear_probe(features, labels, train, none, lr=1e-2, weight_decay=30.0, epochs=20)
    assert decayed["linear.weight"].norm() < 0.5 * free["linear.weight"].norm()

    # with validation windows: stops `patience` epochs after the best
    _, _, history = _linear_probe(features, labels, train, val, epochs=100, patience=3)
    best = max(h["epoch"] for h in history if h.get("best"))
    assert len(history) == best + 3 < 100


def test_the_command_line_without_options_runs_the_recipe(monkeypatch, tmp_path):
    """``neuript finetune --task T --store S --split paper --out RUN`` uses RECIPES (docs/finetune.md)."""
    from typer.testing import CliRunner

    import neuript.finetune
    from neuript.cli import app
    from neuript.finetune import RECIPES

    seen = []

    def capture(settings, progress):
        seen.append(settings)
        raise ValueError("captured")

    monkeypatch.setattr(neuript.finetune, "finetune", capture)
    args = ["finetune", "--task", "mental_arithmetic", "--store", "S", "--split", "paper", "--out", str(tmp_path)]
    CliRunner().invoke(app, args)
    CliRunner().invoke(app, [*args, "--mode", "linear"])
    full, linear = seen
    assert full == FinetuneSettings(task="mental_arithmetic", stores=["S"], out=str(tmp_path))
    for settings, mode in ((full, "full"), (linear, "linear")):
        for key, value in RECIPES[mode].items():
            expected = settings.lr if (key == "head_lr" and value is None) else value
            assert getattr(settings, key) == expected, key
    assert (full.crop_s, full.label_smoothing, full.prior_scale, full.aux_weight, full.device) == (1.0, 0.1, 0.3, 0.8, "auto")
    assert full.channel_rms == linear.channel_rms == 6.6
    whole = FinetuneSettings(task="mental_arithmetic", stores=["S"], out=str(tmp_path), crop_s=0, channel_rms=0)
    assert whole.crop_s == 0 and whole.channel_rms == 0  # --crop 0: whole windows; --channel-rms 0: unscaled
    # what settings.json holds reads back as the same settings (evaluate_run), 0 included
    assert FinetuneSettings(**json.loads(json.dumps(asdict(whole)))) == whole
    with pytest.raises(ValueError, match="'channel_rms' parameter"):
        FinetuneSettings(task="mental_arithmetic", stores=["S"], out=str(tmp_path), channel_rms=-1)
    assert full.freeze_epochs == 1 and full.lr <= 1e-4 and full.head_lr <= 1e-4  # inside the paper's grid
