"""Fetching upstream's data archive: resumable download, truncation caught, safe unpacking (loopback server)."""

from __future__ import annotations

import io
import os
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pose_service.models.hmr2.__main__ import main
from pose_service.models.hmr2.checkpoint import CHECKPOINT_RELPATH
from pose_service.models.hmr2.fetch import ArchiveError, check_archive, download, extract


def make_archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


CHECKPOINT_BYTES = os.urandom(300_000)  # incompressible, so the archive is as large
ARCHIVE = make_archive({str(CHECKPOINT_RELPATH): CHECKPOINT_BYTES, "data/smpl_mean_params.npz": b"m" * 1000})


class ArchiveServer:
    """Serves ARCHIVE with HEAD and Range support; ``cut_after`` makes the next full GET stop early."""

    def __init__(self) -> None:
        self.cut_after: int | None = None
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(ARCHIVE)))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def do_GET(self) -> None:
                requested = self.headers.get("Range")
                server.ranges.append(requested)
                start = int(requested.split("=")[1].rstrip("-")) if requested else 0
                body = ARCHIVE[start:]
                self.send_response(206 if requested else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None:
                    body, server.cut_after = body[: server.cut_after], None
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hmr2_data.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture()
def server():
    s = ArchiveServer()
    yield s
    s.httpd.shutdown()


def test_a_cut_download_is_caught_then_resumed(server, tmp_path):
    dest = tmp_path / "hmr2_data.tar.gz"
    server.cut_after = 100_000
    with pytest.raises((OSError, ArchiveError)):  # the connection ends before Content-Length bytes
        download(server.url, dest)
    part = tmp_path / "hmr2_data.tar.gz.part"
    assert part.stat().st_size == 100_000 and not dest.exists()
    download(server.url, dest)
    assert server.ranges[-1] == "bytes=100000-"
    assert dest.read_bytes() == ARCHIVE and not part.exists()


def test_truncated_or_incomplete_archives_are_refused(tmp_path):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(ARCHIVE[: len(ARCHIVE) // 2])
    with pytest.raises(ArchiveError, match="truncated"):
        check_archive(truncated)
    incomplete = tmp_path / "incomplete.tar.gz"
    incomplete.write_bytes(make_archive({"data/other.npz": b"x"}))
    with pytest.raises(ArchiveError, match="lacks"):
        check_archive(incomplete)


def test_unsafe_members_are_not_extracted(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(make_archive({str(CHECKPOINT_RELPATH): b"c", "../escape.txt": b"x"}))
    with pytest.raises(tarfile.TarError):
        extract(archive, tmp_path / "cache")
    assert not (tmp_path / "escape.txt").exists()


def test_fetch_cli_unpacks_into_the_cache_layout(server, tmp_path):
    cache = tmp_path / "4DHumans"
    assert main(["fetch", "--url", "http://127.0.0.1:9/unreachable", "--url", server.url, "--cache-dir", str(cache)]) == 0
    assert (cache / CHECKPOINT_RELPATH).read_bytes() == CHECKPOINT_BYTES
    assert main(["fetch", "--url", server.url, "--cache-dir", str(cache)]) == 0  # already there: no download
    assert len(server.ranges) == 1
