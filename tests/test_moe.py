"""SwiGLU FFN and Progressive MoE: routing, capacity, auxiliary loss, gradients, padding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from neuript.moe import DenseFFN, MoEOutput, ProgressiveMoE, SwiGLU, make_ffn

D = 8


def moe(n_experts: int = 4, bias: list[float] | None = None, **kwargs) -> ProgressiveMoE:
    """A small MoE; with ``bias`` the router ignores its input and always prefers the same experts."""
    torch.manual_seed(0)
    m = ProgressiveMoE(D, n_experts, expert_hidden=6, shared_hidden=10, **kwargs)
    if bias is not None:
        with torch.no_grad():
            m.router.weight.zero_()
            m.router.bias.copy_(torch.tensor(bias))
    return m.eval()


def balanced_router(m: ProgressiveMoE) -> torch.Tensor:
    """Make ``m`` route evenly: returns 40 tokens, each expert first choice of 10 of them and (for
    k > 1) second choice of another 10."""
    n_experts = m.n_experts
    with torch.no_grad():
        m.router.weight.copy_(50.0 * torch.eye(n_experts, D))
        m.router.bias.zero_()
    x = torch.randn(40, D)
    x[:, :n_experts] = 0.0
    i = torch.arange(40)
    x[i, i % n_experts] = 1.0
    x[i, (i + 1) % n_experts] = 0.5
    return x


def reference(m: ProgressiveMoE, x: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
    """Token-by-token ``shared(x) + sum over kept choices of gate * expert(x)``."""
    r = m.route(x)
    kept = r.kept if kept is None else kept
    out = []
    for i in range(x.shape[0]):
        y = m.shared(x[i])
        for j in range(m.top_k):
            if kept[i, j]:
                y = y + r.gates[i, j] * m.experts[int(r.experts[i, j])](x[i])
        out.append(y)
    return torch.stack(out)


@pytest.mark.parametrize("n_experts, k", [(2, 1), (3, 2), (4, 2), (6, 3)])
def test_route_picks_top_k_distinct_experts(n_experts, k):
    m = moe(n_experts, capacity_factor=None)
    assert m.top_k == k  # ceil(E / 2)
    x = torch.randn(2, 3, 5, D)
    r = m.route(x)
    assert r.experts.shape == r.gates.shape == (30, k)
    for row_experts, row_probs, row_gates in zip(r.experts, r.probs, r.gates):
        assert len(set(row_experts.tolist())) == k
        assert set(row_experts.tolist()) == set(row_probs.topk(k).indices.tolist())
        # gates are the un-renormalised softmax over all experts
        torch.testing.assert_close(row_gates, row_probs[row_experts])
    torch.testing.assert_close(r.probs.sum(-1), torch.ones(30))
    assert r.kept.all()


def test_output_is_shared_plus_gated_experts_for_any_leading_shape():
    m = moe(4, capacity_factor=None)
    x = torch.randn(2, 3, 5, D)
    out = m(x)
    assert isinstance(out, MoEOutput) and out.y.shape == x.shape
    torch.testing.assert_close(out.y.reshape(-1, D), reference(m, x.reshape(-1, D)))
    assert out.dropped == 0
    assert out.load.shape == (4,)
    torch.testing.assert_close(out.load.sum(), torch.tensor(1.0))


def test_noise_only_in_training():
    m = moe(4, noise_std=0.5)
    x = torch.randn(16, D)
    torch.testing.assert_close(m.route(x).probs, m.route(x).probs)
    m.train()
    assert not torch.allclose(m.route(x).probs, m.route(x).probs)


def test_overflow_assignments_are_dropped_in_token_order():
    m = moe(2, bias=[10.0, 0.0], noise_std=0.0).train()  # k = 1, every token wants expert 0
    x = torch.randn(10, D)
    out = m(x)
    # capacity = floor(1.0 * k * N / E) = 5: tokens 0-4 are served, 5-9 get the shared expert only
    assert out.dropped.item() == pytest.approx(0.5)
    torch.testing.assert_close(out.load, torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(out.y[5:], m.shared(x[5:]))
    assert not torch.allclose(out.y[:5], m.shared(x[:5]))
    torch.testing.assert_close(out.y, reference(m, x))


def test_evaluation_drops_nothing_so_a_token_does_not_depend_on_its_batch():
    m = moe(2, bias=[10.0, 0.0])  # in training, tokens 5-9 of these 10 would be dropped
    x = torch.randn(10, D)
    out = m(x)
    assert out.dropped == 0 and m.route(x).kept.all()
    torch.testing.assert_close(out.y, reference(m, x))
    for i in range(10):
        torch.testing.assert_close(m(x[i : i + 1]).y, out.y[i : i + 1])


def test_capacity_rule_with_two_choices():
    m = moe(4, bias=[10.0, 5.0, 0.0, 0.0], noise_std=0.0).train()  # k = 2, every token wants experts 0 and 1
    x = torch.randn(10, D)
    r = m.route(x)
    # capacity = floor(1.0 * 2 * 10 / 4) = 5 per expert: both choices of tokens 0-4 survive
    assert r.kept[:5].all() and not r.kept[5:].any()
    assert m(x).dropped.item() == pytest.approx(0.5)
    # capacity_factor = 1/k reproduces the code's N // E
    m.capacity_factor = 0.5
    assert m.capacity(torch.tensor(10)).item() == 10 // 4
    assert m.route(x).kept.sum().item() == 2 * (10 // 4)
    # no capacity, no drops
    m.capacity_factor = None
    assert m(x).dropped.item() == 0


def test_aux_loss_penalises_unbalanced_routing_and_is_never_negative():
    balanced = moe(4)
    x = balanced_router(balanced)
    unbalanced = moe(4, bias=[10.0, 5.0, 0.0, 0.0])
    aux_bal, aux_unbal = balanced(x).aux_loss, unbalanced(x).aux_loss
    assert aux_unbal > aux_bal >= 0
    out = balanced(x)
    torch.testing.assert_close(out.load, torch.full((4,), 0.25))
    assert out.dropped == 0
    # each term on its own tells the two apart
    for weights in ({"w_balance": 0.0}, {"w_importance": 0.0}):
        b, u = moe(4, **weights), moe(4, bias=[10.0, 5.0, 0.0, 0.0], **weights)
        balanced_router(b)
        assert u(x).aux_loss > b(x).aux_loss >= 0
    # perfectly balanced importance has zero CV^2
    b = moe(4, w_balance=0.0)
    balanced_router(b)
    assert b(x).aux_loss.item() == pytest.approx(0.0, abs=1e-6)
    for seed in range(20):
        torch.manual_seed(seed)
        m = ProgressiveMoE(D, 6, 6, 10).train()
        assert m(torch.randn(17, D) * 3).aux_loss >= 0


def test_gradients_reach_only_chosen_experts_and_the_router():
    m = moe(4, bias=[10.0, 5.0, -10.0, -10.0]).train()  # experts 2 and 3 are never chosen
    with torch.no_grad():
        m.router.weight.normal_(0, 0.01)  # keep the router input-dependent so its weight gets grad
    x = torch.randn(3, 4, D)
    m(x).y.square().sum().backward()  # task loss only: the router learns through the gates
    for e in (0, 1):
        assert m.experts[e].w_in.weight.grad.abs().sum() > 0
    for e in (2, 3):
        assert all(p.grad is None for p in m.experts[e].parameters())  # never run, not run on nothing
    assert m.shared.w_in.weight.grad.abs().sum() > 0
    assert m.router.weight.grad.abs().sum() > 0 and m.router.bias.grad.abs().sum() > 0


def test_aux_loss_trains_the_router():
    m = moe(4).train()
    m(torch.randn(20, D)).aux_loss.backward()
    assert m.router.weight.grad.abs().sum() > 0


def test_padding_is_not_routed_and_not_counted():
    m = moe(2, bias=[2.0, 0.0], noise_std=0.0).train()  # training: capacity applies
    with torch.no_grad():
        m.router.weight.normal_(0, 1.0)
    x = torch.randn(2, 9, D)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[0, :3] = False  # padding first (an odd count), so that counting it would steal capacity
    mask[1, 7:] = False
    full = m(x, mask)
    alone = m(x[mask])  # the real tokens on their own
    assert alone.dropped > 0  # capacity binds, so padding that took some would change the drops
    torch.testing.assert_close(full.y[mask], alone.y)
    torch.testing.assert_close(full.aux_loss, alone.aux_loss)
    torch.testing.assert_close(full.load, alone.load)
    torch.testing.assert_close(full.dropped, alone.dropped)
    torch.testing.assert_close(full.y[~mask], m.shared(x[~mask]))
    assert not m.route(x, mask).kept[~mask.reshape(-1)].any()


def test_all_padding_gives_shared_expert_and_zero_losses():
    m = moe(4)
    x = torch.randn(5, D)
    out = m(x, torch.zeros(5, dtype=torch.bool))
    torch.testing.assert_close(out.y, m.shared(x))
    assert out.aux_loss == 0 and out.dropped == 0 and not out.load.any()


def test_swiglu_and_dense_ffn():
    torch.manual_seed(0)
    ffn = SwiGLU(D, 12)
    x = torch.randn(3, 5, D)
    a, b = (x @ ffn.w_in.weight.T + ffn.w_in.bias).chunk(2, dim=-1)
    expected = (F.silu(a) * b) @ ffn.w_out.weight.T + ffn.w_out.bias
    torch.testing.assert_close(ffn(x), expected)

    dense = DenseFFN(D, 12)
    out = dense(x, torch.zeros(3, 5, dtype=torch.bool))
    torch.testing.assert_close(out.y, dense.ffn(x))
    assert out.aux_loss == 0 and out.dropped == 0 and out.load.numel() == 0


def test_make_ffn():
    dense = make_ffn(D, 0, d_ff=12, expert_hidden=6, noise_std=0.1)
    assert isinstance(dense, DenseFFN) and dense.ffn.w_out.in_features == 12
    m = make_ffn(D, 6, d_ff=12, expert_hidden=6, noise_std=0.1)
    assert isinstance(m, ProgressiveMoE) and (m.n_experts, m.top_k, m.noise_std) == (6, 3, 0.1)
    assert m.shared.w_out.in_features == 12 and m.experts[0].w_out.in_features == 6


def test_activated_parameters():
    m = ProgressiveMoE(D, 4, expert_hidden=6, shared_hidden=10)

    def swiglu(h):
        return D * 2 * h + 2 * h + h * D + D

    router = D * 4 + 4
    assert m.activated_parameters() == swiglu(10) + 2 * swiglu(6) + router
    assert m.total_parameters() == swiglu(10) + 4 * swiglu(6) + router
    assert DenseFFN(D, 10).activated_parameters() == swiglu(10)


def test_bf16_autocast():
    m = moe(4, capacity_factor=None)
    x = torch.randn(2, 6, D, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(x)
    assert out.y.dtype == torch.bfloat16 and out.y.shape == x.shape
    assert out.aux_loss.dtype == torch.float32 and torch.isfinite(out.aux_loss)
    torch.testing.assert_close(out.y.float(), m(x).y, atol=0.05, rtol=0.05)
    out.y.float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def _aux_reference(m: ProgressiveMoE, x: torch.Tensor, mask: torch.Tensor) -> float:
    """The auxiliary loss of docs/model.md computed in float64 numpy from the router's weights:
    ``w_imp * Var(I) / mean(I)^2 + w_bal * E * sum_e f_e * I_e / N`` over the N valid tokens, with
    ``I_e`` the summed probabilities and ``f_e`` the fraction of (token, choice) assignments."""
    import numpy as np

    w = m.router.weight.detach().double().numpy()
    b = m.router.bias.detach().double().numpy()
    tokens = x.detach().double().numpy()[mask.numpy()]
    logits = tokens @ w.T + b
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    n, e, k = len(tokens), m.n_experts, m.top_k
    importance = probs.sum(0)
    cv2 = importance.var(ddof=1) / importance.mean() ** 2 if e > 1 else 0.0
    counts = np.zeros(e)
    for row in probs:
        counts[np.argsort(-row)[:k]] += 1
    load = counts / (n * k)
    return m.w_importance * cv2 + m.w_balance * e * float((load * importance / n).sum())


@pytest.mark.parametrize(("n_experts", "n_valid"), [(1, 7), (2, 7), (4, 13), (6, 13), (4, 1)])
def test_aux_loss_equals_a_hand_computed_reference(n_experts, n_valid):
    torch.manual_seed(n_experts)
    m = ProgressiveMoE(D, n_experts, expert_hidden=6, shared_hidden=10).eval()
    with torch.no_grad():
        m.router.weight.normal_(0, 1.0)  # routing far from uniform, so both terms matter
    x = torch.randn(15, D)
    mask = torch.zeros(15, dtype=torch.bool)
    mask[torch.randperm(15)[:n_valid]] = True
    out = m(x, mask)
    assert out.aux_loss.item() == pytest.approx(_aux_reference(m, x, mask), rel=1e-5, abs=1e-9)
    if n_experts > 1:
        assert out.aux_loss.item() > 0


def test_defaults_are_the_documented_ones():
    m = ProgressiveMoE(D, 4, expert_hidden=6, shared_hidden=10)
    # noise and importance weight: the paper's code; balance weight: Switch (docs/model.md)
    assert (m.noise_std, m.w_importance, m.w_balance, m.capacity_factor, m.top_k) == (0.001, 0.008, 0.01, 1.0, 2)
    assert DenseFFN(D, 12).ffn.dropout.p == 0.0
    assert make_ffn(D, 0, d_ff=12, expert_hidden=6).ffn.dropout.p == 0.0


def test_dropout_reaches_every_ffn():
    m = ProgressiveMoE(D, 3, expert_hidden=6, shared_hidden=10, dropout=0.3)
    assert [f.dropout.p for f in (m.shared, *m.experts)] == [0.3] * 4
    assert DenseFFN(D, 12, dropout=0.3).ffn.dropout.p == 0.3
    assert make_ffn(D, 0, d_ff=12, expert_hidden=6, dropout=0.3).ffn.dropout.p == 0.3
    assert all(f.dropout.p == 0.3 for f in (make_ffn(D, 2, d_ff=12, expert_hidden=6, dropout=0.3).experts))


def test_expert_and_top_k_bounds():
    single = moe(1)
    assert single.top_k == 1
    x = torch.randn(5, D)
    # one expert: every token gets it with gate 1 (the softmax over one logit)
    torch.testing.assert_close(single(x).y, single.shared(x) + single.experts[0](x))
    assert single.activated_parameters() == _n(single.shared) + _n(single.router) + _n(single.experts[0])
    assert moe(3, top_k=3).route(x).experts.sort(-1).values.tolist() == [[0, 1, 2]] * 5
    assert moe(4, top_k=1).top_k == 1
    with pytest.raises(ValueError, match=r"^ProgressiveMoE needs n_experts >= 1, got 0$"):
        ProgressiveMoE(D, 0, 6, 10)
    with pytest.raises(ValueError, match=r"^top_k must be in \[1, 4\], got 5$"):
        ProgressiveMoE(D, 4, 6, 10, top_k=5)
    with pytest.raises(ValueError, match=r"^top_k must be in \[1, 4\], got 0$"):
        ProgressiveMoE(D, 4, 6, 10, top_k=0)


def _n(module) -> int:
    return sum(p.numel() for p in module.parameters())
