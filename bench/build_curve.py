"""How the cost of a build grows with the job: 1, 10, 100 and 1,000 recordings, whole processes.

What a user meets: each contender is one command run from nothing (interpreter start, imports,
worker processes, the work, the exit), measured from outside by ``bench/_measure.py`` with the
CPU time of every process it started (worker processes included) and the peak memory of its
whole process tree:

* baseline: ``python bench/mne_loop.py`` (LaBraM's MNE + h5py loop, one process);
* ours: ``eegcorpus build eegmmidb --profile neuript`` into a fresh store, with the default
  ``--scheduler auto``; at the smaller sizes also with threads and processes forced, the
  measurement behind the size from which ``auto`` starts worker processes.

The recordings are the real EEGMMIDB files of ``../shared/data`` (S001-S007, 48 runs of about
two minutes, 64 channels at 160 Hz), hard-linked under new subject numbers up to the size
needed: every copy is read and processed in full by both. Rounds rotate the contenders' order;
medians are reported. Writes its section of ``docs/benchmarks.md`` and a plot,
``docs/img/build_cost_curve.svg``.

Run with ``python bench/build.py --curve`` (``make bench`` does).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _report import REPO, SHARED_DATA, machine, median, update_section

HERE = Path(__file__).resolve().parent
EEGCORPUS = Path(sys.executable).parent / "eegcorpus"
#: Recordings per size, and rounds at that size (the largest takes minutes per contender).
SIZES = {1: 5, 10: 3, 100: 3, 1000: 1}
#: Sizes at which threads and processes are also measured, forced.
SCHEDULER_SIZES = (1, 10, 100)
PLOT = REPO / "docs" / "img" / "build_cost_curve.svg"


def _sources() -> list[Path]:
    files = sorted((SHARED_DATA / "eegmmidb").glob("S00[1-7]/S00[1-7]R*.edf"))
    if not files:
        sys.exit(f"missing real data: {SHARED_DATA / 'eegmmidb'} (subjects S001-S007)")
    return files


def make_corpus(sources: list[Path], n: int, target: Path) -> list[Path]:
    """``n`` recordings in EEGMMIDB's layout: the real files, then copies of them under new
    subject numbers (hard links where the file system allows)."""
    subjects = sorted({p.parent.name for p in sources})
    out = []
    copy = 0
    while len(out) < n:
        for src in sources:
            if len(out) == n:
                break
            number = copy * len(subjects) + subjects.index(src.parent.name) + 1
            subject = f"S{number:03d}"
            dst = target / subject / src.name.replace(src.parent.name, subject)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copy(src, dst)
            out.append(dst)
        copy += 1
    return out


def _hours(files: list[Path]) -> float:
    """Hours of EEG in the files, from their EDF headers (records x record duration)."""
    from eegcorpus.readers.edf import read_edf_header

    return sum(h.n_records * h.record_duration for h in map(read_edf_header, files)) / 3600


def _command(kind: str, raw: Path, out: Path) -> list[str]:
    if kind == "baseline":
        return [sys.executable, str(HERE / "mne_loop.py"), str(out / "baseline.h5"), str(raw)]
    scheduler = kind.removeprefix("ours-")
    return [str(EEGCORPUS), "-q", "build", "eegmmidb", "--raw", str(raw), "--out", str(out / "store"), "--no-progress", "--scheduler", scheduler]


def measure(kind: str, raw: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="eegcorpus-curve-out-") as tmp:
        done = subprocess.run([sys.executable, str(HERE / "_measure.py"), "--", *_command(kind, raw, Path(tmp))], capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["returncode"] != 0:
        raise SystemExit(f"{kind} failed:\n{result['stderr']}")
    return result


def run_curve(sizes: dict[int, int]) -> dict:
    sources = _sources()
    results: dict[int, dict] = {}
    for n, rounds in sizes.items():
        with tempfile.TemporaryDirectory(prefix="eegcorpus-curve-raw-") as tmp:
            files = make_corpus(sources, n, Path(tmp))
            kinds = ["baseline", "ours-auto"] + (["ours-threads", "ours-processes"] if n in SCHEDULER_SIZES else [])
            runs: dict[str, list[dict]] = {k: [] for k in kinds}
            for r in range(rounds):
                for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
                    runs[kind].append(measure(kind, Path(tmp)))
            results[n] = {
                "hours": _hours(files),
                "rounds": rounds,
                **{kind: {key: median([run[key] for run in rs]) for key in ("wall_s", "cpu_s", "peak_pss_mb")} for kind, rs in runs.items()},
            }
            print(json.dumps({"recordings": n, **results[n]}), flush=True)
    return results


def _plot(results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    for kind, label, style in (("baseline", "MNE + h5py loop", "o--"), ("ours-auto", "eegcorpus build", "s-")):
        left.loglog(sizes, [results[n][kind]["wall_s"] for n in sizes], style, label=label)
        right.semilogx(sizes, [results[n]["hours"] / (results[n][kind]["cpu_s"] / 3600) for n in sizes], style, label=label)
    left.set(xlabel="recordings", ylabel="wall time (s)", title="Wall time, whole process")
    right.set(xlabel="recordings", ylabel="recording-hours per core-hour", title="CPU efficiency")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    left.legend()
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, metadata={"Date": None})


def report(results: dict) -> str:
    sizes = sorted(results)
    rows = []

    def per_core_hour(figures: dict, hours: float) -> float:
        return hours / (figures["cpu_s"] / 3600)

    for n in sizes:
        r, hours = results[n], results[n]["hours"]
        b, o = r["baseline"], r["ours-auto"]
        rows.append(
            f"| {n:,} | {hours:.2f} h | {b['wall_s']:.2f} s | {o['wall_s']:.2f} s | **{b['wall_s'] / o['wall_s']:.2f}x** "
            f"| {b['cpu_s']:.1f} s | {o['cpu_s']:.1f} s | {per_core_hour(b, hours):.0f} | {per_core_hour(o, hours):.0f} | {per_core_hour(o, hours) / per_core_hour(b, hours):.2f}x "
            f"| {b['peak_pss_mb']:.0f} MB | {o['peak_pss_mb']:.0f} MB |"
        )
    big, small = sizes[-1], sizes[-2]

    def marginal(kind, seconds):  # recording-hours per hour between the two largest sizes: start-up cancels out
        return (results[big]["hours"] - results[small]["hours"]) / ((results[big][kind][seconds] - results[small][kind][seconds]) / 3600)

    scheduler_rows = []
    for n in sizes:
        if "ours-threads" in results[n]:
            t, p = results[n]["ours-threads"], results[n]["ours-processes"]
            scheduler_rows.append(
                f"| {n:,} | {t['wall_s']:.2f} s | {p['wall_s']:.2f} s | {t['cpu_s']:.1f} s | {p['cpu_s']:.1f} s | {t['peak_pss_mb']:.0f} MB | {p['peak_pss_mb']:.0f} MB |"
            )
    steady = {k: marginal(k, "cpu_s") for k in ("baseline", "ours-auto")}
    steady_wall = {k: marginal(k, "wall_s") for k in ("baseline", "ours-auto")}
    return f"""## Build cost curve (`bench/build.py --curve`)

Whole processes from nothing, as a user runs them: the interpreter's start, imports, worker
processes, the work and the exit. CPU time includes every process a command started (worker
processes too); memory is the peak of the summed PSS of its process tree (`bench/_measure.py`).
Real EEGMMIDB runs (S001-S007, 64 channels at 160 Hz, about 2 min each), hard-linked under new
subject numbers up to each size. Baseline: LaBraM's MNE + h5py loop (`bench/mne_loop.py`), one
process. Ours: `eegcorpus build eegmmidb --profile neuript` with the default `--scheduler auto`
(threads below {_processes_from()} recordings, worker processes from there). Median of
{", ".join(f"{results[n]['rounds']}" for n in sizes)} rounds at {", ".join(f"{n:,}" for n in sizes)} recordings, rotating the order;
{machine()}.

| recordings | EEG | wall, MNE loop | wall, ours | speed-up | CPU, MNE loop | CPU, ours | rec-h per core-h, MNE loop | ours | ratio | peak memory, MNE loop | ours |
|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

![Build wall time and CPU efficiency against the number of recordings](img/build_cost_curve.svg)

Steady state (the marginal cost between {small:,} and {big:,} recordings, where start-up cancels
out): {steady["ours-auto"]:.0f} recording-hours per core-hour for ours against
{steady["baseline"]:.0f} for the MNE loop (**{steady["ours-auto"] / steady["baseline"]:.2f}x**), and
{steady_wall["ours-auto"]:.0f} against {steady_wall["baseline"]:.0f} recording-hours per hour of wall time
({steady_wall["ours-auto"] / steady_wall["baseline"]:.2f}x).

Threads or worker processes (forced), the measurement behind `auto`'s threshold:

| recordings | wall, threads | wall, processes | CPU, threads | CPU, processes | memory, threads | memory, processes |
|---|---|---|---|---|---|---|
{chr(10).join(scheduler_rows)}
"""


def _processes_from() -> int:
    sys.path.insert(0, str(REPO))
    from eegcorpus.build import PROCESSES_FROM

    return PROCESSES_FROM


def main(sizes: dict[int, int] | None = None, write: bool = True) -> dict:
    results = run_curve(sizes or SIZES)
    if write:
        update_section("build-curve", report(results))
        _plot(results)
    return results
