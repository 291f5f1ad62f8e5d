"""Build throughput: ``eegcorpus build`` against a LaBraM-style MNE + h5py pipeline.

Both turn the same real EDF files (EEGMMIDB S001 runs 3-14 and the MentalArithmetic files) into
0.1-30 Hz band-passed, line-notched, 64 Hz microvolt signals on disk:

* baseline (what LaBraM's ``dataset_maker`` does, one process): ``mne.io.read_raw_edf(preload=True)``,
  ``raw.filter``, ``raw.notch_filter``, ``raw.resample``, ``raw.get_data(units="uV")`` written to
  one HDF5 file, a float32 dataset per recording with chunks of (channels, sfreq) as LaBraM does;
* ours: ``eegcorpus build`` with the ``neuript`` profile and the local threaded scheduler on all
  cores, into a fresh store.

Each contender runs in its own subprocess, alternating, several rounds, so CPU time and peak
memory (getrusage of that child) belong to it alone. Reported as medians and ratios in
``docs/benchmarks.md``. ``--quick`` (EEGMMIDB only, one round, no report) prints one JSON line
last with ``speedup_wall``, ``speedup_cpu`` and ``bytes_ratio_vs_float32``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import SHARED_DATA, machine, median, update_section


def _folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_baseline(files: list[str], out: Path) -> dict:
    from mne_loop import run

    return run(files, out / "baseline.h5")


def run_ours(raws: list[tuple[str, str]], out: Path, scheduler: str = "threads") -> dict:
    from eegcorpus.build import build

    hours, float32_bytes = 0.0, 0
    for dataset, raw in raws:
        result = build(dataset, raw, out / dataset, profile="neuript", scheduler=scheduler, progress=False)
        if result.n_failed:
            raise SystemExit(f"build failed: {result.failed}")
        hours += result.hours
    from eegcorpus.store import open_store

    for dataset, _ in raws:
        index = open_store(out / dataset).index
        float32_bytes += int((index["n_channels"] * index["n_samples"] * 4).sum())
    stored = sum(_folder_bytes(out / d / "recordings") for d, _ in raws)
    return {"hours": hours, "bytes": stored, "float32_bytes": float32_bytes}


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def child(args) -> None:
    """Run one contender in this (fresh) process and print its measurements as JSON.

    First a warm-up on one file (imports, FFT plans, thread pools: the fixed start-up cost),
    then the timed run on all files into a fresh output. ``startup_*`` is the warm-up,
    ``wall_s``/``cpu_s`` the run: steady-state throughput.
    """
    out = Path(args.out)
    files, raws = json.loads(args.files), [tuple(x) for x in json.loads(args.raws)]
    start, cpu0 = time.perf_counter(), _cpu()
    (out / "warmup").mkdir()
    if args.child == "baseline":
        run_baseline(files[:1], out / "warmup")
    else:
        first = Path(files[0])
        (out / "warmup_raw" / first.parent.name).mkdir(parents=True)
        shutil.copy(first, out / "warmup_raw" / first.parent.name / first.name)
        run_ours([(raws[0][0], str(out / "warmup_raw"))], out / "warmup", args.child.removeprefix("ours-"))
    warm, cpu1 = time.perf_counter(), _cpu()
    (out / "run").mkdir()
    if args.child == "baseline":
        result = run_baseline(files, out / "run")
    else:
        result = run_ours(raws, out / "run", args.child.removeprefix("ours-"))
    end, cpu2 = time.perf_counter(), _cpu()
    result.update(
        startup_wall_s=warm - start,
        startup_cpu_s=cpu1 - cpu0,
        wall_s=end - warm,
        cpu_s=cpu2 - cpu1,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    print(json.dumps(result))


def _replicate(dataset: str, folder: Path, target: Path, copies: int) -> list[str]:
    """Hard links to the real files, ``copies`` times under new subject numbers, in the
    dataset's layout. Every copy is read and processed in full by both contenders."""
    out = []
    if dataset == "eegmmidb":
        sources = sorted(folder.glob("S001/S001R*.edf"))
        for k in range(copies):
            subject = f"S{k + 1:03d}"
            (target / subject).mkdir(parents=True, exist_ok=True)
            for src in sources:
                dst = target / subject / src.name.replace("S001", subject)
                os.link(src, dst) if src.stat().st_dev == target.stat().st_dev else shutil.copy(src, dst)
                out.append(str(dst))
    else:
        # Subject00-11: the corpus the published figures were measured on (the folder holds more).
        sources = sorted(p for p in folder.glob("Subject*_*.edf") if int(p.name[7:9]) < 12)
        target.mkdir(parents=True, exist_ok=True)
        n_subjects = len({s.name[:9] for s in sources})
        for k in range(copies):
            for src in sources:
                number = int(src.name[7:9]) + k * n_subjects
                dst = target / f"Subject{number:02d}_{src.name[-5]}.edf"
                os.link(src, dst) if src.stat().st_dev == target.stat().st_dev else shutil.copy(src, dst)
                out.append(str(dst))
    return out


def spawn(kind: str, out: Path, files, raws) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--out", str(out), "--files", json.dumps(files), "--raws", json.dumps(raws)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--copies", type=int, default=3, help="replicate the real files N times (a corpus large enough to amortise start-up)")
    parser.add_argument("--curve", action="store_true", help="the cost curve at 1-1,000 recordings, whole processes (bench/build_curve.py)")
    parser.add_argument("--sizes", help="with --curve: SIZE:ROUNDS,... instead of 1:5,10:3,100:3,1000:1")
    parser.add_argument("--child", choices=("baseline", "ours-threads", "ours-processes"))
    parser.add_argument("--out")
    parser.add_argument("--files")
    parser.add_argument("--raws")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.curve:
        import build_curve

        sizes = dict(tuple(map(int, item.split(":"))) for item in args.sizes.split(",")) if args.sizes else None
        build_curve.main(sizes, write=args.sizes is None)
        return

    sets = [("eegmmidb", SHARED_DATA / "eegmmidb")]
    if not args.quick:
        sets.append(("mental_arithmetic", SHARED_DATA / "eegmat"))
    copies = 1 if args.quick else args.copies
    corpus = Path(tempfile.mkdtemp(prefix="eegcorpus-bench-"))
    files, raws = [], []
    for dataset, folder in sets:
        if not folder.is_dir():
            sys.exit(f"missing real data: {folder}")
        target = corpus / dataset
        files += _replicate(dataset, folder, target, copies)
        raws.append((dataset, str(target)))
    rounds = 1 if args.quick else args.rounds
    kinds = ("baseline", "ours-threads") if args.quick else ("baseline", "ours-threads", "ours-processes")
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    try:
        for r in range(rounds):
            for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
                with tempfile.TemporaryDirectory() as tmp:
                    runs[kind].append(spawn(kind, Path(tmp), files, raws))
    finally:
        shutil.rmtree(corpus, ignore_errors=True)

    def med(kind, key):
        return median([run[key] for run in runs[kind]])

    # The faster of our two schedulers is the one reported (both are shown).
    best = min((k for k in kinds if k != "baseline"), key=lambda k: med(k, "wall_s"))
    runs["ours"] = runs[best]
    hours = runs["ours"][0]["hours"]
    base_wall, ours_wall = med("baseline", "wall_s"), med("ours", "wall_s")
    # CPU and memory come from the threaded run: forkserver workers are not this process's
    # children, so their CPU time is invisible to it; the per-recording work is the same code.
    base_cpu, ours_cpu = med("baseline", "cpu_s"), med("ours-threads", "cpu_s")
    base_cold = median([r["wall_s"] + r["startup_wall_s"] for r in runs["baseline"]])
    ours_cold = median([r["wall_s"] + r["startup_wall_s"] for r in runs["ours"]])
    threads_wall = med("ours-threads", "wall_s")
    processes_wall = med("ours-processes", "wall_s") if "ours-processes" in runs else None
    float32 = runs["ours"][0]["float32_bytes"]
    summary = {
        "files": len(files),
        "hours": round(hours, 3),
        "baseline_wall_s": round(base_wall, 2),
        "ours_wall_s": round(ours_wall, 2),
        "speedup_wall": round(base_wall / ours_wall, 2),
        "baseline_cpu_s": round(base_cpu, 2),
        "ours_cpu_s": round(ours_cpu, 2),
        "speedup_cpu": round(base_cpu / ours_cpu, 2),
        "speedup_wall_with_startup": round(base_cold / ours_cold, 2),
        "baseline_startup_s": round(med("baseline", "startup_wall_s"), 2),
        "ours_startup_s": round(med("ours", "startup_wall_s"), 2),
        "baseline_peak_rss_mb": round(med("baseline", "peak_rss_mb")),
        "ours_peak_rss_mb": round(med("ours-threads", "peak_rss_mb")),
        "ours_bytes": runs["ours"][0]["bytes"],
        "baseline_bytes": runs["baseline"][0]["bytes"],
        "bytes_ratio_vs_float32": round(runs["ours"][0]["bytes"] / float32, 3),
        "rounds": rounds,
        "cores": os.cpu_count(),
        "copies": copies,
        "scheduler": best.removeprefix("ours-"),
        "speedup_wall_threads": round(base_wall / threads_wall, 2),
        "speedup_wall_processes": round(base_wall / processes_wall, 2) if processes_wall else None,
    }
    if not args.quick:
        per_core_hour = lambda cpu: hours / (cpu / 3600)  # noqa: E731
        update_section(
            "build",
            f"""## Build (`bench/build.py`)

{len(files)} EDF files, {hours:.2f} h: the real EEGMMIDB S001 runs 3-14 and MentalArithmetic
Subject00-11, {copies} copies of each under new subject numbers (hard links: every copy is read
and processed in full), so that start-up is amortised as in a real corpus. NeurIPT processing
(0.1-30 Hz, line notch, 64 Hz, uV). Baseline: LaBraM-style MNE `read_raw_edf(preload=True)` +
`filter` + `notch_filter` + `resample` + h5py float32, one process. Ours:
`eegcorpus build --profile neuript` on {os.cpu_count()} cores, with the threaded scheduler
({base_wall / threads_wall:.2f}x) and with `--scheduler processes`
({(base_wall / processes_wall) if processes_wall else float("nan"):.2f}x); the table shows the faster, {best.removeprefix("ours-")}.
Each run in its own process, rotating the order, median of {rounds} rounds; {machine()}.

| | baseline (MNE + h5py) | eegcorpus build | ratio |
|---|---|---|---|
| throughput (wall, steady state) | {hours / base_wall * 3600:.0f} rec-h/h | {hours / ours_wall * 3600:.0f} rec-h/h | **{base_wall / ours_wall:.2f}x** |
| wall time, steady state | {base_wall:.2f} s | {ours_wall:.2f} s | {base_wall / ours_wall:.2f}x faster |
| CPU time, steady state (threaded run) | {base_cpu:.2f} s | {ours_cpu:.2f} s | **{base_cpu / ours_cpu:.2f}x** less |
| start-up (imports, first file) | {summary["baseline_startup_s"]:.2f} s | {summary["ours_startup_s"]:.2f} s | |
| wall time including start-up | {base_cold:.2f} s | {ours_cold:.2f} s | {base_cold / ours_cold:.2f}x faster |
| recording-hours per core-hour | {per_core_hour(base_cpu):.0f} | {per_core_hour(ours_cpu):.0f} | {base_cpu / ours_cpu:.2f}x |
| cores busy, threaded run (CPU / wall) | {base_cpu / base_wall:.2f} | {ours_cpu / threads_wall:.2f} | |
| peak memory (RSS, threaded run) | {summary["baseline_peak_rss_mb"]} MB | {summary["ours_peak_rss_mb"]} MB | {summary["ours_peak_rss_mb"] / summary["baseline_peak_rss_mb"]:.2f}x |
| bytes on disk | {summary["baseline_bytes"] / 1e6:.1f} MB (float32) | {summary["ours_bytes"] / 1e6:.1f} MB (int16 + blosc-zstd) | **{summary["bytes_ratio_vs_float32"]:.2f}x** of float32 |

Steady state: each process first handles one file (imports, FFT plans, thread pools), then
the timed run processes all files; "including start-up" adds that first step, a fixed cost
that a real corpus (thousands of files) amortises. Our CPU time is the same result with less
work (own EDF parser, filtering at the lowest rate that holds the band, the notch skipped where
the 30 Hz low-pass already removes the line, float32 FFTs, in-memory zarr assembly); the
wall-clock gain adds dask's use of both cores.
""",
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
