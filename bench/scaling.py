"""Scaling measurements behind docs/scaling.md: cluster build, store size, loader, model FLOPs.

Measured on this machine:

* **build through a dask.distributed cluster**: a scheduler and two single-threaded workers
  started as separate processes on 127.0.0.1 (``dask scheduler``/``dask worker``), against the
  local ``processes`` scheduler with two workers, on the real EEGMMIDB S001 runs 3-14 and the
  MentalArithmetic files hard-linked ``--copies`` times under new subject numbers (the corpus of
  ``bench/build.py``). Each contender first builds one file (imports on the workers), then the
  timed build runs into a fresh store; contenders alternate for ``--rounds`` rounds; medians.
  Throughput is given in input samples (channels x samples of the raw files) per second, the
  unit that carries over to datasets with other channel counts and rates;
* **store size**: bytes on disk per stored channel-hour at 64 Hz (NeurIPT profile);
* **loader**: ``WindowStream`` (4-s windows, double banana, A-law, batches of 64, no
  DataLoader workers: one process, one core) over the EEGMMIDB store built above, whole passes
  for at least ``--loader-seconds``; tokens/s with NeurIPT's point tokens (one sample of one
  channel);
* **model FLOPs** of one ``base`` pretraining step (forward and backward, ``torch.utils.
  flop_counter``) on real 4-s windows, per window and per token.

From these and the catalog's 14 pretraining cards (hours, channels, sampling rates) it estimates
the full build, the full store, and the tokens/s a GPU needs. No GPU was measured: the GPU side
assumes a model FLOP utilisation (``--mfu``) of the dense bf16 peak (``--peak-tflops``, an H100
SXM by default) and is written as an estimate. Rewrites the marked section of docs/scaling.md;
``--quick`` (one copy, one round, a short loader run) prints JSON only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import SHARED_DATA, machine
from build import _replicate

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "docs" / "scaling.md"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A dask scheduler and ``n`` single-threaded workers, each its own process group."""

    def __init__(self, n_workers: int, workdir: Path):
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.procs = []
        python = [sys.executable, "-m"]
        self._start(python + ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"])
        for i in range(n_workers):
            self._start(
                python
                + [
                    "distributed.cli.dask_worker",
                    self.address,
                    "--nthreads",
                    "1",
                    "--nworkers",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                    "--name",
                    f"w{i}",
                    "--local-directory",
                    str(workdir / f"w{i}"),
                ]
            )
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(n_workers, timeout=120)
            # Every worker imports the build code now, as the local pool's forkserver does once,
            # so that no worker pays for it inside the timed build.
            client.run(__import__, "eegcorpus._forkserver_preload")

    def _start(self, cmd):
        self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))

    def close(self):
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _build_all(raws, out: Path, scheduler: str, workers: int | None) -> float:
    from eegcorpus.build import build

    hours = 0.0
    for dataset, raw in raws:
        result = build(dataset, raw, out / dataset, scheduler=scheduler, workers=workers, progress=False)
        if result.n_failed:
            raise SystemExit(f"build failed: {result.failed}")
        hours += result.hours
    return hours


def timed_build(kind: str, raws, files: list[str], tmp: Path, n_workers: int) -> dict:
    """Warm up on one file per worker, then time the whole corpus into a fresh store."""
    warm_raw = tmp / "warm_raw"
    for name in files[:n_workers]:
        first = Path(name)
        (warm_raw / first.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(first, warm_raw / first.parent.name / first.name)
    cluster = Cluster(n_workers, tmp) if kind == "cluster" else None
    try:
        scheduler = cluster.address if cluster else "processes"
        _build_all([(raws[0][0], str(warm_raw))], tmp / "warm", scheduler, n_workers)
        start = time.perf_counter()
        hours = _build_all(raws, tmp / "run", scheduler, n_workers)
        wall = time.perf_counter() - start
    finally:
        if cluster:
            cluster.close()
    return {"wall_s": wall, "hours": hours}


def input_samples(files: list[str]) -> int:
    from eegcorpus import read_recording

    return sum(int(read_recording(f).data.size) for f in files)


def store_bytes_per_channel_hour(stores: list[Path]) -> dict:
    from eegcorpus.store import open_store

    stored = float32 = channel_hours = 0.0
    for path in stores:
        index = open_store(path).index
        channel_hours += float((index["n_channels"] * index["duration_s"]).sum()) / 3600
        float32 += float((index["n_channels"] * index["n_samples"] * 4).sum())
        stored += sum(p.stat().st_size for p in (path / "recordings").rglob("*") if p.is_file())
    return {"bytes_per_channel_hour": stored / channel_hours, "ratio_vs_float32": stored / float32}


def loader_rate(store: Path, seconds: float) -> dict:
    from eegcorpus.loader import WindowSpec, WindowStream

    stream = WindowStream(str(store), WindowSpec(4.0), montage="neuript", a_law=True, seed=0, batch_size=64)
    shape = None
    for batch in stream:  # untimed pass: opens the recordings, warms the page cache
        shape = tuple(batch["x"].shape[1:])
    windows, epoch, start = 0, 1, time.perf_counter()
    while time.perf_counter() - start < seconds:
        stream.set_epoch(epoch)
        for batch in stream:
            windows += int(batch["x"].shape[0])
        epoch += 1
    elapsed = time.perf_counter() - start
    return {"windows_per_s": windows / elapsed, "window_shape": shape, "tokens_per_s": windows / elapsed * shape[0] * shape[1]}


def model_flops(store: Path, batch_size: int = 1) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from eegcorpus.loader import WindowSpec, WindowStream
    from neuript.model import NeurIPT

    stream = WindowStream(str(store), WindowSpec(4.0), montage="neuript", a_law=True, seed=0, batch_size=batch_size)
    batch = next(iter(stream))
    torch.manual_seed(0)
    model = NeurIPT("base")
    counts = model.parameter_counts()
    with FlopCounterMode(display=False) as counter:
        result = model.pretrain_step(batch["x"], batch["pos"], batch["ch_mask"], generator=torch.Generator().manual_seed(0))
        result.loss.backward()
    flops = counter.get_total_flops()
    tokens = batch["x"].numel()
    return {
        "flops_per_window": flops / batch_size,
        "flops_per_token": flops / tokens,
        "tokens_per_window": tokens // batch_size,
        "params_activated": counts["params_activated"],
        "params_decoder": counts["params_decoder"],
    }


def corpus_from_catalog() -> dict:
    """Hours, channel-hours and raw samples of the 14 pretraining datasets (catalog cards; the
    highest listed rate and channel count where a card lists several)."""
    from eegcorpus.catalog import load_catalog

    hours = channel_hours = samples = 0.0
    edf_share = 0.0
    for card in load_catalog().values():
        data = card.model_dump()
        if data["role"] != "pretrain" or not (data["hours"] and data["n_channels"] and data["sfreq"]):
            continue
        rate = max(data["sfreq"]) if isinstance(data["sfreq"], list) else data["sfreq"]
        channels = max(data["n_channels"]) if isinstance(data["n_channels"], list) else data["n_channels"]
        hours += data["hours"]
        channel_hours += data["hours"] * channels
        samples += data["hours"] * 3600 * channels * rate
        if data["formats"] == ["edf"]:
            edf_share += data["hours"] * 3600 * channels * rate
    return {"hours": hours, "channel_hours": channel_hours, "input_samples": samples, "edf_sample_share": edf_share / samples}


def estimates(m: dict, args) -> dict:
    corpus = m["corpus"]
    cluster = m["build"]["cluster"]
    # CPU-seconds per input sample, from the cluster run (each worker one core, one thread).
    core_s_per_sample = cluster["wall_s"] * args.workers / m["build"]["input_samples"]
    core_hours = corpus["input_samples"] * core_s_per_sample / 3600
    store_gb = corpus["channel_hours"] * m["store"]["bytes_per_channel_hour"] / 1e9
    gpu_tokens = {mfu: args.peak_tflops * 1e12 * mfu / m["model"]["flops_per_token"] for mfu in args.mfu}
    return {
        "build_core_hours": core_hours,
        "build_hours_by_workers": {n: core_hours / n for n in (2, 16, 64, 256)},
        "store_gb": store_gb,
        "float32_gb": corpus["channel_hours"] * 3600 * 64 * 4 / 1e9,
        "gpu_tokens_per_s": gpu_tokens,
        "loader_cores_per_gpu": {mfu: t / m["loader"]["tokens_per_s"] for mfu, t in gpu_tokens.items()},
    }


def markdown(m: dict, e: dict, args) -> str:
    b, corpus, model, loader = m["build"], m["corpus"], m["model"], m["loader"]
    proc, clus = b["processes"], b["cluster"]
    rate = lambda run: b["input_samples"] / run["wall_s"] / 1e6  # noqa: E731
    lines = [
        "## Measured (`bench/scaling.py`)",
        "",
        f"{machine()}, 1-minute load average {m['load'][0]:.1f} before and {m['load'][1]:.1f} after (the cores are shared); "
        f"{args.rounds} round(s), medians. Corpus: {b['files']} EDF files, {b['hours']:.2f} h, "
        f"{b['input_samples'] / 1e9:.2f} G input samples (EEGMMIDB S001 runs 3-14 and MentalArithmetic, "
        f"{args.copies} hard-linked copies each), NeurIPT profile.",
        "",
        "| build | workers | wall (steady state) | recording-hours / hour | input samples / s | per worker |",
        "|---|---|---|---|---|---|",
        f"| local `processes` scheduler | {args.workers} | {proc['wall_s']:.2f} s | {b['hours'] * 3600 / proc['wall_s']:,.0f} | "
        f"{rate(proc):.1f} M | {rate(proc) / args.workers:.1f} M |",
        f"| dask.distributed: scheduler + {args.workers} worker processes (tcp://127.0.0.1) | {args.workers} | {clus['wall_s']:.2f} s | "
        f"{b['hours'] * 3600 / clus['wall_s']:,.0f} | {rate(clus):.1f} M | {rate(clus) / args.workers:.1f} M |",
        "",
        f"- Store: **{m['store']['bytes_per_channel_hour'] / 1e6:.2f} MB per stored channel-hour** at 64 Hz ({m['store']['ratio_vs_float32']:.2f}x float32).",
        f"- Loader (`WindowStream`, batches of 64, one process): **{loader['windows_per_s']:,.0f} windows/s** of "
        f"{loader['window_shape'][0]} x {loader['window_shape'][1]}, **{loader['tokens_per_s'] / 1e6:.1f} M tokens/s per core**.",
        f"- `base` pretraining step (forward + backward, AAMP decoder included): **{model['flops_per_window'] / 1e9:.0f} GFLOP per "
        f"4-s window**, {model['flops_per_token'] / 1e6:.2f} MFLOP per token ({model['tokens_per_window']} tokens per window; "
        f"{model['params_activated'] / 1e6:.1f} M activated encoder parameters + {model['params_decoder'] / 1e6:.1f} M decoder).",
        "",
        "## Estimated for the paper's corpus",
        "",
        f"The 14 pretraining cards: {corpus['hours']:,.0f} h, {corpus['channel_hours']:,.0f} channel-hours, "
        f"{corpus['input_samples'] / 1e9:.1f} G input samples ({corpus['edf_sample_share'] * 100:.0f} % of them in EDF, the format measured).",
        "",
        f"- Build: {e['build_core_hours']:.1f} worker-hours at the measured cluster rate; wall time "
        + ", ".join(f"{h:.2f} h on {n}" for n, h in e["build_hours_by_workers"].items())
        + " workers (one core each), if the raw files reach the workers as fast as a local disk.",
        f"- Store: about **{e['store_gb']:.0f} GB** (float32 would be {e['float32_gb']:.0f} GB).",
        f"- GPU demand (estimate, not measured): at {args.peak_tflops:.0f} TFLOP/s dense bf16 peak, "
        + "; ".join(
            f"{mfu * 100:.0f} % utilisation needs {t / 1e6:.2f} M tokens/s per GPU ({t * 8 / 1e6:.1f} M for 8), "
            f"{e['loader_cores_per_gpu'][mfu]:.3f} loader cores per GPU ({8 * e['loader_cores_per_gpu'][mfu]:.2f} for 8)"
            for mfu, t in e["gpu_tokens_per_s"].items()
        )
        + ".",
    ]
    return "\n".join(lines)


def update_report(body: str) -> None:
    start, end = "<!-- scaling:measured:start -->", "<!-- scaling:measured:end -->"
    text = REPORT.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{REPORT} has no {start} ... {end} section")
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    REPORT.write_text(f"{before}{start}\n{body.strip()}\n{end}{after}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--loader-seconds", type=float, default=5.0)
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the GPU (H100 SXM: 989)")
    parser.add_argument("--mfu", type=float, nargs="+", default=[0.2, 0.4], help="assumed model FLOP utilisations")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.copies, args.rounds, args.loader_seconds = 1, 1, 1.0

    sets = [("eegmmidb", SHARED_DATA / "eegmmidb"), ("mental_arithmetic", SHARED_DATA / "eegmat")]
    load_before = os.getloadavg()[0]
    corpus_dir = Path(tempfile.mkdtemp(prefix="eegcorpus-scaling-"))
    try:
        files, raws = [], []
        for dataset, folder in sets:
            if not folder.is_dir():
                sys.exit(f"missing real data: {folder}")
            files += _replicate(dataset, folder, corpus_dir / dataset, args.copies)
            raws.append((dataset, str(corpus_dir / dataset)))
        runs: dict[str, list[dict]] = {"processes": [], "cluster": []}
        kinds = list(runs)
        store_dir = None
        for r in range(args.rounds):
            for kind in kinds[r % 2 :] + kinds[: r % 2]:
                tmp = Path(tempfile.mkdtemp(prefix=f"scaling-{kind}-"))
                runs[kind].append(timed_build(kind, raws, files, tmp, args.workers))
                print(kind, runs[kind][-1], file=sys.stderr)
                if store_dir is None:
                    store_dir = tmp
                else:
                    shutil.rmtree(tmp, ignore_errors=True)
        stores = [store_dir / "run" / d for d, _ in raws]
        measured = {
            "build": {
                "files": len(files),
                "hours": runs["cluster"][0]["hours"],
                "input_samples": input_samples(files),
                **{k: {"wall_s": statistics.median(x["wall_s"] for x in v)} for k, v in runs.items()},
            },
            "store": store_bytes_per_channel_hour(stores),
            "loader": loader_rate(stores[0], args.loader_seconds),
            "model": model_flops(stores[0]),
            "corpus": corpus_from_catalog(),
            "load": [load_before, os.getloadavg()[0]],
        }
        shutil.rmtree(store_dir, ignore_errors=True)
    finally:
        shutil.rmtree(corpus_dir, ignore_errors=True)
    est = estimates(measured, args)
    if not args.quick:
        update_report(markdown(measured, est, args))
    print(json.dumps({"measured": measured, "estimates": est}, default=str))


if __name__ == "__main__":
    main()
