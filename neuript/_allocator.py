"""Keep freed tensor memory in the process on Linux (glibc) instead of returning it to the kernel.

glibc serves allocations above its mmap threshold (at most 32 MB, adjusted as a program runs)
with fresh ``mmap`` pages and unmaps them on free. A training step of the model allocates and
frees activations of tens to hundreds of megabytes, so every step page-faults all of them in
again: measured on 2 cores, a fine-tuning step at batch 16 on 5-s windows spent 1.3-4.7 s of
its 4-6 s in the kernel (300,000-1,100,000 minor faults). With the threshold raised to 1 GiB and
trimming off, the same step takes 3.1-3.5 s with no fault after the first two steps.

The threshold is read once, when the process starts (``GLIBC_TUNABLES``); ``mallopt`` at run
time does not reach the allocations of PyTorch's worker threads. So the command line re-executes
itself once with the setting (:func:`reexec_with_tuned_allocator`); set ``GLIBC_TUNABLES``
yourself (or ``NEURIPT_ALLOCATOR=default``) to keep control. Library users can set it in their
environment the same way (docs/finetune.md).
"""

from __future__ import annotations

import os
import sys

TUNABLES = "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296"


def reexec_with_tuned_allocator(module: str) -> None:
    """Re-run this process as ``python -m module ARGS`` with :data:`TUNABLES`, once.

    Does nothing off Linux, when ``GLIBC_TUNABLES`` is already set (by the user, or by the
    re-executed process itself) or when ``NEURIPT_ALLOCATOR=default``.
    """
    if not sys.platform.startswith("linux") or "GLIBC_TUNABLES" in os.environ:
        return
    if os.environ.get("NEURIPT_ALLOCATOR") == "default":
        return
    env = {**os.environ, "GLIBC_TUNABLES": TUNABLES}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]], env)
