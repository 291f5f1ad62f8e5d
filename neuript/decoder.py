"""The pretraining decoder: position queries that read every encoder level and predict samples.

Queries are the temporal plus electrode encodings of every (channel, sample) at full length.
Decoder layer ``l`` (one per encoder level: the embedding, then every block) runs a two-stage
self-attention block, cross-attends per channel over time to encoder level ``l`` (whose masked
positions the model has replaced with a learned mask token), applies a SwiGLU MLP, and predicts
one value per token; the predictions of all layers are summed (NeurIPT's code).

Decision (docs/model.md): the queries carry positions only, as in the paper's code; the paper's
Eq. 6 also feeds the unmasked values, which the encoder levels already carry.
"""

from __future__ import annotations

from torch import Tensor, nn

from neuript.attention import MultiHeadAttention, TwoStageBlock
from neuript.moe import SwiGLU


class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, attention_dropout: float | None = None):
        super().__init__()
        attention_dropout = dropout if attention_dropout is None else attention_dropout
        self.block = TwoStageBlock(d_model, n_heads, d_ff, n_experts=0, expert_hidden=0, dropout=dropout, attention_dropout=attention_dropout)
        self.norm_q, self.norm_m, self.norm_f = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.cross = MultiHeadAttention(d_model, n_heads, attention_dropout)
        self.mlp = SwiGLU(d_model, d_ff, dropout)
        self.predict = nn.Linear(d_model, 1)

    def forward(self, q: Tensor, memory: Tensor, token_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """``q [B, C, T, d]``, ``memory [B, C, T_l, d]`` -> (q, prediction ``[B, C, T]``)."""
        q, _, _ = self.block(q, None, token_mask)
        b, c, t, d = q.shape
        seq = q.reshape(b * c, t, d)
        seq = seq + self.cross(self.norm_q(seq), memory=self.norm_m(memory.reshape(b * c, memory.shape[2], d)))
        q = seq.view(b, c, t, d)
        q = q + self.mlp(self.norm_f(q))
        return q, self.predict(q).squeeze(-1)


class Decoder(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, n_layers: int, dropout: float, attention_dropout: float | None = None):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(d_model, n_heads, d_ff, dropout, attention_dropout) for _ in range(n_layers))

    def forward(self, queries: Tensor, levels: list[Tensor], token_mask: Tensor | None) -> Tensor:
        """Sum of every layer's prediction ``[B, C, T]``; layer ``l`` reads ``levels[l]``
        (levels beyond the last are read again from the deepest)."""
        q, total = queries, None
        for i, layer in enumerate(self.layers):
            q, pred = layer(q, levels[min(i, len(levels) - 1)], token_mask)
            total = pred if total is None else total + pred
        return total
