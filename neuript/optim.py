"""Optimiser and learning-rate schedule shared by pretraining and fine-tuning.

:func:`configure_optimizer` builds AdamW over named parameter groups, each with its own peak
learning rate and its own schedule window (fine-tuning freezes the encoder for its first epochs
and gives the new head a larger rate than the pretrained encoder). :func:`one_cycle` is the
OneCycle shape of the paper (cosine warm-up from ``peak / div_factor`` to the peak, then cosine
annealing to ``peak / (div_factor * final_div_factor)``), as a multiplier of the peak, so that one
``LambdaLR`` can run a different window per group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def one_cycle(step: int, total: int, warmup: float, div_factor: float, final_div_factor: float) -> float:
    """The OneCycle multiplier of the peak rate at ``step`` of ``total`` (0-based).

    Matches ``torch.optim.lr_scheduler.OneCycleLR`` with cosine annealing: ``1 / div_factor`` at
    step 0, 1 at the end of the warm-up (``warmup`` of the steps), ``1 / (div_factor *
    final_div_factor)`` at the last step.
    """
    start, end = 1.0 / div_factor, 1.0 / (div_factor * final_div_factor)
    total = max(1, total)
    rise = float(warmup * total) - 1
    if rise > 0 and step <= rise:
        return _cosine(start, 1.0, step / rise)
    fall = total - 1 - max(rise, 0.0)
    return _cosine(1.0, end, min(1.0, (step - max(rise, 0.0)) / fall) if fall > 0 else 1.0)


def _cosine(start: float, end: float, fraction: float) -> float:
    return end + (start - end) / 2.0 * (1.0 + math.cos(math.pi * fraction))


@dataclass
class ParamGroup:
    """Parameters that share a peak rate and a schedule that runs from ``first_step`` to the end
    (before it the rate is 0: the group is frozen)."""

    params: list
    lr: float
    first_step: int = 0


def configure_optimizer(
    groups: list[ParamGroup],
    total_steps: int,
    *,
    weight_decay: float,
    betas=(0.9, 0.999),
    warmup: float = 0.1,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
):
    """AdamW over ``groups`` and a ``LambdaLR`` giving each group its own OneCycle window.

    Returns
    -------
    optimizer, scheduler
        Step the scheduler once per optimiser step.
    """
    groups = [g for g in groups if g.params]
    optimizer = torch.optim.AdamW([{"params": g.params, "lr": g.lr} for g in groups], betas=betas, weight_decay=weight_decay)

    def window(group: ParamGroup):
        length = total_steps - group.first_step

        def multiplier(step: int) -> float:
            if step < group.first_step:
                return 0.0
            return one_cycle(step - group.first_step, length, warmup, div_factor, final_div_factor)

        return multiplier

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [window(g) for g in groups])
    return optimizer, scheduler


__all__ = ["ParamGroup", "configure_optimizer", "one_cycle"]
