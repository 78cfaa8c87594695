"""Installing the HMR 2.0 weights: SHA-256 checked files and URLs, downloads that resume and cannot hang, and what
is said when nothing is given. Archives and checkpoints are made here; servers listen on loopback; the set-up
script itself is run for the refusals."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pose_service.models.hmr2.download import DownloadError, Timeouts, download
from pose_service.models.hmr2.fetch import (ARCHIVE, CHECKPOINT, ArchiveError, InstallError, check_archive, extract,
                                            install, main)
from pose_service.models.hmr2.files import CHECKPOINT_RELPATH

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "setup-4d-humans-wsl.sh"
SETTINGS = ("POSE_HMR2_CACHE_DIR", "HMR2_CACHE_DIR", "POSE_HMR2_CHECKPOINT", "HMR2_CHECKPOINT", "HMR2_ARCHIVE",
            "HMR2_CHECKPOINT_SOURCE", "HMR2_SHA256")


def make_archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


CHECKPOINT_BYTES = os.urandom(300_000)  # incompressible, so the archive is as large
ARCHIVE_BYTES = make_archive({str(CHECKPOINT_RELPATH): CHECKPOINT_BYTES, "data/smpl_mean_params.npz": b"m" * 1000})
ARCHIVE_SHA256 = hashlib.sha256(ARCHIVE_BYTES).hexdigest()
CHECKPOINT_SHA256 = hashlib.sha256(CHECKPOINT_BYTES).hexdigest()
OTHER_SHA256 = hashlib.sha256(b"some other release").hexdigest()


@pytest.fixture(autouse=True)
def no_hmr2_settings(monkeypatch):
    """The caller's HMR 2.0 settings must not leak into what is tested."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def cache(tmp_path) -> Path:
    return tmp_path / "4DHumans"


def run_script(*args: str, cache: Path) -> tuple[subprocess.CompletedProcess, float]:
    """``bash setup-4d-humans-wsl.sh args`` with this interpreter and ``cache``: (result, seconds taken)."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env |= {"PYTHON": sys.executable, "POSE_HMR2_CACHE_DIR": str(cache)}
    start = time.monotonic()
    result = subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120)
    return result, time.monotonic() - start


class FileServer:
    """Serves ``payload`` at /hmr2_data.tar.gz with Range support, and a redirect to it at /moved;
    ``cut_after`` makes the next GET stop early."""

    def __init__(self, payload: bytes) -> None:
        self.cut_after: int | None = None
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", "/hmr2_data.tar.gz")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                requested = self.headers.get("Range")
                server.ranges.append(requested)
                start = int(requested.split("=")[1].rstrip("-")) if requested else 0
                body = payload[start:]
                self.send_response(206 if requested else 200)
                self.send_header("Content-Length", str(len(body)))
                if requested:
                    self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
                self.end_headers()
                if server.cut_after is not None:
                    body, server.cut_after = body[: server.cut_after], None
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.url = f"{self.base}/hmr2_data.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def archive_server():
    server = FileServer(ARCHIVE_BYTES)
    yield server
    server.close()


class SilentServer:
    """Accepts every connection and reads the request, but never answers."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.held.append(connection)

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
        for connection in self.held:
            connection.close()


@pytest.fixture()
def silent_server():
    server = SilentServer()
    yield server
    server.close()


# --------------------------------------------------------------------------------------------------------------
# Archives


def test_truncated_or_incomplete_archives_are_refused(tmp_path):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(ARCHIVE_BYTES[: len(ARCHIVE_BYTES) // 2])
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


# --------------------------------------------------------------------------------------------------------------
# Local files and their SHA-256


def test_a_local_archive_with_its_sha256_is_installed_then_found_present(tmp_path, cache, capsys):
    archive = tmp_path / "hmr2_data.tar.gz"
    archive.write_bytes(ARCHIVE_BYTES)
    assert main(["--archive", str(archive), "--sha256", ARCHIVE_SHA256.upper(), "--cache-dir", str(cache)]) == 0
    assert (cache / CHECKPOINT_RELPATH).read_bytes() == CHECKPOINT_BYTES
    assert (cache / "data/smpl_mean_params.npz").read_bytes() == b"m" * 1000
    assert not list(cache.rglob("*.part")) and archive.read_bytes() == ARCHIVE_BYTES
    assert main(["--cache-dir", str(cache)]) == 0  # nothing given, but installed: nothing to do
    assert f"present: {cache / CHECKPOINT_RELPATH}" in capsys.readouterr().out


def test_the_recorded_sha256_is_the_one_checked_by_default(tmp_path, cache):
    checkpoint = tmp_path / CHECKPOINT.name
    checkpoint.write_bytes(CHECKPOINT_BYTES)
    with pytest.raises(InstallError, match="mismatch.*recorded in pose_service/models/hmr2/fetch.py"):
        install(dataclasses.replace(CHECKPOINT, sha256=OTHER_SHA256), str(checkpoint), cache)
    assert not (cache / CHECKPOINT_RELPATH).exists()
    installed = install(dataclasses.replace(CHECKPOINT, sha256=CHECKPOINT_SHA256), str(checkpoint), cache)
    assert installed == cache / CHECKPOINT_RELPATH and installed.read_bytes() == CHECKPOINT_BYTES
    assert checkpoint.read_bytes() == CHECKPOINT_BYTES  # the user's file is copied, not moved


def test_with_no_sha256_to_compare_a_file_is_refused_and_its_digest_shown(tmp_path, cache):
    archive = tmp_path / "hmr2_data.tar.gz"
    archive.write_bytes(ARCHIVE_BYTES)
    with pytest.raises(InstallError, match=f"has SHA-256 {ARCHIVE_SHA256}.*run again with --sha256 {ARCHIVE_SHA256}"):
        install(dataclasses.replace(ARCHIVE, sha256=None), str(archive), cache)
    assert not (cache / CHECKPOINT_RELPATH).exists()
    with pytest.raises(InstallError, match="64 hexadecimal digits"):
        install(ARCHIVE, str(archive), cache, sha256="abc123")


def test_the_script_refuses_a_mismatch(tmp_path, cache):
    archive = tmp_path / "hmr2_data.tar.gz"
    archive.write_bytes(ARCHIVE_BYTES)
    result, _ = run_script("--archive", str(archive), "--sha256", OTHER_SHA256, cache=cache)
    assert result.returncode == 1, result.stderr
    assert (f"SHA-256 mismatch: {archive} has {ARCHIVE_SHA256}, but hmr2_data.tar.gz should have {OTHER_SHA256} "
            f"(given with --sha256)") in result.stderr
    assert not (cache / CHECKPOINT_RELPATH).exists() and archive.read_bytes() == ARCHIVE_BYTES
    assert "== 2/4" not in result.stdout  # stopped before installing anything


# --------------------------------------------------------------------------------------------------------------
# Nothing given


def test_with_nothing_given_the_script_says_what_and_where_and_exits_2(cache):
    result, _ = run_script(cache=cache)
    assert result.returncode == 2, result.stderr
    message = result.stderr
    for needed in ("hmr2_data.tar.gz", "https://www.cs.utexas.edu/~pavlakos/4dhumans/hmr2_data.tar.gz",
                   CHECKPOINT.name, "--archive", "--checkpoint", "--sha256", "POSE_HMR2_CACHE_DIR",
                   str(cache / CHECKPOINT_RELPATH), str(cache / "hmr2.safetensors"), "POSE_HMR2_CHECKPOINT"):
        assert needed in message, needed
    assert not cache.exists() and "== 2/4" not in result.stdout


def test_no_connection_is_made_with_nothing_given_or_nothing_to_check_against(monkeypatch, cache, capsys):
    def refuse(*args, **kwargs):
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert main(["--cache-dir", str(cache)]) == 2
    assert main(["--archive", "http://127.0.0.1:9/hmr2_data.tar.gz", "--cache-dir", str(cache)]) == 1
    assert "nothing was downloaded" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------
# URLs


def test_a_cut_download_is_caught_then_resumed(archive_server, tmp_path):
    dest = tmp_path / "hmr2_data.tar.gz"
    archive_server.cut_after = 100_000
    with pytest.raises(DownloadError, match="got 100000 of .* run again to resume"):
        download(archive_server.url, dest)
    part = tmp_path / "hmr2_data.tar.gz.part"
    assert part.stat().st_size == 100_000 and not dest.exists()
    download(archive_server.url, dest)
    assert archive_server.ranges[-1] == "bytes=100000-"
    assert dest.read_bytes() == ARCHIVE_BYTES and not part.exists()


def test_a_checkpoint_url_is_followed_checked_and_installed(cache):
    server = FileServer(CHECKPOINT_BYTES)
    try:
        url = f"{server.base}/moved"  # a redirect, as mirrors answer
        assert main(["--checkpoint", url, "--sha256", CHECKPOINT_SHA256, "--cache-dir", str(cache)]) == 0
    finally:
        server.close()
    assert (cache / CHECKPOINT_RELPATH).read_bytes() == CHECKPOINT_BYTES
    assert sorted(p.name for p in cache.iterdir()) == ["logs"]  # the download was moved into place


def test_a_download_that_does_not_match_is_deleted(archive_server, cache, capsys):
    args = ["--archive", archive_server.url, "--sha256", OTHER_SHA256, "--cache-dir", str(cache)]
    assert main(args) == 1
    assert "the download was deleted" in capsys.readouterr().err
    assert not (cache / "hmr2_data.tar.gz").exists() and not (cache / CHECKPOINT_RELPATH).exists()


def test_the_script_gives_up_on_a_host_that_never_answers(silent_server, cache):
    url = f"http://127.0.0.1:{silent_server.port}/hmr2_data.tar.gz"
    result, seconds = run_script("--archive", url, "--sha256", ARCHIVE_SHA256, "--read-timeout", "1",
                                 "--connect-timeout", "1", cache=cache)
    assert result.returncode == 1, result.stderr
    assert (f"127.0.0.1 port {silent_server.port} accepted the connection but sent no answer within 1 s"
            in result.stderr)
    assert silent_server.held and 1 <= seconds < 6


def test_an_unroutable_address_is_given_up(cache, capsys):
    start = time.monotonic()
    args = ["--archive", "http://[2001:db8::1]/hmr2_data.tar.gz", "--sha256", ARCHIVE_SHA256, "--connect-timeout",
            "1", "--cache-dir", str(cache)]  # 2001:db8::/32 is for documentation: never routed
    assert main(args) == 1
    assert time.monotonic() - start < 3
    assert "could not connect to 2001:db8::1 port 80" in capsys.readouterr().err


def test_a_connection_that_never_completes_is_given_up(tmp_path):
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))  # fills the accept queue: later SYNs are dropped
    try:
        start = time.monotonic()
        with pytest.raises(DownloadError, match=f"could not connect to 127.0.0.1 port {port} within 1 s"):
            download(f"http://127.0.0.1:{port}/x", tmp_path / "x", Timeouts(connect=1, read=1, total=10))
        assert 1 <= time.monotonic() - start < 3
    finally:
        filler.close()
        listener.close()


def test_the_whole_download_is_bounded(tmp_path):
    class Dripping(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:  # a byte every 0.1 s: never a read timeout, but 100 s for the file
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Dripping)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        start = time.monotonic()
        with pytest.raises(DownloadError, match="gave up after 1.5 s in all.*run again to resume"):
            download(f"http://127.0.0.1:{httpd.server_address[1]}/x", tmp_path / "x",
                     Timeouts(connect=1, read=5, total=1.5))
        assert 1.5 <= time.monotonic() - start < 3
        assert 0 < (tmp_path / "x.part").stat().st_size < 1000
    finally:
        httpd.shutdown()
        httpd.server_close()
