"""Pretraining from eegcorpus stores: AAMP on windows served by the eegcorpus loader.

AdamW (0.9, 0.98), weight decay 5e-3, OneCycle to the peak learning rate (warm-up 15 %,
div 25, final div 1e4; :mod:`neuript.optim`, shared with fine-tuning), gradient clipping, bf16 autocast on GPU. Every step's masking draws come
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
from neuript.distributed import (
    RANK_SEED_STRIDE,
    distributed_context,
    gather_resume_state,
    lockstep,
    pretrain_step_fn,
    rank_seed,
    reduce_metrics,
    restore_rng,
    resume_positions,
    saved_positions,
)
from neuript.log import logger
from neuript.model import NeurIPT
from neuript.optim import ParamGroup, configure_optimizer

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
    with distributed_context() as ctx:
        return _pretrain(settings, resume, progress, ctx)


def _pretrain(settings: PretrainSettings, resume: bool, progress: bool, ctx) -> dict:
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    model, optimizer, scheduler = _model_and_optimizer(settings, ctx)
    run = _RunState()
    if resume and (out / CHECKPOINT).exists():
        run = _restore(out, settings, ctx, model, optimizer, scheduler)
    if ctx.is_main:
        (out / "settings.json").write_text(json.dumps(asdict(settings), indent=1))
        run.fingerprints = _fingerprints(settings, run.fingerprints)
    step_fn = pretrain_step_fn(model, ctx)
    stream = _stream(settings)
    loader = _loader(stream, settings)
    logs = _Logs(out, settings, ctx, stream)
    from tqdm import tqdm

    bar = tqdm(total=settings.steps, initial=run.step, unit="step", disable=not progress or not ctx.is_main, dynamic_ncols=True)
    end = min(settings.steps, settings.stop_at) if settings.stop_at else settings.steps
    last: dict = {}
    try:
        while run.step < end:
            served = 0
            for batch in _epoch_batches(stream, loader, run, ctx):
                served += 1
                result, x, elapsed = _train_step(model, optimizer, scheduler, step_fn, batch, run.step, settings, ctx)
                run.step += 1
                # Where the loader stands: the last position consumed from the batch's worker.
                run.positions[int(batch["worker"])] = int(batch["position"].max())
                logs.windows(run.step, batch)
                last = _step_metrics(result, x, elapsed, run, scheduler, ctx)
                logs.step(last)
                bar.set_postfix(loss=f"{last['loss']:.3f}", refresh=False)
                bar.update(1)
                if run.step % settings.checkpoint_every == 0 or run.step == end:
                    _checkpoint(out, model, optimizer, scheduler, run, settings, ctx)
                if run.step >= end:
                    break
            else:
                if served == 0 and not run.positions:
                    raise RuntimeError("The loader served no window (all rejected?); lower --reject-uv or check the stores.")
                run.epoch, run.positions = run.epoch + 1, {}  # an epoch finished (or was finished before the resume)
    finally:
        bar.close()
        logs.close()
    return last


@dataclass
class _RunState:
    """Where a run stands: optimiser steps taken, the loader's epoch and per-worker positions
    within it, and the fingerprints of the recordings seen (for the leakage guard)."""

    step: int = 0
    epoch: int = 0
    positions: dict = field(default_factory=dict)
    fingerprints: str | None = None


def _model_and_optimizer(settings: PretrainSettings, ctx):
    """The model with its initial weights (the same on every rank), AdamW (0.9, 0.98) and the
    OneCycle schedule of the paper (:func:`neuript.optim.configure_optimizer`)."""
    torch.manual_seed(settings.seed)
    overrides = ({"dropout": settings.dropout} if settings.dropout is not None else {}) | settings.config_overrides
    model = NeurIPT(get_config(settings.config, **overrides)).to(ctx.device)
    if ctx.rank > 0:
        torch.manual_seed(rank_seed(settings.seed, ctx.rank))  # rank 0 keeps a single run's stream
    optimizer, scheduler = configure_optimizer(
        [ParamGroup(list(model.parameters()), settings.lr)],
        settings.steps,
        weight_decay=settings.weight_decay,
        betas=(0.9, 0.98),
        warmup=0.15,
        div_factor=25.0,
        final_div_factor=1e4,
    )
    return model, optimizer, scheduler


def _restore(out: Path, settings: PretrainSettings, ctx, model, optimizer, scheduler) -> _RunState:
    """Load the run's checkpoint into the model, optimiser and schedule, restore the RNG states
    and say where each of this rank's loader workers resumes."""
    state = torch.load(out / CHECKPOINT, map_location=ctx.device, weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    step, epoch = int(state["step"]), int(state["epoch"])
    if "lr_lambdas" in state["scheduler"]:
        scheduler.load_state_dict(state["scheduler"])
    else:
        _continue_older_schedule(optimizer, scheduler, step)
    restore_rng(state, ctx, settings.seed, step)
    positions = resume_positions(*saved_positions(state), ctx.rank, ctx.world_size, settings.num_workers)
    return _RunState(step, epoch, positions, state.get("fingerprints"))


def _continue_older_schedule(optimizer, scheduler, step: int) -> None:
    """Resume a checkpoint whose schedule was torch's ``OneCycleLR`` (runs from before
    pretraining shared :mod:`neuript.optim`): the learning rate continues on the same OneCycle
    curve from ``step``; beta1, which ``OneCycleLR`` cycled between 0.85 and 0.95, is held at
    0.9 from here on."""
    logger.warning(
        "resuming a checkpoint with an older learning-rate schedule: the rate continues on the same curve, AdamW's beta1 is held at 0.9 from step %d", step
    )
    scheduler.last_epoch = step
    rates = [base * rule(step) for base, rule in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
    for group, rate in zip(optimizer.param_groups, rates):
        group["lr"] = rate
        group["betas"] = (0.9, group["betas"][1])
    scheduler._last_lr = rates


def _fingerprints(settings: PretrainSettings, previous: str | None) -> str:
    """Every recording the checkpoint sees, for the fine-tuning leakage guard
    (:mod:`neuript.leakage`); unchanged recordings keep their ``previous`` signal hashes, and stores
    at URLs are read with the run's storage options."""
    from eegcorpus.storage import storage_defaults
    from neuript.leakage import pretraining_fingerprints

    with storage_defaults(settings.stores, settings.storage_options):
        return pretraining_fingerprints(settings.stores, previous=previous)


def _epoch_batches(stream, loader, run: _RunState, ctx):
    """The batches of ``run.epoch``, from where the run stands within it, in lockstep over ranks."""
    stream.set_epoch(run.epoch)
    if run.positions:
        stream.resume_from(run.positions)
    return lockstep(loader, ctx)


def _train_step(model, optimizer, scheduler, step_fn, batch, step: int, settings: PretrainSettings, ctx):
    """One optimiser step of AAMP on ``batch``; returns the step's result, its input and seconds."""
    started = time.perf_counter()
    device = ctx.device
    model.train()
    # Every step's masking draws come from (seed, step); ranks draw different masks for their
    # different windows.
    generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + step + RANK_SEED_STRIDE * ctx.rank)
    x = batch["x"].to(device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        result = step_fn(x, batch["pos"].to(device), batch["ch_mask"].to(device), generator=generator)
    optimizer.zero_grad(set_to_none=True)
    result.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
    optimizer.step()
    scheduler.step()
    return result, x, time.perf_counter() - started


def _step_metrics(result, x, elapsed: float, run: _RunState, scheduler, ctx) -> dict:
    """The log line of a step, over ranks: mean losses, total tokens per second, mean expert loads."""
    sums, loads = reduce_metrics(
        [float(result.loss.detach()), float(result.recon_loss), float(result.aux_loss), x.numel() / elapsed],
        [load for load in result.loads if load.numel()],
        ctx,
    )
    metrics = {
        "step": run.step,
        "epoch": run.epoch,
        "loss": sums[0] / ctx.world_size,
        "recon_loss": sums[1] / ctx.world_size,
        "aux_loss": sums[2] / ctx.world_size,
        "lr": scheduler.get_last_lr()[0],
        "tokens_per_s": sums[3],
        "expert_load": [load.tolist() for load in loads],
    }
    if ctx.enabled:
        metrics["world_size"] = ctx.world_size
    return metrics


def _checkpoint(out: Path, model, optimizer, scheduler, run: _RunState, settings: PretrainSettings, ctx) -> None:
    ranks = gather_resume_state(ctx, run.positions, settings.num_workers)  # on every rank
    if ctx.is_main:
        _save(out, model, optimizer, scheduler, run.step, run.epoch, run.positions, ranks=ranks, fingerprints=run.fingerprints)


class _Logs:
    """The run's step log (``RUN/log.jsonl``, rank 0) and, with ``record_windows``, each rank's
    audit of the windows it trained on (``RUN/windows/rank<r>.jsonl``)."""

    def __init__(self, out: Path, settings: PretrainSettings, ctx, stream):
        self.rank = ctx.rank
        self.log = open(out / LOG, "a") if ctx.is_main else None
        self.window_log = None
        if settings.record_windows:
            (out / "windows").mkdir(exist_ok=True)
            self.window_log = open(out / "windows" / f"rank{ctx.rank}.jsonl", "a")
            self.recording_ids = stream.index.recordings["recording_id"].tolist()

    def step(self, metrics: dict) -> None:
        if self.log is not None:
            self.log.write(json.dumps(metrics) + "\n")
            self.log.flush()

    def windows(self, step: int, batch) -> None:
        if self.window_log is None:
            return
        recordings = [self.recording_ids[r] for r in batch["recording"].tolist()]
        self.window_log.write(json.dumps({"step": step, "rank": self.rank, "recording": recordings, "start": batch["start"].tolist()}) + "\n")
        self.window_log.flush()

    def close(self) -> None:
        for handle in (self.log, self.window_log):
            if handle is not None:
                handle.close()


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
