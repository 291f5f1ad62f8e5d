"""Helpers for tests that start servers or launchers as separate processes.

Every process is started in its own session, so that it and everything it forks are stopped
together, also when the test fails or times out.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_group(proc: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM the process's session, then SIGKILL whatever is left after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader, or the group never looks empty
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            continue
        break
    proc.poll()


def stop_all(procs: list[subprocess.Popen], grace_s: float = 5.0) -> None:
    """Stop several process groups, sending SIGTERM to all of them first (in parallel)."""
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        _stop_group(proc, grace_s)


def run(cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` that stops the whole process group on timeout or error."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, **kwargs)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except BaseException:
        _stop_group(proc)
        raise
    _stop_group(proc, grace_s=1.0)  # stragglers of a finished launcher
    return subprocess.CompletedProcess(cmd, proc.returncode, output, None)


@contextlib.contextmanager
def background(cmd: list[str], log_path, **kwargs):
    """Run ``cmd`` in the background (output to ``log_path``) for the duration of the block."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
        try:
            yield proc
        finally:
            _stop_group(proc)


def wait_until(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, log_path=None) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` (and the process log) otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.2)
    detail = ""
    if log_path is not None:
        with contextlib.suppress(OSError):
            detail = "\n" + open(log_path).read()[-3000:]
    raise AssertionError(f"{what} did not happen within {timeout} s{detail}")
