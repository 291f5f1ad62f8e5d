"""Reproduce docs/results.md's MentalArithmetic tables: ``make results`` (or run this file).

Every step is the command a user would type, timed:

1. ``eegcorpus build`` the MentalArithmetic store (every subject in the raw folder; the paper's
   test subjects 33-36 are absent from ../shared/data, so the runs are scored on its
   validation subjects 29-32), a second store of its training subjects 1-28 only (pretraining
   reads them without labels), and the EEGMMIDB store;
2. ``neuript pretrain`` with no option but the stores and the run folder (the CPU recipe);
3. ``neuript finetune --task mental_arithmetic --split paper`` four times: from scratch and from
   the pretraining checkpoint, full fine-tuning and linear probing (the first also scores the
   band-power baseline and EEGNet; the leakage guard checks the pretrained runs);
4. ``neuript report --subjects`` of the four runs into ``WORK/results.md``.

Steps whose output is already there are skipped (stores are resumed builds, pretraining
resumes from its checkpoint, a fine-tuning run with its result.json is kept), so an interrupted
run continues. Wall times go to ``WORK/timings.json``.

Usage: ``python scripts/mental_arithmetic_results.py [--data ../shared/data] [--work out/results] [--seeds 3]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=REPO / "out" / "results")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    bin_dir = Path(sys.executable).parent
    eegcorpus, neuript = shutil.which("eegcorpus", path=str(bin_dir)) or "eegcorpus", shutil.which("neuript", path=str(bin_dir)) or "neuript"
    work, stores, runs = args.work, args.work / "stores", args.work / "runs"
    timings_path = work / "timings.json"
    work.mkdir(parents=True, exist_ok=True)
    timings = json.loads(timings_path.read_text()) if timings_path.exists() else {}

    def step(name: str, cmd: list[str], done: Path | None = None) -> None:
        if done is not None and done.exists():
            print(f"== {name}: done before ({done})", flush=True)
            return
        print(f"== {name}: {' '.join(map(str, cmd))}", flush=True)
        started = time.perf_counter()
        subprocess.run([str(c) for c in cmd], check=True)
        timings[name] = round(time.perf_counter() - started, 1)
        timings_path.write_text(json.dumps(timings, indent=1))

    ma, ma_train, mmidb = stores / "mental_arithmetic", stores / "mental_arithmetic_train", stores / "eegmmidb"
    step("build mental_arithmetic", [eegcorpus, "build", "mental_arithmetic", "--raw", args.data / "eegmat", "--out", ma, "--no-progress"])
    step(
        "build mental_arithmetic training subjects",
        [eegcorpus, "build", "mental_arithmetic", "--raw", args.data / "eegmat", "--out", ma_train, "--subjects", "1-28", "--no-progress"],
    )
    step("build eegmmidb", [eegcorpus, "build", "eegmmidb", "--raw", args.data / "eegmmidb", "--out", mmidb, "--no-progress"])
    pretrain = runs / "pretrain"
    # --resume: an interrupted run continues from its checkpoint, a finished one has nothing to do
    step("pretrain", [neuript, "pretrain", "--store", mmidb, "--store", ma_train, "--out", pretrain, "--resume", "--no-progress"])
    checkpoint = pretrain / "checkpoint.pt"
    finetune = [neuript, "finetune", "--task", "mental_arithmetic", "--store", ma, "--split", "paper", "--seeds", str(args.seeds)]
    rows = {
        "scratch_full": [],
        "scratch_linear": ["--mode", "linear", "--no-baselines"],
        "pretrained_full": ["--init", checkpoint, "--no-baselines"],
        "pretrained_linear": ["--init", checkpoint, "--mode", "linear", "--no-baselines"],
    }
    # The linear rows first: minutes each, and they already answer whether the pretrained
    # features carry more than random ones; the full rows take most of the time.
    for name in ("scratch_linear", "pretrained_linear", "scratch_full", "pretrained_full"):
        step(f"finetune {name}", [*finetune, *rows[name], "--out", runs / name], done=runs / name / "result.json")
    report = subprocess.run([neuript, "report", *(str(runs / name) for name in rows), "--subjects"], check=True, capture_output=True, text=True).stdout
    total = sum(timings.values())
    (work / "results.md").write_text(report + f"\nWall time of every step (s): {json.dumps(timings)}; total {total / 3600:.2f} h.\n")
    print(report)
    print(f"total wall time {total / 3600:.2f} h -> {work / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
