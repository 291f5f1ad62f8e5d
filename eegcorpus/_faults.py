"""Named fault points, so that tests can kill or stall a real build at an exact moment.

A build passes through these points (in this order for each recording):

``start``
    the store's lock is held, nothing of this run is written yet;
``staging``
    a recording is about to be written into ``STORE/.staging/``;
``mid-write``
    about half of a recording's files are in ``.staging/``, its group metadata is not;
``publish``
    a recording is complete in ``.staging/`` and about to be renamed into ``recordings/``;
``published``
    a recording has just been renamed into ``recordings/``; no table mentions it yet;
``tables``
    every recording of the run is done and the tables are about to be written.

Two environment variables drive them, and neither is ever set in normal use:

* ``EEGCORPUS_TEST_KILL_AT=<point>[:<n>]``: the process sends itself SIGKILL the n-th time (1
  by default) it reaches ``<point>``; nothing runs after that, as when the job is killed by a
  scheduler or the machine's out-of-memory killer.
* ``EEGCORPUS_TEST_STALL_AT=<point>[:<n>]``: the process sleeps there (up to 10 minutes) so that
  a test can act while the build holds the store, e.g. start a second build.

Counts are per process. With the threaded scheduler every recording passes through the build
process, so a kill ends the whole build; with worker processes it ends one worker.
"""

from __future__ import annotations

import os
import signal
import threading
import time

KILL_ENV = "EEGCORPUS_TEST_KILL_AT"
STALL_ENV = "EEGCORPUS_TEST_STALL_AT"
POINTS = ("start", "staging", "mid-write", "publish", "published", "tables")
STALL_SECONDS = 600.0

_counts: dict[str, int] = {}
_lock = threading.Lock()


def _parse(env: str, spec: str) -> tuple[str, int]:
    point, _, nth = spec.partition(":")
    if point not in POINTS or (nth and not nth.isdigit()) or (nth and int(nth) < 1):
        allowed = ", ".join(repr(p) for p in POINTS)
        raise ValueError(f"Invalid value for the {env!r} environment variable: {spec!r} (want '<point>[:<n>]' with a point among {allowed} and n >= 1).")
    return point, int(nth or 1)


def fault_point(name: str) -> None:
    """Kill or stall the process here when a test asked for it; do nothing otherwise."""
    kill, stall = os.environ.get(KILL_ENV), os.environ.get(STALL_ENV)
    if not kill and not stall:
        return
    with _lock:
        _counts[name] = count = _counts.get(name, 0) + 1
    if kill and _parse(KILL_ENV, kill) == (name, count):
        os.kill(os.getpid(), signal.SIGKILL)
    if stall and _parse(STALL_ENV, stall) == (name, count):
        time.sleep(STALL_SECONDS)
