"""The real recordings in ../shared/data beside the checkout (never in the repo), and the
subjects the tests build from them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = Path(os.environ.get("EEGCORPUS_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path under the shared real-data folder; skips the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real data not available: {path} is missing (tests that read real recordings need "
            f"the shared data folder beside the checkout, or EEGCORPUS_SHARED_DATA set)"
        )
    return path


# The subjects a test builds are named, never "the whole folder": ../shared/data grows as more
# real recordings are found, and a count of its files would change with it.
EEGMMIDB_SUBJECTS = [1]  # S001 runs 3-14: 12 recordings
MENTAL_ARITHMETIC_SUBJECTS = list(range(1, 13))  # Subject00-11: 24 recordings
