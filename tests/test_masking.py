"""AAMP masks, BERT corruption, mask pooling and ratio sampling (neuript.masking)."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.shared_data import shared_path

from eegcorpus import read_recording
from neuript.masking import (
    NEURIPT_RATIOS,
    amplitude_aware_mask,
    bert_corruption,
    mask_counts,
    pool_mask,
    random_mask,
    sample_ratios,
)


def expected_count(ratio: float, length: int) -> int:
    """round(ratio * T) with halves rounded up, the documented rule."""
    return math.floor(ratio * length + 0.5)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_single_band(values: torch.Tensor, mask: torch.Tensor) -> None:
    """No unmasked value lies strictly inside [min(masked), max(masked)] of one channel."""
    masked, visible = values[mask], values[~mask]
    if masked.numel() == 0 or visible.numel() == 0:
        return
    lo, hi = masked.min(), masked.max()
    inside = (visible > lo) & (visible < hi)
    assert not inside.any(), f"visible values inside the band [{lo}, {hi}]: {visible[inside]}"


def time_runs(mask: torch.Tensor) -> torch.Tensor:
    """Number of separate runs of consecutive masked samples per row of a [..., T] mask."""
    starts = mask[..., 1:] & ~mask[..., :-1]
    return starts.sum(-1) + mask[..., 0].long()


@pytest.fixture(scope="module")
def real_window() -> torch.Tensor:
    """20 channels x 256 samples (1.6 s at 160 Hz) of real EEGMMIDB EEG, in microvolts."""
    rec = read_recording(shared_path("eegmmidb", "S001", "S001R03.edf"))
    return torch.from_numpy(rec.data[:20, 320:576].copy()).float()


# --- exact counts ------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [*NEURIPT_RATIOS, 0.0, 1.0, 0.3])
def test_aamp_exact_count_fixed_ratio(ratio):
    x = torch.randn(4, 6, 256, generator=gen(0))
    mask = amplitude_aware_mask(x, ratio, generator=gen(1))
    assert mask.dtype == torch.bool and mask.shape == x.shape
    assert (mask.sum(-1) == expected_count(ratio, 256)).all()


def test_aamp_exact_count_per_sample_ratio():
    x = torch.randn(64, 5, 256, generator=gen(2))
    ratios = sample_ratios(64, generator=gen(3))
    mask = amplitude_aware_mask(x, ratios, generator=gen(4))
    want = torch.tensor([expected_count(float(r), 256) for r in ratios])
    assert set(want.tolist()) == {51, 90, 128}  # 0.2, 0.35, 0.5 of 256
    assert (mask.sum(-1) == want[:, None]).all()


def test_aamp_count_is_not_thrown_off_by_float32_ratios():
    # float32(0.35) * 10 = 3.4999999..., still the documented round-half-up 4.
    x = torch.randn(3, 2, 10, generator=gen(5))
    ratios = torch.tensor([0.35, 0.25, 0.05], dtype=torch.float32)
    mask = amplitude_aware_mask(x, ratios, generator=gen(6))
    assert mask.sum(-1).tolist() == [[4, 4], [3, 3], [1, 1]]


# --- one amplitude band --------------------------------------------------------------------


@pytest.mark.parametrize("ratio", NEURIPT_RATIOS)
def test_aamp_masks_one_amplitude_band(ratio):
    x = torch.randn(8, 10, 256, generator=gen(7))
    mask = amplitude_aware_mask(x, ratio, generator=gen(8))
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            assert_single_band(x[b, c], mask[b, c])
            masked, visible = x[b, c][mask[b, c]], x[b, c][~mask[b, c]]
            below, above = visible[visible < masked.min()], visible[visible > masked.max()]
            # Continuous values: the band is strict on both sides and holds everything between.
            assert below.numel() + above.numel() == visible.numel()


def test_aamp_band_with_ties_keeps_exact_count_and_breaks_ties_by_time():
    # Values 0..4 only: most band edges fall inside a run of equal values.
    x = torch.randint(0, 5, (16, 8, 64), generator=gen(9)).float()
    mask = amplitude_aware_mask(x, 0.35, generator=gen(10))
    assert (mask.sum(-1) == expected_count(0.35, 64)).all()
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            v, m = x[b, c], mask[b, c]
            assert_single_band(v, m)
            lo, hi = v[m].min(), v[m].max()
            t = torch.arange(v.numel())
            # Lower edge: the tied points left visible are the earliest ones.
            vis_lo, mask_lo = t[(v == lo) & ~m], t[(v == lo) & m]
            if vis_lo.numel():
                assert vis_lo.max() < mask_lo.min()
            # Upper edge: the tied points left visible are the latest ones.
            vis_hi, mask_hi = t[(v == hi) & ~m], t[(v == hi) & m]
            if vis_hi.numel():
                assert vis_hi.min() > mask_hi.max()


def test_aamp_constant_channel_still_gets_exact_count():
    mask = amplitude_aware_mask(torch.zeros(2, 3, 50), 0.2, generator=gen(11))
    assert (mask.sum(-1) == 10).all()


# --- randomness -------------------------------------------------------------------------------


def test_aamp_band_position_varies_and_is_reproducible():
    # The same values in every (b, c) row: only xi can move the band.
    row = torch.randn(256, generator=gen(12))
    x = row.expand(16, 8, 256).clone()
    mask = amplitude_aware_mask(x, 0.2, generator=gen(13))
    order = torch.argsort(row, stable=True)
    first_rank = mask[..., order].float().argmax(-1)  # lowest masked rank per (b, c)
    assert first_rank.unique().numel() > 30  # 128 rows, 206 possible positions
    # Across samples and across channels alike.
    assert (first_rank != first_rank[:1]).any(dim=1).any() and (first_rank != first_rank[:, :1]).any()
    # Both ends of the distribution are reachable (the block slides inward at the edges).
    assert first_rank.min() == 0 and first_rank.max() == 256 - 51

    again = amplitude_aware_mask(x, 0.2, generator=gen(13))
    other = amplitude_aware_mask(x, 0.2, generator=gen(14))
    assert torch.equal(mask, again)
    assert not torch.equal(mask, other)


# --- real EEG: scattered in time -------------------------------------------------------------


@pytest.mark.parametrize("ratio", NEURIPT_RATIOS)
def test_aamp_on_real_eeg_is_scattered_in_time(real_window, ratio):
    x = real_window.expand(4, -1, -1)  # 4 draws of the band per channel
    mask = amplitude_aware_mask(x, ratio, generator=gen(15))
    n = expected_count(ratio, 256)
    assert (mask.sum(-1) == n).all()
    runs = time_runs(mask)
    # Never one contiguous time block: the signal enters and leaves the band many times.
    assert runs.min() >= 3
    assert runs.float().mean() >= 10
    t = torch.arange(256).expand_as(mask)
    span = torch.where(mask, t, -1).amax(-1) - torch.where(mask, t, 256).amin(-1) + 1
    assert (span > n).all()
    for b in range(x.shape[0]):
        for c in range(x.shape[1]):
            assert_single_band(x[b, c], mask[b, c])


def test_random_mask_baseline_count_and_spread(real_window):
    mask = random_mask((4, 20, 256), 0.5, generator=gen(16))
    assert mask.shape == (4, 20, 256) and (mask.sum(-1) == 128).all()
    # Uniform in time, so it does not follow the amplitude: the band test fails on real EEG.
    x = real_window.expand(4, -1, -1)
    banded = 0
    for b in range(4):
        for c in range(20):
            masked, visible = x[b, c][mask[b, c]], x[b, c][~mask[b, c]]
            banded += not ((visible > masked.min()) & (visible < masked.max())).any()
    assert banded == 0
    assert torch.equal(mask, random_mask((4, 20, 256), 0.5, generator=gen(16)))


# --- padding channels ----------------------------------------------------------------------------


def test_padding_channels_get_no_mask():
    x = torch.randn(3, 6, 128, generator=gen(17))
    valid = torch.ones(3, 6, dtype=torch.bool)
    valid[0, 4:] = False
    valid[2, 1] = False
    ratios = torch.tensor([0.2, 0.35, 0.5])
    mask = amplitude_aware_mask(x, ratios, generator=gen(18), valid=valid)
    assert not mask[~valid].any()
    want = torch.tensor([expected_count(float(r), 128) for r in ratios])[:, None].expand(3, 6)
    assert (mask.sum(-1)[valid] == want[valid]).all()
    rmask = random_mask((3, 6, 128), ratios, generator=gen(19), valid=valid)
    assert not rmask[~valid].any()


# --- BERT corruption ----------------------------------------------------------------------------


def test_bert_corruption_proportions_disjoint_subsets():
    mask = torch.rand(8, 20, 4096, generator=gen(20)) < 0.5
    use_token, use_random = bert_corruption(mask, generator=gen(21))
    assert use_token.shape == use_random.shape == mask.shape
    assert use_token.dtype == use_random.dtype == torch.bool
    assert not (use_token & use_random).any()
    assert not (use_token & ~mask).any() and not (use_random & ~mask).any()
    n = mask.sum().item()  # ~330k masked points: binomial std of a share < 0.001
    unchanged = mask & ~use_token & ~use_random
    assert use_token.sum().item() / n == pytest.approx(0.8, abs=0.005)
    assert use_random.sum().item() / n == pytest.approx(0.1, abs=0.005)
    assert unchanged.sum().item() / n == pytest.approx(0.1, abs=0.005)
    again = bert_corruption(mask, generator=gen(21))
    assert torch.equal(again[0], use_token) and torch.equal(again[1], use_random)


def test_bert_corruption_rejects_bad_probabilities():
    mask = torch.ones(1, 1, 4, dtype=torch.bool)
    for p_mask_token, p_random in ((0.8, 0.3), (-0.1, 0.1), (0.5, -0.1)):
        with pytest.raises(ValueError, match=r"need p_mask_token >= 0, p_random >= 0 and p_mask_token \+ p_random <= 1"):
            bert_corruption(mask, p_mask_token, p_random)
    # the edges are allowed: no mask token, no random share, or nothing left unchanged
    for p_mask_token, p_random in ((0.0, 0.5), (0.5, 0.0), (0.7, 0.3)):
        bert_corruption(mask, p_mask_token, p_random, generator=gen(1))


def test_bert_corruption_splits_at_the_exact_thresholds():
    """Point i goes to the mask token when u_i < p_mask_token, to a random value when
    p_mask_token <= u_i < p_mask_token + p_random: checked on the generator's own draws,
    with the thresholds placed exactly on some of them."""
    mask = torch.ones(1, 2, 50, dtype=torch.bool)
    u = torch.rand(mask.shape, generator=gen(5))
    order = torch.argsort(u.flatten())
    at_mask_threshold, at_random_threshold = order[30], order[70]
    p_mask_token = float(u.flatten()[at_mask_threshold])
    p_random = float(u.flatten()[at_random_threshold]) - p_mask_token
    use_mask_token, use_random = bert_corruption(mask, p_mask_token, p_random, generator=gen(5))
    assert torch.equal(use_mask_token, u < p_mask_token)
    assert torch.equal(use_random, (u >= p_mask_token) & (u < p_mask_token + p_random))
    assert int(use_mask_token.sum()) == 30 and int(use_random.sum()) == 40
    assert use_random.flatten()[at_mask_threshold] and not use_random.flatten()[at_random_threshold]


# --- pooling to coarser scales -------------------------------------------------------------------


def pool_reference(mask: torch.Tensor, factor: int) -> torch.Tensor:
    """Loop version: pad by repeating the last token, a window is masked iff all its points are."""
    B, C, T = mask.shape
    out = torch.zeros(B, C, math.ceil(T / factor), dtype=torch.bool)
    for b in range(B):
        for c in range(C):
            for j in range(out.shape[-1]):
                idx = [min(i, T - 1) for i in range(j * factor, (j + 1) * factor)]
                out[b, c, j] = all(bool(mask[b, c, i]) for i in idx)
    return out


def test_pool_mask_hand_example():
    m = torch.tensor([[[1, 1, 1, 0, 0, 1, 1, 1, 1, 1]]], dtype=torch.bool)
    assert torch.equal(pool_mask(m, 1), m)
    assert pool_mask(m, 2).int().tolist() == [[[1, 0, 0, 1, 1]]]
    # Windows [1,1,1,0] [0,1,1,1] [1,1,(1,1)] -- the last padded by repeating index 9.
    assert pool_mask(m, 4).int().tolist() == [[[0, 0, 1]]]
    m[0, 0, 9] = False  # padding repeats the (now visible) last token
    assert pool_mask(m, 4).int().tolist() == [[[0, 0, 0]]]


@pytest.mark.parametrize("length", [256, 10, 63])
@pytest.mark.parametrize("factor", [1, 2, 4])
def test_pool_mask_all_masked_rule(length, factor):
    x = torch.randn(3, 4, length, generator=gen(22))
    # A dense mask, so fully masked windows occur at every factor.
    mask = amplitude_aware_mask(x, 0.5, generator=gen(23)) | (torch.rand(x.shape, generator=gen(24)) < 0.5)
    pooled = pool_mask(mask, factor)
    assert pooled.shape == (3, 4, math.ceil(length / factor)) and pooled.dtype == torch.bool
    assert torch.equal(pooled, pool_reference(mask, factor))
    if factor > 1:
        assert pooled.any() and not pooled.all()


def test_pool_mask_composes_over_the_encoder_merge_schedule():
    # Pretraining merges [1, 4, 1, 2, 1, 2]: 256 -> 64 -> 32 -> 16 per-scale masks.
    mask = torch.rand(2, 20, 256, generator=gen(25)) < 0.9
    step = pool_mask(pool_mask(pool_mask(mask, 4), 2), 2)
    assert torch.equal(step, pool_mask(mask, 16))
    assert torch.equal(pool_mask(pool_mask(mask, 4), 2), pool_mask(mask, 8))


def test_pool_mask_rejects_bad_factor_and_shape():
    with pytest.raises(ValueError, match="factor must be a positive integer, got 0"):
        pool_mask(torch.ones(1, 1, 4, dtype=torch.bool), 0)
    with pytest.raises(ValueError, match=r"mask must be \[B, C, T\], got shape \(2, 4\)"):
        pool_mask(torch.ones(2, 4, dtype=torch.bool), 2)


# --- dynamic ratio ------------------------------------------------------------------------------


def test_sample_ratios_edges_and_errors():
    assert sample_ratios(0, generator=gen(1)).shape == (0,)
    assert set(sample_ratios(20, choices=(0.5,), generator=gen(2)).tolist()) == {0.5}
    with pytest.raises(ValueError, match="batch must be >= 0, got -1"):
        sample_ratios(-1)
    with pytest.raises(ValueError, match="choices must not be empty"):
        sample_ratios(3, choices=())


def test_mask_counts_refuses_ratios_outside_the_unit_interval():
    for bad in (-0.1, 1.5, float("nan"), [0.5, 1.01]):
        with pytest.raises(ValueError, match=r"masking ratios must lie in \[0, 1\]"):
            mask_counts(torch.tensor(bad) if isinstance(bad, list) else bad, 100, 2)
    with pytest.raises(ValueError, match=r"ratio must be a scalar or have shape \[2\], got \(3,\)"):
        mask_counts(torch.tensor([0.1, 0.2, 0.3]), 100, 2)
    assert mask_counts(1.0, 100, 2).tolist() == [100, 100] and mask_counts(0.0, 100, 2).tolist() == [0, 0]


def test_aamp_band_is_centred_on_the_drawn_quantile():
    """The band of n points starts at amplitude rank round(xi * T - n / 2), clamped into
    [0, T - n], with xi the generator's draw per channel: a hand-computed reference."""
    x = torch.randn(3, 4, 40, generator=gen(11))
    n = 12  # ratio 0.3 of 40
    mask = amplitude_aware_mask(x, 0.3, generator=gen(12))
    xi = torch.rand((3, 4, 1), generator=gen(12), dtype=torch.float64)
    for b in range(3):
        for c in range(4):
            start = min(max(round(float(xi[b, c, 0]) * 40 - n / 2), 0), 40 - n)
            ranks = torch.argsort(torch.argsort(x[b, c], stable=True), stable=True)
            expected = (ranks >= start) & (ranks < start + n)
            assert torch.equal(mask[b, c], expected), (b, c, start)


def test_sample_ratios_values_and_coverage():
    r = sample_ratios(30000, generator=gen(26))
    assert r.shape == (30000,) and r.is_floating_point()
    values = r.tolist()
    choices = [float(torch.tensor(c, dtype=r.dtype)) for c in NEURIPT_RATIOS]
    assert set(values) == set(choices)
    for c in choices:
        assert values.count(c) / len(values) == pytest.approx(1 / 3, abs=0.02)
    assert set(sample_ratios(500, choices=(0.3, 0.6), generator=gen(27)).tolist()) == {
        float(torch.tensor(0.3, dtype=r.dtype)),
        float(torch.tensor(0.6, dtype=r.dtype)),
    }
    assert torch.equal(r, sample_ratios(30000, generator=gen(26)))


def test_masks_refuse_wrong_shapes_naming_them():
    x = torch.randn(2, 3, 16, generator=gen(3))
    with pytest.raises(ValueError, match=r"x must be \[B, C, T\], got shape \(3, 16\)"):
        amplitude_aware_mask(x[0], 0.5)
    with pytest.raises(ValueError, match=r"valid must have shape \(2, 3\), got \(2, 4\)"):
        amplitude_aware_mask(x, 0.5, valid=torch.ones(2, 4, dtype=torch.bool))
