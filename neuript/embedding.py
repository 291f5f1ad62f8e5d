"""Tokens and position encodings: point tokens, temporal sinusoid, 3D electrode encoding."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoid_table(n_positions: int, dim: int) -> Tensor:
    """The Transformer sinusoid table ``[n_positions, dim]`` (dim even)."""
    position = torch.arange(n_positions, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(n_positions, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


class PointTokens(nn.Module):
    """Every sample becomes a token: ``Linear(1, d_model)`` (NeurIPT's point-level tokens).

    ``x [B, C, T] -> [B, C, T, d]``.
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.proj = nn.Linear(1, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x.unsqueeze(-1))


class TemporalEncoding(nn.Module):
    """Fixed sinusoid over the sample index: ``forward(T) -> [T, d]``."""

    def __init__(self, d_model: int, max_len: int):
        super().__init__()
        self.register_buffer("table", sinusoid_table(max_len, d_model), persistent=False)

    def forward(self, length: int) -> Tensor:
        if length > self.table.shape[0]:
            raise ValueError(f"Sequence of {length} samples is longer than the temporal encoding ({self.table.shape[0]}); raise max_len.")
        return self.table[:length]


def axis_dims(d_model: int) -> tuple[int, int, int]:
    """Sinusoid widths for x, y, z: ``d_model // 3`` rounded down to even for x and y, z the rest."""
    xy = (d_model // 3) - (d_model // 3) % 2
    return xy, xy, d_model - 2 * xy


def quantise_positions(pos: Tensor, ch_mask: Tensor, bins: int) -> Tensor:
    """Electrode coordinates to integer bins, per montage (per sample).

    Per axis, subtract the minimum over the sample's valid channels; then scale all three axes by
    one factor so the largest coordinate becomes ``bins - 1``; round. One global factor (not one
    per axis) keeps the head's proportions. ``pos [B, C, 3]`` metres, ``ch_mask [B, C]`` ->
    ``[B, C, 3]`` long in ``[0, bins)``; invalid channels get bin 0.
    """
    mask = ch_mask.unsqueeze(-1)
    big = torch.finfo(pos.dtype).max
    low = torch.where(mask, pos, torch.full_like(pos, big)).amin(dim=1, keepdim=True)
    shifted = torch.where(mask, pos - low, torch.zeros_like(pos))
    top = shifted.amax(dim=(1, 2), keepdim=True).clamp_min(1e-9)
    bins_ = torch.round(shifted * ((bins - 1) / top)).long().clamp_(0, bins - 1)
    return torch.where(mask, bins_, torch.zeros_like(bins_))


class ElectrodeEncoding(nn.Module):
    """NeurIPT's 3D electrode encoding: per-axis sinusoids of quantised, montage-normalised
    coordinates, concatenated. Positions come from the data (the store's x, y, z), never from a
    channel list, so any montage works. ``forward(pos [B, C, 3], ch_mask [B, C]) -> [B, C, d]``.
    """

    def __init__(self, d_model: int, bins: int):
        super().__init__()
        self.bins = bins
        dx, dy, dz = axis_dims(d_model)
        self.register_buffer("table_x", sinusoid_table(bins, dx), persistent=False)
        self.register_buffer("table_y", sinusoid_table(bins, dy), persistent=False)
        self.register_buffer("table_z", sinusoid_table(bins, dz), persistent=False)

    def forward(self, pos: Tensor, ch_mask: Tensor) -> Tensor:
        q = quantise_positions(pos.float(), ch_mask, self.bins)
        encoding = torch.cat([self.table_x[q[..., 0]], self.table_y[q[..., 1]], self.table_z[q[..., 2]]], dim=-1)
        return encoding * ch_mask.unsqueeze(-1)
