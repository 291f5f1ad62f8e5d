"""Multi-process pretraining: torchrun, two CPU ranks (gloo) on the real EEGMMIDB store."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys

import pytest
import torch
from helpers.processes import run

from neuript.distributed import resume_positions, saved_positions
from neuript.pretrain import CHECKPOINT, PretrainSettings, pretrain, read_log

# A tiny model without dropout (cheap on two shared cores), 1-s windows, no rejection (EEGMMIDB's
# amplitudes exceed 100 uV), a learning rate at which 16 steps lower the loss on a fixed batch.
TINY = {"d_model": 24, "n_heads": 2, "d_ff": 24, "expert_hidden": 16, "dropout": 0.0}
BATCH, STEPS, STOP, SEED, LR = 4, 12, 8, 3, 3e-3


def _cli_args(store, out):
    args = [
        "pretrain",
        "--store",
        str(store),
        "--out",
        str(out),
        "--steps",
        str(STEPS),
        "--batch-size",
        str(BATCH),
        "--window",
        "1",
        "--montage",
        "neuript",
        "--reject-uv",
        "0",
        "--lr",
        str(LR),
        "--seed",
        str(SEED),
        "--checkpoint-every",
        "4",
        "--record-windows",
        "--no-progress",
    ]
    for key, value in TINY.items():
        args += ["--config-set", f"{key}={value}"]
    return args


def _torchrun(store, out, *extra):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "neuript", *_cli_args(store, out), *extra]
    result = run(cmd, timeout=240, env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # a crash shows its stack
    assert result.returncode == 0, result.stdout[-4000:]
    return result


def _windows(out, rank):
    lines = [json.loads(line) for line in (out / "windows" / f"rank{rank}.jsonl").read_text().splitlines()]
    return {row["step"]: list(zip(row["recording"], row["start"])) for row in lines}


def _expected(store, rank, world, steps, resume=None):
    """The windows the loader gives ``rank`` of ``world`` for the first ``steps`` batches."""
    from eegcorpus.loader import WindowSpec, WindowStream

    stream = WindowStream([str(store)], WindowSpec(1.0), montage="neuript", a_law=True, seed=SEED, batch_size=BATCH, rank=rank, world_size=world)
    stream.set_epoch(0)
    if resume is not None:
        stream.resume_from(resume)
    ids = stream.index.recordings["recording_id"].tolist()
    out = []
    for batch in stream:
        out.append([(ids[r], s) for r, s in zip(batch["recording"].tolist(), batch["start"].tolist())])
        if len(out) == steps:
            return out
    raise AssertionError("the loader ran out of windows")


def _fixed_batch_loss(store, model_state=None):
    """Masked-reconstruction loss on 32 fixed windows with a fixed mask (evaluation mode)."""
    from eegcorpus.loader import WindowDataset, WindowSpec
    from neuript.config import get_config
    from neuript.model import NeurIPT

    ds = WindowDataset(str(store), WindowSpec(1.0), montage="neuript", a_law=True)
    items = [ds[i] for i in torch.linspace(0, len(ds) - 1, 32).long().tolist()]
    torch.manual_seed(SEED)  # as the run does: its initial weights
    model = NeurIPT(get_config("slim", **TINY))
    if model_state is not None:
        model.load_state_dict(model_state)
    model.eval()
    with torch.no_grad():
        x, pos, mask = (torch.stack([it[k] for it in items]) for k in ("x", "pos", "ch_mask"))
        return float(model.pretrain_step(x, pos, mask, generator=torch.Generator().manual_seed(0)).recon_loss)


@pytest.mark.slow
def test_torchrun_two_ranks_disjoint_windows_resume_in_one_process(eegmmidb_store, tmp_path):
    pytest.importorskip("torch.distributed.run")
    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("this torch build has no gloo backend for CPU process groups")
    run_dir = tmp_path / "ddp"
    _torchrun(eegmmidb_store, run_dir, "--stop-at", str(STOP))  # a job ended by its time limit
    log = read_log(run_dir)
    assert [row["step"] for row in log] == list(range(1, STOP + 1))  # one log, written by rank 0
    assert all(row["world_size"] == 2 and math.isfinite(row["loss"]) and math.isfinite(row["aux_loss"]) for row in log)

    # Each rank trained on its own windows: disjoint, and exactly the loader's rank split.
    seen = [_windows(run_dir, r) for r in (0, 1)]
    for r in (0, 1):
        assert sorted(seen[r]) == list(range(1, STOP + 1))
        assert [seen[r][s] for s in range(1, STOP + 1)] == _expected(eegmmidb_store, r, 2, STOP)
    flat = [set(w for step in seen[r].values() for w in step) for r in (0, 1)]
    assert len(flat[0]) == len(flat[1]) == STOP * BATCH and not flat[0] & flat[1]

    state = torch.load(run_dir / CHECKPOINT, weights_only=True)
    assert int(state["step"]) == STOP
    world, workers, positions = saved_positions(state)
    assert (world, workers) == (2, 0) and positions == {0: {0: STOP * BATCH - 1}, 1: {0: STOP * BATCH - 1}}
    initial = _fixed_batch_loss(eegmmidb_store)
    assert _fixed_batch_loss(eegmmidb_store, state["model"]) < initial

    # The same checkpoint, continued by one process: global step and the epoch's window count
    # carry over (the two ranks' 2 x STOP x BATCH windows are skipped in the new schedule).
    single = tmp_path / "single"
    shutil.copytree(run_dir, single)
    shutil.rmtree(single / "windows")
    settings = PretrainSettings(
        stores=[str(eegmmidb_store)],
        out=str(single),
        steps=STEPS,
        batch_size=BATCH,
        window_s=1.0,
        montage="neuript",
        reject_uv=None,
        lr=LR,
        seed=SEED,
        checkpoint_every=4,
        config_overrides=TINY,
        record_windows=True,
    )
    pretrain(settings, resume=True, progress=False)
    log = read_log(single)
    assert [row["step"] for row in log] == list(range(1, STEPS + 1))
    assert all(math.isfinite(row["loss"]) and "world_size" not in row for row in log[STOP:])
    mine = _windows(single, 0)
    expected = _expected(eegmmidb_store, 0, 1, STEPS - STOP, resume={0: 2 * STOP * BATCH - 1})
    assert [mine[s] for s in range(STOP + 1, STEPS + 1)] == expected
    final = torch.load(single / CHECKPOINT, weights_only=True)
    assert int(final["step"]) == STEPS and saved_positions(final)[0] == 1
    assert _fixed_batch_loss(eegmmidb_store, final["model"]) < initial

    # Resumed under the same world size, every rank continues its own sequence exactly.
    _torchrun(eegmmidb_store, run_dir, "--resume")
    assert [row["step"] for row in read_log(run_dir)] == list(range(1, STEPS + 1))
    for r in (0, 1):
        continued = _windows(run_dir, r)
        assert [continued[s] for s in range(1, STEPS + 1)] == _expected(eegmmidb_store, r, 2, STEPS)


def test_resume_positions_across_world_sizes():
    saved = {0: {0: 9, 1: 9}, 1: {0: 9, 1: 9}}  # 2 ranks x 2 workers, 10 windows drawn by each
    assert resume_positions(2, 2, saved, 1, 2, 2) == {0: 9, 1: 9}  # unchanged: exact
    assert resume_positions(2, 2, saved, 0, 1, 0) == {0: 39}  # one reader skips all 40
    assert resume_positions(2, 2, saved, 3, 4, 2) == {0: 4, 1: 4}  # 8 readers, 5 each
    assert resume_positions(2, 2, saved, 0, 4, 4) == {0: 1, 1: 1, 2: 1, 3: 1}  # 16 readers: 40 // 16 = 2 each
    assert resume_positions(2, 2, {}, 0, 4, 0) == {}  # at an epoch boundary: nothing to skip
    assert resume_positions(1, None, {0: {0: 5}}, 0, 1, 2) == {0: 5}  # older checkpoint: as saved
