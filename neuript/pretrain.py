"""Pretraining from eegcorpus stores: AAMP on windows served by the eegcorpus loader.

AdamW (0.9, 0.98), weight decay 5e-3, OneCycle to the peak learning rate (warm-up 15 %,
div 25, final div 1e4), gradient clipping, bf16 autocast on GPU. Every step's masking draws come
from a generator seeded with (seed, step), and a checkpoint holds the model, optimizer,
scheduler, the global RNG state and the loader's position, so ``resume=True`` continues with
exactly the losses an uninterrupted run would have had.

Checkpoints are plain ``torch.save`` dictionaries of tensors and numbers, loaded with
``weights_only=True`` (no arbitrary object is ever unpickled).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from neuript.config import get_config
from neuript.model import NeurIPT

CHECKPOINT = "checkpoint.pt"
LOG = "log.jsonl"


@dataclass
class PretrainSettings:
    """A pretraining run. The defaults are the CPU recipe (docs/model.md, "The CPU pretraining
    recipe"): about an hour on 2 cores for ``slim``, on windows as MentalArithmetic and
    Mumtaz2016 are fine-tuned (1-s crops, the 19 10-20 electrodes average-referenced among
    themselves). The paper's GPU recipe differs: 4-s double-banana windows, batch 480, 400k
    steps, 100 uV rejection.
    """

    stores: list[str]
    out: str
    config: str = "slim"
    steps: int = 800
    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 5e-3
    grad_clip: float = 100.0  # the paper's value
    seed: int = 520  # the paper's seed
    #: 1 s: what the fine-tuning recipe trains on (random 1-s crops of the task's windows). A 5-s
    #: step of ``slim`` at batch 8 holds 9.6 GB resident (14 GB with the command line's tuned
    #: allocator): the decoder runs seven layers at full resolution.
    window_s: float = 1.0
    montage: str = "scalp_average"
    #: 200 uV, not the paper's 100: on the scalp-average montage 94 % of EEGMMIDB's 5-s windows
    #: exceed 100 uV (eye movements at Fp1/Fp2); docs/model.md has the counts.
    reject_uv: float | None = 200.0
    a_law: bool = True
    num_workers: int = 0
    checkpoint_every: int = 50
    #: Replaces the configuration's dropout (None keeps it): 0 on CPUs, where dropout's random
    #: masks cost a third of a training step; ``config_overrides`` wins.
    dropout: float | None = 0.0
    config_overrides: dict = field(default_factory=dict)
    #: Each rank appends the windows of every step (recording ids, starts) to
    #: ``RUN/windows/rank<r>.jsonl``: an audit of what each rank trained on.
    record_windows: bool = False
    #: End this run at this global step, with a checkpoint, keeping the schedule of ``steps``
    #: (a job split by a cluster's time limit; ``resume=True`` continues it).
    stop_at: int | None = None
    #: fsspec options for stores given as URLs (``s3://...``); credentials from the environment.
    storage_options: dict = field(default_factory=dict)


def _stream(settings: PretrainSettings):
    from eegcorpus.loader import WindowSpec, WindowStream
    from eegcorpus.store import open_store

    stores = [open_store(s, settings.storage_options or None) for s in settings.stores]
    return WindowStream(
        stores,
        WindowSpec(settings.window_s),
        montage=settings.montage,
        reject_uv=settings.reject_uv,
        a_law=settings.a_law,
        seed=settings.seed,
        batch_size=settings.batch_size,
    )


def _loader(stream, settings: PretrainSettings):
    from eegcorpus.loader import dataloader_kwargs

    # Its own generator: creating a DataLoader iterator otherwise draws a seed from the global
    # RNG, which would shift dropout and router noise after a resume.
    generator = torch.Generator().manual_seed(settings.seed)
    return torch.utils.data.DataLoader(stream, batch_size=None, generator=generator, **dataloader_kwargs(settings.num_workers))


def pretrain(settings: PretrainSettings, resume: bool = False, progress: bool = True) -> dict:
    """Run (or continue) a pretraining run; returns a summary of the last step.

    Started by ``torchrun`` (``WORLD_SIZE`` > 1), this process is one rank of a
    DistributedDataParallel job (:mod:`neuript.distributed`): it trains on its own share of each
    epoch's windows, and rank 0 writes the log and checkpoints. A checkpoint resumes under any
    world size (exactly when it is unchanged).
    """
    from neuript.distributed import distributed_context

    with distributed_context() as ctx:
        return _pretrain(settings, resume, progress, ctx)


def _pretrain(settings: PretrainSettings, resume: bool, progress: bool, ctx) -> dict:
    from neuript.distributed import (
        RANK_SEED_STRIDE,
        gather_resume_state,
        lockstep,
        pretrain_step_fn,
        rank_seed,
        reduce_metrics,
        restore_rng,
        resume_positions,
        saved_positions,
    )

    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    device = ctx.device
    torch.manual_seed(settings.seed)  # the same initial weights on every rank
    overrides = ({"dropout": settings.dropout} if settings.dropout is not None else {}) | settings.config_overrides
    model = NeurIPT(get_config(settings.config, **overrides)).to(device)
    if ctx.rank > 0:
        torch.manual_seed(rank_seed(settings.seed, ctx.rank))  # rank 0 keeps a single run's stream
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, betas=(0.9, 0.98), weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.lr, total_steps=settings.steps, pct_start=0.15, div_factor=25, final_div_factor=1e4
    )
    step, epoch, positions, fingerprints = 0, 0, {}, None
    if resume and (out / CHECKPOINT).exists():
        state = torch.load(out / CHECKPOINT, map_location=device, weights_only=True)
        fingerprints = state.get("fingerprints")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, epoch = int(state["step"]), int(state["epoch"])
        restore_rng(state, ctx, settings.seed, step)
        positions = resume_positions(*saved_positions(state), ctx.rank, ctx.world_size, settings.num_workers)
    if ctx.is_main:
        (out / "settings.json").write_text(json.dumps(asdict(settings), indent=1))
        from eegcorpus.storage import storage_defaults
        from neuript.leakage import pretraining_fingerprints

        # Every recording the checkpoint sees, for the fine-tuning leakage guard (neuript/leakage.py);
        # stores at URLs are read with the run's storage options.
        with storage_defaults(settings.stores, settings.storage_options):
            fingerprints = pretraining_fingerprints(settings.stores, previous=fingerprints)
    step_fn = pretrain_step_fn(model, ctx)

    stream = _stream(settings)
    loader = _loader(stream, settings)
    log = open(out / LOG, "a") if ctx.is_main else None
    windows_log = None
    if settings.record_windows:
        (out / "windows").mkdir(exist_ok=True)
        windows_log = open(out / "windows" / f"rank{ctx.rank}.jsonl", "a")
        recording_ids = stream.index.recordings["recording_id"].tolist()
    last: dict = {}
    from tqdm import tqdm

    bar = tqdm(total=settings.steps, initial=step, unit="step", disable=not progress or not ctx.is_main, dynamic_ncols=True)
    end = min(settings.steps, settings.stop_at) if settings.stop_at else settings.steps
    try:
        while step < end:
            stream.set_epoch(epoch)
            if positions:
                stream.resume_from(positions)
            served = 0
            for batch in lockstep(loader, ctx):
                served += 1
                started = time.perf_counter()
                model.train()
                # Ranks draw different masks for their different windows.
                generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + step + RANK_SEED_STRIDE * ctx.rank)
                x = batch["x"].to(device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    result = step_fn(x, batch["pos"].to(device), batch["ch_mask"].to(device), generator=generator)
                optimizer.zero_grad(set_to_none=True)
                result.loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                # Where the loader stands: the last position consumed from the batch's worker.
                positions[int(batch["worker"])] = int(batch["position"].max())
                elapsed = time.perf_counter() - started
                if windows_log is not None:
                    windows_log.write(
                        json.dumps(
                            {
                                "step": step,
                                "rank": ctx.rank,
                                "recording": [recording_ids[r] for r in batch["recording"].tolist()],
                                "start": batch["start"].tolist(),
                            }
                        )
                        + "\n"
                    )
                    windows_log.flush()
                # Over ranks: mean losses, total tokens per second, mean expert loads.
                sums, loads = reduce_metrics(
                    [float(result.loss.detach()), float(result.recon_loss), float(result.aux_loss), x.numel() / elapsed],
                    [load for load in result.loads if load.numel()],
                    ctx,
                )
                last = {
                    "step": step,
                    "epoch": epoch,
                    "loss": sums[0] / ctx.world_size,
                    "recon_loss": sums[1] / ctx.world_size,
                    "aux_loss": sums[2] / ctx.world_size,
                    "lr": scheduler.get_last_lr()[0],
                    "tokens_per_s": sums[3],
                    "expert_load": [load.tolist() for load in loads],
                }
                if ctx.enabled:
                    last["world_size"] = ctx.world_size
                if log is not None:
                    log.write(json.dumps(last) + "\n")
                    log.flush()
                bar.set_postfix(loss=f"{last['loss']:.3f}", refresh=False)
                bar.update(1)
                if step % settings.checkpoint_every == 0 or step == end:
                    ranks = gather_resume_state(ctx, positions, settings.num_workers)  # on every rank
                    if ctx.is_main:
                        _save(out, model, optimizer, scheduler, step, epoch, positions, ranks=ranks, fingerprints=fingerprints)
                if step >= end:
                    break
            else:
                if served == 0 and not positions:
                    raise RuntimeError("The loader served no window (all rejected?); lower --reject-uv or check the stores.")
                epoch, positions = epoch + 1, {}  # an epoch finished (or was finished before the resume)
    finally:
        bar.close()
        for handle in (log, windows_log):
            if handle is not None:
                handle.close()
    return last


def _save(out: Path, model, optimizer, scheduler, step: int, epoch: int, positions: dict, ranks: dict | None = None, fingerprints: str | None = None) -> None:
    """Write the checkpoint to a temporary file and rename it (never a half-written checkpoint).

    ``positions`` and the RNG states at the top level are rank 0's; ``ranks``
    (:func:`neuript.distributed.gather_resume_state`) adds every rank's.
    """
    workers = sorted(positions)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        **({"cuda_rng": torch.cuda.get_rng_state()} if torch.cuda.is_available() else {}),
        "step": torch.tensor(step),
        "epoch": torch.tensor(epoch),
        "positions_workers": torch.tensor(workers, dtype=torch.int64),
        "positions": torch.tensor([positions[w] for w in workers], dtype=torch.int64),
        "config": json.dumps(model.config.to_dict()),
        **(ranks or {}),
        **({"fingerprints": fingerprints} if fingerprints else {}),
    }
    tmp = out / f".{CHECKPOINT}.tmp"
    torch.save(state, tmp)
    tmp.replace(out / CHECKPOINT)


def read_log(out: str | Path) -> list[dict]:
    """The JSONL log of a run."""
    return [json.loads(line) for line in (Path(out) / LOG).read_text().splitlines() if line.strip()]


__all__ = ["PretrainSettings", "pretrain", "read_log"]
