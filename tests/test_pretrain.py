"""neuript pretraining from the real EEGMMIDB store: logging, checkpoints, exact resume."""

from __future__ import annotations

import pytest
import torch

from neuript.optim import one_cycle
from neuript.pretrain import CHECKPOINT, PretrainSettings, pretrain, read_log

TINY = {"d_model": 24, "n_heads": 2, "d_ff": 24, "expert_hidden": 16}


def _settings(store, out, steps):
    # 1-s windows keep the CPU cost small; no rejection (EEGMMIDB's amplitudes exceed 100 uV).
    return PretrainSettings(
        stores=[str(store)],
        out=str(out),
        steps=steps,
        batch_size=8,
        window_s=1.0,
        reject_uv=None,
        checkpoint_every=3,
        seed=3,
        lr=1e-3,
        config_overrides=TINY,
    )


def test_log_checkpoint_and_exact_resume(eegmmidb_store, tmp_path):
    straight = tmp_path / "straight"
    pretrain(_settings(eegmmidb_store, straight, 6), progress=False)
    full = read_log(straight)
    assert [row["step"] for row in full] == [1, 2, 3, 4, 5, 6]
    for key in ("loss", "recon_loss", "aux_loss", "tokens_per_s", "expert_load", "lr"):
        assert key in full[0]
    assert len(full[0]["expert_load"]) == 8  # two MoE layers in each of the 4 blocks with experts
    state = torch.load(straight / CHECKPOINT, weights_only=True)  # loads without unpickling objects
    assert int(state["step"]) == 6
    # The paper's schedule through the optimiser factory fine-tuning uses: OneCycle (warm-up 15 %,
    # div 25, final div 1e4) after each step, AdamW betas (0.9, 0.98) held, not cycled.
    assert [row["lr"] for row in full] == pytest.approx([1e-3 * one_cycle(step, 6, 0.15, 25, 1e4) for step in range(1, 7)], rel=1e-9)
    assert [group["betas"] for group in state["optimizer"]["param_groups"]] == [(0.9, 0.98)]

    # A finished run resumed asks for nothing more.
    assert pretrain(_settings(eegmmidb_store, straight, 6), resume=True, progress=False) == {}
    assert len(read_log(straight)) == 6


def test_resume_continues_to_the_same_losses(eegmmidb_store, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    pretrain(_settings(eegmmidb_store, straight, 6), progress=False)
    settings = _settings(eegmmidb_store, resumed, 6)
    _run_until(settings, 3)  # killed right after the checkpoint at step 3
    pretrain(settings, resume=True, progress=False)
    a, b = read_log(straight), read_log(resumed)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    for x, y in zip(a, b):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-5), x["step"]


def test_a_checkpoint_with_the_older_onecycle_schedule_resumes_on_the_same_curve(eegmmidb_store, tmp_path):
    """Checkpoints written while pretraining used torch's OneCycleLR (which also cycled beta1)
    resume: the rate continues on the OneCycle curve, beta1 is held at 0.9."""
    settings = _settings(eegmmidb_store, tmp_path / "older", 6)
    _run_until(settings, 3)
    state = torch.load(tmp_path / "older" / CHECKPOINT, weights_only=True)
    # What such a checkpoint held: OneCycleLR's state after 3 steps, beta1 mid-cycle.
    reference = torch.optim.AdamW(torch.nn.Linear(1, 1).parameters(), lr=1e-3, betas=(0.9, 0.98))
    older = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=1e-3, total_steps=6, pct_start=0.15, div_factor=25, final_div_factor=1e4)
    for _ in range(3):
        reference.step()
        older.step()
    state["scheduler"] = older.state_dict()
    for group in state["optimizer"]["param_groups"]:
        group["betas"] = reference.param_groups[0]["betas"]
    assert state["optimizer"]["param_groups"][0]["betas"][0] != 0.9
    torch.save(state, tmp_path / "older" / CHECKPOINT)
    pretrain(settings, resume=True, progress=False)
    log = read_log(tmp_path / "older")
    assert [row["step"] for row in log] == [1, 2, 3, 4, 5, 6]
    assert [row["lr"] for row in log[3:]] == pytest.approx([1e-3 * one_cycle(step, 6, 0.15, 25, 1e4) for step in (4, 5, 6)], rel=1e-9)
    final = torch.load(tmp_path / "older" / CHECKPOINT, weights_only=True)
    assert [group["betas"] for group in final["optimizer"]["param_groups"]] == [(0.9, 0.98)]


def _run_until(settings, stop_step):
    """Run ``settings`` but stop after ``stop_step`` steps, as a killed job would (the schedule
    keeps its full length)."""
    import neuript.pretrain as module

    original = module._save

    class Stop(Exception):
        pass

    def save_then_stop(out, model, optimizer, scheduler, step, epoch, positions, **kwargs):
        original(out, model, optimizer, scheduler, step, epoch, positions, **kwargs)
        if step >= stop_step:
            raise Stop

    module._save = save_then_stop
    try:
        pretrain(settings, progress=False)
    except Stop:
        pass
    finally:
        module._save = original


def test_pretrain_command(eegmmidb_store, tmp_path):
    from typer.testing import CliRunner

    from neuript.cli import app

    out = tmp_path / "run"
    args = [
        "pretrain",
        "--store",
        str(eegmmidb_store),
        "--out",
        str(out),
        "--config",
        "slim",
        "--steps",
        "2",
        "--batch-size",
        "4",
        "--window",
        "1",
        "--reject-uv",
        "0",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "step 2: loss" in result.output and len(read_log(out)) == 2
    again = CliRunner().invoke(app, args + ["--resume"])
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_the_command_line_without_options_runs_the_cpu_recipe(monkeypatch, tmp_path):
    """``neuript pretrain --store S --out RUN`` is the recipe of PretrainSettings' defaults."""
    from typer.testing import CliRunner

    import neuript.pretrain
    from neuript.cli import app

    seen = []
    monkeypatch.setattr(neuript.pretrain, "pretrain", lambda settings, resume, progress: seen.append(settings) or {})
    result = CliRunner().invoke(app, ["pretrain", "--store", "S1", "--store", "S2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert seen == [PretrainSettings(stores=["S1", "S2"], out=str(tmp_path))]
    recipe = seen[0]
    assert (recipe.window_s, recipe.montage, recipe.batch_size, recipe.dropout) == (1.0, "scalp_average", 16, 0.0)
    # and an option given on the command line wins; --reject-uv 0 keeps every window
    CliRunner().invoke(app, ["pretrain", "--store", "S1", "--out", str(tmp_path), "--reject-uv", "0", "--window", "2"])
    assert seen[-1].reject_uv is None and seen[-1].window_s == 2.0 and seen[-1].steps == recipe.steps
