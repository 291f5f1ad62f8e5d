"""``eegcorpus fetch``: download an open dataset, verified file by file.

Which files: the dataset's checksum list (``SHA256SUMS.txt`` at the download base, as PhysioNet
publishes for every dataset) filtered by the card's layout patterns, and by subject through the
same adapter the build uses, so ``--subjects 1`` means the same thing to both. Checksums pinned
in the card must agree with the list, or the download stops: the mirror is not the dataset the
card describes.

Each file goes to ``<name>.part`` first; an interrupted download resumes from the bytes already
there (HTTP Range), and the file takes its final name only after its sha256 matched. Files
already present with the right sha256 are not downloaded again.

Datasets that need registration or an agreement are not downloaded: the error says how to get
access and where to put the files.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from eegcorpus.errors import EEGCorpusError
from eegcorpus.recording import sha256_file

CHECKSUM_LIST = "SHA256SUMS.txt"
_BLOCK = 1 << 20


class FetchError(EEGCorpusError):
    """A dataset or file cannot be fetched (access, network, checksum)."""


@dataclass
class FetchResult:
    folder: Path
    downloaded: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    bytes: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.downloaded)} downloaded ({self.bytes / 1e6:.1f} MB, {len(self.resumed)} resumed), "
            f"{len(self.present)} already present and verified -> {self.folder}"
        )


def parse_checksum_list(text: str) -> dict[str, str]:
    """``sha256  path`` lines (``sha256sum`` output) -> {path: sha256}; ``./`` prefixes removed."""
    out = {}
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and len(parts[0]) == 64:
            path = parts[1].lstrip("*").removeprefix("./")
            out[path] = parts[0].lower()
    return out


def _join(base: str, rel: str) -> str:
    return base.rstrip("/") + "/" + "/".join(urllib.request.quote(p) for p in PurePosixPath(rel).parts)


def _download(url: str, target: Path, expected_sha256: str, timeout: float) -> tuple[int, bool]:
    """Download ``url`` to ``target`` through ``target.part``; returns (bytes fetched, resumed)."""
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # nothing left to fetch: the part file is complete
            response, resumed = None, True
        else:
            raise FetchError(f"{url}: HTTP {err.code} {err.reason}") from err
    except (urllib.error.URLError, OSError) as err:
        raise FetchError(f"{url}: {getattr(err, 'reason', err)}") from err
    fetched, resumed = 0, bool(have)
    if response is not None:
        with response:
            if have and response.status != 206:  # the server ignored Range: start over
                have, resumed = 0, False
            with open(part, "ab" if have else "wb") as fh:
                while chunk := response.read(_BLOCK):
                    fh.write(chunk)
                    fetched += len(chunk)
    actual = sha256_file(part)
    if actual != expected_sha256:
        part.unlink()
        raise FetchError(f"{url}: sha256 mismatch (expected {expected_sha256}, got {actual}); the partial file was removed, run fetch again")
    os.replace(part, target)
    return fetched, resumed


def fetch(
    dataset: str,
    out: str | Path,
    *,
    subjects=None,
    base_url: str | None = None,
    timeout: float = 60.0,
    progress=None,
) -> FetchResult:
    """Download the files of an open catalog dataset into ``out`` (the build's ``--raw``).

    Parameters
    ----------
    dataset : str
        Catalog id.
    out : path-like
        Target folder; files keep the dataset's own relative paths.
    subjects : list | None
        Only these subjects (dataset numbering, as in ``eegcorpus build --subjects``).
    base_url : str | None
        A mirror to use instead of the card's ``download.base_url``.
    progress : callable | None
        Called with (relative path, bytes) after each file.
    """
    from eegcorpus.catalog import get_card
    from eegcorpus.datasets import get_adapter
    from eegcorpus.datasets.base import pattern_to_regex

    card = get_card(dataset)
    if card.access != "open":
        raise FetchError(f"{dataset} cannot be downloaded automatically (access: {card.access}). {' '.join(card.access_notes.split())}")
    base = base_url or card.download.base_url
    if not base:
        raise FetchError(f"{dataset}: the card has no download base URL; {' '.join(card.access_notes.split())}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    listing_url = _join(base, CHECKSUM_LIST)
    try:
        with urllib.request.urlopen(listing_url, timeout=timeout) as response:
            checksums = parse_checksum_list(response.read().decode("utf-8", errors="replace"))
    except urllib.error.HTTPError as err:
        raise FetchError(f"{listing_url}: HTTP {err.code} {err.reason} (the checksum list is needed to verify every file)") from err
    except (urllib.error.URLError, OSError) as err:
        raise FetchError(f"{listing_url}: {getattr(err, 'reason', err)}") from err
    for entry in card.download.files:
        listed = checksums.get(entry.path)
        if listed is not None and listed != entry.sha256:
            raise FetchError(f"{entry.path}: the mirror's sha256 {listed} differs from the one pinned in the card ({entry.sha256})")

    adapter = get_adapter(dataset)
    patterns = [pattern_to_regex(card.layout.pattern)]
    if card.layout.annotations:
        patterns.append(pattern_to_regex(card.layout.annotations))
    wanted = None
    if subjects:
        wanted = {str(int(s)) if str(s).isdigit() else str(s) for s in subjects}
    selected = []
    for rel in sorted(checksums):
        if not any(p.match(rel) for p in patterns):
            continue
        if wanted is not None:
            # Companion files (e.g. .edf.event) belong to the subject of the recording they sit beside.
            stem = rel if patterns[0].match(rel) else _recording_for(rel, checksums, patterns[0])
            source = adapter.describe(PurePosixPath(stem), adapter.fields(PurePosixPath(stem))) if stem else None
            if source is None or source.subject not in wanted:
                continue
        selected.append(rel)
    if not selected:
        raise FetchError(
            f"{dataset}: no file in {listing_url} matches the layout {card.layout.pattern!r}" + (f" for subjects {sorted(wanted)}" if wanted else "")
        )

    result = FetchResult(folder=out)
    for rel in selected:
        target = out / rel
        if not target.resolve().is_relative_to(out.resolve()):
            raise FetchError(f"{rel}: path leaves the target folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and sha256_file(target) == checksums[rel]:
            result.present.append(rel)
            continue
        fetched, resumed = _download(_join(base, rel), target, checksums[rel], timeout)
        result.downloaded.append(rel)
        result.bytes += fetched
        if resumed:
            result.resumed.append(rel)
        if progress:
            progress(rel, fetched)
    return result


#: A companion shares at least this many leading characters with its recording's file name
#: (Sleep-EDF pairs PSG and hypnogram on the first 6: SC4001E0-PSG.edf / SC4001EC-Hypnogram.edf).
_MIN_SHARED_PREFIX = 6


def _recording_for(companion: str, listing: dict[str, str], recording_pattern) -> str | None:
    """The recording a companion file belongs to: in the same folder, the recording whose file
    name shares the longest prefix with the companion's (``S001R03.edf.event`` ->
    ``S001R03.edf``; ``SC4001EC-Hypnogram.edf`` -> ``SC4001E0-PSG.edf``)."""
    folder, name = PurePosixPath(companion).parent, PurePosixPath(companion).name
    best, best_len = None, _MIN_SHARED_PREFIX - 1
    for path in listing:
        candidate = PurePosixPath(path)
        if candidate.parent != folder or not recording_pattern.match(path):
            continue
        shared = len(os.path.commonprefix([name, candidate.name]))
        if shared > best_len:
            best, best_len = path, shared
    return best
