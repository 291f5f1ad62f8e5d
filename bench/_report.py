"""Shared helpers for the benchmark scripts: timing, the shared-data path, and the report file.

Each benchmark owns one marked section of ``docs/benchmarks.md`` and rewrites only that section,
so benchmarks can be re-run one at a time.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "docs" / "benchmarks.md"
SHARED_DATA = Path(os.environ.get("EEGCORPUS_SHARED_DATA", REPO.parent / "shared" / "data"))

_HEADER = """# Benchmarks

Produced by the scripts in `bench/`; each script rewrites its own section. Every comparison is
measured in one run on the same files, interleaving the contenders, and is quoted as a ratio of
medians because these machines are noisy. Re-run with `make bench` or `python bench/<name>.py`.
"""


def machine() -> str:
    """One line describing where the numbers were taken."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    """(seconds, result) of one call."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def median(values) -> float:
    return statistics.median(values)


def update_section(name: str, body: str) -> None:
    """Replace (or append) the section marked ``name`` in docs/benchmarks.md."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = REPORT.read_text() if REPORT.exists() else _HEADER
    block = f"{start}\n{body.strip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(text)
