"""The neuript command line re-executes itself once with glibc's allocator tuned for training."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from neuript._allocator import TUNABLES

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tunables are Linux-only")

SCRIPT = "from neuript._allocator import reexec_with_tuned_allocator; reexec_with_tuned_allocator('show_tunables'); print('not re-executed')"


def _run(tmp_path, **env):
    (tmp_path / "show_tunables.py").write_text("import os, sys\nprint('re-executed', os.environ['GLIBC_TUNABLES'], sys.argv[1:])\n")
    base = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "NEURIPT_ALLOCATOR")}
    base["PYTHONPATH"] = os.pathsep.join([str(tmp_path), base.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", SCRIPT, "finetune", "--task", "x"], env={**base, **env}, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_reexec_sets_the_tunables_and_keeps_the_arguments(tmp_path):
    assert _run(tmp_path) == f"re-executed {TUNABLES} ['finetune', '--task', 'x']"


def test_user_settings_are_left_alone(tmp_path):
    assert _run(tmp_path, GLIBC_TUNABLES="glibc.malloc.arena_max=2") == "not re-executed"
    assert _run(tmp_path, NEURIPT_ALLOCATOR="default") == "not re-executed"


def test_the_command_line_still_runs_after_the_reexec():
    from neuript import __version__

    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-m", "neuript", "version"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == __version__
