"""Feed-forward blocks of the NeurIPT backbone: SwiGLU FFN and the Progressive Mixture-of-Experts.

A TSA layer with ``n_experts == 0`` uses a plain SwiGLU FFN (:class:`DenseFFN`); a layer with
``n_experts > 0`` uses :class:`ProgressiveMoE`: an always-on shared SwiGLU expert plus ``E`` routed
SwiGLU experts, ``y = shared(x) + sum_{e in topk(x)} g_e(x) * expert_e(x)``. "Progressive" refers to
the expert count growing with depth ([0, 0, 2, 4, 4, 6] in the encoder); that schedule lives in the
config, this module only builds one layer's FFN (:func:`make_ffn`).

Where the NeurIPT paper and its released code disagree, this module decides as follows.

Gates: softmax over all ``E`` router logits, keep the top-k probabilities *without* renormalising
(the code), not the paper's TopKSoftmax (softmax over the k chosen logits). With ``E = 2`` the
schedule uses ``k = 1``, and a softmax over a single logit is the constant 1: the router would then
get no gradient from the task loss at all, only from the auxiliary loss. The un-renormalised gate
``p_max in [1/E, 1]`` keeps the task gradient flowing into the router for every ``k``.

Capacity: each expert takes at most ``floor(capacity_factor * k * N_valid / E)`` (token, choice)
assignments, where ``N_valid`` counts the real tokens of the call (padding excluded). The code uses
``N // E`` over all tokens, which for ``k > 1`` caps the kept assignments at ``N`` out of ``k * N``
and so drops half (k=2) or two thirds (k=3) of them even under perfectly balanced routing. With the
rule here a balanced router drops nothing at ``capacity_factor = 1``, and ``capacity_factor = 1/k``
reproduces the code's ``N // E`` (identical for ``E = 2, k = 1``). ``capacity_factor=None``
disables dropping. As in the code, overflow is resolved in token index order (a token's first and
second choices have the same priority; the earlier token wins), and a dropped assignment simply
contributes nothing: the token still gets the shared expert. Unlike the code, capacity applies in
training only: capacity is shared by the tokens of a call, so dropping at evaluation would make a
window's score depend on the windows batched with it. In evaluation every assignment is kept.

Auxiliary loss: ``aux = L_importance + L_balance``, both over valid tokens only.
``L_importance = w_importance * CV^2(importance)`` with ``importance_e = sum_tokens p_e`` and the
unbiased variance, exactly as in the code (Shazeer et al. 2017). The code's balance term,
``E * sum_e mean(p_e * chosen) * sum(p_e * chosen) / N^2``, carries a stray ``1/N`` (it is
``E * sum_e mean_e^2 / N``) and is ~1e-6 at pretraining batch sizes, so in effect the code trains
with the importance term alone. Importance alone can be perfectly balanced while the top-k choices
are not, so ``L_balance`` here is the Switch Transformer term (Fedus et al. 2021) extended to top-k:
``w_balance * E * sum_e f_e * P_e`` with ``f_e`` the fraction of the router's (token, choice)
assignments sent to expert e (before capacity) and ``P_e`` the mean router probability. It is
``w_balance`` under uniform routing and grows as routing concentrates; ``w_balance = 0.01`` is
Switch's coefficient, and ``w_balance = 0`` recovers the code's effective objective. Both terms are
non-negative. Unlike the code (which returns 0 in eval), the loss is also computed in eval so that
validation can log it; it only matters where the caller backpropagates it.

Numerics: the router runs in float32 even under autocast (Switch's "selective precision"), so that
top-k choices and the auxiliary loss do not suffer from bf16 rounding of near-tied logits.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class SwiGLU(nn.Module):
    """``Linear(d, 2h) -> SiLU(a) * b -> dropout -> Linear(h, d)``; ``[..., d] -> [..., d]``."""

    def __init__(self, d_model: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.w_in = nn.Linear(d_model, 2 * hidden)
        self.w_out = nn.Linear(hidden, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        a, b = self.w_in(x).chunk(2, dim=-1)
        return self.w_out(self.dropout(F.silu(a) * b))


class MoEOutput(NamedTuple):
    y: Tensor  # same shape as the input
    aux_loss: Tensor  # scalar, float32 (0 for a dense FFN)
    load: Tensor  # [E] fraction of valid (token, choice) assignments the router sent to each expert
    dropped: Tensor  # scalar: fraction of valid (token, choice) assignments dropped for capacity


class Routing(NamedTuple):
    """Router decisions for ``N`` flattened tokens (see :meth:`ProgressiveMoE.route`)."""

    probs: Tensor  # [N, E] float32 softmax over all experts
    experts: Tensor  # [N, k] chosen experts, by decreasing probability
    gates: Tensor  # [N, k] float32 gate of each choice (its un-renormalised probability)
    kept: Tensor  # [N, k] bool: the choice is valid and within its expert's capacity
    valid: Tensor  # [N] bool: the token takes part in routing


class _Permute(torch.autograd.Function):
    """Rows of ``x`` in the order ``order`` (a permutation); the gradient goes back through the
    inverse permutation, a gather too (autograd would otherwise use index_add_)."""

    @staticmethod
    def forward(ctx, x: Tensor, order: Tensor, inverse: Tensor) -> Tensor:
        ctx.save_for_backward(inverse)
        return x.index_select(0, order)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (inverse,) = ctx.saved_tensors
        return grad.index_select(0, inverse), None, None


def _num_params(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


class DenseFFN(nn.Module):
    """A plain SwiGLU FFN with the MoE calling convention: zero aux loss, empty load."""

    def __init__(self, d_model: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.ffn = SwiGLU(d_model, hidden, dropout)

    def forward(self, x: Tensor, token_mask: Tensor | None = None) -> MoEOutput:
        """``x [..., d] -> MoEOutput``; ``token_mask`` is accepted for symmetry and ignored."""
        zero = x.new_zeros((), dtype=torch.float32)
        return MoEOutput(self.ffn(x), zero, x.new_zeros(0, dtype=torch.float32), zero)

    def activated_parameters(self) -> int:
        """Parameters used per token (all of them)."""
        return _num_params(self)


class ProgressiveMoE(nn.Module):
    """Shared SwiGLU expert + ``n_experts`` routed SwiGLU experts with noisy top-k token routing.

    Args:
        d_model: token width ``d``.
        n_experts: number of routed experts ``E`` (> 0).
        expert_hidden: hidden width of each routed expert (512 in NeurIPT).
        shared_hidden: hidden width of the always-on shared expert (``d_ff`` = 768 in NeurIPT).
        top_k: experts per token; default ``ceil(E / 2)``.
        noise_std: std of the Gaussian noise added to router logits in training.
        capacity_factor: capacity multiplier (see the module docstring); ``None`` = no dropping.
        w_importance: weight of the importance CV^2 loss.
        w_balance: weight of the Switch-style load-balancing loss.
        dropout: dropout inside every expert's SwiGLU.
    """

    def __init__(
        self,
        d_model: int,
        n_experts: int,
        expert_hidden: int,
        shared_hidden: int,
        top_k: int | None = None,
        noise_std: float = 0.001,
        capacity_factor: float | None = 1.0,
        w_importance: float = 0.008,
        w_balance: float = 0.01,
        dropout: float = 0.0,
    ):
        super().__init__()
        if n_experts < 1:
            raise ValueError(f"ProgressiveMoE needs n_experts >= 1, got {n_experts}")
        top_k = math.ceil(n_experts / 2) if top_k is None else top_k
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"top_k must be in [1, {n_experts}], got {top_k}")
        self.n_experts = n_experts
        self.top_k = top_k
        self.noise_std = noise_std
        self.capacity_factor = capacity_factor
        self.w_importance = w_importance
        self.w_balance = w_balance
        self.shared = SwiGLU(d_model, shared_hidden, dropout)
        self.experts = nn.ModuleList(SwiGLU(d_model, expert_hidden, dropout) for _ in range(n_experts))
        self.router = nn.Linear(d_model, n_experts)

    def capacity(self, n_valid: Tensor) -> Tensor | None:
        """Max assignments per expert for ``n_valid`` real tokens (a tensor: no host sync)."""
        if self.capacity_factor is None:
            return None
        # (cf * k) first so that cf = 1/k gives exactly N // E
        return torch.floor(self.capacity_factor * self.top_k * n_valid / self.n_experts)

    def route(self, x: Tensor, token_mask: Tensor | None = None) -> Routing:
        """Route ``x [..., d]`` (``token_mask [...]``, True = real token); see :class:`Routing`."""
        x = x.reshape(-1, x.shape[-1])
        n = x.shape[0]
        valid = torch.ones(n, dtype=torch.bool, device=x.device) if token_mask is None else token_mask.reshape(-1).to(device=x.device, dtype=torch.bool)
        with torch.autocast(device_type=x.device.type, enabled=False):
            logits = F.linear(x.float(), self.router.weight.float(), self.router.bias.float())
        if self.training and self.noise_std > 0:
            logits = logits + torch.randn_like(logits) * self.noise_std
        probs = logits.softmax(dim=-1)
        gates, experts = probs.topk(self.top_k, dim=-1)

        # Position of every (token, choice) assignment in its expert's queue, in token order;
        # invalid tokens are not queued, so they take no capacity.
        valid_k = valid[:, None].expand(-1, self.top_k)  # [N, k]
        flat = experts.reshape(-1, 1)  # [N*k, 1], token-major
        queued = F.one_hot(flat[:, 0], self.n_experts) * valid_k.reshape(-1, 1)  # [N*k, E]
        position = queued.cumsum(0, dtype=torch.int32).gather(1, flat).view(n, self.top_k) - 1
        capacity = self.capacity(valid.sum()) if self.training else None
        kept = valid_k if capacity is None else valid_k & (position < capacity)
        return Routing(probs, experts, gates, kept, valid)

    def aux_loss(self, routing: Routing) -> tuple[Tensor, Tensor]:
        """Auxiliary loss (scalar) and load ``[E]`` over the valid tokens of ``routing``."""
        valid = routing.valid.float()
        n_valid = valid.sum().clamp_min(1.0)
        importance = (routing.probs * valid[:, None]).sum(0)  # [E]
        # unbiased variance as in the code; a single expert has none
        var = importance.var() if self.n_experts > 1 else importance.new_zeros(())
        l_importance = var / (importance.mean() ** 2 + 1e-8)
        counts = torch.zeros(self.n_experts, device=valid.device).index_add_(0, routing.experts.reshape(-1), valid[:, None].expand(-1, self.top_k).reshape(-1))
        load = counts / (n_valid * self.top_k)  # f_e: sums to 1 when any token is valid
        l_balance = self.n_experts * (load * importance / n_valid).sum()
        return self.w_importance * l_importance + self.w_balance * l_balance, load

    def forward(self, x: Tensor, token_mask: Tensor | None = None) -> MoEOutput:
        """``x [..., d]``, ``token_mask [...]`` bool (True = real token) -> :class:`MoEOutput`.

        Masked-out tokens skip routing, capacity and the auxiliary loss: they get the shared
        expert only.
        """
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        routing = self.route(x, token_mask)
        aux, load = self.aux_loss(routing)

        # Dispatch: stable-sort the (token, choice) assignments by expert (token order within an
        # expert); dropped and invalid ones go to a sentinel bucket E at the end that is never run.
        # Every move is a permutation with a gather in both directions (_Permute): index_add_ /
        # scatter on CPU run one tiny parallel region per row and were 100-600x slower on a busy
        # machine.
        k, n_exp, n = self.top_k, self.n_experts, x.shape[0]
        bucket = torch.where(routing.kept, routing.experts, n_exp).reshape(-1)
        order = torch.argsort(bucket, stable=True)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        sizes = torch.bincount(bucket, minlength=n_exp + 1).tolist()  # the only host sync

        shared = self.shared(x)
        # accumulate in (at least) float32: bf16 sums over several experts lose precision
        acc = torch.promote_types(shared.dtype, torch.float32)
        per_choice = x.unsqueeze(1).expand(n, k, x.shape[-1]).reshape(n * k, x.shape[-1])
        x_sorted = _Permute.apply(per_choice, order, inverse)
        outputs, start = [], 0
        for e, expert in enumerate(self.experts):
            if sizes[e] > 0:  # an unused expert stays out of the graph: its grad stays None
                outputs.append(expert(x_sorted[start : start + sizes[e]]).to(acc))
            start += sizes[e]
        outputs.append(x_sorted.new_zeros(sizes[n_exp], shape[-1], dtype=acc))  # dropped: nothing
        y_choices = _Permute.apply(torch.cat(outputs), inverse, order).view(n, k, shape[-1])
        routed = (y_choices * routing.gates.to(acc).unsqueeze(-1)).sum(1)

        y = (shared.to(acc) + routed).to(shared.dtype).reshape(*shape[:-1], -1)
        n_assign = (routing.valid.sum() * k).clamp_min(1)
        dropped = (routing.valid[:, None] & ~routing.kept).sum() / n_assign
        return MoEOutput(y, aux, load, dropped.float())

    def activated_parameters(self) -> int:
        """Parameters used per token: shared expert + ``top_k`` routed experts + router."""
        return _num_params(self.shared, self.router) + self.top_k * _num_params(self.experts[0])

    def total_parameters(self) -> int:
        return _num_params(self)


def make_ffn(d_model: int, n_experts: int, d_ff: int, expert_hidden: int, **moe_kwargs) -> nn.Module:
    """One TSA FFN: ``DenseFFN(d_model, d_ff)`` for ``n_experts == 0``, else a
    :class:`ProgressiveMoE` with a shared expert of hidden ``d_ff`` and routed experts of hidden
    ``expert_hidden``. ``dropout`` also reaches the dense FFN; other kwargs only apply to the MoE.
    """
    if n_experts == 0:
        return DenseFFN(d_model, d_ff, dropout=moe_kwargs.get("dropout", 0.0))
    return ProgressiveMoE(d_model, n_experts, expert_hidden, shared_hidden=d_ff, **moe_kwargs)
