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
    stores: list[str]
    out: str
    config: str = "slim"
    steps: int = 100
    batch_size: int = 32
    lr: float = 3e-4
    weight_decay: float = 5e-3
    grad_clip: float = 100.0  # the paper's value
    seed: int = 520  # the paper's seed
    window_s: float = 4.0
    montage: str = "neuript"
    reject_uv: float | None = 100.0
    a_law: bool = True
    num_workers: int = 0
    checkpoint_every: int = 50
    config_overrides: dict = field(default_factory=dict)


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _stream(settings: PretrainSettings):
    from eegcorpus.loader import WindowSpec, WindowStream

    return WindowStream(
        settings.stores, WindowSpec(settings.window_s), montage=settings.montage, reject_uv=settings.reject_uv,
        a_law=settings.a_law, seed=settings.seed, batch_size=settings.batch_size,
    )


def _loader(stream, settings: PretrainSettings):
    from eegcorpus.loader import dataloader_kwargs

    # Its own generator: creating a DataLoader iterator otherwise draws a seed from the global
    # RNG, which would shift dropout and router noise after a resume.
    generator = torch.Generator().manual_seed(settings.seed)
    return torch.utils.data.DataLoader(stream, batch_size=None, generator=generator, **dataloader_kwargs(settings.num_workers))


def pretrain(settings: PretrainSettings, resume: bool = False, progress: bool = True) -> dict:
    """Run (or continue) a pretraining run; returns a summary of the last step."""
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    device = _device()
    torch.manual_seed(settings.seed)
    model = NeurIPT(get_config(settings.config, **settings.config_overrides)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, betas=(0.9, 0.98), weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.lr, total_steps=settings.steps, pct_start=0.15, div_factor=25, final_div_factor=1e4
    )
    step, epoch, positions = 0, 0, {}
    if resume and (out / CHECKPOINT).exists():
        state = torch.load(out / CHECKPOINT, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"].cpu())
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu())
        step, epoch = int(state["step"]), int(state["epoch"])
        positions = {int(k): int(v) for k, v in zip(state["positions_workers"].tolist(), state["positions"].tolist())}
    (out / "settings.json").write_text(json.dumps(asdict(settings), indent=1))

    stream = _stream(settings)
    loader = _loader(stream, settings)
    log = open(out / LOG, "a")
    last: dict = {}
    from tqdm import tqdm

    bar = tqdm(total=settings.steps, initial=step, unit="step", disable=not progress, dynamic_ncols=True)
    try:
        while step < settings.steps:
            stream.set_epoch(epoch)
            if positions:
                stream.resume_from(positions)
            served = 0
            for batch in loader:
                served += 1
                started = time.perf_counter()
                model.train()
                generator = torch.Generator().manual_seed(settings.seed * 1_000_003 + step)
                x = batch["x"].to(device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    result = model.pretrain_step(x, batch["pos"].to(device), batch["ch_mask"].to(device), generator=generator)
                optimizer.zero_grad(set_to_none=True)
                result.loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                optimizer.step()
                scheduler.step()
                step += 1
                # Where the loader stands: the last position consumed from the batch's worker.
                positions[int(batch["worker"])] = int(batch["position"].max())
                elapsed = time.perf_counter() - started
                last = {
                    "step": step,
                    "epoch": epoch,
                    "loss": float(result.loss),
                    "recon_loss": float(result.recon_loss),
                    "aux_loss": float(result.aux_loss),
                    "lr": scheduler.get_last_lr()[0],
                    "tokens_per_s": x.numel() / elapsed,
                    "expert_load": [load.tolist() for load in result.loads if load.numel()],
                }
                log.write(json.dumps(last) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{last['loss']:.3f}", refresh=False)
                bar.update(1)
                if step % settings.checkpoint_every == 0 or step == settings.steps:
                    _save(out, model, optimizer, scheduler, step, epoch, positions)
                if step >= settings.steps:
                    break
            else:
                if served == 0 and not positions:
                    raise RuntimeError("The loader served no window (all rejected?); lower --reject-uv or check the stores.")
                epoch, positions = epoch + 1, {}  # an epoch finished (or was finished before the resume)
    finally:
        bar.close()
        log.close()
    return last


def _save(out: Path, model, optimizer, scheduler, step: int, epoch: int, positions: dict) -> None:
    """Write the checkpoint to a temporary file and rename it (never a half-written checkpoint)."""
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
    }
    tmp = out / f".{CHECKPOINT}.tmp"
    torch.save(state, tmp)
    tmp.replace(out / CHECKPOINT)


def read_log(out: str | Path) -> list[dict]:
    """The JSONL log of a run."""
    return [json.loads(line) for line in (Path(out) / LOG).read_text().splitlines() if line.strip()]


__all__ = ["PretrainSettings", "pretrain", "read_log"]
