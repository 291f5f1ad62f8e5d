"""Intra-Inter Lobe Pooling (IILP): the classification head.

For every encoder level (the embedding and each block's output): average over time, then over
the channels of each lobe (intra-lobe), giving one vector per lobe; concatenate the lobes
(inter-lobe) and the levels; one linear layer maps the result to the classes. Lobes come from
the channels' lobe codes (the store's ``lobe`` coordinate, through the loader), so any montage
works; a lobe with no channel in a window contributes zeros.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def lobe_pool(levels: list[Tensor], lobe: Tensor, ch_mask: Tensor, n_lobes: int) -> Tensor:
    """IILP features ``[B, n_levels * n_lobes * d]`` from levels ``[B, C, T_l, d]``.

    ``lobe [B, C]`` long in ``[0, n_lobes)`` or -1 (no lobe); ``ch_mask [B, C]`` bool.
    """
    member = (lobe.unsqueeze(-1) == torch.arange(n_lobes, device=lobe.device)) & ch_mask.unsqueeze(-1)  # [B, C, L]
    weights = member.float()
    weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1.0)  # mean over a lobe's channels
    features = []
    for h in levels:
        per_channel = h.mean(dim=2)  # [B, C, d]: mean over time
        features.append(torch.einsum("bcl,bcd->bld", weights.to(per_channel.dtype), per_channel).flatten(1))
    return torch.cat(features, dim=1)


class IILPHead(nn.Module):
    """Lobe pooling, feature standardisation, dropout and one linear layer (one logit for binary
    tasks, else one per class).

    Standardisation (``standardise=True``) is a batch normalisation without affine parameters:
    every IILP feature is centred and scaled by its statistics over the windows (batch statistics
    in training; in evaluation the buffers' statistics, which fine-tuning sets to the training
    windows', :func:`neuript.finetune.set_head_statistics`). Without it the features are dominated by what
    every window shares (the position encodings and biases that survive the time mean, 10-30x the
    spread between windows), and an optimiser step moves every window's logit by the same large
    amount: the classifier ends wherever that shared offset lands and predicts one class.
    """

    def __init__(self, d_model: int, n_levels: int, n_lobes: int, n_classes: int, dropout: float = 0.0, standardise: bool = True):
        super().__init__()
        self.n_lobes = n_lobes
        n_features = n_levels * n_lobes * d_model
        self.norm = nn.BatchNorm1d(n_features, affine=False) if standardise else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.linear = nn.Linear(n_features, 1 if n_classes == 2 else n_classes)

    def classify(self, features: Tensor) -> Tensor:
        """Logits from IILP features ``[B, F]`` (the part after pooling)."""
        return self.linear(self.drop(self.norm(features)))

    def forward(self, levels: list[Tensor], lobe: Tensor, ch_mask: Tensor) -> Tensor:
        return self.classify(lobe_pool(levels, lobe, ch_mask, self.n_lobes))
