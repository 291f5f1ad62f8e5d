"""Multi-process pretraining with ``torch.distributed``: process group, rank roles, resume.

``torchrun --nproc_per_node N -m neuript pretrain ...`` starts N processes and describes the
group in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``); :func:`distributed_context` joins it with ``nccl`` on GPUs and ``gloo`` on
CPUs. The model is wrapped in ``DistributedDataParallel`` (gradients averaged over ranks); every
rank reads its own blocks of windows (the eegcorpus loader splits an epoch between ranks); rank
0 alone writes the log and the checkpoints.

Resume semantics (see docs/scaling.md). A checkpoint records the global step, the epoch, and
every rank's loader position and RNG state. Resumed with the same world size and the same
number of DataLoader workers, every rank continues exactly where it stopped. With another world
size or worker count, the global step, the epoch and the number of windows already drawn in
that epoch are kept: each new reader skips an equal share of them in its own (new) schedule,
so the epoch ends after the same number of windows, but within that one epoch some windows may
be seen twice and others not at all.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

#: torch's default seed mixing would give rank r the stream of seed + r; a large odd multiplier
#: keeps the ranks' streams apart from the neighbouring seeds a user may also run.
RANK_SEED_STRIDE = 1_000_000_007


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in the training job.

    Attributes
    ----------
    rank, world_size, local_rank : int
        Global rank, number of processes, rank on this machine (0, 1, 0 without a launcher).
    backend : str | None
        ``"nccl"``, ``"gloo"``, or None for a single process.
    device : torch.device
        The device this rank computes on (``cuda:LOCAL_RANK`` on GPUs).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on the rank that writes logs and checkpoints."""
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"Invalid value for the environment variable {name!r}: expected an integer, got {value!r}.") from None


@contextlib.contextmanager
def distributed_context(backend: str | None = None):
    """Join the process group a launcher describes, or run as a single process.

    Parameters
    ----------
    backend : str | None
        ``"nccl"`` or ``"gloo"``; default ``nccl`` when CUDA is available, ``gloo`` otherwise.

    Yields
    ------
    DistributedContext

    Notes
    -----
    A group initialised by the caller is used as it is and left open; one created here is
    destroyed on exit, also after an error (a rank that dies leaves the others to torchrun,
    which stops them).
    """
    import torch.distributed as dist

    world = _env_int("WORLD_SIZE", 1)
    cuda = torch.cuda.is_available()
    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        yield DistributedContext(device=torch.device("cuda" if cuda else "cpu"))
        return
    local_rank = _env_int("LOCAL_RANK", 0)
    device = torch.device("cpu")
    if cuda:
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(
                f"Local rank {local_rank} has no GPU: this machine has {torch.cuda.device_count()}; start at most "
                f"that many processes per node (torchrun --nproc_per_node)."
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    created = not dist.is_initialized()
    if created:
        if backend is None:
            backend = "nccl" if cuda else "gloo"
        elif backend not in ("nccl", "gloo"):
            raise ValueError(f"Invalid value for the 'backend' parameter. Allowed values are 'nccl' and 'gloo', but got {backend!r} instead.")
        dist.init_process_group(backend=backend, device_id=device if device.type == "cuda" else None)
    try:
        yield DistributedContext(dist.get_rank(), dist.get_world_size(), local_rank, dist.get_backend(), device)
    finally:
        if created:
            dist.destroy_process_group()


class _PretrainStep(torch.nn.Module):
    """The pretraining step as a forward pass: DDP prepares gradient averaging in ``forward``."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *args, **kwargs):
        return self.model.pretrain_step(*args, **kwargs)


def pretrain_step_fn(model, ctx: DistributedContext):
    """``model.pretrain_step``, wrapped in ``DistributedDataParallel`` when several ranks train.

    ``find_unused_parameters`` is on because a routed expert that receives no token in a step
    (capacity, routing) has no gradient there, which DDP would otherwise wait for forever.
    """
    if not ctx.enabled:
        return model.pretrain_step
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(_PretrainStep(model), device_ids=device_ids, find_unused_parameters=True)


def lockstep(batches, ctx: DistributedContext):
    """Yield batches while every rank still has one.

    DDP needs every rank to run the same number of steps; amplitude rejection and DataLoader
    workers can leave ranks with different batch counts in an epoch, so the epoch ends on the
    shortest rank (one tiny all-reduce per step) and the others drop what they have left.
    """
    import torch.distributed as dist

    iterator = iter(batches)
    while True:
        batch = next(iterator, None)
        if ctx.enabled:
            flag = torch.tensor([0 if batch is None else 1], device=ctx.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            if not int(flag.item()):
                return
        if batch is None:
            return
        yield batch


def reduce_metrics(values: list[float], loads: list[torch.Tensor], ctx: DistributedContext) -> tuple[list[float], list[torch.Tensor]]:
    """Sum ``values`` and average ``loads`` (expert load fractions) over ranks, in one all-reduce."""
    if not ctx.enabled:
        return values, loads
    import torch.distributed as dist

    flat = torch.cat([torch.tensor(values, dtype=torch.float64), *[load.detach().double().cpu().reshape(-1) for load in loads]]).to(ctx.device)
    dist.all_reduce(flat)
    summed = flat.cpu()
    out_loads, offset = [], len(values)
    for load in loads:
        out_loads.append((summed[offset : offset + load.numel()] / ctx.world_size).reshape(load.shape).float())
        offset += load.numel()
    return summed[: len(values)].tolist(), out_loads


def rank_seed(seed: int, rank: int, step: int = 0) -> int:
    """The global-RNG seed of a rank that has no saved state (dropout and router noise differ
    between ranks, as their data do)."""
    return (seed + RANK_SEED_STRIDE * rank + 7919 * step) % (2**63 - 1)


def gather_resume_state(ctx: DistributedContext, positions: dict[int, int], num_workers: int) -> dict:
    """Every rank's loader position and RNG states as checkpoint tensors (call on all ranks).

    Returns
    -------
    dict
        ``world_size``, ``num_workers``, ``rank_positions`` (int64 rows ``rank, worker,
        position``), ``rank_rng`` (uint8 ``[world, n]``) and, on GPUs, ``rank_cuda_rng``.
    """
    mine = {
        "positions": dict(positions),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state() if ctx.device.type == "cuda" else None,
    }
    if ctx.enabled:
        import torch.distributed as dist

        everyone: list = [None] * ctx.world_size
        dist.all_gather_object(everyone, mine)
    else:
        everyone = [mine]
    rows = [(r, w, p) for r, state in enumerate(everyone) for w, p in sorted(state["positions"].items())]
    out = {
        "world_size": torch.tensor(ctx.world_size),
        "num_workers": torch.tensor(int(num_workers)),
        "rank_positions": torch.tensor(rows, dtype=torch.int64).reshape(-1, 3),
        "rank_rng": torch.stack([state["rng"] for state in everyone]),
    }
    if all(state["cuda_rng"] is not None for state in everyone):
        out["rank_cuda_rng"] = torch.stack([state["cuda_rng"].cpu() for state in everyone])
    return out


def saved_positions(state: dict) -> tuple[int, int | None, dict[int, dict[int, int]]]:
    """(world size, DataLoader workers or None when unknown, {rank: {worker: position}}) of a
    checkpoint; checkpoints from before multi-process training count as one rank."""
    if "rank_positions" in state:
        per_rank: dict[int, dict[int, int]] = {}
        for r, w, p in state["rank_positions"].tolist():
            per_rank.setdefault(int(r), {})[int(w)] = int(p)
        return int(state["world_size"]), int(state["num_workers"]), per_rank
    workers = state["positions_workers"].tolist()
    return 1, None, {0: {int(w): int(p) for w, p in zip(workers, state["positions"].tolist())}}


def resume_positions(saved_world: int, saved_workers: int | None, saved: dict[int, dict[int, int]], rank: int, world: int, num_workers: int) -> dict[int, int]:
    """Where this rank's loader continues the interrupted epoch.

    Same world size and worker count (or an older checkpoint that did not record the worker
    count): this rank's own positions, so the run continues exactly. Otherwise the windows
    already drawn in the epoch (``position + 1`` per reader) are shared equally between the new
    readers (``world x workers``), each skipping that many of its new schedule.

    Parameters
    ----------
    saved_world, saved_workers, saved
        As returned by :func:`saved_positions`.
    rank, world, num_workers : int
        This process's rank, the new world size and DataLoader worker count.
    """
    if saved_world == world and saved_workers in (None, num_workers):
        return dict(saved.get(rank, {}))
    consumed = sum(p + 1 for positions in saved.values() for p in positions.values())
    readers = max(1, int(num_workers))
    share = consumed // (world * readers)
    return {w: share - 1 for w in range(readers)} if share > 0 else {}


def restore_rng(state: dict, ctx: DistributedContext, seed: int, step: int) -> None:
    """Restore this rank's global RNG (and CUDA RNG) from a checkpoint.

    The saved state of the same rank when the world size is unchanged; rank 0's state (the one
    a single-process run saves) for rank 0 otherwise; a seed derived from (seed, rank, step)
    for ranks the checkpoint did not have.
    """
    saved_world = int(state["world_size"]) if "world_size" in state else 1
    if saved_world == ctx.world_size and "rank_rng" in state:
        # A copy: torch.set_rng_state segfaults (torch 2.13) on a view with a storage offset,
        # which every row of the stacked table but the first is.
        torch.set_rng_state(state["rank_rng"][ctx.rank].clone().cpu())
        if ctx.device.type == "cuda" and "rank_cuda_rng" in state:
            torch.cuda.set_rng_state(state["rank_cuda_rng"][ctx.rank].clone().cpu())
        return
    if ctx.rank == 0:
        torch.set_rng_state(state["rng"].cpu())
        if ctx.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu())
        return
    torch.manual_seed(rank_seed(seed, ctx.rank, step))


__all__ = [
    "DistributedContext",
    "distributed_context",
    "gather_resume_state",
    "lockstep",
    "pretrain_step_fn",
    "reduce_metrics",
    "restore_rng",
    "resume_positions",
    "saved_positions",
]
