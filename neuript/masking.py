"""Amplitude-Aware Masked Pretraining (AAMP) masks and the helpers around them.

NeurIPT masks point-level tokens (one token per sample and channel). Instead of picking
random time steps, AAMP picks, for every sample ``b`` and channel ``c``, the points whose
amplitude falls in one band of that channel's value distribution (paper Eq. 4, App. B):

* rank the ``T`` values of ``x[b, c]``;
* draw ``xi ~ U(0, 1)``;
* mask the contiguous block of ``n = round(ratio * T)`` ranks centred at rank ``xi * T``.

In value space that block is an interval ``[L_bc, U_bc]``; in time the masked points are
scattered wherever the signal crosses the band, so the model must infer a whole amplitude
range from context rather than interpolate across a gap.

Pretraining draws the ratio per sample from ``NEURIPT_RATIOS`` (Table 13 "dynamic masking
ratio [20, 35, 50]"), then splits the masked set BERT-style (80 % mask token, 10 % random,
10 % unchanged, App. C.2). :func:`random_mask` is the uniform-random ablation baseline and
:func:`pool_mask` carries a mask to the coarser time scales of the encoder.

Shapes: ``B`` batch, ``C`` channels, ``T`` time samples. All masks are bool, True = masked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

NEURIPT_RATIOS = (0.2, 0.35, 0.5)

__all__ = [
    "NEURIPT_RATIOS",
    "amplitude_aware_mask",
    "bert_corruption",
    "mask_counts",
    "pool_mask",
    "random_mask",
    "sample_ratios",
]


def sample_ratios(batch: int, choices: Sequence[float] = NEURIPT_RATIOS, generator: torch.Generator | None = None) -> Tensor:
    """Draw one masking ratio per sample, uniformly from ``choices``.

    Returns a float tensor ``[batch]`` whose values are all members of ``choices``.
    """
    if batch < 0:
        raise ValueError(f"batch must be >= 0, got {batch}")
    if len(choices) == 0:
        raise ValueError("choices must not be empty")
    device = generator.device if generator is not None else None
    table = torch.tensor([float(c) for c in choices], dtype=torch.get_default_dtype(), device=device)
    index = torch.randint(len(choices), (batch,), generator=generator, device=device)
    return table[index]


def mask_counts(ratio: float | Tensor, length: int, batch: int, device=None) -> Tensor:
    """Number of points to mask per sample: ``round(ratio * length)``, halves rounded up.

    ``ratio`` is a scalar or ``[batch]``; returns int64 ``[batch]`` clamped to ``[0, length]``.
    Ratios often arrive as float32 (0.35 is 0.34999999...), so ``ratio * length`` is snapped
    to 1e-3 before rounding; otherwise a product that is exactly a half in decimal would round
    down or up depending on the float type it was stored in.
    """
    r = torch.as_tensor(ratio, device=device).to(torch.float64)
    if r.ndim == 0:
        r = r.expand(batch)
    if r.shape != (batch,):
        raise ValueError(f"ratio must be a scalar or have shape [{batch}], got {tuple(r.shape)}")
    if bool(((r < 0) | (r > 1) | torch.isnan(r)).any()):
        raise ValueError("masking ratios must lie in [0, 1]")
    exact = torch.round(r * length, decimals=3)
    return torch.floor(exact + 0.5).long().clamp_(0, length)


def _ranks_along_time(values: Tensor) -> Tensor:
    """Rank of every entry within its row (last dim), ties broken by position.

    ``values`` ``[..., T]`` -> int64 ``[..., T]`` holding a permutation of ``0..T-1`` per row.
    The stable sort keeps equal values in time order, so every row gets distinct ranks and a
    rank block always holds exactly the requested number of points, even for flat segments.
    """
    order = torch.argsort(values, dim=-1, stable=True)
    positions = torch.arange(values.shape[-1], device=values.device).expand_as(order)
    return torch.empty_like(order).scatter_(-1, order, positions)


def _apply_valid(mask: Tensor, valid: Tensor | None) -> Tensor:
    if valid is None:
        return mask
    valid = torch.as_tensor(valid, device=mask.device).bool()
    if valid.shape != mask.shape[:2]:
        raise ValueError(f"valid must have shape {tuple(mask.shape[:2])}, got {tuple(valid.shape)}")
    return mask & valid.unsqueeze(-1)


def amplitude_aware_mask(
    x: Tensor,
    ratio: float | Tensor,
    generator: torch.Generator | None = None,
    valid: Tensor | None = None,
) -> Tensor:
    """AAMP mask: per (sample, channel), the points inside one random amplitude band.

    Parameters
    ----------
    x : Tensor ``[B, C, T]``
        The signal (float). Only the order of values within each channel matters.
    ratio : float or Tensor ``[B]``
        Fraction of each channel's points to mask; ``n = round(ratio * T)`` (halves up).
    generator : torch.Generator, optional
        Source of the band centres ``xi``, for reproducible masks.
    valid : Tensor ``[B, C]`` bool, optional
        False marks padding channels; they get no masked point.

    Returns
    -------
    Tensor ``[B, C, T]`` bool, True = masked. Each (b, c) row has exactly ``n_b`` masked points
    (0 for padding channels).

    Notes
    -----
    The band is the block of ranks ``[start, start + n)`` with ``start = round(xi*T - n/2)``
    clamped to ``[0, T - n]``: a centre near either end of the distribution slides the block
    inward instead of truncating it, so the count stays exact. As a consequence the extreme
    values are masked somewhat more often than mid-range ones. Equal values are ranked by
    time, so when the band edge falls inside a run of ties the earlier ties sit lower: at the
    lower edge the earliest tied points stay visible, at the upper edge the latest do.
    """
    if x.ndim != 3:
        raise ValueError(f"x must be [B, C, T], got shape {tuple(x.shape)}")
    batch, channels, length = x.shape
    n = mask_counts(ratio, length, batch, device=x.device).view(batch, 1, 1)

    ranks = _ranks_along_time(x.detach())
    xi = torch.rand((batch, channels, 1), generator=generator, device=x.device, dtype=torch.float64)
    start = torch.round(xi * length - n / 2).long()
    start = torch.minimum(start.clamp(min=0), length - n)
    mask = (ranks >= start) & (ranks < start + n)
    return _apply_valid(mask, valid)


def random_mask(
    shape: Sequence[int],
    ratio: float | Tensor,
    generator: torch.Generator | None = None,
    valid: Tensor | None = None,
    device=None,
) -> Tensor:
    """Uniform random masking over time (the paper's BERT-style ablation baseline).

    ``shape`` is ``(B, C, T)``; ``ratio`` a scalar or ``[B]``. Each (b, c) row gets exactly
    ``round(ratio * T)`` masked points at uniformly random times, the same count AAMP uses,
    so the two strategies differ only in *which* points are hidden. ``valid`` ``[B, C]`` as in
    :func:`amplitude_aware_mask`. Returns bool ``[B, C, T]``.
    """
    batch, channels, length = (int(s) for s in shape)
    if device is None and generator is not None:
        device = generator.device
    n = mask_counts(ratio, length, batch, device=device).view(batch, 1, 1)
    noise = torch.rand((batch, channels, length), generator=generator, device=device)
    mask = _ranks_along_time(noise) < n
    return _apply_valid(mask, valid)


def bert_corruption(
    mask: Tensor,
    p_mask_token: float = 0.8,
    p_random: float = 0.1,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Split a mask BERT-style into mask-token, random and unchanged points.

    Each masked point independently goes to the mask token with probability ``p_mask_token``,
    to a random replacement with probability ``p_random``, and stays unchanged otherwise
    (App. C.2: 80 / 10 / 10). The unchanged share keeps the encoder from learning that every
    corrupted-looking input is a target.

    Returns ``(use_mask_token, use_random)``: disjoint bool tensors of ``mask``'s shape, both
    subsets of ``mask``; the unchanged points are ``mask & ~use_mask_token & ~use_random``.
    """
    if p_mask_token < 0 or p_random < 0 or p_mask_token + p_random > 1:
        raise ValueError("need p_mask_token >= 0, p_random >= 0 and p_mask_token + p_random <= 1")
    mask = mask.bool()
    u = torch.rand(mask.shape, generator=generator, device=mask.device)
    use_mask_token = mask & (u < p_mask_token)
    use_random = mask & (u >= p_mask_token) & (u < p_mask_token + p_random)
    return use_mask_token, use_random


def pool_mask(mask: Tensor, factor: int) -> Tensor:
    """Carry a mask to the coarser time scale produced by merging ``factor`` adjacent tokens.

    ``mask`` ``[B, C, T]`` -> ``[B, C, ceil(T / factor)]``. Like the encoder's segment merging,
    a length that ``factor`` does not divide is padded by repeating the last token.

    Rule: a merged token is masked only when **all** the tokens it merges are masked; one
    visible sample makes it visible.

    Why this rule: AAMP masks are scattered in time, so an "any masked" rule would hide almost
    every coarse token (at ratio 0.5 a window of 16 samples is fully visible with probability
    about 0.5**16) and leave the coarse-scale attention with nothing but the diagonal. With the
    "all masked" rule a merged token is hidden exactly when it holds no visible sample, i.e.
    when it carries no information the model is allowed to see, and the coarse scales keep
    attending to everything built from visible data. The merged token's embedding does mix in
    the encoder states of the masked positions it covers; those states come from mask tokens
    or random values (90 %) or, for BERT's 10 % unchanged points, from values the model is
    meant to see anyway. The official code for this step is not public, so this is a reasoned
    choice, not a reproduction; for lengths divisible by the factors, pooling by 4 then 2
    equals pooling by 8 once, so per-scale masks stay consistent.
    """
    if int(factor) != factor or factor < 1:
        raise ValueError(f"factor must be a positive integer, got {factor}")
    factor = int(factor)
    if mask.ndim != 3:
        raise ValueError(f"mask must be [B, C, T], got shape {tuple(mask.shape)}")
    mask = mask.bool()
    if factor == 1:
        return mask.clone()
    batch, channels, length = mask.shape
    if length == 0:
        return mask.clone()
    pad = math.ceil(length / factor) * factor - length
    if pad:
        mask = torch.cat([mask, mask[..., -1:].expand(batch, channels, pad)], dim=-1)
    return mask.view(batch, channels, -1, factor).all(dim=-1)
