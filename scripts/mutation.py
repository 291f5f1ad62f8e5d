"""Mutation testing of one module against the tests that cover it (mutmut, the ``mutation`` extra).

mutmut rewrites the module into hundreds of small plausible bugs ("mutants": ``<`` for ``<=``,
a constant changed, a call's argument dropped) and runs the named tests against each; a mutant
the tests still pass "survives" and points at a guarantee nothing checks. A whole-package run
takes hours on two cores, so each run is scoped to a module and its tests
(``docs/testing.md`` lists the pairs and what survived).

The run happens in a copy of the working tree (tracked and untracked, not ignored, files) under
``--work``, so mutmut's ``mutants/`` folder and its configuration never touch the checkout.

Usage::

    python scripts/mutation.py neuript/masking.py tests/test_masking.py
    python scripts/mutation.py eegcorpus/readers/edf.py tests/test_edf.py --work /tmp/mutation-edf
    python scripts/mutation.py neuript/finetune.py tests/test_finetune.py --only "neuript.finetune.x_train_full__*"

Prints mutmut's result line per mutant that was not killed, then the counts per outcome.
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MUTMUT = [sys.executable, "-m", "mutmut"]


def _copy_tree(work: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True, text=True).stdout.split()
    for name in files:
        source = REPO / name
        if source.is_file():
            target = work / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", help="the file to mutate, relative to the repository root")
    parser.add_argument("tests", nargs="+", help="test files (or node ids) that cover it")
    parser.add_argument("--work", type=Path, default=None, help="copy of the tree to run in (default: a new temporary folder)")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only the mutants whose names match (fnmatch, repeatable; names look like 'neuript.finetune.x_train_full__mutmut_3'): "
        "a module whose tests are slow, scoped to the functions that carry its guarantees",
    )
    parser.add_argument("--hang-after", type=float, default=120.0, help="seconds after which a mutant's worker is stopped as hung (default 120)")
    parser.add_argument(
        "--recheck",
        action="store_true",
        help="no new run: take the survivors of the finished run in --work and run today's versions of the named tests against each "
        "(after tests were added for them)",
    )
    args = parser.parse_args(argv)
    if not (REPO / args.module).is_file():
        parser.error(f"no such module: {args.module}")
    if args.recheck:
        if args.work is None or not (args.work / "mutants").is_dir():
            parser.error("--recheck needs --work: the folder of a finished run")
        return _recheck(args.work, args.tests, args.only, args.hang_after)
    work = args.work or Path(tempfile.mkdtemp(prefix="mutation-"))
    if work.exists() and any(work.iterdir()):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    _copy_tree(work)
    pyproject = work / "pyproject.toml"
    tests = ", ".join(f'"{t}"' for t in args.tests)
    config = [
        "[tool.mutmut]",
        f'source_paths = ["{args.module}"]',
        f"pytest_add_cli_args_test_selection = [{tests}]",
        # a test slowed down by a busy machine is not a mutant that hangs
        "timeout_constant = 30.0",
        # torch's thread pools do not survive a fork of a process that has run tests: forked
        # workers deadlock (and count as timeouts); a fork server that only imports is safe
        'process_isolation = "forkserver"',
        # files the tests read beside the code (split files, cards, scripts), and the mutated
        # module's whole package: without its __init__.py files, mutants/ would hold a
        # namespace package that hides the real one
        f'also_copy = ["docs", "catalog", "scripts", "{Path(args.module).parts[0]}"]',
    ]
    pyproject.write_text(pyproject.read_text() + "\n" + "\n".join(config) + "\n")
    env = _environment()
    run = subprocess.Popen([*MUTMUT, "run", "--max-children", str(args.max_children), *args.only], cwd=work, env=env, stdout=subprocess.DEVNULL)
    stopped = _stop_hung_workers(run, args.hang_after)
    if run.returncode:
        raise subprocess.CalledProcessError(run.returncode, run.args)
    outcomes = collections.Counter()
    for name, outcome in _outcomes(work, env, args.only):
        outcomes[outcome] += 1
        if outcome != "killed":
            print(f"{outcome:10s} {name}")
    print(f"{args.module}: " + ", ".join(f"{n} {k}" for k, n in outcomes.most_common()) + f" (work folder {work})")
    if stopped:
        print(f"{stopped} worker(s) ran past {args.hang_after:g} s and were stopped (listed above as 'segfault'): mutants whose loop never ends, caught")
    return 0


def _environment() -> dict:
    """The environment of mutmut and the tests: the real-data folder beside the checkout unless set."""
    return os.environ | {"EEGCORPUS_SHARED_DATA": os.environ.get("EEGCORPUS_SHARED_DATA", str(REPO.parent / "shared" / "data"))}


def _selected(name: str, patterns: list[str]) -> bool:
    """Whether a mutant is in scope: every mutant without ``--only``, else those its patterns match."""
    return not patterns or any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def _outcomes(work: Path, env: dict, only: list[str]) -> list[tuple[str, str]]:
    """``(mutant, outcome)`` of every mutant in scope of the run in ``work``, from ``mutmut results``."""
    listing = subprocess.run([*MUTMUT, "results", "--all", "true"], cwd=work, env=env, check=True, capture_output=True, text=True).stdout
    pairs = [line.strip().rpartition(": ")[::2] for line in listing.splitlines()]
    return [(name, outcome) for name, outcome in pairs if name and _selected(name, only)]


def _recheck(work: Path, tests: list[str], only: list[str], hang_after: float) -> int:
    """Run the current tests against each survivor of the run in ``work``; print what still
    survives. A run past ``hang_after`` seconds is stopped and counts as caught (a mutant that
    turned a refusal into an endless computation)."""
    mutants = work / "mutants"
    shutil.copytree(REPO / "tests", mutants / "tests", dirs_exist_ok=True)  # today's tests, beside the mutated code
    env = _environment()
    survivors = [name for name, outcome in _outcomes(work, env, only) if outcome == "survived"]
    still = []
    for name in survivors:
        try:
            outcome = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                cwd=mutants,
                env=env | {"MUTANT_UNDER_TEST": name},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=hang_after,
            )
        except subprocess.TimeoutExpired:
            print(f"hung       {name} (stopped after {hang_after:g} s: caught)")
            continue
        if outcome.returncode in (4, 5):  # pytest's usage error, no tests collected
            sys.exit(f"pytest ran no test of {' '.join(tests)} (exit status {outcome.returncode}): a mutant is caught only by a failing test")
        if outcome.returncode == 0:
            still.append(name)
            print(f"survived   {name}")
    print(f"{len(survivors)} survivors rechecked: {len(survivors) - len(still)} killed by the current tests, {len(still)} still survive")
    return 0


def _ancestry(pid: int) -> tuple[float, list[int]]:
    """A process's age in seconds and its parents, nearest first (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as fh:
        age = float(fh.read().split()[0]) - started
    parents, parent = [], int(fields[1])
    while parent > 1:
        parents.append(parent)
        with open(f"/proc/{parent}/stat") as fh:
            parent = int(fh.read().rsplit(")", 1)[1].split()[1])
    return age, parents


def _stop_hung_workers(run: subprocess.Popen, hang_after: float) -> int:
    """Wait for mutmut, killing any mutant worker older than ``hang_after`` seconds.

    mutmut's own timeout does not reach the workers its fork server starts (seen with
    ``while True`` loops that a mutant made endless: they ran until stopped by hand). A worker
    is a grandchild of mutmut's process (main -> fork server -> worker); killed, it is reported
    as "segfault", which counts as caught.
    """
    import signal
    import time

    stopped = 0
    while run.poll() is None:
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                age, parents = _ancestry(int(entry))
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if len(parents) >= 2 and parents[1] == run.pid and age > hang_after:
                try:
                    os.kill(int(entry), signal.SIGKILL)
                    stopped += 1
                except ProcessLookupError:
                    pass
        time.sleep(5)
    return stopped


if __name__ == "__main__":
    sys.exit(main())
