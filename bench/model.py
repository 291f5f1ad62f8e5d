"""Model speed: NeurIPT step time and tokens/s, and Progressive MoE against a dense equivalent.

Contenders, on the same real batch (EEGMMIDB S001 windows from an eegcorpus store built with the
``neuript`` profile, served through the loader with the NeurIPT double-banana montage and A-law):

* ``pmoe``: the model as configured (Progressive MoE layers [0, 0, 2, 4, 4, 6]);
* ``dense``: the same model with every MoE feed-forward layer replaced by one SwiGLU whose hidden
  width is ``d_ff + k * expert_hidden``, so that a token activates the same number of parameters
  (up to the router's ``d_model * E`` weights).

Three kinds of step are timed: ``pretrain`` (AAMP: encoder + summed decoder, backward, AdamW),
``finetune`` (encoder + IILP head, cross-entropy, backward, AdamW) and ``inference`` (encoder +
head, no gradient). A token is one EEG sample of one channel (NeurIPT's point-level tokens), so
tokens/s = batch x channels x samples / step time. Contenders are interleaved step by step in
rotating order and medians are compared, because this machine's load varies.

Model FLOPs per step come from ``torch.utils.flop_counter`` (matrix products and attention, both
passes). On a GPU the script also runs ``base`` in bf16 autocast and reports model FLOP
utilisation against the device's dense bf16 peak (``--peak-tflops``, default from the device
name); without a GPU that part is reported as not measured.

**Fine-tuning as a user runs it.** An isolated step flatters: the real ``neuript finetune``
loop also crops and assembles batches, scores the validation windows every epoch and allocates
far more activation memory per step. So the script also times ``neuript finetune`` itself, as a
separate process, with its default recipe (1-s crops of the 5-s windows for training, whole
windows scored) on the MentalArithmetic windows of subjects 1-8 (train 1-6, validate 7-8; 2
epochs, encoder trained from the first): tokens/s = trained tokens / epoch wall time (validation
scoring included), once with the command line's tuned allocator and once with glibc's default
(``NEURIPT_ALLOCATOR=default``, neuript/_allocator.py), beside the isolated step on whole 5-s
windows.

Usage: ``python bench/model.py [--config slim] [--batch-size 8] [--window-s 4] [--steps 5]
[--quick] [--no-finetune-run]``. ``--quick`` (batch 4, 1-s windows, 3 timed steps, no report, no
fine-tuning run) finishes in under a minute and prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import SHARED_DATA, machine, update_section

from neuript.config import get_config
from neuript.model import NeurIPT
from neuript.moe import DenseFFN, ProgressiveMoE

# Dense bf16 peak (TFLOP/s, no sparsity) by device-name fragment, for model FLOP utilisation.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0, "A10": 125.0}


def densify(model: NeurIPT) -> NeurIPT:
    """Replace every Progressive MoE layer by a SwiGLU with the same activated parameters."""
    for block in model.blocks:
        for name in ("ffn_t", "ffn_s"):
            moe = getattr(block, name)
            if isinstance(moe, ProgressiveMoE):
                hidden = moe.shared.w_out.in_features + moe.top_k * moe.experts[0].w_out.in_features
                setattr(block, name, DenseFFN(moe.shared.w_in.in_features, hidden, dropout=moe.shared.dropout.p))
    return model


def real_batch(store: Path | None, batch_size: int, window_s: float) -> dict:
    """One batch of real windows (NeurIPT montage, A-law), building the store when needed."""
    from eegcorpus.loader import WindowSpec, WindowStream

    if store is None:
        raw = SHARED_DATA / "eegmmidb"
        if not raw.is_dir():
            sys.exit(f"bench/model.py needs real windows: pass --store or provide {raw}")
        from eegcorpus.build import build

        store = Path(tempfile.mkdtemp(prefix="bench-model-")) / "eegmmidb"
        build("eegmmidb", raw, store, profile="neuript", subjects=[1], progress=False)
    stream = WindowStream([str(store)], WindowSpec(window_s), montage="neuript", a_law=True, seed=0, batch_size=batch_size)
    return next(iter(stream))


class Contender:
    """A model, its optimizer and one prepared batch, with one method per kind of step."""

    def __init__(self, name: str, config, batch: dict, device: torch.device, seed: int = 0):
        torch.manual_seed(seed)
        model = NeurIPT(config, n_classes=4, pretraining=True)
        self.model = (densify(model) if name == "dense" else model).to(device)
        self.name, self.device = name, device
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-4, betas=(0.9, 0.98), weight_decay=5e-3)
        self.batch = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        self.labels = torch.arange(batch["x"].shape[0], device=device) % 4
        self.autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def activated(self) -> int:
        return self.model.parameter_counts()["params_activated"]

    def pretrain(self) -> None:
        b = self.batch
        self.model.train()
        with torch.autocast(**self.autocast):
            out = self.model.pretrain_step(b["x"], b["pos"], b["ch_mask"])
        self._update(out.loss)

    def finetune(self) -> None:
        b = self.batch
        self.model.train()
        with torch.autocast(**self.autocast):
            logits = self.model(b["x"], b["pos"], b["lobe"], b["ch_mask"])
        self._update(torch.nn.functional.cross_entropy(logits.float(), self.labels))

    def inference(self) -> None:
        b = self.batch
        self.model.eval()
        with torch.no_grad(), torch.autocast(**self.autocast):
            self.model(b["x"], b["pos"], b["lobe"], b["ch_mask"])

    def _update(self, loss: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def timed(self, kind: str) -> float:
        _sync(self.device)
        start = time.perf_counter()
        getattr(self, kind)()
        _sync(self.device)
        return time.perf_counter() - start

    def flops(self, kind: str) -> int:
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter:
            getattr(self, kind)()
        return counter.get_total_flops()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def compare(config, batch: dict, device: torch.device, kinds: list[str], steps: int) -> dict:
    """Median step seconds per (kind, contender), interleaving the contenders step by step."""
    contenders = [Contender(name, config, batch, device) for name in ("pmoe", "dense")]
    results: dict = {"activated": {c.name: c.activated() for c in contenders}, "kinds": {}}
    tokens = batch["x"].numel()
    for kind in kinds:
        for c in contenders:  # warm-up: allocator, autograd graph caches, first-call dispatch
            c.timed(kind)
        times = {c.name: [] for c in contenders}
        for step in range(steps):
            order = contenders if step % 2 == 0 else contenders[::-1]
            for c in order:
                times[c.name].append(c.timed(kind))
        row = {}
        for c in contenders:
            med = statistics.median(times[c.name])
            row[c.name] = {"step_s": med, "tokens_per_s": tokens / med, "gflop": c.flops(kind) / 1e9}
        row["ratio_pmoe_vs_dense"] = row["pmoe"]["step_s"] / row["dense"]["step_s"]
        results["kinds"][kind] = row
    return results


def finetune_step_at_task_shape(config_name: str, steps: int) -> dict | None:
    """The isolated fine-tuning step at MentalArithmetic's shape (batch 16, 19 x 320, dropout 0)."""
    raw = SHARED_DATA / "eegmat"
    if not raw.is_dir():
        return None
    from eegcorpus.build import build
    from neuript.tasks import load_windows

    store = Path(tempfile.mkdtemp(prefix="bench-shape-")) / "store"
    build("mental_arithmetic", raw, store, subjects=[1, 2], progress=False)
    windows = load_windows("mental_arithmetic", [store])
    from eegcorpus.loader.transforms import a_law

    batch = {
        "x": torch.from_numpy(a_law(windows.x[:16])),
        "pos": torch.from_numpy(windows.pos[:16]),
        "lobe": torch.from_numpy(windows.lobe[:16]),
        "ch_mask": torch.from_numpy(windows.ch_mask[:16]),
    }
    contender = Contender("pmoe", get_config(config_name, dropout=0.0), batch, torch.device("cpu"))
    contender.timed("finetune")
    step_s = statistics.median(contender.timed("finetune") for _ in range(steps))
    return {"step_s": step_s, "tokens_per_s": batch["x"].numel() / step_s}


def gpu_utilisation(batch_size: int, window_s: float, steps: int, store: Path | None, peak: float | None) -> dict | None:
    """``base`` pretraining throughput and model FLOP utilisation in bf16 on the GPU, if any."""
    if not torch.cuda.is_available():
        return None
    device = torch.device("cuda")
    name = torch.cuda.get_device_name()
    if peak is None:
        peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)
    batch = real_batch(store, batch_size, window_s)
    contender = Contender("pmoe", "base", batch, device)
    contender.timed("pretrain")
    times = [contender.timed("pretrain") for _ in range(steps)]
    step_s = statistics.median(times)
    flops = contender.flops("pretrain")
    return {
        "device": name,
        "batch_size": batch_size,
        "step_s": step_s,
        "tokens_per_s": batch["x"].numel() / step_s,
        "tflops_per_s": flops / step_s / 1e12,
        "mfu": None if peak is None else flops / step_s / (peak * 1e12),
        "peak_tflops": peak,
    }


def finetune_run(subjects: int = 8, epochs: int = 2) -> dict:
    """Tokens/s of a real ``neuript finetune`` on MentalArithmetic, tuned and default allocator."""
    import numpy as np

    raw = SHARED_DATA / "eegmat"
    if not raw.is_dir():
        return {"skipped": f"{raw} is missing"}
    from eegcorpus.build import build

    root = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    build("mental_arithmetic", raw, root / "store", subjects=list(range(1, subjects + 1)), progress=False)
    n_val = max(1, subjects // 4)
    split = root / "split.json"
    split.write_text(json.dumps({"train": list(range(1, subjects - n_val + 1)), "val": list(range(subjects - n_val + 1, subjects + 1)), "test": []}))
    out = {}
    for name, env in (("tuned allocator", {}), ("glibc default", {"NEURIPT_ALLOCATOR": "default"})):
        run = root / name.replace(" ", "_")
        environment = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"} | env
        cmd = [
            sys.executable,
            "-m",
            "neuript",
            "finetune",
            "--task",
            "mental_arithmetic",
            "--store",
            str(root / "store"),
            "--split",
            str(split),
            "--seeds",
            "1",
            "--epochs",
            str(epochs),
            "--freeze-epochs",
            "0",
            "--no-baselines",
            "--device",
            "cpu",
            "--no-progress",
            "--out",
            str(run),
        ]
        import subprocess

        subprocess.run(cmd, env=environment, check=True, capture_output=True)
        history = [json.loads(line) for line in (run / "seed520" / "fold0" / "history.jsonl").read_text().splitlines()]
        result = json.loads((run / "result.json").read_text())
        n_train = result["windows"]["per_fold_sum"]["train"]
        crop_s = json.loads((run / "settings.json").read_text()).get("crop_s")
        samples = round(crop_s * 64) if crop_s else 320  # the recipe trains on one crop per window and epoch
        tokens = n_train * 19 * samples
        seconds = [h["seconds"] for h in history]
        out[name] = {
            "epoch_s": seconds,
            "tokens_per_s": float(np.median([tokens / s for s in seconds])),
            "windows_per_s": float(np.median([n_train / s for s in seconds])),
            "train_windows": n_train,
            "crop_samples": samples,
        }
    return out


def report(config_name: str, args, batch: dict, results: dict, gpu: dict | None, real: dict | None = None, shaped: dict | None = None) -> str:
    b, c, t = batch["x"].shape
    lines = [
        "## NeurIPT step time (`bench/model.py`)",
        "",
        f"`{config_name}` config, batch {b} x {c} bipolar channels x {t} samples ({args.window_s:g}-s windows at "
        f"64 Hz, real EEGMMIDB windows), CPU ({machine()}, {torch.get_num_threads()} torch threads), float32, median "
        f"of {args.steps} steps per contender, interleaved. `dense` replaces each Progressive MoE layer by a SwiGLU "
        f"with the same activated parameters ({results['activated']['dense']:,} vs "
        f"{results['activated']['pmoe']:,} activated).",
        "",
        "| step | PMoE s/step | PMoE tokens/s | dense s/step | dense tokens/s | PMoE / dense (target <= 1.5x) | GFLOP/step (PMoE) |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, row in results["kinds"].items():
        p, d = row["pmoe"], row["dense"]
        lines.append(
            f"| {kind} | {p['step_s']:.3f} | {p['tokens_per_s']:,.0f} | {d['step_s']:.3f} | {d['tokens_per_s']:,.0f} "
            f"| {row['ratio_pmoe_vs_dense']:.2f}x | {p['gflop']:.1f} |"
        )
    lines.append("")
    if real and "skipped" not in real:
        tuned, default = real["tuned allocator"], real["glibc default"]
        lines += [
            "Fine-tuning as run: `neuript finetune` with its default recipe on MentalArithmetic subjects 1-8 (5-s windows of "
            f"19 channels; each epoch trains on one {tuned['crop_samples']}-sample crop per window, batch 16, and scores the "
            f"validation windows whole; {tuned['train_windows']} training windows). Tokens/s counts trained tokens over the "
            "epoch's wall time, validation included:",
            "",
            "| | epoch wall time (s) | training windows/s | tokens/s (median epoch) |",
            "|---|---|---|---|",
            f"| `neuript finetune`, tuned allocator (the command line's) | {', '.join(f'{s:.0f}' for s in tuned['epoch_s'])} "
            f"| {tuned['windows_per_s']:.1f} | {tuned['tokens_per_s']:,.0f} |",
            f"| `neuript finetune`, glibc default allocator | {', '.join(f'{s:.0f}' for s in default['epoch_s'])} "
            f"| {default['windows_per_s']:.1f} | {default['tokens_per_s']:,.0f} |",
        ]
        if shaped:
            lines.append(
                f"| isolated fine-tuning step on whole 5-s windows (19 x 320, batch 16; this script, in-process) | - "
                f"| {16 / shaped['step_s']:.1f} | {shaped['tokens_per_s']:,.0f} |"
            )
        lines += ["", f"Tuned / default allocator: {tuned['tokens_per_s'] / default['tokens_per_s']:.2f}x.", ""]
    elif real:
        lines += [f"Fine-tuning as run: not measured ({real['skipped']}).", ""]
    if gpu is None:
        lines.append("`base` on a GPU (bf16 throughput, model FLOP utilisation): not measured, no GPU on this machine.")
    else:
        mfu = "unknown peak" if gpu["mfu"] is None else f"{100 * gpu['mfu']:.1f} %"
        lines.append(
            f"`base` pretraining on {gpu['device']} in bf16, batch {gpu['batch_size']}: {gpu['step_s']:.3f} s/step, "
            f"{gpu['tokens_per_s']:,.0f} tokens/s, {gpu['tflops_per_s']:.1f} TFLOP/s, MFU {mfu} "
            f"(peak {gpu['peak_tflops']} TFLOP/s)."
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="slim")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--window-s", type=float, default=4.0)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--kinds", default="pretrain,finetune,inference")
    parser.add_argument("--store", type=Path, default=None, help="An EEGMMIDB store built with the neuript profile.")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--gpu-batch-size", type=int, default=32)
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-finetune-run", dest="finetune_run", action="store_false")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch_size, args.window_s, args.steps = 4, 1.0, 3
    torch.set_num_threads(args.threads)

    batch = real_batch(args.store, args.batch_size, args.window_s)
    results = compare(get_config(args.config), batch, torch.device("cpu"), args.kinds.split(","), args.steps)
    gpu = None if args.quick else gpu_utilisation(args.gpu_batch_size, 4.0, args.steps, args.store, args.peak_tflops)
    real = shaped = None
    if args.finetune_run and not args.quick:
        real = finetune_run()
        shaped = finetune_step_at_task_shape(args.config, args.steps)
    if not args.quick:
        text = report(args.config, args, batch, results, gpu, real, shaped)
        print(text)
        update_section("model", text)
    first = results["kinds"][next(iter(results["kinds"]))]
    summary = {
        "config": args.config,
        "step_s": first["pmoe"]["step_s"],
        "tokens_per_s": first["pmoe"]["tokens_per_s"],
        "ratio_pmoe_vs_dense": {k: round(v["ratio_pmoe_vs_dense"], 3) for k, v in results["kinds"].items()},
        "gpu": gpu,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
