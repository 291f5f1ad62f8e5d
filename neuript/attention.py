"""Two-stage attention blocks: temporal attention per channel, then spatial attention per time step.

Shapes: ``h [B, C, T, d]`` (batch, channels, time tokens, model width). ``visible [B, C, T]``
marks tokens other tokens may attend to: masked tokens (pretraining) and padded channels are
excluded as keys, though every token still attends to itself, so no row of attention is empty.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuript.moe import make_ffn


def _key_mask(visible: Tensor | None, length: int) -> Tensor | None:
    """Boolean attention mask ``[N, 1, L, L]``: key j is allowed when visible or j == i."""
    if visible is None or bool(visible.all()):
        return None
    eye = torch.eye(length, dtype=torch.bool, device=visible.device)
    return (visible[:, None, None, :] | eye).contiguous()


class MultiHeadAttention(nn.Module):
    """Self-attention (``memory=None``) or cross-attention over sequences ``[N, L, d]``.

    ``torch.nn.functional.scaled_dot_product_attention`` does the work (flash / memory-efficient
    kernels on GPU; on CPU a flash kernel too, but only without dropout: with ``dropout > 0`` in
    training PyTorch falls back to the unfused math path, about 12x slower).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor, memory: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        n, length, d = x.shape
        source = x if memory is None else memory
        q = self.q(x).view(n, length, self.n_heads, d // self.n_heads).transpose(1, 2)
        k, v = self.kv(source).view(n, source.shape[1], 2, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(n, length, d))


class TokenMerge(nn.Module):
    """Merge ``factor`` adjacent time tokens: concatenate, LayerNorm, project back to ``d``.

    A length that is not a multiple of ``factor`` is padded by repeating the last token (as the
    paper's code does). ``[B, C, T, d] -> [B, C, ceil(T / factor), d]``.
    """

    def __init__(self, d_model: int, factor: int):
        super().__init__()
        self.factor = factor
        self.norm = nn.LayerNorm(factor * d_model)
        self.proj = nn.Linear(factor * d_model, d_model)

    def forward(self, h: Tensor) -> Tensor:
        b, c, t, d = h.shape
        pad = (-t) % self.factor
        if pad:
            h = torch.cat([h, h[:, :, -1:].expand(b, c, pad, d)], dim=2)
        return self.proj(self.norm(h.reshape(b, c, (t + pad) // self.factor, self.factor * d)))


class TwoStageBlock(nn.Module):
    """Pre-LN temporal attention -> FFN/PMoE -> pre-LN spatial attention -> FFN/PMoE, each residual.

    With ``n_experts > 0`` both feed-forward layers are Progressive MoE layers. The first block
    also receives the position encodings: temporal before its temporal attention (added by the
    encoder), electrode encoding after its temporal stage, before its spatial attention.
    """

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, n_experts: int, expert_hidden: int, dropout: float, attention_dropout: float | None = None, **moe_kwargs
    ):
        super().__init__()
        attention_dropout = dropout if attention_dropout is None else attention_dropout
        self.norm_t, self.norm_ft = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.norm_s, self.norm_fs = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn_t = MultiHeadAttention(d_model, n_heads, attention_dropout)
        self.attn_s = MultiHeadAttention(d_model, n_heads, attention_dropout)
        self.ffn_t = make_ffn(d_model, n_experts, d_ff, expert_hidden, dropout=dropout, **moe_kwargs)
        self.ffn_s = make_ffn(d_model, n_experts, d_ff, expert_hidden, dropout=dropout, **moe_kwargs)
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor, visible: Tensor | None, token_mask: Tensor | None, spatial_pe: Tensor | None = None):
        """``h [B, C, T, d]``; ``visible``/``token_mask`` ``[B, C, T]`` bool. Returns
        ``(h, aux_loss, [load of ffn_t, load of ffn_s])``."""
        b, c, t, d = h.shape
        # Temporal stage: each channel's sequence of T tokens.
        seq = h.reshape(b * c, t, d)
        vis = visible.reshape(b * c, t) if visible is not None else None
        seq = seq + self.drop(self.attn_t(self.norm_t(seq), mask=_key_mask(vis, t)))
        h = seq.view(b, c, t, d)
        out_t = self.ffn_t(self.norm_ft(h), token_mask=token_mask)
        h = h + self.drop(out_t.y)
        if spatial_pe is not None:
            h = h + spatial_pe[:, :, None, :]
        # Spatial stage: each time step's set of C channel tokens.
        seq = h.permute(0, 2, 1, 3).reshape(b * t, c, d)
        vis = visible.permute(0, 2, 1).reshape(b * t, c) if visible is not None else None
        seq = seq + self.drop(self.attn_s(self.norm_s(seq), mask=_key_mask(vis, c)))
        h = seq.view(b, t, c, d).permute(0, 2, 1, 3)
        out_s = self.ffn_s(self.norm_fs(h), token_mask=token_mask)
        h = h + self.drop(out_s.y)
        return h, out_t.aux_loss + out_s.aux_loss, [out_t.load, out_s.load]
