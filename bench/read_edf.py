"""EDF reading speed: eegcorpus's reader against ``mne.io.read_raw_edf(preload=True)``.

Both read the real MentalArithmetic files (24 EDF+ files, 21 channels at 500 Hz) from the page
cache, in alternating order, several rounds. Ours also returns float32 microvolts, annotations and
the file's sha256 in that time; MNE's figure is the preload read alone.

Usage: ``python bench/read_edf.py [--rounds N] [--quick]``; prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import SHARED_DATA, machine, median, timed, update_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="2 rounds, no report update")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds

    import mne

    from eegcorpus.readers.edf import read_edf

    mne.set_log_level("ERROR")
    files = sorted((SHARED_DATA / "eegmat").glob("Subject*.edf"))
    if not files:
        sys.exit(f"no MentalArithmetic files under {SHARED_DATA / 'eegmat'}")
    megabytes = sum(f.stat().st_size for f in files) / 1e6
    for f in files:  # warm the page cache and both code paths
        read_edf(f)
        mne.io.read_raw_edf(f, preload=True)

    ours, theirs = [], []
    for r in range(rounds):
        order = [("ours", "mne"), ("mne", "ours")][r % 2]
        for who in order:
            total = 0.0
            for f in files:
                if who == "ours":
                    total += timed(read_edf, f)[0]
                else:
                    total += timed(mne.io.read_raw_edf, f, preload=True)[0]
            (ours if who == "ours" else theirs).append(total)
    ours_s, mne_s = median(ours), median(theirs)
    result = {
        "files": len(files),
        "megabytes": round(megabytes, 1),
        "ours_s": round(ours_s, 4),
        "mne_s": round(mne_s, 4),
        "ours_mb_per_s": round(megabytes / ours_s, 1),
        "mne_mb_per_s": round(megabytes / mne_s, 1),
        "speedup_vs_mne": round(mne_s / ours_s, 2),
        "rounds": rounds,
    }
    if not args.quick:
        update_section(
            "read_edf",
            f"""## EDF reading (`bench/read_edf.py`)

{len(files)} MentalArithmetic EDF+ files ({megabytes:.1f} MB, 21 channels at 500 Hz), warm page
cache, median of {rounds} rounds over all files; {machine()}. Ours includes the sha256 of each
file and returns float32 microvolts plus annotations.

| reader | median time, all files | throughput | ratio |
|---|---|---|---|
| `mne.io.read_raw_edf(preload=True)` | {mne_s * 1e3:.1f} ms | {megabytes / mne_s:.0f} MB/s | 1.00 |
| `eegcorpus.readers.edf.read_edf` | {ours_s * 1e3:.1f} ms | {megabytes / ours_s:.0f} MB/s | **{mne_s / ours_s:.2f}x** |
""",
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
