"""NeurIPT assembled: shapes, position handling, lobe pooling, sizes, a learning pretraining step."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import torch

from neuript.config import CONFIGS, get_config
from neuript.embedding import quantise_positions
from neuript.heads import lobe_pool
from neuript.masking import amplitude_aware_mask, bert_corruption, pool_mask
from neuript.model import NeurIPT

# A tiny configuration with the paper's structure (6 blocks, merges, experts, 7 decoder layers).
TINY = get_config("slim", d_model=24, n_heads=2, d_ff=24, expert_hidden=16, dropout=0.0)


def _batch(b=2, c=20, t=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, c, t, generator=g)
    pos = torch.randn(b, c, 3, generator=g) * 0.05
    lobe = torch.randint(0, 6, (b, c), generator=g)
    return x, pos, lobe, torch.ones(b, c, dtype=torch.bool)


@pytest.mark.parametrize(("channels", "samples"), [(20, 256), (2, 64), (64, 32), (19, 50)])
def test_shapes_for_several_montages(channels, samples):
    x, pos, lobe, mask = _batch(c=channels, t=samples)
    model = NeurIPT(TINY, n_classes=5)
    enc = model.encode(x, pos, mask)
    lengths = [samples]
    for factor in TINY.merge_factors:
        lengths.append(math.ceil(lengths[-1] / factor))
    assert [h.shape for h in enc.levels] == [(2, channels, n, 24) for n in [samples] + lengths[1:]]
    assert model(x, pos, lobe, mask).shape == (2, 5)
    assert NeurIPT(TINY, n_classes=2, pretraining=False)(x, pos, lobe, mask).shape == (2, 1)
    out = model.pretrain_step(x, pos, mask)
    assert out.prediction.shape == (2, channels, samples) and torch.isfinite(out.loss)


def test_encoder_is_equivariant_to_channel_order():
    """Positions move with the channels. Capacity dropping is off here: which assignments
    overflow an expert depends on token order by construction (docs/model.md)."""
    torch.manual_seed(0)
    model = NeurIPT(get_config(TINY, capacity_factor=None), pretraining=False).eval()
    x, pos, _, mask = _batch()
    perm = torch.randperm(x.shape[1])
    a = model.encode(x, pos, mask).levels[-1]
    b = model.encode(x[:, perm], pos[:, perm], mask[:, perm]).levels[-1]
    torch.testing.assert_close(a[:, perm], b, atol=1e-4, rtol=1e-4)


def test_positions_not_channel_order_carry_identity():
    """Swapping two channels' signals without their positions changes the representation."""
    torch.manual_seed(0)
    model = NeurIPT(TINY, pretraining=False).eval()
    x, pos, _, mask = _batch()
    swapped = x.clone()
    swapped[:, [0, 1]] = x[:, [1, 0]]
    a = model.encode(x, pos, mask).levels[-1]
    b = model.encode(swapped, pos, mask).levels[-1]
    assert not torch.allclose(a[:, [1, 0]], b[:, [0, 1]], atol=1e-3)


def test_quantised_positions_are_montage_normalised():
    pos = torch.tensor([[[0.0, 0.0, 0.0], [0.1, 0.05, 0.02], [0.05, 0.1, 0.0], [9.0, 9.0, 9.0]]])
    mask = torch.tensor([[True, True, True, False]])
    q = quantise_positions(pos, mask, 50)
    assert q[0, :3].tolist() == [[0, 0, 0], [49, 24, 10], [24, 49, 0]]
    assert q[0, 3].tolist() == [0, 0, 0]  # padding channel ignored, not the scale
    shifted = quantise_positions(pos + 1.0, mask, 50)  # a translated head gives the same bins
    assert torch.equal(shifted[0, :3], q[0, :3])


def test_lobe_pooling_pools_the_right_channels():
    b, c, t, d = 1, 5, 4, 3
    h = torch.zeros(b, c, t, d)
    for ch in range(c):
        h[0, ch] = ch  # channel k carries the value k everywhere
    lobe = torch.tensor([[0, 0, 2, 5, -1]])
    mask = torch.tensor([[True, True, True, True, True]])
    features = lobe_pool([h], lobe, mask, n_lobes=6).view(6, d)
    assert features[0].tolist() == [0.5] * 3  # mean of channels 0 and 1
    assert features[2].tolist() == [2.0] * 3 and features[5].tolist() == [3.0] * 3
    assert features[1].tolist() == [0.0] * 3  # a lobe with no channel
    # Channel 4 has no lobe and counts nowhere; a masked channel counts nowhere either.
    mask[0, 1] = False
    assert lobe_pool([h], lobe, mask, n_lobes=6).view(6, d)[0].tolist() == [0.0] * 3


def test_padding_channels_do_not_change_the_classification():
    torch.manual_seed(0)
    model = NeurIPT(TINY, n_classes=3, pretraining=False).eval()
    x, pos, lobe, mask = _batch(c=6)
    logits = model(x, pos, lobe, mask)
    pad = 3
    x2 = torch.cat([x, torch.randn(2, pad, x.shape[2]) * 100], dim=1)
    pos2 = torch.cat([pos, torch.randn(2, pad, 3)], dim=1)
    lobe2 = torch.cat([lobe, torch.full((2, pad), -1)], dim=1)
    mask2 = torch.cat([mask, torch.zeros(2, pad, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(model(x2, pos2, lobe2, mask2), logits, atol=1e-4, rtol=1e-4)


def test_a_window_scores_the_same_alone_and_in_any_batch():
    """Evaluation drops no expert assignment and standardises with running statistics, so a
    window's logits do not depend on the windows scored with it."""
    torch.manual_seed(0)
    model = NeurIPT(get_config(TINY, router_noise_std=0.0), n_classes=2, pretraining=False)
    with torch.no_grad():  # a router that prefers one expert everywhere: capacity overflows
        for moe in (m for m in model.modules() if hasattr(m, "router")):
            moe.router.bias.copy_(torch.linspace(3.0, 0.0, moe.n_experts))
    x, pos, lobe, mask = _batch(b=6, c=8, t=64)
    x[3:] *= 3.0  # windows unlike the others
    model.train()  # capacity applies in training: there, the batch does change a window
    alone = model.encode(x[:1], pos[:1], mask[:1]).levels[-1]
    batched = model.encode(x, pos, mask).levels[-1][:1]
    assert not torch.allclose(alone, batched, atol=1e-4)
    model.eval()
    logits = model(x, pos, lobe, mask)
    for i in range(6):
        torch.testing.assert_close(model(x[i : i + 1], pos[i : i + 1], lobe[i : i + 1], mask[i : i + 1]), logits[i : i + 1], atol=1e-5, rtol=1e-5)
    for order in (torch.tensor([5, 0, 3]), torch.tensor([2, 4, 1, 0])):
        torch.testing.assert_close(model(x[order], pos[order], lobe[order], mask[order]), logits[order], atol=1e-5, rtol=1e-5)


def test_base_config_matches_the_paper_size():
    counts = NeurIPT(CONFIGS["base"], pretraining=False).parameter_counts()
    # Table 16 of the paper: 73.5 M activated parameters.
    assert abs(counts["params_activated"] - 73.5e6) / 73.5e6 < 0.01
    assert counts["params_total"] > counts["params_activated"]


def test_pretraining_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = NeurIPT(TINY)
    x, pos, _, mask = _batch(b=4, c=8, t=64)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for step in range(12):
        g = torch.Generator().manual_seed(step % 2)
        out = model.pretrain_step(x, pos, mask, ratio=0.5, generator=g)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(float(out.recon_loss))
    assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3])
    assert out.aux_loss > 0 and len(out.loads) == 2 * len(TINY.merge_factors)


def test_the_decoder_cannot_see_a_masked_value(monkeypatch):
    """Pretraining asks the decoder for the masked points, so nothing it reads may carry them.

    The mask is held fixed and every masked point takes the input mask token (BERT's random
    and unchanged shares show a value on purpose; see ``pool_mask``). Changing only the masked
    values must then leave the decoder's queries and memory unchanged, and at every scale the
    memory of a masked token is the memory mask token. Fails if the masked inputs reach the
    encoder uncorrupted, or if the decoder's memory shows the encoder's masked outputs.
    """
    import neuript.model

    torch.manual_seed(0)
    model = NeurIPT(TINY).eval()  # eval: no dropout, no expert capacity (see test_moe)
    with torch.no_grad():  # zero-initialised tokens would hide a mix-up of the two
        model.input_mask_token.normal_()
        model.memory_mask_token.normal_()
    x, pos, _, mask = _batch(b=2, c=8, t=64)
    masked = amplitude_aware_mask(x, 0.5, torch.Generator().manual_seed(1), valid=mask)
    monkeypatch.setattr(neuript.model, "amplitude_aware_mask", lambda *args, **kwargs: masked)
    monkeypatch.setattr(neuript.model, "bert_corruption", partial(bert_corruption, p_mask_token=1.0, p_random=0.0))
    seen = []
    model.decoder.register_forward_hook(lambda module, args, output: seen.append(args))
    with torch.no_grad():
        model.pretrain_step(x, pos, mask, ratio=0.5)
        changed = torch.where(masked, 100.0 * torch.randn_like(x), x)
        model.pretrain_step(changed, pos, mask, ratio=0.5)
    assert int(masked.sum()) > 0 and not torch.equal(changed, x)
    (queries, memory, _), (queries2, memory2, _) = seen
    torch.testing.assert_close(queries2, queries, atol=0, rtol=0)
    assert len(memory) == len(TINY.merge_factors) + 1
    level_mask = masked
    for level, (h, h2) in enumerate(zip(memory, memory2)):
        # levels[0] are the point tokens; block i merges by merge_factors[i] into levels[i + 1]
        if level > 0 and TINY.merge_factors[level - 1] > 1:
            level_mask = pool_mask(level_mask, TINY.merge_factors[level - 1])
        torch.testing.assert_close(h2, h, atol=1e-5, rtol=1e-5, msg=f"memory level {level} changed with the masked values")
        assert level_mask.shape == h.shape[:3]
        if level_mask.any():
            torch.testing.assert_close(h[level_mask], model.memory_mask_token.expand(int(level_mask.sum()), -1), atol=0, rtol=0)


def test_neuript_info_json():
    import json

    from typer.testing import CliRunner

    from neuript.cli import app

    result = CliRunner().invoke(app, ["info", "--config", "slim", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["experts_per_layer"] == [0, 0, 2, 4, 4, 6]
    assert data["params_total"] > data["params_activated"] > 0
    assert CliRunner().invoke(app, ["info", "--config", "huge"]).exit_code == 1


def test_attention_dropout_follows_the_config():
    from neuript.attention import MultiHeadAttention

    def rates(model):
        return {m.dropout for m in model.modules() if isinstance(m, MultiHeadAttention)}

    # base: the paper's 0.1 on attention too; slim: none, so CPU attention keeps its flash kernel.
    assert rates(NeurIPT(get_config("base", d_model=48, n_heads=4, d_ff=48, expert_hidden=32))) == {0.1}
    assert rates(NeurIPT("slim")) == {0.0}
    assert rates(NeurIPT(get_config("slim", attention_dropout=None))) == {CONFIGS["slim"].dropout}
    assert get_config("slim").dropout == 0.1  # residual and feed-forward dropout stay
