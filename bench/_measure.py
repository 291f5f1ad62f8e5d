"""Measure one command as a whole: wall time, CPU time and peak memory of its whole process tree.

Usage (from another benchmark, which reads the JSON line it prints)::

    python bench/_measure.py -- eegcorpus build eegmmidb --raw RAW --out STORE

A process's ``getrusage(RUSAGE_CHILDREN)`` only counts descendants that were waited for. A
build's worker processes are children of a multiprocessing fork server, and nobody waits for
the fork server when the build exits, so their CPU time would be lost. This script therefore
makes itself a *child subreaper* (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``): orphaned
descendants are re-parented to it, it waits for every one of them, and its children's
resource usage then covers the whole tree.

Memory is the peak of the summed proportional set size (PSS, from ``/proc/PID/smaps_rollup``)
of every live process in the tree, sampled every 250 ms (reading it costs the kernel a walk of
each process's page tables: sampled every 20 ms it took a third of a core from the command). PSS shares pages between the processes
that map them, so forked workers are not counted twice; RSS summed would be.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import threading
import time

_PR_SET_CHILD_SUBREAPER = 36


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                # The command name may hold spaces and parentheses: fields follow the last ")".
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def _tree_pss_kb(root: int) -> int:
    children, total = _children_map(), 0
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def measure(command: list[str]) -> dict:
    """Run ``command`` to completion with every descendant; its figures as a dict."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    peak_kb, done = 0, threading.Event()

    def sample() -> None:
        nonlocal peak_kb
        while not done.is_set():
            peak_kb = max(peak_kb, _tree_pss_kb(os.getpid()))
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    sampler.start()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, stderr = process.communicate()
    while True:  # the orphans: a fork server and its workers, exiting after the command
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "returncode": process.returncode,
        "stderr": stderr.decode(errors="replace")[-2000:],
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_pss_mb": peak_kb / 1024,
        "largest_process_rss_mb": after.ru_maxrss / 1024,
    }


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: python bench/_measure.py -- COMMAND [ARGS...]")
    print(json.dumps(measure(args)))
