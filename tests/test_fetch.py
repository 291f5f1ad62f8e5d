"""eegcorpus fetch against a local HTTP server that serves the real files of ../shared/data."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest
from helpers.shared_data import shared_path
from typer.testing import CliRunner

from eegcorpus.cli import app
from eegcorpus.fetch import FetchError, fetch, parse_checksum_list


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Server:
    """A PhysioNet-like mirror on 127.0.0.1: the dataset folder plus a SHA256SUMS.txt.

    Supports ``Range: bytes=N-`` unless ``ranges`` is False; ``corrupt`` names files served
    with one byte flipped; ``requests`` records (path, range) pairs.
    """

    def __init__(self, folder: Path, checksums: str, ranges: bool = True):
        self.folder, self.checksums, self.ranges = folder, checksums.encode(), ranges
        self.corrupt: set[str] = set()
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rel = self.path.lstrip("/").replace("%20", " ")
                server.requests.append((rel, self.headers.get("Range")))
                if rel == "SHA256SUMS.txt":
                    body = server.checksums
                else:
                    path = server.folder / rel
                    if not path.is_file():
                        self.send_error(404)
                        return
                    body = bytearray(path.read_bytes())
                    if rel in server.corrupt:
                        body[len(body) // 2] ^= 0xFF
                    body = bytes(body)
                start = 0
                header = self.headers.get("Range")
                if header and server.ranges:
                    start = int(header.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _eegmmidb_mirror(ranges=True) -> _Server:
    folder = shared_path("eegmmidb")
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    listing = "".join(f"{_sha(p)}  ./{p.relative_to(folder).as_posix()}\n" for p in files)
    return _Server(folder, listing, ranges=ranges)


def test_parse_checksum_list():
    text = "a" * 64 + "  ./S001/S001R03.edf\n" + "b" * 64 + " *RECORDS\nnot a line\n"
    assert parse_checksum_list(text) == {"S001/S001R03.edf": "a" * 64, "RECORDS": "b" * 64}


def test_fetch_subject_verifies_and_skips_present_files(tmp_path):
    with _eegmmidb_mirror() as server:
        result = fetch("eegmmidb", tmp_path, subjects=["1"], base_url=server.url)
        assert len(result.downloaded) == 24  # 12 runs, each .edf and .edf.event
        for rel in result.downloaded:
            assert _sha(tmp_path / rel) == _sha(shared_path("eegmmidb") / rel)
        again = fetch("eegmmidb", tmp_path, subjects=["1"], base_url=server.url)
        assert again.downloaded == [] and len(again.present) == 24
        none = [r for r in server.requests if r[0] != "SHA256SUMS.txt"]
        assert len(none) == 24  # the second run asked for nothing but the list


def test_fetch_resumes_a_partial_file(tmp_path):
    rel = "S001/S001R03.edf"
    full = (shared_path("eegmmidb") / rel).read_bytes()
    part = tmp_path / (rel + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(full[:1_000_000])
    with _eegmmidb_mirror() as server:
        result = fetch("eegmmidb", tmp_path, subjects=["1"], base_url=server.url)
    assert rel in result.resumed
    assert (rel, "bytes=1000000-") in server.requests
    assert (tmp_path / rel).read_bytes() == full and not part.exists()


def test_fetch_restarts_when_server_ignores_range(tmp_path):
    rel = "S001/S001R03.edf"
    full = (shared_path("eegmmidb") / rel).read_bytes()
    part = tmp_path / (rel + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"garbage" * 1000)
    with _eegmmidb_mirror(ranges=False) as server:
        fetch("eegmmidb", tmp_path, subjects=["1"], base_url=server.url)
    assert (tmp_path / rel).read_bytes() == full


def test_checksum_mismatch_leaves_no_file(tmp_path):
    with _eegmmidb_mirror() as server:
        server.corrupt.add("S001/S001R05.edf")
        with pytest.raises(FetchError, match="sha256 mismatch"):
            fetch("eegmmidb", tmp_path, subjects=["1"], base_url=server.url)
    assert not (tmp_path / "S001" / "S001R05.edf").exists()
    assert not (tmp_path / "S001" / "S001R05.edf.part").exists()


def test_mirror_disagreeing_with_card_is_refused(tmp_path):
    folder = shared_path("eegmmidb")
    listing = "0" * 64 + "  ./S001/S001R03.edf\n"
    with _Server(folder, listing) as server, pytest.raises(FetchError, match="pinned in the card"):
        fetch("eegmmidb", tmp_path, base_url=server.url)


def test_mental_arithmetic_subjects_follow_build_numbering(tmp_path):
    folder = shared_path("eegmat")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    listing = "".join(f"{_sha(p)}  {p.name}\n" for p in files)
    with _Server(folder, listing) as server:
        result = fetch("mental_arithmetic", tmp_path, subjects=["1", "3"], base_url=server.url)
    assert sorted(result.downloaded) == ["Subject00_1.edf", "Subject00_2.edf", "Subject02_1.edf", "Subject02_2.edf"]


def test_registration_datasets_say_how_to_get_access(tmp_path):
    result = CliRunner().invoke(app, ["fetch", "tuab", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot be downloaded automatically (access: registration)" in result.output
    assert "isip" in result.output.lower() or "tuh" in result.output.lower()


def test_sleep_edf_hypnograms_come_with_their_subject(tmp_path):
    """Companions pair with recordings by shared name prefix, as Sleep-EDF pairs PSG and
    hypnogram on the first six characters."""
    mirror = tmp_path / "mirror" / "sleep-cassette"
    mirror.mkdir(parents=True)
    hypnogram = shared_path("fixtures", "sleep_edf", "SC4001EC-Hypnogram.edf")
    psg_bytes = shared_path("eegmmidb", "S001", "S001R03.edf").read_bytes()  # fetch never parses
    for subject, letter in (("00", "C"), ("01", "J")):
        (mirror / f"SC4{subject}1E0-PSG.edf").write_bytes(psg_bytes + subject.encode())
        (mirror / f"SC4{subject}1E{letter}-Hypnogram.edf").write_bytes(hypnogram.read_bytes())
    files = sorted(p for p in mirror.parent.rglob("*") if p.is_file())
    listing = "".join(f"{_sha(p)}  {p.relative_to(mirror.parent).as_posix()}\n" for p in files)
    with _Server(mirror.parent, listing) as server:
        result = fetch("sleep_edfx", tmp_path / "raw", subjects=["1"], base_url=server.url)
    assert sorted(result.downloaded) == ["sleep-cassette/SC4011E0-PSG.edf", "sleep-cassette/SC4011EJ-Hypnogram.edf"]
