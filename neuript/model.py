"""NeurIPT: point tokens, 3D electrode encoding, two-stage attention with Progressive MoE,
AAMP pretraining with a summed multi-level decoder, and Intra-Inter Lobe Pooling.

Inputs everywhere are the loader's batch fields: ``x [B, C, T]`` (A-law companded microvolts),
``pos [B, C, 3]`` (metres), ``lobe [B, C]`` (codes, -1 none), ``ch_mask [B, C]`` (bool).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuript.attention import TokenMerge, TwoStageBlock
from neuript.config import NeurIPTConfig, get_config
from neuript.decoder import Decoder
from neuript.embedding import ElectrodeEncoding, PointTokens, TemporalEncoding
from neuript.heads import IILPHead
from neuript.masking import amplitude_aware_mask, bert_corruption, pool_mask, sample_ratios


@dataclass
class EncoderOutput:
    levels: list[Tensor]  # [B, C, T_l, d]: the embedding, then every block's output
    masked: list[Tensor | None]  # [B, C, T_l] bool per level (None without masking)
    aux_loss: Tensor  # sum of the MoE auxiliary losses
    loads: list[Tensor]  # per MoE layer (two per block), expert load fractions


@dataclass
class PretrainOutput:
    loss: Tensor
    recon_loss: Tensor
    aux_loss: Tensor
    prediction: Tensor  # [B, C, T]
    masked: Tensor  # [B, C, T] bool
    loads: list[Tensor]


class NeurIPT(nn.Module):
    """The NeurIPT encoder, with the pretraining decoder and an optional IILP classification head.

    Parameters
    ----------
    config : NeurIPTConfig | str
        ``"slim"``, ``"base"`` or a config object.
    n_classes : int | None
        Adds an IILP head with this many classes (2 -> one logit).
    pretraining : bool
        Builds the decoder and the mask tokens (not needed to fine-tune or evaluate).
    """

    def __init__(self, config: NeurIPTConfig | str = "slim", n_classes: int | None = None, pretraining: bool = True):
        super().__init__()
        self.config = cfg = get_config(config)
        d = cfg.d_model
        self.tokens = PointTokens(d)
        self.temporal = TemporalEncoding(d, cfg.max_len)
        self.electrodes = ElectrodeEncoding(d, cfg.position_bins)
        moe = {"noise_std": cfg.router_noise_std, "w_importance": cfg.w_importance, "capacity_factor": cfg.capacity_factor}
        self.merges = nn.ModuleList(TokenMerge(d, f) if f > 1 else nn.Identity() for f in cfg.merge_factors)
        self.blocks = nn.ModuleList(
            TwoStageBlock(d, cfg.n_heads, cfg.d_ff, e, cfg.expert_hidden, cfg.dropout, cfg.attention_dropout, **moe) for e in cfg.experts_per_layer
        )
        self.pretraining = pretraining
        if pretraining:
            self.input_mask_token = nn.Parameter(torch.zeros(d))  # replaces masked point tokens
            self.memory_mask_token = nn.Parameter(torch.zeros(d))  # replaces masked encoder outputs
            self.decoder = Decoder(d, cfg.n_heads, cfg.d_ff, cfg.decoder_layers, cfg.dropout, cfg.attention_dropout)
        self.head = IILPHead(d, cfg.n_blocks + 1, cfg.n_lobes, n_classes, cfg.dropout, cfg.head_standardise) if n_classes else None
        self.apply(_init_weights)
        if pretraining:
            # The decoder sums seven layers' predictions: starting each at zero makes the first
            # prediction 0 instead of a sum of random projections (the loss began near 60).
            for layer in self.decoder.layers:
                nn.init.zeros_(layer.predict.weight)
                nn.init.zeros_(layer.predict.bias)

    # ----------------------------------------------------------------------------- encoder
    def encode(
        self, x: Tensor, pos: Tensor, ch_mask: Tensor, masked: Tensor | None = None, use_mask_token: Tensor | None = None, use_random: Tensor | None = None
    ) -> EncoderOutput:
        """Run the encoder; with ``masked`` [B, C, T] those tokens are hidden from attention."""
        b, c, t = x.shape
        ch_mask = ch_mask.bool()
        h = self.tokens(x)
        if use_random is not None and bool(use_random.any()):
            # BERT's 10 %: a masked token shows another token's embedding, drawn from the batch.
            flat = h.reshape(-1, h.shape[-1])
            donors = torch.randint(0, flat.shape[0], (int(use_random.sum()),), device=x.device)
            h = h.masked_scatter(use_random.unsqueeze(-1), flat[donors])
        if use_mask_token is not None:
            h = torch.where(use_mask_token.unsqueeze(-1), self.input_mask_token.to(h.dtype), h)
        levels = [h]
        masked_levels = [masked]
        h = h + self.temporal(t).to(h.dtype)
        spatial = self.electrodes(pos, ch_mask).to(h.dtype)
        real = ch_mask.unsqueeze(-1).expand(b, c, t)
        aux = x.new_zeros(())
        loads: list[Tensor] = []
        for i, (merge, block) in enumerate(zip(self.merges, self.blocks)):
            factor = self.config.merge_factors[i]
            if factor > 1:
                h = merge(h)
                masked = pool_mask(masked, factor) if masked is not None else None
                real = ch_mask.unsqueeze(-1).expand(b, c, h.shape[2])
            visible = real & ~masked if masked is not None else real
            h, block_aux, block_loads = block(h, visible, real, spatial_pe=spatial if i == 0 else None)
            aux = aux + block_aux
            loads += block_loads
            levels.append(h)
            masked_levels.append(masked)
        return EncoderOutput(levels, masked_levels, aux, loads)

    # ----------------------------------------------------------------------------- pretraining
    def pretrain_step(
        self, x: Tensor, pos: Tensor, ch_mask: Tensor, ratio: float | Tensor | None = None, generator: torch.Generator | None = None
    ) -> PretrainOutput:
        """Amplitude-Aware Masked Pretraining on one batch.

        ``ratio``: the masking ratio (scalar or per sample); None draws one per sample from the
        config's dynamic ratios. Loss = mean squared error on the masked points of real channels
        + ``aux_weight`` x the MoE auxiliary loss.
        """
        if not self.pretraining:
            raise RuntimeError("This model was built with pretraining=False (no decoder).")
        ch_mask = ch_mask.bool()
        if ratio is None:
            ratio = sample_ratios(x.shape[0], self.config.mask_ratios, generator).to(x.device)
        masked = amplitude_aware_mask(x, ratio, generator, valid=ch_mask)
        use_mask_token, use_random = bert_corruption(masked, generator=generator)
        enc = self.encode(x, pos, ch_mask, masked, use_mask_token, use_random)
        memory = [torch.where(m.unsqueeze(-1), self.memory_mask_token.to(h.dtype), h) if m is not None else h for h, m in zip(enc.levels, enc.masked)]
        b, c, t = x.shape
        queries = (self.temporal(t)[None, None] + self.electrodes(pos, ch_mask)[:, :, None]).to(memory[0].dtype)
        queries = queries.expand(b, c, t, -1)
        prediction = self.decoder(queries, memory, ch_mask.unsqueeze(-1).expand(b, c, t))
        target = masked & ch_mask.unsqueeze(-1)
        recon = F.mse_loss(prediction.float()[target], x.float()[target]) if bool(target.any()) else prediction.sum() * 0
        loss = recon + self.config.aux_weight * enc.aux_loss.float()
        return PretrainOutput(loss, recon.detach(), enc.aux_loss.detach(), prediction.detach(), masked, enc.loads)

    # ----------------------------------------------------------------------------- downstream
    def forward(self, x: Tensor, pos: Tensor, lobe: Tensor, ch_mask: Tensor) -> Tensor:
        """Class logits through the IILP head (``n_classes`` must have been given)."""
        return self.classify(x, pos, lobe, ch_mask)[0]

    def classify(self, x: Tensor, pos: Tensor, lobe: Tensor, ch_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Class logits and the MoE auxiliary loss (fine-tuning keeps balancing the experts)."""
        if self.head is None:
            raise RuntimeError("This model has no classification head; pass n_classes.")
        enc = self.encode(x, pos, ch_mask)
        return self.head(enc.levels, lobe, ch_mask.bool()), enc.aux_loss

    # ----------------------------------------------------------------------------- sizes
    def parameter_counts(self) -> dict:
        """Total parameters of the encoder (+ head) and the parameters one token activates.

        Activated: everything but the routed experts a token does not use (k of E per MoE layer);
        the pretraining decoder and mask tokens are not part of the deployed encoder and are
        counted separately.
        """
        from neuript.moe import ProgressiveMoE

        decoder = sum(p.numel() for n, p in self.named_parameters() if n.startswith("decoder.") or "mask_token" in n)
        total = sum(p.numel() for p in self.parameters()) - decoder
        inactive = sum(m.total_parameters() - m.activated_parameters() for m in self.modules() if isinstance(m, ProgressiveMoE))
        return {"params_total": total, "params_activated": total - inactive, "params_decoder": decoder}


def _init_weights(module: nn.Module) -> None:
    # Kaiming-uniform as in the paper (PyTorch's Linear default), zero biases, unit LayerNorms.
    if isinstance(module, nn.Linear):
        nn.init.kaiming_uniform_(module.weight, a=5**0.5)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
